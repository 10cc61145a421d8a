#!/usr/bin/env python3
"""ASAP-SAS (ten short-answer sets) by cross-validation on its training file: test QWK per set
for students trained with and without the head's lexical block, side by side (issue 20).

Each set's answers are shuffled (seeded by the set's number) and cut into five folds; fold k
tests, and of the other four every fifth answer is for development (early stopping and
thresholds), the rest for training. Each arm trains with `cyborg train` on the same ids and
scores the same test answers.

  scripts/bench-sas.py [--sets 1,…,10] [--folds 0] [--arms lexical,plain]
                       [--arm NAME="TRAIN FLAGS" …]

`--arm` defines a further arm by the `cyborg train` flags it adds (and runs it with the others
named in --arms), e.g. --arm patient="--patience 3" --arms lexical,patient. In those flags
{work} stands for the set's fold folder (where an earlier arm's bundle stays unless
--drop-bundles) and {data} for ../shared/data/asap-sas, e.g. a student taught by the mpnet arm's
bundle through the set's unscored answers:
--arms mpnet,taught --arm mpnet="--base models/all-mpnet-base-v2" --arm taught="--pool
{data}/private_leaderboard.tsv --teacher bundle --teacher-bundle {work}/mpnet.cyborg".

Works in --work (default target/bench-sas), where the id lists, bundles and scores stay: a
rerun reuses them (delete them to measure a new build). A bundle is 91 MB, so five folds of
three arms take 13.6 GB: --drop-bundles deletes each once it has scored (the scores are what a
rerun reuses). Reads ../shared/data/asap-sas; never copies it into the repository.
"""

import argparse
import csv
import random
import shlex
import statistics
import sys
import time
from pathlib import Path

from asap_fold import ROOT, qwk, read_scores, run, write_responses

TSV = ROOT.parent / "shared" / "data" / "asap-sas" / "train_jjj_reconstructed.tsv"
FOLDS = 5
# `plain` is train's defaults, which tune every layer for short answers; `essay` is the
# essays' training (the default for every answer before that rule).
ARMS = {"lexical": ["--lexical-buckets", "4096"], "plain": [],
        "essay": ["--tune", "top:2", "--epochs", "3", "--patience", "1"]}


def read_sets():
    """Every answer, grouped by set: {set: [(id, score, text)]}."""
    csv.field_size_limit(sys.maxsize)
    sets = {}
    with open(TSV, encoding="utf-8") as f:
        for row in csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE):
            sets.setdefault(int(row["EssaySet"]), []).append(
                (row["Id"], int(row["Score1"]), row["EssayText"]))
    return sets


def split(answers, number, fold):
    """(train, dev, test) ids of one set's fold."""
    ids = sorted(a[0] for a in answers)
    random.Random(number).shuffle(ids)
    test = ids[fold::FOLDS]
    rest = [i for k in range(FOLDS) if k != fold for i in ids[k::FOLDS]]
    dev = rest[::5]
    train = [i for j, i in enumerate(rest) if j % 5 != 0]
    return train, dev, test


def measure(args, cyborg, number, answers, fold, arm):
    """Test QWK and training seconds of one arm on one set's fold (cached in the work folder)."""
    work = Path(args.work) / f"set{number}" / f"fold{fold}"
    work.mkdir(parents=True, exist_ok=True)
    train, dev, test = split(answers, number, fold)
    for name, ids in (("train_ids.txt", train), ("dev_ids.txt", dev)):
        (work / name).write_text("\n".join(ids) + "\n")
    bundle, scores = work / f"{arm}.cyborg", work / f"{arm}-scores.csv"
    seconds_file = work / f"{arm}-seconds.txt"
    if not bundle.exists() and not scores.exists():
        start = time.monotonic()
        run([cyborg, "train", TSV, "--no-quoting", "--text", "EssayText", "--score", "Score1",
             "--id", "Id", "--where", f"EssaySet={number}", "--train-ids", work / "train_ids.txt",
             "--dev-ids", work / "dev_ids.txt", "--out", bundle, "--quiet",
             *(flag.format(work=work, data=TSV.parent) for flag in ARMS[arm])])
        seconds_file.write_text(f"{time.monotonic() - start:.1f}\n")
    if not scores.exists():
        responses = work / "test.csv"
        by_id = {a[0]: a for a in answers}
        write_responses(responses, [(i, by_id[i][2]) for i in test])
        run([cyborg, "score", bundle, responses, "--text", "text", "--id", "id", "--out", scores,
             "--quiet"])
        if args.drop_bundles:
            bundle.unlink()
    machine = read_scores(scores)
    human = {a[0]: a[1] for a in answers}
    low, high = min(human.values()), max(human.values())
    k = qwk([human[i] for i in test], [int(machine[i]["score"]) for i in test], low, high)
    return k, float(seconds_file.read_text())


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sets", default="1,2,3,4,5,6,7,8,9,10")
    parser.add_argument("--folds", default="0")
    parser.add_argument("--arms", default="lexical,plain")
    parser.add_argument("--arm", action="append", default=[], metavar='NAME="FLAGS"')
    parser.add_argument("--cyborg", default=str(ROOT / "target" / "release" / "cyborg"))
    parser.add_argument("--work", default=str(ROOT / "target" / "bench-sas"))
    parser.add_argument("--drop-bundles", action="store_true",
                        help="delete each bundle once it has scored its test answers (91 MB each; "
                             "scripts/cut_points.py sas needs them kept)")
    args = parser.parse_args()
    for definition in args.arm:
        name, _, flags = definition.partition("=")
        ARMS[name] = shlex.split(flags)
    if not TSV.exists():
        sys.exit(f"needs ASAP-SAS at {TSV}")
    sets = read_sets()
    numbers = [int(s) for s in args.sets.split(",")]
    folds = [int(f) for f in args.folds.split(",")]
    arms = args.arms.split(",")
    unknown = [a for a in arms if a not in ARMS]
    if unknown:
        sys.exit(f"no arm {', '.join(unknown)}: the arms are {', '.join(ARMS)} (--arm defines more)")
    results = {(n, f, a): measure(args, args.cyborg, n, sets[n], f, a)
               for n in numbers for f in folds for a in arms}
    print(f"\nASAP-SAS, folds {args.folds} of {FOLDS}: test QWK (mean over folds), "
          "training minutes in brackets\n")
    print("| set | " + " | ".join(arms) + " |\n|---|" + "---|" * len(arms))
    for n in numbers:
        cells = []
        for a in arms:
            ks = [results[(n, f, a)][0] for f in folds]
            minutes = sum(results[(n, f, a)][1] for f in folds) / 60
            cells.append(f"{statistics.mean(ks):.3f} ({minutes:.1f})")
        print(f"| {n} | " + " | ".join(cells) + " |")
    means = [statistics.mean(results[(n, f, a)][0] for n in numbers for f in folds) for a in arms]
    print("| **mean** | " + " | ".join(f"**{m:.3f}**" for m in means) + " |")


if __name__ == "__main__":
    main()
