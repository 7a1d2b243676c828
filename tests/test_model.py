"""The network of section 3.5: sizes, parameter counts, LRN, towers, initialisation."""

import pytest
import torch

from alexnet_repro.models import AlexNetConfig, LRNConfig, feature_map_sizes
from alexnet_repro.models.alexnet import AlexNet
from alexnet_repro.models.lrn import TowerLRN


def n_params(model):
    return sum(p.numel() for p in model.parameters())


@pytest.mark.parametrize("spec, expected", [
    (AlexNetConfig(), 60_965_224),  # the paper's two-tower net = Caffe's bvlc_alexnet
    (AlexNetConfig(towers=1), 62_378_344),  # same widths, no grouping
    (AlexNetConfig(input_size=224), 60_965_224),  # 224 with conv1 pad 2 gives the same sizes
])
def test_parameter_counts_match_the_paper(spec, expected):
    assert n_params(AlexNet(spec)) == expected


def test_one_gpu_net_halves_conv1_to_conv4_and_keeps_conv5_and_fc():
    net = AlexNet(AlexNetConfig(towers=1, half_kernels=True))
    widths = [getattr(net.features, name).out_channels for name in ("conv1", "conv2", "conv3", "conv4", "conv5")]
    assert widths == [48, 128, 192, 192, 256]
    assert (net.fc6.in_features, net.fc6.out_features, net.fc7.out_features) == (9216, 4096, 4096)
    # conv1 3*121*48+48, conv2 48*25*128+128, conv3 128*9*192+192, conv4 192*9*192+192, conv5 192*9*256+256
    conv = 17472 + 153728 + 221376 + 331968 + 442624
    assert n_params(net) == conv + 9216 * 4096 + 4096 + 4096 * 4096 + 4096 + 4096 * 1000 + 1000


@pytest.mark.parametrize("spec", [AlexNetConfig(), AlexNetConfig(towers=1, half_kernels=True),
                                  AlexNetConfig(input_size=224), AlexNetConfig(pool_kernel=2, pool_stride=2)])
def test_feature_maps_are_55_27_27_13_13_13_13_6(spec):
    sizes = feature_map_sizes(spec)
    assert list(sizes.values()) == [55, 27, 27, 13, 13, 13, 13, 6]
    net = AlexNet(spec).eval()
    x = torch.zeros(2, 3, spec.input_size, spec.input_size)
    shapes = {}
    for name, layer in net.features.named_children():
        x = layer(x)
        shapes[name] = x.shape[-1]
    assert [shapes[k] for k in ("conv1", "pool1", "conv2", "pool2", "conv3", "conv4", "conv5", "pool5")] == \
        list(sizes.values())
    assert net.forward_features(torch.zeros(2, 3, spec.input_size, spec.input_size)).shape == (2, 4096)


