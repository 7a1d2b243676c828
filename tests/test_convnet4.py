"""cuda-convnet's CIFAR-10 nets (Figure 1, section 3.3): parameter counts from the layer files, shapes, the
locally connected layer, cmrnorm, pooling, the tanh switch, init and the layer-params groups."""

import time

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from alexnet_repro.models.convnet4 import ConvNet4, LocallyConnected2d, convnet4, export_config
from alexnet_repro.models.convnet4_spec import LAYER_FILES, ConvNet4Config, feature_sizes


def n_params(model):
    return sum(p.numel() for p in model.parameters())


# Weights + biases of each [layer] of the layer files. conv: filterSize^2 * channels * filters, one bias per filter
# (sharedBiases=1). local: the same per output position (modulesX^2 of them), and one bias per filter *and*
# position (cuda-convnet's LocalUnsharedLayerParser: make_biases(modules * filters)). fc: inputs * outputs + outputs.
HAND_COUNTS = {
    "layers-80sec": (
        5 * 5 * 3 * 32 + 32            # [conv1] 3 -> 32 filters, filterSize=5
        + 5 * 5 * 32 * 32 + 32         # [conv2] 32 -> 32
        + 5 * 5 * 32 * 64 + 64         # [conv3] 32 -> 64
        + (64 * 4 * 4) * 64 + 64       # [fc64] reads pool3: 64 maps of 4x4 (32 -> 16 -> 8 -> 4, ceil mode)
        + 64 * 10 + 10                 # [fc10]
    ),
    "layers-19pct": (
        5 * 5 * 3 * 32 + 32            # [conv1]
        + 5 * 5 * 32 * 32 + 32         # [conv2]
        + 5 * 5 * 32 * 64 + 64         # [conv3]
        + (64 * 4 * 4) * 10 + 10       # [fc10] reads pool3 directly
    ),
    "layers-conv-local-13pct": (
        5 * 5 * 3 * 64 + 64                        # [conv1] 3 -> 64
        + 5 * 5 * 64 * 64 + 64                     # [conv2] 64 -> 64
        + 6 * 6 * (3 * 3 * 64 * 32) + 6 * 6 * 32   # [local3] 64 -> 32 at each of 6x6 positions (24 -> 12 -> 6)
        + 6 * 6 * (3 * 3 * 32 * 32) + 6 * 6 * 32   # [local4] 32 -> 32 at 6x6
        + (32 * 6 * 6) * 10 + 10                   # [fc10] reads local4's 32 maps of 6x6
    ),
    "layers-conv-local-11pct": (
        5 * 5 * 3 * 64 + 64                        # [conv1]
        + 5 * 5 * 64 * 64 + 64                     # [conv2]; [rnorm1], [rnorm2] have no parameters
        + 6 * 6 * (3 * 3 * 64 * 64) + 6 * 6 * 64   # [local3] 64 -> 64 (filters=64 in this file)
        + 6 * 6 * (3 * 3 * 64 * 32) + 6 * 6 * 32   # [local4] 64 -> 32
        + (32 * 6 * 6) * 10 + 10                   # [fc10]
    ),
}


@pytest.mark.parametrize("layers", LAYER_FILES)
def test_parameter_counts_equal_the_layer_files(layers):
    assert n_params(convnet4(layers)) == HAND_COUNTS[layers]


def test_parameter_counts_as_numbers():
    # The same arithmetic, evaluated, for the docs (docs/paper.md quotes these).
    assert HAND_COUNTS == {"layers-80sec": 145_578, "layers-19pct": 89_578,
                           "layers-conv-local-13pct": 1_116_490, "layers-conv-local-11pct": 2_112_970}


def test_the_no_rnorm_control_is_11pct_without_cmrnorm():
    control, n11 = convnet4("layers-conv-local-11pct-no-rnorm"), convnet4("layers-conv-local-11pct")
    assert list(control.features._modules) == [n for n in n11.features._modules if not n.startswith("rnorm")]
    assert n_params(control) == HAND_COUNTS["layers-conv-local-11pct"]  # cmrnorm has no parameters
    assert control.spec.layer_params == n11.spec.layer_params


