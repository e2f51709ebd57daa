"""Caffe both ways, checked in OpenCV 4.x: the schema (current and legacy forms), torch → IR → Caffe run by
cv2.dnn.readNetFromCaffe, Caffe → IR → PyTorch against OpenCV on the same files and on prototxts written in
the classic model-zoo style with random caffemodels, every unsupported layer / op listed at once, and
bisection through OpenCV naming a deliberately broken layer."""

from __future__ import annotations

import os
import sys

import numpy as np
import pytest
import torch
from helpers import randomize_

pytest.importorskip("cv2")

from irc.backend.caffe import emit_caffe, unmapped_ops  # noqa: E402
from irc.backend.pytorch.executor import Executor  # noqa: E402
from irc.fidelity import compare  # noqa: E402
from irc.formats import caffe as schema  # noqa: E402
from irc.frontend.caffe import CaffeImporter, import_caffe, is_caffe_file, load_blobs, load_net  # noqa: E402
from irc.ir import IrcError  # noqa: E402
from irc.runtimes.opencv import CaffeRuntime, DarknetRuntime  # noqa: E402

sys.path.insert(0, os.path.dirname(__file__))
from models.zoo import ZOO  # noqa: E402

SEED_MODELS = ["vgg16", "inception_v3", "resnet50", "mobilenet_v1"]


def _outputs(result) -> list:
    return list(result) if isinstance(result, (list, tuple)) else [result]


def _input(shape, seed: int = 1) -> torch.Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed))


def _write_model(net, blob_shapes: dict, path: str, seed: int = 0) -> None:
    """A random caffemodel for `net` (current form): blob shapes by layer name; BatchNorm statistics valid."""
    rng = np.random.default_rng(seed)
    weights = []
    for layer in net.layer:
        arrays = [rng.standard_normal(s).astype(np.float32) * 0.5 for s in blob_shapes.get(layer.name, [])]
        if layer.type == "BatchNorm":
            factor = 4.0
            arrays = [arrays[0] * factor, (np.abs(arrays[1]) + 0.3) * factor, np.array([factor], np.float32)]
        elif layer.type == "Scale":
            arrays[0] = arrays[0] + 1.0
        weights.append(arrays)
    with open(path, "wb") as f:
        f.write(schema.encode_model(net, weights))


def _check_against_opencv(prototxt: str, caffemodel: str, inputs: list[torch.Tensor]) -> dict:
    """Import the files, run the IR (torch) and OpenCV on the same inputs; every output within "pass".
    Returns {output name: max|d|}."""
    module = import_caffe(prototxt, weights=caffemodel)
    runtime = CaffeRuntime(prototxt, weights=caffemodel)
    ours = dict(zip([v.name for v in module.main.outputs], _outputs(Executor(module)(*inputs)), strict=True))
    importer_names = _source_names(prototxt, caffemodel)
    theirs = dict(zip(runtime.output_names, runtime(*inputs), strict=True))
    assert len(ours) == len(theirs)
    report = {}
    for layer, ref in theirs.items():
        verdict = compare(ref, ours[importer_names[layer]], "pass")
        assert verdict.ok, verdict.line(layer)
        report[layer] = verdict.max_abs
    return report


def _source_names(prototxt: str, caffemodel: str) -> dict:
    importer = CaffeImporter(load_net(prototxt), load_blobs(caffemodel), "m")
    importer.run()
    return importer.source_names


# ----------------------------------------------------------------------------- the schema


def test_schema_reads_both_forms_and_keeps_field_numbers():
    text = 'name: "n" layer { name: "c" type: "Convolution" bottom: "x" top: "c" convolution_param { num_output: 4 kernel_h: 3 kernel_w: 1 } }'
    net = schema.parse_text(text)
    data = net.SerializeToString()
    # LayerParameter is field 100 of NetParameter, convolution_param field 106 of LayerParameter
    assert data.startswith(b"\x0a\x01n\xa2\x06")
    assert b"\xd2\x06" in net.layer[0].SerializeToString()
    again = schema.parse_binary(data)
    assert schema.to_text(again) == schema.to_text(net)
    legacy = schema.parse_text('layers { name: "r" type: RELU bottom: "a" top: "a" } '
                               'layers { name: "f" type: INNER_PRODUCT bottom: "a" top: "f" }')
    assert [(lay.name, lay.type) for lay in schema.layers(legacy)] == [("r", "ReLU"), ("f", "InnerProduct")]
    floor = schema.parse_text('layer { name: "p" type: "Pooling" pooling_param { pool: AVE round_mode: FLOOR } }')
    assert floor.layer[0].pooling_param.ceil_mode is False
    blob = schema.message("BlobProto")()
    schema.fill_blob(blob, np.arange(6, dtype=np.float32).reshape(2, 3))
    assert schema.blob_array(blob).tolist() == [[0, 1, 2], [3, 4, 5]]
    old = schema.message("BlobProto")(num=1, channels=1, height=2, width=3, data=list(range(6)))
    assert schema.blob_array(old).shape == (2, 3)
    with pytest.raises(IrcError, match="cannot read"):
        schema.parse_text("layer { name: ")


