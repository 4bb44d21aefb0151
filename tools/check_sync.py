"""Check that the package is what the notebooks export and that the notebooks are clean.

Runs `nbdev_export` and `nbdev_clean` on a copy of the repository (the working tree is never
touched) and compares: any module that the export would change, add or remove, and any notebook
that cleaning would change, is named, and the exit status is 1. Usage: check_sync.py [--root DIR]
"""
import argparse
import filecmp
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

BIN = Path(sys.executable).parent


def _files(root: Path, folder: str, pattern: str) -> set:
    return {p.relative_to(root).as_posix() for p in (root / folder).rglob(pattern)
            if '.ipynb_checkpoints' not in p.parts and '__pycache__' not in p.parts}


def drifted(root: Path) -> list:
    "Messages naming each file that nbdev_export or nbdev_clean would change."
    with tempfile.TemporaryDirectory(prefix='atomvision-sync-') as tmp:
        copy = Path(tmp)
        shutil.copy2(root / 'settings.ini', copy / 'settings.ini')
        for folder in ('nbs', 'atomvision'):
            shutil.copytree(root / folder, copy / folder, ignore=shutil.ignore_patterns('__pycache__', '.ipynb_checkpoints'))
        for tool in ('nbdev_export', 'nbdev_clean'):
            done = subprocess.run([str(BIN / tool)], cwd=copy, capture_output=True, text=True)
            if done.returncode != 0:
                return [f'{tool} failed:\n{done.stdout}{done.stderr}']
        messages = []
        for folder, pattern, tool in (('atomvision', '*.py', 'nbdev_export'), ('nbs', '*.ipynb', 'nbdev_clean')):
            before, after = _files(root, folder, pattern), _files(copy, folder, pattern)
            for name in sorted(before | after):
                if name not in after: messages.append(f'{name}: not produced by {tool} (stale file?)')
                elif name not in before: messages.append(f'{name}: {tool} creates it, but it is not in the tree')
                elif not filecmp.cmp(root / name, copy / name, shallow=False):
                    messages.append(f'{name}: {tool} changes it')
        return messages


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--root', type=Path, default=Path(__file__).resolve().parents[1])
    root = parser.parse_args().root.resolve()
    messages = drifted(root)
    if messages:
        print('Notebooks and package have drifted; run `make export` and commit the result:', file=sys.stderr)
        for message in messages: print(f'  {message}', file=sys.stderr)
        return 1
    print(f'sync ok: atomvision/ is what nbs/ exports, and nbs/ is clean ({root})')
    return 0


if __name__ == '__main__':
    sys.exit(main())
