"""A Hugging Face LlamaForCausalLM-compatible model in plain torch 1.13 (no transformers needed),
with per-example skip masks: attention/MLP sublayer drops and query-head masks. A skipped part adds
zero, or with `model.fill` set (fill_probe.py) a constant in its place: per layer a (H, head_dim)
fill for masked heads and a hidden-size fill for each skipped sublayer.

Parameter names match HF exactly (model.embed_tokens.weight, model.layers.N.self_attn.q_proj.weight,
...), embeddings are tied (no lm_head.weight), RoPE uses HF's rotate_half convention.
"""
import math

import torch
import torch.nn as nn
import torch.nn.functional as F


class RMSNorm(nn.Module):
    def __init__(self, dim, eps):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(dim))
        self.eps = eps

    def forward(self, x):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * self.weight


def rope_tables(head_dim, max_pos, theta):
    inv = 1.0 / (theta ** (torch.arange(0, head_dim, 2, dtype=torch.float64) / head_dim))
    t = torch.arange(max_pos, dtype=torch.float64)
    freqs = torch.outer(t, inv)
    emb = torch.cat([freqs, freqs], dim=-1)
    return emb.cos().float(), emb.sin().float()


def rotate_half(x):
    h = x.shape[-1] // 2
    return torch.cat([-x[..., h:], x[..., :h]], dim=-1)


