"""Benchmark: `atomvision build` end to end (fetch, read, harmonize, export) on the full mirror.

Prints wall seconds and peak resident memory of a fresh process running the build, against the
targets (under 60 s and under 4 GB on the 2-core machine). Usage: python bench/build.py
"""
import argparse
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

argparse.ArgumentParser(description=__doc__.splitlines()[0]).parse_args()
with tempfile.TemporaryDirectory() as out:
    started = time.perf_counter()
    done = subprocess.run([str(Path(sys.executable).parent / 'atomvision'), 'build', '--out', out], capture_output=True, text=True)
    seconds = time.perf_counter() - started
if done.returncode != 0:
    sys.exit(f'build failed:\n{done.stderr[-3000:]}')
peak_gb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024 ** 2
print(done.stdout.splitlines()[0])
print(f'build: {seconds:.1f} s wall (target < 60 s), peak memory {peak_gb:.2f} GB (target < 4 GB)')
