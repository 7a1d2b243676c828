"""Stage 3: mean image and RGB PCA over the training store (sections 2 and 4.1)."""

from alexnet_repro.cli import launch
from alexnet_repro.stages.pca import main

if __name__ == "__main__":
    launch(main)
