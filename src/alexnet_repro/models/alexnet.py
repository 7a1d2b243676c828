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
from dataclasses import asdict, dataclass, field

import torch
from torch import nn

from alexnet_repro.models.lrn import ConstantGain, TowerLRN

CONV_KERNELS = (96, 256, 384, 384, 256)  # section 3.5
FC_UNITS = 4096  # section 3.5
ACTIVATIONS = ("relu", "tanh")  # section 3.1
INITS = ("paper", "caffe", "kaiming")  # section 5 (biases 1), Caffe's reference (biases 0.1), Kaiming's


def _require(ok: bool, field: str, value, allowed: str) -> None:
    if not ok:
        raise ValueError(f"{field}={value!r} is impossible; {allowed}")


@dataclass
class LRNConfig:
    """Section 3.3: k=2, n=5, alpha=1e-4, beta=0.75, after the ReLU of conv1 and conv2, within each tower.
    alpha_over_n: cuda-convnet/Caffe/PyTorch divide alpha by n (default); False reads the formula literally."""

    enabled: bool = True
    size: int = 5
    alpha: float = 1e-4
    beta: float = 0.75
    k: float = 2.0
    alpha_over_n: bool = True
    # A control, not the paper: the layer replaced by the gain it has at zero activity, k^-beta (2^-0.75, about
    # 0.59). At small input scales LRN is nearly this constant, so this separates its scale from its normalisation.
    constant_gain: bool = False

    def __post_init__(self) -> None:
        _require(1 <= self.size <= 64, "lrn.size", self.size, "it must lie in [1, 64]")
        _require(self.alpha >= 0, "lrn.alpha", self.alpha, "it must be >= 0")
        _require(self.k > 0, "lrn.k", self.k, "it must be > 0")


@dataclass
class AlexNetConfig:
    """Every switch of sections 3-5, with the paper's values as defaults (nanoGPT's GPTConfig style)."""

    num_classes: int = 1000
    activation: str = "relu"  # section 3.1: relu | tanh
    lrn: LRNConfig = field(default_factory=LRNConfig)
    pool_kernel: int = 3  # section 3.4: z=3, s=2 overlaps; z=2, s=2 does not
    pool_stride: int = 2
    dropout: float = 0.5  # section 4.2, fc6 and fc7 only; 0 switches it off
    towers: int = 2  # 2: the paper's grouped net; 1: the same widths with no grouping
    half_kernels: bool = False  # section 3.2's one-GPU net: half of conv1-conv4's kernels, conv5 and fc kept
    input_size: int = 227  # 227 (pad 0, cuda-convnet), 224 (conv1 pad 2, torchvision), or smaller: see below
    width: float = 1.0  # scales every layer's width; < 1 for the small embedded profile
    init: str = "paper"  # section 5: paper (biases 1) | caffe (biases 0.1) | kaiming (for small fast runs)
    # Section 7: "removing any of the middle convolutional layers results in a loss of about 2% ... top-1":
    # a subset of conv3, conv4, conv5 to leave out (the next layer then reads the previous one's channels).
    remove_convs: list = field(default_factory=list)
    conv6: bool = False  # section 6's "1 CNN*": an extra sixth convolutional layer over the last pooling layer

    def __post_init__(self) -> None:
        if isinstance(self.lrn, dict):
            self.lrn = LRNConfig(**self.lrn)
        _require(self.num_classes >= 1, "num_classes", self.num_classes, "it must be >= 1")
        _require(self.activation in ACTIVATIONS, "activation", self.activation, f"choose one of {list(ACTIVATIONS)}")
        _require(self.towers in (1, 2), "towers", self.towers, "choose 1 or 2")
        _require(self.input_size == 224 or (MIN_INPUT <= self.input_size <= 227 and self.input_size % 4 == 3),
                 "input_size", self.input_size, f"choose 224, 227, or a smaller size 4k+3 >= {MIN_INPUT}")
        _require(self.init in INITS, "init", self.init, f"choose one of {list(INITS)}")
        _require(0.0 <= self.dropout < 1.0, "dropout", self.dropout, "it must lie in [0, 1)")
        _require(0.0 < self.width <= 4.0, "width", self.width, "it must lie in (0, 4]")
        _require(1 <= self.pool_kernel <= 7, "pool_kernel", self.pool_kernel, "it must lie in [1, 7]")
        _require(1 <= self.pool_stride <= self.pool_kernel, "pool_stride", self.pool_stride,
                 "it must lie in [1, pool_kernel]")
        _require(set(self.remove_convs) <= set(MIDDLE_CONVS), "remove_convs", self.remove_convs,
                 f"choose among {list(MIDDLE_CONVS)}")


