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
from irc.backend.torch_exec import Executor  # noqa: E402
from irc.fidelity import assert_close  # noqa: E402


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
    keys = {op.attrs["key"] for op in module.ops() if op.name == "nn.param"}
    assert {k for k in keys if not k.startswith("_folded.")} <= set(before)
    run = Executor(module)
    g = torch.Generator().manual_seed(seed + 1)
    worst = 0.0
    for batch in (1, 3):
        x = torch.randn(batch, 3, size, size, generator=g)
        with torch.no_grad():
            ref = model(x)
        ref = ref if isinstance(ref, tuple) else (ref,)
        out = run(x)
        assert len(out) == len(ref)
        for i, (r, o) in enumerate(zip(ref, out)):
            v = assert_close(r, o, rule="exact", name=f"{name} batch {batch} output {i}")
            worst = max(worst, v.max_abs)
    # importing left the model alone
    after = model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)
    print(f"{name}: {len(module.main.ops)} ops, max|d| = {worst:.3g}")
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
