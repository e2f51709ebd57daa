"""End to end on the model zoo with randomised weights and BN statistics: import → emit → load →
outputs bit-identical to the source (or within rtol=1e-5, atol=1e-6) at batch 1 and 3; state_dict
keys equal the source's and the source's state_dict loads; the file is lint-clean.

Quick run: small inputs (the same architectures, fewer pixels). `-m slow`: the full sizes."""

from __future__ import annotations

import os
import time

import pytest
from test_emit_common import audit, import_model_py, lint

torch = pytest.importorskip("torch")
torchvision = pytest.importorskip("torchvision")
pytest.importorskip("irc.frontend.torch")

MODELS_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "models")


def _torchvision(name, **kw):
    def make():
        return getattr(torchvision.models, name)(weights=None, **kw)
    return make


def _local(module_name, cls_name, **kw):
    """A model definition from tests/models (MobileNet V1, Tiny-YOLO)."""
    def make():
        import importlib
        import sys

        sys.path.insert(0, MODELS_DIR)
        try:
            mod = importlib.import_module(module_name)
        finally:
            sys.path.remove(MODELS_DIR)
        return getattr(mod, cls_name)(**kw)
    return make


ZOO = {
    "vgg16": (_torchvision("vgg16"), 224, 32),
    "inception_v3": (_torchvision("inception_v3", aux_logits=False, init_weights=False), 299, 75),
    "resnet50": (_torchvision("resnet50"), 224, 64),
    "mobilenet_v1": (_local("mobilenet_v1", "MobileNetV1"), 224, 64),
    "mobilenet_v2": (_torchvision("mobilenet_v2"), 224, 64),
    "tiny_yolo_v2": (_local("tiny_yolo", "TinyYoloV2"), 416, 64),
    "tiny_yolo_v3": (_local("tiny_yolo", "TinyYoloV3"), 416, 64),
}


def _flat(out):
    from irc.check import flatten_outputs

    return flatten_outputs(out)


def end_to_end(name, size, tmp_path):
    from helpers import randomize_

    from irc import emit_pytorch
    from irc.fidelity import assert_close
    from irc.frontend.torch import import_model

    make = ZOO[name][0]
    source = randomize_(make(), seed=7)
    t0 = time.perf_counter()
    m = import_model(source, [((3, size, size), "f32")], batch="dynamic")
    t1 = time.perf_counter()
    assert m.main.args[0].type.shape[0] is None, "the batch should be dynamic"
    out = tmp_path / name
    emit_pytorch(m, str(out))
    t2 = time.perf_counter()
    lint(out / "model.py")
    audit((out / "model.py").read_text())
    mod = import_model_py(out)
    model = mod.load()
    # the emitted state_dict is the source's, key for key and in order
    src_sd = source.state_dict()
    assert list(model.state_dict().keys()) == list(src_sd.keys())
    fresh = getattr(mod, type(model).__name__)()
    fresh.load_state_dict(src_sd)
    fresh.eval()
    worst = 0.0
    for batch in (1, 3):
        g = torch.Generator().manual_seed(batch)
        x = torch.randn(batch, 3, size, size, generator=g)
        with torch.no_grad():
            ref, got, got_fresh = _flat(source(x)), _flat(model(x)), _flat(fresh(x))
        assert len(ref) == len(got) == len(got_fresh)
        for i, (r, o, f) in enumerate(zip(ref, got, got_fresh)):
            v = assert_close(r, o, rule="exact", name=f"{name}[{batch}].{i}")
            assert_close(r, f, rule="exact", name=f"{name}[{batch}].{i} (source state_dict)")
            worst = max(worst, v.max_abs)
    print(f"{name} @{size}: max|d|={worst:.3g}  import {t1 - t0:.1f}s  emit {t2 - t1:.2f}s  "
          f"total {time.perf_counter() - t0:.1f}s")


@pytest.mark.parametrize("name", ["resnet50", "mobilenet_v2", "inception_v3", "vgg16", "mobilenet_v1",
                                  "tiny_yolo_v2", "tiny_yolo_v3"])
def test_zoo_small_inputs(name, tmp_path):
    end_to_end(name, ZOO[name][2], tmp_path)


@pytest.mark.slow
@pytest.mark.parametrize("name", list(ZOO))
def test_zoo_full_size(name, tmp_path):
    end_to_end(name, ZOO[name][1], tmp_path)


def test_small_vision_transformer(tmp_path):
    """Bare parameters (class_token, encoder.pos_embedding), attention in-projection tensors used
    functionally, LayerNorm/Linear modules, numbered MLP children with gaps (mlp[0], mlp[3])."""
    from helpers import randomize_
    from torchvision.models.vision_transformer import VisionTransformer

    from irc import emit_pytorch
    from irc.backend.pytorch.executor import run
    from irc.fidelity import assert_close
    from irc.frontend.torch import import_model

    source = randomize_(VisionTransformer(image_size=32, patch_size=8, num_layers=2, num_heads=2, hidden_dim=32,
                                          mlp_dim=64, num_classes=10), seed=2)
    m = import_model(source, [((3, 32, 32), "f32")], batch="dynamic")
    emit_pytorch(m, str(tmp_path / "vit"))
    lint(tmp_path / "vit" / "model.py")
    model = import_model_py(tmp_path / "vit").load()
    assert list(model.state_dict()) == list(source.state_dict())
    assert isinstance(model.class_token, torch.nn.Parameter)
    assert isinstance(model.encoder.layers.encoder_layer_0.mlp[3], torch.nn.Linear)
    assert isinstance(model.encoder.ln, torch.nn.LayerNorm)
    for batch in (1, 3):
        x = torch.randn(batch, 3, 32, 32)
        with torch.no_grad():
            got = model(x)
            # the emitted code (nn.Linear modules) and the executor (F.linear on plain tensors) reach different
            # kernels on some CPUs (AMD EPYC): only the exact rule is promised between them
            assert_close(run(m, x)[0], got, rule="exact", name=f"vit executor[{batch}]")
            assert_close(source(x), got, rule="exact", name=f"vit[{batch}]")
