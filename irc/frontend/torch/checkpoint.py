"""Safetensors checkpoints larger than memory: the model built on the meta device, its values left in their files.

A checkpoint is one safetensors file or a Hugging Face style index of shards (`model.safetensors.index.json`).
`checkpoint_model` builds the architecture with every parameter on the meta device, gives each state_dict entry
the checkpoint's dtype after checking its shape, and returns the irc WeightStore that reads the files (headers
only): torch.export traces the meta model and the importer's `nn.param` ops name the checkpoint's own keys.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import TYPE_CHECKING

import numpy as np

from ...ir import IrcError, WeightStore
from .importer import store_tensor
from .load import Source, _check_fit, build_arch

if TYPE_CHECKING:
    import torch


@contextlib.contextmanager
def params_on_meta() -> Iterator[None]:
    """While a model is built, every parameter goes to the meta device as it is registered (buffers stay
    real: a table computed in __init__ keeps its values). A parameter's CPU storage exists only between
    its creation and its registration, and its initialisation runs on the meta device (no work)."""
    import torch

    orig = torch.nn.Module.register_parameter

    def register(self, name, param):
        orig(self, name, param)
        if param is not None and param.device.type != "meta":
            self._parameters[name] = torch.nn.Parameter(param.to("meta"), requires_grad=param.requires_grad)

    torch.nn.Module.register_parameter = register
    try:
        yield
    finally:
        torch.nn.Module.register_parameter = orig


def checkpoint_model(path: str, arch: str | None, arch_args: str | dict | None) -> Source:
    """A safetensors checkpoint (a file, or an index of shards) with its architecture: the model built on the
    meta device, each state_dict entry given the checkpoint's shape check and its dtype (as
    `load_state_dict(assign=True)` would), and the store that holds the values. Buffers the state_dict does not
    hold (non-persistent ones) keep the values __init__ gave them, in the store's memory; where every float tensor
    of the checkpoint has one dtype, a float buffer takes it too, as after `model.to(dtype)`."""
    import torch

    from ...ir.dtypes import FLOAT_DTYPES, torch_dtype

    store = WeightStore(path)  # headers only; a bad index or shard is refused here
    store.checkpoint = True
    if not arch:
        raise IrcError(f"{path}: a safetensors checkpoint ({len(store.keys())} tensors) holds weights but no "
                       "architecture; give it with --arch package.module:callable or --arch path/to/file.py:Class "
                       "(and --arch-args '{...}')")
    with params_on_meta():
        model = build_arch(arch, arch_args)
    if not isinstance(model, torch.nn.Module):
        raise IrcError(f"--arch {arch} returned a {type(model).__name__}, not a torch.nn.Module")
    own = model.state_dict(keep_vars=True)
    _check_fit(path, {k: tuple(store.type_of(k).shape) for k in store.keys()},
               {k: tuple(v.shape) for k, v in own.items()}, "checkpoint")
    for name, t in own.items():
        meta = torch.empty(tuple(t.shape), dtype=torch_dtype(store.type_of(name).dtype), device="meta")
        _assign(model, name, torch.nn.Parameter(meta, requires_grad=False) if isinstance(t, torch.nn.Parameter)
                else meta)
    floats = {store.type_of(k).dtype for k in store.keys()} & set(FLOAT_DTYPES)
    for name, buf in list(model.named_buffers()):
        if buf.device.type != "meta":  # not in the state_dict: its values live in the store's memory
            t = buf.detach().contiguous()
            if t.is_floating_point() and len(floats) == 1:
                t = t.to(torch_dtype(next(iter(floats))))
            store_tensor(store, name, t)
            _assign(model, name, t.to("meta"))
    return Source(model.eval(), "safetensors checkpoint", path, weights=store)


def materialize_checkpoint(model: torch.nn.Module, store: WeightStore) -> None:
    """Give a checkpoint model built on the meta device its values (copies: for a model that is to run)."""
    import torch

    own = dict(model.named_buffers())
    own.update(model.state_dict(keep_vars=True))  # and the non-persistent buffers, whose values the store holds
    for name, t in own.items():
        arr = np.array(store.numpy(name))
        value = torch.from_numpy(arr)
        if t.dtype == torch.bfloat16:  # the store holds its raw bits
            value = value.view(torch.bfloat16)
        _assign(model, name, torch.nn.Parameter(value, requires_grad=False) if isinstance(t, torch.nn.Parameter)
                else value)


def _assign(model, name: str, value) -> None:
    owner, _, attr = name.rpartition(".")
    mod = model.get_submodule(owner) if owner else model
    table = mod._parameters if attr in mod._parameters else mod._buffers
    table[attr] = value
