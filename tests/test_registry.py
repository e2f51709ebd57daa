"""The op registry is the single source of truth: docs, torch mapping and the registry agree."""

from __future__ import annotations

import itertools

import pytest

from irc.coverage import render_docs
from irc.ir.ops import OPS
from irc.tools import gen_docs

REQUIRED_OPS = ["param", "constant", "conv2d", "conv_transpose2d", "batch_norm", "linear", "matmul", "relu", "clamp", "leaky_relu", "sigmoid", "tanh", "silu", "gelu", "hardswish", "hardsigmoid", "softmax", "max_pool2d", "avg_pool2d", "adaptive_avg_pool2d", "add", "sub", "mul", "div", "concat", "split", "slice", "reshape", "flatten", "transpose", "pad", "upsample", "mean", "sum", "layer_norm", "dropout"]


def test_issue_ops_are_registered():
    missing = [o for o in REQUIRED_OPS if "nn." + o not in OPS]
    assert not missing


def test_every_op_is_documented():
    assert all(op.doc for op in OPS.values())


def test_docs_are_not_stale():
    with open(gen_docs.DEFAULT, encoding="utf-8") as f:
        assert f.read() == render_docs(), "docs/ops.md is stale: run python -m irc.tools.gen_docs"
    assert gen_docs.main(["--check"]) == 0


def test_the_coverage_matrix_shows_a_backend_gap(monkeypatch):
    """A backend that lacks an op shows '—' in its column: the matrix is read from the tables."""
    from irc.backend.onnx import EMITTERS
    from irc.coverage import render_matrix

    def relu_cells():
        lines = render_matrix().splitlines()
        head = next(line for line in lines if line.startswith("| op |")).strip("|").split("|")
        row = next(line for line in lines if line.startswith("| `nn.relu` |")).strip("|").split("|")
        return dict(zip([h.strip() for h in head], [c.strip() for c in row]))

    cells = relu_cells()
    assert cells["pytorch"] == cells["onnx"] == "✔" and "`relu.default`" in cells["ATen in"]
    assert "`Relu`" in cells["ONNX in"] and "`ReLU`" in cells["Keras in"]
    monkeypatch.delitem(EMITTERS, "nn.relu")
    assert relu_cells()["onnx"] == "—" and relu_cells()["pytorch"] == "✔"


def test_every_op_has_a_torch_mapping():
    pytest.importorskip("torch")
    from irc.backend.pytorch import EMITTERS

    assert sorted(n for n in set(OPS) - set(EMITTERS) - {"nn.param"} if not OPS[n].has("inlined")) == []
    assert sorted(set(EMITTERS) - set(OPS)) == []


def _run_helper(name, *args):
    import torch
    import torch.nn.functional as F

    from irc.backend.pytorch import helper_source

    ns = {"torch": torch, "F": F}
    exec(helper_source([name]), ns)
    return ns[name](*args)


@pytest.mark.parametrize("k,s,pad,ceil", [(3, 2, 1, False), (3, 2, 1, True), (2, 2, 1, True), (3, 1, 1, False),
                                          (5, 3, 2, True)])
def test_padded_pool_helpers_match_torch_where_torch_can(k, s, pad, ceil):
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    x = torch.randn(2, 3, 11, 9)
    p = [[pad, pad], [pad, pad]]
    ref = F.max_pool2d(x, k, s, pad, 1, ceil_mode=ceil)
    assert torch.equal(_run_helper("max_pool2d_padded", x, (k, k), (s, s), p, (1, 1), ceil), ref)
    for cip in (True, False):
        ref = F.avg_pool2d(x, k, s, pad, ceil_mode=ceil, count_include_pad=cip)
        got = _run_helper("avg_pool2d_padded", x, (k, k), (s, s), p, ceil, cip)
        torch.testing.assert_close(got, ref, rtol=1e-6, atol=1e-6)


def test_asymmetric_pool_padding_against_a_direct_computation():
    torch = pytest.importorskip("torch")
    x = torch.randn(1, 2, 6, 7)
    pads = [[0, 1], [1, 0]]  # TF "SAME" style: bottom and left
    got_max = _run_helper("max_pool2d_padded", x, (2, 2), (2, 2), pads, (1, 1), False)
    got_avg = _run_helper("avg_pool2d_padded", x, (2, 2), (2, 2), pads, False, False)
    padded = torch.full((1, 2, 7, 8), float("nan"))
    padded[:, :, 0:6, 1:8] = x
    for i, j in itertools.product(range(got_max.shape[2]), range(got_max.shape[3])):
        window = padded[:, :, 2 * i:2 * i + 2, 2 * j:2 * j + 2].flatten(2)
        real = ~torch.isnan(window)
        assert torch.equal(got_max[:, :, i, j], torch.where(real, window, -float("inf")).amax(-1))
        mean = torch.where(real, window, 0).sum(-1) / real.sum(-1)
        torch.testing.assert_close(got_avg[:, :, i, j], mean)
