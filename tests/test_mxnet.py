"""MXNet both ways without MXNet (issue 18 point 2): the .params NDArray list, IR → model-symbol.json +
model-0000.params → IR → executor on the seed models and on op-level models (the quick set); the same files
run in MXNet 1.9.1 itself, in the cached environment of tests/framework_envs.py (all models in one
subprocess), within "pass"; a Gluon export read back; bisection through MxnetRuntime.run_named naming a
deliberately broken layer; every unsupported op listed at once, both ways."""

from __future__ import annotations

import json
import os
import struct
import sys

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from helpers import randomize_
from torch import nn

from irc.backend.mxnet import emit_mxnet, unmapped_ops
from irc.backend.pytorch.executor import Executor
from irc.fidelity import compare
from irc.formats.mxnet import decode_params, encode_params, load_params
from irc.frontend.mxnet import import_mxnet, is_mxnet_symbol
from irc.ir import IrcError

sys.path.insert(0, os.path.dirname(__file__))
from models.zoo import ZOO  # noqa: E402

SEED_MODELS = ["vgg16", "inception_v3", "resnet50", "mobilenet_v1", "tiny_yolo_v2", "tiny_yolo_v3"]
PASSES = {"canonicalize,dce": ("resnet50", "mobilenet_v1", "tiny_yolo_v2", "tiny_yolo_v3"),
          "canonicalize,fuse-bn,fold-constants,cse,dce": ("vgg16", "inception_v3")}


def _outputs(result) -> list:
    return list(result) if isinstance(result, (list, tuple)) else [result]


def _input(shape, seed: int = 1) -> torch.Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed))


def _passes(name: str) -> str:
    return next(p for p, names in PASSES.items() if name in names)


def _seed_module(name: str):
    from irc.frontend.torch import import_model
    from irc.passes.manager import run_passes

    torch.manual_seed(0)
    model = randomize_(ZOO[name][0](), 0).eval()
    hw = ZOO[name][1]
    return model, run_passes(import_model(model, [((3, hw, hw), "f32")], batch=1), _passes(name)), (1, 3, hw, hw)


def _module_of(model: nn.Module, shapes: list, passes: str = "canonicalize,dce"):
    from irc.frontend.torch import import_model
    from irc.passes.manager import run_passes

    return run_passes(import_model(model, [(s, "f32") for s in shapes], batch=1), passes)


def _round_trip(model, module, inputs: list, out_dir: str) -> list[float]:
    """IR → MXNet files → IR → executor against the torch model; every output within "pass"."""
    emit_mxnet(module, out_dir)
    back = import_mxnet(out_dir)
    with torch.no_grad():
        refs, gots = _outputs(model(*inputs)), _outputs(Executor(back)(*inputs))
    assert len(refs) == len(gots)
    found = []
    for ref, got in zip(refs, gots, strict=True):
        verdict = compare(ref, got, "pass")
        assert verdict.ok, verdict.line(out_dir)
        found.append(verdict.max_abs)
    return found


# ----------------------------------------------------------------------------- op-level models


