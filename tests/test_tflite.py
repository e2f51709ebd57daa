"""TFLite both ways, without TensorFlow, checked in LiteRT (ai-edge-litert) on randomised weights and BN statistics.

torch → IR → .tflite (channel-last through nchw-to-nhwc) for the seed models, MobileNet V2/V3, EfficientNet-B0 and
an LSTM classifier, against the torch model ("pass"; float16 weights "f16"); .tflite → IR → PyTorch against LiteRT
on files irc wrote and on a file built here with the flatbuffer object API the way TensorFlow's converter writes
them (TensorFlow is not installed: fused activations, SAME padding, RESHAPE with a shape tensor, FULLY_CONNECTED
without keep_num_dims, float16 weights behind DEQUANTIZE, a shrinking STRIDED_SLICE); quantised files refused.
"""

from __future__ import annotations

import os
import warnings

import numpy as np
import pytest
import torch
from helpers import randomize_
from models.recurrent import LSTMTextClassifier
from models.zoo import ZOO

import irc
from irc.backend.pytorch.executor import Executor
from irc.backend.tflite import emit_tflite, unmapped_ops
from irc.check import import_emitted
from irc.fidelity import compare
from irc.frontend.tflite import import_tflite, is_tflite_file
from irc.frontend.torch import import_model
from irc.ir import IrcError, WeightStore
from irc.passes.manager import run_passes
from irc.runtimes.tflite import TfliteRuntime

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")

CLEAN = "canonicalize,fuse-bn,fold-constants,cse,dce"
TO_NCHW = "nhwc-to-nchw{change-signature=true},canonicalize,fold-constants,cse,dce"
QUICK = ["vgg16", "inception_v3", "resnet50", "mobilenet_v1", "tiny_yolo_v2", "tiny_yolo_v3", "mobilenet_v2",
         "mobilenet_v3_large", "efficientnet_b0"]
ROUND_TRIP = {"resnet50", "mobilenet_v2", "tiny_yolo_v3", "efficientnet_b0"}


def schema():
    from ai_edge_litert import schema_py_generated

    return schema_py_generated


def seeded(*shape, seed=0):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed))


def nhwc(x):
    return x.permute(0, 2, 3, 1).contiguous() if x.dim() == 4 else x


def nchw(x):
    return x.permute(0, 3, 1, 2) if x.dim() == 4 else x


def as_list(out):
    return list(out) if isinstance(out, (list, tuple)) else [out]


def assert_close(refs, outs, rule="pass"):
    refs, outs = as_list(refs), as_list(outs)
    assert len(refs) == len(outs)
    worst = 0.0
    for ref, out in zip(refs, outs, strict=True):
        ref, out = torch.as_tensor(ref).detach().float(), torch.as_tensor(out).detach().float()
        assert ref.shape == out.shape, (ref.shape, out.shape)
        verdict = compare(ref, out, rule)
        assert verdict.ok, verdict
        worst = max(worst, verdict.max_abs)
    return worst


def torch_module(model, shape, dtype="f32", batch=1):
    module = import_model(model, [(shape, dtype)], batch=batch, structured=False)
    run_passes(module, CLEAN)
    return module


def check_round_trip(path, x_nhwc, tmp_path, emit=False):
    """.tflite → IR (nhwc) against LiteRT, then nhwc-to-nchw → executor (and emitted PyTorch) against it too."""
    ref = TfliteRuntime(path)(x_nhwc)
    module = import_tflite(path)
    worst = assert_close(ref, Executor(module)(x_nhwc))
    run_passes(module, TO_NCHW)
    x = nchw(x_nhwc).contiguous()
    worst = max(worst, assert_close([nchw(r) for r in ref], Executor(module)(x)))
    if emit:
        out_dir = os.path.join(str(tmp_path), "emitted")
        os.makedirs(out_dir, exist_ok=True)
        irc.emit_pytorch(module, out_dir)
        with torch.no_grad():
            worst = max(worst, assert_close([nchw(r) for r in ref], import_emitted(out_dir).load()(x)))
    return worst


# ----------------------------------------------------------------------------- torch → IR → .tflite


def _zoo_case(name, builder, size, tmp_path, weights=("f32", "f16")):
    model = randomize_(builder())
    module = torch_module(model, (3, size, size))
    x = seeded(1, 3, size, size)
    with torch.no_grad():
        ref = model(x)
    files = {}
    for wt in weights:
        path = os.path.join(str(tmp_path), f"{name}_{wt}.tflite")
        summary = emit_tflite(module, path, weights=wt)
        assert summary["files"] == [path] and is_tflite_file(path)
        outs = TfliteRuntime(path)(nhwc(x))
        worst = assert_close(ref, [nchw(o) for o in outs], "pass" if wt == "f32" else "f16")
        print(f"{name} {wt}: max|d| {worst:.3g} ({summary['detail']})")
        files[wt] = (path, summary)
    return files, x


@pytest.mark.parametrize("name", QUICK)
def test_torch_to_tflite(name, tmp_path):
    files, x = _zoo_case(name, ZOO[name][0], ZOO[name][1], tmp_path)
    kinds = files["f32"][1]["operator_kinds"]
    assert "TRANSPOSE" not in kinds, kinds  # channel-last all the way through
    assert files["f16"][1]["operator_kinds"].get("DEQUANTIZE", 0) > 0
    assert files["f16"][1]["bytes"] < 0.6 * files["f32"][1]["bytes"]
    if name in ROUND_TRIP:
        worst = check_round_trip(files["f32"][0], nhwc(x), tmp_path, emit=name == "mobilenet_v2")
        print(f"{name} .tflite -> IR -> PyTorch: max|d| {worst:.3g}")


# full size for a representative few (the 20-minute budget of the whole suite); every seed model runs quick above
@pytest.mark.slow
@pytest.mark.parametrize("name", ["resnet50", "inception_v3", "mobilenet_v2", "efficientnet_b0", "tiny_yolo_v3"])
def test_torch_to_tflite_full(name, tmp_path):
    _zoo_case(name, ZOO[name][2], ZOO[name][3], tmp_path)


