"""Shared helpers for the model-zoo training recipes.

Reads the fixture data sets written by zoo/data/build-datasets.mjs, implements the ascii-words
tokenizer the serving side uses, exports to ONNX and writes model.json.
Run the recipes with /usr/bin/python3 from the repository root (or anywhere: paths are resolved
relative to this file).
"""

import datetime
import gzip
import hashlib
import json
import os
import random
import tempfile

import numpy as np
import onnx
import torch

ZOO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DATA = os.path.join(ZOO, "data")
MODELS = os.path.join(ZOO, "models")
OPSET = 17


def seed_everything(seed):
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def set_threads(n):
    torch.set_num_threads(n)
    try:
        torch.set_num_interop_threads(1)
    except RuntimeError:
        pass


# ------------------------------------------------------------------------------------------------
# Data sets
# ------------------------------------------------------------------------------------------------


def load_mnist(split):
    """Returns (images uint8 [N,28,28], labels int64 [N]) for 'serving' or 'train'."""
    base = os.path.join(DATA, "mnist")
    with open(os.path.join(base, "dataset.json")) as f:
        meta = json.load(f)["splits"][split]
    with gzip.open(os.path.join(base, meta["images"]), "rb") as f:
        raw = f.read()
    with open(os.path.join(base, meta["labels"]), "rb") as f:
        lab = f.read()
    n = meta["count"]
    if len(raw) != n * 28 * 28 or len(lab) != n:
        raise ValueError("mnist %s: sizes do not match dataset.json" % split)
    images = np.frombuffer(raw, dtype=np.uint8).reshape(n, 28, 28).copy()
    labels = np.frombuffer(lab, dtype=np.uint8).astype(np.int64)
    return images, labels


def load_spam(split):
    """Returns the list of {id, group, label, text} records of 'serving' or 'train', in stream order."""
    base = os.path.join(DATA, "spam")
    with open(os.path.join(base, "dataset.json")) as f:
        meta = json.load(f)["splits"][split]
    rows = []
    with gzip.open(os.path.join(base, meta["file"]), "rt", encoding="utf-8") as f:
        for line in f:
            if line.strip():
                rows.append(json.loads(line))
    if len(rows) != meta["count"]:
        raise ValueError("spam %s: %d rows, dataset.json says %d" % (split, len(rows), meta["count"]))
    return rows


# ------------------------------------------------------------------------------------------------
# ascii-words tokenizer
# ------------------------------------------------------------------------------------------------

PAD_ID, UNK_ID, CLS_ID = 0, 1, 2
SPECIAL = ["[PAD]", "[UNK]", "[CLS]"]


def _is_token_char(c):
    return ("a" <= c <= "z") or ("0" <= c <= "9")


def ascii_lower(text):
    """Maps only 'A'..'Z' to 'a'..'z'; every other character is left as it is."""
    return "".join(chr(ord(c) + 32) if "A" <= c <= "Z" else c for c in text)


def tokenize(text):
    """Maximal runs of [a-z0-9] after ASCII lowercasing; anything else separates tokens."""
    tokens = []
    current = []
    for c in ascii_lower(text):
        if _is_token_char(c):
            current.append(c)
        elif current:
            tokens.append("".join(current))
            current = []
    if current:
        tokens.append("".join(current))
    return tokens


def build_vocab(texts, size, min_count=2):
    """[PAD], [UNK], [CLS], then tokens with count >= min_count by descending count, ties by string."""
    counts = {}
    for t in texts:
        for tok in tokenize(t):
            counts[tok] = counts.get(tok, 0) + 1
    ranked = sorted((tok for tok, n in counts.items() if n >= min_count), key=lambda tok: (-counts[tok], tok))
    return SPECIAL + ranked[: size - len(SPECIAL)]


def encode(text, index, max_length):
    """Returns (ids, mask), each a list of max_length ints: [CLS] + first max_length-1 tokens, padded."""
    toks = tokenize(text)[: max_length - 1]
    ids = [CLS_ID] + [index.get(t, UNK_ID) for t in toks]
    mask = [1] * len(ids)
    pad = max_length - len(ids)
    return ids + [PAD_ID] * pad, mask + [0] * pad


# ------------------------------------------------------------------------------------------------
# Export and description
# ------------------------------------------------------------------------------------------------


