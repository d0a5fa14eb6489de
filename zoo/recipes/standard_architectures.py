"""Exports standard architectures to ONNX for the slicing measurements (`npm run bench -- slicing`).

The fixtures are small; a cut's fixed cost weighs differently on the architectures people serve.
This recipe exports ResNet-18, ResNet-50, MobileNetV2, MobileNetV3-small, EfficientNet-B0 and
ViT-B/16 from torchvision, and an encoder the size of BERT-base (12 layers, 768 wide, 12 heads,
sequence 128, 30522-token vocabulary) written here in plain modules so that the exporter sees
ordinary operators. Weights are random (seeded): timings do not depend on what the weights are,
and nothing is downloaded. Opset 17, a symbolic batch axis, every other axis fixed.

The exports are large (up to 350 MB for ViT-B/16) and are not committed: they go to
`.cache/standard-models/` at the repository root, which git ignores. Run with Debian's Python:

    /usr/bin/python3 zoo/recipes/standard_architectures.py [name ...]

Names: resnet18 resnet50 mobilenet_v2 mobilenet_v3_small efficientnet_b0 vit_b_16 bert_base.
With no names, all are exported; an existing export is kept.
"""

import math
import os
import sys

import torch
import torchvision

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OUT = os.path.join(ROOT, ".cache", "standard-models")
OPSET = 17


class EncoderLayer(torch.nn.Module):
    """A post-norm transformer encoder layer (as BERT's), with an additive attention mask."""

    def __init__(self, width, heads, hidden):
        super().__init__()
        self.heads = heads
        self.qkv = torch.nn.Linear(width, 3 * width)
        self.out = torch.nn.Linear(width, width)
        self.norm1 = torch.nn.LayerNorm(width)
        self.up = torch.nn.Linear(width, hidden)
        self.down = torch.nn.Linear(hidden, width)
        self.norm2 = torch.nn.LayerNorm(width)

    def forward(self, x, mask_bias):
        b, s, w = x.shape
        d = w // self.heads
        q, k, v = self.qkv(x).reshape(b, s, 3, self.heads, d).permute(2, 0, 3, 1, 4)
        scores = q @ k.transpose(-1, -2) / math.sqrt(d) + mask_bias
        attended = (scores.softmax(-1) @ v).transpose(1, 2).reshape(b, s, w)
        x = self.norm1(x + self.out(attended))
        return self.norm2(x + self.down(torch.nn.functional.gelu(self.up(x))))


class BertBaseSized(torch.nn.Module):
    """Token and position embeddings, 12 encoder layers, a classifier on the first token."""

    def __init__(self, vocab=30522, width=768, layers=12, heads=12, hidden=3072, seq=128, classes=2):
        super().__init__()
        self.tokens = torch.nn.Embedding(vocab, width)
        self.positions = torch.nn.Parameter(torch.randn(1, seq, width) * 0.02)
        self.norm = torch.nn.LayerNorm(width)
        self.layers = torch.nn.ModuleList([EncoderLayer(width, heads, hidden) for _ in range(layers)])
        self.classifier = torch.nn.Linear(width, classes)

    def forward(self, input_ids, attention_mask):
        x = self.norm(self.tokens(input_ids) + self.positions)
        mask_bias = (1.0 - attention_mask.to(torch.float32))[:, None, None, :] * -10000.0
        for layer in self.layers:
            x = layer(x, mask_bias)
        return self.classifier(x[:, 0])


def image_model(factory):
    def build():
        model = factory(weights=None)
        return model, (torch.randn(2, 3, 224, 224),), ["input"]

    return build


def bert_base():
    seq = 128
    ids = torch.randint(0, 30522, (2, seq))
    mask = torch.ones(2, seq, dtype=torch.int64)
    return BertBaseSized(seq=seq), (ids, mask), ["input_ids", "attention_mask"]


MODELS = {
    "resnet18": image_model(torchvision.models.resnet18),
    "resnet50": image_model(torchvision.models.resnet50),
    "mobilenet_v2": image_model(torchvision.models.mobilenet_v2),
    "mobilenet_v3_small": image_model(torchvision.models.mobilenet_v3_small),
    "efficientnet_b0": image_model(torchvision.models.efficientnet_b0),
    "vit_b_16": image_model(torchvision.models.vit_b_16),
    "bert_base": bert_base,
}


def export(name):
    path = os.path.join(OUT, name + ".onnx")
    if os.path.exists(path):
        print("kept", path)
        return
    torch.manual_seed(0)
    model, example, inputs = MODELS[name]()
    model.eval()
    tmp = path + ".tmp"
    with torch.no_grad():
        torch.onnx.export(
            model,
            example,
            tmp,
            input_names=inputs,
            output_names=["logits"],
            dynamic_axes={**{n: {0: "batch"} for n in inputs}, "logits": {0: "batch"}},
            opset_version=OPSET,
            do_constant_folding=True,
        )
    os.replace(tmp, path)
    print("wrote", path, "%.1f MB" % (os.path.getsize(path) / 1e6))


def main(argv):
    torch.set_num_threads(1)
    names = argv or list(MODELS)
    unknown = [n for n in names if n not in MODELS]
    if unknown:
        sys.exit("unknown model %s; allowed: %s" % (", ".join(unknown), " ".join(MODELS)))
    os.makedirs(OUT, exist_ok=True)
    for name in names:
        export(name)


if __name__ == "__main__":
    main(sys.argv[1:])
