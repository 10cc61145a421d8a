#!/usr/bin/env python3
"""Can an encoder fine-tuned on sentences read together tell an essay from its shuffle?

Issue 19, section 5: the cross-encoder of sentence order that scripts/sentence_order_probe.py
names as what might reach 90%.

all-MiniLM-L6-v2 fine-tuned, whole, as a classifier: a window of consecutive sentences of a
training essay (up to --window tokens) is "written", the same window's sentences shuffled are
"shuffled", a fresh shuffle every epoch. An essay's statistic is the classifier's mean log-odds
of "written" over the windows that cover it, so a shuffled essay should score low. The limit is
the development essays' 1%, 2% or 5% tail, as the screen's limits are; each cell gives test
essays flagged as written / the same essays shuffled (whole, then cut into windows) caught.
Essays of fewer than three sentences are left out, as in the probe.

With --frozen 4 --window 256 only the top two layers learn, on windows as long as the scorer's:
the shape a screen could take inside the student, sharing its frozen layers' output.
With --train-prompts 1,...,8 one classifier learns from every listed prompt's training essays
and is measured on each of --prompts: a screen of order that no bundle would need to carry.

With --reshuffles K each essay is also judged against K random orders of its own sentences.

  scripts/sentence_order_cross.py [--prompts 7,1,3] [--epochs 5]   # ~2 min an epoch a prompt
  scripts/sentence_order_cross.py --train-prompts 1,2,3,4,5,6,7,8 --epochs 3   # ~15 min an epoch
"""

import argparse
import random
import sys

import numpy as np
import torch
from asap_fold import ROOT, add_arguments, ids, start
from sentence_order_probe import TAIL_HEADER, TAILS, sentences, tail_cells
from transformers import AutoModel, AutoTokenizer

BASE = str(ROOT / "models" / "all-MiniLM-L6-v2")


class OrderClassifier(torch.nn.Module):
    """The encoder, mean pooled, and one logit: written (positive) or shuffled."""

    def __init__(self, folder, frozen):
        super().__init__()
        self.encoder = AutoModel.from_pretrained(folder)
        self.logit = torch.nn.Linear(self.encoder.config.hidden_size, 1)
        # Frozen lower layers are the student's own: the scorer could share their output.
        if frozen:
            for part in [self.encoder.embeddings, *self.encoder.encoder.layer[:frozen]]:
                part.requires_grad_(False)

    def forward(self, batch):
        states = self.encoder(**batch).last_hidden_state
        mask = batch["attention_mask"].unsqueeze(-1).float()
        pooled = (states * mask).sum(1) / mask.sum(1)
        return self.logit(pooled).squeeze(-1)


def windows(parts, tokenizer, limit):
    """The essay's sentences cut into runs of consecutive sentences of at most `limit` tokens."""
    runs, run, used = [], [], 0
    for part in parts:
        n = len(tokenizer.tokenize(part))
        if run and used + n > limit:
            runs.append(run)
            run, used = [], 0
        run.append(part)
        used += n
    return runs + [run] if run else runs


def shuffled(parts, rng):
    order = list(range(len(parts)))
    while len(parts) > 1 and order == sorted(order):
        rng.shuffle(order)
    return [parts[i] for i in order]


def encode(tokenizer, texts, limit):
    return tokenizer(texts, truncation=True, max_length=limit + 2, padding=True,
                     return_tensors="pt")


def train(model, tokenizer, essays, args, rng):
    """Each epoch: one window of 3+ sentences of every training essay, as written and shuffled
    (a window drawn afresh each epoch, to keep an epoch within minutes on two cores)."""
    trained = [p for p in model.parameters() if p.requires_grad]
    optimiser = torch.optim.AdamW(trained, lr=args.lr, weight_decay=0.01)
    model.train()
    for epoch in range(args.epochs):
        examples = []
        for runs in essays:
            run = rng.choice(runs)
            examples += [(" ".join(run), 1.0), (" ".join(shuffled(run, rng)), 0.0)]
        rng.shuffle(examples)
        total = 0.0
        for start_at in range(0, len(examples), args.batch):
            chunk = examples[start_at:start_at + args.batch]
            logits = model(encode(tokenizer, [t for t, _ in chunk], args.window))
            loss = torch.nn.functional.binary_cross_entropy_with_logits(
                logits, torch.tensor([y for _, y in chunk]))
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            total += loss.item() * len(chunk)
        print(f"epoch {epoch + 1}: {len(examples)} windows, loss "
              f"{total / len(examples):.4f}", file=sys.stderr, flush=True)


@torch.no_grad()
def statistic(model, tokenizer, parts, limit):
    """Mean log-odds of "written" over the essay's windows (the last may be short)."""
    texts = [" ".join(run) for run in windows(parts, tokenizer, limit)]
    return model(encode(tokenizer, texts, limit)).mean().item()


