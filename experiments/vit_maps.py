"""The maps of a trained ViT on val photos, readable: for each photo, the attention rollout and the gradient maps of
some elements, titled with the true and the predicted class (`plots.plot_map_grid`). Writes one image.

    python experiments/vit_maps.py --run data/abl/hybrid-distill/seed0 --out docs/screenshots/vit_distill_maps.jpg
"""
import argparse
from pathlib import Path

import numpy as np
import torch

from atomvision.artifact import load_members, trained_store
from atomvision.plots import plot_map_grid
from atomvision.store import ImageStoreDataset
from atomvision.transforms import augment, normalize


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--run', required=True)
    parser.add_argument('--out', required=True)
    parser.add_argument('--photos', type=int, default=4, help='val photos, spread over the split')
    parser.add_argument('--elements', default='Ca,Pb')
    args = parser.parse_args()
    model = load_members(Path(args.run), 1)[0].eval()
    data = ImageStoreDataset(trained_store(args.run), 'val')
    names, size = data.references.class_names, model.config.image_size
    picks = np.linspace(0, len(data) - 1, args.photos).astype(int)
    shown = augment(torch.stack([data[i][0] for i in picks]), size, None, train=False)
    inputs = normalize(shown, data.mean, data.std)
    with torch.no_grad(): predicted = model.outputs(inputs)['class_logits'].float().argmax(-1).tolist()
    titles = [f'{names[data.class_ids[i]]}\npredicted {names[p]}' for i, p in zip(picks, predicted)]
    fig = plot_map_grid(model, shown, inputs, titles, tuple(args.elements.split(',')))
    fig.suptitle(f'{Path(args.run)}: maps on val photos', fontsize=10)
    fig.tight_layout()
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.out, dpi=72, **({'pil_kwargs': {'quality': 85}} if args.out.endswith('.jpg') else {}))
    print(f'wrote {args.out}')


if __name__ == '__main__':
    main()
