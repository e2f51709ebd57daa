"""ONNX opsets 7 to 12: the forms CNTK 2.7 (opset 9) and PyTorch's older exporters (opsets 7-11) wrote.

No CNTK runtime exists for current Python, so CNTK's forms are written by hand with `onnx.helper`, after
the graphs of CNTK-exported models (`Input3`, `Parameter5`, `Convolution28_Output_0`, a bias added as a
[C, 1, 1] initializer, a Reshape to a constant shape before Times/Plus). Each is imported, run by irc's
executor and compared with onnxruntime on the same file within DESIGN.md's "pass" rule; where onnxruntime
refuses a form that old files still carry (an opset-6 attribute kept in an opset-7 file), with NumPy.
The seed models are exported by torch.onnx.export (dynamo=False writes opsets 7 to 11 itself) and moved
down with onnx.version_converter where it has the adapters (9 -> 7 and 8; nothing below 11 from 11 on).
"""

from __future__ import annotations

import contextlib
import io
import warnings

import numpy as np
import pytest
from helpers import randomize_

torch = pytest.importorskip("torch")
onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

from onnx import TensorProto as T  # noqa: E402
from onnx import helper as h  # noqa: E402
from onnx import numpy_helper  # noqa: E402

import irc  # noqa: E402
from irc.fidelity import assert_close, compare  # noqa: E402

IR_VERSION = {7: 3, 8: 3, 9: 4, 10: 5, 11: 6, 12: 7}  # what files of each opset carried


def model(nodes, inputs, outputs, inits=None, opset=9):
    """inputs: [(name, shape)] (None in a shape = dynamic); outputs: names; inits: {name: array}."""
    g = h.make_graph(
        nodes, "g",
        [h.make_tensor_value_info(n, T.FLOAT, [d if d is not None else "N" for d in s]) for n, s in inputs],
        [h.make_tensor_value_info(o, T.FLOAT, None) for o in outputs],
        initializer=[numpy_helper.from_array(np.asarray(v), k) for k, v in (inits or {}).items()])
    m = h.make_model(g, opset_imports=[h.make_opsetid("", opset)])
    m.ir_version = IR_VERSION.get(opset, 8)
    return m


