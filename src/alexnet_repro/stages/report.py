"""Stage 6: the comparison report in reports/ (Markdown with PNG figures, and one self-contained HTML)."""

import hydra
from omegaconf import DictConfig

from alexnet_repro.cli import CONFIG_DIR, launch, log, user_errors
from alexnet_repro.report.build import build_report
from alexnet_repro.report.config import ReportConfig
from alexnet_repro.schema import validate


@hydra.main(version_base="1.3", config_path=CONFIG_DIR, config_name="report")
def main(raw: DictConfig) -> None:
    with user_errors():
        cfg = validate(raw, ReportConfig)
        path = build_report(cfg)
        log.info("report written to %s and %s", path, path.parent / "report.html")


def cli() -> None:
    launch(main)
