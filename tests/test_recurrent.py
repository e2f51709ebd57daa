"""LSTM, GRU and RNN end to end (issue 8): the nn.lstm/gru/rnn ops, irc-import keeping nn.LSTM/GRU/RNN
whole with a dynamic batch and sequence length, the emitted PyTorch (nn.LSTM submodules, the same
state_dict keys, rule "exact"), ONNX export in onnxruntime and import of torch.onnx.export's files
(rule "pass"). Every model has randomised weights; each runs at two (batch, sequence) sizes."""

from __future__ import annotations

import contextlib
import io
import warnings

import pytest

torch = pytest.importorskip("torch")
from helpers import randomize_
from models.recurrent import CRNN, GRUEncoder, LSTMTextClassifier, WithStates
from test_emit_common import import_model_py

import irc
from irc.backend.pytorch.executor import run as irc_run
from irc.fidelity import assert_close
from irc.ir import IrcError

pytestmark = pytest.mark.filterwarnings("ignore:The tensor attributes")  # torch.export on nn.LSTM itself

SIZES = [(1, 7), (3, 12)]  # (batch, sequence length): both differ from the export's example (2, 12)

# name -> (model, per-sample input types, dynamic per-sample dims, inputs for (batch, seq), nn.* classes)
MODELS = {
    "lstm_text_classifier": (lambda: LSTMTextClassifier(), [((12,), "i64")], [[0]],
                             lambda b, t, g: (torch.randint(0, 50, (b, t), generator=g),), ["LSTM"]),
    "gru_encoder": (lambda: GRUEncoder(), [((12,), "i64")], [[0]],
                    lambda b, t, g: (torch.randint(0, 40, (b, t), generator=g),), ["GRU"]),
    # the image width is the sequence (width / 4 steps after two 2x2 poolings)
    "crnn": (lambda: CRNN(), [((1, 32, 48), "f32")], [[2]],
             lambda b, t, g: (torch.randn(b, 1, 32, 4 * t, generator=g),), ["LSTM"]),
}

_IMPORTED: dict = {}


def _imported(name):
    """(source model, imported module), imported once per model with a dynamic batch and sequence."""
    if name not in _IMPORTED:
        make, types, dyn, _, _ = MODELS[name]
        model = randomize_(make(), seed=len(name))
        msgs = []
        module = irc.import_model(model, types, batch="dynamic", dynamic_dims=dyn, warn=msgs.append)
        assert not msgs, msgs
        _IMPORTED[name] = (model, module)
    return _IMPORTED[name]


def _flat(out):
    return list(out) if isinstance(out, (tuple, list)) else [out]


def _inputs(name, b, t):
    return MODELS[name][3](b, t, torch.Generator().manual_seed(b * 100 + t))


# ----------------------------------------------------------------------------- the ops

LSTM_TEXT = """// irc 1
module @m {
  func @forward(%x: tensor<?x5x3xf32>, %h0: tensor<2x?x4xf32>, %c0: tensor<2x?x4xf32>) -> (tensor<?x5x8xf32>, tensor<2x?x4xf32>, tensor<2x?x4xf32>) {
    %w0 = nn.constant() {value = dense<0.5> : tensor<16x3xf32>}
    %r0 = nn.constant() {value = dense<0.5> : tensor<16x4xf32>}
    %w1 = nn.constant() {value = dense<0.5> : tensor<16x3xf32>}
    %r1 = nn.constant() {value = dense<0.5> : tensor<16x4xf32>}
    %y, %h, %c = nn.lstm(%x, %w0, %r0, %w1, %r1%STATES) {batch_first = true, bias = false, bidirectional = true, hidden_size = 4}
    return %y, %h, %c : tensor<?x5x8xf32>, tensor<2x?x4xf32>, tensor<2x?x4xf32>
  }
}
"""


