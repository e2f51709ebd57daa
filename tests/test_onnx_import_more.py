"""irc-import of the ONNX ops of issue 19's IR ops: unary math, comparisons and boolean logic, Where, ArgMax/ArgMin,
CumSum, TopK, GatherElements, Tile, 3-D Conv and pools, Resize of rank-3 and rank-5 inputs, GridSample. Each small
graph is imported and run with the torch executor against onnxruntime (DESIGN.md's "pass" rule) at two batch
sizes; the attribute forms irc does not take are refused by name."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

from onnx import TensorProto as T  # noqa: E402
from onnx import helper as h  # noqa: E402
from test_onnx_import import model, ops_of, rand, run_both  # noqa: E402


def refused(m, *needles):
    """The import fails with one message naming every needle."""
    import irc
    from irc.frontend.onnx import import_onnx

    with pytest.raises(irc.IrcError) as e:
        import_onnx(m)
    for needle in needles:
        assert needle in str(e.value), str(e.value)


# ----------------------------------------------------------------------------- element-wise


def test_unary_math():
    kinds = ["Sin", "Cos", "Atan", "Floor", "Ceil", "Round", "Sign"]
    nodes = [h.make_node(k, ["x"], [k.lower()]) for k in kinds]
    nodes += [h.make_node("Tanh", ["x"], ["t"]), h.make_node("Asin", ["t"], ["asin"]),
              h.make_node("Acos", ["t"], ["acos"]), h.make_node("Tan", ["t"], ["tan"])]
    names = [k.lower() for k in kinds] + ["asin", "acos", "tan"]
    module, _ = run_both(model(nodes, [("x", [None, 3, 5])], names))
    assert {"nn.sin", "nn.cos", "nn.tan", "nn.asin", "nn.acos", "nn.atan", "nn.floor", "nn.ceil", "nn.round",
            "nn.sign"} <= set(ops_of(module))


def test_comparisons_logic_and_where():
    nodes = [h.make_node("Round", ["x"], ["r"]), h.make_node("Equal", ["r", "half"], ["eq"]),
             h.make_node("Less", ["x", "y"], ["lt"]), h.make_node("LessOrEqual", ["x", "zero"], ["le"]),
             h.make_node("Greater", ["y", "x"], ["gt"]), h.make_node("GreaterOrEqual", ["x", "y"], ["ge"]),
             h.make_node("And", ["lt", "le"], ["a"]), h.make_node("Or", ["a", "eq"], ["o"]),
             h.make_node("Xor", ["o", "gt"], ["xo"]), h.make_node("Not", ["xo"], ["n"]),
             h.make_node("Or", ["n", "ge"], ["cond"]), h.make_node("Where", ["cond", "x", "fill"], ["w"]),
             h.make_node("Not", ["lt"], ["nlt"]), h.make_node("Cast", ["nlt"], ["c"], to=T.FLOAT),
             h.make_node("Add", ["w", "c"], ["out"])]
    inits = {"half": np.array(0.0, np.float32), "zero": np.array(0.0, np.float32),
             "fill": np.array([1.5, -2.0, 3.0], np.float32)}
    module, _ = run_both(model(nodes, [("x", [None, 4, 3]), ("y", [None, 4, 3])], ["out"], inits))
    ops = ops_of(module)
    assert "nn.where" in ops and "nn.logical_xor" in ops
    predicates = sorted(op.attrs["predicate"] for op in module.main.ops if op.name == "nn.compare")
    assert predicates == ["eq", "ge", "gt", "le", "lt"]


def test_not_of_equal_is_not_equal():
    nodes = [h.make_node("Equal", ["x", "y"], ["eq"]), h.make_node("Not", ["eq"], ["ne"]),
             h.make_node("Where", ["ne", "x", "y"], ["out"])]
    module, _ = run_both(model(nodes, [("x", [None, 5]), ("y", [None, 5])], ["out"]))
    assert ops_of(module) == ["nn.compare", "nn.where"]
    assert module.main.ops[0].attrs["predicate"] == "ne"


# ----------------------------------------------------------------------------- selection and running sums


@pytest.mark.parametrize("kind", ["ArgMax", "ArgMin"])
@pytest.mark.parametrize("axis,keepdims", [(1, 1), (-1, 0), (0, 1)])
def test_arg_extrema(kind, axis, keepdims):
    m = model([h.make_node(kind, ["x"], ["y"], axis=axis, keepdims=keepdims)], [("x", [None, 5, 6])], ["y"],
              out_type=T.INT64)
    module, _ = run_both(m)
    assert ops_of(module) == ["nn." + kind.lower()]


@pytest.mark.parametrize("axis", [1, -1])
def test_cumsum(axis):
    m = model([h.make_node("CumSum", ["x", "axis"], ["y"])], [("x", [None, 4, 5])], ["y"],
              {"axis": np.array(axis, np.int64)})
    module, _ = run_both(m)
    assert ops_of(module) == ["nn.cumsum"]


def _topk_model(opset, k, **attrs):
    ins, inits = (["x"], {}) if opset < 10 else (["x", "k"], {"k": np.array([k], np.int64)})
    if opset < 10:
        attrs["k"] = k
    nodes = [h.make_node("TopK", ins, ["v", "i"], **attrs), h.make_node("Cast", ["i"], ["fi"], to=T.FLOAT),
             h.make_node("Add", ["v", "fi"], ["y"])]
    return model(nodes, [("x", [None, 5, 6])], ["y"], inits, opset=opset)


@pytest.mark.parametrize("opset,attrs", [(9, {"axis": 1}), (11, {"largest": 0}), (18, {"axis": -2, "largest": 1})])
def test_topk(opset, attrs):
    module, _ = run_both(_topk_model(opset, 3, **attrs))
    topk = next(op for op in module.main.ops if op.name == "nn.topk")
    assert topk.attrs["k"] == 3 and topk.attrs["largest"] == bool(attrs.get("largest", 1))


@pytest.mark.parametrize("largest", [0, 1])
def test_topk_of_the_whole_axis_is_sort(largest):
    module, _ = run_both(_topk_model(13, 6, largest=largest))
    sort = next(op for op in module.main.ops if op.name == "nn.sort")
    assert sort.attrs["descending"] == bool(largest) and sort.attrs["axis"] == -1


def test_gather_elements_with_negative_constant_indices_and_tile():
    idx = np.array([[[0, -1, 2], [-3, 1, 1]]], np.int64)  # [1, 2, 3] along axis 1 of [1, 3, 3]
    nodes = [h.make_node("GatherElements", ["w", "idx"], ["g"], axis=1),
             h.make_node("Tile", ["x", "reps"], ["t"]), h.make_node("Add", ["t", "g"], ["y"])]
    inits = {"w": rand(1, 3, 3, seed=3), "idx": idx, "reps": np.array([1, 1, 3], np.int64)}
    # w and idx are constants: the GatherElements folds; through a run-time input it is nn.gather_elements
    m = model(nodes, [("x", [None, 2, 1])], ["y"], inits)
    module, _ = run_both(m)
    assert "nn.tile" in ops_of(module)
    nodes[0] = h.make_node("GatherElements", ["x3", "idx"], ["g"], axis=1)
    m = model(nodes, [("x", [None, 2, 1]), ("x3", [1, 3, 3])], ["y"], {"idx": idx, "reps": inits["reps"]})
    module, _ = run_both(m)
    ge = next(op for op in module.main.ops if op.name == "nn.gather_elements")
    assert ge.attrs["axis"] == 1


# ----------------------------------------------------------------------------- 3-D (video)


@pytest.mark.parametrize("pads", [{"pads": [1, 0, 1, 1, 1, 0]}, {"auto_pad": "SAME_UPPER"}])
def test_conv3d_and_3d_pools(pads):
    nodes = [h.make_node("Conv", ["x", "w", "b"], ["c"], strides=[1, 2, 2], group=2, **pads),
             h.make_node("MaxPool", ["c"], ["mp"], kernel_shape=[2, 2, 2], strides=[1, 2, 2], dilations=[1, 1, 2],
                         ceil_mode=1),
             h.make_node("AveragePool", ["c"], ["ap"], kernel_shape=[3, 3, 3], strides=[2, 2, 2],
                         pads=[1, 1, 1, 1, 1, 1], count_include_pad=1),
             h.make_node("GlobalAveragePool", ["c"], ["ga"])]
    inits = {"w": rand(4, 1, 3, 3, 3, seed=1), "b": rand(4, seed=2)}
    module, _ = run_both(model(nodes, [("x", [None, 2, 4, 9, 8])], ["mp", "ap", "ga"], inits))
    assert ops_of(module) == ["nn.conv3d", "nn.max_pool3d", "nn.avg_pool3d", "nn.adaptive_avg_pool3d"]


@pytest.mark.parametrize("case", ["rank3_linear_scales", "rank5_nearest_sizes_axes", "rank5_linear_shape_sizes"])
def test_resize_of_rank3_and_rank5(case):
    if case == "rank3_linear_scales":
        nodes = [h.make_node("Resize", ["x", "", "s"], ["y"], mode="linear")]
        shape, inits, opset = [None, 3, 7], {"s": np.array([1, 1, 2.5], np.float32)}, 13
    elif case == "rank5_nearest_sizes_axes":
        nodes = [h.make_node("Resize", ["x", "", "", "sz"], ["y"], mode="nearest", axes=[2, 3, 4],
                             coordinate_transformation_mode="asymmetric", nearest_mode="floor")]
        shape, inits, opset = [None, 2, 3, 4, 5], {"sz": np.array([6, 8, 10], np.int64)}, 18
    else:  # the opset 13 form irc's emitter writes for sizes: Shape, Slice to N and C, Concat
        nodes = [h.make_node("Shape", ["x"], ["shp"]), h.make_node("Slice", ["shp", "st", "en"], ["nc"]),
                 h.make_node("Concat", ["nc", "dhw"], ["sz"], axis=0),
                 h.make_node("Resize", ["x", "", "", "sz"], ["y"], mode="linear",
                             coordinate_transformation_mode="align_corners")]
        shape, opset = [None, 2, 3, 4, 5], 13
        inits = {"st": np.array([0], np.int64), "en": np.array([2], np.int64), "dhw": np.array([5, 6, 9], np.int64)}
    module, _ = run_both(model(nodes, [("x", shape)], ["y"], inits, opset=opset))
    assert ops_of(module) == ["nn.upsample"]


# ----------------------------------------------------------------------------- GridSample


@pytest.mark.parametrize("opset,mode", [(16, "bilinear"), (20, "linear"), (16, "nearest"), (20, "nearest")])
@pytest.mark.parametrize("padding_mode", ["zeros", "border", "reflection"])
@pytest.mark.parametrize("align_corners", [0, 1])
def test_grid_sample(opset, mode, padding_mode, align_corners):
    node = h.make_node("GridSample", ["x", "g"], ["y"], mode=mode, padding_mode=padding_mode,
                       align_corners=align_corners)
    module, _ = run_both(model([node], [("x", [None, 3, 6, 8]), ("g", [None, 5, 7, 2])], ["y"], opset=opset))
    (op,) = [op for op in module.main.ops if op.name == "nn.grid_sample"]
    assert op.attrs["mode"] == ("nearest" if mode == "nearest" else "bilinear")
    assert (op.attrs["padding_mode"], op.attrs["align_corners"]) == (padding_mode, bool(align_corners))


# ----------------------------------------------------------------------------- refused forms


def test_forms_irc_does_not_take_are_refused_by_name():
    nodes = [h.make_node("ArgMax", ["x"], ["am"], name="last_max", select_last_index=1),
             h.make_node("CumSum", ["x", "ax"], ["cr"], name="rev_sum", reverse=1),
             h.make_node("Shape", ["x"], ["n"], start=0, end=1),
             h.make_node("TopK", ["x", "n"], ["tv", "ti"], name="dyn_k", axis=0),
             h.make_node("GridSample", ["x4", "g"], ["gs"], name="cubic_grid", mode="cubic"),
             h.make_node("Add", ["cr", "tv"], ["y"])]
    m = model(nodes, [("x", [None, 4, 5]), ("x4", [None, 3, 6, 8]), ("g", [None, 5, 7, 2])], ["y", "am", "gs"],
              {"ax": np.array(1, np.int64)}, opset=20)
    refused(m, "last_max", "select_last_index=1", "rev_sum", "reverse=1", "dyn_k", "k depends on a dynamic",
            "cubic_grid", "GridSample mode 'cubic'")
