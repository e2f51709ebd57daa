"""irc-import of Keras 3 models (torch backend): keras.applications CNNs and a Tiny-YOLO-v2-style net,
imported channel-last and checked against Keras, then made channel-first by nhwc-to-nchw and checked
again as emitted PyTorch, with no nn.transpose left inside the graph."""

from __future__ import annotations

import os

os.environ["KERAS_BACKEND"] = "torch"

import keras  # noqa: E402  (the test extra installs it: a missing Keras fails, never skips)
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

# Keras' torch backend calls np.array on tensors the NumPy 2 way numpy warns about, thousands of times
pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation doesn't accept a copy keyword")

PIPELINE = "nhwc-to-nchw,canonicalize,fuse-bn,fold-constants,cse,dce"


def randomize(model, seed=0):
    """Every weight random (seeded); BN moving variances positive, so nothing is trivially identity."""
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        new = []
        for w in layer.weights:
            shape = tuple(w.shape)
            if w.path.endswith("/count"):  # Normalization's sample count: kept
                new.append(keras.ops.convert_to_numpy(w))
            elif "variance" in w.path:
                new.append(rng.uniform(0.5, 1.5, shape).astype("float32"))
            elif "mean" in w.path or "beta" in w.path or "bias" in w.path:
                new.append(rng.normal(0, 0.1, shape).astype("float32"))
            elif "gamma" in w.path:
                new.append(rng.uniform(0.5, 1.5, shape).astype("float32"))
            else:
                fan_in = int(np.prod(shape[:-1])) if len(shape) > 1 else 1
                new.append(rng.normal(0, 1.0 / np.sqrt(max(fan_in, 1)), shape).astype("float32"))
        if new:
            layer.set_weights(new)
    return model


def keras_run(model, x):
    out = model(x, training=False)
    outs = out if isinstance(out, (list, tuple)) else [out]
    return [keras.ops.convert_to_numpy(o) for o in outs]


def transposes(module):
    return sum(op.name == "nn.transpose" for op in module.ops())


def save_and_import(model, tmp_path):
    import irc

    path = os.path.join(str(tmp_path), f"{model.name}.keras")
    model.save(path)
    return irc.import_keras(path)


def nhwc_inputs(model, batch=2, seed=0):
    g = torch.Generator().manual_seed(seed)
    return [torch.randn([batch if d is None else d for d in t.shape], generator=g) for t in model.inputs]


def assert_all_close(ref, got):
    from irc.fidelity import assert_close

    got = got if isinstance(got, (list, tuple)) else [got]
    assert len(got) == len(ref)
    for r, o in zip(ref, got, strict=True):
        assert_close(r, o.detach().numpy(), rule="pass")


def check_model(model, tmp_path, pipeline=PIPELINE, emit=True, inner=0, xs=None):
    """.keras round trip; the IR (NHWC) vs Keras; after `pipeline` the IR again, no nn.transpose inside the
    graph; then the emitted PyTorch (the signature stays NHWC: the pass transposes at the boundary). `xs`:
    the inputs (default: seeded normal ones)."""
    import irc
    from irc.backend.pytorch.executor import Executor
    from irc.check import import_emitted

    module = save_and_import(model, tmp_path)
    xs = nhwc_inputs(model) if xs is None else xs
    ref = keras_run(model, xs if len(xs) > 1 else xs[0])
    assert_all_close(ref, Executor(module)(*xs))
    before = transposes(module)
    irc.run_passes(module, pipeline)
    after = transposes(module)
    print(f"{model.name}: nn.transpose before {before}, after {after} (boundary {after - len(inner_transposes(module))})")
    assert_all_close(ref, Executor(module)(*xs))
    if emit:
        out_dir = os.path.join(str(tmp_path), "emitted")
        os.makedirs(out_dir, exist_ok=True)
        irc.emit_pytorch(module, out_dir)
        with torch.no_grad():
            assert_all_close(ref, import_emitted(out_dir).load()(*xs))
    assert len(inner_transposes(module)) == inner, [str(op) for op in inner_transposes(module)]
    return module


