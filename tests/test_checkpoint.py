"""Safetensors checkpoints with --arch, sharded like Hugging Face's: the model is built on the meta device, the IR
refers to the shards when it is written beside them (copied file to file elsewhere), and irc-emit streams the
tensors from their files. Numbers are checked against the model loaded the ordinary way."""

from __future__ import annotations

import json
import os
import sys

import numpy as np
import pytest

torch = pytest.importorskip("torch")
from safetensors.torch import save_file  # noqa: E402

import irc  # noqa: E402
from irc.backend.pytorch import emit_pytorch  # noqa: E402
from irc.fidelity import assert_close  # noqa: E402
from irc.frontend.torch import import_model  # noqa: E402
from irc.frontend.torch.load import load_source  # noqa: E402
from irc.ir.weights import WeightStore  # noqa: E402
from irc.tools.irc_check import main as check_main  # noqa: E402
from irc.tools.irc_import import main as import_main  # noqa: E402
from irc.tools.irc_opt import main as opt_main  # noqa: E402

ARCH = '''
import torch
import torch.nn.functional as F
from torch import nn


class Block(nn.Module):
    def __init__(self, d, h):
        super().__init__()
        self.h = h
        self.ln1 = nn.LayerNorm(d)
        self.qkv = nn.Linear(d, 3 * d, bias=False)
        self.o = nn.Linear(d, d, bias=False)
        self.ln2 = nn.LayerNorm(d)
        self.fc1 = nn.Linear(d, 4 * d)
        self.fc2 = nn.Linear(4 * d, d)

    def forward(self, x):
        b, t, d = x.shape
        q, k, v = self.qkv(self.ln1(x)).view(b, t, 3, self.h, d // self.h).permute(2, 0, 3, 1, 4)
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        x = x + self.o(y.transpose(1, 2).reshape(b, t, d))
        return x + self.fc2(F.gelu(self.fc1(self.ln2(x))))


class Decoder(nn.Module):
    def __init__(self, layers=2, dim=32, heads=4, vocab=50, seq=8):
        super().__init__()
        self.embed = nn.Parameter(torch.empty(vocab, dim))
        self.pos = nn.Parameter(torch.empty(seq, dim))
        self.blocks = nn.ModuleList(Block(dim, heads) for _ in range(layers))
        self.ln_f = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, vocab, bias=False)
        # not in the state_dict: its values come from __init__, not from the checkpoint
        self.register_buffer("scale", torch.linspace(0.5, 1.5, dim), persistent=False)

    def forward(self, tokens):
        x = self.embed[tokens] + self.pos[: tokens.shape[1]]
        for blk in self.blocks:
            x = blk(x)
        return self.head(self.ln_f(x) * self.scale)
'''
SEQ, VOCAB = 8, 50


def _decoder_class(folder):
    path = folder / "decoder.py"
    path.write_text(ARCH)
    sys.path.insert(0, str(folder))
    try:
        import importlib

        import decoder

        importlib.reload(decoder)
        return decoder.Decoder, f"{path}:Decoder"
    finally:
        sys.path.remove(str(folder))
        sys.modules.pop("decoder", None)