class Convs(nn.Module):
    """Asymmetric padding (an explicit Pad), groups + dilation, a transposed convolution, BatchNorm, pools."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(4, 8, 3, padding=1)
        self.grouped = nn.Conv2d(8, 8, 3, padding=2, dilation=2, groups=4, bias=False)
        self.up = nn.ConvTranspose2d(8, 4, 3, stride=2, padding=1, output_padding=1)
        self.bn = nn.BatchNorm2d(4)

    def forward(self, x):
        y = F.relu(self.conv(F.pad(x, (0, 1, 0, 1))))
        y = self.grouped(y)
        a = F.max_pool2d(y, 3, 2, padding=1, ceil_mode=True)
        b = F.avg_pool2d(y, 3, 2, padding=1, ceil_mode=True)
        c = F.avg_pool2d(y, 2, 2, count_include_pad=False)
        z = self.bn(self.up(a + b + F.adaptive_avg_pool2d(c, (a.shape[2], a.shape[3]))))
        return z, F.adaptive_avg_pool2d(z, (3, 5)), F.adaptive_max_pool2d(z, 1)


class Activations(nn.Module):
    def forward(self, x):
        parts = [torch.sigmoid(x), torch.tanh(x), F.softplus(x), F.leaky_relu(x, 0.2), F.elu(x, 0.7),
                 F.gelu(x), F.gelu(x, approximate="tanh"), F.silu(x), F.hardswish(x), F.hardsigmoid(x),
                 torch.clamp(x, -0.5, 0.5), torch.clamp(x, min=0.1), x.abs(), torch.exp(x * 0.1), -x,
                 torch.sqrt(x.abs() + 1), torch.rsqrt(x.abs() + 1), torch.log(x.abs() + 1), torch.erf(x),
                 torch.sin(x), torch.cos(x), torch.tan(x * 0.3), torch.asin(x.clamp(-0.9, 0.9)),
                 torch.acos(x.clamp(-0.9, 0.9)), torch.atan(x), torch.floor(x * 3), torch.ceil(x * 3), torch.sign(x)]
        return torch.cat(parts, 1)


class Shapes(nn.Module):
    """Reshape, flatten, transpose, slices, splits (equal and not), pads, reductions, softmax, resizes."""

    def __init__(self):
        super().__init__()
        self.scale = nn.Parameter(torch.randn(1, 6, 1, 1))
        self.fc = nn.Linear(8, 5)

    def forward(self, x):
        y = x * self.scale + 0.5
        a, b = torch.split(y, [2, 4], 1)
        c, d, e = torch.chunk(b, 2, 1)[0], b[:, 2:], y[:, :, 1:7:2, ::3]
        pooled = F.pad(e, (1, 2, 0, 1), mode="reflect").mean((2, 3))
        spread = F.interpolate(c, scale_factor=2, mode="nearest")
        smooth = F.interpolate(a, size=(12, 10), mode="bilinear", align_corners=False)
        flat = torch.flatten(d.transpose(2, 3), 1)
        seq = self.fc(x.permute(0, 2, 3, 1)[..., :2].reshape(1, 8, 16).transpose(1, 2))
        stats = torch.stack([y.sum((1, 2)), y.amax((1, 2)), y.amin((1, 2))], 0)
        return (torch.softmax(flat, 1), F.log_softmax(pooled, -1), spread, smooth, seq.unsqueeze(0).squeeze(0),
                stats, torch.maximum(a, c), torch.minimum(a, c) / (c.abs() + 1) - a ** 2 + torch.pow(c.abs() + 1, a * 0.1),
                2.0 - x[:, :1] / 3.0, e.repeat(1, 1, 2, 1),
                c[:, :1].expand(1, 3, 8, 8))


class Norms(nn.Module):
    def __init__(self):
        super().__init__()
        self.ln = nn.LayerNorm(8)
        self.gn = nn.GroupNorm(2, 6)
        self.weight = nn.Parameter(torch.randn(8, 3))

    def forward(self, x, seq):
        return self.gn(x), self.ln(seq), torch.matmul(seq, self.weight), torch.bmm(seq, seq.transpose(1, 2))


class Asymmetric(nn.Module):
    """A convolution and two pools whose padding the test makes uneven in the IR (torch cannot say it): MXNet
    gets explicit Pad nodes; the reference is irc's executor on that IR."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)

    def forward(self, x):
        y = self.conv(x)
        return F.max_pool2d(y, 3, 2, padding=1), F.avg_pool2d(y, 3, 2, padding=1)


OP_MODELS = {"convs": (Convs, [(4, 11, 11)]), "activations": (Activations, [(3, 5, 5)]),
             "shapes": (Shapes, [(6, 8, 8)]), "norms": (Norms, [(6, 4, 4), (5, 8)]),
             "asymmetric": (Asymmetric, [(3, 9, 9)])}


