"""Shared helpers for the pass tests (test_pass_*.py): golden IR comparison and before/after numerics."""

from __future__ import annotations

import os

import numpy as np
from helpers import IR_DIR

PASS_DIR = os.path.join(IR_DIR, "passes")
UPDATE = os.environ.get("IRC_UPDATE_GOLDEN") == "1"  # regenerate expected files (then review the diff)


def load_pair(name, tmp_path, seed=0):
    """Two independent modules (before, after) read from tests/ir/passes/NAME with the same random weights."""
    import irc

    path = copy_with_weights(os.path.join(PASS_DIR, name), tmp_path, seed)
    return irc.load(path), irc.load(path)


def copy_with_weights(src, tmp_path, seed=0):
    """Like helpers.golden_copy for any .ir path: copy it into tmp_path and write random weights beside it."""
    import shutil

    from helpers import _NoWeights, make_weights

    import irc

    dst = os.path.join(str(tmp_path), os.path.basename(src))
    shutil.copy(src, dst)
    module = irc.parse(open(src).read(), dst, weights=_NoWeights())
    if module.attrs.get("weights"):
        make_weights(module, os.path.join(str(tmp_path), module.attrs["weights"]), seed)
    return dst


def run_pipeline(module, pipeline):
    import irc

    irc.run_passes(module, pipeline)
    return module


def check_golden(module, expected_name):
    """The printed module must equal tests/ir/passes/EXPECTED_NAME byte for byte (and re-parse to itself)."""
    import irc

    text = irc.print(module)
    path = os.path.join(PASS_DIR, expected_name)
    if UPDATE or not os.path.exists(path):
        with open(path, "w") as f:
            f.write(text)
    with open(path) as f:
        expected = f.read()
    assert text == expected, f"printed IR differs from {path}:\n{text}"
    assert_round_trip(module)
    return text


def assert_round_trip(module):
    """The printed module parses back (no duplicate or dangling names) and prints the same."""
    import irc

    text = irc.print(module)
    again = irc.parse(text, module.path, weights=module.weights)
    irc.verify(again)
    assert irc.print(again) == text


def random_inputs(module, batch, seed=0):
    import torch

    g = torch.Generator().manual_seed(seed)
    out = []
    for a in module.main.args:
        shape = [batch if d is None else d for d in a.type.shape]
        out.append(torch.randn(shape, generator=g))
    return out


def batches(module):
    dynamic = any(d is None for a in module.main.args for d in a.type.shape)
    return (1, 3) if dynamic else (None,)


def assert_same_numbers(before, after, rule="pass", seed=0, inputs=None):
    """Run both modules with the torch executor on random inputs (two batch sizes when the batch is
    dynamic) and apply DESIGN.md's post-pass rule to every output. Returns the largest max|d|."""
    from irc.backend.pytorch.executor import Executor
    from irc.fidelity import assert_close

    eb, ea = Executor(before), Executor(after)
    worst = 0.0
    for b in batches(before):
        xs = inputs if inputs is not None else random_inputs(before, b if b is not None else 1, seed)
        ref, out = eb(*xs), ea(*xs)
        assert len(ref) == len(out)
        for i, (r, o) in enumerate(zip(ref, out)):
            v = assert_close(r, o, rule=rule, name=f"output {i}")
            worst = max(worst, v.max_abs)
    return worst


def op_kinds(module):
    from collections import Counter

    return Counter(op.kind for op in module.ops())


def test_helpers_detect_a_difference(tmp_path):
    """The numeric check must fail when the numbers differ (guards every numeric pass test)."""
    import pytest

    from irc.ir.weights import IR_TO_NP

    before, after = load_pair("fuse_bn_after.ir", tmp_path)
    key = next(op.attrs["key"] for op in after.ops() if op.name == "nn.param" and "running_mean" in op.attrs["key"])
    ty = after.weights.type_of(key)
    after.weights.add(key, np.asarray(after.weights.numpy(key)) + np.ones(ty.shape, IR_TO_NP[ty.dtype]))
    with pytest.raises(AssertionError):
        assert_same_numbers(before, after)


def test_passes_that_compute_nothing_need_no_torch():
    """irc.passes imports, and canonicalize/cse/nhwc-to-nchw/dce run on a weightless module, with torch
    unimportable (only the passes that evaluate tensors import it, lazily)."""
    import subprocess
    import sys

    code = (
        "import sys; sys.modules['torch'] = None\n"
        "import irc, irc.passes\n"
        "from test_pass_nhwc import RANKS\n"
        "m = irc.parse(RANKS['rank3'])\n"
        "irc.run_passes(m, 'canonicalize,cse,nhwc-to-nchw,dce')\n"
        "assert 'nn.transpose' not in irc.print(m)\n"
        "assert 'torch' not in sys.modules or sys.modules['torch'] is None\n"
    )
    here = os.path.dirname(os.path.abspath(__file__))
    r = subprocess.run([sys.executable, "-c", code], cwd=here, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
