"""irc-check --bisect: injected faults in ResNet50, Inception v3 and MobileNet V2 (narrow widths, random
weights and BN statistics) are each blamed on exactly the edited op (IR value, IR line, source line); an
unedited model reports no divergence. Also IR against IR, the emitted model, ONNX, the CLI, and the
executor's capture mode."""

from __future__ import annotations

import os
import re
import sys

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("torchvision")
pytest.importorskip("irc.frontend.torch")
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "models"))


def _build(tmp_path_factory, name, factory, size, structured=False):
    """The model and its IR, flat (one line per op instance, as these tests edit one instance) unless
    `structured`."""
    import zoo
    from helpers import randomize_

    import irc
    from irc.frontend.torch import import_model

    model = randomize_(getattr(zoo, factory)(), seed=3)
    module = import_model(model, [((3, size, size), "f32")], batch=1, structured=structured)
    path = str(tmp_path_factory.mktemp(name) / f"{name}.ir")
    irc.save(module, path)
    return model, path


@pytest.fixture(scope="module")
def resnet(tmp_path_factory):
    return _build(tmp_path_factory, "resnet", "_resnet50_quick", 32)


@pytest.fixture(scope="module")
def inception(tmp_path_factory):
    return _build(tmp_path_factory, "inception", "_inception_quick", 75)


@pytest.fixture(scope="module")
def mobilenet(tmp_path_factory):
    return _build(tmp_path_factory, "mobilenet", "_mobilenet_v2_quick", 32)


def _edit(path, pattern, repl, suffix):
    """A copy of the IR at `path` beside it with the first line matching `pattern` rewritten by `repl`;
    returns (new path, the edited value's name, its 1-based line)."""
    with open(path) as f:
        lines = f.read().split("\n")
    for i, line in enumerate(lines):
        if re.search(pattern, line):
            lines[i] = repl(line)
            name = re.match(r"\s*%([^ ]+) =", line).group(1)
            break
    else:
        raise AssertionError(f"no line matches {pattern}")
    out = path.replace(".ir", f".{suffix}.ir")
    with open(out, "w") as f:
        f.write("\n".join(lines))
    return out, name, i + 1


def _source_loc(path, name):
    import irc
    from irc.ir.core import file_locs

    op = next(op for op in irc.load(path).ops() if op.results and op.results[0].name == name)
    loc = file_locs(op.loc)[0]
    return f"{loc.file}:{loc.line}"


def _assert_blames(result, path, name, line, source_loc):
    assert result.culprit is not None, "\n".join(result.lines())
    assert result.culprit.name == name, "\n".join(result.lines())
    ir_line, src = result.where(result.culprit, short=False)
    assert ir_line == f"{path}:{line}"
    assert src == source_loc
    last = result.lines()[-1]
    assert f"%{name} = " in last and f"{path}:{line}" in last and source_loc in last


def test_unedited_models_report_no_divergence(resnet, mobilenet):
    from irc.bisect import bisect

    for model, path in (resnet, mobilenet):
        result = bisect(model, ir=path)
        assert result.culprit is None, "\n".join(result.lines())
        assert result.compared > 20
        assert result.lines()[-1] == "no divergence: every compared value is within the rule"


def test_an_edited_block_is_blamed_at_its_first_instance(tmp_path_factory):
    """In an IR with blocks, an edit of @Bottleneck's bn2 changes every instance; the first one to run is
    blamed, at the edited line of the function."""
    from irc.bisect import bisect

    model, path = _build(tmp_path_factory, "resnet_blocks", "_resnet50_quick", 32, structured=True)
    with open(path) as f:
        text = f.read()
    start = text.index("func @Bottleneck(")
    line = text[:start].count("\n") + 1 + next(i for i, ln in enumerate(text[start:].split("\n"))
                                               if re.match(r"\s*%bn2 = nn\.batch_norm", ln))
    lines = text.split("\n")
    lines[line - 1] = lines[line - 1].replace("epsilon = 1e-05", "epsilon = 0.01")
    edited = path.replace(".ir", ".eps.ir")
    with open(edited, "w") as f:
        f.write("\n".join(lines))
    result = bisect(model, ir=edited)
    assert result.culprit is not None, "\n".join(result.lines())
    assert result.culprit.name == "layer1.0.bn2", "\n".join(result.lines())
    ir_line, _ = result.where(result.culprit, short=False)
    assert ir_line == f"{edited}:{line}"


def test_bn_epsilon_is_blamed(resnet):
    from irc.bisect import bisect

    model, path = resnet
    edited, name, line = _edit(path, r"%layer2\.0\.bn2 = nn\.batch_norm",
                               lambda s: s.replace("epsilon = 1e-05", "epsilon = 0.01"), "eps")
    _assert_blames(bisect(model, ir=edited), edited, name, line, _source_loc(path, name))
    assert "torchvision/models/resnet.py:" in _source_loc(path, name)


def test_conv_padding_is_blamed(resnet):
    from irc.bisect import bisect

    model, path = resnet
    edited, name, line = _edit(path, r"%layer3\.0\.conv2 = nn\.conv2d.*padding = \[\[1, 1\], \[1, 1\]\]",
                               lambda s: s.replace("[[1, 1], [1, 1]]", "[[0, 2], [0, 2]]"), "pad")
    _assert_blames(bisect(model, ir=edited), edited, name, line, _source_loc(path, name))


