"""The LightningModule: the paper's net, its loss, SGD with the paper's schedule (section 5), and metrics.
Augmentation and normalisation are the data's business (transforms.py, applied by the DataModule)."""

from __future__ import annotations

from dataclasses import asdict
from typing import TYPE_CHECKING

import lightning as L
import torch
import torch.nn.functional as F
from torchmetrics import MeanMetric
from torchmetrics.classification import MulticlassAccuracy

from alexnet_repro.models.alexnet import AlexNet
from alexnet_repro.models.lrn import window_sums
from alexnet_repro.models.spec import AlexNetConfig
from alexnet_repro.results import LR, LRN_WINDOW_COLUMNS, SELECTION, SELECTION_ERR_TOP1, TRAIN_ERR_TOP1, TRAIN_LOSS

if TYPE_CHECKING:  # the optim group's schema, for its type only: importing it registers it with Hydra
    from alexnet_repro.training.config import OptimConfig

LRN_SITES = tuple(LRN_WINDOW_COLUMNS)


def lr_floor(lr: float, factor: float, max_reductions: int) -> float:
    """Section 5's last rate: "reduced three times prior to termination", `lr` times `factor` `max_reductions`
    times."""
    return lr * factor**max_reductions


def scheduler_min_lr(lr: float, factor: float, max_reductions: int) -> float:
    """The plateau schedule's min_lr: just below the floor, so float rounding never blocks the last division."""
    return lr_floor(lr, factor, max_reductions) * (1 - 1e-6)


def floor_reached_at(lr: float, factor: float, max_reductions: int) -> float:
    """The rate at or below which a run has used every reduction (health.classify): just above the floor, so a rate
    the schedule rounded on its way down still counts as there."""
    return lr_floor(lr, factor, max_reductions) * (1 + 1e-6)


def plateau_schedule(opt: torch.optim.Optimizer, lr: float, factor: float, patience: int, max_reductions: int):
    """Section 5: divide by 10 when the held-out error (minival's here, validation's in the paper) stops
    improving; min_lr stops the schedule after `max_reductions` divisions."""
    return torch.optim.lr_scheduler.ReduceLROnPlateau(opt, mode="min", factor=factor, patience=patience,
                                                      min_lr=scheduler_min_lr(lr, factor, max_reductions))


def sgd_kernel(params) -> dict:
    """Fused SGD (one kernel for all parameters) when every parameter is on CUDA; torch's default (foreach
    on CUDA, a loop on CPU) otherwise, fused's CPU kernel being no faster there. Lightning moves the module to
    its device before configure_optimizers, so the parameters' device is the training device."""
    return {"fused": True} if all(p.is_cuda for p in params) else {}


def decay_groups(net: torch.nn.Module, weight_decay: float, decay_biases: bool) -> list[dict]:
    """SGD's parameter groups: section 5's rule decays every weight; decay_biases=false spares the biases (what
    most modern recipes do), docs/paper.md says which the profile uses."""
    if decay_biases:
        return [{"params": list(net.parameters()), "weight_decay": weight_decay}]
    biases = [p for name, p in net.named_parameters() if name.endswith("bias")]
    weights = [p for name, p in net.named_parameters() if not name.endswith("bias")]
    return [{"params": weights, "weight_decay": weight_decay}, {"params": biases, "weight_decay": 0.0}]


