"""The training DataModule over the resized store.

Workers only read and decode: they yield uint8 (3, 256, 256) images and labels. Crops, reflections,
lighting and mean subtraction run on the batch on the device (transforms.py's presets, applied in
`on_after_batch_transfer`), so evaluation and training share one implementation and the CPU does the least
work per image.

Training reads the training split less its minival (data/minival.py); the held-out loader Lightning calls
"validation" reads minival, never the validation images (evaluate alone scores those). Batches are ordered by
data/samplers.py (distributed sampling is done there, not by Lightning: `use_distributed_sampler=False`).
"""

from __future__ import annotations

import os

import lightning as L
import numpy as np
import torch
from torch.utils.data import DataLoader

from alexnet_repro.data import minival
from alexnet_repro.data.config import DataConfig
from alexnet_repro.data.dataset import StoreDataset, collate_channels_last
from alexnet_repro.data.samplers import EpochBatchSampler, ResumableLoader
from alexnet_repro.data.store import ShardReader, read_info
from alexnet_repro.seeds import stream_seed
from alexnet_repro.transforms import EvalPreset, TrainPreset


def loader_workers(setting: int | str, local_devices: int, cores: int | None = None) -> int:
    """data.workers: a number per device, or "auto": this machine's usable cores shared by the devices on it,
    one core per device left for its training process (which feeds the device and runs the step)."""
    if setting != "auto":
        return int(setting)
    cores = cores or len(os.sched_getaffinity(0))
    return max(1, cores // local_devices - 1)


class StoreDataModule(L.LightningDataModule):
    def __init__(self, data: DataConfig, train_preset: TrainPreset, eval_preset: EvalPreset, seed: int):
        """data: the `data` group (store, batch, loader and minival settings)."""
        super().__init__()
        self.data, self.seed = data, seed
        self.train_preset, self.eval_preset = train_preset, eval_preset
        self.info = read_info(data.store_dir)
        reader = ShardReader(data.store_dir, "train")
        self.split = dict(zip(("train", "minival"), minival.split(reader.names, reader.labels,
                                                                   data.minival_per_class)))
        # One fixed permutation (not the run's seed): every seed of the control memorises the same labels.
        self.labels = np.random.default_rng(0).permutation(reader.labels) if data.shuffle_labels else None

    def on_after_batch_transfer(self, batch, dataloader_idx: int = 0):
        images, labels = batch
        trainer = self.trainer
        if trainer is not None and trainer.training:
            # This step's randomness (crops, flips, lighting, then dropout) is a function of (seed, step, rank)
            # alone, so a run resumed from any checkpoint draws exactly what an uninterrupted run would have.
            # Lightning moves the batch (this hook) before on_train_batch_start: seeding belongs here.
            torch.manual_seed(stream_seed(self.seed, "step", trainer.global_step, trainer.global_rank))
            return self.train_preset.on(images.device)(images), labels
        return self.eval_preset.on(images.device)(images), labels

    @property
    def num_classes(self) -> int:
        return self.info.num_classes

    def _world(self) -> tuple[int, int]:
        trainer = self.trainer
        return (trainer.global_rank, trainer.world_size) if trainer is not None else (0, 1)

    def per_device_batch(self) -> int:
        rank, world = self._world()
        if self.data.batch_size % world:
            raise ValueError(f"data.batch_size={self.data.batch_size} is not divisible by the {world} devices")
        return self.data.batch_size // world

    def _sampler(self, n: int, shuffle: bool) -> EpochBatchSampler:
        rank, world = self._world()
        sampler = EpochBatchSampler(n=n, batch_size=self.per_device_batch(), shuffle=shuffle, seed=self.seed,
                                    rank=rank, world=world)
        sampler.set_epoch(self._epoch_now())
        return sampler

    def _loader(self, part: str, shuffle: bool):
        """part: "train" or "minival", both records of the store's training split."""
        local_devices = self.trainer.num_devices if self.trainer is not None else 1
        workers = loader_workers(self.data.workers, local_devices)
        resume = self._batches_done_this_epoch if shuffle else None
        indices = self.split[part]
        if self.data.decoder == "dali":
            from alexnet_repro.data.dali_loader import DaliLoader  # an optional extra: imported only when asked

            reader = ShardReader(self.data.store_dir, "train")
            sampler = self._sampler(len(indices), shuffle)
            return DaliLoader(reader, sampler, device=self.trainer.strategy.root_device, threads=max(workers, 1),
                              resume_position=resume, indices=indices)
        dataset = StoreDataset(self.data.store_dir, "train", side=self.train_preset.image_size,
                               in_memory=self.data.in_memory, indices=indices, labels=self.labels)
        sampler = self._sampler(len(dataset), shuffle)
        # Pinned host memory, so the copy to the GPU is asynchronous (Lightning moves batches non_blocking).
        kwargs = dict(batch_sampler=sampler, num_workers=workers, pin_memory=torch.cuda.is_available(),
                      persistent_workers=workers > 0, collate_fn=collate_channels_last)
        if shuffle:
            return ResumableLoader(dataset, resume_position=resume, **kwargs)
        return DataLoader(dataset, **kwargs)

    def _epoch_now(self) -> int:
        """The epoch the loader starts in, as Lightning will number it (a restored run's too). Set before the
        first iteration: loader workers draw their first batches when the iterator is made, before Lightning's
        set_epoch, and Lightning restores a loader's state only after a mid-epoch checkpoint; a run resumed from an
        epoch's end trained the next epoch on epoch 0's order."""
        return self.trainer.fit_loop.epoch_progress.current.processed if self.trainer is not None else 0

    def _batches_done_this_epoch(self) -> int:
        """The batches of this epoch trained so far: read when a checkpoint is written (in on_train_batch_end,
        where the batch is processed but not yet counted completed; or at the epoch's end, all of them)."""
        return self.trainer.fit_loop.epoch_loop.batch_progress.current.processed

    def train_dataloader(self) -> DataLoader:
        return self._loader("train", shuffle=True)

    def val_dataloader(self) -> DataLoader:
        return self._loader("minival", shuffle=False)  # Lightning's "validation" loop: minival
