"""Subclassed Keras models (no functional graph) imported through torch.export on the torch backend: params
keyed by the Keras variable paths, values named after the layers; the IR, the layout-cleaned IR and the emitted
PyTorch match Keras within the "pass" rule, with random weights and BatchNorm statistics."""

from __future__ import annotations

import os

os.environ["KERAS_BACKEND"] = "torch"

import keras  # noqa: E402  (the test extra installs it: a missing Keras fails, never skips)
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation doesn't accept a copy keyword")

PIPELINE = "nhwc-to-nchw,canonicalize,fuse-bn,fold-constants,cse,dce"


class ConvNet(keras.Model):
    """conv + BN + relu + pool, twice, then flatten + dense."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.conv1 = keras.layers.Conv2D(8, 3, padding="same", name="conv1")
        self.bn1 = keras.layers.BatchNormalization(name="bn1")
        self.pool1 = keras.layers.MaxPooling2D(2, name="pool1")
        self.conv2 = keras.layers.Conv2D(16, 3, padding="same", use_bias=False, name="conv2")
        self.bn2 = keras.layers.BatchNormalization(name="bn2")
        self.pool2 = keras.layers.AveragePooling2D(2, name="pool2")
        self.flat = keras.layers.Flatten(name="flat")
        self.fc = keras.layers.Dense(10, name="fc")

    def call(self, x, training=False):
        x = self.pool1(keras.ops.relu(self.bn1(self.conv1(x), training=training)))
        x = self.pool2(keras.ops.relu(self.bn2(self.conv2(x), training=training)))
        return self.fc(self.flat(x))


class Scale(keras.layers.Layer):
    """A layer irc has no handler for: its call is imported op by op from the export, its variable by path."""

    def build(self, input_shape):
        self.scale = self.add_weight(shape=(input_shape[-1],), initializer="ones", name="scale")

    def call(self, x):
        return x * self.scale


class ResidualNet(keras.Model):
    """A stem conv, a residual block joined with keras.ops.add, global average pooling and a dense head."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.stem = keras.layers.Conv2D(8, 3, padding="same", name="stem")
        self.stem_bn = keras.layers.BatchNormalization(name="stem_bn")
        self.conv_a = keras.layers.Conv2D(8, 3, padding="same", name="conv_a")
        self.bn_a = keras.layers.BatchNormalization(name="bn_a")
        self.conv_b = keras.layers.Conv2D(8, 3, padding="same", name="conv_b")
        self.bn_b = keras.layers.BatchNormalization(name="bn_b")
        self.scale = Scale(name="scale")
        self.head = keras.layers.Dense(5, name="head")

    def call(self, x, training=False):
        x = keras.ops.relu(self.stem_bn(self.stem(x), training=training))
        y = keras.ops.relu(self.bn_a(self.conv_a(x), training=training))
        y = self.bn_b(self.conv_b(y), training=training)
        x = keras.ops.relu(keras.ops.add(x, self.scale(y)))
        return keras.ops.softmax(self.head(keras.ops.mean(x, axis=(1, 2))))


def randomize(model, seed=0):
    """Every variable random (seeded); BN moving variances and gammas positive, means and betas nonzero."""
    rng = np.random.default_rng(seed)
    for v in model.variables:
        shape = tuple(v.shape)
        if "variance" in v.path or "gamma" in v.path:
            v.assign(rng.uniform(0.5, 1.5, shape).astype("float32"))
        elif "mean" in v.path or "beta" in v.path or "bias" in v.path:
            v.assign(rng.normal(0, 0.3, shape).astype("float32"))
        else:
            fan_in = int(np.prod(shape[:-1])) if len(shape) > 1 else 1
            v.assign(rng.normal(0, 1.0 / np.sqrt(max(fan_in, 1)), shape).astype("float32"))
    return model


def built(cls, name, shape=(16, 16, 3), seed=0):
    model = cls(name=name)
    model(np.zeros((1,) + shape, "float32"))
    return randomize(model, seed)


def seeded_input(shape=(16, 16, 3), seed=0):
    return torch.randn((1,) + shape, generator=torch.Generator().manual_seed(seed))


def keras_out(model, x):
    return keras.ops.convert_to_numpy(model(x, training=False))


def transposes(module):
    return sum(op.name == "nn.transpose" for op in module.ops())


def param_keys(module):
    return {op.attrs["key"] for op in module.ops() if op.name == "nn.param"}


def inner_transposes(module):
    """Transposes not right after an argument (the NHWC interface's, kept at the signature)."""
    args = set(map(id, module.main.args))
    return [op for op in module.ops() if op.name == "nn.transpose" and id(op.operands[0]) not in args]


def check(model, tmp_path, x):
    """The IR vs Keras, then after PIPELINE the IR and the emitted PyTorch vs Keras; returns the module and its
    transpose count before the passes."""
    import irc
    from irc.backend.pytorch.executor import Executor
    from irc.check import import_emitted
    from irc.fidelity import assert_close

    ref = keras_out(model, x)
    module = irc.import_keras(model)
    assert_close(ref, Executor(module)(x)[0].detach().numpy(), rule="pass")
    before = transposes(module)
    irc.run_passes(module, PIPELINE)
    print(f"{model.name}: nn.transpose before {before}, after {transposes(module)}")
    assert_close(ref, Executor(module)(x)[0].detach().numpy(), rule="pass")
    out_dir = os.path.join(str(tmp_path), "emitted")
    irc.emit_pytorch(module, out_dir)
    with torch.no_grad():
        assert_close(ref, import_emitted(out_dir).load()(x).numpy(), rule="pass")
    return module, before


