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
        if self.shuffle:  # this seed's own stream for this epoch: no two seeds share an epoch's order
            generator = torch.Generator().manual_seed(stream_seed(self.seed, "order", self.epoch))
            order = torch.randperm(self.n, generator=generator)
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