def export_onnx(model, example_inputs, input_names, path):
    """Exports in eval mode with opset 17, constant folding, dynamic batch axis; runs the checker."""
    model.eval()
    axes = {name: {0: "batch"} for name in list(input_names) + ["logits"]}
    with torch.no_grad():
        torch.onnx.export(
            model,
            tuple(example_inputs),
            path,
            input_names=list(input_names),
            output_names=["logits"],
            dynamic_axes=axes,
            opset_version=OPSET,
            do_constant_folding=True,
        )
    proto = onnx.load(path)
    onnx.checker.check_model(proto, full_check=True)
    return proto


def describe_graph(proto):
    """Short structural summary used to sanity-check an exported graph."""
    g = proto.graph
    ops = {}
    for node in g.node:
        ops[node.op_type] = ops.get(node.op_type, 0) + 1

    def dims(vi):
        return [d.dim_param if d.dim_param else d.dim_value for d in vi.type.tensor_type.shape.dim]

    return {
        "inputs": [(i.name, i.type.tensor_type.elem_type, dims(i)) for i in g.input],
        "outputs": [(o.name, o.type.tensor_type.elem_type, dims(o)) for o in g.output],
        "nodes": len(g.node),
        "initializers": len(g.initializer),
        "functions": len(proto.functions),
        "subgraphs": sum(1 for n in g.node for a in n.attribute if a.type in (onnx.AttributeProto.GRAPH, onnx.AttributeProto.GRAPHS)),
        "ops": dict(sorted(ops.items())),
        "opset": [(o.domain or "ai.onnx", o.version) for o in proto.opset_import],
    }


def sha256_of(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def parameter_count(model):
    return int(sum(p.numel() for p in model.parameters()))


def write_model_json(out_dir, spec):
    """Writes model.json with the key order the serving side documents."""
    keys = [
        "name", "task", "file", "sha256", "classes", "inputs", "outputs", "preprocessing", "dataset",
        "servingAccuracy", "servingSamples", "trainAccuracy", "architecture", "training", "provenance",
    ]
    missing = [k for k in keys if k not in spec]
    extra = [k for k in spec if k not in keys]
    if missing or extra:
        raise ValueError("model.json keys: missing %s, unexpected %s" % (missing, extra))
    ordered = {k: spec[k] for k in keys}
    with open(os.path.join(out_dir, "model.json"), "w") as f:
        f.write(to_json(ordered) + "\n")


def to_json(value, indent=""):
    """Indented JSON in which lists of plain values (shapes, classes, vocab) stay on one line."""
    inner = indent + "  "
    if isinstance(value, dict):
        if not value:
            return "{}"
        items = ["%s%s: %s" % (inner, json.dumps(k), to_json(v, inner)) for k, v in value.items()]
        return "{\n" + ",\n".join(items) + "\n" + indent + "}"
    if isinstance(value, list) and any(isinstance(v, (dict, list)) for v in value):
        return "[\n" + ",\n".join(inner + to_json(v, inner) for v in value) + "\n" + indent + "]"
    if isinstance(value, list):
        return "[" + ", ".join(json.dumps(v) for v in value) + "]"
    return json.dumps(value)


def provenance(recipe_file):
    return {
        "recipe": "zoo/recipes/" + os.path.basename(recipe_file),
        "torch": torch.__version__,
        "onnx": onnx.__version__,
        "opset": OPSET,
        "createdAt": datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0).isoformat().replace("+00:00", "Z"),
    }


def reference_path(name):
    base = os.environ.get("ZOO_VERIFY_DIR") or os.path.join(tempfile.gettempdir(), "apparate-zoo-verify")
    os.makedirs(base, exist_ok=True)
    return os.path.join(base, name + ".json")


def write_reference(out_dir, name, model, inputs):
    """Saves a few inputs and the eval-mode torch logits for them, so that the exported ONNX file can
    be replayed by onnxruntime (zoo/recipes/verify-onnx.mjs) and compared. Written outside the repo."""
    model.eval()
    with torch.no_grad():
        logits = model(*inputs.values())
    ref = {
        "model": os.path.join(out_dir, "model.onnx"),
        "inputs": {
            k: {
                "dtype": "int64" if v.dtype == torch.int64 else "float32",
                "shape": list(v.shape),
                "data": v.reshape(-1).tolist(),
            }
            for k, v in inputs.items()
        },
        "logits": {"shape": list(logits.shape), "data": logits.reshape(-1).tolist()},
    }
    path = reference_path(name)
    with open(path, "w") as f:
        json.dump(ref, f)
    return path
