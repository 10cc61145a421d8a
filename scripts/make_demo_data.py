#!/usr/bin/env python3
"""Cut the committed demo dataset out of ../shared/data/aes2-partial (CC BY-NC-SA 4.0).

Writes data/demo/train.csv (600 essays) and data/demo/sample.csv (150 other essays), a seeded
random draw from the "Face on Mars" prompt, columns essay_id, full_text, score. Run from the
repository root: python3 scripts/make_demo_data.py
"""
import csv
import random
import sys
from pathlib import Path

SOURCE = Path("../shared/data/aes2-partial/face_on_mars_evidence.csv")
OUT = Path("data/demo")


def main() -> int:
    csv.field_size_limit(sys.maxsize)
    with SOURCE.open(newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    random.Random(2025).shuffle(rows)
    splits = {"train.csv": rows[:600], "sample.csv": rows[600:750]}
    OUT.mkdir(parents=True, exist_ok=True)
    for name, chosen in splits.items():
        with (OUT / name).open("w", newline="", encoding="utf-8") as f:
            writer = csv.writer(f)
            writer.writerow(["essay_id", "full_text", "score"])
            for row in chosen:
                writer.writerow([row["essay_id"], row["full_text"], row["score"]])
        print(f"{OUT / name}: {len(chosen)} essays")
    return 0


if __name__ == "__main__":
    sys.exit(main())
