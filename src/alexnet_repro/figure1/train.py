"""One Figure 1 net: cuda-convnet's layer file with ReLUs or tanh units, trained by SGD with the file's per-layer
rates times `lr_scale` and no regularisation of any kind (weight decay 0, no dropout, no crops, flips or lighting:
section 3.1), on the raw 0-255 pixels less the mean image, as cuda-convnet fed them. Lightning Fabric runs it (the
device, its precision); the loop is a plain one, as small nets want: a Trainer would cost more than these runs.

The curve is the error over each `log_every` steps' batches as they were trained on, and a run stops at its
first point at or below the level: the figure's quantity is the step count to the level, not what follows."""

from __future__ import annotations

import time

import lightning as L
import numpy as np
import torch
import torch.nn.functional as F

from alexnet_repro.figure1.result import Curve
from alexnet_repro.models.convnet4 import convnet4
from alexnet_repro.seeds import init_seed, stream_seed


def train_curve(fabric: L.Fabric, x: torch.Tensor, y: torch.Tensor, layers: str, activation: str, lr_scale: float,
                seed: int, level: float, max_epochs: int, batch_size: int, log_every: int) -> Curve:
    start = time.perf_counter()
    torch.manual_seed(init_seed(seed))  # the layer file's Gaussian init, this seed's draw
    net = convnet4(layers, activation, num_classes=int(y.max()) + 1).to(memory_format=torch.channels_last)
    groups = net.param_groups()
    for g in groups:  # section 3.1: "no regularization of any kind"
        g["lr"], g["weight_decay"] = g["lr"] * lr_scale, 0.0
    net, opt = fabric.setup(net, torch.optim.SGD(groups, lr=groups[0]["lr"]))
    x, y = fabric.to_device(x), fabric.to_device(y)
    steps, errors, wrong, seen, step = [], [], 0.0, 0, 0
    batches = len(y) // batch_size  # whole batches only, as cuda-convnet's
    for epoch in range(max_epochs):
        order = torch.randperm(len(y), generator=torch.Generator().manual_seed(
            stream_seed(seed, "figure1", epoch))).to(x.device)
        for b in range(batches):
            idx = order[b * batch_size:(b + 1) * batch_size]
            logits = net(x[idx])
            loss = F.cross_entropy(logits, y[idx])
            opt.zero_grad(set_to_none=True)
            fabric.backward(loss)
            opt.step()
            wrong += (logits.detach().argmax(1) != y[idx]).sum()
            seen, step = seen + len(idx), step + 1
            if step % log_every == 0:
                steps.append(step)
                errors.append(float(wrong) / seen)  # one host sync per logged point, not per step
                wrong, seen = 0.0, 0
                if errors[-1] <= level:
                    return _curve(seed, lr_scale, steps, errors, epochs=round(step / batches, 3), start=start)
    return _curve(seed, lr_scale, steps, errors, epochs=float(max_epochs), start=start)


def _curve(seed: int, lr_scale: float, steps: list[int], errors: list[float], epochs: float, start: float) -> Curve:
    """The curve as the result keeps it: errors rounded to 6 places, the seconds since `start` to 2."""
    return Curve(seed=seed, lr_scale=lr_scale, steps=tuple(steps), errors=tuple(np.round(errors, 6).tolist()),
                 epochs=epochs, seconds=round(time.perf_counter() - start, 2))