@pytest.mark.parametrize("layers, side", [("layers-80sec", 32), ("layers-19pct", 32),
                                          ("layers-conv-local-13pct", 24), ("layers-conv-local-11pct", 24)])
def test_input_size_and_output_shape(layers, side):
    net = convnet4(layers).eval()
    assert net.spec.input_size == side  # whole 32x32 images, or the conv-local nets' 24x24 crops
    with torch.no_grad():
        assert net(torch.randn(3, 3, side, side)).shape == (3, 10)


@pytest.mark.parametrize("layers", LAYER_FILES)
def test_every_layer_has_cuda_convnets_output_size(layers):
    """Each torch layer's output equals cuda-convnet's formulas (conv: 1 + ceil((2p + S - f) / stride); pool:
    ceil((S - sizeX) / stride) + 1), which is what ceil_mode=True buys."""
    net = convnet4(layers).eval()
    expected = feature_sizes(net.spec)
    x = torch.randn(2, 3, net.spec.input_size, net.spec.input_size)
    with torch.no_grad():
        for name, module in net.features.named_children():
            x = module(x)
            if name in expected:
                channels, side = expected[name]
                assert x.shape[1:] == ((channels, side, side) if x.dim() == 4 else (channels,)), name
    assert {k: v for k, v in expected.items() if k.startswith("pool")} == (
        {"pool1": (32, 16), "pool2": (32, 8), "pool3": (64, 4)} if "sec" in layers or "19" in layers
        else {"pool1": (64, 12), "pool2": (64, 6)})


@pytest.mark.parametrize("layers", LAYER_FILES)
def test_channels_last_gives_the_same_logits(layers):
    """trainer channels_last (about 1.3x faster on a CPU, mostly max-pooling) changes the layout, not the function."""
    torch.manual_seed(0)
    net = convnet4(layers).eval()
    x = 60 * torch.randn(4, 3, net.spec.input_size, net.spec.input_size)
    with torch.no_grad():
        expected = net(x)
        net.to(memory_format=torch.channels_last)
        got = net(x.contiguous(memory_format=torch.channels_last))
    torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-5)


def slow_local(x, weight, bias, k, padding, stride):
    """Locally connected layer, one output position at a time: y[b, o, i, j] = bias + sum over the (c, ky, kx)
    patch at (i, j) of the zero-padded input times position (i, j)'s own kernel."""
    b, c, h, w = x.shape
    xp = F.pad(x, (padding,) * 4)
    side = (h + 2 * padding - k) // stride + 1
    out = torch.zeros(b, weight.shape[2], side, side, dtype=x.dtype)
    for i in range(side):
        for j in range(side):
            patch = xp[:, :, i * stride:i * stride + k, j * stride:j * stride + k].reshape(b, -1)  # (B, c*k*k)
            out[:, :, i, j] = patch @ weight[i * side + j]  # weight[l]: (c*k*k, out)
    return out + (bias[:, None, None] if bias.dim() == 1 else bias)


@pytest.mark.parametrize("padding, stride, shared", [(1, 1, False), (0, 1, False), (1, 2, True), (0, 2, False)])
def test_locally_connected_equals_the_slow_loop(padding, stride, shared):
    torch.manual_seed(0)
    layer = LocallyConnected2d(3, 4, 7, 3, padding=padding, stride=stride, shared_biases=shared).double()
    with torch.no_grad():
        layer.bias.normal_()
    x = torch.randn(2, 3, 7, 7, dtype=torch.float64)
    expected = slow_local(x, layer.weight, layer.bias, 3, padding, stride)
    torch.testing.assert_close(layer(x), expected)


def test_locally_connected_weights_are_not_shared():
    """Changing one position's kernel moves that position's outputs only (a conv would move all of them)."""
    torch.manual_seed(0)
    layer = LocallyConnected2d(2, 3, 5, 3, padding=1).double()
    x = torch.randn(1, 2, 5, 5, dtype=torch.float64)
    before = layer(x).detach()
    with torch.no_grad():
        layer.weight[7] += 1.0  # position (1, 2) of the 5x5 output
    changed = (layer(x).detach() != before).any(dim=1)[0]
    assert changed.nonzero().tolist() == [[1, 2]]
    assert layer.bias.shape == (3, 5, 5)  # one bias per filter and position, as cuda-convnet's local layers
    with pytest.raises(ValueError, match="5x5 positions"):
        layer(torch.randn(1, 2, 6, 6, dtype=torch.float64))  # the weights are tied to the input's size


