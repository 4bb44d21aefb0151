"""Benchmark: ViT throughput on this machine, against its own matmul rate.

Prints, in one run: the machine's fp32 and bf16 matmul GFLOP/s (4096x4096, for scale); images/s for the
forward pass and for a full training step (forward, backward, AdamW) at batch 32 for vit_tiny and vit_base
at 224, in fp32 and bf16 autocast, with the fused attention path and with the explicit path; the achieved
GFLOP/s and its share of the matmul rate; the cost of multi-scale embedding; and whether capturing
attention maps for one batch changes the speed of the steps after it.

FLOPs are counted with torch.utils.flop_counter.FlopCounterMode on one pass (matrix multiplications,
convolutions and attention; 2 FLOPs per multiply-add; elementwise work is not counted), so achieved GFLOP/s
is counted FLOPs / measured seconds. Usage: python bench/vit.py [--steps N] [--quick] [--device cpu|cuda]
"""
import argparse
import contextlib
import time

import torch
from torch.utils.flop_counter import FlopCounterMode

from atomvision.distributions import element_loss
from atomvision.vit import ElementViT, vit_config
from atomvision.maps import capture_attention


def matmul_gflops(dtype, device, n=4096, reps=5) -> float:
    a, b = torch.randn(n, n, dtype=dtype, device=device), torch.randn(n, n, dtype=dtype, device=device)
    a @ b
    _sync(device)
    started = time.perf_counter()
    for _ in range(reps): a @ b
    _sync(device)
    return 2 * n ** 3 * reps / (time.perf_counter() - started) / 1e9


def _sync(device):
    if device.type == 'cuda': torch.cuda.synchronize()


def _autocast(device, bf16):
    return torch.autocast(device.type, dtype=torch.bfloat16) if bf16 else contextlib.nullcontext()


def _explicit(model, on):
    return capture_attention(model) if on else contextlib.nullcontext()


def _batch(batch, device, size=224):
    images = torch.randn(batch, 3, size, size, device=device)
    target = torch.randn(batch, 22, device=device)
    return images, target, torch.ones_like(target, dtype=torch.bool), torch.zeros_like(target, dtype=torch.bool)


def forward_rate(model, batch, device, bf16, explicit, steps):
    images = _batch(batch, device)[0]
    model.eval()
    with torch.no_grad(), _autocast(device, bf16), _explicit(model, explicit):
        model(images)
        with FlopCounterMode(display=False) as counter: model(images)
        _sync(device)
        started = time.perf_counter()
        for _ in range(steps): model(images)
        _sync(device)
    seconds = (time.perf_counter() - started) / steps
    return batch / seconds, counter.get_total_flops() / seconds / 1e9


def train_rate(model, batch, device, bf16, explicit, steps, optimizer=None):
    images, target, measured, censored = _batch(batch, device)
    optimizer = optimizer or torch.optim.AdamW(model.parameters(), lr=1e-4)
    model.train()

    def step():
        with _autocast(device, bf16), _explicit(model, explicit):
            mean, log_var = model(images)
            loss = element_loss(mean.float(), log_var.float(), target, measured, censored)['loss']
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    step()
    with FlopCounterMode(display=False) as counter: step()
    _sync(device)
    started = time.perf_counter()
    for _ in range(steps): step()
    _sync(device)
    seconds = (time.perf_counter() - started) / steps
    return batch / seconds, counter.get_total_flops() / seconds / 1e9


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--steps', type=int, default=3, help='timed steps per measurement')
    parser.add_argument('--quick', action='store_true', help='vit_tiny only')
    parser.add_argument('--device', default='cuda' if torch.cuda.is_available() else 'cpu')
    args = parser.parse_args()
    device = torch.device(args.device)
    torch.manual_seed(0)
    print(f'device: {device} ({torch.cuda.get_device_name(0) if device.type == "cuda" else f"{torch.get_num_threads()} CPU threads"}), torch {torch.__version__}')
    peak = {'fp32': matmul_gflops(torch.float32, device), 'bf16': matmul_gflops(torch.bfloat16, device)}
    print(f"matmul 4096x4096: fp32 {peak['fp32']:.0f} GFLOP/s, bf16 {peak['bf16']:.0f} GFLOP/s\n")
    print(f"{'model':9} {'pass':7} {'dtype':5} {'attention':9} {'images/s':>9} {'GFLOP/s':>8} {'% of matmul':>11}")
    results = {}
    for name in (['vit_tiny'] if args.quick else ['vit_tiny', 'vit_base']):
        model = ElementViT(vit_config(name)).to(device)
        steps = args.steps if name == 'vit_tiny' or device.type == 'cuda' else max(1, args.steps // 2)
        for dtype in ('fp32', 'bf16'):
            for explicit in (False, True):
                for kind, fn in (('forward', forward_rate), ('train', train_rate)):
                    rate, gflops = fn(model, 32, device, dtype == 'bf16', explicit, steps)
                    results[(name, kind, dtype, explicit)] = rate
                    print(f"{name:9} {kind:7} {dtype:5} {'explicit' if explicit else 'fused':9} {rate:9.1f} {gflops:8.0f} {100 * gflops / peak[dtype]:10.0f}%", flush=True)
        del model
    # map capture for one batch: the steps after it run as fast as before
    model = ElementViT(vit_config('vit_tiny')).to(device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)
    before = train_rate(model, 32, device, True, False, args.steps, optimizer)[0]
    model.eval()
    with torch.no_grad(), capture_attention(model) as maps: model(_batch(8, device)[0])
    after = train_rate(model, 32, device, True, False, args.steps, optimizer)[0]
    print(f'\nmap capture for one batch (vit_tiny, bf16 training): {before:.1f} images/s before, {after:.1f} after '
          f'({len(maps)} layers captured; the fused path is back on: {not any(m.explicit for m in model.modules() if hasattr(m, "explicit"))})')
    # multi-scale cost (forward, batch 8, fused, bf16)
    print('\nmulti-scale embedding, vit_tiny at 224, forward batch 8, bf16, fused:')
    for label, changes in (('16 only (196 tokens)', {}), ('16+8+4 pool (196 tokens)', dict(scales=(8, 4), fusion='pool')),
                           ('16+8 concat (980 tokens)', dict(scales=(8,), fusion='concat')),
                           ('16+8+4 concat (4116 tokens)', dict(scales=(8, 4), fusion='concat'))):
        m = ElementViT(vit_config('vit_tiny', **changes)).to(device)
        rate, gflops = forward_rate(m, 8, device, True, False, max(1, args.steps - 1))
        print(f'  {label:28} {rate:8.1f} images/s  {gflops:6.0f} GFLOP/s')
    target = results.get(('vit_tiny', 'train', 'bf16', False))
    print(f"\ntarget: fused vit_tiny bf16 training step at >= 40% of the bf16 matmul rate (see the % column above)")


if __name__ == '__main__':
    main()