def write_checkpoint(folder, model, shards=3):
    """The model's state_dict as `shards` safetensors files and a Hugging Face style index."""
    sd = {k: v.contiguous() for k, v in model.state_dict().items()}
    keys = sorted(sd)
    wmap = {}
    for i in range(shards):
        name = f"model-{i + 1:05d}-of-{shards:05d}.safetensors"
        part = keys[i::shards]
        save_file({k: sd[k] for k in part}, str(folder / name))
        wmap.update(dict.fromkeys(part, name))
    index = folder / "model.safetensors.index.json"
    index.write_text(json.dumps({"metadata": {"total_size": 0}, "weight_map": wmap}))
    return index


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory):
    """A bf16 decoder with random weights, as a sharded checkpoint; its outputs on seeded tokens."""
    d = tmp_path_factory.mktemp("ckpt")
    cls, arch = _decoder_class(d)
    torch.manual_seed(0)
    model = cls()
    with torch.no_grad():
        for p in model.parameters():
            p.normal_(0.0, 0.3)
    model = model.to(torch.bfloat16).eval()
    folder = d / "checkpoint"
    folder.mkdir()
    index = write_checkpoint(folder, model)
    tokens = torch.randint(0, VOCAB, (1, SEQ), generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        ref = model(tokens)
    return {"dir": d, "folder": folder, "index": index, "arch": arch, "cls": cls, "model": model, "tokens": tokens, "ref": ref}


def run(main, argv, capsys):
    try:
        rc = main([str(a) for a in argv])
    except SystemExit as e:
        rc = e.code
    out, err = capsys.readouterr()
    return rc, out, err


def _emitted_output(out_dir, tokens):
    sys.path.insert(0, str(out_dir))
    try:
        import model as emitted

        net = emitted.load()
        with torch.no_grad():
            return net(tokens)
    finally:
        sys.path.remove(str(out_dir))
        sys.modules.pop("model", None)


def test_an_ir_beside_the_shards_refers_to_them_and_emits_the_same_numbers(ckpt, capsys, tmp_path):
    ir = ckpt["folder"] / "m.ir"
    rc, out, err = run(import_main, [ckpt["index"], "--arch", ckpt["arch"], "--input", f"tokens:{SEQ}:i64",
                                     "-o", ir], capsys)
    assert rc == 0, err
    assert "referring to the checkpoint's 3 shards, not a copy" in err + out
    index = json.loads((ckpt["folder"] / "m.safetensors.index.json").read_text())
    source = json.loads(ckpt["index"].read_text())["weight_map"]
    # every checkpoint tensor is named in its own shard; only the buffer __init__ made is irc's to write
    assert {k: v for k, v in index["weight_map"].items() if k != "scale"} == source
    assert index["weight_map"]["scale"] == "m.safetensors"
    assert WeightStore(str(ckpt["folder"] / "m.safetensors")).keys() == ["scale"]
    module = irc.load(str(ir))
    assert module.attrs["weights"] == "m.safetensors.index.json"
    assert all(module.weights.type_of(k).dtype == "bf16" for k in source)

    out_dir = tmp_path / "out"
    emit_pytorch(module, str(out_dir))
    got = _emitted_output(out_dir, ckpt["tokens"])
    assert got.dtype == torch.bfloat16
    assert_close(ckpt["ref"].float(), got.float(), "f16")  # a half-precision model: the 16-bit rule
    # the emitted file holds the checkpoint's bytes
    emitted = WeightStore(str(out_dir / "model.safetensors"))
    for k in source:
        assert bytes(emitted.raw(k)) == bytes(module.weights.raw(k)), k

    rc, out, err = run(check_main, [ckpt["index"], "--arch", ckpt["arch"], "--ir", ir, "--rule", "f16"], capsys)
    assert rc == 0, err
    assert "ok: every output within the rule" in out + err


def test_the_import_and_the_emit_never_map_a_shard(ckpt, tmp_path):
    """Tensors are copied file to file (to the PyTorch and ONNX targets): no shard is memory-mapped (a mapping's pages would count in the RSS of a
    conversion of a checkpoint larger than memory)."""
    src = load_source(str(ckpt["index"]), arch=ckpt["arch"])
    assert src.kind == "safetensors checkpoint"
    assert all(p.is_meta for p in src.model.parameters())
    module = import_model(src.model, [((SEQ,), "i64")], weights=src.weights)
    irc.save(module, str(tmp_path / "copy.ir"))  # another folder: copied into copy.safetensors
    emit_pytorch(module, str(tmp_path / "out"))
    from irc.backend.onnx import emit_onnx

    emit_onnx(module, str(tmp_path / "m.onnx"))
    assert not src.weights.mapped()
    copied = WeightStore(str(tmp_path / "copy.safetensors"))
    for k in src.weights.keys():
        assert bytes(copied.raw(k)) == bytes(src.weights.raw(k)), k
    assert_close(ckpt["ref"].float(), _emitted_output(tmp_path / "out", ckpt["tokens"]).float(), "f16")
    import onnx

    inits = onnx.load(str(tmp_path / "m.onnx")).graph.initializer
    blobs = {bytes(t.raw_data) for t in inits}
    assert all(bytes(src.weights.raw(k)) in blobs for k in src.weights.keys())  # streamed into the initializers
    # the causal mask of a bf16 attention: bf16 bits of 0 and -inf (0xff80), not -inf cast to an integer
    masks = [np.frombuffer(t.raw_data, np.uint16).reshape(tuple(t.dims)) for t in inits if t.name.endswith("__causal")]
    assert masks and all(t.data_type == onnx.TensorProto.BFLOAT16 for t in inits if t.name.endswith("__causal"))
    expect = np.where(np.tril(np.ones((SEQ, SEQ), dtype=bool)), 0, 0xFF80).astype(np.uint16)
    assert all(np.array_equal(m, expect) for m in masks)


def test_a_pass_saves_beside_the_shards_again_without_copying_them(ckpt, capsys):
    folder = ckpt["folder"]
    rc, _, err = run(import_main, [ckpt["index"], "--arch", ckpt["arch"], "--input", f"tokens:{SEQ}:i64",
                                   "-o", folder / "p.ir"], capsys)
    assert rc == 0, err
    rc, _, err = run(opt_main, [folder / "p.ir", "--pass", "cse,dce", "-o", folder / "p2.ir"], capsys)
    assert rc == 0, err
    index = json.loads((folder / "p2.safetensors.index.json").read_text())
    # the buffer in p.safetensors belongs to p.ir (it may be rewritten): p2 copies it; shards stay referred to
    assert index["weight_map"]["scale"] == "p2.safetensors"
    assert index["metadata"]["irc.owned"] == "p2.safetensors"
    assert {v for k, v in index["weight_map"].items() if k != "scale"} == \
        {f"model-0000{i}-of-00003.safetensors" for i in (1, 2, 3)}
    module = irc.load(str(folder / "p2.ir"))
    from irc.backend.pytorch.executor import Executor

    assert_close(ckpt["ref"].float(), Executor(module)(ckpt["tokens"])[0].float(), "f16")


def test_a_single_safetensors_file_is_a_checkpoint_too(ckpt, capsys, tmp_path):
    model = ckpt["cls"]().eval()  # in f32, its buffer as __init__ makes it
    model.load_state_dict({k: v.float() for k, v in ckpt["model"].state_dict().items()})
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(tmp_path / "w.safetensors"))
    rc, _, err = run(import_main, [tmp_path / "w.safetensors", "--arch", ckpt["arch"], "--input",
                                   f"tokens:{SEQ}:i64", "-o", tmp_path / "w.ir"], capsys)
    assert rc == 0, err
    module = irc.load(str(tmp_path / "w.ir"))
    # beside the checkpoint: an index naming it, and w.irc.safetensors for the buffer __init__ made
    assert module.attrs["weights"] == "w.safetensors.index.json" and module.weights.type_of("embed").dtype == "f32"
    assert set(json.loads((tmp_path / "w.safetensors.index.json").read_text())["weight_map"].values()) == \
        {"w.safetensors", "w.irc.safetensors"}
    from irc.backend.pytorch.executor import Executor

    with torch.no_grad():
        assert_close(model(ckpt["tokens"]), Executor(module)(ckpt["tokens"])[0])


