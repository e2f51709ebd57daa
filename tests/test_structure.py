"""Blocks (issue 20): the source's module hierarchy as functions + nn.call in the IR, kept through passes, and
one class per block structure in the emitted PyTorch."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest
import torch
from helpers import randomize_
from test_emit_common import audit, import_model_py, lint
from torch import nn

import irc
from irc.backend.pytorch.executor import Executor
from irc.check import emitted_source_keys
from irc.fidelity import assert_close
from irc.frontend.torch import import_model
from irc.ir import DiagnosticError, parse, print_module
from irc.ir.stats import op_counts
from irc.ir.structure import flatten
from irc.passes.manager import run_passes

PIPELINE = "canonicalize,fuse-bn,fold-constants,cse,dce"


def _tv(name, **kw):
    import torchvision.models as tvm

    torch.manual_seed(0)
    model = getattr(tvm, name)(weights=None, **kw).eval()
    randomize_(model)
    return model


@pytest.fixture(scope="module")
def resnet18():
    model = _tv("resnet18")
    return model, import_model(model, [((3, 32, 32), "f32")], batch="dynamic")


def _calls(module):
    return [(f.name, op.attrs["callee"], op.attrs["scope"]) for f in module.funcs for op in f.ops
            if op.name == "nn.call"]


def test_import_keeps_the_blocks_and_runs_exactly(resnet18):
    model, module = resnet18
    names = [f.name for f in module.funcs]
    assert names[0] == "forward"
    classes = {f.attrs.get("class") for f in module.funcs[1:]}
    assert classes == {"Sequential", "BasicBlock"}
    # the two blocks of layer1 are alike: one function called twice, under its own scope each time
    layer1 = module.func(next(c for f, c, s in _calls(module) if f == "forward" and s == "layer1"))
    inner = [(op.attrs["callee"], op.attrs["scope"]) for op in layer1.ops if op.name == "nn.call"]
    assert [s for _, s in inner] == ["0", "1"] and inner[0][0] == inner[1][0]
    block = module.func(inner[0][0])
    keys = [op.attrs["key"] for op in block.ops if op.name == "nn.param"]
    assert keys[0] == "conv1.weight"  # relative to the call's scope
    for batch in (1, 3):
        x = torch.randn(batch, 3, 32, 32, generator=torch.Generator().manual_seed(batch))
        with torch.no_grad():
            assert torch.equal(Executor(module)(x)[0], model(x))


def test_text_round_trips_and_flattens_to_the_flat_import(resnet18):
    model, module = resnet18
    text = print_module(module)
    assert "attributes {class = \"BasicBlock\"}" in text
    assert print_module(parse(text, weights=module.weights)) == text
    flat = import_model(model, [((3, 32, 32), "f32")], batch="dynamic", structured=False)
    assert [f.name for f in flat.funcs] == ["forward"]
    assert print_module(flatten(module)) == print_module(flat)
    assert op_counts(module) == op_counts(flat)


def test_editing_a_block_changes_every_instance(resnet18, tmp_path):
    """A hand edit of one function (BatchNorm epsilon of @BasicBlock's bn1) changes exactly the instances that
    call it, checked against the source model with the same change."""
    model, module = resnet18
    path = tmp_path / "m.ir"
    irc.save(module, str(path))
    text = path.read_text()
    start = text.index("func @BasicBlock(")
    end = text.index("\n  }\n", start)
    body = text[start:end]
    line = next(ln for ln in body.split("\n") if re.match(r"\s*%bn1 = nn.batch_norm", ln))
    edited = body.replace(line, line.replace("epsilon = 1e-05", "epsilon = 0.5"))
    path.write_text(text[:start] + edited + text[end:])
    module2 = irc.load(str(path))
    from irc.emitted_trace import _instances

    instances = [path for path, func in _instances(module2).items() if func.name == "BasicBlock"]
    assert len(instances) == 5  # every block without a downsample: one function, its sizes left open
    import copy

    changed = copy.deepcopy(model)
    for path_ in instances:
        changed.get_submodule(path_).bn1.eps = 0.5
    x = torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        out = Executor(module2)(x)[0]
        assert_close(out, changed(x), "exact")
        assert not torch.allclose(out, model(x), atol=1e-3)


def test_passes_keep_alike_blocks_alike(resnet18):
    model, module = resnet18
    module = import_model(model, [((3, 32, 32), "f32")], batch="dynamic")
    before = sorted(f.name for f in module.funcs)
    run_passes(module, PIPELINE)
    after = [f for f in module.funcs]
    assert sorted(f.name for f in after) == before  # every block still one function per structure
    assert all(op.kind != "batch_norm" for f in after for op in f.ops)  # fused inside the blocks
    x = torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        assert_close(Executor(module)(x)[0], model(x), "pass")


def test_verifier_checks_calls(resnet18, tmp_path):
    _, module = resnet18
    text = print_module(module)
    cases = {
        "undefined": (text.replace('callee = "Sequential", scope = "layer1"', 'callee = "Nope", scope = "layer1"', 1),
                      "nn.call of undefined function @Nope"),
        "scope": (text.replace('scope = "layer1"', 'scope = "layer1..x"', 1), "is not an attribute path"),
        "types": (text.replace('scope = "layer1"} : tensor<?x64x8x8xf32>', 'scope = "layer1"} : tensor<?x64x9x8xf32>', 1),
                  "nn.call result 0 is tensor<?x64x9x8xf32> but @Sequential returns tensor<?x64x8x8xf32>"),
        "block": (re.sub(r"(func @BasicBlock\(.*\n(?:.*\n)*?\s*%conv1 = nn.conv2d.*?) : tensor<[^>]*>",
                         r"\1 : tensor<?x3x?x?xf32>", text, count=1), "does not match inferred"),
    }
    for what, (bad, message) in cases.items():
        assert bad != text, what
        with pytest.raises(DiagnosticError) as e:
            irc.verify(parse(bad, "m.ir", weights=module.weights))
        assert message in str(e.value), (what, str(e.value))
        assert re.search(r"m\.ir:\d+:\d+: error:", str(e.value)), what


def test_a_recursive_call_is_refused(tmp_path):
    text = """module @m {
  func @forward(%x: tensor<1x4xf32>) -> tensor<1x4xf32> {
    %y = nn.call(%x) {callee = "A", scope = "a"} : tensor<1x4xf32>
    return %y : tensor<1x4xf32>
  }

  func @A(%x: tensor<1x4xf32>) -> tensor<1x4xf32> attributes {class = "A"} {
    %y = nn.call(%x) {callee = "A", scope = "a"} : tensor<1x4xf32>
    return %y : tensor<1x4xf32>
  }
}
"""
    with pytest.raises(DiagnosticError) as e:
        irc.verify(parse(text, "r.ir"))
    assert "calls cannot recurse" in str(e.value) and "r.ir:8:" in str(e.value)


def _emit(module, tmp_path, name="out"):
    out = tmp_path / name
    irc.emit_pytorch(module, str(out))
    return out, import_model_py(out)


def test_emitted_resnet_has_one_class_per_block(resnet18, tmp_path):
    model, module = resnet18
    out, mod = _emit(module, tmp_path)
    source = (out / "model.py").read_text()
    classes = re.findall(r"^class (\w+)", source, re.M)
    assert classes == ["BasicBlock", "ResNet"]  # downsample or not, stride 1 or 2: one class
    assert "downsample=None" in source and "self.layer1 = nn.Sequential(" in source
    emitted = mod.load()
    assert type(emitted.layer2[0]).__name__ == "BasicBlock" and emitted.layer2[0].downsample is not None
    assert emitted.layer1[0].downsample is None
    assert list(emitted.state_dict()) == list(model.state_dict())
    emitted.load_state_dict(model.state_dict())
    for batch in (1, 3):
        x = mod.example_inputs(batch)
        with torch.no_grad():
            assert torch.equal(emitted(*x), model(*x))
    lint(out / "model.py")
    audit((out / "model.py").read_text())
    out2, _ = _emit(module, tmp_path, "again")
    assert (out2 / "model.py").read_bytes() == (out / "model.py").read_bytes()
    assert (out2 / "model.safetensors").read_bytes() == (out / "model.safetensors").read_bytes()


def test_emitted_blocks_run_under_export_and_compile(resnet18, tmp_path):
    _, module = resnet18
    _, mod = _emit(module, tmp_path)
    model = mod.load()
    batch = torch.export.Dim("batch", min=1, max=64)
    ep = torch.export.export(model, tuple(mod.example_inputs(2)), dynamic_shapes=({0: batch},))
    compiled = torch.compile(model)
    with torch.no_grad():
        for b in (1, 3):
            x = mod.example_inputs(b, seed=5)
            assert_close(ep.module()(*x), model(*x), "exact")
            assert_close(compiled(*x), model(*x), "pass")  # compiled kernels: the rule, not bit-identity


@pytest.mark.parametrize("name,kw,classes", [
    ("mobilenet_v2", {}, {"InvertedResidual", "MobileNetV2"}),
    ("efficientnet_b0", {}, {"MBConv", "SqueezeExcitation", "EfficientNet"}),
    ("inception_v3", {"aux_logits": False, "init_weights": False},
     {"BasicConv2d", "InceptionA", "InceptionB", "InceptionC", "InceptionD", "InceptionE", "Inception3"}),
])
def test_emitted_classes_are_named_after_the_source(name, kw, classes, tmp_path):
    model = _tv(name, **kw)
    size = 75 if name == "inception_v3" else 32
    module = import_model(model, [((3, size, size), "f32")], batch=1)
    out, mod = _emit(module, tmp_path)
    source = (out / "model.py").read_text()
    found = set(re.findall(r"^class (\w+)", source, re.M))
    assert classes <= found, found
    emitted = mod.load()
    assert list(emitted.state_dict()) == list(model.state_dict())
    emitted.load_state_dict(model.state_dict())
    x = mod.example_inputs(1)
    with torch.no_grad():
        assert_close(emitted(*x), model(*x), "exact")
    lint(out / "model.py")


def test_resnet50_model_py_is_at_most_40_percent_of_the_flat_one(tmp_path):
    model = _tv("resnet50")
    lines = {}
    for structured in (True, False):
        module = import_model(model, [((3, 32, 32), "f32")], batch=1, structured=structured)
        out = tmp_path / str(structured)
        irc.emit_pytorch(module, str(out))
        lines[structured] = len((out / "model.py").read_text().splitlines())
    assert lines[True] <= 0.4 * lines[False], lines
    source = (tmp_path / "True" / "model.py").read_text()
    assert re.findall(r"^class (\w+)", source, re.M) == ["Bottleneck", "ResNet"]


class _Shared(nn.Module):
    """A block called twice and a weight read inside and outside a block: what cannot be cut out stays whole."""

    def __init__(self):
        super().__init__()
        self.block = nn.Sequential(nn.Conv2d(4, 4, 3, padding=1), nn.ReLU())
        self.head = nn.Linear(4, 3)

    def forward(self, x):
        y = self.block(self.block(x))
        return self.head(y.mean((2, 3))) + self.block[0].bias.sum()


def test_shared_blocks_and_weights(tmp_path):
    torch.manual_seed(0)
    model = _Shared().eval()
    module = import_model(model, [((4, 8, 8), "f32")], batch=1)
    x = torch.randn(1, 4, 8, 8)
    with torch.no_grad():
        assert torch.equal(Executor(module)(x)[0], model(x))
        out, mod = _emit(module, tmp_path)
        emitted = mod.load()
        emitted.load_state_dict(model.state_dict())
        assert list(emitted.state_dict()) == list(model.state_dict())
        assert torch.equal(emitted(x), model(x))


def test_irc_import_flat_flag(tmp_path):
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.Sequential(nn.ReLU(), nn.Conv2d(4, 4, 1))).eval()
    path = tmp_path / "m.pt2"
    torch.export.save(torch.export.export(model, (torch.randn(1, 3, 8, 8),)), str(path))
    for flag, funcs in (([], 2), (["--flat"], 1)):
        out = tmp_path / f"m{len(flag)}.ir"
        proc = subprocess.run([sys.executable, "-m", "irc.tools.irc_import", str(path), "-o", str(out), *flag],
                              capture_output=True, text=True, check=False)
        assert proc.returncode == 0, proc.stderr
        assert out.read_text().count("  func @") == funcs


def test_other_backends_write_the_inlined_model(resnet18, tmp_path):
    """ONNX (as every target but PyTorch) gets the blocks inlined; checked in onnxruntime."""
    import numpy as np
    import onnxruntime as ort

    model, module = resnet18
    path = tmp_path / "m.onnx"
    irc.emit_onnx(module, str(path))
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    x = torch.randn(3, 3, 32, 32, generator=torch.Generator().manual_seed(2))
    out = session.run(None, {session.get_inputs()[0].name: x.numpy()})[0]
    with torch.no_grad():
        assert_close(torch.from_numpy(np.asarray(out)), model(x), "pass")


def test_hostile_blocks_stay_safe(tmp_path):
    """A hand-written IR whose class names and scopes carry code: the emitted file holds none of it (the scope
    is not an attribute name, so the model is written flat; the class name is sanitised)."""
    text = """module @m {weights = "m.safetensors"} {
  func @forward(%x: tensor<1x4xf32>) -> tensor<1x4xf32> {
    %a = nn.call(%x) {callee = "B", scope = "a;import os"} : tensor<1x4xf32>
    %b = nn.call(%a) {callee = "B", scope = "ok"} : tensor<1x4xf32>
    return %b : tensor<1x4xf32>
  }

  func @B(%x: tensor<1x4xf32>) -> tensor<1x4xf32> attributes {class = "X():\\n  import os #"} {
    %w = nn.param() {key = "fc.weight"} : tensor<4x4xf32>
    %fc = nn.linear(%x, %w) : tensor<1x4xf32>
    %r = nn.relu(%fc) : tensor<1x4xf32>
    return %r : tensor<1x4xf32>
  }
}
"""
    from test_emit_common import ir_from_text

    module = ir_from_text(text, tmp_path)
    x = torch.randn(1, 4, generator=torch.Generator().manual_seed(0))
    ref = Executor(module)(x)[0]
    for scope, classes in (("a;import os", 1), ("a", 2)):
        module = ir_from_text(text.replace("a;import os", scope), tmp_path, f"m{classes}.ir")
        out, mod = _emit(module, tmp_path, f"out{classes}")
        source = (out / "model.py").read_text()
        audit(source)
        lint(out / "model.py")
        assert "import os #" not in source and "a;import" not in source
        assert len(re.findall(r"^class ", source, re.M)) == classes, source
        assert_close(mod.load()(x), Executor(module)(x)[0], "exact")
    assert_close(ref, Executor(module)(x)[0], "exact")


def test_emitted_after_passes_keeps_the_classes(resnet18, tmp_path):
    """fuse-bn folds every BatchNorm into its conv inside the blocks; the blocks stay alike, so model.py keeps
    one BasicBlock class (its convs now with a bias, no BatchNorm)."""
    model, _ = resnet18
    module = import_model(model, [((3, 32, 32), "f32")], batch="dynamic")
    run_passes(module, PIPELINE)
    out, mod = _emit(module, tmp_path)
    source = (out / "model.py").read_text()
    assert re.findall(r"^class (\w+)", source, re.M) == ["BasicBlock", "ResNet"]
    assert "BatchNorm2d" not in source and "downsample=None" in source
    x = mod.example_inputs(3)
    with torch.no_grad():
        assert_close(mod.load()(*x), model(*x), "pass")


def _zoo():
    from models.zoo import ZOO

    return ZOO


@pytest.mark.parametrize("name", sorted(_zoo()))
def test_every_zoo_model_is_emitted_with_its_blocks(name, tmp_path):
    """Every architecture of the quick zoo, randomised: model.py has fewer classes than block instances, the
    source's state_dict keys in order, and the source's outputs (the attention models within the rule: the
    source runs nn.MultiheadAttention's own kernels)."""
    build, size = _zoo()[name][0], _zoo()[name][1]
    _check_zoo_model(name, randomize_(build().eval()), size, tmp_path)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["resnet50", "mobilenet_v2", "inception_v3", "efficientnet_b0", "vit_b_16"])
def test_full_size_models_are_emitted_with_their_blocks(name, tmp_path):
    build, size = _zoo()[name][2], _zoo()[name][3]
    _check_zoo_model(name, randomize_(build().eval()), size, tmp_path)


def _check_zoo_model(name, model, size, tmp_path):
    module = import_model(model, [((3, size, size), "f32")], batch=1)
    calls = sum(op.name == "nn.call" for f in module.funcs for op in f.ops)
    out, mod = _emit(module, tmp_path)
    source = (out / "model.py").read_text()
    classes = len(re.findall(r"^class ", source, re.M))
    assert 1 <= classes <= calls, (name, classes, calls)
    emitted = mod.load()
    # the source's keys in order: keys that are not identifiers renamed as a flat model.py renames them
    # (irc.source_keys), and tensors irc computed at import (`_folded.*`) beside them
    renamed = emitted_source_keys(str(out))
    prefixes = {k.rpartition(".")[0]: v.rpartition(".")[0] for k, v in renamed.items()}  # for fresh counters

    def source_name(key):
        head, dot, tail = key.rpartition(".")
        return renamed.get(key) or prefixes.get(head, head) + dot + tail

    source_key = {k: source_name(k) for k in emitted.state_dict() if not k.startswith("_folded.")}
    keys = list(source_key.values())
    if name == "swin_t":  # PatchMerging registers `reduction` before `norm` and calls them the other way round:
        assert sorted(keys) == sorted(model.state_dict())  # irc orders by use (flat model.py alike)
    else:
        assert keys == list(model.state_dict())
    state = {k: model.state_dict()[s] for k, s in source_key.items()}
    missing, unexpected = emitted.load_state_dict(state, strict=False)
    assert not unexpected and all(k.startswith("_folded.") for k in missing)
    x = mod.example_inputs(1)
    with torch.no_grad():
        ref = model(*x)
        got = emitted(*x)
    for r, g in zip(ref if isinstance(ref, tuple) else (ref,), got if isinstance(got, tuple) else (got,),
                    strict=True):
        assert_close(g, r, "pass" if name in ("vit_b_16", "swin_t") else "exact", name=name)
    lint(out / "model.py")


def test_bisect_of_emitted_blocks_names_the_broken_instance(resnet18, tmp_path):
    """--bisect against a model.py with blocks compares what its forward computes (each block's result): a
    weight broken inside layer2[0] is blamed on that block's result, named as in the inlined IR."""
    from safetensors.torch import load_file, save_file

    from irc.bisect import bisect

    model, module = resnet18
    path = tmp_path / "m.ir"
    irc.save(module, str(path))
    out, _ = _emit(module, tmp_path)
    assert bisect(model, ir=str(path), emitted=str(out)).culprit is None
    weights = load_file(str(out / "model.safetensors"))
    weights["layer2.0.conv2.weight"] = weights["layer2.0.conv2.weight"] * 1.5
    save_file(weights, str(out / "model.safetensors"))
    result = bisect(model, ir=str(path), emitted=str(out))
    assert result.culprit is not None and result.culprit.name.startswith("layer2.0."), "\n".join(result.lines())
    assert result.compared >= 5


def test_calls_that_multiply_are_bounded():
    """24 functions each calling the next twice stand for 2**24 instances: refused at once, in bounded time."""
    import time

    lines = ["module @m {", "  func @forward(%x: tensor<1x4xf32>) -> tensor<1x4xf32> {",
             '    %y = nn.call(%x) {callee = "F0", scope = "a"} : tensor<1x4xf32>', "    return %y : tensor<1x4xf32>",
             "  }"]
    for i in range(24):
        lines += [f'  func @F{i}(%x: tensor<1x4xf32>) -> tensor<1x4xf32> attributes {{class = "F"}} {{',
                  f'    %a = nn.call(%x) {{callee = "F{i + 1}", scope = "a"}} : tensor<1x4xf32>' if i < 23 else
                  "    %a = nn.relu(%x) : tensor<1x4xf32>",
                  f'    %b = nn.call(%a) {{callee = "F{i + 1}", scope = "b"}} : tensor<1x4xf32>' if i < 23 else
                  "    %b = nn.relu(%a) : tensor<1x4xf32>",
                  "    return %b : tensor<1x4xf32>", "  }"]
    text = "\n".join(lines + ["}"]) + "\n"
    start = time.perf_counter()
    with pytest.raises(DiagnosticError, match="more than 100000 block instances"):
        irc.verify(parse(text, "bomb.ir"))
    with pytest.raises(DiagnosticError, match="inlining the calls would make"):
        flatten(parse(text, "bomb.ir"))
    assert time.perf_counter() - start < 20


def test_a_function_no_call_reaches_is_checked_as_written():
    text = """module @m {
  func @forward(%x: tensor<1x4xf32>) -> tensor<1x4xf32> {
    %y = nn.relu(%x) : tensor<1x4xf32>
    return %y : tensor<1x4xf32>
  }

  func @helper(%x: tensor<1x4xf32>) -> tensor<1x5xf32> {
    %y = nn.relu(%x) : tensor<1x5xf32>
    return %y : tensor<1x5xf32>
  }
}
"""
    with pytest.raises(DiagnosticError, match=r"h\.ir:8:24: error: nn.relu result type tensor<1x5xf32> does not match"):
        irc.verify(parse(text, "h.ir"))
