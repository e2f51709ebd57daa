"""The escape hatch (issue 19 points 4-6): `--keep-module` keeps a module whole as one `nn.call_module`, which the
torch executor, the emitted PyTorch and the ONNX emitter (a custom `irc.keep` node) handle; `register_importer`
and the `irc.torch_importers` entry points add an importer for an ATen op; `torch.cond` folds on a constant
predicate and is named, with its line and a `--keep-module`, otherwise; unsupported ops are listed with their
module path, source line and the `--keep-module` that would get past them."""

from __future__ import annotations

import copy
import importlib.metadata
import json
import textwrap
import warnings

import pytest

torch = pytest.importorskip("torch")

from helpers import randomize_  # noqa: E402

import irc  # noqa: E402
from irc.backend.pytorch.executor import Executor  # noqa: E402
from irc.check import import_emitted  # noqa: E402
from irc.fidelity import assert_close  # noqa: E402
from irc.frontend.core import Unsupported  # noqa: E402
from irc.frontend.torch import IMPORTERS, import_model, register_importer  # noqa: E402
from irc.frontend.torch import custom as torch_custom  # noqa: E402
from irc.ir import IrcError  # noqa: E402
from irc.passes.manager import run_passes  # noqa: E402
from irc.tools.irc_import import main as irc_import  # noqa: E402

nn = torch.nn
ERFCX = torch.ops.aten.special_erfcx.default


class Block(nn.Module):
    """A block with an op irc has no importer for (erfcx), a BatchNorm, and two results."""

    def __init__(self, dim: int = 8):
        super().__init__()
        self.dim = dim
        self.lin = nn.Linear(dim, dim)
        self.bn = nn.BatchNorm1d(dim)

    def forward(self, x):
        return torch.special.erfcx(torch.tanh(self.bn(self.lin(x)))), x * 2  # the line the error names


class Net(nn.Module):
    def __init__(self, dim: int = 8):
        super().__init__()
        self.stem = nn.Linear(dim, dim)
        self.block = Block(dim)
        self.head = nn.Linear(dim, 4)

    def forward(self, x):
        y, z = self.block(self.stem(x))
        return self.head(y * z)


class Opaque(nn.Module):
    """Its constructor argument is not kept as an attribute of the same name: not recoverable."""

    def __init__(self, width):
        super().__init__()
        self.proj = nn.Linear(width, width)

    def forward(self, x):
        return torch.special.erfcx(torch.tanh(self.proj(x)))


class Gate(nn.Module):
    """torch.cond on a data-dependent predicate."""

    def forward(self, x):
        return torch.cond(x.sum() > 0, lambda t: t * 2, lambda t: t - 1, (x,))  # the cond line


class Flagged(nn.Module):
    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(8, 8)
        self.register_buffer("flag", torch.tensor(True))
        self.gate = Gate()

    def forward(self, x):
        y = torch.cond(self.flag, lambda t: t + 1, lambda t: t - 1, (self.lin(x),))
        return self.gate(y)


def _line_of(marker: str) -> int:
    with open(__file__, encoding="utf-8") as f:
        return next(i for i, line in enumerate(f, 1) if marker in line and "_line_of" not in line)


def _inputs(batch=3, seed=0):
    return torch.randn(batch, 8, generator=torch.Generator().manual_seed(seed))


@pytest.fixture(scope="module")
def net():
    return randomize_(Net(), seed=1)


@pytest.fixture(scope="module")
def kept(net):
    return import_model(net, [((8,), "f32")], batch="dynamic", keep_modules=["test_keep_module:Block"])


def test_unsupported_op_names_path_line_and_keep_module(net):
    with pytest.raises(IrcError) as e:
        import_model(net, [((8,), "f32")])
    msg = str(e.value)
    assert "aten.special_erfcx.default x1" in msg
    assert f"at block (test_keep_module.py:{_line_of('the line the error names')}) " \
           "[--keep-module test_keep_module:Block]" in msg


def test_keep_module_is_one_opaque_op(kept):
    ops = [op for op in kept.ops() if op.name == "nn.call_module"]
    assert len(ops) == 1
    op = ops[0]
    assert op.attrs["module"] == "test_keep_module:Block" and op.attrs["path"] == "block"
    assert op.attrs["params"] == list(Block().state_dict())
    assert [o.owner.attrs["key"] for o in op.operands[1:]] == ["block." + k for k in Block().state_dict()]
    assert op.attrs["types"] == ["tensor<?x8xf32>", "tensor<?x8xf32>"] and op.attrs["returns"] == "tuple"
    assert json.loads(op.attrs["init"]) == {"dim": 8}
    assert [str(r.type) for r in op.results] == op.attrs["types"]