def test_is_caffe_file(tmp_path):
    proto = tmp_path / "deploy.prototxt"
    proto.write_text('name: "x"\ninput: "data"\ninput_dim: 1\n')
    assert is_caffe_file(str(proto))
    py = tmp_path / "net.py"
    py.write_text("def forward(self, input: Tensor):\n    return input\n")
    assert not is_caffe_file(str(py))
    assert not is_caffe_file(str(tmp_path / "missing"))
    binary = tmp_path / "m.caffemodel"
    binary.write_bytes(b"\x0a\x01x\x00layer {")
    assert not is_caffe_file(str(binary))


# ----------------------------------------------------------------------------- torch → IR → Caffe (OpenCV)


def _seed_module(name: str, passes: str, full: bool = False):
    from irc.frontend.torch import import_model
    from irc.passes.manager import run_passes

    builder, hw = (ZOO[name][2], ZOO[name][3]) if full else (ZOO[name][0], ZOO[name][1])
    torch.manual_seed(0)
    model = randomize_(builder(), 0)
    module = run_passes(import_model(model, [((3, hw, hw), "f32")], batch=1, structured=False), passes)
    return model, module, hw


def _seed_round_trip(name: str, passes: str, tmp_path, full: bool = False) -> tuple:
    """torch → IR → Caffe in OpenCV vs torch; then the Caffe files → IR → PyTorch vs OpenCV."""
    model, module, hw = _seed_module(name, passes, full)
    x = _input((1, 3, hw, hw))
    with torch.no_grad():
        ref = model(x)
    out_dir = str(tmp_path / name)
    result = emit_caffe(module, out_dir)
    assert sorted(os.path.basename(p) for p in result["files"]) == ["deploy.prototxt", "model.caffemodel"]
    assert is_caffe_file(os.path.join(out_dir, "deploy.prototxt"))
    runtime = CaffeRuntime(out_dir)
    assert [t.shape for t in runtime.input_types] == [(1, 3, hw, hw)]
    in_opencv = runtime(x)[0]
    forward = compare(ref, in_opencv, "pass")
    assert forward.ok, forward.line(f"{name} in OpenCV")
    back = import_caffe(out_dir)
    with torch.no_grad():
        again = _outputs(Executor(back)(x))[0]
    backward = compare(in_opencv, again, "pass")
    assert backward.ok, backward.line(f"{name} Caffe → IR → PyTorch")
    return forward.max_abs, backward.max_abs


@pytest.mark.parametrize("name", SEED_MODELS)
def test_seed_model_to_caffe_and_back(name, tmp_path):
    passes = "canonicalize,fuse-bn,fold-constants,cse,dce" if name in ("vgg16", "inception_v3") else "canonicalize,dce"
    forward, backward = _seed_round_trip(name, passes, tmp_path)
    print(f"{name} ({passes}): torch vs OpenCV max|d|={forward:.3g}; Caffe → PyTorch vs OpenCV max|d|={backward:.3g}")


def test_batch_norm_becomes_batchnorm_and_scale(tmp_path):
    _, module, _ = _seed_module("mobilenet_v1", "canonicalize,dce")
    emit_caffe(module, str(tmp_path / "m"))
    net = load_net(str(tmp_path / "m" / "deploy.prototxt"))
    types = [layer.type for layer in net.layer]
    assert types.count("BatchNorm") == types.count("Scale") == 11
    assert types[:4] == ["Input", "Convolution", "BatchNorm", "Scale"]
    # blob and layer names are the IR value names
    names = {v.name for v in module.main.values()}
    assert {layer.top[0] for layer in net.layer if layer.type != "BatchNorm"} <= names