def rand(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


def feeds_for(m, batch=1, seed=0):
    shapes = {vi.name: [d.dim_value if d.HasField("dim_value") else batch for d in vi.type.tensor_type.shape.dim]
              for vi in m.graph.input}
    inits = {t.name for t in m.graph.initializer}
    return {n: rand(*s, seed=seed + k) for k, (n, s) in enumerate(shapes.items()) if n not in inits}


def run_irc(m, feeds):
    from irc.backend.pytorch.executor import Executor
    from irc.frontend.onnx import import_onnx

    module = import_onnx(m, name="t")
    outs = Executor(module)(*[torch.from_numpy(v) for v in feeds.values()])
    return module, [o.numpy() for o in outs]


def run_ort(m, feeds):
    sess = ort.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"])
    return sess.run(None, feeds)


def against_ort(m, batches=(1,), seed=0):
    """Import `m`, run it with the executor and in onnxruntime; assert the pass rule on every output."""
    module = None
    for b in batches:
        feeds = feeds_for(m, b, seed)
        ref = run_ort(m, feeds)
        module, out = run_irc(m, feeds)
        assert len(ref) == len(out)
        for name, r, v in zip([o.name for o in m.graph.output], ref, out, strict=True):
            assert_close(r, v, "pass", name=f"{name} (batch {b})")
    return module


def kinds(module):
    return [op.name for op in module.funcs[0].ops]


def refused(m) -> str:
    from irc.frontend.onnx import import_onnx

    with pytest.raises(irc.IrcError) as info:
        import_onnx(m, name="t")
    return str(info.value)


# -- a CNTK 2.7 style classifier and the old BatchNormalization


def cntk_classifier(opset, seed=0):
    """conv (SAME_UPPER) + bias as an Add of a [C,1,1] Parameter + BN + relu + maxpool + Reshape to a constant
    shape + Times (MatMul) + Plus + a Sum of three logits + Softmax over axis 1."""
    g = np.random.default_rng(seed)
    c = 4
    bn = dict(spatial=1) if opset < 9 else {}  # spatial is gone from opset 9 (onnxruntime refuses it there)
    nodes = [
        h.make_node("Conv", ["Input3", "Parameter5"], ["Convolution28_Output_0"], kernel_shape=[3, 3],
                    strides=[1, 1], auto_pad="SAME_UPPER", group=1, dilations=[1, 1], name="Convolution28"),
        h.make_node("Add", ["Convolution28_Output_0", "Parameter6"], ["Plus30_Output_0"], name="Plus30"),
        h.make_node("BatchNormalization", ["Plus30_Output_0", "Scale", "Bias", "Mean", "Var"],
                    ["BatchNormalization40_Output_0"], epsilon=1e-5, momentum=0.9, name="BatchNormalization40", **bn),
        h.make_node("Relu", ["BatchNormalization40_Output_0"], ["ReLU32_Output_0"], name="ReLU32"),
        h.make_node("MaxPool", ["ReLU32_Output_0"], ["Pooling66_Output_0"], kernel_shape=[2, 2], strides=[2, 2],
                    pads=[0, 0, 0, 0], auto_pad="NOTSET", name="Pooling66"),
        h.make_node("Reshape", ["Pooling66_Output_0", "Pooling66_Output_0_reshape0_shape"],
                    ["Pooling66_Output_0_reshape0"], name="Pooling66_Output_0_reshape0"),
        h.make_node("MatMul", ["Pooling66_Output_0_reshape0", "Parameter193"], ["Times212_Output_0"],
                    name="Times212"),
        h.make_node("Add", ["Times212_Output_0", "Parameter194"], ["Plus214_Output_0"], name="Plus214"),
        h.make_node("Gemm", ["Pooling66_Output_0_reshape0", "Parameter195", "Parameter196"], ["Dense_Output_0"],
                    transB=1, name="Dense"),
        h.make_node("Sum", ["Plus214_Output_0", "Dense_Output_0", "Parameter197"], ["Sum_Output_0"], name="Sum"),
        h.make_node("Softmax", ["Sum_Output_0"], ["Softmax_Output_0"], axis=1, name="Softmax"),
    ]
    f32 = np.float32
    inits = {"Parameter5": (g.standard_normal((c, 1, 3, 3)) * 0.5).astype(f32),
             "Parameter6": g.standard_normal((c, 1, 1)).astype(f32),
             "Scale": (g.random(c) + 0.5).astype(f32), "Bias": g.standard_normal(c).astype(f32),
             "Mean": (g.standard_normal(c) * 0.5).astype(f32), "Var": (g.random(c) * 1.5 + 0.25).astype(f32),
             "Pooling66_Output_0_reshape0_shape": np.array([1, c * 14 * 14], np.int64),
             "Parameter193": (g.standard_normal((c * 14 * 14, 10)) * 0.05).astype(f32),
             "Parameter194": g.standard_normal((1, 10)).astype(f32),
             "Parameter195": (g.standard_normal((10, c * 14 * 14)) * 0.05).astype(f32),
             "Parameter196": g.standard_normal(10).astype(f32),
             "Parameter197": g.standard_normal((1, 10)).astype(f32)}
    return model(nodes, [("Input3", [1, 1, 28, 28])], ["Softmax_Output_0"], inits, opset)


@pytest.mark.parametrize("opset", [7, 8, 9])
def test_cntk_style_classifier(opset):
    """onnxruntime runs opsets 7-9 for every op here; irc's import of it matches within the pass rule."""
    module = against_ort(cntk_classifier(opset))
    got = kinds(module)
    assert {"nn.conv2d", "nn.batch_norm", "nn.max_pool2d", "nn.reshape", "nn.linear", "nn.softmax"} <= set(got)
    assert got.count("nn.add") >= 3  # the [C,1,1] bias, the Plus and the Sum of three


def test_batch_norm_spatial_0_is_per_activation():
    """Opset 7's spatial=0 normalises each activation with statistics of shape [C, H, W]: folded to x*a + b; on a
    rank-2 input it is the usual per-channel batch norm."""
    g = np.random.default_rng(3)
    stats = {"s": g.random((3, 4, 5)) + 0.5, "b": g.standard_normal((3, 4, 5)), "m": g.standard_normal((3, 4, 5)),
             "v": g.random((3, 4, 5)) + 0.25}
    inits = {k: v.astype(np.float32) for k, v in stats.items()}
    node = h.make_node("BatchNormalization", ["x", "s", "b", "m", "v"], ["y"], spatial=0, epsilon=1e-3)
    module = against_ort(model([node], [("x", [None, 3, 4, 5])], ["y"], inits, opset=7), batches=(1, 3))
    assert "nn.batch_norm" not in kinds(module) and "nn.mul" in kinds(module)
    flat = {k: v[:, 0, 0] for k, v in inits.items()}
    module = against_ort(model([node], [("x", [None, 3])], ["y"], flat, opset=7), batches=(2,))
    assert "nn.batch_norm" in kinds(module)
    err = refused(model([node], [("x", [None, 3, 4, 5])], ["y"], flat, opset=7))  # per channel: not spatial=0's
    assert "spatial=0 with statistics of shape [3]" in err


def test_old_attributes_that_onnxruntime_refuses_are_read():
    """Attributes of opsets 1-6 that old files kept at opset 7 (onnxruntime refuses each of these files):
    Dropout is_test=1, Gemm broadcast=1, BatchNormalization consumed_inputs/is_test=1, Reshape's `shape`
    attribute and Cast's type name: compared with NumPy."""
    g = np.random.default_rng(4)
    w, c = g.standard_normal((6, 4)).astype(np.float32), g.standard_normal(4).astype(np.float32)
    s, b = (g.random(4) + 0.5).astype(np.float32), g.standard_normal(4).astype(np.float32)
    m_, v = g.standard_normal(4).astype(np.float32), (g.random(4) + 0.5).astype(np.float32)
    nodes = [h.make_node("Dropout", ["x"], ["d"], is_test=1, ratio=0.5),
             h.make_node("Gemm", ["d", "w", "c"], ["g"], broadcast=1),
             h.make_node("Reshape", ["g"], ["r"], shape=[2, 4, 1, 1]),
             h.make_node("BatchNormalization", ["r", "s", "b", "m", "v"], ["n"], is_test=1,
                         consumed_inputs=[0, 0, 0, 1, 1]),
             h.make_node("Cast", ["n"], ["y"], to="FLOAT")]
    m = model(nodes, [("x", [2, 6])], ["y"], {"w": w, "c": c, "s": s, "b": b, "m": m_, "v": v}, opset=7)
    with pytest.raises(Exception):  # noqa: B017  (onnxruntime's own exception types)
        run_ort(m, feeds_for(m))
    feeds = feeds_for(m)
    _, (out,) = run_irc(m, feeds)
    gemm = feeds["x"] @ w + c
    ref = ((gemm - m_) / np.sqrt(v + 1e-5) * s + b).reshape(2, 4, 1, 1)
    assert compare(ref, out, "pass").ok


def test_batch_norm_in_training_forms_is_refused():
    inits = {k: np.ones(2, np.float32) for k in "sbmv"}
    bn = h.make_node("BatchNormalization", ["x", "s", "b", "m", "v"], ["y"], is_test=0, name="bn")
    drop = h.make_node("Dropout", ["x"], ["z"], is_test=0, name="drop")
    err = refused(model([bn, drop], [("x", [1, 2, 3, 3])], ["y", "z"], inits, opset=7))
    assert "node bn" in err and "is_test=0" in err and "node drop" in err


# -- Upsample and the opset-10 Resize


def upsample(opset, mode="nearest", scales=(1.0, 1.0, 2.0, 3.0)):
    if opset < 9:
        return model([h.make_node("Upsample", ["x"], ["y"], mode=mode, scales=list(scales))],
                     [("x", [None, 2, 3, 4])], ["y"], opset=opset)
    op = "Upsample" if opset == 9 else "Resize"
    nodes = [h.make_node("Constant", [], ["sc"], value=numpy_helper.from_array(np.array(scales, np.float32))),
             h.make_node(op, ["x", "sc"], ["y"], mode=mode)]
    return model(nodes, [("x", [None, 2, 3, 4])], ["y"], opset=opset)


@pytest.mark.parametrize("opset", [7, 8, 9, 10])
def test_upsample_nearest(opset):
    """Upsample-7 (scales attribute), Upsample-9 (scales input from a Constant), Resize-10: nearest matches."""
    module = against_ort(upsample(opset), batches=(1, 2))
    (up,) = [op for op in module.funcs[0].ops if op.name == "nn.upsample"]
    assert up.attrs["mode"] == "nearest" and list(up.attrs["scales"]) == [2.0, 3.0]


@pytest.mark.parametrize("opset", [7, 9, 10])
def test_upsample_forms_irc_cannot_match_are_listed(opset):
    """Their linear mode samples asymmetrically (no irc mode does), and shrinking rounds the other way."""
    lin = refused(upsample(opset, mode="linear"))
    assert "coordinate_transformation_mode 'asymmetric'" in lin
    if opset >= 10:  # onnxruntime refuses scales below 1 for Upsample itself
        ref = run_ort(upsample(opset, scales=(1.0, 1.0, 0.5, 0.5)), feeds_for(upsample(opset)))[0]
        assert ref.shape == (1, 2, 1, 2)
    small = refused(upsample(opset, scales=(1.0, 1.0, 0.5, 0.5)))
    assert "below 1" in small and f"opset {opset}" in small


# -- attributes instead of inputs


@pytest.mark.parametrize("opset", [7, 9])
def test_slice_pad_clip_attributes(opset):
    """Slice (starts/ends/axes, a huge end), Pad (pads/value; reflect), Clip (min/max) with attributes."""
    nodes = [h.make_node("Slice", ["x"], ["s"], starts=[1, -5], ends=[1 << 62, 7], axes=[2, 3]),
             h.make_node("Pad", ["s"], ["p"], pads=[0, 0, 1, 2, 0, 1, 0, 1], value=0.25),
             h.make_node("Pad", ["p"], ["q"], pads=[0, 0, 1, 1, 0, 0, 1, 1], mode="reflect"),
             h.make_node("Clip", ["q"], ["y"], min=-0.5, max=0.75)]
    against_ort(model(nodes, [("x", [None, 3, 6, 8])], ["y"], opset=opset), batches=(1, 2))


def test_opset_10_and_11_forms():
    """Slice-10 with inputs beside Pad-10 and Clip-10 attributes; Clip-11 with inputs; a relu6 at opset 10."""
    inits = {"st": np.array([1], np.int64), "en": np.array([5], np.int64), "ax": np.array([3], np.int64),
             "lo": np.array(0.0, np.float32), "hi": np.array(6.0, np.float32)}
    nodes = [h.make_node("Slice", ["x", "st", "en", "ax"], ["s"]),
             h.make_node("Pad", ["s"], ["p"], pads=[0, 0, 1, 1, 0, 0, 0, 1], mode="edge"),
             h.make_node("Clip", ["p"], ["y"], min=0.0, max=6.0)]
    against_ort(model(nodes, [("x", [None, 2, 4, 6])], ["y"], {k: inits[k] for k in ("st", "en", "ax")}, 10))
    clip = h.make_node("Clip", ["x", "lo", "hi"], ["y"])
    module = against_ort(model([clip], [("x", [1, 2, 4, 6])], ["y"], {"lo": inits["lo"], "hi": inits["hi"]}, 11))
    assert kinds(module) == ["nn.clamp"]


@pytest.mark.parametrize("opset", [7, 11, 12])
def test_squeeze_unsqueeze_reduce_split_attributes(opset):
    nodes = [h.make_node("Unsqueeze", ["x"], ["u"], axes=[0]),
             h.make_node("Squeeze", ["u"], ["s"], axes=[0]),
             h.make_node("ReduceMean", ["s"], ["m"], axes=[2, 3], keepdims=1),
             h.make_node("ReduceSum", ["s"], ["r"], axes=[1], keepdims=0),
             h.make_node("ReduceMax", ["s"], ["mx"], axes=[1], keepdims=1),
             h.make_node("Split", ["s"], ["a", "b"], axis=1, split=[1, 2]),
             h.make_node("Add", ["a", "m"], ["y1"]),
             h.make_node("Mul", ["b", "mx"], ["y2"])]
    against_ort(model(nodes, [("x", [None, 3, 4, 5])], ["y1", "y2", "r"], opset=opset), batches=(1, 2))


# -- Softmax's flattening before opset 13


@pytest.mark.parametrize("op", ["Softmax", "LogSoftmax"])
@pytest.mark.parametrize("shape", [[2, 3, 4], [2, 3, 4, 5]])
def test_softmax_coerces_to_2d_before_opset_13(op, shape):
    """Opsets <= 12 flatten to [prod(:axis), prod(axis:)] and normalise over the whole tail; with axis=1 on rank
    3 and 4 that differs from opset 13's one-axis softmax, and irc follows the file's opset."""
    node = h.make_node(op, ["x"], ["y"], axis=1)
    m = model([node], [("x", shape)], ["y"], opset=11)
    against_ort(m)
    x = feeds_for(m)["x"]
    tail = x.reshape(shape[0], -1)
    old = np.exp(tail - tail.max(1, keepdims=True))
    old = (old / old.sum(1, keepdims=True)).reshape(shape)
    one_axis = np.exp(x - x.max(1, keepdims=True))
    one_axis = one_axis / one_axis.sum(1, keepdims=True)
    if op == "LogSoftmax":
        old, one_axis = np.log(old), np.log(one_axis)
    _, (out,) = run_irc(m, {"x": x})
    assert compare(old, out, "pass").ok
    assert not compare(one_axis, out, "pass").ok  # the forms do differ here
    _, (new,) = run_irc(model([node], [("x", shape)], ["y"], opset=13), {"x": x})
    assert compare(one_axis, new, "pass").ok


def test_softmax_default_axis_before_opset_13_is_1():
    """Axis 1 by default; one dynamic dim in the flattened tail is inferred back."""
    m = model([h.make_node("Softmax", ["x"], ["y"])], [("x", [2, 3, 4])], ["y"], opset=9)
    against_ort(m)
    g = h.make_graph([h.make_node("Softmax", ["x"], ["y"])], "g",
                     [h.make_tensor_value_info("x", T.FLOAT, ["N", 3, "L"])], [h.make_tensor_value_info("y", T.FLOAT, None)])
    m = h.make_model(g, opset_imports=[h.make_opsetid("", 9)])
    m.ir_version = 4
    assert run_irc(m, {"x": rand(2, 3, 5)})[1][0].shape == (2, 3, 5)
    against_ort(m, batches=(2,))


# -- pools, element-wise variadics, Flatten, ImageScaler, LRN


def test_pool_attributes_by_opset():
    """AveragePool-7 count_include_pad; MaxPool-10 and AveragePool-10 ceil_mode; MaxPool-8's Indices output unused."""
    nodes7 = [h.make_node("AveragePool", ["x"], ["a"], kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1],
                          count_include_pad=1),
              h.make_node("AveragePool", ["x"], ["b"], kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1])]
    against_ort(model(nodes7, [("x", [None, 2, 7, 7])], ["a", "b"], opset=7), batches=(1, 2))
    nodes10 = [h.make_node("MaxPool", ["x"], ["a", "idx"], kernel_shape=[3, 3], strides=[2, 2], ceil_mode=1),
               h.make_node("AveragePool", ["x"], ["b"], kernel_shape=[2, 2], strides=[2, 2], ceil_mode=1)]
    module = against_ort(model(nodes10, [("x", [None, 2, 8, 7])], ["a", "b"], opset=10), batches=(1, 2))
    assert all(op.attrs["ceil_mode"] for op in module.funcs[0].ops if op.name.endswith("pool2d"))


