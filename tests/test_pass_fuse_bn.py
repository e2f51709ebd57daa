"""fuse-bn: golden IR and numbers before/after."""

from __future__ import annotations

import pytest
from test_pass_common import assert_same_numbers, check_golden, load_pair, op_kinds, run_pipeline


@pytest.mark.parametrize("name, left", [("fuse_bn_after", 1), ("fuse_bn_before", 1), ("fuse_bn_nhwc", 0), ("fuse_bn_chain", 0)])
def test_fuse_bn_golden_and_numbers(tmp_path, name, left):
    before, after = load_pair(name + ".ir", tmp_path)
    run_pipeline(after, "fuse-bn")
    check_golden(after, name + ".expected.ir")
    assert op_kinds(after)["batch_norm"] == left
    worst = assert_same_numbers(before, after)
    print(f"{name}: max|d| = {worst:.3g}")


def test_fuse_bn_keeps_keys_and_records_both_locations(tmp_path):
    import irc
    from irc.ir.core import FusedLoc

    before, after = load_pair("fuse_bn_after.ir", tmp_path)
    run_pipeline(after, "fuse-bn")
    ops = {op.result.name: op for op in after.main.ops}
    c1 = ops["c1"]
    assert isinstance(c1.loc, FusedLoc) and [loc.line for loc in c1.loc.locs] == [10, 11]
    keys = [v.owner.attrs["key"] for v in c1.operands[1:]]
    assert keys == ["c1.weight", "c1.bias"]
    # the conv with a second user is untouched, its batch_norm stays
    assert ops["bn4"].name == "nn.batch_norm" and ops["c3"].operands[1].owner.attrs["key"] == "c3.weight"
    # the written weight file holds exactly the used keys; no batch_norm key of a fused BN remains
    irc.save(after, str(tmp_path / "out.ir"))
    from safetensors.numpy import load_file

    saved = load_file(str(tmp_path / "out.safetensors"))
    assert not any(k.startswith(("bn1.", "bn2.", "bn3.", "bn5.")) for k in saved)
    assert {"c1.weight", "c1.bias", "c2.weight", "c2.bias", "up.weight", "up.bias", "bn4.weight"} <= set(saved)
    again = irc.load(str(tmp_path / "out.ir"))
    assert_same_numbers(before, again)


def test_fuse_bn_fresh_keys_without_keep_names(tmp_path):
    before, after = load_pair("fuse_bn_after.ir", tmp_path)
    run_pipeline(after, "fuse-bn{keep-names=false},dce")
    keys = {op.attrs["key"] for op in after.ops() if op.name == "nn.param"}
    assert "c1.weight" not in keys and "c1.weight_1" in keys
    # the source's tensors are untouched under their own keys
    import numpy as np

    assert np.array_equal(after.weights.numpy("c1.weight"), before.weights.numpy("c1.weight"))
    assert_same_numbers(before, after)


def test_fuse_bn_shared_weight_gets_a_fresh_key(tmp_path):
    """A conv weight read by two convs must not be overwritten under its key."""
    import irc

    src = """// irc 1
module @shared {weights = "shared.safetensors"} {
  func @forward(%x: tensor<1x3x6x6xf32>) -> (tensor<1x3x6x6xf32>, tensor<1x3x6x6xf32>) {
    %w = nn.param() {key = "w"} : tensor<3x3x1x1xf32>
    %a = nn.conv2d(%x, %w) {dilation = [1, 1], groups = 1, padding = [[0, 0], [0, 0]], stride = [1, 1]} : tensor<1x3x6x6xf32>
    %b = nn.conv2d(%x, %w) {dilation = [1, 1], groups = 1, padding = [[0, 0], [0, 0]], stride = [1, 1]} : tensor<1x3x6x6xf32>
    %g = nn.param() {key = "bn.weight"} : tensor<3xf32>
    %h = nn.param() {key = "bn.bias"} : tensor<3xf32>
    %m = nn.param() {key = "bn.running_mean"} : tensor<3xf32>
    %v = nn.param() {key = "bn.running_var"} : tensor<3xf32>
    %bn = nn.batch_norm(%a, %g, %h, %m, %v) {epsilon = 1e-05} : tensor<1x3x6x6xf32>
    return %bn, %b : tensor<1x3x6x6xf32>, tensor<1x3x6x6xf32>
  }
}
"""
    p = tmp_path / "shared.ir"
    p.write_text(src)
    from helpers import _NoWeights, make_weights

    make_weights(irc.parse(src, str(p), weights=_NoWeights()), str(tmp_path / "shared.safetensors"))
    before, after = irc.load(str(p)), irc.load(str(p))
    run_pipeline(after, "fuse-bn,dce")
    assert op_kinds(after)["batch_norm"] == 0
    keys = sorted(op.attrs["key"] for op in after.ops() if op.name == "nn.param")
    assert keys == ["w", "w.bias", "w_1"] or keys == ["bias", "w", "w_1"], keys
    assert_same_numbers(before, after)


def test_fused_model_emits_a_sensible_state_dict(tmp_path):
    """After fuse-bn the emitted PyTorch module has biased convs under the source's names and no BN keys,
    and it computes what the unfused IR computes."""
    import torch
    from test_emit_common import import_model_py

    import irc
    from irc.backend.pytorch.executor import Executor
    from irc.fidelity import assert_close

    before, after = load_pair("fuse_bn_after.ir", tmp_path)
    run_pipeline(after, "fuse-bn,dce")
    irc.emit_pytorch(after, str(tmp_path / "out"))
    model = import_model_py(tmp_path / "out").load()
    sd = model.state_dict()
    assert {"c1.weight", "c1.bias", "c2.weight", "c2.bias", "up.weight", "up.bias", "fc.weight", "fc.bias"} <= set(sd)
    assert not any(k.startswith(("bn1", "bn2", "bn3", "bn5")) for k in sd)
    assert isinstance(model.c1, torch.nn.Conv2d) and model.c1.bias is not None
    x = torch.randn(3, 4, 8, 8)
    with torch.no_grad():
        assert_close(Executor(before)(x)[0], model(x), rule="pass")
