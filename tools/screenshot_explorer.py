"""Run the data explorer in JupyterLab under headless Chromium and save a screenshot.

Starts JupyterLab on 127.0.0.1 (random port, random token) over a temporary folder holding a small
notebook that opens the explorer on the unified dataset, opens it in Debian's Chromium through
Playwright, runs all cells, waits until the explorer's controls and its figure are rendered, changes
the food group (to show it updates), and saves a full-page screenshot. Only loopback is used.

Needs: the unified dataset (`atomvision build`), Debian's `chromium`, and Playwright for Python
(`make screenshot` installs both). Usage: python tools/screenshot_explorer.py [--out PNG]
"""
import argparse
import json
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM_FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
                  '--disable-component-update', '--no-first-run', '--disable-sync', '--disable-quic']


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def _notebook(dataset: Path) -> dict:
    cells = ['%matplotlib inline',
             'from atomvision.harmonize import load_dataset\nfrom atomvision.explore import Explorer\n'
             f'explorer = Explorer(load_dataset({str(dataset)!r}))\nexplorer']
    return dict(nbformat=4, nbformat_minor=5, metadata=dict(kernelspec=dict(name='python3', display_name='Python 3', language='python')),
                cells=[dict(cell_type='code', metadata={}, source=c, outputs=[], execution_count=None, id=f'c{i}') for i, c in enumerate(cells)])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--out', type=Path, default=ROOT / 'data' / 'screenshots' / 'explorer.png')
    parser.add_argument('--dataset', type=Path, default=ROOT / 'data' / 'unified')
    parser.add_argument('--chromium', default=shutil.which('chromium') or '/usr/bin/chromium')
    parser.add_argument('--timeout', type=float, default=180, help='seconds to wait for the explorer to render')
    args = parser.parse_args()
    if not (args.dataset / 'atomvision_unified.parquet').exists():
        sys.exit(f'no unified dataset in {args.dataset}: run `atomvision build` first')
    if not Path(args.chromium).exists():
        sys.exit(f'Chromium not found at {args.chromium}: install Debian\'s chromium (make screenshot does)')
    from playwright.sync_api import sync_playwright

    port, token = _free_port(), secrets.token_hex(16)
    with tempfile.TemporaryDirectory(prefix='atomvision-lab-') as tmp:
        (Path(tmp) / 'explorer.ipynb').write_text(json.dumps(_notebook(args.dataset.resolve())), encoding='utf-8')
        import os
        env = {**os.environ, 'JUPYTER_CONFIG_DIR': str(ROOT / '.jupyter')}  # the project's Jupyter configuration: no news popup
        lab = subprocess.Popen([str(Path(sys.executable).parent / 'jupyter'), 'lab', '--no-browser', '--ip=127.0.0.1', f'--port={port}',
                                f'--IdentityProvider.token={token}', f'--ServerApp.root_dir={tmp}', '--ServerApp.open_browser=False', '--allow-root'],
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env)
        try:
            base = f'http://127.0.0.1:{port}'
            for _ in range(120):  # wait for the server
                try:
                    urllib.request.urlopen(f'{base}/api/status?token={token}', timeout=2)
                    break
                except OSError:
                    if lab.poll() is not None: sys.exit(f'JupyterLab exited:\n{lab.stderr.read()[-3000:]}')
                    time.sleep(0.5)
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=args.chromium, args=CHROMIUM_FLAGS)
                page = browser.new_page(viewport={'width': 1500, 'height': 1300})
                page.goto(f'{base}/lab/tree/explorer.ipynb?token={token}', timeout=args.timeout * 1000)
                page.wait_for_selector('.jp-Notebook .jp-Cell', timeout=args.timeout * 1000)
                page.wait_for_selector('.jp-Notebook-ExecutionIndicator[data-status="idle"], .jp-mod-idle, #jp-main-statusbar',
                                       timeout=args.timeout * 1000)
                time.sleep(2)  # the kernel connects
                page.get_by_role('menuitem', name='Run', exact=True).click()
                page.get_by_text('Run All Cells', exact=True).click()
                page.wait_for_selector('.widget-select-multiple select', timeout=args.timeout * 1000)
                page.wait_for_selector('.widget-output img', timeout=args.timeout * 1000)
                page.select_option('.widget-dropdown select >> nth=0', 'vegetables')  # food group: the view updates
                time.sleep(1)
                page.wait_for_selector('.widget-output img', timeout=args.timeout * 1000)
                time.sleep(3)
                if page.get_by_text('get notified about official Jupyter news').count():
                    sys.exit('JupyterLab shows its news popup: the project configuration (.jupyter/labconfig) was not applied')
                args.out.parent.mkdir(parents=True, exist_ok=True)
                page.screenshot(path=str(args.out), full_page=True)
                browser.close()
        finally:
            lab.terminate()
            try: lab.wait(timeout=20)
            except subprocess.TimeoutExpired: lab.kill()
    print(f'screenshot saved: {args.out}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
