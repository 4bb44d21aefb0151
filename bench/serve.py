"""Serving benchmark, all in one run on 127.0.0.1 (prints its figures; nothing is a timed test).

For each engine (torch fp32, torch bf16, ONNX fp32, ONNX INT8) a real `atomvision serve` process is started on a free
loopback port and measured with real HTTP clients:
  - single-photo latency p50 / p95 at concurrency 1 (JPEG upload, decoding, prediction, JSON answer);
  - throughput (photos/s) at concurrency 8, 16 and 32, with the server's micro-batching;
then, on the torch engine, 1,000 requests of which 20% are bad (not an image, empty, truncated, too small, wrong
field, a photo declaring 64 MP, a decompression bomb declaring 400 MP): every answer must be the right 4xx or a 200,
never a 5xx, and the server still healthy after; and the server's peak memory (VmHWM) before and after 16 concurrent
uploads of a large but allowed photo (36 MP PNG).
Model-only, in this process: the accuracy change of each engine on val photos (mean |log10| error against the class
reference, of the medians the service answers; class top-1), the prediction core's photos/s for each engine at batch 16 (against the same
model with its BatchNorms not folded; the engines take turns over 3 rounds, and the ratios are taken within a round), and the throughput of vit_base at 224 px, batch 8, for fp32 and bf16 eager, ONNX fp32 and
INT8 dynamic (the engine's for a ViT; static INT8 is for CNNs) (untrained weights: speed does not depend on them).

    python bench/serve.py [--checkpoint data/runs/cpu-seed0] [--requests 200] [--skip-base]
"""
import argparse
import asyncio
import io
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from atomvision.transforms import preprocess
from atomvision.store import ImageStoreDataset, declared_png, default_store  # noqa: E402
from atomvision.predict import ENGINES, Predictor, resolve_engine, tune_allocator  # noqa: E402


def free_port() -> int:
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def jpegs(n: int) -> list:
    val = ImageStoreDataset(default_store(), 'val', limit=n)
    out = []
    for i in range(len(val)):
        buffer = io.BytesIO()
        Image.fromarray(val[i][0].permute(1, 2, 0).numpy()).save(buffer, format='JPEG', quality=90)
        out.append(buffer.getvalue())
    return out


