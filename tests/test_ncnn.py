"""The ncnn backend (issue 17): torch → IR → passes → ncnn .param/.bin, run in the `ncnn` package and compared
with torch under irc.fidelity's "pass" rule (f16 weights: "f16"); layer-level cases for the axes ncnn's
batchless blobs re-number; errors; bisection through NcnnRuntime.run_named."""

from __future__ import annotations

import itertools
import os

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from helpers import randomize_
from torch import nn

from irc.fidelity import compare

ncnn = pytest.importorskip("ncnn")

PASSES = "canonicalize,fuse-bn,fold-constants,cse,dce"


def _convert(model, shapes, out, passes=PASSES, weights="f32", batch=1):
    from irc.backend.ncnn import emit_ncnn
    from irc.frontend.torch import import_model
    from irc.passes.manager import run_passes

    module = import_model(model, [(s, "f32") for s in shapes], batch=batch, structured=False)
    run_passes(module, passes)
    info = emit_ncnn(module, str(out), weights=weights)
    return module, info


def check(model, shapes, out, passes=PASSES, weights="f32", seed=0, names=None):
    """Randomise `model`, convert it, run it in ncnn on seeded inputs; assert every output within the rule."""
    from irc.runtimes.ncnn import NcnnRuntime

    randomize_(model, seed)
    module, info = _convert(model, shapes, out, passes, weights)
    g = torch.Generator().manual_seed(seed)
    xs = [torch.randn((1, *s), generator=g) for s in shapes]
    with torch.no_grad():
        ref = model(*xs)
    refs = list(ref) if isinstance(ref, (tuple, list)) else [ref]
    got = NcnnRuntime(str(out), module)(*xs)
    assert len(got) == len(refs)
    rule = "pass" if weights == "f32" else "f16"
    verdicts = []
    for i, (r, o) in enumerate(zip(refs, got, strict=True)):
        v = compare(r, o, rule)
        assert v.ok, v.line(names[i] if names else f"output {i}")
        verdicts.append(v)
    return module, info, verdicts


class Fn(nn.Module):
    def __init__(self, fn):
        super().__init__()
        self.fn = fn

    def forward(self, *xs):
        return self.fn(*xs)


# ----------------------------------------------------------------------------- the files


def test_files_and_format(tmp_path):
    model = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(), nn.Conv2d(8, 8, 3, groups=8),
                          nn.ReLU6(), nn.Flatten(), nn.Linear(8 * 6 * 6, 5))
    _, info, _ = check(model, [(3, 8, 8)], tmp_path / "m")
    names = sorted(os.listdir(tmp_path / "m"))
    assert names == ["model.ncnn.bin", "model.ncnn.param", "model_ncnn.py"]
    assert [os.path.basename(p) for p in info["files"]] == ["model.ncnn.bin", "model_ncnn.py", "model.ncnn.param"]
    lines = (tmp_path / "m" / "model.ncnn.param").read_text().splitlines()
    assert lines[0] == "7767517"
    n_layers, n_blobs = map(int, lines[1].split())
    assert n_layers == len(lines) - 2
    kinds = [line.split()[0] for line in lines[2:]]
    assert kinds == ["Input", "Convolution", "ConvolutionDepthWise", "Reshape", "InnerProduct"]
    conv, dw = lines[3].split(), lines[4].split()
    assert "9=1" in conv  # the ReLU rides along as activation_type 1
    assert "9=3" in dw and "-23310=2,0.0e+00,6.0e+00" in dw  # ReLU6: Clip(0, 6)
    assert "7=8" in dw
    tops = [t for line in lines[2:] for t in line.split()[4 + int(line.split()[2]):][:int(line.split()[3])]]
    assert len(tops) == n_blobs


