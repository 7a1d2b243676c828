"""Stage 1: acquire the configured dataset (generated, ILSVRC tarballs, Imagenette, ImageFolder) into raw_dir."""

from alexnet_repro.cli import launch
from alexnet_repro.stages.download import main

if __name__ == "__main__":
    launch(main)
