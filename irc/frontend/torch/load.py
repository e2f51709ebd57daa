"""Reading a PyTorch model file, whatever kind it is, detected from its content (never its name).

- a `torch.save` zip (`*/data.pkl`) or a legacy (non-zip) pickle: a whole model or a state_dict.
  It is read with `weights_only=True` first. A whole-model pickle can run arbitrary code when
  loaded, so where `weights_only` refuses it, the error names the classes the file would import and
  irc loads it only with `trust_pickle=True` (`--trust-pickle`).
- a state_dict (or a checkpoint dict holding one) needs the architecture: `arch` is
  `package.module:callable` or `path/to/file.py:Class`, called with `arch_args` (a dict or JSON).
- a TorchScript archive (`constants.pkl`, `code/`): `torch.jit.load`, converted to torch.export's
  form when the model is imported.
- a torch.export archive (`.pt2`: `archive_format`, `models/*.json`): `torch.export.load`.
- a safetensors checkpoint, one file or a Hugging Face style index of shards
  (`model.safetensors.index.json`), with `arch`: the model is built with its parameters on the meta
  device and the checkpoint's tensors stay in their files (`Source.weights`, an irc WeightStore that
  reads only headers): a checkpoint larger than memory converts (checkpoint.py).
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import io
import json
import linecache
import os
import pickletools
import re
import sys
import warnings
import zipfile
from dataclasses import dataclass

from ...ir import FileLoc, Frame, IrcError

# Globals torch's weights_only unpickler accepts anyway; not worth naming in the refusal message.
_BENIGN_PREFIXES = ("torch._utils.", "collections.OrderedDict", "torch.serialization.", "builtins.", "__builtin__.",
                    "torch._tensor._rebuild", "_codecs.encode", "numpy.core.multiarray._reconstruct",
                    "torch.Size", "torch.device", "torch.dtype")


@dataclass
class Source:
    """What a model file held: `model` (an nn.Module, a ScriptModule or an ExportedProgram) and its kind."""

    model: object
    kind: str  # "pickled model", "state_dict", "torchscript", "exported program", "safetensors checkpoint"
    path: str
    weights: object = None  # for a safetensors checkpoint: the WeightStore the meta-device model's values are in


def detect_kind(path: str) -> str:
    """'torch.save', 'torchscript', 'pt2', 'legacy pickle', or raise IrcError for anything else."""
    if not os.path.exists(path):
        raise IrcError(f"{path}: no such file")
    if os.path.isdir(path):
        raise IrcError(f"{path}: is a directory, not a model file")
    if _is_safetensors(path):
        return "safetensors"
    if zipfile.is_zipfile(path):
        try:
            names = zipfile.ZipFile(path).namelist()
        except (zipfile.BadZipFile, OSError) as e:
            raise IrcError(f"{path}: damaged zip archive: {e}") from None
        parts = [n.split("/", 1)[1] if "/" in n else n for n in names]
        if "archive_format" in parts or any(p.startswith("models/") and p.endswith(".json") for p in parts):
            return "pt2"
        if "constants.pkl" in parts or any(p.startswith("code/") for p in parts):
            return "torchscript"
        if "data.pkl" in parts:
            return "torch.save"
        raise IrcError(f"{path}: a zip archive, but not one PyTorch writes (no data.pkl, code/ or archive_format)")
    with open(path, "rb") as f:
        head = f.read(16)
    if head[:1] == b"\x80":
        return "legacy pickle"
    if head.lstrip()[:1] == b"{":
        return "safetensors index"  # checked in full when read
    if head.startswith((b"// irc", b"module @")):
        raise IrcError(f"{path}: this is irc IR text already; use irc-opt or irc-emit on it")
    if head[:1] == b"\x08":
        raise IrcError(f"{path}: not a PyTorch file (an ONNX model? irc imports PyTorch models here)")
    raise IrcError(f"{path}: not a PyTorch model file (not a torch.save pickle, TorchScript archive or .pt2)")


# ----------------------------------------------------------------------------- pickle inspection


def _pickle_streams(path: str, kind: str):
    if kind == "torch.save":
        z = zipfile.ZipFile(path)
        for n in z.namelist():
            if n.endswith("data.pkl") and n.count("/") <= 1:
                yield io.BytesIO(z.read(n))
    else:
        with open(path, "rb") as f:
            yield io.BytesIO(f.read())


def pickle_globals(path: str, kind: str | None = None) -> list[str]:
    """Every `module.name` the pickle(s) in a file would import, in order of first appearance."""
    kind = kind or detect_kind(path)
    found: list[str] = []
    for stream in _pickle_streams(path, kind):
        while True:  # a legacy file is several pickles one after another
            start = stream.tell()
            try:
                _scan(stream, found)
            except Exception:
                break
            if stream.tell() == start or stream.tell() >= len(stream.getbuffer()):
                break
    return found


def _scan(stream, found):
    memo, strings = {}, []
    last = None
    for op, arg, _pos in pickletools.genops(stream):
        name = op.name
        if name in ("SHORT_BINUNICODE", "BINUNICODE", "UNICODE", "BINUNICODE8", "SHORT_BINSTRING", "BINSTRING",
                    "STRING"):
            last = arg
            strings.append(arg)
        elif name in ("BINGET", "LONG_BINGET", "GET"):
            last = memo.get(arg)
            strings.append(last)
        elif name == "MEMOIZE":
            memo[len(memo)] = last
        elif name in ("BINPUT", "LONG_BINPUT", "PUT"):
            memo[arg] = last
        elif name == "GLOBAL":
            mod, _, attr = str(arg).partition(" ")
            _add(found, f"{mod}.{attr}")
            last = None
        elif name == "STACK_GLOBAL":
            if len(strings) >= 2 and isinstance(strings[-2], str) and isinstance(strings[-1], str):
                _add(found, f"{strings[-2]}.{strings[-1]}")
            last = None
        else:
            last = None


def _add(found, full):
    if full not in found:
        found.append(full)


def _needs(path, kind) -> list[str]:
    return [g for g in pickle_globals(path, kind) if not g.startswith(_BENIGN_PREFIXES) and not g.endswith("Storage")]


# ----------------------------------------------------------------------------- architectures


def resolve_arch(arch: str, flag: str = "--arch") -> object:
    """`package.module:callable` or `path/to/file.py:Class` → the callable (`flag` names the option in errors)."""
    usage = f"{flag} '{arch}': expected 'package.module:callable' or 'path/to/file.py:Class'"
    if ":" not in arch:
        raise IrcError(usage)
    where, _, attr = arch.rpartition(":")
    if not where or not attr:
        raise IrcError(usage)
    if where.endswith(".py") or os.sep in where or "/" in where:
        mod = _load_script(where, flag)
    else:
        try:
            mod = importlib.import_module(where)
        except ImportError as e:
            raise IrcError(f"{flag} '{arch}': cannot import module '{where}': {e}") from None
    obj = mod
    for part in attr.split("."):
        if not hasattr(obj, part):
            names = sorted(n for n in dir(mod) if not n.startswith("_"))[:20]
            raise IrcError(f"{flag} '{arch}': '{where}' has no '{attr}' (it has: {', '.join(names)})")
        obj = getattr(obj, part)
    if not callable(obj):
        raise IrcError(f"{flag} '{arch}': '{attr}' is not callable")
    return obj


def class_spec(cls: type) -> str:
    """How `--keep-module` (and `--arch`) name a class: `package.module:Class`, or `path/to/file.py:Class` for a
    class from a script (irc loads those under a private module name; a script run as __main__ has a file too)."""
    mod = sys.modules.get(cls.__module__)
    path = getattr(mod, "__file__", None)
    if path and (cls.__module__.startswith("irc_arch_") or cls.__module__ == "__main__"):
        rel = os.path.relpath(path)
        return f"{path if rel.startswith('..') else rel}:{cls.__qualname__}"
    return f"{cls.__module__}:{cls.__qualname__}"


def keep_module_hint(root: object, nn_module_stack: dict | None) -> str | None:
    """`class_spec` of the innermost module in a node's `nn_module_stack` (None for the model itself): the
    submodule of `root` (an nn.Module, or None) at its path, else the type name export recorded."""
    stack = list((nn_module_stack or {}).values())
    if len(stack) < 2 or not isinstance(stack[-1][0], str) or not stack[-1][0]:
        return None
    path, type_name = stack[-1][0], str(stack[-1][1])
    if root is not None:
        try:
            return class_spec(type(root.get_submodule(path)))
        except Exception:  # noqa: BLE001, S110  (a path export recorded that the copy does not have)
            pass
    module, _, cls = type_name.rpartition(".")
    return f"{module}:{cls}" if module else None


def _load_script(path: str, flag: str = "--arch"):
    if not os.path.isfile(path):
        raise IrcError(f"{flag}: no such file: {path}")
    full = os.path.abspath(path)
    name = "irc_arch_" + os.path.splitext(os.path.basename(full))[0].replace("-", "_") + "_" + \
        hashlib.sha1(full.encode()).hexdigest()[:8]
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, full)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod
    here = os.path.dirname(full)
    added = here not in sys.path
    if added:
        sys.path.insert(0, here)  # so the script's own sibling imports work
    try:
        spec.loader.exec_module(mod)
    except Exception as e:
        del sys.modules[name]
        raise IrcError(f"{flag}: running {path} failed: {type(e).__name__}: {e}") from None
    finally:
        if added:
            sys.path.remove(here)
    return mod


def build_arch(arch: str, arch_args: str | dict | None = None) -> object:
    fn = resolve_arch(arch)
    if isinstance(arch_args, str):
        try:
            arch_args = json.loads(arch_args)
        except json.JSONDecodeError as e:
            raise IrcError(f"--arch-args is not valid JSON: {e}") from None
    arch_args = arch_args or {}
    if not isinstance(arch_args, dict):
        raise IrcError("--arch-args must be a JSON object of keyword arguments, e.g. '{\"num_classes\": 10}'")
    try:
        return fn(**arch_args)
    except Exception as e:
        raise IrcError(f"--arch: {arch}(**{json.dumps(arch_args)}) failed: {type(e).__name__}: {e}") from None


# ----------------------------------------------------------------------------- state dicts


def _is_state_dict(obj) -> bool:
    import torch

    return isinstance(obj, dict) and bool(obj) and all(isinstance(k, str) for k in obj) and \
        all(isinstance(v, torch.Tensor) for v in obj.values())


def _find_state_dict(obj):
    """The state_dict in a checkpoint: the dict itself, or the usual keys of a training checkpoint."""
    if _is_state_dict(obj):
        return obj
    if isinstance(obj, dict):
        for key in ("state_dict", "model_state_dict", "model", "net", "network", "weights", "ema", "module"):
            if key in obj and _is_state_dict(obj[key]):
                return obj[key]
    return None


def load_state_dict_into(model: object, sd: dict, path: str) -> object:
    own = model.state_dict()
    if set(sd) != set(own):
        for prefix in ("module.", "model."):  # DataParallel / wrapper prefixes
            if all(k.startswith(prefix) for k in sd) and {k[len(prefix):] for k in sd} == set(own):
                sd = {k[len(prefix):]: v for k, v in sd.items()}
                break
    _check_fit(path, {k: tuple(v.shape) for k, v in sd.items()}, {k: tuple(v.shape) for k, v in own.items()},
               "state_dict")
    model.load_state_dict(sd, strict=True)
    return model


# ----------------------------------------------------------------------------- the entry point


def load_source(path: str, arch: str | None = None, arch_args: str | dict | None = None,
                trust_pickle: bool = False, materialize: bool = False) -> Source:
    """Read a PyTorch model file; see the module docstring for the kinds and the pickle rule. A safetensors
    checkpoint's model stays on the meta device unless `materialize` (to run it: irc-check)."""
    kind = detect_kind(path)  # before loading anything: a missing or foreign file fails fast
    if kind in ("safetensors", "safetensors index"):
        from .checkpoint import checkpoint_model, materialize_checkpoint

        src = checkpoint_model(path, arch, arch_args)
        if materialize:
            materialize_checkpoint(src.model, src.weights)
        return src
    if kind in ("pt2", "torchscript"):
        return _load_archive(path, kind)
    obj = _load_pickle(path, kind, trust_pickle)
    import torch

    if isinstance(obj, torch.nn.Module):
        return Source(obj.eval(), "pickled model", path)
    if isinstance(obj, torch.jit.ScriptModule):
        return Source(obj, "torchscript", path)
    sd = _find_state_dict(obj)
    if sd is None and isinstance(obj, dict):
        for v in obj.values():
            if isinstance(v, torch.nn.Module):
                return Source(v.eval(), "pickled model", path)
    if sd is None:
        raise IrcError(f"{path}: holds a {type(obj).__name__}, neither a model nor a state_dict")
    if not arch:
        raise IrcError(f"{path}: holds a state_dict ({len(sd)} tensors) but no architecture; give it with "
                       f"--arch package.module:callable or --arch path/to/file.py:Class (and --arch-args '{{...}}')")
    model = build_arch(arch, arch_args)
    if not isinstance(model, torch.nn.Module):
        raise IrcError(f"--arch {arch} returned a {type(model).__name__}, not a torch.nn.Module")
    return Source(load_state_dict_into(model, sd, path).eval(), "state_dict", path)


