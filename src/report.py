"""Stage 6: the comparison report in reports/ (Markdown with PNG figures, and one self-contained HTML)."""

import hydra
from omegaconf import DictConfig

from alexnet_repro.report.build import build_report
from alexnet_repro.stage import clean_errors


@hydra.main(version_base="1.3", config_path="../conf", config_name="report")
def main(cfg: DictConfig) -> None:
    with clean_errors():
        path = build_report(cfg.results_dir, cfg.data.store_dir, cfg.out_dir, cfg.baseline, cfg.bootstrap_samples,
                            cfg.seed, cfg.data.name, cfg.profile_name, cfg.mode)
        print(f"report written to {path} and {path.parent / 'report.html'}")


if __name__ == "__main__":
    main()
