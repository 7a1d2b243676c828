"""The training DataModule over the resized store.

Workers only read and decode: they yield uint8 (3, 256, 256) images and labels. Crops, reflections,
lighting and mean subtraction run on the batch on the device (transforms.py's presets, applied in
`on_after_batch_transfer`), so evaluation and training share one implementation and the CPU does the least
work per image.

Distributed sampling is done here, not by Lightning (`use_distributed_sampler=False`):
- training: one permutation per epoch (seeded by seed + epoch), padded to a multiple of the world size and
  dealt out rank::world, so all ranks step the same number of times;
- validation: rank::world with no padding, so every validation image is counted exactly once.
The training loader is resumable: after a mid-epoch restart it skips the batches already trained on.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Iterator

import lightning as L
import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from alexnet_repro.data.store import STORE_SIZE, ShardReader, read_info
from alexnet_repro.transforms import EvalPreset, TrainPreset


class StoreDataset(Dataset):
    """(3, side, side) uint8 images (views of the decoder's (side, side, 3) arrays) and labels. in_memory=True
    decodes the split once and serves every epoch from RAM (airbench's way for small sets: N * side^2 * 3
    bytes, 64 MB for the embedded set at 128)."""

    def __init__(self, folder: str, split: str, side: int = STORE_SIZE, in_memory: bool = False):
        self.reader, self.side = ShardReader(folder, split), side
        self.decoded = None
        if in_memory:
            self.decoded = torch.empty((len(self.reader), side, side, 3), dtype=torch.uint8)
            for i in range(len(self.reader)):
                self.decoded[i] = torch.from_numpy(self.reader.image(i, side))

    def __len__(self) -> int:
        return len(self.reader)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        image = self.decoded[i] if self.decoded is not None else torch.from_numpy(self.reader.image(i, self.side))
        return image.permute(2, 0, 1), int(self.reader.labels[i])


def collate_channels_last(samples: list[tuple[torch.Tensor, int]]) -> tuple[torch.Tensor, torch.Tensor]:
    """A batch (B, 3, S, S) with channels last in memory: the decoded images are stacked as they lie, (S, S, 3)
    each (a plain copy; stacking them channels-first transposes every image: 0.25 against 0.007 ms per image
    on this CPU, bench/decode_choices.py), and it is the layout channels_last convolutions read."""
    images = [image.permute(1, 2, 0) for image, _ in samples]
    out = None
    if torch.utils.data.get_worker_info() is not None:
        # A worker's batch reaches the main process through shared memory: stack straight into it, as
        # default_collate does, rather than copy the batch there afterwards.
        storage = images[0]._typed_storage()._new_shared(sum(x.numel() for x in images), device=images[0].device)
        out = images[0].new(storage).resize_(len(images), *images[0].shape)
    return torch.stack(images, out=out).permute(0, 3, 1, 2), torch.tensor([label for _, label in samples])


def rank_indices(n: int, rank: int, world: int, pad: bool, order: torch.Tensor | None = None) -> list[int]:
    """This rank's share of `order` (default 0..n-1). pad=True repeats from the start so shares are equal."""
    order = torch.arange(n) if order is None else order
    if pad and n % world:
        order = torch.cat([order, order[: world - n % world]])
    return order[rank::world].tolist()


class EpochBatchSampler(Sampler[list[int]]):
    def __init__(self, n: int, batch_size: int, shuffle: bool, seed: int, rank: int = 0, world: int = 1):
        self.n, self.batch_size, self.shuffle, self.seed = n, batch_size, shuffle, seed
        self.rank, self.world = rank, world
        self.epoch = 0
        self.skip_batches = 0
        self.resume_position: Callable[[], int] | None = None

    def set_epoch(self, epoch: int) -> None:  # called by Lightning before each epoch
        self.epoch = epoch

    def _indices(self) -> list[int]:
        order = None
        if self.shuffle:
            order = torch.randperm(self.n, generator=torch.Generator().manual_seed(self.seed + self.epoch))
        return rank_indices(self.n, self.rank, self.world, pad=self.shuffle, order=order)

    def __iter__(self) -> Iterator[list[int]]:
        if self.resume_position is not None:
            self.skip_batches, self.resume_position = self.resume_position(), None
        idx = self._indices()
        start, self.skip_batches = self.skip_batches, 0
        for b in range(start, len(self)):
            yield idx[b * self.batch_size : (b + 1) * self.batch_size]

    def __len__(self) -> int:
        per_rank = math.ceil(self.n / self.world) if self.shuffle else len(range(self.rank, self.n, self.world))
        return math.ceil(per_rank / self.batch_size)


class ResumesMidEpoch:
    """Makes a loader over an EpochBatchSampler one that Lightning treats as stateful (it has
    state_dict/load_state_dict), so a restart in the middle of an epoch trains on the rest of that epoch's
    permutation instead of starting it again. _resume_position: the batches already done, asked for once."""

    batch_sampler: EpochBatchSampler
    _resume_position: Callable[[], int] | None

    def state_dict(self) -> dict:
        return {"epoch": self.batch_sampler.epoch}

    def load_state_dict(self, state: dict) -> None:
        self.batch_sampler.set_epoch(state["epoch"])
        self.batch_sampler.resume_position = self._resume_position


class ResumableLoader(ResumesMidEpoch, DataLoader):
    def __init__(self, *args, resume_position: Callable[[], int], **kwargs):
        super().__init__(*args, **kwargs)
        self._resume_position = resume_position


def loader_workers(setting: int | str, local_devices: int, cores: int | None = None) -> int:
    """data.workers: a number per device, or "auto": this machine's usable cores shared by the devices on it,
    one core per device left for its training process (which feeds the device and runs the step)."""
    if setting != "auto":
        return int(setting)
    cores = cores or len(os.sched_getaffinity(0))
    return max(1, cores // local_devices - 1)


class StoreDataModule(L.LightningDataModule):
    def __init__(self, store_dir: str, train_preset: TrainPreset, eval_preset: EvalPreset, batch_size: int = 128,
                 workers: int | str = 2, seed: int = 0, in_memory: bool = False, decoder: str = "cpu"):
        super().__init__()
        self.store_dir, self.batch_size, self.workers, self.seed = store_dir, batch_size, workers, seed
        self.in_memory, self.decoder = in_memory, decoder
        self.train_preset, self.eval_preset = train_preset, eval_preset
        self.info = read_info(store_dir)

    def on_after_batch_transfer(self, batch, dataloader_idx: int = 0):
        images, labels = batch
        trainer = self.trainer
        if trainer is not None and trainer.training:
            # This step's randomness (crops, flips, lighting, then dropout) is a function of (seed, step, rank)
            # alone, so a run resumed from any checkpoint draws exactly what an uninterrupted run would have.
            # Lightning moves the batch (this hook) before on_train_batch_start: seeding belongs here.
            torch.manual_seed((self.seed * 1_000_003 + trainer.global_step) * 4096 + trainer.global_rank)
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
        if self.batch_size % world:
            raise ValueError(f"data.batch_size={self.batch_size} is not divisible by the {world} devices")
        return self.batch_size // world

    def _loader(self, split: str, shuffle: bool):
        rank, world = self._world()
        local_devices = self.trainer.num_devices if self.trainer is not None else 1
        workers = loader_workers(self.workers, local_devices)
        resume = self._batches_done_this_epoch if shuffle else None
        if self.decoder == "dali":
            from alexnet_repro.data.dali_loader import DaliLoader  # an optional extra: imported only when asked

            reader = ShardReader(self.store_dir, split)
            sampler = EpochBatchSampler(len(reader), self.per_device_batch(), shuffle, self.seed, rank, world)
            return DaliLoader(reader, sampler, device=self.trainer.strategy.root_device, threads=max(workers, 1),
                              resume_position=resume)
        dataset = StoreDataset(self.store_dir, split, self.train_preset.image_size, self.in_memory)
        sampler = EpochBatchSampler(len(dataset), self.per_device_batch(), shuffle, self.seed, rank, world)
        # Pinned host memory, so the copy to the GPU is asynchronous (Lightning moves batches non_blocking).
        kwargs = dict(batch_sampler=sampler, num_workers=workers, pin_memory=torch.cuda.is_available(),
                      persistent_workers=workers > 0, collate_fn=collate_channels_last)
        if shuffle:
            return ResumableLoader(dataset, resume_position=resume, **kwargs)
        return DataLoader(dataset, **kwargs)

    def _batches_done_this_epoch(self) -> int:
        # Lightning restores this counter from the checkpoint before it first iterates the loader.
        return self.trainer.fit_loop.epoch_loop.batch_progress.current.completed

    def train_dataloader(self) -> DataLoader:
        return self._loader("train", shuffle=True)

    def val_dataloader(self) -> DataLoader:
        return self._loader("val", shuffle=False)
