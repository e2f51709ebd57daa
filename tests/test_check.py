"""irc-check: per-output verdict lines, exit 0 when the fidelity rule holds and 1 when it does not,
rule selection (auto → exact for untouched weights, pass after fusion), tolerance overrides."""

from __future__ import annotations

import sys
import types

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("irc.frontend.torch")
nn = torch.nn


class Small(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1)
        self.bn = nn.BatchNorm2d(8)
        self.head = nn.Sequential(nn.Flatten(), nn.Linear(8 * 4 * 4, 10))

    def forward(self, x):
        y = torch.relu(self.bn(self.conv(x)))
        return self.head(torch.nn.functional.max_pool2d(y, 2)), y.mean((2, 3))


@pytest.fixture(scope="module")
def source():
    from helpers import randomize_

    return randomize_(Small(), seed=1)


@pytest.fixture(scope="module")
def ir_path(source, tmp_path_factory):
    import irc
    from irc.frontend.torch import import_model

    m = import_model(source, [((3, 8, 8), "f32")], batch="dynamic")
    path = str(tmp_path_factory.mktemp("check") / "small.ir")
    irc.save(m, path)
    return path


def _edited(path, old, new, tmp_path, name="wrong.ir"):
    """A copy of the IR at `path` with one edit, written beside it (its weight file is relative)."""
    import os
    import uuid

    with open(path) as f:
        text = f.read()
    assert old in text
    out = tmp_path.__class__(os.path.dirname(path)) / f"{uuid.uuid4().hex[:8]}_{name}"
    out.write_text(text.replace(old, new, 1))
    return str(out)


def test_ir_matches_and_lines_name_every_output(source, ir_path):
    from irc.check import check

    r = check(source, ir=ir_path)
    assert r.ok and r.rule == "exact"
    # one row per output and batch size, named after the IR's output values
    assert [(b, n) for b, n, _ in r.rows] == [(1, "head.1"), (1, "mean"), (3, "head.1"), (3, "mean")]
    text = "\n".join(r.lines())
    for word in ("max|d|=", "rel=", "cos=", "argmax=", "[batch 1]", "[batch 3]", "rule: exact"):
        assert word in text
    assert all(v.bit_identical for _, _, v in r.rows)


def test_wrong_ir_fails(source, ir_path, tmp_path):
    from irc.check import check

    wrong = _edited(ir_path, "nn.relu(", "nn.sigmoid(", tmp_path)
    r = check(source, ir=wrong)
    assert not r.ok
    assert "FAIL" in "\n".join(r.lines())


def test_emitted_matches_and_a_broken_emission_fails(source, ir_path, tmp_path):
    import irc
    from irc.check import check

    out = tmp_path / "out"
    irc.emit_pytorch(irc.load(ir_path), str(out))
    r = check(source, emitted=str(out))
    assert r.ok and r.rule == "exact" and len(r.rows) == 4
    # a hand-edited model.py that computes something else
    src = (out / "model.py").read_text()
    assert "F.relu(" in src
    (out / "model.py").write_text(src.replace("F.relu(", "torch.tanh(", 1))
    assert not check(source, emitted=str(out)).ok


def test_rule_auto_picks_pass_after_fusion_and_tolerances_override(source, ir_path, tmp_path):
    import irc
    from irc.check import check

    m = irc.load(ir_path)
    irc.run_passes(m, "fuse-bn")
    assert not any(op.kind == "batch_norm" for op in m.ops())
    r = check(source, ir=m)
    assert r.rule == "pass" and r.ok, r.lines()
    assert "new or changed" in r.rule_reason
    # a small numeric error: an epsilon of 1e-3 instead of 1e-5 fails exact, passes with a loose atol
    eps = _edited(ir_path, "epsilon = 1e-05", "epsilon = 0.001", tmp_path, "eps.ir")
    assert not check(source, ir=eps).ok
    loose = check(source, ir=eps, rtol=0.5, atol=0.5)
    assert loose.ok and "overridden" in loose.rule_reason


def test_output_count_mismatch_fails(source, ir_path, tmp_path):
    from irc.check import check

    with open(ir_path) as f:
        text = f.read()
    ret = next(ln for ln in text.splitlines() if ln.strip().startswith("return "))
    one = ret.split(",")[0] + " : " + ret.split(" : ")[1].split(", ")[0]
    path = tmp_path.__class__(ir_path).parent / "one.ir"
    path.write_text(text.replace(ret, one))
    func_line = next(ln for ln in text.splitlines() if "func @forward" in ln)
    res_types = func_line.split("-> ")[1].rstrip(" {")
    path.write_text(path.read_text().replace("-> " + res_types, "-> " + res_types.strip("()").split(", ")[0]))
    r = check(source, ir=str(path))
    assert not r.ok and any("outputs" in p for p in r.problems)


# ----------------------------------------------------------------------------- the command


@pytest.fixture
def fake_loader(monkeypatch, source):
    """SOURCE resolution is the frontend's (load_source); here it returns the fixture model and records
    the flags it was given, so the command's own behaviour is tested whatever the frontend supports."""
    calls = []
    mod = types.ModuleType("irc.frontend.torch.load")

    def load_source(path, arch=None, arch_args=None, trust_pickle=False, materialize=False):
        calls.append((path, arch, arch_args, trust_pickle))
        return source

    mod.load_source = load_source
    monkeypatch.setitem(sys.modules, "irc.frontend.torch.load", mod)
    return calls


