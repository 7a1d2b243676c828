"""The order batches come in, for the CPU loader and DALI's alike (Lightning's distributed sampler is off):
- training: one permutation per epoch, drawn from the run's own stream for that epoch (seeds.py), padded to a
  multiple of the world size and dealt out rank::world, so all ranks step the same number of times;
- held-out evaluation: rank::world with no padding, so every image is counted exactly once.
A training loader is resumable: after a mid-epoch restart it skips the batches already trained on."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator

import torch
from torch.utils.data import DataLoader, Sampler

from alexnet_repro.seeds import stream_seed


def rank_indices(n: int, rank: int, world: int, pad: bool, order: torch.Tensor | None = None) -> list[int]:
    """This rank's share of `order` (default 0..n-1). pad=True repeats from the start so shares are equal."""
    order = torch.arange(n) if order is None else order
    if pad and n % world:
        order = torch.cat([order, order[: world - n % world]])
    return order[rank::world].tolist()


class _EpochSetter:
    """What Lightning calls set_epoch on. It looks at loader.sampler and loader.batch_sampler.sampler, never at the
    batch sampler itself (lightning/fabric/utilities/data.py, _set_sampler_epoch): without this, EpochBatchSampler
    stayed at epoch 0 and every epoch of every run trained on the same order."""

    def __init__(self, owner: EpochBatchSampler):
        self.owner = owner

    def set_epoch(self, epoch: int) -> None:
        self.owner.set_epoch(epoch)


class EpochBatchSampler(Sampler[list[int]]):
    def __init__(self, n: int, batch_size: int, shuffle: bool, seed: int, rank: int = 0, world: int = 1):
        self.n, self.batch_size, self.shuffle, self.seed = n, batch_size, shuffle, seed
        self.rank, self.world = rank, world
        self.epoch = 0
        self.skip_batches = 0
        self.resume_position: Callable[[], int] | None = None
        self.resume_at: tuple[int, int] | None = None  # (epoch, batches done) from a checkpoint
        self.sampler = _EpochSetter(self)

    def set_epoch(self, epoch: int) -> None:  # called by Lightning before each epoch (through self.sampler)
        self.epoch = epoch

    def _indices(self) -> list[int]:
        order = None
        if self.shuffle:  # this seed's own stream for this epoch: no two seeds share an epoch's order
            generator = torch.Generator().manual_seed(stream_seed(self.seed, "order", self.epoch))
            order = torch.randperm(self.n, generator=generator)
        return rank_indices(self.n, self.rank, self.world, pad=self.shuffle, order=order)

    def __iter__(self) -> Iterator[list[int]]:
        if self.resume_at is not None:  # the checkpoint's own count, not the live one: see ResumesMidEpoch
            epoch, done = self.resume_at
            self.resume_at = None
            self.skip_batches = done if epoch == self.epoch and done < len(self) else 0
        elif self.resume_position is not None:
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
        """At a checkpoint: the epoch and the batches trained in it so far (_resume_position at save time). Saved
        because the live count cannot be read at restart: with loader workers the sampler is iterated when the
        iterator is made, before Lightning counts the batch whose on_train_batch_end wrote the checkpoint, and
        the resumed run trained that batch twice."""
        done = self._resume_position() if self._resume_position is not None else 0
        if done >= len(self.batch_sampler):  # an epoch's end: the restart begins the next epoch, whose order the
            return {"epoch": self.batch_sampler.epoch + 1, "batches_done": 0}  # workers may draw before set_epoch
        return {"epoch": self.batch_sampler.epoch, "batches_done": done}

    def load_state_dict(self, state: dict) -> None:
        self.batch_sampler.set_epoch(state["epoch"])
        if "batches_done" in state:
            self.batch_sampler.resume_at = (state["epoch"], state["batches_done"])
        else:  # a checkpoint written before the count was saved
            self.batch_sampler.resume_position = self._resume_position


class ResumableLoader(ResumesMidEpoch, DataLoader):
    def __init__(self, *args, resume_position: Callable[[], int], **kwargs):
        super().__init__(*args, **kwargs)
        self._resume_position = resume_position
