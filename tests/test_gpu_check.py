"""bench/gpu_check.sh, the first GPU run prepared before a GPU is lent: its wheel list covers what the train stage
imports and the device machine lacks, and its --cpu run (the same code and files, tiny sizes) works."""

from __future__ import annotations

import json
import math
import os
import re
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest
from packaging.markers import Marker
from packaging.requirements import Requirement

from alexnet_repro.code_hash import PACKAGE, closure, import_statements
from conftest import PYTHON, ROOT

SCRIPT = ROOT / "bench" / "gpu_check.sh"
KINDS = Path("/work/.library/device/KINDS.md")  # the device tool's notes, where this workplace has them
# The device's packages (KINDS.md, "Python packages already there", nvidia-h200, read 2026-11-17), copied so the
# test runs where that file does not exist (CI). test_the_copy_of_the_device_package_list_is_current compares.
DEVICE_PACKAGES = set("""
absl-py accelerate aiofiles aiohappyeyeballs aiohttp aiosignal annotated-doc anyio attrs botorch build certifi
charset-normalizer chex click cloudpickle cmake colorama contourpy coverage cuda-bindings cuda-core cuda-pathfinder
cuda-toolkit cupy-cuda13x cycler cython diffrax e3nn einops equinox etils execnet filelock flatbuffers flax fonttools
formulaic frozenlist fsspec gpytorch grpcio h11 h5py hf-xet httpcore httpx huggingface-hub humanize hypothesis idna
imageio iniconfig interface-meta jax jax-cuda13-pjrt jax-cuda13-plugin jaxlib jaxtyping jinja2 joblib kiwisolver
lazy-loader lightning lightning-utilities linear-operator lineax llvmlite lxml markdown markdown-it-py markupsafe
matplotlib mdurl meson ml-dtypes mpi4py mpmath msgpack multidict multipledispatch mypy-extensions nanobind narwhals
networkx ninja numba numba-cuda numpy numpyro nvidia-cublas nvidia-cuda-cupti nvidia-cuda-nvrtc nvidia-cuda-runtime
nvidia-cudnn-cu13 nvidia-cufft nvidia-cufile nvidia-curand nvidia-cusolver nvidia-cusparse nvidia-cusparselt-cu13
nvidia-ml-py nvidia-nccl-cu13 nvidia-nvjitlink nvidia-nvshmem-cu13 nvidia-nvtx onnx onnx-ir onnxruntime onnxscript
opencv-python-headless optax opt-einsum opt-einsum-fx optimistix orbax-checkpoint packaging pandas pathspec patsy peft
pillow pip pluggy portalocker prometheus-client propcache protobuf psutil pyarrow pybind11 py-cpuinfo pygments
pyparsing pyproject-hooks pyre-extensions pytest pytest-benchmark pytest-cov pytest-mock pytest-timeout pytest-xdist
python-dateutil pytorch-lightning pyyaml regex requests rich sacrebleu safetensors scikit-build-core scikit-image
scikit-learn scipy seaborn sentencepiece sentence-transformers setuptools shellingham simplejson six
sortedcontainers statsmodels sympy tabulate tensorboard tensorboard-data-server tensorstore threadpoolctl tifffile
tiktoken timm tokenizers toolz torch torchaudio torchdiffeq torch-geometric torchmetrics torchvision tqdm
transformers treescope triton typer typing-extensions typing-inspect urllib3 uvloop wadler-lindig werkzeug wheel
wrapt xarray xxhash yarl zipp
""".split())
DEVICE_PYTHON = {"python_version": "3.12", "python_full_version": "3.12.3", "sys_platform": "linux",
                 "platform_machine": "x86_64", "implementation_name": "cpython", "extra": ""}


def normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def header_lists() -> tuple[dict[str, str], set[str]]:
    """The script header's WHEELS (name -> version) and NOT CARRIED (names) lists: "#   name ..." lines under
    "# WHEELS:" or "# NOT CARRIED:", up to the next other comment line."""
    wheels, skipped, section = {}, set(), None
    for line in SCRIPT.read_text().splitlines():
        if not line.startswith("#"):
            break
        if line.rstrip() in ("# WHEELS:", "# NOT CARRIED:"):
            section = line[2:].rstrip(":")
        elif section and line.startswith("#   "):
            name = line.split()[1]
            if section == "WHEELS":
                dist, _, version = name.partition("==")
                wheels[normalise(dist)] = version
            else:
                skipped.add(normalise(name))
        else:
            section = None
    return wheels, skipped


def train_stage_modules() -> set[str]:
    """Every third-party module the train stage imports (src/train.py and the package modules it runs, found
    as tests/test_dvc_stages.py finds them: code_hash's closure), lazy imports included."""
    found = set()
    for path in closure(ROOT / "src" / "train.py"):
        for base, _ in import_statements(path):
            top = base.split(".")[0]
            if base and top != PACKAGE and top not in sys.stdlib_module_names:
                found.add(base)
    return found


def distribution_of(module: str) -> str:
    """The installed distribution that provides `module` (for a namespace package such as nvidia.*, the one
    whose files hold the module's own folder)."""
    parts = module.split(".")
    candidates = metadata.packages_distributions().get(parts[0], [])
    if len(candidates) > 1:
        folder = "/".join(parts[:2]) + "/"
        candidates = [d for d in candidates if any(str(f).startswith(folder) for f in metadata.files(d) or [])]
    assert len(set(candidates)) == 1, f"{module}: no single installed distribution provides it ({candidates})"
    return normalise(candidates[0])


