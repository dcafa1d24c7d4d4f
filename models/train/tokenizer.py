"""Pure-Python BPE tokenizer for the default model: trains it, writes Hugging Face tokenizer.json
files, and encodes/decodes exactly like @huggingface/tokenizers does with those files.

Pre-tokenizer: one regex split (Isolated) into chunks - every digit alone, words with their
leading space, single punctuation characters (with an optional leading space), single spaces.
Model: BPE over characters inside each chunk (merges never cross chunks). Decoder: Fuse (concat).
No torch needed: `python3 tokenizer.py train DATA.jsonl OUTDIR` or import `Tokenizer`.
"""
import json
import re
import sys
from collections import Counter

PATTERN = r"[0-9]| ?[A-Za-z]+| ?[^A-Za-z0-9 ]| "
SPECIALS = ["<unk>", "<s>", "</s>", "<pad>"]
UNK, BOS, EOS, PAD = 0, 1, 2, 3
BASE_CHARS = ["\n"] + [chr(c) for c in range(32, 127)]
DEFAULT_VOCAB = 384
CHAT_TEMPLATE = (
    "{{ bos_token }}{% for message in messages %}"
    "{% if message['role'] == 'user' %}{{ 'Q: ' + message['content'] | trim + '\\n' }}"
    "{% elif message['role'] == 'assistant' %}{{ 'A: ' + message['content'] | trim + eos_token + '\\n' }}"
    "{% endif %}{% endfor %}{% if add_generation_prompt %}{{ 'A:' }}{% endif %}"
)
_chunk_re = re.compile(PATTERN)
_special_re = re.compile("(" + "|".join(re.escape(s) for s in SPECIALS) + ")")


def prompt_text(question):
    """The model's prompt for a question (what the chat template renders after <s>)."""
    return "Q: " + question + "\nA:"


def completion_text(solution):
    """The text the model must produce after the prompt (then </s>)."""
    return " " + solution


def pre_tokenize(text):
    """Split text into BPE chunks; every character ends up in exactly one chunk."""
    return _chunk_re.findall(text)


def train_merges(texts, vocab_size=DEFAULT_VOCAB):
    """Learn BPE merges (most frequent pair first, ties broken by the pair itself)."""
    words = Counter()
    for t in texts:
        words.update(pre_tokenize(t))
    seqs = {w: list(w) for w in words if len(w) > 1}
    merges = []
    n_base = len(SPECIALS) + len(BASE_CHARS)
    while n_base + len(merges) < vocab_size:
        pairs = Counter()
        for w, s in seqs.items():
            f = words[w]
            for a, b in zip(s, s[1:]):
                pairs[(a, b)] += f
        if not pairs:
            break
        best = min(pairs.items(), key=lambda kv: (-kv[1], kv[0]))[0]
        merges.append(best)
        joined = best[0] + best[1]
        for w, s in seqs.items():
            i = 0
            out = []
            while i < len(s):
                if i + 1 < len(s) and s[i] == best[0] and s[i + 1] == best[1]:
                    out.append(joined)
                    i += 2
                else:
                    out.append(s[i])
                    i += 1
            seqs[w] = out
    return merges


