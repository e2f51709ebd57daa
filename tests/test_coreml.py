"""CoreML both ways (issue 18 point 1): IR → .mlpackage (an ML program built with coremltools' MIL builder) and
.mlpackage → IR, on randomised weights and BatchNorm statistics.

Nothing runs a CoreML model on Linux (coremltools' predict needs macOS), so a package is checked by reading it
back: its MIL program → IR (irc.frontend.coreml) → irc's torch executor, against the torch model ("pass"; fp16
compute "f16"). The reader is checked apart from the writer on packages coremltools' own PyTorch converter
wrote. The packages are also inspected: the MIL ops expected (conv count, no casts at fp32, fp16 weights at
f16), the IR's input and output names, and the refusal of unsupported ops, all listed at once, nothing written.
"""

from __future__ import annotations

import logging
import os
import warnings
from collections import Counter

import numpy as np
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from helpers import randomize_
from models.zoo import ZOO

import irc
from irc.backend.coreml import build_program, emit_coreml, mil_name, unmapped_ops
from irc.backend.pytorch.executor import Executor
from irc.bisect import IrRuntime
from irc.fidelity import compare
from irc.frontend.coreml import import_coreml, is_coreml_package, load_program
from irc.frontend.torch import import_model
from irc.ir import IrcError, WeightStore
from irc.passes.manager import run_passes
from irc.runtimes.coreml import CoremlReadBack

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning", "ignore::FutureWarning",
                                        "ignore::DeprecationWarning")
logging.getLogger("coremltools").setLevel(logging.ERROR)

CLEAN = "canonicalize,fuse-bn,fold-constants,cse,dce"
SEEDS = ["vgg16", "inception_v3", "resnet50", "mobilenet_v1", "tiny_yolo_v2", "tiny_yolo_v3"]
F16_QUICK = {"resnet50", "mobilenet_v1", "tiny_yolo_v3"}


def seeded(*shape, seed=0):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed))


def as_list(out):
    return list(out) if isinstance(out, (list, tuple)) else [out]


def ir_of(model, size):
    module = import_model(model, [((3, size, size), "f32")], batch=1, structured=False)
    run_passes(module, CLEAN)
    return module


def mil_ops(path):
    return Counter(op.op_type for op in load_program(path).functions["main"].operations)


def read_back(path, x):
    return [o.float() for o in as_list(Executor(import_coreml(path))(x))]


def check_seed(name, build, size, tmp_path, weights):
    model = randomize_(build())
    x = seeded(1, 3, size, size)
    with torch.no_grad():
        ref = as_list(model(x))
    module = ir_of(model, size)
    path = os.path.join(str(tmp_path), f"{name}.mlpackage")
    res = emit_coreml(module, path, weights=weights)
    assert res["files"] == [path] and is_coreml_package(path)
    ops = mil_ops(path)
    assert ops["conv"] == sum(op.name == "nn.conv2d" for op in module.main.ops)
    assert (ops["cast"] == 0) == (weights == "f32")
    outs = read_back(path, x)
    assert len(outs) == len(ref)
    for r, o in zip(ref, outs, strict=True):
        verdict = compare(r, o, "pass" if weights == "f32" else "f16")
        print(f"{name} {weights}: max|d| = {verdict.max_abs:.3g}")
        assert verdict.ok, verdict


@pytest.mark.parametrize("name", SEEDS)
def test_seed_models_read_back(name, tmp_path):
    build, size = ZOO[name][0], ZOO[name][1]
    check_seed(name, build, size, tmp_path, "f32")
    if name in F16_QUICK:
        check_seed(name, build, size, tmp_path, "f16")


# full size for a representative few (the 20-minute budget of the whole suite); every seed model runs quick above
@pytest.mark.slow
@pytest.mark.parametrize("name, weights", [("resnet50", "f32"), ("resnet50", "f16"), ("inception_v3", "f32"),
                                           ("tiny_yolo_v3", "f32")])
def test_seed_models_full_size(name, weights, tmp_path):
    check_seed(name, ZOO[name][2], ZOO[name][3], tmp_path, weights)


# ----------------------------------------------------------------------------- every mapped op