@pytest.mark.parametrize("opset", [7, 8])
def test_variadic_sum_mean_max_min_and_flatten(opset):
    nodes = [h.make_node("Sum", ["x", "y", "z"], ["s"]), h.make_node("Mean", ["x", "y", "z"], ["m"]),
             h.make_node("Max", ["x", "y", "z"], ["mx"]), h.make_node("Min", ["x", "y"], ["mn"]),
             h.make_node("Flatten", ["s"], ["f"], axis=2)]
    against_ort(model(nodes, [("x", [2, 3, 4]), ("y", [2, 3, 4]), ("z", [2, 3, 4])], ["f", "m", "mx", "mn"],
                      opset=opset))


def test_image_scaler():
    """ImageScaler (experimental, opsets 1-9; CoreML- and CNTK-converted models open with it)."""
    node = h.make_node("ImageScaler", ["x"], ["y"], scale=0.5, bias=[1.0, -2.0, 0.25])
    module = against_ort(model([node], [("x", [None, 3, 4, 4])], ["y"], opset=8), batches=(1, 2))
    assert kinds(module).count("nn.mul") == 1


def lrn_reference(x, size, alpha, beta, bias):
    """ONNX's LRN: the squares summed over channels [c - (size-1)//2, c + size//2]."""
    sq = np.pad(x.astype(np.float64) ** 2, [(0, 0), ((size - 1) // 2, size // 2), (0, 0), (0, 0)])
    window = sum(sq[:, i:i + x.shape[1]] for i in range(size))
    return (x / (bias + alpha / size * window) ** beta).astype(np.float32)


@pytest.mark.parametrize("size", [3, 4, 5])
def test_lrn(size):
    """LRN (AlexNet/GoogLeNet-era CNTK and Caffe2 exports): odd windows against onnxruntime, and every window
    against the spec's formula (onnxruntime refuses even ones)."""
    node = h.make_node("LRN", ["x"], ["y"], size=size, alpha=2e-2, beta=0.75, bias=2.0)
    m = model([node], [("x", [None, 7, 5, 6])], ["y"], opset=7)
    if size % 2:
        against_ort(m, batches=(1, 2))
    x = feeds_for(m, 2)["x"]
    _, (out,) = run_irc(m, {"x": x})
    assert_close(lrn_reference(x, size, 2e-2, 0.75, 2.0), out, "pass")


# -- what is refused, and how


def test_unknown_ops_and_attribute_forms_are_listed_at_once():
    """An opset-6 broadcast Add (axis-aligned, not multidirectional), an attribute no opset has and
    ConstantFill (experimental, gone) are each named; nothing is guessed."""
    nodes = [h.make_node("Add", ["x", "b"], ["a"], broadcast=1, axis=1, name="old_add"),
             h.make_node("Relu", ["x"], ["r"], alpha=0.5, name="odd_relu"),
             h.make_node("ConstantFill", ["x"], ["c"], value=1.0, name="fill")]
    err = refused(model(nodes, [("x", [1, 3, 2, 2])], ["a", "r", "c"], {"b": np.ones(3, np.float32)}, opset=7))
    assert "3 of 3 nodes" in err or ("old_add" in err and "odd_relu" in err and "fill" in err)
    assert "'axis', 'broadcast' are not part of Add at opset 7" in err
    assert "'alpha' is not part of Relu at opset 7" in err
    assert "node fill" in err and "no irc mapping" in err


@pytest.mark.parametrize("opset", [1, 6, 22])
def test_opsets_outside_7_to_21_name_what_is_supported(opset):
    m = model([h.make_node("Relu", ["x"], ["y"])], [("x", [1, 2])], ["y"], opset=opset)
    err = refused(m)
    assert err == f"opset {opset} is not supported: irc imports opsets 7 to 21 (convert with " \
                  "onnx.version_converter first)"


# -- the seed models through torch.onnx.export at old opsets


def export_old(name, opset, size="quick", via=None):
    """A zoo model (randomised weights and BN statistics) exported at `opset` by torch.onnx.export (dynamo=False),
    or at `via` and converted down to `opset` with onnx.version_converter; and its input."""
    from models.zoo import ZOO

    quick, quick_hw, full, full_hw = ZOO[name]
    build, hw = (quick, quick_hw) if size == "quick" else (full, full_hw)
    if name == "vgg16":
        hw = 224  # its 7x7 adaptive pool exports before opset 11 only from a 7x7 map
    net = randomize_(build(), seed=1)
    x = torch.randn(1, 3, hw, hw, generator=torch.Generator().manual_seed(2))
    f = io.BytesIO()
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()), \
            contextlib.redirect_stderr(io.StringIO()):
        warnings.simplefilter("ignore")
        torch.onnx.export(net, (x,), f, opset_version=via or opset, dynamo=False)
    m = onnx.load_from_string(f.getvalue())
    if via is not None:
        from onnx import version_converter

        m = version_converter.convert_version(m, opset)
    assert m.opset_import[0].version == opset
    return m, x.numpy()


def check_export(m, x):
    ref = run_ort(m, {m.graph.input[0].name: x})
    module, out = run_irc(m, {"x": x})
    assert len(ref) == len(out)
    for r, v in zip(ref, out, strict=True):
        assert_close(r, v, "pass")
    return {n.op_type for n in m.graph.node}


SEEDS = ["mobilenet_v1", "resnet50", "tiny_yolo_v2", "tiny_yolo_v3"]


@pytest.mark.parametrize("name", SEEDS)
@pytest.mark.parametrize("opset,via", [(11, None), (9, None), (7, 9)], ids=["opset11", "opset9", "opset9to7"])
def test_seed_models_at_old_opsets(name, opset, via):
    """torch.onnx.export at opset 11 and 9 (and 9 converted to 7 with onnx.version_converter) -> irc -> executor,
    against onnxruntime on the same file. (The version converter has no adapters down from 11: Gemm, Slice.)"""
    ops = check_export(*export_old(name, opset, via=via))
    if name == "tiny_yolo_v3" and opset < 10:
        assert "Upsample" in ops


@pytest.mark.parametrize("opset", [7, 8])
def test_opset_7_8_export_keeps_batch_norm(opset):
    """At opsets 7-8 the exporter leaves BatchNormalization-7 (spatial left at its default 1) in the graph."""
    m, x = export_old("mobilenet_v1", opset)
    assert "BatchNormalization" in check_export(m, x)


# full size for a representative few (the 20-minute budget of the whole suite); every seed model runs quick in this file
@pytest.mark.slow
@pytest.mark.parametrize("name, opset, via", [("vgg16", 9, None), ("inception_v3", 11, None), ("resnet50", 7, 9),
                                              ("tiny_yolo_v3", 9, None)])
def test_full_seed_models_at_old_opsets(name, opset, via):
    check_export(*export_old(name, opset, "full", via=via))


class OldExporterForms(torch.nn.Module):
    """What classifiers and detection necks of the PyTorch 1.0-1.4 days wrote: x.view(x.size(0), -1), a nearest
    interpolate, F.pad, relu6, slicing, torch.cat, dropout and softmax over dim 1."""

    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 6, 3, padding=1)
        self.bn = torch.nn.BatchNorm2d(6)
        self.drop = torch.nn.Dropout(0.3)
        self.fc = torch.nn.Linear(6 * 8 * 9, 5)

    def forward(self, x):
        y = torch.nn.functional.relu6(self.bn(self.conv(x)))
        up = torch.nn.functional.interpolate(y, scale_factor=2, mode="nearest")
        y = torch.cat([up[:, :3, 1:], torch.nn.functional.pad(up[:, 3:, :-1], (0, 0, 0, 0))], 1)
        y = torch.nn.functional.max_pool2d(torch.nn.functional.pad(y, (1, 1, 1, 1)), 2)
        y = self.drop(y[:, :, :8, :9].contiguous())
        return torch.softmax(self.fc(y.view(y.size(0), -1)), dim=1)


@pytest.mark.parametrize("opset", [9, 10, 11])
def test_old_exporter_forms_dynamic_batch(opset):
    """Exported at opsets 9-11 with a dynamic batch (the exporter cannot write this interpolate at 7-8): Upsample-9
    or Resize-10/11, Clip and Pad with attributes before 11, Slice with attributes at 9, Shape/Gather/Unsqueeze/
    Concat for the view."""
    net = randomize_(OldExporterForms(), seed=3)
    f = io.BytesIO()
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()), \
            contextlib.redirect_stderr(io.StringIO()):
        warnings.simplefilter("ignore")
        torch.onnx.export(net, (torch.randn(2, 3, 8, 8),), f, opset_version=opset, dynamo=False, input_names=["x"],
                          dynamic_axes={"x": {0: "batch"}})
    m = onnx.load_from_string(f.getvalue())
    ops = {n.op_type for n in m.graph.node}
    assert ("Upsample" if opset < 10 else "Resize") in ops and "Slice" in ops and "Pad" in ops
    against_ort(m, batches=(1, 3))
