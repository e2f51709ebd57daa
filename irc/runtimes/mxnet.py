"""MXNet as an irc runtime: a symbol + params run by MXNet 1.9 in a Python of its own.

MXNet 1.9.1 imports only with numpy 1.23.5, so it does not live next to irc: the model runs in a subprocess
of the Python named by $IRC_MXNET_PYTHON (else `python3`, when it imports mxnet). The subprocess loads the
symbol and the params with `mx.sym.load` / `mx.nd.load`, binds on the CPU and writes the outputs (for
`run_named`, those of `sym.get_internals()`, with MKLDNN's subgraph fusion off so that every node computes
its own output) to an .npz file; `run_cases` runs several models in one subprocess (importing mxnet takes
seconds).

`MxnetRuntime(path, module=None, names=None, weights=None)`: `path` is a directory irc-emit wrote
(model-symbol.json + model-0000.params) or a `-symbol.json` with its .params as `weights`. Inputs are the
variables the params do not hold, shaped by their `__shape__` attribute (irc writes it) or, failing that, by
`module`'s arguments. Internal outputs are named `<node>_output` (`_output<K>` for the K-th of several):
a node's name is the IR value's in a file irc emitted; `names` ({MXNet node name: IR value name}, from
`MxnetRuntime.source_names`) translates those of a file irc did not write.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from typing import TYPE_CHECKING

import numpy as np

from ..formats.mxnet import load_params, parse_ints
from ..ir import IrcError, TensorType

if TYPE_CHECKING:
    import torch

    from ..ir import Module

ENV_VAR = "IRC_MXNET_PYTHON"
HOW = ("MXNet 1.9.1 imports only with numpy 1.23.5: make it a Python of its own (python3 -m venv ENV && "
       "ENV/bin/pip install mxnet==1.9.1 numpy==1.23.5) and set IRC_MXNET_PYTHON=ENV/bin/python")
_OUTPUT = re.compile(r"^(.*)_output(\d*)$")

# Run in the MXNet Python: argv[1] is a JSON list of cases {symbol, params, inputs, outputs, internals}.
SCRIPT = r"""
import json, os, sys
import numpy as np
import mxnet as mx

FUSION = os.environ.get("MXNET_SUBGRAPH_BACKEND")

def run(case):
    # intermediate outputs need the graph as written: no MKLDNN subgraph fusion (conv + bn + relu in one node)
    if case["internals"] is not None:
        os.environ["MXNET_SUBGRAPH_BACKEND"] = "NONE"
    elif FUSION is None:
        os.environ.pop("MXNET_SUBGRAPH_BACKEND", None)
    else:
        os.environ["MXNET_SUBGRAPH_BACKEND"] = FUSION
    sym = mx.sym.load(case["symbol"])
    loaded = mx.nd.load(case["params"]) if case["params"] else {}
    loaded = loaded if isinstance(loaded, dict) else {}  # an empty list: a model without weights
    args = {k.split(":", 1)[-1]: v for k, v in loaded.items() if not k.startswith("aux:")}
    aux = {k[4:]: v for k, v in loaded.items() if k.startswith("aux:")}
    data = np.load(case["inputs"])
    for name in data.files:
        args[name] = mx.nd.array(data[name], dtype=data[name].dtype)
    if case["internals"] is not None:
        inner = sym.get_internals()
        keep = [n for n in inner.list_outputs() if n.rsplit("_output", 1)[0] in case["internals"]
                and n not in inner.list_arguments() and n not in inner.list_auxiliary_states()]
        sym = mx.sym.Group([inner[n] for n in keep])
    names = sym.list_outputs()
    bound = sym.bind(mx.cpu(), args=[args[k] for k in sym.list_arguments()],
                     aux_states=[aux[k] for k in sym.list_auxiliary_states()], grad_req="null")
    outs = bound.forward(is_train=False)
    np.savez(case["outputs"], **{"o%d" % i: o.asnumpy() for i, o in enumerate(outs)})
    with open(case["outputs"] + ".json", "w") as f:
        json.dump(names, f)

for case in json.load(open(sys.argv[1])):
    run(case)