def _op_case(name: str):
    """(reference, module, inputs) of an op-level model: the reference is the torch model, or irc's executor
    on the IR for a model whose IR the test edits."""
    from irc.passes.manager import run_passes

    cls, shapes = OP_MODELS[name]
    torch.manual_seed(0)
    model = randomize_(cls(), 0).eval()
    inputs = [_input((1, *s), seed=i + 1) for i, s in enumerate(shapes)]
    module = _module_of(model, shapes)
    if name == "asymmetric":
        for op in module.main.ops:
            if op.name in ("nn.conv2d", "nn.max_pool2d", "nn.avg_pool2d"):
                op.attrs["padding"] = [[0, 1], [1, 2]]
        run_passes(module, "infer-shapes")
        return Executor(module), module, inputs
    return model, module, inputs


# ----------------------------------------------------------------------------- the .params format


def test_params_file_both_ways(tmp_path):
    arrays = {"arg:w": np.arange(6, dtype=np.float32).reshape(2, 3), "aux:m": np.array([1.5], np.float16),
              "arg:i": np.array([3, -4], np.int64), "arg:s": np.float32(7.0)}
    data = encode_params(arrays)
    assert data[:8] == struct.pack("<Q", 0x112)
    back = decode_params(data)
    assert list(back) == list(arrays)
    for key, arr in arrays.items():
        assert back[key].dtype == np.asarray(arr).dtype
        assert np.array_equal(back[key].reshape(-1), np.asarray(arr).reshape(-1))
    assert back["arg:s"].shape == (1,)  # MXNet 1.x saves a 0-d array as shape (1,)
    # an array MXNet 1.9 wrote with ndim 0 holds one value
    scalar = struct.pack("<QQQ", 0x112, 0, 1) + struct.pack("<Iiiiii", 0xF993FAC9, 0, 0, 1, 0, 0) + \
        struct.pack("<f", 7.0) + struct.pack("<QQ", 1, 1) + b"s"
    assert decode_params(scalar)["s"] == np.float32(7.0)
    with pytest.raises(IrcError, match="not an MXNet .params file"):
        decode_params(b"\0" * 32, "x.params")
    with pytest.raises(IrcError, match="truncated"):
        decode_params(data[:-40], "x.params")
    with pytest.raises(IrcError, match="cannot read"):
        load_params(str(tmp_path / "missing.params"))


def test_is_mxnet_symbol(tmp_path):
    nodes = [_var("data", __shape__="(1, 3)")] + [{"op": "relu", "name": f"r{i}", "inputs": [[i, 0, 0]]}
                                                  for i in range(400)]  # "heads" far from the head of the file
    (tmp_path / "net-symbol.json").write_text(json.dumps(_symbol(nodes, [[400, 0, 0]]), indent=2))
    assert is_mxnet_symbol(str(tmp_path / "net-symbol.json"))
    (tmp_path / "net-0000.params").write_bytes(encode_params({"arg:w": np.ones(3, np.float32)}))
    assert not is_mxnet_symbol(str(tmp_path / "net-0000.params"))
    (tmp_path / "other.json").write_text('{"nodes": [], "edges": []}')
    assert not is_mxnet_symbol(str(tmp_path / "other.json"))
    assert not is_mxnet_symbol(str(tmp_path / "missing.json"))
    assert not is_mxnet_symbol(str(tmp_path))


# ----------------------------------------------------------------------------- IR → MXNet files → IR (no MXNet)


@pytest.mark.parametrize("name", SEED_MODELS)
def test_seed_model_round_trip(name, tmp_path):
    model, module, shape = _seed_module(name)
    out = str(tmp_path / name)
    result = emit_mxnet(module, out)
    assert sorted(os.path.basename(p) for p in result["files"]) == ["model-0000.params", "model-symbol.json"]
    assert is_mxnet_symbol(os.path.join(out, "model-symbol.json"))
    found = _round_trip(model, module, [_input(shape)], out)
    print(f"{name}: torch vs IR → MXNet files → IR max|d| = {max(found):.3g}")


