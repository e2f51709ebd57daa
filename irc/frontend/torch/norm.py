"""ATen normalisations and softmaxes → nn.batch_norm, nn.layer_norm, nn.group_norm, nn.softmax, nn.log_softmax."""

from __future__ import annotations

import torch

from ..core import Unsupported
from .importer import imports, static, static_dim, static_list, tensor_type

aten = torch.ops.aten


def _bn_operands(importer, x, w, b, mean, var):
    c = x.meta["val"].shape[1]
    dtype = tensor_type(x.meta["val"]).dtype
    c = static(c, "channel count")
    w = importer.operand(w) if w is not None else importer.constant(1.0, dtype, (c,))
    b = importer.operand(b) if b is not None else importer.constant(0.0, dtype, (c,))
    return [importer.operand(x), w, b, importer.operand(mean), importer.operand(var)]


@imports(aten._native_batch_norm_legit_no_training.default)
def _bn_legit(importer, node, x, w, b, mean, var, momentum, eps):
    return [importer.result("batch_norm", _bn_operands(importer, x, w, b, mean, var), {"epsilon": float(eps)}, index=0),
            None, None]


@imports(aten.batch_norm.default)
def _bn(importer, node, x, w, b, mean, var, training, momentum, eps, cudnn=True):
    if training or mean is None:
        raise Unsupported("batch norm in training mode (call model.eval())")
    return importer.result("batch_norm", _bn_operands(importer, x, w, b, mean, var), {"epsilon": float(eps)})


@imports(aten._native_batch_norm_legit.default)
def _bn_train(importer, node, *args, **kwargs):
    raise Unsupported("batch norm in training mode (call model.eval())")


@imports(aten._native_batch_norm_legit.no_stats)
def _bn_batch_stats(importer, node, x, w, b, training, momentum, eps):
    """Normalisation by the statistics of the batch, with no running statistics: what InstanceNorm (and
    F.instance_norm) computes, on its input viewed as [1, N * C, ...]. With a batch of one, each channel's
    statistics are its own: a group norm with a group per channel."""
    shape = x.meta["val"].shape
    n, c = static_dim(shape[0]), static_dim(shape[1])
    if n != 1:
        raise Unsupported("normalisation by batch statistics over a batch of more than one (F.batch_norm with "
                          "training=True); irc imports inference-mode batch norm, instance norm and group norm")
    if c is None:
        raise Unsupported("instance norm needs a static batch size (torch computes it on the input viewed as "
                          "[1, batch * channels, ...]): import with a fixed batch")
    v = importer.operand(x)
    ops = [v] + ([importer.operand(w)] if w is not None else [])
    if b is not None:
        if w is None:
            ops.append(importer.constant(1.0, v.type.dtype, (c,)))
        ops.append(importer.operand(b))
    return [importer.result("group_norm", ops, {"num_groups": c, "epsilon": float(eps)}, index=0), None, None]


@imports(aten.layer_norm.default)
def _layer_norm(importer, node, x, shape, w=None, b=None, eps=1e-5, cudnn=True):
    rank = x.meta["val"].dim()
    axes = list(range(rank - len(shape), rank))
    ops = [importer.operand(x)]
    if w is not None:
        ops.append(importer.operand(w))
    if b is not None:
        if w is None:
            ops.append(importer.constant(1.0, ops[0].type.dtype, tuple(static_list(shape, "normalized shape"))))
        ops.append(importer.operand(b))
    return importer.result("layer_norm", ops, {"axes": axes, "epsilon": float(eps)})


@imports(aten.native_layer_norm.default)
def _native_layer_norm(importer, node, x, shape, w, b, eps):
    rank = x.meta["val"].dim()
    if b is not None and w is None:
        raise Unsupported("layer norm with a bias but no weight")
    ops = [importer.operand(x)] + ([importer.operand(w), importer.operand(b)] if b is not None else
                                   [importer.operand(w)] if w is not None else [])
    attrs = {"axes": list(range(rank - len(shape), rank)), "epsilon": float(eps)}
    return [importer.result("layer_norm", ops, attrs, index=0), None, None]


@imports(aten.group_norm.default)
def _group_norm(importer, node, x, groups, w=None, b=None, eps=1e-5, cudnn=True):
    ops = [importer.operand(x)] + ([importer.operand(w)] if w is not None else [])
    if b is not None:
        if w is None:
            raise Unsupported("group norm with a bias but no weight")
        ops.append(importer.operand(b))
    return importer.result("group_norm", ops, {"num_groups": int(groups), "epsilon": float(eps)})


@imports(aten.softmax.int, aten._softmax.default)
def _softmax(importer, node, x, dim, dtype_or_half=None):
    v = importer.operand(x)
    want = importer.out_type().dtype
    return importer.result("softmax", [importer.cast(v, want)], {"axis": int(dim)})


@imports(aten.log_softmax.int, aten._log_softmax.default)
def _log_softmax(importer, node, x, dim, dtype_or_half=None):
    v = importer.operand(x)
    return importer.result("log_softmax", [importer.cast(v, importer.out_type().dtype)], {"axis": int(dim)})