def test_swapped_concat_operands_are_blamed(inception):
    from irc.bisect import bisect

    model, path = inception

    def swap(line):  # Mixed_5b: branch1x1 and branch5x5_2 both have 64 channels
        ops = re.search(r"nn\.concat\((%[^,]+), (%[^,]+),", line)
        return line.replace(f"({ops.group(1)}, {ops.group(2)},", f"({ops.group(2)}, {ops.group(1)},")

    edited, name, line = _edit(path, r"%Mixed_5b\.[^ ]* = nn\.concat\(", swap, "cat")
    _assert_blames(bisect(model, ir=edited), edited, name, line, _source_loc(path, name))


def test_corrupted_weight_is_blamed(mobilenet, tmp_path):
    import shutil

    from safetensors.numpy import load_file, save_file

    from irc.bisect import bisect

    model, path = mobilenet
    work = tmp_path / "m.ir"
    shutil.copy(path, work)
    weights = load_file(path.replace(".ir", ".safetensors"))
    key = "features.3.conv.1.0.weight"  # a depthwise conv
    weights[key] = weights[key] * 1.5
    save_file(weights, str(tmp_path / "mobilenet.safetensors"))
    with open(path) as f:
        line = next(i + 1 for i, s in enumerate(f) if re.search(r"%features\.3\.conv\.1\.0 = nn\.conv2d", s))
    result = bisect(model, ir=str(work))
    _assert_blames(result, str(work), "features.3.conv.1.0", line, _source_loc(path, "features.3.conv.1.0"))
    assert result.rule == "pass"  # a changed weight: not the source's own


def test_edited_onnx_initializer_is_blamed(mobilenet, tmp_path):
    import numpy as np
    import onnx
    from onnx import numpy_helper

    import irc
    from irc.backend.onnx import emit_onnx
    from irc.bisect import bisect

    model, path = mobilenet
    good = str(tmp_path / "m.onnx")
    emit_onnx(irc.load(path), good)
    assert bisect(model, ir=path, onnx=good).culprit is None
    proto = onnx.load(good)
    key = "features.5.conv.2.weight"  # a projection conv (1x1)
    init = next(i for i in proto.graph.initializer if i.name == key)
    init.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(init) * np.float32(-1), key))
    bad = str(tmp_path / "bad.onnx")
    onnx.save(proto, bad)
    with open(path) as f:
        line = next(i + 1 for i, s in enumerate(f) if re.search(r"%features\.5\.conv\.2 = nn\.conv2d", s))
    _assert_blames(bisect(model, ir=path, onnx=bad), path, "features.5.conv.2", line,
                   _source_loc(path, "features.5.conv.2"))


def test_emitted_model_and_fused_ir(resnet, tmp_path):
    import irc
    from irc.backend.pytorch import emit_pytorch
    from irc.bisect import bisect

    model, path = resnet
    out = str(tmp_path / "pt")
    emit_pytorch(irc.load(path), out)
    result = bisect(model, ir=path, emitted=out)
    assert result.culprit is None and result.compared > 50
    fused = irc.run_passes(irc.load(path), ["fuse-bn"])
    fused_path = str(tmp_path / "fused.ir")
    irc.save(fused, fused_path)
    result = bisect(model, ir=fused_path)
    assert result.rule == "pass" and result.culprit is None
    assert any("skipped: no counterpart" in ln for ln in result.table(every=True))


def test_ir_against_ir_and_cli(resnet, capsys):
    from irc.tools.irc_check import main

    _, path = resnet
    edited, name, line = _edit(path, r"%layer1\.0\.bn1 = nn\.batch_norm",
                               lambda s: s.replace("epsilon = 1e-05", "epsilon = 0.1"), "eps1")
    assert main(["--ir", path, "--against", edited, "--bisect", "-q"]) == 1
    out = capsys.readouterr().out
    assert f"first divergence: %{name} = nn.batch_norm at {edited}:{line}" in out
    assert "FIRST DIVERGENCE" in out
    assert main(["--ir", path, "--against", path, "--bisect-all", "-q"]) == 0
    out = capsys.readouterr().out
    assert "no divergence" in out and out.count(" ok") > 50
    with pytest.raises(SystemExit):
        main(["--ir", path, "--against", edited])  # --against without --bisect
    assert "--against AFTER.IR needs --ir BEFORE.IR and --bisect" in capsys.readouterr().err


def test_executor_capture_leaves_plain_code_alone(resnet):
    import irc
    from irc.backend.pytorch.executor import Executor, compile_func
    from irc.bisect import IrRuntime
    from irc.check import random_inputs

    module = irc.load(resnet[1])
    plain, _, _ = compile_func(module)
    captured, _, _ = compile_func(module, capture=True)
    assert "yield" not in plain
    assert [ln for ln in captured.splitlines() if not ln.lstrip().startswith("yield ")] == plain.splitlines()
    x = random_inputs([a.type for a in module.main.args], 1)
    named = dict(IrRuntime(module).run_named(x))
    out = module.main.outputs[0].name
    assert torch.equal(named[out], Executor(module)(*x)[0])