class OpSoup(nn.Module):
    """Most ops the CoreML emitter maps, on small shapes."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1)
        self.gconv = nn.Conv2d(8, 8, 3, padding=2, dilation=2, groups=4)
        self.dw = nn.Conv2d(8, 8, 3, stride=2, padding=1, groups=8, bias=False)
        self.up = nn.ConvTranspose2d(8, 6, 3, stride=2, padding=1, output_padding=1)
        self.bn = nn.BatchNorm2d(6)
        self.gn = nn.GroupNorm(2, 6)
        self.ln = nn.LayerNorm(16)
        self.fc = nn.Linear(16, 5)
        self.head = nn.Linear(8, 4)
        self.scale = nn.Parameter(torch.randn(6, 1, 1))

    def forward(self, x):
        y = F.relu6(self.conv(x))
        y = F.hardswish(self.gconv(y)) + F.silu(y) * torch.sigmoid(y) - torch.tanh(y)
        y = F.elu(self.dw(y))
        y = self.bn(self.up(y))
        y = F.leaky_relu(self.gn(F.gelu(y)), 0.2) / (self.scale.abs() + 1)
        y = F.hardsigmoid(y) + F.gelu(y, approximate="tanh")
        p = F.avg_pool2d(y[:, :, 1:, 1:], 3, 2, 1, ceil_mode=True, count_include_pad=False)
        q = F.max_pool2d(y, 3, 2, 1)
        r = F.adaptive_avg_pool2d(y, 4) + F.adaptive_max_pool2d(y, 1) + F.avg_pool2d(y, 4)
        up = F.interpolate(p, scale_factor=2, mode="bilinear", align_corners=False)
        up2 = F.interpolate(q, size=(16, 16), mode="bilinear", align_corners=True)
        near = F.interpolate(r, scale_factor=4, mode="nearest")
        a, b = torch.split(torch.cat([up, up2, near], 1), [10, 8], 1)
        z = torch.clamp(a[:, 1:9, ::2, :], min=-0.5) + F.pad(b, (2, 1, 1, 0), mode="reflect")[:, :, 1::2, 1:-2]
        z = self.ln(z.permute(0, 1, 3, 2).reshape(1, 8, 8, 16))
        seq = self.fc(z)  # a rank-4 linear: matmul + add
        att = torch.softmax(seq @ seq.transpose(-1, -2), -1)
        flat = torch.flatten(att.mean(dim=(2,)), 1)[:, :8] + torch.log_softmax(att.sum(-1), -1)[:, 0]
        out = self.head(torch.clamp(flat, max=3.0)) + att.amax(dim=(1, 2)).unsqueeze(1)[:, :, :4]
        return out, F.softplus(att).squeeze(0)


def test_op_soup_round_trip(tmp_path):
    model = randomize_(OpSoup())
    x = seeded(1, 3, 16, 16, seed=1)
    with torch.no_grad():
        ref = model(x)
    module = ir_of(model, 16)
    kinds = {op.name for op in module.main.ops}
    for kind in ("conv_transpose2d", "group_norm", "layer_norm", "hardswish", "split", "pad", "upsample",
                 "adaptive_avg_pool2d", "adaptive_max_pool2d", "log_softmax", "softplus", "matmul", "reduce_max"):
        assert "nn." + kind in kinds
    path = os.path.join(str(tmp_path), "soup.mlpackage")
    emit_coreml(module, path)
    ops = mil_ops(path)
    assert ops["conv_transpose"] == 1 and ops["upsample_bilinear"] == 2 and ops["upsample_nearest_neighbor"] == 1
    for r, o in zip(ref, read_back(path, x), strict=True):
        verdict = compare(r, o, "pass")
        assert verdict.ok, verdict


T = "tensor<1x4x8x8xf32>"
B = "tensor<1x4x8x8xi1>"
MATH = f"""    %s = nn.sin(%x) : {T}
    %c = nn.cos(%x) : {T}
    %t = nn.tanh(%x) : {T}
    %as = nn.asin(%t) : {T}
    %ac = nn.acos(%t) : {T}
    %at = nn.atan(%x) : {T}
    %tn = nn.tan(%t) : {T}
    %fl = nn.floor(%x) : {T}
    %ce = nn.ceil(%x) : {T}
    %sg = nn.sign(%x) : {T}
    %g = nn.compare(%s, %c) {{predicate = "gt"}} : {B}
    %l = nn.compare(%fl, %as) {{predicate = "le"}} : {B}
    %e = nn.compare(%sg, %ce) {{predicate = "eq"}} : {B}
    %n = nn.logical_not(%g) : {B}
    %a = nn.logical_and(%n, %l) : {B}
    %o = nn.logical_or(%a, %e) : {B}
    %xo = nn.logical_xor(%o, %g) : {B}
    %w = nn.where(%xo, %ac, %at) : {T}
    %sum = nn.add(%w, %tn) : {T}
    %cs = nn.cumsum(%sum) {{axis = 3}} : {T}
    %tl = nn.tile(%cs) {{repeats = [1, 1, 2, 1]}} : tensor<1x4x16x8xf32>
    return %tl, %w, %xo : tensor<1x4x16x8xf32>, {T}, {B}"""


def test_math_logic_round_trip(tmp_path):
    module = _ir(MATH, result=f"(tensor<1x4x16x8xf32>, {T}, {B})")
    path = os.path.join(str(tmp_path), "math.mlpackage")
    emit_coreml(module, path)
    ops = mil_ops(path)
    assert ops["select"] == 1 and ops["cumsum"] == 1 and ops["logical_xor"] == 1 and ops["greater"] == 1
    x = seeded(1, 4, 8, 8, seed=4) * 2
    ref = Executor(module)(x)
    outs = [o.float() if o.is_floating_point() else o for o in Executor(import_coreml(path))(x)]
    assert 0 < int(ref[2].sum()) < ref[2].numel()  # the where picks from both sides
    assert torch.equal(ref[2].float(), outs[2])  # a CoreML output cannot be bool: coremltools casts it to fp32
    for r, o in zip(ref[:2], outs[:2], strict=True):
        assert compare(r, o, "pass").ok


# ----------------------------------------------------------------------------- what the package holds


def test_names_ops_and_precision(tmp_path):
    model = randomize_(ZOO["resnet50"][0]())
    module = ir_of(model, 32)
    f32, f16 = (os.path.join(str(tmp_path), f"r_{w}.mlpackage") for w in ("f32", "f16"))
    emit_coreml(module, f32)
    emit_coreml(module, f16, weights="f16")
    program = load_program(f32)
    main = program.functions["main"]
    assert list(main.inputs) == [mil_name(a.name) for a in module.main.args]
    assert [v.name for v in main.outputs] == [mil_name(v.name) for v in module.main.outputs]
    op_names = {op.name for op in main.operations}
    for op in module.main.ops:
        if op.name == "nn.conv2d":
            assert mil_name(op.result.name) in op_names  # layer1.0.conv1 -> layer1_0_conv1
    consts = [op.outputs[0] for op in main.operations if op.op_type == "const" and op.outputs[0].rank == 4]
    assert consts and all(np.asarray(v.val).dtype == np.float32 for v in consts)
    program16 = load_program(f16)
    consts16 = [op.outputs[0] for op in program16.functions["main"].operations
                if op.op_type == "const" and op.outputs[0].rank == 4]
    assert consts16 and all(np.asarray(v.val).dtype == np.float16 for v in consts16)
    weights = lambda p: os.path.getsize(os.path.join(p, "Data", "com.apple.CoreML", "weights", "weight.bin"))  # noqa: E731
    assert weights(f16) < 0.6 * weights(f32)
    back = import_coreml(f32)
    assert [a.name for a in back.main.args] == [mil_name(a.name) for a in module.main.args]
    assert "layer1_0_conv1_weight" in back.weights.keys()  # weights are nn.param keyed by their const's name


def test_read_back_runtime(tmp_path):
    model = randomize_(ZOO["mobilenet_v1"][0]())
    module = ir_of(model, 32)
    x = seeded(1, 3, 32, 32, seed=2)
    ref = Executor(module)(x)[0]
    for weights, rule in (("f32", "pass"), ("f16", "f16")):
        path = os.path.join(str(tmp_path), f"m_{weights}.mlpackage")
        emit_coreml(module, path, weights=weights)
        rt = CoremlReadBack(path, module=module)
        assert [t.shape for t in rt.input_types] == [a.type.shape for a in module.main.args]
        assert rt.output_names == [mil_name(v.name) for v in module.main.outputs]
        assert compare(ref, rt(x)[0], rule).ok and rt.precision == weights
        named = dict(rt.run_named([x]))
        convs = [op.result.name for op in module.main.ops if op.name == "nn.conv2d"]
        assert set(convs) <= set(named)  # IR names, through the sanitised (and fp16-suffixed) MIL names
        expected = dict(IrRuntime(module).run_named([x]))
        assert all(compare(expected[c], named[c], rule).ok for c in convs)
        wanted = dict(rt.run_named([x], want={convs[0]}))
        assert list(wanted) == [convs[0]]


# ----------------------------------------------------------------------------- coremltools' own converter


CT_QUICK = {"tiny_yolo_v3", "resnet50"}


@pytest.mark.parametrize("name", [n if n in CT_QUICK else pytest.param(n, marks=pytest.mark.slow) for n in SEEDS])
def test_reads_coremltools_torch_conversions(name, tmp_path):
    """The quick seed models as coremltools' own PyTorch converter writes them (its default passes: conv + BN
    fused, ...), read by irc and run by the executor, against torch."""
    import coremltools as ct

    build, size = ZOO[name][0], ZOO[name][1]
    model = randomize_(build())
    x = seeded(1, 3, size, size, seed=3)
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = as_list(model(x))
        traced = torch.jit.trace(model, x)
        ml = ct.convert(traced, inputs=[ct.TensorType(shape=tuple(x.shape), name="image")], convert_to="mlprogram",
                        compute_precision=ct.precision.FLOAT32, minimum_deployment_target=ct.target.iOS16)
    path = os.path.join(str(tmp_path), "ct.mlpackage")
    ml.save(path)
    module = import_coreml(path)
    assert [a.name for a in module.main.args] == ["image"]
    outs = as_list(Executor(module)(x))
    for r, o in zip(ref, outs, strict=True):
        verdict = compare(r, o, "pass")
        assert verdict.ok, verdict


# ----------------------------------------------------------------------------- errors


def _ir(body, args="%x: tensor<1x4x8x8xf32>", result="tensor<1x4x8x8xf32>", params=None):
    store = WeightStore()
    for key, arr in (params or {}).items():
        store.add(key, arr)
    return irc.parse(f"module @m {{\n  func @forward({args}) -> {result} {{\n{body}\n  }}\n}}\n", weights=store)


def test_unmapped_ops_listed_at_once(tmp_path):
    module = _ir("""    %a = nn.roll(%x) {shifts = [1], axes = [2]} : tensor<1x4x8x8xf32>
    %b = nn.relu(%a) : tensor<1x4x8x8xf32>
    %c = nn.roll(%b) {shifts = [2], axes = [3]} : tensor<1x4x8x8xf32>
    %d = nn.expand_like(%c, %x) {shape = [-1, -1, -1, -1], like_dims = [[0, 0]]} : tensor<1x4x8x8xf32>
    return %d : tensor<1x4x8x8xf32>""")
    path = os.path.join(str(tmp_path), "bad.mlpackage")
    with pytest.raises(IrcError) as info:
        emit_coreml(module, path)
    msg = str(info.value)
    assert "2 op kind(s) have no CoreML mapping" in msg and "nothing was written" in msg
    assert "nn.roll x2" in msg and "nn.expand_like x1" in msg
    assert "nn.roll x2: at %a (line 3), %c (line 5)" in msg and "nn.expand_like x1: at %d (line 6)" in msg
    assert not os.path.exists(path) and os.listdir(str(tmp_path)) == []
    assert "nn.roll" in unmapped_ops() and "nn.conv2d" not in unmapped_ops()


def test_refusals(tmp_path):
    module = _ir("    %y = nn.relu(%x) : tensor<1x4x8x8xf32>\n    return %y : tensor<1x4x8x8xf32>")
    with pytest.raises(IrcError, match="a directory named NAME.mlpackage"):
        emit_coreml(module, os.path.join(str(tmp_path), "m.coreml"))
    with pytest.raises(IrcError, match="f32 or f16"):
        emit_coreml(module, os.path.join(str(tmp_path), "m.mlpackage"), weights="i8")
    other = tmp_path / "stuff.mlpackage"
    other.mkdir()
    (other / "notes.txt").write_text("mine")
    with pytest.raises(IrcError, match="not an .mlpackage"):
        emit_coreml(module, str(other))
    assert (other / "notes.txt").read_text() == "mine"
    dynamic = _ir("    %y = nn.relu(%x) : tensor<?x4x8x8xf32>\n    return %y : tensor<?x4x8x8xf32>",
                  args="%x: tensor<?x4x8x8xf32>", result="tensor<?x4x8x8xf32>")
    with pytest.raises(IrcError, match="needs static shapes"):
        build_program(dynamic)
    pooled = _ir("    %y = nn.max_pool2d(%x) {kernel_size = [2, 2], stride = [1, 1], dilation = [2, 2]} "
                 ": tensor<1x4x6x6xf32>\n    return %y : tensor<1x4x6x6xf32>", result="tensor<1x4x6x6xf32>")
    with pytest.raises(IrcError, match="cannot emit %y = nn.max_pool2d as CoreML: .*no dilation"):
        build_program(pooled)


def test_overwrite_replaces_package_whole(tmp_path):
    path = os.path.join(str(tmp_path), "m.mlpackage")
    relu = _ir("    %y = nn.relu(%x) : tensor<1x4x8x8xf32>\n    return %y : tensor<1x4x8x8xf32>")
    tanh = _ir("    %y = nn.tanh(%x) : tensor<1x4x8x8xf32>\n    return %y : tensor<1x4x8x8xf32>")
    emit_coreml(relu, path)
    emit_coreml(tanh, path)
    assert mil_ops(path)["tanh"] == 1 and mil_ops(path)["relu"] == 0
    assert sorted(os.listdir(str(tmp_path))) == ["m.mlpackage"]  # no temporary left beside it


def test_sniffing_and_bad_files(tmp_path):
    path = os.path.join(str(tmp_path), "m.mlpackage")
    emit_coreml(_ir("    %y = nn.relu(%x) : tensor<1x4x8x8xf32>\n    return %y : tensor<1x4x8x8xf32>"), path)
    assert is_coreml_package(path) and is_coreml_package(path + "/")
    junk = tmp_path / "junk.mlmodel"
    junk.write_bytes(b"\xff\x00junk")
    empty = tmp_path / "empty.mlpackage"
    empty.mkdir()
    for p in (str(junk), str(empty), str(tmp_path / "missing"), str(tmp_path)):
        assert not is_coreml_package(p)
    with pytest.raises(IrcError, match="not a CoreML model"):
        import_coreml(str(empty))
    with pytest.raises(IrcError, match="no such file"):
        import_coreml(str(tmp_path / "missing.mlpackage"))


def test_unsupported_mil_ops_listed_at_once(tmp_path):
    import coremltools as ct
    from coremltools.converters.mil import Builder as mb

    @mb.program(input_specs=[mb.TensorSpec(shape=(1, 4, 8, 8))], opset_version=ct.target.iOS16)
    def prog(x):
        a = mb.round(x=x, name="c1")
        b = mb.relu(x=a, name="r")
        c = mb.round(x=b, name="c2")
        return mb.reduce_prod(x=c, axes=[1], name="s")

    path = os.path.join(str(tmp_path), "odd.mlpackage")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ct.convert(prog, convert_to="mlprogram", pass_pipeline=ct.PassPipeline.EMPTY,
                   minimum_deployment_target=ct.target.iOS16).save(path)
    with pytest.raises(IrcError) as info:
        import_coreml(path)
    msg = str(info.value)
    assert "2 unsupported ops (3 nodes)" in msg and "round x2" in msg and "reduce_prod x1" in msg
    assert "at op c1" in msg and "at op c2" in msg
