"""irc-emit --target pytorch on hand-written IR: modules at the params' paths, readable and lint-clean
code, the executor's numbers at batch 1 and 3, byte-identical re-emission, torch.export / torch.compile,
and the command line."""

from __future__ import annotations

import ast
import os

import pytest
from test_emit_common import audit, emit, golden, import_model_py, ir_from_text, lint, run_both

from irc.fidelity import assert_close

torch = pytest.importorskip("torch")


def _inputs(module, batch, seed=0):
    from irc.check import random_inputs

    return random_inputs([a.type for a in module.main.args], batch, seed)


def test_all_ops_emits_modules_and_matches_the_executor(tmp_path):
    from safetensors.torch import load_file

    m = golden("all_ops.ir", tmp_path)
    res = emit(m, tmp_path / "out")
    assert res["class"] == "AllOps"
    mod = import_model_py(tmp_path / "out")
    model = mod.load()
    assert type(model).__name__ == "AllOps" and not model.training
    # ops with weights became nn modules at the params' paths
    assert isinstance(model.conv, torch.nn.Conv2d) and model.conv.groups == 8
    assert isinstance(model.pw, torch.nn.Conv2d) and model.pw.bias is None and model.pw.dilation == (2, 2)
    assert isinstance(model.bn, torch.nn.BatchNorm2d)
    assert isinstance(model.fc, torch.nn.Linear)
    assert isinstance(model.ln, torch.nn.LayerNorm) and model.ln.eps == 1e-06
    assert isinstance(model.up, torch.nn.ConvTranspose2d) and model.up.output_padding == (1, 1)
    # state_dict keys: the param keys (+ BatchNorm's counter), and model.safetensors holds exactly them
    keys = [op.attrs["key"] for op in m.ops() if op.name == "nn.param"]
    sd = model.state_dict()
    assert set(sd) == set(keys) | {"bn.num_batches_tracked"}
    assert set(load_file(str(tmp_path / "out" / "model.safetensors"))) == set(sd)
    for k in keys:
        assert torch.equal(sd[k], torch.from_numpy(m.weights.numpy(k).copy())), k
    for batch in (1, 3):
        ref, out = run_both(m, model, _inputs(m, batch))
        assert len(ref) == len(out) == 3
        for r, o in zip(ref, out):
            assert_close(r, o, "exact")  # executor (F.*) vs emitted (nn.*): the exact rule, not bit-identity


def test_all_ops_is_readable(tmp_path):
    m = golden("all_ops.ir", tmp_path)
    emit(m, tmp_path / "out")
    path = tmp_path / "out" / "model.py"
    lint(path)
    src = path.read_text()
    audit(src)
    tree = ast.parse(src)
    cls = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == "AllOps")
    fwd = next(n for n in cls.body if isinstance(n, ast.FunctionDef) and n.name == "forward")
    assert [a.arg for a in fwd.args.args] == ["self", "x", "s"]
    assigned = [t.id for st in fwd.body if isinstance(st, ast.Assign) for tgt in st.targets
                for t in (tgt.elts if isinstance(tgt, ast.Tuple) else [tgt])]
    # forward reads top to bottom with the IR's value names (a builtin name like `sum` gets a `_`)
    # (constants are built once, in __init__, as non-persistent buffers)
    ir_names = [r.name for op in m.main.ops if op.name != "nn.param" and op.kind not in ("dropout", "constant")
                for r in op.results]
    expect = [n + "_" if n == "sum" else ("_" + n if n == "c" else n) for n in ir_names]
    assert assigned == expect
    assert "self.pw(F.pad(dw, (1, 0, 0, 1)))" in src  # asymmetric padding stays a module call
    assert "self.conv = nn.Conv2d(8, 8, 3, padding=1, groups=8)" in src
    assert 'self.register_buffer("half_", torch.tensor(0.5, dtype=torch.float32), persistent=False)' in src
    assert "F.max_pool2d(g, kernel_size=(3, 3), stride=(2, 2), ceil_mode=True)" in src  # keywords, no defaults
    # one class, plus load() and example_inputs(); only torch imported at the top
    assert [n.name for n in tree.body if isinstance(n, ast.ClassDef)] == ["AllOps"]
    assert {n.name for n in tree.body if isinstance(n, ast.FunctionDef)} == {"load", "example_inputs",
                                                                              "finish_pending_writes"}


