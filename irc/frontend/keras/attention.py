"""MultiHeadAttention: the query/key/value projections as nn.linear (each kernel [dim, heads, size] stored as
[heads*size, dim]), heads split with a reshape and a transpose, nn.scaled_dot_product_attention (Keras scales
the query by 1/sqrt(key_dim), the op's default), heads merged back and the output projection as nn.linear
(kernel [heads, value_dim, out] stored as [out, heads*value_dim]). Rank-3 inputs [batch, seq, dim] attending
over the sequence axis (Keras' default attention_axes); a mask, a gate or a sliding window is refused."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ...ir import Value
from ..core import Unsupported
from .tables import imports

if TYPE_CHECKING:
    from .importer import KerasImporter


def _project(importer: KerasImporter, x: Value, dense: object, heads: int, size: int, what: str) -> Value:
    """x [B, T, dim] → [B, heads, T, size] through the EinsumDense `dense`."""
    dim = x.type.shape[-1]
    w = importer.weight(dense.kernel, lambda a: a.reshape(dim, heads * size).T, how="linear")
    operands = [x, w]
    if dense.bias is not None:
        operands.append(importer.weight(dense.bias, lambda a: a.reshape(-1), how="flat"))
    y = importer.emit("linear", operands)
    y = importer.emit("reshape", [y], {"shape": [0, 0, heads, size]})
    return importer.emit("transpose", [y], {"perm": [0, 2, 1, 3]})


@imports("MultiHeadAttention")
def multi_head_attention(importer: KerasImporter, layer: object, ins: list[Value]) -> Value:
    node_args = importer.node.arguments
    if node_args.kwargs and any(k not in ("query", "value", "key") for k in node_args.kwargs):
        raise Unsupported(f"called with {', '.join(sorted(node_args.kwargs))}: only query, value and key are mapped")
    if len(ins) not in (2, 3) or node_args.kwargs:
        raise Unsupported("call it as layer(query, value[, key]) with positional tensors")
    query, value = ins[0], ins[1]
    key = ins[2] if len(ins) == 3 else value
    if any(v.type.rank != 3 for v in (query, key, value)):
        raise Unsupported("only [batch, sequence, features] inputs are mapped")
    if tuple(importer.config("attention_axes") or (1,)) not in ((1,), (-2,)) or importer.config("use_gate") or \
            importer.config("sliding_window"):
        raise Unsupported("attention_axes other than the sequence, use_gate and sliding_window are not mapped")
    heads, key_dim = layer.num_heads, layer.key_dim
    value_dim = layer.value_dim or key_dim
    q = _project(importer, query, layer.query_dense, heads, key_dim, "query")
    k = _project(importer, key, layer.key_dense, heads, key_dim, "key")
    v = _project(importer, value, layer.value_dense, heads, value_dim, "value")
    att = importer.emit("scaled_dot_product_attention", [q, k, v])
    att = importer.emit("transpose", [att], {"perm": [0, 2, 1, 3]})
    att = importer.emit("reshape", [att], {"shape": [0, 0, heads * value_dim]})
    out_dense = layer.output_dense
    out_dim = out_dense.kernel.shape[-1]
    operands = [att, importer.weight(out_dense.kernel, lambda a: a.reshape(heads * value_dim, out_dim).T,
                                     how="linear")]
    if out_dense.bias is not None:
        operands.append(importer.weight(out_dense.bias))
    return importer.emit("linear", operands)