def test_symbol_and_params_layout(tmp_path):
    _, module, _ = _seed_module("resnet50")
    emit_mxnet(module, str(tmp_path / "r"))
    graph = json.load(open(tmp_path / "r" / "model-symbol.json"))
    params = load_params(str(tmp_path / "r" / "model-0000.params"))
    ops = [n["op"] for n in graph["nodes"] if n["op"] != "null"]
    assert ops.count("BatchNorm") == 20 and ops.count("Convolution") == 20 and ops.count("broadcast_add") == 5
    bn = next(n for n in graph["nodes"] if n["op"] == "BatchNorm")
    assert bn["attrs"]["fix_gamma"] == "False" and bn["attrs"]["use_global_stats"] == "True"
    stats = [graph["nodes"][i]["name"] for i, *_ in bn["inputs"][3:]]
    assert [f"aux:{s}" in params for s in stats] == [True, True]
    assert all(k.startswith("arg:") for k in params if not k.endswith(("_moving_mean", "_moving_var")))
    assert graph["nodes"][0]["attrs"]["__shape__"] == "(1, 3, 32, 32)"
    fc = next(n for n in graph["nodes"] if n["op"] == "FullyConnected")
    assert fc["name"] == module.main.outputs[0].name  # nodes are named after IR values


@pytest.mark.parametrize("name", sorted(OP_MODELS))
def test_op_models_round_trip(name, tmp_path):
    model, module, inputs = _op_case(name)
    found = _round_trip(model, module, inputs, str(tmp_path / name))
    print(f"{name}: max|d| = {max(found):.3g}")


def test_emit_lists_every_unsupported_op_at_once(tmp_path):
    import irc

    text = """module @m {
  func @forward(%x: tensor<1x4x8x8xf32>, %s: tensor<1x5x8xf32>) -> (tensor<1x4x17x17xf32>, tensor<1x5x8xf32>, tensor<1x5x8xf32>, tensor<1x4x6x6xf32>, tensor<1x4x8x8xf32>) {
    %w = nn.param() {key = "w"} : tensor<4x4x3x3xf32>
    %up = nn.conv_transpose2d(%x, %w) {stride = [2, 2], padding = [[0, 1], [0, 1]], dilation = [1, 1], groups = 1} : tensor<1x4x17x17xf32>
    %r = nn.roll(%s) {shifts = [1], axes = [2]} : tensor<1x5x8xf32>
    %a = nn.scaled_dot_product_attention(%s, %s, %s) : tensor<1x5x8xf32>
    %m = nn.max_pool2d(%x) {kernel_size = [3, 3], stride = [1, 1], padding = [[1, 1], [1, 1]], dilation = [2, 2]} : tensor<1x4x6x6xf32>
    return %up, %r, %a, %m, %x
  }
}
"""
    module = irc.parse(text)
    with pytest.raises(IrcError) as info:
        emit_mxnet(module, str(tmp_path / "bad"))
    message = str(info.value)
    assert "nothing was written" in message and not (tmp_path / "bad").exists()
    for line in ("%up = nn.conv_transpose2d", "asymmetric padding", "%r = nn.roll", "no MXNet mapping for nn.roll",
                 "%a = nn.scaled_dot_product_attention", "%m = nn.max_pool2d", "dilation [2, 2]", "output %x is an input"):
        assert line in message, message
    assert "nn.roll" in unmapped_ops() and "nn.conv2d" not in unmapped_ops()


# ----------------------------------------------------------------------------- MXNet → IR


def _symbol(nodes: list, heads: list) -> dict:
    return {"nodes": nodes, "arg_nodes": [i for i, n in enumerate(nodes) if n["op"] == "null"],
            "heads": heads, "attrs": {"mxnet_version": ["int", 10901]}}


