"""The paper's CIFAR-10 nets (Figure 1, section 3.3) as plain PyTorch: cuda-convnet's example layer files
built layer by layer from their transcription in models/convnet4_spec.py (which says what each file holds and
how cuda-convnet reads it). Models of their own, not AlexNet with switches.

  net = convnet4("layers-80sec", activation="tanh")   # Figure 1's net, tanh in place of the file's relu
  net = convnet4("layers-conv-local-11pct")             # section 3.3's 11% net (24x24 crops)

Layer names are the files' (conv1, pool1, rnorm1, local3, fc10, ...); a file's `neuron=relu` becomes a module
named `<layer>_neuron`, as cuda-convnet's parser names the neuron layer it splits off.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import asdict

import torch
import torch.nn.functional as F
from torch import nn

from alexnet_repro.models.convnet4_spec import (
    CMRNormLayer,
    ConvLayer,
    ConvNet4Config,
    FCLayer,
    PoolLayer,
    feature_sizes,
)
from alexnet_repro.models.lrn import TowerLRN


class LocallyConnected2d(nn.Module):
    """cuda-convnet's type=local: a convolution whose kernel is not shared, one per output position.

    weight (L, in*k*k, out) for L = out_side^2 positions (row-major), each kernel's inputs in (channel, ky, kx)
    order; bias (out, side, side), one per filter and position as cuda-convnet's local layers have, or (out,) with
    shared_biases=True. Zero padding as in the layer file. One batched matmul over the positions: the patches are
    gathered by Tensor.unfold views and one copy, about 1.5x faster on a CPU than F.unfold + einsum."""

    def __init__(self, in_channels: int, out_channels: int, in_side: int, kernel_size: int, padding: int = 0,
                 stride: int = 1, shared_biases: bool = False):
        super().__init__()
        span = in_side + 2 * padding - kernel_size
        if span < 0 or span % stride:
            raise ValueError(f"a {kernel_size}x{kernel_size} kernel at stride {stride} does not tile {in_side} "
                             f"pixels padded by {padding} (cuda-convnet would round up; no layer file needs it)")
        self.in_channels, self.out_channels, self.kernel_size = in_channels, out_channels, kernel_size
        self.padding, self.stride, self.shared_biases = padding, stride, shared_biases
        self.out_side = span // stride + 1
        positions = self.out_side ** 2
        self.weight = nn.Parameter(torch.empty(positions, in_channels * kernel_size ** 2, out_channels))
        self.bias = nn.Parameter(torch.zeros(out_channels) if shared_biases
                                 else torch.zeros(out_channels, self.out_side, self.out_side))
        nn.init.normal_(self.weight, 0.0, 0.01)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, k, side = x.shape[0], self.kernel_size, self.out_side
        if self.padding:
            x = F.pad(x, (self.padding,) * 4)
        patches = x.unfold(2, k, self.stride).unfold(3, k, self.stride)  # (B, in, side, side, k, k), a view
        if patches.shape[2:4] != (side, side):
            raise ValueError(f"this layer's weights are for {side}x{side} positions; the input gives "
                             f"{patches.shape[2]}x{patches.shape[3]}")
        cols = patches.permute(2, 3, 0, 1, 4, 5).reshape(side * side, b, -1)  # (L, B, in*k*k)
        out = torch.bmm(cols, self.weight)  # (L, B, out): position l uses its own kernel
        out = out.permute(1, 2, 0).reshape(b, self.out_channels, side, side)  # (B, out, side, side)
        bias = self.bias[:, None, None] if self.shared_biases else self.bias
        return out + bias

    def extra_repr(self) -> str:
        return (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, padding={self.padding}, "
                f"stride={self.stride}, out_side={self.out_side}, shared_biases={self.shared_biases}")


def _neuron(activation: str) -> nn.Module:
    if activation == "relu":
        return nn.ReLU(inplace=True)
    if activation == "tanh":
        return nn.Tanh()
    raise ValueError(f"activation must be 'relu' or 'tanh', got {activation!r}")


def cmrnorm(layer: CMRNormLayer) -> nn.Module:
    """cuda-convnet's cmrnorm: a_i (1 + scale/size * sum of a_j^2 over `size` neighbouring maps)^-pow, i.e. the
    project's LRN layer with one tower, k=1 and alpha divided by n (models/lrn.py)."""
    return TowerLRN(1, layer.size, layer.scale, layer.pow, layer.k, alpha_over_n=True)


