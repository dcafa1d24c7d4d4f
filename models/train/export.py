"""Export a training checkpoint to a Hugging Face Llama directory (models/default by default):
config.json, model.safetensors (f32, tied embeddings: no lm_head.weight), generation_config.json,
tokenizer.json, tokenizer_config.json, special_tokens_map.json; with --cores, skip_cores.json (the skip cores it was
trained to run cheaply, read by the server's latency-budget policy).

usage: export.py --ckpt runs/default/ckpt.pt --tokenizer data/tokenizer --out ../default
torch 1.13 has no safetensors package, so the file is written by hand: 8-byte little-endian header
length, a JSON header (padded with spaces to 8 bytes), then raw little-endian tensor data.
"""
import argparse
import json
import os
import shutil
import struct
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from skips import parse_cores  # noqa: E402
from tokenizer import BOS, EOS, PAD  # noqa: E402


def write_safetensors(path, tensors, metadata=None):
    """Write name -> float32 numpy array as a safetensors file."""
    header = {"__metadata__": metadata or {"format": "pt"}}
    offset = 0
    names = sorted(tensors)
    for n in names:
        a = tensors[n]
        header[n] = {"dtype": "F32", "shape": list(a.shape), "data_offsets": [offset, offset + a.nbytes]}
        offset += a.nbytes
    hb = json.dumps(header, separators=(",", ":")).encode()
    hb += b" " * ((8 - len(hb) % 8) % 8)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(hb)))
        f.write(hb)
        for n in names:
            f.write(np.ascontiguousarray(tensors[n], dtype="<f4").tobytes())
    os.replace(tmp, path)


def read_safetensors(path):
    """Read a float32 safetensors file back (for checks)."""
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    out = {}
    for k, v in header.items():
        if k == "__metadata__":
            continue
        b, e = v["data_offsets"]
        out[k] = np.frombuffer(data[b:e], dtype="<f4").reshape(v["shape"])
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--ckpt", required=True)
    ap.add_argument("--tokenizer", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--cores", default="", help="the skip cores the model was trained to run cheaply (train.py"
                    " --fixed-cores), as 'name:a3,a4,m5;name2:...'; written to skip_cores.json for the server")
    a = ap.parse_args()
    ck = torch.load(a.ckpt, map_location="cpu")
    cfg = dict(ck["cfg"])
    tensors = {k: v.detach().float().numpy() for k, v in ck["model"].items() if not k.startswith("rope_")}
    assert "lm_head.weight" not in tensors
    os.makedirs(a.out, exist_ok=True)
    write_safetensors(os.path.join(a.out, "model.safetensors"), tensors,
                      {"format": "pt", "step": str(ck["state"]["step"]), "tokens": str(ck["state"]["tokens"])})
    cfg["transformers_version"] = "4.46.0"
    with open(os.path.join(a.out, "config.json"), "w") as f:
        json.dump(cfg, f, indent=2)
    gen = {"bos_token_id": BOS, "eos_token_id": [EOS], "pad_token_id": PAD, "do_sample": False, "max_new_tokens": 128}
    with open(os.path.join(a.out, "generation_config.json"), "w") as f:
        json.dump(gen, f, indent=2)
    for name in ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"):
        shutil.copy(os.path.join(a.tokenizer, name), os.path.join(a.out, name))
    if a.cores:
        cores = []
        for i, part in enumerate(filter(None, (p.strip() for p in a.cores.split(";")))):
            name, _, spec = part.rpartition(":")
            plan = parse_cores(spec)[0]
            cores.append({"name": name or f"core-{i + 1}", "skip_attention": plan["skipAttention"], "skip_mlp": plan["skipMlp"]})
        with open(os.path.join(a.out, "skip_cores.json"), "w") as f:
            json.dump({"version": 1, "cores": cores, "note": "trained with train.py --fixed-cores"}, f, indent=1)
    back = read_safetensors(os.path.join(a.out, "model.safetensors"))
    for k, v in tensors.items():
        assert np.array_equal(back[k], v), k
    size = os.path.getsize(os.path.join(a.out, "model.safetensors"))
    print(json.dumps({"exported": a.out, "step": ck["state"]["step"], "tensors": len(tensors), "bytes": size}))


if __name__ == "__main__":
    main()