def test_torch_executor_calls_the_class(net, kept, tmp_path):
    path = str(tmp_path / "m.ir")
    irc.save(kept, path)
    again = irc.load(path)  # printed, parsed and verified
    for batch in (1, 3):
        x = _inputs(batch)
        assert_close(net(x), Executor(again)(x)[0], "exact")
    opt = run_passes(again, "canonicalize,fuse-bn,fold-constants,cse,dce")
    assert sum(op.name == "nn.call_module" for op in opt.ops()) == 1
    assert_close(net(_inputs()), Executor(opt)(_inputs())[0], "pass")


def test_emitted_pytorch_imports_and_calls_it(net, kept, tmp_path):
    irc.emit_pytorch(kept, str(tmp_path / "pt"))
    source = (tmp_path / "pt" / "model.py").read_text()
    assert "from test_keep_module import Block" in source and "Block(dim=8)" in source
    model = import_emitted(str(tmp_path / "pt")).load()
    assert set(model.state_dict()) == set(net.state_dict())  # the source's keys
    assert_close(net(_inputs()), model(_inputs()), "exact")


def test_onnx_writes_a_custom_domain_node_and_warns(kept, tmp_path):
    import onnx

    from irc.backend.onnx import emit_onnx

    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        emit_onnx(kept, str(tmp_path / "m.onnx"))
    assert any("custom irc.keep:Block node" in str(w.message) for w in seen)
    model = onnx.load(str(tmp_path / "m.onnx"))
    node = next(n for n in model.graph.node if n.domain == "irc.keep")
    assert node.op_type == "Block" and list(node.input)[1:] == ["block." + k for k in Block().state_dict()]
    assert {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}["path"] == b"block"
    assert ("irc.keep", 1) in {(o.domain, o.version) for o in model.opset_import}


def test_constructor_not_recovered_is_said(tmp_path):
    model = nn.Sequential(nn.Linear(8, 8), Opaque(8)).eval()
    randomize_(model)
    said = []  # Opaque() without its argument cannot be rebuilt: said, and kept anyway
    module = import_model(model, [((8,), "f32")], keep_modules=["test_keep_module:Opaque"], warn=said.append)
    assert any("cannot recover the constructor arguments of 1 (Opaque)" in s for s in said)
    op = next(op for op in module.ops() if op.name == "nn.call_module")
    assert op.attrs["init"] == "" and op.attrs["returns"] == "tensor"


def test_keep_module_errors():
    net = Net().eval()
    with pytest.raises(IrcError, match="the model holds no instance of that class"):
        import_model(net, [((8,), "f32")], keep_modules=["test_keep_module:Opaque"])
    with pytest.raises(IrcError, match="--keep-module 'test_keep_module:Nope': 'test_keep_module' has no 'Nope'"):
        import_model(net, [((8,), "f32")], keep_modules=["test_keep_module:Nope"])
    with pytest.raises(IrcError, match="is not an nn.Module class"):
        import_model(net, [((8,), "f32")], keep_modules=["test_keep_module:_inputs"])


def test_cli_keep_module_from_a_file(tmp_path, capsys):
    src = tmp_path / "arch_keep.py"
    src.write_text(textwrap.dedent("""
        import torch
        from torch import nn

        class Inner(nn.Module):
            def __init__(self, dim=6):
                super().__init__()
                self.dim = dim
                self.lin = nn.Linear(dim, dim)

            def forward(self, x):
                return torch.special.erfcx(torch.tanh(self.lin(x)))

        class Outer(nn.Module):
            def __init__(self):
                super().__init__()
                self.a = Inner()
                self.b = Inner()

            def forward(self, x):
                return self.b(self.a(x))
    """))
    from irc.frontend.torch.load import build_arch

    model = randomize_(build_arch(f"{src}:Outer"), seed=2)
    torch.save(model.state_dict(), tmp_path / "w.pth")
    out = tmp_path / "m.ir"
    rc = irc_import([str(tmp_path / "w.pth"), "--arch", f"{src}:Outer", "--shape", "6", "--keep-module",
                     f"{src}:Inner", "-o", str(out), "-q"])
    assert rc == 0, capsys.readouterr().err
    module = irc.load(str(out))
    paths = [op.attrs["path"] for op in module.ops() if op.name == "nn.call_module"]
    assert paths == ["a", "b"]
    x = torch.randn(1, 6, generator=torch.Generator().manual_seed(3))
    assert_close(model(x), Executor(module)(x)[0], "exact")