def test_ops_infer_types_and_print_back():
    """Result types left out are inferred (output [batch, seq, 2*hidden] batch-first, h_n and c_n
    [layers*directions, batch, hidden]); the printed text parses back to itself."""
    m = irc.parse(LSTM_TEXT.replace("%STATES", ", %h0, %c0"))
    irc.verify(m)
    op = next(o for o in m.main.ops if o.name == "nn.lstm")
    assert [str(r.type) for r in op.results] == ["tensor<?x5x8xf32>", "tensor<2x?x4xf32>", "tensor<2x?x4xf32>"]
    text = irc.print(m)
    assert irc.print(irc.parse(text)) == text
    m2 = irc.parse(LSTM_TEXT.replace("%STATES", ""))  # no initial states: zeros
    irc.verify(m2)


@pytest.mark.parametrize("change, message", [
    (("%STATES", ", %h0"), "h0 and c0 (both or neither)"),
    (("%STATES", ""), None),
    (("tensor<16x4xf32>}\n    %w1", "tensor<16x5xf32>}\n    %w1"), "weight_hh_l0 must be tensor<16x4xf32>"),
    ((", %r1%STATES", ""), "need 4 weight operands, got 3"),
    (("hidden_size = 4}", "hidden_size = 4, num_layers = 2}"), "need 8 weight operands"),
    (("%h0: tensor<2x?x4xf32>", "%h0: tensor<1x?x4xf32>"), "h0 must be tensor<2x?x4xf32>"),
])
def test_verifier_says_what_does_not_fit(change, message):
    text = LSTM_TEXT.replace(*change).replace("%STATES", ", %h0, %c0")
    if message is None:
        irc.verify(irc.parse(text))
        return
    with pytest.raises(IrcError, match=message.replace("(", r"\(").replace(")", r"\)").replace("?", r"\?")):
        irc.verify(irc.parse(text))


# ----------------------------------------------------------------------------- import and emitted PyTorch


@pytest.mark.parametrize("name", list(MODELS))
def test_import_keeps_the_module_whole_and_the_emitted_pytorch_matches(name, tmp_path):
    model, module = _imported(name)
    classes = MODELS[name][4]
    ops = [op.name for op in module.main.ops]
    assert sum(ops.count(f"nn.{c.lower()}") for c in classes) == 1  # one op for the whole 2-layer module
    assert "nn.sigmoid" not in ops and "nn.matmul" not in ops  # never unrolled into per-step gate arithmetic
    arg = module.main.args[0].type
    assert arg.shape[0] is None and arg.shape[1 + MODELS[name][2][0][0]] is None
    irc.emit_pytorch(module, str(tmp_path / "pt"))
    source = (tmp_path / "pt" / "model.py").read_text()
    for c in classes:
        assert f"nn.{c}(" in source
    emitted = import_model_py(tmp_path / "pt").load()
    assert list(emitted.state_dict()) == list(model.state_dict())
    emitted.load_state_dict(model.state_dict())  # the source's own state_dict loads as is
    for b, t in SIZES:
        x = _inputs(name, b, t)
        with torch.no_grad():
            ref, out = _flat(model(*x)), _flat(emitted(*x))
        run = irc_run(module, *x)
        assert len(ref) == len(out) == len(run)
        for r, o, e in zip(ref, out, run):
            assert_close(r, o, "exact")
            assert_close(r, e, "exact")


