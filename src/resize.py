"""Stage 2: shorter side to 256, central 256x256 crop, RGB, into a few shard files (section 2)."""

from alexnet_repro.cli import launch
from alexnet_repro.stages.resize import main

if __name__ == "__main__":
    launch(main)
