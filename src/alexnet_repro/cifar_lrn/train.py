"""One seed of one section 3.3 net: trained as its layer-params file says (per-layer epsW/epsB, momentum and weight
decay wc; no dropout: the files have none), on random crops with random mirror images (the wiki's Methodology:
uniform positions, flipped with probability 1/2), every rate divided by 10 after each epoch of `cuts`; then the
final net scored once on the test split. Lightning Fabric runs it (the device); the loop is a plain one, as small
nets want."""

from __future__ import annotations

import time

import lightning as L
import torch
import torch.nn.functional as F

from alexnet_repro.cifar_lrn.result import SeedResult
from alexnet_repro.models.convnet4 import convnet4
from alexnet_repro.models.convnet4_spec import CMRNormLayer
from alexnet_repro.seeds import init_seed, stream_seed


def crops(x: torch.Tensor, top: torch.Tensor, left: torch.Tensor, flip: torch.Tensor, side: int) -> torch.Tensor:
    """x (B, C, S, S) -> (B, C, side, side): image b cut at (top[b], left[b]), mirrored where flip[b]."""
    steps = torch.arange(side, device=x.device)
    rows = (top[:, None] + steps)[:, None, :, None]
    cols = left[:, None] + torch.where(flip[:, None], side - 1 - steps, steps)
    batch = torch.arange(len(x), device=x.device)[:, None, None, None]
    channel = torch.arange(x.shape[1], device=x.device)[None, :, None, None]
    return x[batch, channel, rows, cols[:, None, None, :]].contiguous(memory_format=torch.channels_last)


def view_offsets(views: str, image: int, side: int) -> list[tuple[int, int, bool]]:
    """(top, left, flipped) of each test view: the centre, or the four corners and the centre with their mirrors."""
    c, e = (image - side) // 2, image - side
    places = [(c, c)] if views == "center" else [(0, 0), (0, e), (e, 0), (e, e), (c, c)]
    return [(t, le, f) for f in ((False,) if views == "center" else (False, True)) for t, le in places]


@torch.no_grad()
def test_error(net, x: torch.Tensor, y: torch.Tensor, views: str, side: int, batch_size: int) -> float:
    """Top-1 error of the softmax averaged over the views (cuda-convnet's multiview test)."""
    net.eval()
    wrong = 0
    for start in range(0, len(y), batch_size):
        xb = x[start:start + batch_size]
        prob = 0
        for top, left, flip in view_offsets(views, x.shape[-1], side):
            n = len(xb)
            cut = crops(xb, torch.full((n,), top, device=xb.device), torch.full((n,), left, device=xb.device),
                        torch.full((n,), flip, device=xb.device), side)
            prob = prob + F.softmax(net(cut).float(), dim=1)
        wrong += int((prob.argmax(1) != y[start:start + batch_size]).sum())
    return wrong / len(y)


@torch.no_grad()
def divisor_moves(net, x: torch.Tensor, side: int) -> dict[str, float]:
    """Each cmrnorm layer's divisor (input over output) on a centre-cut test batch: its 95th over its 5th
    percentile, less 1. Under 1% it acts as a constant gain, not a normalisation (the report's rule)."""
    names = {layer.name for layer in net.spec.layer_table if isinstance(layer, CMRNormLayer)}
    seen: dict[str, float] = {}

    def hook(name):
        def record(module, args, out):
            a, b = args[0].float().flatten(), out.float().flatten()
            keep = a.abs() > 1e-3 * a.abs().max()
            ratio = a[keep] / b[keep]
            low, high = torch.quantile(ratio[:100_000], torch.tensor([0.05, 0.95], device=ratio.device))
            seen[name] = round(float(high / low - 1), 6)
        return record

    handles = [m.register_forward_hook(hook(n.split(".")[-1])) for n, m in net.named_modules()
               if n.split(".")[-1] in names]
    net.eval()
    c = (x.shape[-1] - side) // 2
    net(x[:256, :, c:c + side, c:c + side].contiguous(memory_format=torch.channels_last))
    for h in handles:
        h.remove()
    return seen


def train_and_test(fabric: L.Fabric, train: tuple, test: tuple, layers: str, seed: int, epochs: int,
                   cuts: list, crop: int, views: str, batch_size: int) -> SeedResult:
    start = time.perf_counter()
    x, y = (fabric.to_device(t) for t in train)
    torch.manual_seed(init_seed(seed))  # the layer file's Gaussian init, this seed's draw
    raw = convnet4(layers, num_classes=int(y.max()) + 1).to(memory_format=torch.channels_last)
    groups = raw.param_groups()  # the file's rates, momenta and weight decay, layer by layer
    base = [g["lr"] for g in groups]
    net, opt = fabric.setup(raw, torch.optim.SGD(groups, lr=base[0]))
    span = x.shape[-1] - crop + 1
    batches = len(y) // batch_size  # whole batches only, as cuda-convnet's
    wrong = 0
    for epoch in range(epochs):
        for g, lr in zip(opt.param_groups, base):
            g["lr"] = lr * 0.1 ** sum(epoch >= c for c in cuts)
        draw = torch.Generator().manual_seed(stream_seed(seed, "cifar_lrn", epoch))
        order = torch.randperm(len(y), generator=draw).to(x.device)
        where = torch.randint(span, (2, len(y)), generator=draw).to(x.device)
        flips = (torch.rand(len(y), generator=draw) < 0.5).to(x.device)
        net.train()
        wrong = 0
        for b in range(batches):
            idx = order[b * batch_size:(b + 1) * batch_size]
            logits = net(crops(x[idx], where[0, idx], where[1, idx], flips[idx], crop))
            loss = F.cross_entropy(logits, y[idx])
            opt.zero_grad(set_to_none=True)
            fabric.backward(loss)
            opt.step()
            wrong += (logits.detach().argmax(1) != y[idx]).sum()
    train_error = float(wrong) / (batches * batch_size)
    tx, ty = (fabric.to_device(t) for t in test)
    return SeedResult(seed, round(test_error(net, tx, ty, views, crop, 500), 6), round(train_error, 6),
                      divisor_moves(raw, tx, crop), round(time.perf_counter() - start, 2))
