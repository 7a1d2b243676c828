"""Train one AlexNet configuration: `python src/train.py +experiment=no_lrn` (see conf/)."""

from alexnet_repro.cli import launch
from alexnet_repro.stages.train import main

if __name__ == "__main__":
    launch(main)
