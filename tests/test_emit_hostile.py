"""No injection: a model whose module/parameter names are hostile emits a valid, safe, equivalent file.

Two sources: a torch model imported with the frontend (names torch.export accepts: `"a; import os"`,
a quote-and-call string, unicode, leading digits, names of the emitted file's own globals, names that
collide after sanitising), and hand-written IR for names torch.export itself cannot take (Python
keywords, nn.Module attributes such as `forward`, dots inside a name)."""

from __future__ import annotations

import json

import pytest
from test_emit_common import audit, emit, import_model_py, ir_from_text, lint, run_both

from irc.fidelity import assert_close

torch = pytest.importorskip("torch")
nn = torch.nn

PWN = "\"); os_system('echo pwned') #"
CONVS = ["é", "e", "1abc", "a-b", "a_b", "0", "007", "self", "torch", "F", "x", "print", PWN]
# text that must never reach model.py
RAW = ["a; import", "os_system(", "echo pwned", "'echo", "\"); ", "模型", "é", "\"1abc", "a-b", "007'", "'0'"]


class Hostile(nn.Module):
    def __init__(self):
        super().__init__()
        self.add_module("a; import os", nn.Conv2d(3, 4, 3, padding=1))
        self.add_module("nn", nn.BatchNorm2d(4))
        for n in CONVS:
            self.add_module(n, nn.Conv2d(4, 4, 1))
        self.register_parameter("模型", nn.Parameter(torch.randn(4, 1, 1)))
        self.add_module("load", nn.Linear(4, 3))

    def forward(self, x):
        m = self._modules
        x = m["nn"](m["a; import os"](x)).relu()
        for n in CONVS:
            x = m[n](x)
        x = x * self.模型
        return m["load"](x.mean((2, 3)))


def _no_raw(src):
    for raw in RAW:
        assert raw not in src, raw


def test_hostile_torch_model(tmp_path):
    pytest.importorskip("irc.frontend.torch")
    from helpers import randomize_

    from irc.check import check, emitted_source_keys
    from irc.frontend.torch import import_model

    source = randomize_(Hostile(), seed=3)
    m = import_model(source, [((3, 8, 8), "f32")], batch="dynamic")
    emit(m, tmp_path / "out")
    path = tmp_path / "out" / "model.py"
    src = path.read_text(encoding="utf-8")
    assert src.isascii()
    _no_raw(src)
    lint(path)
    audit(src)
    mod = import_model_py(tmp_path / "out")
    model = mod.load()
    # clean names keep themselves; the unclean ones got distinct sanitised attributes
    sd = model.state_dict()
    for clean in ("e.weight", "a_b.weight", "0.weight", "self.weight", "torch.weight", "F.weight", "x.weight",
                  "print.weight", "nn.running_var", "load.bias"):
        assert clean in sd
    assert isinstance(model[0], nn.Conv2d) and isinstance(model.nn, nn.BatchNorm2d)
    assert len(sd) == len(source.state_dict())
    # every renamed key is recorded (as data) in model.safetensors, so the source's state_dict loads
    mapping = emitted_source_keys(str(tmp_path / "out"))
    assert mapping["a_import_os.weight"] == "a; import os.weight" and "e_1.weight" in mapping
    assert set(mapping.values()) | (set(sd) - set(mapping)) == set(source.state_dict())
    inverse = {v: k for k, v in mapping.items()}
    fresh = mod.Hostile()
    fresh.load_state_dict({inverse.get(k, k): v for k, v in source.state_dict().items()})
    fresh.eval()
    for batch in (1, 3):
        x = torch.randn(batch, 3, 8, 8)
        with torch.no_grad():
            ref = source(x)
            assert torch.equal(model(x), ref) and torch.equal(fresh(x), ref)
    result = check(source, emitted=str(tmp_path / "out"))
    assert result.ok and result.rule == "exact", result.lines()


def _conv(name, key, inp, c=4):
    k = json.dumps(key, ensure_ascii=False)
    return [f'%{name}.w = nn.param() {{key = {k[:-1]}.weight"}} : tensor<{c}x{c}x1x1xf32>',
            f'%{name}.b = nn.param() {{key = {k[:-1]}.bias"}} : tensor<{c}xf32>',
            (f"%{name} = nn.conv2d(%{inp}, %{name}.w, %{name}.b) {{dilation = [1, 1], groups = 1, "
             f"padding = [[0, 0], [0, 0]], stride = [1, 1]}} : tensor<?x{c}x4x4xf32>")]


# keys torch.export refuses, and value names in every character the text format allows
HAND = [("class", "class"), ("forward", "forward"), ("training", "training"), ("__init__", "__init__"),
        ("lambda", "lambda"), ("x.y", "x$y"), ("x-y", "x-y"), ("None", "None"), ("def", "1"), ("if", "v1"),
        ("__class__", "__class__"), ("state_dict", "F"), ("a b", "torch")]


