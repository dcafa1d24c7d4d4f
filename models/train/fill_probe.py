"""What a masked head or a skipped sublayer should add instead of zero: a probe (torch, greedy).

usage: fill_probe.py --model DIR --problems TEST.jsonl --calib TRAIN.jsonl [--count 300]
                     [--heads 0.7,0.6] [--cores 'a1,5,8,15/m1,2,6,11;...'] [--learn-min 10] [--lr 3e-2]

Three fills, each evaluated on the same problems and paired with the full model's greedy answers:
  zero     what the model was trained with and the runtime does;
  mean     the part's mean output over the calibration problems (teacher-forced prompt + solution,
           every position): mean ablation, the bias compensation of structured pruning;
  learned  per-head fills trained with the model frozen (Adam, --learn-min minutes from zero, KL to
           the full model on the calibration problems' answer tokens, one head masked per example,
           half of them one of --heads): the best constant a head can be replaced by.
Sublayer fills are the mean only (a core's fill is its sublayers' means). Prints one JSON line per
setting: accuracy, drop from the full model with its 95% interval (paired), and each fill against zero.
With --attention-stats L it prints instead, per head of layer L over the first 40 calibration
problems, the attention's mean entropy (nats) and its mass on the token itself, the previous token,
<s> and digit tokens.
"""
import argparse
import json
import math
import os
import random
import sys
import time

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from model import greedy  # noqa: E402
from tokenizer import BOS, EOS, Tokenizer, completion_text, prompt_text  # noqa: E402
from torch_greedy import load_exported  # noqa: E402


def paired(a, b):
    """Mean of a - b (points) and the half-width of its 95% interval (normal approximation)."""
    d = [x - y for x, y in zip(a, b)]
    m = sum(d) / len(d)
    sd = math.sqrt(sum((x - m) ** 2 for x in d) / max(1, len(d) - 1))
    return round(100 * m, 1), round(100 * 1.96 * sd / math.sqrt(len(d)), 1)


def examples(tok, rows):
    """(token ids, answer start) of each calibration problem, teacher-forced."""
    out = []
    for r in rows:
        p = [BOS] + tok.encode(prompt_text(r["question"]))
        out.append((p + tok.encode(completion_text(r["solution"])) + [EOS], len(p)))
    return out


@torch.no_grad()
def mean_fills(model, exs):
    """Mean head outputs (before o_proj), attention and MLP outputs over every position."""
    cfg = model.cfg
    L, H, d = cfg["num_hidden_layers"], cfg["num_attention_heads"], cfg["hidden_size"]
    hd = model.model.layers[0].self_attn.hd
    head, mlp, n = torch.zeros(L, H * hd), torch.zeros(L, d), 0
    hooks = []

    def into(acc, l, which):
        # A forward hook that returns a tensor replaces the module's output: this one returns None.
        def hook(_module, inputs, output):
            acc[l] += (inputs[0] if which == "input" else output).sum(dim=(0, 1))
        return hook

    for l, layer in enumerate(model.model.layers):
        hooks.append(layer.self_attn.o_proj.register_forward_hook(into(head, l, "input")))
        hooks.append(layer.mlp.register_forward_hook(into(mlp, l, "output")))
    for ids, _ in exs:
        model(torch.tensor([ids]))
        n += len(ids)
    for h in hooks:
        h.remove()
    head /= n
    attn = torch.stack([layer.self_attn.o_proj(head[l]) for l, layer in enumerate(model.model.layers)])
    return {"head": head.view(L, H, hd), "attn": attn, "mlp": mlp / n}, n


@torch.no_grad()
def attention_stats(model, tok, exs, layer):
    """Per head of `layer`: mean entropy and attention mass on self, previous token, <s>, digits."""
    att, seen = model.model.layers[layer].self_attn, {}
    hook = att.register_forward_pre_hook(lambda mod, args: seen.update(x=args[0], cos=args[1], sin=args[2], bias=args[3]))
    keys = ("entropy", "self", "previous", "bos", "digits")
    sums, n = torch.zeros(att.h, len(keys)), 0
    for ids, _ in exs[:40]:
        model(torch.tensor([ids]))
        q, k = att.rotated_qk(seen["x"], seen["cos"], seen["sin"])
        k = k.repeat_interleave(att.h // att.kv, dim=1)
        p = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(att.hd) + seen["bias"], -1)[0]
        digit = torch.tensor([tok.decode([i]).strip().isdigit() for i in ids], dtype=torch.float)
        sums[:, 0] += -(p * p.clamp_min(1e-12).log()).sum(dim=(1, 2))
        sums[:, 1] += p.diagonal(dim1=1, dim2=2).sum(-1)
        sums[:, 2] += p.diagonal(-1, dim1=1, dim2=2).sum(-1)
        sums[:, 3] += p[:, :, 0].sum(-1)
        sums[:, 4] += (p * digit).sum(dim=(1, 2))
        n += len(ids)
    hook.remove()
    return [{"head": f"{layer}.{h}", **{k: round(float(v) / n, 3) for k, v in zip(keys, sums[h])}} for h in range(att.h)]


