#!/bin/sh
# Rebuilds the model zoo from scratch: data sets, both models, then checks the exported ONNX files
# with onnxruntime-node. Run from anywhere; needs `npm install` done at the repository root and the
# Debian packages python3-torch and python3-onnx (see zoo/README.md).
set -eu
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-/usr/bin/python3}

node zoo/data/build-datasets.mjs
"$PYTHON" zoo/recipes/mnist_resnet.py
"$PYTHON" zoo/recipes/spam_bert.py
"$PYTHON" zoo/recipes/family_graphs.py
# The smaller members of each variant family (docs/fleet.md).
"$PYTHON" zoo/recipes/mnist_resnet.py --name mnist-resnet-medium --widths 16,32,64 --blocks 2 --epochs 8 --threads 1
"$PYTHON" zoo/recipes/mnist_resnet.py --name mnist-resnet-small --widths 8,16,32 --blocks 1 --epochs 8 --threads 1
"$PYTHON" zoo/recipes/spam_bert.py --name spam-bert-medium --layers 2 --hidden 64 --heads 4 --ffn 256 --epochs 4 --threads 1
"$PYTHON" zoo/recipes/spam_bert.py --name spam-bert-small --layers 1 --hidden 32 --heads 2 --ffn 128 --epochs 6 --threads 1
# InfAdapter's workload forecaster, trained on the Twitter trace.
"$PYTHON" zoo/recipes/forecast_lstm.py --trace ../shared/data/traces/twitter-2021-08.tbz2 --epochs 10
# The generative fixture, as committed: two stints (the second resumes the first's checkpoint).
"$PYTHON" zoo/recipes/moby_gpt.py --minutes 14 --batch 16 --ramp-steps 150 --cuts 2,4
"$PYTHON" zoo/recipes/moby_gpt.py --resume --minutes 20 --batch 8 --lr 3e-3 --ramp-steps 60 --cuts 2,4
node zoo/recipes/verify-onnx.mjs
du -sh zoo