def inner_transposes(module):
    """Transposes that are not at the function's boundary (right after an argument or right before return)."""
    args = set(map(id, module.main.args))
    rets = set(map(id, module.main.ret.operands)) if hasattr(module.main, "ret") else set()
    return [op for op in module.ops() if op.name == "nn.transpose"
            and id(op.operands[0]) not in args and id(op.results[0]) not in rets]


def tiny_yolo(size=64):
    """Tiny-YOLO-v2 style: Conv2D (no bias) + BN + LeakyReLU(0.1), max pools incl. a stride-1 'same' pool,
    ZeroPadding2D, a passthrough Concatenate(axis=-1)."""
    layers = keras.layers
    x = inp = keras.Input((size, size, 3), name="image")

    def block(x, filters, name, k=3):
        x = layers.Conv2D(filters, k, padding="same", use_bias=False, name=f"{name}_conv")(x)
        x = layers.BatchNormalization(name=f"{name}_bn")(x)
        return layers.LeakyReLU(negative_slope=0.1, name=f"{name}_leaky")(x)

    x = block(x, 8, "c1")
    x = layers.MaxPooling2D(2, name="p1")(x)
    x = block(x, 16, "c2")
    x = layers.MaxPooling2D(2, name="p2")(x)
    skip = block(x, 16, "c3")
    x = layers.ZeroPadding2D(((0, 1), (0, 1)), name="pad")(skip)
    x = layers.MaxPooling2D(2, strides=1, name="p3")(x)
    x = layers.MaxPooling2D(3, strides=1, padding="same", name="p4")(x)
    x = block(x, 32, "c4")
    x = layers.Concatenate(axis=-1, name="route")([x, skip])
    x = layers.Conv2D(5 * 7, 1, name="head")(x)
    return keras.Model(inp, x, name="tiny_yolo")


def applications():
    apps = keras.applications
    return {
        "mobilenet_v1": lambda: apps.MobileNet(input_shape=(64, 64, 3), alpha=0.25, weights=None, classes=10),
        "mobilenet_v2": lambda: apps.MobileNetV2(input_shape=(64, 64, 3), alpha=0.35, weights=None, classes=10),
        "resnet50": lambda: apps.ResNet50(input_shape=(64, 64, 3), weights=None, classes=10),
        "vgg16": lambda: apps.VGG16(input_shape=(32, 32, 3), weights=None, classes=10),
        "inception_v3": lambda: apps.InceptionV3(input_shape=(75, 75, 3), weights=None, classes=10),
        "densenet121": lambda: apps.DenseNet121(input_shape=(32, 32, 3), weights=None, classes=10),
        # Normalization and Rescaling in front, squeeze-and-excite blocks (GlobalAveragePooling2D, Reshape, Multiply)
        "efficientnet_b0": lambda: apps.EfficientNetB0(input_shape=(32, 32, 3), weights=None, classes=10),
        # LayerNormalization over the channels of an NHWC tensor, Dense on 4-D tensors (a 1x1 conv), LayerScale,
        # keras.ops.add residuals
        "convnext_tiny": lambda: apps.ConvNeXtTiny(input_shape=(32, 32, 3), weights=None, classes=10),
        # SeparableConv2D without bias + BatchNormalization: fuse-bn names the new bias `.../pointwise_bias`
        "xception": lambda: apps.Xception(input_shape=(71, 71, 3), weights=None, classes=10),
    }


QUICK = ["mobilenet_v1", "mobilenet_v2"]
SLOW = ["resnet50", "vgg16", "inception_v3", "densenet121", "efficientnet_b0", "convnext_tiny", "xception"]
MODELS = [pytest.param(n) for n in QUICK] + [pytest.param(n, marks=pytest.mark.slow) for n in SLOW]




@pytest.mark.parametrize("name", MODELS)
def test_application(name, tmp_path):
    model = randomize(applications()[name]())
    # ResNet50's ZeroPadding2D reads the argument before any conv: nhwc-to-nchw transposes the argument at the
    # entry, so the pad runs channel-first and no transpose is left inside
    check_model(model, tmp_path, PIPELINE)


