"""Random skip plans for training (per-example keep masks) and for dev monitoring."""
import torch

from flops import sublayer_flops


def sample_train_masks(B, cfg, rng, full_frac=0.25, heads_only_frac=0.25, core_mode=False, layer0_head_p=0.0,
                       core_range=(0.1, 0.6), fixed_cores=(), fixed_frac=0.0, focus_heads=(), focus_head_p=0.0,
                       focus_only=False):
    """Keep masks (B,L), (B,L), (B,L,H) for one batch. Per batch: with full_frac nothing is
    skipped; with heads_only_frac only heads are masked; otherwise sublayers of layers >= 1 are
    dropped for the whole batch (so they are not computed) with probability
    r * (0.3 + 0.5 * l/(L-1)), r ~ U(0,1) (up to about half of all sublayers), and heads are
    masked in half of the examples. With core_mode the dropped sublayers are instead a random skip
    core over layers >= 1 removing a fraction f ~ U(core_range) (default 0.1-0.6) of the sublayer FLOPs, drawn exactly
    as the evaluation's random cores are. Head masks are drawn per example: each head of each layer
    (layer 0 included) is masked with probability q ~ U(0.03, 0.25), never a whole layer; with
    probability layer0_head_p one more random layer-0 head is masked (layer 0's heads are the
    least redundant). With fixed_cores, a sublayer batch drops one of those cores (plans) instead of
    a random one with probability fixed_frac: the cores the server will share (latency-budget, fast
    mode) are trained to cost little. With focus_heads (a list of (layer, head)), each head-masked
    example also masks one of them, drawn uniformly, with probability focus_head_p: the heads whose
    single mask costs the most are trained to be dispensable (never the last head of a layer). With
    focus_only, a head-masked example masks nothing but that one focus head (no random masks)."""
    L, H = cfg["num_hidden_layers"], cfg["num_attention_heads"]
    a, m, hk = torch.ones(B, L), torch.ones(B, L), torch.ones(B, L, H)
    u = rng.random()
    if u < full_frac:
        return a, m, hk
    sublayers = u >= full_frac + heads_only_frac
    if sublayers and core_mode:
        if fixed_cores and rng.random() < fixed_frac:
            plan = rng.choice(fixed_cores)
        else:
            plan = random_core_plan(cfg, rng.uniform(*core_range), rng)
        for l in plan["skipAttention"]:
            a[:, l] = 0
        for l in plan["skipMlp"]:
            m[:, l] = 0
    elif sublayers:
        r = rng.random()
        for l in range(1, L):
            p = r * (0.3 + 0.5 * l / (L - 1))
            if rng.random() < p:
                a[:, l] = 0
            if rng.random() < p:
                m[:, l] = 0
    for b in range(B):
        if sublayers and rng.random() < 0.5:
            continue
        q = 0.0 if focus_only else rng.uniform(0.03, 0.25)
        for l in range(L if q > 0 else 0):
            for h in range(H):
                if rng.random() < q:
                    hk[b, l, h] = 0
            if hk[b, l].sum() == 0:
                hk[b, l, rng.randrange(H)] = 1
        if rng.random() < layer0_head_p:
            hk[b, 0, rng.randrange(H)] = 0
            if hk[b, 0].sum() == 0:
                hk[b, 0, rng.randrange(H)] = 1
        if focus_heads and rng.random() < focus_head_p:
            l, h = rng.choice(focus_heads)
            hk[b, l, h] = 0
            if hk[b, l].sum() == 0:
                hk[b, l, rng.choice([x for x in range(H) if x != h])] = 1
    return a, m, hk


def parse_heads(spec):
    """'0.7,0.6,5.3' -> [(0, 7), (0, 6), (5, 3)] (layer.head)."""
    heads = []
    for s in filter(None, (x.strip() for x in spec.split(","))):
        l, _, h = s.partition(".")
        if not l.isdigit() or not h.isdigit():
            raise ValueError(f"--focus-heads: '{s}' is not <layer>.<head>")
        heads.append((int(l), int(h)))
    return heads


def parse_cores(spec):
    """'a7,a8,m8;a2,m5' -> [{'skipAttention': [7, 8], 'skipMlp': [8]}, ...] (a: attention, m: MLP of a layer)."""
    cores = []
    for part in filter(None, (p.strip() for p in spec.split(";"))):
        plan = {"skipAttention": [], "skipMlp": [], "maskHeads": {}}
        for s in filter(None, (x.strip() for x in part.split(","))):
            if s[0] not in "am" or not s[1:].isdigit():
                raise ValueError(f"--fixed-cores: '{s}' is not a<layer> or m<layer>")
            plan["skipAttention" if s[0] == "a" else "skipMlp"].append(int(s[1:]))
        cores.append(plan)
    return cores


def random_core_plan(cfg, frac, rng):
    """A random skip core over layers >= 1 removing about `frac` of the sublayer FLOPs."""
    L = cfg["num_hidden_layers"]
    fa, fm = sublayer_flops(cfg)
    total = L * (fa + fm)
    cands = [("a", l) for l in range(1, L)] + [("m", l) for l in range(1, L)]
    rng.shuffle(cands)
    removed, plan = 0, {"skipAttention": [], "skipMlp": [], "maskHeads": {}}
    for kind, l in cands:
        cost = fa if kind == "a" else fm
        if abs(removed + cost - frac * total) < abs(removed - frac * total):
            removed += cost
            plan["skipAttention" if kind == "a" else "skipMlp"].append(l)
    return plan
