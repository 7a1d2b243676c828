"""The LightningModule: the paper's net, its loss, SGD with the paper's schedule (section 5) and metrics."""

from __future__ import annotations

import warnings

import lightning as L
import torch
import torch.nn.functional as F
from torchmetrics.classification import MulticlassAccuracy

from alexnet_repro.config import AugmentConfig, OptimConfig
from alexnet_repro.data.pixel_stats import PixelStats
from alexnet_repro.models import AlexNet, AlexNetSpec, LRNSpec
from alexnet_repro.training import batch_transforms as T
from alexnet_repro.training.schedule import LimitedPlateau


# The module, not the datamodule, owns the on-device transforms (they need the PCA buffers): intended.
warnings.filterwarnings("ignore", message=".*overridden `on_after_batch_transfer`.*")


def build_spec(model: dict, num_classes: int) -> AlexNetSpec:
    """The model's hyperparameters as a checkpoint stores them (a plain dict) -> the network's spec."""
    return AlexNetSpec(num_classes=num_classes, **{**model, "lrn": LRNSpec(**model["lrn"])})


class AlexNetModule(L.LightningModule):
    def __init__(self, model: dict, augment: dict, optim: dict, num_classes: int, stats: PixelStats | None = None,
                 seed: int = 0):
        super().__init__()
        self.save_hyperparameters(ignore=["stats"])
        self.augment_cfg = AugmentConfig(**augment)
        self.optim_cfg = OptimConfig(**optim)
        self.net = AlexNet(build_spec(model, num_classes))
        stats = stats or PixelStats.neutral()
        # Buffers: the statistics travel inside every checkpoint, so evaluation needs no other file.
        self.register_buffer("mean_image", torch.from_numpy(stats.mean_image).permute(2, 0, 1).contiguous())
        self.register_buffer("mean_rgb", torch.from_numpy(stats.mean_rgb)[:, None, None])
        self.register_buffer("eigenvalues", torch.from_numpy(stats.eigenvalues))
        self.register_buffer("eigenvectors", torch.from_numpy(stats.eigenvectors))
        self.val_top1 = MulticlassAccuracy(num_classes, top_k=1, average="micro")
        self.val_top5 = MulticlassAccuracy(num_classes, top_k=min(5, num_classes), average="micro")

    # ---- input pipeline on the device ---------------------------------------------------------------
    def normalize(self, images: torch.Tensor, train: bool) -> torch.Tensor:
        """uint8 (B, 3, 256, 256) -> float, lit (training only) and mean-subtracted, still 256x256."""
        a = self.augment_cfg
        x = images.float().div_(255.0)
        if train and a.lighting_std > 0:
            x += T.lighting_shift(x.shape[0], self.eigenvalues, self.eigenvectors, a.lighting_std,
                                  a.lighting_sqrt_eigenvalues)
        if a.mean == "image":
            x -= self.mean_image
        elif a.mean == "channel":
            x -= self.mean_rgb
        return x.mul_(a.input_scale)

    def on_after_batch_transfer(self, batch, dataloader_idx: int = 0):
        images, labels = batch
        size = self.net.spec.input_size
        if self.trainer is not None and self.trainer.training:
            # This step's randomness (crops, flips, lighting, then dropout) is a function of (seed, step, rank)
            # alone, so a run resumed from any checkpoint draws exactly what an uninterrupted run would have.
            # Lightning moves the batch (this hook) before on_train_batch_start: seeding belongs here.
            torch.manual_seed((self.hparams.seed * 1_000_003 + self.global_step) * 4096 + self.global_rank)
            x = self.normalize(images, train=True)
            if self.augment_cfg.random_crop:
                x = T.random_crop_and_flip(x, size, self.augment_cfg.flip)
            else:
                x = T.center_crop(x, size)
                if self.augment_cfg.flip:
                    x = torch.where((torch.rand(x.shape[0], device=x.device) < 0.5)[:, None, None, None],
                                    x.flip(-1), x)
            return x.contiguous(), labels
        return T.center_crop(self.normalize(images, train=False), size).contiguous(), labels

    # ---- steps ----------------------------------------------------------------------------------------
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)

    def training_step(self, batch, batch_idx: int):
        x, y = batch
        logits = self.net(x)
        loss = F.cross_entropy(logits, y)
        wrong = (logits.detach().argmax(1) != y).float().mean()
        # No .item() here: values stay on the device; the epoch values are batch-size-weighted means, i.e. the
        # exact error over the epoch's images, reduced across devices once at the epoch's end.
        self.log("train/loss", loss, on_step=True, on_epoch=True, prog_bar=True, sync_dist=True, batch_size=len(y))
        self.log("train/err_top1", wrong, on_step=False, on_epoch=True, sync_dist=True, batch_size=len(y))
        return loss

    def on_train_epoch_start(self) -> None:
        self.log("lr", self.optimizers().param_groups[0]["lr"])  # the rate this epoch trains with

    def on_validation_epoch_end(self) -> None:
        # compute() all-reduces across DDP ranks: every validation image counted once (see datamodule).
        self.log("val/err_top1", 1.0 - self.val_top1.compute(), prog_bar=True)
        self.log("val/err_top5", 1.0 - self.val_top5.compute())
        self.val_top1.reset()
        self.val_top5.reset()

    def validation_step(self, batch, batch_idx: int) -> None:
        x, y = batch
        logits = self.net(x)
        self.log("val/loss", F.cross_entropy(logits, y), on_epoch=True, sync_dist=True, batch_size=len(y))
        self.val_top1.update(logits, y)
        self.val_top5.update(logits, y)

    # ---- optimisation (section 5) ---------------------------------------------------------------------
    def configure_optimizers(self):
        o = self.optim_cfg
        # torch's SGD: v <- 0.9 v + (g + wd w); w <- w - lr v. With a constant lr this is the paper's
        # v <- 0.9 v - wd eps w - eps g; w <- w + v, scaled by eps.
        opt = torch.optim.SGD(self.parameters(), lr=o.lr, momentum=o.momentum, weight_decay=o.weight_decay)
        if o.schedule == "step":
            sched = torch.optim.lr_scheduler.StepLR(opt, step_size=o.step_epochs, gamma=o.factor)
            return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "epoch"}}
        sched = LimitedPlateau(opt, factor=o.factor, patience=o.plateau_patience, max_reductions=o.max_reductions)
        return {"optimizer": opt,
                "lr_scheduler": {"scheduler": sched, "interval": "epoch", "monitor": "val/err_top1", "strict": True}}
