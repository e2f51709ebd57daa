"""Kept modules (irc/ir/ops/custom.py): `nn.call_module` becomes one node of the custom domain `irc.keep`.

The node's op_type is the class name; its inputs are the call's inputs, then the module's state as
initializers (named by their state_dict keys); its attributes carry the class's import path (`module`), the
instance's path (`path`), the state names inside the module (`params`) and the constructor's arguments
(`init`, JSON). No standard ONNX runtime knows the op: a runtime needs a custom op registered for it, which
the emitter says in a warning. The model imports the `irc.keep` domain (version 1).
"""

from __future__ import annotations

import warnings

from ...ir import Op
from .emitter import Emitter, emits

DOMAIN = "irc.keep"


class _WithKeepDomain:
    """onnx.helper, with the `irc.keep` domain added to the model's opset imports (the driver writes the default
    domain's only)."""

    def __init__(self, inner: object):
        self._inner = inner

    def __getattr__(self, name: str) -> object:
        return getattr(self._inner, name)

    def make_model(self, graph: object, opset_imports: list | None = None, **kwargs: object) -> object:
        imports = list(opset_imports or []) + [self._inner.make_opsetid(DOMAIN, 1)]
        return self._inner.make_model(graph, opset_imports=imports, **kwargs)


@emits("call_module")
def _call_module(emitter: Emitter, op: Op, ins: list, outs: list) -> None:
    if not isinstance(emitter.helper, _WithKeepDomain):
        emitter.helper = _WithKeepDomain(emitter.helper)
    cls = op.attrs["module"].rpartition(":")[2].rpartition(".")[2]
    emitter.node(cls, ins, outs, domain=DOMAIN, module=op.attrs["module"], path=op.attrs["path"],
                 params=list(op.attrs["params"]), init=op.attrs["init"] or None)
    warnings.warn(f"ONNX: %{outs[0]} ({op.attrs['path']}, a {op.attrs['module']} kept by --keep-module) is written as "
                  f"a custom {DOMAIN}:{cls} node; onnxruntime and other runtimes need a custom op registered for it",
                  stacklevel=2)
