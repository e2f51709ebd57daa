"""fold-constants, canonicalize and cse: golden IR, numbers before/after, and what must not change."""

from __future__ import annotations

import numpy as np
import pytest
from test_pass_common import assert_same_numbers, check_golden, load_pair, op_kinds, run_pipeline


def test_fold_constants(tmp_path):
    before, after = load_pair("fold_constants.ir", tmp_path)
    run_pipeline(after, "fold-constants")
    check_golden(after, "fold_constants.expected.ir")
    kinds = op_kinds(after)
    assert kinds["transpose"] == 0 and kinds["cast"] == 0 and kinds["sum"] == 0 and kinds["slice"] == 0
    assert kinds["expand"] == 1  # growing a bias to an activation's size is not worth a weight
    ops = {op.result.name: op for op in after.main.ops}
    assert ops["wt"].name == "nn.param" and ops["wt"].attrs["key"] == "wt"
    assert ops["s3"].name == "nn.constant" and ops["k"].name == "nn.constant"
    # the folded values are what the graph computes
    np.testing.assert_allclose(np.asarray(after.weights.numpy("wt")),
                               np.asarray(before.weights.numpy("conv.weight")).transpose(0, 1, 3, 2))
    assert ops["k"].attrs["value"].values == [pytest.approx(2.0 / (16 + 36))]
    worst = assert_same_numbers(before, after)
    print(f"fold-constants: max|d| = {worst:.3g}")


def test_fold_constants_is_idempotent(tmp_path):
    import irc

    _, m = load_pair("fold_constants.ir", tmp_path)
    run_pipeline(m, "fold-constants")
    text = irc.print(m)
    assert not irc.passes.parse_pipeline("fold-constants")[0].apply(m)
    assert irc.print(m) == text


def test_canonicalize(tmp_path):
    before, after = load_pair("canonicalize.ir", tmp_path)
    run_pipeline(after, "canonicalize")
    check_golden(after, "canonicalize.expected.ir")
    kinds = op_kinds(after)
    for k in ("dropout", "identity", "pad", "slice", "cast", "expand", "flatten"):
        assert kinds[k] == 0, k
    assert kinds["transpose"] == 1 and kinds["reshape"] == 1
    assert kinds["mul"] == 1  # the broadcasting x*1 stays: it changes the shape
    assert kinds["add"] == 1  # %zero is random here, not zeros
    worst = assert_same_numbers(before, after)
    print(f"canonicalize: max|d| = {worst:.3g}")


def test_canonicalize_folds_add_of_real_zeros(tmp_path):
    before, after = load_pair("canonicalize.ir", tmp_path)
    for m in (before, after):
        m.weights.add("zeros", np.zeros((1, 144), np.float32))
    run_pipeline(after, "canonicalize")
    assert op_kinds(after)["add"] == 0
    assert_same_numbers(before, after)


def test_canonicalize_keeps_real_work():
    """Nothing to simplify: the pass reports no change and prints the same text."""
    import irc

    text = """// irc 1
module @m {
  func @forward(%x: tensor<2x3x4xf32>) -> tensor<4x3x2xf32> {
    %t = nn.transpose(%x) {perm = [2, 1, 0]} : tensor<4x3x2xf32>
    %r = nn.reshape(%t) {shape = [4, 6]} : tensor<4x6xf32>
    %s = nn.slice(%r) {axes = [1], ends = [6], starts = [1]} : tensor<4x5xf32>
    %p = nn.pad(%s) {pads = [[0, 0], [1, 0]]} : tensor<4x6xf32>
    %q = nn.reshape(%p) {shape = [4, 3, 2]} : tensor<4x3x2xf32>
    %m = nn.add(%t, %q) : tensor<4x3x2xf32>
    return %m : tensor<4x3x2xf32>
  }
}
"""
    m = irc.parse(text)
    irc.verify(m)
    assert not irc.passes.parse_pipeline("canonicalize")[0].apply(m)
    assert irc.print(m) == text


def test_cse(tmp_path):
    before, after = load_pair("cse.ir", tmp_path)
    run_pipeline(after, "cse")
    check_golden(after, "cse.expected.ir")
    kinds = op_kinds(after)
    assert kinds["param"] == 1 and kinds["constant"] == 1 and kinds["conv2d"] == 2 and kinds["relu"] == 1
    assert kinds["leaky_relu"] == 2 and kinds["sub"] == 2 and kinds["mul"] == 1  # sub is not commutative
    worst = assert_same_numbers(before, after)
    print(f"cse: max|d| = {worst:.3g}")
