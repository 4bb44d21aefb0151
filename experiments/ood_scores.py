"""Which score tells a photo of a food the model never saw from a photo of a food it knows?

Compares out-of-distribution scores on a run trained with some classes held out (`TrainConfig.held_out`): the maximum
softmax probability (Hendrycks and Gimpel, 2017), the energy score (Liu et al., 2020), the distance to the k-th nearest
training photo in the model's normalised feature space (Sun et al., ICML 2022), and the Mahalanobis distance to the
nearest class mean with a tied covariance (Lee et al., 2018), plain and relative to one background Gaussian (Ren et
al., 2021); the service's unfamiliarity (1 - the largest class probability of the posterior pooled over 8 MC-dropout
passes, at the temperature chosen on the val photos), the entropy and the generalized entropy (GEN, Liu et al.,
2023) of that posterior, the largest centred logit over its 2-norm (Cattelan and Silva, 2023), ViM (Wang et al.,
2022), and unfamiliarity times the nearest-photo distance (a classifier's doubt guided by the feature space, after
Park et al., ICCV 2023). For each: the mean on the val photos of the trained classes and on every photo of the held-out ones, their
ratio, the AUROC, and the share of each set above the val photos' 95th percentile (the service's threshold); and each
run's class top-1 on those val photos (the food the service names: the argmax of the posterior pooled over the passes).

    python experiments/ood_scores.py --run data/ood/dev-seed0 --held-out A,B,...
    python experiments/ood_scores.py --runs data/ood/dev-seed0,data/ood/dev-seed1,data/ood/dev-seed2  # mean ± sd over runs
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

from atomvision.artifact import load_members, trained_store
from atomvision.evaluate import auroc
from atomvision.transforms import EVAL_CROP, preprocess
from atomvision.store import ImageStoreDataset, class_groups


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


def mc_posteriors(model, images: torch.Tensor, mean, std, passes: int = 8) -> torch.Tensor:
    "Class posteriors [passes, N, C] of uint8 photos over MC-dropout passes in the evaluation view, as the service samples them."
    from atomvision.predict import ensemble_outputs
    return ensemble_outputs([model], images, mean, std, model.config.image_size, passes)['class_probs']


def vim(f_train: torch.Tensor, l_train: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor, dim: int):
    """Fitted once on the train photos' features and logits: a function of (features, logits) giving the ViM score
    (Wang et al., CVPR 2022), the feature's norm outside the principal subspace of `dim` dimensions (around the origin
    the class head maps to zero), scaled to the logits, against the logits' log-sum-exp."""
    origin = -torch.linalg.pinv(weight) @ bias
    _, _, v = torch.linalg.svd(f_train - origin, full_matrices=False)
    residual = lambda f: ((f - origin) @ v[dim:].T).norm(dim=1)
    alpha = l_train.max(1).values.mean() / residual(f_train).mean()
    return lambda f, l: (alpha * residual(f) - torch.logsumexp(l, 1)).numpy()


def gen_score(p: torch.Tensor, gamma: float = 0.1, top: int = 10) -> np.ndarray:
    "The generalized entropy of the `top` largest class probabilities (Liu et al., CVPR 2023): higher, less sure."
    s = p.topk(top, dim=1).values
    return (s ** gamma * (1 - s) ** gamma).sum(1).numpy()


def run_scores(run: Path, held: tuple, imagenet: bool = True, unseen_splits: tuple = ('train', 'val')) -> tuple[dict, float]:
    """{score name: (scores of the val photos of the trained classes, scores of the held-out classes' photos of
    `unseen_splits`)} of one run, and its class top-1 on those val photos (the argmax of the posterior pooled over the
    8 passes, as the service names a food). ('val',): only the held-out photos taken with the val photos."""
    from atomvision.evaluate import choose_temperature, class_metrics
    from atomvision.predict import saved_temperature
    from atomvision.predict import temper
    store = trained_store(run) # the store it was trained on
    model = load_members(Path(run), 1)[0]
    train = ImageStoreDataset(store, 'train', preload=True, linked_only=False, exclude_classes=held)
    val = ImageStoreDataset(store, 'val', preload=True, exclude_classes=held)
    unseen = torch.cat([ImageStoreDataset(store, s, preload=True, linked_only=False, only_classes=held).images() for s in unseen_splits])
    f_train, l_train = features_and_logits(model, train.images(), train.mean, train.std)
    f_val, l_val = features_and_logits(model, val.images(), train.mean, train.std)
    f_out, l_out = features_and_logits(model, unseen, train.mean, train.std)
    p_val, p_out = mc_posteriors(model, val.images(), train.mean, train.std), mc_posteriors(model, unseen, train.mean, train.std)
    temperature = saved_temperature(run) or choose_temperature(p_val, val.class_ids)[0] # as `held_out_scores`: the saved one, else chosen on val
    q_val, q_out = temper(p_val, temperature).mean(0), temper(p_out, temperature).mean(0)
    known_top1 = class_metrics(q_val, np.asarray(val.class_ids), class_groups(store))['class_top1'] # as `atomvision evaluate` counts it
    entropy = lambda p: -(p * p.clamp_min(1e-12).log()).sum(1).numpy()
    scores = {'unfamiliarity (the service)': (1 - q_val.max(1).values.numpy(), 1 - q_out.max(1).values.numpy()),
              'entropy': (entropy(q_val), entropy(q_out)), 'GEN': (gen_score(q_val), gen_score(q_out)),
              'msp (1 - max p), one pass': (1 - l_val.softmax(1).max(1).values.numpy(), 1 - l_out.softmax(1).max(1).values.numpy()),
              'energy (-logsumexp)': (-torch.logsumexp(l_val, 1).numpy(), -torch.logsumexp(l_out, 1).numpy())}
    centred_norm = lambda l: (-(l - l.mean(1, keepdim=True)).max(1).values / (l - l.mean(1, keepdim=True)).norm(dim=1)).numpy()
    scores['-max logit / its 2-norm'] = (centred_norm(l_val), centred_norm(l_out)) # Cattelan and Silva, 2023
    for k in (1, 5, 10, 25):
        scores[f'knn k={k}'] = (knn_distance(f_val, f_train, k), knn_distance(f_out, f_train, k))
    median = np.median(scores['knn k=1'][0])
    scores['unfamiliarity x knn k=1'] = tuple(u * d / median for u, d in zip(scores['unfamiliarity (the service)'], scores['knn k=1']))
    for dim in (64, 256) if isinstance(model.class_head, torch.nn.Linear) else (): # a CNN's head (a ViT's starts with a LayerNorm)
        score = vim(f_train, l_train, model.class_head.weight.detach().float(), model.class_head.bias.detach().float(), dim)
        scores[f'ViM, {dim} dimensions'] = (score(f_val, l_val), score(f_out, l_out))
    labels = np.asarray(train.class_ids)
    banks = {'': (f_train, f_val, f_out)}
    if imagenet:
        from atomvision.efficientnet import load_imagenet
        net = load_imagenet(model.config.backbone, classifier=False).eval()
        i_train, i_val, i_out = (imagenet_features(model, net, x, train.mean, train.std) for x in (train.images(), val.images(), unseen))
        for k in (1, 5, 10):
            scores[f'imagenet knn k={k}'] = (knn_distance(i_val, i_train, k), knn_distance(i_out, i_train, k))
        banks['imagenet '] = (i_train, i_val, i_out)
    for prefix, (bank, known, out) in banks.items():
        score = mahalanobis(bank.numpy(), labels)
        (md_val, rmd_val), (md_out, rmd_out) = score(known.numpy()), score(out.numpy())
        scores[f'{prefix}mahalanobis'] = (md_val, md_out)
        scores[f'{prefix}relative mahalanobis'] = (rmd_val, rmd_out)
    return scores, known_top1


