"""Record stages that ran outside `dvc repro` (alexnet-matrix's jobs) in dvc.lock, in one write.

`dvc repro` after the matrix would start each finished stage's command again (it adopts its result in about a
second) and then rewrite dvc.lock, once per stage: DVC parses and writes that YAML file whole each time (ruamel,
in Python: 3-4 s a stage at the embedded pipeline's 71 stages, 4.4 minutes for its 60 jobs, measured in
docs/performance.md). This does for each stage what `dvc repro` does once its command has run (Stage.run: save
the hashes of its dependencies and outputs, commit its cached outputs to DVC's cache; then its lock entry), and
writes the lock once. The matrix calls it only for stages whose command has just run again and adopted its own
result (training/run.py, evaluation/inputs.py), so the outputs it records are those of the dependencies as they
are now, as under `dvc repro`."""

from __future__ import annotations

from pathlib import Path


def record(root: Path, names: list[str]) -> list[str]:
    """Record the stages named (DVC addresses: train@baseline-0, ...) as done; returns the ones recorded."""
    from dvc.repo import Repo

    wanted = set(names)
    with Repo(str(root)) as repo, repo.lock:
        stages = [s for s in repo.index.stages if s.addressing in wanted]
        files: dict[str, list] = {}
        for stage in stages:
            # as Stage.run: the run cache only when every output is cached
            cached = all(out.use_cache for out in stage.outs if not (out.is_metric or out.is_plot))
            stage.save(run_cache=cached)
            stage.commit()
            files.setdefault(stage.dvcfile.path, []).append(stage)
        for group in files.values():
            group[0].dvcfile.dump_stages(group, update_pipeline=False)
    return [s.addressing for s in stages]
