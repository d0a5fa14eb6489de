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
node zoo/recipes/verify-onnx.mjs
du -sh zoo
