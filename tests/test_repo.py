"""The repository's own checks: README freshness, drift detection, the console script."""
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from conftest import ROOT

BIN = Path(sys.executable).parent


def run(*args, cwd=ROOT):
    return subprocess.run([*map(str, args)], cwd=cwd, capture_output=True, text=True)


def test_readme_is_built_from_index():
    done = run(sys.executable, ROOT / 'tools/build_readme.py', '--check')
    assert done.returncode == 0, done.stderr


def _copy_tree(tmp_path: Path) -> Path:
    root = tmp_path / 'repo'
    root.mkdir()
    for name in ('settings.ini', 'README.md'): shutil.copy2(ROOT / name, root / name)
    for name in ('nbs', 'atomvision', 'tools'):
        shutil.copytree(ROOT / name, root / name, ignore=shutil.ignore_patterns('__pycache__'))
    return root


def test_readme_check_fails_when_stale(tmp_path):
    root = _copy_tree(tmp_path)
    (root / 'README.md').write_text('old text\n', encoding='utf-8')
    done = run(sys.executable, root / 'tools/build_readme.py', '--check', '--root', root)
    assert done.returncode == 1 and 'README.md is stale' in done.stderr


def test_sync_check_passes_on_the_tree():
    done = run(sys.executable, ROOT / 'tools/check_sync.py')
    assert done.returncode == 0, done.stderr


def test_sync_check_names_the_drifted_module(tmp_path):
    "Changing a notebook without re-exporting fails, naming the module."
    root = _copy_tree(tmp_path)
    notebook = root / 'nbs/00_config.ipynb'
    text = notebook.read_text(encoding='utf-8')
    marker = 'def mirror_dir() -> Path | None:'
    assert marker in text
    notebook.write_text(text.replace(marker, 'def mirror_folder() -> Path | None:'), encoding='utf-8')
    done = run(sys.executable, root / 'tools/check_sync.py', '--root', root)
    assert done.returncode == 1
    assert 'atomvision/config.py: nbdev_export changes it' in done.stderr, done.stderr


def test_sync_check_names_an_unclean_notebook(tmp_path):
    root = _copy_tree(tmp_path)
    notebook = root / 'nbs/11_cli.ipynb'
    text = notebook.read_text(encoding='utf-8')
    notebook.write_text(text.replace('"execution_count": null', '"execution_count": 7', 1), encoding='utf-8')
    done = run(sys.executable, root / 'tools/check_sync.py', '--root', root)
    assert done.returncode == 1 and 'nbs/11_cli.ipynb: nbdev_clean changes it' in done.stderr, done.stderr


def test_console_script():
    done = run(BIN / 'atomvision', '--help')
    assert done.returncode == 0 and 'info' in done.stdout
    done = run(BIN / 'atomvision', 'info')
    assert done.returncode == 0, done.stderr
    assert 'Plomb' in done.stdout and 'Ca Mg Na K P Fe Zn Cu Mn Se I Mo Cr Co Pb Cd As Hg Ni Al Sn Sb' in done.stdout


# What `make notebooks` leaves in the notebooks: the stage notebooks open with their results (a table or a figure),
# the ones whose results are figures have them, and none grows past what a reader downloads happily.
RESULTS = ('00b_elements', '01_fetch', '02_usda_fdc', '03_fda_tds', '04_europe', '04b_afcd', '05d_stats', '05e_harmonize', '06_explore',
           '07e_plots', '08_photos', '08b_store', '09_train', '09b_tune', '10_evaluate', '09d_predict')
FIGURES = ('06_explore', '07e_plots', '09_train', '09b_tune', '10_evaluate')
MAX_NOTEBOOK_BYTES, MAX_FIGURE_BYTES = 2_000_000, 150_000


def shown(path: Path) -> list:
    "The results a notebook stores (printed summaries, tables, figures): (kind, bytes of the figure or 0)."
    import base64, json
    out = []
    for cell in json.loads(path.read_text())['cells']:
        for o in cell.get('outputs', []):
            if o['output_type'] == 'stream': # printed summaries count; the device line every notebook prints does not
                text = ''.join(o.get('text', ''))
                if text.strip() and not all(line.startswith('atomvision: using') for line in text.strip().splitlines()): out.append(('text', 0))
                continue
            if o['output_type'] not in ('display_data', 'execute_result'): continue
            png = o.get('data', {}).get('image/png')
            out.append(('figure', len(base64.b64decode(''.join(png)))) if png else ('table', 0))
    return out


