"""MIL normalisation and softmax → IR (irc/ir/ops/norm.py): batch_norm (absent gamma / beta become params of
ones / zeros), layer_norm, softmax."""

from __future__ import annotations

import numpy as np

from .importer import CoremlImporter, imports


def _param_or(importer: CoremlImporter, op: object, name: str, fill: float, like: str) -> object:
    if op.inputs.get(name) is not None:
        return importer.param(op.inputs[name])
    ref = op.inputs[like]
    return importer.new_param(np.full(ref.shape, fill, dtype=np.asarray(ref.val).dtype), f"{op.name}_{name}")


@imports("batch_norm")
def _batch_norm(importer: CoremlImporter, op: object) -> object:
    operands = [importer.value(op.inputs["x"]), _param_or(importer, op, "gamma", 1.0, "mean"),
                _param_or(importer, op, "beta", 0.0, "mean"), importer.param(op.inputs["mean"]),
                importer.param(op.inputs["variance"])]
    return importer.emit("batch_norm", operands, {"epsilon": float(importer.attr(op, "epsilon", 1e-5))})


@imports("layer_norm")
def _layer_norm(importer: CoremlImporter, op: object) -> object:
    x = importer.value(op.inputs["x"])
    operands = [x]
    if op.inputs.get("gamma") is not None or op.inputs.get("beta") is not None:
        shape = [op.inputs["x"].shape[a] for a in (importer.attr(op, "axes") or [])]
        gamma = op.inputs.get("gamma")
        operands.append(importer.param(gamma) if gamma is not None else
                        importer.new_param(np.ones(shape, np.float32), f"{op.name}_gamma"))
        if op.inputs.get("beta") is not None:
            operands.append(importer.param(op.inputs["beta"]))
    axes = importer.attr(op, "axes") or list(range(x.type.rank))
    return importer.emit("layer_norm", operands, {"axes": [a % x.type.rank for a in axes],
                                                  "epsilon": float(importer.attr(op, "epsilon", 1e-5))})


@imports("softmax")
def _softmax(importer: CoremlImporter, op: object) -> object:
    return importer.emit("softmax", [importer.value(op.inputs["x"])], {"axis": importer.attr(op, "axis", -1)})