@pytest.mark.parametrize("kind, kw", [
    ("LSTM", {"num_layers": 2, "bidirectional": True, "batch_first": True}),
    ("GRU", {"bias": False, "num_layers": 2}),
    ("RNN", {"nonlinearity": "relu", "bidirectional": True}),
])
def test_initial_states_are_operands(kind, kw, tmp_path):
    """h0 (and c0) given by the caller become the op's optional operands and the emitted module's
    arguments; a static-shape import goes through aten.lstm/gru/rnn_relu (an ExportedProgram's ops)."""
    model = randomize_(WithStates(kind, **kw), seed=3)
    n = kw.get("num_layers", 1) * (2 if kw.get("bidirectional") else 1)
    states = 2 if kind == "LSTM" else 1
    types = [((7, 6), "f32")] + [((n, 7), "f32")] * states
    module = irc.import_model(model, types, batch="dynamic", dynamic_dims=[[0]] + [[]] * states)
    op = next(op for op in module.main.ops if op.name == f"nn.{kind.lower()}")
    weights = n * (4 if kw.get("bias", True) else 2)
    assert len(op.operands) == 1 + weights + states
    assert all(v.owner is None or v.owner.name != "nn.param" for v in op.operands[-states:])
    irc.emit_pytorch(module, str(tmp_path / "pt"))
    emitted = import_model_py(tmp_path / "pt").load()
    assert f"nn.{kind}(" in (tmp_path / "pt" / "model.py").read_text()
    for b, t in SIZES:
        g = torch.Generator().manual_seed(b + t)
        x = torch.randn(b, t, 6, generator=g)
        st = [torch.randn(b, n, 7, generator=g) for _ in range(states)]
        with torch.no_grad():
            ref, out = _flat(model(x, *st)), _flat(emitted(x, *st))
        for r, o in zip(ref, out):
            assert_close(r, o, "exact")
    # the same model through torch.export's own ops (aten.lstm.input ...), static shapes
    ep = torch.export.export(model, (x, *st), strict=False)
    module2 = irc.import_model(ep)
    assert f"nn.{kind.lower()}" in {op.name for op in module2.main.ops}
    for r, o in zip(ref, irc_run(module2, x, *st)):
        assert_close(r, o, "exact")


def test_an_exported_program_with_a_dynamic_batch_drops_the_zero_states():
    """torch.export's own graph of nn.LSTM (aten.lstm.input) with a dynamic batch builds zeros for the
    initial state from the batch size: the IR op leaves them out (absent means zeros)."""
    model = randomize_(torch.nn.LSTM(5, 6, batch_first=True), seed=1).eval()
    ep = torch.export.export(model, (torch.randn(2, 4, 5),), dynamic_shapes=({0: torch.export.Dim("b")},),
                             strict=False)
    module = irc.import_model(ep)
    op = next(op for op in module.main.ops if op.name == "nn.lstm")
    assert len(op.operands) == 5 and module.main.args[0].type.shape[0] is None
    x = torch.randn(3, 4, 5)
    with torch.no_grad():
        y, (h, c) = model(x)
    for r, o in zip((y, h, c), irc_run(module, x)):
        assert_close(r, o, "exact")


def test_bad_dynamic_dims_are_user_errors():
    model = LSTMTextClassifier()
    with pytest.raises(IrcError, match="not a dimension"):
        irc.import_model(model, [((12,), "i64")], batch="dynamic", dynamic_dims=[[1]])
    with pytest.raises(IrcError, match="one list of per-sample dims per input"):
        irc.import_model(model, [((12,), "i64")], dynamic_dims=[[0], [0]])
    with pytest.raises(IrcError, match="at least 2"):
        irc.import_model(model, [((1,), "i64")], dynamic_dims=[[0]])


# ----------------------------------------------------------------------------- ONNX


def _ort(path, inputs):
    ort = pytest.importorskip("onnxruntime")
    sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    return sess.run(None, {i.name: x.numpy() for i, x in zip(sess.get_inputs(), inputs)})


@pytest.mark.parametrize("name", list(MODELS))
def test_onnx_export_runs_in_onnxruntime(name, tmp_path):
    """irc's ONNX (LSTM/GRU nodes, one per layer, gates reordered) in onnxruntime at two batch sizes and
    sequence lengths, against the source model; imported back, it is one op under the source's keys."""
    pytest.importorskip("onnx")
    model, module = _imported(name)
    path = str(tmp_path / "m.onnx")
    irc.emit_onnx(module, path)
    import onnx

    kinds = {n.op_type for n in onnx.load(path).graph.node}
    assert set(MODELS[name][4]) <= kinds
    for b, t in SIZES:
        x = _inputs(name, b, t)
        with torch.no_grad():
            ref = _flat(model(*x))
        out = _ort(path, x)
        assert len(out) == len(ref)
        for r, o in zip(ref, out):
            assert_close(r, o, "pass")
    # and back: irc's own file imports as one op per module, under the source's keys
    back = irc.import_onnx(path)
    rec = [op for op in back.main.ops if op.name in ("nn.lstm", "nn.gru")]
    assert len(rec) == 1
    keys = [k for k in model.state_dict() if k.startswith(("lstm.", "rnn."))]
    assert [v.owner.attrs["key"] for v in rec[0].operands[1:]] == keys
    x = _inputs(name, *SIZES[1])
    with torch.no_grad():
        ref = _flat(model(*x))
    for r, o in zip(ref, irc_run(back, *x)):
        assert_close(r, o, "pass")


