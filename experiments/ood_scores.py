"""Which score tells a photo of a food the model never saw from a photo of a food it knows?

Compares out-of-distribution scores on a run trained with some classes held out (`TrainConfig.held_out`): the maximum
softmax probability (Hendrycks and Gimpel, 2017), the energy score (Liu et al., 2020), the distance to the k-th nearest
training photo in the model's normalised feature space (Sun et al., ICML 2022), and the Mahalanobis distance to the
nearest class mean with a tied covariance (Lee et al., 2018), plain and relative to one background Gaussian (Ren et
al., 2021). For each: the mean on the val photos of the trained classes and on every photo of the held-out ones, their
ratio, the AUROC, and the share of each set above the val photos' 95th percentile (the service's threshold).

    python experiments/ood_scores.py --run data/ood/dev-seed0 --held-out A,B,...
    python experiments/ood_scores.py --ensemble data/ood/dev-seed0,data/ood/dev-seed1,data/ood/dev-seed2 --held-out A,B,...

With --ensemble, the runs (trained apart, with the same classes held out) are pooled as one ensemble and
`evaluate.held_out_scores` reports, for each member alone and for the ensemble (8 MC-dropout passes each), the
element epistemic variance, the unfamiliarity of the pooled posterior and the class disagreement (mutual
information) between passes and members.

Scores are chosen on one draw of held-out classes and reported on another, so the reported figures are not tuned on
the classes they are measured on. The dev draw: `numpy.random.default_rng(24).choice(others, 8, replace=False)` over
the 69 linked classes outside the test draw; the test draw: `default_rng(23).choice(linked, 8, replace=False)` over
the 77 linked classes (drawn before any result was seen). Rule, fixed before the test draw was scored: the service
flags with the score that has the highest AUROC on the dev draw, for the model it serves (one run or an ensemble).
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from atomvision.artifact import load_members
from atomvision.evaluate import auroc
from atomvision.transforms import EVAL_CROP, preprocess
from atomvision.store import ImageStoreDataset, default_store


def features_and_logits(model, images: torch.Tensor, mean, std, batch: int = 64) -> tuple[torch.Tensor, torch.Tensor]:
    "Pooled features [N, D] and class logits [N, C] of uint8 photos, in the evaluation view."
    feats, logits = [], []
    with torch.inference_mode():
        for start in range(0, len(images), batch):
            x = preprocess(images[start:start + batch], model.config.image_size, mean, std, EVAL_CROP)
            f = model.features(x)
            feats.append(f.float()); logits.append(model.class_head(f).float())
    return torch.cat(feats), torch.cat(logits)


def imagenet_features(model, net, images: torch.Tensor, mean, std, batch: int = 64) -> torch.Tensor:
    "Pooled features [N, 1280] of `net`, the ImageNet-trained EfficientNet-Lite the model started from (not fine-tuned), same view."
    out = []
    with torch.inference_mode():
        for start in range(0, len(images), batch):
            x = preprocess(images[start:start + batch], model.config.image_size, mean, std, EVAL_CROP)
            x = x * model.input_scale[None, :, None, None] + model.input_shift[None, :, None, None]
            out.append(net.features(x).mean((2, 3)).float())
    return torch.cat(out)


def knn_distance(query: torch.Tensor, bank: torch.Tensor, k: int) -> np.ndarray:
    "Euclidean distance of each normalised query feature to its k-th nearest normalised bank feature."
    q, b = F.normalize(query, dim=1), F.normalize(bank, dim=1)
    d = torch.cdist(q, b)
    return d.topk(k, dim=1, largest=False).values[:, -1].numpy()


def _shrunk_precision(x: np.ndarray, shrink: float) -> np.ndarray:
    "The inverse of the covariance of the rows of `x`, shrunk towards its mean variance."
    cov = np.cov(x, rowvar=False)
    return np.linalg.inv((1 - shrink) * cov + shrink * np.trace(cov) / len(cov) * np.eye(len(cov)))


def mahalanobis(train: np.ndarray, labels: np.ndarray, shrink: float = 0.1):
    """Fitted once on `train`: a function of query features giving (the squared Mahalanobis distance to the nearest
    class mean with a tied, shrunk covariance; the same minus the distance to one background Gaussian)."""
    classes = np.unique(labels)
    means = np.stack([train[labels == c].mean(0) for c in classes])
    precision = _shrunk_precision(train - means[np.searchsorted(classes, labels)], shrink)
    mu0, precision0 = train.mean(0), _shrunk_precision(train, shrink)
    squared = lambda x, p: ((x @ p) * x).sum(1)
    def score(query: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        d = np.stack([squared(query - m, precision) for m in means], 1).min(1)
        return d, d - squared(query - mu0, precision0)
    return score


def ensemble_scores(runs: list, held: tuple, out: str | None = None) -> list:
    "`held_out_scores` of each run alone and of the runs pooled as one ensemble (a temporary ensemble.json)."
    import tempfile
    from atomvision.evaluate import held_out_scores
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / 'ensemble.json').write_text(json.dumps(dict(members=[str(Path(r).resolve()) for r in runs])))
        for label, checkpoint in [(Path(r).name, r) for r in runs] + [(f'ensemble of {len(runs)}', tmp)]:
            result = held_out_scores(Path(checkpoint), held, blend_weight=None, mc_samples=8)
            rows.append(dict(result, label=label))
            for score in ('epistemic', 'unfamiliarity', 'class_disagreement'):
                print(f"{label:20s} {score:20s} val {result[f'{score}_val']:.4f}  unseen {result[f'{score}_held_out']:.4f}  "
                      f"ratio {result[f'ratio_{score}']:.2f}  AUROC {result[f'auroc_{score}']:.3f}  flagged {result[f'flagged_held_out_{score}']:.3f} "
                      f"(val {result[f'flagged_val_{score}']:.3f})", flush=True)
            print('  flagged per held-out class (unfamiliarity / class disagreement / epistemic): ' +
                  ', '.join(f"{c} {v['unfamiliarity']:.2f}/{v['class_disagreement']:.2f}/{v['epistemic']:.2f}" for c, v in result['flagged_by_class'].items()), flush=True)
    if out: Path(out).write_text(json.dumps(dict(runs=runs, held_out=held, rows=rows), indent=1, default=str))
    return rows


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--run', help='one run: compare the single-network scores')
    parser.add_argument('--ensemble', help='comma-separated runs: scores of each and of their ensemble')
    parser.add_argument('--held-out', required=True, help='comma-separated class names the run was trained without')
    parser.add_argument('--out', help='write the table as JSON here')
    args = parser.parse_args()
    held = tuple(args.held_out.split(','))
    if args.ensemble: return ensemble_scores(args.ensemble.split(','), held, args.out)
    store = default_store()
    model = load_members(Path(args.run), 1)[0]
    train = ImageStoreDataset(store, 'train', preload=True, linked_only=False, exclude_classes=held)
    val = ImageStoreDataset(store, 'val', preload=True, exclude_classes=held)
    unseen = torch.cat([ImageStoreDataset(store, s, preload=True, linked_only=False, only_classes=held).images() for s in ('train', 'val')])
    f_train, _ = features_and_logits(model, train.images(), train.mean, train.std)
    f_val, l_val = features_and_logits(model, val.images(), train.mean, train.std)
    f_out, l_out = features_and_logits(model, unseen, train.mean, train.std)
    scores = {'msp (1 - max p)': (1 - l_val.softmax(1).max(1).values.numpy(), 1 - l_out.softmax(1).max(1).values.numpy()),
              'energy (-logsumexp)': (-torch.logsumexp(l_val, 1).numpy(), -torch.logsumexp(l_out, 1).numpy())}
    for k in (1, 5, 10, 25):
        scores[f'knn k={k}'] = (knn_distance(f_val, f_train, k), knn_distance(f_out, f_train, k))
    from atomvision.efficientnet import load_imagenet
    net = load_imagenet(model.config.backbone, classifier=False).eval()
    i_train, i_val, i_out = (imagenet_features(model, net, x, train.mean, train.std) for x in (train.images(), val.images(), unseen))
    for k in (1, 5, 10):
        scores[f'imagenet knn k={k}'] = (knn_distance(i_val, i_train, k), knn_distance(i_out, i_train, k))
    labels = np.asarray(train.class_ids)
    for prefix, (bank, known, out) in {'': (f_train, f_val, f_out), 'imagenet ': (i_train, i_val, i_out)}.items():
        score = mahalanobis(bank.numpy(), labels)
        (md_val, rmd_val), (md_out, rmd_out) = score(known.numpy()), score(out.numpy())
        scores[f'{prefix}mahalanobis'] = (md_val, md_out)
        scores[f'{prefix}relative mahalanobis'] = (rmd_val, rmd_out)
    rows = []
    print(f'{args.run}: {len(f_val)} val photos of trained classes, {len(f_out)} photos of {len(held)} held-out classes, '
          f'bank of {len(f_train)} train photos')
    print(f"{'score':30s} {'mean val':>9s} {'mean unseen':>11s} {'ratio':>6s} {'AUROC':>6s} {'flag val':>8s} {'flag unseen':>11s}")
    for name, (known, out) in scores.items():
        threshold = np.quantile(known, 0.95)
        ratio = out.mean() / known.mean() if known.mean() > 0 else float('nan')
        row = dict(score=name, mean_val=float(known.mean()), mean_unseen=float(out.mean()), ratio=float(ratio), auroc=auroc(known, out),
                   flagged_val=float((known > threshold).mean()), flagged_unseen=float((out > threshold).mean()))
        rows.append(row)
        print(f"{name:30s} {row['mean_val']:9.3f} {row['mean_unseen']:11.3f} {ratio:6.2f} {row['auroc']:6.3f} {row['flagged_val']:8.3f} {row['flagged_unseen']:11.3f}")
    if args.out: Path(args.out).write_text(json.dumps(dict(run=args.run, held_out=held, rows=rows), indent=1))


if __name__ == '__main__': main()
