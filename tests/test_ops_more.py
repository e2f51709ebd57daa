"""The ops beyond classifiers (issue 19): comparisons and boolean logic, where/masked_fill, arg-extrema, topk/sort,
cumsum, var/std, einsum, more unary math, 3-D convolution and pooling, 1-D pooling, 1-D/3-D interpolation,
gathers, roll/repeat/expand, pixel (un)shuffle, grid_sample, instance norm; and the torchvision models that need
them (swin_v2, video ResNets, segmentation).

Each case: a tiny module with random weights (and BatchNorm statistics) exported by irc's torch importer, then
run by the torch executor and by the emitted model.py (exact against torch: no pass ran), and written to ONNX and
run in onnxruntime (the "pass" rule).
"""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
import torch.nn as nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from helpers import randomize_  # noqa: E402
from test_emit_common import emit, import_model_py  # noqa: E402

from irc.fidelity import assert_close  # noqa: E402
from irc.ir import IrcError  # noqa: E402


class Fn(nn.Module):
    """A module computing `fn(*inputs)`, with optional buffers (index tensors) passed after the inputs."""

    def __init__(self, fn, **buffers):
        super().__init__()
        self.fn = fn
        self.names = list(buffers)
        for name, value in buffers.items():
            self.register_buffer(name, value)

    def forward(self, *xs):
        return self.fn(*xs, *[getattr(self, n) for n in self.names])


def _gen(seed):
    return torch.Generator().manual_seed(seed)


def randn(*shape, seed=0, scale=1.0):
    return torch.randn(shape, generator=_gen(seed)) * scale


def _as_tuple(out):
    return tuple(out) if isinstance(out, (tuple, list)) else (out,)


def _assert_same(refs, outs, rule, what):
    assert len(refs) == len(outs), what
    for i, (r, o) in enumerate(zip(refs, outs, strict=True)):
        o = torch.as_tensor(o)
        assert tuple(r.shape) == tuple(o.shape), f"{what} output {i}: shape {tuple(o.shape)}, not {tuple(r.shape)}"
        if r.dtype in (torch.bool, torch.int64, torch.int32):
            assert torch.equal(r, o.to(r.dtype)), f"{what} output {i} differs"
        else:
            assert_close(r, o, rule, name=f"{what} output {i}")


def check(model, inputs, tmp_path, opset=18, onnx_check=True, emitted=True, passes=None):
    """model(*inputs) vs the IR in the torch executor and the emitted model.py (exact), and in onnxruntime."""
    from irc.backend.pytorch.executor import Executor
    from irc.frontend.torch import import_model

    model = randomize_(model)
    with torch.no_grad():
        refs = _as_tuple(model(*inputs))
    types = [(tuple(x.shape[1:]), {torch.float32: "f32", torch.int64: "i64"}[x.dtype]) for x in inputs]
    module = import_model(model, types, batch=inputs[0].shape[0])
    if passes:
        from irc.passes.manager import run_passes

        module = run_passes(module, passes)
    rule = "pass" if passes else "exact"
    _assert_same(refs, Executor(module)(*inputs), rule, "executor")
    if emitted:
        emit(module, tmp_path / "py")
        loaded = import_model_py(tmp_path / "py").load()
        with torch.no_grad():
            _assert_same(refs, _as_tuple(loaded(*inputs)), rule, "emitted model.py")
    if onnx_check:
        import onnxruntime as ort

        from irc.backend.onnx import emit_onnx

        path = str(tmp_path / "m.onnx")
        emit_onnx(module, path, opset=opset)
        sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
        feeds = {i.name: x.numpy() for i, x in zip(sess.get_inputs(), inputs, strict=True)}
        _assert_same(refs, [torch.from_numpy(o) for o in sess.run(None, feeds)], "pass", f"onnxruntime (opset {opset})")
    return module


def _ops(module):
    return {op.name for op in module.ops()}


# ----------------------------------------------------------------------------- element-wise


