"""Tiny models of many architectures for the zoo tests (random weights, BN(0) != 0)."""

import torch
import torchvision
from torch import nn

from tests.nets import _randomise_batchnorm


class SkipMLP(nn.Module):
    def __init__(self):
        super().__init__()
        self.a, self.b, self.c, self.out = nn.Linear(6, 8), nn.Linear(8, 8), nn.Linear(8, 8), nn.Linear(8, 3)

    def forward(self, x):
        h = torch.relu(self.a(x))
        return self.out(torch.relu(self.c(torch.relu(self.b(h)) + h)))


class SharedReLU(nn.Module):
    def __init__(self):
        super().__init__()
        self.a, self.b, self.out, self.act = nn.Linear(6, 10), nn.Linear(10, 7), nn.Linear(7, 3), nn.ReLU()

    def forward(self, x):
        return self.out(self.act(self.b(self.act(self.a(x)))))


class PerToken(nn.Module):   # (B, S, F) with S == F
    def __init__(self):
        super().__init__()
        self.a, self.b, self.out = nn.Linear(5, 9), nn.Linear(9, 5), nn.Linear(5, 3)

    def forward(self, x):
        return self.out(torch.relu(self.b(torch.relu(self.a(x)))).mean(1))


class Siamese(nn.Module):
    def __init__(self):
        super().__init__()
        self.enc = nn.Sequential(nn.Linear(6, 10), nn.ReLU(), nn.Linear(10, 8), nn.Tanh())
        self.out = nn.Linear(8, 2)

    def forward(self, a, b):
        return self.out((self.enc(a) - self.enc(b)).abs())


class TwoInput(nn.Module):
    def __init__(self):
        super().__init__()
        self.a, self.b, self.out = nn.Linear(6, 8), nn.Linear(4, 5), nn.Linear(13, 3)

    def forward(self, x, z):
        return self.out(torch.cat([torch.relu(self.a(x)), torch.sigmoid(self.b(z))], 1))


class DictInput(TwoInput):
    def forward(self, x, z):   # called as model(**{"x": ..., "z": ...})
        return super().forward(x, z)


class LSTMClassifier(nn.Module):
    def __init__(self, bidirectional=False):
        super().__init__()
        self.emb = nn.Embedding(30, 8)
        self.proj = nn.Linear(8, 8)
        self.lstm = nn.LSTM(8, 6, batch_first=True, bidirectional=bidirectional)
        self.fc = nn.Linear(6 * (2 if bidirectional else 1), 7)
        self.out = nn.Linear(7, 3)

    def forward(self, tokens):
        h, _ = self.lstm(torch.tanh(self.proj(self.emb(tokens))))
        return self.out(torch.relu(self.fc(h[:, -1])))


