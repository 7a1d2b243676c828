"""AlexNet as in section 3.5 of the paper: five convolutional and three fully connected layers.

  layer  kernels (per tower)  size      stride pad  input from    then
  conv1  96 (48)              11x11x3   4      0    image         ReLU, LRN, max-pool 3/2
  conv2  256 (128)            5x5x48    1      2    own tower     ReLU, LRN, max-pool 3/2
  conv3  384 (192)            3x3x256   1      1    both towers   ReLU
  conv4  384 (192)            3x3x192   1      1    own tower     ReLU
  conv5  256 (128)            3x3x192   1      1    own tower     ReLU, max-pool 3/2
  fc6    4096                 9216->4096             both          ReLU, dropout 0.5
  fc7    4096                                        both          ReLU, dropout 0.5
  fc8    classes                                     both          (softmax in the loss)

The two GPUs are two channel groups: grouped convolutions for the "own tower" layers and TowerLRN keep
the mathematics of two devices on one. Layer names follow Caffe's bvlc_alexnet (conv1 .. fc8).
Input 227x227 (the paper's "224" does not divide with pad 0; cuda-convnet used 227); input 224 gets
torchvision's conv1 padding of 2 instead. Both give 55-27-27-13-13-13-13-6.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import asdict

import torch
from torch import nn

from alexnet_repro.models.lrn import ConstantGain, TowerLRN
from alexnet_repro.models.spec import (
    INIT_BIAS_ONE,
    READS_BOTH_TOWERS,
    AlexNetConfig,
    conv1_padding,
    feature_map_sizes,
    layer_widths,
)


def _activation(name: str) -> nn.Module:
    if name == "relu":
        return nn.ReLU(inplace=True)
    if name == "tanh":
        return nn.Tanh()
    raise ValueError(f"activation must be 'relu' or 'tanh', got {name!r}")


class AlexNet(nn.Module):
    def __init__(self, spec: AlexNetConfig | None = None):
        super().__init__()
        spec = spec or AlexNetConfig()
        self.spec = spec
        (c1, c2, c3, c4, c5), fc = layer_widths(spec)
        t = spec.towers
        act = lambda: _activation(spec.activation)  # noqa: E731
        pool = lambda: nn.MaxPool2d(spec.pool_kernel, spec.pool_stride)  # noqa: E731

        def norm() -> nn.Module:
            lrn = spec.lrn
            if not lrn.enabled:
                return nn.Identity()
            if lrn.constant_gain:
                return ConstantGain(lrn.k ** -lrn.beta)
            return TowerLRN(t, size=lrn.size, alpha=lrn.alpha, beta=lrn.beta, k=lrn.k, alpha_over_n=lrn.alpha_over_n)

        sizes = feature_map_sizes(spec)
        layers = [
            ("conv1", nn.Conv2d(3, c1, 11, stride=4, padding=conv1_padding(spec.input_size))),  # (B, 96, 55, 55)
            ("act1", act()), ("norm1", norm()), ("pool1", pool()),                              # (B, 96, 27, 27)
            ("conv2", nn.Conv2d(c1, c2, 5, padding=2, groups=t)),                               # (B, 256, 27, 27)
            ("act2", act()), ("norm2", norm()), ("pool2", pool()),                              # (B, 256, 13, 13)
        ]
        # The middle layers (section 7's depth ablation leaves some out): conv3 reads both towers.
        channels = c2
        for name, width in (("conv3", c3), ("conv4", c4), ("conv5", c5)):  # (B, 384/384/256, 13, 13)
            groups = 1 if name in READS_BOTH_TOWERS else t
            if name not in spec.remove_convs:
                layers += [(name, nn.Conv2d(channels, width, 3, padding=1, groups=groups)), (f"act{name[-1]}", act())]
                channels = width
        layers.append(("pool5", pool()))                                                        # (B, 256, 6, 6)
        if spec.conv6:
            layers += [("conv6", nn.Conv2d(channels, channels, 3, padding=1, groups=t)), ("act6c", act())]
        self.features = nn.Sequential(OrderedDict(layers))
        self.flat_features = channels * sizes["pool5"] ** 2  # 9216 for the paper's net
        self.fc6 = nn.Linear(self.flat_features, fc)
        self.act6 = act()
        self.drop6 = nn.Dropout(spec.dropout)
        self.fc7 = nn.Linear(fc, fc)
        self.act7 = act()
        self.drop7 = nn.Dropout(spec.dropout)
        self.fc8 = nn.Linear(fc, spec.num_classes)  # no ReLU: the softmax lives in the loss
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Section 5: weights ~ N(0, 0.01); biases 1 in conv2, conv4, conv5, fc6, fc7 (ReLUs start with
        positive input), 0 elsewhere. Caffe's reference used 0.1 ("1 gave flat loss")."""
        ones = {"conv2", "conv4", "conv5", "conv6", "fc6", "fc7"}
        bias_one = INIT_BIAS_ONE[self.spec.init]  # AlexNetConfig has checked the name
        for name, layer in self.named_modules():
            if not isinstance(layer, (nn.Conv2d, nn.Linear)):
                continue
            short = name.split(".")[-1]
            if self.spec.init == "kaiming":
                nonlinearity = "relu" if self.spec.activation == "relu" else "tanh"
                nn.init.kaiming_normal_(layer.weight, nonlinearity=nonlinearity)
                if short == "fc8":
                    nn.init.normal_(layer.weight, 0.0, 0.01)
            else:
                nn.init.normal_(layer.weight, 0.0, 0.01)
            nn.init.constant_(layer.bias, bias_one if short in ones else 0.0)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """Image (B, 3, 227, 227) -> fc7 activations (B, 4096): the features of Figure 4's nearest neighbours."""
        x = self.features(x).flatten(1)  # (B, 9216)
        x = self.drop6(self.act6(self.fc6(x)))  # (B, 4096)
        return self.act7(self.fc7(x))  # (B, 4096)

    def forward_head(self, features: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        """fc7 activations -> logits (B, classes); pre_logits=True returns the fc7 activations (timm's API)."""
        return features if pre_logits else self.fc8(self.drop7(features))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))


def alexnet(num_classes: int = 1000, towers: int = 2, **switches) -> AlexNet:
    """The paper's net (60,965,224 parameters for 1000 classes and two towers); `switches` are the other
    AlexNetConfig fields (activation, lrn, pool_kernel, dropout, half_kernels, width, init, ...)."""
    return AlexNet(AlexNetConfig(num_classes=num_classes, towers=towers, **switches))


def export_config(net: AlexNet) -> dict:
    """The plain dict that rebuilds the same architecture: AlexNet(AlexNetConfig(**export_config(net)))."""
    return asdict(net.spec)
