"""irc-import of ONNX: small hand-built graphs, one per tricky attribute, imported and run with the torch
executor against onnxruntime on the same file (DESIGN.md's "pass" rule), at two batch sizes."""

from __future__ import annotations

import os

import numpy as np
import pytest

torch = pytest.importorskip("torch")
onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

from onnx import TensorProto as T
from onnx import helper as h

F32 = T.FLOAT


def model(nodes, inputs, outputs, inits=None, opset=18, out_type=F32):
    """inputs: [(name, shape)] (None in a shape = dynamic); outputs: names; inits: {name: array}."""
    g = h.make_graph(
        nodes, "g",
        [h.make_tensor_value_info(n, F32, [d if d is not None else "N" for d in s]) for n, s in inputs],
        [h.make_tensor_value_info(o, out_type, None) for o in outputs],
        initializer=[onnx.numpy_helper.from_array(np.asarray(v), k) for k, v in (inits or {}).items()])
    m = h.make_model(g, opset_imports=[h.make_opsetid("", opset)])
    m.ir_version = 8
    return m


def rand(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


def run_both(m, batches=(1, 3), seed=0):
    """Import `m`, run it with the executor and in onnxruntime on the same inputs; assert the pass rule."""
    from irc.backend.pytorch.executor import Executor
    from irc.fidelity import assert_close
    from irc.frontend.onnx import import_onnx

    module = import_onnx(m, name="t")
    ex = Executor(module)
    sess = ort.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"])
    outs_all = []
    for b in batches:
        feeds = {}
        for k, i in enumerate(sess.get_inputs()):
            shape = [b if not isinstance(d, int) else d for d in i.shape]
            feeds[i.name] = rand(*shape, seed=seed + k + 10 * b)
        ref = sess.run(None, feeds)
        out = ex(*[torch.from_numpy(feeds[i.name]) for i in sess.get_inputs()])
        assert len(ref) == len(out)
        for o, r, v in zip(sess.get_outputs(), ref, out):
            assert_close(r, v, "pass", name=f"{o.name} (batch {b})")
        outs_all.append(ref)
    return module, outs_all


def ops_of(module):
    return [op.name for op in module.main.ops if op.name != "nn.param"]


# ----------------------------------------------------------------------------- conv


@pytest.mark.parametrize("auto_pad", ["SAME_UPPER", "SAME_LOWER", "VALID"])
def test_conv_auto_pad(auto_pad):
    # an even kernel with stride 2 on an odd size: the odd pixel of padding goes to the end (UPPER) or start
    w = rand(4, 3, 4, 4, seed=1)
    m = model([h.make_node("Conv", ["x", "w"], ["y"], auto_pad=auto_pad, strides=[2, 2])],
              [("x", [None, 3, 9, 8])], ["y"], {"w": w})
    module, _ = run_both(m)
    conv = next(op for op in module.main.ops if op.name == "nn.conv2d")
    expect = {"SAME_UPPER": [[1, 2], [1, 1]], "SAME_LOWER": [[2, 1], [1, 1]], "VALID": [[0, 0], [0, 0]]}[auto_pad]
    assert conv.attrs["padding"] == expect


def test_conv_asymmetric_pads_groups_dilations_bias():
    m = model([h.make_node("Conv", ["x", "w", "b"], ["y"], pads=[0, 2, 3, 1], group=2, dilations=[2, 1],
                           strides=[1, 2])],
              [("x", [None, 4, 10, 9])], ["y"], {"w": rand(6, 2, 3, 3, seed=2), "b": rand(6, seed=3)})
    module, _ = run_both(m)
    conv = next(op for op in module.main.ops if op.name == "nn.conv2d")
    assert conv.attrs["padding"] == [[0, 3], [2, 1]] and conv.attrs["groups"] == 2


@pytest.mark.parametrize("attrs", [dict(strides=[2, 2], pads=[1, 0, 0, 1], output_padding=[1, 1]),
                                   dict(strides=[2, 2], output_shape=[11, 12]),
                                   dict(strides=[2, 2], auto_pad="SAME_UPPER", group=2)])
def test_conv_transpose(attrs):
    m = model([h.make_node("ConvTranspose", ["x", "w", "b"], ["y"], kernel_shape=[3, 3], **attrs)],
              [("x", [None, 4, 5, 6])], ["y"], {"w": rand(4, 3, 3, 3, seed=4), "b": rand(3 * attrs.get("group", 1), seed=5)})
    run_both(m)


# ----------------------------------------------------------------------------- gemm, matmul


@pytest.mark.parametrize("ta", [0, 1])
@pytest.mark.parametrize("tb", [0, 1])
@pytest.mark.parametrize("c_shape,alpha,beta", [((5,), 1.0, 1.0), ((1, 5), 0.5, 2.0), ((3, 5), 1.0, -1.0),
                                                ((), 2.0, 0.5), (None, 0.25, 1.0)])
def test_gemm_flags(ta, tb, c_shape, alpha, beta):
    a_shape = (4, 3) if ta else (3, 4)
    b = rand(*((5, 4) if tb else (4, 5)), seed=6)
    inits = {"b": b}
    ins = ["a", "b"]
    if c_shape is not None:
        inits["c"] = rand(*c_shape, seed=7) if c_shape else np.float32(0.7)
        ins.append("c")
    m = model([h.make_node("Gemm", ins, ["y"], transA=ta, transB=tb, alpha=alpha, beta=beta)],
              [("a", list(a_shape))], ["y"], inits)
    module, _ = run_both(m, batches=(1,))
    if tb and not ta and alpha == 1.0 and beta == 1.0 and c_shape == (5,):
        assert ops_of(module) == ["nn.linear"]


def test_gemm_with_a_runtime_b_and_matmul():
    m = model([h.make_node("Gemm", ["a", "b"], ["g"], transA=1, alpha=0.5),
               h.make_node("MatMul", ["x", "g"], ["y"])],
              [("a", [6, 3]), ("b", [6, 5]), ("x", [None, 2, 3])], ["y"])
    run_both(m)


# ----------------------------------------------------------------------------- shapes


def test_reshape_zero_and_minus_one():
    m = model([h.make_node("Reshape", ["x", "s1"], ["r1"]),
               h.make_node("Reshape", ["x", "s2"], ["r2"]),
               h.make_node("Reshape", ["x", "s3"], ["r3"])],
              [("x", [None, 4, 6, 2])], ["r1", "r2", "r3"],
              {"s1": np.array([0, -1], np.int64), "s2": np.array([0, 0, 3, -1], np.int64),
               "s3": np.array([-1, 12], np.int64)})
    module, _ = run_both(m)
    shapes = [op.attrs["shape"] for op in module.main.ops if op.name == "nn.reshape"]
    assert shapes == [[0, -1], [0, 0, 3, -1], [-1, 12]]


def test_shape_arithmetic_on_a_dynamic_batch_is_folded():
    """x.view(x.size(0), -1) as the TorchScript exporter writes it: Shape/Gather/Unsqueeze/Concat/Reshape."""
    m = model([h.make_node("Shape", ["x"], ["s"]),
               h.make_node("Gather", ["s", "zero"], ["n"], axis=0),
               h.make_node("Unsqueeze", ["n", "ax"], ["n1"]),
               h.make_node("Concat", ["n1", "minus1"], ["target"], axis=0),
               h.make_node("Reshape", ["x", "target"], ["y"]),
               h.make_node("Shape", ["y"], ["ys"]),
               h.make_node("Slice", ["ys", "zero1", "one1"], ["yn"]),
               h.make_node("Concat", ["yn", "c3", "minus1"], ["t2"], axis=0),
               h.make_node("Reshape", ["y", "t2"], ["z"])],
              [("x", [None, 3, 4, 2])], ["z"],
              {"zero": np.array(0, np.int64), "ax": np.array([0], np.int64), "minus1": np.array([-1], np.int64),
               "zero1": np.array([0], np.int64), "one1": np.array([1], np.int64), "c3": np.array([3], np.int64)})
    module, _ = run_both(m)
    assert ops_of(module) == ["nn.reshape", "nn.reshape"]
    assert [op.attrs["shape"] for op in module.main.ops] == [[0, -1], [0, 3, -1]]


@pytest.mark.parametrize("opset", [11, 13, 18])
def test_split_attribute_or_input(opset):
    if opset == 11:
        node = h.make_node("Split", ["x"], ["a", "b", "c"], axis=1, split=[1, 2, 3])
        inits = {}
    elif opset == 13:
        node = h.make_node("Split", ["x", "sp"], ["a", "b", "c"], axis=1)
        inits = {"sp": np.array([1, 2, 3], np.int64)}
    else:  # num_outputs, uneven: ceil(6/4)=2 -> 2, 2, 2... use 4 pieces of 7 -> 2, 2, 2, 1
        node = h.make_node("Split", ["x"], ["a", "b", "c"], axis=1, num_outputs=3)
        inits = {}
    m = model([node], [("x", [None, 6, 4])], ["a", "b", "c"], inits, opset=opset)
    module, _ = run_both(m)
    split = next(op for op in module.main.ops if op.name == "nn.split")
    assert split.attrs["sizes"] == ([1, 2, 3] if opset != 18 else [2, 2, 2])


def test_split_even_without_sizes():
    m = model([h.make_node("Split", ["x"], ["a", "b"], axis=-1)], [("x", [None, 3, 8])], ["a", "b"], opset=13)
    run_both(m)


@pytest.mark.parametrize("opset", [11, 13])
def test_squeeze_unsqueeze_attribute_or_input(opset):
    if opset == 11:
        nodes = [h.make_node("Unsqueeze", ["x"], ["u"], axes=[1, -1]), h.make_node("Squeeze", ["u"], ["s"], axes=[1]),
                 h.make_node("Squeeze", ["u"], ["all"])]
        inits = {}
    else:
        nodes = [h.make_node("Unsqueeze", ["x", "ua"], ["u"]), h.make_node("Squeeze", ["u", "sa"], ["s"]),
                 h.make_node("Squeeze", ["u"], ["all"])]
        inits = {"ua": np.array([1, -1], np.int64), "sa": np.array([1], np.int64)}
    m = model(nodes, [("x", [2, 3, 4])], ["u", "s", "all"], inits, opset=opset)
    module, _ = run_both(m, batches=(1,))
    assert [op.result.type.shape for op in module.main.ops if op.name != "nn.constant"] == \
        [(2, 1, 3, 4, 1), (2, 3, 4, 1), (2, 3, 4)]


def test_slice_flatten_transpose_expand_gather_pad():
    big = np.iinfo(np.int64).max
    m = model([h.make_node("Slice", ["x", "st", "en", "ax", "sp"], ["s"]),
               h.make_node("Slice", ["x", "st2", "en2"], ["s2"]),
               h.make_node("Flatten", ["x"], ["f0"], axis=0),
               h.make_node("Flatten", ["x"], ["f2"], axis=2),
               h.make_node("Transpose", ["x"], ["t"]),
               h.make_node("Expand", ["e", "eshape"], ["ex"]),
               h.make_node("Gather", ["x", "gi"], ["g"], axis=2),
               h.make_node("Pad", ["x", "pads", "pv"], ["p1"], mode="constant"),
               h.make_node("Pad", ["x", "pads"], ["p2"], mode="reflect"),
               h.make_node("Pad", ["x", "pads"], ["p3"], mode="edge")],
              [("x", [2, 3, 5, 6]), ("e", [3, 1])], ["s", "s2", "f0", "f2", "t", "ex", "g", "p1", "p2", "p3"],
              {"st": np.array([-4, 1], np.int64), "en": np.array([big, 6], np.int64), "ax": np.array([3, 2], np.int64),
               "sp": np.array([2, 3], np.int64), "st2": np.array([0, 1], np.int64), "en2": np.array([1, -1], np.int64),
               "eshape": np.array([2, 1, 4], np.int64), "gi": np.array(-1, np.int64),
               "pads": np.array([0, 0, 1, 2, 0, 0, 2, 1], np.int64), "pv": np.array(0.5, np.float32)}, opset=13)
    run_both(m, batches=(1,))


def test_pad_axes_input_opset18():
    m = model([h.make_node("Pad", ["x", "pads", "", "axes"], ["y"], mode="constant")],
              [("x", [None, 3, 5])], ["y"], {"pads": np.array([1, 0, 2, 3], np.int64), "axes": np.array([-1, 1], np.int64)})
    run_both(m)


# ----------------------------------------------------------------------------- resize


@pytest.mark.parametrize("case", ["nearest_scales", "nearest_sizes", "linear_align", "linear_half", "linear_pt_half",
                                  "linear_half_to_1", "opset11_sizes_4d"])
def test_resize_modes(case):
    x = ("x", [None, 2, 5, 7])
    f = np.array
    spec = {
        "nearest_scales": (dict(mode="nearest", coordinate_transformation_mode="asymmetric", nearest_mode="floor"),
                           f([1, 1, 2, 3], np.float32), None, 18),
        "nearest_sizes": (dict(mode="nearest", coordinate_transformation_mode="asymmetric", nearest_mode="floor"),
                          None, f([8, 9], np.int64), 18),
        "linear_align": (dict(mode="linear", coordinate_transformation_mode="align_corners"), None, f([9, 4], np.int64), 18),
        "linear_half": (dict(mode="linear", coordinate_transformation_mode="half_pixel"), f([1, 1, 1.5, 1.5], np.float32),
                        None, 18),
        "linear_pt_half": (dict(mode="linear", coordinate_transformation_mode="pytorch_half_pixel"), None,
                           f([7, 3], np.int64), 18),
        "linear_half_to_1": (dict(mode="linear", coordinate_transformation_mode="half_pixel"), None, f([1, 3], np.int64), 18),
        "opset11_sizes_4d": (dict(mode="nearest", coordinate_transformation_mode="asymmetric", nearest_mode="floor"),
                             None, f([1, 2, 10, 3], np.int64), 13),
    }[case]
    attrs, scales, sizes, opset = spec
    inits, ins = {}, ["x", "", ""]
    if scales is not None:
        inits["scales"] = scales
        ins[2] = "scales"
    if sizes is not None:
        inits["sizes"] = sizes
        ins.append("sizes")
        if len(sizes) == 2:
            attrs = dict(attrs, axes=[2, 3])
    m = model([h.make_node("Resize", ins, ["y"], **attrs)], [x] if len(sizes if sizes is not None else []) != 4
              else [("x", [1, 2, 5, 7])], ["y"], inits, opset=opset)
    module, _ = run_both(m, batches=(1,) if case == "opset11_sizes_4d" else (1, 3))
    assert ops_of(module) == ["nn.upsample"]


def test_upsample_opset9():
    m = model([h.make_node("Upsample", ["x", "s"], ["y"], mode="nearest")], [("x", [None, 2, 3, 4])], ["y"],
              {"s": np.array([1, 1, 2, 2], np.float32)}, opset=9)
    run_both(m)


def test_unsupported_ops_reported_together_with_node_names(tmp_path):
    import irc
    from irc.frontend.onnx import import_onnx
    from irc.tools.irc_import import main

    m = model([h.make_node("Resize", ["x", "", "s"], ["r"], name="resize_cubic", mode="cubic"),
               h.make_node("Resize", ["x", "", "s"], ["r2"], name="resize_nn_half", mode="nearest",
                           coordinate_transformation_mode="half_pixel"),
               h.make_node("CumSum", ["x", "k"], ["v"], name="my_cumsum", exclusive=1),
               h.make_node("Relu", ["v"], ["after"], name="downstream"),
               h.make_node("Add", ["r", "r2"], ["y"])],
              [("x", [None, 2, 3, 4])], ["y", "after"], {"s": np.array([1, 1, 2, 2], np.float32),
                                                         "k": np.array(2, np.int64)})
    with pytest.raises(irc.IrcError) as e:
        import_onnx(m)
    msg = str(e.value)
    assert "3 unsupported ops" not in msg  # two kinds: Resize (two reasons) and CumSum
    for needle in ("resize_cubic", "resize_nn_half", "my_cumsum", "CumSum", "exclusive=1", "Resize",
                   "nothing was written"):
        assert needle in msg, msg
    assert "downstream" not in msg  # downstream of a failure is not reported again
    path = str(tmp_path / "bad.bin")  # detected by content, not by name
    onnx.save(m, path)
    assert main([path, "-o", str(tmp_path / "bad.ir")]) == 1
    assert not os.path.exists(tmp_path / "bad.ir") and not os.path.exists(tmp_path / "bad.safetensors")


# ----------------------------------------------------------------------------- pooling


@pytest.mark.parametrize("cip", [0, 1])
@pytest.mark.parametrize("ceil", [0, 1])
@pytest.mark.parametrize("pads", [[0, 0, 0, 0], [1, 1, 1, 1], [0, 1, 1, 0]])
def test_average_pool_flags(cip, ceil, pads):
    m = model([h.make_node("AveragePool", ["x"], ["y"], kernel_shape=[3, 3], strides=[2, 2], pads=pads,
                           count_include_pad=cip, ceil_mode=ceil)], [("x", [None, 2, 8, 7])], ["y"])
    module, _ = run_both(m)
    op = module.main.ops[0]
    assert op.attrs["count_include_pad"] is bool(cip) and op.attrs["ceil_mode"] is bool(ceil)


def test_pools_same_upper_ceil_dilation_and_global():
    m = model([h.make_node("MaxPool", ["x"], ["a"], kernel_shape=[2, 2], strides=[2, 2], auto_pad="SAME_UPPER"),
               h.make_node("AveragePool", ["x"], ["b"], kernel_shape=[3, 3], strides=[2, 2], auto_pad="SAME_LOWER"),
               h.make_node("MaxPool", ["x"], ["c"], kernel_shape=[2, 3], strides=[2, 2], dilations=[2, 1], ceil_mode=1),
               h.make_node("GlobalAveragePool", ["x"], ["d"]), h.make_node("GlobalMaxPool", ["x"], ["e"])],
              [("x", [None, 2, 9, 8])], ["a", "b", "c", "d", "e"])
    run_both(m)


# ----------------------------------------------------------------------------- element-wise


@pytest.mark.parametrize("attrs", [{}, {"alpha": 1 / 6, "beta": 0.5}, {"alpha": 0.3, "beta": 0.1}])
def test_hardsigmoid_alpha_beta(attrs):
    m = model([h.make_node("HardSigmoid", ["x"], ["y"], **attrs)], [("x", [None, 4, 5])], ["y"])
    module, _ = run_both(m)
    op = module.main.ops[0]
    assert (op.attrs["alpha"], op.attrs["beta"]) == (attrs.get("alpha", 0.2), attrs.get("beta", 0.5))


@pytest.mark.parametrize("opset", [10, 13])
def test_clip_attributes_or_inputs(opset):
    if opset == 10:
        nodes = [h.make_node("Clip", ["x"], ["a"], min=-0.5, max=0.75), h.make_node("Clip", ["x"], ["b"], min=0.0)]
        inits = {}
    else:
        nodes = [h.make_node("Clip", ["x", "lo", "hi"], ["a"]), h.make_node("Clip", ["x", "lo"], ["b"]),
                 h.make_node("Clip", ["x", "", "hi"], ["c"])]
        inits = {"lo": np.array(-0.5, np.float32), "hi": np.array(0.75, np.float32)}
    outs = ["a", "b"] + (["c"] if opset == 13 else [])
    m = model(nodes, [("x", [None, 6])], outs, inits, opset=opset)
    module, _ = run_both(m)
    assert module.main.ops[0].attrs["min"] == -0.5 and module.main.ops[0].attrs["max"] == 0.75


def test_activations_and_arithmetic():
    nodes = [h.make_node("LeakyRelu", ["x"], ["a"], alpha=0.2), h.make_node("Elu", ["a"], ["b"], alpha=0.7),
             h.make_node("Softplus", ["b"], ["c"]), h.make_node("HardSwish", ["c"], ["d"]),
             h.make_node("Mish", ["d"], ["e"]), h.make_node("PRelu", ["e", "slope"], ["f"]),
             h.make_node("Sigmoid", ["f"], ["g"]), h.make_node("Tanh", ["g"], ["i"]),
             h.make_node("Reciprocal", ["s"], ["rs"]), h.make_node("Abs", ["x"], ["ab"]),
             h.make_node("Sqrt", ["ab"], ["sq"]), h.make_node("Log", ["ab"], ["lg"]), h.make_node("Exp", ["lg"], ["ex"]),
             h.make_node("Pow", ["ab", "two"], ["pw"]), h.make_node("Sum", ["pw", "sq", "ex"], ["sm"]),
             h.make_node("Mean", ["sm", "i"], ["mn"]), h.make_node("Max", ["mn", "x", "rs"], ["mx"]),
             h.make_node("Min", ["mx", "one"], ["mi"]), h.make_node("Sub", ["mi", "x"], ["su"]),
             h.make_node("Div", ["su", "s"], ["dv"]), h.make_node("Neg", ["dv"], ["ng"]),
             h.make_node("Erf", ["ng"], ["er"]), h.make_node("Identity", ["er"], ["id"]),
             h.make_node("Dropout", ["id"], ["dr"]), h.make_node("Cast", ["dr"], ["c16"], to=T.FLOAT16),
             h.make_node("Cast", ["c16"], ["y"], to=T.FLOAT), h.make_node("Relu", ["y"], ["z"])]
    m = model(nodes, [("x", [None, 3, 4])], ["z"],
              {"slope": rand(3, 1, seed=9), "s": np.abs(rand(4, seed=8)) + 0.5, "two": np.array(2.0, np.float32),
               "one": np.array([1.0], np.float32)})
    run_both(m)


def test_gelu_erf_and_gelu_op():
    c = {"sqrt2": np.array(np.sqrt(2), np.float32), "one": np.array(1.0, np.float32), "half": np.array(0.5, np.float32)}
    nodes = [h.make_node("Div", ["x", "sqrt2"], ["d"]), h.make_node("Erf", ["d"], ["e"]),
             h.make_node("Add", ["e", "one"], ["a"]), h.make_node("Mul", ["x", "a"], ["m"]),
             h.make_node("Mul", ["m", "half"], ["y"]), h.make_node("Gelu", ["x"], ["g"]),
             h.make_node("Gelu", ["x"], ["gt"], approximate="tanh")]
    module, _ = run_both(model(nodes, [("x", [None, 8])], ["y", "g", "gt"], c, opset=20))
    assert ops_of(module) == ["nn.gelu", "nn.gelu", "nn.gelu"]  # the Erf pattern is recognised as gelu
    # the other orders exporters write: (x * 0.5) * (1 + erf(x * 0.70710678))
    nodes = [h.make_node("Mul", ["x", "rs2"], ["d"]), h.make_node("Erf", ["d"], ["e"]),
             h.make_node("Add", ["one", "e"], ["a"]), h.make_node("Mul", ["half", "x"], ["hx"]),
             h.make_node("Mul", ["hx", "a"], ["y"]), h.make_node("Erf", ["x"], ["e2"]), h.make_node("Add", ["e2", "one"], ["z"])]
    module, _ = run_both(model(nodes, [("x", [None, 8])], ["y", "z"], dict(c, rs2=np.array(0.5 ** 0.5, np.float32))))
    assert ops_of(module)[0] == "nn.gelu" and "nn.erf" in ops_of(module)
    # the tanh approximation as the TorchScript exporter writes it below opset 20
    k = {"c": np.array(0.044715, np.float32), "k": np.array(np.sqrt(2 / np.pi), np.float32)}
    nodes = [h.make_node("Mul", ["x", "x"], ["x2"]), h.make_node("Mul", ["x", "x2"], ["x3"]),
             h.make_node("Mul", ["c", "x3"], ["cx3"]), h.make_node("Add", ["x", "cx3"], ["s"]),
             h.make_node("Mul", ["k", "s"], ["i"]), h.make_node("Tanh", ["i"], ["t"]),
             h.make_node("Add", ["one", "t"], ["a"]), h.make_node("Mul", ["x", "a"], ["m"]),
             h.make_node("Mul", ["half", "m"], ["y"])]
    module, _ = run_both(model(nodes, [("x", [None, 8])], ["y"], dict(c, **k), opset=17))
    assert ops_of(module) == ["nn.gelu"] and module.main.ops[-1].attrs["approximate"] == "tanh"


# ----------------------------------------------------------------------------- normalisation, reductions


@pytest.mark.parametrize("opset", [13, 18])
def test_reductions_axes_attribute_or_input(opset):
    if opset == 13:
        nodes = [h.make_node("ReduceMean", ["x"], ["a"], axes=[1, -1]), h.make_node("ReduceMax", ["x"], ["b"], axes=[2], keepdims=0),
                 h.make_node("ReduceSum", ["x", "ax"], ["c"], keepdims=0), h.make_node("ReduceMin", ["x"], ["d"])]
    else:
        nodes = [h.make_node("ReduceMean", ["x", "ax2"], ["a"]), h.make_node("ReduceMax", ["x", "ax1"], ["b"], keepdims=0),
                 h.make_node("ReduceSum", ["x", "ax"], ["c"], keepdims=0), h.make_node("ReduceMin", ["x"], ["d"])]
    m = model(nodes, [("x", [None, 3, 4, 5])], ["a", "b", "c", "d"],
              {"ax": np.array([1], np.int64), "ax2": np.array([1, -1], np.int64), "ax1": np.array([2], np.int64)},
              opset=opset)
    module, _ = run_both(m)
    assert [op.attrs["axes"] for op in module.main.ops if op.name in ("nn.mean", "nn.reduce_max")] == [[1, 3], [2]]


@pytest.mark.parametrize("opset", [11, 13])
def test_softmax_axis_semantics_changed_in_opset13(opset):
    # opset 11 coerces to 2-D at `axis` (softmax over dims 1..3 together); opset 13 normalises axis 1 only
    m = model([h.make_node("Softmax", ["x"], ["y"], axis=1), h.make_node("LogSoftmax", ["x"], ["z"], axis=-1)],
              [("x", [None, 3, 4, 5])], ["y", "z"], opset=opset)
    run_both(m)


def test_normalisations():
    nodes = [h.make_node("BatchNormalization", ["x", "g", "b", "m", "v"], ["bn"], epsilon=1e-3),
             h.make_node("InstanceNormalization", ["bn", "g", "b"], ["inn"], epsilon=1e-4),
             h.make_node("LayerNormalization", ["inn", "lw", "lb"], ["ln"], axis=-1, epsilon=1e-6),
             h.make_node("LayerNormalization", ["inn", "lw2"], ["ln2"], axis=1)]
    inits = {"g": rand(3, seed=1), "b": rand(3, seed=2), "m": rand(3, seed=3), "v": np.abs(rand(3, seed=4)) + 0.5,
             "lw": rand(5, seed=5), "lb": rand(5, seed=6), "lw2": rand(3, 4, 5, seed=7)}
    run_both(model(nodes, [("x", [None, 3, 4, 5])], ["ln", "ln2"], inits))


def test_initializers_become_params_keyed_by_sanitised_names(tmp_path):
    import irc
    from irc.tools.irc_import import main

    m = model([h.make_node("Conv", ["x", "onnx::Conv_12"], ["c"], name="/layer1/layer1.0/conv1/Conv", pads=[1, 1, 1, 1]),
               h.make_node("Add", ["c", "layer.bias"], ["y"])],
              [("x", [None, 2, 5, 5])], ["y"], {"onnx::Conv_12": rand(3, 2, 3, 3), "layer.bias": rand(3, 1, 1)})
    path = str(tmp_path / "m.weird_name")
    onnx.save(m, path)
    assert main([path, "-o", str(tmp_path / "m.ir"), "-q"]) == 0
    module = irc.load(str(tmp_path / "m.ir"))
    assert sorted(module.weights.keys()) == ["layer.bias", "onnx_Conv_12"]
    conv = next(op for op in module.main.ops if op.name == "nn.conv2d")
    assert conv.result.name == "layer1.0.conv1"  # named after the module path in the node name
    np.testing.assert_array_equal(module.weights.numpy("onnx_Conv_12"), onnx.numpy_helper.to_array(m.graph.initializer[0]))


def test_gather_nd_with_constant_indices():
    # what the dynamo exporter writes for adaptive_avg_pool2d(1x1 -> 7x7): GatherND over [H, W, N, C]
    idx = np.stack(np.meshgrid(np.array([0, 2, 1]), np.array([1, 0]), indexing="ij"), -1).reshape(3, 1, 2, 2)
    m = model([h.make_node("Transpose", ["x"], ["t"], perm=[2, 3, 0, 1]),
               h.make_node("GatherND", ["t", "i"], ["g"]),
               h.make_node("GatherND", ["t", "i1"], ["g1"])],
              [("x", [None, 2, 3, 4])], ["g", "g1"], {"i": idx.astype(np.int64), "i1": np.array([[2], [-1]], np.int64)})
    run_both(m)


def test_silu_pattern_becomes_silu_only_when_the_sigmoid_is_private():
    m = model([h.make_node("Sigmoid", ["x"], ["s"]), h.make_node("Mul", ["x", "s"], ["a"]),
               h.make_node("Sigmoid", ["a"], ["s2"]), h.make_node("Mul", ["s2", "a"], ["b"]),
               h.make_node("Add", ["b", "s2"], ["y"])], [("x", [None, 4])], ["y"])
    module, _ = run_both(m)
    assert ops_of(module) == ["nn.silu", "nn.sigmoid", "nn.mul", "nn.add"]


def test_where_patterns_softplus_threshold_and_minus_inf_mask():
    mask = np.random.default_rng(0).random((4, 6)) > 0.3
    mask[:, 0] = True  # no row entirely masked
    nodes = [h.make_node("Mul", ["x", "beta"], ["bx"]), h.make_node("Greater", ["bx", "thr"], ["big"]),
             h.make_node("Softplus", ["bx"], ["sp"]), h.make_node("Div", ["sp", "beta"], ["spb"]),
             h.make_node("Where", ["big", "x", "spb"], ["soft"]),
             h.make_node("Where", ["m", "x", "ninf"], ["masked"]), h.make_node("Softmax", ["masked"], ["att"]),
             h.make_node("Add", ["soft", "att"], ["y"])]
    inits = {"beta": np.array(2.0, np.float32), "thr": np.array(1.5, np.float32), "m": mask,
             "ninf": np.array(-np.inf, np.float32)}
    module, _ = run_both(model(nodes, [("x", [None, 4, 6])], ["y"], inits))
    sp = next(op for op in module.main.ops if op.name == "nn.softplus")
    assert (sp.attrs["beta"], sp.attrs["threshold"]) == (2.0, 1.5)
    assert "nn.mul" not in ops_of(module)  # the pattern's pieces are gone
    # any other use of a comparison is an nn.compare (the i1 result cast like any tensor)
    other = model([h.make_node("Less", ["x", "thr"], ["lt"], name="cmp"), h.make_node("Cast", ["lt"], ["y"], to=F32)],
                  [("x", [None, 3])], ["y"], {"thr": np.array(0.5, np.float32)})
    module, _ = run_both(other)
    assert ops_of(module) == ["nn.compare", "nn.cast"]


def test_irc_check_with_an_onnx_source(tmp_path, capsys):
    """irc-check m.onnx --ir m.ir: the imported IR against onnxruntime running the source file."""
    from irc.tools.irc_check import main as check_main
    from irc.tools.irc_import import main as import_main

    m = model([h.make_node("Conv", ["x", "w", "b"], ["c"], pads=[1, 1, 1, 1]), h.make_node("Relu", ["c"], ["y"])],
              [("x", [None, 2, 6, 6])], ["y"], {"w": rand(3, 2, 3, 3), "b": rand(3, seed=1)})
    path = str(tmp_path / "m.onnx")
    onnx.save(m, path)
    assert import_main([path, "-o", str(tmp_path / "m.ir"), "-q"]) == 0
    assert check_main([path, "--ir", str(tmp_path / "m.ir")]) == 0
    out = capsys.readouterr().out
    assert "pass rule" in out and "[batch 3]" in out
    # a wrong IR fails
    text = (tmp_path / "m.ir").read_text().replace("nn.relu", "nn.sigmoid")
    (tmp_path / "bad.ir").write_text(text)
    assert check_main([path, "--ir", str(tmp_path / "bad.ir")]) == 1


@pytest.mark.parametrize("opset", [18, 21])
def test_group_normalization_per_group_or_per_channel(opset):
    shape = (2,) if opset == 18 else (6,)  # opset 18: scale/bias per group; 21: per channel
    m = model([h.make_node("GroupNormalization", ["x", "s", "b"], ["y"], num_groups=2, epsilon=1e-3)],
              [("x", [None, 6, 3, 4])], ["y"], {"s": rand(*shape, seed=1), "b": rand(*shape, seed=2)}, opset=opset)
    module, _ = run_both(m)
    assert ops_of(module) == ["nn.group_norm"]


def test_affine_index_over_a_dynamic_batch():
    """Gather(Reshape(x, [-1]), Range(0, N) * 12 + arange(12)): x itself; a non-contiguous stride is refused."""
    import irc
    from irc.frontend.onnx import import_onnx

    def graph(stride):
        return model([h.make_node("Shape", ["x"], ["s"], end=1), h.make_node("Squeeze", ["s", "ax0"], ["n"]),
                      h.make_node("Range", ["zero", "n", "one"], ["r"]), h.make_node("Mul", ["r", "k"], ["rk"]),
                      h.make_node("Unsqueeze", ["rk", "ax123"], ["ru"]), h.make_node("Add", ["ru", "inner"], ["idx"]),
                      h.make_node("Reshape", ["x", "m1"], ["flat"]), h.make_node("Gather", ["flat", "idx"], ["g"]),
                      h.make_node("Relu", ["g"], ["y"])],
                     [("x", [None, 3, 2, 2])], ["y"],
                     {"ax0": np.array([0], np.int64), "zero": np.array(0, np.int64), "one": np.array(1, np.int64),
                      "k": np.array(stride, np.int64), "ax123": np.array([1, 2, 3], np.int64),
                      "inner": np.arange(12, dtype=np.int64).reshape(1, 3, 2, 2), "m1": np.array([-1], np.int64)})

    module, _ = run_both(graph(12))
    assert ops_of(module) == ["nn.relu"]
    with pytest.raises(irc.IrcError, match="non-contiguous"):
        import_onnx(graph(13))
