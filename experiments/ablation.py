"""The model's recipe, measured: training runs of named variants over several seeds, run in parallel, each evaluated
on the val photos (fine-class and group top-1, skill against the food-group mean for the direct, mixture and
blended paths, NLL, 90% coverage per element), then ensembles of the headline runs (K = 1, 3, 5) with their
epistemic variance on constructed out-of-distribution inputs. Prints a table and writes `results.json`.

    python experiments/ablation.py --out data/ablation [--jobs long,quick,ablation,cnn] [--workers 2] [--deadline 3600]

The `cnn` group is the pretrained recipe (the `cpu` preset: EfficientNet-Lite0, 6 epochs at 160 px, about 8 minutes a
run alone on the 2-core development machine) and the first recipe's variants measured against it (09_train), and
`cnn-next` one-change variants of the recipe (192 px, 8 epochs, the heads first, one learning rate, CutMix alone, mixup
with CutMix and no label smoothing measured over 3 seeds in 09_train; 192 px for the last epoch only, `cnn-192-last`,
measured on the held-out dev draw in 10_evaluate, not yet on val); `backbones` puts EfficientNet-Lite1 and Lite2 in
Lite0's place at 160 px, `backbones-native` at their own resolutions (240 and 260 px, from a store of 320-px photos,
built where it is missing; about 31-34 minutes a Lite2 run); the others are the ViT from scratch, whose
100-epoch run takes about 30 minutes alone and three side by side (one thread each) about 75; a 40-epoch variant at
three seeds side by side about 35. The GPU machine runs them side by side
(`--workers 12 --device cuda`). Figures are means and sample standard deviations (ddof=1, as in the notebooks'
tables) over seeds, never the best seed. Runs already finished are skipped, so the command for every variant in a
folder only prints their table.
"""
import argparse
import json
import os
import signal
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from atomvision.harmonize import load_dataset
from atomvision.store import build_image_store, default_store
from atomvision.train import PRESETS