@pytest.mark.parametrize("size", [9, 4])
def test_cmrnorm_equals_the_formula(size):
    """cuda-convnet's kFCNorm: b_i = a_i (1 + scale/size * sum_{j = i - size//2}^{i - size//2 + size - 1} a_j^2)^-pow,
    j clipped to [0, C). The 11pct file's rnorm1/rnorm2: size 9, scale 0.001, pow 0.75."""
    from alexnet_repro.models.convnet4 import cmrnorm
    from alexnet_repro.models.convnet4_spec import CMRNormLayer

    torch.manual_seed(0)
    scale, pw = 0.001, 0.75
    layer = cmrnorm(CMRNormLayer("rnorm", size, scale=scale, pow=pw))
    a = 40 * torch.randn(2, 16, 3, 3, dtype=torch.float64)  # large enough that the window sum matters
    expected = torch.empty_like(a)
    n = a.shape[1]
    for i in range(n):
        start = i - size // 2
        s = sum(a[:, j] ** 2 for j in range(max(0, start), min(n, start + size)))
        expected[:, i] = a[:, i] / (1 + scale / size * s) ** pw
    torch.testing.assert_close(layer(a), expected)
    divisor = a / expected  # far from 1 and far from constant: the window sum matters in this test
    assert divisor.max() > 2 and divisor.std() > 0.2


def test_11pct_is_13pct_plus_two_cmrnorm_layers():
    n13, n11 = convnet4("layers-conv-local-13pct"), convnet4("layers-conv-local-11pct")
    names13, names11 = list(n13.features._modules), list(n11.features._modules)
    assert [name for name in names11 if name not in names13] == ["rnorm1", "rnorm2"]
    assert names11.index("rnorm1") == names11.index("pool1") + 1  # after pool1
    assert names11.index("rnorm2") == names11.index("conv2_neuron") + 1  # after conv2's relu, before pool2
    assert (n13.features.local3.out_channels, n11.features.local3.out_channels) == (32, 64)


def test_avg_pool_divides_by_the_clipped_window():
    """cuda-convnet's AvgPooler divides by the pixels inside the image; so does torch with ceil_mode and pad 0."""
    x = torch.arange(64.0).reshape(1, 1, 8, 8)
    y = nn.AvgPool2d(3, 2, ceil_mode=True)(x)
    assert y.shape[-1] == 4  # ceil((8 - 3) / 2) + 1
    assert y[0, 0, 3, 3] == x[0, 0, 6:8, 6:8].mean()  # the last window holds 2x2 pixels, not 3x3


@pytest.mark.parametrize("layers", LAYER_FILES)
def test_tanh_switch_changes_only_the_activation(layers):
    torch.manual_seed(1)
    relu = convnet4(layers, activation="relu")
    torch.manual_seed(1)
    tanh = convnet4(layers, activation="tanh")
    r, t = relu.state_dict(), tanh.state_dict()
    assert r.keys() == t.keys() and all(torch.equal(r[k], t[k]) for k in r)  # same weights, same init
    rm, tm = dict(relu.features.named_children()), dict(tanh.features.named_children())
    assert list(rm) == list(tm)
    for name in rm:
        if name.endswith("_neuron"):
            assert (type(rm[name]), type(tm[name])) == (nn.ReLU, nn.Tanh), name
        else:
            assert type(rm[name]) is type(tm[name]) and repr(rm[name]) == repr(tm[name]), name
    # The neurons sit where the file says neuron=relu; 80sec's first one is on pool1, after the max.
    neurons = [name[:-7] for name in rm if name.endswith("_neuron")]
    assert neurons == {"layers-80sec": ["pool1", "conv2", "conv3", "fc64"],
                       "layers-19pct": ["pool1", "conv2", "conv3"]}.get(layers, ["conv1", "conv2", "local3", "local4"])


