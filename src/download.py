"""Stage 1: acquire the configured dataset (generated, ILSVRC tarballs, Imagenette, ImageFolder) into raw_dir."""

import hydra
from omegaconf import DictConfig

from alexnet_repro.config import PrepareConfig, validate
from alexnet_repro.data.acquire import acquire
from alexnet_repro.stage import clean_errors


@hydra.main(version_base="1.3", config_path="../conf", config_name="prepare")
def main(cfg: DictConfig) -> None:
    with clean_errors():
        data = validate(cfg, PrepareConfig).data
        acquire(data.source, data.raw_dir, workers=data.resize.workers)


if __name__ == "__main__":
    main()
