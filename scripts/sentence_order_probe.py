#!/usr/bin/env python3
"""Can a screen tell an essay from the same essay with its sentences shuffled? (issue 19, §5)

The bundle's screen reads words and word pairs, never the order of sentences, so it flags
shuffled essays at the genuine rate. This measures three order signals on ASAP-AES NEA fold 0
before any is built into the scorer. Each embeds every sentence on its own with the frozen
all-MiniLM-L6-v2 (sentence-transformers, normalised) and compares the essay's own order with
60 random orders of the same sentences (a z-score, so essays of any length share one limit):

  pair      a logistic model of "sentence b follows sentence a" on [a, b, a*b], fitted on the
            training essays' adjacent pairs against the same pairs reversed and random pairs
            from the same essay; the statistic is the mean log-odds of the adjacent pairs
  position  a ridge model of a sentence's relative place in its essay; the correlation of the
            predicted places with the actual ones
  cosine    the mean cosine of adjacent sentences (no fitting)

The limit is the development essays' 1%, 2% or 5% tail (as the screen's limits are); each
cell gives test essays flagged as written / shuffled essays caught. Essays of fewer than
three sentences are left out.

  scripts/sentence_order_probe.py [--prompts 3,1,7]    # ~15 min here; needs the venv
"""

import argparse
import pickle
import random
import re

import numpy as np
from asap_fold import ROOT, add_arguments, start, ids
from sklearn.linear_model import LogisticRegression, Ridge

SENTENCE_END = re.compile(r"(?<=[.!?])\s+")
ORDERS = 60
TAILS = (0.01, 0.02, 0.05)


def sentences(essay):
    return [s for s in SENTENCE_END.split(essay.strip()) if s]


def embedded(work, essays, prompt):
    """Every essay of the prompt: (its sentences, one normalised embedding per sentence)."""
    cache = work / f"sentences-{prompt}.pkl"
    if cache.exists():
        return pickle.loads(cache.read_bytes())
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(ROOT / "models" / "all-MiniLM-L6-v2"), device="cpu")
    rows = [r for r in essays.values() if r["essay_set"] == prompt]
    split = [sentences(r["essay"]) for r in rows]
    flat = [s for ss in split for s in ss]
    vectors = model.encode(flat, normalize_embeddings=True, batch_size=64)
    out, start_at = {}, 0
    for r, ss in zip(rows, split):
        out[r["essay_id"]] = vectors[start_at:start_at + len(ss)]
        start_at += len(ss)
    cache.write_bytes(pickle.dumps(out))
    return out


def pair_features(a, b):
    return np.hstack([a, b, a * b])


def fit(training, rng):
    """The pair and position models, from the training essays' sentence embeddings."""
    pairs, follows, rows, places = [], [], [], []
    for vectors in training:
        n = len(vectors)
        for i in range(n - 1):
            pairs += [pair_features(vectors[i], vectors[i + 1]),
                      pair_features(vectors[i + 1], vectors[i])]
            follows += [1, 0]
            j = int(rng.integers(n))
            if j != i + 1:
                pairs.append(pair_features(vectors[i], vectors[j]))
                follows.append(0)
        rows += list(vectors)
        places += [i / (n - 1) for i in range(n)]
    pair = LogisticRegression(C=1.0, max_iter=2000).fit(np.array(pairs), np.array(follows))
    position = Ridge(alpha=1.0).fit(np.array(rows), np.array(places))
    return pair, position


def order_z(statistic, n, rng):
    """How far the written order's statistic sits above random orders', in their SDs."""
    written = statistic(np.arange(n))
    shuffled = np.array([statistic(rng.permutation(n)) for _ in range(ORDERS)])
    return (written - shuffled.mean()) / max(shuffled.std(), 1e-9)


def signals(vectors, pair, position, rng):
    n = len(vectors)
    grid = pair_features(np.repeat(vectors, n, axis=0), np.tile(vectors, (n, 1)))
    log_odds = pair.decision_function(grid).reshape(n, n)
    places = position.predict(vectors)
    cosines = vectors @ vectors.T
    return {
        "pair": order_z(lambda o: log_odds[o[:-1], o[1:]].mean(), n, rng),
        "position": order_z(lambda o: np.corrcoef(places[o], np.arange(n))[0, 1], n, rng),
        "cosine": order_z(lambda o: cosines[o[:-1], o[1:]].mean(), n, rng),
    }


TAIL_HEADER = " | ".join(f"{t:.0%} tail: flagged / caught" for t in TAILS)


def tail_cells(dev, genuine, shuffled):
    """Per tail of the development essays' statistics (low = out of order), the share of test
    essays below it as written / when shuffled, as table cells."""
    limits = sorted(dev)
    cells = []
    for tail in TAILS:
        limit = limits[int(tail * len(limits))]
        flagged = np.mean(np.array(genuine) < limit)
        caught = np.mean(np.array(shuffled) < limit)
        cells.append(f"{flagged:.1%} / {caught:.1%}")
    return " | ".join(cells)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--prompts", default="3,1,7")
    parser.add_argument("--seed", type=int, default=19)
    add_arguments(parser, "sentence-order")
    args = parser.parse_args()
    work, essays, test_ids = start(args)
    train_ids, dev_ids = set(ids("train_ids.txt")), set(ids("dev_ids.txt"))
    print(f"| prompt | signal | test essays | {TAIL_HEADER} |")
    print("|---|---|---|" + "---|" * len(TAILS))
    for prompt in args.prompts.split(","):
        rng, shuffle = np.random.default_rng(args.seed), random.Random(args.seed)
        by_id = {i: v for i, v in embedded(work, essays, prompt).items() if len(v) >= 3}
        pair, position = fit([v for i, v in by_id.items() if i in train_ids], rng)
        dev, genuine, shuffled = [], [], []
        for essay_id, vectors in by_id.items():
            if essay_id in dev_ids:
                dev.append(signals(vectors, pair, position, rng))
            elif essay_id in test_ids:
                genuine.append(signals(vectors, pair, position, rng))
                order = list(range(len(vectors)))
                shuffle.shuffle(order)
                shuffled.append(signals(vectors[order], pair, position, rng))
        for name in ("pair", "position", "cosine"):
            cells = tail_cells(*([s[name] for s in group] for group in (dev, genuine, shuffled)))
            print(f"| {prompt} | {name} | {len(genuine)} | {cells} |", flush=True)


if __name__ == "__main__":
    main()
