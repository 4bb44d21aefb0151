"""Are the figures of `atomvision evaluate` flattered by what it chooses on the val photos?

`evaluate_run` chooses two numbers on the same val photos it then scores: the temperature of the class posteriors
(`evaluate.choose_temperature`, by the NLL of the classes) and the blend weight of the two prediction paths
(`evaluate.choose_blend_weight`, by the NLL of the measured values). This script cross-fits them instead: the val
photos are split in two halves (stratified by class, seeded), both numbers are chosen on one half and the other half
is scored with them, and the other way round. It prints, per run, the in-sample figures (chosen and scored on all
val photos, as `atomvision evaluate` reports) beside the cross-fitted ones (each half scored with the other half's
choice; means of the two halves weighted by their photos), and the uncalibrated ones (temperature 1, blend weight chosen the same way).

    python experiments/calibration_check.py data/abl/cnn/seed0 data/abl/cnn/seed1 data/abl/cnn/seed2 data/abl/cnn-ensemble-k3
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from atomvision.artifact import load_members, trained_store
from atomvision.evaluate import choose_blend_weight, choose_temperature, class_metrics, evaluation_table
from atomvision.predict import combine, ensemble_outputs, temper
from atomvision.store import ImageStoreDataset, class_groups


def subset(outputs: dict, rows: np.ndarray) -> dict:
    "The per-pass outputs of the photos `rows` (dimension 1 of every tensor)."
    return {k: None if v is None else v[:, torch.as_tensor(rows)] for k, v in outputs.items()}


def score(outputs: dict, class_ids: np.ndarray, refs, train_ids: np.ndarray, groups: np.ndarray, temperature: float, weight: float) -> dict:
    "Class top-1, skill against the food-group mean, NLL and the per-element coverage range of one set of photos."
    outputs = dict(outputs, class_probs=temper(outputs['class_probs'], temperature))
    pred = combine(outputs, refs, 'blend', weight)
    table = evaluation_table(pred, class_ids, refs, train_ids, groups)
    return dict(class_top1=class_metrics(pred.class_probs, class_ids, groups)['class_top1'], skill=float(table.skill_vs_group.mean()),
                nll=float(table.nll.mean()), coverage_min=float(table.coverage90.min()), coverage_max=float(table.coverage90.max()))


def halves(class_ids: np.ndarray, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    "Two halves of the photos (sizes differing by at most one): each class's photos shuffled, then all dealt alternately, class after class."
    rng = np.random.default_rng(seed)
    order = np.concatenate([rng.permutation(np.flatnonzero(class_ids == c)) for c in np.unique(class_ids)])
    return np.sort(order[0::2]), np.sort(order[1::2])


def check(run: Path, mc_samples: int = 8, seed: int = 0) -> list[dict]:
    store = trained_store(run) # the store it was trained on
    train, val = ImageStoreDataset(store, 'train'), ImageStoreDataset(store, 'val', preload=True)
    refs, groups, ids = train.references, class_groups(store), val.class_ids
    models = load_members(run)
    outputs = ensemble_outputs(models, val.images(), train.mean, train.std, models[0].config.image_size, mc_samples)
    def choose(rows, calibrate=True):
        part = subset(outputs, rows)
        t = choose_temperature(part['class_probs'], ids[rows])[0] if calibrate else 1.0
        w = choose_blend_weight(dict(part, class_probs=temper(part['class_probs'], t)), ids[rows], refs)[0]
        return t, w
    everything = np.arange(len(ids))
    rows = []
    for name, calibrate in (('temperature 1 (spreads calibrated)', False), ('in-sample (as evaluate reports)', True)):
        t, w = choose(everything, calibrate)
        rows.append(dict(run=str(run), figures=name, temperature=t, blend_weight=w, **score(outputs, ids, refs, train.class_ids, groups, t, w)))
    a, b = halves(ids, seed)
    parts = []
    for fit, test in ((a, b), (b, a)):
        t, w = choose(fit)
        parts.append(dict(temperature=t, blend_weight=w, **score(subset(outputs, test), ids[test], refs, train.class_ids, groups, t, w)))
    sizes = np.array([len(b), len(a)]) # each part scores the half it was not chosen on
    crossed = {k: float(np.average([p[k] for p in parts], weights=sizes)) for k in parts[0]}
    crossed.update(coverage_min=min(p['coverage_min'] for p in parts), coverage_max=max(p['coverage_max'] for p in parts))
    rows.append(dict(run=str(run), figures='cross-fitted (2 halves)', **crossed))
    return rows


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('runs', nargs='+', help='run or ensemble folders')
    parser.add_argument('--seed', type=int, default=0, help='seed of the split into halves')
    parser.add_argument('--out', help='write the table as JSON here')
    args = parser.parse_args()
    rows = [row for run in args.runs for row in check(Path(run), seed=args.seed)]
    table = pd.DataFrame(rows)
    with pd.option_context('display.width', 250, 'display.max_columns', 20):
        print(table.round(3).to_string(index=False))
    if args.out: Path(args.out).write_text(json.dumps(rows, indent=1))


if __name__ == '__main__':
    main()