def test_hostile_hand_written_ir(tmp_path):
    lines, prev = [], "x"
    for key, vname in HAND:
        lines += _conv(vname, key, prev)
        prev = vname
    lines.append(f'%p = nn.param() {{key = "{PWN.replace(chr(34), chr(92) + chr(34))}"}} : tensor<4x1x1xf32>')
    lines.append(f"%out = nn.mul(%{prev}, %p) : tensor<?x4x4x4xf32>")
    text = ("// irc 1\nmodule @_1-for.class$ {weights = \"h.safetensors\"} {\n"
            "  func @forward(%x: tensor<?x4x4x4xf32>) -> tensor<?x4x4x4xf32> {\n"
            + "".join(f"    {ln}\n" for ln in lines)
            + "    return %out : tensor<?x4x4x4xf32>\n  }\n}\n")
    m = ir_from_text(text, tmp_path, "h.ir")
    res = emit(m, tmp_path / "out")
    path = tmp_path / "out" / "model.py"
    src = path.read_text()
    lint(path)
    audit(src)
    for raw in ('"class"', "os_system(", "echo pwned", "x$y", "a b", "self.__", "self.training =", "self.forward ="):
        assert raw not in src, raw
    mod = import_model_py(tmp_path / "out")
    model = mod.load()
    assert type(model).__name__ == res["class"] and res["class"].isidentifier()
    # nn.Module's own attributes were not shadowed: the model still behaves as a module
    assert callable(model.state_dict) and model.training is False and type(model).forward is not None
    assert isinstance(model.x.y, nn.Conv2d)  # a dotted key is a nested path, and keeps its state_dict key
    sd = model.state_dict()
    assert "x.y.weight" in sd and len(sd) == 2 * len(HAND) + 1
    for batch in (1, 3):
        x = torch.randn(batch, 4, 4, 4)
        ref, out = run_both(m, model, [x])
        assert_close(ref[0], out[0], "exact")  # executor vs emitted: different torch entry points


def test_no_free_text_attribute_reaches_the_emitter():
    """The emitted code writes op attributes as literals; its safety rests on every string attribute
    being an enum checked by the verifier (nn.param's key is never written: it becomes a sanitised
    attribute path). A new free-text attribute needs sanitising in the emitter first."""
    from irc.ir.ops import OPS

    # nn.call_module's strings are checked where they are written: `module` must be Python identifiers
    # (test_call_module_strings_are_checked), `init` a JSON object written through lit(), `path` is never written
    checked = {("nn.call_module", "module"), ("nn.call_module", "path"), ("nn.call_module", "init")}
    # nn.call's callee is never written (it names a function of the module); its scope becomes attribute names
    # through the same sanitising tree as param keys (tests/test_structure.py: test_hostile_blocks_stay_safe)
    checked |= {("nn.call", "callee"), ("nn.call", "scope")}
    free = [(name, a.name) for name, d in OPS.items() for a in d.attrs.values()
            if a.kind == "str" and name != "nn.param" and (name, a.name) not in checked]
    assert not free, free


@pytest.mark.parametrize("module, init, needle", [
    ("os; import shutil:X", "", "Python identifiers"),
    ("subprocess:Popen", '{"args": ["true"]}', "not an nn.Module class"),
    ("torch.nn:Linear", '{"in_features": 2, "__import__(\'os\')": 1}', "keyword arguments"),
])
def test_call_module_strings_are_checked(tmp_path, module, init, needle):
    """An edited IR cannot make emitted code or the executor import a non-identifier, call a callable that is
    not an nn.Module class (subprocess.Popen), or pass keyword names that are not identifiers."""
    import irc
    from irc.backend.pytorch.executor import Executor
    from irc.ir import IrcError

    init_attr = init.replace('"', '\\"')
    text = f"""// irc 1
module @m {{
  func @forward(%x: tensor<1x2xf32>) -> tensor<1x2xf32> {{
    %y = nn.call_module(%x) {{init = "{init_attr}", inputs = 1, module = "{module}", params = [], path = "k", returns = "tensor", types = ["tensor<1x2xf32>"]}} : tensor<1x2xf32>
    return %y : tensor<1x2xf32>
  }}
}}
"""
    module_ir = irc.parse(text)
    with pytest.raises((IrcError, TypeError)) as err:
        Executor(module_ir)(torch.zeros(1, 2))
    assert needle in str(err.value) or "Popen" in str(err.value), str(err.value)
    with pytest.raises(Exception):  # noqa: B017  (an IrcError or the TypeError the helper raises)
        out = tmp_path / "out"
        irc.emit_pytorch(module_ir, str(out))
        sys_path = str(out)
        import sys

        sys.path.insert(0, sys_path)
        try:
            from irc.check import import_emitted

            import_emitted(str(out)).load()(torch.zeros(1, 2))
        finally:
            sys.path.remove(sys_path)