def test_emitting_twice_is_byte_identical(tmp_path):
    m = golden("all_ops.ir", tmp_path)
    emit(m, tmp_path / "a")
    emit(m, tmp_path / "b")
    for f in ("model.py", "model.safetensors"):
        assert (tmp_path / "a" / f).read_bytes() == (tmp_path / "b" / f).read_bytes(), f
    # and from a fresh parse of the same file
    import irc

    emit(irc.load(m.path), tmp_path / "c")
    for f in ("model.py", "model.safetensors"):
        assert (tmp_path / "a" / f).read_bytes() == (tmp_path / "c" / f).read_bytes(), f
    # no temporary files left behind
    assert sorted(os.listdir(tmp_path / "a")) == ["model.py", "model.safetensors"]


SEQ = """// irc 1
module @tiny-net.v2 {weights = "seq.safetensors"} {
  func @forward(%input: tensor<?x3x8x8xf32>) -> tensor<?x5xf32> {
    %features.0.weight = nn.param() {key = "features.0.weight"} : tensor<4x3x3x3xf32>
    %features.0.bias = nn.param() {key = "features.0.bias"} : tensor<4xf32>
    %features.0 = nn.conv2d(%input, %features.0.weight, %features.0.bias) {dilation = [1, 1], groups = 1, padding = [[1, 1], [1, 1]], stride = [1, 1]} : tensor<?x4x8x8xf32>
    %features.1.weight = nn.param() {key = "features.1.weight"} : tensor<4xf32>
    %features.1.bias = nn.param() {key = "features.1.bias"} : tensor<4xf32>
    %features.1.running_mean = nn.param() {key = "features.1.running_mean"} : tensor<4xf32>
    %features.1.running_var = nn.param() {key = "features.1.running_var"} : tensor<4xf32>
    %features.1 = nn.batch_norm(%features.0, %features.1.weight, %features.1.bias, %features.1.running_mean, %features.1.running_var) {epsilon = 0.001} : tensor<?x4x8x8xf32>
    %features.2 = nn.relu(%features.1) : tensor<?x4x8x8xf32>
    %shared = nn.param() {key = "blocks.0.scale"} : tensor<1x4x1x1xf32>
    %scaled = nn.mul(%features.2, %shared) : tensor<?x4x8x8xf32>
    %twice = nn.mul(%scaled, %shared) : tensor<?x4x8x8xf32>
    %token = nn.param() {key = "cls_token"} : tensor<1x4x1x1xf32>
    %plus = nn.add(%twice, %token) : tensor<?x4x8x8xf32>
    %layer1.0.conv.weight = nn.param() {key = "layer1.0.conv.weight"} : tensor<4x4x1x1xf32>
    %layer1.0.conv = nn.conv2d(%plus, %layer1.0.conv.weight) {dilation = [1, 1], groups = 1, padding = [[0, 0], [0, 0]], stride = [1, 1]} : tensor<?x4x8x8xf32>
    %layer1.0.conv_1 = nn.conv2d(%layer1.0.conv, %layer1.0.conv.weight) {dilation = [1, 1], groups = 1, padding = [[0, 0], [0, 0]], stride = [1, 1]} : tensor<?x4x8x8xf32>
    %w2 = nn.param() {key = "odd.weight"} : tensor<4x4x1x1xf32>
    %odd = nn.conv2d(%layer1.0.conv_1, %w2) {dilation = [1, 1], groups = 1, padding = [[0, 0], [0, 0]], stride = [1, 1]} : tensor<?x4x8x8xf32>
    %odd2 = nn.conv2d(%odd, %w2) {dilation = [1, 1], groups = 1, padding = [[0, 0], [0, 0]], stride = [2, 2]} : tensor<?x4x4x4xf32>
    %pool = nn.adaptive_avg_pool2d(%odd2) {output_size = [1, 1]} : tensor<?x4x1x1xf32>
    %flat = nn.flatten(%pool) : tensor<?x4xf32>
    %head.weight = nn.param() {key = "head.weight"} : tensor<5x4xf32>
    %head.bias = nn.param() {key = "head.bias"} : tensor<5xf32>
    %head = nn.linear(%flat, %head.weight, %head.bias) : tensor<?x5xf32>
    return %head : tensor<?x5xf32>
  }
}
"""