MIDDLE_CONVS = ("conv3", "conv4", "conv5")


def _out(size: int, kernel: int, stride: int, pad: int = 0) -> int:
    return (size + 2 * pad - kernel) // stride + 1


# The same topology at a smaller scale (the embedded profile's 115 gives 27, 13, 6, 2 instead of 55, 27, 13, 6):
# any size 4k+3 tiles conv1's stride-4 windows exactly, as 227 does; 67 is the smallest that leaves pool5 1x1.
MIN_INPUT = 67


def conv1_padding(input_size: int) -> int:
    if input_size == 224:
        return 2  # torchvision's choice, so that 224 also gives 55x55
    if input_size % 4 == 3:
        return 0
    raise ValueError(f"input_size must be 224 or 4k+3 (227, 115, ...), got {input_size}")


def feature_map_sizes(spec: AlexNetConfig) -> dict[str, int]:
    """Spatial side of each layer's output: 55, 27, 27, 13, 13, 13, 13, 6 for the paper's net."""
    s1 = _out(spec.input_size, 11, 4, conv1_padding(spec.input_size))
    p1 = _out(s1, spec.pool_kernel, spec.pool_stride)
    p2 = _out(p1, spec.pool_kernel, spec.pool_stride)
    p5 = _out(p2, spec.pool_kernel, spec.pool_stride)
    return {"conv1": s1, "pool1": p1, "conv2": p1, "pool2": p2, "conv3": p2, "conv4": p2, "conv5": p2, "pool5": p5}


def layer_widths(spec: AlexNetConfig) -> tuple[list[int], int]:
    """Kernels per conv layer and units per fc layer, rounded to a multiple of the tower count."""
    kernels = list(CONV_KERNELS)
    if spec.half_kernels:  # section 3.2: "half as many kernels in each convolutional layer", except the last
        kernels = [k // 2 for k in kernels[:4]] + [kernels[4]]

    def scaled(n: int) -> int:
        return max(spec.towers, round(n * spec.width / spec.towers) * spec.towers)

    return [scaled(k) for k in kernels], scaled(FC_UNITS)


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
            return TowerLRN(t, lrn.size, lrn.alpha, lrn.beta, lrn.k, lrn.alpha_over_n)

        sizes = feature_map_sizes(spec)
        layers = [
            ("conv1", nn.Conv2d(3, c1, 11, stride=4, padding=conv1_padding(spec.input_size))),  # (B, 96, 55, 55)
            ("act1", act()), ("norm1", norm()), ("pool1", pool()),                              # (B, 96, 27, 27)
            ("conv2", nn.Conv2d(c1, c2, 5, padding=2, groups=t)),                               # (B, 256, 27, 27)
            ("act2", act()), ("norm2", norm()), ("pool2", pool()),                              # (B, 256, 13, 13)
        ]
        # The middle layers (section 7's depth ablation leaves some out): conv3 reads both towers.
        channels = c2
        for name, width, groups in (("conv3", c3, 1), ("conv4", c4, t), ("conv5", c5, t)):  # (B, 384/384/256, 13, 13)
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
        bias_one = {"paper": 1.0, "caffe": 0.1, "kaiming": 0.0}.get(self.spec.init)
        if bias_one is None:
            raise ValueError(f"init must be paper, caffe or kaiming, got {self.spec.init!r}")
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
