"""``torch.nn.functional``'s attention: ``scaled_dot_product_attention`` (the fused flash-attention kernel on
cuda, its math on cpu) and ``multi_head_attention_forward`` (what ``nn.MultiheadAttention`` calls), with their
mask helpers. Re-exported by `tritongrad.nn.functional`, where scripts find them.
"""
from __future__ import annotations

import math

import numpy as np

from .. import dtypes as _dt
from .._autocast import autocast_op
from ..tensor import tensor, zeros
from . import _functions as _fn
from .functional import dropout, linear, pad

__all__ = ["scaled_dot_product_attention", "multi_head_attention_forward"]


def _additive_mask(mask, dtype):
    """A bool mask (True = attend) as an additive 0 / -inf mask of ``dtype``; float masks are cast."""
    if mask is None:
        return None
    if mask.dtype is _dt.bool:
        return zeros(mask.shape, dtype=dtype, device=mask.device).masked_fill(mask.logical_not(), float("-inf"))
    return mask if mask.dtype is dtype else mask.to(dtype)


def _causal_mask(lq, lk, device):
    return tensor(np.tril(np.ones((lq, lk), dtype=bool)), device=device)


def _gqa_heads(query, key, value):
    """(query heads, key/value heads) of ``enable_gqa=True`` operands, checked as PyTorch does."""
    if query.ndim < 3:
        raise RuntimeError(f"scaled_dot_product_attention: enable_gqa needs a heads dim (..., H, L, E), got "
                           f"query {list(query.shape)}")
    hq, hkv = query.shape[-3], key.shape[-3]
    if value.shape[-3] != hkv or hkv == 0 or hq % hkv:
        raise RuntimeError(f"scaled_dot_product_attention: with enable_gqa the key and value heads "
                           f"({hkv}, {value.shape[-3]}) must be equal and divide the query heads ({hq}); got query "
                           f"{list(query.shape)}, key {list(key.shape)}, value {list(value.shape)}")
    return hq, hkv


def _repeat_heads(x, groups):
    """``x.repeat_interleave(groups, dim=-3)`` (each key/value head repeated for its query group)."""
    *lead, h, length, e = x.shape
    return x.unsqueeze(-3).expand(*lead, h, groups, length, e).reshape(*lead, h * groups, length, e)


def _heads_view(t, lead, b):
    """Key or value broadcast to ``lead + (L, E)`` and viewed as (b, heads, L, E)."""
    shape = lead + tuple(t.shape[-2:])
    t = t if tuple(t.shape) == shape else t.expand(shape)
    return t if t.ndim == 4 else t.reshape(b, lead[-1], *shape[-2:])