def test_numbered_paths_shared_params_and_bare_parameters(tmp_path):
    m = ir_from_text(SEQ, tmp_path, "seq.ir")
    emit(m, tmp_path / "out")
    src = (tmp_path / "out" / "model.py").read_text()
    lint(tmp_path / "out" / "model.py")
    audit(src)
    mod = import_model_py(tmp_path / "out")
    model = mod.load()
    assert type(model).__name__ == "TinyNetV2"
    # numbered children by index, as in torchvision's nn.Sequential
    assert "self.features[0] = nn.Conv2d(3, 4, 3, padding=1)" in src
    assert "self.features[1] = nn.BatchNorm2d(4, eps=0.001)" in src
    assert isinstance(model.features[1], torch.nn.BatchNorm2d)
    # the same module called twice is one module
    assert isinstance(model.layer1[0].conv, torch.nn.Conv2d) and src.count("self.layer1[0].conv(") == 2
    # a weight shared by convs with different attributes is a bare parameter used functionally
    assert isinstance(model.odd.weight, torch.nn.Parameter) and not isinstance(model.odd, torch.nn.Conv2d)
    assert "F.conv2d(" in src
    assert isinstance(model.cls_token, torch.nn.Parameter) and isinstance(model.blocks[0].scale, torch.nn.Parameter)
    keys = [op.attrs["key"] for op in m.ops() if op.name == "nn.param"]
    assert set(model.state_dict()) == set(keys) | {"features.1.num_batches_tracked"}
    for batch in (1, 3):
        ref, out = run_both(m, model, _inputs(m, batch))
        assert_close(ref[0], out[0], "exact")
    # forward takes any batch the IR allows: example_inputs follows the IR's types
    assert mod.example_inputs(2)[0].shape == (2, 3, 8, 8)


def test_static_batch_and_no_weights(tmp_path):
    text = """// irc 1
module @plain {
  func @forward(%x: tensor<2x3xf32>, %y: tensor<2x3xf32>) -> (tensor<2x3xf32>, tensor<2x3xf32>) {
    %s = nn.add(%x, %y) : tensor<2x3xf32>
    %r = nn.relu(%s) : tensor<2x3xf32>
    return %r, %s : tensor<2x3xf32>, tensor<2x3xf32>
  }
}
"""
    m = ir_from_text(text, tmp_path, "plain.ir")
    emit(m, tmp_path / "out")
    lint(tmp_path / "out" / "model.py")
    model = import_model_py(tmp_path / "out").load()
    x, y = torch.randn(2, 3), torch.randn(2, 3)
    r, s = model(x, y)
    assert torch.equal(s, x + y) and torch.equal(r, torch.relu(x + y))
    assert model.state_dict() == {}


def test_torch_export_of_the_emitted_module(tmp_path):
    m = ir_from_text(SEQ, tmp_path, "seq.ir")
    emit(m, tmp_path / "out")
    mod = import_model_py(tmp_path / "out")
    model = mod.load()
    batch = torch.export.Dim("batch", min=1, max=64)
    ep = torch.export.export(model, tuple(mod.example_inputs(2)), dynamic_shapes=({0: batch},))
    for b in (1, 3):
        x = mod.example_inputs(b, seed=5)
        assert torch.equal(ep.module()(*x), model(*x))


def test_torch_compile_of_the_emitted_module(tmp_path):
    m = ir_from_text(SEQ, tmp_path, "seq.ir")
    emit(m, tmp_path / "out")
    mod = import_model_py(tmp_path / "out")
    model = mod.load()
    compiled = torch.compile(model)
    with torch.no_grad():
        for b in (1, 3):
            x = mod.example_inputs(b)
            assert_close(model(*x), compiled(*x), "exact")


