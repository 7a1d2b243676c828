"""Section 5: "divide the learning rate by 10 when the validation error rate stopped improving with the
current learning rate ... reduced three times prior to termination"."""

from __future__ import annotations

from torch.optim.lr_scheduler import ReduceLROnPlateau


class LimitedPlateau(ReduceLROnPlateau):
    """ReduceLROnPlateau on validation error that divides the rate at most `max_reductions` times."""

    def __init__(self, optimizer, factor: float = 0.1, patience: int = 2, max_reductions: int = 3):
        self.max_reductions = max_reductions
        self.reductions = 0
        super().__init__(optimizer, mode="min", factor=factor, patience=patience)

    def _reduce_lr(self, epoch):
        if self.reductions >= self.max_reductions:
            return
        self.reductions += 1
        super()._reduce_lr(epoch)

