"""Tiny, untrained exports of the common classifier families, for the graph-analysis tests.

The candidate rules must hold for the way torchvision and torch name and wire these families, not
only for the two trained fixtures. Each model keeps its family's module structure and exporter
naming at a width that makes the file a few kilobytes to a few hundred: the analysis reads the
graph, not the weights, so the weights are the seeded initial ones.

- vgg:          VGG-style plain chain, torchvision's `features` Sequential of Conv/ReLU/MaxPool
- mobilenet-v2: torchvision MobileNetV2 with a short inverted-residual setting (blocks with and
                without a skip), width 0.25
- vit:          torchvision VisionTransformer, 4 encoder layers of width 32
- densenet:     torchvision DenseNet, dense blocks of 2, 3 and 2 layers, growth 8

Run: /usr/bin/python3 zoo/recipes/family_graphs.py   (writes zoo/families/<name>.onnx)
"""

import os

import torch
from torch import nn
from torchvision.models import DenseNet, MobileNetV2, VisionTransformer

from common import OPSET, ZOO, seed_everything, set_threads

OUT = os.path.join(ZOO, "families")


class TinyVgg(nn.Module):
    """VGG-11's layout (conv stages ending in max-pooling) at widths 8..32 on 32x32 images."""

    def __init__(self, classes=10):
        super().__init__()
        layers = []
        channels = 3
        for width in [8, "M", 16, "M", 32, 32, "M", 32, 32, "M", 32, 32, "M"]:
            if width == "M":
                layers.append(nn.MaxPool2d(2, 2))
            else:
                layers += [nn.Conv2d(channels, width, 3, padding=1), nn.ReLU(inplace=True)]
                channels = width
        self.features = nn.Sequential(*layers)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.classifier = nn.Sequential(nn.Linear(32, 32), nn.ReLU(True), nn.Dropout(), nn.Linear(32, classes))

    def forward(self, x):
        return self.classifier(torch.flatten(self.avgpool(self.features(x)), 1))


def models():
    settings = [
        # expansion t, channels c, repeats n, stride s: torchvision's first four rows, shortened
        [1, 16, 1, 1],
        [6, 24, 2, 2],
        [6, 32, 2, 2],
        [6, 64, 2, 2],
    ]
    mobilenet = MobileNetV2(num_classes=10, width_mult=0.25, inverted_residual_setting=settings)
    # torchvision fixes the last 1x1 convolution at 1280 channels; 64 keeps the file small.
    last = mobilenet.features[-1]
    mobilenet.features[-1] = type(last)(last[0].in_channels, 64, kernel_size=1, norm_layer=nn.BatchNorm2d, activation_layer=nn.ReLU6)
    mobilenet.classifier[-1] = nn.Linear(64, 10)
    return {
        "vgg": (TinyVgg(), (3, 32, 32)),
        "mobilenet-v2": (mobilenet, (3, 64, 64)),
        "vit": (
            VisionTransformer(image_size=32, patch_size=8, num_layers=4, num_heads=2, hidden_dim=32, mlp_dim=64, num_classes=10),
            (3, 32, 32),
        ),
        "densenet": (
            DenseNet(growth_rate=8, block_config=(2, 3, 2), num_init_features=8, bn_size=4, num_classes=10),
            (3, 64, 64),
        ),
    }


def main():
    set_threads(1)
    seed_everything(20261202)
    os.makedirs(OUT, exist_ok=True)
    for name, (model, shape) in models().items():
        model.eval()
        path = os.path.join(OUT, f"{name}.onnx")
        torch.onnx.export(
            model,
            torch.zeros(1, *shape),
            path,
            input_names=["pixels"],
            output_names=["logits"],
            dynamic_axes={"pixels": {0: "batch"}, "logits": {0: "batch"}},
            opset_version=OPSET,
            do_constant_folding=True,
        )
        print(f"{name}: {os.path.getsize(path)} bytes")


if __name__ == "__main__":
    main()