def test_tiny_yolo(tmp_path):
    """fuse-bn gives a bias-less Keras conv the key `c1_conv/bias` (beside `c1_conv/kernel`), so the emitted
    PyTorch takes the fused model."""
    model = randomize(tiny_yolo())
    check_model(model, tmp_path, PIPELINE)


def layer_zoo():
    """Two inputs, two outputs, a nested Sequential, and every other layer family the importer reads."""
    layers = keras.layers
    a = keras.Input((16, 16, 4), name="a")
    b = keras.Input((16, 16, 4), name="b")
    x = layers.Rescaling(0.5, offset=-1.0, name="rescale")(a)
    x = layers.SeparableConv2D(8, 3, padding="same", activation="relu6", name="sep")(x)
    x = layers.DepthwiseConv2D(3, strides=2, padding="same", depth_multiplier=2, activation="swish", name="dw")(x)
    x = layers.Conv2DTranspose(8, 3, strides=2, padding="same", activation="gelu", name="deconv")(x)
    x = layers.PReLU(shared_axes=[1, 2], name="prelu")(x)
    y = layers.Conv2D(8, 3, padding="same", dilation_rate=2, activation="hard_sigmoid", name="dil")(b)
    x = layers.Add(name="add")([x, y])
    x = layers.Subtract(name="sub")([x, layers.ELU(0.5, name="elu")(y)])
    x = layers.Multiply(name="mul")([x, layers.Activation("tanh", name="tanh")(y)])
    x = layers.Average(name="avg")([x, y, layers.ReLU(max_value=4.0, negative_slope=0.1, name="relu")(y)])
    x = layers.Maximum(name="max")([x, layers.Activation("selu", name="selu")(y)])
    x = layers.Minimum(name="min")([x, layers.Activation("hard_swish", name="hswish")(y)])
    # Keras' torch backend pads an asymmetric 'same' pool with replicated edges (TensorFlow leaves the padding
    # out of the divisor; irc does as TensorFlow does), so the average pool here pads symmetrically
    x = layers.AveragePooling2D(3, strides=1, padding="same", name="avgpool")(x)
    x = layers.MaxPooling2D(3, strides=2, padding="same", name="maxpool")(x)
    x = layers.Cropping2D(((1, 0), (0, 1)), name="crop")(x)
    x = layers.UpSampling2D(2, name="up_nearest")(x)
    x = layers.UpSampling2D(2, interpolation="bilinear", name="up_bilinear")(x)
    x = layers.LayerNormalization(name="ln")(x)
    x = layers.Conv2D(6, 1, activation="softplus", name="proj")(x)
    seq = keras.Sequential([keras.Input((28, 28, 6)), layers.Conv2D(6, 3, activation="elu", name="inner_conv"),
                            layers.BatchNormalization(scale=False, name="inner_bn")], name="inner")
    x = seq(x)
    pooled = layers.GlobalMaxPooling2D(keepdims=True, name="gmax")(x)
    x = layers.Multiply(name="gate")([x, layers.Activation("sigmoid", name="sig")(pooled)])
    x = layers.MaxPooling2D(2, name="pool")(x)
    head = layers.Flatten(name="flatten")(x)
    head = layers.Dropout(0.5, name="drop")(head)
    head = layers.Dense(10, activation="softmax", name="fc")(head)
    side = layers.Permute((3, 1, 2), name="permute")(x)
    side = layers.Reshape((6, -1), name="reshape")(side)
    side = layers.Softmax(axis=1, name="softmax")(side)
    side = layers.Dense(5, activation="leaky_relu", name="side_fc")(side)
    return keras.Model([a, b], [head, side], name="zoo")


def test_layer_zoo(tmp_path):
    check_model(randomize(layer_zoo()), tmp_path)


