"""Writing the ncnn files: `emit_ncnn(module, out_dir, weights="f32"|"f16")` builds the layers and writes
`model.ncnn.param`, `model.ncnn.bin` and `model_ncnn.py` as one unit through `irc.ir.writer.write_files`.

The .param file is text: the magic 7767517, the layer and blob counts, then one line per layer:
`Type name n_bottoms n_tops bottoms... tops... id=value ...`; an array param is written `-23300-id=n,a,b,...`
and a float always carries a `.` or an `e` (ncnn tells floats from ints that way; a value fits in 15 chars).
The .bin file holds each layer's weights in order. A weight ncnn loads with a storage tag (convolution and
InnerProduct weights, recurrent weights) starts with a 4-byte flag: 0 then float32 data, or 0x01306B47 then
float16 data padded to 4 bytes (`weights="f16"`; a Gemm's bias has the tag but stays float32); the others
(biases, BatchNorm statistics, MemoryData) are raw float32.
"""

from __future__ import annotations

import os
from collections.abc import Callable

import numpy as np

from ...ir import IrcError, Module
from ...ir.structure import flatten
from ...ir.writer import write_files
from .emitter import Emitter, Layer

MAGIC = 7767517
FP16_TAG = 0x01306B47
PARAM_FILE, BIN_FILE, SCRIPT_FILE = "model.ncnn.param", "model.ncnn.bin", "model_ncnn.py"
WEIGHT_MODES = ("f32", "f16")


def format_value(v: object) -> str:
    """One param value as ncnn's parser reads it (an int, or a float with a '.' or an 'e')."""
    if isinstance(v, (bool, int, np.integer)):
        return str(int(v))
    f = np.float32(v)
    if not np.isfinite(f):
        f = np.float32(np.finfo(np.float32).max if f > 0 else -np.finfo(np.float32).max)
    return np.format_float_scientific(f, unique=True, exp_digits=2).replace(".e", ".0e")  # at most 14 chars


def param_text(layers: list[Layer]) -> str:
    blobs = {t for layer in layers for t in layer.tops}
    lines = [str(MAGIC), f"{len(layers)} {len(blobs)}"]
    for layer in layers:
        fields = [f"{layer.type:<24}", f"{layer.name:<24}", str(len(layer.bottoms)), str(len(layer.tops)),
                  *layer.bottoms, *layer.tops]
        for pid, v in sorted(layer.params.items()):
            if isinstance(v, (list, tuple)):
                fields.append(f"{-23300 - pid}={len(v)}" + "".join("," + format_value(x) for x in v))
            else:
                fields.append(f"{pid}={format_value(v)}")
        lines.append(" ".join(fields))
    return "\n".join(lines) + "\n"


def weight_bytes(arr: np.ndarray, storage: bool | str, mode: str) -> bytes:
    """One weight as ncnn's ModelBin reads it: tagged ones (`storage` True or "f32") after their 4-byte tag, fp16
    when `storage` is True and `mode` "f16"; the others (`storage` False) raw float32."""
    flat = np.ascontiguousarray(arr, dtype=np.float32).ravel()
    if storage is False:
        return flat.astype("<f4").tobytes()
    if mode == "f16" and storage is True:
        data = flat.astype("<f2").tobytes()
        data += b"\0" * (-len(data) % 4)
        return np.uint32(FP16_TAG).astype("<u4").tobytes() + data
    return b"\0\0\0\0" + flat.astype("<f4").tobytes()


def script_text(module: Module, emitter: Emitter) -> str:
    """A short model_ncnn.py: how to run the files with the `ncnn` package (blob names from the IR)."""
    inputs = [(a.name, list(emitter.shape(a))) for a in emitter.func.args]
    outputs = emitter.output_blobs()
    ends = [*emitter.func.args, *emitter.func.outputs]
    shapes = {v.name: [1 if d is None else d for d in v.type.shape] for v in ends}
    feeds = "\n".join(f"        ex.input({n!r}, ncnn.Mat(np.ascontiguousarray(x{i}, dtype=np.float32)))"
                      for i, (n, _) in enumerate(inputs))
    args = ", ".join(f"x{i}" for i in range(len(inputs)))
    demo = ", ".join(f"np.random.rand(*{s}).astype(np.float32)" for _, s in inputs)
    return f'''"""{module.name} for ncnn, written by irc: run it with the `ncnn` package (pip install ncnn).

ncnn blobs are batchless: each input is one sample without its batch dimension (C, H, W for an image).
"""

import os

import ncnn
import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
INPUTS = {inputs!r}  # (blob name, shape without the batch)
OUTPUTS = {outputs!r}
SHAPES = {shapes!r}  # the IR shapes (batch 1) of the inputs and outputs


def load(num_threads=1):
    net = ncnn.Net()
    net.opt.use_fp16_storage = net.opt.use_fp16_arithmetic = net.opt.use_fp16_packed = False
    net.opt.use_bf16_storage = False
    net.opt.num_threads = num_threads
    net.load_param(os.path.join(HERE, {PARAM_FILE!r}))
    net.load_model(os.path.join(HERE, {BIN_FILE!r}))
    return net


def run(net, {args}):
    """One batchless sample per input -> the outputs as NumPy arrays (batchless too)."""
    with net.create_extractor() as ex:
{feeds}
        return [np.array(ex.extract(name)[1]) for name in OUTPUTS]


if __name__ == "__main__":
    for name, out in zip(OUTPUTS, run(load(), {demo})):
        print(name, out.shape)
'''


def emit_ncnn(module: Module, output: str, *, progress: Callable[[str], None] | None = None,
              weights: str = "f32") -> dict:
    """Write `output/model.ncnn.param`, `output/model.ncnn.bin` and `output/model_ncnn.py` for `module`;
    returns {"files": [paths], "detail": one line, ...}. `weights`: "f32", or "f16" for fp16 storage."""
    module = flatten(module)  # the blocks inlined (irc.ir.structure)
    if weights not in WEIGHT_MODES:
        raise IrcError(f"--weights {weights}: ncnn weights are f32 or f16")
    progress = progress or (lambda msg: None)
    progress("building the ncnn layers")
    emitter = Emitter(module)
    layers = emitter.build()
    text = param_text(layers)
    chunks = [weight_bytes(arr, storage, weights) for layer in layers for arr, storage in layer.weights]
    nbytes = sum(len(c) for c in chunks)
    script = script_text(module, emitter)
    os.makedirs(output, exist_ok=True)
    paths = [os.path.join(output, n) for n in (BIN_FILE, SCRIPT_FILE, PARAM_FILE)]
    progress(f"writing {BIN_FILE} ({nbytes / 1e6:.1f} MB)")
    store = module.weights.path if module.weights is not None else None
    write_files([(paths[0], lambda f: [f.write(c) for c in chunks]),
                 (paths[1], lambda f: f.write(script.encode("utf-8"))),
                 (paths[2], lambda f: f.write(text.encode("utf-8")))], inputs=[module.path, store])
    kinds: dict[str, int] = {}
    for layer in layers:
        kinds[layer.type] = kinds.get(layer.type, 0) + 1
    return {"files": paths, "detail": f"{len(layers)} layers, {nbytes} weight bytes ({weights})",
            "layers": len(layers), "bytes": nbytes, "layer_kinds": kinds,
            "inputs": [a.name for a in emitter.func.args], "outputs": emitter.output_blobs()}