def test_cond_folds_a_constant_predicate_and_names_a_data_dependent_one():
    model = randomize_(Flagged(), seed=4)
    with pytest.raises(IrcError) as e:
        import_model(model, [((8,), "f32")])
    msg = str(e.value)
    assert "cond x1: torch.cond on a predicate computed from the model's inputs" in msg
    assert f"at gate (test_keep_module.py:{_line_of('the cond line')}) [--keep-module test_keep_module:Gate]" in msg
    assert "1 unsupported op (1 node)" in msg  # the constant one folded
    module = import_model(model, [((8,), "f32")], batch="dynamic", keep_modules=["test_keep_module:Gate"])
    assert not any("cond" in op.name for op in module.ops())
    for seed in (0, 1, 2, 3):  # both branches of the kept gate
        x = _inputs(2, seed) * (1 if seed % 2 else -1) + (3 if seed % 2 else -3)
        assert_close(model(x), Executor(module)(x)[0], "exact")


def _erfcx(importer, node, x):
    """erfcx(x) = exp(x^2) * (1 - erf(x)), from ops irc has."""
    v = importer.operand(x)
    one = importer.constant(1.0, v.type.dtype)
    square = importer.emit("mul", [v, v])
    tail = importer.emit("sub", [one, importer.emit("erf", [v])])
    return importer.result("mul", [importer.emit("exp", [square]), tail])


def _plugin(register):
    register(ERFCX, _erfcx)


@pytest.fixture
def no_erfcx_importer():
    saved = IMPORTERS.pop(ERFCX, None)
    yield
    IMPORTERS.pop(ERFCX, None)
    if saved is not None:
        IMPORTERS[ERFCX] = saved


def test_register_importer_adds_an_aten_op(net, no_erfcx_importer):
    register_importer(ERFCX, _erfcx)
    module = import_model(net, [((8,), "f32")])
    assert not any(op.name == "nn.call_module" for op in module.ops())
    assert_close(net(_inputs(1)), Executor(module)(_inputs(1))[0], "pass")
    with pytest.raises(IrcError, match="irc imports aten.relu.default already; pass replace=True"):
        register_importer(torch.ops.aten.relu.default, _erfcx)
    with pytest.raises(IrcError, match="is not an ATen overload"):
        register_importer(torch.ops.aten.relu, _erfcx)


def test_entry_point_plugin_is_loaded(net, no_erfcx_importer, monkeypatch):
    entry = importlib.metadata.EntryPoint("erfcx", "test_keep_module:_plugin", torch_custom.ENTRY_POINT_GROUP)
    monkeypatch.setattr(importlib.metadata, "entry_points",
                        lambda group=None: [entry] if group == torch_custom.ENTRY_POINT_GROUP else [])
    monkeypatch.setattr(torch_custom, "_plugins_loaded", False)
    module = import_model(net, [((8,), "f32")])
    assert_close(net(_inputs(1)), Executor(module)(_inputs(1))[0], "pass")


def _training_only(importer, node, *args):
    raise Unsupported("batch norm in training mode (call model.eval())")


def test_eval_mode_models_are_not_told_to_call_eval(net, no_erfcx_importer):
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.InstanceNorm2d(4)).eval()
    try:
        import_model(model, [((3, 8, 8), "f32")])
    except IrcError as e:
        assert "model.eval()" not in str(e), str(e)
    register_importer(ERFCX, _training_only)  # a handler that blames training mode
    with pytest.raises(IrcError) as e:
        import_model(net, [((8,), "f32")])
    assert "model.eval()" not in str(e.value) and "in eval mode: Block computes it in training form" in str(e.value)
    trained = copy.deepcopy(net).train()
    with pytest.raises(IrcError, match=r"batch norm in training mode \(call model\.eval\(\)\)"):
        import_model(trained, [((8,), "f32")])