def _half_equal(shape):
    """Two tensors equal in about half their elements (so eq/ne/le/ge see ties)."""
    x = randn(*shape, seed=1)
    y = torch.where(randn(*shape, seed=2) > 0, x, randn(*shape, seed=3))
    return x, y


def test_comparisons_with_tensors_and_scalars(tmp_path):
    m = check(Fn(lambda x, y: (x == y, x != y, x < y, x <= 0.5, x > y, x >= 0.25, x.eq(1), x < 1)),
              _half_equal((2, 3, 5)), tmp_path)
    assert "nn.compare" in _ops(m)


def test_boolean_logic(tmp_path):
    def fn(x, y):
        a, b = x > 0, y > 0
        return a & b, a | b, a ^ b, ~a, torch.logical_and(a, ~b), torch.logical_not(b)

    m = check(Fn(fn), [randn(2, 4, 5, seed=1), randn(2, 4, 5, seed=2)], tmp_path)
    assert {"nn.logical_and", "nn.logical_or", "nn.logical_xor", "nn.logical_not"} <= _ops(m)


def test_where_and_masked_fill(tmp_path):
    def fn(x, y):
        return (torch.where(x > 0, x, y), x.masked_fill(y < 0, -1.5), torch.where(x > y, x, 0.0),
                x.masked_fill(y > 0.5, float("-inf")).softmax(-1))

    m = check(Fn(fn), [randn(2, 4, 5, seed=1), randn(2, 4, 5, seed=2)], tmp_path)
    assert "nn.where" in _ops(m)


def test_unary_math(tmp_path):
    def fn(x):
        t = torch.tanh(x) * 0.9  # asin and acos are ill-conditioned near ±1
        return (torch.sin(x), torch.cos(x), torch.tan(t), torch.asin(t), torch.acos(t), torch.atan(x),
                torch.floor(x), torch.ceil(x), torch.round(x), torch.sign(x))

    x = randn(2, 3, 7, seed=4, scale=3.0)
    x[0, 0, :3] = torch.tensor([0.5, 1.5, -2.5])  # halves round to even
    m = check(Fn(fn), [x], tmp_path)
    assert {"nn.sin", "nn.cos", "nn.tan", "nn.asin", "nn.acos", "nn.atan", "nn.floor", "nn.ceil", "nn.round",
            "nn.sign"} <= _ops(m)


# ----------------------------------------------------------------------------- reductions and selections


def test_argmax_argmin(tmp_path):
    m = check(Fn(lambda x: (x.argmax(1, keepdim=True), x.argmin(-1), torch.argmax(x, 2))), [randn(2, 5, 6)],
              tmp_path)
    assert {"nn.argmax", "nn.argmin"} <= _ops(m)


def test_topk_and_sort(tmp_path):
    def fn(x):
        values, indices = torch.topk(x, 3, dim=1)
        smallest = torch.topk(x, 2, largest=False)
        ordered = torch.sort(x, dim=-1, descending=True)
        return values, indices, smallest.values, smallest.indices, ordered.values, ordered.indices, torch.sort(x)[0]

    m = check(Fn(fn), [randn(2, 5, 6)], tmp_path)
    assert {"nn.topk", "nn.sort"} <= _ops(m)


def test_cumsum_var_std(tmp_path):
    def fn(x):
        return (torch.cumsum(x, 1), torch.var(x, 1, correction=0), torch.std(x, (1, 2), keepdim=True),
                torch.var(x, -1), torch.std(x, 2, unbiased=False))

    m = check(Fn(fn), [randn(2, 5, 6, scale=2.0)], tmp_path)
    assert {"nn.cumsum", "nn.variance"} <= _ops(m)


def test_einsum_becomes_matmuls(tmp_path):
    """torch.export writes einsum as permutes, reshapes and a bmm: no op of its own."""
    w = randn(6, 4, seed=5)
    m = check(Fn(lambda x, y, w: (torch.einsum("bij,bjk->bik", x, y), torch.einsum("bhqd,hkd->bhqk", x.unsqueeze(1)
                                                                                         .expand(-1, 2, -1, -1), y
                                                                                         .transpose(1, 2)[:2]),
                                  torch.einsum("bij,jk->bik", y, w)), w=w),
              [randn(2, 5, 6, seed=1), randn(2, 6, 6, seed=2)], tmp_path)
    assert "nn.matmul" in _ops(m)


