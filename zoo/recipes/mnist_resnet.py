"""Trains the mnist-resnet zoo model and exports it to zoo/models/mnist-resnet/.

ResNet-style CNN: stem conv3x3(1->32)+BN+ReLU, 9 basic blocks in 3 stages of 3 (widths 32, 64,
128; the first block of stages 2 and 3 has stride 2 and a 1x1 conv+BN shortcut), global average
pooling, Linear(128->10). Input `pixels` float32 [batch,1,28,28] holding byte/255; the mean/std
normalisation happens inside the graph. Output `logits` [batch,10].

Trained on the train split only (6,000 digits) with random shifts of up to 2 pixels; measured on
the whole serving split (4,000 digits).

The same recipe trains the smaller members of the digits variant family (narrower stages, fewer
blocks per stage) under another name, for example
`--name mnist-resnet-small --widths 8,16,32 --blocks 1`.

Usage: /usr/bin/python3 zoo/recipes/mnist_resnet.py [--epochs N] [--threads N] [--name NAME --widths A,B,C --blocks N]
"""

import argparse
import json
import os
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402

SEED = 20261123
MEAN, STD = 0.1307, 0.3081


class BasicBlock(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, stride=1, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.shortcut = None
        if stride != 1 or cin != cout:
            self.shortcut = nn.Sequential(nn.Conv2d(cin, cout, 1, stride=stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        skip = x if self.shortcut is None else self.shortcut(x)
        return F.relu(out + skip)


class MnistResNet(nn.Module):
    def __init__(self, widths=(32, 64, 128), blocks_per_stage=3, num_classes=10):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(1, widths[0], 3, padding=1, bias=False), nn.BatchNorm2d(widths[0]), nn.ReLU())
        blocks = []
        cin = widths[0]
        for stage, w in enumerate(widths):
            for b in range(blocks_per_stage):
                stride = 2 if (stage > 0 and b == 0) else 1
                blocks.append(BasicBlock(cin, w, stride))
                cin = w
        self.blocks = nn.Sequential(*blocks)
        self.fc = nn.Linear(cin, num_classes)

    def forward(self, pixels):
        x = (pixels - MEAN) / STD
        x = self.blocks(self.stem(x))
        x = x.mean(dim=(2, 3))
        return self.fc(x)


def random_shift(batch, max_shift, gen):
    """Shifts each image by an integer offset in [-max_shift, max_shift] on both axes, zero-filled."""
    n = batch.shape[0]
    pad = F.pad(batch, (max_shift, max_shift, max_shift, max_shift))
    dx = torch.randint(0, 2 * max_shift + 1, (n,), generator=gen)
    dy = torch.randint(0, 2 * max_shift + 1, (n,), generator=gen)
    out = torch.empty_like(batch)
    for i in range(n):
        out[i] = pad[i, :, dy[i] : dy[i] + 28, dx[i] : dx[i] + 28]
    return out


def evaluate(model, x, y, batch=500):
    model.eval()
    correct = 0
    with torch.no_grad():
        for i in range(0, x.shape[0], batch):
            correct += int((model(x[i : i + batch]).argmax(1) == y[i : i + batch]).sum())
    return correct / x.shape[0]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--epochs", type=int, default=15)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--name", default="mnist-resnet")
    ap.add_argument("--widths", default="32,64,128", help="channels of the three stages")
    ap.add_argument("--blocks", type=int, default=3, help="basic blocks per stage")
    ap.add_argument("--out", default=None, help="default: zoo/models/<name>")
    args = ap.parse_args()
    widths = tuple(int(w) for w in args.widths.split(","))
    if len(widths) != 3:
        raise SystemExit("--widths takes three comma-separated channel counts")
    args.out = args.out or os.path.join(common.MODELS, args.name)

    common.set_threads(args.threads)
    common.seed_everything(SEED)
    gen = torch.Generator().manual_seed(SEED)

    train_img, train_lab = common.load_mnist("train")
    serve_img, serve_lab = common.load_mnist("serving")
    xtr = torch.from_numpy(train_img).float().div_(255.0).unsqueeze(1)
    ytr = torch.from_numpy(train_lab)
    xsv = torch.from_numpy(serve_img).float().div_(255.0).unsqueeze(1)
    ysv = torch.from_numpy(serve_lab)

    model = MnistResNet(widths, args.blocks).to(memory_format=torch.channels_last)
    params = common.parameter_count(model)
    print("parameters: %d" % params, flush=True)
    weight_decay = 5e-4
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=weight_decay)
    steps_per_epoch = (xtr.shape[0] + args.batch - 1) // args.batch
    sched = torch.optim.lr_scheduler.OneCycleLR(
        opt, max_lr=args.lr, epochs=args.epochs, steps_per_epoch=steps_per_epoch, pct_start=0.2
    )

    t0 = time.time()
    for epoch in range(args.epochs):
        model.train()
        te = time.time()
        perm = torch.randperm(xtr.shape[0], generator=gen)
        total_loss = 0.0
        for i in range(0, xtr.shape[0], args.batch):
            idx = perm[i : i + args.batch]
            xb = random_shift(xtr[idx], 2, gen).contiguous(memory_format=torch.channels_last)
            loss = F.cross_entropy(model(xb), ytr[idx], label_smoothing=0.05)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            total_loss += float(loss) * idx.shape[0]
        acc = evaluate(model, xsv, ysv)
        print(
            "epoch %d/%d loss %.4f serving-acc %.4f (%.1fs)"
            % (epoch + 1, args.epochs, total_loss / xtr.shape[0], acc, time.time() - te),
            flush=True,
        )
    seconds = time.time() - t0

    serving_acc = evaluate(model, xsv, ysv)
    train_acc = evaluate(model, xtr, ytr)
    print("serving accuracy %.4f, train accuracy %.4f, %.0fs" % (serving_acc, train_acc, seconds), flush=True)

    os.makedirs(args.out, exist_ok=True)
    onnx_path = os.path.join(args.out, "model.onnx")
    model = model.to(memory_format=torch.contiguous_format)
    model.eval()
    example = xsv[:2]
    proto = common.export_onnx(model, [example], ["pixels"], onnx_path)
    summary = common.describe_graph(proto)
    print(json.dumps(summary), flush=True)
    expect_in = [("pixels", 1, ["batch", 1, 28, 28])]
    expect_out = [("logits", 1, ["batch", 10])]
    if [tuple(x) for x in summary["inputs"]] != expect_in or [tuple(x) for x in summary["outputs"]] != expect_out:
        raise SystemExit("exported graph has unexpected inputs/outputs")
    if summary["functions"] or summary["subgraphs"] or summary["opset"] != [("ai.onnx", common.OPSET)]:
        raise SystemExit("exported graph is not a single flat graph at opset %d" % common.OPSET)

    common.write_reference(args.out, args.name, model, {"pixels": xsv[:64]})

    common.write_model_json(
        args.out,
        {
            "name": args.name,
            "task": "image-classification",
            "file": "model.onnx",
            "sha256": common.sha256_of(onnx_path),
            "classes": [str(d) for d in range(10)],
            "inputs": [{"name": "pixels", "dtype": "float32", "shape": ["batch", 1, 28, 28]}],
            "outputs": [{"name": "logits", "dtype": "float32", "shape": ["batch", 10]}],
            "preprocessing": {
                "type": "image",
                "height": 28,
                "width": 28,
                "channels": 1,
                "scale": 0.00392156862745098,
                "layout": "NCHW",
                "description": "grey bytes 0-255 divided by 255",
            },
            "dataset": "mnist",
            "servingAccuracy": serving_acc,
            "servingSamples": int(xsv.shape[0]),
            "trainAccuracy": train_acc,
            "architecture": {
                "family": "resnet",
                "stem": "conv3x3(1->%d)+BN+ReLU" % widths[0],
                "blocks": "%d basic blocks (conv3x3+BN+ReLU, conv3x3+BN, add shortcut, ReLU) in 3 stages of %d"
                % (3 * args.blocks, args.blocks),
                "widths": list(widths),
                "downsampling": "stride 2 in the first block of stages 2 and 3, 1x1 conv+BN shortcut",
                "head": "global average pool, Linear(%d->10)" % widths[2],
                "normalisation": "inside the graph: (pixels - %s) / %s" % (MEAN, STD),
                "parameters": params,
            },
            "training": {
                "epochs": args.epochs,
                "optimizer": "AdamW (weight decay %g), one-cycle schedule, label smoothing 0.05, random shifts of up to 2 px" % weight_decay,
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