@pytest.mark.slow
@pytest.mark.parametrize("name", SEED_MODELS)
def test_full_seed_model_to_caffe_and_back(name, tmp_path):
    forward, backward = _seed_round_trip(name, "canonicalize,fuse-bn,fold-constants,cse,dce", tmp_path, full=True)
    print(f"{name} full size: torch vs OpenCV max|d|={forward:.3g}; Caffe → PyTorch vs OpenCV max|d|={backward:.3g}")


# ----------------------------------------------------------------------------- hand-written prototxts → IR


CLASSIC = """name: "classic"
layer { name: "data" type: "Input" top: "data" input_param { shape { dim: 1 dim: 3 dim: 23 dim: 23 } } }
layer { name: "conv1" type: "Convolution" bottom: "data" top: "conv1" param { lr_mult: 1 decay_mult: 1 }
  convolution_param { num_output: 8 kernel_size: 3 stride: 2 pad: 1 bias_term: false weight_filler { type: "msra" } } }
layer { name: "bn_conv1" type: "BatchNorm" bottom: "conv1" top: "conv1" batch_norm_param { use_global_stats: true } }
layer { name: "scale_conv1" type: "Scale" bottom: "conv1" top: "conv1" scale_param { bias_term: true } }
layer { name: "conv1_relu" type: "ReLU" bottom: "conv1" top: "conv1" }
layer { name: "pool1" type: "Pooling" bottom: "conv1" top: "pool1" pooling_param { pool: MAX kernel_size: 3 stride: 2 } }
layer { name: "res_a" type: "Convolution" bottom: "pool1" top: "res_a"
  convolution_param { num_output: 8 kernel_h: 3 kernel_w: 1 pad_h: 1 pad_w: 0 group: 2 } }
layer { name: "res_b" type: "Convolution" bottom: "pool1" top: "res_b"
  convolution_param { num_output: 8 kernel_size: 3 pad: 2 dilation: 2 } }
layer { name: "res" type: "Eltwise" bottom: "res_a" bottom: "res_b" top: "res"
  eltwise_param { operation: SUM coeff: 0.5 coeff: -1.5 } }
layer { name: "prod" type: "Eltwise" bottom: "res" bottom: "res_a" top: "prod" eltwise_param { operation: PROD } }
layer { name: "emax" type: "Eltwise" bottom: "prod" bottom: "res_b" top: "emax" eltwise_param { operation: MAX } }
layer { name: "prelu" type: "PReLU" bottom: "emax" top: "emax" }
layer { name: "split" type: "Split" bottom: "emax" top: "s1" top: "s2" }
layer { name: "elu" type: "ELU" bottom: "s1" top: "elu" elu_param { alpha: 0.7 } }
layer { name: "sig" type: "Sigmoid" bottom: "s2" top: "sig" }
layer { name: "tanh" type: "TanH" bottom: "s2" top: "tanh" }
layer { name: "power" type: "Power" bottom: "tanh" top: "power" power_param { power: 2 scale: 0.5 shift: 1.5 } }
layer { name: "cat" type: "Concat" bottom: "elu" bottom: "sig" bottom: "power" top: "cat" concat_param { axis: 1 } }
layer { name: "slice" type: "Slice" bottom: "cat" top: "sl_a" top: "sl_b" slice_param { axis: 1 slice_point: 10 } }
layer { name: "up" type: "Deconvolution" bottom: "sl_a" top: "up"
  convolution_param { num_output: 6 kernel_size: 4 stride: 2 pad: 1 } }
layer { name: "pool2" type: "Pooling" bottom: "sl_b" top: "pool2" pooling_param { pool: AVE kernel_size: 3 stride: 2 pad: 1 } }
layer { name: "drop" type: "Dropout" bottom: "pool2" top: "pool2" dropout_param { dropout_ratio: 0.3 } }
layer { name: "fc" type: "InnerProduct" bottom: "pool2" top: "fc" inner_product_param { num_output: 7 } }
layer { name: "fc_relu" type: "ReLU" bottom: "fc" top: "fc" relu_param { negative_slope: 0.1 } }
layer { name: "prob" type: "Softmax" bottom: "fc" top: "prob" }
layer { name: "gpool" type: "Pooling" bottom: "up" top: "gpool" pooling_param { pool: AVE global_pooling: true } }
layer { name: "flat" type: "Flatten" bottom: "up" top: "flat" flatten_param { axis: 2 } }
layer { name: "ip_axis" type: "InnerProduct" bottom: "flat" top: "ip_axis" inner_product_param { num_output: 5 axis: 2 } }
layer { name: "reshape" type: "Reshape" bottom: "ip_axis" top: "reshape" reshape_param { shape { dim: 0 dim: -1 dim: 3 } } }
layer { name: "permute" type: "Permute" bottom: "reshape" top: "permute" permute_param { order: 0 order: 2 order: 1 } }
"""
CLASSIC_BLOBS = {
    "conv1": [(8, 3, 3, 3)], "bn_conv1": [(8,), (8,), (1,)], "scale_conv1": [(8,), (8,)],
    "res_a": [(8, 4, 3, 1), (8,)], "res_b": [(8, 8, 3, 3), (8,)], "prelu": [(8,)],
    "up": [(10, 6, 4, 4), (6,)], "fc": [(7, 224), (7,)], "ip_axis": [(5, 144), (5,)],
}