# ----------------------------------------------------------------------------- 3-D and 1-D convolution and pooling


def test_conv3d_and_3d_pooling(tmp_path):
    model = nn.Sequential(nn.Conv3d(3, 8, (3, 3, 3), stride=(1, 2, 2), padding=(1, 1, 1)), nn.BatchNorm3d(8),
                          nn.ReLU(), nn.MaxPool3d((1, 3, 3), (1, 2, 2), (0, 1, 1)),
                          nn.Conv3d(8, 8, (3, 1, 1), padding=(1, 0, 0), groups=2, bias=False),
                          nn.AvgPool3d(2, ceil_mode=True), nn.AdaptiveAvgPool3d((1, 2, 2)))
    m = check(model, [randn(1, 3, 4, 16, 16)], tmp_path)
    assert {"nn.conv3d", "nn.max_pool3d", "nn.avg_pool3d", "nn.adaptive_avg_pool3d"} <= _ops(m)
    # fuse-bn folds the 3-D batch norm into the convolution; nchw-to-nhwc makes the 3-D ops channels-last
    m = check(model, [randn(2, 3, 4, 16, 16)], tmp_path / "nhwc",
              passes="canonicalize,fuse-bn,fold-constants,cse,dce,nchw-to-nhwc")
    assert "nn.batch_norm" not in _ops(m)
    assert {op.attrs["layout"] for op in m.ops() if op.name in ("nn.conv3d", "nn.max_pool3d")} == {"nhwc"}


def test_1d_pooling(tmp_path):
    model = nn.Sequential(nn.Conv1d(3, 4, 3), nn.MaxPool1d(3, 2, 1), nn.AvgPool1d(2), nn.AdaptiveAvgPool1d(3))
    check(model, [randn(2, 3, 21)], tmp_path)
    check(Fn(lambda x: F.adaptive_max_pool1d(x, 4)), [randn(2, 3, 16)], tmp_path / "max")


@pytest.mark.parametrize("mode, align", [("nearest", None), ("linear", False), ("linear", True)])
def test_interpolate_1d(mode, align, tmp_path):
    model = Fn(lambda x: (F.interpolate(x, scale_factor=2, mode=mode, align_corners=align),
                          F.interpolate(x, size=11, mode=mode, align_corners=align)))
    m = check(model, [randn(2, 3, 8)], tmp_path)
    assert "nn.upsample" in _ops(m)
    m = check(model, [randn(2, 3, 8)], tmp_path / "nhwc", passes="nchw-to-nhwc")
    assert {op.attrs["layout"] for op in m.ops() if op.name == "nn.upsample"} == {"nhwc"}


@pytest.mark.parametrize("mode, align", [("nearest", None), ("trilinear", False), ("trilinear", True)])
def test_interpolate_3d(mode, align, tmp_path):
    m = check(Fn(lambda x: (F.interpolate(x, scale_factor=2, mode=mode, align_corners=align),
                            F.interpolate(x, size=(3, 5, 7), mode=mode, align_corners=align))),
              [randn(1, 2, 2, 4, 4)], tmp_path)
    assert "nn.upsample" in _ops(m)


# ----------------------------------------------------------------------------- data movement


def test_gathers(tmp_path):
    idx = torch.tensor([[0, 4, 2], [1, 1, 3]])
    full = torch.randint(0, 5, (2, 3, 6), generator=_gen(7))
    m = check(Fn(lambda x, idx, full, w: (torch.index_select(x, 1, idx[0]), torch.gather(x, 1, full),
                                          torch.gather(x, 2, idx.unsqueeze(0).expand(2, -1, -1)[:, :, :2]),
                                          F.embedding(idx, w)),
                 idx=idx, full=full, w=randn(5, 4, seed=8)),
              [randn(2, 5, 6)], tmp_path)
    assert {"nn.gather", "nn.gather_elements"} <= _ops(m)


