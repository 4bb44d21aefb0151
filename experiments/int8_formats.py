"""Which ONNX Runtime INT8 quantization runs the pretrained CNN fastest, and at what accuracy?

The `onnx-int8` engine quantizes a CNN statically, every op ONNX Runtime can in the QOperator format
(`export.quantize_int8`: QLinearConv with the ReLU6 fused, QLinearAdd for the residuals), so activations stay INT8 from
one convolution to the next. This compares, on one run's exported fp32 model (constant SAME pads, folded into the
convolutions): that, every op in the QDQ format, and the convolutions alone in QDQ (each convolution's output
dequantized for its ReLU6 and the residual additions, and quantized again), each calibrated on the same training
photos. It prints each model's photos/s in a bare ONNX Runtime session (batch 16, the run's image size) and, through
the prediction core (the run's route and class temperature, one pass), its class top-1 and the mean |log10| error of
the medians on the linked val photos.

    python experiments/int8_formats.py --checkpoint data/quick-artifact
"""
import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from atomvision.export import OnnxModel, _Calibration
from atomvision.predict import Predictor, _as_passes, combine
from atomvision.store import ImageStoreDataset, default_store
from atomvision.transforms import preprocess


def quantized(fp32: Path, out: Path, size: int, photos: int, **changes) -> Path:
    "A static INT8 model of `fp32`, per-channel, calibrated on `photos` training photos; `changes` to quantize_static's arguments."
    from onnxruntime.quantization import QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process
    prepared = out.with_suffix('.pre.onnx')
    quant_pre_process(str(fp32), str(prepared), skip_symbolic_shape=True)
    args = dict(quant_format=QuantFormat.QDQ, per_channel=True, activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8)
    quantize_static(str(prepared), str(out), _Calibration(default_store(), size, photos), **{**args, **changes})
    return out


def speed(path: Path, size: int, batch: int = 16, repeats: int = 8) -> float:
    "Photos/s of a bare ONNX Runtime session on a random batch (median of `repeats`)."
    import onnxruntime as ort
    session = ort.InferenceSession(str(path), providers=['CPUExecutionProvider'])
    x = np.random.default_rng(0).standard_normal((batch, 3, size, size)).astype(np.float32)
    run = lambda: session.run(None, {'images': x})
    run(); run()
    times = []
    for _ in range(repeats):
        started = time.perf_counter(); run(); times.append(time.perf_counter() - started)
    return batch / statistics.median(times)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--checkpoint', default='data/runs/cpu-seed0', help='a CNN run or artifact folder')
    parser.add_argument('--photos', type=int, default=64, help='training photos to calibrate on')
    args = parser.parse_args()
    from onnxruntime.quantization import QuantFormat
    predictor = Predictor(Path(args.checkpoint), engine='onnx') # exports the fp32 model beside the weights
    size = predictor.config.image_size
    fp32 = Path(args.checkpoint) / 'model-0-v3.onnx'
    val = ImageStoreDataset(default_store(), 'val')
    x = preprocess(torch.stack([val[i][0] for i in range(len(val))]), size, predictor.mean, predictor.std, predictor.crop)
    with tempfile.TemporaryDirectory() as tmp:
        models = {'fp32': fp32,
                  'INT8 QDQ, convolutions': quantized(fp32, Path(tmp) / 'conv.onnx', size, args.photos, op_types_to_quantize=['MatMul', 'Gemm', 'Conv']),
                  'INT8 QDQ, every op': quantized(fp32, Path(tmp) / 'qdq.onnx', size, args.photos),
                  'INT8 QOperator, every op (the engine)': quantized(fp32, Path(tmp) / 'qop.onnx', size, args.photos, quant_format=QuantFormat.QOperator)}
        for name, path in models.items():
            pred = combine(_as_passes(OnnxModel(path, predictor.config).outputs(x)), predictor.refs, predictor.route, predictor.blend_weight,
                           predictor.elements, predictor.temperature)
            top1 = float((pred.class_probs.argmax(1).numpy() == val.class_ids).mean())
            error = float(np.nanmean(np.abs(pred.median_log10.numpy() - predictor.refs.central[val.class_ids])))
            print(f'{name:36} {speed(path, size):6.1f} photos/s   class top-1 {top1:.3f}   median |log10 error| {error:.4f}', flush=True)


if __name__ == '__main__':
    main()