class AlexNetModule(L.LightningModule):
    def __init__(self, model: dict, optim: OptimConfig, channels_last: bool = False):
        """model: AlexNetConfig's fields (num_classes included); optim: the optimiser and its schedule;
        channels_last: convert each batch to NHWC (run.speed_up converts the net's weights)."""
        super().__init__()
        # Checkpoints are read with weights_only=True, which refuses a dataclass: they keep plain fields. Not
        # channels_last: a speed setting, not part of the experiment.
        self.save_hyperparameters({"model": model, "optim": asdict(optim)})
        self.optim, self.channels_last = optim, channels_last
        self.net = AlexNet(AlexNetConfig(**model))
        num_classes = self.net.spec.num_classes
        self.val_top1 = MulticlassAccuracy(num_classes, top_k=1, average="micro")
        self.val_top5 = MulticlassAccuracy(num_classes, top_k=min(5, num_classes), average="micro")
        # The epoch's running means travel in checkpoints (persistent states), so an epoch resumed after a kill
        # reports the mean over all its batches, not only those after the restart.
        self.train_loss, self.train_wrong = MeanMetric(), MeanMetric()
        for metric in (self.train_loss, self.train_wrong):
            metric.persistent(True)
        # Section 3.3's LRN divides by (k + alpha/n * S)^beta, S the window sum of squared activations: measured on
        # minival at norm1 and norm2 (in every experiment, so the lrn_gain control's "constant gain" premise is a
        # number, not an argument), read by forward pre-hooks while the held-out batches pass.
        self.window_means = torch.nn.ModuleDict({site: MeanMetric() for site in LRN_SITES})
        self._hooks = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)

    def layout(self, x: torch.Tensor) -> torch.Tensor:
        """The batch in the net's memory format. Done here, not in on_after_batch_transfer: the DataModule
        owns that hook (its presets), and Lightning calls only one of the two when both define it."""
        return x.contiguous(memory_format=torch.channels_last) if self.channels_last else x

    def training_step(self, batch, batch_idx: int):
        x, y = batch
        x = self.layout(x)
        logits = self.net(x)
        loss = F.cross_entropy(logits, y)
        wrong = (logits.detach().argmax(1) != y).float().mean()
        # No .item() here: values stay on the device; the epoch values are batch-size-weighted means, i.e. the
        # exact error over the epoch's images, reduced across devices once at the epoch's end (torchmetrics).
        self.train_loss.update(loss.detach(), len(y))
        self.train_wrong.update(wrong, len(y))
        self.log("train/loss_step", loss, on_step=True, on_epoch=False, prog_bar=True)
        self.log(TRAIN_LOSS, self.train_loss, on_step=False, on_epoch=True)
        self.log(TRAIN_ERR_TOP1, self.train_wrong, on_step=False, on_epoch=True)
        # The rate this epoch trains with (constant within an epoch), logged per step so that an epoch resumed
        # in its middle still reports it.
        self.log(LR, self.optimizers().param_groups[0]["lr"], on_step=False, on_epoch=True)
        return loss

    def on_train_epoch_start(self) -> None:
        # A checkpoint written at an epoch's end holds that epoch's sums (Lightning resets logged metrics only
        # after the end-of-epoch hooks): a new epoch starts from zero, an epoch resumed in its middle does not.
        # Here the batch counter still reads the previous epoch's count (0, or all of its batches) unless this
        # epoch was resumed in its middle.
        done = self.trainer.fit_loop.epoch_loop.batch_progress.current.completed
        if done == 0 or done >= self.trainer.num_training_batches:
            self.train_loss.reset()
            self.train_wrong.reset()

    def on_validation_epoch_start(self) -> None:
        towers, size = self.net.spec.towers, self.net.spec.lrn.size
        for site in LRN_SITES:
            metric = self.window_means[site]
            hook = lambda _, args, metric=metric: metric.update(window_sums(args[0].float(), towers, size)[1].mean())
            self._hooks.append(getattr(self.net.features, site).register_forward_pre_hook(hook))

    def on_validation_epoch_end(self) -> None:
        for hook in self._hooks:
            hook.remove()
        self._hooks.clear()
        # compute() all-reduces across DDP ranks: every held-out image counted once (see datamodule).
        err_top1 = 1.0 - self.val_top1.compute()
        self.log(SELECTION_ERR_TOP1, err_top1, prog_bar=True)
        if not self.trainer.sanity_checking:
            self.step_schedule(err_top1)
        self.log(f"{SELECTION}/err_top5", 1.0 - self.val_top5.compute())
        for site, metric in self.window_means.items():
            self.log(LRN_WINDOW_COLUMNS[site], metric.compute())
            metric.reset()
        self.val_top1.reset()
        self.val_top5.reset()

    def validation_step(self, batch, batch_idx: int) -> None:
        x, y = batch
        x = self.layout(x)
        logits = self.net(x)
        self.log(f"{SELECTION}/loss", F.cross_entropy(logits, y), on_epoch=True, sync_dist=True, batch_size=len(y))
        self.val_top1.update(logits, y)
        self.val_top5.update(logits, y)

    def configure_optimizers(self):
        o = self.optim
        # torch's SGD: v <- 0.9 v + (g + wd w); w <- w - lr v. With a constant lr this is the paper's
        # v <- 0.9 v - wd eps w - eps g; w <- w + v, scaled by eps.
        opt = torch.optim.SGD(decay_groups(self.net, o.weight_decay, o.decay_biases), lr=o.lr,
                              momentum=o.momentum, **sgd_kernel(self.parameters()))
        if o.schedule == "step":
            sched = torch.optim.lr_scheduler.StepLR(opt, step_size=o.step_epochs, gamma=o.factor)
            return {"optimizer": opt,
                "lr_scheduler": {"scheduler": sched, "interval": "epoch", "monitor": SELECTION_ERR_TOP1,
                                 "strict": True}}
        sched = plateau_schedule(opt, o.lr, o.factor, o.plateau_patience, o.max_reductions)
        return {"optimizer": opt,
                "lr_scheduler": {"scheduler": sched, "interval": "epoch", "monitor": SELECTION_ERR_TOP1,
                                 "strict": True}}

    def step_schedule(self, err_top1: torch.Tensor) -> None:
        """The epoch's schedule step, taken as soon as its minival error is known: before the epoch's end, where
        last.ckpt is written, so a checkpoint holds the schedule after its epoch's step. Lightning steps schedulers
        after on_train_epoch_end and skips that step when it restarts from such a checkpoint: a killed run
        resumed with the plateau one epoch behind and divided the rate epochs early or late."""
        sched = self.lr_schedulers()
        if isinstance(sched, torch.optim.lr_scheduler.ReduceLROnPlateau):
            sched.step(float(err_top1))
        else:
            sched.step()

    def lr_scheduler_step(self, scheduler, metric) -> None:
        """Lightning's own stepping: nothing, step_schedule has taken this epoch's step. Lightning still owns the
        scheduler, so its state travels in every checkpoint."""