class Attention(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        d, self.h, self.kv = cfg["hidden_size"], cfg["num_attention_heads"], cfg["num_key_value_heads"]
        self.hd = cfg.get("head_dim") or d // self.h
        self.q_proj = nn.Linear(d, self.h * self.hd, bias=False)
        self.k_proj = nn.Linear(d, self.kv * self.hd, bias=False)
        self.v_proj = nn.Linear(d, self.kv * self.hd, bias=False)
        self.o_proj = nn.Linear(self.h * self.hd, d, bias=False)

    def rotated_qk(self, x, cos, sin):
        """Queries (B,H,T,hd) and keys (B,KV,T,hd) of x, RoPE applied."""
        B, T, _ = x.shape
        q = self.q_proj(x).view(B, T, self.h, self.hd).transpose(1, 2)
        k = self.k_proj(x).view(B, T, self.kv, self.hd).transpose(1, 2)
        c, s = cos.unsqueeze(1), sin.unsqueeze(1)
        return q * c + rotate_half(q) * s, k * c + rotate_half(k) * s

    def forward(self, x, cos, sin, bias, head_mask=None, cache=None, head_fill=None):
        """x (B,T,d); cos/sin (B,T,hd); bias (B,1,T,S) additive; head_mask (B,H) or None.
        cache: None or dict with 'k','v' (B,KV,S0,hd), updated in place. head_fill (H,hd) or None:
        what a masked head outputs instead of zero."""
        B, T, _ = x.shape
        q, k = self.rotated_qk(x, cos, sin)
        v = self.v_proj(x).view(B, T, self.kv, self.hd).transpose(1, 2)
        if cache is not None:
            if "k" in cache:
                k = torch.cat([cache["k"], k], dim=2)
                v = torch.cat([cache["v"], v], dim=2)
            cache["k"], cache["v"] = k, v
        rep = self.h // self.kv
        if rep > 1:
            k = k.repeat_interleave(rep, dim=1)
            v = v.repeat_interleave(rep, dim=1)
        att = torch.matmul(q, k.transpose(-1, -2)) * (1.0 / math.sqrt(self.hd)) + bias
        out = torch.matmul(torch.softmax(att, dim=-1), v)  # B,H,T,hd
        if head_mask is not None:
            hm = head_mask[:, :, None, None]
            out = out * hm if head_fill is None else out * hm + (1 - hm) * head_fill[None, :, None, :]
        return self.o_proj(out.transpose(1, 2).reshape(B, T, self.h * self.hd))


class MLP(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        d, i = cfg["hidden_size"], cfg["intermediate_size"]
        self.gate_proj = nn.Linear(d, i, bias=False)
        self.up_proj = nn.Linear(d, i, bias=False)
        self.down_proj = nn.Linear(i, d, bias=False)

    def forward(self, x):
        return self.down_proj(F.silu(self.gate_proj(x)) * self.up_proj(x))


class Layer(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.self_attn = Attention(cfg)
        self.mlp = MLP(cfg)
        self.input_layernorm = RMSNorm(cfg["hidden_size"], cfg["rms_norm_eps"])
        self.post_attention_layernorm = RMSNorm(cfg["hidden_size"], cfg["rms_norm_eps"])


class Inner(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.embed_tokens = nn.Embedding(cfg["vocab_size"], cfg["hidden_size"])
        self.layers = nn.ModuleList([Layer(cfg) for _ in range(cfg["num_hidden_layers"])])
        self.norm = RMSNorm(cfg["hidden_size"], cfg["rms_norm_eps"])


class Llama(nn.Module):
    """LlamaForCausalLM with tied embeddings. Skip masks are float tensors (1 keep, 0 drop)."""

    def __init__(self, cfg):
        super().__init__()
        self.cfg = cfg
        self.model = Inner(cfg)
        hd = cfg.get("head_dim") or cfg["hidden_size"] // cfg["num_attention_heads"]
        cos, sin = rope_tables(hd, cfg["max_position_embeddings"], cfg["rope_theta"])
        self.register_buffer("rope_cos", cos, persistent=False)
        self.register_buffer("rope_sin", sin, persistent=False)
        self.fill = None  # {"head": (L,H,hd), "attn": (L,d), "mlp": (L,d)}: what skipped parts add
        self.apply(self._init)

    def _init(self, m):
        if isinstance(m, (nn.Linear, nn.Embedding)):
            nn.init.normal_(m.weight, std=0.02)

    def forward(self, ids, pos=None, key_bias=None, attn_keep=None, mlp_keep=None, head_keep=None, caches=None):
        """ids (B,T). pos (B,T) positions (default 0..T-1). key_bias (B,S) additive bias for
        cached+new keys (padding). attn_keep/mlp_keep (B,L); head_keep (B,L,H). Returns logits."""
        B, T = ids.shape
        if pos is None:
            pos = torch.arange(T).unsqueeze(0).expand(B, T)
        cos, sin = self.rope_cos[pos], self.rope_sin[pos]
        past = caches[0]["k"].shape[2] if caches is not None and "k" in caches[0] else 0
        S = past + T
        causal = torch.full((T, S), float("-inf")).triu(past + 1)
        bias = causal.view(1, 1, T, S)
        if key_bias is not None:
            bias = bias + key_bias.view(B, 1, 1, S)
        x = self.model.embed_tokens(ids)
        fill = self.fill
        for l, layer in enumerate(self.model.layers):
            hm = head_keep[:, l] if head_keep is not None else None
            cache = caches[l] if caches is not None else None
            # A sublayer that every row skips is not computed at all (as in the server's skip core).
            if attn_keep is None or attn_keep[:, l].any():
                a = layer.self_attn(layer.input_layernorm(x), cos, sin, bias, hm, cache, fill["head"][l] if fill else None)
                x = x + (a if attn_keep is None else _kept(a, attn_keep[:, l, None, None], fill and fill["attn"][l]))
            elif fill:
                x = x + fill["attn"][l]
            if mlp_keep is None or mlp_keep[:, l].any():
                m = layer.mlp(layer.post_attention_layernorm(x))
                x = x + (m if mlp_keep is None else _kept(m, mlp_keep[:, l, None, None], fill and fill["mlp"][l]))
            elif fill:
                x = x + fill["mlp"][l]
        x = self.model.norm(x)
        return F.linear(x, self.model.embed_tokens.weight)


def _kept(out, keep, fill):
    """A sublayer's update under a per-row keep mask: zero for a dropped row, or the fill."""
    return out * keep if fill is None else out * keep + (1 - keep) * fill


def plan_masks(plans, cfg):
    """Build keep masks (B,L), (B,L), (B,L,H) from SkipPlan dicts (skipAttention, skipMlp, maskHeads)."""
    L, H = cfg["num_hidden_layers"], cfg["num_attention_heads"]
    B = len(plans)
    a, m, h = torch.ones(B, L), torch.ones(B, L), torch.ones(B, L, H)
    for i, p in enumerate(plans):
        for l in p.get("skipAttention", []):
            a[i, l] = 0
        for l in p.get("skipMlp", []):
            m[i, l] = 0
        for l, heads in p.get("maskHeads", {}).items():
            for hh in heads:
                h[i, int(l), hh] = 0
    return a, m, h


@torch.no_grad()
def greedy(model, prompts, max_new=120, eos=2, plans=None, batch=64, masks=None):
    """Greedy decode of token-id prompts with a KV cache (left padding). Returns generated ids
    (without the eos) per prompt. Skips: plans (SkipPlan dicts), or masks (keep masks (B,L),
    (B,L), (B,L,H) over all prompts, as sample_train_masks draws them)."""
    model.eval()
    outs = []
    for s in range(0, len(prompts), batch):
        chunk = prompts[s:s + batch]
        B = len(chunk)
        n = max(len(p) for p in chunk)
        ids = torch.zeros(B, n, dtype=torch.long)
        kb = torch.zeros(B, n)
        for i, p in enumerate(chunk):
            ids[i, n - len(p):] = torch.tensor(p)
            kb[i, : n - len(p)] = -1e9  # finite: an all-masked pad row must not turn into NaN
        valid = (kb == 0).long()
        pos = (valid.cumsum(1) - 1).clamp(min=0)
        if masks is not None:
            keep = tuple(m[s:s + batch] for m in masks)
        else:
            keep = plan_masks(plans[s:s + batch], model.cfg) if plans is not None else (None, None, None)
        caches = [dict() for _ in model.model.layers]
        logits = model(ids, pos, kb, *keep, caches=caches)
        nxt = logits[:, -1].argmax(-1)
        cur = pos[:, -1]
        gen = [[] for _ in range(B)]
        done = torch.zeros(B, dtype=torch.bool)
        for _ in range(max_new):
            for i in range(B):
                if not done[i]:
                    if nxt[i].item() == eos:
                        done[i] = True
                    else:
                        gen[i].append(nxt[i].item())
            if done.all():
                break
            cur = cur + 1
            if cur.max().item() >= model.cfg["max_position_embeddings"]:
                break
            kb = torch.cat([kb, torch.zeros(B, 1)], dim=1)
            logits = model(nxt.view(B, 1), cur.view(B, 1), kb, *keep, caches=caches)
            nxt = logits[:, -1].argmax(-1)
        outs.extend(gen)
    return outs
