"""Does pooling the class posterior over test-time views tell unseen foods apart better?

For runs trained with classes held out (`TrainConfig.held_out`), the unfamiliarity (1 - the largest class probability
of the posterior pooled over 8 MC-dropout passes, with the class temperature chosen on the known classes' val photos
for each set of views) of the val photos of the trained classes and of every photo of the held-out ones, for five
sets of views: the evaluation view alone (what the service computes), it and its mirror image, and those two with the
whole photo and its mirror image; and the evaluation view at a larger side than the network was trained at (after
FixRes, Touvron et al., 2019): the same centre crop at 1.2x the side (the food shown larger than in training), or a
crop 1.2x as wide at 1.2x the side (the food at its training size, with more around it). `--views` picks some of them.
Prints, for each run and set of views: the temperature, the class top-1 on the known val photos, the ratio of the
mean unfamiliarities (held out / val) and the AUROC; then the mean ± sd over the runs.

Run it on the dev draw only (`experiments/ood_scores.py` says how the draws were made): a set of views is adopted only
if it separates the dev draw's unseen foods better, and only then measured on the test draw.

    python experiments/ood_views.py --runs data/ood/dev-seed0,data/ood/dev-seed1,data/ood/dev-seed2 \\
        --held-out "$(python -c "import json; print(','.join(json.load(open('data/ood/dev-ensemble-tempered.json'))['held_out']))")"
    python experiments/ood_views.py --runs ... --held-out ... --views 'evaluation view;side 1.2x;side 1.2x, crop 1.2x'
"""
import argparse
import json
from pathlib import Path

import numpy as np
import torch

from atomvision.artifact import load_members, trained_store
from atomvision.evaluate import auroc, choose_temperature
from atomvision.predict import ensemble_outputs, temper
from atomvision.store import ImageStoreDataset
from atomvision.transforms import EVAL_CROP

VIEWS = {'evaluation view': [(EVAL_CROP, False, 1.0)], # (centre crop, mirrored, side as a multiple of the trained one)
         '+ mirror': [(EVAL_CROP, False, 1.0), (EVAL_CROP, True, 1.0)],
         '+ mirror, whole photo': [(EVAL_CROP, False, 1.0), (EVAL_CROP, True, 1.0), (1.0, False, 1.0), (1.0, True, 1.0)],
         'side 1.2x': [(EVAL_CROP, False, 1.2)],
         'side 1.2x, crop 1.2x': [(min(1.0, EVAL_CROP * 1.2), False, 1.2)]}


def class_posteriors(models, images, mean, std, views) -> torch.Tensor:
    "Class posteriors [passes x views, N, C] of uint8 photos, each view a (centre crop, mirrored, side as a multiple of the trained one)."
    size = models[0].config.image_size
    return torch.cat([ensemble_outputs(models, images.flip(-1) if mirrored else images, mean, std, round(size * side), 8, crop=crop)['class_probs']
                      for crop, mirrored, side in views])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--runs', required=True, help='comma-separated runs trained without the held-out classes')
    parser.add_argument('--held-out', required=True, help='comma-separated class names the runs were trained without')
    parser.add_argument('--views', default=';'.join(VIEWS), help=f"sets of views to score, separated by semicolons (default: all of {'; '.join(VIEWS)})")
    parser.add_argument('--out', help='write the rows as JSON here')
    args = parser.parse_args()
    names = [name.strip() for name in args.views.split(';') if name.strip()]
    unknown = [name for name in names if name not in VIEWS]
    if unknown or not names: parser.error(f"unknown set of views {', '.join(map(repr, unknown))}; known: {'; '.join(VIEWS)}")
    views = {name: VIEWS[name] for name in names}
    held, store = tuple(args.held_out.split(',')), trained_store(args.runs.split(',')[0]) # the store the runs were trained on
    val = ImageStoreDataset(store, 'val', preload=True, exclude_classes=held)
    unseen = torch.cat([ImageStoreDataset(store, s, preload=True, linked_only=False, only_classes=held).images() for s in ('train', 'val')])
    known = val.images()
    print(f'{len(known)} val photos of the trained classes, {len(unseen)} photos of the {len(held)} held-out classes', flush=True)
    rows = []
    for run in args.runs.split(','):
        models = load_members(Path(run), None)
        for name, chosen in views.items():
            probs_val, probs_out = (class_posteriors(models, x, val.mean, val.std, chosen) for x in (known, unseen))
            t = choose_temperature(probs_val, val.class_ids)[0]
            pooled_val, pooled_out = temper(probs_val, t).mean(0), temper(probs_out, t).mean(0)
            score_val, score_out = (1 - pooled_val.max(-1).values).numpy(), (1 - pooled_out.max(-1).values).numpy()
            rows.append(dict(run=run, views=name, temperature=t, top1=float((pooled_val.argmax(-1).numpy() == val.class_ids).mean()),
                             ratio=float(score_out.mean() / score_val.mean()), auroc=auroc(score_val, score_out)))
            r = rows[-1]
            print(f"{Path(run).name:12s} {name:24s} T {t:.2f}  top-1 {r['top1']:.3f}  ratio {r['ratio']:.2f}  AUROC {r['auroc']:.3f}", flush=True)
    for name in views:
        mine = [r for r in rows if r['views'] == name]
        stat = lambda key: f"{np.mean([r[key] for r in mine]):.3f} ± {np.std([r[key] for r in mine], ddof=1) if len(mine) > 1 else 0:.3f}"
        print(f"{name:24s} over {len(mine)} runs: top-1 {stat('top1')}, ratio {stat('ratio')}, AUROC {stat('auroc')}")
    if args.out: Path(args.out).write_text(json.dumps(dict(held_out=held, rows=rows), indent=1))


if __name__ == '__main__':
    main()
