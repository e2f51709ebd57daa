"""PyTorch → irc IR, through torch.export.

`export.py` exports a private copy of the model and decomposes it to the ATen ops irc knows;
`importer.py` walks the ATen graph and calls, for each node, the handler `IMPORTERS` has for its
overload. The handlers live in one file per IR op family, named like `irc/ir/ops/<family>.py`
(conv, norm, elementwise, linalg, shape, reduce, resize, attention, recurrent, core_ops); importing
this package registers them all. `load.py` reads model files (torch.save pickles, state_dicts with
an architecture, TorchScript and torch.export archives).
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Callable

from ...ir import Module, WeightStore, verify
from ...ir.core import sanitize_name as sanitize
from ...ir.structure import outline
from . import attention, conv, core_ops, custom, elementwise, linalg, norm, recurrent, reduce, resize, shape  # noqa: F401
from .custom import ENTRY_POINT_GROUP, load_plugins, register_importer
from .decomposition import decompose_unknown, foldable_nodes
from .export import (
    decompose,
    export,
    exported_program,
    full_stack_traces,
    quiet_torch,
    script_to_module,
)
from .importer import IMPORTERS, TorchImporter, imports, tensor_type
from .load import Source, build_arch, detect_kind, load_source, pickle_globals, resolve_arch
from .recurrent import patch_recurrent


def import_model(model: object, input_types: list | None = None, batch: int | str = 1, name: str | None = None,
                 progress: Callable[[str], None] | None = None, warn: Callable[[str], None] | None = None,
                 dynamic_dims: list | None = None, input_names: list[str] | None = None,
                 keep_modules: list[str] | None = None, structured: bool = True,
                 weights: WeightStore | None = None) -> Module:
    """Import a torch.nn.Module (or a torch.export.ExportedProgram) into a verified irc Module.

    input_types: one (shape_without_batch, dtype) per input, e.g. [((3, 224, 224), "f32")].
    batch: an int, or "dynamic" for a `?` batch dimension (export with an example batch of 2 and a
    torch.export.Dim; if export refuses, fall back to batch 1 with a warning saying why).
    dynamic_dims: other dynamic dimensions, one entry per input ([] for none): a list of per-sample dims, or
    {dim: name} where dims of the same name are one size (one torch.export.Dim). E.g. token ids [batch, seq]
    with a dynamic sequence length: `import_model(m, [((12,), "i64")], batch="dynamic", dynamic_dims=[[0]])`;
    the shape's number (12) is the example size export traces with (at least 2).
    The IR gets `?` there. A dim the model needs static stays static, with a warning; if export fails
    with the dynamic dims, the import falls back to static shapes with a warning.
    input_names: the IR's argument names (default: the names of forward's parameters).
    keep_modules: classes ("package.module:Class" or "path/to/file.py:Class") whose every instance becomes one
    opaque `nn.call_module` op (see custom.py).
    structured: keep the model's blocks (one function per distinct submodule structure, `nn.call` per instance,
    irc.ir.structure); False gives one flat function. A model with kept modules is imported flat.
    weights: for a model whose parameters are on the meta device (a safetensors checkpoint read by `load_source`,
    `Source.weights`): the store holding their values, which the module keeps reading from (nothing is copied).
    progress: optional callable(str) told about the slow steps. warn: callable(str) for warnings
    (default: warnings.warn). The model itself is never modified: a deep copy is exported. The copy
    shares the model's parameter and buffer tensors, and so do the returned module's weights
    (read-only views, written out by irc.save / emit): change the model in place after importing it
    and the module sees the change.
    """
    warn = warn or (lambda msg: warnings.warn(msg, stacklevel=2))
    progress = progress or (lambda msg: None)
    load_plugins()
    ep, root, name = exported_program(model, input_types, batch, name, progress, warn, dynamic_dims, keep_modules)
    progress("decomposing to ATen")
    ep = decompose(ep)
    progress("lowering to irc IR")
    importer = TorchImporter(ep, root, _module_name(name), progress, warn, weights)
    importer.input_names = input_names
    importer.user_training = bool(getattr(model, "training", False))
    with quiet_torch():
        module = importer.run()
    if structured and not any(op.name == "nn.call_module" for op in module.ops()):
        outline(module)
    progress("verifying")
    verify(module)
    return module


def _module_name(name: str) -> str:
    """The module's @name: the model's name sanitised, starting with a letter or _."""
    mname = sanitize(name)
    if not re.match(r"[A-Za-z_]", mname):
        mname = "m_" + mname
    return mname


__all__ = ["ENTRY_POINT_GROUP", "IMPORTERS", "Source", "TorchImporter", "build_arch", "decompose_unknown",
           "detect_kind", "export", "foldable_nodes", "full_stack_traces", "import_model", "imports", "load_plugins",
           "load_source", "patch_recurrent", "pickle_globals", "quiet_torch", "register_importer", "resolve_arch",
           "script_to_module", "tensor_type"]