def test_roll_repeat_expand(tmp_path):
    def fn(x):
        return (torch.roll(x, (1, -2), (1, 2)), x.repeat(2, 1, 3), x.repeat(2, 1, 1, 1), x[:, :1].expand(-1, 4, -1),
                x.unsqueeze(1).expand(2, 3, 5, 6))

    m = check(Fn(fn), [randn(2, 5, 6)], tmp_path)
    assert {"nn.roll", "nn.tile", "nn.expand"} <= _ops(m)


def test_pixel_shuffle_and_unshuffle(tmp_path):
    check(nn.Sequential(nn.PixelShuffle(2), nn.Conv2d(2, 8, 1), nn.PixelUnshuffle(2)), [randn(2, 8, 4, 6)], tmp_path)


def test_slice_scatter(tmp_path):
    """torchvision's swin_v2 zeroes a slice of a cloned parameter: a slice_scatter, written as slices and a concat."""
    check(Fn(lambda x, y: (x.slice_scatter(y, dim=1, start=1, end=3), x.slice_scatter(y[:, :1] * 2, dim=1, start=0,
                                                                                         end=1))),
          [randn(2, 5, 6, seed=1), randn(2, 2, 6, seed=2)], tmp_path)


@pytest.mark.parametrize("mode, padding_mode, align", [("bilinear", "zeros", False), ("bilinear", "border", True),
                                                       ("nearest", "zeros", True), ("nearest", "border", False),
                                                       ("bilinear", "reflection", False)])
def test_grid_sample(mode, padding_mode, align, tmp_path):
    grid = torch.tanh(randn(2, 5, 7, 2, seed=9)) * 1.2  # some points outside [-1, 1]
    m = check(Fn(lambda x, g: F.grid_sample(x, g, mode=mode, padding_mode=padding_mode, align_corners=align)),
              [randn(2, 3, 6, 8), grid], tmp_path, opset=20 if mode == "bilinear" and align else 16)
    assert "nn.grid_sample" in _ops(m)


def test_grid_sample_needs_opset_16(tmp_path):
    from irc.backend.onnx import emit_onnx
    from irc.frontend.torch import import_model

    m = import_model(Fn(lambda x, g: F.grid_sample(x, g, align_corners=False)), [((3, 6, 8), "f32"), ((5, 7, 2), "f32")])
    with pytest.raises(IrcError, match="opset 16"):
        emit_onnx(m, str(tmp_path / "m.onnx"), opset=13)
    assert not (tmp_path / "m.onnx").exists()


# ----------------------------------------------------------------------------- normalisation


@pytest.mark.parametrize("affine", [False, True])
def test_instance_norm_in_eval_mode(affine, tmp_path):
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.InstanceNorm2d(4, affine=affine), nn.ReLU())
    m = check(model, [randn(2, 3, 9, 9)], tmp_path)
    assert "nn.group_norm" in _ops(m)
    check(nn.Sequential(nn.Conv1d(3, 4, 3), nn.InstanceNorm1d(4, affine=affine)), [randn(2, 3, 9)], tmp_path / "1d")


def test_group_norm(tmp_path):
    check(nn.Sequential(nn.Conv2d(3, 8, 3), nn.GroupNorm(2, 8), nn.GroupNorm(8, 8, affine=False)),
          [randn(2, 3, 9, 9)], tmp_path)


def test_batch_statistics_say_what_is_wrong():
    """F.batch_norm(training=True) over a batch of several, and instance norm with a dynamic batch, are refused
    without telling a model in eval mode to call model.eval()."""
    from irc.frontend.torch import import_model

    model = Fn(lambda x: F.batch_norm(x, None, None, training=True)).eval()
    with pytest.raises(IrcError) as info:
        import_model(model, [((3, 5, 5), "f32")], batch=2)
    assert "batch statistics" in str(info.value) and "model.eval()" not in str(info.value)
    with pytest.raises(IrcError) as info:
        import_model(nn.InstanceNorm2d(3).eval(), [((3, 5, 5), "f32")], batch="dynamic", warn=lambda msg: None)
    assert "static batch size" in str(info.value) and "model.eval()" not in str(info.value)


