"""The repository's own checks: README freshness, drift detection, the console script."""
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
    notebook = root / 'nbs/00_core.ipynb'
    text = notebook.read_text(encoding='utf-8')
    marker = 'def mirror_dir() -> Path | None:'
    assert marker in text
    notebook.write_text(text.replace(marker, 'def mirror_folder() -> Path | None:'), encoding='utf-8')
    done = run(sys.executable, root / 'tools/check_sync.py', '--root', root)
    assert done.returncode == 1
    assert 'atomvision/core.py: nbdev_export changes it' in done.stderr, done.stderr


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
