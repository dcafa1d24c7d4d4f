"""One APT preference round for the model: DPO (a frozen reference model) on pairs (correct solution
> the model's own wrong solution) for the weakness cases, mixed with plain next-token training on
general problems of both tiers so nothing already learned is forgotten, skip-aware as in pre-training
(each batch runs under a random skip core or head masks, the same ones for the policy and the
reference). Writes a training checkpoint the pipeline exports (export.py) and checks for parity.

usage: dpo.py --init DIR --pairs pairs.jsonl --general general.jsonl --out RUNDIR
              [--steps N] [--beta 0.1] [--lr 2e-5] [--chosen-nll 1.0] [--general-weight 1.0] [--pairs-per-batch 8]
--chosen-nll adds the chosen solutions' mean token negative log-likelihood to the DPO loss (as in
iterative reasoning preference optimisation, Pang et al. 2024): plain DPO lowers the likelihood of
the right solution along with the wrong one, and on the hard tier a round without it (lr 1e-4, 250
steps) took greedy accuracy from 48.9% to 27.0%.
pairs.jsonl: {"question", "chosen", "rejected", "partial"?} (solutions as the model writes them;
partial: both stop before the end, as step-level pairs do, so no end of sequence is added)
general.jsonl: generator problems {"question", "solution"} (any tier)
Resumable: rerunning the same command continues from RUNDIR/ckpt.pt.
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
from model import Llama  # noqa: E402
from skips import sample_train_masks  # noqa: E402
from tokenizer import BOS, EOS, PAD, Tokenizer, completion_text, prompt_text  # noqa: E402
from torch_greedy import load_exported  # noqa: E402


def encode(tok, question, solution, eos=True):
    """(ids, prompt length) with one BOS, as the server's chat template renders the prompt; no EOS
    for a partial solution (a step-level pair stops at the step where its two sides part)."""
    p = [BOS] + tok.encode(prompt_text(question))
    return p + tok.encode(completion_text(solution)) + ([EOS] if eos else []), len(p)


def collate(seqs):
    """Right-padded ids and answer-token targets (-100 elsewhere) for a list of (ids, prompt length)."""
    n = max(len(s) for s, _ in seqs)
    ids = torch.full((len(seqs), n), PAD, dtype=torch.long)
    tgt = torch.full((len(seqs), n), -100, dtype=torch.long)
    for j, (s, p) in enumerate(seqs):
        ids[j, : len(s)] = torch.tensor(s)
        tgt[j, p - 1: len(s) - 1] = torch.tensor(s[p:])
    return ids, tgt


def sequence_logprobs(model, ids, tgt, masks):
    """Sum of the answer tokens' log-probabilities per row."""
    logits = model(ids, None, None, *masks)
    logp = torch.log_softmax(logits, dim=-1)
    safe = tgt.clamp(min=0)
    tok = logp.gather(-1, safe.unsqueeze(-1)).squeeze(-1)
    return (tok * (tgt != -100)).sum(-1)


def dpo_loss(policy, reference, chosen, rejected, masks, beta, nll_weight=0.0, dpo_weight=1.0):
    """-log sigmoid(beta * ((pi_c - ref_c) - (pi_r - ref_r))), mean over pairs, plus nll_weight times
    the chosen solutions' mean token NLL; returns the loss, the reward margin and that NLL."""
    ids_c, tgt_c = chosen
    ids_r, tgt_r = rejected
    pc = sequence_logprobs(policy, ids_c, tgt_c, masks)
    pr = sequence_logprobs(policy, ids_r, tgt_r, masks)
    with torch.no_grad():
        rc = sequence_logprobs(reference, ids_c, tgt_c, masks)
        rr = sequence_logprobs(reference, ids_r, tgt_r, masks)
    margin = beta * ((pc - rc) - (pr - rr))
    nll = (-pc / (tgt_c != -100).sum(-1).clamp(min=1)).mean()
    loss = dpo_weight * -F.logsigmoid(margin).mean() + nll_weight * nll
    return loss, margin.detach().mean().item(), nll.item()


def sft_loss(model, batch, masks):
    ids, tgt = batch
    logits = model(ids, None, None, *masks)
    return F.cross_entropy(logits.view(-1, logits.shape[-1]), tgt.view(-1), ignore_index=-100)


