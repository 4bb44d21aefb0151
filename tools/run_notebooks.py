"""Re-execute the notebooks in place, in data-flow order, keeping their outputs (`make notebooks`).

Each notebook runs as `nbdev_test` runs it (nbdev's directives, one kernel per notebook, from nbs/), with the cells
flagged in settings.ini's `tst_flags` run only when named in --flags (default: `slow mirror`; `cuda` and `chromium`
cells are skipped unless named). Outputs replace the stored ones, cell by cell; a skipped cell keeps none, so what a
notebook shows always comes from this command. Figures are PNG at 72 dpi (notebooks may set less). The notebooks are
then cleaned with nbdev_clean, and each one's time, figures and size are printed. Seeds are fixed in the notebooks, so
a re-run gives the same figures and numbers (timings and temporary paths aside).

    python tools/run_notebooks.py                 # every notebook
    python tools/run_notebooks.py nbs/09_train.ipynb --flags "slow mirror"
"""
import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ALL_FLAGS = ('slow', 'cuda', 'mirror', 'chromium')
SETUP = "import matplotlib; matplotlib.use('module://matplotlib_inline.backend_inline'); matplotlib.rcParams['figure.dpi'] = 72"


def execute(path: Path, flags: set) -> dict:
    "Run one notebook and write its outputs back; returns what it showed."
    from execnb.nbio import read_nb, write_nb
    from execnb.shell import CaptureShell
    from nbdev.frontmatter import FrontmatterProc
    from nbdev.process import NBProcessor
    skip = set(ALL_FLAGS) - flags
    processed = NBProcessor(path, procs=FrontmatterProc, process=True).nb
    for cell in processed.cells: # execnb keeps a cell's old outputs when it now shows nothing: start from none
        if cell.cell_type == 'code': cell.outputs = []

    def no_eval(cell) -> bool:
        if cell.cell_type != 'code' or 'nbdev_export' + '(' in cell.source: return True
        directives = getattr(cell, 'directives_', {}) or {}
        return bool(skip & directives.keys())

    shell = CaptureShell(path, mpl_format='png')
    started = time.perf_counter()
    cwd = os.getcwd()
    os.chdir(path.parent)
    try: shell.run_all(processed, exc_stop=True, preproc=no_eval, inject_code=SETUP)
    except Exception:
        print(shell.prettytb(fname=path), file=sys.stderr)
        raise
    finally: os.chdir(cwd)
    outputs = {c.get('id'): c.get('outputs', []) for c in processed.cells if c.cell_type == 'code'}
    ran = {c.get('id') for c in processed.cells if c.cell_type == 'code' and not no_eval(c)}
    raw = read_nb(path)
    for cell in raw.cells:
        if cell.cell_type != 'code': continue
        cell['outputs'] = shown(outputs.get(cell.get('id'), [])) if cell.get('id') in ran else []
        cell['execution_count'] = None
    tmp = path.with_suffix('.ipynb.tmp')
    write_nb(raw, tmp)
    tmp.replace(path) # atomic: a failed run never leaves half a notebook
    return dict(seconds=time.perf_counter() - started, cells=len(ran))


def shown(outputs: list) -> list:
    """The outputs worth keeping: not the empty result execnb records after an object that displays itself (a widget),
    which nbconvert warns it cannot represent, nor a stream of nothing but cleared progress-bar lines."""
    def empty(o) -> bool:
        if o.get('output_type') in ('execute_result', 'display_data'): return not o.get('data')
        text = o.get('text', '')
        return o.get('output_type') == 'stream' and not (''.join(text) if isinstance(text, list) else text).replace('\x1b[2K', '').strip()
    return [o for o in outputs if not empty(o)]


def figures(path: Path) -> int:
    nb = json.loads(path.read_text())
    return sum('image/png' in o.get('data', {}) for c in nb['cells'] if c['cell_type'] == 'code' for o in c.get('outputs', []))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('notebooks', nargs='*', help='default: every notebook in nbs/, in data-flow (name) order')
    parser.add_argument('--flags', default='slow mirror', help='flagged cells to run (settings.ini tst_flags)')
    args = parser.parse_args()
    paths = [Path(p).resolve() for p in args.notebooks] or sorted((ROOT / 'nbs').glob('[0-9]*.ipynb')) + [ROOT / 'nbs' / 'index.ipynb']
    flags = set(args.flags.split())
    mirror = os.environ.get('ATOMVISION_MIRROR')
    if 'mirror' in flags and not (mirror and Path(mirror).is_dir()): # Path('') is the current folder
        print('ATOMVISION_MIRROR does not name a folder: the mirror cells cannot run (set it, or pass --flags without mirror)', file=sys.stderr)
        return 2
    os.environ.pop('IN_TEST', None)
    for path in paths:
        print(f'{path.name}: running', flush=True)
        try: done = execute(path, flags)
        except Exception as e:
            print(f'{path.name}: failed: {type(e).__name__}: {str(e)[-2000:]}', file=sys.stderr)
            return 1
        subprocess.run([str(Path(sys.executable).parent / 'nbdev_clean'), '--fname', str(path)], check=True, capture_output=True, cwd=ROOT)
        print(f"{path.name}: {done['cells']} cells in {done['seconds']:.0f} s, {figures(path)} figures, "
              f"{path.stat().st_size / 1024:.0f} KB", flush=True)
    return 0


if __name__ == '__main__':
    sys.exit(main())