def _is_safetensors(path: str) -> bool:
    """A safetensors file: an 8-byte little-endian header length that fits the file, then a JSON object."""
    with open(path, "rb") as f:
        head = f.read(9)
        size = os.fstat(f.fileno()).st_size
    return len(head) == 9 and head[8:9] == b"{" and int.from_bytes(head[:8], "little") <= size - 8


def _check_fit(path: str, have: dict, want: dict, what: str) -> None:
    """Refuse a checkpoint whose keys or shapes (name → shape) are not the model's."""
    missing = sorted(set(want) - set(have))
    unexpected = sorted(set(have) - set(want))
    if missing or unexpected:
        parts = []
        if missing:
            parts.append(f"missing {len(missing)} key(s): {', '.join(missing[:6])}{' ...' if len(missing) > 6 else ''}")
        if unexpected:
            parts.append(f"unexpected {len(unexpected)} key(s): "
                         f"{', '.join(unexpected[:6])}{' ...' if len(unexpected) > 6 else ''}")
        raise IrcError(f"{path}: the {what} does not fit --arch: " + "; ".join(parts))
    bad = [k for k in want if have[k] != want[k]]
    if bad:
        k = bad[0]
        more = f" (and {len(bad) - 1} more)" if len(bad) > 1 else ""
        raise IrcError(f"{path}: the {what} does not fit --arch: '{k}' has shape {list(have[k])}, "
                       f"the model expects {list(want[k])}" + more)


