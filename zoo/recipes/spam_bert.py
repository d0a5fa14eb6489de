"""Trains the spam-bert zoo model and exports it to zoo/models/spam-bert/.

A small BERT-style encoder written with explicit modules: token + learned position embeddings
(128 positions) and an embedding LayerNorm, 6 post-norm layers (hidden 128, 4 heads, FFN 512,
GELU), a pooler (Linear+tanh on the first token) and Linear(128->2). Inputs `input_ids` and
`attention_mask` int64 [batch,128]; output `logits` [batch,2]. The additive attention bias
(1 - mask) * -10000, shaped [batch,1,1,128], is computed once at the start of the graph and
reused by every layer.

Texts come from zoo/data/spam/*.jsonl.gz and are encoded with the ascii-words tokenizer in
common.py; its vocabulary (8,000 entries) is built from the train split only. Trained on the
train split (4,046 e-mails), measured on the whole serving split (2,000 e-mails).

The same recipe trains the smaller members of the spam variant family (fewer, narrower layers)
under another name, for example `--name spam-bert-small --layers 1 --hidden 32 --heads 2 --ffn 128`;
they share the tokenizer and its vocabulary.

Usage: /usr/bin/python3 zoo/recipes/spam_bert.py [--epochs N] [--threads N] [--name NAME --layers N --hidden N --heads N --ffn N]
"""

import argparse
import json
import math
import os
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402

SEED = 20261123
VOCAB_SIZE = 8000
MAX_LEN = 128
HIDDEN = 128
HEADS = 4
FFN = 512
LAYERS = 6
DROPOUT = 0.1
MASK_NEG = -10000.0
TOKEN_SAMPLE = 300


# The Debian build of torch links the reference BLAS, which makes matmul/bmm slow on CPU, while
# convolutions go through oneDNN. During training the same products are therefore computed as 1x1
# (grouped) convolutions; evaluation and export use the plain Linear/matmul path. Both paths give
# the same numbers up to float rounding (checked before export).
CONV_KERNELS = {"on": False}


def linear(layer, x):
    if not CONV_KERNELS["on"]:
        return layer(x)
    shape = x.shape
    y = F.conv2d(x.reshape(-1, shape[-1], 1, 1), layer.weight.unsqueeze(-1).unsqueeze(-1), layer.bias)
    return y.view(*shape[:-1], layer.out_features)


def scores_qk(q, k):
    """[b, h, l, d] x [b, h, m, d] -> [b, h, l, m], i.e. q @ k^T."""
    if not CONV_KERNELS["on"]:
        return torch.matmul(q, k.transpose(-1, -2))
    b, h, l, d = q.shape
    g = b * h
    inp = q.reshape(g, l, d).transpose(1, 2).reshape(1, g * d, l, 1)
    w = k.reshape(g * l, d, 1, 1)
    return F.conv2d(inp, w, groups=g).view(b, h, l, l).transpose(2, 3)


def mix_pv(p, v):
    """[b, h, l, m] x [b, h, m, d] -> [b, h, l, d], i.e. p @ v."""
    if not CONV_KERNELS["on"]:
        return torch.matmul(p, v)
    b, h, l, m = p.shape
    d = v.shape[-1]
    g = b * h
    inp = p.reshape(g, l, m).transpose(1, 2).reshape(1, g * m, l, 1)
    w = v.reshape(g, m, d).transpose(1, 2).reshape(g * d, m, 1, 1)
    return F.conv2d(inp, w, groups=g).view(b, h, d, l).transpose(2, 3)