class ConvNet4(nn.Module):
    """One of cuda-convnet's CIFAR-10 nets: every layer but the output layer in `features`, the output layer
    (fc10) as `head`. Softmax lives in the loss (cuda-convnet's probs + logreg = cross-entropy)."""

    def __init__(self, spec: ConvNet4Config | None = None):
        super().__init__()
        spec = spec or ConvNet4Config()
        self.spec = spec
        sizes = feature_sizes(spec)
        channels, side = spec.channels, spec.input_size
        table = spec.layer_table
        layers: list[tuple[str, nn.Module]] = []
        self.init_w: dict[str, float] = {}
        flat = False
        for layer in table[:-1]:
            if isinstance(layer, ConvLayer):
                if layer.local:
                    module = LocallyConnected2d(channels, layer.filters, side, layer.filter_size,
                                                padding=layer.padding, stride=layer.stride)
                else:
                    module = nn.Conv2d(channels, layer.filters, layer.filter_size, layer.stride, layer.padding)
                self.init_w[layer.name] = layer.init_w
            elif isinstance(layer, PoolLayer):
                pool = nn.MaxPool2d if layer.pool == "max" else nn.AvgPool2d
                module = pool(layer.size_x, layer.stride, ceil_mode=True)  # cuda-convnet's outputsX rounds up
            elif isinstance(layer, CMRNormLayer):
                module = cmrnorm(layer)
            else:  # a hidden fc layer (80sec's fc64) reads the maps flattened in (C, H, W) order, as cuda-convnet's
                if not flat:
                    layers.append(("flatten", nn.Flatten(1)))
                    flat = True
                module = nn.Linear(channels * side * side, layer.outputs)
                self.init_w[layer.name] = layer.init_w
            layers.append((layer.name, module))
            if getattr(layer, "neuron", False):
                layers.append((f"{layer.name}_neuron", _neuron(spec.activation)))
            channels, side = sizes[layer.name]
        self.features = nn.Sequential(OrderedDict(layers))
        self.num_features = channels * side * side  # the head's inputs: 1024 (80sec fc64: 64), 1152 (conv-local)
        head = table[-1]
        assert isinstance(head, FCLayer) and not head.outputs, "every layer file ends in the fc10 output layer"
        self.head_name = head.name
        self.head = nn.Linear(self.num_features, spec.num_classes)
        self.init_w[head.name] = head.init_w
        self.reset_parameters()

    def named_weight_layers(self) -> dict[str, nn.Module]:
        """The layer files' weight layers by name (conv1, ..., fc10): what their layer-params sections address."""
        found = {name: module for name, module in self.features.named_children() if name in self.init_w}
        found[self.head_name] = self.head
        return found

    def reset_parameters(self) -> None:
        """The files' initW: weights ~ N(0, initW^2); biases 0 (initB's default; no file sets it)."""
        for name, module in self.named_weight_layers().items():
            nn.init.normal_(module.weight, 0.0, self.init_w[name])
            nn.init.zeros_(module.bias)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """Images (B, 3, S, S) -> the output layer's inputs, flattened: (B, 1024) for 19pct, (B, 64) for 80sec,
        (B, 1152) for the conv-local nets."""
        return self.features(x).flatten(1)

    def forward_head(self, features: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        """Features -> logits (B, classes); pre_logits=True returns the features (timm's API)."""
        return features if pre_logits else self.head(features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))

    def param_groups(self) -> list[dict]:
        """Per-layer SGD groups from the layer-params file: weights at lr epsW with momentum momW and weight decay wc,
        biases at lr epsB with momentum momB and no decay. torch's SGD on the *mean* loss with these groups is
        cuda-convnet's update while the rates are constant (docs/paper.md, "The CIFAR-10 nets")."""
        groups = []
        for name, module in self.named_weight_layers().items():
            p = self.spec.layer_params[name]
            groups.append({"params": [module.weight], "lr": p.epsW, "momentum": p.momW, "weight_decay": p.wc,
                           "name": f"{name}.weight"})
            groups.append({"params": [module.bias], "lr": p.epsB, "momentum": p.momB, "weight_decay": 0.0,
                           "name": f"{name}.bias"})
        return groups


def convnet4(layers: str = "layers-80sec", activation: str = "relu", num_classes: int = 10, **switches) -> ConvNet4:
    """A cuda-convnet CIFAR-10 net by its layer file's name; `switches` are the other ConvNet4Config fields."""
    return ConvNet4(ConvNet4Config(layers=layers, activation=activation, num_classes=num_classes, **switches))


def export_config(net: ConvNet4) -> dict:
    """The plain dict that rebuilds the same architecture: ConvNet4(ConvNet4Config(**export_config(net)))."""
    return asdict(net.spec)