def _load_archive(path: str, kind: str) -> Source:
    """A torch.export archive ("pt2") or a TorchScript archive."""
    import torch

    if kind == "pt2":
        try:
            from .export import quiet_torch

            with quiet_torch():  # torch logs a warning for archives not named *.pt2; the content decides here
                return Source(torch.export.load(path), "exported program", path)
        except Exception as e:
            raise IrcError(f"{path}: cannot load the torch.export archive: {type(e).__name__}: {e}") from None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # torch.jit.load's deprecation notice
            return Source(torch.jit.load(path, map_location="cpu"), "torchscript", path)
    except Exception as e:
        raise IrcError(f"{path}: cannot load the TorchScript archive: {type(e).__name__}: {e}") from None


def _load_pickle(path: str, kind: str, trust_pickle: bool) -> object:
    """What a torch.save file holds: read with weights_only=True, or (trusted) without."""
    import torch

    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:
        refused = "weights_only" in str(e) or "Unsupported global" in str(e) or "UnpicklingError" in type(e).__name__
        if not refused:
            raise IrcError(f"{path}: cannot read the pickle: {type(e).__name__}: {str(e).splitlines()[0]}") from None
        if not trust_pickle:
            needs = _needs(path, kind)
            listed = ", ".join(needs[:12]) + (f" and {len(needs) - 12} more" if len(needs) > 12 else "")
            raise IrcError(
                f"{path}: this pickle cannot be loaded safely (weights_only=True refuses it): loading it would import "
                f"and run code from {listed or 'classes it names'}. A pickle can run arbitrary code; if you trust "
                f"this file, rerun with --trust-pickle, or save model.state_dict() and give --arch") from None
    return _load_trusted(path)


