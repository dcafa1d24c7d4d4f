"""Warm start from an exported model, optionally deeper (block expansion, as in LLaMA Pro).

A new layer inserted after old layer l is a copy of l with its output projections (o_proj,
down_proj) zeroed, so the grown model computes exactly what the old one did and the new layers
learn from there. Embeddings, final norm and every old layer keep their weights.

Wider, with heads_split=S: every query head becomes S heads of the same size, each a copy of it
(same q_proj rows) whose share of o_proj is 1/S of the original's, so again the function is exactly
the old one. New head h*S+j is a copy of old head h and reads the same KV head (the group of a KV
head grows from H/KV to S*H/KV query heads, in order). Training with per-head masks then has S
heads to spread each old head's work over.
"""
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from export import read_safetensors  # noqa: E402


def layer_sources(old_layers, grow_after):
    """For each new layer, (old layer index, is_new_copy)."""
    out = []
    for l in range(old_layers):
        out.append((l, False))
        out.extend((l, True) for g in grow_after if g == l)
    return out


def split_heads(name, t, old_heads, s):
    """The tensor `name` of one layer with each of its old_heads query heads repeated s times (t
    itself when there is nothing to split)."""
    if s == 1:
        return t
    if name == "self_attn.q_proj.weight":  # (H*hd, d): head h's rows, s times in a row
        hd = t.shape[0] // old_heads
        return t.view(old_heads, 1, hd, -1).expand(old_heads, s, hd, t.shape[1]).reshape(-1, t.shape[1])
    if name == "self_attn.o_proj.weight":  # (d, H*hd): head h's columns, s times, each 1/s of them
        hd = t.shape[1] // old_heads
        return (t.view(-1, old_heads, 1, hd).expand(t.shape[0], old_heads, s, hd) / s).reshape(t.shape[0], -1)
    return t


def init_from_exported(model, src_dir, grow_after=(), heads_split=1):
    """Loads src_dir/model.safetensors into `model`, inserting zero-output copies after the layers
    listed in grow_after and splitting each query head into heads_split copies. Returns the list
    of (old index, is_copy) per new layer."""
    old = {k: torch.from_numpy(v.copy()) for k, v in read_safetensors(os.path.join(src_dir, "model.safetensors")).items()}
    old_layers = 1 + max(int(k.split(".")[2]) for k in old if k.startswith("model.layers."))
    sources = layer_sources(old_layers, sorted(grow_after))
    if len(sources) != len(model.model.layers):
        raise SystemExit(f"grow: {old_layers} layers + {len(grow_after)} copies != {len(model.model.layers)} layers")
    old_heads = model.cfg["num_attention_heads"] // heads_split
    if old_heads * heads_split != model.cfg["num_attention_heads"]:
        raise SystemExit(f"grow: {model.cfg['num_attention_heads']} heads are not {heads_split} x the old count")
    sd = {}
    for k, v in old.items():
        if not k.startswith("model.layers."):
            sd[k] = v
    for new_l, (old_l, copy) in enumerate(sources):
        prefix = f"model.layers.{old_l}."
        for k, v in old.items():
            if k.startswith(prefix):
                name = k[len(prefix):]
                t = split_heads(name, v, old_heads, heads_split).clone()
                if copy and name in ("self_attn.o_proj.weight", "mlp.down_proj.weight"):
                    t.zero_()
                sd[f"model.layers.{new_l}.{name}"] = t
    missing, unexpected = model.load_state_dict(sd, strict=False)
    missing = [m for m in missing if not m.startswith("rope_")]
    if missing or unexpected:
        raise SystemExit(f"grow: state dict mismatch: missing {missing}, unexpected {unexpected}")
    return sources