def test_names_and_keys(tmp_path):
    """Values are named after layers, params keyed by the Keras variable path, ops located at the layer."""
    module = save_and_import(randomize(tiny_yolo()), tmp_path)
    keys = {op.attrs["key"] for op in module.ops() if op.name == "nn.param"}
    assert {"c1_conv/kernel", "c1_bn/gamma", "c1_bn/moving_variance", "head/kernel", "head/bias"} <= keys
    conv = next(op for op in module.ops() if op.name == "nn.conv2d")
    assert conv.attrs["layout"] == "nhwc" and conv.results[0].name == "c1_conv" and conv.loc.name == "c1_conv"
    assert [a.name for a in module.main.args] == ["image"]


def test_unsupported_layers_listed_at_once():
    import irc
    from irc.ir import IrcError

    class Scale(keras.layers.Layer):
        def call(self, x):
            return x * 2.0

    layers = keras.layers
    x = inp = keras.Input((8, 8, 3), name="x")
    x = Scale(name="custom_a")(x)
    x = layers.Conv2D(4, 3, name="conv")(x)
    x = Scale(name="custom_b")(x)
    c = Scale(name="custom_c")(inp)
    t = layers.ReLU(threshold=0.5, name="thresh")(inp)
    y = layers.Activation("mish", name="mish")(inp)
    with pytest.raises(IrcError) as err:
        irc.import_keras(keras.Model(inp, [x, c, t, y], name="bad"))
    msg = str(err.value)
    assert msg.startswith("cannot import bad: 3 unsupported ops (4 nodes); nothing was written"), msg
    for where in ("layer custom_a", "layer custom_c", "layer thresh", "layer mish"):
        assert where in msg, msg
    assert "layer custom_b" not in msg  # its input failed already (reported once, where it happened)


def test_unbuilt_model_refused():
    import irc
    from irc.ir import IrcError

    with pytest.raises(IrcError, match="is not built"):
        irc.import_keras(keras.Sequential([keras.layers.Dense(2)], name="unbuilt"))


def test_h5(tmp_path):
    import irc
    from irc.backend.pytorch.executor import Executor
    from irc.frontend.keras import is_keras_file

    model = randomize(tiny_yolo(32))
    path = os.path.join(str(tmp_path), "ty.h5")
    model.save(path)
    assert is_keras_file(path) and not is_keras_file(__file__)
    module = irc.import_keras(path)
    xs = nhwc_inputs(model)
    assert_all_close(keras_run(model, xs[0]), Executor(module)(*xs))


def test_cli(tmp_path):
    import irc
    from irc.backend.pytorch.executor import Executor
    from irc.tools.irc_import import main

    model = randomize(tiny_yolo(32))
    path = os.path.join(str(tmp_path), "ty.keras")
    model.save(path)
    out = os.path.join(str(tmp_path), "ty.ir")
    assert main([path, "-o", out, "-q"]) == 0
    module = irc.load(out)
    xs = nhwc_inputs(model)
    assert_all_close(keras_run(model, xs[0]), Executor(module)(*xs))


def _single(build, shape=(9, 9, 4)):
    def make():
        x = keras.Input(shape, name="x")
        return keras.Model(x, build(keras.layers, x), name="single")

    return make


