#!/usr/bin/env python3
"""The cut-point rules of `cyborg train --cut-points` side by side. `sas` and `asap` take
students already trained with the rule `qwk`: their test QWK as trained, and with cut points
refitted by the `shares` rule from the same students' raw scores on their development responses.

The `shares` rule here is the arithmetic of `calibration::distribution_matching`, applied to
the development raw scores with the human levels of the training and development rows; the
students are the ones scripts/bench-sas.py (ASAP-SAS, arm `plain`, fold 0) and
scripts/bench-precision.py (ASAP-AES, NEA fold 0, f32) leave in their work folders.

  scripts/cut_points.py sas [--sets 1,…,10]
  scripts/cut_points.py asap [--prompts 1,…,8]

`probe` asks the question of `--cut-points pooled` where a student is cheap to refit: the linear
probe (ridge on the frozen encoder's mean window embedding and the length features, penalty
chosen on development QWK, as scripts/teacher_simulation.py fits it and with its cached
embeddings), one per prompt and NEA fold, its test QWK with cut points fitted by each rule:
on the development rows (`qwk`), on them and the training rows' leave-one-out scores
(`pooled`), on the leave-one-out scores alone, by `shares`, with the penalty also chosen on
both, and on the test rows themselves (a ceiling, not a rule).

  scripts/cut_points.py probe [--folds 0,…,4] [--human 0.1]

`cells` gives `pooled`'s five-fold result without retraining the fine-tuned students. Where a
student trained with `qwk` kept its probe, `pooled` changes only its cut points, and the probe
alone (`bench asap --tune head`) is the same fit in seconds. A cell kept the probe where its
development QWK is the probe's (or, in cells that record it, its kept epoch is 0); there the
`pooled` probe's test QWK is the `pooled` student's, elsewhere the `qwk` student's is.
`--built` names cells trained with `pooled` itself, which it must then reproduce.

  scripts/cut_points.py cells --students benches/asap-cells/asap-5fold \
      --probe-qwk benches/asap-cells/asap-5fold-probe-qwk \
      --probe-pooled benches/asap-cells/asap-5fold-probe-pooled \
      --built benches/asap-cells/asap-5fold-pooled
"""

import argparse
import bisect
import csv
import json
import sys
from pathlib import Path

import numpy as np

from asap_fold import ASAP, ROOT, ids, qwk, read_asap, read_scores, run, write_responses
from teacher_simulation import FEATURE_MULTIPLIERS, PENALTIES

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


def qwk_cuts(raw, human, low, high):
    """Cut points maximising QWK, as `Thresholds::fit` finds them: from rounding, each cut in
    turn moved to the gap between neighbouring raw scores that maximises QWK, until none moves.
    QWK = 1 − Σ(h − m)² / (Σh² + Σm² − 2 Σh Σm / N), so a cut's every position is priced at once
    from running sums over the responses it can move."""
    order = np.argsort(raw, kind="stable")
    r, h = raw[order], (human[order] - low).astype(float)
    cuts = np.arange(high - low, dtype=float) + 0.5 + low
    n, h_sum, h_squares = len(r), h.sum(), (h * h).sum()
    for _ in range(20):
        moved = False
        for j in range(len(cuts)):
            m = np.searchsorted(cuts, r, side="right").astype(float)
            lower = cuts[j - 1] if j else -np.inf
            upper = cuts[j + 1] if j + 1 < len(cuts) else np.inf
            start, end = np.searchsorted(r, lower), np.searchsorted(r, upper)
            if start == end:
                continue
            inside = np.zeros(n, dtype=bool)
            inside[start:end] = True
            error_out = ((h - m)[~inside] ** 2).sum()
            m_squares_out, m_sum_out = (m[~inside] ** 2).sum(), m[~inside].sum()
            block = h[start:end]
            # p of the block's responses at level j, the rest at j + 1, for p = 0..len(block).
            below = np.concatenate([[0], np.cumsum((block - j) ** 2)])
            above = np.concatenate([np.cumsum(((block - j - 1) ** 2)[::-1])[::-1], [0]])
            p = np.arange(len(block) + 1)
            at_j, at_next = p, len(block) - p
            error = error_out + below + above
            m_squares = m_squares_out + at_j * j * j + at_next * (j + 1) ** 2
            m_sum = m_sum_out + at_j * j + at_next * (j + 1)
            expected = h_squares + m_squares - 2 * h_sum * m_sum / n
            kappa = 1 - error / np.maximum(expected, 1e-12)
            # A cut can only fall between two different raw scores (or past the block's ends).
            values = r[start:end]
            allowed = np.ones(len(block) + 1, dtype=bool)
            allowed[1:-1] = values[1:] > values[:-1]
            kappa[~allowed] = -np.inf
            now = np.searchsorted(values, cuts[j])
            best = int(np.argmax(kappa))
            if kappa[best] > kappa[now] + 1e-12:
                left = values[best - 1] if best else (lower if np.isfinite(lower) else values[0] - 1)
                right = values[best] if best < len(values) else (
                    upper if np.isfinite(upper) else values[-1] + 1)
                cuts[j] = (left + right) / 2
                moved = True
        if not moved:
            break
    return cuts