def test_irc_emit_command(tmp_path, capsys):
    from irc.tools.irc_emit import main

    m = golden("all_ops.ir", tmp_path)
    out = tmp_path / "out"
    assert main([m.path, "--target", "pytorch", "-o", str(out)]) == 0
    err = capsys.readouterr().err
    assert "irc-emit: wrote" in err and "model.py" in err and "class AllOps" in err and "conv2d 2" in err
    assert (out / "model.py").is_file() and (out / "model.safetensors").is_file()
    assert main([m.path, "--target", "pytorch", "-o", str(out), "-q"]) == 0
    assert capsys.readouterr().err == ""
    # user errors: one line, exit 1, no traceback
    assert main([str(tmp_path / "missing.ir"), "--target", "pytorch", "-o", str(out)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("irc-emit: error:") and "Traceback" not in err
    (tmp_path / "afile").write_text("x")
    assert main([m.path, "--target", "pytorch", "-o", str(tmp_path / "afile")]) == 1
    err = capsys.readouterr().err
    assert "is not a directory" in err and "Traceback" not in err
    with pytest.raises(SystemExit) as e:  # --target is required; argparse's usage error, exit 1
        main([m.path, "-o", str(out)])
    assert e.value.code == 1


def test_irc_emit_help_has_an_example(capsys):
    from irc.tools.irc_emit import main

    with pytest.raises(SystemExit) as e:
        main(["--help"])
    assert e.value.code == 0
    out = capsys.readouterr().out
    assert "example:" in out and "irc-emit resnet50.ir --target pytorch -o" in out


def test_import_irc_stays_torch_free():
    import subprocess
    import sys

    code = "import sys, irc; f = irc.emit_pytorch; import irc.tools.irc_emit; assert 'torch' not in sys.modules"
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert run.returncode == 0, run.stderr


@pytest.mark.parametrize("pipeline", ["canonicalize,fuse-bn,fold-constants,cse,dce"])
def test_emit_after_passes(tmp_path, pipeline):
    """Passes leave new keys (fused biases) and fewer ops; the emitted code still computes the IR."""
    import irc

    m = golden("all_ops.ir", tmp_path)
    irc.run_passes(m, pipeline)
    emit(m, tmp_path / "out")
    lint(tmp_path / "out" / "model.py")
    model = import_model_py(tmp_path / "out").load()
    assert not any(isinstance(x, torch.nn.BatchNorm2d) for x in model.modules())
    keys = {op.attrs["key"] for op in m.ops() if op.name == "nn.param"}
    assert set(model.state_dict()) == keys
    for batch in (1, 3):
        ref, out = run_both(m, model, _inputs(m, batch))
        for r, o in zip(ref, out):
            assert_close(r, o, "exact")  # executor (F.*) vs emitted (nn.*): the exact rule, not bit-identity


NHWC = """// irc 1
module @nhwc_f64 {weights = "n.safetensors"} {
  func @forward(%x: tensor<?x6x6x3xf64>) -> tensor<?x2xf64> {
    %c.weight = nn.param() {key = "c.weight"} : tensor<3x3x3x4xf64>
    %c = nn.conv2d(%x, %c.weight) {dilation = [1, 1], groups = 1, layout = "nhwc", padding = [[1, 1], [1, 1]], stride = [1, 1]} : tensor<?x6x6x4xf64>
    %bn.weight = nn.param() {key = "bn.weight"} : tensor<4xf64>
    %bn.bias = nn.param() {key = "bn.bias"} : tensor<4xf64>
    %bn.running_mean = nn.param() {key = "bn.running_mean"} : tensor<4xf64>
    %bn.running_var = nn.param() {key = "bn.running_var"} : tensor<4xf64>
    %bn = nn.batch_norm(%c, %bn.weight, %bn.bias, %bn.running_mean, %bn.running_var) {epsilon = 1e-05, layout = "nhwc"} : tensor<?x6x6x4xf64>
    %m = nn.mean(%bn) {axes = [1, 2]} : tensor<?x4xf64>
    %fc.weight = nn.param() {key = "fc.weight"} : tensor<2x4xf64>
    %fc.bias = nn.param() {key = "fc.bias"} : tensor<2xf64>
    %fc = nn.linear(%m, %fc.weight, %fc.bias) : tensor<?x2xf64>
    return %fc : tensor<?x2xf64>
  }
}
"""


def test_nhwc_layout_and_float64(tmp_path):
    """An HWIO conv weight stays a functional conv (nn.Conv2d wants OIHW); an nhwc BatchNorm is the
    module between permutes; non-f32 modules and parameters keep their dtype through load()."""
    m = ir_from_text(NHWC, tmp_path, "n.ir")
    emit(m, tmp_path / "out")
    src = (tmp_path / "out" / "model.py").read_text()
    lint(tmp_path / "out" / "model.py")
    model = import_model_py(tmp_path / "out").load()
    assert isinstance(model.bn, torch.nn.BatchNorm2d) and model.bn.weight.dtype == torch.float64
    assert isinstance(model.fc, torch.nn.Linear) and model.fc.weight.dtype == torch.float64
    assert not isinstance(model.c, torch.nn.Conv2d) and model.c.weight.dtype == torch.float64
    assert "dtype=torch.float64" in src and ".permute(0, 3, 1, 2)" in src
    for batch in (1, 3):
        ref, out = run_both(m, model, _inputs(m, batch))
        assert out[0].dtype == torch.float64
        assert_close(ref[0], out[0], "exact")


def test_a_failed_emission_leaves_the_directory_as_it_was(tmp_path, monkeypatch):
    import irc.ir.writer as writer

    m = golden("all_ops.ir", tmp_path)
    out = tmp_path / "out"
    emit(m, out)
    before = {f: (out / f).read_bytes() for f in ("model.py", "model.safetensors")}
    real, calls = writer._write_temp, []

    def failing(path, write):
        calls.append(path)
        if len(calls) == 2:
            raise OSError("disk full")
        return real(path, write)

    monkeypatch.setattr(writer, "_write_temp", failing)
    m.weights.add("conv.bias", m.weights.numpy("conv.bias") * 2)  # new weights that must not land
    with pytest.raises((OSError, writer.WriteError)):
        emit(m, out)
    assert sorted(os.listdir(out)) == ["model.py", "model.safetensors"]
    assert {f: (out / f).read_bytes() for f in before} == before


def test_emission_never_overwrites_its_input(tmp_path):
    from irc.ir import IrcError

    with open(os.path.join(os.path.dirname(__file__), "ir", "all_ops.ir")) as f:
        text = f.read()
    text = text.replace('weights = "all_ops.safetensors"', 'weights = "model.safetensors"')
    m = ir_from_text(text, tmp_path, "m.ir")
    before = (tmp_path / "model.safetensors").read_bytes()
    with pytest.raises(IrcError, match="refusing to overwrite"):
        emit(m, tmp_path)
    assert (tmp_path / "model.safetensors").read_bytes() == before and not (tmp_path / "model.py").exists()


def test_batch_norm_counter_kept_in_the_ir_stays_in_the_module(tmp_path):
    text = """// irc 1
module @bn {weights = "bn.safetensors"} {
  func @forward(%x: tensor<?x2x3x3xf32>) -> tensor<?x2x3x3xf32> {
    %bn.weight = nn.param() {key = "bn.weight"} : tensor<2xf32>
    %bn.bias = nn.param() {key = "bn.bias"} : tensor<2xf32>
    %bn.running_mean = nn.param() {key = "bn.running_mean"} : tensor<2xf32>
    %bn.running_var = nn.param() {key = "bn.running_var"} : tensor<2xf32>
    %bn.num_batches_tracked = nn.param() {key = "bn.num_batches_tracked"} : tensor<i64>
    %bn = nn.batch_norm(%x, %bn.weight, %bn.bias, %bn.running_mean, %bn.running_var) {epsilon = 1e-05} : tensor<?x2x3x3xf32>
    return %bn : tensor<?x2x3x3xf32>
  }
}
"""
    m = ir_from_text(text, tmp_path, "bn.ir", seed=4)
    emit(m, tmp_path / "out")
    model = import_model_py(tmp_path / "out").load()
    assert isinstance(model.bn, torch.nn.BatchNorm2d)
    counter = int(m.weights.numpy("bn.num_batches_tracked"))
    assert counter != 0 and int(model.bn.num_batches_tracked) == counter  # the IR's value, not a fresh 0
    ref, out = run_both(m, model, _inputs(m, 3))
    assert_close(ref[0], out[0], "exact")


ONNXY = """// irc 1
module @from_onnx {weights = "o.safetensors"} {
  func @forward(%input: tensor<?x3x8x8xf32>) -> tensor<?x4x8x8xf32> {
    %w0 = nn.param() {key = "onnx::Conv_193"} : tensor<4x3x3x3xf32>
    %b0 = nn.param() {key = "onnx::Conv_194"} : tensor<4xf32>
    %layer1.0.conv1 = nn.conv2d(%input, %w0, %b0) {dilation = [1, 1], groups = 1, padding = [[1, 1], [1, 1]], stride = [1, 1]} : tensor<?x4x8x8xf32>
    %w1 = nn.param() {key = "head"} : tensor<4x4x1x1xf32>
    %head = nn.conv2d(%layer1.0.conv1, %w1) {dilation = [1, 1], groups = 1, padding = [[0, 0], [0, 0]], stride = [1, 1]} : tensor<?x4x8x8xf32>
    %w2 = nn.param() {key = "/blocks/Conv_output_0"} : tensor<4x4x1x1xf32>
    %blocks.1 = nn.conv2d(%head, %w2) {dilation = [1, 1], groups = 1, padding = [[0, 0], [0, 0]], stride = [1, 1]} : tensor<?x4x8x8xf32>
    %w3 = nn.param() {key = "shared"} : tensor<4x4x1x1xf32>
    %s1 = nn.conv2d(%blocks.1, %w3) {dilation = [1, 1], groups = 1, padding = [[0, 0], [0, 0]], stride = [1, 1]} : tensor<?x4x8x8xf32>
    %s2 = nn.conv2d(%s1, %w3) {dilation = [1, 1], groups = 1, padding = [[0, 0], [0, 0]], stride = [2, 2]} : tensor<?x4x4x4xf32>
    %up = nn.upsample(%s2) {scales = [2.0, 2.0]} : tensor<?x4x8x8xf32>
    %w4 = nn.param() {key = "onnx::Conv_7"} : tensor<4x4x1x1xf32>
    %tok.proj = nn.conv2d(%up, %w4) {dilation = [1, 1], groups = 1, padding = [[0, 0], [0, 0]], stride = [1, 1]} : tensor<?x4x8x8xf32>
    %t = nn.param() {key = "tok"} : tensor<1x4x1x1xf32>
    %w5 = nn.param() {key = "attn.in_proj_weight"} : tensor<4x4x1x1xf32>
    %attn.linear = nn.conv2d(%tok.proj, %w5) {dilation = [1, 1], groups = 1, padding = [[0, 0], [0, 0]], stride = [1, 1]} : tensor<?x4x8x8xf32>
    %out = nn.add(%attn.linear, %t) : tensor<?x4x8x8xf32>
    return %out : tensor<?x4x8x8xf32>
  }
}
"""


def test_params_not_named_like_a_module_get_a_module_at_the_value_name(tmp_path):
    """Flat param names (ONNX initializers, `onnx::Conv_193`): the module goes at the op's value name
    when its params are its own; the emitted keys are then new, and model.safetensors' metadata maps
    them back. A value name that would clash with a param path, a shared weight, or a dotted key (a
    state_dict path, kept where it is) stays functional."""
    from irc.check import emitted_source_keys

    m = ir_from_text(ONNXY, tmp_path, "o.ir")
    emit(m, tmp_path / "out")
    src = (tmp_path / "out" / "model.py").read_text()
    lint(tmp_path / "out" / "model.py")
    audit(src)
    assert "Conv_193" not in src and "onnx::" not in src
    model = import_model_py(tmp_path / "out").load()
    assert isinstance(model.layer1[0].conv1, torch.nn.Conv2d)
    assert isinstance(model.blocks[1], torch.nn.Conv2d)
    assert isinstance(model.head, torch.nn.Conv2d)  # `head` was its own weight's key: now head.weight
    assert isinstance(model.shared, torch.nn.Parameter)  # read by two convs
    assert isinstance(model.tok, torch.nn.Parameter)  # `tok.proj` would sit under the tensor `tok`
    assert "F.conv2d(up, self.onnx_Conv_7)" in src  # no bias, default stride etc.
    mapping = emitted_source_keys(str(tmp_path / "out"))
    assert mapping == {"layer1.0.conv1.weight": "onnx::Conv_193", "layer1.0.conv1.bias": "onnx::Conv_194",
                       "blocks.1.weight": "/blocks/Conv_output_0", "head.weight": "head",
                       "onnx_Conv_7": "onnx::Conv_7"}
    assert set(model.state_dict()) == set(mapping) | {"shared", "tok", "attn.in_proj_weight"}
    assert isinstance(model.attn.in_proj_weight, torch.nn.Parameter)
    for batch in (1, 3):
        ref, out = run_both(m, model, _inputs(m, batch))
        assert_close(ref[0], out[0], "exact")


GOLDEN_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "ir", "emit")


@pytest.mark.parametrize("ir_name, golden_name", [("all_ops.ir", "all_ops_model.py"), ("seq", "seq_model.py")])
def test_golden_model_py(tmp_path, ir_name, golden_name):
    """What the emitted file looks like, kept in the repository so a change to the emitter or to the
    op → torch table shows up as a diff someone reads. Regenerate with IRC_REGEN_GOLDEN=1."""
    m = ir_from_text(SEQ, tmp_path, "seq.ir") if ir_name == "seq" else golden(ir_name, tmp_path)
    emit(m, tmp_path / "out")
    got = (tmp_path / "out" / "model.py").read_text()
    path = os.path.join(GOLDEN_DIR, golden_name)
    if os.environ.get("IRC_REGEN_GOLDEN"):
        with open(path, "w") as f:
            f.write(got)
    with open(path) as f:
        expected = f.read()
    assert got == expected, f"the emitted model.py changed; if intended, rerun with IRC_REGEN_GOLDEN=1 ({path})"


@pytest.mark.parametrize("mode", ["replicate", "reflect", "circular"])
def test_non_constant_pad_of_the_last_dim_only(mode):
    """F.pad's reflect/replicate/circular modes take the pads of every dim after batch and channels: a pad of the
    last dim alone keeps the zero pair of the one before it (it used to fail: 'Padding size 2 is not supported
    for 4D input')."""
    import torch

    import irc
    from irc.backend.pytorch.executor import Executor

    text = f"""// irc 1
module @m {{
  func @forward(%x: tensor<1x2x4x5xf32>) -> tensor<1x2x4x7xf32> {{
    %y = nn.pad(%x) {{mode = "{mode}", pads = [[0, 0], [0, 0], [0, 0], [1, 1]]}} : tensor<1x2x4x7xf32>
    return %y : tensor<1x2x4x7xf32>
  }}
}}
"""
    x = torch.randn(1, 2, 4, 5, generator=torch.Generator().manual_seed(0))
    out = Executor(irc.parse(text))(x)
    out = out[0] if isinstance(out, tuple) else out
    assert torch.equal(out, torch.nn.functional.pad(x, (1, 1, 0, 0), mode=mode))


def test_channels_last_loads_4d_weights_channels_last_within_the_pass_rule(tmp_path, capsys):
    """irc-emit --channels-last: load() puts the conv weights in channels-last memory format (torch's CPU convolutions
    then run channels-last: the faster kernels of the Performance section), and the outputs stay within the pass
    rule of the plain emission's; an option the target does not take is refused by its flag's name."""
    from irc.tools.irc_emit import main

    m = golden("all_ops.ir", tmp_path)
    plain, fast = tmp_path / "plain", tmp_path / "fast"
    assert main([m.path, "--target", "pytorch", "-o", str(plain), "-q"]) == 0
    assert main([m.path, "--target", "pytorch", "--channels-last", "-o", str(fast), "-q"]) == 0
    a, b = import_model_py(plain), import_model_py(fast)
    ma, mb = a.load(), b.load()
    convs = [p for p in mb.parameters() if p.dim() == 4]
    assert convs and all(p.is_contiguous(memory_format=torch.channels_last) for p in convs)
    assert any(not p.is_contiguous() for p in convs)  # (a 1x1 kernel is both)
    assert all(p.is_contiguous() for p in ma.parameters())
    x = _inputs(m, 1)
    with torch.no_grad():
        for ya, yb in zip(ma(*x), mb(*x), strict=True):
            assert_close(ya, yb, "pass")
    assert main([m.path, "--target", "onnx", "--channels-last", "-o", str(tmp_path / "m.onnx")]) == 1
    assert "--channels-last does not apply to --target onnx" in capsys.readouterr().err


def test_irc_check_holds_a_channels_last_emission_to_the_pass_rule(tmp_path):
    """The weights are the source's values but not its memory format: irc-check says so and picks the pass rule
    (other convolution kernels), while the same emission without --channels-last is held to the exact rule."""
    import irc
    from irc.backend.pytorch import emit_pytorch
    from irc.frontend.torch import import_model

    torch.manual_seed(0)
    src = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3, padding=1), torch.nn.ReLU(), torch.nn.Conv2d(8, 4, 3)).eval()
    module = import_model(src, [((3, 12, 12), "f32")], batch="dynamic")
    emit_pytorch(module, str(tmp_path / "plain"))
    emit_pytorch(module, str(tmp_path / "cl"), channels_last=True)
    plain = irc.check(src, emitted=str(tmp_path / "plain"))
    fast = irc.check(src, emitted=str(tmp_path / "cl"))
    assert plain.ok and plain.rule == "exact"
    assert fast.ok and fast.rule == "pass" and "channels-last" in fast.rule_reason
