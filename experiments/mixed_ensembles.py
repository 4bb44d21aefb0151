"""Ensembles that mix the pretrained CNN (`cpu` preset) and the hybrid ViT (`vit-hybrid`), against each family alone:
for each ensemble, the blend path on the val photos (class and group top-1, skill against the food-group mean, NLL,
90% coverage per element), the seconds per photo of that evaluation (members run one after another, on this machine,
in the same run), and the epistemic variance on constructed out-of-distribution inputs (colour-inverted photos,
uniform noise) against val photos. Members are trained runs (by `experiments/ablation.py --variants cnn,hybrid`).

    python experiments/mixed_ensembles.py --cnn 'data/abl/cnn/seed{}' --vit 'data/abl/hybrid/seed{}' --out data/abl/mixed [--cnn-seeds 1]
"""
import argparse
import json
import time
from pathlib import Path

import pandas as pd

from atomvision.evaluate import evaluate_run, ood_epistemic


def evaluate(name: str, members: list, out: Path) -> dict:
    folder = out / name
    folder.mkdir(parents=True, exist_ok=True)
    (folder / 'ensemble.json').write_text(json.dumps(dict(members=[str(Path(m).resolve()) for m in members])))
    started = time.perf_counter()
    summary = evaluate_run(folder, mc_samples=0, route='blend')['summary']
    seconds = time.perf_counter() - started
    ood = ood_epistemic(folder, mc_samples=0, blend_weight=summary['blend_weight'], temperature=summary.get('class_temperature'))
    row = dict(ensemble=name, members=len(members), class_top1=summary.get('class_top1'), group_top1=summary.get('group_top1'),
               skill=summary['mean_skill_vs_group_mean'], nll=summary['mean_nll'], coverage_min=summary['coverage90_min_element'],
               coverage_max=summary['coverage90_max_element'], ms_per_photo=1000 * seconds / summary['photos'],
               ood_inverted=ood['ratio_inverted'], ood_noise=ood['ratio_noise'])
    (folder / 'result.json').write_text(json.dumps(row, indent=1, default=float))
    return row


if __name__ == '__main__':
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--cnn', default='data/abl/cnn/seed{}')
    parser.add_argument('--vit', default='data/abl/hybrid/seed{}')
    parser.add_argument('--seeds', type=int, default=3, help='seeds of each family (members are seeds 0..N-1)')
    parser.add_argument('--cnn-seeds', type=int, help='seeds of the CNN, when not --seeds')
    parser.add_argument('--out', default='data/abl/mixed')
    args = parser.parse_args()
    cnn, vit = [args.cnn.format(s) for s in range(args.cnn_seeds or args.seeds)], [args.vit.format(s) for s in range(args.seeds)]
    plans = {'cnn-k1': cnn[:1], 'vit-k1': vit[:1], 'cnn+vit-k2': [cnn[0], vit[0]], f'cnn-k{len(cnn)}': cnn, f'vit-k{len(vit)}': vit,
             f'cnn+vit-k{len(cnn) + len(vit)}': cnn + vit}
    rows = [evaluate(name, members, Path(args.out)) for name, members in plans.items()]
    with pd.option_context('display.width', 200): print(pd.DataFrame(rows).round(3).to_string(index=False))
