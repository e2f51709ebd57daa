"""Converting and saving: `emit_coreml` builds the MIL program, has coremltools turn it into an ML program
(`ct.convert(program, convert_to="mlprogram", ...)`) and saves the .mlpackage directory.

`irc.ir.writer.write_files` writes single files; an .mlpackage is a directory, so it gets the same guarantee
by hand: the package is saved inside a fresh temporary directory beside the target (same file system), then
renamed into place; an existing package at the target is first renamed into that temporary directory and
removed only after the new one is in place. An error at any point removes the temporary directory, so a half
package is never seen at the target. coremltools' own pass pipeline is not run (the program keeps irc's ops
and names) except, for fp16, its fp16 cast pass and the clean-ups it needs (casts merged, weights folded to
fp16 constants).
"""

from __future__ import annotations

import contextlib
import io
import os
import shutil
import tempfile
import warnings
from collections.abc import Callable

from ...ir import IrcError, Module
from ...ir.structure import flatten
from ...ir.writer import WriteError, umask
from .emitter import Emitter, coreml_modules

PRECISIONS = ("f32", "f16")
FP16_PASSES = ["common::add_fp16_cast", "common::cast_optimization", "common::const_elimination",
               "common::dead_code_elimination"]


def build_program(module: Module) -> object:
    """The MIL program of `module` (not converted, not written)."""
    return Emitter(module).build()


def _convert(program: object, weights: str) -> object:
    """The MLModel of `program`, fp32 compute (or fp16 for weights="f16"); coremltools' progress bars muted."""
    ct = coreml_modules()[0]
    pipeline = ct.PassPipeline.EMPTY
    if weights == "f16":
        pipeline.passes = list(FP16_PASSES)
    precision = ct.precision.FLOAT16 if weights == "f16" else ct.precision.FLOAT32
    with warnings.catch_warnings(), contextlib.redirect_stderr(io.StringIO()):
        warnings.simplefilter("ignore")
        try:
            return ct.convert(program, convert_to="mlprogram", compute_precision=precision,
                              minimum_deployment_target=ct.target.iOS16, pass_pipeline=pipeline)
        except (ValueError, TypeError, RuntimeError, NotImplementedError) as e:
            raise IrcError(f"coremltools refuses the program irc built: {str(e).strip().splitlines()[0]}") from e


def emit_coreml(module: Module, output: str, *, progress: Callable[[str], None] | None = None,
                weights: str = "f32") -> dict:
    """Write `module` as the ML program package `output` (a directory named *.mlpackage); returns
    {"files": [output], "detail": one line}."""
    module = flatten(module)  # the blocks inlined (irc.ir.structure)
    progress = progress or (lambda msg: None)
    if weights not in PRECISIONS:
        raise IrcError(f"--weights {weights}: CoreML packages are written with f32 or f16 weights")
    output = os.fspath(output)
    if not output.rstrip("/").endswith(".mlpackage"):
        raise IrcError(f"cannot write {output}: a CoreML ML program is a directory named NAME.mlpackage")
    output = output.rstrip("/")
    _check_target(output)
    progress("building the MIL program")
    program = build_program(module)
    ops = [op.op_type for op in program.functions["main"].operations if op.op_type != "const"]
    progress("converting with coremltools")
    model = _convert(program, weights)
    progress("writing " + os.path.basename(output))
    save_package(lambda path: model.save(path), output)
    size = os.path.getsize(os.path.join(output, "Data", "com.apple.CoreML", "weights", "weight.bin")) \
        if os.path.exists(os.path.join(output, "Data", "com.apple.CoreML", "weights", "weight.bin")) else 0
    compute = "fp16" if weights == "f16" else "fp32"
    return {"files": [output], "path": output, "ops": len(ops),
            "detail": f"{len(ops)} MIL ops, {size} weight bytes, {compute} compute (predictions need macOS)"}


def _check_target(output: str) -> None:
    if os.path.isfile(output) or os.path.islink(output):
        raise WriteError(f"cannot write {output}: File exists and is not a directory")
    if os.path.isdir(output) and os.listdir(output) and not os.path.exists(os.path.join(output, "Manifest.json")):
        raise WriteError(f"refusing to replace {output}: a directory that is not an .mlpackage")


def save_package(save: Callable[[str], None], output: str) -> None:
    """`save(path)` into a temporary directory beside `output`, then renamed into place (see the module doc)."""
    parent = os.path.dirname(os.path.abspath(output))
    try:
        os.makedirs(parent, exist_ok=True)
        temp = tempfile.mkdtemp(prefix="." + os.path.basename(output) + ".", suffix=".tmp", dir=parent)
    except OSError as e:
        raise WriteError(f"cannot write {output}: {e.strerror or type(e).__name__}") from None
    try:
        staged = os.path.join(temp, "new.mlpackage")
        save(staged)
        _set_permissions(staged)
        if os.path.exists(output):
            os.rename(output, os.path.join(temp, "old.mlpackage"))
        os.rename(staged, output)
    except OSError as e:
        raise WriteError(f"cannot write {output}: {e.strerror or type(e).__name__}") from None
    finally:
        shutil.rmtree(temp, ignore_errors=True)


def _set_permissions(root: str) -> None:
    """The umask's permissions on every directory and file of the package."""
    mask = umask()
    for directory, _, files in os.walk(root):
        os.chmod(directory, 0o777 & ~mask)
        for f in files:
            os.chmod(os.path.join(directory, f), 0o666 & ~mask)


__all__ = ["build_program", "emit_coreml", "save_package"]