SINGLE = {
    "conv_same_s2_even": _single(lambda L, x: L.Conv2D(3, 4, strides=2, padding="same")(x), (10, 10, 4)),
    "conv_same_s3": _single(lambda L, x: L.Conv2D(3, 3, strides=3, padding="same")(x), (10, 11, 4)),
    "conv_groups": _single(lambda L, x: L.Conv2D(6, 3, groups=2, padding="same", activation="relu")(x)),
    "sep_dm2_s2": _single(lambda L, x: L.SeparableConv2D(5, 3, strides=2, depth_multiplier=2, padding="same")(x)),
    "tconv_valid_k3": _single(lambda L, x: L.Conv2DTranspose(3, 3, strides=2)(x)),
    "tconv_valid_k1": _single(lambda L, x: L.Conv2DTranspose(3, 1, strides=2)(x)),
    "tconv_valid_op1": _single(lambda L, x: L.Conv2DTranspose(3, 3, strides=2, output_padding=1)(x)),
    "tconv_same_k4": _single(lambda L, x: L.Conv2DTranspose(3, 4, strides=2, padding="same")(x)),
    "maxpool_same_odd": _single(lambda L, x: L.MaxPooling2D(2, padding="same")(L.Conv2D(4, 1)(x))),
    "avgpool_valid": _single(lambda L, x: L.AveragePooling2D(2)(L.Conv2D(4, 1)(x))),
    "dense_rank4": _single(lambda L, x: L.Dense(5, activation="tanh")(x)),
    "dense_bn": _single(lambda L, x: L.BatchNormalization()(L.Dense(5)(L.Flatten()(L.Conv2D(3, 3)(x))))),
    "gap_dense": _single(lambda L, x: L.Dense(5)(L.GlobalAveragePooling2D()(L.Conv2D(6, 3)(x)))),
    "layer_norm_hwc": _single(lambda L, x: L.LayerNormalization(axis=[1, 2, 3])(L.Conv2D(4, 1)(x))),
    "concat_axis1": _single(lambda L, x: L.Concatenate(axis=1)([L.Conv2D(4, 1)(x), x])),
    "upsample_bilinear3": _single(lambda L, x: L.UpSampling2D(3, interpolation="bilinear")(L.Conv2D(4, 1)(x))),
    "normalization": _single(lambda L, x: L.Normalization(mean=[0.1, -0.2, 0.3, 0.0], variance=[0.5, 2.0, 1.0, 3.0])(x)),
    "normalization_invert": _single(lambda L, x: L.Normalization(mean=[0.1, -0.2, 0.3, 0.0],
                                                                 variance=[0.5, 2.0, 1.0, 3.0], invert=True)(x)),
    "relu_slope": _single(lambda L, x: L.ReLU(negative_slope=0.2, max_value=1.0)(L.Conv2D(4, 1)(x))),
}


@pytest.mark.parametrize("name", sorted(SINGLE))
def test_single_layer(name, tmp_path):
    check_model(randomize(SINGLE[name]()), tmp_path)


def _recurrent(kind, **kwargs):
    def make():
        x = keras.Input((7, 5), name="seq")
        return keras.Model(x, getattr(keras.layers, kind)(6, name="rnn", **kwargs)(x), name="recurrent")

    return make


def _bidirectional(kind, merge_mode="concat", **kwargs):
    def make():
        x = keras.Input((7, 5), name="seq")
        layer = getattr(keras.layers, kind)(6, **kwargs)
        return keras.Model(x, keras.layers.Bidirectional(layer, merge_mode=merge_mode, name="bi")(x), name="bi_rnn")

    return make


RECURRENT = {
    "lstm_last": _recurrent("LSTM"),
    "lstm_sequences": _recurrent("LSTM", return_sequences=True),
    "lstm_no_bias": _recurrent("LSTM", return_sequences=True, use_bias=False),
    "gru_last": _recurrent("GRU"),
    "gru_sequences": _recurrent("GRU", return_sequences=True),
    "simple_rnn_last": _recurrent("SimpleRNN"),
    "simple_rnn_relu_sequences": _recurrent("SimpleRNN", activation="relu", return_sequences=True),
    "bi_lstm_last": _bidirectional("LSTM"),
    "bi_lstm_sequences": _bidirectional("LSTM", return_sequences=True),
    "bi_gru_sequences": _bidirectional("GRU", return_sequences=True),
    "bi_gru_last": _bidirectional("GRU"),
    "bi_simple_rnn_sequences": _bidirectional("SimpleRNN", return_sequences=True),
}


@pytest.mark.parametrize("name", sorted(RECURRENT))
def test_recurrent(name, tmp_path):
    """Keras' kernels [in, G*units] become PyTorch's [G*units, in] in PyTorch's gate order (GRU z,r,h -> r,z,n)."""
    module = check_model(randomize(RECURRENT[name]()), tmp_path)
    assert sum(op.name in ("nn.lstm", "nn.gru", "nn.rnn") for op in module.ops()) == 1


