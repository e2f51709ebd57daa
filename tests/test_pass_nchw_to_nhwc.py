"""nchw-to-nhwc, the mirror of nhwc-to-nchw (one converter, irc/passes/_layout.py): every axis case of
test_pass_nhwc made channel-first and then channel-last again gets its axes back; the torchvision quick zoo
goes channel-last with no transpose inside (only where the model transposes channels itself: channel
shuffle, attention heads) and the same numbers."""

from __future__ import annotations

import pytest
import torch
from helpers import randomize_
from models.zoo import ZOO
from test_pass_common import assert_round_trip, assert_same_numbers, run_pipeline
from test_pass_nhwc import CASES, inner_transposes, load_case

from irc.backend.pytorch.executor import Executor
from irc.fidelity import compare

PIPELINE = "nchw-to-nhwc{change-signature=true},canonicalize,fuse-bn,fold-constants,cse,dce"


@pytest.mark.parametrize("name", sorted(CASES))
def test_axis_cases_come_back(tmp_path, name):
    """nhwc → nchw → nhwc: every axis attribute, layout and shape as the channel-last source had them."""
    source, there = load_case(name, tmp_path)
    run_pipeline(there, "nhwc-to-nchw{change-signature=true}")
    assert all(op.attrs.get("layout", "nchw") == "nchw" for op in there.ops())
    run_pipeline(there, "nchw-to-nhwc{change-signature=true},canonicalize")
    assert_round_trip(there)
    assert not [op for op in there.ops() if op.name == "nn.transpose"]
    assert [a.type for a in there.main.args] == [a.type for a in source.main.args]
    assert there.main.result_types == source.main.result_types
    _, _, kind, attr, _ = CASES[name]
    if attr is not None and attr != "layout":
        want = [op.attrs[attr] for op in source.main.ops if op.kind == kind]
        got = [op.attrs[attr] for op in there.main.ops if op.kind == kind]
        if kind not in ("flatten",):  # a flatten of 4-D dims becomes one on the channel-last order
            assert [_positive(v) for v in got] == [_positive(v) for v in want]
    assert_same_numbers(source, there)


def _positive(axes):
    """Axes (an int, a list of ints, or pads) with negative axes of a rank-4 operand made positive."""
    if isinstance(axes, int):
        return axes % 4
    if isinstance(axes, list) and axes and isinstance(axes[0], int):
        return [a % 4 for a in axes]
    return axes


@pytest.mark.parametrize("name", sorted(CASES))
def test_axis_cases_keep_the_signature(tmp_path, name):
    """Without change-signature the NCHW interface stays: a transpose at each end, none inside."""
    reference, there = load_case(name, tmp_path)
    run_pipeline(reference, "nhwc-to-nchw{change-signature=true}")
    run_pipeline(there, "nhwc-to-nchw{change-signature=true}")
    before = [a.type for a in there.main.args], list(there.main.result_types)
    run_pipeline(there, "nchw-to-nhwc")
    assert ([a.type for a in there.main.args], list(there.main.result_types)) == before
    assert not inner_transposes(there), [repr(op) for op in inner_transposes(there)]
    assert_same_numbers(reference, there)


# transposes a model keeps inside in NHWC: the quick zoo's own channel/token permutes
OWN_TRANSPOSES = {"shufflenet_v2": 11, "vit_b_16": 8, "swin_t": 28}


@pytest.mark.parametrize("name", sorted(ZOO))
def test_zoo_goes_channel_last(name):
    from irc.frontend.torch import import_model

    quick, size, _, _ = ZOO[name]
    model = quick()
    randomize_(model, seed=3)
    model.eval()
    module = import_model(model, [((3, size, size), "f32")], batch=1)
    run_pipeline(module, PIPELINE)
    assert all(op.attrs["layout"] == "nhwc" for op in module.ops() if "layout" in op.attrs)
    assert module.main.args[0].type.shape == (1, size, size, 3)
    transposes = sum(op.name == "nn.transpose" for op in module.ops())
    assert transposes <= OWN_TRANSPOSES.get(name, 0), transposes
    x = torch.randn(1, 3, size, size, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        ref = model(x)
        out = Executor(module)(x.permute(0, 2, 3, 1).contiguous())
    ref = ref[0] if isinstance(ref, (tuple, list)) else ref
    out = out[0] if isinstance(out, (tuple, list)) else out
    if out.dim() == 4:  # detection heads stay feature maps: channel-last now
        out = out.permute(0, 3, 1, 2)
    verdict = compare(ref, out, "pass")
    assert verdict.ok, verdict.line(name)
