"""Warm start from an exported model, optionally deeper (block expansion, as in LLaMA Pro).

A new layer inserted after old layer l is a copy of l with its output projections (o_proj,
down_proj) zeroed, so the grown model computes exactly what the old one did and the new layers
learn from there. Embeddings, final norm and every old layer keep their weights.
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


def init_from_exported(model, src_dir, grow_after=()):
    """Loads src_dir/model.safetensors into `model`, inserting zero-output copies after the layers
    listed in grow_after. Returns the list of (old index, is_copy) per new layer."""
    old = {k: torch.from_numpy(v.copy()) for k, v in read_safetensors(os.path.join(src_dir, "model.safetensors")).items()}
    old_layers = 1 + max(int(k.split(".")[2]) for k in old if k.startswith("model.layers."))
    sources = layer_sources(old_layers, sorted(grow_after))
    if len(sources) != len(model.model.layers):
        raise SystemExit(f"grow: {old_layers} layers + {len(grow_after)} copies != {len(model.model.layers)} layers")
    sd = {}
    for k, v in old.items():
        if not k.startswith("model.layers."):
            sd[k] = v
    for new_l, (old_l, copy) in enumerate(sources):
        prefix = f"model.layers.{old_l}."
        for k, v in old.items():
            if k.startswith(prefix):
                name = k[len(prefix):]
                t = v.clone()
                if copy and name in ("self_attn.o_proj.weight", "mlp.down_proj.weight"):
                    t.zero_()
                sd[f"model.layers.{new_l}.{name}"] = t
    missing, unexpected = model.load_state_dict(sd, strict=False)
    missing = [m for m in missing if not m.startswith("rope_")]
    if missing or unexpected:
        raise SystemExit(f"grow: state dict mismatch: missing {missing}, unexpected {unexpected}")
    return sources
