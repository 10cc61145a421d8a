#!/usr/bin/env python3
"""Smaller bundles against f32 on ASAP-AES (issue 15): size, test QWK, and how many essays
keep their f32 level, per prompt and precision.

For each prompt: train a student on NEA fold 0's training ids (f32, early stopping on the
development ids), store it again with `cyborg export --weights P` for every smaller
precision, and score fold 0's test essays with each bundle.

  scripts/bench-precision.py [--prompts 1,…,8] [--precisions f16,int8,int8-products]

int8-products is the int8 bundle scored with `cyborg score --int8-products` (integer matrix
products where the CPU has AVX-512 VNNI); int8-browser, the int8 bundle scored by the app's
scoring worker in headless Chromium with its integer products (`benches/browser/score.mjs`;
needs `trunk build --release` and `npm ci` in benches/browser first).

Works in --work (default target/bench-precision), where the bundles and scores stay: a rerun
reuses them (delete them to measure a new build).
"""

import argparse

from asap_fold import add_arguments, qwk, read_scores, run, start, train_student, write_responses

# NEA's score range per prompt.
RANGES = {1: (2, 12), 2: (1, 6), 3: (0, 3), 4: (0, 3), 5: (0, 4), 6: (0, 4), 7: (0, 30), 8: (0, 60)}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--prompts", default="1,2,3,4,5,6,7,8")
    parser.add_argument("--precisions", default="f16,int8,int8-products")
    add_arguments(parser, "bench-precision")
    args = parser.parse_args()
    work, essays, test_ids = start(args)
    precisions = ["f32"] + args.precisions.split(",")
    rows, sums = [], {p: [0.0, 0, 0, 0] for p in precisions}
    for prompt in map(int, args.prompts.split(",")):
        held_out = [r for r in essays.values()
                    if r["essay_set"] == str(prompt) and r["essay_id"] in test_ids]
        responses = work / f"set{prompt}-test.csv"
        write_responses(responses, ((r["essay_id"], r["essay"]) for r in held_out))
        # "int8-products" and "int8-browser": the int8 bundle, multiplied as integers.
        weights = {p: p.split("-")[0] for p in precisions}
        bundles = {p: work / f"set{prompt}-{w}.cyborg" for p, w in weights.items()}
        train_student(args.cyborg, prompt, bundles["f32"])
        scores = {}
        for p, bundle in bundles.items():
            if not bundle.exists():
                run([args.cyborg, "export", bundles["f32"], "--weights", weights[p], "--out", bundle])
            scored = work / f"set{prompt}-{p}-scores.csv"
            if not scored.exists() and p.endswith("-browser"):
                run(["node", "benches/browser/score.mjs", "dist", bundle, responses, scored,
                     "--int8-products"])
            elif not scored.exists():
                products = ["--int8-products"] if p.endswith("-products") else []
                run([args.cyborg, "score", bundle, responses, "--text", "text", "--id", "id",
                     "--out", scored, "--quiet", *products])
            scores[p] = read_scores(scored)
        human = [int(r["domain1_score"]) for r in held_out]
        reference = scores["f32"]
        for p in precisions:
            levels = [int(scores[p][r["essay_id"]]["score"]) for r in held_out]
            same = sum(int(reference[r["essay_id"]]["score"]) == l for r, l in zip(held_out, levels))
            drift = max(abs(float(scores[p][r["essay_id"]]["raw_score"])
                            - float(reference[r["essay_id"]]["raw_score"])) for r in held_out)
            k = qwk(human, levels, *RANGES[prompt])
            size = bundles[p].stat().st_size / 1e6
            rows.append((prompt, p, size, k, same, len(held_out), drift))
            s = sums[p]
            s[0] += k
            s[1] += 1
            s[2] += same
            s[3] += len(held_out)
    print(f"ASAP-AES NEA fold 0 test essays, {args.cyborg}\n")
    print("| prompt | weights | bundle MB | test QWK | QWK − f32 | same level as f32 | largest raw change |")
    print("|---|---|---|---|---|---|---|")
    f32_qwk = {prompt: k for prompt, p, _, k, *_ in rows if p == "f32"}
    for prompt, p, size, k, same, n, drift in rows:
        print(f"| {prompt} | {p} | {size:.1f} | {k:.3f} | {k - f32_qwk[prompt]:+.3f} "
              f"| {same}/{n} ({100 * same / n:.1f}%) | {drift:.4f} |")
    print("\n| weights | avg test QWK | avg QWK − f32 | same level as f32, all prompts |")
    print("|---|---|---|---|")
    base = sums["f32"][0] / sums["f32"][1]
    for p, (k, count, same, n) in sums.items():
        print(f"| {p} | {k / count:.3f} | {k / count - base:+.4f} | {same}/{n} ({100 * same / n:.2f}%) |")


if __name__ == "__main__":
    main()
