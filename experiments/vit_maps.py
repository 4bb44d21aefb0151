"""The maps of a trained ViT on val photos, readable: for each photo, the attention rollout and the gradient maps of
some elements, titled with the true and the predicted class. Writes one PNG.

    python experiments/vit_maps.py --run data/abl/hybrid-distill/seed0 --out docs/screenshots/vit_distill_maps.jpg
"""
import argparse
from pathlib import Path

import matplotlib
matplotlib.use('Agg')
import matplotlib.pyplot as plt
import numpy as np
import torch

from atomvision.artifact import load_members
from atomvision.transforms import augment, normalize
from atomvision.store import ImageStoreDataset, default_store
from atomvision.maps import attention_maps, element_attention_maps


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--run', required=True)
    parser.add_argument('--out', required=True)
    parser.add_argument('--photos', type=int, default=4, help='val photos, spread over the split')
    parser.add_argument('--elements', default='Ca,Pb')
    args = parser.parse_args()
    model = load_members(Path(args.run), 1)[0].eval()
    data = ImageStoreDataset(default_store(), 'val')
    names, size, elements = data.references.class_names, model.config.image_size, args.elements.split(',')
    picks = np.linspace(0, len(data) - 1, args.photos).astype(int)
    columns = ['photo', 'attention rollout', *[f'{e}: gradient map' for e in elements]]
    fig, axes = plt.subplots(len(picks), len(columns), figsize=(2.6 * len(columns), 2.8 * len(picks)), squeeze=False)
    for row, i in zip(axes, picks):
        image, _, class_id = data[i]
        shown = augment(image[None], size, None, train=False)
        x = normalize(shown, data.mean, data.std)
        with torch.no_grad(): predicted = int(model.outputs(x)['class_logits'].float().argmax(-1))
        maps = [attention_maps(model, x, head_fusion='max', discard_ratio=0.8)[0]] + [element_attention_maps(model, x, e)[0] for e in elements]
        photo = shown[0].permute(1, 2, 0).numpy().clip(0, 1)
        for k, ax in enumerate(row):
            ax.imshow(photo)
            if k: ax.imshow(maps[k - 1].detach().numpy(), cmap='inferno', alpha=0.5)
            ax.set_xticks([]); ax.set_yticks([])
            ax.set_title(f'{names[class_id]}\npredicted {names[predicted]}' if k == 0 else columns[k], fontsize=9)
    fig.suptitle(f'{Path(args.run)}: maps on val photos', fontsize=10)
    fig.tight_layout()
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.out, dpi=72, **({'pil_kwargs': {'quality': 85}} if args.out.endswith('.jpg') else {}))
    print(f'wrote {args.out}')


if __name__ == '__main__':
    main()
