"""irc-import on the model zoo: every model imports with a dynamic batch, verifies, round-trips
through print/parse, and the torch executor matches the source model (DESIGN.md's "exact" rule)
at batch 1 and batch 3, with randomised weights and BatchNorm statistics.

The quick run uses narrow configurations of the same architectures (tests/models/zoo.py); the
slow set (`-m slow`) imports the real torchvision models at their usual input sizes."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("torchvision")

from helpers import randomize_  # noqa: E402
from models.zoo import ZOO  # noqa: E402

import irc  # noqa: E402
from irc.backend.pytorch.executor import Executor  # noqa: E402
from irc.fidelity import assert_close  # noqa: E402
from irc.ir.io import used_param_keys  # noqa: E402


def reference(model, x):
    """The source model's outputs, twice.

    `ref`: computed by the same kernels the IR names, with nn.MultiheadAttention's fused inference
    path off and the parameters not requiring grad (a parameter that requires grad sends F.linear on
    a 3-D non-contiguous input down another kernel even under no_grad: same function, different
    rounding). `eager`: the model exactly as the user runs it in eval mode under no_grad.
    """
    flags = [p.requires_grad for p in model.parameters()]
    with torch.no_grad():
        eager = model(x)
        torch.backends.mha.set_fastpath_enabled(False)
        model.requires_grad_(False)
        try:
            ref = model(x)
        finally:
            torch.backends.mha.set_fastpath_enabled(True)
            for p, f in zip(model.parameters(), flags):
                p.requires_grad_(f)
    as_tuple = lambda r: r if isinstance(r, tuple) else (r,)  # noqa: E731
    return as_tuple(ref), as_tuple(eager)


def check_import(name, model, size, seed=0):
    randomize_(model, seed)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    module = irc.import_model(model, [((3, size, size), "f32")], batch="dynamic", name=name)
    # a dynamic batch, not a silent fallback to a static one
    assert module.main.args[0].type.shape == (None, 3, size, size)
    irc.verify(module)
    text = irc.print(module)
    assert irc.print(irc.parse(text, weights=module.weights)) == text
    # nn.param keys are the source's state_dict keys (or computed constants, which say so)
    keys = set(used_param_keys(module))
    assert {k for k in keys if not k.startswith("_folded.")} <= set(before)
    run = Executor(module)
    g = torch.Generator().manual_seed(seed + 1)
    worst = worst_eager = 0.0
    for batch in (1, 3):
        x = torch.randn(batch, 3, size, size, generator=g)
        ref, eager = reference(model, x)
        out = run(x)
        assert len(out) == len(ref)
        for i, (r, e, o) in enumerate(zip(ref, eager, out)):
            v = assert_close(r, o, rule="exact", name=f"{name} batch {batch} output {i}")
            worst = max(worst, v.max_abs)
            # against the model as run in eval mode (other kernels, other rounding): the rule for
            # numeric rewrites; in practice only the attention models differ at all (~1e-6)
            v = assert_close(e, o, rule="pass", name=f"{name} batch {batch} output {i} vs eager")
            worst_eager = max(worst_eager, v.max_abs)
    # importing left the model alone
    after = model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)
    print(f"{name}: {len(module.main.ops)} ops, max|d| = {worst:.3g} (vs eager as run: {worst_eager:.3g})")
    return module


@pytest.mark.parametrize("name", sorted(ZOO))
def test_zoo_quick(name):
    build, size, _, _ = ZOO[name]
    check_import(name, build(), size)


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(ZOO))
def test_zoo_full(name):
    _, _, build, size = ZOO[name]
    check_import(name, build(), size)
