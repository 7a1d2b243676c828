"""The store as a torch Dataset, and the collate function that batches it channels last: what training's
DataModule and evaluation both read images with. Kept apart from datamodule.py so that evaluation, which needs
no Lightning, does not import it (seconds of start-up: lightning -> torchmetrics -> torchvision)."""

from __future__ import annotations

import functools
from pathlib import Path

import torch
from torch.utils.data import Dataset

from alexnet_repro.data.store import STORE_SIZE, ShardReader, fingerprint


def decoded_split(folder: str, split: str, side: int) -> torch.Tensor:
    """Every image of a split, decoded: (N, side, side, 3) uint8, read-only by convention. Kept for the process's
    life, keyed by the store's fingerprint: a worker that trains many runs on one store (stage_worker.py)
    decodes it once, not once per run and again for minival (3.6 s of a 21 s embedded training on one thread)."""
    return _decoded(str(Path(folder).resolve()), fingerprint(folder), split, side)


@functools.lru_cache(maxsize=2)
def _decoded(folder: str, store: str, split: str, side: int) -> torch.Tensor:
    reader = ShardReader(folder, split)
    out = torch.empty((len(reader), side, side, 3), dtype=torch.uint8)
    for i in range(len(reader)):
        out[i] = torch.from_numpy(reader.image(i, side))
    return out


class StoreDataset(Dataset):
    """(3, side, side) uint8 images (views of the decoder's (side, side, 3) arrays) and labels. in_memory=True
    decodes the whole split once (decoded_split) and serves every epoch from RAM (airbench's way for small sets:
    N * side^2 * 3 bytes, 64 MB for the embedded set at 128)."""

    def __init__(self, folder: str, split: str, side: int = STORE_SIZE, in_memory: bool = False,
                 indices=None, labels=None):
        """indices: the records of the split this dataset serves (all of them when None); labels: one per
        record of the split, in place of the store's (the shuffled-labels control)."""
        self.reader, self.side = ShardReader(folder, split), side
        self.indices = list(range(len(self.reader))) if indices is None else [int(i) for i in indices]
        self.labels = self.reader.labels if labels is None else labels
        self.decoded = decoded_split(folder, split, side) if in_memory else None  # indexed by record

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, k: int) -> tuple[torch.Tensor, int]:
        i = self.indices[k]
        image = self.decoded[i] if self.decoded is not None else torch.from_numpy(self.reader.image(i, self.side))
        return image.permute(2, 0, 1), int(self.labels[i])


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
