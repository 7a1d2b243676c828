"""On-device augmentation: crop/flip geometry, ten-crop, lighting and mean-subtraction arithmetic."""

import numpy as np
import pytest
import torch
from torchvision.transforms import v2

from alexnet_repro import transforms as T
from alexnet_repro.data.pixel_stats import PixelStats
from alexnet_repro.training.config import AugmentConfig


def random_crop_and_flip(images: torch.Tensor, size: int, flip: bool, generator=None) -> torch.Tensor:
    """Section 4.1: a random size x size patch of each image, mirrored with probability 1/2."""
    b, _, h, w = images.shape
    return T.crop_and_flip(images, *T.random_patches(b, h, w, size, flip, generator), size)


def test_the_gather_cuts_exactly_the_patches_the_loop_cuts():
    x = torch.randint(0, 256, (6, 3, 20, 24), dtype=torch.uint8)
    patch = T.random_patches(6, 20, 24, 9, flip=True, generator=torch.Generator().manual_seed(1))
    assert any(patch[2]) and not all(patch[2])  # both kinds, mirrored and not
    rows, cols = T.patch_indices(*patch, 9, x.device)
    gathered = T.gather_patches(x, rows, cols)
    assert torch.equal(gathered, T.crop_and_flip(x, *patch, 9))
    assert gathered.is_contiguous(memory_format=torch.channels_last)  # what the convs read: no copy in layout()
    mean = torch.rand(3, 20, 24)
    assert torch.equal(T.gather_patches(mean, rows, cols), T.crop_and_flip(mean.expand(6, 3, 20, 24), *patch, 9))
    assert T.gather_patches(x.contiguous(memory_format=torch.channels_last), rows, cols).equal(gathered)


def test_crop_and_flip_take_the_requested_patch():
    x = torch.arange(2 * 3 * 8 * 8).reshape(2, 3, 8, 8)
    out = T.crop_and_flip(x, [1, 3], [2, 0], [False, True], 5)
    assert torch.equal(out[0], x[0, :, 1:6, 2:7])
    assert torch.equal(out[1], x[1, :, 3:8, 0:5].flip(-1))


def test_random_crops_stay_inside_and_vary():
    x = torch.rand(64, 3, 256, 256)
    out = random_crop_and_flip(x, 227, flip=True, generator=torch.Generator().manual_seed(0))
    assert out.shape == (64, 3, 227, 227)
    # each output equals some patch of its input, possibly mirrored
    for i in range(4):
        found = any(torch.equal(out[i], p[:, t:t + 227, l:l + 227])
                    for p in (x[i], x[i].flip(-1)) for t in range(30) for l in range(30))
        assert found
    assert len({tuple(out[i, 0, 0, :3].tolist()) for i in range(64)}) > 32


def test_ten_crop_matches_torchvision():
    x = torch.rand(3, 3, 256, 256)
    ours = T.ten_crop(x, 227)
    for i in range(3):
        theirs = torch.stack(v2.TenCrop(227)(x[i]))
        torch.testing.assert_close(ours[i], theirs)


def test_center_crop_is_centred():
    x = torch.rand(1, 3, 256, 256)
    assert torch.equal(T.center_crop(x, 227), x[..., 14:241, 14:241])


def test_lighting_shift_is_the_papers_formula():
    eigval = torch.tensor([0.2175, 0.0188, 0.0045])
    eigvec = torch.tensor([[-0.5675, 0.7192, 0.4009], [-0.5808, -0.0045, -0.8140], [-0.5836, -0.6948, 0.4203]])
    g = torch.Generator().manual_seed(1)
    shift = T.lighting_shift(5, eigval, eigvec, 0.1, generator=g)
    alpha = torch.randn(5, 3, generator=torch.Generator().manual_seed(1)) * 0.1
    for b in range(5):
        expected = eigvec @ (alpha[b] * eigval)  # [p1 p2 p3][a1 l1, a2 l2, a3 l3]^T
        torch.testing.assert_close(shift[b, :, 0, 0], expected)
    sqrt = T.lighting_shift(5, eigval, eigvec, 0.1, sqrt_eigenvalues=True, generator=torch.Generator().manual_seed(1))
    torch.testing.assert_close(sqrt[0, :, 0, 0], eigvec @ (alpha[0] * eigval.sqrt()))


