"""The passes compose: canonicalize,fuse-bn,fold-constants,cse,dce on hand-written IR and on the seed
models through the real PyTorch importer; irc-opt --print-ir-after-all shows every step."""

from __future__ import annotations

import importlib.util
import os
from collections import Counter

import pytest
from test_pass_common import (
    PASS_DIR,
    assert_round_trip,
    assert_same_numbers,
    check_golden,
    copy_with_weights,
    load_pair,
    op_kinds,
    run_pipeline,
)

PIPELINE = "canonicalize,fuse-bn,fold-constants,cse,dce"


@pytest.mark.parametrize("name", ["fuse_bn_after.ir", "fuse_bn_before.ir", "canonicalize.ir", "cse.ir",
                                  "fold_constants.ir"])
def test_pipeline_on_hand_written_ir(tmp_path, name):
    before, after = load_pair(name, tmp_path)
    run_pipeline(after, PIPELINE)
    assert_round_trip(after)
    assert sum(op_kinds(after).values()) < sum(op_kinds(before).values())
    assert_same_numbers(before, after)


def test_pipeline_golden_resnet_stem(tmp_path):
    from helpers import IR_DIR

    path = copy_with_weights(os.path.join(IR_DIR, "resnet_stem.ir"), tmp_path)
    import irc

    before, after = irc.load(path), irc.load(path)
    run_pipeline(after, PIPELINE)
    check_golden(after, "resnet_stem.pipeline.expected.ir")
    assert op_kinds(after)["batch_norm"] == 0
    assert_same_numbers(before, after)


def test_nhwc_then_pipeline(tmp_path):
    before, after = load_pair("nhwc_tf_graph.ir", tmp_path)
    run_pipeline(after, "nhwc-to-nchw," + PIPELINE)
    assert op_kinds(after)["transpose"] == 1  # the input's, at the boundary
    assert_same_numbers(before, after)


def test_irc_opt_prints_each_step(tmp_path, capsys):
    from irc.tools.irc_opt import main

    path = copy_with_weights(os.path.join(PASS_DIR, "fuse_bn_after.ir"), tmp_path)
    out = str(tmp_path / "out.ir")
    assert main([path, "--pass", PIPELINE, "--print-ir-after-all", "-o", out]) == 0
    text = capsys.readouterr().out
    headers = [line for line in text.splitlines() if line.startswith("// ----- IR after")]
    assert headers == [f"// ----- IR after {p} -----" for p in PIPELINE.split(",")]
    blocks = text.split("// ----- IR after ")[1:]
    assert "nn.batch_norm" in blocks[0] and blocks[1].count("nn.batch_norm") == 1  # fuse-bn leaves the shared one
    import irc

    before, after = irc.load(path), irc.load(out)
    assert_same_numbers(before, after)


# ----------------------------------------------------------------------------- seed models

HAVE_FRONTEND = importlib.util.find_spec("irc.frontend.torch") is not None
needs_frontend = pytest.mark.skipif(not HAVE_FRONTEND, reason="irc.frontend.torch (the PyTorch importer) does not exist yet")

SEEDS = {  # name: (torchvision constructor, full input size)
    "resnet50": ("resnet50", 224),
    "mobilenet_v2": ("mobilenet_v2", 224),
    "mobilenet_v3_small": ("mobilenet_v3_small", 224),
    "mobilenet_v3_large": ("mobilenet_v3_large", 224),
    "inception_v3": ("inception_v3", 299),
}