def text_classifier(vocab=50, length=12):
    """Embedding + Bidirectional(LSTM) + Dense, on integer tokens."""
    layers = keras.layers
    x = inp = keras.Input((length,), dtype="int32", name="tokens")
    x = layers.Embedding(vocab, 8, name="embed")(x)
    x = layers.Bidirectional(layers.LSTM(6, return_sequences=True), name="bi_seq")(x)
    x = layers.Bidirectional(layers.LSTM(5), name="bi_last")(x)
    x = layers.Dense(3, activation="softmax", name="fc")(x)
    return keras.Model(inp, x, name="text_classifier")


def test_text_classifier(tmp_path):
    vocab = 50
    model = randomize(text_classifier(vocab))
    g = torch.Generator().manual_seed(0)
    tokens = torch.randint(0, vocab, (2, 12), generator=g, dtype=torch.int32)
    module = check_model(model, tmp_path, xs=[tokens])
    assert any(op.name == "nn.gather" for op in module.ops())


def test_recurrent_refusals():
    """What PyTorch's modules cannot express is listed, not imported wrongly."""
    import irc
    from irc.ir import IrcError

    layers = keras.layers
    x = keras.Input((7, 5), name="seq")
    ids = keras.Input((3,), dtype="int32", name="ids")
    outs = [layers.LSTM(4, go_backwards=True, name="backwards")(x),
            layers.GRU(4, reset_after=False, name="gru_v1")(x),
            layers.Bidirectional(layers.LSTM(4), merge_mode="sum", name="bi_sum")(x),
            layers.Embedding(10, 4, mask_zero=True, name="masked")(ids)]
    with pytest.raises(IrcError) as err:
        irc.import_keras(keras.Model([x, ids], outs, name="bad_rnn"))
    msg = str(err.value)
    for where in ("layer backwards", "layer gru_v1", "layer bi_sum", "layer masked"):
        assert where in msg, msg


def transformer_block(length=6, dim=8):
    """A Keras transformer encoder block: self-attention and cross-attention (value_dim, output_shape) with
    residuals and LayerNormalization, then a feed-forward Dense pair."""
    layers = keras.layers
    x = inp = keras.Input((length, dim), name="tokens")
    memory = keras.Input((length + 3, dim), name="memory")
    a = layers.MultiHeadAttention(2, 4, name="self_att")(x, x)
    x = layers.LayerNormalization(name="ln1")(layers.Add(name="res1")([inp, a]))
    c = layers.MultiHeadAttention(3, 2, value_dim=5, output_shape=dim, name="cross_att")(x, memory, memory)
    x = layers.LayerNormalization(name="ln2")(layers.Add(name="res2")([x, c]))
    f = layers.Dense(dim, name="ff2")(layers.Dense(16, activation="gelu", name="ff1")(x))
    return keras.Model([inp, memory], layers.Add(name="res3")([x, f]), name="transformer_block")


def test_multi_head_attention(tmp_path):
    model = randomize(transformer_block())
    g = torch.Generator().manual_seed(0)
    xs = [torch.randn(2, 6, 8, generator=g), torch.randn(2, 9, 8, generator=g)]
    module = check_model(model, tmp_path, xs=xs, inner=8)  # the heads' split and merge, 4 per attention, as in torch
    assert sum(op.name == "nn.scaled_dot_product_attention" for op in module.ops()) == 2
    keys = {op.attrs["key"] for op in module.ops() if op.name == "nn.param"}
    assert {"self_att/query/kernel", "cross_att/attention_output/kernel"} <= keys, sorted(keys)


def test_multi_head_attention_refusals():
    import irc
    from irc.ir import IrcError

    layers = keras.layers
    x = keras.Input((6, 8), name="tokens")
    outs = [layers.MultiHeadAttention(2, 4, use_gate=True, name="gated")(x, x),
            layers.MultiHeadAttention(2, 4, name="masked")(x, x, attention_mask=keras.ops.ones((1, 6, 6), "bool"))]
    with pytest.raises(IrcError) as err:
        irc.import_keras(keras.Model(x, outs, name="bad_att"))
    msg = str(err.value)
    for where in ("layer gated", "layer masked"):
        assert where in msg, msg