def lrn_by_formula(a, n, alpha, beta, k):
    """b[i] = a[i] / (k + alpha * sum_{j=max(0,i-n/2)}^{min(N-1,i+n/2)} a[j]^2)^beta, read literally."""
    channels = a.shape[1]
    out = torch.empty_like(a)
    for i in range(channels):
        lo, hi = max(0, i - n // 2), min(channels - 1, i + n // 2)
        out[:, i] = a[:, i] / (k + alpha * (a[:, lo:hi + 1] ** 2).sum(1)) ** beta
    return out


@pytest.mark.parametrize("alpha_over_n", [True, False])
def test_lrn_matches_the_formula_with_the_papers_constants(alpha_over_n):
    torch.manual_seed(0)
    a = torch.randn(2, 12, 5, 5) * 30  # large enough that the normalisation matters
    layer = TowerLRN(towers=1, size=5, alpha=1e-4, beta=0.75, k=2.0, alpha_over_n=alpha_over_n)
    effective_alpha = 1e-4 / 5 if alpha_over_n else 1e-4
    torch.testing.assert_close(layer(a), lrn_by_formula(a, 5, effective_alpha, 0.75, 2.0), rtol=1e-5, atol=1e-6)
    # and the two conventions really differ
    other = lrn_by_formula(a, 5, 1e-4 if alpha_over_n else 1e-4 / 5, 0.75, 2.0)
    assert not torch.allclose(layer(a), other, rtol=1e-3)


def test_lrn_equals_torch_local_response_norm_per_tower():
    a = torch.randn(3, 16, 7, 7) * 50
    ours = TowerLRN(towers=2, size=5, alpha=1e-4, beta=0.75, k=2.0)(a)
    torch_lrn = torch.nn.LocalResponseNorm(5, alpha=1e-4, beta=0.75, k=2.0)
    expected = torch.cat([torch_lrn(a[:, :8]), torch_lrn(a[:, 8:])], dim=1)
    torch.testing.assert_close(ours, expected, rtol=1e-5, atol=1e-5)


def test_lrn_does_not_leak_across_towers():
    a = torch.rand(1, 8, 3, 3)
    layer = TowerLRN(towers=2, size=5, alpha=1.0, beta=0.75, k=2.0)
    b = a.clone()
    b[:, 4:] *= 100  # tower 2's activity changes...
    torch.testing.assert_close(layer(a)[:, :4], layer(b)[:, :4])  # ...tower 1's output does not
    whole = TowerLRN(towers=1, size=5, alpha=1.0, beta=0.75, k=2.0)
    assert not torch.allclose(whole(a)[:, :4], whole(b)[:, :4])  # without towers it would


def test_grouped_layers_keep_towers_apart():
    net = AlexNet(AlexNetConfig(width=0.125))
    assert [getattr(net.features, n).groups for n in ("conv1", "conv2", "conv3", "conv4", "conv5")] == [1, 2, 1, 2, 2]


def test_initialisation_follows_section_5():
    torch.manual_seed(0)
    net = AlexNet(AlexNetConfig())
    layers = {**{n: getattr(net.features, n) for n in ("conv1", "conv2", "conv3", "conv4", "conv5")},
              "fc6": net.fc6, "fc7": net.fc7, "fc8": net.fc8}
    for name, layer in layers.items():
        assert abs(layer.weight.mean().item()) < 1e-3
        assert layer.weight.std().item() == pytest.approx(0.01, rel=0.05), name
        expected_bias = 1.0 if name in {"conv2", "conv4", "conv5", "fc6", "fc7"} else 0.0
        assert torch.all(layer.bias == expected_bias), name
    caffe = AlexNet(AlexNetConfig(init="caffe", width=0.125))
    assert torch.all(caffe.fc6.bias == 0.1) and torch.all(caffe.features.conv1.bias == 0)


def test_activation_and_dropout_switches():
    tanh = AlexNet(AlexNetConfig(activation="tanh", dropout=0.0, lrn=LRNConfig(enabled=False), width=0.125))
    kinds = {type(m).__name__ for m in tanh.modules()}
    assert "Tanh" in kinds and "ReLU" not in kinds and "TowerLRN" not in kinds
    assert "TowerLRN" in {type(m).__name__ for m in AlexNet(AlexNetConfig(width=0.125)).modules()}
    assert tanh.drop6.p == 0.0
    with pytest.raises(ValueError, match="activation='sigmoid'"):
        AlexNet(AlexNetConfig(activation="sigmoid"))


def test_width_multiplier_keeps_towers_equal():
    net = AlexNet(AlexNetConfig(width=0.25, num_classes=10))
    assert [getattr(net.features, n).out_channels for n in ("conv1", "conv2", "conv3", "conv4", "conv5")] == [24, 64, 96, 96, 64]
    assert net(torch.zeros(1, 3, 227, 227)).shape == (1, 10)


def test_the_factory_builds_the_papers_net_and_models_import_only_torch():
    import ast
    import sys
    from pathlib import Path

    from alexnet_repro.models.alexnet import alexnet, export_config

    net = alexnet(1000)
    assert n_params(net) == 60_965_224
    assert n_params(alexnet(1000, towers=1)) == 62_378_344
    rebuilt = AlexNet(AlexNetConfig(**export_config(net)))
    assert n_params(rebuilt) == 60_965_224 and rebuilt.spec == net.spec
    folder = Path(__file__).resolve().parents[1] / "src" / "alexnet_repro" / "models"
    imported = set()
    for path in folder.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                imported |= {a.name.split(".")[0] for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module:
                imported.add(node.module if node.module.startswith("alexnet_repro") else node.module.split(".")[0])
    outside = {m for m in imported if m != "torch" and m not in sys.stdlib_module_names
               and not m.startswith("alexnet_repro.models")}
    assert not outside, f"models/ must import only torch and the standard library, found {outside}"


def test_pre_logits_are_fc7_and_logits_follow():
    net = AlexNet(AlexNetConfig(width=0.125, num_classes=7)).eval()
    x = torch.randn(2, 3, 227, 227)
    fc7 = net.forward_features(x)
    assert torch.equal(net.forward_head(fc7, pre_logits=True), fc7)
    torch.testing.assert_close(net.forward_head(fc7), net(x))


@pytest.mark.parametrize("switch, field", [(dict(dropout=1.0), "dropout"), (dict(towers=3), "towers"),
                                           (dict(lrn=dict(k=0.0)), "lrn.k"), (dict(pool_stride=4), "pool_stride"),
                                           (dict(input_size=63), "input_size"), (dict(input_size=228), "input_size")])
def test_impossible_model_configs_name_the_field(switch, field):
    with pytest.raises(ValueError, match=field.replace(".", r"\.")):
        AlexNetConfig(**switch)


def test_the_issues_one_liner_prints_the_papers_count():
    import subprocess
    import sys

    code = ("import alexnet_repro.models.alexnet as m; "
            "print(sum(p.numel() for p in m.alexnet(1000).parameters()))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.stdout.strip() == "60965224", out.stderr[-2000:]


def test_a_smaller_input_keeps_the_topology():
    """The embedded profile's 115-pixel crops: 27-13-6-2 feature maps where 227 gives 55-27-13-6."""
    spec = AlexNetConfig(input_size=115, width=0.25)
    assert feature_map_sizes(spec) == {"conv1": 27, "pool1": 13, "conv2": 13, "pool2": 6, "conv3": 6, "conv4": 6,
                                       "conv5": 6, "pool5": 2}
    net = AlexNet(spec)
    assert net(torch.zeros(2, 3, 115, 115)).shape == (2, 1000)


def test_the_lrn_gain_control_is_the_constant_lrn_tends_to_at_low_activity():
    """lrn_gain replaces LRN by k^-beta; on activations of this input scale real LRN is within 1% of it."""
    lrn = LRNConfig()
    control = AlexNet(AlexNetConfig(lrn=LRNConfig(constant_gain=True), width=0.25))
    assert control.features.norm1.gain == pytest.approx(2 ** -0.75)
    x = torch.randn(4, 24, 27, 27)  # unit-scale activity: alpha/n * sum a^2 is about 1e-4 against k = 2
    real = TowerLRN(2, lrn.size, lrn.alpha, lrn.beta, lrn.k)(x)
    torch.testing.assert_close(real, control.features.norm1(x), rtol=1e-3, atol=1e-4)


@pytest.mark.parametrize("size", [5, 4])
def test_lrn_gradient_is_the_formulas(size):
    """TowerLRN's hand-written backward against numerical differences (float64), odd and even windows, two towers;
    and against autograd through the formula read literally."""
    torch.manual_seed(0)
    a = (torch.randn(2, 8, 3, 3, dtype=torch.float64) * 3).requires_grad_()
    layer = TowerLRN(towers=2, size=size, alpha=1.0, beta=0.75, k=2.0)
    assert torch.autograd.gradcheck(layer, (a,))
    g = torch.randn(2, 8, 3, 3, dtype=torch.float64)
    ours, = torch.autograd.grad(layer(a), a, g)
    lo, hi = size // 2, (size - 1) // 2

    def literal(x):
        out = []
        for i in range(x.shape[1]):
            window = x[:, max(0, i - lo):min(x.shape[1], i + hi + 1)]
            out.append(x[:, i] / (2.0 + 1.0 / size * (window**2).sum(1)) ** 0.75)
        return torch.stack(out, 1)

    expected, = torch.autograd.grad(torch.cat([literal(a[:, :4]), literal(a[:, 4:])], 1), a, g)
    torch.testing.assert_close(ours, expected)


def test_lrn_gives_the_same_numbers_channels_last():
    """trainer.channels_last: TowerLRN works on the channels-last layout in place of copying to channels first; the
    sums are the same sums in the same order, so values and gradients are identical, and the layout is kept."""
    torch.manual_seed(0)
    a = torch.relu(torch.randn(2, 16, 5, 5)) * 30
    g = torch.randn(2, 16, 5, 5)
    layer = TowerLRN(towers=2, size=5, alpha=1e-4, beta=0.75, k=2.0)
    first = a.clone().requires_grad_()
    last = a.contiguous(memory_format=torch.channels_last).requires_grad_()
    out_first, out_last = layer(first), layer(last)
    assert out_last.is_contiguous(memory_format=torch.channels_last)
    (out_first * g).sum().backward()
    (out_last * g).sum().backward()
    assert torch.equal(out_first, out_last) and torch.equal(first.grad, last.grad)
