"""Round trips through ONNX:

- a torch model → torch.onnx.export (the default dynamo exporter and dynamo=False) → irc-import →
  irc-emit --target pytorch; the emitted model.py matches onnxruntime on that same ONNX file;
- what torch 2.14's default exporter writes for ResNet50 and MobileNet V3 (opset 20: ReduceMean with
  axes as an input, Identity-19, ...) converts with irc; onnx2torch is tried on the same files and the
  test records whether it can (it could not when this was written, see the report in the test).
"""

from __future__ import annotations

import contextlib
import io
import warnings

import pytest
from helpers import randomize_

torch = pytest.importorskip("torch")
onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")
nn = torch.nn


def export(model, hw, path, dynamo, dynamic=True):
    """torch.onnx.export with a dynamic batch (or a static batch of 2), quietly."""
    if dynamo:
        pytest.importorskip("onnxscript")  # the default exporter needs it
    x = torch.randn(2, 3, hw, hw)
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()), \
            contextlib.redirect_stderr(io.StringIO()):
        warnings.simplefilter("ignore")
        if not dynamic:
            torch.onnx.export(model, (x,), path, dynamo=dynamo, external_data=False) if dynamo else \
                torch.onnx.export(model, (x,), path, dynamo=False)
        elif dynamo:
            torch.onnx.export(model, (x,), path, dynamo=True, external_data=False,
                              dynamic_shapes=({0: torch.export.Dim("batch")},))
        else:
            torch.onnx.export(model, (x,), path, dynamo=False, input_names=["x"], dynamic_axes={"x": {0: "batch"}})
    return path


def ort_run(path, x):
    sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    return sess.run(None, {sess.get_inputs()[0].name: x.numpy()})


def import_and_emit(onnx_path, tmp_path, name="m"):
    """irc-import then irc-emit --target pytorch, both through their command-line entry points."""
    from test_emit_common import import_model_py

    from irc.tools.irc_emit import main as emit_main
    from irc.tools.irc_import import main as import_main

    ir_path = str(tmp_path / f"{name}.ir")
    assert import_main([onnx_path, "-o", ir_path, "-q"]) == 0
    out = tmp_path / f"{name}_pt"
    assert emit_main([ir_path, "--target", "pytorch", "-o", str(out), "-q"]) == 0
    return import_model_py(out).load()


def assert_matches_ort(onnx_path, emitted, hw, batches=(1, 3)):
    from irc.fidelity import assert_close

    worst = rel = 0.0
    for b in batches:
        x = torch.randn(b, 3, hw, hw, generator=torch.Generator().manual_seed(b))
        ref = ort_run(onnx_path, x)
        with torch.no_grad():
            out = emitted(x)
        out = [out] if isinstance(out, torch.Tensor) else list(out)
        assert len(out) == len(ref)
        for r, o in zip(ref, out):
            v = assert_close(r, o, "pass", name=f"batch {b}")
            worst, rel = max(worst, v.max_abs), max(rel, v.max_rel_scale)
    assert_matches_ort.last_rel = rel
    return worst


