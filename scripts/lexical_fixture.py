#!/usr/bin/env python3
"""Write crates/scorer/tests/fixtures/lexical_buckets.json: the lexical block's bucket counts for
a few texts, computed here from the rules crates/scorer/src/lexical.rs documents, not by
Cyborg, so that the Rust test (natively) and the browser test (in wasm) check the hashing
against an independent reading of it.

Rules: a word is a whitespace-separated run with leading and trailing non-alphanumeric
characters trimmed; in scripts written without spaces (Thai, Lao, Myanmar, Khmer, kana, Han)
each letter is a word of its own. A word's hash is 32-bit FNV-1a over the UTF-8 bytes of its
lower-case form. Each word hits bucket splitmix(hash) mod B, and each adjacent pair (a, b) hits
splitmix(a << 32 | b) mod B, where splitmix is SplitMix64's finaliser.

Run from the repository root:  python3 scripts/lexical_fixture.py
"""
import json
from pathlib import Path

OUT = Path("crates/scorer/tests/fixtures/lexical_buckets.json")
BUCKETS = 4096
MASK = (1 << 64) - 1
WITHOUT_SPACES = [(0x0E00, 0x0EFF), (0x1000, 0x109F), (0x1780, 0x17FF), (0x3040, 0x30FF),
                  (0x3400, 0x4DBF), (0x4E00, 0x9FFF), (0xF900, 0xFAFF), (0x20000, 0x3FFFF)]
TEXTS = [
    "Plants need light, water and air.",
    "The cat saw the dog; THE CAT ran!",
    "Acid rain: the mass of each sample before and after, and the size of the container.",
    "Café crème -- déjà vu... naïve?",
    "我们去学校。 東京へ行きます, world!",
    "",
]


def fnv1a(word):
    h = 0x811C9DC5
    for byte in word.lower().encode("utf-8"):
        h = ((h ^ byte) * 0x01000193) & 0xFFFFFFFF
    return h


def splitmix(key):
    z = (key + 0x9E3779B97F4A7C15) & MASK
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK
    return z ^ (z >> 31)


def trim(piece):
    start, end = 0, len(piece)
    while start < end and not piece[start].isalnum():
        start += 1
    while end > start and not piece[end - 1].isalnum():
        end -= 1
    return piece[start:end]


def words(text):
    out = []
    for run in text.split():
        run = trim(run)
        piece = ""
        for c in run:
            if any(lo <= ord(c) <= hi for lo, hi in WITHOUT_SPACES):
                out.append(piece)
                out.append(c)
                piece = ""
            else:
                piece += c
        out.append(piece)
    return [fnv1a(w) for w in (trim(p) for p in out) if w]


def counts(text):
    hashes = words(text)
    hits = [splitmix(h) % BUCKETS for h in hashes]
    hits += [splitmix(a << 32 | b) % BUCKETS for a, b in zip(hashes, hashes[1:])]
    return [[b, hits.count(b)] for b in sorted(set(hits))]


cases = ",\n".join(json.dumps({"text": t, "counts": counts(t)}, ensure_ascii=False) for t in TEXTS)
OUT.write_text(f'{{"buckets": {BUCKETS}, "cases": [\n{cases}\n]}}\n')
print(f"wrote {OUT}")
