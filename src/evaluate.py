"""Stage 5: top-1/top-5 error of one experiment, centre crop and ten patches, single nets and ensemble."""

from alexnet_repro.cli import launch
from alexnet_repro.stages.evaluate import main

if __name__ == "__main__":
    launch(main)
