"""The models of issue 19 point 2 beyond torchvision's classifiers: Hugging Face `transformers` models built from
small configs (no download) with integer token inputs, padded attention masks and several outputs (a ModelOutput
is imported as the tuple of its tensors), the video model s3d, and a detection backbone with its FPN (an
OrderedDict of feature maps).

Each model: random weights (and BatchNorm statistics), eval mode, imported with a dynamic batch and run at two
batch sizes by the torch executor and the emitted model.py (exact against the model: no pass ran) and by
onnxruntime (the "pass" rule).
"""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")
import torch.nn as nn  # noqa: E402
from helpers import randomize_  # noqa: E402
from test_emit_common import emit, import_model_py  # noqa: E402

from irc.fidelity import assert_close  # noqa: E402

SEQ = 16


def _flat(out):
    """A model's outputs as a list of tensors (a ModelOutput or a dict: its values, in order)."""
    if isinstance(out, torch.Tensor):
        return [out]
    if isinstance(out, dict):
        out = [v for v in out.values() if v is not None]
    return [t for item in out for t in _flat(item)]


def _assert_same(refs, outs, rule, what):
    assert len(refs) == len(outs), f"{what}: {len(outs)} outputs, not {len(refs)}"
    for i, (r, o) in enumerate(zip(refs, outs, strict=True)):
        o = torch.as_tensor(o)
        assert tuple(r.shape) == tuple(o.shape), f"{what} output {i}: shape {tuple(o.shape)}, not {tuple(r.shape)}"
        assert_close(r, o, rule, name=f"{what} output {i}")


def check(model, batches, tmp_path, names=None, onnx_check=True, emitted=True):
    """Import `model` with a dynamic batch from the first input set, then compare every input set (one per batch
    size) against the model in the torch executor, the emitted model.py and onnxruntime."""
    from irc.backend.pytorch.executor import Executor
    from irc.frontend.torch import import_model

    model = randomize_(model).eval()
    first = batches[0]
    types = [(tuple(x.shape[1:]), {torch.float32: "f32", torch.int64: "i64"}[x.dtype]) for x in first]
    module = import_model(model, types, batch="dynamic", input_names=names)
    runners = [("executor", Executor(module), "exact")]
    if emitted:
        emit(module, tmp_path / "py")
        runners.append(("emitted model.py", import_model_py(tmp_path / "py").load(), "exact"))
    if onnx_check:
        runners.append(("onnxruntime", _onnx_runner(module, tmp_path / "m.onnx"), "pass"))
    for inputs in batches:
        with torch.no_grad():
            refs = _flat(model(*inputs))
            for what, run, rule in runners:
                _assert_same(refs, _flat(run(*inputs)), rule, f"{what} (batch {inputs[0].shape[0]})")
    return module


def _onnx_runner(module, path):
    import onnxruntime as ort

    from irc.backend.onnx import emit_onnx

    emit_onnx(module, str(path))
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])

    def run(*inputs):
        feeds = {i.name: x.numpy() for i, x in zip(sess.get_inputs(), inputs, strict=True)}
        return [torch.from_numpy(o) for o in sess.run(None, feeds)]

    return run


