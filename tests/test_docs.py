"""The documentation site (`make docs`): every page built, every link resolving, and the pages as Chromium renders them."""
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / 'tools'))
import build_docs  # noqa: E402


@pytest.fixture(scope='module')
def site(tmp_path_factory):
    out = tmp_path_factory.mktemp('docs')
    build_docs.build(out)
    return out


def test_every_notebook_has_a_page(site):
    expected = {build_docs.page_name(p) for p in build_docs.notebooks()}
    assert expected <= {p.name for p in site.glob('*.html')}, expected - {p.name for p in site.glob('*.html')}
    assert 'index.html' in expected and len(expected) >= 20


def test_links_resolve(site):
    broken = []
    for page in site.glob('*.html'):
        for link in re.findall(r'(?:href|src)="([^"#:]+\.(?:html|png))"', page.read_text(encoding='utf-8')):
            if not (site / link).exists(): broken.append(f'{page.name} -> {link}')
    assert not broken, broken[:10]


def test_hidden_cells_left_out_and_api_tables(site):
    core = (site / '00c_schema.html').read_text(encoding='utf-8')
    assert '#| hide' not in core and '#| export' not in core
    assert 'API: atomvision.schema' in core and 'bound_values' in core
    nav = re.search(r'<nav class="site">(.*?)</nav>', core).group(1)
    order = re.findall(r'href="([^"]+)"', nav)
    assert order[0] == 'index.html' and order.index('00c_schema.html') < order.index('05e_harmonize.html') < order.index('11_cli.html')


@pytest.mark.skipif(shutil.which('chromium') is None, reason='Debian chromium is not installed (make test installs it where it can)')
def test_pages_in_chromium(site):
    from playwright.sync_api import sync_playwright
    shots = Path(os.environ.get('ATOMVISION_DOCS_SHOTS', site / 'screenshots'))
    shots.mkdir(parents=True, exist_ok=True)
    flags = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--no-first-run']
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=shutil.which('chromium'), args=flags)
        page = browser.new_page(viewport={'width': 1280, 'height': 900})
        for name, shot in (('index.html', 'docs_index.png'), ('05e_harmonize.html', 'docs_page.png')):
            page.goto((site / name).as_uri())
            page.wait_for_load_state('load')
            assert page.locator('nav.site a').count() >= 20
            page.screenshot(path=str(shots / shot))
        page.goto((site / '05e_harmonize.html').as_uri())
        page.locator('nav.site a', has_text='explore').first.click()
        page.wait_for_load_state('load')
        assert page.url.endswith('06_explore.html')
        browser.close()
