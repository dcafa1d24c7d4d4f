/**
 * models/train/model.py's fills (what a skipped part adds instead of zero, for fill_probe.py): a
 * zero fill is exactly the trainer's skip, and a fill is what the skipped part adds; the probe's mean
 * fills are the means of each part's real outputs (a first version's hooks replaced them). Needs
 * python3-torch (installed by .ci/run).
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { test } from 'node:test';

const PY = process.env.PYTHON ?? '/usr/bin/python3';

const program = String.raw`
import json, sys
import torch
sys.path.insert(0, "models/train")
from model import Llama
torch.manual_seed(0)
cfg = {"hidden_size": 32, "num_attention_heads": 4, "num_key_value_heads": 2, "intermediate_size": 48,
       "num_hidden_layers": 3, "vocab_size": 50, "max_position_embeddings": 64, "rope_theta": 10000.0,
       "rms_norm_eps": 1e-5}
m = Llama(cfg).eval()
L, H, d, hd = 3, 4, 32, 8
ids = torch.randint(0, 50, (2, 9))
a, k, h = torch.ones(2, L), torch.ones(2, L), torch.ones(2, L, H)
a[0, 1] = 0; k[:, 2] = 0; h[1, 0, 3] = 0
zero = {"head": torch.zeros(L, H, hd), "attn": torch.zeros(L, d), "mlp": torch.zeros(L, d)}
out = {}
with torch.no_grad():
    plain = m(ids, attn_keep=a, mlp_keep=k, head_keep=h)
    m.fill = zero
    out["zero_equals_none"] = float((m(ids, attn_keep=a, mlp_keep=k, head_keep=h) - plain).abs().max())
    f = torch.randn(d)
    m.fill = {"head": zero["head"], "attn": zero["attn"], "mlp": torch.stack([zero["mlp"][0], zero["mlp"][1], f])}
    filled = m(ids, mlp_keep=torch.tensor([[1., 1., 0.], [1., 1., 0.]]))
    row0 = m(ids, mlp_keep=torch.tensor([[1., 1., 0.], [1., 1., 1.]]))[0]
    m.fill = None
    m.model.layers[2].mlp.forward = lambda x: f.expand_as(x)
    const = m(ids)
    out["mlp_fill_is_constant_mlp"] = float((filled - const).abs().max())
    out["per_row_fill"] = float((row0 - const[0]).abs().max())
    # A masked head with a fill adds o_proj of the fill at every position, beside the zero mask.
    att, x = m.model.layers[0].self_attn, torch.randn(2, 9, d)
    pos = torch.arange(9).unsqueeze(0).expand(2, 9)
    cos, sin = m.rope_cos[pos], m.rope_sin[pos]
    causal = torch.full((9, 9), float("-inf")).triu(1).view(1, 1, 9, 9)
    g, hm = torch.zeros(H, hd), torch.ones(2, H)
    g[3], hm[:, 3] = torch.randn(hd), 0
    diff = att(x, cos, sin, causal, hm, None, g) - att(x, cos, sin, causal, hm, None, None)
    out["head_fill"] = float((diff - att.o_proj.weight[:, 3 * hd:4 * hd] @ g[3]).abs().max())
    # fill_probe.mean_fills: the mean of each part's real outputs (its hooks must not change them).
    import fill_probe
    m2 = Llama(cfg).eval()
    exs = [([1, 5, 9, 12, 3], 2), ([4, 4, 7], 1)]
    seen = {"attn": [], "mlp": []}
    hooks = [m2.model.layers[l].self_attn.register_forward_hook(lambda mod, i, o: seen["attn"].append(o[0])) for l in (2,)]
    hooks += [m2.model.layers[l].mlp.register_forward_hook(lambda mod, i, o: seen["mlp"].append(o[0])) for l in (2,)]
    for ids, _ in exs:
        m2(torch.tensor([ids]))
    for hk in hooks:
        hk.remove()
    fills, n = fill_probe.mean_fills(m2, exs)
    out["mean_positions"] = n
    out["mean_attn_err"] = float((fills["attn"][2] - torch.cat(seen["attn"]).mean(0)).abs().max())
    out["mean_mlp_err"] = float((fills["mlp"][2] - torch.cat(seen["mlp"]).mean(0)).abs().max())
print(json.dumps(out))
`;

test('model.py: a zero fill is the plain skip, a skipped MLP adds its fill (whole batch or one row), a masked head its fill through o_proj; fill_probe.py: means of the real outputs', () => {
  const got = JSON.parse(execFileSync(PY, ['-c', program], { encoding: 'utf8' })) as Record<string, number>;
  assert.equal(got.zero_equals_none, 0);
  assert.ok(got.mlp_fill_is_constant_mlp! < 1e-5, `skipped MLP with a fill vs a constant MLP: ${got.mlp_fill_is_constant_mlp}`);
  assert.ok(got.per_row_fill! < 1e-5, `one row skipping the MLP with a fill vs a constant MLP: ${got.per_row_fill}`);
  assert.ok(got.head_fill! < 1e-5, `a masked head's fill vs o_proj of the fill: ${got.head_fill}`);
  assert.equal(got.mean_positions, 8);
  assert.ok(got.mean_attn_err! < 1e-5 && got.mean_mlp_err! < 1e-5, `fill_probe's means of the last layer's attention and MLP: ${got.mean_attn_err}, ${got.mean_mlp_err}`);
});
