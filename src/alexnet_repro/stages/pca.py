"""Stage 3: mean image and RGB PCA over the training store (sections 2 and 4.1)."""

import hydra
from omegaconf import DictConfig

from alexnet_repro.cli import CONFIG_DIR, launch, log, user_errors
from alexnet_repro.data.config import PrepareConfig
from alexnet_repro.data.pca import pixel_statistics, write_statistics
from alexnet_repro.schema import validate


@hydra.main(version_base="1.3", config_path=CONFIG_DIR, config_name="prepare")
def main(cfg: DictConfig) -> None:
    with user_errors():
        data = validate(cfg, PrepareConfig).data
        stats, mean_image = pixel_statistics(data.store_dir, data.pca.max_images, data.pca.seed, data.pca.workers)
        write_statistics(stats, mean_image, data.stats_path)
        log.info("eigenvalues %s over %d images -> %s", stats["eigenvalues"], stats["num_images"], data.stats_path)


def cli() -> None:
    launch(main)
