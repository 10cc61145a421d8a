"""ASAP-AES NEA fold 0 for the benchmark scripts: the essays, the fold's ids, and one student
per prompt trained with `cyborg train` on the fold's training ids (early stopping on its
development ids), and the agreement measure every benchmark script reports. Reads
../shared/data/asap-aes; never copies it into the repository."""

import csv
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ASAP = ROOT.parent / "shared" / "data" / "asap-aes"
TSV = ASAP / "training_set_rel3.utf8.tsv"


def add_arguments(parser, work):
    """The options every fold-0 benchmark takes: which cyborg, and its work folder."""
    parser.add_argument("--cyborg", default=str(ROOT / "target" / "release" / "cyborg"))
    parser.add_argument("--work", default=str(ROOT / "target" / work))


def start(args):
    """The work folder (made), every essay by id, and the fold's test ids."""
    if not ASAP.exists():
        sys.exit(f"needs ASAP-AES at {ASAP}")
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    return work, read_asap(), set(ids("test_ids.txt"))


def read_asap():
    """Every essay, by essay_id (the TSV read with quoting off, as its SOURCE.md says)."""
    csv.field_size_limit(sys.maxsize)
    with open(TSV, encoding="utf-8") as f:
        rows = list(csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE))
    return {r["essay_id"]: r for r in rows}


def ids(name):
    return (ASAP / "folds" / "fold_0" / name).read_text().split()


def run(args, **kwargs):
    print("+", " ".join(str(a) for a in args), file=sys.stderr, flush=True)
    subprocess.run([str(a) for a in args], check=True, **kwargs)


def read_scores(path):
    with open(path, newline="", encoding="utf-8") as f:
        return {r["id"]: r for r in csv.DictReader(f)}


def train_student(cyborg, prompt, bundle, tune=None):
    """Trains prompt's student into bundle unless it is there already."""
    if bundle.exists():
        return
    train = [cyborg, "train", TSV, "--no-quoting",
             "--text", "essay", "--score", "domain1_score", "--id", "essay_id",
             "--where", f"essay_set={prompt}",
             "--train-ids", ASAP / "folds/fold_0/train_ids.txt",
             "--dev-ids", ASAP / "folds/fold_0/dev_ids.txt", "--out", bundle, "--quiet"]
    if tune:
        train += ["--tune", tune]
    run(train)


def write_responses(path, rows):
    """(id, text) pairs as a CSV that `cyborg score --text text --id id` reads."""
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["id", "text"])
        w.writerows(rows)


def qwk(human, machine, low, high):
    """Quadratic weighted kappa of two lists of levels in low..=high."""
    n = high - low + 1
    observed = [[0] * n for _ in range(n)]
    for h, m in zip(human, machine):
        observed[h - low][m - low] += 1
    total = len(human)
    rows = [sum(r) for r in observed]
    columns = [sum(observed[i][j] for i in range(n)) for j in range(n)]
    weight = lambda i, j: (i - j) ** 2
    disagreement = sum(weight(i, j) * observed[i][j] for i in range(n) for j in range(n))
    expected = sum(weight(i, j) * rows[i] * columns[j] / total for i in range(n) for j in range(n))
    return 1 - disagreement / expected
