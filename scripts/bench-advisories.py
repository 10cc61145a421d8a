#!/usr/bin/env python3
"""How well advisories catch responses written to game the score (issue 19, section 5).

For each ASAP-AES prompt: train a student on fold 0's training rows (early stopping on its
development rows), then score fold 0's held-out test essays as they are and in five gamed
versions. Prints, per prompt and over all, how many of each kind the advisories flag and with
what, and how far the gamed version's score moves from the original's when it is not flagged.

  scripts/bench-advisories.py [--prompts 1,3,7] [--tune head] [--cyborg target/release/cyborg]

Reads ../shared/data/asap-aes (never copied into the repository); works in --work
(default target/bench-advisories), where the bundles and scored files stay: a rerun reuses
them (delete them to measure a new build).
"""

import argparse
import random
import re
from collections import Counter

from asap_fold import add_arguments, read_scores, run, start, train_student, write_responses

KINDS = ["repeated_3x", "sentences_shuffled", "other_prompt", "word_salad", "keywords_stuffed"]
WORD = re.compile(r"[A-Za-z']+")


def key_words(own, others, count=10):
    """The prompt's words most over-represented against the other prompts' essays."""
    mine = Counter(w.lower() for e in own for w in WORD.findall(e))
    rest = Counter(w.lower() for e in others for w in WORD.findall(e))
    total_mine, total_rest = sum(mine.values()), sum(rest.values())
    ratio = {
        w: (n / total_mine) / ((rest[w] + 1) / total_rest)
        for w, n in mine.items()
        if n >= 20 and len(w) > 3
    }
    return sorted(ratio, key=ratio.get, reverse=True)[:count]


def gamed(kind, essay, rng, keywords, other_essays):
    words = essay.split()
    if kind == "repeated_3x":
        return "\n\n".join([essay] * 3)
    if kind == "sentences_shuffled":
        sentences = re.split(r"(?<=[.!?])\s+", essay.strip())
        rng.shuffle(sentences)
        return " ".join(sentences)
    if kind == "other_prompt":
        return rng.choice(other_essays)
    if kind == "word_salad":
        return " ".join(rng.choice(words) for _ in words)
    if kind == "keywords_stuffed":
        stuffed = list(words)
        for _ in range(len(words) // 2):
            stuffed.insert(rng.randrange(len(stuffed) + 1), rng.choice(keywords))
        return " ".join(stuffed)
    raise ValueError(kind)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--prompts", default="1,3,7")
    parser.add_argument("--tune", help="passed to cyborg train (default: its own)")
    parser.add_argument("--seed", type=int, default=19)
    add_arguments(parser, "bench-advisories")
    args = parser.parse_args()
    work, essays, test_ids = start(args)
    new_counts = lambda: {k: Counter() for k in ["genuine"] + KINDS}
    totals = new_counts()
    for prompt in args.prompts.split(","):
        rng = random.Random(args.seed)
        in_prompt = [r for r in essays.values() if r["essay_set"] == prompt]
        held_out = [r for r in in_prompt if r["essay_id"] in test_ids]
        training = [r["essay"] for r in in_prompt if r["essay_id"] not in test_ids]
        others = [r["essay"] for r in essays.values()
                  if r["essay_set"] != prompt and r["essay_id"] in test_ids]
        keywords = key_words(training, [r["essay"] for r in essays.values()
                                        if r["essay_set"] != prompt and r["essay_id"] not in test_ids])
        bundle = work / f"set{prompt}.cyborg"
        train_student(args.cyborg, prompt, bundle, args.tune)
        table = work / f"set{prompt}-responses.csv"
        write_responses(table, (
            (f"{r['essay_id']}:{kind}",
             r["essay"] if kind == "genuine" else gamed(kind, r["essay"], rng, keywords, others))
            for r in held_out for kind in ["genuine"] + KINDS))
        scored = work / f"set{prompt}-scores.csv"
        if not scored.exists():
            run([args.cyborg, "score", bundle, table, "--text", "text", "--id", "id",
                 "--out", scored, "--quiet"])
        scores = read_scores(scored)
        counts = new_counts()
        for r in held_out:
            original = scores[f"{r['essay_id']}:genuine"]
            for kind in ["genuine"] + KINDS:
                s = scores[f"{r['essay_id']}:{kind}"]
                flags = [a for a in s["advisories"].split(";") if a]
                change = int(s["score"]) - int(original["score"])
                for t in (counts[kind], totals[kind]):
                    t["n"] += 1
                    if flags:
                        t["flagged"] += 1
                        t.update("flag:" + a for a in flags)
                    else:
                        t["unflagged"] += 1
                        t["shift"] += change
                        t["abs_shift"] += abs(change)
        print(f"\nprompt {prompt}: {len(held_out)} held-out essays, key words {keywords}\n")
        print_table(counts)
    print(f"\nall prompts ({args.prompts})\n")
    print_table(totals)


def print_table(counts):
    print("| responses | n | flagged | by | unflagged: mean score change (mean absolute) |")
    print("|---|---|---|---|---|")
    for kind, t in counts.items():
        by = ", ".join(f"{k[5:]} {v}" for k, v in sorted(t.items()) if k.startswith("flag:"))
        unflagged = t["unflagged"]
        shift = (f"{t['shift'] / unflagged:+.2f} ({t['abs_shift'] / unflagged:.2f})"
                 if unflagged else "-")
        print(f"| {kind} | {t['n']} | {t['flagged']} ({100 * t['flagged'] / t['n']:.1f}%) "
              f"| {by or '-'} | {shift} |")


if __name__ == "__main__":
    main()
