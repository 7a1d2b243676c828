"""data.decoder=dali: the DALI pipeline (with DALI's CPU decoder, the one this machine has) serves the CPU
loader's images, labels and order, shards and resumes as it does, and refuses to run where it cannot."""

import sys

import pytest
import torch
from test_config import run_train

from alexnet_repro.data.dali_loader import DaliLoader, DecoderUnavailable, check_dali
from alexnet_repro.data.dataset import StoreDataset
from alexnet_repro.data.samplers import EpochBatchSampler
from alexnet_repro.data.store import ShardReader
from conftest import data_overrides

pytest.importorskip("nvidia.dali", reason="the dali extra is part of the dev install; run `make setup`")


def _loaders(store, split, batch, shuffle, rank=0, world=1):
    reader = ShardReader(store, split)
    dali = DaliLoader(reader, EpochBatchSampler(len(reader), batch, shuffle, 7, rank, world), decoder_device="cpu",
                      threads=1)
    cpu = torch.utils.data.DataLoader(StoreDataset(store, split),
                                      batch_sampler=EpochBatchSampler(len(reader), batch, shuffle, 7, rank, world))
    return dali, cpu


@pytest.mark.parametrize("split, shuffle", [("train", True), ("val", False)])
def test_dali_batches_equal_the_cpu_loaders_pixel_for_pixel(tiny_data, split, shuffle):
    dali, cpu = _loaders(tiny_data["store"], split, 5, shuffle)  # 5 does not divide 64 or 24: a short last batch
    dali.batch_sampler.set_epoch(2)
    cpu.batch_sampler.set_epoch(2)
    pairs = list(zip(dali, cpu, strict=True))
    assert len(pairs) == len(dali) == len(cpu)
    for (images, labels), (ref_images, ref_labels) in pairs:
        assert images.dtype == torch.uint8 and images.shape == ref_images.shape
        assert images.is_contiguous(memory_format=torch.channels_last)  # what channels_last convs read
        assert torch.equal(labels, ref_labels)
        # both are libjpeg-turbo's integer IDCT with fancy upsampling: the same pixels
        assert (images.int() - ref_images.int()).abs().max() <= 1


def test_dali_shards_like_ddp_and_resumes_mid_epoch(tiny_data):
    store = tiny_data["store"]
    shares = [[lab for _, labels in _loaders(store, "train", 4, True, rank, 2)[0] for lab in labels.tolist()]
              for rank in (0, 1)]
    assert len(shares[0]) == len(shares[1]) == 32  # 64 images over 2 ranks: equal shares, every image once
    full, _ = _loaders(store, "train", 4, True)
    full.batch_sampler.set_epoch(1)
    batches = [labels for _, labels in full]
    resumed, _ = _loaders(store, "train", 4, True)
    resumed._resume_position = lambda: 3  # what Lightning's progress counter says after a restart
    resumed.load_state_dict({"epoch": 1})
    rest = [labels for _, labels in resumed]
    assert len(rest) == len(batches) - 3 and all(torch.equal(a, b) for a, b in zip(rest, batches[3:]))


def test_dali_without_cuda_or_a_jpeg_store_is_one_line_naming_the_way_out(monkeypatch):
    with pytest.raises(DecoderUnavailable, match="data.decoder=cpu"):
        check_dali(on_cuda=False, encoding="jpeg", image_size=256)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)  # pretend, to reach the store checks
    with pytest.raises(DecoderUnavailable, match="'raw'"):
        check_dali(on_cuda=True, encoding="raw", image_size=256)
    with pytest.raises(DecoderUnavailable, match="data.image_size=128"):
        check_dali(on_cuda=True, encoding="jpeg", image_size=128)
    check_dali(on_cuda=True, encoding="jpeg", image_size=256)
    monkeypatch.setitem(sys.modules, "nvidia.dali", None)  # as if the extra were not installed
    with pytest.raises(DecoderUnavailable, match=r"pip install -e '\.\[dali\]'"):
        check_dali(on_cuda=True, encoding="jpeg", image_size=256)


def test_train_with_dali_on_a_cpu_stops_before_touching_the_run_folder(tiny_data, tmp_path):
    result = run_train(*data_overrides(tiny_data), "data.decoder=dali", f"hydra.run.dir={tmp_path}")
    assert result.returncode == 2, result.stderr[-2000:]
    assert "data.decoder=dali" in result.stderr and len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert not (tmp_path / "run_config.json").exists() and not (tmp_path / "checkpoints").exists()


def test_an_epoch_stopped_early_does_not_leak_its_decoded_batch_into_the_next(tiny_data):
    dali, cpu = _loaders(tiny_data["store"], "train", 8, True)
    for step, _ in enumerate(dali):  # one batch is always decoding ahead: stopping leaves it in the pipeline
        if step == 1:
            break
    dali.batch_sampler.set_epoch(1)
    cpu.batch_sampler.set_epoch(1)
    for (images, labels), (ref_images, ref_labels) in zip(dali, cpu, strict=True):
        # the labels come from the sampler either way: only the pixels show a stale batch
        assert torch.equal(labels, ref_labels) and (images.int() - ref_images.int()).abs().max() <= 1