def tokens(batch, seq=SEQ, seed=0, vocab=99):
    """Seeded token ids and an attention mask with padding (zeros) at the end of every other row."""
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(0, vocab, (batch, seq), generator=g)
    mask = torch.ones(batch, seq, dtype=torch.int64)
    for row in range(0, batch, 2):
        mask[row, seq // 2 + row:] = 0
    return ids, mask


def randn(*shape, seed=0):
    return torch.randn(shape, generator=torch.Generator().manual_seed(seed))


# ----------------------------------------------------------------------------- the ATen ops these models need


class PaddingMask(nn.Module):
    """transformers' mask construction: a padding mask indexed by broadcast aranges of the (dynamic) batch and
    the key positions, x[batch_idx, kv_idx], and an arange with a start and a step."""

    def forward(self, x, mask):
        b = torch.arange(x.shape[0])[:, None, None, None]
        kv = torch.arange(mask.shape[1])[None, None, None, :]
        steps = torch.arange(3, x.shape[0] * 2 + 3, 2, dtype=torch.float32)
        return mask[b, kv] > 0, x + steps[:, None]


class Pieces(nn.Module):
    """x ** 2 (bit-identical to torch's own square), ** 0.5 and ** -0.5; a cat with an empty (0,) tensor;
    indexing two adjacent middle axes."""

    def __init__(self):
        super().__init__()
        self.register_buffer("rows", torch.tensor([[2, 0], [1, 1]]))
        self.register_buffer("cols", torch.tensor([1, 3]))

    def forward(self, x):
        y = x.abs() + 0.1
        empty = torch.zeros(0)
        return (x.pow(2).mean(-1), y ** 0.5 * y.pow(-0.5), torch.cat([empty, x], 1), x[:, self.rows, self.cols],
                x.pow(3))


def test_masks_from_aranges_of_a_dynamic_batch(tmp_path):
    x = [randn(2, 5, seed=1), randn(3, 5, seed=2)]
    masks = [tokens(2)[1], tokens(3, seed=4)[1]]
    module = check(PaddingMask(), [(x[0], masks[0]), (x[1], masks[1])], tmp_path)
    assert "nn.cumsum" in {op.name for op in module.ops()}


def test_pow_cat_and_multi_axis_index(tmp_path):
    module = check(Pieces(), [(randn(2, 3, 4, 5, seed=1),), (randn(3, 3, 4, 5, seed=2),)], tmp_path)
    assert {"nn.sqrt", "nn.rsqrt", "nn.pow"} <= {op.name for op in module.ops()}


# ----------------------------------------------------------------------------- Hugging Face transformers


class Tokens(nn.Module):
    """Calls a transformers model with input_ids and attention_mask by keyword; returns its ModelOutput."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, input_ids, attention_mask):
        return self.model(input_ids=input_ids, attention_mask=attention_mask)


SMALL = dict(attn_implementation="sdpa")


def _text_model(name):
    t = transformers
    if name == "bert":
        return t.BertModel(t.BertConfig(hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                                        intermediate_size=37, vocab_size=99, **SMALL))
    if name == "distilbert":
        return t.DistilBertModel(t.DistilBertConfig(dim=32, n_layers=2, n_heads=2, hidden_dim=37, vocab_size=99,
                                                    **SMALL))
    if name == "gpt2":
        return t.GPT2Model(t.GPT2Config(n_embd=32, n_layer=2, n_head=2, vocab_size=99, n_positions=64,
                                        bos_token_id=0, eos_token_id=0, use_cache=False, **SMALL))
    if name == "llama":
        return t.LlamaModel(t.LlamaConfig(hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                                          num_key_value_heads=1, intermediate_size=37, vocab_size=99,
                                          use_cache=False, **SMALL))
    if name == "t5_encoder":
        return t.T5EncoderModel(t.T5Config(d_model=32, d_kv=16, d_ff=37, num_layers=2, num_heads=2, vocab_size=99,
                                           **SMALL))
    raise KeyError(name)


TEXT = ["bert", "distilbert", "gpt2", "llama", "t5_encoder"]


@pytest.mark.parametrize("name", TEXT)
def test_text_models_quick(name, tmp_path):
    module = check(Tokens(_text_model(name)), [tokens(2, seed=1), tokens(3, seed=2)], tmp_path,
                   names=["input_ids", "attention_mask"])
    assert [a.name for a in module.main.args] == ["input_ids", "attention_mask"]
    assert all(a.type.shape[0] is None for a in module.main.args)


def test_bert_model_output_is_a_tuple_of_its_tensors(tmp_path):
    """BertModel called directly (positional input_ids, attention_mask): last_hidden_state and pooler_output."""
    module = check(_text_model("bert"), [tokens(2, seed=3), tokens(3, seed=4)], tmp_path, onnx_check=False,
                   emitted=False)
    assert [tuple(t.shape) for t in module.main.result_types] == [(None, SEQ, 32), (None, 32)]


def test_eager_attention_too(tmp_path):
    model = transformers.BertModel(transformers.BertConfig(hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                                                           intermediate_size=37, vocab_size=99,
                                                           attn_implementation="eager"))
    check(Tokens(model), [tokens(2, seed=5), tokens(3, seed=6)], tmp_path, emitted=False)


def test_vit_quick(tmp_path):
    cfg = transformers.ViTConfig(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=37,
                                 image_size=32, patch_size=8, **SMALL)
    check(transformers.ViTModel(cfg), [(randn(2, 3, 32, 32, seed=1),), (randn(3, 3, 32, 32, seed=2),)], tmp_path)


def _whisper_encoder(frames=40, mels=16, layers=2):
    from transformers.models.whisper.modeling_whisper import WhisperEncoder

    cfg = transformers.WhisperConfig(d_model=32, encoder_layers=layers, encoder_attention_heads=2, decoder_layers=1,
                                     decoder_attention_heads=2, encoder_ffn_dim=37, decoder_ffn_dim=37,
                                     num_mel_bins=mels, max_source_positions=frames // 2, vocab_size=99,
                                     pad_token_id=0, bos_token_id=1, eos_token_id=2, decoder_start_token_id=1, **SMALL)
    return WhisperEncoder(cfg)


def test_whisper_encoder_quick(tmp_path):
    check(_whisper_encoder(), [(randn(2, 16, 40, seed=1),), (randn(3, 16, 40, seed=2),)], tmp_path)


# ----------------------------------------------------------------------------- torchvision


def _s3d(pool=None):
    import torchvision

    model = torchvision.models.video.s3d(num_classes=10)
    if pool:  # the 7x7x2 average pool needs 16 frames of 224x224; a small clip pools what it has
        model.avgpool = nn.AvgPool3d(pool, stride=1)
    return model


def test_s3d_quick(tmp_path):
    check(_s3d(pool=(1, 1, 1)), [(randn(1, 3, 8, 32, 32, seed=1),), (randn(2, 3, 8, 32, 32, seed=2),)], tmp_path)


def _detection_backbone():
    import torchvision

    model = torchvision.models.detection.fasterrcnn_mobilenet_v3_large_fpn(weights=None, weights_backbone=None,
                                                                          num_classes=5)
    return model.backbone


def test_detection_backbone_with_fpn_quick(tmp_path):
    """fasterrcnn_mobilenet_v3_large_fpn's body + FPN up to the heads: an OrderedDict of three feature maps."""
    module = check(_detection_backbone(), [(randn(1, 3, 64, 64, seed=1),), (randn(2, 3, 64, 64, seed=2),)],
                   tmp_path)
    assert len(module.main.result_types) == 3


# ----------------------------------------------------------------------------- command line


def test_irc_import_and_check_of_a_saved_bert(tmp_path, capsys):
    from irc.tools.irc_check import main as irc_check
    from irc.tools.irc_import import main as irc_import

    model = randomize_(_text_model("bert")).eval()
    path = tmp_path / "bert.pth"
    torch.save(model, path)
    out = tmp_path / "bert.ir"
    rc = irc_import([str(path), "--trust-pickle", "--input", f"input_ids:{SEQ}:i64", "--input",
                     f"attention_mask:{SEQ}:i64", "--dynamic", "batch", "-o", str(out), "-q"])
    assert rc == 0, capsys.readouterr().err
    text = out.read_text()
    assert f"%input_ids: tensor<?x{SEQ}xi64>" in text and f"%attention_mask: tensor<?x{SEQ}xi64>" in text
    capsys.readouterr()
    assert irc_check([str(path), "--trust-pickle", "--ir", str(out)]) == 0, capsys.readouterr().err
    assert "[batch 3]" in capsys.readouterr().out


# ----------------------------------------------------------------------------- full size


@pytest.mark.slow
def test_s3d_full(tmp_path):
    check(_s3d(), [(randn(1, 3, 16, 224, 224, seed=1),)], tmp_path)


@pytest.mark.slow
def test_detection_backbone_full(tmp_path):
    check(_detection_backbone(), [(randn(1, 3, 320, 320, seed=1),), (randn(2, 3, 320, 320, seed=2),)], tmp_path)


@pytest.mark.slow
@pytest.mark.parametrize("name", TEXT)
def test_text_models_longer(name, tmp_path):
    check(Tokens(_text_model(name)), [tokens(2, seq=64, seed=1), tokens(4, seq=64, seed=2)], tmp_path,
          names=["input_ids", "attention_mask"])


@pytest.mark.slow
def test_whisper_encoder_longer(tmp_path):
    check(_whisper_encoder(frames=200, mels=80, layers=4), [(randn(2, 80, 200, seed=1),)], tmp_path)