LONG_EPOCHS, ABLATION_EPOCHS = 100, 40
ENSEMBLES = [('long', 3), ('long', 5), ('gpu', 3), ('cnn', 3), ('hybrid', 3), ('hybrid-distill', 3)] # (variant, K): members are its seeds 0..K-1
# name -> (preset, changes); the ViT recipe is the vit-long preset's (atomvision.train.RECIPE), the pretrained one the
# cpu preset's (atomvision.train.CNN_RECIPE)
VARIANTS = {
    'long': ('vit-long', dict(epochs=LONG_EPOCHS, members=1)),
    'gpu': ('vit-gpu', dict(members=1)),
    'quick': ('vit', dict(members=1)),
    'quick-nomix': ('vit', dict(members=1, mixup=0.0, cutmix=0.0)),
    'cnn': ('cpu', dict(members=1)), # the pretrained recipe (CNN_RECIPE: ImageNet BatchNorm statistics kept)
    'cnn-first': ('cpu', dict(members=1, freeze_bn=False)), # the first recipe: BatchNorm statistics from each batch
    'cnn-first-uniform-lr': ('cpu', dict(members=1, freeze_bn=False, backbone_lr=1.0)),
    'cnn-first-mix': ('cpu', dict(members=1, freeze_bn=False, mixup=0.2, cutmix=1.0, mix_prob=0.5)),
    'cnn-gpu': ('gpu', dict(members=1)),
    'cnn-uniform-lr': ('cpu', dict(members=1, backbone_lr=1.0)), # one learning rate for heads and backbone
    'cnn-heads-first': ('cpu', dict(members=1, freeze_epochs=1.0)),
    'cnn-mix': ('cpu', dict(members=1, mixup=0.2, cutmix=1.0, mix_prob=0.5)),
    'cnn-cutmix': ('cpu', dict(members=1, cutmix=1.0, mix_prob=0.5)), # CutMix alone on half the batches (Yun et al. 2019)
    'cnn-no-smoothing': ('cpu', dict(members=1, label_smoothing=0.0)),
    'cnn-logit-norm': ('cpu', dict(members=1, logit_norm=0.04)), # LogitNorm (Wei et al. 2022), for telling unknown foods apart
    'cnn-192': ('cpu', dict(members=1, image_size=192)),
    'cnn-192-last': ('cpu', dict(members=1, image_size=192, early_image_size=160, early_epochs=5)), # progressive resizing: 5 epochs at 160 px, the last at 192
    'cnn-8-epochs': ('cpu', dict(members=1, epochs=8)),
    'cnn-lite1': ('cpu', dict(members=1, model='efficientnet_lite1')), # the larger backbones, at the quick preset's 160 px and 6 epochs
    'cnn-lite2': ('cpu', dict(members=1, model='efficientnet_lite2')),
    # ... and at their own resolutions, from a store of 320-px photos (the 256-px one would be upsampled to 240-260 px)
    'cnn-lite1-240': ('cpu', dict(members=1, model='efficientnet_lite1', image_size=240, photo_size=320)),
    'cnn-lite2-260': ('cpu-lite2', dict(members=1)), # the cpu-lite2 preset
    'hybrid': ('vit-hybrid', dict(members=1)), # the ViT on Lite0's pretrained early blocks
    'hybrid-distill': ('vit-hybrid', dict(members=1, teacher='{out}/cnn/seed0')), # ... taught by the cnn variant's seed-0 run (DeiT, hard)
    'recipe': ('vit-long', dict(epochs=ABLATION_EPOCHS, members=1)),
    'patch-stem': ('vit-long', dict(epochs=ABLATION_EPOCHS, members=1, model_changes=dict(stem='patch'))),
    'cls-token': ('vit-long', dict(epochs=ABLATION_EPOCHS, members=1, model_changes=dict(pool='cls'))),
    'patch-8': ('vit-long', dict(epochs=ABLATION_EPOCHS, members=1, model_changes=dict(patch_size=8))),
    'strong-augment': ('vit-long', dict(epochs=ABLATION_EPOCHS, members=1, augment='strong')), # the recipe keeps the colour ('basic')
    'no-mix': ('vit-long', dict(epochs=ABLATION_EPOCHS, members=1, mixup=0.0, cutmix=0.0)),
    'no-drop-path': ('vit-long', dict(epochs=ABLATION_EPOCHS, members=1, model_changes=dict(drop_path=0.0))),
    'ema': ('vit-long', dict(epochs=ABLATION_EPOCHS, members=1, ema=0.998)),
    'decay-all': ('vit-long', dict(epochs=ABLATION_EPOCHS, members=1, decay_all=True)),
    'dropout-0.1': ('vit-long', dict(epochs=ABLATION_EPOCHS, members=1, model_changes=dict(dropout=0.1, attn_dropout=0.1))),
    'no-class-head': ('vit-long', dict(epochs=ABLATION_EPOCHS, members=1, class_weight=0.0, linked_only=True)),
}
GROUPS = {'long': ['long'], 'gpu': ['gpu', 'cnn-gpu'], 'quick': ['quick', 'quick-nomix'],
          'cnn': ['cnn', 'cnn-first', 'cnn-first-uniform-lr', 'cnn-first-mix'], # measured (09_train)
          'hybrid': ['hybrid', 'hybrid-distill'], # the ViT whose attention is mapped, learning from the pretrained CNN
          'cnn-next': ['cnn-uniform-lr', 'cnn-heads-first', 'cnn-mix', 'cnn-cutmix', 'cnn-no-smoothing', 'cnn-192', 'cnn-192-last', 'cnn-8-epochs'],
          'backbones': ['cnn-lite1', 'cnn-lite2'], # EfficientNet-Lite1 and Lite2 in the quick preset's place
          'backbones-native': ['cnn-lite2-260', 'cnn-lite1-240'], # ... at their own resolutions (about 2.5x the time)
          'ablation': ['recipe', 'patch-stem', 'cls-token', 'strong-augment', 'no-mix', 'no-drop-path', 'ema', 'decay-all',
                       'dropout-0.1', 'no-class-head', 'patch-8']}

