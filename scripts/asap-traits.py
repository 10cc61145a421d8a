#!/usr/bin/env python3
"""Writes the first N essays of ASAP-AES set 7 with their holistic score and four trait scores
as one CSV (id, essay, score, ideas, organization, style, conventions), for checking
multi-trait bundles. Reads ../shared's copy; the output must stay out of the repository
(ASAP-AES has no open licence).

    python3 scripts/asap-traits.py ASAP_DIR N OUT.csv
"""
import csv
import sys

asap_dir, count, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
with open(f"{asap_dir}/asap_plus_plus_traits.csv", newline="", encoding="utf-8") as f:
    traits = {r["essay_id"]: r for r in csv.DictReader(f) if r["essay_set"] == "7"}
with open(f"{asap_dir}/training_set_rel3.utf8.tsv", newline="", encoding="utf-8") as f:
    # The TSV must be read with quoting off (SOURCE.md).
    essays = [r for r in csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE) if r["essay_set"] == "7"]
with open(out, "w", newline="", encoding="utf-8") as f:
    writer = csv.writer(f)
    writer.writerow(["id", "essay", "score", "ideas", "organization", "style", "conventions"])
    for essay in essays[:count]:
        t = traits[essay["essay_id"]]
        writer.writerow([essay["essay_id"], essay["essay"], essay["domain1_score"],
                         t["trait1"], t["trait2"], t["trait3"], t["trait4"]])