def _load_trusted(path):
    import torch

    try:
        return torch.load(path, map_location="cpu", weights_only=False)
    except (AttributeError, ModuleNotFoundError) as e:
        msg = str(e)
        hint = ""
        if "__main__" in msg:
            hint = (" The model class was defined in the script that saved it (__main__), which irc cannot import; "
                    "save model.state_dict() instead and import with --arch path/to/script.py:ClassName.")
        raise IrcError(f"{path}: the pickle needs code that is not importable here: {msg}.{hint}") from None
    except Exception as e:
        raise IrcError(f"{path}: cannot load the pickle: {type(e).__name__}: {str(e).splitlines()[0]}") from None


__all__ = ["Source", "build_arch", "class_spec", "detect_kind", "load_source", "keep_module_hint", "pickle_globals",
           "resolve_arch"]


def module_frames(root: object, stack: dict) -> tuple:
    """The blocks (irc.ir.structure.Frame) of one node's `nn_module_stack`: every module call below the model
    itself, down to the first of torch.nn's own layers (whose ops stay in the block that called it). An
    nn.Sequential (or a subclass) is marked as such; `root` (the model, or None) tells subclasses apart."""
    import torch

    frames, parent = [], ""
    for ident, (path, type_name) in stack.items():
        if not isinstance(path, str) or not path:
            continue
        type_name = str(type_name)
        try:
            sub = root.get_submodule(path) if root is not None else None
        except Exception:  # noqa: BLE001  (a path torch recorded that the model no longer has)
            sub = None
        sequential = isinstance(sub, torch.nn.Sequential) if sub is not None else \
            type_name == "torch.nn.modules.container.Sequential"
        if type_name.startswith("torch.nn.modules.") and not sequential:
            break
        rel = path[len(parent) + 1:] if parent and path.startswith(parent + ".") else path
        frames.append(Frame(str(ident), rel, type_name.rpartition(".")[2] or "Block", sequential))
        parent = path
    return tuple(frames)