WORKER = r'''
import json, sys, time, torch
from pathlib import Path
torch.set_num_threads(int(sys.argv[4]))
from atomvision.train import config_from, train
from atomvision.evaluate import evaluate_run
preset, changes, run_dir = sys.argv[1], json.loads(sys.argv[2]), Path(sys.argv[3])
started = time.perf_counter()
run = train(config_from(preset, **changes), run_dir, verbose=False)
seconds = time.perf_counter() - started
mc = 8 # a model without dropout gets one pass whatever this asks (predict.has_dropout)
result = dict(seconds=seconds, config=dict(preset=preset, **changes))
for route in ('direct', 'mixture', 'blend'):
    try: r = evaluate_run(run, mc_samples=mc, route=route) # on the store it was trained from (artifact.trained_store)
    except ValueError as e: result[route] = dict(error=str(e)); continue
    result[route] = r['summary']
    if route == 'blend': result['per_element'] = r['per_element'].to_dict('records')
(run_dir / 'result.json').write_text(json.dumps(result, indent=1, default=float))
'''

REEVALUATE = r'''
import json, sys
from pathlib import Path
from atomvision.evaluate import evaluate_run
run_dir = Path(sys.argv[1])
result = json.loads((run_dir / 'result.json').read_text())
result = dict(seconds=result['seconds'], config=result['config']) # training as it was; the evaluation anew
for route in ('direct', 'mixture', 'blend'):
    try: r = evaluate_run(run_dir, mc_samples=8, route=route) # on the store it was trained from (artifact.trained_store)
    except ValueError as e: result[route] = dict(error=str(e)); continue
    result[route] = r['summary']
    if route == 'blend': result['per_element'] = r['per_element'].to_dict('records')
(run_dir / 'result.json').write_text(json.dumps(result, indent=1, default=float))
'''

PARTIAL = r'''
import csv, json, sys
from pathlib import Path
from atomvision.evaluate import evaluate_run
run_dir = Path(sys.argv[1])
epochs = len(list(csv.DictReader(open(run_dir / 'metrics.csv'))))
result = dict(partial=True, epochs_done=epochs, seconds=float('nan'))
for route in ('direct', 'mixture', 'blend'): result[route] = evaluate_run(run_dir / 'best.safetensors', mc_samples=0, route=route)['summary']
(run_dir / 'partial.json').write_text(json.dumps(result, indent=1, default=float))
'''

ENSEMBLE = r'''
import json, sys, torch
from pathlib import Path
from atomvision.evaluate import evaluate_run, ood_epistemic
runs, out = [Path(p) for p in json.loads(sys.argv[1])], Path(sys.argv[2])
out.mkdir(parents=True, exist_ok=True)
(out / 'ensemble.json').write_text(json.dumps(dict(members=[str(p.resolve()) for p in runs])))
r = evaluate_run(out, mc_samples=0, route='blend')
summary = dict(blend=r['summary'], per_element=r['per_element'].to_dict('records'))
summary['mixture'] = evaluate_run(out, mc_samples=0, route='mixture')['summary']
summary['ood'] = ood_epistemic(out, mc_samples=0, blend_weight=r['summary']['blend_weight'], temperature=r['summary']['class_temperature'])
(out / 'result.json').write_text(json.dumps(summary, indent=1, default=float))
'''


RUNNING, STOPPING = set(), threading.Event() # the worker processes now running; set once this script is told to stop


def launch(code: str, args: list, log: Path, env: dict, deadline: float) -> int:
    if STOPPING.is_set(): return -15
    with open(log, 'w') as f:
        proc = subprocess.Popen([sys.executable, '-c', code, *args], stdout=f, stderr=subprocess.STDOUT, env=env)
        RUNNING.add(proc)
        try: return proc.wait(timeout=max(deadline - time.time(), 1))
        except subprocess.TimeoutExpired:
            proc.kill(); proc.wait(); return -9
        finally: RUNNING.discard(proc)