def _var(name: str, **attrs) -> dict:
    return {"op": "null", "name": name, "attrs": attrs, "inputs": []}


def _gluon_style(tmp_path) -> tuple[str, str, dict]:
    """A symbol in the form Gluon's export() writes (no input shape, fix_gamma's default, FullyConnected's
    flatten, scalar arithmetic, Reshape's special values), with random params."""
    nodes = [_var("data"), _var("c_weight"), _var("c_bias"),
             {"op": "Convolution", "name": "c", "attrs": {"kernel": "(3, 3)", "num_filter": "4", "pad": "(1, 1)"},
              "inputs": [[0, 0, 0], [1, 0, 0], [2, 0, 0]]},
             _var("bn_gamma"), _var("bn_beta"), _var("bn_running_mean"), _var("bn_running_var"),
             {"op": "BatchNorm", "name": "bn", "attrs": {"eps": "1e-05"},
              "inputs": [[3, 0, 0], [4, 0, 0], [5, 0, 0], [6, 0, 1], [7, 0, 1]]},
             _var("pr_alpha"),
             {"op": "LeakyReLU", "name": "pr", "attrs": {"act_type": "prelu"}, "inputs": [[8, 0, 0], [9, 0, 0]]},
             {"op": "_mul_scalar", "name": "ms", "attrs": {"scalar": "0.5"}, "inputs": [[10, 0, 0]]},
             {"op": "_rminus_scalar", "name": "rs", "attrs": {"scalar": "1.0"}, "inputs": [[11, 0, 0]]},
             {"op": "Pooling", "name": "p", "attrs": {"kernel": "(3, 3)", "stride": "(2, 2)", "pool_type": "avg",
                                                     "pooling_convention": "full"}, "inputs": [[12, 0, 0]]},
             {"op": "Reshape", "name": "rh", "attrs": {"shape": "(0, -4, 2, -1, -3)"}, "inputs": [[13, 0, 0]]},
             {"op": "SliceChannel", "name": "sp", "attrs": {"num_outputs": "2", "axis": "1", "squeeze_axis": "1"},
              "inputs": [[14, 0, 0]]},
             {"op": "elemwise_add", "name": "sum", "inputs": [[15, 0, 0], [15, 1, 0]]},
             _var("fc_weight"), _var("fc_bias"),
             {"op": "FullyConnected", "name": "fc", "attrs": {"num_hidden": "3"},
              "inputs": [[16, 0, 0], [17, 0, 0], [18, 0, 0]]},
             {"op": "softmax", "name": "sm", "attrs": {"axis": "-1"}, "inputs": [[19, 0, 0]]}]
    rng = np.random.default_rng(0)
    shapes = {"c_weight": (4, 3, 3, 3), "c_bias": (4,), "bn_gamma": (4,), "bn_beta": (4,),
              "bn_running_mean": (4,), "bn_running_var": (4,), "pr_alpha": (4,), "fc_weight": (3, 18),
              "fc_bias": (3,)}
    arrays = {k: rng.standard_normal(s).astype(np.float32) for k, s in shapes.items()}
    arrays["bn_running_var"] = np.abs(arrays["bn_running_var"]) + 0.5
    symbol, params = str(tmp_path / "net-symbol.json"), str(tmp_path / "net-0000.params")
    with open(symbol, "w") as f:
        json.dump(_symbol(nodes, [[20, 0, 0], [15, 1, 0]]), f)
    # bare names (as Gluon's save_parameters writes them), arg:/aux: for the BatchNorm's (as export() does)
    named = {(("aux:" if "running" in k else "arg:") + k if k.startswith("bn") else k): v for k, v in arrays.items()}
    with open(params, "wb") as f:
        f.write(encode_params(named))
    return symbol, params, arrays