def notebook_problems(nbs: Path) -> list:
    problems = []
    for path in sorted(nbs.glob('*.ipynb')):
        size = path.stat().st_size
        if size > MAX_NOTEBOOK_BYTES: problems.append(f'{path.name}: {size / 1e6:.1f} MB, over 2 MB')
        outputs = shown(path)
        problems += [f'{path.name}: a figure of {n / 1e3:.0f} KB, over 150 KB' for kind, n in outputs if n > MAX_FIGURE_BYTES]
        if path.stem in RESULTS and not outputs: problems.append(f'{path.name}: shows no result (run `make notebooks`)')
        if path.stem in FIGURES and not any(kind == 'figure' for kind, _ in outputs): problems.append(f'{path.name}: shows no figure (run `make notebooks`)')
    return problems


def test_notebooks_show_their_results():
    assert notebook_problems(ROOT / 'nbs') == []


def test_notebook_check_can_fail(tmp_path):
    import json
    nb = json.loads((ROOT / 'nbs' / '09_train.ipynb').read_text())
    for cell in nb['cells']:
        if cell['cell_type'] == 'code': cell['outputs'] = []
    (tmp_path / '09_train.ipynb').write_text(json.dumps(nb))
    big = json.loads((ROOT / 'nbs' / '10_evaluate.ipynb').read_text())
    big['cells'][0]['source'] = ['x' * 2_100_000]
    (tmp_path / '10_evaluate.ipynb').write_text(json.dumps(big))
    problems = notebook_problems(tmp_path)
    assert '09_train.ipynb: shows no result (run `make notebooks`)' in problems
    assert '09_train.ipynb: shows no figure (run `make notebooks`)' in problems
    assert any(p.startswith('10_evaluate.ipynb') and 'over 2 MB' in p for p in problems)


SCRIPTS = sorted((ROOT / 'bench').glob('*.py')) + sorted((ROOT / 'experiments').glob('*.py'))


def test_scripts_start():
    "Every benchmark and experiment script imports what it needs and answers --help (a moved module breaks it here)."
    assert len(SCRIPTS) >= 8, SCRIPTS
    broken = []
    for script in SCRIPTS:
        done = subprocess.run([sys.executable, str(script), '--help'], capture_output=True, text=True, timeout=120, cwd=ROOT)
        if done.returncode != 0 or 'usage' not in done.stdout.lower(): broken.append(f'{script.relative_to(ROOT)}: {done.stderr[-300:]}')
    assert not broken, broken


def test_notebook_runs_use_the_environment_they_are_given(tmp_path):
    "A notebook run gets the environment snapshot it was handed, not the live (changing) one: a notebook written here checks a name only the snapshot holds."
    from conftest import _run
    notebook = tmp_path / 'probe.ipynb' # a test fixture written here, not a project notebook
    cell = {'cell_type': 'code', 'execution_count': None, 'metadata': {}, 'outputs': [],
            'source': ["import os\n", "assert os.environ.get('ATOMVISION_ENV_PROBE') == 'snapshot', os.environ.get('ATOMVISION_ENV_PROBE')"]}
    notebook.write_text(json.dumps({'cells': [cell], 'metadata': {}, 'nbformat': 4, 'nbformat_minor': 5}), encoding='utf-8')
    done = _run(notebook, '', {**os.environ, 'ATOMVISION_ENV_PROBE': 'snapshot'})
    assert done.returncode == 0, done.stdout + done.stderr
    assert 'ATOMVISION_ENV_PROBE' not in os.environ
    failed = _run(notebook, '', dict(os.environ)) # the same notebook fails without the name: the check can fail
    assert failed.returncode != 0 and 'AssertionError: None' in failed.stdout + failed.stderr, failed.stdout + failed.stderr
