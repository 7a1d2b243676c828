"""The paper's CIFAR-10 nets without torch: cuda-convnet's example layer files transcribed as data.

Section 3.1 (Figure 1) and section 3.3 measure their claims on "a four-layer" CNN on CIFAR-10, and footnote 3
points to cuda-convnet's code and parameter files. The nets are those files (dnouri/cuda-convnet and
mbrukman/cuda-convnet, `example-layers/`, last revision of each: December 2011, and 13 March 2012 (svn r541) for
the 11pct pair, whose cmrnorm scale and pow moved to its params file in June 2012, same values):

  layers-80sec             conv1 32 5x5 -> max-pool 3/2 -> conv2 32 5x5 -> avg-pool 3/2 -> conv3 64 5x5 -> avg-pool 3/2
                           -> fc64 -> fc10                        (32x32 whole images; "26% error in 80 seconds")
  layers-19pct             the same without fc64                   (32x32 whole images; "19% error in 20 minutes")
  layers-conv-local-13pct  conv1 64 5x5 -> max-pool 3/2 -> conv2 64 5x5 -> max-pool 3/2 -> local3 32 3x3
                           -> local4 32 3x3 -> fc10               (24x24 random crops and flips)
  layers-conv-local-11pct  conv1 64 5x5 -> max-pool 3/2 -> cmrnorm 9 -> conv2 64 5x5 -> cmrnorm 9 -> max-pool 3/2
                           -> local3 64 3x3 -> local4 32 3x3 -> fc10 (24x24 random crops and flips)
  layers-conv-local-11pct-no-rnorm  ours, a control: the 11pct net without its cmrnorm layers (see CONTROLS)

The paper counts the 13pct net (conv, conv, local, local, then the fc10 output) as "four-layer", i.e. it counts
the hidden weight layers; by that count layers-80sec (conv, conv, conv, fc64, then fc10) is four-layer as well,
and layers-19pct is three-layer. So Figure 1's net is layers-80sec (docs/paper.md, "The CIFAR-10 nets").

cuda-convnet's semantics, read from its layer.py and cudaconv2 kernels (not guessed):
- conv/local `padding=p` pads p zero pixels on every side (layer.py stores -p); output side
  1 + ceil((2p + size - filterSize) / stride).
- pool: output side ceil((size - start - sizeX) / stride) + 1 (torch's ceil_mode with start=0); windows that
  hang over the edge are clipped, and avg divides by the clipped window's pixel count.
- `neuron=relu` on a layer applies the nonlinearity to that layer's output (80sec puts it on pool1, i.e. after
  the max, which commutes with any nondecreasing neuron); fc10's `neuron=ident` is none.
- cmrnorm: b_i = a_i * (1 + scale/size * sum_{j=i-size//2}^{i-size//2+size-1} a_j^2)^-pow, j clipped to the channels
  (kFCNorm: addScale = scale/size, the constant 1).
- local (type=local): unshared weights per output position and one bias per filter *and* position
  (LocalUnsharedLayerParser: make_biases(modules * filters)); `sharedBiases`/`partialSum` belong to conv layers
  only (partialSum is a speed setting of the weight-gradient kernel; sharedBiases=1 gives one bias per filter).
- initW: weights ~ N(0, initW^2); initB defaults to 0 (no layer file sets it).
- Pixels: raw 0-255 minus the mean image (convdata.py); minibatch 128 (convnet.py's --mini default).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

LAYER_FILES = ("layers-80sec", "layers-19pct", "layers-conv-local-13pct", "layers-conv-local-11pct")
ACTIVATIONS = ("relu", "tanh")  # section 3.1: the file's neuron=relu, or tanh in its place


@dataclass(frozen=True)
class ConvLayer:
    """type=conv (one kernel shared over positions) or type=local (a kernel per output position)."""

    name: str
    filters: int
    filter_size: int
    padding: int
    init_w: float
    neuron: bool  # the file says neuron=relu
    local: bool = False
    stride: int = 1


@dataclass(frozen=True)
class PoolLayer:
    name: str
    pool: str  # max | avg
    neuron: bool = False
    size_x: int = 3
    stride: int = 2  # start=0, outputsX=0 (computed) in every file


@dataclass(frozen=True)
class CMRNormLayer:
    """type=cmrnorm; scale and pow live in the layer-params file."""

    name: str
    size: int
    scale: float
    pow: float
    k: float = 1.0  # the constant in cuda-convnet's kFCNorm


@dataclass(frozen=True)
class FCLayer:
    name: str
    outputs: int  # 0: num_classes (the output layer, fc10)
    init_w: float
    neuron: bool = False


@dataclass(frozen=True)
class LayerParams:
    """One [section] of a layer-params file: cuda-convnet's SGD for that layer's weights and biases,
    inc <- momW inc - epsW (mean gradient + wc w); w <- w + inc (biases: epsB, momB, no decay)."""

    epsW: float  # noqa: N815 (the file's names)
    epsB: float  # noqa: N815
    momW: float  # noqa: N815
    momB: float  # noqa: N815
    wc: float


def _p(wc: float) -> LayerParams:
    # Every weight layer of every one of the four files has epsW=0.001, epsB=0.002, momW=momB=0.9; only wc differs.
    return LayerParams(epsW=0.001, epsB=0.002, momW=0.9, momB=0.9, wc=wc)


LAYERS: dict[str, tuple] = {
    # layers-80sec.cfg ("26% error on CIFAR-10 in 80 seconds"): 32x32 input, no crops.
    "layers-80sec": (
        ConvLayer("conv1", 32, 5, 2, init_w=0.0001, neuron=False),  # (B, 32, 32, 32); partialSum=4 sharedBiases=1
        PoolLayer("pool1", "max", neuron=True),                     # (B, 32, 16, 16); the relu is on the pool
        ConvLayer("conv2", 32, 5, 2, init_w=0.01, neuron=True),     # (B, 32, 16, 16)
        PoolLayer("pool2", "avg"),                                  # (B, 32, 8, 8)
        ConvLayer("conv3", 64, 5, 2, init_w=0.01, neuron=True),     # (B, 64, 8, 8)
        PoolLayer("pool3", "avg"),                                  # (B, 64, 4, 4)
        FCLayer("fc64", 64, init_w=0.1, neuron=True),               # (B, 64)
        FCLayer("fc10", 0, init_w=0.1),                             # (B, 10)
    ),
    # layers-19pct.cfg ("19% error on CIFAR-10 in 20 minutes"): 80sec without fc64, partialSum=1.
    "layers-19pct": (
        ConvLayer("conv1", 32, 5, 2, init_w=0.0001, neuron=False),  # (B, 32, 32, 32)
        PoolLayer("pool1", "max", neuron=True),                     # (B, 32, 16, 16)
        ConvLayer("conv2", 32, 5, 2, init_w=0.01, neuron=True),     # (B, 32, 16, 16)
        PoolLayer("pool2", "avg"),                                  # (B, 32, 8, 8)
        ConvLayer("conv3", 64, 5, 2, init_w=0.01, neuron=True),     # (B, 64, 8, 8)
        PoolLayer("pool3", "avg"),                                  # (B, 64, 4, 4)
        FCLayer("fc10", 0, init_w=0.01),                            # (B, 10)
    ),
    # layers-conv-local-13pct.cfg: 24x24 crops.
    "layers-conv-local-13pct": (
        ConvLayer("conv1", 64, 5, 2, init_w=0.0001, neuron=True),   # (B, 64, 24, 24); partialSum=4
        PoolLayer("pool1", "max"),                                  # (B, 64, 12, 12)
        ConvLayer("conv2", 64, 5, 2, init_w=0.01, neuron=True),     # (B, 64, 12, 12); partialSum=8
        PoolLayer("pool2", "max"),                                  # (B, 64, 6, 6)
        ConvLayer("local3", 32, 3, 1, init_w=0.04, neuron=True, local=True),  # (B, 32, 6, 6)
        ConvLayer("local4", 32, 3, 1, init_w=0.04, neuron=True, local=True),  # (B, 32, 6, 6)
        FCLayer("fc10", 0, init_w=0.01),                            # (B, 10); neuron=ident
    ),
    # layers-conv-local-11pct.cfg (svn r541, March 2012): 13pct plus two cmrnorm layers, local3 64 wide.
    "layers-conv-local-11pct": (
        ConvLayer("conv1", 64, 5, 2, init_w=0.0001, neuron=True),   # (B, 64, 24, 24)
        PoolLayer("pool1", "max"),                                  # (B, 64, 12, 12)
        CMRNormLayer("rnorm1", 9, scale=0.001, pow=0.75),           # (B, 64, 12, 12); after the pool
        ConvLayer("conv2", 64, 5, 2, init_w=0.01, neuron=True),     # (B, 64, 12, 12)
        CMRNormLayer("rnorm2", 9, scale=0.001, pow=0.75),           # (B, 64, 12, 12); before the pool
        PoolLayer("pool2", "max"),                                  # (B, 64, 6, 6)
        ConvLayer("local3", 64, 3, 1, init_w=0.04, neuron=True, local=True),  # (B, 64, 6, 6)
        ConvLayer("local4", 32, 3, 1, init_w=0.04, neuron=True, local=True),  # (B, 32, 6, 6)
        FCLayer("fc10", 0, init_w=0.01),                            # (B, 10)
    ),
}
# A control of ours, not a cuda-convnet file: the 11pct net without its two cmrnorm layers. 13pct -> 11pct changes
# more than normalisation (local3 32 -> 64 filters, fc10 wc 0.004 -> 0.01), so this net isolates section 3.3's cause.
CONTROLS = ("layers-conv-local-11pct-no-rnorm",)
LAYERS["layers-conv-local-11pct-no-rnorm"] = tuple(
    layer for layer in LAYERS["layers-conv-local-11pct"] if not isinstance(layer, CMRNormLayer))

# The layer-params-*.cfg files, per weight layer ([logprob] coeff=1 in all four).
LAYER_PARAMS: dict[str, dict[str, LayerParams]] = {
    "layers-80sec": {"conv1": _p(0.004), "conv2": _p(0.004), "conv3": _p(0.004), "fc64": _p(0.03), "fc10": _p(0.03)},
    "layers-19pct": {"conv1": _p(0.004), "conv2": _p(0.004), "conv3": _p(0.004), "fc10": _p(3.0)},
    "layers-conv-local-13pct": {"conv1": _p(0.0), "conv2": _p(0.0), "local3": _p(0.004), "local4": _p(0.004),
                                "fc10": _p(0.004)},
    "layers-conv-local-11pct": {"conv1": _p(0.0), "conv2": _p(0.0), "local3": _p(0.004), "local4": _p(0.004),
                                "fc10": _p(0.01)},
}
LAYER_PARAMS["layers-conv-local-11pct-no-rnorm"] = LAYER_PARAMS["layers-conv-local-11pct"]

# What the files' comments and the wiki's Methodology page say about the schedule (epsW cuts are by 10, all layers).
SCHEDULES: dict[str, str] = {
    "layers-80sec": "reduce the learning rate by 10 after 8 epochs (params file)",
    "layers-19pct": "no schedule given; 'Set wc to 0 for translations -- 14.2%' (params file)",
    "layers-conv-local-13pct": "train on batches 1-4 (~100 epochs, batch 5 validates), then 1-5 until batch 5's "
                               "training cost matches (~40 more), then epsW/10 for 10 epochs, /10 again for 10; "
                               "test on 10 views (4 corners + centre, and flips) (wiki Methodology)",
    "layers-conv-local-11pct": "batches 1-4 for ~350 epochs, fold in batch 5 for ~150 more, then epsW 0.0001 for 10 "
                               "epochs and 0.00001 for 10; test on the 10 views (params file)",
}
SCHEDULES["layers-conv-local-11pct-no-rnorm"] = SCHEDULES["layers-conv-local-11pct"]

DEFAULT_INPUT = {"layers-80sec": 32, "layers-19pct": 32, "layers-conv-local-13pct": 24,
                 "layers-conv-local-11pct": 24, "layers-conv-local-11pct-no-rnorm": 24}


def _require(ok: bool, name: str, value, allowed: str) -> None:
    if not ok:
        raise ValueError(f"{name}={value!r} is impossible; {allowed}")


@dataclass(frozen=True)
class ConvNet4Config:
    """One of cuda-convnet's CIFAR-10 nets. input_size 0 means the layer file's own (32, or 24 for the conv-local
    nets' crops); the locally connected layers' weights depend on it."""

    layers: str = "layers-80sec"
    activation: str = "relu"  # relu: the file; tanh: Figure 1's "equivalent network with tanh neurons"
    num_classes: int = 10
    input_size: int = 0
    channels: int = 3

    def __post_init__(self) -> None:
        _require(self.layers in LAYERS, "layers", self.layers, f"choose one of {list(LAYERS)}")
        _require(self.activation in ACTIVATIONS, "activation", self.activation, f"choose one of {list(ACTIVATIONS)}")
        _require(self.num_classes >= 1, "num_classes", self.num_classes, "it must be >= 1")
        if self.input_size == 0:
            object.__setattr__(self, "input_size", DEFAULT_INPUT[self.layers])
        feature_sizes(self)  # raises when input_size is too small for the pools

    @property
    def layer_table(self) -> tuple:
        return LAYERS[self.layers]

    @property
    def layer_params(self) -> dict[str, LayerParams]:
        """The layer-params file's SGD settings per weight layer (a trainer's per-layer groups)."""
        return LAYER_PARAMS[self.layers]


def conv_side(size: int, layer: ConvLayer) -> int:
    return 1 + math.ceil((2 * layer.padding + size - layer.filter_size) / layer.stride)


def pool_side(size: int, layer: PoolLayer) -> int:
    return math.ceil((size - layer.size_x) / layer.stride) + 1


def feature_sizes(config: ConvNet4Config) -> dict[str, tuple[int, int]]:
    """(channels, side) after every layer, by cuda-convnet's formulas; fc layers give (units, 1)."""
    channels, side = config.channels, config.input_size
    out: dict[str, tuple[int, int]] = {}
    for layer in config.layer_table:
        if isinstance(layer, ConvLayer):
            _require(side + 2 * layer.padding >= layer.filter_size, "input_size", config.input_size,
                     f"{layer.name} needs a larger input")
            channels, side = layer.filters, conv_side(side, layer)
        elif isinstance(layer, PoolLayer):
            _require(side >= layer.size_x, "input_size", config.input_size, f"{layer.name} needs a larger input")
            side = pool_side(side, layer)
        elif isinstance(layer, FCLayer):
            channels, side = layer.outputs or config.num_classes, 1
        out[layer.name] = (channels, side)
    return out