def _classic(tmp_path) -> tuple[str, str]:
    prototxt, caffemodel = str(tmp_path / "deploy.prototxt"), str(tmp_path / "net.caffemodel")
    with open(prototxt, "w") as f:
        f.write(CLASSIC)
    _write_model(schema.parse_text(CLASSIC), CLASSIC_BLOBS, caffemodel)
    return prototxt, caffemodel


def test_classic_zoo_prototxt_against_opencv(tmp_path):
    prototxt, caffemodel = _classic(tmp_path)
    report = _check_against_opencv(prototxt, caffemodel, [_input((1, 3, 23, 23))])
    assert sorted(report) == ["gpool", "permute", "prob"]
    module = import_caffe(prototxt, weights=caffemodel)
    ops = {op.name for op in module.main.ops}
    assert {"nn.batch_norm", "nn.conv_transpose2d", "nn.split", "nn.transpose", "nn.leaky_relu", "nn.elu"} <= ops
    pools = {op.results[0].name: op.attrs for op in module.main.ops if op.name.endswith("pool2d")}
    assert pools["pool1"]["ceil_mode"] and pools["pool2"]["ceil_mode"] and pools["pool2"]["count_include_pad"]
    # in-place tops get distinct IR names (the layer's), params are keyed LAYER/INDEX
    names = [v.name for v in module.main.values()]
    assert {"conv1", "bn_conv1", "scale_conv1", "conv1_relu", "pool1"} <= set(names)
    keys = {op.attrs["key"] for op in module.main.ops if op.name == "nn.param"}
    assert {"conv1/0", "bn_conv1/0", "bn_conv1/1", "scale_conv1/0", "scale_conv1/1", "fc/0", "fc/1"} <= keys
    assert "conv1/1" not in keys  # bias_term: false
    assert module.weights.numpy("bn_conv1/2" if "bn_conv1/2" in keys else "bn_conv1/1").min() > 0


def test_classic_zoo_prototxt_as_emitted_pytorch(tmp_path):
    """Caffe → IR → PyTorch code (irc-emit --target pytorch) against OpenCV."""
    from irc.backend.pytorch import emit_pytorch
    from irc.check import import_emitted

    prototxt, caffemodel = _classic(tmp_path)
    module = import_caffe(prototxt, weights=caffemodel)
    emit_pytorch(module, str(tmp_path / "torch"))
    model = import_emitted(str(tmp_path / "torch")).load()
    x = _input((1, 3, 23, 23), seed=5)
    with torch.no_grad():
        ours = _outputs(model(x))
    runtime = CaffeRuntime(prototxt, weights=caffemodel)
    names = _source_names(prototxt, caffemodel)
    order = [v.name for v in module.main.outputs]
    for layer, ref in zip(runtime.output_names, runtime(x), strict=True):
        verdict = compare(ref, ours[order.index(names[layer])], "pass")
        assert verdict.ok, verdict.line(layer)