def _gluon_reference(x: torch.Tensor, arrays: dict) -> list[torch.Tensor]:
    t = {k: torch.from_numpy(v) for k, v in arrays.items()}
    y = F.conv2d(x, t["c_weight"], t["c_bias"], padding=1)
    y = F.batch_norm(y, t["bn_running_mean"], t["bn_running_var"], None, t["bn_beta"], eps=1e-5)  # gamma fixed
    y = 1.0 - F.prelu(y, t["pr_alpha"]) * 0.5
    y = F.avg_pool2d(y, 3, 2, ceil_mode=True).reshape(1, 2, 2, 9)
    first, second = y[:, 0], y[:, 1]
    return [torch.softmax(F.linear((first + second).reshape(1, 18), t["fc_weight"], t["fc_bias"]), -1), second]


def test_gluon_style_symbol(tmp_path):
    symbol, params, arrays = _gluon_style(tmp_path)
    assert is_mxnet_symbol(symbol)
    with pytest.raises(IrcError, match="input data has no shape"):
        import_mxnet(symbol, weights=params)
    module = import_mxnet(symbol, weights=params, shapes={"data": (1, 3, 7, 7)})
    assert [a.type.shape for a in module.main.args] == [(1, 3, 7, 7)]
    kinds = {op.name for op in module.main.ops}
    assert {"nn.conv2d", "nn.batch_norm", "nn.avg_pool2d", "nn.split", "nn.squeeze", "nn.flatten",
            "nn.linear", "nn.softmax"} <= kinds
    x = _input((1, 3, 7, 7))
    with torch.no_grad():
        refs, ours = _gluon_reference(x, arrays), _outputs(Executor(module)(x))
    for ref, got in zip(refs, ours, strict=True):
        verdict = compare(ref, got, "pass")
        assert verdict.ok, verdict.line("gluon-style")


def test_import_lists_every_unsupported_node_at_once(tmp_path):
    nodes = [_var("data", __shape__="(1, 3, 8, 8)"),
             {"op": "ROIPooling", "name": "roi", "attrs": {}, "inputs": [[0, 0, 0]]},
             {"op": "Activation", "name": "act", "attrs": {"act_type": "mish"}, "inputs": [[0, 0, 0]]},
             {"op": "Pooling", "name": "lp", "attrs": {"kernel": "(2, 2)", "pool_type": "lp"}, "inputs": [[0, 0, 0]]},
             {"op": "Pooling", "name": "lp2", "attrs": {"kernel": "(2, 2)", "pool_type": "lp"}, "inputs": [[0, 0, 0]]},
             {"op": "relu", "name": "after", "inputs": [[1, 0, 0]]}]
    path = tmp_path / "bad-symbol.json"
    path.write_text(json.dumps(_symbol(nodes, [[5, 0, 0], [2, 0, 0], [3, 0, 0], [4, 0, 0]])))
    with pytest.raises(IrcError) as info:
        import_mxnet(str(path))
    message = str(info.value)
    assert "3 unsupported ops (4 nodes)" in message, message
    for part in ("ROIPooling x1: no irc mapping", "act_type mish", "pool_type lp (only max and avg)", "node lp2"):
        assert part in message
    assert "after" not in message  # reads a failed node: reported once, at its root


def test_import_errors(tmp_path):
    nodes = [_var("data"), _var("w"), {"op": "FullyConnected", "name": "fc", "attrs": {"num_hidden": "2"},
                                       "inputs": [[0, 0, 0], [1, 0, 0]]}]
    path = tmp_path / "fc-symbol.json"
    path.write_text(json.dumps(_symbol(nodes, [[2, 0, 0]])))
    with pytest.raises(IrcError, match=r"input data has no shape"):
        import_mxnet(str(path), shapes={"w": (2, 4)})
    with pytest.raises(IrcError, match=r"input w has no shape \(a weight\? pass the .params file"):
        import_mxnet(str(path), shapes={"data": (1, 4)})
    (tmp_path / "broken-symbol.json").write_text("{not json")
    with pytest.raises(IrcError, match="not a JSON symbol"):
        import_mxnet(str(tmp_path / "broken-symbol.json"))
    (tmp_path / "bad.params").write_bytes(b"\x12\x01" + b"\0" * 6)
    with pytest.raises(IrcError, match="truncated"):
        import_mxnet(str(path), weights=str(tmp_path / "bad.params"))


