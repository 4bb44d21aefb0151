"""Run a notebook's code cells in order in one namespace, as `nbdev_test` does, where nbdev itself is not installed
(a rented GPU machine). Cells flagged with settings.ini's `tst_flags` run only when named with --flags; `#| hide`
cells that call nbdev_export and IPython magics are skipped. Exit status 1 names the failing cell.

    python tools/run_notebook.py nbs/07_vit.ipynb --flags cuda
"""
import argparse
import json
import os
import sys
import time
import traceback
from pathlib import Path

FLAGS = ('slow', 'cuda', 'mirror')


def run(path: Path, flags: set) -> bool:
    namespace = {'__name__': '__main__'}
    try: from IPython.display import display
    except ImportError: display = print
    namespace['display'] = display
    cells = [c for c in json.loads(path.read_text())['cells'] if c['cell_type'] == 'code']
    ran = skipped = 0
    for number, cell in enumerate(cells):
        source = ''.join(cell['source'])
        directives = {l[2:].strip().split()[0] for l in source.splitlines() if l.startswith('#|') and l[2:].strip()}
        if 'nbdev_export(' in source or (set(FLAGS) & directives) - flags: skipped += 1; continue
        code = '\n'.join(l for l in source.splitlines() if not l.lstrip().startswith(('%', '!')))
        started = time.perf_counter()
        try: exec(compile(code, f'{path.name}[cell {number}]', 'exec'), namespace)
        except Exception:
            traceback.print_exc()
            print(f'{path.name}: cell {number} failed:\n{source[:500]}', file=sys.stderr)
            return False
        ran += 1
        if 'cuda' in directives: print(f'{path.name}: cuda cell {number} passed in {time.perf_counter() - started:.1f} s', flush=True)
    print(f'{path.name}: {ran} cells ran, {skipped} skipped', flush=True)
    return True


if __name__ == '__main__':
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('notebooks', nargs='+')
    parser.add_argument('--flags', default='', help='flags to run, e.g. "cuda"')
    args = parser.parse_args()
    import matplotlib; matplotlib.use('Agg')
    flags = set(args.flags.split())
    mirror = os.environ.get('ATOMVISION_MIRROR', '').strip()
    if mirror and Path(mirror).is_dir(): flags.add('mirror') # as the test suite does
    ok = all([run(Path(p), flags) for p in args.notebooks])
    sys.exit(0 if ok else 1)
