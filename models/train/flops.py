"""Per-token FLOPs of a sublayer, as src/plans/cost.ts counts them (test/plan-flops-python.test.ts
checks the two agree): q/k/v/o projections for attention, gate/up/down for the MLP, 2 FLOPs per
multiply-add; attention scores and the lm_head are left out. No torch needed.

usage (for the test): python3 flops.py '<json list of {"cfg": {...}, "plan": {...}}>'
prints the sublayer FLOP fraction each plan removes, one JSON list.
"""
import json
import sys


def sublayer_flops(cfg):
    """(attention, mlp) per-token FLOPs of one layer's sublayers."""
    d, h, kv, i = cfg["hidden_size"], cfg["num_attention_heads"], cfg["num_key_value_heads"], cfg["intermediate_size"]
    hd = cfg.get("head_dim") or d // h
    return 2 * d * hd * (2 * h + 2 * kv), 2 * 3 * d * i


def removed_fraction(cfg, plan):
    """Fraction of all sublayer FLOPs a plan (skipAttention / skipMlp layer lists) removes."""
    fa, fm = sublayer_flops(cfg)
    total = cfg["num_hidden_layers"] * (fa + fm)
    return (len(set(plan.get("skipAttention", []))) * fa + len(set(plan.get("skipMlp", []))) * fm) / total


if __name__ == "__main__":
    cases = json.loads(sys.argv[1])
    print(json.dumps([removed_fraction(c["cfg"], c["plan"]) for c in cases]))
