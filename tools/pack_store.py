"""Pack the HDF5 image store into a small portable file (photos as JPEG bytes), and unpack it again.

The store holds decoded uint8 photos (about 580 MB at 256 px); packed, the same photos are JPEG-encoded (about a
tenth of that), with every other dataset and attribute copied as it is. Used to move a store to a machine without
the mirror (a rented GPU machine) instead of rebuilding it there.

    python tools/pack_store.py pack data/images/grocery_256.h5 store.packed.h5 [--quality 92]
    python tools/pack_store.py unpack store.packed.h5 data/images/grocery_256.h5
"""
import argparse
import io
import sys
from pathlib import Path

import h5py
import numpy as np
from PIL import Image


def _copy_rest(src: h5py.File, dst: h5py.File, skip: str) -> None:
    for key, value in src.attrs.items(): dst.attrs[key] = value
    for name in src:
        if name != skip: src.copy(name, dst)


def pack(store: Path, packed: Path, quality: int = 92) -> None:
    with h5py.File(store) as src, h5py.File(packed, 'w') as dst:
        images = src['images']
        data = dst.create_dataset('jpeg', (len(images),), dtype=h5py.vlen_dtype(np.uint8))
        for i in range(len(images)):
            buffer = io.BytesIO()
            Image.fromarray(images[i]).save(buffer, format='JPEG', quality=quality)
            data[i] = np.frombuffer(buffer.getvalue(), dtype=np.uint8)
        dst.attrs['packed_shape'] = images.shape
        _copy_rest(src, dst, 'images')


def unpack(packed: Path, store: Path) -> None:
    store.parent.mkdir(parents=True, exist_ok=True)
    tmp = store.with_suffix('.tmp')
    with h5py.File(packed) as src, h5py.File(tmp, 'w') as dst:
        shape = tuple(src.attrs['packed_shape'])
        images = dst.create_dataset('images', shape=shape, dtype=np.uint8, chunks=(1, *shape[1:]))
        for i, data in enumerate(src['jpeg']):
            images[i] = np.asarray(Image.open(io.BytesIO(data.tobytes())).convert('RGB'))
        _copy_rest(src, dst, 'jpeg')
        del dst.attrs['packed_shape']
    tmp.replace(store)


if __name__ == '__main__':
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('action', choices=['pack', 'unpack'])
    parser.add_argument('source'); parser.add_argument('target')
    parser.add_argument('--quality', type=int, default=92)
    args = parser.parse_args()
    pack(Path(args.source), Path(args.target), args.quality) if args.action == 'pack' else unpack(Path(args.source), Path(args.target))
    print(f'{args.target}: {Path(args.target).stat().st_size / 1e6:.1f} MB', file=sys.stderr)