def test_irc_import_and_emit_command_line(tmp_path):
    from irc.tools.irc_emit import main as emit_main
    from irc.tools.irc_import import main as import_main

    _, module, _ = _seed_module("mobilenet_v1")
    emit_mxnet(module, str(tmp_path / "m"))
    symbol, params = str(tmp_path / "m" / "model-symbol.json"), str(tmp_path / "m" / "model-0000.params")
    ir_path = str(tmp_path / "m.ir")
    assert import_main([symbol, "--weights", params, "-o", ir_path, "-q"]) == 0
    assert emit_main([ir_path, "--target", "mxnet", "-o", str(tmp_path / "again"), "-q"]) == 0
    assert sorted(os.listdir(tmp_path / "again")) == ["model-0000.params", "model-symbol.json"]
    assert import_main([symbol, "-o", str(tmp_path / "x.ir"), "-q"]) == 1  # no --weights


def test_runtime_needs_an_mxnet_python(tmp_path, monkeypatch):
    from irc.runtimes.mxnet import MxnetRuntime

    _, module, shape = _seed_module("mobilenet_v1")
    emit_mxnet(module, str(tmp_path / "m"))
    runtime = MxnetRuntime(str(tmp_path / "m"))
    assert [t.shape for t in runtime.input_types] == [shape]
    assert runtime.output_names == [module.main.outputs[0].name]
    monkeypatch.setenv("IRC_MXNET_PYTHON", str(tmp_path / "no-such-python"))
    with pytest.raises(IrcError, match="IRC_MXNET_PYTHON=.*no such program.*numpy 1.23.5"):
        runtime(_input(shape))
    fake = tmp_path / "bin"
    fake.mkdir()
    (fake / "python3").write_text("#!/bin/sh\nexit 1\n")  # a python3 that cannot import mxnet
    (fake / "python3").chmod(0o755)
    monkeypatch.delenv("IRC_MXNET_PYTHON")
    monkeypatch.setenv("PATH", f"{fake}{os.pathsep}{os.environ['PATH']}")
    with pytest.raises(IrcError, match="needs a Python that imports mxnet.*set IRC_MXNET_PYTHON"):
        runtime(_input(shape))


# ----------------------------------------------------------------------------- in MXNet 1.9.1 itself (slow)


@pytest.fixture()
def mxnet_python(monkeypatch):
    from framework_envs import env_python

    python = env_python("mxnet")
    monkeypatch.setenv("IRC_MXNET_PYTHON", python)
    return python


@pytest.mark.slow
def test_models_in_mxnet(tmp_path, mxnet_python):
    """Every seed model and op-level model, emitted by irc, run by MXNet 1.9.1 in one subprocess."""
    from irc.runtimes.mxnet import read_outputs, run_cases

    cases, expected = [], {}
    for name in SEED_MODELS + sorted(OP_MODELS):
        if name in OP_MODELS:
            model, module, inputs = _op_case(name)
        else:
            model, module, shape = _seed_module(name)
            inputs = [_input(shape)]
        out = str(tmp_path / name)
        emit_mxnet(module, out)
        np.savez(os.path.join(out, "inputs.npz"), **{a.name: x.numpy() for a, x in zip(module.main.args, inputs,
                                                                                       strict=True)})
        cases.append({"symbol": os.path.join(out, "model-symbol.json"), "params": os.path.join(out, "model-0000.params"),
                      "inputs": os.path.join(out, "inputs.npz"), "outputs": os.path.join(out, "outputs.npz"),
                      "internals": None})
        with torch.no_grad():
            expected[name] = (out, _outputs(model(*inputs)))
    run_cases(cases)
    for name, (out, refs) in expected.items():
        got = read_outputs(os.path.join(out, "outputs.npz"))
        assert len(got) == len(refs), name
        worst = 0.0
        for ref, (_, arr) in zip(refs, got, strict=True):
            verdict = compare(ref, arr, "pass")
            assert verdict.ok, verdict.line(f"{name} in MXNet")
            worst = max(worst, verdict.max_abs)
        print(f"{name}: torch vs MXNet 1.9.1 max|d| = {worst:.3g}")