def probe_levels(raw, cuts, low):
    return low + np.searchsorted(cuts, raw, side="right")


def loo_raw(probe, train_blocks, y):
    """The probe's leave-one-out raw scores on its own training rows: ridge's hat matrix
    H = K (K + λn I)⁻¹ (plus 1/n for the intercept) gives each row's residual without it as
    e / (1 − Hᵢᵢ), from the eigenvectors the fit already used."""
    gram = sum(z @ z.T / m for z, m in zip(probe.centred, probe.multipliers))
    values, vectors = np.linalg.eigh(gram)
    shrink = values / (values + probe.penalty * len(y))
    fitted = vectors @ (shrink * (vectors.T @ (y - probe.y_mean))) + probe.y_mean
    leverage = (vectors ** 2) @ shrink + 1 / len(y)
    loo = y - (y - fitted) / (1 - leverage)
    return probe._scale(loo - probe.y_mean)


def pooled_choice(probe, train_blocks, y, dev_blocks, dev_human, train_human, low, high):
    """`probe` refitted with the penalty and multipliers whose QWK on the development rows and
    the training rows' leave-one-out scores together is highest (cut points fitted on both)."""
    human = np.concatenate([dev_human, train_human])
    best = None
    for multipliers in [(1, f) for f in FEATURE_MULTIPLIERS]:
        for penalty in PENALTIES:
            probe.multipliers, probe.penalty = multipliers, penalty
            gram = sum(z @ z.T / m for z, m in zip(probe.centred, multipliers))
            probe.dual = np.linalg.solve(gram + penalty * len(y) * np.eye(len(y)), y - probe.y_mean)
            raw = np.concatenate([probe.raw(dev_blocks), loo_raw(probe, train_blocks, y)])
            cuts = qwk_cuts(raw, human, low, high)
            quality = qwk(list(human), list(probe_levels(raw, cuts, low)), low, high)
            if best is None or quality > best[0]:
                best = (quality, multipliers, penalty, probe.dual, cuts)
    _, probe.multipliers, probe.penalty, probe.dual, probe.cuts = best
    return probe


def probe_study(args):
    """Cut-point rules on the linear probe over NEA's five folds (100% human scores)."""
    from teacher_simulation import REPO, Probe, embeddings, read_asap, surface_features
    rows = read_asap(ASAP)
    embedding = embeddings(rows, REPO / "models/all-MiniLM-L6-v2",
                           REPO / "target/teacher-simulation/embeddings.npz")
    for fold in map(int, args.folds.split(",")):
        split = {name: set((ASAP / "folds" / f"fold_{fold}" / f"{name}_ids.txt").read_text().split())
                 for name in ("train", "dev", "test")}
        for prompt in map(int, args.prompts.split(",")):
            essays = [r for r in rows if r[1] == prompt]
            text, score = {r[0]: r[2] for r in essays}, {r[0]: r[3] for r in essays}
            low, high = ASAP_RANGES[prompt]
            train, dev, test = ([i for i in score if i in split[n]] for n in ("train", "dev", "test"))
            if args.human < 1:  # a seeded share of the training rows, as `bench asap` draws
                keep = np.random.default_rng(fold * 100 + prompt).permutation(len(train))
                train = [train[k] for k in sorted(keep[:max(2, round(args.human * len(train)))])]
            features = {i: surface_features(text[i]) for i in score}
            e_train = np.array([embedding[i] for i in train])
            f_train = np.array([features[i] for i in train])
            e_mean, e_std = e_train.mean(0), e_train.std(0) + 1e-6
            f_mean, f_std = f_train.mean(0), f_train.std(0) + 1e-6
            blocks = lambda ids: [(np.array([embedding[i] for i in ids]) - e_mean) / e_std,
                                  (np.array([features[i] for i in ids]) - f_mean) / f_std]
            human = lambda ids: np.array([score[i] for i in ids])
            y = (human(train) - low) / (high - low)
            probe = Probe(blocks(train), y, blocks(dev), human(dev), low, high,
                          [(1, f) for f in FEATURE_MULTIPLIERS])
            dev_raw, test_raw = probe.raw(blocks(dev)), probe.raw(blocks(test))
            train_raw = loo_raw(probe, blocks(train), y)
            pooled_raw = np.concatenate([dev_raw, train_raw])
            pooled_human = np.concatenate([human(dev), human(train)])
            rules = {
                "dev": qwk_cuts(dev_raw, human(dev), low, high),
                "dev + LOO": qwk_cuts(pooled_raw, pooled_human, low, high),
                "LOO": qwk_cuts(train_raw, human(train), low, high),
                "shares": np.array(shares_cuts(list(dev_raw), list(pooled_human), low, high)),
                "chosen on dev + LOO": None,
                "test (oracle)": qwk_cuts(test_raw, human(test), low, high),
            }
            result = {"fold": fold, "prompt": prompt}
            for name, cuts in rules.items():
                raw = test_raw
                if cuts is None:  # the penalty and multiplier chosen on dev + LOO too
                    chosen = pooled_choice(probe, blocks(train), y, blocks(dev), human(dev),
                                           human(train), low, high)
                    raw, cuts = chosen.raw(blocks(test)), chosen.cuts
                result[name] = qwk(list(human(test)), list(probe_levels(raw, cuts, low)),
                                   low, high)
            yield result


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


