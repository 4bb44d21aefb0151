"""The one notebook runner: the test suite, `make notebooks` and the GPU checks all run notebooks through it.

Flagged cells (settings.ini's `tst_flags`: slow, cuda, mirror, chromium) run only when their flag is on: named with
--flags, or, for `mirror` and `chromium`, found on the machine (ATOMVISION_MIRROR names a folder; Debian's chromium
and Playwright are installed). `active_flags` is the one place that decides this.

Two modes:
- `--check` runs each notebook as `nbdev_test` does (nbdev's `test_nb`: its directives, a fresh shell, from nbs/) and
  reports pass or fail; the test suite runs every notebook this way, one process each. Where nbdev is not installed
  (a bare GPU machine) it runs the code cells in order in one namespace instead, and says so.
- without it, the notebooks are re-executed in data-flow order and their outputs written back (`make notebooks`):
  outputs replace the stored ones cell by cell, a skipped cell keeps none, figures are PNG at 72 dpi (notebooks may
  set less), then nbdev_clean runs and each notebook's time, figures and size are printed. Seeds are fixed in the
  notebooks, so a re-run gives the same figures and numbers (timings and temporary paths aside).

    python tools/run_notebooks.py                                  # re-execute every notebook, keep outputs
    python tools/run_notebooks.py nbs/09_train.ipynb --flags "slow mirror"
    python tools/run_notebooks.py --check nbs/07c_maps.ipynb --flags cuda
"""
import argparse
import configparser
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import time
import traceback
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SETUP = "import matplotlib; matplotlib.use('module://matplotlib_inline.backend_inline'); matplotlib.rcParams['figure.dpi'] = 72"


def settings() -> configparser.SectionProxy:
    "settings.ini's DEFAULT section."
    config = configparser.ConfigParser(delimiters=['='])
    config.read(ROOT / 'settings.ini', encoding='utf-8')
    return config['DEFAULT']


def test_flags() -> tuple:
    "Every cell flag the tests know (settings.ini's `tst_flags`)."
    return tuple(settings()['tst_flags'].split())


def mirror_present() -> bool:
    "Whether the mirror named by ATOMVISION_MIRROR exists (then the `mirror` cells run)."
    value = os.environ.get('ATOMVISION_MIRROR', '').strip()
    return bool(value) and Path(value).expanduser().is_dir() # Path('') would be the current folder


def chromium_present() -> bool:
    "Whether Debian's chromium and Playwright for Python are installed (then the `chromium` cells run)."
    return shutil.which('chromium') is not None and importlib.util.find_spec('playwright') is not None


def active_flags(requested: str | list = '') -> set:
    "The flags whose cells run: those `requested`, plus `mirror` and `chromium` where the machine has them."
    flags = set(requested.split() if isinstance(requested, str) else requested)
    if mirror_present(): flags.add('mirror')
    if chromium_present(): flags.add('chromium')
    return flags & set(test_flags())


def cell_flags(source: str) -> set:
    "The `#|` directives a cell's source starts lines with (its flags among them)."
    return {l[2:].strip().split()[0] for l in source.splitlines() if l.startswith('#|') and l[2:].strip()}


def notebooks() -> list:
    "The notebooks nbdev_test would test, in data-flow (name) order: under nbs/, not starting with '_' or '.'."
    return sorted(p for p in (ROOT / settings()['nbs_path']).rglob('*.ipynb')
                  if not any(part.startswith(('_', '.')) for part in p.relative_to(ROOT).parts))


def check(path: Path, flags: set) -> bool:
    "Run one notebook as nbdev_test does (or, without nbdev, cell by cell in one namespace); whether it passed."
    skip = sorted(set(test_flags()) - flags)
    if importlib.util.find_spec('nbdev') is not None:
        from nbdev.test import test_nb
        started = time.perf_counter()
        ok, _ = test_nb(path, skip_flags=skip, force_flags=sorted(flags), basepath=str(ROOT))
        print(f'notebook-seconds {time.perf_counter() - started:.1f}', flush=True)
        return ok
    return _check_plain(path, set(skip))


def _check_plain(path: Path, skip: set) -> bool:
    "Without nbdev: the code cells in order in one namespace, skipping flagged cells, export calls and IPython magics."
    print(f'{path.name}: nbdev is not installed; running its code cells in one namespace', flush=True)
    import matplotlib; matplotlib.use('Agg')
    namespace = {'__name__': '__main__'}
    try: from IPython.display import display
    except ImportError: display = print
    namespace['display'] = display
    cells = [c for c in json.loads(path.read_text())['cells'] if c['cell_type'] == 'code']
    ran = skipped = 0
    cwd = os.getcwd(); os.chdir(path.parent)
    try:
        for number, cell in enumerate(cells):
            source = ''.join(cell['source'])
            if 'nbdev_export(' in source or cell_flags(source) & skip: skipped += 1; continue
            code = '\n'.join(l for l in source.splitlines() if not l.lstrip().startswith(('%', '!')))
            try: exec(compile(code, f'{path.name}[cell {number}]', 'exec'), namespace)
            except Exception:
                traceback.print_exc()
                print(f'{path.name}: cell {number} failed:\n{source[:500]}', file=sys.stderr)
                return False
            ran += 1
    finally: os.chdir(cwd)
    print(f'{path.name}: {ran} cells ran, {skipped} skipped', flush=True)
    return True


def execute(path: Path, flags: set) -> dict:
    "Run one notebook and write its outputs back; returns what it showed."
    from execnb.nbio import read_nb, write_nb
    from execnb.shell import CaptureShell
    from nbdev.frontmatter import FrontmatterProc
    from nbdev.process import NBProcessor
    skip = set(test_flags()) - flags
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
    parser.add_argument('--flags', default=None, help='flagged cells to run besides those the machine allows (default: "slow" when '
                        're-executing, none with --check)')
    parser.add_argument('--check', action='store_true', help='run and report pass or fail; leave the stored outputs alone')
    args = parser.parse_args()
    paths = [Path(p).resolve() for p in args.notebooks] or notebooks()
    requested = args.flags if args.flags is not None else ('' if args.check else 'slow')
    if 'mirror' in requested.split() and not mirror_present():
        print('ATOMVISION_MIRROR does not name a folder: the mirror cells cannot run (set it, or pass --flags without mirror)', file=sys.stderr)
        return 2
    flags = active_flags(requested)
    print(f"flags on: {' '.join(sorted(flags)) or 'none'}", flush=True)
    if args.check: return 0 if all([check(p, flags) for p in paths]) else 1
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
