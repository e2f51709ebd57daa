"""Darknet import (`.cfg` + `.weights`), checked against OpenCV's `cv2.dnn.readNetFromDarknet` on the same files.

The cfgs are written here: yolov2-tiny and yolov3-tiny (the real topologies at 416x416 in the slow set; the
same sections, narrower and at 96x96, in the quick set) and small cfgs for each section and activation. Their
`.weights` are random (seeded) with random batch-norm statistics (positive variances). The [yolo]/[region]
heads are compared at the raw feature map they read (what irc outputs; OpenCV decodes, thresholds and NMSes
it): OpenCV is asked for the layer computing that map.
"""

from __future__ import annotations

import os

import cv2
import numpy as np
import pytest
import torch

from irc.fidelity import compare
from irc.frontend.darknet import import_darknet, is_darknet_file, parse_cfg
from irc.ir import IrcError

PIPELINE = "canonicalize,fuse-bn,fold-constants,cse,dce"


# ----------------------------------------------------------------------------- cfg text


def section(kind: str, **options) -> str:
    lines = [f"[{kind}]"] + [f"{key}={value}" for key, value in options.items()]
    return "\n".join(lines) + "\n"


def net(width: int, height: int, channels: int = 3) -> str:
    return section("net", batch=1, subdivisions=1, width=width, height=height, channels=channels, momentum=0.9,
                   decay=0.0005, learning_rate=0.001)


def conv(filters: int, size: int = 3, stride: int = 1, bn: bool = True, activation: str = "leaky",
         **extra) -> str:
    options = {"batch_normalize": 1} if bn else {}
    options.update(filters=filters, size=size, stride=stride, pad=1, activation=activation, **extra)
    return section("convolutional", **options)


def pool(size: int = 2, stride: int = 2, **extra) -> str:
    return section("maxpool", size=size, stride=stride, **extra)


ANCHORS_V3 = "10,14,  23,27,  37,58,  81,82,  135,169,  344,319"
ANCHORS_V2 = "0.57273, 0.677385, 1.87446, 2.06253, 3.33843, 5.47434, 7.88282, 3.52778, 9.77052, 9.16828"


def yolo(mask: str, classes: int) -> str:
    return section("yolo", mask=mask, anchors=ANCHORS_V3, classes=classes, num=6, jitter=".3", ignore_thresh=".7",
                   truth_thresh=1, random=1)


def yolov3_tiny(size: int = 416, width: int = 16, classes: int = 80) -> str:
    """yolov3-tiny.cfg's topology; `width` is the first conv's filters (16 in the real model)."""
    w = [width * 2 ** i for i in range(7)]
    out = 3 * (classes + 5)
    body = "".join(conv(w[i]) + pool() for i in range(5))
    return (net(size, size) + body + conv(w[5]) + pool(2, 1) + conv(w[6])
            + "\n###########\n\n"
            + conv(w[4], size=1) + conv(w[5]) + conv(out, size=1, bn=False, activation="linear")
            + yolo("3,4,5", classes)
            + section("route", layers=-4) + conv(w[3], size=1) + section("upsample", stride=2)
            + section("route", layers="-1, 8") + conv(w[4]) + conv(out, size=1, bn=False, activation="linear")
            + yolo("0,1,2", classes))


def yolov2_tiny(size: int = 416, width: int = 16, classes: int = 80) -> str:
    """yolov2-tiny.cfg's (COCO) topology."""
    w = [width * 2 ** i for i in range(7)]
    body = "".join(conv(w[i]) + pool() for i in range(5))
    region = section("region", anchors=ANCHORS_V2, bias_match=1, classes=classes, coords=4, num=5, softmax=1,
                     jitter=".2", rescore=0, object_scale=5, noobject_scale=1, class_scale=1, coord_scale=1,
                     absolute=1, thresh=".6", random=1)
    return (net(size, size) + body + conv(w[5]) + pool(2, 1) + conv(w[6])
            + "\n###########\n\n"
            + conv(w[5]) + conv(5 * (classes + 5), size=1, bn=False, activation="linear") + region)


# ----------------------------------------------------------------------------- weights


