"""Shared fixtures: the repository root, and the notebooks run by the one notebook runner.

Each notebook runs in a fresh Python process through `tools/run_notebooks.py --check`, which runs it as `nbdev_test`
does and decides which flagged cells run (`active_flags`: those NBDEV_FLAGS names, plus `mirror` where
ATOMVISION_MIRROR names a folder and `chromium` where Chromium and Playwright are installed). The summary at the end
counts notebooks, cells and checks, and says how many were skipped without the mirror. The notebooks run
concurrently (ATOMVISION_TEST_WORKERS, default: the machine's cores).
"""
import json
import os
import re
import shutil
import subprocess
import tempfile
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / 'tools'))
from run_notebooks import active_flags, cell_flags, notebooks, test_flags  # noqa: E402


CHECK = re.compile(r'(?m)(?:^|[;:(]\s*|\s)(?:test_eq|test_close|test_fail|test_ne|test|assert)\b[ (]') # one check: a fastcore test or an assert


def cell_counts(path: Path, skip: set) -> dict:
    "How many code cells of `path` run, how many of them hold tests, how many are skipped by flag (and for the mirror)."
    counts = dict(run=0, with_tests=0, skipped=0, skipped_mirror=0, skipped_chromium=0, checks=0, checks_skipped_mirror=0)
    for cell in json.loads(path.read_text(encoding='utf-8'))['cells']:
        if cell['cell_type'] != 'code': continue
        source = ''.join(cell['source'])
        flags = cell_flags(source)
        if 'nbdev_export(' in source: continue
        checks = len(CHECK.findall(source))
        if not flags & {'slow', 'cuda'}: counts['checks'] += checks # the checks CI runs when the mirror is there
        if flags & skip:
            counts['checks_skipped_mirror'] += checks if 'mirror' in flags & skip and not flags & {'slow', 'cuda'} else 0
            counts['skipped'] += 1; counts['skipped_mirror'] += 'mirror' in flags & skip; counts['skipped_chromium'] += 'chromium' in flags & skip
            continue
        counts['run'] += 1
        counts['with_tests'] += any(t in source for t in ('test_eq', 'test_close', 'test_fail', 'test_ne', 'assert '))
    return counts


def _run(path: Path, flags: str, env: dict) -> subprocess.CompletedProcess:
    "Run one notebook in a fresh process with the environment `env`, a copy taken before any thread started."
    # An explicit env, never the inherited one: pytest sets PYTEST_CURRENT_TEST in the main thread while these
    # threads spawn, and a child that execs with the live environ (CPython drops the GIL around vfork) can find it
    # reallocated under it, which surfaces as "OSError: [Errno 14] Bad address" from Popen.
    timeout = int(env.get('ATOMVISION_NOTEBOOK_TIMEOUT', '1200'))
    return subprocess.run([sys.executable, str(ROOT / 'tools' / 'run_notebooks.py'), '--check', str(path), '--flags', flags],
                          capture_output=True, text=True, timeout=timeout, cwd=path.parent, env=env)


@pytest.fixture(scope='session')
def notebook_runs(request):
    "Start every notebook at once (bounded by the worker count); tests wait for their own."
    requested = os.environ.get('NBDEV_FLAGS', '')
    force = active_flags(requested)
    if 'ATOMVISION_DATA' not in os.environ and 'slow' not in force:
        # tests write into a temporary data folder, never the project's data/ (the slow cells use the real runs there)
        scratch = tempfile.mkdtemp(prefix='atomvision-test-data-')
        os.environ['ATOMVISION_DATA'] = scratch
        request.config.stash[_DATA] = scratch
        request.addfinalizer(lambda: (shutil.rmtree(scratch, ignore_errors=True), os.environ.pop('ATOMVISION_DATA', None)))
    workers = int(os.environ.get('ATOMVISION_TEST_WORKERS', os.cpu_count() or 1))
    pool = ThreadPoolExecutor(max_workers=workers)
    request.addfinalizer(pool.shutdown)
    env = dict(os.environ) # taken here, in the main thread, before the first notebook starts
    runs = {p.name: pool.submit(_run, p, requested, env) for p in notebooks()}
    stats = request.config.stash.setdefault(_STATS, {})
    for p in notebooks(): stats[p.name] = cell_counts(p, set(test_flags()) - force)
    return runs


_STATS = pytest.StashKey[dict]()
_DATA = pytest.StashKey[str]()


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    stats = config.stash.get(_STATS, {})
    if not stats: return
    passed = {r.nodeid.split('[')[-1].rstrip(']') for r in terminalreporter.stats.get('passed', [])
              if 'test_notebook[' in r.nodeid}
    terminalreporter.section('notebooks')
    for name, c in stats.items():
        state = 'passed' if name in passed else 'FAILED/not run'
        terminalreporter.write_line(f"{name:32} {state:15} {c['run']:3} cells run ({c['with_tests']} with tests), {c['skipped']} skipped by flag")
    total = {k: sum(c[k] for c in stats.values()) for k in ('run', 'with_tests', 'skipped', 'skipped_mirror', 'skipped_chromium', 'checks', 'checks_skipped_mirror')}
    terminalreporter.write_line(f"{len(passed)} of {len(stats)} notebooks passed: {total['run']} cells run, "
                                f"{total['with_tests']} with tests, {total['skipped']} skipped by flag")
    terminalreporter.write_line(f"{total['skipped_mirror']} cells skipped because the mirror is absent (set ATOMVISION_MIRROR): "
                                f"{total['checks_skipped_mirror']} of {total['checks']} checks ({100 * total['checks_skipped_mirror'] / max(total['checks'], 1):.1f}%), "
                                f"in {', '.join(n for n, c in stats.items() if c['skipped_mirror'])}; the committed excerpts (tests/excerpts) stand in elsewhere"
                                if total['skipped_mirror'] else f"mirror present: no cell skipped for it ({total['checks']} checks outside slow and cuda cells)")
    terminalreporter.write_line(f"{total['skipped_chromium']} cells skipped because Chromium or Playwright is absent (the web page test)"
                                if total["skipped_chromium"] else "chromium present: no cell skipped for it")
    scratch = config.stash.get(_DATA, None)
    terminalreporter.write_line(f"data written to a temporary folder ({scratch}, removed), not the project's data/" if scratch
                                else f"data folder: {os.environ.get('ATOMVISION_DATA') or 'the project data/ (slow cells use its runs)'}")
