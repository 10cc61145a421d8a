#!/usr/bin/env python3
"""PyTorch sentence-transformers' side of `scripts/bench-encode.sh`: encodes the same texts as
`cyborg bench encode` (the first N rows of a CSV, each cut to its first window of 256 or 512
tokens), at batch 1 and 16, and prints one JSON object shaped like `cyborg bench encode --json`.

    python bench_encode.py MODEL_DIR DATA.csv TEXT_COLUMN N
"""
import csv
import json
import sys
import time

import torch
from sentence_transformers import SentenceTransformer


def main():
    model_dir, data, column, count = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    csv.field_size_limit(sys.maxsize)
    with open(data, newline="", encoding="utf-8") as f:
        texts = [row[column] for _, row in zip(range(count), csv.DictReader(f))]
    model = SentenceTransformer(model_dir, device="cpu")
    results = []
    for max_tokens in (256, 512):
        model.max_seq_length = max_tokens
        lengths = [len(model.tokenizer(t, truncation=True, max_length=max_tokens)["input_ids"]) for t in texts]
        model.encode(texts[:4], batch_size=4)  # warm-up
        for batch in (1, 16):
            start = time.perf_counter()
            with torch.inference_mode():
                model.encode(texts, batch_size=batch)
            seconds = time.perf_counter() - start
            results.append(
                {
                    "max_tokens": max_tokens,
                    "batch": batch,
                    "texts": len(texts),
                    "mean_tokens": sum(lengths) / len(lengths),
                    "seconds": seconds,
                    "texts_per_second": len(texts) / seconds,
                    "ms_per_text": 1000 * seconds / len(texts),
                }
            )
    print(
        json.dumps(
            {
                "torch": torch.__version__,
                "threads": torch.get_num_threads(),
                "results": results,
            }
        )
    )


if __name__ == "__main__":
    main()