def learned_fills(model, exs, focus, minutes, lr, seed=0):
    """Per-head fills from zero, the model frozen: KL(full || one head masked) on answer tokens.
    Returns the fill (sublayer fills zero) and the optimizer steps taken."""
    cfg = model.cfg
    L, H, d = cfg["num_hidden_layers"], cfg["num_attention_heads"], cfg["hidden_size"]
    P = torch.zeros(L, H, model.model.layers[0].self_attn.hd, requires_grad=True)
    fill = {"head": P, "attn": torch.zeros(L, d), "mlp": torch.zeros(L, d)}
    for p in model.parameters():
        p.requires_grad_(False)
    opt, rng, t0, steps = torch.optim.Adam([P], lr=lr), random.Random(seed), time.time(), 0
    while time.time() - t0 < 60 * minutes:
        for ids, a in rng.sample(exs, 8):
            x = torch.tensor([ids])
            model.fill = None
            with torch.no_grad():
                target = F.log_softmax(model(x)[0, a - 1:-1], -1)
            keep = torch.ones(1, L, H)
            l, h = rng.choice(focus) if focus and rng.random() < 0.5 else (rng.randrange(L), rng.randrange(H))
            keep[0, l, h] = 0
            model.fill = fill
            out = F.log_softmax(model(x, head_keep=keep)[0, a - 1:-1], -1)
            (F.kl_div(out, target, log_target=True, reduction="batchmean") / 8).backward()
        opt.step()
        opt.zero_grad()
        steps += 1
    model.fill = None
    P.requires_grad_(False)
    return fill, steps


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True)
    ap.add_argument("--problems", required=True)
    ap.add_argument("--calib", required=True)
    ap.add_argument("--count", type=int, default=300)
    ap.add_argument("--heads", default="0.7")
    ap.add_argument("--cores", default="a1,5,8,15/m1,2,6,11")
    ap.add_argument("--learn-min", type=float, default=10)
    ap.add_argument("--lr", type=float, default=3e-2)
    ap.add_argument("--max-new", type=int, default=360)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--attention-stats", type=int, default=None, metavar="LAYER")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    model, cfg = load_exported(a.model)
    model.eval()
    tok = Tokenizer.load(os.path.join(a.model, "tokenizer.json"))
    exs = examples(tok, [json.loads(x) for x in open(a.calib) if x.strip()])
    if a.attention_stats is not None:
        for row in attention_stats(model, tok, exs, a.attention_stats):
            print(json.dumps(row))
        return
    test = [json.loads(x) for x in open(a.problems) if x.strip()][: a.count]
    prompts = [[BOS] + tok.encode(prompt_text(r["question"])) for r in test]
    heads = [tuple(int(v) for v in s.split(".")) for s in a.heads.split(",") if s]
    cores = []
    for spec in [c for c in a.cores.split(";") if c]:
        plan = {"skipAttention": [], "skipMlp": [], "maskHeads": {}}
        for part in spec.split("/"):
            plan["skipAttention" if part[0] == "a" else "skipMlp"] = [int(v) for v in part[1:].split(",")]
        cores.append((spec, plan))

    mean, n = mean_fills(model, exs)
    print(json.dumps({"calibration_positions": n}), flush=True)
    fills = {"zero": None, "mean": mean}
    if a.learn_min > 0:
        fills["learned"], steps = learned_fills(model, exs, heads, a.learn_min, a.lr)
        norms = {f"{l}.{h}": round(float(fills["learned"]["head"][l, h].norm()), 3) for l, h in heads}
        print(json.dumps({"learned_steps": steps, "fill_norms": norms}), flush=True)

    def run(plan, fill):
        model.fill = fill
        gens = greedy(model, prompts, max_new=a.max_new, eos=EOS, plans=[plan] * len(prompts) if plan else None, batch=50)
        model.fill = None
        return [tok.decode(g).strip().endswith(f"The answer is {r['answer']}.") for g, r in zip(gens, test)]

    full = run(None, None)
    print(json.dumps({"setting": "full", "accuracy": round(100 * sum(full) / len(full), 1), "problems": len(full)}), flush=True)
    settings = [(f"head {l}.{h}", {"skipAttention": [], "skipMlp": [], "maskHeads": {l: [h]}}, list(fills)) for l, h in heads]
    settings += [(f"core {spec}", plan, ["zero", "mean"]) for spec, plan in cores]
    for name, plan, kinds in settings:
        zero = None
        for kind in kinds:
            ok = run(plan, fills[kind])
            row = {"setting": name, "fill": kind, "accuracy": round(100 * sum(ok) / len(ok), 1), "drop": paired(full, ok)}
            if kind == "zero":
                zero = ok
            else:
                row["minus_zero"] = paired(ok, zero)
            print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