def test_fused_activations_and_depthwise(tmp_path):
    files, _ = _zoo_case("mobilenet_v2", ZOO["mobilenet_v2"][0], 32, tmp_path, weights=("f32",))
    kinds = files["f32"][1]["operator_kinds"]
    assert kinds.get("DEPTHWISE_CONV_2D", 0) > 0 and "RELU6" not in kinds  # every clamp(0, 6) fused
    model = schema().ModelT.InitFromPackedBuf(bytearray(open(files["f32"][0], "rb").read()), 0)
    fused = [o.builtinOptions.fusedActivationFunction for o in model.subgraphs[0].operators
             if o.builtinOptionsType == schema().BuiltinOptions.DepthwiseConv2DOptions]
    assert set(fused) == {schema().ActivationFunctionType.RELU6}


class LayerZoo(torch.nn.Module):
    """Ops the seed models leave out: ELU, split, hardsigmoid, SiLU, leaky ReLU, an unfused BatchNorm, reflect
    padding, a cropped ConvTranspose2d, bilinear upsampling, a grouped conv, padded pools, LayerNorm, GELU(tanh),
    matmuls, softmax, log_softmax, reductions, unsqueeze/squeeze."""

    def __init__(self):
        super().__init__()
        nn = torch.nn
        self.c1 = nn.Conv2d(3, 8, 3, stride=2, padding=1)
        self.bn = nn.BatchNorm2d(16)
        self.up = nn.ConvTranspose2d(16, 4, 4, stride=2, padding=1)
        self.g = nn.Conv2d(4, 8, 3, padding=1, groups=2)
        self.ln = nn.LayerNorm(8)
        self.fc = nn.Linear(8, 6)

    def forward(self, x):
        F = torch.nn.functional
        y = F.elu(self.c1(x))
        a, b = torch.split(y, [3, 5], dim=1)
        y = self.bn(torch.cat([F.hardsigmoid(a) * 2, F.silu(b), F.leaky_relu(y, 0.2)], 1))
        y = self.up(F.pad(y, (1, 1, 1, 1), mode="reflect"))[:, :, 1:-1, 1:-1]
        y = self.g(F.interpolate(y, scale_factor=2, mode="bilinear", align_corners=False))
        y = F.avg_pool2d(F.max_pool2d(y, 3, 2, 1), 3, 2, 1)
        t = F.gelu(self.fc(self.ln(y.flatten(2).transpose(1, 2))), approximate="tanh")
        att = torch.softmax(t @ t.transpose(1, 2), -1)
        return (att @ t).sum(1), torch.log_softmax(t.amax(1), -1), torch.sigmoid(t.unsqueeze(1)).squeeze(1)


def test_layer_zoo(tmp_path):
    model = randomize_(LayerZoo())
    module = torch_module(model, (3, 32, 32))
    x = seeded(1, 3, 32, 32)
    with torch.no_grad():
        ref = model(x)
    path = os.path.join(str(tmp_path), "zoo.tflite")
    summary = emit_tflite(module, path)
    for kind in ("ELU", "SPLIT_V", "MIRROR_PAD", "TRANSPOSE_CONV", "RESIZE_BILINEAR", "PADV2", "GELU",
                 "BATCH_MATMUL", "LOG_SOFTMAX", "RSQRT", "REDUCE_MAX"):
        assert kind in summary["operator_kinds"], kind
    worst = assert_close(ref, TfliteRuntime(path)(nhwc(x)))
    print(f"layer zoo: max|d| {worst:.3g}")
    worst = check_round_trip(path, nhwc(x), tmp_path)
    print(f"layer zoo .tflite -> IR -> PyTorch: max|d| {worst:.3g}")