class SelfAttention(nn.Module):
    def __init__(self, hidden, heads, dropout):
        super().__init__()
        self.heads = heads
        self.head_dim = hidden // heads
        self.query = nn.Linear(hidden, hidden)
        self.key = nn.Linear(hidden, hidden)
        self.value = nn.Linear(hidden, hidden)
        self.out = nn.Linear(hidden, hidden)
        self.drop = nn.Dropout(dropout)
        self.scale = 1.0 / math.sqrt(self.head_dim)

    def split(self, x):
        # [batch, len, hidden] -> [batch, heads, len, head_dim]
        return x.view(-1, MAX_LEN, self.heads, self.head_dim).transpose(1, 2)

    def forward(self, x, mask_bias):
        q = self.split(linear(self.query, x))
        k = self.split(linear(self.key, x))
        v = self.split(linear(self.value, x))
        scores = scores_qk(q, k) * self.scale + mask_bias
        probs = self.drop(torch.softmax(scores, dim=-1))
        ctx = mix_pv(probs, v).transpose(1, 2).reshape(-1, MAX_LEN, self.heads * self.head_dim)
        return linear(self.out, ctx)


class EncoderLayer(nn.Module):
    def __init__(self, hidden, heads, ffn, dropout):
        super().__init__()
        self.attention = SelfAttention(hidden, heads, dropout)
        self.attention_norm = nn.LayerNorm(hidden, eps=1e-12)
        self.ffn_in = nn.Linear(hidden, ffn)
        self.ffn_out = nn.Linear(ffn, hidden)
        self.ffn_norm = nn.LayerNorm(hidden, eps=1e-12)
        self.drop = nn.Dropout(dropout)

    def forward(self, x, mask_bias):
        x = self.attention_norm(x + self.drop(self.attention(x, mask_bias)))
        h = linear(self.ffn_out, F.gelu(linear(self.ffn_in, x)))
        return self.ffn_norm(x + self.drop(h))


class SpamBert(nn.Module):
    def __init__(self, vocab=VOCAB_SIZE, hidden=HIDDEN, layers=LAYERS, heads=HEADS, ffn=FFN, max_len=MAX_LEN,
                 dropout=DROPOUT, num_classes=2):
        super().__init__()
        self.token_embedding = nn.Embedding(vocab, hidden)
        self.position_embedding = nn.Parameter(torch.zeros(max_len, hidden))
        self.embedding_norm = nn.LayerNorm(hidden, eps=1e-12)
        self.embedding_drop = nn.Dropout(dropout)
        self.layers = nn.ModuleList([EncoderLayer(hidden, heads, ffn, dropout) for _ in range(layers)])
        self.pooler = nn.Linear(hidden, hidden)
        self.classifier_drop = nn.Dropout(dropout)
        self.classifier = nn.Linear(hidden, num_classes)
        self.reset_parameters()

    def reset_parameters(self):
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.normal_(m.weight, std=0.02)
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.Embedding):
                nn.init.normal_(m.weight, std=0.02)
            elif isinstance(m, nn.LayerNorm):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
        nn.init.normal_(self.position_embedding, std=0.02)

    def forward(self, input_ids, attention_mask):
        # Additive attention bias, computed once: 0 where attended, -10000 on padding.
        mask_bias = ((1.0 - attention_mask.to(torch.float32)) * MASK_NEG).view(-1, 1, 1, MAX_LEN)
        x = self.token_embedding(input_ids) + self.position_embedding
        x = self.embedding_drop(self.embedding_norm(x))
        for layer in self.layers:
            x = layer(x, mask_bias)
        pooled = torch.tanh(linear(self.pooler, x[:, 0]))
        return self.classifier(self.classifier_drop(pooled))


def encode_all(rows, index):
    ids, mask = [], []
    for r in rows:
        i, m = common.encode(r["text"], index, MAX_LEN)
        ids.append(i)
        mask.append(m)
    return torch.tensor(ids, dtype=torch.int64), torch.tensor(mask, dtype=torch.int64)