def device_requirements(dist: str) -> set[str]:
    """What `dist` needs on the device's Python 3.12, extras left out."""
    needs = set()
    for text in metadata.requires(dist) or []:
        req = Requirement(text)
        if req.marker is None or Marker(str(req.marker)).evaluate(DEVICE_PYTHON):
            needs.add(normalise(req.name))
    return needs


def test_the_wheel_list_covers_what_the_train_stage_imports_and_the_device_lacks():
    wheels, skipped = header_lists()
    assert {"hydra-core", "simplejpeg"} <= set(wheels), "the header's WHEELS list was not read"
    assert "nvidia-dali-cuda130" in skipped, "the header's NOT CARRIED list was not read"
    needed = {distribution_of(m) for m in train_stage_modules()} - DEVICE_PACKAGES
    missing = needed - set(wheels) - skipped
    assert not missing, f"imported by the train stage, absent from the device: add to WHEELS in {SCRIPT.name}: {missing}"
    # ... and what those wheels need in turn (pip installs them there with --no-deps)
    for dist in wheels:
        lacking = device_requirements(dist) - DEVICE_PACKAGES - set(wheels)
        assert not lacking, f"{dist} needs {lacking}, neither on the device nor in WHEELS"
    # one version each, the one tested here
    for dist, version in wheels.items():
        assert version == metadata.version(dist), f"{dist}: WHEELS says {version}, tested with {metadata.version(dist)}"


def test_the_wheel_list_check_can_fail():
    assert distribution_of("omegaconf") == "omegaconf" and "omegaconf" not in DEVICE_PACKAGES
    assert distribution_of("nvidia.dali") == "nvidia-dali-cuda130"


@pytest.mark.skipif(not KINDS.exists(), reason="the device tool's KINDS.md exists only in this workplace")
def test_the_copy_of_the_device_package_list_is_current():
    text = KINDS.read_text()
    listed = text.split("Packages: ", 1)[1].split("\n", 1)[0].rstrip(".")
    assert {normalise(p.strip()) for p in listed.split(",")} == DEVICE_PACKAGES


def finite(x) -> bool:
    return isinstance(x, (int, float)) and math.isfinite(x)


@pytest.mark.slow
@pytest.mark.timeout(1800)
def test_gpu_check_runs_on_the_cpu_and_writes_every_file(tmp_path):
    out = tmp_path / "out"
    env = {**os.environ, "OUT": str(out), "PYTHON": PYTHON, "TMPDIR": str(tmp_path), "WANDB_MODE": "disabled"}
    result = subprocess.run(["bash", str(SCRIPT), "--cpu"], cwd=ROOT, env=env, capture_output=True, text=True,
                            timeout=1700)
    log = (out / "gpu_check.log").read_text()
    assert "gpu_check: cpu run" in log and "== resume:" in log  # the log holds what was printed
    assert set(p.name for p in out.iterdir()) == {"gpu_check.log", "env.json", "model_only.json", "training.json",
                                                  "resume.json", "ddp2.json"}

    env_json = json.loads((out / "env.json").read_text())
    assert env_json["mode"] == "cpu" and env_json["peak_tflops"] == 989.0
    assert set(env_json["stages"]) == {"store", "model_only", "training", "resume"}

    model = json.loads((out / "model_only.json").read_text())
    assert model["complete"] and model["gflop_per_image"] > 0
    variants = {"fp32", "bf16", "bf16+channels_last", "bf16+channels_last+compile"}
    assert {(r["variant"], r["batch"]) for r in model["rows"]} == {(v, b) for v in variants for b in (8, 16)}
    for row in model["rows"]:
        assert finite(row["images_per_s"]) and row["images_per_s"] > 0 and row["mfu_pct"] >= 0, row

    training = json.loads((out / "training.json").read_text())
    assert training["complete"] and training["workers_setting"] == "auto" and training["workers"] >= 1
    rows = {r["name"]: r for r in training["rows"]}
    assert set(rows) == {"train:plain-recipe,fp32", "train:ours,cpu-decoder,bf16+cl", "train:ours,dali-decoder,bf16+cl"}
    for name in ("train:plain-recipe,fp32", "train:ours,cpu-decoder,bf16+cl"):
        row = rows[name]
        assert row["run"] and row["images_per_s"] > 0 and finite(row["vs_plain"]), row
        assert 0.0 <= row["data_wait_frac"] <= 1.0, row
    assert rows["train:ours,cpu-decoder,bf16+cl"]["precision"] == "bf16-mixed"  # the gpu preset's
    assert not rows["train:ours,dali-decoder,bf16+cl"]["run"] and rows["train:ours,dali-decoder,bf16+cl"]["why"]

    resume = json.loads((out / "resume.json").read_text())
    assert {"profile=paper", "trainer=gpu", "trainer.compile=true", "data.workers=auto"} <= set(resume["overrides"])
    assert resume["killed"]["rc"] == -9 and resume["whole"]["rc"] == 0 and resume["resumed"]["rc"] == 0
    assert resume["resumed"]["started_at_step"] == resume["killed"]["last_ckpt_step"] > 0
    assert all(v > 0 for v in resume["whole_history"]["train/images_per_s"])
    assert resume["checks"] and resume["pass"], {k: resume[k] for k in ("checks", "worst_tensor", "max_rel_to_weights")}

    assert json.loads((out / "ddp2.json").read_text())["run"] is False
    assert result.returncode == 0, log[-3000:]
