"""Classifier engines for the real-time pipeline (paper 3, Zhao §V): the same trained weights run by PyTorch or by
ONNX Runtime, in float32, bfloat16 or int8 — and how far each one's predictions move from the float32 model.

    torch-fp32       the model as trained (the reference every other engine is compared with)
    torch-bf16       PyTorch, weights and activations in bfloat16
    torch-int8       PyTorch dynamic quantisation of the Linear layers (torch.ao, deprecated upstream but working)
    ort-fp32         exported to ONNX (opset 17) and run by ONNX Runtime's CPU provider
    ort-int8         ONNX Runtime dynamic quantisation: int8 weights of the fully connected layers (Gemm/MatMul),
                     activations quantised per call; convolutions stay float32
    ort-int8-static  ONNX Runtime static quantisation (QDQ, per-channel int8 weights, uint8 activations) of every
                     layer but the output layer (kept float32, the usual practice: quantising it too moved 3 % of
                     FER2013 predictions in our check), activation ranges calibrated (min/max) on `calibration`
                     images

Why int8 helps here: ZhaoCNN (§III.B) holds 37.7 M of its 42 M parameters in one 9216×4096 layer; with 1-3 faces
a frame that layer is a matrix-vector product bound by reading 151 MB of float32 weights per call, 38 MB in int8.
Readings where the paper is vague: the paper's own classifier (a "depthwise separable" network) is never
described, nor how it reaches 0.22 ms per face; these engines are ours, measured, each a switch.

The exported and quantised files are cached outside git under `<cache>/onnx/` ($FER_CACHE_DIR or
~/.cache/fer_lib), keyed by a hash of the weights, the engine and the calibration images.
"""
from __future__ import annotations

import copy
import hashlib
import tempfile
import warnings
from pathlib import Path

import numpy as np
import torch

__all__ = ["ENGINES", "DEFAULT_ENGINE", "to_engine", "OrtClassifier", "export_onnx", "agreement"]

ENGINES = ("torch-fp32", "torch-bf16", "torch-int8", "ort-fp32", "ort-int8", "ort-int8-static")
DEFAULT_ENGINE = "ort-int8"


def _cache_dir() -> Path:
    from .runs.store import cache_home
    return cache_home() / "onnx"


