"""What ensembles of K members do: every K-subset of N trained runs of one preset as an ensemble, evaluated on the val
photos like `atomvision evaluate` (blend weight chosen on val), with its epistemic variance on constructed
out-of-distribution inputs (`ood_epistemic`: colour-inverted val photos, uniform noise) and its prediction cost.
Prints one row per K: mean ± sample sd over the subsets (subsets share members, so they are not independent).

    atomvision train --preset cpu --config '{"seed": S}'      # S = 0..4: the members (data/runs/cpu-seedS)
    python bench/ensembles.py --runs 'data/runs/cpu-seed{}' --seeds 5 --k 1,3,5

Each subset's folder (`data/ensembles/<name>-k<K>-s<seeds>`) holds its `ensemble.json` and evaluation; an evaluation
or out-of-distribution result already made in the default evaluation view (`EVAL_CROP`) is reused unless `--again`. The prediction cost is
measured in this process on the val photos, one batch, best of three, so run it on an idle machine.
"""
import argparse
import itertools
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / 'experiments'))
from ablation import summarize  # noqa: E402 -- mean ± sample sd, as in every table (experiments/ablation.py)

KEYS = ['class_top1', 'class_top5', 'group_top1', 'mean_skill_vs_group_mean', 'mean_skill_vs_group_median', 'mean_nll']


def member_folder(runs: list, seeds: tuple, out: Path, name: str) -> Path:
    "The run itself for K = 1, else an ensemble folder listing the members."
    if len(seeds) == 1: return runs[seeds[0]]
    folder = out / f"{name}-k{len(seeds)}-s{''.join(map(str, seeds))}"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / 'ensemble.json').write_text(json.dumps(dict(members=[str(runs[s].resolve()) for s in seeds])))
    return folder


def evaluate(folder: Path, again: bool) -> dict:
    "The evaluation summary of a run or ensemble folder, made by `atomvision evaluate` in the default view."
    from atomvision.transforms import EVAL_CROP
    metrics = folder / 'evaluation' / 'metrics.json'
    if again or not metrics.exists() or json.loads(metrics.read_text())['summary'].get('view_crop') != EVAL_CROP:
        subprocess.run([sys.executable, '-m', 'atomvision', 'evaluate', '--checkpoint', str(folder)], check=True, capture_output=True)
    return json.loads(metrics.read_text())['summary']


def out_of_distribution(folder: Path, again: bool) -> dict:
    "`ood_epistemic` of a run or ensemble folder (saved beside its evaluation and reused, as the evaluation is)."
    from atomvision.evaluate import ood_epistemic
    from atomvision.transforms import EVAL_CROP
    saved = folder / 'evaluation' / 'ood.json'
    if not again and saved.exists():
        ood = json.loads(saved.read_text())
        if ood.get('view_crop') == EVAL_CROP: return ood
    ood = dict(ood_epistemic(folder, mc_samples=0), view_crop=EVAL_CROP)
    saved.write_text(json.dumps(ood, indent=1))
    return ood


def prediction_ms(folder: Path, images: torch.Tensor) -> float:
    "Milliseconds a photo to predict the val photos in one batch (best of three, after a warm-up)."
    from atomvision.predict import Predictor
    predictor = Predictor(folder)
    predictor.predict(images[:16], mc_samples=0)
    seconds = []
    for _ in range(3):
        started = time.perf_counter(); predictor.predict(images, mc_samples=0); seconds.append(time.perf_counter() - started)
    return min(seconds) / len(images) * 1000


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--runs', default='data/runs/cpu-seed{}', help='the members\' run folders, {} standing for the seed')
    parser.add_argument('--seeds', type=int, default=5, help='seeds 0..N-1')
    parser.add_argument('--k', default='1,3,5', help='ensemble sizes')
    parser.add_argument('--out', default='data/ensembles')
    parser.add_argument('--name', default='quick')
    parser.add_argument('--again', action='store_true', help='evaluate again even where an evaluation in the default view exists')
    parser.add_argument('--threads', type=int, default=0, help='torch threads (0: torch\'s choice)')
    args = parser.parse_args()
    if args.threads: torch.set_num_threads(args.threads)
    from atomvision.artifact import trained_store
    from atomvision.store import ImageStoreDataset
    runs = [Path(args.runs.format(s)) for s in range(args.seeds)]
    missing = [str(r) for r in runs if not (r / 'config.json').exists()]
    if missing: raise SystemExit(f'no trained run at {", ".join(missing)}: train the members first (see the docstring)')
    images = ImageStoreDataset(trained_store(runs[0]), 'val', preload=True).images() # the store the members were trained on
    rows, results = [], {}
    for k in map(int, args.k.split(',')):
        subsets = list(itertools.combinations(range(args.seeds), k))
        found, folders = [], [member_folder(runs, seeds, Path(args.out), args.name) for seeds in subsets]
        for seeds, folder in zip(subsets, folders):
            summary = evaluate(folder, args.again)
            ood = out_of_distribution(folder, args.again)
            found.append(dict(seeds=seeds, summary=summary, ood=ood))
            print(f'K={k} seeds {seeds}: ' + ', '.join(f'{key} {summary[key]:.3f}' for key in KEYS)
                  + f", blend weight {summary['blend_weight']}, epistemic inverted {ood['ratio_inverted']:.2f}x, noise {ood['ratio_noise']:.2f}x", flush=True)
        get = lambda key: [r['summary'][key] for r in found]
        no_ratio = sum(np.isnan(r['ood']['ratio_noise']) for r in found)
        rows.append(dict(K=k, ensembles=len(found), class_top1=summarize(get('class_top1')), class_top5=summarize(get('class_top5')),
                         group_top1=summarize(get('group_top1')), skill_group_mean=summarize(get('mean_skill_vs_group_mean')),
                         skill_group_median=summarize(get('mean_skill_vs_group_median')), nll=summarize(get('mean_nll')),
                         coverage_per_element=f"{min(get('coverage90_min_element')):.3f}-{max(get('coverage90_max_element')):.3f}",
                         epistemic_inverted=summarize([r['ood']['ratio_inverted'] for r in found]),
                         epistemic_noise=summarize([r['ood']['ratio_noise'] for r in found]), without_epistemic=no_ratio,
                         ms_a_photo=f'{prediction_ms(folders[0], images):.2f}'))
        results[k] = found
    (Path(args.out) / f'{args.name}-ensembles.json').write_text(json.dumps(dict(table=rows, runs=results), indent=1, default=float))
    import pandas as pd
    with pd.option_context('display.width', 250, 'display.max_columns', 30):
        print(pd.DataFrame(rows).to_string(index=False))


if __name__ == '__main__':
    main()