def seed_pipeline(name, size, batch="dynamic", tmp_path=None):
    """Import a randomised torchvision model, run the pipeline, compare model vs IR before vs IR after.
    With tmp_path, the pipeline runs as a user runs it: irc.save, `irc-opt m.ir --pass ... -o m.opt.ir`,
    irc.load. Returns (op counts before, op counts after, max|d| IR-before vs IR-after, max|d| model vs
    IR-after)."""
    import torch
    import torchvision
    from helpers import randomize_

    import irc
    from irc.backend.pytorch.executor import Executor
    from irc.fidelity import assert_close
    from irc.frontend.torch import import_model

    ctor, _ = SEEDS[name]
    kwargs = {"aux_logits": False, "init_weights": False} if name == "inception_v3" else {}
    model = randomize_(getattr(torchvision.models, ctor)(weights=None, **kwargs))
    module = import_model(model, [((3, size, size), "f32")], batch=batch)
    counts_before = Counter(op.kind for op in module.ops())
    ex_before = Executor(module)
    if tmp_path is None:
        irc.run_passes(module, PIPELINE)  # verifies after every pass
    else:
        from irc.tools.irc_opt import main as irc_opt

        irc.save(module, str(tmp_path / "m.ir"))
        assert irc_opt([str(tmp_path / "m.ir"), "--pass", PIPELINE, "-o", str(tmp_path / "m.opt.ir"), "--quiet"]) == 0
        module = irc.load(str(tmp_path / "m.opt.ir"))
    counts_after = Counter(op.kind for op in module.ops())
    assert counts_after["batch_norm"] == 0 and counts_after["dropout"] == 0
    ex_after = Executor(module)
    worst_ir = worst_model = worst_rel = 0.0
    batches = (1, 3) if module.main.args[0].type.shape[0] is None else (module.main.args[0].type.shape[0],)
    g = torch.Generator().manual_seed(0)
    for b in batches:
        x = torch.randn(b, 3, size, size, generator=g)
        with torch.no_grad():
            ref = model(x)
        before, after = ex_before(x)[0], ex_after(x)[0]
        worst_ir = max(worst_ir, assert_close(before, after, rule="pass", name=f"{name} IR before/after").max_abs)
        v = assert_close(ref, after, rule="pass", name=f"{name} model/after")
        worst_model, worst_rel = max(worst_model, v.max_abs), max(worst_rel, v.max_rel_scale)
    print(f"\n{name} @{size}: ops {sum(counts_before.values())} -> {sum(counts_after.values())}; "
          f"before {dict(sorted(counts_before.items()))}; after {dict(sorted(counts_after.items()))}; "
          f"max|d| IR {worst_ir:.3g}, vs model {worst_model:.3g} (relative to the output scale {worst_rel:.3g})")
    return counts_before, counts_after, worst_ir, worst_model


@needs_frontend
def test_seed_quick_mobilenet_v3_small(tmp_path):
    before, after, _, _ = seed_pipeline("mobilenet_v3_small", 64, tmp_path=tmp_path)
    assert before["batch_norm"] > 0 and after["conv2d"] == before["conv2d"]
    # the written weight file: every conv keeps its key and gained a bias; no BN statistics left
    from safetensors.numpy import load_file

    keys = set(load_file(str(tmp_path / "m.opt.safetensors")))
    assert not any("running_" in k for k in keys)
    assert "features.0.0.weight" in keys and "features.0.0.bias" in keys


@needs_frontend
@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(SEEDS))
def test_seed_full_size(name):
    before, after, _, _ = seed_pipeline(name, SEEDS[name][1])
    assert before["batch_norm"] > 0 and after["conv2d"] == before["conv2d"]


@needs_frontend
def test_shape_and_buffer_arithmetic_from_the_importer_folds_away():
    """x.view(n, c // 2, 2, h * w), buffer arithmetic and `* 1.0` from a real torch model: after the
    pipeline no op computes on constants only, the scaled buffer is one inline constant, and `*1` is gone."""
    import torch

    import irc
    from irc.backend.pytorch.executor import Executor
    from irc.fidelity import assert_close
    from irc.frontend.torch import import_model

    class M(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = torch.nn.Conv2d(3, 8, 3, padding=1)
            self.register_buffer("scale", torch.arange(8.0))
            self.fc = torch.nn.Linear(32, 5)

        def forward(self, x):
            y = self.conv(x)
            n, c, h, w = y.shape
            y = y * (self.scale * 2 + 1).reshape(1, c, 1, 1)
            y = y.view(n, c // 2, 2, h * w).transpose(1, 2).reshape(n, 2, -1)
            y = y[:, :, : y.shape[2] // 2]
            y = torch.nn.functional.dropout(y, 0.1, self.training)
            return self.fc(y.mean(1).reshape(n, -1).view(n, -1) * 1.0)

    model = M().eval()
    module = import_model(model, [((3, 4, 4), "f32")], batch="dynamic")
    before = Counter(op.kind for op in module.ops())
    irc.run_passes(module, PIPELINE)
    after = Counter(op.kind for op in module.ops())
    sources = ("nn.param", "nn.constant")
    assert not [op for op in module.ops() if op.name not in sources and op.operands
                and all(v.owner is not None and v.owner.name in sources for v in op.operands)]
    assert "scale" not in {op.attrs["key"] for op in module.ops() if op.name == "nn.param"}
    assert after["mul"] == 1 and after["add"] == 0 and after["dropout"] == 0
    assert sum(after.values()) < sum(before.values())
    ex = Executor(module)
    for b in (1, 3):
        x = torch.randn(b, 3, 4, 4)
        with torch.no_grad():
            assert_close(model(x), ex(x)[0], rule="pass")
