"""Greedy completions of the exported model in torch, for the torch == onnxruntime parity check.

usage: torch_greedy.py --model DIR --problems FILE.jsonl --out IDS.json [--max-new 160]
Loads config.json + model.safetensors of an exported directory (not the training checkpoint),
so it checks the export as well as the runtime. Writes a JSON list of generated ids per problem
(eos excluded), the format `skipserve eval --compare-greedy` reads.
"""
import argparse
import json
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from export import read_safetensors  # noqa: E402
from model import Llama, greedy  # noqa: E402
from tokenizer import BOS, Tokenizer, prompt_text  # noqa: E402


def load_exported(d):
    """Llama from an exported HF directory."""
    with open(os.path.join(d, "config.json")) as f:
        cfg = json.load(f)
    model = Llama(cfg)
    sd = {k: torch.from_numpy(v.copy()) for k, v in read_safetensors(os.path.join(d, "model.safetensors")).items()}
    missing, unexpected = model.load_state_dict(sd, strict=False)
    missing = [m for m in missing if not m.startswith("rope_")]
    if missing or unexpected:
        raise SystemExit(f"state dict mismatch: missing {missing}, unexpected {unexpected}")
    return model, cfg


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True)
    ap.add_argument("--problems", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--max-new", type=int, default=160)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch", type=int, default=25, help="rows per batch (left-padded; padding is masked exactly)")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    model, cfg = load_exported(a.model)
    tok = Tokenizer.load(os.path.join(a.model, "tokenizer.json"))
    rows = [json.loads(line) for line in open(a.problems) if line.strip()]
    prompts = [[BOS] + tok.encode(prompt_text(r["question"])) for r in rows]
    eos = cfg["eos_token_id"]
    gens = greedy(model, prompts, max_new=a.max_new, eos=eos if isinstance(eos, int) else eos[0], batch=a.batch)
    with open(a.out, "w") as f:
        json.dump(gens, f)
    ok = sum(tok.decode(g).strip().endswith(f"The answer is {r['answer']}.") for g, r in zip(gens, rows))
    print(json.dumps({"problems": len(rows), "torch_greedy_acc": ok / max(1, len(rows))}))


if __name__ == "__main__":
    main()