def test_command_exit_codes(fake_loader, ir_path, tmp_path, capsys):
    from irc.tools.irc_check import main

    assert main(["small.pth", "--ir", ir_path]) == 0
    out = capsys.readouterr().out
    assert out.count("[batch") == 4 and "ok: every output" in out
    wrong = _edited(ir_path, "nn.relu(", "nn.sigmoid(", tmp_path)
    assert main(["small.pth", "--ir", wrong, "-q"]) == 1
    captured = capsys.readouterr()
    assert "FAIL" in captured.out and captured.err == ""
    # overrides and SOURCE flags reach the library and the loader
    eps = _edited(ir_path, "epsilon = 1e-05", "epsilon = 0.001", tmp_path, "eps.ir")
    assert main(["small.pth", "--ir", eps]) == 1
    assert main(["small.pth", "--ir", eps, "--rtol", "0.5", "--atol", "0.5", "--arch", "resnet18",
                 "--arch-args", '{"num_classes": 10}', "--trust-pickle"]) == 0
    assert fake_loader[-1] == ("small.pth", "resnet18", '{"num_classes": 10}', True)
    capsys.readouterr()
    # --rule pass on an exact IR still passes; emitted directories work the same way
    import irc

    irc.emit_pytorch(irc.load(ir_path), str(tmp_path / "out"))
    assert main(["small.pth", "--emitted", str(tmp_path / "out"), "--rule", "pass"]) == 0
    assert "rule: pass (chosen with --rule)" in capsys.readouterr().out
    # errors are one line with exit 1
    assert main(["small.pth", "--ir", str(tmp_path / "nope.ir")]) == 1
    err = capsys.readouterr().err
    assert "irc-check: error:" in err and "Traceback" not in err
    assert main(["small.pth", "--emitted", str(tmp_path)]) == 1
    assert "no model.py" in capsys.readouterr().err


def test_command_help_has_an_example(capsys):
    from irc.tools.irc_check import main

    with pytest.raises(SystemExit) as e:
        main(["--help"])
    assert e.value.code == 0
    out = capsys.readouterr().out
    assert "example:" in out and "--emitted" in out and "--rtol" in out and "--arch-args" in out


def test_command_with_the_real_loader(source, ir_path, tmp_path, capsys):
    """SOURCE as irc-import takes it: a state_dict file plus --arch FILE.py:Class."""
    pytest.importorskip("irc.frontend.torch.load")
    import inspect

    import irc
    from irc.tools.irc_check import main

    arch = tmp_path / "small_arch.py"
    arch.write_text("import torch\nfrom torch import nn\n\n\n" + inspect.getsource(Small))
    weights = tmp_path / "small.pth"
    torch.save(source.state_dict(), str(weights))
    irc.emit_pytorch(irc.load(ir_path), str(tmp_path / "out"))
    assert main([str(weights), "--arch", f"{arch}:Small", "--emitted", str(tmp_path / "out")]) == 0
    out = capsys.readouterr().out
    assert "[batch 3] head:" in out and "(bit-identical)" in out  # the name forward returns
    wrong = _edited(ir_path, "nn.relu(", "nn.sigmoid(", tmp_path)
    assert main([str(weights), "--arch", f"{arch}:Small", "--ir", wrong]) == 1


def test_irc_check_is_callable_even_after_the_module_is_imported(source, ir_path):
    import irc
    import irc.check  # binds the attribute irc.check to the module

    assert irc.check(source, ir=ir_path).ok


def test_a_source_that_does_not_fit_the_ir_is_a_user_error(ir_path):
    from irc.check import check
    from irc.ir import IrcError

    other = nn.Sequential(nn.Conv2d(5, 2, 1))  # wants 5 channels; the IR feeds 3
    with pytest.raises(IrcError, match="source model fails on inputs of shape 1x3x8x8"):
        check(other, ir=ir_path)


def test_a_channel_last_target_is_checked_against_a_channel_first_source(source, ir_path, tmp_path):
    """An ONNX file emitted after nchw-to-nhwc{change-signature=true} takes NHWC inputs: the torch source gets
    them transposed, the NHWC feature-map output is compared after transposing back, and the check says so; a
    wrong weight in the channel-last file still fails."""
    pytest.importorskip("onnxruntime")
    import irc
    from irc.backend.onnx import emit_onnx
    from irc.check import check
    from irc.ir.structure import flatten
    from irc.passes import run_passes

    module = irc.load(ir_path)
    run_passes(module, "nchw-to-nhwc{change-signature=true},fuse-bn,fold-constants,cse,dce")
    assert module.main.args[0].type.shape == (None, 8, 8, 3)
    good = str(tmp_path / "nhwc.onnx")
    emit_onnx(module, good)
    result = check(source, onnx=good)
    assert result.ok, result.lines()
    assert any("channel-last inputs" in n for n in result.notes)
    flat = flatten(module)  # the names and keys of every instance
    assert [r[1] for r in result.rows] == [v.name for v in flat.main.outputs] * 2
    key = next(op.attrs["key"] for op in flat.ops() if op.name == "nn.param" and op.result.type.rank == 4)
    module.weights.add(key, module.weights.numpy(key) * 1.01)
    bad = str(tmp_path / "wrong.onnx")
    emit_onnx(module, bad)
    assert not check(source, onnx=bad).ok