def probe_table(results):
    rules = [k for k in results[0] if k not in ("fold", "prompt")]
    print("| prompt | " + " | ".join(rules) + " |\n|---|" + "---|" * len(rules))
    for prompt in sorted({r["prompt"] for r in results}):
        mine = [r for r in results if r["prompt"] == prompt]
        print(f"| {prompt} | " + " | ".join(f"{np.mean([r[k] for r in mine]):.3f}" for k in rules)
              + " |")
    print("| **mean** | " + " | ".join(f"**{np.mean([r[k] for r in results]):.4f}**" for k in rules)
          + " |")


def read_cells(folder):
    """`bench asap` cells at 100% human: {(fold, prompt): result}."""
    cells = {}
    for path in Path(folder).glob("*.json"):
        for r in json.loads(path.read_text())["results"]:
            if r["arm"] == "student" and r["human_fraction"] == 1.0:
                cells[(r["fold"], r["prompt"])] = r
    return cells


def pooled_cells(args):
    students, probe_qwk, probe_pooled = (read_cells(f) for f in
                                         (args.students, args.probe_qwk, args.probe_pooled))
    built = read_cells(args.built) if args.built else {}
    kept_probe = {key for key, student in students.items()
                  if (student["kept_epoch"] == 0 if "kept_epoch" in student  # cells since 2026-12-06
                      else abs(student["dev_qwk"] - probe_qwk[key]["dev_qwk"]) < 1e-9)}
    test = lambda cells: {key: cell["test_qwk"] for key, cell in cells.items()}
    trained = test(students)
    pooled = {key: test(probe_pooled)[key] if key in kept_probe else qwk
              for key, qwk in trained.items()}
    for key, cell in built.items():
        if abs(cell["test_qwk"] - pooled[key]) > 1e-9:
            sys.exit(f"fold {key[0]} prompt {key[1]}: trained with pooled {cell['test_qwk']:.4f},"
                     f" derived {pooled[key]:.4f}")
    print(f"{len(built)} cells trained with `pooled` reproduced", file=sys.stderr)
    columns = [trained, pooled, test(probe_qwk), test(probe_pooled)]
    print("| prompt | cells that kept the probe | `qwk` | `pooled` | change | probe alone, `qwk` |"
          " probe alone, `pooled` |\n|---|---|---|---|---|---|---|")
    for prompt in sorted({p for _, p in students}) + [None]:
        keys = [k for k in students if prompt is None or k[1] == prompt]
        means = [np.mean([values[k] for k in keys]) for values in columns]
        spread = lambda values: f" ± {np.std([values[k] for k in keys], ddof=1):.3f}" if prompt else ""
        print(f"| {prompt or '**mean**'} | {len(kept_probe.intersection(keys))} |"
              f" {means[0]:.4f}{spread(trained)} | {means[1]:.4f}{spread(pooled)} |"
              f" {means[1] - means[0]:+.4f} | {means[2]:.4f} | {means[3]:.4f} |")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("corpus", choices=["sas", "asap", "probe", "cells"])
    parser.add_argument("--sets", default="1,2,3,4,5,6,7,8,9,10")
    parser.add_argument("--prompts", default="1,2,3,4,5,6,7,8")
    parser.add_argument("--folds", default="0,1,2,3,4", help="NEA folds (probe only)")
    parser.add_argument("--human", type=float, default=1.0,
                        help="share of each fold's training rows kept (probe only)")
    for flag in ("--students", "--probe-qwk", "--probe-pooled", "--built"):
        parser.add_argument(flag, help="a folder of bench asap cells (cells only)")
    parser.add_argument("--cyborg", default=str(ROOT / "target" / "release" / "cyborg"))
    args = parser.parse_args()
    if args.corpus == "cells":
        return pooled_cells(args)
    if args.corpus == "probe":
        results = []
        for result in probe_study(args):
            print(result, file=sys.stderr, flush=True)
            results.append(result)
        return probe_table(results)
    results = list((sas if args.corpus == "sas" else asap)(args))
    print("| set | test QWK, cut points qwk (as trained) | shares | difference |\n|---|---|---|---|")
    for number, (trained, shares) in results:
        print(f"| {number} | {trained:.3f} | {shares:.3f} | {shares - trained:+.3f} |")
    mean = [sum(r[1][k] for r in results) / len(results) for k in (0, 1)]
    print(f"| **mean** | **{mean[0]:.3f}** | **{mean[1]:.3f}** | {mean[1] - mean[0]:+.3f} |")

if __name__ == "__main__":
    main()