def evaluate(model, ids, mask, labels, batch=250):
    model.eval()
    correct = 0
    with torch.no_grad():
        for i in range(0, ids.shape[0], batch):
            pred = model(ids[i : i + batch], mask[i : i + batch]).argmax(1)
            correct += int((pred == labels[i : i + batch]).sum())
    return correct / ids.shape[0]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--epochs", type=int, default=6)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--lr", type=float, default=5e-4)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--name", default="spam-bert")
    ap.add_argument("--layers", type=int, default=LAYERS)
    ap.add_argument("--hidden", type=int, default=HIDDEN)
    ap.add_argument("--heads", type=int, default=HEADS)
    ap.add_argument("--ffn", type=int, default=FFN)
    ap.add_argument("--out", default=None, help="default: zoo/models/<name>")
    args = ap.parse_args()
    args.out = args.out or os.path.join(common.MODELS, args.name)

    common.set_threads(args.threads)
    common.seed_everything(SEED)
    gen = torch.Generator().manual_seed(SEED)

    train_rows = common.load_spam("train")
    serve_rows = common.load_spam("serving")
    vocab = common.build_vocab([r["text"] for r in train_rows], VOCAB_SIZE)
    if len(vocab) != VOCAB_SIZE:
        raise SystemExit("vocabulary has %d entries, expected %d" % (len(vocab), VOCAB_SIZE))
    index = {tok: i for i, tok in enumerate(vocab)}
    ids_tr, mask_tr = encode_all(train_rows, index)
    ids_sv, mask_sv = encode_all(serve_rows, index)
    y_tr = torch.tensor([r["label"] for r in train_rows], dtype=torch.int64)
    y_sv = torch.tensor([r["label"] for r in serve_rows], dtype=torch.int64)
    unk_rate = float((ids_sv == common.UNK_ID).sum()) / float(mask_sv.sum())
    print("vocab %d, serving [UNK] rate %.3f, mean tokens %.1f" % (len(vocab), unk_rate, float(mask_sv.sum()) / len(serve_rows)), flush=True)

    CONV_KERNELS["on"] = True
    model = SpamBert(hidden=args.hidden, layers=args.layers, heads=args.heads, ffn=args.ffn)
    params = common.parameter_count(model)
    print("parameters: %d" % params, flush=True)
    weight_decay = 0.01
    decay = [p for n, p in model.named_parameters() if p.dim() >= 2 and "position" not in n]
    no_decay = [p for n, p in model.named_parameters() if not (p.dim() >= 2 and "position" not in n)]
    opt = torch.optim.AdamW(
        [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}], lr=args.lr
    )
    steps_per_epoch = (ids_tr.shape[0] + args.batch - 1) // args.batch
    total_steps = steps_per_epoch * args.epochs
    warmup = max(1, int(0.06 * total_steps))

    def lr_at(step):
        if step < warmup:
            return (step + 1) / warmup
        return max(0.0, (total_steps - step) / max(1, total_steps - warmup))

    sched = torch.optim.lr_scheduler.LambdaLR(opt, lr_at)

    t0 = time.time()
    for epoch in range(args.epochs):
        model.train()
        te = time.time()
        perm = torch.randperm(ids_tr.shape[0], generator=gen)
        total_loss = 0.0
        for i in range(0, ids_tr.shape[0], args.batch):
            idx = perm[i : i + args.batch]
            loss = F.cross_entropy(model(ids_tr[idx], mask_tr[idx]), y_tr[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            sched.step()
            total_loss += float(loss) * idx.shape[0]
        acc = evaluate(model, ids_sv, mask_sv, y_sv)
        print(
            "epoch %d/%d loss %.4f serving-acc %.4f (%.1fs)"
            % (epoch + 1, args.epochs, total_loss / ids_tr.shape[0], acc, time.time() - te),
            flush=True,
        )
    seconds = time.time() - t0

    serving_acc = evaluate(model, ids_sv, mask_sv, y_sv)
    train_acc = evaluate(model, ids_tr, mask_tr, y_tr)
    print("serving accuracy %.4f, train accuracy %.4f, %.0fs" % (serving_acc, train_acc, seconds), flush=True)

    # Back to the plain Linear/matmul path for export; check it agrees with the training kernels.
    model.eval()
    check = slice(0, 128)
    with torch.no_grad():
        fast = model(ids_sv[check], mask_sv[check])
        CONV_KERNELS["on"] = False
        plain = model(ids_sv[check], mask_sv[check])
    drift = float((fast - plain).abs().max())
    print("training kernels vs plain path on %d serving e-mails: max |diff| %.2e" % (fast.shape[0], drift), flush=True)
    if drift > 1e-3 or not torch.equal(fast.argmax(1), plain.argmax(1)):
        raise SystemExit("training kernels and the exported path disagree")

    os.makedirs(args.out, exist_ok=True)
    onnx_path = os.path.join(args.out, "model.onnx")
    proto = common.export_onnx(model, [ids_sv[:2], mask_sv[:2]], ["input_ids", "attention_mask"], onnx_path)
    summary = common.describe_graph(proto)
    print(json.dumps(summary), flush=True)
    expect_in = [("input_ids", 7, ["batch", MAX_LEN]), ("attention_mask", 7, ["batch", MAX_LEN])]
    expect_out = [("logits", 1, ["batch", 2])]
    if [tuple(x) for x in summary["inputs"]] != expect_in or [tuple(x) for x in summary["outputs"]] != expect_out:
        raise SystemExit("exported graph has unexpected inputs/outputs")
    if summary["functions"] or summary["subgraphs"] or summary["opset"] != [("ai.onnx", common.OPSET)]:
        raise SystemExit("exported graph is not a single flat graph at opset %d" % common.OPSET)

    common.write_reference(args.out, args.name, model, {"input_ids": ids_sv[:64], "attention_mask": mask_sv[:64]})

    # The tokenizer sample is the family's: only the reference member carries it.
    sample = [] if args.name != "spam-bert" else [
        {"index": i, "ids": ids_sv[i].tolist(), "mask": mask_sv[i].tolist()} for i in range(TOKEN_SAMPLE)
    ]
    if sample:
        with open(os.path.join(args.out, "token-ids-sample.json"), "w") as f:
            f.write("[\n" + ",\n".join(json.dumps(s, separators=(",", ":")) for s in sample) + "\n]\n")

    common.write_model_json(
        args.out,
        {
            "name": args.name,
            "task": "text-classification",
            "file": "model.onnx",
            "sha256": common.sha256_of(onnx_path),
            "classes": ["ham", "spam"],
            "inputs": [
                {"name": "input_ids", "dtype": "int64", "shape": ["batch", MAX_LEN]},
                {"name": "attention_mask", "dtype": "int64", "shape": ["batch", MAX_LEN]},
            ],
            "outputs": [{"name": "logits", "dtype": "float32", "shape": ["batch", 2]}],
            "preprocessing": {
                "type": "text",
                "tokenizer": {
                    "type": "ascii-words",
                    "lowercase": "ascii",
                    "maxLength": MAX_LEN,
                    "padId": common.PAD_ID,
                    "unkId": common.UNK_ID,
                    "clsId": common.CLS_ID,
                    "vocab": vocab,
                },
            },
            "dataset": "spam",
            "servingAccuracy": serving_acc,
            "servingSamples": len(serve_rows),
            "trainAccuracy": train_acc,
            "architecture": {
                "family": "bert-style encoder, post-norm",
                "layers": args.layers,
                "hidden": args.hidden,
                "heads": args.heads,
                "ffn": args.ffn,
                "activation": "gelu (erf)",
                "vocab": VOCAB_SIZE,
                "positions": MAX_LEN,
                "embeddings": "token + learned position, LayerNorm",
                "attentionMask": "additive bias (1 - attention_mask) * -10000, [batch,1,1,128], computed once and shared by all layers",
                "head": "pooler Linear(%d,%d)+tanh on token 0, then Linear(%d->2)" % (args.hidden, args.hidden, args.hidden),
                "dropout": DROPOUT,
                "parameters": params,
            },
            "training": {
                "epochs": args.epochs,
                "optimizer": "AdamW (weight decay %g on matrices), linear warmup 6%% then linear decay, grad clip 1.0" % weight_decay,
                "lr": args.lr,
                "batchSize": args.batch,
                "seed": SEED,
                "seconds": round(seconds, 1),
            },
            "provenance": common.provenance(__file__),
        },
    )
    print("wrote %s" % args.out, flush=True)


if __name__ == "__main__":
    main()
