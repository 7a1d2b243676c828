"""Stage 3: mean image and RGB PCA over the training store (sections 2 and 4.1)."""

import hydra
from omegaconf import DictConfig

from alexnet_repro.config import PrepareConfig, validate
from alexnet_repro.data.pca import pixel_statistics, write_statistics
from alexnet_repro.stage import clean_errors


@hydra.main(version_base="1.3", config_path="../conf", config_name="prepare")
def main(cfg: DictConfig) -> None:
    with clean_errors():
        data = validate(cfg, PrepareConfig).data
        stats, mean_image = pixel_statistics(data.store_dir, data.pca.max_images, data.pca.seed, data.pca.workers)
        write_statistics(stats, mean_image, data.stats_path)
        print(f"eigenvalues {stats['eigenvalues']} over {stats['num_images']} images -> {data.stats_path}")


if __name__ == "__main__":
    main()