class Tokenizer:
    """Encoder/decoder equivalent to @huggingface/tokenizers on the tokenizer.json we write."""

    def __init__(self, vocab, merges):
        self.vocab = dict(vocab)
        self.id_to_token = {i: t for t, i in self.vocab.items()}
        self.ranks = {tuple(m): i for i, m in enumerate(merges)}
        self.merges = [list(m) for m in merges]
        self._cache = {}

    @classmethod
    def from_merges(cls, merges):
        vocab = {}
        for t in SPECIALS + BASE_CHARS + [a + b for a, b in merges]:
            if t not in vocab:
                vocab[t] = len(vocab)
        return cls(vocab, merges)

    @classmethod
    def load(cls, path):
        """Load from a tokenizer.json file written by save()."""
        with open(path) as f:
            j = json.load(f)
        return cls(j["model"]["vocab"], [tuple(m) for m in j["model"]["merges"]])

    def _bpe(self, chunk):
        hit = self._cache.get(chunk)
        if hit is not None:
            return hit
        parts = list(chunk)
        while len(parts) > 1:
            best, at = None, -1
            for i in range(len(parts) - 1):
                r = self.ranks.get((parts[i], parts[i + 1]))
                if r is not None and (best is None or r < best):
                    best, at = r, i
            if best is None:
                break
            parts[at:at + 2] = [parts[at] + parts[at + 1]]
        self._cache[chunk] = parts
        return parts

    def encode(self, text, add_bos=False):
        """Token ids of text; special-token strings in the text map to their ids."""
        ids = [BOS] if add_bos else []
        for section in _special_re.split(text):
            if not section:
                continue
            if section in SPECIALS:
                ids.append(self.vocab[section])
                continue
            for chunk in pre_tokenize(section):
                for p in self._bpe(chunk):
                    ids.append(self.vocab.get(p, UNK))
        return ids

    def decode(self, ids, skip_special=True):
        toks = [self.id_to_token[i] for i in ids]
        if skip_special:
            toks = [t for t in toks if t not in SPECIALS]
        return "".join(toks)

    def tokenizer_json(self):
        added = [
            {"id": i, "content": s, "single_word": False, "lstrip": False, "rstrip": False,
             "normalized": False, "special": True}
            for i, s in enumerate(SPECIALS)
        ]
        return {
            "version": "1.0",
            "truncation": None,
            "padding": None,
            "added_tokens": added,
            "normalizer": None,
            "pre_tokenizer": {
                "type": "Split", "pattern": {"Regex": PATTERN}, "behavior": "Isolated", "invert": False,
            },
            "post_processor": {
                "type": "TemplateProcessing",
                "single": [{"SpecialToken": {"id": "<s>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}],
                "pair": [
                    {"SpecialToken": {"id": "<s>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}},
                    {"SpecialToken": {"id": "<s>", "type_id": 1}}, {"Sequence": {"id": "B", "type_id": 1}},
                ],
                "special_tokens": {"<s>": {"id": "<s>", "ids": [BOS], "tokens": ["<s>"]}},
            },
            "decoder": {"type": "Fuse"},
            "model": {
                "type": "BPE", "dropout": None, "unk_token": "<unk>", "continuing_subword_prefix": None,
                "end_of_word_suffix": None, "fuse_unk": False, "byte_fallback": False, "ignore_merges": False,
                "vocab": self.vocab, "merges": self.merges,
            },
        }

    def save(self, outdir, max_length=512):
        """Write tokenizer.json, tokenizer_config.json and special_tokens_map.json."""
        import os
        os.makedirs(outdir, exist_ok=True)
        with open(os.path.join(outdir, "tokenizer.json"), "w") as f:
            json.dump(self.tokenizer_json(), f, ensure_ascii=False, indent=1)
        cfg = {
            "tokenizer_class": "PreTrainedTokenizerFast",
            "bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>", "pad_token": "<pad>",
            "add_bos_token": True, "add_eos_token": False,
            "clean_up_tokenization_spaces": False,
            "model_max_length": max_length,
            "chat_template": CHAT_TEMPLATE,
        }
        with open(os.path.join(outdir, "tokenizer_config.json"), "w") as f:
            json.dump(cfg, f, indent=1)
        with open(os.path.join(outdir, "special_tokens_map.json"), "w") as f:
            json.dump({"bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>", "pad_token": "<pad>"}, f, indent=1)


def _encode_stdin(tokenizer_json):
    """Each stdin line is a JSON string; prints the JSON list of its ids (no BOS) per line."""
    tok = Tokenizer.load(tokenizer_json)
    out = [json.dumps(tok.encode(json.loads(line))) for line in sys.stdin if line.strip()]
    sys.stdout.write("\n".join(out) + "\n")


def _main(argv):
    if len(argv) == 2 and argv[0] == "encode":
        return _encode_stdin(argv[1])
    if len(argv) < 3 or argv[0] != "train":
        sys.exit("usage: tokenizer.py train DATA.jsonl OUTDIR [VOCAB_SIZE] | tokenizer.py encode TOKENIZER_JSON < lines")
    vocab_size = int(argv[3]) if len(argv) > 3 else DEFAULT_VOCAB
    texts = []
    with open(argv[1]) as f:
        for i, line in enumerate(f):
            if i >= 50000:
                break
            r = json.loads(line)
            texts.append(prompt_text(r["question"]) + completion_text(r["solution"]))
    tok = Tokenizer.from_merges(train_merges(texts, vocab_size))
    tok.save(argv[2])
    for t in texts[:2000]:
        assert tok.decode(tok.encode(t)) == t, t
    print(f"vocab {len(tok.vocab)}; mean tokens/problem {sum(len(tok.encode(t)) for t in texts[:2000]) / 2000:.1f}")


if __name__ == "__main__":
    _main(sys.argv[1:])
