"""Independent random streams: every draw of a run comes from a stream named by (seed, purpose, position), made
with numpy's SeedSequence, so two seeds never share a data order, an initialisation or an augmentation draw
(`seed + epoch` would make seed 1's epoch 0 seed 0's epoch 1)."""

from __future__ import annotations

import numpy as np

# A fixed number per purpose: part of each stream's key, so that adding a purpose never moves another's draws.
PURPOSES = {"init": 1, "order": 2, "step": 3, "figure1": 4, "cifar_lrn": 5}


def init_seed(seed: int) -> int:
    """The torch seed a run of `seed` draws its initial weights from (training, the CIFAR nets, and the report's
    Figure 3, which rebuilds each run's own initial conv1)."""
    return stream_seed(seed, "init", bits=32)


def stream_seed(seed: int, purpose: str, *position: int, bits: int = 63) -> int:
    """A seed for torch or numpy, < 2**bits, for `purpose` at `position` (epoch; step and rank) of run `seed`."""
    words = np.random.SeedSequence([seed, PURPOSES[purpose], *position]).generate_state(2, np.uint32)
    return int((int(words[0]) << 32 | int(words[1])) % (1 << bits))
