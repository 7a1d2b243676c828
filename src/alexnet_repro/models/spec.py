"""The net's description without the net: every switch of sections 3-5 as plain dataclasses, and the layer
sizes they imply. Imports nothing but the standard library, so that a config schema, the report and a
finished run's adoption check read it without loading torch (models/alexnet.py builds the net from it)."""

from __future__ import annotations

from dataclasses import dataclass, field

CONV_KERNELS = (96, 256, 384, 384, 256)  # section 3.5
FC_UNITS = 4096  # section 3.5
ACTIVATIONS = ("relu", "tanh")  # section 3.1
# The bias of the layers section 5 starts at 1 (conv2, conv4, conv5, fc6, fc7), per init: the paper's 1, Caffe's
# reference 0.1 ("1 gave flat loss"), Kaiming's 0. Its keys are the inits a config may choose.
INIT_BIAS_ONE = {"paper": 1.0, "caffe": 0.1, "kaiming": 0.0}
INITS = tuple(INIT_BIAS_ONE)


def lrn_scale(alpha: float, size: int, alpha_over_n: bool) -> float:
    """alpha', what multiplies the window sum: alpha / n as cuda-convnet, Caffe and PyTorch read it (models/lrn.py),
    or section 3.3's formula read literally."""
    return alpha / size if alpha_over_n else alpha


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

    @property
    def scale(self) -> float:
        return lrn_scale(self.alpha, self.size, self.alpha_over_n)


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
# Section 3.5's "input from": conv3 reads both towers, the one place among the convolutions where they exchange;
# conv2, conv4 and conv5 read their own tower only.
READS_BOTH_TOWERS = ("conv3",)


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


def last_conv_width(spec: AlexNetConfig) -> int:
    """The channels fc6 reads: the last convolution left (conv4's 384 when conv5 is removed, not conv5's 256)."""
    names = ("conv1", "conv2", *MIDDLE_CONVS)
    return [k for name, k in zip(names, layer_widths(spec)[0]) if name not in spec.remove_convs][-1]


def layer_widths(spec: AlexNetConfig) -> tuple[list[int], int]:
    """Kernels per conv layer and units per fc layer, rounded to a multiple of the tower count."""
    kernels = list(CONV_KERNELS)
    if spec.half_kernels:  # section 3.2: "half as many kernels in each convolutional layer", except the last
        kernels = [k // 2 for k in kernels[:4]] + [kernels[4]]

    def scaled(n: int) -> int:
        return max(spec.towers, round(n * spec.width / spec.towers) * spec.towers)

    return [scaled(k) for k in kernels], scaled(FC_UNITS)
