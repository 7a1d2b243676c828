"""Where a result came from: code version, hardware and package versions, recorded beside every result."""

from __future__ import annotations

import os
import platform
import subprocess
from importlib import metadata

import torch

from alexnet_repro.basics import PROJECT_ROOT

PACKAGES = ("torch", "torchvision", "lightning", "torchmetrics", "hydra-core", "wandb", "dvc", "numpy", "pillow")
# What the pipeline itself rewrites: changes there do not make the code that produced a result another code.
OUTPUTS = ("results", "reports", "dvc.lock")


def git_commit() -> str:
    try:
        sha = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True,
                             cwd=PROJECT_ROOT)
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "--", ".",
                                *(f":!{path}" for path in OUTPUTS)], capture_output=True, text=True, cwd=PROJECT_ROOT)
        return sha.stdout.strip() + (" (with uncommitted changes)" if dirty.stdout.strip() else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def versions() -> str:
    found = [f"Python {platform.python_version()}"]
    for name in PACKAGES:
        try:
            found.append(f"{name} {metadata.version(name)}")
        except metadata.PackageNotFoundError:
            pass
    return ", ".join(found)


def cpu_model() -> str:
    """The CPU's marketing name (Linux's /proc/cpuinfo), else the architecture."""
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def vector_isa() -> str:
    """The instruction set torch's CPU kernels dispatch to (AVX512, AVX2, ...): float results, and so the metrics
    of a chaotic optimisation, differ from one kind to the next (README: what is reproducible)."""
    return torch.backends.cpu.get_cpu_capability()


def hardware() -> str:
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU"
    return (f"{cpu_model()} ({vector_isa()} kernels), {os.cpu_count()} CPU cores, {gpu}; "
            f"{platform.platform()}")


def collect(data_fingerprint: str) -> dict[str, str]:
    return {"git_commit": git_commit(), "data_fingerprint": data_fingerprint, "hardware": hardware(),
            "versions": versions()}
