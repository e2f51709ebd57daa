"""Parser and printer: canonical round trip, exact floats, sorted keys, comments anywhere, inference."""

from __future__ import annotations

import glob
import os

import pytest
from helpers import IR_DIR, _NoWeights, golden_copy

import irc
from irc.ir import DenseAttr, Func, Module, Op, TensorType, Value

GOLDEN = sorted(os.path.basename(p) for p in glob.glob(os.path.join(IR_DIR, "*.ir")))


def _parse(text, path="t.ir"):
    return irc.parse(text, path, weights=_NoWeights())


def test_there_are_golden_files():
    assert len(GOLDEN) >= 5


@pytest.mark.parametrize("name", GOLDEN)
def test_round_trip_is_exact(name):
    text = open(os.path.join(IR_DIR, name), encoding="utf-8").read()
    printed = irc.print(_parse(text))
    assert printed == text
    assert irc.print(_parse(printed)) == printed  # idempotent
    assert irc.print(_parse(text)) == printed  # deterministic across parses


@pytest.mark.parametrize("name", GOLDEN)
def test_golden_files_verify_with_their_weights(name, tmp_path):
    path = golden_copy(name, tmp_path)
    module = irc.load(path)  # parses and verifies against the generated weight file
    assert module.funcs


def test_floats_read_back_exactly():
    values = [0.1, 1e-05, 1.5e300, -0.0, 0.30000000000000004, 2.0 ** -1074, 123456789.123456789, float("inf")]
    ops = []
    x = Value("x", TensorType((2,), "f32"))
    func = Func("forward", [x], [TensorType((2,), "f32")])
    for v in values:
        op = Op("nn.leaky_relu", [x], {"negative_slope": v}, [TensorType((2,), "f32")])
        ops.append(func.append(op))
    func.set_outputs([x])
    text = irc.print(Module("floats", funcs=[func]))
    back = _parse(text)
    got = [op.attrs["negative_slope"] for op in back.funcs[0].ops]
    assert [repr(g) for g in got] == [repr(v) for v in values]
    nan_text = text.replace("negative_slope = 0.1}", "negative_slope = nan}")
    import math
    assert math.isnan(_parse(nan_text).funcs[0].ops[0].attrs["negative_slope"])


def test_attribute_keys_are_sorted():
    x = Value("x", TensorType((1, 4, 8, 8), "f32"))
    func = Func("forward", [x], [TensorType((1, 4, 4, 4), "f32")])
    op = func.append(Op("nn.max_pool2d", [x], {"stride": [2, 2], "kernel_size": [2, 2], "ceil_mode": True},
                        [TensorType((1, 4, 4, 4), "f32")]))
    func.set_outputs(op.results)
    text = irc.print(Module("m", {"zeta": 1, "alpha": 2}, funcs=[func]))
    assert "module @m {alpha = 2, zeta = 1}" in text
    assert "{ceil_mode = true, kernel_size = [2, 2], stride = [2, 2]}" in text


def test_comments_anywhere():
    text = """// leading
module @m // after the name
{ // after the brace
  func @forward( // in the signature
      %x: tensor<1x4xf32> // an argument
    ) -> tensor<1x4xf32> {
    %y = nn.softmax( // after the paren
      %x) { // in attributes
        axis = // before a value
          -1 } // after
      : tensor<1x4xf32> // after the type
    return %y : tensor<1x4xf32> // end
  } // end of func
} // end of module
// trailing"""
    module = _parse(text)
    assert module.funcs[0].ops[0].attrs == {"axis": -1}
    assert "//" not in irc.print(module).split("\n", 1)[1]  # comments are not preserved


def test_result_type_left_out_is_inferred():
    text = """module @m {
  func @forward(%x: tensor<?x3x32x32xf32>, %w: tensor<8x3x3x3xf32>) -> tensor<?x8x16x16xf32> {
    %c = nn.conv2d(%x, %w) {dilation = [1, 1], groups = 1, padding = [[1, 1], [1, 1]], stride = [2, 2]}
    %r = nn.relu(%c)
    return %r : tensor<?x8x16x16xf32>
  }
}"""
    module = _parse(text)
    irc.verify(module)
    assert str(module.funcs[0].ops[1].result.type) == "tensor<?x8x16x16xf32>"


def test_param_type_left_out_comes_from_the_weight_file(tmp_path):
    import numpy as np
    from safetensors.numpy import save_file

    save_file({"w": np.zeros((3, 5), np.float16)}, str(tmp_path / "m.safetensors"))
    text = """module @m {weights = "m.safetensors"} {
  func @forward() -> tensor<3x5xf16> {
    %w = nn.param() {key = "w"}
    return %w : tensor<3x5xf16>
  }
}"""
    (tmp_path / "m.ir").write_text(text)
    module = irc.load(str(tmp_path / "m.ir"))
    assert str(module.funcs[0].ops[0].result.type) == "tensor<3x5xf16>"


def test_dense_splat_and_nested():
    text = """module @m {
  func @forward() -> (tensor<2x2xf32>, tensor<4xi64>) {
    %a = nn.constant() {value = dense<[[1.0, 2.0], [3.0, 4.0]]> : tensor<2x2xf32>}
    %b = nn.constant() {value = dense<7> : tensor<4xi64>}
    return %a, %b : tensor<2x2xf32>, tensor<4xi64>
  }
}"""
    module = _parse(text)
    irc.verify(module)
    a, b = (op.attrs["value"] for op in module.funcs[0].ops)
    assert a == DenseAttr([[1.0, 2.0], [3.0, 4.0]], TensorType((2, 2), "f32"))
    assert b.is_splat and b.values == 7
    bad = text.replace("tensor<2x2xf32>}", "tensor<2x3xf32>}")
    with pytest.raises(irc.IrcError, match="dense literal has shape \\[2, 2\\] but its type is tensor<2x3xf32>"):
        _parse(bad)


def test_strip_locs():
    text = open(os.path.join(IR_DIR, "locations.ir"), encoding="utf-8").read()
    stripped = irc.print(_parse(text), strip_locs=True)
    assert "loc(" not in stripped
    assert stripped.count("\n") == text.count("\n")


def test_verifier_reports_a_returned_value_whose_op_was_dropped():
    module = _parse("""module @m {
  func @forward(%x: tensor<2xf32>) -> tensor<2xf32> {
    %y = nn.relu(%x) : tensor<2xf32>
    return %y : tensor<2xf32>
  }
}""")
    module.funcs[0].ops = []  # a buggy pass dropped the op but not the use
    with pytest.raises(irc.IrcError, match="@forward returns %y, which no op of the function defines"):
        irc.verify(module)