def test_model_script_runs(tmp_path):
    import subprocess
    import sys

    check(nn.Sequential(nn.Conv2d(3, 4, 3), nn.Sigmoid()), [(3, 6, 6)], tmp_path / "m")
    out = subprocess.run([sys.executable, str(tmp_path / "m" / "model_ncnn.py")], capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split()[1:] == ["(4,", "4,", "4)"]


def test_f16_weights(tmp_path):
    from models.zoo import ZOO

    build, hw, *_ = ZOO["resnet50"]
    _, info32, _ = check(build(), [(3, hw, hw)], tmp_path / "f32")
    _, info16, _ = check(build(), [(3, hw, hw)], tmp_path / "f16", weights="f16")
    assert info16["bytes"] < 0.6 * info32["bytes"]
    data = (tmp_path / "f16" / "model.ncnn.bin").read_bytes()
    assert np.frombuffer(data[:4], "<u4")[0] == 0x01306B47  # the first weight is a conv's, stored fp16


# ----------------------------------------------------------------------------- the models


QUICK = ["vgg16", "inception_v3", "resnet50", "mobilenet_v1", "tiny_yolo_v2", "tiny_yolo_v3", "mobilenet_v2",
         "mobilenet_v3_large", "googlenet", "densenet121", "squeezenet1_0", "shufflenet_v2", "efficientnet_b0",
         "regnet_y_400mf", "convnext_tiny", "vit_b_16"]


@pytest.mark.parametrize("name", QUICK)
def test_zoo_quick(name, tmp_path):
    from models.zoo import ZOO

    build, hw, *_ = ZOO[name]
    check(build(), [(3, hw, hw)], tmp_path / name)


@pytest.mark.parametrize("name", ["mobilenet_v1", "tiny_yolo_v3"])
def test_zoo_quick_f16(name, tmp_path):
    from models.zoo import ZOO

    build, hw, *_ = ZOO[name]
    check(build(), [(3, hw, hw)], tmp_path / name, weights="f16")


@pytest.mark.slow
@pytest.mark.parametrize("name", ["vgg16", "inception_v3", "resnet50", "mobilenet_v1", "tiny_yolo_v2",
                                  "tiny_yolo_v3", "mobilenet_v2", "mobilenet_v3_large", "googlenet", "densenet121",
                                  "squeezenet1_0", "shufflenet_v2", "efficientnet_b0", "regnet_y_400mf",
                                  "convnext_tiny", "vit_b_16"])
def test_zoo_full(name, tmp_path):
    from models.zoo import ZOO

    _, _, build, hw = ZOO[name]
    check(build(), [(3, hw, hw)], tmp_path / name)


@pytest.mark.slow
def test_zoo_full_f16(tmp_path):
    from models.zoo import ZOO

    _, _, build, hw = ZOO["resnet50"]
    check(build(), [(3, hw, hw)], tmp_path / "r50", weights="f16")


def test_swin_is_refused_for_its_rank_6_windows(tmp_path):
    """swin_t's window partition is a rank-6 tensor; ncnn blobs hold at most 4 dims: every such op is listed."""
    from models.zoo import ZOO

    from irc.ir import IrcError

    build, hw, *_ = ZOO["swin_t"]
    with pytest.raises(IrcError) as err:
        _convert(randomize_(build()), [(3, hw, hw)], tmp_path / "swin")
    msg = str(err.value)
    assert "nothing was written" in msg and "op(s) cannot be written" in msg
    assert ("%features.1.0.attn.reshape_1 = nn.reshape: %features.1.0.attn.reshape_1 : tensor<1x4x4x4x4x16xf32> has "
            "rank 6: an ncnn blob holds 1 to 4 dimensions besides the batch") in msg
    assert not (tmp_path / "swin").exists()


def test_recurrent(tmp_path):
    from models.recurrent import CRNN

    check(CRNN(), [(1, 32, 40)], tmp_path / "crnn")

    class Seq(nn.Module):
        def __init__(self, kind, batch_first, bidirectional):
            super().__init__()
            self.rnn = getattr(nn, kind)(12, 10, num_layers=2, bidirectional=bidirectional, batch_first=batch_first)

        def forward(self, x):
            if not self.rnn.batch_first:
                x = x.transpose(0, 1)
            y, h = self.rnn(x)
            h = h[0] if isinstance(h, tuple) else h
            return (y if self.rnn.batch_first else y.transpose(0, 1)), h.transpose(0, 1).flatten(1)

    for i, (kind, bf, bi) in enumerate(itertools.product(["LSTM", "GRU", "RNN"], [True, False], [False, True])):
        check(Seq(kind, bf, bi), [(7, 12)], tmp_path / f"seq{i}")


# ----------------------------------------------------------------------------- layers


LAYERS = {
    "pool_max_ceil": (Fn(lambda x: F.max_pool2d(x, 3, 2, 1, ceil_mode=True)), [(4, 10, 10)]),
    "pool_max_ceil_odd": (Fn(lambda x: F.max_pool2d(x, 2, 2, 0, ceil_mode=True)), [(4, 9, 11)]),
    "pool_avg_ceil_incl": (Fn(lambda x: F.avg_pool2d(x, 3, 2, 1, ceil_mode=True)), [(4, 10, 10)]),
    "pool_avg_ceil_excl": (Fn(lambda x: F.avg_pool2d(x, 3, 2, 1, ceil_mode=True, count_include_pad=False)),
                           [(4, 10, 10)]),
    "pool_avg_incl": (Fn(lambda x: F.avg_pool2d(x, 3, 2, 1)), [(4, 11, 10)]),
    "pool_avg_excl": (Fn(lambda x: F.avg_pool2d(x, 3, 2, 1, count_include_pad=False)), [(4, 11, 10)]),
    "pool_adaptive": (Fn(lambda x: F.adaptive_avg_pool2d(x, (3, 2)) + F.adaptive_max_pool2d(x, (3, 2))),
                      [(4, 10, 7)]),
    "deconv": (nn.ConvTranspose2d(4, 6, 3, 2, 1, output_padding=1), [(4, 7, 7)]),
    "deconv_dw": (nn.Sequential(nn.ConvTranspose2d(4, 8, 4, 2, 1, groups=2), nn.ReLU()), [(4, 7, 7)]),
    "deconv_dilated": (nn.ConvTranspose2d(4, 6, 3, 1, 2, dilation=2), [(4, 7, 7)]),
    "norms": (nn.Sequential(nn.BatchNorm2d(4), nn.GroupNorm(2, 4)), [(4, 5, 5)]),
    "batch_norm_1d": (nn.BatchNorm1d(6), [(6, 5)]),
    "layer_norm": (nn.LayerNorm(8), [(5, 8)]),
    "layer_norm_2": (nn.LayerNorm([5, 8]), [(3, 5, 8)]),
    "interp": (Fn(lambda x: torch.cat([F.interpolate(x, size=(10, 10)),
                                       F.interpolate(x, size=(10, 10), mode="bilinear"),
                                       F.interpolate(x, size=(10, 10), mode="bilinear", align_corners=True)], 1)),
               [(4, 5, 5)]),
    "pad": (Fn(lambda x: torch.cat([F.pad(x, (1, 2, 2, 1), value=0.5), F.pad(x, (1, 2, 2, 1), mode="reflect"),
                                    F.pad(x, (1, 2, 2, 1), mode="replicate")], 1)), [(4, 5, 5)]),
    "pad_channels": (Fn(lambda x: F.pad(x, (1, 1, 0, 0, 2, 1))), [(4, 5, 5)]),
    "activations": (Fn(lambda x: torch.cat([
        F.gelu(x), F.gelu(x, approximate="tanh"), F.silu(x), F.mish(x), F.elu(x, 0.7), F.softplus(x),
        F.hardsigmoid(x), F.hardswish(x), torch.tanh(x), x.abs().sqrt(), x.exp(), x.abs().add(0.1).log(),
        x.abs().add(0.1).rsqrt(), -x, torch.erf(x), F.leaky_relu(x, 0.2), x.clamp(-0.5, 0.7), F.relu6(x),
        torch.sigmoid(x)], 1)), [(3, 4, 4)]),
    "binary": (Fn(lambda x, y: torch.cat([x + y, x - y, x * y, x / (y.abs() + 1), torch.maximum(x, y),
                                          torch.minimum(x, y), x.abs() ** y, 2 - x, 3 / (x.abs() + 1), x ** 2], 1)),
               [(3, 4, 4), (3, 4, 4)]),
    "broadcast": (Fn(lambda x, y: x * y + x.mean((2, 3), keepdim=True) - y[:, :, :1] + x[:, :1]),
                  [(3, 4, 5), (3, 4, 5)]),
    "broadcast_const": (nn.Sequential(nn.Conv2d(3, 4, 1), Fn(lambda x: x * torch.arange(4.0).view(4, 1, 1) + 1.5)),
                        [(3, 4, 5)]),
    "matmul": (Fn(lambda x, y: x @ y), [(3, 4, 5), (3, 5, 6)]),
    "sdpa": (Fn(lambda q, k, v: F.scaled_dot_product_attention(q, k, v)), [(2, 5, 8), (2, 6, 8), (2, 6, 8)]),
    "sdpa_causal": (Fn(lambda q, k, v: F.scaled_dot_product_attention(q, k, v, is_causal=True)),
                    [(2, 5, 8), (2, 5, 8), (2, 5, 8)]),
    "multi_head_attention": (None, [(5, 16)] * 3),
    "slice_split": (Fn(lambda x: torch.cat([x[:, 1:3, :, 2:] * 2, torch.split(x, [1, 3], 1)[1][:, :2, :, :4],
                                            torch.chunk(x[..., :4], 2, 1)[1]], 1)), [(4, 5, 6)]),
    "unary": (Fn(lambda x: torch.cat([x.floor(), x.ceil(), x.sin(), x.cos(), (x * 0.5).tan(),
                                      (x * 0.3).asin(), (x * 0.3).acos(), x.atan()], 1)), [(3, 4, 4)]),
    "roll": (Fn(lambda x: torch.roll(x, (1, -2), (2, 3)) + torch.roll(x, 3, 1)), [(4, 5, 6)]),
    "reshape": (Fn(lambda x: x.reshape(1, 4, 30).transpose(1, 2).reshape(1, 6, 20).unsqueeze(1).squeeze(1) * 2),
                [(4, 5, 6)]),
}


@pytest.mark.parametrize("name", LAYERS)
def test_layer(name, tmp_path):
    model, shapes = LAYERS[name]
    check(model or Attention(), shapes, tmp_path / name)


class Attention(nn.Module):
    def __init__(self):
        super().__init__()
        self.attn = nn.MultiheadAttention(16, 4, batch_first=True)

    def forward(self, q, k, v):
        return self.attn(q, k, v)[0]


AXIS_SHAPES = {2: (6,), 3: (4, 6), 4: (3, 4, 6)}  # per-sample shapes of rank-2, -3 and -4 IR tensors


def _axis_cases():
    for rank, shape in AXIS_SHAPES.items():
        for axis in range(1, rank):
            yield f"concat_r{rank}_a{axis}", Fn(lambda x, a=axis: torch.cat([x, x * 2], a)), shape
            yield f"concat_r{rank}_a{axis - rank}", Fn(lambda x, a=axis - rank: torch.cat([x, x * 2], a)), shape
            yield f"softmax_r{rank}_a{axis}", Fn(lambda x, a=axis: torch.softmax(x, a)), shape
            yield f"sum_r{rank}_a{axis}", Fn(lambda x, a=axis: x.sum(a)), shape
            yield f"amax_r{rank}_a{axis}_keep", Fn(lambda x, a=axis: x.amax(a, keepdim=True)), shape
            if rank > 2:
                yield f"mean_r{rank}_a{axis}", Fn(lambda x, a=axis: x.mean(a)), shape
                yield f"split_r{rank}_a{axis}", Fn(lambda x, a=axis: torch.split(x, [1, x.shape[a] - 1], a)[1]), shape
        for perm in itertools.permutations(range(1, rank)):
            yield f"permute_r{rank}_{''.join(map(str, perm))}", Fn(lambda x, p=perm: x.permute(0, *p) * 2), shape
    yield "mean_r4_a23", Fn(lambda x: x.mean((2, 3))), AXIS_SHAPES[4]
    yield "sum_r4_a13_keep", Fn(lambda x: x.sum((1, 3), keepdim=True)), AXIS_SHAPES[4]


def test_axes_renumbered(tmp_path):
    """Every concat/softmax/reduction/split/permute axis of rank 2, 3 and 4 tensors (the IR's axis a is the
    batchless blob's a - 1): one ncnn model per rank, every case one of its outputs, each checked."""
    for rank, shape in AXIS_SHAPES.items():
        cases = [(name, model) for name, model, case_shape in _axis_cases() if case_shape == shape]
        names = [name for name, _ in cases]
        every = Fn(lambda x, fns=tuple(model for _, model in cases): tuple(fn(x) for fn in fns))
        _, info, verdicts = check(every, [shape], tmp_path / f"rank{rank}", passes="canonicalize,cse,dce",
                                  names=names)
        assert len(verdicts) == len(names) == len(info["outputs"]) >= 6


# ----------------------------------------------------------------------------- errors


def test_batch_above_one_is_refused(tmp_path):
    from irc.ir import IrcError

    with pytest.raises(IrcError, match=r"batch 2; ncnn blobs are batchless, so irc emits for batch 1"):
        _convert(nn.Conv2d(3, 4, 3), [(3, 8, 8)], tmp_path / "b2", batch=2)
    assert not (tmp_path / "b2").exists()


@pytest.mark.parametrize("fn, what", [
    (lambda x: torch.softmax(x, 0), "axis 0 is the batch dimension"),
    (lambda x: x.sum(0), "reduced axis 0 is the batch dimension"),
    (lambda x: F.pad(x, (0, 0, 0, 0, 0, 0, 1, 1)), "padding the batch dimension"),
])
def test_ops_over_the_batch_are_refused(fn, what, tmp_path):
    from irc.ir import IrcError

    with pytest.raises(IrcError, match=what):
        _convert(Fn(fn), [(3, 4, 5)], tmp_path / "m", passes="canonicalize")


GAPS = """// irc 1
module @gaps {
  func @forward(%x: tensor<1x4x6xf32>, %y: tensor<1x1x6xf32>) -> (tensor<1x4x6xf32>, tensor<1x4x6xf32>) {
    %e = nn.expand_like(%y, %x) {shape = [-1, -1, 6], like_dims = [[1, 1]]} : tensor<1x4x6xf32>
    %f = nn.expand_like(%e, %x) {shape = [-1, -1, 6], like_dims = [[1, 1]]} : tensor<1x4x6xf32>
    %g = nn.abs(%f) : tensor<1x4x6xf32>
    return %g, %e : tensor<1x4x6xf32>, tensor<1x4x6xf32>
  }
}
"""


def test_unsupported_ops_listed_at_once(tmp_path):
    import irc
    from irc.backend.ncnn import emit_ncnn, unmapped_ops
    from irc.ir import IrcError

    with pytest.raises(IrcError) as err:
        emit_ncnn(irc.parse(GAPS), str(tmp_path / "m"))
    assert str(err.value) == ("cannot emit gaps as ncnn: 1 op kind(s) have no ncnn mapping; nothing was written\n"
                              "  nn.expand_like x2: at %e (line 4), %f (line 5)")
    assert not (tmp_path / "m").exists()
    gaps = unmapped_ops()
    assert "nn.expand_like" in gaps
    assert not {"nn.conv2d", "nn.roll", "nn.gather", "nn.lstm", "nn.scaled_dot_product_attention"} & set(gaps)


def test_golden_all_ops_names_the_one_op_ncnn_cannot_write(tmp_path):
    """tests/ir/all_ops.ir: everything but a strided slice (ncnn's Crop has no step) has an ncnn layer."""
    from helpers import golden_copy

    import irc
    from irc.backend.ncnn import emit_ncnn
    from irc.ir import IrcError

    module = irc.ir.load(golden_copy("all_ops.ir", tmp_path))
    with pytest.raises(IrcError) as err:
        emit_ncnn(module, str(tmp_path / "out"))
    assert str(err.value).splitlines()[1:] == ["  %sl = nn.slice (line 28): ncnn Crop has no step"]


def test_op_level_refusals_listed_at_once(tmp_path):
    from irc.ir import IrcError

    model = Fn(lambda x: (torch.softmax(x, 0), F.max_pool2d(x, 2, dilation=2, padding=1)))
    with pytest.raises(IrcError) as err:
        _convert(model, [(3, 8, 8)], tmp_path / "m", passes="canonicalize")
    msg = str(err.value)
    assert "2 op(s) cannot be written" in msg
    assert "nn.softmax" in msg and "nn.max_pool2d" in msg and "ncnn Pooling has no dilation" in msg


def test_weights_option_is_checked(tmp_path):
    from irc.backend.ncnn import emit_ncnn
    from irc.frontend.torch import import_model
    from irc.ir import IrcError

    module = import_model(nn.ReLU(), [((3,), "f32")], batch=1)
    with pytest.raises(IrcError, match="ncnn weights are f32 or f16"):
        emit_ncnn(module, str(tmp_path / "m"), weights="i8")


# ----------------------------------------------------------------------------- bisection


def test_run_named_and_bisect_names_a_broken_layer(tmp_path):
    from models.zoo import ZOO

    from irc.bisect import IrRuntime, run_bisect
    from irc.runtimes.ncnn import NcnnRuntime

    build, hw, *_ = ZOO["mobilenet_v1"]
    module, _, _ = check(build(), [(3, hw, hw)], tmp_path / "m")
    runtime = NcnnRuntime(str(tmp_path / "m"), module)
    assert runtime.input_types[0].shape == (1, 3, hw, hw)
    good = run_bisect(module, IrRuntime(module), runtime, "pass", "test")
    assert good.culprit is None and good.compared >= 10, "\n".join(good.lines())
    # break one layer: the fifth Convolution's fused ReLU becomes a leaky ReLU
    param = tmp_path / "m" / "model.ncnn.param"
    lines = param.read_text().splitlines()
    convs = [i for i, line in enumerate(lines) if line.split()[0].startswith("Convolution") and " 9=1 " in line]
    target = convs[4]
    name = lines[target].split()[1]
    lines[target] = lines[target].replace(" 9=1 ", " 9=2 -23310=1,5.0e-01 ")
    param.write_text("\n".join(lines) + "\n")
    bad = run_bisect(module, IrRuntime(module), NcnnRuntime(str(tmp_path / "m"), module), "pass", "test")
    assert bad.culprit is not None and bad.culprit.name == name, "\n".join(bad.lines())