def stop(signum, frame):
    "On SIGTERM or Ctrl-C: kill the running workers (their runs resume next time) and start no more."
    STOPPING.set()
    for proc in list(RUNNING): proc.kill()
    raise SystemExit(128 + signum)


def summarize(values: list) -> str:
    values = [v for v in values if v is not None and not np.isnan(v)]
    if not values: return 'n/a'
    return f'{np.mean(values):.3f} ± {np.std(values, ddof=1):.3f}' if len(values) > 1 else f'{values[0]:.3f}'


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--out', default='data/ablation')
    parser.add_argument('--jobs', default='long,quick,ablation', help='comma-separated groups: ' + ', '.join(GROUPS))
    parser.add_argument('--variants', help='comma-separated variants (instead of --jobs)')
    parser.add_argument('--seeds', type=int, default=3, help='seeds per variant (the long runs get max(5, seeds) for the K=5 ensemble)')
    parser.add_argument('--workers', type=int, default=1, help='runs side by side')
    parser.add_argument('--threads', type=int, default=0, help='torch threads per run (0: cores / workers)')
    parser.add_argument('--deadline', type=float, default=6 * 3600, help='seconds; runs still going then are stopped')
    parser.add_argument('--device', default='auto')
    parser.add_argument('--partial', action='store_true', help='evaluate the best weights of runs stopped at the deadline (partial.json)')
    parser.add_argument('--changes', default='{}', help='JSON settings applied to every run (e.g. to shorten them for a smoke test)')
    parser.add_argument('--reevaluate', action='store_true', help='evaluate the trained runs and their ensembles again with the current code '
                        'and image store (training times kept); trains nothing')
    args = parser.parse_args()
    out, deadline = Path(args.out), time.time() + args.deadline
    out.mkdir(parents=True, exist_ok=True)
    threads = args.threads or max(1, (os.cpu_count() or 1) // args.workers)
    env = {**os.environ, 'OMP_NUM_THREADS': str(threads), 'PYTHONUNBUFFERED': '1'}
    names = args.variants.split(',') if args.variants else [v for g in args.jobs.split(',') for v in GROUPS[g]]
    common = json.loads(args.changes)
    jobs, stores = [], {}
    try: dataset = load_dataset()
    except FileNotFoundError: dataset = None # a machine the stores were moved to (tools/pack_store.py): used as they are
    for name in names:
        preset, changes = VARIANTS[name]
        changes = {**changes, **common, 'device': args.device,
                   'model_changes': {**changes.get('model_changes', {}), **common.get('model_changes', {})}}
        if 'teacher' in changes: changes['teacher'] = changes['teacher'].format(out=out) # a run of this folder
        size = changes.get('photo_size', PRESETS[preset].photo_size) # the run trains from the store of photos of that size
        if size not in stores: # built where missing or outdated, as atomvision train does
            stores[size] = build_image_store(dataset, size=size) if dataset is not None else default_store(size)
        if not stores[size].is_file():
            print(f'{name}: skipped, no image store at {stores[size]} and no unified dataset to build it from', flush=True)
            continue
        for seed in range(max(args.seeds, 5) if name == 'long' else args.seeds):
            jobs.append((name, seed, preset, {**changes, 'seed': seed}))
    started = time.time()
    for signum in (signal.SIGTERM, signal.SIGINT): signal.signal(signum, stop)
    def run(job):
        name, seed, preset, changes = job
        run_dir = out / name / f'seed{seed}'
        if args.reevaluate:
            if (run_dir / 'result.json').exists():
                code = launch(REEVALUATE, [str(run_dir)], out / f'{name}-seed{seed}-reevaluate.log', env, deadline)
                print(f'[{time.time() - started:6.0f} s] {name} seed {seed} evaluated again: exit {code}', flush=True)
            return
        if (run_dir / 'result.json').exists(): return
        code = launch(WORKER, [preset, json.dumps(changes), str(run_dir), str(threads)], out / f'{name}-seed{seed}.log', env, deadline)
        print(f'[{time.time() - started:6.0f} s] {name} seed {seed}: exit {code}', flush=True)
        if code == -9 and (run_dir / 'best.safetensors').exists() and args.partial: # stopped at the deadline: say where it got
            launch(PARTIAL, [str(run_dir)], out / f'{name}-seed{seed}-partial.log', env, time.time() + 120)
    with ThreadPoolExecutor(args.workers) as pool: list(pool.map(run, jobs))
    for name, k in ENSEMBLES:
        members, folder = [out / name / f'seed{s}' for s in range(k)], out / f'{name}-ensemble-k{k}'
        if name in names and all((m / 'result.json').exists() for m in members) and (args.reevaluate or not (folder / 'result.json').exists()):
            code = launch(ENSEMBLE, [json.dumps([str(m) for m in members]), str(folder)], out / f'{folder.name}.log', env, deadline + 300)
            print(f'{name} ensemble K={k}: exit {code}', flush=True)
    report(out, names)


def report(out: Path, names: list) -> None:
    rows, results = [], {}
    for name in names:
        runs = [json.loads((d / 'result.json' if (d / 'result.json').exists() else d / 'partial.json').read_text())
                for d in sorted((out / name).glob('seed*')) if (d / 'result.json').exists() or (d / 'partial.json').exists()]
        if not runs: continue
        results[name] = runs
        get = lambda path, key: [r[path].get(key) for r in runs if path in r and key in r[path]]
        partial = sum(bool(r.get('partial')) for r in runs)
        rows.append(dict(variant=name + (f' ({partial} stopped early)' if partial else ''), seeds=len(runs), minutes=summarize([r['seconds'] / 60 for r in runs]),
                         class_top1=summarize(get('blend', 'class_top1')), group_top1=summarize(get('blend', 'group_top1')),
                         skill_blend=summarize(get('blend', 'mean_skill_vs_group_mean')),
                         skill_direct=summarize(get('direct', 'mean_skill_vs_group_mean')),
                         skill_mixture=summarize(get('mixture', 'mean_skill_vs_group_mean')),
                         nll=summarize(get('blend', 'mean_nll')), coverage90=summarize(get('blend', 'coverage90_all_values')),
                         coverage_min_element=summarize(get('blend', 'coverage90_min_element')),
                         coverage_max_element=summarize(get('blend', 'coverage90_max_element'))))
    for name, k in ENSEMBLES:
        path = out / f'{name}-ensemble-k{k}' / 'result.json'
        if not path.exists(): continue
        r = json.loads(path.read_text()); results[f'{name}-ensemble-k{k}'] = r
        b = r['blend']
        rows.append(dict(variant=f'{name}, ensemble K={k}', seeds=1, minutes='', class_top1=f"{b.get('class_top1', float('nan')):.3f}",
                         group_top1=f"{b.get('group_top1', float('nan')):.3f}", skill_blend=f"{b['mean_skill_vs_group_mean']:.3f}",
                         skill_direct='', skill_mixture=f"{r['mixture']['mean_skill_vs_group_mean']:.3f}", nll=f"{b['mean_nll']:.3f}",
                         coverage90=f"{b['coverage90_all_values']:.3f}", coverage_min_element=f"{b['coverage90_min_element']:.3f}",
                         coverage_max_element=f"{b['coverage90_max_element']:.3f}",
                         ood=f"inverted {r['ood']['ratio_inverted']:.2f}x, noise {r['ood']['ratio_noise']:.2f}x"))
    (out / 'results.json').write_text(json.dumps(dict(table=rows, runs=results), indent=1, default=float))
    import pandas as pd
    with pd.option_context('display.width', 250, 'display.max_columns', 30, 'display.max_colwidth', 40):
        print(pd.DataFrame(rows).to_string(index=False))


if __name__ == '__main__':
    main()
