"""What the matrix runs: the training (and evaluation) stages DVC resolves from dvc.yaml, each sized by the
trainer preset of its own composed config."""

from __future__ import annotations

import os
import shlex
from dataclasses import dataclass
from pathlib import Path

from alexnet_repro.basics import ConfigError

# dvc.yaml's stages that train (figure1_cifar: Figure 1's four-layer nets, one activation a job; lrn_cifar: section
# 3.3's conv-local nets, one net a job); everything after them is `dvc repro`'s
TRAINING_STAGES = ("train", "figure1_cifar", "lrn_cifar")
EVALUATION_STAGES = ("evaluate",)  # run side by side too, on CPU workers, after their trainings
LOG_DIR = Path("logs") / "matrix"  # under the repository root: <stage>.log per local job, submitit/ for SLURM's


@dataclass(frozen=True)
class Job:
    stage: str  # train@baseline-0
    cmd: str  # exactly as DVC resolved it from dvc.yaml
    gpus: int  # GPUs one run of it uses (0: CPU)
    processes: int  # processes per node (DDP: one per device)
    nodes: int
    after: tuple[str, ...] = ()  # stages of this run that must finish first (an evaluation's trainings)
    threads: int | None = None  # its cpu_threads setting: the cores it takes on a machine without GPUs (None: all)


# --- what to run: from DVC ---------------------------------------------------------------------------------------

def training_stages(root: Path, changed_only: bool = True, evaluations: bool = False
                    ) -> list[tuple[str, str, tuple[str, ...]]]:
    """[(stage, cmd, the listed stages it waits for)], as DVC resolves dvc.yaml. changed_only: only the stages
    `dvc status` reports changed (a stage recorded as done costs nothing). evaluations: also each evaluation stage
    that is changed or reads a training listed here."""
    from dvc.repo import Repo

    with Repo(str(root)) as repo:
        graph = repo.index.graph  # an edge goes from a stage to a stage it depends on
        order = [s.addressing for s in repo.index.stages]
        training = [s for s in repo.index.stages if s.name.split("@")[0] in TRAINING_STAGES]
        if changed_only:  # what `dvc status` says, stage by stage (repo.status re-reads dvc.yaml per target)
            with repo.lock:
                training = [s for s in training if s.changed()]
        chosen = list(training)
        if evaluations:
            runs = {s.addressing for s in training}
            with repo.lock:
                chosen += [s for s in repo.index.stages if s.name.split("@")[0] in EVALUATION_STAGES and
                           ({u.addressing for u in graph.successors(s)} & runs or not changed_only or s.changed())]
        listed = {s.addressing for s in chosen}
        jobs = [(s.addressing, s.cmd, tuple(sorted(u.addressing for u in graph.successors(s)
                                                   if u.addressing in listed))) for s in chosen]
        return sorted(jobs, key=lambda job: order.index(job[0]))


def data_jobs(root: Path) -> list[Job]:
    """The stages the trainings read, transitively (each data chain's download, resize, pca), that `dvc status`
    reports changed, and every one of those that reads a changed one; each waits for the listed ones it reads. Run
    side by side (two chains at once), they are recorded in dvc.lock in one write, as the trainings are: `dvc repro`
    rewrote the lock after each stage (docs/performance.md)."""
    import networkx as nx
    from dvc.repo import Repo

    with Repo(str(root)) as repo:
        graph = repo.index.graph  # an edge goes from a stage to a stage it depends on
        order = [s.addressing for s in repo.index.stages]
        training = [s for s in repo.index.stages if s.name.split("@")[0] in TRAINING_STAGES]
        upstream = set().union(*(nx.descendants(graph, s) for s in training)) - set(training)
        with repo.lock:
            changed = {s for s in upstream if s.changed()}
        chosen = [s for s in upstream if s in changed or nx.descendants(graph, s) & changed]
        jobs = [Job(stage=s.addressing, cmd=s.cmd, gpus=0, processes=1, nodes=1,
                    after=tuple(sorted(u.addressing for u in graph.successors(s) if u in chosen))) for s in chosen]
    return sorted(jobs, key=lambda job: order.index(job.stage))


def script_and_overrides(stage: str, cmd: str) -> tuple[str, list[str]]:
    argv = shlex.split(cmd)
    if len(argv) < 2 or Path(argv[0]).name not in ("python", "python3") or not argv[1].endswith(".py"):
        raise ConfigError(f"stage {stage}: its command is not `python <script>.py ...`: {cmd}")
    return argv[1], argv[2:]


# --- how many devices a job uses: from its own composed config -----------------------------------------------------

def visible_gpus() -> list[str]:
    """The GPUs this node lets us use: CUDA_VISIBLE_DEVICES when set (its ids are kept), else every GPU."""
    if "CUDA_VISIBLE_DEVICES" in os.environ:
        return [g.strip() for g in os.environ["CUDA_VISIBLE_DEVICES"].split(",") if g.strip()]
    import torch

    return [str(i) for i in range(torch.cuda.device_count())]


def gpus_per_run(accelerator: str, devices, visible: int) -> int:
    """GPUs one training takes, read as Lightning reads `trainer.accelerator` and `trainer.devices`."""
    if accelerator not in ("gpu", "cuda", "auto") or (accelerator == "auto" and visible == 0):
        return 0
    if isinstance(devices, str):
        devices = -1 if devices.strip() in ("auto", "-1") else [d for d in devices.split(",") if d.strip()]
    if isinstance(devices, (list, tuple)):
        return len(devices)
    return visible if int(devices) == -1 else int(devices)


def compose_jobs(root: Path, stages: list[tuple], visible: int) -> list[Job]:
    """Each stage's config composed from its own command's overrides (a typo fails here, before any job): a
    training's size from its trainer preset; an evaluation takes one GPU when there is one."""
    from hydra import compose, initialize_config_dir

    import alexnet_repro.cifar_lrn.config  # noqa: F401  (registers the schemas)
    import alexnet_repro.evaluation.config  # noqa: F401
    import alexnet_repro.figure1.config  # noqa: F401
    import alexnet_repro.training.config  # noqa: F401

    jobs = []
    with initialize_config_dir(config_dir=str(root / "conf"), version_base="1.3"):
        for stage, cmd, *after in stages:
            script, overrides = script_and_overrides(stage, cmd)
            try:
                cfg = compose(config_name=Path(script).stem, overrides=overrides)
            except Exception as err:  # Hydra's own errors: name the stage, one line
                raise ConfigError(f"stage {stage}: {str(err).splitlines()[0]}") from None
            waits = tuple(after[0]) if after else ()
            if "trainer" not in cfg:  # an evaluation
                jobs.append(Job(stage=stage, cmd=cmd, gpus=min(visible, 1), processes=1, nodes=1, after=waits,
                                threads=cfg.get("cpu_threads")))
                continue
            trainer = cfg.trainer
            gpus = gpus_per_run(trainer.accelerator, trainer.devices, visible)
            devices = trainer.devices if isinstance(trainer.devices, int) and trainer.devices > 0 else max(gpus, 1)
            jobs.append(Job(stage=stage, cmd=cmd, gpus=gpus, processes=devices, nodes=trainer.num_nodes, after=waits,
                            threads=trainer.get("cpu_threads")))
    return jobs