def score_row(name: str, known: np.ndarray, out: np.ndarray) -> dict:
    "Means, their ratio (held out / val; NaN for a score that is not positive), AUROC and the shares above the val photos' 95th percentile."
    threshold = np.quantile(known, 0.95)
    return dict(score=name, mean_val=float(known.mean()), mean_unseen=float(out.mean()),
                ratio=float(out.mean() / known.mean()) if known.min() >= 0 and known.mean() > 0 else float('nan'), auroc=auroc(known, out),
                flagged_val=float((known > threshold).mean()), flagged_unseen=float((out > threshold).mean()))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--run', help='one run: compare the single-network scores')
    parser.add_argument('--runs', help='comma-separated runs trained with the same classes held out: each score as mean ± sd over them')
    parser.add_argument('--ensemble', help='comma-separated runs: scores of each and of their ensemble')
    parser.add_argument('--held-out', help="comma-separated class names the run was trained without (default: the run's TrainConfig.held_out)")
    parser.add_argument('--unseen-split', choices=('all', 'val'), default='all',
                        help="the held-out classes' photos scored: all (the protocol), or only their val photos, taken with the val photos they are compared with")
    parser.add_argument('--no-imagenet', action='store_true', help='skip the scores on the ImageNet network\'s features')
    parser.add_argument('--out', help='write the table as JSON here')
    args = parser.parse_args()
    runs = (args.runs or args.ensemble or args.run or '').split(',')
    if not runs[0]: parser.error('name --run, --runs or --ensemble')
    saved = [tuple(json.loads((Path(r) / 'config.json').read_text())['train'].get('held_out') or ()) for r in runs]
    held = tuple(args.held_out.split(',')) if args.held_out else saved[0]
    if not held: parser.error(f'{runs[0]} was trained on every class: name --held-out or a run trained with TrainConfig.held_out')
    if any(set(h) != set(held) for h in saved): parser.error('the runs were not all trained without the same classes')
    if args.ensemble: return ensemble_scores(runs, held, args.out)
    per_run, known_top1 = [], []
    for r in runs:
        scores, top1 = run_scores(Path(r), held, not args.no_imagenet, ('train', 'val') if args.unseen_split == 'all' else ('val',))
        per_run.append([score_row(name, *pair) for name, pair in scores.items()]); known_top1.append(top1)
    print(f'{", ".join(runs)}: {len(held)} held-out classes ({", ".join(held)}), their photos of split(s) {args.unseen_split}')
    print(f"{'score':30s} {'mean val':>9s} {'mean unseen':>11s} {'ratio':>13s} {'AUROC':>13s} {'flag val':>8s} {'flag unseen':>13s}")
    spread = lambda v: f'{np.mean(v):6.3f}' + (f' ± {np.std(v, ddof=1):.3f}' if len(v) > 1 else '      ')
    for k, row in enumerate(per_run[0]):
        rows = [r[k] for r in per_run]
        get = lambda key: [r[key] for r in rows]
        print(f"{row['score']:30s} {np.mean(get('mean_val')):9.3f} {np.mean(get('mean_unseen')):11.3f} {spread(get('ratio'))} "
              f"{spread(get('auroc'))} {np.mean(get('flagged_val')):8.3f} {spread(get('flagged_unseen'))}")
    print(f"class top-1 on the val photos of the trained classes (pooled posterior): {spread(known_top1)} "
          f"({', '.join(f'{t:.3f}' for t in known_top1)} by run)")
    if args.out: Path(args.out).write_text(json.dumps(dict(runs=runs, held_out=held, rows=per_run, known_top1=known_top1), indent=1))


if __name__ == '__main__': main()
