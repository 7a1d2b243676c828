"""The loader: uint8 256x256 images, disjoint training shares, validation seen exactly once under DDP."""

import itertools

import pytest
import torch

from alexnet_repro.data.datamodule import loader_workers
from alexnet_repro.data.dataset import StoreDataset, collate_channels_last
from alexnet_repro.data.samplers import EpochBatchSampler


def test_dataset_yields_uint8_256(tiny_data):
    ds = StoreDataset(str(tiny_data["store"]), "train")
    image, label = ds[0]
    assert image.dtype == torch.uint8 and image.shape == (3, 256, 256)
    assert 0 <= label < 4 and len(ds) == 64


@pytest.mark.parametrize("n, world", [(24, 2), (25, 2), (101, 3), (7, 8)])
def test_validation_partition_covers_every_image_exactly_once(n, world):
    seen = []
    for rank in range(world):
        sampler = EpochBatchSampler(n, batch_size=4, shuffle=False, seed=0, rank=rank, world=world)
        batches = list(sampler)
        assert len(batches) == len(sampler)
        seen += list(itertools.chain(*batches))
    assert sorted(seen) == list(range(n))


@pytest.mark.parametrize("n, world", [(64, 2), (65, 2), (10, 3)])
def test_training_shares_are_equal_and_reshuffled_each_epoch(n, world):
    samplers = [EpochBatchSampler(n, batch_size=4, shuffle=True, seed=1, rank=r, world=world) for r in range(world)]
    lengths = {len(list(s)) for s in samplers}
    assert len(lengths) == 1  # every rank steps the same number of times
    epoch0 = [list(itertools.chain(*s)) for s in samplers]
    assert set(itertools.chain(*epoch0)) == set(range(n))
    if n % world == 0:
        assert sorted(itertools.chain(*epoch0)) == list(range(n))  # disjoint
    for s in samplers:
        s.set_epoch(1)
    epoch1 = [list(itertools.chain(*s)) for s in samplers]
    assert epoch0 != epoch1


def test_resume_skips_the_batches_already_trained_on():
    full = list(EpochBatchSampler(40, batch_size=4, shuffle=True, seed=0))
    resumed = EpochBatchSampler(40, batch_size=4, shuffle=True, seed=0)
    resumed.resume_position = lambda: 3
    assert list(resumed) == full[3:]
    assert list(resumed) == full  # only the first epoch after a restart is shortened


def test_a_smaller_side_is_decoded_at_that_scale_close_to_averaging_the_full_image(tiny_data):
    """data.image_size=128: libjpeg's DCT scaling, about what 2x2 block averages of the 256 image give."""
    from alexnet_repro.data.store import downscale

    full, _ = StoreDataset(str(tiny_data["store"]), "val")[3]
    half, _ = StoreDataset(str(tiny_data["store"]), "val", side=128)[3]
    assert half.shape == (3, 128, 128) and half.dtype == torch.uint8
    averaged = torch.from_numpy(downscale(full.permute(1, 2, 0).numpy(), 128)).permute(2, 0, 1)
    assert (half.float() - averaged.float()).abs().mean() < 4  # of 255: the same picture
    with pytest.raises(ValueError, match="100x100"):
        StoreDataset(str(tiny_data["store"]), "val", side=100)[0]


def test_in_memory_serves_exactly_what_decoding_each_time_serves(tiny_data):
    streamed = StoreDataset(str(tiny_data["store"]), "train", side=128)
    held = StoreDataset(str(tiny_data["store"]), "train", side=128, in_memory=True)
    assert held.decoded.shape == (len(streamed), 128, 128, 3)
    for i in (0, 17, len(streamed) - 1):
        assert torch.equal(held[i][0], streamed[i][0]) and held[i][1] == streamed[i][1]
    # a subset (minival, or the training part beside it) and a second dataset of the same store read the one
    # decoded copy this process holds: a worker running many trainings decodes the store once
    part = StoreDataset(str(tiny_data["store"]), "train", side=128, in_memory=True, indices=[17, 3])
    assert part.decoded is held.decoded and torch.equal(part[0][0], streamed[17][0]) and part[1][1] == streamed[3][1]


def test_auto_workers_share_the_nodes_cores_among_its_devices():
    assert loader_workers("auto", 1, cores=16) == 15  # one core left for the training process
    assert loader_workers("auto", 2, cores=16) == 7
    assert loader_workers("auto", 8, cores=4) == 1  # never none
    assert loader_workers(3, 2, cores=16) == 3  # a number is per device, as given


def test_batches_are_the_same_images_with_channels_last_in_memory(tiny_data):
    ds = StoreDataset(str(tiny_data["store"]), "val")
    samples = [ds[i] for i in (0, 5, 9)]
    images, labels = collate_channels_last(samples)
    reference, ref_labels = torch.utils.data.default_collate(samples)
    assert images.shape == (3, 3, 256, 256) and images.is_contiguous(memory_format=torch.channels_last)
    assert torch.equal(images, reference) and torch.equal(labels, ref_labels) and labels.dtype == torch.int64


def test_a_workers_batch_is_stacked_straight_into_shared_memory(tiny_data, monkeypatch):
    ds = StoreDataset(str(tiny_data["store"]), "val")
    samples = [ds[i] for i in (0, 5, 9)]
    assert not collate_channels_last(samples)[0].is_shared()  # in the main process: ordinary memory
    monkeypatch.setattr(torch.utils.data, "get_worker_info", lambda: object())  # as inside a loader worker
    images, _ = collate_channels_last(samples)
    assert images.is_shared() and images.is_contiguous(memory_format=torch.channels_last)
    assert torch.equal(images, torch.utils.data.default_collate(samples)[0])


def test_lightning_sets_each_epochs_order():
    """Lightning calls set_epoch on loader.sampler and loader.batch_sampler.sampler, never on the batch sampler
    itself: EpochBatchSampler stayed at epoch 0, and every epoch of every run trained on the same order."""
    from lightning.fabric.utilities.data import _set_sampler_epoch

    from alexnet_repro.data.samplers import EpochBatchSampler, ResumableLoader

    sampler = EpochBatchSampler(40, 8, shuffle=True, seed=0)
    loader = ResumableLoader(list(range(40)), batch_sampler=sampler, resume_position=lambda: 0)
    first = list(sampler)
    _set_sampler_epoch(loader, 1)
    assert sampler.epoch == 1 and list(sampler) != first