def _presets(mean="image", lighting_std=0.0, input_scale=255.0):
    rng = np.random.default_rng(0)
    stats = PixelStats(np.array([0.4, 0.5, 0.6], np.float32), rng.random((256, 256, 3)).astype(np.float32),
                       np.array([0.2, 0.02, 0.005], np.float32), np.eye(3, dtype=np.float32))
    norm = T.Normalization(mean, input_scale, stats.mean_image, stats.mean_rgb)
    augment = AugmentConfig(random_crop=False, flip=False, lighting_std=lighting_std, lighting_sqrt_eigenvalues=False,
                            mean=mean, input_scale=input_scale)
    train = T.TrainPreset(norm, 227, stats.eigenvalues, stats.eigenvectors, augment)
    return train, T.EvalPreset(norm, 227), stats


@pytest.mark.parametrize("mean", ["image", "channel", "none"])
def test_mean_subtraction_and_scale(mean):
    train, evaluate, stats = _presets(mean=mean)
    images = torch.randint(0, 256, (2, 3, 256, 256), dtype=torch.uint8)
    ref = images.float() / 255
    if mean == "image":
        ref = ref - torch.from_numpy(stats.mean_image).permute(2, 0, 1)
    elif mean == "channel":
        ref = ref - torch.from_numpy(stats.mean_rgb)[:, None, None]
    ref = T.center_crop(ref * 255, 227)
    close = dict(rtol=1e-6, atol=1e-4)  # the presets fold 1/255 and the scale into one constant: float rounding
    torch.testing.assert_close(train(images), ref, **close)
    torch.testing.assert_close(evaluate(images), ref, **close)
    torch.testing.assert_close(evaluate(images, ten=True)[:, 4], ref, **close)  # the fifth of ten is the centre


def test_lighting_only_in_training_and_constant_per_image():
    train, evaluate, _ = _presets(mean="none", lighting_std=0.1, input_scale=1.0)
    images = torch.randint(0, 256, (4, 3, 256, 256), dtype=torch.uint8)
    plain = T.center_crop(images.float() / 255, 227)
    torch.testing.assert_close(evaluate(images), plain)
    delta = train(images) - plain
    assert delta.abs().sum() > 0
    torch.testing.assert_close(delta, delta[:, :, :1, :1].expand_as(delta))  # one RGB shift per image


def test_a_preset_already_on_the_device_is_not_moved_again():
    train, evaluate, _ = _presets()
    cpu = torch.device("cpu")
    assert train.on(cpu) is train and evaluate.on(cpu) is evaluate
    assert train.on(cpu).mean_tensor.device == cpu


@pytest.mark.parametrize("mean", ["image", "channel", "none"])
def test_the_patch_is_cut_before_the_float_work_with_exactly_the_papers_result(mean):
    """TrainPreset cuts uint8 patches first; the paper's order (lighting and mean on the whole image, then the
    patch) must give the very same numbers, draw for draw."""
    rng = np.random.default_rng(0)
    norm = T.Normalization(mean, 4.0, rng.random((128, 128, 3)).astype(np.float32), rng.random(3).astype(np.float32))
    vectors = np.linalg.qr(rng.normal(size=(3, 3)))[0].astype(np.float32)
    augment = AugmentConfig(random_crop=True, flip=True, lighting_std=0.1, lighting_sqrt_eigenvalues=False, mean=mean,
                            input_scale=4.0)
    preset = T.TrainPreset(norm, 115, np.array([0.2, 0.05, 0.01], np.float32), vectors, augment)
    images = torch.from_numpy(rng.integers(0, 256, (16, 3, 128, 128), dtype=np.uint8))
    torch.manual_seed(5)
    ours = preset(images)
    torch.manual_seed(5)
    shift = T.lighting_shift(16, preset.eigenvalues, preset.eigenvectors, 0.1)
    papers_order = random_crop_and_flip(preset.to_float(images, shift), 115, flip=True)
    assert torch.equal(ours, papers_order) and ours.is_contiguous()
    # On a CPU the patches take numpy's way (TrainPreset.patches_numpy); a GPU takes patches_torch: the
    # same operations in the same order, so the same numbers, mirrored patches and channels-last input too.
    patch = T.random_patches(16, 128, 128, 115, True)
    shift = T.lighting_shift(16, preset.eigenvalues, preset.eigenvectors, 0.1)
    channels_last = images.contiguous(memory_format=torch.channels_last)
    assert torch.equal(preset.patches_numpy(channels_last, patch, shift), preset.patches_torch(images, patch, shift))
    assert torch.equal(preset.patches_numpy(images, patch, None), preset.patches_torch(images, patch, None))
