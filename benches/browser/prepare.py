"""Prepares the browser benchmark: the base encoder exported to ONNX (fp32, and 8-bit as
transformers.js's q8) in the folder layout transformers.js reads, and essays cut to their first
256 and 512 tokens (special tokens included), so both scorers see the same text.

    python prepare.py MODEL_DIR DATA_CSV TEXT_COLUMN N OUT_DIR
"""

import csv
import json
import pathlib
import shutil
import sys

import torch
from onnxruntime.quantization import QuantType, quantize_dynamic
from tokenizers import Tokenizer
from transformers import AutoModel

model_dir, data, column, n, out = sys.argv[1:6]
model_dir, out, n = pathlib.Path(model_dir), pathlib.Path(out), int(n)
name = model_dir.name
target = out / "models" / name
(target / "onnx").mkdir(parents=True, exist_ok=True)
for file in ["config.json", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"]:
    shutil.copy(model_dir / file, target / file)


class LastHidden(torch.nn.Module):
    def __init__(self, bert):
        super().__init__()
        self.bert = bert

    def forward(self, input_ids, attention_mask, token_type_ids):
        return self.bert(
            input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
        ).last_hidden_state


bert = AutoModel.from_pretrained(model_dir).eval()
example = torch.ones((1, 16), dtype=torch.long)
torch.onnx.export(
    LastHidden(bert),
    (example, example, torch.zeros_like(example)),
    target / "onnx" / "model.onnx",
    input_names=["input_ids", "attention_mask", "token_type_ids"],
    output_names=["last_hidden_state"],
    dynamic_axes={k: {0: "batch", 1: "tokens"} for k in ["input_ids", "attention_mask", "token_type_ids"]},
    opset_version=17,
    dynamo=False,
)

# transformers.js's default on wasm ("q8"): weights as 8-bit integers, activations quantised
# as they flow (ONNX Runtime's dynamic quantisation, as Optimum and the transformers.js
# conversion script make it).
quantize_dynamic(
    target / "onnx" / "model.onnx",
    target / "onnx" / "model_quantized.onnx",
    weight_type=QuantType.QUInt8,
)

tokenizer = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
tokenizer.no_truncation()
csv.field_size_limit(1 << 24)
texts = {"256": [], "512": []}
with open(data, newline="", encoding="utf-8") as f:
    for row in csv.DictReader(f):
        text = row[column]
        encoding = tokenizer.encode(text)
        # The encoding includes [CLS] and [SEP]. Cut at the end of the last whole word that
        # fits in N tokens (a cut inside a word could tokenize differently and overflow).
        if len(encoding.ids) < 512:
            continue
        for limit in (256, 512):
            last = limit - 2
            while encoding.tokens[last + 1].startswith("##"):
                last -= 1
            texts[str(limit)].append(text[: encoding.offsets[last][1]])
        if len(texts["512"]) == n:
            break
if len(texts["512"]) < n:
    sys.exit(f"{data}: only {len(texts['512'])} responses have 512 tokens or more; {n} wanted")
(out / "texts.json").write_text(json.dumps(texts))
print(f"exported {target}/onnx/model.onnx; {n} texts of 256 and 512 tokens from {data}")
