"""Section 5's schedule: divide the rate by 10 when validation error stops improving, at most three times."""

import pytest
import torch

from alexnet_repro.training.module import plateau_schedule


def _schedule(lr=0.01, patience=0):
    opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=lr)
    return opt, plateau_schedule(opt, lr, factor=0.1, patience=patience, max_reductions=3)


def test_plateau_divides_by_ten_at_most_three_times():
    opt, sched = _schedule()
    rates = []
    sched.step(0.5)  # first value: the best so far
    for _ in range(6):  # never improves again
        sched.step(0.5)
        rates.append(opt.param_groups[0]["lr"])
    assert rates[:3] == pytest.approx([1e-3, 1e-4, 1e-5])
    assert rates[3:] == pytest.approx([1e-5] * 3)  # a fourth reduction never comes


def test_plateau_waits_while_error_improves_and_survives_a_checkpoint():
    opt, sched = _schedule(patience=1)
    for err in (0.9, 0.8, 0.7, 0.6):
        sched.step(err)
    assert opt.param_groups[0]["lr"] == pytest.approx(0.01)
    sched.step(0.6)
    sched.step(0.6)  # two epochs without improvement, patience 1
    assert opt.param_groups[0]["lr"] == pytest.approx(0.001)
    opt2, restored = _schedule(lr=0.001, patience=1)
    restored.load_state_dict(sched.state_dict())
    for _ in range(8):
        restored.step(0.6)
    # resuming keeps the floor of the paper's three reductions from the original rate, not the resumed one
    assert opt2.param_groups[0]["lr"] == pytest.approx(1e-5)