@pytest.mark.slow
def test_gluon_style_symbol_in_mxnet(tmp_path, mxnet_python):
    """The Gluon-style symbol: irc's import (run by the executor) against MXNet on the same files."""
    from irc.runtimes.mxnet import MxnetRuntime

    symbol, params, _ = _gluon_style(tmp_path)
    module = import_mxnet(symbol, weights=params, shapes={"data": (1, 3, 7, 7)})
    x = _input((1, 3, 7, 7))
    runtime = MxnetRuntime(symbol, module=module, weights=params)
    theirs = runtime(x)
    with torch.no_grad():
        ours = _outputs(Executor(module)(x))
    for ref, got in zip(theirs, ours, strict=True):
        verdict = compare(ref, got, "pass")
        assert verdict.ok, verdict.line("gluon-style")


def _break_weight(params: str, name: str, factor: float = 1.05) -> None:
    arrays = load_params(params)
    arrays[f"arg:{name}"] = arrays[f"arg:{name}"] * factor
    with open(params, "wb") as f:
        f.write(encode_params(arrays))


@pytest.mark.slow
def test_bisect_through_mxnet_names_the_broken_layer(tmp_path, mxnet_python):
    from irc.bisect import IrRuntime, run_bisect
    from irc.runtimes.mxnet import MxnetRuntime

    _, module, _ = _seed_module("resnet50")
    out = str(tmp_path / "r")
    emit_mxnet(module, out)
    clean = run_bisect(module, IrRuntime(module), MxnetRuntime(out, module), "pass", "MXNet")
    assert clean.culprit is None and clean.compared > 60
    _break_weight(os.path.join(out, "model-0000.params"), "layer2.0.conv1_weight")
    broken = run_bisect(module, IrRuntime(module), MxnetRuntime(out, module), "pass", "MXNet")
    assert broken.culprit is not None and broken.culprit.name == "layer2.0.conv1"
    assert broken.culprit.op.name == "nn.conv2d"


@pytest.mark.slow
def test_gluon_export_read_back(tmp_path, mxnet_python):
    """A Gluon network exported by MXNet itself (tests/envs/mxnet_gluon.py): irc's import matches MXNet's own
    outputs, and bisecting the source through its node names finds no divergence."""
    from framework_envs import run_script

    from irc.bisect import IrRuntime, run_bisect
    from irc.frontend.mxnet import open_importer
    from irc.runtimes.mxnet import MxnetRuntime

    prefix = str(tmp_path / "net")
    run_script("mxnet", "mxnet_gluon.py", prefix)
    symbol, params = prefix + "-symbol.json", prefix + "-0000.params"
    assert is_mxnet_symbol(symbol)
    importer = open_importer(symbol, params, shapes={"data": (1, 3, 11, 11)})
    module = importer.run()
    data = np.load(prefix + "-outputs.npz")
    with torch.no_grad():
        ours = _outputs(Executor(module)(torch.from_numpy(data["x"])))
    assert len(ours) == 2
    for i, got in enumerate(ours):
        verdict = compare(data[f"o{i}"], got, "pass")
        assert verdict.ok, verdict.line(f"Gluon output {i}")
    runtime = MxnetRuntime(symbol, module=module, names=importer.source_names, weights=params)
    result = run_bisect(module, IrRuntime(module), runtime, "pass", "MXNet")
    assert result.culprit is None and result.compared >= 15