LEGACY = """name: "legacy"
input: "data"
input_dim: 1
input_dim: 3
input_dim: 16
input_dim: 16
layers { name: "conv1" type: CONVOLUTION bottom: "data" top: "conv1" blobs_lr: 1 blobs_lr: 2
  convolution_param { num_output: 6 kernel_size: 5 } }
layers { name: "relu1" type: RELU bottom: "conv1" top: "conv1" }
layers { name: "pool1" type: POOLING bottom: "conv1" top: "pool1" pooling_param { pool: MAX kernel_size: 3 stride: 2 } }
layers { name: "conv2" type: CONVOLUTION bottom: "pool1" top: "conv2" convolution_param { num_output: 6 kernel_size: 3 pad: 1 } }
layers { name: "sum" type: ELTWISE bottom: "pool1" bottom: "conv2" top: "sum" }
layers { name: "cat" type: CONCAT bottom: "sum" bottom: "pool1" top: "cat" }
layers { name: "drop" type: DROPOUT bottom: "cat" top: "cat" }
layers { name: "fc" type: INNER_PRODUCT bottom: "cat" top: "fc" inner_product_param { num_output: 4 } }
layers { name: "prob" type: SOFTMAX bottom: "fc" top: "prob" }
"""


def test_legacy_v1_layers_against_opencv(tmp_path):
    """The legacy `layers` form with `input_dim`, and a caffemodel whose blobs carry num/channels/height/width."""
    prototxt, caffemodel = str(tmp_path / "legacy.prototxt"), str(tmp_path / "legacy.caffemodel")
    with open(prototxt, "w") as f:
        f.write(LEGACY)
    net = schema.parse_text(LEGACY)
    rng = np.random.default_rng(3)
    shapes = {"conv1": [(6, 3, 5, 5), (1, 1, 1, 6)], "conv2": [(6, 6, 3, 3), (1, 1, 1, 6)], "fc": [(1, 1, 4, 432), (1, 1, 1, 4)]}
    for layer in net.layers:
        for shape in shapes.get(layer.name, []):
            num, channels, height, width = shape
            values = rng.standard_normal(shape).astype(np.float32) * 0.3
            layer.blobs.add(num=num, channels=channels, height=height, width=width, data=values.ravel().tolist())
    with open(caffemodel, "wb") as f:
        f.write(net.SerializeToString())
    report = _check_against_opencv(prototxt, caffemodel, [_input((1, 3, 16, 16), seed=2)])
    assert list(report) == ["prob"]
    module = import_caffe(prototxt, weights=caffemodel)
    assert [a.name for a in module.main.args] == ["data"]
    assert module.weights.numpy("fc/0").shape == (4, 432)
    # the same net with `input_shape` instead of four `input_dim`
    with open(prototxt, "w") as f:
        f.write(LEGACY.replace("input_dim: 1\ninput_dim: 3\ninput_dim: 16\ninput_dim: 16\n",
                               "input_shape { dim: 1 dim: 3 dim: 16 dim: 16 }\n"))
    assert "input_dim" not in open(prototxt).read()
    assert list(_check_against_opencv(prototxt, caffemodel, [_input((1, 3, 16, 16), seed=4)])) == ["prob"]


def test_unsupported_layers_are_listed_at_once(tmp_path):
    text = CLASSIC.replace('type: "TanH"', 'type: "LRN"').replace('type: "ELU"', 'type: "MyPlugin"')
    text += 'layer { name: "norm2" type: "LRN" bottom: "pool1" top: "norm2" lrn_param { local_size: 5 } }\n'
    prototxt, caffemodel = str(tmp_path / "bad.prototxt"), str(tmp_path / "bad.caffemodel")
    with open(prototxt, "w") as f:
        f.write(text)
    _write_model(schema.parse_text(text), CLASSIC_BLOBS, caffemodel)
    with pytest.raises(IrcError) as info:
        import_caffe(prototxt, weights=caffemodel)
    message = str(info.value)
    assert "2 unsupported ops (3 nodes)" in message
    assert "LRN x2" in message and "at layer tanh" in message and "at layer norm2" in message
    assert "MyPlugin x1" in message and "at layer elu" in message


def test_missing_weights_and_blobs_are_clear_errors(tmp_path):
    prototxt, caffemodel = _classic(tmp_path)
    with pytest.raises(IrcError, match="pass the .caffemodel"):
        import_caffe(prototxt)
    text = CLASSIC.replace('bottom: "pool1" top: "res_a"', 'bottom: "nowhere" top: "res_a"')
    with open(prototxt, "w") as f:
        f.write(text)
    with pytest.raises(IrcError, match="reads blob 'nowhere'"):
        import_caffe(prototxt, weights=caffemodel)


