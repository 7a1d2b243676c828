"""One training of the train stage for bench/gpu_check.py's resume check: the config composed from conf/ with the
given overrides and trained by training/run.py's train(), exactly what `python src/train.py OVERRIDES` does
(the CLI adds only Hydra's run folder and its one-line errors), in RUN_DIR, plus two things the check needs:

    python bench/train_run.py RUN_DIR [--kill-at STEP] [--save-init PATH] OVERRIDES...

--kill-at STEP   SIGKILL this process once step STEP has finished: no handler runs, no checkpoint is written
                 (what a crash, the OOM killer or a lost node does); the next start in RUN_DIR must resume from
                 the last checkpoint written before it.
--save-init P    the net's weights when training starts from step 0, to P: what the resumed and uninterrupted
                 runs' difference is compared with (how far the weights moved).

It prints "train_run: start at step N" when training starts, so the check sees where a resumed run began.
"""

from __future__ import annotations

import argparse
import os
import signal

import lightning as L
import torch
from hydra import compose, initialize_config_dir

from alexnet_repro.cli import CONFIG_DIR
from alexnet_repro.training.run import train


class Probe(L.Callback):
    def __init__(self, kill_at: int | None, save_init: str | None):
        self.kill_at, self.save_init = kill_at, save_init

    def on_train_start(self, trainer, module):
        print(f"train_run: start at step {trainer.global_step}", flush=True)
        if self.save_init and trainer.global_step == 0:
            torch.save({k: v.detach().float().cpu().clone() for k, v in module.net.state_dict().items()},
                       self.save_init)

    def on_train_batch_end(self, trainer, *args):
        # After the step's other callbacks (these callbacks come after the stage's own): a checkpoint due at
        # this very step is written first. gpu_check.py picks a step that is not a checkpoint step.
        if self.kill_at is not None and trainer.global_step == self.kill_at:
            print(f"train_run: SIGKILL at step {trainer.global_step}", flush=True)
            os.kill(os.getpid(), signal.SIGKILL)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run_dir")
    parser.add_argument("--kill-at", type=int, default=None)
    parser.add_argument("--save-init", default=None)
    parser.add_argument("overrides", nargs="*")
    args = parser.parse_intermixed_args()  # options may come after the run folder
    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        cfg = compose(config_name="train", overrides=args.overrides)
    summary = train(cfg, args.run_dir, extra_callbacks=[Probe(args.kill_at, args.save_init)])
    print(f"train_run: done at step {summary['global_step']}", flush=True)


if __name__ == "__main__":
    main()