@pytest.mark.parametrize("name, dynamo", [("lstm_text_classifier", False), ("gru_encoder", False),
                                         ("lstm_text_classifier", True)])
def test_torch_onnx_export_files_import(name, dynamo, tmp_path):
    """What torch.onnx.export writes (one LSTM/GRU node per layer; zeros initial states from ConstantOfShape,
    or an Expand of a zero initializer, over the dynamic batch) imports as one 2-layer op whose params have
    the nn.LSTM's own state_dict keys, emits as an nn.LSTM again, and matches the source (rule "pass") at
    two batch sizes and sequence lengths."""
    pytest.importorskip("onnx")
    make, _, _, _, classes = MODELS[name]
    model = randomize_(make(), seed=7)
    path = str(tmp_path / "t.onnx")
    if dynamo:  # (the dynamo exporter's own export fixes a GRU encoder's sequence length in a Reshape)
        pytest.importorskip("onnxscript")
        kw = {"dynamo": True, "external_data": False,
              "dynamic_shapes": ({0: torch.export.Dim("batch"), 1: torch.export.Dim("seq")},)}
    else:
        kw = {"dynamo": False, "input_names": ["ids"], "dynamic_axes": {"ids": {0: "batch", 1: "seq"}}}
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()), \
            contextlib.redirect_stderr(io.StringIO()):
        warnings.simplefilter("ignore")
        torch.onnx.export(model, _inputs(name, 2, 9), path, **kw)
    module = irc.import_onnx(path)
    rec = [op for op in module.main.ops if op.name == f"nn.{classes[0].lower()}"]
    assert len(rec) == 1 and rec[0].attrs["num_layers"] == 2  # the exported layers merged back into one op
    assert len(rec[0].operands) == 17  # input + 16 weights: the zeros states are left out
    rnn_keys = [k for k in model.state_dict() if k.startswith(("lstm.", "rnn."))]
    assert [op.operands[i].owner.attrs["key"] for op in rec for i in range(1, 17)] == rnn_keys
    irc.emit_pytorch(module, str(tmp_path / "pt"))
    assert f"nn.{classes[0]}(" in (tmp_path / "pt" / "model.py").read_text()
    emitted = import_model_py(tmp_path / "pt").load()
    assert [k for k in emitted.state_dict() if k.startswith(("lstm.", "rnn."))] == rnn_keys
    for b, t in SIZES:
        x = _inputs(name, b, t)
        with torch.no_grad():
            ref = _flat(model(*x))
        out = irc_run(module, *x)
        with torch.no_grad():
            out2 = _flat(emitted(*x))
        for r, o, o2 in zip(ref, out, out2):
            assert_close(r, o, "pass")
            assert_close(o, o2, "exact")


class _Stack(torch.nn.Module):
    def __init__(self, kind, **kw):
        super().__init__()
        self.rnn = getattr(torch.nn, kind)(5, 6, **kw)

    def forward(self, x):
        return self.rnn(x)


