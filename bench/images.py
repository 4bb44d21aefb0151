"""Benchmark: training images/s from the HDF5 store with batched torch augmentation, against decoding the
JPEGs with PIL (resize and the same augmentation), in one run, single process, batch 64 at 224.

Usage: python bench/images.py [--batches N]   (needs the store: it is built on first use)
"""
import argparse
import time

import numpy as np
import torch

from atomvision.harmonize import load_dataset
from atomvision.photos import grocery_split
from atomvision.transforms import augment, sample_seeds
from atomvision.store import ImageStoreDataset, build_image_store, load_photo


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--batches', type=int, default=8)
    args = parser.parse_args()
    store = build_image_store(load_dataset(), verbose=False)
    data = ImageStoreDataset(store, 'train')
    order = np.random.default_rng(0).permutation(len(data))
    batch = 64

    started = time.perf_counter()
    for b in range(args.batches):
        idx = order[b * batch:(b + 1) * batch]
        images = torch.stack([data[i][0] for i in idx])
        augment(images, 224, sample_seeds(0, 0, torch.as_tensor(idx)))
    store_rate = args.batches * batch / (time.perf_counter() - started)

    paths = grocery_split('train').path.to_numpy()
    started = time.perf_counter()
    for b in range(args.batches):
        idx = order[b * batch:(b + 1) * batch]
        images = torch.stack([torch.from_numpy(load_photo(paths[i], 256)).permute(2, 0, 1) for i in idx])
        augment(images, 224, sample_seeds(0, 0, torch.as_tensor(idx)))
    jpeg_rate = args.batches * batch / (time.perf_counter() - started)
    print(f'HDF5 store + torch augmentation: {store_rate:7.1f} images/s')
    print(f'PIL JPEG decode + same augmentation: {jpeg_rate:7.1f} images/s')
    print(f'store / JPEG: {store_rate / jpeg_rate:.2f}x  ({args.batches} batches of {batch}, 1 process, {torch.get_num_threads()} threads)')


if __name__ == '__main__':
    main()
