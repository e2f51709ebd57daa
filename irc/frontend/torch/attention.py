"""ATen attention → nn.scaled_dot_product_attention."""

from __future__ import annotations

import torch

from ..core import Unsupported
from .importer import imports

aten = torch.ops.aten


@imports(aten.scaled_dot_product_attention.default)
def _sdpa(importer, node, query, key, value, attn_mask=None, dropout_p=0.0, is_causal=False, scale=None,
          enable_gqa=False):
    if dropout_p:
        raise Unsupported("attention with dropout (call model.eval())")
    if enable_gqa:
        raise Unsupported("grouped-query attention (enable_gqa) is not supported")
    ops = [importer.operand(query), importer.operand(key), importer.operand(value)] + \
        ([importer.operand(attn_mask)] if attn_mask is not None else [])
    return importer.result("scaled_dot_product_attention", ops,
                           {"is_causal": bool(is_causal), "scale": None if scale is None else float(scale)})