# ----------------------------------------------------------------------------- what Caffe cannot say


def test_emit_lists_every_unsupported_op_at_once(tmp_path):
    from irc.frontend.torch import import_model

    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = torch.nn.Conv2d(3, 4, 3)
            self.norm = torch.nn.LayerNorm(6)

        def forward(self, x):
            y = self.conv(torch.nn.functional.pad(x, (0, 1, 0, 1)))
            return self.norm(torch.nn.functional.gelu(y)), torch.nn.functional.max_pool2d(y, 2, 2, 0, 2)

    module = import_model(randomize_(Net()), [((3, 7, 7), "f32")], batch=1)
    out = tmp_path / "out"
    with pytest.raises(IrcError) as info:
        emit_caffe(module, str(out))
    message = str(info.value)
    assert "nothing was written" in message
    assert "nn.gelu x1" in message and "nn.layer_norm x1" in message
    assert "dilation [2, 2]" in message
    assert not out.exists() or not os.listdir(out)
    assert "nn.gelu" in unmapped_ops() and "nn.conv2d" not in unmapped_ops()


def test_asymmetric_padding_is_refused(tmp_path):
    """TensorFlow-style 'same' padding (the extra pixel after) has no Caffe form: a clear error, nothing written."""
    from irc.frontend.torch import import_model

    model = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3, stride=2), torch.nn.MaxPool2d(2))
    module = import_model(randomize_(model), [((3, 9, 9), "f32")], batch=1)
    for op in module.main.ops:
        if op.name in ("nn.conv2d", "nn.max_pool2d"):
            op.attrs["padding"] = [[0, 1], [1, 0]]
    with pytest.raises(IrcError) as info:
        emit_caffe(module, str(tmp_path / "out"))
    message = str(info.value)
    assert "2 problems" in message and message.count("asymmetric padding [[0, 1], [1, 0]]") == 2
    assert not (tmp_path / "out" / "deploy.prototxt").exists()


def test_classic_prototxt_through_ir_back_to_caffe(tmp_path):
    """Caffe → IR → Caffe: the Scale, Power, PReLU, Slice and Permute forms written back run in OpenCV alike."""
    prototxt, caffemodel = _classic(tmp_path)
    module = import_caffe(prototxt, weights=caffemodel)
    emit_caffe(module, str(tmp_path / "again"))
    x = _input((1, 3, 23, 23), seed=7)
    first = CaffeRuntime(prototxt, weights=caffemodel)
    second = CaffeRuntime(str(tmp_path / "again"))
    names = _source_names(prototxt, caffemodel)
    theirs = dict(zip(second.output_names, second(x), strict=True))
    for layer, ref in zip(first.output_names, first(x), strict=True):
        verdict = compare(ref, theirs[names[layer]], "pass")
        assert verdict.ok, verdict.line(layer)


# ----------------------------------------------------------------------------- the OpenCV runtime and bisection


def _break_layer(caffemodel: str, victim: str, factor: float = 1.05) -> None:
    net = schema.parse_binary(open(caffemodel, "rb").read())
    for layer in net.layer:
        if layer.name == victim:
            arr = schema.blob_array(layer.blobs[0])
            del layer.blobs[0].data[:]
            layer.blobs[0].data.extend((arr * factor).ravel().tolist())
    with open(caffemodel, "wb") as f:
        f.write(net.SerializeToString())


def test_bisect_through_opencv_names_the_broken_layer(tmp_path):
    from irc.bisect import IrRuntime, run_bisect

    _, module, _ = _seed_module("resnet50", "canonicalize,dce")
    out_dir = str(tmp_path / "r")
    emit_caffe(module, out_dir)
    clean = run_bisect(module, IrRuntime(module), CaffeRuntime(out_dir, module), "pass", "OpenCV")
    assert clean.culprit is None and clean.compared > 60
    _break_layer(os.path.join(out_dir, "model.caffemodel"), "layer2.0.conv1")
    broken = run_bisect(module, IrRuntime(module), CaffeRuntime(out_dir, module), "pass", "OpenCV")
    assert broken.culprit is not None and broken.culprit.name == "layer2.0.conv1"
    assert broken.culprit.op.name == "nn.conv2d"


