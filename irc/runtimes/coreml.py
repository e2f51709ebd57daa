"""CoreML as an irc "runtime": a READ-BACK, not CoreML. Nothing runs a CoreML model on Linux (coremltools'
predict needs macOS), so `CoremlReadBack` reads the package's MIL program back into IR with irc's CoreML
frontend (`irc.frontend.coreml`) and runs that IR with irc's torch executor. It checks what the package says
(ops, attributes, weights, fp16 casts), as irc reads MIL's op definitions; it cannot show how Apple's runtime
computes them. Check on a Mac with `coremltools.models.MLModel(path).predict(...)` for that.

`run_named` yields every MIL value with an IR counterpart: with `names` ({MIL name: IR name}) names are
translated; without it they are matched to the IR given as `module` by irc's sanitising of IR names (irc-emit
writes `layer1.0.conv1` as `layer1_0_conv1`, and an fp16 package's `layer1_0_conv1_cast_fp16`), else the MIL
names are yielded as they are. Tensors are NCHW, as MIL computes them.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from ..ir import TensorType

if TYPE_CHECKING:
    import torch

    from ..ir import Module

FP16_SUFFIXES = ("_cast_fp16", "_to_fp16")  # names coremltools' fp16 pass gives the fp16 twins of values


class CoremlReadBack:
    """An .mlpackage read back into IR and run by irc's torch executor (a read-back check, not CoreML)."""

    def __init__(self, path: str, module: Module | None = None, names: dict[str, str] | None = None,
                 weights: str | None = None):
        from ..frontend.coreml import CoremlImporter

        self.path, self.module, self.names = path, module, names
        importer = CoremlImporter.open(path)
        self.read_back = importer.run()
        self.mil_names = {ir: mil for mil, ir in importer.source_names.items()}  # read-back IR name -> MIL name
        func = self.read_back.main
        self.input_types: list[TensorType] = [a.type for a in func.args]
        self.output_names: list[str] = [self.mil_names.get(v.name, v.name) for v in func.outputs]
        store = self.read_back.weights  # "f16" for a package written with fp16 compute: judge it by the f16 rule
        self.precision = "f16" if any(store.type_of(k).dtype == "f16" for k in store.keys()) else "f32"
        self._executor = None
        self._capture = None

    def __call__(self, *inputs: torch.Tensor) -> list[torch.Tensor]:
        from ..backend.pytorch.executor import Executor

        if self._executor is None:
            self._executor = Executor(self.read_back)
        return [x.float() if x.is_floating_point() else x for x in self._executor(*inputs)]

    def run_named(self, inputs: list[torch.Tensor],
                  want: set[str] | None = None) -> Iterator[tuple[str, torch.Tensor]]:
        """(IR value name, tensor) for each read-back value with a counterpart, each name once, in order."""
        import torch

        run = self._compiled()
        translate = self._translator()
        seen = set()
        with torch.no_grad():
            for name, tensor in run(*inputs):
                ir_name = translate(self.mil_names.get(name, name))
                if ir_name is None or ir_name in seen or want is not None and ir_name not in want:
                    continue
                seen.add(ir_name)
                yield ir_name, tensor.float() if tensor.is_floating_point() else tensor

    def _compiled(self) -> object:
        if self._capture is None:
            import torch
            import torch.nn.functional as F

            from ..backend.pytorch.executor import compile_func, weight_tensor

            source, keys, constants = compile_func(self.read_back, capture=True)
            params = [weight_tensor(self.read_back.weights, k) for k in keys]
            namespace = {"torch": torch, "F": F}
            exec(compile(source, f"<irc coreml read-back {self.path}>", "exec"), namespace)
            values = [eval(compile(e, "<irc constant>", "eval"), namespace) for e in constants]
            self._capture = lambda *xs: namespace["run"](params, values, *xs)
        return self._capture

    def _translator(self) -> object:
        """MIL name -> IR name (None: no counterpart)."""
        if self.names is not None:
            return self.names.get
        if self.module is None:
            return lambda name: name
        from ..backend.coreml import mil_name

        by_mil = {}
        for v in self.module.main.values():
            by_mil.setdefault(mil_name(v.name), v.name)

        def translate(name: str) -> str | None:
            for suffix in FP16_SUFFIXES:
                if name.endswith(suffix) and name[:-len(suffix)] in by_mil:
                    return by_mil[name[:-len(suffix)]]
            return by_mil.get(name)

        return translate

    @staticmethod
    def source_names(path: str, weights: str | None = None) -> dict[str, str]:
        """{MIL name: IR value name} of a fresh import of the package (the importer's `source_names`)."""
        from ..frontend.coreml import CoremlImporter

        importer = CoremlImporter.open(path)
        module = importer.run()
        alive = {v.name for v in module.main.values()}
        return {mil: ir for mil, ir in importer.source_names.items() if ir in alive}


__all__ = ["CoremlReadBack"]