@pytest.mark.parametrize("kind, kw", [
    ("LSTM", {"num_layers": 3}),  # unidirectional: the exporter squeezes the direction axis between layers
    ("GRU", {"num_layers": 2, "batch_first": True}),
    ("RNN", {"num_layers": 2, "nonlinearity": "relu", "bidirectional": True}),
])
def test_stacked_layers_exported_per_layer_merge_back(kind, kw, tmp_path):
    """torch.onnx.export writes one node per layer; the import merges them into one op (num_layers as the
    source's), whose final states are the source's h_n/c_n, and the emitted PyTorch is one nn.LSTM/GRU/RNN."""
    pytest.importorskip("onnx")
    model = randomize_(_Stack(kind, **kw), seed=11)
    path = str(tmp_path / "s.onnx")
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()), \
            contextlib.redirect_stderr(io.StringIO()):
        warnings.simplefilter("ignore")
        torch.onnx.export(model, (torch.randn(4, 3, 5),), path, dynamo=False, input_names=["x"],
                          dynamic_axes={"x": {0: "a", 1: "b"}})
    module = irc.import_onnx(path)
    rec = [op for op in module.main.ops if op.name == f"nn.{kind.lower()}"]
    assert len(rec) == 1 and rec[0].attrs["num_layers"] == kw["num_layers"]
    irc.emit_pytorch(module, str(tmp_path / "pt"))
    assert f"num_layers={kw['num_layers']}" in (tmp_path / "pt" / "model.py").read_text()
    emitted = import_model_py(tmp_path / "pt").load()
    for shape in [(7, 2, 5), (3, 4, 5)]:
        x = torch.randn(*shape)
        with torch.no_grad():
            y, h = model(x)
            ref = [y, *h] if kind == "LSTM" else [y, h]
            out2 = _flat(emitted(x))
        out = irc_run(module, x)
        assert len(out) == len(ref) == len(out2)
        for r, o, o2 in zip(ref, out, out2):
            assert_close(r, o, "pass")
            assert_close(o, o2, "exact")


def _two_layers(chain):
    def weights(k):
        shapes = (f"16x{3 if k == 0 else 8}", "16x4", "16", "16")
        names = [f"rnn.{w}_l{k}{d}" for d in ("", "_reverse") for w in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")]
        lines = [f'    %{n} = nn.param() {{key = "{n}"}} : tensor<{s}xf32>' for n, s in zip(names, shapes * 2)]
        return "\n".join(lines), ", ".join("%" + n for n in names)

    w0, n0 = weights(0)
    w1, n1 = weights(1)
    return f"""// irc 1
module @m {{weights = "m.safetensors"}} {{
  func @forward(%x: tensor<5x?x3xf32>) -> (tensor<5x?x8xf32>, tensor<4x?x4xf32>) {{
{w0}
    %a, %ah, %ac = nn.lstm(%x, {n0}) {{bidirectional = true, hidden_size = 4}}
    %y4 = nn.reshape(%a) {{shape = [0, 0, 2, 4]}}
{chain}
{w1}
    %b, %bh, %bc = nn.lstm(%in, {n1}) {{bidirectional = true, hidden_size = 4}}
    %h = nn.concat(%ah, %bh) {{axis = 0}}
    return %b, %h : tensor<5x?x8xf32>, tensor<4x?x4xf32>
  }}
}}
"""


@pytest.mark.parametrize("chain, merges", [
    (("    %t = nn.transpose(%y4) {perm = [0, 2, 1, 3]}\n    %t2 = nn.transpose(%t) {perm = [0, 2, 1, 3]}\n"
      "    %in = nn.reshape(%t2) {shape = [0, 0, 8]}"), True),  # ONNX's Y layout and back
    ("    %t = nn.transpose(%y4) {perm = [0, 1, 3, 2]}\n    %in = nn.reshape(%t) {shape = [0, 0, 8]}", False),
], ids=["cancelling", "interleaving"])
def test_merging_layers_only_where_the_data_is_unchanged(chain, merges, tmp_path):
    """merge_layers joins two layer ops only when the reshapes/transposes between them cancel (interleaving the
    two directions' features is a different model); merged or not, the numbers stay."""
    from test_emit_common import ir_from_text

    from irc.passes.merge_recurrent_layers import MergeRecurrentLayers

    module = ir_from_text(_two_layers(chain), tmp_path)
    x = torch.randn(5, 3, 3)
    before = irc_run(module, x)
    assert MergeRecurrentLayers().apply(module) == merges
    irc.verify(module)
    ops = [op for op in module.main.ops if op.name == "nn.lstm"]
    assert len(ops) == (1 if merges else 2)
    if merges:
        assert ops[0].attrs["num_layers"] == 2 and "nn.concat" not in {op.name for op in module.main.ops}
    for r, o in zip(before, irc_run(module, x)):
        assert_close(r, o, "exact")