@autocast_op("scaled_dot_product_attention")
def scaled_dot_product_attention(query, key, value, attn_mask=None, dropout_p=0.0, is_causal=False, scale=None,
                                 enable_gqa=False):
    """``softmax(q k^T * scale + mask) v`` (``F.scaled_dot_product_attention``) for (..., L, E) operands.

    ``attn_mask``: bool (True = may attend) or additive float, broadcastable to (..., L, S); ``is_causal``:
    query i attends keys j <= i (top-left, PyTorch's convention; not together with ``attn_mask``); ``scale``
    defaults to ``1/sqrt(E)``. ``enable_gqa``: grouped-query attention (PyTorch >= 2.5), key and value
    (..., Hkv, S, E) with Hkv dividing the query's heads H; query head h reads key/value head h // (H // Hkv)
    (the kernel reads the shared heads in place, nothing is repeated in memory). Without dropout this is the
    flash-attention kernel (nothing L x S stored). With ``dropout_p > 0`` the weights are computed with plain
    ops (matmul, softmax, a Philox dropout on the weights, matmul), as PyTorch's math reference does: L x S
    memory. Rows with every key masked give 0 in the kernel path (PyTorch >= 2.5)."""
    if query.ndim < 2 or key.ndim != query.ndim or value.ndim != query.ndim:
        raise RuntimeError(f"scaled_dot_product_attention: query, key and value must have the same number of "
                           f"dims (>= 2), got {list(query.shape)}, {list(key.shape)}, {list(value.shape)}")
    if is_causal and attn_mask is not None:
        raise RuntimeError("_scaled_dot_product_attention: Explicit attn_mask should not be set when is_causal=True")
    lq, e = query.shape[-2], query.shape[-1]
    lk = key.shape[-2]
    if key.shape[-1] != e or value.shape[-2] != lk:
        raise RuntimeError(f"scaled_dot_product_attention: incompatible shapes query {list(query.shape)}, key "
                           f"{list(key.shape)}, value {list(value.shape)}")
    gqa = bool(enable_gqa) and _gqa_heads(query, key, value)[1] != query.shape[-3]
    scale = 1.0 / math.sqrt(e) if scale is None else float(scale)
    mask = _additive_mask(attn_mask, query.dtype)
    if dropout_p > 0.0:
        if gqa:
            groups = query.shape[-3] // key.shape[-3]
            key, value = _repeat_heads(key, groups), _repeat_heads(value, groups)
        scores = (query @ key.transpose(-2, -1)) * scale
        if is_causal:
            scores = scores.masked_fill(_causal_mask(lq, lk, query.device).logical_not(), float("-inf"))
        if mask is not None:
            scores = scores + mask
        return dropout(scores.softmax(-1), dropout_p, training=True) @ value
    lead = tuple(query.shape[:-2])
    if query.ndim == 2:
        q, k, v = (t.reshape(1, 1, *t.shape) for t in (query, key, value))
    else:      # (B, H, L, E): the dims before the heads flattened, key/value broadcast to them (Hkv heads)
        b, heads = math.prod(lead[:-1]), lead[-1]
        kv_lead = lead[:-1] + ((key.shape[-3],) if gqa else (heads,))
        q = query if query.ndim == 4 else query.reshape(b, heads, lq, e)
        k, v = (_heads_view(t, kv_lead, b) for t in (key, value))
        if mask is not None and mask.ndim > 2 and query.ndim != 4:
            mask = mask.expand(lead + (lq, lk)).reshape(b, heads, lq, lk)
    out = _fn.SDPAFn.apply(q, k, v, mask, is_causal=bool(is_causal), scale=scale)
    return out if query.ndim == 4 else out.reshape(lead + (lq, value.shape[-1]))