# ----------------------------------------------------------------------------- torchvision models


def _swin_v2_quick():
    from torchvision.models.swin_transformer import PatchMergingV2, SwinTransformer, SwinTransformerBlockV2

    return SwinTransformer(patch_size=[4, 4], embed_dim=16, depths=[2, 2], num_heads=[1, 2], window_size=[4, 4], stochastic_depth_prob=0.0, num_classes=10,
                           block=SwinTransformerBlockV2, downsample_layer=PatchMergingV2)


def test_swin_v2_quick(tmp_path):
    """Two stages of two blocks, the first on 8x8 tokens in 4x4 windows (so the second block shifts them)."""
    check(_swin_v2_quick(), [randn(1, 3, 32, 32)], tmp_path, onnx_check=False)


VIDEO = ["r3d_18", "mc3_18", "r2plus1d_18"]
SEGMENTATION = ["fcn_resnet50", "deeplabv3_mobilenet_v3_large", "lraspp_mobilenet_v3_large"]


def _torchvision(name):
    import torchvision

    if name in VIDEO:
        return getattr(torchvision.models.video, name)()
    if name in SEGMENTATION:
        return getattr(torchvision.models.segmentation, name)(weights=None, weights_backbone=None, num_classes=5,
                                                              aux_loss=False)
    return getattr(torchvision.models, name)()


class Out(nn.Module):
    """A segmentation model's "out" map (torchvision returns a dict)."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, x):
        return self.model(x)["out"]


@pytest.mark.parametrize("name", VIDEO)
def test_video_models_quick(name, tmp_path):
    check(_torchvision(name), [randn(1, 3, 4, 32, 32)], tmp_path, onnx_check=False, emitted=name == "r3d_18")


@pytest.mark.parametrize("name", SEGMENTATION)
def test_segmentation_models_quick(name, tmp_path):
    check(Out(_torchvision(name)), [randn(1, 3, 64, 64)], tmp_path, onnx_check=False,
          emitted=name == "fcn_resnet50")


@pytest.mark.slow
def test_swin_v2_t_full(tmp_path):
    import torchvision

    check(torchvision.models.swin_v2_t(), [randn(1, 3, 256, 256)], tmp_path)


@pytest.mark.slow
@pytest.mark.parametrize("name", VIDEO + SEGMENTATION)
def test_torchvision_models_full(name, tmp_path):
    shape = (1, 3, 8, 112, 112) if name in VIDEO else (1, 3, 224, 224)
    check(Out(_torchvision(name)) if name in SEGMENTATION else _torchvision(name), [randn(*shape)], tmp_path)


class _ChannelsOps(nn.Module):
    """The new element-wise and reduction ops between convolutions, for the layout pass to carry through."""

    def __init__(self):
        super().__init__()
        self.conv, self.mix = nn.Conv2d(3, 4, 3), nn.Conv2d(4, 4, 1)

    def forward(self, x):
        y = self.conv(x)
        z = torch.where(y > 0, y, y * 0.1).masked_fill(y < -1, 0.5)
        return (self.mix(z), (y > 0.2) & (y < 1), y.argmax(1), torch.cumsum(y, 1), torch.topk(y, 2, dim=1)[0],
                torch.var(y, (2, 3)))


def test_new_ops_through_nchw_to_nhwc(tmp_path):
    m = check(_ChannelsOps(), [randn(2, 3, 9, 9)], tmp_path, passes="canonicalize,fuse-bn,fold-constants,cse,dce,"
                                                                     "nchw-to-nhwc")
    assert {op.attrs["layout"] for op in m.ops() if op.name == "nn.conv2d"} == {"nhwc"}
