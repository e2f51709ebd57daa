"""Reading a Keras model: `.keras` archives (a zip holding config.json) and legacy `.h5` files."""

from __future__ import annotations

import os
import zipfile

from ...ir import IrcError

HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"


def _is_keras_zip(path: str) -> bool:
    try:
        with zipfile.ZipFile(path) as z:
            return "config.json" in z.namelist()
    except (zipfile.BadZipFile, OSError):
        return False


def _is_keras_h5(path: str) -> bool:
    try:
        with open(path, "rb") as f:
            if f.read(len(HDF5_SIGNATURE)) != HDF5_SIGNATURE:
                return False
        import h5py

        with h5py.File(path, "r") as h5:
            return "model_config" in h5.attrs
    except (OSError, ImportError):
        return False


def is_keras_file(path: str | os.PathLike) -> bool:
    """Whether `path` holds a Keras model, by content: a zip with config.json (.keras) or an HDF5 file
    whose root carries a `model_config` attribute (.h5)."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        return False
    return _is_keras_zip(path) or _is_keras_h5(path)


def import_keras_module() -> object:
    """The keras module, on the torch backend unless KERAS_BACKEND says otherwise."""
    os.environ.setdefault("KERAS_BACKEND", "torch")
    try:
        import keras
    except ImportError as e:
        raise IrcError(f"importing a Keras model needs keras (pip install 'irc[keras]'): {e}") from None
    return keras


def load_keras(src: str | os.PathLike | object) -> object:
    """A keras.Model from a path to a .keras/.h5 file, or `src` itself when it is a model already."""
    keras = import_keras_module()
    if isinstance(src, keras.Model):
        return src
    path = os.fspath(src)
    if not os.path.isfile(path):
        raise IrcError(f"{path}: no such file")
    if not is_keras_file(path):
        raise IrcError(f"{path}: not a Keras model (.keras zip with config.json, or .h5 with a model_config)")
    try:
        return keras.saving.load_model(path, compile=False)
    except Exception as e:  # noqa: BLE001  (keras raises many kinds for files it cannot read)
        first = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise IrcError(f"{path}: keras cannot load this model: {first}") from None


__all__ = ["is_keras_file", "import_keras_module", "load_keras"]
