"""Reading a CoreML model: an .mlpackage directory (Manifest.json + Data/com.apple.CoreML/model.mlmodel +
weights/weight.bin) or an .mlmodel file, parsed by coremltools into its MIL program
(`coremltools.converters.mil.frontend.milproto.load`; coremltools reads weight.bin for it). Only ML programs
have a MIL program: a neural-network .mlmodel is refused by name.
"""

from __future__ import annotations

import json
import logging
import os

from ...ir import IrcError

MANIFEST = "Manifest.json"
MLMODEL_FIRST_BYTE = 0x08  # a Model protobuf starts with field 1 (specificationVersion), a varint


def is_coreml_package(path: str | os.PathLike) -> bool:
    """Whether `path` is a CoreML model, by content: a directory whose Manifest.json lists its items (an
    .mlpackage), or an .mlmodel file starting as a Model protobuf does. Cheap; never raises."""
    try:
        path = os.fspath(path)
        if os.path.isdir(path):
            with open(os.path.join(path, MANIFEST), encoding="utf-8") as f:
                manifest = json.load(f)
            return isinstance(manifest, dict) and "itemInfoEntries" in manifest
        if os.path.isfile(path) and path.endswith(".mlmodel"):
            with open(path, "rb") as f:
                return f.read(1) == bytes([MLMODEL_FIRST_BYTE])
    except (OSError, ValueError, TypeError):
        return False
    return False


def import_coremltools() -> object:
    """coremltools, its import-time warnings (no native runtime on Linux, an untested torch) silenced."""
    log = logging.getLogger("coremltools")
    level = log.level
    log.setLevel(logging.ERROR)
    try:
        import coremltools
    except ImportError as e:
        raise IrcError(f"reading a CoreML model needs coremltools (pip install 'irc[coreml]'): {e}") from None
    finally:
        log.setLevel(level)
    return coremltools


def load_program(path: str | os.PathLike) -> object:
    """The MIL program (a `coremltools.converters.mil.mil.Program`) of the CoreML model at `path`."""
    path = os.fspath(path)
    if not os.path.exists(path):
        raise IrcError(f"{path}: no such file or directory")
    if not is_coreml_package(path):
        raise IrcError(f"{path}: not a CoreML model (an .mlpackage directory with {MANIFEST}, or an .mlmodel)")
    ct = import_coremltools()
    from coremltools.converters.mil.frontend.milproto import load as milproto

    try:
        model = ct.models.MLModel(path, skip_model_load=True)
        spec = model.get_spec()
    except Exception as e:  # noqa: BLE001  (coremltools raises many kinds for files it cannot read)
        raise IrcError(f"{path}: coremltools cannot read this model: {_first_line(e)}") from None
    kind = spec.WhichOneof("Type")
    if kind != "mlProgram":
        raise IrcError(f"{path}: a CoreML '{kind}' model; irc reads ML programs (convert_to='mlprogram') only")
    try:
        return milproto.load(spec, spec.specificationVersion, model.weights_dir)
    except Exception as e:  # noqa: BLE001
        raise IrcError(f"{path}: coremltools cannot read its MIL program: {_first_line(e)}") from None


def _first_line(e: Exception) -> str:
    return str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__


__all__ = ["import_coremltools", "is_coreml_package", "load_program"]
