#!/usr/bin/env python3
"""Write crates/scorer/tests/fixtures/NAME_embeddings.json: reference embeddings of a few real
texts from data/demo, computed by sentence-transformers (and, for a text longer than one window,
by Hugging Face transformers over the same windows Cyborg uses), for the base encoder
(minilm_embeddings.json) or the MPNet teacher encoder of scripts/get-teacher.sh
(mpnet_embeddings.json).

Run from the repository root with a Python that has sentence-transformers installed
(scripts/python-venv.sh makes one):
    $(scripts/python-venv.sh)/bin/python scripts/encoder_fixture.py [models/all-mpnet-base-v2]
"""
import csv
import json
import sys
from pathlib import Path

import sentence_transformers
import torch
from sentence_transformers import SentenceTransformer
from transformers import AutoModel, AutoTokenizer

MODEL = Path(sys.argv[1] if len(sys.argv) > 1 else "models/all-MiniLM-L6-v2")
SHORT_NAMES = {"all-MiniLM-L6-v2": "minilm", "all-mpnet-base-v2": "mpnet"}
OUT = Path(f"crates/scorer/tests/fixtures/{SHORT_NAMES[MODEL.name]}_embeddings.json")
WINDOW = 256  # tokens per window, [CLS] and [SEP] included


def demo_texts():
    csv.field_size_limit(sys.maxsize)
    with open("data/demo/sample.csv", newline="", encoding="utf-8") as f:
        essays = [row["full_text"] for row in csv.DictReader(f)]
    first_sentence = essays[0].split(".")[0] + "."
    paragraph = essays[1].split("\n\n")[0]
    return [
        ("one sentence", first_sentence),
        ("one paragraph", paragraph),
        ("accents and symbols", "Café owners’ “naïve” claims — 20% of NASA's 1976 photos? ¡No!"),
        ("a whole essay", essays[2]),
        ("a long essay", max(essays, key=lambda e: len(e.split()))),
    ]


def windowed_embedding(model, tokenizer, text):
    """Mean over every token of consecutive [CLS] chunk [SEP] (MPNet: <s> chunk </s>) windows."""
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    chunk = WINDOW - 2
    total, count = torch.zeros(model.config.hidden_size), 0
    windows = [ids[i : i + chunk] for i in range(0, len(ids), chunk)] or [[]]
    for piece in windows:
        window = [tokenizer.cls_token_id] + piece + [tokenizer.sep_token_id]
        with torch.no_grad():
            hidden = model(torch.tensor([window])).last_hidden_state[0]
        total += hidden.sum(0)
        count += len(window)
    return (total / count).tolist(), len(windows), ids


def main():
    st = SentenceTransformer(str(MODEL), device="cpu")
    st.max_seq_length = WINDOW
    hf_tokenizer = AutoTokenizer.from_pretrained(str(MODEL))
    hf_model = AutoModel.from_pretrained(str(MODEL)).eval()
    cases = []
    for name, text in demo_texts():
        embedding, windows, ids = windowed_embedding(hf_model, hf_tokenizer, text)
        if windows == 1:
            # One window: sentence-transformers' own pipeline is the reference.
            embedding = st.encode([text], convert_to_numpy=True)[0].tolist()
            reference = f"sentence-transformers {sentence_transformers.__version__}"
        else:
            reference = "transformers AutoModel over 256-token windows, mean over all tokens"
        cases.append(
            {"name": name, "text": text, "token_ids": ids, "windows": windows,
             "reference": reference, "embedding": embedding}
        )
        print(f"{name}: {len(ids)} word pieces, {windows} window(s), {reference}")
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps({"model": MODEL.name, "torch": torch.__version__, "cases": cases}))
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