def _weights_hash(model: torch.nn.Module, extra: bytes = b"") -> str:
    h = hashlib.sha1(type(model).__name__.encode() + extra)
    for k, v in model.state_dict().items():
        h.update(k.encode())
        h.update(v.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()[:16]


def _normalise(crops: np.ndarray, mean: float, std: float) -> np.ndarray:
    """uint8 (n, H, W) grey crops -> float32 (n, 1, H, W), normalised as in training."""
    return ((np.asarray(crops, np.float32)[:, None] / 255.0 - mean) / std).astype(np.float32)


def export_onnx(model: torch.nn.Module, engine: str = "ort-fp32", size: int = 48, mean: float = 0.5,
                std: float = 0.5, calibration: np.ndarray | None = None, cache: str | Path | None = None) -> Path:
    """The model as an ONNX file for `engine` (ort-fp32 | ort-int8 | ort-int8-static), built once and cached.

    calibration: uint8 (n, size, size) grey images for ort-int8-static (a few hundred training faces)."""
    if engine not in ("ort-fp32", "ort-int8", "ort-int8-static"):
        raise ValueError(f"engine={engine!r}: not an ONNX Runtime engine ({', '.join(ENGINES)})")
    if engine == "ort-int8-static" and (calibration is None or not len(calibration)):
        raise ValueError("engine 'ort-int8-static' needs calibration images (uint8 (n, 48, 48) faces)")
    from .core.io import atomic_path
    extra = f"{engine}|{size}|{mean}|{std}".encode()
    if engine == "ort-int8-static":
        extra += hashlib.sha1(np.ascontiguousarray(calibration).tobytes()).digest()
    out = Path(cache or _cache_dir()) / f"{_weights_hash(model, extra)}-{engine}.onnx"
    if out.is_file():
        return out
    import onnx  # noqa: F401  (torch's exporter and the quantiser both need it)
    from onnxruntime import quantization as oq
    model = copy.deepcopy(model).float().cpu().eval()
    with tempfile.TemporaryDirectory() as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fp32 = Path(tmp) / "fp32.onnx"
        torch.onnx.export(model, (torch.zeros(1, 1, size, size),), str(fp32), dynamo=False, opset_version=17,
                          input_names=["x"], output_names=["logits"],
                          dynamic_axes={"x": {0: "faces"}, "logits": {0: "faces"}})
        src = fp32
        if engine != "ort-fp32":  # shape inference + graph clean-up first, as onnxruntime's quantiser advises
            src = Path(tmp) / "pre.onnx"
            oq.quant_pre_process(str(fp32), str(src))
        with atomic_path(out) as dst:
            if engine == "ort-fp32":
                dst.write_bytes(fp32.read_bytes())
            elif engine == "ort-int8":
                oq.quantize_dynamic(str(src), str(dst), weight_type=oq.QuantType.QInt8,
                                    op_types_to_quantize=["Gemm", "MatMul"])
            else:
                batches = [{"x": _normalise(calibration[i:i + 64], mean, std)} for i in range(0, len(calibration), 64)]

                class Reader(oq.CalibrationDataReader):
                    def __init__(self):
                        self.it = iter(batches)

                    def get_next(self):
                        return next(self.it, None)

                import onnx
                last = [n.name for n in onnx.load(str(src)).graph.node if n.op_type in ("Gemm", "MatMul")][-1:]
                oq.quantize_static(str(src), str(dst), Reader(), quant_format=oq.QuantFormat.QDQ, per_channel=True,
                                   weight_type=oq.QuantType.QInt8, activation_type=oq.QuantType.QUInt8,
                                   nodes_to_exclude=last)
    return out


class OrtClassifier:
    """The real-time Classifier's interface (crops in, probabilities out) on an ONNX Runtime session."""

    def __init__(self, path: str | Path, classes, mean: float, std: float, name: str, note: str = "",
                 engine: str = "ort-fp32", threads: int = 1, size: int = 48):
        import onnxruntime as ort
        opts = ort.SessionOptions()
        # The pipeline's other work (MTCNN in its own thread, KCF) wants the second core: one thread by default.
        opts.intra_op_num_threads, opts.inter_op_num_threads = max(1, int(threads)), 1
        opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        self.session = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
        self.path, self.classes, self.mean, self.std = Path(path), tuple(classes), float(mean), float(std)
        self.name, self.note, self.engine, self.size, self.threads = name, note, engine, size, threads
        self.device = torch.device("cpu")

    def __call__(self, crops: np.ndarray) -> np.ndarray:
        if not len(crops):
            return np.zeros((0, len(self.classes)), np.float32)
        z = self.session.run(None, {"x": _normalise(crops, self.mean, self.std)})[0]
        z = np.exp(z - z.max(1, keepdims=True))
        return (z / z.sum(1, keepdims=True)).astype(np.float32)

    def describe(self) -> str:
        return f"{self.name} ({', '.join(p for p in (self.note, self.engine) if p)})"


def to_engine(classifier, engine: str = DEFAULT_ENGINE, threads: int | None = 1,
              calibration: np.ndarray | None = None, cache: str | Path | None = None):
    """The float32 `fer_lib.realtime.Classifier` run by `engine` (ENGINES): same weights, classes, normalisation.

    threads: intra-op threads of the ONNX Runtime session (torch engines use torch's global setting)."""
    from .realtime import Classifier, RealtimeError
    if engine not in ENGINES:
        raise RealtimeError(f"engine={engine!r}: choose one of {', '.join(ENGINES)}")
    c = classifier
    kw = dict(classes=c.classes, mean=c.mean, std=c.std, name=c.name, note=c.note, size=c.size)
    model = c.model.eval()
    if any(t.dtype != torch.float32 for t in model.state_dict().values() if t.is_floating_point()):
        model = copy.deepcopy(model).float()  # never convert the caller's model in place
    if engine == "torch-fp32":
        return Classifier(model, device=c.device, dtype="float32", engine=engine, **kw)
    if engine == "torch-bf16":
        return Classifier(copy.deepcopy(model), device=c.device, dtype="bfloat16", engine=engine, **kw)
    if engine == "torch-int8":
        if c.device.type != "cpu":
            raise RealtimeError("engine 'torch-int8' runs on the CPU only (--device cpu)")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            q = torch.ao.quantization.quantize_dynamic(copy.deepcopy(model).cpu(), {torch.nn.Linear},
                                                       dtype=torch.qint8)
        return Classifier(q, device="cpu", dtype="float32", engine=engine, **kw)
    try:
        path = export_onnx(model, engine, c.size, c.mean, c.std, calibration, cache)
    except ValueError as e:
        raise RealtimeError(str(e)) from None
    return OrtClassifier(path, engine=engine, threads=threads or 1, **kw)


def agreement(classifiers: dict, images: np.ndarray, labels: np.ndarray | None = None,
              reference: str = "torch-fp32", batch: int = 256) -> list[dict]:
    """Per engine: accuracy on (images, labels) and the % of predictions identical to `reference`'s.

    images: uint8 (n, 48, 48) grey faces (FER2013 PrivateTest in the bench and notebook 03b)."""
    preds = {k: np.concatenate([c(images[i:i + batch]).argmax(1) for i in range(0, len(images), batch)])
             for k, c in classifiers.items()}
    ref = preds[reference]
    return [{"engine": k, "images": len(images),
             "accuracy": float((p == labels).mean()) if labels is not None else float("nan"),
             "identical to float32 (%)": float(100 * (p == ref).mean())} for k, p in preds.items()]