class Server:
    def __init__(self, checkpoint: Path, engine: str, mc_samples: int):
        self.port = free_port()
        self.url = f'http://127.0.0.1:{self.port}'
        self.process = subprocess.Popen([sys.executable, '-m', 'atomvision', 'serve', '--checkpoint', str(checkpoint), '--port', str(self.port),
                                         '--engine', engine, '--mc-samples', str(mc_samples), '--max-batch', '16', '--max-wait-ms', '4'],
                                        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        import httpx
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            try:
                if httpx.get(self.url + '/health', timeout=2).json()['status'] == 'ok': return
            except Exception: pass
            if self.process.poll() is not None: raise RuntimeError(self.process.stderr.read())
            time.sleep(0.3)
        raise RuntimeError('server did not become healthy')

    def close(self):
        self.process.terminate(); self.process.wait(10)


async def load(url: str, bodies: list, concurrency: int) -> tuple:
    "Send every body (files, data) with `concurrency` in flight; (latencies in s, status codes, wall seconds)."
    import httpx
    semaphore = asyncio.Semaphore(concurrency)
    latencies, codes = [], []
    async with httpx.AsyncClient(base_url=url, timeout=120, limits=httpx.Limits(max_connections=concurrency)) as client:
        async def one(body):
            async with semaphore:
                started = time.perf_counter()
                response = await client.post('/predict', **body)
                latencies.append(time.perf_counter() - started); codes.append(response.status_code)
        started = time.perf_counter()
        await asyncio.gather(*(one(b) for b in bodies))
        return latencies, codes, time.perf_counter() - started


def photo_body(data: bytes) -> dict: return dict(files={'file': ('photo.jpg', data, 'image/jpeg')})


def bad_bodies(good: bytes) -> list:
    tiny = io.BytesIO(); Image.new('RGB', (16, 16)).save(tiny, format='PNG')
    return [(dict(files={'file': ('x.jpg', b'not an image at all', 'image/jpeg')}), 415),
            (dict(files={'file': ('x.jpg', b'', 'image/jpeg')}), 400),
            (dict(files={'file': ('x.jpg', good[:len(good) // 3], 'image/jpeg')}), 400),
            (dict(files={'file': ('x.png', tiny.getvalue(), 'image/png')}), 400),
            (dict(files={'photo': ('x.jpg', good, 'image/jpeg')}), 422),
            (dict(files={'file': ('x.png', declared_png(8000, 8000), 'image/png')}), 413),
            (dict(files={'file': ('x.png', declared_png(20000, 20000), 'image/png')}), 413)]


def large_png(width: int = 6000, height: int = 6000) -> bytes:
    "A large photo the service allows (a smooth gradient, so the PNG stays small to upload)."
    buffer = io.BytesIO()
    Image.linear_gradient('L').resize((width, height)).convert('RGB').save(buffer, format='PNG', compress_level=1)
    return buffer.getvalue()


def peak_rss_mb(pid: int) -> float:
    "The peak resident memory of process `pid` so far (VmHWM), in MB."
    for line in Path(f'/proc/{pid}/status').read_text().splitlines():
        if line.startswith('VmHWM:'): return int(line.split()[1]) / 1024
    return float('nan')


def accuracy(predictor: Predictor, photos: int | None = None) -> tuple:
    """(mean |log10 error| of the predicted medians against each photo's class reference over measured elements, class
    top-1) on the linked val photos (the first `photos` of them), as the service answers: its route, 8 MC passes."""
    val = ImageStoreDataset(default_store(), 'val', limit=photos)
    images = torch.stack([val[i][0] for i in range(len(val))])
    pred = predictor.predict(images, mc_samples=8)
    central = predictor.refs.central[val.class_ids[:len(val)]]
    top1 = float((pred.class_probs.argmax(1).numpy() == val.class_ids[:len(val)]).mean()) if pred.class_probs is not None else float('nan')
    return float(np.nanmean(np.abs(pred.median_log10.numpy() - central))), top1, len(val)


def model_throughput(checkpoint: Path, predictors: dict, batch: int = 16, repeats: int = 8, rounds: int = 3) -> dict:
    """The prediction core alone, no HTTP: photos/s of `Predictor.outputs` (evaluation view, the model, the heads' MC
    passes) on a batch of val photos, for each engine; first the torch fp32 model with its BatchNorms not folded, the
    baseline of the folding. The engines take turns over `rounds` rounds (each the median of `repeats` calls), so a
    slow spell of the machine falls on all of them: engine -> the photos/s of each round."""
    val = ImageStoreDataset(default_store(), 'val', limit=batch)
    images = torch.stack([val[i][0] for i in range(batch)])
    def rate(predictor):
        call = lambda: predictor.outputs(images, mc_samples=8)
        call(); call()
        times = []
        for _ in range(repeats):
            started = time.perf_counter(); call(); times.append(time.perf_counter() - started)
        return batch / statistics.median(times)
    unfolded = Predictor(checkpoint, engine='torch')
    unfolded.models = [m.to(memory_format=unfolded.layout) for m in unfolded.artifact.load_models()]
    timed = {'torch, BatchNorm not folded': unfolded, **predictors}
    out = {name: [] for name in timed}
    for _ in range(rounds):
        for name, predictor in timed.items(): out[name].append(rate(predictor))
    return out


def base_throughput(store: Path) -> dict:
    "vit_base at 224 px, batch 8: photos/s of fp32 and bf16 eager, ONNX fp32 and dynamic INT8 (untrained weights)."
    from atomvision.export import OnnxModel, export_onnx, quantize_int8
    from atomvision.vit import ElementViT, vit_config
    from atomvision.checkpoints import save_model
    model = ElementViT(vit_config('vit_base', image_size=224)).eval()
    x = torch.randn(8, 3, 224, 224)
    def rate(call, repeats=6):
        call(); call()
        times = []
        for _ in range(repeats):
            started = time.perf_counter(); call(); times.append(time.perf_counter() - started)
        return 8 / statistics.median(times)
    out = {}
    with torch.inference_mode():
        out['torch fp32'] = rate(lambda: model.outputs(x))
        with torch.autocast('cpu', dtype=torch.bfloat16): out['torch bf16'] = rate(lambda: model.outputs(x))
    with tempfile.TemporaryDirectory() as tmp:
        checkpoint = save_model(model, Path(tmp) / 'base.safetensors')
        fp32 = export_onnx(checkpoint, Path(tmp) / 'base.onnx')
        out['onnx fp32'] = rate(lambda s=OnnxModel(fp32, model.config): s.outputs(x))
        dynamic = quantize_int8(fp32, Path(tmp) / 'base-int8-dynamic.onnx', method='dynamic')
        out['onnx int8'] = rate(lambda s=OnnxModel(dynamic, model.config): s.outputs(x))
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--checkpoint', default=str(ROOT / 'data/runs/cpu-seed0'))
    parser.add_argument('--requests', type=int, default=200, help='requests per throughput measurement')
    parser.add_argument('--mc-samples', type=int, default=8)
    parser.add_argument('--engines', default=','.join(ENGINES))
    parser.add_argument('--skip-base', action='store_true', help='skip the vit_base comparison (minutes on 2 cores)')
    args = parser.parse_args()
    tune_allocator() # as `atomvision serve` does, so the prediction core is timed as the service runs it
    checkpoint = Path(args.checkpoint)
    photos = jpegs(64)
    print(f'machine: {os.cpu_count()} cores, torch {torch.__version__}; checkpoint {checkpoint}; {len(photos)} val photos as JPEG; '
          f'{args.mc_samples} MC-dropout passes asked per photo (a model without dropout makes one); '
          f"atomvision serve's default engine here ('auto'): {resolve_engine('auto')}")
    results = {}
    for engine in args.engines.split(','):
        server = Server(checkpoint, engine, args.mc_samples)
        try:
            asyncio.run(load(server.url, [photo_body(p) for p in photos[:8]], 1)) # warm-up
            lat, codes, _ = asyncio.run(load(server.url, [photo_body(photos[i % len(photos)]) for i in range(100)], 1))
            row = dict(p50_ms=1000 * float(np.percentile(lat, 50)), p95_ms=1000 * float(np.percentile(lat, 95)))
            for c in (8, 16, 32):
                _, codes, wall = asyncio.run(load(server.url, [photo_body(photos[i % len(photos)]) for i in range(args.requests)], c))
                assert set(codes) == {200}, codes
                row[f'photos_s_c{c}'] = args.requests / wall
            results[engine] = row
            print(f"{engine:11} p50 {row['p50_ms']:6.1f} ms  p95 {row['p95_ms']:6.1f} ms  |  photos/s at concurrency 8: {row['photos_s_c8']:6.1f}  "
                  f"16: {row['photos_s_c16']:6.1f}  32: {row['photos_s_c32']:6.1f}")
            if engine == 'torch':
                bad = bad_bodies(photos[0])
                bodies, expected = [], []
                for i in range(1000):
                    if i % 5 == 0: body, code = bad[(i // 5) % len(bad)]
                    else: body, code = photo_body(photos[i % len(photos)]), 200
                    bodies.append(body); expected.append(code)
                _, codes, wall = asyncio.run(load(server.url, bodies, 16))
                import httpx
                healthy = httpx.get(server.url + '/health').json()['status']
                wrong = sum(1 for got, want in zip(sorted(codes), sorted(expected)) if got != want)
                server_errors = sum(1 for c in codes if c >= 500)
                results['bad_inputs'] = dict(requests=len(codes), bad=len([e for e in expected if e != 200]), server_errors=server_errors,
                                             status_counts={str(c): codes.count(c) for c in sorted(set(codes))}, wrong_status=wrong, healthy_after=healthy)
                print(f"bad-input load: {len(codes)} requests (200 bad) in {wall:.1f} s: status {results['bad_inputs']['status_counts']}; "
                      f"5xx: {server_errors}; wrong status: {wrong}; health after: {healthy}")
                big, before = large_png(), peak_rss_mb(server.process.pid)
                _, codes, wall = asyncio.run(load(server.url, [dict(files={'file': ('big.png', big, 'image/png')})] * 16, 16))
                after = peak_rss_mb(server.process.pid)
                results['large_photos'] = dict(photos=16, megapixels=36, status_counts={str(c): codes.count(c) for c in sorted(set(codes))},
                                               peak_rss_before_mb=before, peak_rss_after_mb=after, seconds=wall)
                print(f"16 concurrent 36 MP PNGs ({len(big) / 1e6:.1f} MB each): status {results['large_photos']['status_counts']} in {wall:.1f} s; "
                      f"server peak memory {before:.0f} MB before, {after:.0f} MB after (+{after - before:.0f} MB)")
        finally:
            server.close()
    predictors = {engine: Predictor(checkpoint, engine=engine) for engine in args.engines.split(',')} # loaded once, for accuracy and speed
    reference = None
    for engine in args.engines.split(','):
        error, top1, n = accuracy(predictors[engine])
        reference = (error, top1) if engine == 'torch' else reference
        results.setdefault(engine, {}).update(val_mean_abs_log10_error=error, val_class_top1=top1)
        change = f'{error - reference[0]:+.4f}, top-1 {top1 - reference[1]:+.3f}' if reference is not None else 'n/a'
        print(f'{engine:11} val mean |log10 error| of the medians ({n} photos): {error:.4f}, class top-1 {top1:.3f}  (change against torch fp32: {change})')
    core = model_throughput(checkpoint, predictors)
    results['prediction_core_batch16'] = core
    print(f'prediction core alone, batch 16, photos/s (median of {len(next(iter(core.values())))} rounds, min-max): '
          + ', '.join(f'{k} {statistics.median(v):.1f} ({min(v):.0f}-{max(v):.0f})' for k, v in core.items()))
    if 'torch-bf16' in core:
        for engine in ('onnx', 'onnx-int8'):
            if engine in core:
                ratios = [a / b for a, b in zip(core[engine], core['torch-bf16'])] # within each round
                results.setdefault('core_ratio_to_bf16', {})[engine] = ratios
                print(f"{engine} / torch-bf16 eager, round by round: {statistics.median(ratios):.2f}x (min {min(ratios):.2f}x, max {max(ratios):.2f}x)")
    if not args.skip_base:
        base = base_throughput(default_store())
        results['vit_base_224_batch8'] = base
        print('vit_base 224 px, batch 8 (photos/s): ' + ', '.join(f'{k} {v:.1f}' for k, v in base.items())
              + f"; INT8 (dynamic) / bf16 eager: {base['onnx int8'] / base['torch bf16']:.2f}x; "
              f"INT8 (dynamic) / fp32 eager: {base['onnx int8'] / base['torch fp32']:.2f}x")
    out = ROOT / 'data' / 'bench'; out.mkdir(parents=True, exist_ok=True)
    (out / 'serve.json').write_text(json.dumps(results, indent=1))
    print(f'written: {out / "serve.json"}')


if __name__ == '__main__':
    main()