def float_counts(cfg: str) -> list[tuple[str, int]]:
    """(what, count) of every float block a cfg's layers read, in file order (an independent count)."""
    sections = parse_cfg(cfg)
    channels = [int(sections[0].options["channels"].value)]  # channels[i + 1]: layer i's output
    blocks = []
    for index, sec in enumerate(sections[1:]):
        get = {k: o.value for k, o in sec.options.items()}
        c = channels[-1]
        if sec.kind == "convolutional":
            filters, size, groups = int(get["filters"]), int(get["size"]), int(get.get("groups", 1))
            blocks.append(("bias", filters))
            if get.get("batch_normalize") == "1":
                blocks += [("scale", filters), ("mean", filters), ("var", filters)]
            blocks.append((f"weight:{size * size * c // groups}", filters * c // groups * size * size))
            c = filters
        elif sec.kind == "connected":
            raise AssertionError("connected layers get their weights written by hand")
        elif sec.kind == "route":
            layers = [int(v) for v in get["layers"].split(",")]
            groups = int(get.get("groups", 1))
            c = sum(channels[(i + index if i < 0 else i) + 1] for i in layers) // groups
        channels.append(c)
    return blocks


def random_floats(blocks: list[tuple[str, int]], rng: np.random.Generator) -> np.ndarray:
    parts = []
    for what, count in blocks:
        if what in ("scale", "var"):
            parts.append(rng.uniform(0.5, 1.5, count))
        elif what in ("bias", "mean"):
            parts.append(rng.normal(0, 0.1, count))
        else:
            fan_in = int(what.split(":")[1])
            parts.append(rng.normal(0, 1.0 / np.sqrt(fan_in), count))
    return np.concatenate(parts).astype(np.float32) if parts else np.zeros(0, np.float32)


def write_weights(path: str, floats: np.ndarray, major: int = 0, minor: int = 2, seen: int = 32013312) -> None:
    with open(path, "wb") as f:
        np.array([major, minor, 0], "<i4").tofile(f)
        np.array([seen], "<u8" if major * 10 + minor >= 2 else "<u4").tofile(f)
        floats.astype("<f4").tofile(f)


def write_model(tmp_path, cfg: str, name: str = "model", seed: int = 0, floats: np.ndarray | None = None,
                **header) -> tuple[str, str]:
    cfg_path, weights_path = str(tmp_path / f"{name}.cfg"), str(tmp_path / f"{name}.weights")
    with open(cfg_path, "w") as f:
        f.write(cfg)
    if floats is None:
        floats = random_floats(float_counts(cfg), np.random.default_rng(seed))
    write_weights(weights_path, floats, **header)
    return cfg_path, weights_path


# ----------------------------------------------------------------------------- running


def seeded_input(module, seed: int = 0) -> torch.Tensor:
    shape = module.main.args[0].type.shape
    return torch.rand(shape, generator=torch.Generator().manual_seed(seed))


def opencv_forward(cfg_path: str, weights_path: str, x: torch.Tensor, names: list[str]) -> list[np.ndarray]:
    model = cv2.dnn.readNetFromDarknet(cfg_path, weights_path)
    model.setInput(x.numpy())
    return [np.asarray(o) for o in model.forward(names)]


def check_model(tmp_path, cfg: str, seed: int = 0, emit: bool = True, **header) -> float:
    """The import run by the executor, after PIPELINE, and as emitted PyTorch, against OpenCV: max|d|."""
    import irc
    from irc.backend.pytorch.executor import Executor
    from irc.check import import_emitted

    cfg_path, weights_path = write_model(tmp_path, cfg, seed=seed, **header)
    module, _, output_layers = import_with_names(cfg_path, weights_path)
    x = seeded_input(module, seed)
    refs = opencv_forward(cfg_path, weights_path, x, output_layers)
    worst = 0.0
    with torch.no_grad():
        runs = [("ir", Executor(module)(x))]
        irc.run_passes(module, PIPELINE)
        runs.append(("passes", Executor(module)(x)))
        if emit:
            out_dir = str(tmp_path / "emitted")
            irc.emit_pytorch(module, out_dir)
            runs.append(("emitted", import_emitted(out_dir).load()(x)))
    for what, outs in runs:
        outs = outs if isinstance(outs, (list, tuple)) else [outs]
        assert len(outs) == len(refs), what
        for ref, out in zip(refs, outs, strict=True):
            verdict = compare(ref, out, "pass")
            assert verdict.ok, f"{what}: {verdict.line()}"
            worst = max(worst, verdict.max_abs)
    return worst


def import_with_names(cfg_path: str, weights_path: str):
    """The module, the importer's {OpenCV layer name: IR value name} and the OpenCV layers of its outputs."""
    from irc.frontend.darknet.importer import open_importer

    importer = open_importer(cfg_path, weights_path)
    module = importer.run()
    return module, importer.source_names, importer.output_layers


# ----------------------------------------------------------------------------- the YOLO models


def test_yolov3_tiny_quick(tmp_path):
    worst = check_model(tmp_path, yolov3_tiny(size=96, width=4, classes=3))
    print(f"yolov3-tiny (96x96, width 4) max|d| = {worst:.3g}")


def test_yolov2_tiny_quick(tmp_path):
    worst = check_model(tmp_path, yolov2_tiny(size=96, width=4, classes=3))
    print(f"yolov2-tiny (96x96, width 4) max|d| = {worst:.3g}")


@pytest.mark.slow
def test_yolov3_tiny_full(tmp_path):
    worst = check_model(tmp_path, yolov3_tiny())
    print(f"yolov3-tiny (416x416) max|d| = {worst:.3g}")


@pytest.mark.slow
def test_yolov2_tiny_full(tmp_path):
    worst = check_model(tmp_path, yolov2_tiny())
    print(f"yolov2-tiny (416x416) max|d| = {worst:.3g}")


def test_yolov3_tiny_structure(tmp_path):
    """NCHW input from [net], values and params named per layer, ops located at their cfg line, the two raw
    head maps as outputs."""
    cfg = yolov3_tiny(size=96, width=4, classes=3)
    cfg_path, weights_path = write_model(tmp_path, cfg)
    module = import_darknet(cfg_path, weights=weights_path)
    assert module.main.args[0].type.shape == (1, 3, 96, 96)
    assert [v.type.shape for v in module.main.ret.operands] == [(1, 24, 3, 3), (1, 24, 6, 6)]
    keys = set(module.weights.keys())
    assert {"conv_0.weight", "conv_0.bn.weight", "conv_0.bn.bias", "conv_0.bn.running_mean",
            "conv_0.bn.running_var", "conv_15.weight", "conv_15.bias"} <= keys
    assert "conv_0.bias" not in keys
    names = {r.name for op in module.ops() for r in op.results}
    assert {"conv_4", "conv_4_bn", "conv_4_leaky", "maxpool_11", "route_20", "upsample_19"} <= names
    lines = cfg.splitlines()
    conv0 = next(op for op in module.ops() if op.name == "nn.conv2d")
    assert lines[conv0.loc.line - 1] == "[convolutional]"
    pool11 = next(op for op in module.ops() if op.results[0].name == "maxpool_11")
    assert lines[pool11.loc.line - 1] == "[maxpool]"
    assert pool11.attrs["padding"] == [[0, 1], [0, 1]] and pool11.attrs["stride"] == [1, 1]
    pool1 = next(op for op in module.ops() if op.results[0].name == "maxpool_1")
    assert pool1.attrs["padding"] == [[0, 0], [0, 0]]  # the pad no 2x2/2 window of 96 reads is left out


def test_source_names_match_opencv_layers(tmp_path):
    """Every OpenCV layer the importer names computes what its IR value holds (the bisection map)."""
    from irc.bisect import IrRuntime

    cfg = yolov3_tiny(size=64, width=2, classes=1)
    cfg_path, weights_path = write_model(tmp_path, cfg)
    module, names, _ = import_with_names(cfg_path, weights_path)
    x = seeded_input(module)
    with torch.no_grad():
        ir_values = dict(IrRuntime(module).run_named([x]))
    cv_names = list(names)
    refs = opencv_forward(cfg_path, weights_path, x, cv_names)
    assert {"conv_0", "bn_0", "leaky_1", "pool_1", "identity_17", "upsample_19", "concat_20", "conv_22"} <= set(names)
    for cv_name, ref in zip(cv_names, refs, strict=True):
        verdict = compare(ref, ir_values[names[cv_name]], "pass")
        assert verdict.ok, f"{cv_name} -> {names[cv_name]}: {verdict.line()}"


def test_bisect_against_opencv(tmp_path):
    """irc.runtimes.opencv.DarknetRuntime with the importer's names as the reference side of a bisection: a
    clean import has no culprit; one leaky slope changed in the IR is blamed on that op."""
    from irc.bisect import IrRuntime, run_bisect
    from irc.frontend.darknet import opencv_names
    from irc.runtimes.opencv import DarknetRuntime

    cfg_path, weights_path = write_model(tmp_path, yolov3_tiny(size=64, width=2, classes=1))
    names, output_layers = opencv_names(cfg_path, weights_path)
    module = import_darknet(cfg_path, weights=weights_path)
    reference = DarknetRuntime(cfg_path, names=names, weights=weights_path)
    result = run_bisect(module, reference, IrRuntime(module), "pass", "test")
    assert result.culprit is None and result.compared > 40, "\n".join(result.lines())
    leaky = next(op for op in module.ops() if op.results[0].name == "conv_6_leaky")
    leaky.attrs["negative_slope"] = 0.2
    result = run_bisect(module, reference, IrRuntime(module), "pass", "test")
    assert result.culprit is not None and result.culprit.name == "conv_6_leaky", "\n".join(result.lines())
    assert output_layers == ["conv_15", "conv_22"]


# ----------------------------------------------------------------------------- each section


def small(*layers: str, size: int = 12, channels: int = 3) -> str:
    return net(size, size, channels) + "".join(layers)


@pytest.mark.parametrize("activation", ["linear", "leaky", "relu", "tanh", "logistic", "swish", "mish"])
def test_activations(tmp_path, activation):
    check_model(tmp_path, small(conv(6, activation=activation), conv(4, bn=False, activation=activation)),
                emit=False)


SECTION_CASES = {
    "conv_stride2_groups": small(conv(6, stride=2), conv(6, groups=3), conv(4, size=1, bn=False)),
    "conv_explicit_padding": small(section("convolutional", filters=4, size=3, stride=1, padding=0,
                                           activation="leaky"), conv(4, size=5)),
    "maxpool_3x3_s2": small(conv(4), pool(3, 2), pool(2, 1), size=13),
    "maxpool_odd": small(conv(4), pool(2, 2), pool(2, 2), size=13),
    "route_groups": small(conv(8), section("route", layers=-1, groups=2, group_id=1), conv(4)),
    "route_absolute": small(conv(4), conv(6), conv(5), section("route", layers="0, -2")),
    "shortcut": small(conv(4), conv(8), conv(4), section("shortcut", **{"from": -3}, activation="linear"),
                      section("shortcut", **{"from": 1}, activation="leaky")),
    "shortcut_fewer_channels": small(conv(4), conv(8), section("shortcut", **{"from": -2}), conv(3)),
    "upsample": small(conv(4), section("upsample", stride=3), conv(4, size=1), size=6),
    "avgpool_softmax_dropout": small(conv(8), conv(5, size=1, bn=False, activation="linear"),
                                     section("avgpool"), section("dropout", probability=0.5), section("softmax")),
}


@pytest.mark.parametrize("case", list(SECTION_CASES))
def test_sections(tmp_path, case):
    check_model(tmp_path, SECTION_CASES[case], seed=3, emit=case == "shortcut")


def test_connected(tmp_path):
    """A [connected] layer (Darknet's order: biases, then weights [out, in]) against OpenCV."""
    cfg = small(conv(4, bn=False), section("connected", output=7, activation="leaky"), section("softmax"), size=5)
    rng = np.random.default_rng(1)
    conv_floats = random_floats(float_counts(small(conv(4, bn=False), size=5)), rng)
    fc = np.concatenate([rng.normal(0, 0.1, 7), rng.normal(0, 0.2, 7 * 100)]).astype(np.float32)
    cfg_path, weights_path = write_model(tmp_path, cfg, floats=np.concatenate([conv_floats, fc]))
    module, _, output_layers = import_with_names(cfg_path, weights_path)
    from irc.backend.pytorch.executor import Executor

    x = seeded_input(module)
    (ref,) = opencv_forward(cfg_path, weights_path, x, output_layers)
    with torch.no_grad():
        (out,) = Executor(module)(x)
    assert compare(ref, out, "pass").ok


def test_connected_batch_normalize(tmp_path):
    """[connected] with batch_normalize=1 reads biases, weights, then scales, means, variances (Darknet's order;
    OpenCV reads the normalisation first, so the reference here is numpy)."""
    from irc.backend.pytorch.executor import Executor

    cfg = small(section("connected", output=3, batch_normalize=1, activation="linear"), size=2, channels=2)
    rng = np.random.default_rng(2)
    bias, weight = rng.normal(0, 0.1, 3), rng.normal(0, 0.5, (3, 8))
    scale, mean, var = rng.uniform(0.5, 1.5, 3), rng.normal(0, 0.1, 3), rng.uniform(0.5, 1.5, 3)
    floats = np.concatenate([bias, weight.ravel(), scale, mean, var]).astype(np.float32)
    cfg_path, weights_path = write_model(tmp_path, cfg, floats=floats)
    module = import_darknet(cfg_path, weights=weights_path)
    x = seeded_input(module)
    y = weight @ x.numpy().reshape(8)
    ref = ((y - mean) / np.sqrt(var + 1e-6) * scale + bias).reshape(1, 3)
    with torch.no_grad():
        (out,) = Executor(module)(x)
    assert compare(ref.astype(np.float32), out, "pass").ok


@pytest.mark.parametrize("major,minor", [(0, 1), (0, 2), (1, 0)])
def test_weights_header_versions(tmp_path, major, minor):
    """A 32-bit `seen` before version 0.2, 64-bit from it."""
    check_model(tmp_path, small(conv(4), conv(3, bn=False)), emit=False, major=major, minor=minor)


def test_default_weights_beside_cfg(tmp_path):
    cfg_path, _ = write_model(tmp_path, small(conv(4)), name="net")
    assert import_darknet(cfg_path).main.args[0].type.shape == (1, 3, 12, 12)


def test_short_section_names(tmp_path):
    """[network], [conv], [max], [avg], [soft] are Darknet's other names of [net], [convolutional], ...: the same
    model as the long names (which OpenCV reads)."""
    from irc.backend.pytorch.executor import Executor

    long_cfg = small(conv(4), pool(2, 2), conv(5, bn=False), section("avgpool"), section("softmax"))
    short_cfg = long_cfg.replace("[net]", "[network]").replace("[convolutional]", "[conv]").replace(
        "[maxpool]", "[max]").replace("[avgpool]", "[avg]").replace("[softmax]", "[soft]")
    cfg_path, weights_path = write_model(tmp_path, long_cfg)
    short_path = str(tmp_path / "short.cfg")
    with open(short_path, "w") as f:
        f.write(short_cfg)
    module = import_darknet(short_path, weights=weights_path)
    assert [op.name for op in module.ops() if op.name != "nn.param"] == [
        "nn.conv2d", "nn.batch_norm", "nn.leaky_relu", "nn.max_pool2d", "nn.conv2d", "nn.leaky_relu", "nn.mean",
        "nn.softmax"]
    x = seeded_input(module)
    (ref,) = opencv_forward(cfg_path, weights_path, x, ["softmax_4"])
    with torch.no_grad():
        (out,) = Executor(module)(x)
    assert compare(ref, out, "pass").ok


# ----------------------------------------------------------------------------- errors


def test_unsupported_sections_listed_at_once(tmp_path):
    cfg = small(conv(4, activation="hardtan"), section("reorg", stride=2), conv(4), section("local", filters=2, size=3),
                conv(4), section("reorg", stride=2))
    cfg_path, weights_path = write_model(tmp_path, cfg, floats=np.zeros(10, np.float32))
    with pytest.raises(IrcError) as err:
        import_darknet(cfg_path, weights=weights_path)
    text = str(err.value)
    lines = cfg.splitlines()
    reorg_lines = [i + 1 for i, line in enumerate(lines) if line == "[reorg]"]
    local_line = lines.index("[local]") + 1
    assert "3 unsupported ops" in text, text
    assert "[reorg] x2: no irc mapping" in text and "[local] x1" in text
    assert "activation=hardtan has no irc mapping" in text
    for line in [*reorg_lines, local_line]:
        assert f"model.cfg:{line})" in text


@pytest.mark.parametrize("delta", [-5, 3])
def test_weights_size_mismatch(tmp_path, delta):
    cfg = small(conv(4), conv(3, bn=False))
    floats = random_floats(float_counts(cfg), np.random.default_rng(0))
    expected = len(floats)
    floats = floats[:expected + delta] if delta < 0 else np.concatenate([floats, np.zeros(delta, np.float32)])
    cfg_path, weights_path = write_model(tmp_path, cfg, floats=floats)
    with pytest.raises(IrcError, match=f"expects {expected} floats .* the file has {expected + delta}"):
        import_darknet(cfg_path, weights=weights_path)


@pytest.mark.parametrize("text,message", [
    ("[net]\nwidth=8\nheight 8\n", r"model\.cfg:3: expected 'key=value' or '\[section\]', got 'height 8'"),
    ("width=8\n[net]\n", r"model\.cfg:1: 'width=' comes before the first section"),
    ("[convolutional]\nfilters=2\n", r"starts with a \[net\] section"),
    ("[net]\nwidth=8\nwidth=9\n", r"model\.cfg:3: 'width=' is given twice in \[net\] \(first at line 2\)"),
    ("[net]\nwidth=8\nheight=8\n[convolutional]\nsize=3\nfilters=x\n", r"model\.cfg:6: filters=x is not an integer"),
    ("[net]\nwidth=8\nheight=8\n[convolutional]\nsize=3\n", r"model\.cfg:4: \[convolutional\] needs 'filters='"),
    ("[net]\nwidth=8\nheight=8\n[route]\nlayers=-1\n", r"model\.cfg:4: \[route\] refers to layer -1"),
    ("[net\n", r"model\.cfg:1: a section header must be '\[name\]'"),
])
def test_bad_cfg(tmp_path, text, message):
    cfg_path, weights_path = write_model(tmp_path, text, floats=np.zeros(0, np.float32))
    with pytest.raises(IrcError, match=message):
        import_darknet(cfg_path, weights=weights_path)


def test_bad_weights_files(tmp_path):
    cfg_path, weights_path = write_model(tmp_path, small(conv(4)))
    with open(weights_path, "wb") as f:
        f.write(b"\0" * 10)
    with pytest.raises(IrcError, match="too short for a Darknet weights header"):
        import_darknet(cfg_path, weights=weights_path)
    with pytest.raises(IrcError, match="cannot read"):
        import_darknet(cfg_path, weights=str(tmp_path / "missing.weights"))
    os.remove(weights_path)
    with pytest.raises(IrcError, match=r"needs its \.weights file"):
        import_darknet(cfg_path)


def test_is_darknet_file(tmp_path):
    cases = {
        "a.cfg": "# comment\n; another\n\n  [net]\nwidth=8\n",
        "b.cfg": "[network]\nwidth=8\n",
        "c.cfg": "[convolutional]\nfilters=2\n",
        "d.ini": "[section]\nkey=value\n",
        "e.txt": "",
    }
    for name, text in cases.items():
        (tmp_path / name).write_text(text)
    (tmp_path / "f.bin").write_bytes(b"[net]\0\x01\x02")
    assert is_darknet_file(str(tmp_path / "a.cfg")) and is_darknet_file(str(tmp_path / "b.cfg"))
    for name in ("c.cfg", "d.ini", "e.txt", "f.bin", "missing.cfg"):
        assert not is_darknet_file(str(tmp_path / name)), name
    assert not is_darknet_file(str(tmp_path))


def test_cli_import_check_and_bisect(tmp_path, capsys):
    """irc-import a cfg with --weights, irc-check the IR against OpenCV (the maps entering the yolo heads), and
    --bisect an edited IR down to the edited layer; a cfg without --weights is a clear error."""
    from irc.tools.irc_check import main as check_main
    from irc.tools.irc_import import main as import_main

    cfg_path, weights_path = write_model(tmp_path, yolov3_tiny(size=64, width=4, classes=3))
    out = str(tmp_path / "m.ir")
    assert import_main([cfg_path, "--weights", weights_path, "-o", out, "--quiet"]) == 0
    assert check_main([cfg_path, "--weights", weights_path, "--ir", out, "--quiet"]) == 0
    report = capsys.readouterr().out
    assert report.count("within") + report.count("ok") >= 2, report
    text = open(out).read()
    edited = str(tmp_path / "edited.ir")
    with open(edited, "w") as f:
        f.write(text.replace("negative_slope = 0.1", "negative_slope = 0.2", 1))
    import shutil

    shutil.copy(str(tmp_path / "m.safetensors"), str(tmp_path / "edited.safetensors"))
    with open(edited) as f:
        fixed = f.read().replace('weights = "m.safetensors"', 'weights = "edited.safetensors"')
    with open(edited, "w") as f:
        f.write(fixed)
    assert check_main([cfg_path, "--weights", weights_path, "--ir", edited, "--bisect", "--quiet"]) == 1
    report = capsys.readouterr().out
    assert "first divergence: %conv_" in report and "_leaky" in report, report
    assert import_main([cfg_path, "-o", str(tmp_path / "x.ir"), "--quiet"]) == 1
    assert "give its weights with --weights" in capsys.readouterr().err