def _bad_index(folder, wmap, name="bad.safetensors.index.json"):
    path = folder / name
    path.write_text(json.dumps({"weight_map": wmap}))
    return path


@pytest.mark.parametrize("case", ["no-arch", "missing-key", "unexpected-key", "shape", "outside", "symlink-out",
                                  "absent-shard",
                                  "key-not-in-shard", "not-an-index"])
def test_a_bad_checkpoint_is_one_error_line(ckpt, capsys, tmp_path, case):
    folder = ckpt["folder"]
    wmap = json.loads(ckpt["index"].read_text())["weight_map"]
    arch, arch_args = ckpt["arch"], []
    expect = {
        "no-arch": "holds weights but no architecture",
        "missing-key": "missing 1 key(s): head.weight",
        "unexpected-key": "unexpected 1 key(s): extra",
        "shape": "'embed' has shape [50, 32], the model expects [51, 32]",
        "outside": "is not a file name in the index's folder",
        "symlink-out": "the shard \"link.safetensors\" is not a file name in the index's folder",
        "absent-shard": "the shard \"gone.safetensors\" it names does not exist",
        "key-not-in-shard": None,
        "not-an-index": "not a checkpoint index",
    }[case]
    index = ckpt["index"]
    if case == "no-arch":
        arch = None
    elif case == "missing-key":
        index = _bad_index(folder, {k: v for k, v in wmap.items() if k != "head.weight"})
    elif case == "unexpected-key":
        save_file({"extra": torch.zeros(2)}, str(folder / "extra.safetensors"))
        index = _bad_index(folder, {**wmap, "extra": "extra.safetensors"})
    elif case == "shape":
        arch_args = ["--arch-args", '{"vocab": 51}']
    elif case == "outside":
        index = _bad_index(folder, {**wmap, "embed": "../model-00001-of-00003.safetensors"})
    elif case == "symlink-out":
        elsewhere = tmp_path.parent / f"{tmp_path.name}-outside.safetensors"
        save_file({"embed": torch.zeros(50, 32, dtype=torch.bfloat16)}, str(elsewhere))
        link = folder / "link.safetensors"
        link.unlink(missing_ok=True)
        link.symlink_to(elsewhere)
        index = _bad_index(folder, {**wmap, "embed": "link.safetensors"})
    elif case == "absent-shard":
        index = _bad_index(folder, {**wmap, "embed": "gone.safetensors"})
    elif case == "key-not-in-shard":
        other = next(v for v in sorted(set(wmap.values())) if v != wmap["head.weight"])
        index = _bad_index(folder, {**wmap, "head.weight": other})
        expect = f"puts 'head.weight' in {other}, which does not hold it"
    else:
        index = folder / "notes.safetensors.index.json"
        index.write_text('{"weights": []}')
    out_ir = tmp_path / "x.ir"
    rc, out, err = run(import_main, [index, *(["--arch", arch] if arch else []), *arch_args,
                                     "--input", f"tokens:{SEQ}:i64", "-o", out_ir], capsys)
    assert rc == 1
    assert expect in err, err
    assert err.startswith("irc-import: error: ") and "Traceback" not in err
    assert not os.listdir(tmp_path)  # nothing written