class Mixed(nn.Module):
    """The ops whose ONNX attributes are easy to get wrong, in one small network."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, stride=2, padding=1)
        self.bn = nn.BatchNorm2d(8)
        self.pool = nn.MaxPool2d(3, 2, ceil_mode=True)
        self.avg = nn.AvgPool2d(3, 1, padding=1, count_include_pad=False)
        self.dw = nn.Conv2d(8, 8, 3, padding=2, dilation=2, groups=8)
        self.hs = nn.Hardswish()
        self.hsig = nn.Hardsigmoid()
        self.up = nn.Upsample(scale_factor=2, mode="nearest")
        self.up2 = nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False)
        self.ct = nn.ConvTranspose2d(16, 4, 3, stride=2, padding=1, output_padding=1)
        self.ln = nn.LayerNorm(4)
        self.act = nn.LeakyReLU(0.1)
        self.fc = nn.Linear(4 * 16, 5)

    def forward(self, x):
        y = torch.relu(self.bn(self.conv(x)))  # 8 x 8 x 8
        p = self.pool(y)  # 8 x 4 x 4 (ceil)
        a = self.hs(self.dw(self.avg(p))) * self.hsig(p)
        u = torch.cat([self.up(a), self.up2(p)], 1)  # 16 x 8 x 8
        c = self.act(self.ct(u))  # 4 x 16 x 16
        c = nn.functional.adaptive_avg_pool2d(c, 4)  # 4 x 4 x 4
        t = self.ln(c.permute(0, 2, 3, 1))  # LayerNorm over channels
        s = nn.functional.gelu(t) + torch.sigmoid(t).clamp(0.1, 0.9)
        return self.fc(s.flatten(1)).softmax(-1), s.mean((1, 2))


@pytest.mark.parametrize("dynamo", [True, False], ids=["dynamo", "torchscript"])
def test_mixed_model_round_trip(dynamo, tmp_path):
    model = randomize_(Mixed(), 3)
    path = export(model, 16, str(tmp_path / "mixed.onnx"), dynamo)
    emitted = import_and_emit(path, tmp_path)
    assert_matches_ort(path, emitted, 16)
    # and the ONNX file computes what the torch model computes (the exporters are not under test, irc is)
    from irc.fidelity import assert_close

    x = torch.randn(2, 3, 16, 16)
    with torch.no_grad():
        for r, o in zip(model(x), emitted(x)):
            assert_close(r, o, "pass")


# the default (dynamo) exporter on these two is covered by test_default_exporter_files_convert_with_irc below
@pytest.mark.parametrize("dynamo", [False], ids=["torchscript"])
@pytest.mark.parametrize("name", ["resnet50", "mobilenet_v3_large", "googlenet", "shufflenet_v2", "vit_b_16"])
def test_zoo_quick_round_trip(name, dynamo, tmp_path):
    from models.zoo import ZOO

    quick, hw, _, _ = ZOO[name]
    model = randomize_(quick(), 0)
    path = export(model, hw, str(tmp_path / f"{name}.onnx"), dynamo)
    emitted = import_and_emit(path, tmp_path, name)
    worst = assert_matches_ort(path, emitted, hw)
    print(f"{name} ({'dynamo' if dynamo else 'torchscript'}): emitted PyTorch vs onnxruntime max|d| {worst:.3g}")


def _zoo_names():
    try:
        from models.zoo import ZOO
    except ImportError:
        return []
    return sorted(ZOO)


@pytest.mark.slow
@pytest.mark.parametrize("dynamo", [True, False], ids=["dynamo", "torchscript"])
@pytest.mark.parametrize("name", _zoo_names())
def test_zoo_quick_both_exporters(name, dynamo, tmp_path):
    """Every zoo architecture (narrow configuration), both exporters, dynamic batch: import, emit PyTorch, compare."""
    from models.zoo import ZOO

    quick, hw, _, _ = ZOO[name]
    model = randomize_(quick(), 0)
    try:
        path = export(model, hw, str(tmp_path / f"{name}.onnx"), dynamo)
    except Exception as e:  # noqa: BLE001  (the exporter's limitation, not irc's)
        pytest.skip(f"torch.onnx.export cannot export {name}: {str(e).splitlines()[0][:120]}")
    emitted = import_and_emit(path, tmp_path, name)
    assert_matches_ort(path, emitted, hw)


# the full-size seed models go through irc-emit --target onnx in test_onnx_emit.py; here, the torchvision set
# as the (faster) TorchScript exporter writes it at full size
@pytest.mark.parametrize("dynamic", [True, False], ids=["dynamic_batch", "static_batch"])
@pytest.mark.parametrize("name", ["convnext_tiny", "swin_t"])
def test_default_exporter_index_arithmetic(name, dynamic, tmp_path):
    """The default exporter writes as_strided and the shifted-window mask as index arithmetic (Range, ScatterND,
    GatherND): folded at import time for a static batch; over a dynamic batch, Range(0, N) * stride + ... is
    tracked as an affine index and a Gather that re-reads the tensor in its own order becomes no op at all."""
    from models.zoo import ZOO

    quick, hw, _, _ = ZOO[name]
    model = randomize_(quick(), 0)
    path = export(model, hw, str(tmp_path / f"{name}.onnx"), dynamo=True, dynamic=dynamic)
    emitted = import_and_emit(path, tmp_path, name)
    assert_matches_ort(path, emitted, hw, batches=(1, 3) if dynamic else (2,))


SLOW_ZOO = ["inception_v3", "efficientnet_b0", "convnext_tiny", "swin_t"]


@pytest.mark.slow
@pytest.mark.parametrize("dynamo", [False], ids=["torchscript"])
@pytest.mark.parametrize("name", SLOW_ZOO)
def test_zoo_full_round_trip(name, dynamo, tmp_path):
    """The real torchvision sizes (weights=None, randomised), through both exporters."""
    from models.zoo import ZOO

    _, _, full, hw = ZOO[name]
    model = randomize_(full(), 0)
    try:
        path = export(model, hw, str(tmp_path / f"{name}.onnx"), dynamo)
    except Exception as e:  # noqa: BLE001  (the exporter's limitation, not irc's)
        pytest.skip(f"torch.onnx.export cannot export {name}: {str(e).splitlines()[0][:120]}")
    emitted = import_and_emit(path, tmp_path, name)
    worst = assert_matches_ort(path, emitted, hw, batches=(1, 2))
    print(f"{name} full ({'dynamo' if dynamo else 'torchscript'}): max|d| {worst:.3g}")


# ----------------------------------------------------------------------------- item 4: onnx2torch


def _onnx2torch_result(path, x):
    """'ok' if onnx2torch converts the file and matches onnxruntime, else why not."""
    try:
        import onnx2torch
    except ImportError:
        return "onnx2torch is not installed"
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            m = onnx2torch.convert(path)
            with torch.no_grad():
                out = m(x)
    except Exception as e:  # noqa: BLE001  (report whatever onnx2torch raises)
        return f"{type(e).__name__}: {str(e).splitlines()[0][:160]}"
    ref = ort_run(path, x)[0]
    from irc.fidelity import compare

    return "ok" if compare(ref, out.numpy(), "pass").ok else "converts but differs"


@pytest.mark.parametrize("name", ["resnet50", "mobilenet_v3_large"])
def test_default_exporter_files_convert_with_irc(name, tmp_path, capsys):
    """torch 2.14's default exporter (dynamo, opset 20) on the real architectures (small input): irc converts
    the file to PyTorch matching onnxruntime. onnx2torch is run on the same file and its outcome printed."""
    import torchvision

    model = randomize_(getattr(torchvision.models, name)(weights=None), 0)
    path = export(model, 64, str(tmp_path / f"{name}.onnx"), dynamo=True)
    assert onnx.load(path).opset_import[0].version >= 18
    emitted = import_and_emit(path, tmp_path, name)
    worst = assert_matches_ort(path, emitted, 64, batches=(1, 2))
    o2t = _onnx2torch_result(path, torch.randn(1, 3, 64, 64))
    with capsys.disabled():
        print(f"\n{name} (torch {torch.__version__} default exporter): irc ok, max|d| {worst:.3g} "
              f"(rel {assert_matches_ort.last_rel:.3g}); onnx2torch: {o2t}")


class Recurrent(nn.Module):
    def __init__(self):
        super().__init__()
        self.lstm = nn.LSTM(6, 5, num_layers=2, bidirectional=True, batch_first=True)
        self.gru = nn.GRU(10, 4)
        self.rnn = nn.RNN(4, 3, nonlinearity="relu")

    def forward(self, x):
        y, (h, c) = self.lstm(x)
        gy, gh = self.gru(y.transpose(0, 1))
        ry, rh = self.rnn(gy)
        return y, h, c, gy, gh, ry, rh


@pytest.mark.parametrize("dynamo", [True, False], ids=["dynamo", "torchscript"])
def test_recurrent_layers_round_trip(dynamo, tmp_path):
    """LSTM (2 layers, bidirectional, batch_first), GRU and a relu RNN through both exporters: the ONNX LSTM/GRU/RNN
    nodes (gates i,o,f,c and z,r,h, [dirs, ...] weights) come back as nn.lstm/gru/rnn in PyTorch's layout."""
    from irc.ir.ops import OPS

    if "nn.lstm" not in OPS:
        pytest.skip("this irc has no recurrent ops")
    from irc.fidelity import assert_close
    from irc.frontend.onnx import import_onnx

    model = randomize_(Recurrent(), 5)
    x = torch.randn(2, 7, 6)
    path = str(tmp_path / "rnn.onnx")
    if dynamo:
        pytest.importorskip("onnxscript")
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()), \
            contextlib.redirect_stderr(io.StringIO()):
        warnings.simplefilter("ignore")
        torch.onnx.export(model, (x,), path, dynamo=dynamo, **({"external_data": False} if dynamo else {}))
    module = import_onnx(path)
    assert "nn.lstm" in {op.name for op in module.main.ops}
    from irc.backend.pytorch.executor import Executor

    ref = ort_run(path, x)
    out = Executor(module)(x)
    assert len(ref) == len(out) == 7
    for r, o in zip(ref, out):
        assert_close(r, o, "pass")
