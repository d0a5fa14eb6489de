"""Trains InfAdapter's workload forecaster on the Twitter trace and writes its weights as JSON.

InfAdapter (auto_tuner/adapter/forecasters/lstm_forecaster.py) predicts the highest per-second
request count of the next minute from the ten previous per-minute maxima with one LSTM layer of 25
units and a dense output, trained with Adam on MSE for 30 epochs (batch 64) on the first 14 days of
the trace with zero seconds removed. This recipe does the same with PyTorch's standard LSTM cell
(tanh; InfAdapter's Keras layer uses ReLU) on inputs divided by 100, so that the TypeScript
forward pass in core/fleet/lstm-forecaster.ts can replay it exactly. The output file is small
(about 3,000 weights).

Usage: /usr/bin/python3 zoo/recipes/forecast_lstm.py --trace ../shared/data/traces/twitter-2021-08.tbz2
"""

import argparse
import json
import os
import sys
import tarfile
import time

import numpy as np
import torch
import torch.nn as nn

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402

SEED = 20261123
UNITS = 25
LOOKBACK = 10
SCALE = 100.0
TRAIN_DAYS = 14


class Forecaster(nn.Module):
    def __init__(self):
        super().__init__()
        self.lstm = nn.LSTM(1, UNITS, batch_first=True)
        self.dense = nn.Linear(UNITS, 1)

    def forward(self, x):
        out, _ = self.lstm(x)
        return self.dense(out[:, -1, :])


def read_trace(path):
    with tarfile.open(path, "r:bz2") as archive:
        member = [m for m in archive.getmembers() if m.isfile()][0]
        text = archive.extractfile(member).read().decode("ascii")
    return np.array(text.split(), dtype=np.int64)


def minute_peaks(counts):
    counts = counts[counts > 0]
    minutes = len(counts) // 60
    return counts[: minutes * 60].reshape(minutes, 60).max(axis=1).astype(np.float32)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--trace", required=True)
    ap.add_argument("--epochs", type=int, default=30)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", default=os.path.join(os.path.dirname(common.MODELS), "forecaster", "lstm.json"))
    args = ap.parse_args()
    common.set_threads(args.threads)
    common.seed_everything(SEED)

    counts = read_trace(args.trace)
    peaks = minute_peaks(counts[: TRAIN_DAYS * 86400]) / SCALE
    x = np.stack([peaks[i : i + LOOKBACK] for i in range(len(peaks) - LOOKBACK)])[:, :, None]
    y = peaks[LOOKBACK:][:, None]
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    model = Forecaster()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    gen = torch.Generator().manual_seed(SEED)
    t0 = time.time()
    for epoch in range(args.epochs):
        perm = torch.randperm(xt.shape[0], generator=gen)
        total = 0.0
        for i in range(0, xt.shape[0], 64):
            idx = perm[i : i + 64]
            loss = ((model(xt[idx]) - yt[idx]) ** 2).mean()
            l1 = sum(p.abs().sum() for n, p in model.lstm.named_parameters() if "weight" in n)
            opt.zero_grad()
            (loss + 1e-5 * l1).backward()
            opt.step()
            total += float(loss) * idx.shape[0]
        print("epoch %d/%d mse %.5f" % (epoch + 1, args.epochs, total / xt.shape[0]), flush=True)
    seconds = time.time() - t0
    sd = {k: v.detach().numpy().astype(float) for k, v in model.state_dict().items()}
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as f:
        json.dump(
            {
                "kind": "lstm",
                "units": UNITS,
                "lookback": LOOKBACK,
                "inputScale": SCALE,
                "gates": "i,f,g,o (PyTorch order); c' = f*c + i*g; h' = o*tanh(c')",
                "weightIh": np.round(sd["lstm.weight_ih_l0"], 7).tolist(),
                "weightHh": np.round(sd["lstm.weight_hh_l0"], 7).tolist(),
                "biasIh": np.round(sd["lstm.bias_ih_l0"], 7).tolist(),
                "biasHh": np.round(sd["lstm.bias_hh_l0"], 7).tolist(),
                "denseWeight": np.round(sd["dense.weight"][0], 7).tolist(),
                "denseBias": float(sd["dense.bias"][0]),
                "training": {
                    "data": "first %d days of the Twitter trace (twitter-2021-08), zero seconds removed, per-minute maxima" % TRAIN_DAYS,
                    "samples": int(xt.shape[0]),
                    "epochs": args.epochs,
                    "optimizer": "Adam lr 1e-3, MSE + 1e-5 L1 on LSTM weights, batch 64",
                    "seed": SEED,
                    "seconds": round(seconds, 1),
                },
                "provenance": common.provenance(__file__),
            },
            f,
        )
    print("wrote %s" % args.out, flush=True)


if __name__ == "__main__":
    main()