def frame_loc(stack_trace: str | None) -> FileLoc | None:
    """FileLoc of the innermost frame outside torch (and irc's own forwards) in a node's stack trace."""
    if not stack_trace:
        return None
    import torch

    torch_dir = os.path.dirname(os.path.abspath(torch.__file__))
    here = os.path.dirname(os.path.abspath(__file__))  # irc's own forwards (nn.LSTM, kept modules) live here
    frames = re.findall(r'File "([^"]+)", line (\d+), in [^\n]*\n([^\n]*)', stack_trace)
    for path, line, _code in reversed(frames):
        ap = os.path.abspath(path)
        if ap.startswith((torch_dir + os.sep, here + os.sep)) or "<" in path:
            continue
        src = linecache.getline(path, int(line))  # traces strip indentation; the file has it
        col = len(src) - len(src.lstrip()) + 1 if src.strip() else 1
        # a location that reads the same on every machine: the path inside its package, or the file name
        short = os.path.basename(path)
        for marker in ("site-packages" + os.sep, "dist-packages" + os.sep):
            if marker in ap:
                short = ap.split(marker, 1)[1]
                break
        return FileLoc(short, int(line), col)
    return None


def format_loc(loc: FileLoc | None) -> str:
    return f"{loc.file}:{loc.line}" if loc is not None else "unknown source line"
