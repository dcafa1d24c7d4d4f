"""Skip-aware training of the default model (see models/default/MODEL_CARD.md).

Each example gets its own random skip plan: whole attention and MLP sublayers dropped with a
probability that rises with depth (layer 0 spared), and random query heads masked, so the model
learns to answer under the plans the server uses. Loss on the answer tokens only. AdamW, linear
warm-up, cosine decay over whichever ends first: --steps or the --budget-min wall-clock budget.
Checkpoints (atomic) every --ckpt-min minutes; rerunning the same command resumes.

usage: train.py --data DIR --tokenizer DIR --out RUNDIR [--budget-min M] [--steps N] ...
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
from model import Llama, greedy  # noqa: E402
from tokenizer import BOS, EOS, PAD, Tokenizer, completion_text, prompt_text  # noqa: E402
from skips import parse_cores, parse_heads, sample_train_masks, random_core_plan  # noqa: E402
from grow import init_from_exported, layer_sources  # noqa: E402


def log(f, **kv):
    kv["time"] = time.strftime("%H:%M:%S", time.gmtime())
    line = json.dumps(kv)
    print(line, flush=True)
    f.write(line + "\n")
    f.flush()


def load_jsonl(path, limit=None):
    out = []
    with open(path) as f:
        for line in f:
            out.append(json.loads(line))
            if limit and len(out) >= limit:
                break
    return out


def encode_examples(tok, rows, rng):
    """(ids, n_prompt) per row; the BOS count varies (80% one, 10% none, 10% two) so the model
    does not care whether a runtime adds <s> once, never or twice."""
    out = []
    for r in rows:
        u = rng.random()
        bos = [BOS] if u < 0.8 else ([] if u < 0.9 else [BOS, BOS])
        p = bos + tok.encode(prompt_text(r["question"]))
        c = tok.encode(completion_text(r["solution"])) + [EOS]
        out.append((p + c, len(p)))
    return out


def batches(examples, tokens_per_batch, rng):
    """Length-bucketed batches of roughly tokens_per_batch padded tokens, in random order."""
    idx = list(range(len(examples)))
    rng.shuffle(idx)
    out = []
    for s in range(0, len(idx), 4096):
        group = sorted(idx[s:s + 4096], key=lambda i: len(examples[i][0]))
        cur = []
        for i in group:
            n = len(examples[i][0])
            if cur and (len(cur) + 1) * max(n, len(examples[cur[-1]][0])) > tokens_per_batch:
                out.append(cur)
                cur = []
            cur.append(i)
        if cur:
            out.append(cur)
    rng.shuffle(out)
    return out


def collate(examples, b):
    n = max(len(examples[i][0]) for i in b)
    ids = torch.full((len(b), n), PAD, dtype=torch.long)
    tgt = torch.full((len(b), n), -100, dtype=torch.long)
    for j, i in enumerate(b):
        seq, np_ = examples[i]
        ids[j, : len(seq)] = torch.tensor(seq)
        tgt[j, np_ - 1: len(seq) - 1] = torch.tensor(seq[np_:])
    return ids, tgt


def core_name(plan):
    """{'skipAttention': [7, 8], 'skipMlp': [8]} -> 'a7,a8,m8' (the --fixed-cores form)."""
    return ",".join([f"a{l}" for l in plan["skipAttention"]] + [f"m{l}" for l in plan["skipMlp"]])


def dev_accuracy(model, tok, dev, plans=None):
    """Greedy accuracy on dev problems, overall and per tier ({"all": a, "standard": s, "hard": h})."""
    prompts = [[BOS] + tok.encode(prompt_text(r["question"])) for r in dev]
    gens = greedy(model, prompts, max_new=MAX_NEW, plans=plans)
    ok, by_tier = 0, {}
    for r, g in zip(dev, gens):
        hit = tok.decode(g).strip().endswith(f"The answer is {r['answer']}.")
        ok += hit
        t = by_tier.setdefault(r.get("tier", "standard"), [0, 0])
        t[0] += hit
        t[1] += 1
    model.train()
    out = {"all": round(ok / len(dev), 4)}
    out.update({k: round(v[0] / v[1], 4) for k, v in sorted(by_tier.items())})
    return out


def distill_loss(model, ids, tgt, logits, teacher_model=None):
    """KL(teacher || skipped) per answer token. The teacher is teacher_model (frozen, no skips) when
    given, else the full model itself (no skips, no gradient): in-place self-distillation."""
    t_model = teacher_model or model
    with torch.no_grad():
        teacher = t_model(ids, None, None, *full_masks(t_model, ids.shape[0]))
    sel = tgt.view(-1) != -100
    t = F.log_softmax(teacher.view(-1, teacher.shape[-1])[sel], dim=-1)
    s = F.log_softmax(logits.view(-1, logits.shape[-1])[sel], dim=-1)
    return F.kl_div(s, t, log_target=True, reduction="batchmean")


def on_policy_batch(model, examples, b, masks, eos):
    """The batch's prompts with the masked model's own greedy completions (no gradient) in place of
    the worked solutions, collated as `collate` does: what on-policy distillation trains on."""
    prompts = [examples[i][0][:examples[i][1]] for i in b]
    with torch.no_grad():
        gens = greedy(model, prompts, max_new=MAX_NEW, eos=eos, batch=len(b), masks=masks)
    model.train()
    seqs = [(p + g + ([eos] if len(g) < MAX_NEW else []), len(p)) for p, g in zip(prompts, gens)]
    return collate(seqs, list(range(len(seqs))))


def full_masks(model, B):
    L, H = len(model.model.layers), model.model.layers[0].self_attn.h
    return torch.ones(B, L), torch.ones(B, L), torch.ones(B, L, H)


# Long enough for the hard tier's worked solutions (at most ~290 tokens).
MAX_NEW = 320


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", required=True)
    ap.add_argument("--tokenizer", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--layers", type=int, default=6)
    ap.add_argument("--hidden", type=int, default=160)
    ap.add_argument("--intermediate", type=int, default=384)
    ap.add_argument("--heads", type=int, default=8)
    ap.add_argument("--kv-heads", type=int, default=2)
    ap.add_argument("--head-dim", type=int, default=0, help="query/key/value head size (default hidden / heads)")
    ap.add_argument("--max-pos", type=int, default=512)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--min-lr-frac", type=float, default=0.05)
    ap.add_argument("--wd", type=float, default=0.05)
    ap.add_argument("--warmup", type=int, default=200)
    ap.add_argument("--steps", type=int, default=100000)
    ap.add_argument("--budget-min", type=float, default=90.0, help="training-time budget (excludes dev evals)")
    ap.add_argument("--deadline", default=None, help="UTC wall-clock end, e.g. 2026-11-28T15:40:00Z; the cosine follows wall time")
    ap.add_argument("--batch-tokens", type=int, default=4096)
    ap.add_argument("--ckpt-min", type=float, default=5.0)
    ap.add_argument("--dev-min", type=float, default=10.0)
    ap.add_argument("--dev-count", type=int, default=200)
    ap.add_argument("--full-frac", type=float, default=0.25, help="fraction of batches with no skips")
    ap.add_argument("--heads-only-frac", type=float, default=0.25, help="fraction of batches with head masks only"
                    " (the rest drop whole sublayers)")
    ap.add_argument("--core-mode", action="store_true", help="sublayer batches drop a random skip core of"
                    " 10-60%% of the sublayer FLOPs (as the evaluation draws them) instead of depth-rising rates")
    ap.add_argument("--core-min", type=float, default=0.1, help="with --core-mode: smallest core (fraction of sublayer FLOPs)")
    ap.add_argument("--core-max", type=float, default=0.6, help="with --core-mode: largest core")
    ap.add_argument("--fixed-cores", default="", help="with --core-mode: skip cores the server will share, e.g."
                    " 'a7,a8,m8;a8,m8' (a: attention, m: MLP of a layer); a sublayer batch drops one of them instead"
                    " of a random core with probability --fixed-core-frac")
    ap.add_argument("--fixed-core-frac", type=float, default=0.0)
    ap.add_argument("--distill", type=float, default=0.0,
                    help="weight of in-place self-distillation: on batches that skip or mask anything, add W times"
                         " KL(full model || skipped model) on the answer tokens, the full model's distribution"
                         " computed in the same step without gradients (the teacher of slimmable networks)")
    ap.add_argument("--layer0-head-p", type=float, default=0.0,
                    help="in head-masked examples, probability of masking one more layer-0 head")
    ap.add_argument("--focus-heads", default="", help="heads whose single mask costs the most, e.g. '0.7,0.6,0.4,5.3'"
                    " (layer.head): each head-masked example also masks one of them with --focus-head-p")
    ap.add_argument("--focus-head-p", type=float, default=0.0)
    ap.add_argument("--focus-only", action="store_true", help="with --focus-heads: a head-masked example masks only"
                    " one focus head (no random head masks elsewhere)")
    ap.add_argument("--on-policy", type=float, default=0.0, help="with --teacher: the share of the batches that mask"
                    " or skip anything whose completions are the masked model's own greedy ones (no gradient), their"
                    " loss the teacher's KL alone (on-policy distillation): the errors that compound in a masked"
                    " path's own text are what it learns from")
    ap.add_argument("--anchor-only", action="store_true", help="with --anchor: batches that skip nothing learn the"
                    " teacher's KL alone, no cross-entropy, so the full model is held at the teacher")
    ap.add_argument("--train-only", default="", help="comma-separated parameter-name prefixes (e.g. 'model.layers.0.'):"
                    " every other parameter is frozen")
    ap.add_argument("--teacher", default=None, help="with --distill: an exported model directory whose full model"
                    " (frozen) is the skipped paths' teacher, instead of the model being trained")
    ap.add_argument("--anchor", type=float, default=0.0, help="with --teacher: on batches that skip nothing, add W"
                    " times KL(teacher || full model), so the full model stays near the teacher while the skipped"
                    " paths catch up with it")
    ap.add_argument("--seed", type=int, default=1234)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--restart-schedule", action="store_true",
                    help="on resume: keep weights and optimizer state, start a new warm-up + cosine (to --deadline or"
                         " --budget-min) and a new pass over --data (e.g. freshly generated problems); once per"
                         " --phase, so rerunning the same command resumes the restarted run")
    ap.add_argument("--phase", default=None, help="name of the restarted phase (default: the --data path)")
    ap.add_argument("--init-from", default=None, help="fresh runs only: start from this exported model directory")
    ap.add_argument("--grow-after", default="", help="with --init-from: comma-separated old layer indices after"
                    " which a zero-output copy is inserted (block expansion); --layers must match")
    ap.add_argument("--split-heads", type=int, default=1, help="with --init-from: each query head of the exported"
                    " model becomes this many copies sharing its output (--heads is the new count, --head-dim the old size)")
    ap.add_argument("--grow-lr-mult", type=float, default=1.0, help="with --grow-after: the inserted copies learn at"
                    " this multiple of the schedule's lr (a zero-output start moves slowly at a fine-tuning lr)")
    a = ap.parse_args()

    fixed_cores = parse_cores(a.fixed_cores)
    focus_heads = parse_heads(a.focus_heads)
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    rng = random.Random(a.seed)
    policy_rng = random.Random(a.seed + 3)  # which masked batches go on-policy (--on-policy)
    os.makedirs(a.out, exist_ok=True)
    logf = open(os.path.join(a.out, "train.log.jsonl"), "a")
    tok = Tokenizer.load(os.path.join(a.tokenizer, "tokenizer.json"))
    cfg = dict(
        architectures=["LlamaForCausalLM"], model_type="llama", hidden_size=a.hidden,
        intermediate_size=a.intermediate, num_hidden_layers=a.layers, num_attention_heads=a.heads,
        num_key_value_heads=a.kv_heads, head_dim=a.head_dim or a.hidden // a.heads, vocab_size=len(tok.vocab),
        max_position_embeddings=a.max_pos, rms_norm_eps=1e-5, rope_theta=10000.0, hidden_act="silu",
        tie_word_embeddings=True, attention_bias=False, mlp_bias=False, bos_token_id=BOS,
        eos_token_id=EOS, pad_token_id=PAD, torch_dtype="float32",
    )
    for l, h in focus_heads:
        if l >= a.layers or h >= a.heads:
            ap.error(f"--focus-heads: {l}.{h} is outside the model ({a.layers} layers of {a.heads} heads)")
    model = Llama(cfg)
    teacher_model = None
    if a.focus_only and not a.focus_heads:
        ap.error("--focus-only needs --focus-heads")
    if a.on_policy > 0 and not a.teacher:
        ap.error("--on-policy needs --teacher")
    if a.anchor_only and a.anchor <= 0:
        ap.error("--anchor-only needs --anchor")
    if a.anchor > 0 and not a.teacher:
        ap.error("--anchor needs --teacher")
    if a.teacher:
        if a.distill <= 0:
            ap.error("--teacher needs --distill > 0")
        with open(os.path.join(a.teacher, "config.json")) as f:
            tcfg = json.load(f)
        teacher_model = Llama(tcfg)
        init_from_exported(teacher_model, a.teacher)
        teacher_model.eval()
        for p in teacher_model.parameters():
            p.requires_grad_(False)
        log(logf, event="teacher", dir=a.teacher, layers=tcfg["num_hidden_layers"])
    grow = [int(x) for x in a.grow_after.split(",") if x.strip()]
    if a.grow_lr_mult != 1.0 and not grow:
        ap.error("--grow-lr-mult needs --grow-after")
    if a.split_heads != 1 and not a.init_from:
        ap.error("--split-heads needs --init-from")
    # the copies get optimizer groups of their own only when their lr differs (checkpoints of older runs keep 2 groups)
    copies = {f"model.layers.{i}." for i, (_, c) in enumerate(layer_sources(a.layers - len(grow), sorted(grow)))
              if c and a.grow_lr_mult != 1.0}
    train_only = [x for x in a.train_only.split(",") if x]
    if train_only:
        for n, p in model.named_parameters():
            p.requires_grad_(any(n.startswith(x) for x in train_only))
        if not any(p.requires_grad for p in model.parameters()):
            ap.error(f"--train-only: no parameter name starts with {train_only}")
    in_copy = {n: any(n.startswith(c) for c in copies) for n, _ in model.named_parameters()}
    groups = [{"params": [p for n, p in model.named_parameters() if p.requires_grad and in_copy[n] == copy and (p.dim() >= 2) == matrix],
               "weight_decay": a.wd if matrix else 0.0, "lr_mult": a.grow_lr_mult if copy else 1.0}
              for copy in (False, True) for matrix in (True, False)]
    groups = [g for g in groups if g["params"]]
    opt = torch.optim.AdamW(groups, lr=a.lr, betas=(0.9, 0.95), eps=1e-8)
    log(logf, event="param-groups", groups=[dict(tensors=len(g["params"]), weight_decay=g["weight_decay"], lr_mult=g["lr_mult"])
                                            for g in groups])
    ckpt_path = os.path.join(a.out, "ckpt.pt")
    state = {"step": 0, "elapsed": 0.0, "epoch": 0, "pos": 0, "tokens": 0, "wall_start": time.time()}
    if a.init_from and not os.path.exists(ckpt_path):
        sources = init_from_exported(model, a.init_from, grow, a.split_heads)
        log(logf, event="init-from", dir=a.init_from, layers=sources, split_heads=a.split_heads)
    if os.path.exists(ckpt_path):
        ck = torch.load(ckpt_path)
        model.load_state_dict(ck["model"])
        opt.load_state_dict(ck["opt"])
        state = ck["state"]
        state.setdefault("wall_start", time.time() - state["elapsed"])
        torch.set_rng_state(ck["torch_rng"])
        rng.setstate(ck["py_rng"])
        if "policy_rng" in ck:  # older checkpoints: a fresh one
            policy_rng.setstate(ck["policy_rng"])
        log(logf, event="resume", **state)
        phase = a.phase or a.data
        if a.restart_schedule and state.get("restart_data") != phase:  # once per phase: reruns resume
            state.update(elapsed=0.0, epoch=0, pos=0, wall_start=time.time(), sched_step0=state["step"],
                         restart_data=phase)
            log(logf, event="restart-schedule", step=state["step"])

    train_rows = load_jsonl(os.path.join(a.data, "train.jsonl"))
    dev = load_jsonl(os.path.join(a.data, "dev.jsonl"), a.dev_count)
    ex_rng = random.Random(a.seed + 1)
    examples = encode_examples(tok, train_rows, ex_rng)
    n_params = sum(p.numel() for p in model.parameters())
    log(logf, event="start", params=n_params, train=len(examples), cfg=cfg, args=vars(a))

    def save():
        tmp = ckpt_path + ".tmp"
        torch.save({"model": model.state_dict(), "opt": opt.state_dict(), "state": state, "cfg": cfg,
                    "torch_rng": torch.get_rng_state(), "py_rng": rng.getstate(), "policy_rng": policy_rng.getstate()}, tmp)
        os.replace(tmp, ckpt_path)

    budget = a.budget_min * 60
    deadline = None
    if a.deadline:
        import calendar
        deadline = calendar.timegm(time.strptime(a.deadline, "%Y-%m-%dT%H:%M:%SZ"))

    def sched_step():
        """Steps since the schedule (re)started."""
        return state["step"] - state.get("sched_step0", 0)

    def progress_now():
        p = max(sched_step() / a.steps, state["elapsed"] / budget)
        if deadline is not None:
            p = max(p, (time.time() - state["wall_start"]) / max(1.0, deadline - state["wall_start"]))
        return p
    plan_rng = random.Random(a.seed + 2)
    dev_plans = [random_core_plan(cfg, 0.25, plan_rng) for _ in dev]
    model.train()
    last_ckpt = last_dev = time.time()
    win_tokens, win_loss, win_n, win_t = 0, 0.0, 0, time.time()
    while True:
        order = batches(examples, a.batch_tokens, random.Random(a.seed * 1000 + state["epoch"]))
        while state["pos"] < len(order):
            progress = progress_now()
            if progress >= 1.0:
                break
            t0 = time.time()
            if sched_step() < a.warmup:
                lr = a.lr * (sched_step() + 1) / a.warmup
            else:
                lr = a.lr * (a.min_lr_frac + (1 - a.min_lr_frac) * 0.5 * (1 + math.cos(math.pi * progress)))
            for g in opt.param_groups:
                g["lr"] = lr * g.get("lr_mult", 1.0)
            ids, tgt = collate(examples, order[state["pos"]])
            masks = sample_train_masks(ids.shape[0], cfg, rng, a.full_frac, a.heads_only_frac, a.core_mode,
                                       a.layer0_head_p, (a.core_min, a.core_max), fixed_cores, a.fixed_core_frac,
                                       focus_heads, a.focus_head_p, a.focus_only)
            skipped = any(bool((m < 1).any()) for m in masks)
            if skipped and a.on_policy > 0 and policy_rng.random() < a.on_policy:
                # on-policy distillation: the masked model's own text, the teacher's KL alone
                ids, tgt = on_policy_batch(model, examples, order[state["pos"]], masks, EOS)
                logits = model(ids, None, None, *masks)
                loss = a.distill * distill_loss(model, ids, tgt, logits, teacher_model)
            else:
                logits = model(ids, None, None, *masks)
                loss = F.cross_entropy(logits.view(-1, logits.shape[-1]), tgt.view(-1), ignore_index=-100)
                if a.distill > 0 and skipped:
                    loss = loss + a.distill * distill_loss(model, ids, tgt, logits, teacher_model)
                elif a.anchor > 0:
                    loss = (0 if a.anchor_only else loss) + a.anchor * distill_loss(model, ids, tgt, logits, teacher_model)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            state["step"] += 1
            state["pos"] += 1
            ntok = int((ids != PAD).sum())
            state["tokens"] += ntok
            state["elapsed"] += time.time() - t0
            win_tokens += ntok
            win_loss += loss.item()
            win_n += 1
            if state["step"] % 50 == 0:
                now = time.time()
                log(logf, event="train", step=state["step"], epoch=state["epoch"], loss=round(win_loss / win_n, 4),
                    lr=round(lr, 6), tok_s=round(win_tokens / (now - win_t)), tokens=state["tokens"],
                    elapsed_min=round(state["elapsed"] / 60, 2), progress=round(progress, 4))
                win_tokens, win_loss, win_n, win_t = 0, 0.0, 0, now
            if time.time() - last_ckpt > a.ckpt_min * 60:
                save()
                last_ckpt = time.time()
                log(logf, event="ckpt", step=state["step"])
            if time.time() - last_dev > a.dev_min * 60:
                t1 = time.time()
                acc = dev_accuracy(model, tok, dev)
                acc25 = dev_accuracy(model, tok, dev, dev_plans)
                fixed = {core_name(p): dev_accuracy(model, tok, dev, [p] * len(dev)) for p in fixed_cores}
                log(logf, event="dev", step=state["step"], greedy=acc, core25=acc25, **({"fixed": fixed} if fixed else {}),
                    eval_s=round(time.time() - t1, 1))
                last_dev = time.time()
                win_t += time.time() - t1
        else:
            state["epoch"] += 1
            state["pos"] = 0
            continue
        break
    save()
    acc = dev_accuracy(model, tok, dev)
    acc25 = dev_accuracy(model, tok, dev, dev_plans)
    fixed = {core_name(p): dev_accuracy(model, tok, dev, [p] * len(dev)) for p in fixed_cores}
    log(logf, event="done", step=state["step"], tokens=state["tokens"], elapsed_min=round(state["elapsed"] / 60, 2),
        greedy=acc, core25=acc25, **({"fixed": fixed} if fixed else {}))


if __name__ == "__main__":
    main()