def test_convnet(tmp_path):
    import irc

    model = built(ConvNet, "convnet")
    raw = irc.import_keras(model)
    keys = param_keys(raw)
    assert {"convnet/conv1/kernel", "convnet/conv1/bias", "convnet/bn1/moving_mean", "convnet/bn2/moving_variance",
            "convnet/fc/kernel", "convnet/fc/bias"} <= keys
    assert not any(k.startswith("_folded") for k in keys), keys
    names = {v.name for op in raw.ops() for v in op.results}
    assert {"conv1", "bn1", "pool2", "fc"} <= {n.rsplit("_", 1)[0] if n[-1].isdigit() else n for n in names}
    locs = {op.loc.name for op in raw.ops() if op.name == "nn.conv2d"}
    assert locs == {"conv1", "conv2"}, locs
    kinds = {op.name for op in raw.ops()}
    assert {"nn.conv2d", "nn.batch_norm", "nn.linear"} <= kinds and "nn.transpose" not in kinds, kinds
    module, _ = check(model, tmp_path, seeded_input())
    assert not inner_transposes(module)
    assert "nn.batch_norm" not in {op.name for op in module.ops()}  # fuse-bn folded it into the convs
    conv_weights = {op.operands[1].owner.attrs.get("key") for op in module.ops() if op.name == "nn.conv2d"}
    assert conv_weights == {"convnet/conv1/kernel", "convnet/conv2/kernel"}, conv_weights


def test_residual(tmp_path):
    import irc

    model = built(ResidualNet, "resnet_sub", seed=1)
    raw = irc.import_keras(model)
    keys = param_keys(raw)
    assert {"resnet_sub/stem/kernel", "resnet_sub/bn_a/gamma", "resnet_sub/bn_b/beta", "resnet_sub/head/kernel",
            "resnet_sub/scale/scale"} <= keys, keys
    muls = [op for op in raw.ops() if op.name == "nn.mul"]
    assert [op.loc.name for op in muls] == ["scale"]
    module, _ = check(model, tmp_path, seeded_input(seed=1))
    adds = [op for op in module.ops() if op.name == "nn.add" and all(o.type.rank == 4 for o in op.operands)]
    assert adds, "the residual add is gone"
    assert not inner_transposes(module)
    assert [op.attrs["axes"] for op in module.ops() if op.name == "nn.mean"] == [[2, 3]]


def test_unbuilt_with_shapes():
    import irc
    from irc.backend.pytorch.executor import Executor
    from irc.fidelity import assert_close

    model = ConvNet(name="later")
    module = irc.import_keras(model, shapes=[(8, 8, 3)])  # export builds it
    assert module.main.args[0].type.shape == (1, 8, 8, 3)
    assert "later/conv2/kernel" in param_keys(module)
    x = seeded_input((8, 8, 3), seed=2)
    assert_close(keras_out(model, x), Executor(module)(x)[0].detach().numpy(), rule="pass")


def test_unbuilt_without_shapes_is_an_error():
    import irc
    from irc.ir import IrcError

    with pytest.raises(IrcError, match="never built.*shapes="):
        irc.import_keras(ConvNet(name="unbuilt"))


class Frozen(keras.layers.Layer):
    """Keeps a transposed copy of its kernel as a plain tensor (export lifts it as a constant of its own)."""

    def build(self, input_shape):
        self.kernel = self.add_weight(shape=(4, input_shape[-1]), initializer="glorot_uniform", name="kernel")

    def freeze(self):
        self.frozen = self.kernel.value.detach().t().contiguous()

    def call(self, x):
        frozen = getattr(self, "frozen", None)
        return keras.ops.matmul(x, keras.ops.transpose(self.kernel) if frozen is None else frozen)


class FrozenNet(keras.Model):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.proj = Frozen(name="proj")
        self.twice = keras.layers.Add(name="twice")

    def call(self, x, training=False):
        h = self.proj(x)
        return keras.ops.tanh(self.twice([h, h]))  # one tensor twice: imported op by op, never as Add([h])


def test_permuted_copy_of_a_variable_is_recovered():
    import irc
    from irc.backend.pytorch.executor import Executor
    from irc.fidelity import assert_close

    model = built(FrozenNet, "frozen", shape=(6,), seed=3)
    model.proj.freeze()
    x = seeded_input((6,), seed=3)
    module = irc.import_keras(model, shapes=[(6,)])
    assert param_keys(module) == {"frozen/proj/kernel"}
    assert [op.attrs["perm"] for op in module.ops() if op.name == "nn.transpose"] == [[1, 0]]
    assert_close(keras_out(model, x), Executor(module)(x)[0].detach().numpy(), rule="pass")


def test_a_handler_that_gives_up_is_rolled_back(monkeypatch):
    """A handler failing half-way leaves nothing behind: the call is imported op by op from the export."""
    import irc
    import irc.frontend.keras.subclassed as subclassed
    from irc.backend.pytorch.executor import Executor
    from irc.fidelity import assert_close
    from irc.frontend.core import Unsupported

    real = subclassed.IMPORTERS

    class Table:
        @staticmethod
        def lookup(name):
            if name != "BatchNormalization":
                return real.lookup(name)

            def half_way(importer, layer, ins):
                importer.weight(layer.gamma)
                importer.emit("relu", ins)
                raise Unsupported("gives up")

            return half_way

    monkeypatch.setattr(subclassed, "IMPORTERS", Table)
    model = built(ConvNet, "fallback", seed=4)
    module = irc.import_keras(model)
    kinds = [op.name for op in module.ops()]
    assert "nn.batch_norm" not in kinds and kinds.count("nn.relu") == 2, kinds
    assert {"fallback/bn1/gamma", "fallback/bn1/moving_variance"} <= param_keys(module)
    x = seeded_input(seed=4)
    assert_close(keras_out(model, x), Executor(module)(x)[0].detach().numpy(), rule="pass")
