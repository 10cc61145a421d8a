#!/usr/bin/env python3
"""The two cut-point rules of `cyborg train --cut-points` side by side, on students already
trained with the default rule (qwk): their test QWK as trained, and with cut points refitted
by the `shares` rule from the same students' raw scores on their development responses.

The `shares` rule here is the arithmetic of `calibration::distribution_matching`, applied to
the development raw scores with the human levels of the training and development rows; the
students are the ones scripts/bench-sas.py (ASAP-SAS, arm `plain`, fold 0) and
scripts/bench-precision.py (ASAP-AES, NEA fold 0, f32) leave in their work folders.

  scripts/cut_points.py sas [--sets 1,…,10]
  scripts/cut_points.py asap [--prompts 1,…,8]
"""

import argparse
import bisect
import csv
import sys
from pathlib import Path

from asap_fold import ROOT, ids, qwk, read_asap, read_scores, run, write_responses

SAS_TSV = ROOT.parent / "shared" / "data" / "asap-sas" / "train_jjj_reconstructed.tsv"
ASAP_RANGES = {1: (2, 12), 2: (1, 6), 3: (0, 3), 4: (0, 3), 5: (0, 4), 6: (0, 4), 7: (0, 30),
               8: (0, 60)}


def shares_cuts(dev_raw, human, low, high):
    """Cut points giving `dev_raw` the shares of `human`'s levels (as the Rust code rounds)."""
    ranked, n, below, cuts = sorted(dev_raw), len(dev_raw), 0, []
    for level in range(low, high):
        below += sum(1 for h in human if h == level)
        k = (below * n + len(human) // 2) // len(human)
        cuts.append(ranked[0] - 1e-9 if k == 0 else ranked[-1] + 1e-9 if k >= n
                    else (ranked[k - 1] + ranked[k]) / 2)
    return cuts


def raw_scores(cyborg, bundle, rows, path):
    """{id: (level, raw)} of `bundle` on rows [(id, text)], scored once into `path`."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        responses = path.with_suffix(".responses.csv")
        write_responses(responses, rows)
        run([cyborg, "score", bundle, responses, "--text", "text", "--id", "id", "--out", path,
             "--quiet"])
    return {i: (int(r["score"]), float(r["raw_score"])) for i, r in read_scores(path).items()}


def compare(cyborg, bundle, texts, human, train, dev, test, low, high, work):
    """(test QWK as trained, test QWK with `shares` cut points) of one student."""
    dev_scores = raw_scores(cyborg, bundle, [(i, texts[i]) for i in dev], work / "dev-raw.csv")
    test_scores = raw_scores(cyborg, bundle, [(i, texts[i]) for i in test], work / "test-raw.csv")
    truth = [human[i] for i in test]
    cuts = shares_cuts([dev_scores[i][1] for i in dev], [human[i] for i in train + dev], low, high)
    refitted = [low + bisect.bisect_right(cuts, test_scores[i][1]) for i in test]
    return (qwk(truth, [test_scores[i][0] for i in test], low, high),
            qwk(truth, refitted, low, high))


def sas(args):
    csv.field_size_limit(sys.maxsize)
    with open(SAS_TSV, encoding="utf-8") as f:
        rows = list(csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE))
    for number in map(int, args.sets.split(",")):
        work = ROOT / "target" / "bench-sas" / f"set{number}" / "fold0"
        answers = [r for r in rows if r["EssaySet"] == str(number)]
        texts = {r["Id"]: r["EssayText"] for r in answers}
        human = {r["Id"]: int(r["Score1"]) for r in answers}
        train, dev = ((work / n).read_text().split() for n in ("train_ids.txt", "dev_ids.txt"))
        test = [i for i in read_scores(work / "plain-scores.csv")]
        yield number, compare(args.cyborg, work / "plain.cyborg", texts, human, train, dev, test,
                              min(human.values()), max(human.values()), work / "plain")


def asap(args):
    essays = read_asap()
    train_ids, dev_ids, test_ids = (set(ids(f"{n}_ids.txt")) for n in ("train", "dev", "test"))
    for prompt in map(int, args.prompts.split(",")):
        mine = {i: e for i, e in essays.items() if e["essay_set"] == str(prompt)}
        texts = {i: e["essay"] for i, e in mine.items()}
        human = {i: int(e["domain1_score"]) for i, e in mine.items()}
        split = [sorted(i for i in mine if i in chosen) for chosen in (train_ids, dev_ids, test_ids)]
        work = ROOT / "target" / "bench-precision" / f"set{prompt}"
        yield prompt, compare(args.cyborg, ROOT / "target" / "bench-precision" / f"set{prompt}-f32.cyborg",
                              texts, human, *split, *ASAP_RANGES[prompt], work)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("corpus", choices=["sas", "asap"])
    parser.add_argument("--sets", default="1,2,3,4,5,6,7,8,9,10")
    parser.add_argument("--prompts", default="1,2,3,4,5,6,7,8")
    parser.add_argument("--cyborg", default=str(ROOT / "target" / "release" / "cyborg"))
    args = parser.parse_args()
    results = list((sas if args.corpus == "sas" else asap)(args))
    print("| set | test QWK, cut points qwk (as trained) | shares | difference |\n|---|---|---|---|")
    for number, (trained, shares) in results:
        print(f"| {number} | {trained:.3f} | {shares:.3f} | {shares - trained:+.3f} |")
    mean = [sum(r[1][k] for r in results) / len(results) for k in (0, 1)]
    print(f"| **mean** | **{mean[0]:.3f}** | **{mean[1]:.3f}** | {mean[1] - mean[0]:+.3f} |")


if __name__ == "__main__":
    main()