def test_bisect_a_caffe_source_through_its_layer_names(tmp_path):
    """A prototxt irc did not write: OpenCV's layer names go through the importer's source_names."""
    from irc.bisect import IrRuntime, run_bisect

    prototxt, caffemodel = _classic(tmp_path)
    importer = CaffeImporter(load_net(prototxt), load_blobs(caffemodel), "classic")
    module = importer.run()
    assert importer.source_names["conv1_relu"] == "conv1_relu" and importer.source_names["conv1"] == "conv1"
    runtime = CaffeRuntime(prototxt, names=importer.source_names, weights=caffemodel)
    clean = run_bisect(module, IrRuntime(module), runtime, "pass", "OpenCV")
    assert clean.culprit is None and clean.compared >= 25
    _break_layer(caffemodel, "res_b", 1.2)
    runtime = CaffeRuntime(prototxt, names=importer.source_names, weights=caffemodel)
    broken = run_bisect(module, IrRuntime(module), runtime, "pass", "OpenCV")
    assert broken.culprit is not None and broken.culprit.name == "res_b"


def test_runtime_interface(tmp_path):
    prototxt, caffemodel = _classic(tmp_path)
    runtime = CaffeRuntime(prototxt, weights=caffemodel)
    assert [t.shape for t in runtime.input_types] == [(1, 3, 23, 23)] and runtime.output_names == ["prob", "gpool",
                                                                                                    "permute"]
    x = _input((1, 3, 23, 23))
    named = dict(runtime.run_named([x], {"pool1", "prob"}))
    assert sorted(named) == ["pool1", "prob"] and named["pool1"].shape == (1, 8, 6, 6)
    assert torch.allclose(named["prob"], runtime(x)[0])
    with pytest.raises(IrcError, match="OpenCV cannot read"):
        CaffeRuntime(str(tmp_path / "missing.prototxt"))


def test_darknet_runtime_runs_a_cfg(tmp_path):
    """DarknetRuntime (used by the Darknet frontend's tests): a convolutional + maxpool .cfg with random .weights."""
    cfg = tmp_path / "tiny.cfg"
    cfg.write_text("[net]\nwidth=16\nheight=16\nchannels=3\n\n[convolutional]\nfilters=4\nsize=3\nstride=1\npad=1\n"
                   "activation=leaky\n\n[maxpool]\nsize=2\nstride=2\n")
    rng = np.random.default_rng(0)
    bias, weight = rng.standard_normal(4).astype(np.float32), rng.standard_normal((4, 3, 3, 3)).astype(np.float32)
    header = np.array([0, 2, 0], np.int32).tobytes() + np.array([0], np.int64).tobytes()
    (tmp_path / "tiny.weights").write_bytes(header + bias.tobytes() + weight.tobytes())
    runtime = DarknetRuntime(str(cfg), weights=str(tmp_path / "tiny.weights"))
    assert [t.shape for t in runtime.input_types] == [(1, 3, 16, 16)]
    x = _input((1, 3, 16, 16))
    out = runtime(x)[0]
    y = torch.nn.functional.conv2d(x, torch.from_numpy(weight), torch.from_numpy(bias), padding=1)
    ref = torch.nn.functional.max_pool2d(torch.nn.functional.leaky_relu(y, 0.1), 2)
    verdict = compare(ref, out, "pass")
    assert verdict.ok, verdict.line()
    assert len(dict(runtime.run_named([x]))) >= 2


# ----------------------------------------------------------------------------- the command line


def test_irc_import_and_emit_command_line(tmp_path):
    from irc.tools.irc_emit import main as emit_main
    from irc.tools.irc_import import main as import_main

    prototxt, caffemodel = _classic(tmp_path)
    ir_path = str(tmp_path / "classic.ir")
    assert import_main([prototxt, "--weights", caffemodel, "-o", ir_path, "-q"]) == 0
    out_dir = str(tmp_path / "caffe_out")
    assert emit_main([ir_path, "--target", "caffe", "-o", out_dir, "-q"]) == 0
    assert sorted(os.listdir(out_dir)) == ["deploy.prototxt", "model.caffemodel"]
    assert import_main([prototxt, "-o", str(tmp_path / "x.ir"), "-q"]) == 1  # no --weights