def test_lstm_classifier(tmp_path):
    model = randomize_(LSTMTextClassifier())
    module = torch_module(model, (7,), "i64")
    ids = torch.randint(0, 50, (1, 7), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        ref = model(ids)
    for wt in ("f32", "f16"):
        path = os.path.join(str(tmp_path), f"lstm_{wt}.tflite")
        summary = emit_tflite(module, path, weights=wt)
        assert summary["operator_kinds"]["UNIDIRECTIONAL_SEQUENCE_LSTM"] == 4  # 2 layers x 2 directions
        worst = assert_close(ref, TfliteRuntime(path)(ids), "pass" if wt == "f32" else "f16")
        print(f"LSTM classifier {wt}: max|d| {worst:.3g}")
    back = import_tflite(os.path.join(str(tmp_path), "lstm_f32.tflite"))
    worst = assert_close(TfliteRuntime(os.path.join(str(tmp_path), "lstm_f32.tflite"))(ids), Executor(back)(ids))
    print(f"LSTM classifier .tflite -> IR: max|d| {worst:.3g}")


def test_dynamic_batch_signature_and_names(tmp_path):
    model = randomize_(ZOO["mobilenet_v1"][0]())
    module = torch_module(model, (3, 32, 32), batch="dynamic")
    path = os.path.join(str(tmp_path), "m.tflite")
    before = irc.print(module)
    emit_tflite(module, path)
    assert irc.print(module) == before  # made channel-last on a copy
    runtime = TfliteRuntime(path)
    assert runtime.input_types[0].shape == (None, 32, 32, 3)
    x = seeded(3, 3, 32, 32)
    with torch.no_grad():
        ref = model(x)
    assert_close(ref, runtime(nhwc(x)))
    from ai_edge_litert.interpreter import Interpreter

    sig = Interpreter(model_path=path).get_signature_list()["serving_default"]
    assert sig["inputs"] == [a.name for a in module.main.args]
    assert sig["outputs"] == [v.name for v in module.main.outputs]


def test_run_named_yields_ir_values(tmp_path):
    """Tensors are named after IR values: run_named's values agree with the IR executor's, no map needed."""
    from irc.backend.tflite.writer import channels_last
    from irc.bisect import IrRuntime

    model = randomize_(ZOO["resnet50"][0]())
    module = torch_module(model, (3, 32, 32))
    path = os.path.join(str(tmp_path), "r.tflite")
    emit_tflite(module, path)
    x = nhwc(seeded(1, 3, 32, 32))
    for reference in (channels_last(module), import_tflite(path)):  # what irc wrote, what it reads back
        with torch.no_grad():
            ref = dict(IrRuntime(reference).run_named([x]))
        got = dict(TfliteRuntime(path, module=reference).run_named([x]))
        assert set(got) <= {v.name for v in reference.main.values()}
        common = set(got) & set(ref)
        assert len(common) > 20, sorted(got)
        for name in common:
            assert_close(ref[name], got[name])
        assert {v.name for v in module.main.values()} & common  # the source IR's own names, too
    want = set(sorted(common)[:3])
    assert set(dict(TfliteRuntime(path).run_named([x], want))) == want


# ----------------------------------------------------------------------------- errors of the emitter


def _nhwc_ir(body, args="%x: tensor<1x8x8x4xf32>", result="tensor<1x8x8x4xf32>", params=None):
    store = WeightStore()
    for key, arr in (params or {}).items():
        store.add(key, arr)
    return irc.parse(f"module @m {{\n  func @forward({args}) -> {result} {{\n{body}\n  }}\n}}\n", weights=store)


def test_unmapped_ops_listed_at_once(tmp_path):
    module = _nhwc_ir("""    %a = nn.erf(%x) : tensor<1x8x8x4xf32>
    %b = nn.softplus(%a) : tensor<1x8x8x4xf32>
    %c = nn.erf(%b) : tensor<1x8x8x4xf32>
    return %c : tensor<1x8x8x4xf32>""")
    path = os.path.join(str(tmp_path), "bad.tflite")
    with pytest.raises(IrcError) as info:
        emit_tflite(module, path)
    msg = str(info.value)
    assert "2 op kind(s) have no TFLite mapping" in msg and "nothing was written" in msg
    assert "nn.erf x2" in msg and "nn.softplus x1" in msg
    assert "nn.erf x2: at %a (line 3), %c (line 5)" in msg and "nn.softplus x1: at %b (line 4)" in msg
    assert not os.path.exists(path)
    assert "nn.erf" in unmapped_ops() and "nn.conv2d" not in unmapped_ops()


@pytest.mark.parametrize("body, result, needle", [
    ("%y = nn.softmax(%x) {axis = 1} : tensor<1x8x8x4xf32>", "tensor<1x8x8x4xf32>", "last axis only"),
    ("%y = nn.elu(%x) {alpha = 0.5} : tensor<1x8x8x4xf32>", "tensor<1x8x8x4xf32>", "alpha 1 only"),
    ("%y = nn.pad(%x) {pads = [[0, 0], [2, 2], [2, 2], [0, 0]], mode = \"replicate\"} : tensor<1x12x12x4xf32>",
     "tensor<1x12x12x4xf32>", "pad mode 'replicate'"),
    ("%y = nn.adaptive_avg_pool2d(%x) {output_size = [3, 3], layout = \"nhwc\"} : tensor<1x3x3x4xf32>",
     "tensor<1x3x3x4xf32>", "bins of unequal size"),
    ("%y = nn.max_pool2d(%x) {kernel_size = [2, 2], stride = [1, 1], dilation = [2, 2], layout = \"nhwc\"} "
     ": tensor<1x6x6x4xf32>", "tensor<1x6x6x4xf32>", "no dilation"),
    ("%y = nn.avg_pool2d(%x) {kernel_size = [3, 3], stride = [2, 2], padding = [[1, 1], [1, 1]], "
     "count_include_pad = false, layout = \"nhwc\"} : tensor<1x4x4x4xf32>", "tensor<1x4x4x4xf32>",
     "needs TensorFlow's SAME padding"),
])
def test_emit_errors(body, result, needle, tmp_path):
    module = _nhwc_ir(f"    {body}\n    return %y : {result}", result=result)
    with pytest.raises(IrcError, match="cannot emit %y") as info:
        emit_tflite(module, os.path.join(str(tmp_path), "e.tflite"))
    assert needle in str(info.value)


CONV = 'stride = [1, 1], padding = [[1, 1], [1, 1]], dilation = [1, 1], groups = 1, layout = "nhwc"'
LSTM = "hidden_size = 2, num_layers = 1, bidirectional = false, batch_first = true, bias = false"
W = {"w": np.ones((3, 3, 4, 4), np.float32), "g": np.ones((3, 3, 2, 4), np.float32),
     "s": np.ones(4, np.float32), "ih": np.ones((8, 4), np.float32), "hh": np.ones((8, 2), np.float32)}


@pytest.mark.parametrize("args, body, result, needle", [
    ("%x: tensor<1x8x8x4xf32>", f"""%w = nn.param() {{key = "w"}} : tensor<3x3x4x4xf32>
    %v = nn.neg(%w) : tensor<3x3x4x4xf32>
    %y = nn.conv2d(%x, %v) {{{CONV}}} : tensor<1x8x8x4xf32>""", "tensor<1x8x8x4xf32>", "%v must be a constant"),
    ("%x: tensor<1x?x?x4xf32>", f"""%w = nn.param() {{key = "w"}} : tensor<3x3x4x4xf32>
    %y = nn.conv2d(%x, %w) {{{CONV.replace("stride = [1, 1]", "stride = [2, 2]")}}} : tensor<1x?x?x4xf32>""",
     "tensor<1x?x?x4xf32>", "neither TensorFlow's SAME nor VALID"),
    ("%x: tensor<1x4x4x4xf32>", """%w = nn.param() {key = "g"} : tensor<3x3x2x4xf32>
    %y = nn.conv_transpose2d(%x, %w) {stride = [2, 2], padding = [[0, 0], [0, 0]], dilation = [1, 1], groups = 2, layout = "nhwc"} : tensor<1x9x9x4xf32>""",
     "tensor<1x9x9x4xf32>", "no groups or dilation"),
    ("%x: tensor<1x4x4x4xf32>", """%w = nn.param() {key = "w"} : tensor<3x3x4x4xf32>
    %y = nn.conv_transpose2d(%x, %w) {stride = [2, 2], padding = [[0, 0], [0, 0]], dilation = [1, 1], groups = 1, """
     """output_padding = [1, 1], layout = "nhwc"} """
     """: tensor<1x10x10x4xf32>""", "tensor<1x10x10x4xf32>", "output_padding beyond"),
    ("%x: tensor<1x8x8x4xf32>", """%s = nn.param() {key = "s"} : tensor<4xf32>
    %t = nn.neg(%s) : tensor<4xf32>
    %y = nn.batch_norm(%x, %t, %s, %s, %s) {epsilon = 0.001, layout = "nhwc"} : tensor<1x8x8x4xf32>""", "tensor<1x8x8x4xf32>",
     "constant weights and statistics"),
    ("%x: tensor<1x5x4xf32>, %h: tensor<1x1x2xf32>, %c: tensor<1x1x2xf32>", f"""%ih = nn.param() {{key = "ih"}} : tensor<8x4xf32>
    %hh = nn.param() {{key = "hh"}} : tensor<8x2xf32>
    %y, %hn, %cn = nn.lstm(%x, %ih, %hh, %h, %c) {{{LSTM}}} : tensor<1x5x2xf32>, tensor<1x1x2xf32>, tensor<1x1x2xf32>""",
     "tensor<1x5x2xf32>", "initial states (h0, c0) are not supported"),
    ("%x: tensor<?x5x4xf32>", f"""%ih = nn.param() {{key = "ih"}} : tensor<8x4xf32>
    %hh = nn.param() {{key = "hh"}} : tensor<8x2xf32>
    %y, %hn, %cn = nn.lstm(%x, %ih, %hh) {{{LSTM}}} : tensor<?x5x2xf32>, tensor<1x?x2xf32>, tensor<1x?x2xf32>""",
     "tensor<?x5x2xf32>", "static batch size"),
    ("%x: tensor<1x5x4xf32>", f"""%ih = nn.param() {{key = "ih"}} : tensor<8x4xf32>
    %hh = nn.param() {{key = "hh"}} : tensor<8x2xf32>
    %ik = nn.neg(%ih) : tensor<8x4xf32>
    %y, %hn, %cn = nn.lstm(%x, %ik, %hh) {{{LSTM}}} : tensor<1x5x2xf32>, tensor<1x1x2xf32>, tensor<1x1x2xf32>""",
     "tensor<1x5x2xf32>", "LSTM weights must be constants"),
    ("%x: tensor<?x1xf32>", "%y = nn.expand(%x) {shape = [-1, 4]} : tensor<?x4xf32>", "tensor<?x4xf32>",
     "expand to a dynamic shape"),
    ("%x: tensor<1x4xbf16>", "%y = nn.relu(%x) : tensor<1x4xbf16>", "tensor<1x4xbf16>", "does not write bf16"),
])
def test_emit_errors_with_params(args, body, result, needle, tmp_path):
    module = _nhwc_ir(f"    {body}\n    return %y : {result}", args=args, result=result, params=W)
    path = os.path.join(str(tmp_path), "e.tflite")
    with pytest.raises(IrcError) as info:
        emit_tflite(module, path)
    assert needle in str(info.value) and not os.path.exists(path)


def test_channel_first_left_is_refused(tmp_path, monkeypatch):
    from irc.backend.tflite import writer

    monkeypatch.setattr(writer, "CHANNELS_LAST", "canonicalize")  # a layout pass that converts nothing
    module = torch_module(torch.nn.Conv2d(3, 4, 3), (3, 8, 8))
    with pytest.raises(IrcError, match="1 op\\(s\\) stayed channel-first after nchw-to-nhwc"):
        emit_tflite(module, os.path.join(str(tmp_path), "c.tflite"))


def test_emit_errors_of_shapes_and_recurrence(tmp_path):
    dyn = _nhwc_ir("    %y = nn.reshape(%x) {shape = [-1, 0]} : tensor<?x?xf32>\n    return %y : tensor<?x?xf32>",
                   args="%x: tensor<?x?xf32>", result="tensor<?x?xf32>")
    with pytest.raises(IrcError, match="more than one dynamic dimension"):
        emit_tflite(dyn, os.path.join(str(tmp_path), "a.tflite"))
    up = _nhwc_ir("    %y = nn.upsample(%x) {scales = [2.0, 2.0], layout = \"nhwc\"} : tensor<1x?x?x4xf32>\n"
                  "    return %y : tensor<1x?x?x4xf32>", args="%x: tensor<1x?x?x4xf32>", result="tensor<1x?x?x4xf32>")
    with pytest.raises(IrcError, match="dynamic size"):
        emit_tflite(up, os.path.join(str(tmp_path), "b.tflite"))
    lstm = torch_module(torch.nn.LSTM(4, 6, batch_first=True), (5, 4))
    with pytest.raises(IrcError, match="c_n is read"):
        emit_tflite(lstm, os.path.join(str(tmp_path), "c.tflite"))


def test_emit_options_and_overwrite(tmp_path):
    module = _nhwc_ir("    %y = nn.relu(%x) : tensor<1x8x8x4xf32>\n    return %y : tensor<1x8x8x4xf32>")
    path = os.path.join(str(tmp_path), "r.tflite")
    with pytest.raises(IrcError, match="weights must be 'f32' or 'f16'"):
        emit_tflite(module, path, weights="f8")
    with pytest.raises(IrcError, match="takes no option opset"):
        emit_tflite(module, path, opset=3)
    src = os.path.join(str(tmp_path), "m.ir")
    with open(src, "w") as f:
        f.write(irc.print(module))
    module.path = src
    with pytest.raises(IrcError, match="refusing to overwrite the input file"):
        emit_tflite(module, src)
    assert not os.path.exists(path)


# ----------------------------------------------------------------------------- files not written by irc


class Builder:
    """A .tflite written with the flatbuffer object API, tensor by tensor, as TensorFlow's converter lays it out."""

    def __init__(self):
        s = self.s = schema()
        self.tensors, self.buffers, self.ops, self.codes = [], [s.BufferT()], [], []

    def tensor(self, name, shape, data=None, dtype="FLOAT32", quant=None, signature=None):
        s = self.s
        t = s.TensorT()
        t.name, t.shape, t.type = name, list(shape), getattr(s.TensorType, dtype)
        if signature is not None:
            t.shapeSignature = list(signature)
        t.buffer = 0
        if data is not None:
            buf = s.BufferT()
            buf.data = np.frombuffer(np.ascontiguousarray(data).tobytes(), np.uint8)
            self.buffers.append(buf)
            t.buffer = len(self.buffers) - 1
        if quant is not None:
            q = s.QuantizationParametersT()
            q.scale, q.zeroPoint = [quant[0]], [quant[1]]
            t.quantization = q
        self.tensors.append(t)
        return len(self.tensors) - 1

    def op(self, builtin, ins, outs, options=None, **fields):
        s = self.s
        code = getattr(s.BuiltinOperator, builtin)
        if code not in self.codes:
            self.codes.append(code)
        o = s.OperatorT()
        o.opcodeIndex, o.inputs, o.outputs = self.codes.index(code), list(ins), list(outs)
        if options is not None:
            table = getattr(s, options + "T")()
            for k, v in fields.items():
                setattr(table, k, v)
            o.builtinOptionsType, o.builtinOptions = getattr(s.BuiltinOptions, options), table
        self.ops.append(o)

    def save(self, path, inputs, outputs):
        import flatbuffers

        s = self.s
        sub = s.SubGraphT()
        sub.tensors, sub.inputs, sub.outputs, sub.operators, sub.name = self.tensors, inputs, outputs, self.ops, "main"
        model = s.ModelT()
        model.version, model.description, model.subgraphs, model.buffers = 3, "MLIR Converted.", [sub], self.buffers
        model.operatorCodes = []
        for code in self.codes:
            oc = s.OperatorCodeT()
            oc.builtinCode, oc.deprecatedBuiltinCode, oc.version = code, min(code, 127), 1
            model.operatorCodes.append(oc)
        b = flatbuffers.Builder(1024)
        b.Finish(model.Pack(b), file_identifier=b"TFL3")
        with open(path, "wb") as f:
            f.write(b.Output())
        return path


def tf_style_model(path, rng):
    """A small CNN in TensorFlow's style: names like 'model/conv/Relu6', fused activations, SAME padding,
    a DEPTHWISE_CONV_2D, TRANSPOSE_CONV, RESIZE_BILINEAR with half-pixel centers, float16 weights behind
    DEQUANTIZE, RESHAPE with a shape tensor, FULLY_CONNECTED without keep_num_dims, a shrinking STRIDED_SLICE."""
    b = Builder()
    s = b.s
    w = lambda *shape: (rng.standard_normal(shape) * 0.3).astype(np.float32)  # noqa: E731
    act = s.ActivationFunctionType
    x = b.tensor("serving_default_input:0", [1, 16, 16, 3], signature=[-1, 16, 16, 3])
    c1 = b.tensor("model/conv/Relu6", [1, 8, 8, 8], signature=[-1, 8, 8, 8])
    b.op("CONV_2D", [x, b.tensor("model/conv/Conv2D", [8, 3, 3, 3], w(8, 3, 3, 3)),
                     b.tensor("model/conv/BiasAdd/ReadVariableOp", [8], w(8))], [c1], "Conv2DOptions",
         padding=s.Padding.SAME, strideH=2, strideW=2, dilationHFactor=1, dilationWFactor=1,
         fusedActivationFunction=act.RELU6)
    d1 = b.tensor("model/dw/Relu", [1, 8, 8, 8], signature=[-1, 8, 8, 8])
    b.op("DEPTHWISE_CONV_2D", [c1, b.tensor("model/dw/depthwise", [1, 3, 3, 8], w(1, 3, 3, 8)),
                               b.tensor("model/dw/BiasAdd", [8], w(8))], [d1], "DepthwiseConv2DOptions",
         padding=s.Padding.SAME, strideH=1, strideW=1, depthMultiplier=1, dilationHFactor=1, dilationWFactor=1,
         fusedActivationFunction=act.RELU)
    a1 = b.tensor("model/add/add", [1, 8, 8, 8], signature=[-1, 8, 8, 8])
    b.op("ADD", [c1, d1], [a1], "AddOptions", fusedActivationFunction=act.NONE)
    p1 = b.tensor("model/pool/MaxPool", [1, 4, 4, 8], signature=[-1, 4, 4, 8])
    b.op("MAX_POOL_2D", [a1], [p1], "Pool2DOptions", padding=s.Padding.SAME, strideH=2, strideW=2, filterHeight=3,
         filterWidth=3)
    p2 = b.tensor("model/avg/AvgPool", [1, 4, 4, 8], signature=[-1, 4, 4, 8])
    b.op("AVERAGE_POOL_2D", [p1], [p2], "Pool2DOptions", padding=s.Padding.SAME, strideH=1, strideW=1,
         filterHeight=3, filterWidth=3)
    t1 = b.tensor("model/up/conv2d_transpose", [1, 8, 8, 4], signature=[-1, 8, 8, 4])
    b.op("TRANSPOSE_CONV", [b.tensor("model/up/stack", [4], np.asarray([1, 8, 8, 4], np.int32), "INT32"),
                            b.tensor("model/up/kernel", [4, 3, 3, 8], w(4, 3, 3, 8)), p2,
                            b.tensor("model/up/bias", [4], w(4))], [t1], "TransposeConvOptions",
         padding=s.Padding.SAME, strideH=2, strideW=2)
    r1 = b.tensor("model/resize/ResizeBilinear", [1, 16, 16, 4], signature=[-1, 16, 16, 4])
    b.op("RESIZE_BILINEAR", [t1, b.tensor("model/resize/size", [2], np.asarray([16, 16], np.int32), "INT32")],
         [r1], "ResizeBilinearOptions", alignCorners=False, halfPixelCenters=True)
    h1 = b.tensor("model/hswish/mul", [1, 16, 16, 4], signature=[-1, 16, 16, 4])
    b.op("HARD_SWISH", [r1], [h1])
    m1 = b.tensor("model/gap/Mean", [1, 4], signature=[-1, 4])
    b.op("MEAN", [h1, b.tensor("model/gap/Mean/axes", [2], np.asarray([1, 2], np.int32), "INT32")], [m1],
         "ReducerOptions", keepDims=False)
    f1 = b.tensor("model/flatten/Reshape", [1, 128], signature=[-1, 128])
    b.op("RESHAPE", [p2, b.tensor("model/flatten/Const", [2], np.asarray([-1, 128], np.int32), "INT32")], [f1],
         "ReshapeOptions", newShape=[-1, 128])
    fc_w16 = b.tensor("model/dense/MatMul;float16", [10, 128], w(10, 128).astype(np.float16), "FLOAT16")
    fc_w = b.tensor("model/dense/MatMul", [10, 128])
    b.op("DEQUANTIZE", [fc_w16], [fc_w])
    fc = b.tensor("model/dense/Relu", [1, 10], signature=[-1, 10])
    b.op("FULLY_CONNECTED", [f1, fc_w, b.tensor("model/dense/BiasAdd", [10], w(10))], [fc],
         "FullyConnectedOptions", fusedActivationFunction=act.RELU, keepNumDims=False)
    cat = b.tensor("model/concat/concat", [1, 14], signature=[-1, 14])
    b.op("CONCATENATION", [fc, m1], [cat], "ConcatenationOptions", axis=1)
    sm = b.tensor("StatefulPartitionedCall:0", [1, 14], signature=[-1, 14])
    b.op("SOFTMAX", [cat], [sm], "SoftmaxOptions", beta=1.0)
    first = b.tensor("StatefulPartitionedCall:1", [1], signature=[-1])
    ints = lambda *v: b.tensor(f"model/slice/c{len(b.tensors)}", [len(v)], np.asarray(v, np.int32), "INT32")  # noqa: E731
    b.op("STRIDED_SLICE", [cat, ints(0, 3), ints(0, 4), ints(1, 1)], [first], "StridedSliceOptions", beginMask=1,
         endMask=1, shrinkAxisMask=2)
    return b.save(path, [x], [sm, first])


def test_tf_style_file(tmp_path):
    path = tf_style_model(os.path.join(str(tmp_path), "tf.tflite"), np.random.default_rng(0))
    x = nhwc(seeded(2, 3, 16, 16))
    module = import_tflite(path)
    text = irc.print(module)
    assert 'layout = "nhwc"' in text and 'key = "model/conv/Conv2D"' in text
    assert "tensor<3x3x3x8xf32>" in text  # CONV_2D's OHWI filter stored HWIO under its tensor's name
    assert 'key = "model/dense/MatMul"' in text  # the float16 weight, dequantized into an f32 param
    worst = check_round_trip(path, x, tmp_path, emit=True)
    print(f"TensorFlow-style file .tflite -> IR -> PyTorch: max|d| {worst:.3g}")
    # and back: irc writes it again, LiteRT agrees
    again = os.path.join(str(tmp_path), "again.tflite")
    emit_tflite(import_tflite(path), again)
    assert_close(TfliteRuntime(path)(x), TfliteRuntime(again)(x))


def test_source_names(tmp_path):
    from irc.frontend.tflite import TfliteImporter, load_tflite

    path = tf_style_model(os.path.join(str(tmp_path), "tf.tflite"), np.random.default_rng(1))
    importer = TfliteImporter(load_tflite(path), "tf")
    module = importer.run()
    names = importer.source_names
    values = {v.name for v in module.main.values()}
    assert set(names.values()) <= values and names["model/conv/Relu6"] in values
    assert "model/dense/MatMul" not in names  # a folded constant computes nothing
    x = nhwc(seeded(1, 3, 16, 16))
    from irc.bisect import IrRuntime

    with torch.no_grad():
        ref = dict(IrRuntime(module).run_named([x]))
    got = dict(TfliteRuntime(path, names=names).run_named([x]))
    assert len(set(got) & set(ref)) >= 10 and set(got) - set(ref) == {names["serving_default_input:0"]}
    for name in set(got) & set(ref):
        assert_close(ref[name], got[name])


def int8_model(path):
    b = Builder()
    x = b.tensor("input", [1, 4, 4, 3])
    q = b.tensor("input_int8", [1, 4, 4, 3], dtype="INT8", quant=(0.02, 0))
    b.op("QUANTIZE", [x], [q])
    w = b.tensor("conv/weights_int8", [2, 1, 1, 3], np.ones((2, 1, 1, 3), np.int8), "INT8", quant=(0.01, 0))
    bias = b.tensor("conv/bias_int32", [2], np.zeros(2, np.int32), "INT32", quant=(0.0002, 0))
    y = b.tensor("conv_int8", [1, 4, 4, 2], dtype="INT8", quant=(0.05, 0))
    b.op("CONV_2D", [q, w, bias], [y], "Conv2DOptions", padding=b.s.Padding.VALID, strideH=1, strideW=1,
         dilationHFactor=1, dilationWFactor=1)
    out = b.tensor("output", [1, 4, 4, 2])
    b.op("DEQUANTIZE", [y], [out])
    return b.save(path, [x], [out])


def test_int8_refused(tmp_path):
    path = int8_model(os.path.join(str(tmp_path), "q.tflite"))
    with pytest.raises(IrcError) as info:
        import_tflite(path)
    msg = str(info.value)
    assert "quantised" in msg and "nothing was written" in msg
    assert "input_int8 (i8)" in msg and "conv/weights_int8 (i8)" in msg and "conv/bias_int32 (i32)" in msg
    assert "CONV_2D x1" in msg and "QUANTIZE x1" in msg and "DEQUANTIZE x1" in msg


def test_unsupported_operators_listed_at_once(tmp_path):
    b = Builder()
    x = b.tensor("x", [1, 6])
    y = b.tensor("cumsum", [1, 6])
    b.op("CUMSUM", [x, b.tensor("axis", [], np.asarray(1, np.int32), "INT32")], [y], "CumsumOptions")
    z = b.tensor("floor", [1, 6])
    b.op("FLOOR", [y], [z])
    r = b.tensor("relu", [1, 6])
    b.op("RELU", [z], [r])
    u = b.tensor("sign", [1, 6])
    b.op("SIGN", [x], [u])
    path = b.save(os.path.join(str(tmp_path), "u.tflite"), [x], [r, u])
    with pytest.raises(IrcError) as info:
        import_tflite(path)
    msg = str(info.value)
    assert "3 unsupported ops" in msg and "nothing was written" in msg
    for kind, where in (("CUMSUM", "cumsum"), ("FLOOR", "floor"), ("SIGN", "sign")):
        assert f"{kind} x1: no irc mapping for this TFLite operator" in msg and f"at operator {where}" in msg
    assert "RELU" not in msg.replace("RELU x", "")  # the relu of a failed value is not blamed


def test_import_errors(tmp_path):
    missing = os.path.join(str(tmp_path), "none.tflite")
    with pytest.raises(IrcError, match="no such file"):
        import_tflite(missing)
    text = os.path.join(str(tmp_path), "t.tflite")
    with open(text, "w") as f:
        f.write("not a flatbuffer at all")
    with pytest.raises(IrcError, match="not a TFLite model"):
        import_tflite(text)
    damaged = os.path.join(str(tmp_path), "d.tflite")
    with open(damaged, "wb") as f:
        f.write(b"\xff\xff\xff\x7fTFL3" + b"\x00" * 8)
    with pytest.raises(IrcError, match="cannot read this TFLite file"):
        import_tflite(damaged)
    good = tf_style_model(os.path.join(str(tmp_path), "g.tflite"), np.random.default_rng(0))
    with pytest.raises(IrcError, match="--weights is not used"):
        import_tflite(good, weights="w.bin")
    assert is_tflite_file(good) and not is_tflite_file(text) and not is_tflite_file(missing)
    assert not is_tflite_file(str(tmp_path))


def test_import_operator_errors(tmp_path):
    """Operators irc reads only in some forms say which form they are in, all at once."""
    b = Builder()
    s = b.s
    x = b.tensor("x", [1, 4, 4, 2])
    y = b.tensor("y", [1, 1, 1, 2], signature=[1, -1, -1, 2])
    i32 = lambda name, *v: b.tensor(name, [len(v)], np.asarray(v, np.int32), "INT32")  # noqa: E731
    f32 = lambda name, *shape: b.tensor(name, list(shape), np.ones(shape, np.float32))  # noqa: E731
    conv = {"dilationHFactor": 1, "dilationWFactor": 1, "strideH": 2, "strideW": 2}
    cases = [  # (builtin, inputs, output shape, options, fields, what the message says)
        ("RESIZE_NEAREST_NEIGHBOR", [x, i32("size", 8, 8)], [1, 8, 8, 2], "ResizeNearestNeighborOptions",
         {"halfPixelCenters": True}, "half_pixel_centers is not supported"),
        ("RESIZE_BILINEAR", [x, i32("size2", 8, 8)], [1, 8, 8, 2], "ResizeBilinearOptions", {},
         "without half_pixel_centers or align_corners"),
        ("MIRROR_PAD", [x, b.tensor("pads", [4, 2], np.asarray([[0, 0], [2, 2], [2, 2], [0, 0]], np.int32), "INT32")],
         [1, 8, 8, 2], "MirrorPadOptions", {"mode": s.MirrorPadMode.SYMMETRIC}, "SYMMETRIC of more than one"),
        ("DEQUANTIZE", [x], [1, 4, 4, 2], None, {}, "only DEQUANTIZE of a float16 constant"),
        ("CONV_2D", [x, f32("w3", 2, 3, 3, 3)], [1, 2, 2, 2], "Conv2DOptions", conv, "not a multiple of the filter's 3"),
        ("DEPTHWISE_CONV_2D", [y, f32("dw", 1, 3, 3, 2)], [1, 1, 1, 2], "DepthwiseConv2DOptions",
         {**conv, "depthMultiplier": 1}, "SAME padding with a stride needs a static spatial size"),
        ("TRANSPOSE_CONV", [i32("os", 1, 2, 2, 2), f32("tw", 2, 3, 3, 2), y], [1, 2, 2, 2], "TransposeConvOptions",
         {"strideH": 2, "strideW": 2}, "TRANSPOSE_CONV needs a static spatial size"),
        ("TRANSPOSE_CONV", [i32("os2", 1, 8, 8, 2), f32("tw2", 2, 3, 3, 2), x], [1, 8, 8, 2], "TransposeConvOptions",
         {"strideH": 2, "strideW": 2, "padding": s.Padding.VALID}, "a VALID TRANSPOSE_CONV smaller"),
        ("TRANSPOSE", [x, x], [1, 4, 4, 2], "TransposeOptions", {}, "the permutation (input 1) must be a constant"),
        ("ADD", [x, x], [1, 4, 4, 2], "AddOptions", {"fusedActivationFunction": s.ActivationFunctionType.SIGN_BIT},
         "fused activation 5 is not supported"),
        ("FULLY_CONNECTED", [x, f32("fw", 3, 32)], [1, 3], "FullyConnectedOptions", {"weightsFormat": 1},
         "shuffled FULLY_CONNECTED weights"),
        ("REVERSE_V2", [x, i32("axes", 1, 2)], [1, 4, 4, 2], "ReverseV2Options", {}, "one static axis only"),
        ("PADV2", [x, b.tensor("pads2", [4, 2], np.zeros((4, 2), np.int32), "INT32"), x], [1, 4, 4, 2],
         "PadV2Options", {}, "the padding value must be a constant"),
        ("STRIDED_SLICE", [x, i32("b", 0, 0, 0, 0), i32("e", 1, 4, 4, 2), i32("st", 1, 1, 1, 1)], [1, 4, 4, 2],
         "StridedSliceOptions", {"ellipsisMask": 1}, "ellipsis_mask, new_axis_mask and offset"),
        ("STRIDED_SLICE", [x, i32("b2", 0, 0, 0, 0), i32("e2", 1, 4, 4, 2), i32("st2", 1, -1, 1, 1)], [1, 4, 4, 2],
         "StridedSliceOptions", {}, "negative strides"),
        ("SPLIT", [i32("axis", 1), x], [1, 4, 4, 2], "SplitOptions", {"numSplits": 3}, "cannot split 4 into 3"),
        ("GATHER", [x, i32("idx", 0)], [1, 4, 4, 2], "GatherOptions", {"batchDims": 1}, "GATHER with batch_dims"),
        ("RELU", [b.tensor("nowhere", [1, 4])], [1, 4], None, {}, "input 0 (nowhere) is neither computed before"),
        ("CAST", [x], [1, 4, 4, 2], None, {}, "TFLite tensor type COMPLEX64 is not supported"),
    ]
    outs = []
    for n, (builtin, ins, shape, options, fields, _) in enumerate(cases):
        out = b.tensor(f"out{n}", shape, dtype="COMPLEX64" if builtin == "CAST" else "FLOAT32")
        b.op(builtin, ins, [out], options, **fields)
        outs.append(out)
    seq = b.tensor("seq", [1, 3, 2])
    lstm_ins = [seq] + [f32(f"g{i}", 2, 2) for i in range(8)] + [f32("peep", 2)] + [-1, -1] + [
        f32(f"bias{i}", 2) for i in range(4)] + [-1, -1, -1, -1] + [-1] * 4
    lstm_out = b.tensor("lstm", [1, 3, 2])
    b.op("UNIDIRECTIONAL_SEQUENCE_LSTM", lstm_ins, [lstm_out], "UnidirectionalSequenceLSTMOptions",
         fusedActivationFunction=s.ActivationFunctionType.TANH)
    clip_out = b.tensor("lstm_clip", [1, 3, 2])
    b.op("UNIDIRECTIONAL_SEQUENCE_LSTM", lstm_ins[:9] + [-1] + lstm_ins[10:], [clip_out],
         "UnidirectionalSequenceLSTMOptions", fusedActivationFunction=s.ActivationFunctionType.TANH, cellClip=10.0)
    path = b.save(os.path.join(str(tmp_path), "o.tflite"), [x, y, seq], outs + [lstm_out, clip_out])
    with pytest.raises(IrcError) as info:
        import_tflite(path)
    msg = str(info.value)
    for case in cases:
        assert case[-1] in msg, case[-1]
    assert "peephole, projection or layer-norm" in msg and "LSTM clipping" in msg
    nohead = Builder()
    empty = nohead.save(os.path.join(str(tmp_path), "e.tflite"), [], [])
    model = schema().ModelT.InitFromPackedBuf(bytearray(open(empty, "rb").read()), 0)
    model.subgraphs = []
    import flatbuffers

    fb = flatbuffers.Builder(64)
    fb.Finish(model.Pack(fb), file_identifier=b"TFL3")
    with open(empty, "wb") as f:
        f.write(fb.Output())
    with pytest.raises(IrcError, match="has no subgraph"):
        import_tflite(empty)


def test_import_lstm_weights_must_be_constant(tmp_path):
    b = Builder()
    seq = b.tensor("seq", [1, 3, 2])
    w = b.tensor("w", [2, 2])
    ones = lambda name, *shape: b.tensor(name, list(shape), np.ones(shape, np.float32))  # noqa: E731
    ins = [seq, w] + [ones(f"g{i}", 2, 2) for i in range(7)] + [-1, -1, -1] + [
        ones(f"bias{i}", 2) for i in range(4)] + [-1, -1, -1, -1] + [-1] * 4
    out = b.tensor("lstm", [1, 3, 2])
    b.op("UNIDIRECTIONAL_SEQUENCE_LSTM", ins, [out], "UnidirectionalSequenceLSTMOptions",
         fusedActivationFunction=b.s.ActivationFunctionType.TANH)
    path = b.save(os.path.join(str(tmp_path), "l.tflite"), [seq, w], [out])
    with pytest.raises(IrcError, match="the input weights must be constants"):
        import_tflite(path)


def test_cli_import_and_emit(tmp_path):
    """irc-import m.tflite, then irc-emit --target tflite --weights f16: LiteRT agrees with the original."""
    from irc.tools import irc_emit, irc_import

    src = tf_style_model(os.path.join(str(tmp_path), "tf.tflite"), np.random.default_rng(2))
    ir_path, out = os.path.join(str(tmp_path), "m.ir"), os.path.join(str(tmp_path), "m16.tflite")
    assert irc_import.main([src, "-o", ir_path, "-q"]) == 0
    assert irc_emit.main([ir_path, "--target", "tflite", "--weights", "f16", "-o", out, "-q"]) == 0
    x = nhwc(seeded(1, 3, 16, 16))
    assert_close(TfliteRuntime(src)(x), TfliteRuntime(out)(x), "f16")


def test_runtime_contract(tmp_path):
    path = tf_style_model(os.path.join(str(tmp_path), "tf.tflite"), np.random.default_rng(0))
    runtime = TfliteRuntime(path)
    assert runtime.input_types[0].shape == (None, 16, 16, 3) and runtime.input_types[0].dtype == "f32"
    assert runtime.output_names == ["StatefulPartitionedCall:0", "StatefulPartitionedCall:1"]
    outs = runtime(nhwc(seeded(3, 3, 16, 16)))
    assert [tuple(o.shape) for o in outs] == [(3, 14), (3,)]
    with pytest.raises(IrcError, match="takes 1 inputs, got 2"):
        runtime(outs[0], outs[0])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # LiteRT's debugging warning is not passed on
        names = [n for n, _ in runtime.run_named([nhwc(seeded(1, 3, 16, 16))])]
    assert names[0] == "serving_default_input:0" and "model/conv/Relu6" in names
    bad = os.path.join(str(tmp_path), "bad.tflite")
    with open(bad, "wb") as f:
        f.write(b"\x00\x00\x00\x00TFL3")
    with pytest.raises(IrcError, match="LiteRT cannot load"):
        TfliteRuntime(bad)


def test_cli_check_and_bisect_against_the_torch_source(tmp_path, capsys):
    """irc-check SOURCE --tflite F: the channel-first torch source against the channel-last file (inputs and
    outputs transposed, said in a note); --bisect compares every value, including ones whose shape cannot tell
    the layout (MobileNet V2's 1x8x8x8 `features.3.add`), finds nothing on a good file and names the conv whose
    weight was changed in a bad one."""
    import irc
    from irc.tools.irc_check import main as check_main

    model = randomize_(ZOO["mobilenet_v2"][0]())
    source = str(tmp_path / "mv2.pt")
    torch.save(model, source)
    module = torch_module(model, (3, 32, 32))
    ir_path = str(tmp_path / "mv2.ir")
    irc.save(module, ir_path)
    good = str(tmp_path / "mv2.tflite")
    emit_tflite(module, good)
    assert check_main([source, "--trust-pickle", "--tflite", good, "--quiet"]) == 0
    assert "channel-last inputs" in capsys.readouterr().out
    assert check_main([source, "--trust-pickle", "--tflite", good, "--ir", ir_path, "--bisect", "--quiet"]) == 0
    report = capsys.readouterr().out
    assert "first divergence" not in report, report
    key = "features.4.conv.0.0.weight"
    module.weights.add(key, module.weights.numpy(key) * 1.05)
    bad = str(tmp_path / "bad.tflite")
    emit_tflite(module, bad)
    assert check_main([source, "--trust-pickle", "--tflite", bad, "--ir", ir_path, "--bisect", "--quiet"]) == 1
    report = capsys.readouterr().out
    # the conv's own output has no LiteRT tensor (its ReLU6 is fused into CONV_2D): the fused clamp is blamed
    assert "first divergence: %features.4.conv.0.2 = nn.clamp" in report, report
