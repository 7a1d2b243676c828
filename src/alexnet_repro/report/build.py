"""Assemble reports/ as a paper's results section: load the results of one dataset and profile (results.py),
compute every number (compute.py), turn them into blocks with their figures (render.py) and write the Markdown and
the self-contained HTML (document.py). Each output is written whole or not at all."""

from __future__ import annotations

from pathlib import Path

from alexnet_repro import results as R
from alexnet_repro.atomic import atomic_dir, atomic_path
from alexnet_repro.cifar_lrn import result as cifar_lrn_result
from alexnet_repro.figure1 import result as figure1_result
from alexnet_repro.report.compute import compute
from alexnet_repro.report.document import Figure, to_html, to_markdown
from alexnet_repro.report.numbers import ReportNumbers
from alexnet_repro.report.render import TITLE, blocks


def numbers(cfg) -> ReportNumbers:
    """The report's numbers for a report config (config.ReportConfig), without writing anything."""
    results_dir, dataset, profile = Path(cfg.results_dir), cfg.data.name, cfg.profile_name
    found, skipped = R.load_all(results_dir, dataset, profile)
    if cfg.baseline not in found:
        raise FileNotFoundError(f"{results_dir / cfg.baseline / R.RESULT_JSON} (dataset {dataset}, profile "
                                f"{profile}) is missing: the report compares every ablation with the baseline, so "
                                "evaluate it first")
    return compute(found, skipped, cfg, figure1_result.load_all(results_dir), cifar_lrn_result.load_all(results_dir))


def build_report(cfg):
    """Write out_dir/README.md, out_dir/report.html and out_dir/figures/; returns the README's path."""
    n = numbers(cfg)
    out_dir = Path(cfg.out_dir)
    with atomic_dir(out_dir / "figures") as fig_dir:
        made = blocks(n, fig_dir)
    final = [b if not isinstance(b, Figure) else Figure(out_dir / "figures" / b.path.name, b.caption) for b in made]
    with atomic_path(out_dir / "README.md") as tmp:
        tmp.write_text(to_markdown(final, out_dir))
    with atomic_path(out_dir / "report.html") as tmp:
        tmp.write_text(to_html(final, TITLE))
    return out_dir / "README.md"