"""


def mxnet_python() -> str:
    """The Python that runs MXNet: $IRC_MXNET_PYTHON, else python3 when it imports mxnet; else an IrcError."""
    named = os.environ.get(ENV_VAR)
    if named:
        if not (os.path.isfile(named) or shutil.which(named)):
            raise IrcError(f"{ENV_VAR}={named}: no such program. {HOW}")
        return named
    python = shutil.which("python3")
    if python is not None:
        probe = subprocess.run([python, "-c", "import mxnet"], capture_output=True, env=_clean_env(), timeout=120)
        if probe.returncode == 0:
            return python
    raise IrcError(f"running an MXNet model needs a Python that imports mxnet (python3 does not). {HOW}")


def _clean_env() -> dict:
    return {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}


def run_cases(cases: list[dict], timeout: int = 1800) -> None:
    """Run every case in one MXNet subprocess. A case: {"symbol": path, "params": path or None, "inputs": .npz
    path (one array per input variable), "outputs": .npz path to write, "internals": node names or None}; each
    writes OUTPUTS (o0, o1, ...) and OUTPUTS.json (the output names)."""
    python = mxnet_python()
    with tempfile.TemporaryDirectory(prefix="irc-mxnet-") as tmp:
        script, jobs = os.path.join(tmp, "run.py"), os.path.join(tmp, "cases.json")
        with open(script, "w") as f:
            f.write(SCRIPT)
        with open(jobs, "w") as f:
            json.dump(cases, f)
        proc = subprocess.run([python, script, jobs], capture_output=True, text=True, timeout=timeout,
                              env=_clean_env())
    if proc.returncode != 0:
        lines = [line for line in proc.stderr.strip().splitlines() if line.strip()]
        raise IrcError(f"MXNet ({python}) failed: {lines[-1] if lines else 'exit ' + str(proc.returncode)}")


def read_outputs(path: str) -> list[tuple[str, np.ndarray]]:
    """(output name, array) pairs a case wrote."""
    with open(path + ".json") as f:
        names = json.load(f)
    data = np.load(path)
    return [(name, data[f"o{i}"]) for i, name in enumerate(names)]


def resolve_files(path: str, weights: str | None) -> tuple[str, str | None]:
    """(symbol, params): a directory stands for its model-symbol.json and model-0000.params."""
    if os.path.isdir(path):
        params = os.path.join(path, "model-0000.params")
        return os.path.join(path, "model-symbol.json"), weights or (params if os.path.exists(params) else None)
    return path, weights


class MxnetRuntime:
    """An MXNet symbol + params, run by MXNet in its own Python."""

    def __init__(self, path: str, module: Module | None = None, names: dict[str, str] | None = None,
                 weights: str | None = None):
        self.symbol_path, self.params_path = resolve_files(path, weights)
        try:
            with open(self.symbol_path, encoding="utf-8") as f:
                self.graph = json.load(f)
        except (OSError, ValueError) as e:
            raise IrcError(f"cannot read {self.symbol_path}: {getattr(e, 'strerror', None) or e}") from None
        self.module, self.names = module, names
        self.results: dict[str, list[str]] = {}  # a node's name (its IR op's first result) -> the op's results
        for op in module.main.ops if module is not None else ():
            if op.results:
                self.results.setdefault(op.results[0].name, [r.name for r in op.results])
        held = {k.split(":", 1)[-1] for k in load_params(self.params_path)} if self.params_path else set()
        nodes = self.graph["nodes"]
        self.input_names = [nodes[i]["name"] for i in self.graph["arg_nodes"] if nodes[i]["name"] not in held]
        self.input_types = [self._input_type(i, name) for i, name in enumerate(self.input_names)]
        self.output_names = [self._ir_name(nodes[i]["name"], k) or nodes[i]["name"] for i, k, *_ in
                             self.graph["heads"]]

    def _input_type(self, index: int, name: str) -> TensorType:
        node = next(n for n in self.graph["nodes"] if n["name"] == name)
        shape = parse_ints((node.get("attrs") or node.get("attr") or {}).get("__shape__"))
        if shape is None and self.module is not None and index < len(self.module.main.args):
            return self.module.main.args[index].type
        if shape is None:
            raise IrcError(f"input {name} of {self.symbol_path} has no __shape__: give the IR module")
        return TensorType(tuple(shape), "f32")

    def _ir_name(self, node: str, output: int) -> str | None:
        """The IR value of output `output` of `node`, or None."""
        if self.names is not None:
            return self.names.get(node if output == 0 else f"{node}_output{output}")
        if output == 0:
            return node
        results = self.results.get(node, [])
        return results[output] if output < len(results) else None

    def _count(self, node: str) -> int:
        """How many outputs of `node` may have IR counterparts (several for the node of a split)."""
        if self.names is not None:
            return 1 + sum(1 for key in self.names if key.startswith(node + "_output"))
        return max(1, len(self.results.get(node, [])))

    def _run(self, inputs: list | tuple, internals: list[str] | None) -> list[tuple[str, np.ndarray]]:
        if len(inputs) != len(self.input_names):
            raise IrcError(f"the model takes {len(self.input_names)} input(s), got {len(inputs)}")
        with tempfile.TemporaryDirectory(prefix="irc-mxnet-") as tmp:
            feeds = {name: np.ascontiguousarray(x.detach().cpu().numpy() if hasattr(x, "detach") else x,
                                                dtype=np.float32)
                     for name, x in zip(self.input_names, inputs, strict=True)}
            case = {"symbol": os.path.abspath(self.symbol_path), "inputs": os.path.join(tmp, "inputs.npz"),
                    "params": os.path.abspath(self.params_path) if self.params_path else None,
                    "outputs": os.path.join(tmp, "outputs.npz"), "internals": internals}
            np.savez(case["inputs"], **feeds)
            run_cases([case])
            return read_outputs(case["outputs"])

    def __call__(self, *inputs: torch.Tensor) -> list[torch.Tensor]:
        import torch

        return [torch.from_numpy(np.array(a)) for _, a in self._run(inputs, None)]

    def run_named(self, inputs: list[torch.Tensor],
                  want: set[str] | None = None) -> Iterator[tuple[str, torch.Tensor]]:
        """(IR value name, tensor) for every node output with an IR counterpart, in the graph's order."""
        import torch

        wanted = [n["name"] for n in self.graph["nodes"] if n["op"] != "null"]
        if want is not None:
            wanted = [n for n in wanted if any(self._ir_name(n, k) in want for k in range(self._count(n)))]
        if not wanted:
            return
        for out, arr in self._run(inputs, wanted):
            match = _OUTPUT.match(out)
            if match is None:
                continue
            name = self._ir_name(match.group(1), int(match.group(2) or 0))
            if name is not None and (want is None or name in want):
                yield name, torch.from_numpy(np.array(arr))

    @staticmethod
    def source_names(path: str, weights: str | None = None) -> dict[str, str]:
        """{MXNet node name: IR value name} of a fresh import (for bisecting against an MXNet source)."""
        from ..frontend.mxnet.importer import open_importer

        importer = open_importer(path, weights)
        importer.run()
        return importer.source_names


__all__ = ["MxnetRuntime", "mxnet_python", "read_outputs", "run_cases"]