class TextTransformer(nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(30, 8)
        layer = nn.TransformerEncoderLayer(8, 2, dim_feedforward=12, dropout=0.0, batch_first=True)
        self.enc = nn.TransformerEncoder(layer, 1, enable_nested_tensor=False)
        self.out = nn.Linear(8, 3)

    def forward(self, tokens):
        return self.out(self.enc(self.emb(tokens)).mean(1))


def image(n, c=3, s=16):
    return torch.randn(n, c, s, s)


def zoo():
    """name -> (build, make_inputs(n), n_classes)"""
    tv = torchvision.models
    return {
        "resnet18": (lambda: tv.resnet18(num_classes=10), lambda n: image(n), 10),
        "mobilenet_v2": (lambda: tv.mobilenet_v2(num_classes=10, width_mult=0.25), lambda n: image(n, s=32), 10),
        "vgg11_bn": (lambda: _small_vgg(), lambda n: image(n, s=32), 10),
        "densenet": (lambda: tv.DenseNet(growth_rate=6, block_config=(2, 2), num_init_features=8, bn_size=2,
                                         num_classes=10), lambda n: image(n), 10),
        "skip_mlp": (SkipMLP, lambda n: torch.randn(n, 6), 3),
        "shared_relu": (SharedReLU, lambda n: torch.randn(n, 6), 3),
        "inplace_relu": (lambda: nn.Sequential(nn.Linear(6, 12), nn.ReLU(inplace=True), nn.Linear(12, 8),
                                               nn.ReLU(inplace=True), nn.Linear(8, 3)), lambda n: torch.randn(n, 6), 3),
        "inplace_cnn": (lambda: nn.Sequential(nn.Conv2d(2, 5, 3, padding=1), nn.BatchNorm2d(5), nn.ReLU(inplace=True),
                                              nn.Conv2d(5, 4, 3, padding=1), nn.ReLU(inplace=True), nn.Flatten(),
                                              nn.Linear(4 * 36, 3)), lambda n: torch.randn(n, 2, 6, 6), 3),
        "per_token": (PerToken, lambda n: torch.randn(n, 5, 5), 3),
        "siamese": (Siamese, lambda n: (torch.randn(n, 6), torch.randn(n, 6)), 2),
        "two_input": (TwoInput, lambda n: (torch.randn(n, 6), torch.randn(n, 4)), 3),
        "dict_input": (DictInput, lambda n: {"x": torch.randn(n, 6), "z": torch.randn(n, 4)}, 3),
        "lstm": (LSTMClassifier, lambda n: torch.randint(0, 30, (n, 7)), 3),
        "bilstm": (lambda: LSTMClassifier(True), lambda n: torch.randint(0, 30, (n, 7)), 3),
        "transformer": (TextTransformer, lambda n: torch.randint(0, 30, (n, 6)), 3),
        "vit": (lambda: tv.VisionTransformer(image_size=8, patch_size=4, num_layers=1, num_heads=2, hidden_dim=8,
                                             mlp_dim=12, num_classes=3), lambda n: image(n, s=8), 3),
        "bert": (_bert, lambda n: {"input_ids": torch.randint(0, 40, (n, 6))}, 2),
        # Bottlenecks call one ReLU three times and their residual streams are 256-2048 wide:
        # the broadcast crash. Full width, 32x32 inputs keep it to about a second.
        "resnet50": (lambda: tv.resnet50(num_classes=10), lambda n: image(n, s=32), 10),
    }


class _SmallVGG(nn.Module):
    """VGG11-BN's first two stages (torchvision's ``make_layers``, in-place ReLUs) and a small head.

    Building ``vgg11_bn`` itself allocates its 4096-wide 25088-input classifier (seconds on
    two cores), so the zoo uses the same feature blocks with a small classifier.
    """

    def __init__(self):
        super().__init__()
        self.features = torchvision.models.vgg.make_layers([64, "M", 128, "M"], batch_norm=True)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Sequential(nn.Linear(128, 16), nn.ReLU(True), nn.Dropout(), nn.Linear(16, 10))

    def forward(self, x):
        return self.classifier(torch.flatten(self.avgpool(self.features(x)), 1))


def _small_vgg():
    return _SmallVGG()


def _bert():
    from transformers import BertConfig, BertForSequenceClassification
    cfg = BertConfig(vocab_size=40, hidden_size=8, num_hidden_layers=1, num_attention_heads=2, intermediate_size=12,
                     max_position_embeddings=16, num_labels=2, hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
    return BertForSequenceClassification(cfg)


def build(name):
    make, inputs, n_classes = zoo()[name]
    torch.manual_seed(0)
    return _randomise_batchnorm(make()), inputs, n_classes


# ----------------------------------------------------------- narrow members of each family
# benchmarks/zoo.py runs every torchvision classifier at full width; the fast tests run the
# same checks (benchmarks/zoo.py::run_one) on a narrow member of each family, built with
# torchvision's own classes and block configurations, so that each takes seconds. Swin (v1, v2)
# and MaxViT are not here: even at embed_dim 8 and 16x16 inputs a run took over 4 minutes on
# the shared 2 cores (Torch-Pruning's graph walk warns "Maximum recursive depth reached!");
# their full models are rows of benchmarks/results/zoo.csv.

def _efficientnet(arch, width, depth):
    from torchvision.models import efficientnet
    setting, last = efficientnet._efficientnet_conf(arch, width_mult=width, depth_mult=depth)
    return efficientnet.EfficientNet(setting, dropout=0.0, num_classes=10, last_channel=last)


def _efficientnet_v2():
    """EfficientNetV2's blocks (fused MBConv, then MBConv with squeeze-excitation), narrow: its
    configuration in torchvision has no width multiplier."""
    from torchvision.models.efficientnet import EfficientNet, FusedMBConvConfig, MBConvConfig
    setting = [FusedMBConvConfig(1, 3, 1, 8, 8, 1), FusedMBConvConfig(4, 3, 2, 8, 16, 2),
               MBConvConfig(4, 3, 2, 16, 24, 2)]
    return EfficientNet(setting, dropout=0.0, num_classes=10, last_channel=64)


def _regnet(group_width, se_ratio=None):
    from torchvision.models.regnet import BlockParams, RegNet
    params = BlockParams.from_init_params(depth=4, w_0=8, w_a=8.0, w_m=2.0, group_width=group_width, se_ratio=se_ratio)
    return RegNet(params, stem_width=8, num_classes=10)


def family_models():
    """Family -> ``(build, size)``: a narrow torchvision model of the family and its input size."""
    tv = torchvision.models
    from torchvision.models.convnext import CNBlockConfig
    from torchvision.models.resnet import Bottleneck
    return {
        "resnet": (lambda: tv.resnet18(num_classes=10), 32),
        "resnext": (lambda: tv.ResNet(Bottleneck, [1, 1, 1, 1], num_classes=10, groups=4, width_per_group=4), 32),
        "mobilenet_v2": (lambda: tv.mobilenet_v2(num_classes=10, width_mult=0.25), 32),
        "mobilenet_v3": (lambda: tv.mobilenet_v3_small(num_classes=10, width_mult=0.25), 32),
        "mnasnet": (lambda: tv.mnasnet0_5(num_classes=10), 32),
        "efficientnet": (lambda: _efficientnet("efficientnet_b0", 0.25, 0.25), 32),
        "efficientnet_v2": (_efficientnet_v2, 32),
        "densenet": (lambda: tv.DenseNet(growth_rate=6, block_config=(2, 2), num_init_features=8, bn_size=2,
                                         num_classes=10), 32),
        "regnet_x": (lambda: _regnet(4), 32),
        "regnet_y": (lambda: _regnet(4, se_ratio=0.25), 32),
        "squeezenet": (lambda: tv.squeezenet1_1(num_classes=10), 32),
        "shufflenet_v2": (lambda: tv.ShuffleNetV2([4, 2, 2], [4, 8, 16, 32, 32], num_classes=10), 32),
        "convnext": (lambda: tv.ConvNeXt([CNBlockConfig(8, 16, 1), CNBlockConfig(16, None, 1)], num_classes=10), 32),
        "vit": (lambda: tv.VisionTransformer(image_size=16, patch_size=8, num_layers=1, num_heads=2, hidden_dim=16,
                                             mlp_dim=24, num_classes=10), 16),
    }