def slice_masks(masks, n):
    """The first n rows of a batch's keep masks."""
    return tuple(m[:n] for m in masks)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--init", required=True, help="exported model directory (policy start and frozen reference)")
    ap.add_argument("--pairs", required=True)
    ap.add_argument("--general", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--beta", type=float, default=0.1)
    ap.add_argument("--lr", type=float, default=2e-5)
    ap.add_argument("--warmup", type=int, default=20)
    ap.add_argument("--chosen-nll", type=float, default=1.0)
    ap.add_argument("--dpo-weight", type=float, default=1.0, help="0: plain fine-tuning on the chosen side (a control for the DPO term)")
    ap.add_argument("--general-weight", type=float, default=1.0)
    ap.add_argument("--pairs-per-batch", type=int, default=8)
    ap.add_argument("--general-per-batch", type=int, default=8)
    ap.add_argument("--full-frac", type=float, default=0.3)
    ap.add_argument("--heads-only-frac", type=float, default=0.2)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()

    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    rng = random.Random(a.seed)
    os.makedirs(a.out, exist_ok=True)
    policy, cfg = load_exported(a.init)
    reference, _ = load_exported(a.init)
    reference.eval()
    for p in reference.parameters():
        p.requires_grad_(False)
    tok = Tokenizer.load(os.path.join(a.init, "tokenizer.json"))
    pairs = [json.loads(line) for line in open(a.pairs) if line.strip()]
    general = [json.loads(line) for line in open(a.general) if line.strip()]
    if not pairs:
        raise SystemExit(f"{a.pairs}: no preference pairs")
    enc_pairs = [(encode(tok, r["question"], r["chosen"], not r.get("partial")), encode(tok, r["question"], r["rejected"], not r.get("partial"))) for r in pairs]
    enc_general = [encode(tok, r["question"], r["solution"]) for r in general]

    opt = torch.optim.AdamW([p for p in policy.parameters() if p.requires_grad], lr=a.lr, betas=(0.9, 0.95), weight_decay=0.0)
    ckpt = os.path.join(a.out, "ckpt.pt")
    state = {"step": 0, "tokens": 0, "elapsed": 0.0}
    if os.path.exists(ckpt):
        ck = torch.load(ckpt)
        policy.load_state_dict(ck["model"])
        opt.load_state_dict(ck["opt"])
        state = ck["state"]
        rng.setstate(ck["py_rng"])
    logf = open(os.path.join(a.out, "dpo.log.jsonl"), "a")

    def log(**kv):
        kv["time"] = time.strftime("%H:%M:%S", time.gmtime())
        line = json.dumps(kv)
        print(line, flush=True)
        logf.write(line + "\n")
        logf.flush()

    def save():
        tmp = ckpt + ".tmp"
        torch.save({"model": policy.state_dict(), "opt": opt.state_dict(), "state": state, "cfg": cfg, "py_rng": rng.getstate()}, tmp)
        os.replace(tmp, ckpt)

    log(event="start", pairs=len(enc_pairs), general=len(enc_general), args=vars(a), **state)
    policy.train()
    last_save = time.time()
    while state["step"] < a.steps:
        t0 = time.time()
        s = state["step"]
        lr = a.lr * min(1.0, (s + 1) / a.warmup) * (0.5 * (1 + math.cos(math.pi * s / a.steps)) * 0.9 + 0.1)
        for g in opt.param_groups:
            g["lr"] = lr
        batch = [enc_pairs[rng.randrange(len(enc_pairs))] for _ in range(a.pairs_per_batch)]
        chosen = collate([c for c, _ in batch])
        rejected = collate([r for _, r in batch])
        width = max(chosen[0].shape[0], a.general_per_batch)
        masks = sample_train_masks(width, cfg, rng, a.full_frac, a.heads_only_frac, True, 0.0)
        loss, margin, nll = dpo_loss(policy, reference, chosen, rejected, slice_masks(masks, chosen[0].shape[0]), a.beta, a.chosen_nll, a.dpo_weight)
        gl = torch.tensor(0.0)
        if enc_general and a.general_weight > 0:
            g = collate([enc_general[rng.randrange(len(enc_general))] for _ in range(a.general_per_batch)])
            gl = sft_loss(policy, g, slice_masks(masks, g[0].shape[0]))
            loss = loss + a.general_weight * gl
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(policy.parameters(), 1.0)
        opt.step()
        state["step"] += 1
        state["tokens"] += int((chosen[0] != PAD).sum() + (rejected[0] != PAD).sum())
        state["elapsed"] += time.time() - t0
        if state["step"] % 10 == 0:
            log(event="train", step=state["step"], loss=round(loss.item(), 4), chosen_nll=round(nll, 4), general_loss=round(gl.item(), 4), margin=round(margin, 4), lr=round(lr, 8))
        if time.time() - last_save > 120:
            save()
            last_save = time.time()
    save()
    log(event="done", **state)


if __name__ == "__main__":
    main()