def multi_head_attention_forward(query, key, value, num_heads, in_proj_weight, in_proj_bias, bias_k, bias_v,
                                 add_zero_attn, dropout_p, out_proj_weight, out_proj_bias, training=True,
                                 key_padding_mask=None, need_weights=True, attn_mask=None,
                                 use_separate_proj_weight=False, q_proj_weight=None, k_proj_weight=None,
                                 v_proj_weight=None, static_k=None, static_v=None, average_attn_weights=True,
                                 is_causal=False):
    """``F.multi_head_attention_forward`` for (L, N, E) inputs (or unbatched (L, E)). Returns
    ``(attn_output, attn_weights)``; the weights (averaged over heads when ``average_attn_weights``) are
    computed with plain ops when ``need_weights``, otherwise the fused attention kernel runs and the weights
    are None."""
    if static_k is not None or static_v is not None:
        raise NotImplementedError("multi_head_attention_forward: static_k/static_v are not supported")
    unbatched = query.ndim == 2
    if unbatched:
        query, key, value = query.unsqueeze(1), key.unsqueeze(1), value.unsqueeze(1)
        if key_padding_mask is not None:
            key_padding_mask = key_padding_mask.unsqueeze(0)
    tgt_len, bsz, embed_dim = query.shape
    src_len = key.shape[0]
    head_dim = embed_dim // num_heads
    if head_dim * num_heads != embed_dim:
        raise AssertionError(f"embed_dim {embed_dim} not divisible by num_heads {num_heads}")
    if is_causal and attn_mask is None:
        raise RuntimeError("Need attn_mask if specifying the is_causal hint. You may use the Transformer module "
                           "method `generate_square_subsequent_mask` to create this mask.")
    if is_causal and key_padding_mask is None and not need_weights:
        attn_mask = None
    else:
        is_causal = False
    # input projections
    if not use_separate_proj_weight:
        if query is key and key is value:
            q, k, v = linear(query, in_proj_weight, in_proj_bias).chunk(3, dim=-1)
        else:
            w_q, w_k, w_v = in_proj_weight.chunk(3)
            b_q, b_k, b_v = (None, None, None) if in_proj_bias is None else in_proj_bias.chunk(3)
            q, k, v = linear(query, w_q, b_q), linear(key, w_k, b_k), linear(value, w_v, b_v)
    else:
        b_q, b_k, b_v = (None, None, None) if in_proj_bias is None else in_proj_bias.chunk(3)
        q, k, v = linear(query, q_proj_weight, b_q), linear(key, k_proj_weight, b_k), linear(value, v_proj_weight, b_v)
    # masks: attn_mask (L, S) or (N*H, L, S), key_padding_mask (N, S); bool True = NOT allowed (PyTorch)
    if attn_mask is not None:
        if attn_mask.ndim == 2:
            if tuple(attn_mask.shape) != (tgt_len, src_len):
                raise RuntimeError(f"The shape of the 2D attn_mask is {attn_mask.shape}, but should be "
                                   f"{(tgt_len, src_len)}.")
            attn_mask = attn_mask.unsqueeze(0)
        elif attn_mask.ndim == 3:
            if tuple(attn_mask.shape) != (bsz * num_heads, tgt_len, src_len):
                raise RuntimeError(f"The shape of the 3D attn_mask is {attn_mask.shape}, but should be "
                                   f"{(bsz * num_heads, tgt_len, src_len)}.")
        else:
            raise RuntimeError(f"attn_mask's dimension {attn_mask.dim()} is not supported")
        attn_mask = _mha_additive(attn_mask, q.dtype)
    if key_padding_mask is not None:
        key_padding_mask = _mha_additive(key_padding_mask, q.dtype)
    if bias_k is not None:
        k = _cat_seq(k, bias_k.expand(1, bsz, embed_dim))
        v = _cat_seq(v, bias_v.expand(1, bsz, embed_dim))
        attn_mask = None if attn_mask is None else pad(attn_mask, (0, 1))
        key_padding_mask = None if key_padding_mask is None else pad(key_padding_mask, (0, 1))
    if add_zero_attn:
        zero = zeros((1, bsz, embed_dim), dtype=k.dtype, device=k.device)
        k, v = _cat_seq(k, zero), _cat_seq(v, zero)
        attn_mask = None if attn_mask is None else pad(attn_mask, (0, 1))
        key_padding_mask = None if key_padding_mask is None else pad(key_padding_mask, (0, 1))
    s = k.shape[0]
    # (L, N, E) -> (N, H, L, hd)
    q = q.reshape(tgt_len, bsz, num_heads, head_dim).permute(1, 2, 0, 3)
    k = k.reshape(s, bsz, num_heads, head_dim).permute(1, 2, 0, 3)
    v = v.reshape(s, bsz, num_heads, head_dim).permute(1, 2, 0, 3)
    mask = None
    if attn_mask is not None:
        mask = attn_mask.reshape(-1, num_heads, tgt_len, s) if attn_mask.shape[0] != 1 else attn_mask.unsqueeze(0)
    if key_padding_mask is not None:
        kpm = key_padding_mask.reshape(bsz, 1, 1, s)
        mask = kpm if mask is None else mask + kpm
    if not training:
        dropout_p = 0.0
    if need_weights:
        scores = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(head_dim))
        if mask is not None:
            scores = scores + mask
        weights = scores.softmax(-1)
        if dropout_p > 0.0:
            weights = dropout(weights, dropout_p, training=True)
        out = weights @ v
    else:
        out = scaled_dot_product_attention(q, k, v, mask, dropout_p, is_causal)
        weights = None
    out = out.permute(2, 0, 1, 3).reshape(tgt_len, bsz, embed_dim)
    out = linear(out, out_proj_weight, out_proj_bias)
    if weights is not None and average_attn_weights:
        weights = weights.mean(dim=1)
    if unbatched:
        out = out.squeeze(1)
        if weights is not None:
            weights = weights.squeeze(0)
    return out, weights


def _mha_additive(mask, dtype):
    """MultiheadAttention's masks: bool True means *masked out* (the opposite of SDPA's bool masks)."""
    if mask.dtype is _dt.bool:
        return zeros(mask.shape, dtype=dtype, device=mask.device).masked_fill(mask, float("-inf"))
    return mask if mask.dtype is dtype else mask.to(dtype)


def _cat_seq(a, b):
    from ..tensor import cat
    return cat([a, b], 0)
