"""The fixed parts of model.py: its docstring and imports, the Container class, example_inputs(),
load(), and finish_pending_writes(), which load() calls first."""

from __future__ import annotations

from .base import torch_dtype_text

CONTAINER = "Container"

# The stdlib-only twin of irc.ir.writer.finish_pending_writes for the two files emit_pytorch writes
# (model.safetensors, then model.py with the journal named after it). The test suite's audit checks
# that the emitted file holds exactly this function and no other file access.
FINISH_PENDING_WRITES = '''

def finish_pending_writes(folder):
    """Complete a write of model.safetensors and model.py by irc that was interrupted: rename the
    temporaries its journal lists into place (what irc.ir.writer.finish_pending_writes does)."""
    journal = os.path.join(folder, ".model.py.irc-commit")
    try:
        with open(journal, "rb") as f:
            renames = [(tmp, final) for tmp, final in json.loads(f.read(65536))]
    except (OSError, ValueError, TypeError):
        return
    for tmp, final in renames:
        if not (isinstance(tmp, str) and isinstance(final, str) and final not in ("", ".", "..")
                and os.path.basename(tmp) == tmp and os.path.basename(final) == final
                and tmp.startswith("." + final + ".") and tmp.endswith(".tmp")):
            return
    for tmp, final in renames:
        if os.path.exists(os.path.join(folder, tmp)):
            os.replace(os.path.join(folder, tmp), os.path.join(folder, final))
    os.remove(journal)
'''


def header(cls: str, module_name: str, uses_functional: bool, uses_ordered_dict: bool = False) -> str:
    return (f'"""{cls}: written by irc from the IR module @{module_name}.\n\n'
            "Load it with `model = load()` (weights from model.safetensors beside this file).\n"
            '"""\n\n'
            "import json\nimport os\n" + ("from collections import OrderedDict\n" if uses_ordered_dict else "")
            + "\nimport torch\n"
            + ("import torch.nn.functional as F\n" if uses_functional else "")
            + "from torch import nn\n")


def container() -> str:
    return f"""

class {CONTAINER}(nn.Module):
    \"\"\"Submodules under the source's names; numbered ones (an nn.Sequential's) by index: self.layer1[0].\"\"\"

    def __getitem__(self, index):
        return getattr(self, str(index))

    def __setitem__(self, index, value):
        setattr(self, str(index), value)
"""


def example_inputs(args: list) -> str:
    """`example_inputs(batch, seed)`: the random inputs irc-check uses (irc.check.random_inputs)."""
    items = []
    for arg in args:
        t = arg.type
        dims = [("batch" if d is None else str(d)) for d in t.shape]
        shape = f"({', '.join(dims)}{',' if len(dims) == 1 else ''})"
        if t.dtype.startswith(("f", "bf")):
            item = f"torch.randn({shape}, generator=g)"
        else:
            item = f"torch.randint(0, 2, {shape}, generator=g)"
        items.append(item if t.dtype == "f32" else f"{item}.to({torch_dtype_text(t.dtype)})")
    body = "return (" + ", ".join(items) + ("," if len(items) == 1 else "") + ")"
    if len(body) > 100:
        body = "return (\n" + "".join(f"        {item},\n" for item in items) + "    )"
    return f"""

def example_inputs(batch=1, seed=0):
    \"\"\"Random inputs for forward, every dynamic dimension set to `batch` (what irc-check feeds).\"\"\"
    g = torch.Generator().manual_seed(seed * 1000 + batch)
    {body}
"""


def load(cls: str, channels_last: bool = False) -> str:
    """The emitted `load()`; with `channels_last`, it puts the model's 4-d weights in channels-last memory format
    (torch's CPU convolutions then run channels-last from the first one on: faster, results within the pass
    rule rather than bit-identical)."""
    to = ("\n    # irc-emit --channels-last: 4-d weights channels-last, so the convolutions run channels-last"
          "\n    model = model.to(memory_format=torch.channels_last)") if channels_last else ""
    return FINISH_PENDING_WRITES + f'''

def load(weights=None):
    """The {cls} model in eval mode with its weights: a state_dict, a safetensors path, or by default
    model.safetensors beside this file."""
    folder = os.path.dirname(os.path.abspath(__file__))
    finish_pending_writes(folder)
    model = {cls}()
    if weights is None:
        weights = os.path.join(folder, "model.safetensors")
    if isinstance(weights, (str, os.PathLike)):
        from safetensors.torch import load_file

        weights = load_file(weights)
    model.load_state_dict(weights){to}
    return model.eval()
'''
