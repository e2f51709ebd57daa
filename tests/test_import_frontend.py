"""The torch frontend's contract: names, keys, locations, constants, several inputs, unsupported
ops reported all at once, and the user's model left untouched."""

from __future__ import annotations

import inspect
import os
import re

import pytest

torch = pytest.importorskip("torch")
nn = torch.nn

from helpers import randomize_  # noqa: E402

import irc  # noqa: E402
from irc.backend.pytorch.executor import Executor  # noqa: E402
from irc.fidelity import assert_close  # noqa: E402
from irc.ir import FileLoc, IrcError  # noqa: E402
from irc.ir.structure import flatten  # noqa: E402


def _line_of(obj, text):
    """The line number of the first source line of `obj` containing `text`."""
    lines, start = inspect.getsourcelines(obj)
    for i, line in enumerate(lines):
        if text in line:
            return start + i
    raise AssertionError(text)


class Block(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.conv1 = nn.Conv2d(c, c, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(c)
        self.relu = nn.ReLU()

    def forward(self, x):
        y = self.relu(self.bn1(self.conv1(x)))
        return x + y  # the residual add


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(3, 8, 3, stride=2, padding=1)
        self.layer1 = nn.Sequential(Block(8), Block(8))
        self.fc = nn.Linear(8, 5)

    def forward(self, x):
        x = self.layer1(self.stem(x))
        return self.fc(x.mean((2, 3)))


def _ops(module):
    return {op.result.name: op for op in module.main.ops if op.results}


def test_names_keys_and_locations():
    model = randomize_(Net())
    m = irc.import_model(model, [((3, 16, 16), "f32")])
    ops = _ops(flatten(m))  # the names of every op instance
    # value names follow module paths; functional ops inside a module get the op kind appended
    for name in ("stem", "layer1.0.conv1", "layer1.0.bn1", "layer1.0.relu", "layer1.1.conv1", "layer1.0.add", "fc"):
        assert name in ops, (name, sorted(ops))
    assert ops["layer1.0.conv1"].name == "nn.conv2d" and ops["layer1.0.add"].name == "nn.add"
    # nn.param keys are exactly the state_dict keys the graph uses
    keys = {op.attrs["key"] for op in flatten(m).main.ops if op.name == "nn.param"}
    sd = set(model.state_dict())
    assert keys <= sd and "layer1.0.bn1.running_var" in keys and not any("num_batches" in k for k in keys)
    assert ops["layer1.0.conv1.weight"].attrs["key"] == "layer1.0.conv1.weight"
    # locations: this file, the line of the user's code that made the op
    loc = ops["layer1.0.add"].loc
    assert isinstance(loc, FileLoc) and loc.file == os.path.basename(__file__)
    assert loc.line == _line_of(Block.forward, "the residual add")
    assert ops["layer1.0.conv1"].loc.line == _line_of(Block.forward, "self.conv1(x)")
    assert loc.col == 9  # the statement's column in the file (traces strip indentation; irc does not)
    # the static batch by default
    assert m.main.args[0].type.shape == (1, 3, 16, 16)
    x = torch.randn(1, 3, 16, 16)
    with torch.no_grad():
        assert_close(model(x), Executor(m)(x)[0])


def test_value_names_are_sanitised_keys_are_not():
    class Odd(nn.Module):
        def __init__(self):
            super().__init__()
            self.blocks = nn.ModuleDict({"conv 1+x": nn.Conv2d(3, 4, 1), "héllo": nn.ReLU()})

        def forward(self, x):
            return self.blocks["héllo"](self.blocks["conv 1+x"](x))

    model = randomize_(Odd())
    m = irc.import_model(model, [((3, 4, 4), "f32")])
    text = irc.print(m)
    for op in m.main.ops:
        for r in op.results:
            assert re.fullmatch(r"[A-Za-z0-9_$.\-]+", r.name), r.name
    keys = {op.attrs["key"] for op in m.main.ops if op.name == "nn.param"}
    assert keys == {"blocks.conv 1+x.weight", "blocks.conv 1+x.bias"}
    assert irc.print(irc.parse(text, weights=m.weights)) == text


def test_several_inputs_dynamic_batch():
    class TwoIn(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 6, 3)
            self.fc = nn.Linear(10, 6)

        def forward(self, image, vec):
            return self.conv(image).mean((2, 3)) * torch.sigmoid(self.fc(vec)), vec.sum(1)

    model = randomize_(TwoIn())
    m = irc.import_model(model, [((3, 12, 12), "f32"), ((10,), "f32")], batch="dynamic")
    assert [a.type.shape for a in m.main.args] == [(None, 3, 12, 12), (None, 10)]
    assert [a.name for a in m.main.args] == ["image", "vec"]
    assert len(m.main.outputs) == 2
    run = Executor(m)
    for b in (1, 3):
        x, v = torch.randn(b, 3, 12, 12), torch.randn(b, 10)
        with torch.no_grad():
            ref = model(x, v)
        for r, o in zip(ref, run(x, v)):
            assert_close(r, o)


def test_constants_buffers_and_shapes_built_in_forward():
    class Consts(nn.Module):
        def __init__(self):
            super().__init__()
            self.register_buffer("scale", torch.linspace(0.5, 2.0, 8).reshape(1, 8, 1, 1), persistent=False)
            self.register_buffer("shift", torch.randn(8))
            self.conv = nn.Conv2d(3, 8, 1)

        def forward(self, x):
            y = self.conv(x) * self.scale + self.shift.view(1, 8, 1, 1)
            bias = torch.tensor([1.0, -1.0, 0.5, 2.0, 0.0, 3.0, -2.0, 1.5]).view(1, 8, 1, 1)  # a lifted constant
            mask = torch.zeros(y.shape[2], y.shape[3])  # built from static sizes: computed at import
            mask[:, : y.shape[3] // 2] = 1.0
            return (y + bias) * mask

    model = randomize_(Consts())
    m = irc.import_model(model, [((3, 6, 6), "f32")], batch="dynamic")
    keys = {op.attrs["key"] for op in m.main.ops if op.name == "nn.param"}
    sd = set(model.state_dict())
    assert "shift" in keys and "scale" in keys and "scale" not in sd  # the non-persistent buffer keeps its name
    extra = keys - sd - {"scale"}
    assert all(k not in sd for k in extra)
    for b in (1, 3):
        x = torch.randn(b, 3, 6, 6)
        with torch.no_grad():
            assert_close(model(x), Executor(m)(x)[0])


class Unsupported(nn.Module):
    def __init__(self):
        super().__init__()
        self.a = nn.Conv2d(3, 4, 1)
        self.b = nn.Conv2d(4, 4, 1)

    def forward(self, x):
        x = torch.special.bessel_j0(self.a(x))  # unsupported 1
        x = torch.special.bessel_j0(self.b(x))  # unsupported 2
        return x, torch.special.i0(x)  # unsupported 3


def test_unsupported_ops_listed_together():
    with pytest.raises(IrcError) as info:
        irc.import_model(Unsupported().eval(), [((3, 5, 5), "f32")])
    msg = str(info.value)
    assert "2 unsupported ops (3 nodes)" in msg
    assert "aten.special_bessel_j0.default x2" in msg and "aten.i0.default x1" in msg
    here = os.path.basename(__file__)
    for tag in ("unsupported 1", "unsupported 2", "unsupported 3"):
        assert f"{here}:{_line_of(Unsupported.forward, tag)}" in msg, msg
    assert "nothing was written" in msg


def test_model_is_not_modified_and_holds_no_fake_tensors():
    class Stateful(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 4, 3)
            self.bn = nn.BatchNorm2d(4)

        def forward(self, x):
            y = self.bn(self.conv(x))
            self.last = y.detach()  # a model that stores a tensor on itself while running
            return y

    model = randomize_(Stateful())
    before = {k: v.clone() for k, v in model.state_dict().items()}
    ids = {k: id(v) for k, v in model.state_dict(keep_vars=True).items()}
    irc.import_model(model, [((3, 8, 8), "f32")], batch="dynamic")
    assert not model.training
    after = model.state_dict(keep_vars=True)
    assert set(after) == set(before)
    for k in before:
        assert torch.equal(before[k], after[k].detach()) and id(after[k]) == ids[k]
    fake = torch._subclasses.fake_tensor.FakeTensor
    for mod in model.modules():
        for v in list(vars(mod).values()) + list(mod._parameters.values()) + list(mod._buffers.values()):
            assert not isinstance(v, fake)
    assert not hasattr(model, "last")  # export ran on a copy
    x = torch.randn(2, 3, 8, 8)
    with torch.no_grad():
        model(x)  # still runs


def test_dynamic_batch_falls_back_with_a_reason():
    class BatchTwo(nn.Module):
        def forward(self, x):
            n = x.shape[0]
            return x.reshape(2, -1) if n == 2 else x.reshape(n, -1)

    seen = []
    m = irc.import_model(BatchTwo(), [((3, 4), "f32")], batch="dynamic", warn=seen.append)
    assert len(seen) == 1 and "dynamic batch" in seen[0] and "batch 1" in seen[0]
    assert m.main.args[0].type.shape == (1, 3, 4)


def test_exported_program_and_static_batch():
    model = randomize_(Net())
    ep = torch.export.export(model, (torch.randn(2, 3, 8, 8),))
    m = irc.import_model(ep)
    assert m.main.args[0].type.shape == (2, 3, 8, 8)
    x = torch.randn(2, 3, 8, 8)
    with torch.no_grad():
        assert_close(model(x), Executor(m)(x)[0])
    m4 = irc.import_model(model, [((3, 8, 8), "f32")], batch=4)
    assert m4.main.args[0].type.shape == (4, 3, 8, 8)


def test_bad_arguments():
    with pytest.raises(IrcError, match="torch.nn.Module"):
        irc.import_model(object(), [((3,), "f32")])
    with pytest.raises(IrcError, match="unknown input dtype"):
        irc.import_model(Net(), [((3, 8, 8), "f33")])
    with pytest.raises(IrcError, match="batch"):
        irc.import_model(Net(), [((3, 8, 8), "f32")], batch=0)


def test_flops():
    from irc.ir.flops import count_flops

    class CL(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 8, 3, padding=1, bias=False)
            self.fc = nn.Linear(8 * 4 * 4, 10, bias=False)

        def forward(self, x):
            return self.fc(self.conv(x).flatten(1))

    m = irc.import_model(CL(), [((3, 4, 4), "f32")], batch=2)
    conv = 2 * (2 * 8 * 4 * 4) * 3 * 3 * 3
    fc = 2 * (2 * 10) * 128
    assert count_flops(m) == conv + fc


def test_import_irc_does_not_import_torch():
    import subprocess
    import sys

    code = "import sys, irc; assert 'torch' not in sys.modules; from irc.ir import flops; assert 'torch' not in sys.modules"
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    subprocess.run([sys.executable, "-c", code], check=True, cwd=root)


def test_ops_raised_to_others():
    """conv1d, embedding, pixel_shuffle, PReLU, max over a dim, square, reciprocal: no ops of their own."""
    class Mixed(nn.Module):
        def __init__(self):
            super().__init__()
            self.c1 = nn.Conv1d(4, 8, 3, padding="same")
            self.c1b = nn.Conv1d(8, 8, 3, stride=2, padding=1, groups=2)
            self.emb = nn.Embedding(10, 6)
            self.ps = nn.PixelShuffle(2)
            self.pr = nn.PReLU(8)
            self.conv = nn.Conv2d(3, 8, 1)

        def forward(self, x, seq, idx):
            a = self.c1b(self.c1(seq)).amax(2)
            b = self.emb(idx).sum(1)
            c = self.ps(self.pr(self.conv(x)))
            d = torch.max(c, 1)[0].square().sum() + (1.0 / (c.abs() + 1)).mean()
            return a, b, c, d

    model = randomize_(Mixed())
    m = irc.import_model(model, [((3, 4, 4), "f32"), ((4, 12), "f32"), ((5,), "i64")], batch="dynamic")
    kinds = {op.kind for op in m.main.ops}
    assert {"conv2d", "gather", "reduce_max", "minimum"} <= kinds
    assert m.main.args[2].type.dtype == "i64"
    run = Executor(m)
    for b in (1, 3):
        args = (torch.randn(b, 3, 4, 4), torch.randn(b, 4, 12), torch.randint(0, 10, (b, 5)))
        with torch.no_grad():
            ref = model(*args)
        for r, o in zip(ref, run(*args)):
            assert_close(r, o)


def test_module_name_is_sanitised():
    m = irc.import_model(nn.ReLU(), [((3,), "f32")], name="3 my model!")
    assert m.name == "m_3_my_model_"
    text = irc.print(m)
    assert irc.print(irc.parse(text)) == text


def test_export_failure_is_a_user_error():
    class DataDependent(nn.Module):
        def forward(self, x):
            if x.sum() > 0:  # a branch on tensor data: torch.export cannot trace it
                return x * 2
            return x - 1

    with pytest.raises(IrcError, match="torch.export failed"):
        irc.import_model(DataDependent(), [((3,), "f32")])


class Helper(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)

    def _impl(self, x):
        return torch.tanh(self.conv(x))  # inside a helper

    def forward(self, x):
        return self._impl(x)


def test_locations_point_into_helper_methods():
    m = irc.import_model(Helper(), [((3, 6, 6), "f32")])
    ops = _ops(m)
    want = _line_of(Helper._impl, "inside a helper")
    assert ops["conv"].loc.line == want and ops["tanh"].loc.line == want


def test_bf16_model_through_the_weight_file(tmp_path):
    model = nn.Sequential(nn.Linear(8, 4), nn.GELU()).to(torch.bfloat16).eval()
    m = irc.import_model(model, [((8,), "bf16")], batch="dynamic")
    irc.save(m, str(tmp_path / "m.ir"))
    back = irc.load(str(tmp_path / "m.ir"))
    assert back.main.args[0].type.dtype == "bf16"
    x = torch.randn(3, 8).to(torch.bfloat16)
    with torch.no_grad():
        assert_close(model(x), Executor(back)(x)[0])


def test_dropout_forced_on_is_refused_not_dropped():
    """F.dropout(x, training=True) (Monte-Carlo dropout) is random at inference: refused, never imported as an
    identity; an nn.Dropout in an eval-mode model is the identity."""
    import torch.nn.functional as F

    from irc.frontend.torch import import_model
    from irc.ir import IrcError

    class Forced(nn.Module):
        def forward(self, x):
            return F.dropout(x, 0.3, training=True) + 1

    with pytest.raises(IrcError, match="dropout"):
        import_model(Forced(), [((4,), "f32")])
    module = import_model(nn.Sequential(nn.Dropout(0.3), nn.ReLU()).eval(), [((4,), "f32")])
    assert [op.name for op in module.main.ops] == ["nn.relu"]