@torch.no_grad()
def order_statistics(model, tokenizer, orders, limit):
    """statistic() of each of `orders` (lists of the same essay's sentences), batched."""
    texts, owners = [], []
    for k, parts in enumerate(orders):
        for run in windows(parts, tokenizer, limit):
            texts.append(" ".join(run))
            owners.append(k)
    logits = []
    for at in range(0, len(texts), 64):
        logits += model(encode(tokenizer, texts[at:at + 64], limit)).tolist()
    per_order = [[] for _ in orders]
    for k, logit in zip(owners, logits):
        per_order[k].append(logit)
    return [sum(v) / len(v) for v in per_order]


def against_reorders(model, tokenizer, parts, limit, reorders, rng):
    """The essay's statistic as its sentences stand, and how far it stands above `reorders`
    random orders of the same sentences (a z-score: a shuffle is one more random order)."""
    orders = [parts] + [rng.sample(parts, len(parts)) for _ in range(reorders)]
    stats = order_statistics(model, tokenizer, orders, limit)
    others = np.array(stats[1:])
    return stats[0], (stats[0] - others.mean()) / max(others.std(), 1e-3)


def split_essays(essays, prompts):
    """The sentences of the prompts' essays of three sentences or more, by id."""
    split = {i: sentences(r["essay"]) for i, r in essays.items() if r["essay_set"] in prompts}
    return {i: parts for i, parts in split.items() if len(parts) >= 3}


def trained(prompts, essays, train_ids, tokenizer, args):
    """A classifier trained on the prompts' training essays."""
    torch.manual_seed(args.seed)
    model = OrderClassifier(BASE, args.frozen)
    training = [[run for run in windows(p, tokenizer, args.window) if len(run) >= 3]
                for i, p in split_essays(essays, prompts).items() if i in train_ids]
    train(model, tokenizer, [runs for runs in training if runs], args, random.Random(args.seed))
    return model.eval()


def measure(model, prompt, essays, folds, tokenizer, args):
    """The classifier's table rows' cells for the prompt: its statistic, and with
    --reshuffles, the statistic against the essay's own reorders and the sum of the two
    (each standardised on the development essays)."""
    _, dev_ids, test_ids = folds
    shuffle, reorder = random.Random(args.seed), random.Random(args.seed + 1)
    split = split_essays(essays, {prompt})

    def read(parts):
        if args.reshuffles:
            return against_reorders(model, tokenizer, parts, args.window, args.reshuffles,
                                    reorder)
        return statistic(model, tokenizer, parts, args.window), 0.0

    dev = np.array([read(p) for i, p in split.items() if i in dev_ids])
    genuine, caught = [], []
    for essay_id, parts in split.items():
        if essay_id in test_ids:
            order = list(range(len(parts)))
            shuffle.shuffle(order)
            genuine.append(read(parts))
            caught.append(read([parts[i] for i in order]))
    genuine, caught = np.array(genuine), np.array(caught)
    rows = [("as written", lambda x: x[:, 0])]
    if args.reshuffles:
        mean, sd = dev.mean(0), dev.std(0)
        rows += [(f"against {args.reshuffles} reorders", lambda x: x[:, 1]),
                 ("both", lambda x: ((x - mean) / sd).sum(1))]
    return [(name, f"{len(genuine)} | {tail_cells(pick(dev), pick(genuine), pick(caught))}")
            for name, pick in rows]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--prompts", default="7,1,3")
    parser.add_argument("--train-prompts", default=None,
                        help="one classifier for every prompt, trained on these prompts' essays "
                             "(default: one per prompt, on its own)")
    parser.add_argument("--window", type=int, default=128, help="tokens per window")
    parser.add_argument("--frozen", type=int, default=0,
                        help="lower layers (and the embeddings) left as they are; 0 tunes all")
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--lr", type=float, default=3e-5)
    parser.add_argument("--seed", type=int, default=19)
    parser.add_argument("--reshuffles", type=int, default=0,
                        help="also judge each essay against this many random orders of its "
                             "own sentences")
    add_arguments(parser, "sentence-order")
    args = parser.parse_args()
    _, essays, test_ids = start(args)
    folds = (set(ids("train_ids.txt")), set(ids("dev_ids.txt")), test_ids)
    tokenizer = AutoTokenizer.from_pretrained(BASE)
    print(f"| prompt | statistic | test essays | {TAIL_HEADER} |")
    print("|---|---|---|" + "---|" * len(TAILS), flush=True)
    shared = None
    if args.train_prompts:
        shared = trained(set(args.train_prompts.split(",")), essays, folds[0], tokenizer, args)
    for prompt in args.prompts.split(","):
        model = shared or trained({prompt}, essays, folds[0], tokenizer, args)
        for name, cells in measure(model, prompt, essays, folds, tokenizer, args):
            print(f"| {prompt} | {name} | {cells} |", flush=True)


if __name__ == "__main__":
    main()