def test_streaming_a_tensor_copies_exactly_its_bytes(tmp_path):
    rng = np.random.default_rng(0)
    arrays = {"a": rng.standard_normal((3, 5)).astype(np.float32), "b": rng.integers(0, 9, (7,)).astype(np.int64),
              "c": np.zeros((0, 4), np.float32)}
    from safetensors.numpy import save_file as save_np

    save_np(arrays, str(tmp_path / "s.safetensors"))
    store = WeightStore(str(tmp_path / "s.safetensors"))
    store.add("d", rng.standard_normal((2, 2)).astype(np.float32))
    store.save(str(tmp_path / "t.safetensors"), ["a", "b", "c", "d"])
    back = WeightStore(str(tmp_path / "t.safetensors"))
    for k in "abc":
        np.testing.assert_array_equal(back.numpy(k), arrays[k])
    np.testing.assert_array_equal(back.numpy("d"), store.numpy("d"))


def test_a_safetensors_header_length_starting_with_a_brace_is_not_an_index(tmp_path):
    """0x7b is `{`: a file whose header (unpadded, as the format allows) is 123 bytes long starts like JSON, and is
    still a safetensors file."""
    entry = {"w": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}, "__metadata__": {"pad": ""}}
    entry["__metadata__"]["pad"] = "x" * (123 - len(json.dumps(entry, separators=(",", ":"))))
    header = json.dumps(entry, separators=(",", ":")).encode()
    assert len(header) == 123
    data = len(header).to_bytes(8, "little") + header + np.array([1.5, -2.0], np.float32).tobytes()
    assert data[:1] == b"{"
    (tmp_path / "w.safetensors").write_bytes(data)
    store = WeightStore(str(tmp_path / "w.safetensors"))
    assert not store.is_index() and store.numpy("w").tolist() == [1.5, -2.0]
