"""Stage 6: the comparison report in reports/ (Markdown with PNG figures, and one self-contained HTML)."""

from alexnet_repro.cli import launch
from alexnet_repro.stages.report import main

if __name__ == "__main__":
    launch(main)