@pytest.mark.parametrize("layers, expected", [
    ("layers-80sec", {"conv1": 1e-4, "conv2": 0.01, "conv3": 0.01, "fc64": 0.1, "fc10": 0.1}),
    ("layers-conv-local-11pct", {"conv1": 1e-4, "conv2": 0.01, "local3": 0.04, "local4": 0.04, "fc10": 0.01}),
])
def test_init_follows_initW_and_zero_biases(layers, expected):
    torch.manual_seed(0)
    layers_by_name = convnet4(layers).named_weight_layers()
    assert set(layers_by_name) == set(expected)
    for name, module in layers_by_name.items():
        std = module.weight.detach().std().item()
        assert abs(std / expected[name] - 1) < 0.1, (name, std)
        assert not module.bias.detach().any(), name


def test_param_groups_carry_the_layer_params_file():
    net = convnet4("layers-conv-local-11pct")
    groups = {g["name"]: g for g in net.param_groups()}
    assert sum(p.numel() for g in groups.values() for p in g["params"]) == n_params(net)  # each parameter once
    assert (groups["fc10.weight"]["weight_decay"], groups["conv1.weight"]["weight_decay"]) == (0.01, 0.0)
    assert (groups["local3.weight"]["lr"], groups["local3.bias"]["lr"], groups["local3.bias"]["weight_decay"]) == \
        (0.001, 0.002, 0.0)
    assert {g["momentum"] for g in groups.values()} == {0.9}
    # One step of torch's SGD with these groups moves every parameter.
    torch.manual_seed(0)
    opt = torch.optim.SGD(net.param_groups(), lr=0.0)
    before = [p.detach().clone() for p in net.parameters()]
    F.cross_entropy(net(torch.randn(4, 3, 24, 24) * 60), torch.arange(4)).backward()
    opt.step()
    assert all(not torch.equal(b, p) for b, p in zip(before, net.parameters()))


def test_config_checks_and_round_trip():
    with pytest.raises(ValueError, match="layers="):
        ConvNet4Config(layers="layers-18pct")
    with pytest.raises(ValueError, match="activation="):
        ConvNet4Config(activation="sigmoid")
    with pytest.raises(ValueError, match="input_size="):
        ConvNet4Config(layers="layers-80sec", input_size=4)
    net = convnet4("layers-conv-local-13pct", activation="tanh")
    again = ConvNet4(ConvNet4Config(**export_config(net)))
    assert again.spec == net.spec and n_params(again) == n_params(net)
    assert convnet4("layers-conv-local-13pct", input_size=32).features.local3.out_side == 8  # whole images: 8x8


def images_per_second(net, x, y, rounds=3, steps=2):
    """Best of `rounds` timings of `steps` SGD steps (forward, backward, update): other work only slows a round."""
    opt = torch.optim.SGD(net.param_groups(), lr=0.0)

    def step():
        opt.zero_grad(set_to_none=True)
        F.cross_entropy(net(x), y).backward()
        opt.step()

    step()
    best = 0.0
    for _ in range(rounds):
        start = time.perf_counter()
        for _ in range(steps):
            step()
        best = max(best, steps * len(x) / (time.perf_counter() - start))
    return best


@pytest.mark.slow
@pytest.mark.parametrize("layers", LAYER_FILES)
@pytest.mark.parametrize("activation", ["relu", "tanh"])
def test_training_speed_one_thread_batch_128(layers, activation, capsys):
    """Not an assertion: prints images/s of a training step at batch 128 on one thread, channels first and last."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    rates = {}
    try:
        for name, layout in (("channels_first", torch.contiguous_format), ("channels_last", torch.channels_last)):
            torch.manual_seed(0)
            net = convnet4(layers, activation=activation).train().to(memory_format=layout)
            side = net.spec.input_size
            x = (torch.randn(128, 3, side, side) * 60).contiguous(memory_format=layout)
            rates[name] = images_per_second(net, x, torch.randint(0, 10, (128,)))
    finally:
        torch.set_num_threads(threads)
    with capsys.disabled():
        print(f"\n{layers} {activation}: " + ", ".join(f"{k} {v:.0f}" for k, v in rates.items())
              + " images/s (one thread, batch 128)")
