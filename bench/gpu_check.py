"""The first GPU run, in one call of the device tool (bench/gpu_check.sh installs the carried wheels, then runs
this): every figure the GPU path has never had, each written into OUT the moment it is measured.

    python bench/gpu_check.py OUT [--cpu]

Stages, in order (each but the store with its own time cap, so one that hangs cannot eat the others'; a stage
that fails or runs out of time is recorded in env.json and the next one still runs):
  store       photographs (bench/photos.py; generated images where scikit-image is absent) resized into our
              store, the same images as an ImageFolder for the plain recipe, and the store's PCA statistics
  model_only  bench/gpu.py --model-only: training-step images/s of the net alone, batch 128 and 256, fp32, bf16,
              bf16 + channels_last, + compile, MFU against the bf16 peak          -> model_only.json
  training    bench/gpu.py --training-only: our Trainer.fit with the `gpu` preset and the CPU decoder
              (data.workers=auto), DALI where it is installed, the plain recipe; ratio, images/s, data wait
                                                                                  -> training.json
  resume      `profile=paper trainer=gpu trainer.compile=true` for a few hundred steps three times in one
              folder layout: uninterrupted; SIGKILLed mid-epoch; started again (it resumes from last.ckpt). The
              resumed run's weights against the uninterrupted run's, within a stated tolerance -> resume.json
  ddp2        not run: trainer=ddp2 needs two GPUs and the machine has one      -> ddp2.json
env.json: the machine, versions, sizes and each stage's exit code and seconds, rewritten after every stage.

--cpu: the same stages, files and code on this machine's CPU at tiny sizes (tests/test_gpu_check.py), so the
script is known to run before a GPU is lent. Sized for an H200: about 6 minutes (docs/performance.md).
"""

from __future__ import annotations

import argparse
import csv
import importlib.util
import json
import os
import platform
import signal
import subprocess
import sys
import threading
import time
from dataclasses import asdict, dataclass, field
from multiprocessing import Pool
from pathlib import Path

import numpy as np

from alexnet_repro.atomic import write_json
from alexnet_repro.data.store import encode_image, shard_stem, write_index, write_shard

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
PEAK_TFLOPS = 989.0  # H100/H200 SXM dense bf16 by NVIDIA's datasheet; KINDS.md measured 769-798 on a bf16 matmul
CHUNK = 256  # images per store shard and per worker task


@dataclass(frozen=True)
class Sizes:
    device: str
    images: int  # in the store (unique images: each decode costs what a real one does)
    width: float  # model.width for the model-only and training rows (the resume stage: profile=paper's, or cpu's)
    input: int
    batches: str  # model-only batch sizes; the training rows use the first
    model_warmup: int
    model_steps: int
    train_warmup: int  # > the loader's prefetched batches (workers x 2), so the timed steps are steady state
    train_steps: int
    resume: tuple[str, ...]  # overrides on top of resume_overrides()'s
    kill_at: int  # a step that is not a checkpoint step, mid-epoch
    tolerance: float  # the largest relative L2 difference of any weight tensor, resumed against uninterrupted
    caps: dict = field(default_factory=dict)  # seconds per stage


SIZES = {
    # 16,384 images: 128 steps of 128 an epoch, so the 25 + 100 timed training steps stay in one epoch; three
    # epochs (384 steps) for the resume check, killed at 250 (last.ckpt at 200). bf16 autocast keeps 8
    # significant bits (epsilon 2^-7); cuDNN picks its algorithms per process (benchmark) and its backward
    # sums in no fixed order, so two runs differ by rounding that grows with the steps: 2^-6 (two epsilons)
    # per tensor, a first guess to read again against resume.json's figures after the first run.
    "gpu": Sizes("cuda", 16384, 1.0, 227, "128,256", 5, 50, 25, 100, (), 250, 2**-6,
                 dict(model_only=130, training=100, resume=200)),
    # The CPU at tiny sizes: 54 training images, 7 steps of 8 an epoch, 21 in all, killed at 13 (last.ckpt at
    # 10, a step checkpoint, mid-epoch). The CPU's kernels are deterministic at a fixed thread count, so the
    # resumed weights must match closely; 1e-4 leaves room for a compiled kernel's reordered sums.
    "cpu": Sizes("cpu", 64, 0.125, 67, "8,16", 2, 2, 2, 3,
                 ("trainer.accelerator=cpu", "model.width=0.125", "model.input_size=67", "data.batch_size=8",
                  "data.minival_per_class=1", "trainer.ckpt_every_n_steps=5"), 13, 1e-4,
                 dict(model_only=400, training=400, resume=900)),
}


# --- store ----------------------------------------------------------------------------------------------------

def content() -> tuple[str, str]:
    if importlib.util.find_spec("skimage") is not None:
        return "photo", "scikit-image's bundled photographs (bench/photos.py)"
    return "generated", "scikit-image is not installed (pip install -e .[bench]): generated images instead"


def images(n: int, kind: str, seed: int) -> list[np.ndarray]:
    """n 256x256 images: photographs cut as ImageNet's (bench/photos.py), or the generated dataset's; the
    one at position i shows class i % 10 (the photograph it was cut from, or the class rendered)."""
    import io

    from alexnet_repro.data.generate import encode, render
    from alexnet_repro.data.resize import resize_center

    if kind == "photo":
        from photos import photographs  # bench/photos.py, beside this file

        files = photographs(n, seed=seed)
    else:
        rng = np.random.default_rng(seed)
        files = [encode(render(i % 10, rng), "rgb", 90) for i in range(n)]
    return [resize_center(io.BytesIO(data)) for data in files]


def make_chunk(job: tuple[int, int, str, str]) -> tuple[str, int, str]:
    """One shard of the store, and the same images in the ImageFolder (for the plain recipe)."""
    number, n, kind, work = job
    from PIL import Image

    records = []
    for i, im in enumerate(images(n, kind, seed=number)):
        name = f"{number}-{i}.JPEG"
        records.append((name, i % 10, encode_image(im, "jpeg", 90)))
        folder = Path(work) / "imagefolder" / f"c{i % 10}"
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(im).save(folder / name, quality=90)
    stem = shard_stem("train", number)
    count = write_shard(Path(work) / "store", stem, records)
    return stem, count, json.loads((Path(work) / "store" / f"{stem}.json").read_text())["sha256"]


def build_store(work: Path, images: int, kind: str) -> dict:
    """Shards made in parallel (one per CHUNK images: photographs take ~10 ms each to cut, encode and resize)."""
    from alexnet_repro.data.pca import pixel_statistics, write_statistics

    (work / "store").mkdir(parents=True)
    jobs = [(k, min(CHUNK, images - k * CHUNK), kind, str(work)) for k in range((images + CHUNK - 1) // CHUNK)]
    workers = max(1, min(len(jobs), len(os.sched_getaffinity(0))))
    with Pool(workers) as pool:
        shards = pool.map(make_chunk, jobs)
    write_index(work / "store", {"encoding": "jpeg", "image_size": 256, "quality": 90,
                                 "classes": [{"wnid": f"c{i}", "words": ""} for i in range(10)],
                                 "splits": {"train": {"shards": [s for s, _, _ in shards],
                                                      "count": sum(c for _, c, _ in shards),
                                                      "digests": [d for _, _, d in shards]}}})
    stats, mean = pixel_statistics(work / "store", workers=workers, progress=False)
    write_statistics(stats, mean, work / "stats" / "pca_stats.json")
    megabytes = sum(f.stat().st_size for f in (work / "store").iterdir()) / 1e6
    return {"images": images, "content": kind, "store_mb": round(megabytes, 1), "workers": workers}


# --- resume ---------------------------------------------------------------------------------------------------

def resume_overrides(work: Path, sizes: Sizes) -> list[str]:
    return ["profile=paper", "trainer=gpu", "trainer.compile=true", "logger=none",
            f"data.store_dir={work / 'store'}", f"data.stats_path={work / 'stats' / 'pca_stats.json'}",
            "data.workers=auto", "data.minival_per_class=10", "trainer.max_epochs=3", "trainer.ckpt_every_n_steps=100",
            "trainer.checkpoint_every_minutes=null", "trainer.enable_progress_bar=false", *sizes.resume]


def train_run(run_dir: Path, overrides: list[str], deadline: float, *extra: str) -> dict:
    """bench/train_run.py in its own process group (a SIGKILL must take only it and its loader workers), killed
    at the stage's deadline; its output is echoed into the log line by line as it comes."""
    started = time.perf_counter()
    args = [sys.executable, "-u", str(BENCH / "train_run.py"), str(run_dir), *extra, *overrides]
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)
    timer = threading.Timer(max(1.0, deadline - time.time()), os.killpg, (proc.pid, signal.SIGKILL))
    timer.start()
    lines = []
    for line in proc.stdout:
        print(line, end="", flush=True)
        lines.append(line)
    proc.wait()
    timer.cancel()
    starts = [int(line.split()[-1]) for line in lines if line.startswith("train_run: start at step")]
    return {"rc": proc.returncode, "timed_out": time.time() >= deadline,
            "seconds": round(time.perf_counter() - started, 1), "started_at_step": starts[-1] if starts else None}


def checkpoint(path: Path) -> dict:
    import torch

    return torch.load(path, map_location="cpu", weights_only=True, mmap=True)  # our own, but no pickle runs here


def compare_weights(resumed: Path, whole: Path, init: Path) -> dict:
    """Per weight tensor: |resumed - whole| / |whole| (L2), and the same difference over how far the whole run's
    weights moved from their start, |whole - init| (a resume that lost the optimizer state or the loader's
    position differs by a sizeable share of that; rounding differs by a small one)."""
    import torch

    a, b = checkpoint(resumed / "checkpoints" / "last.ckpt"), checkpoint(whole / "checkpoints" / "last.ckpt")
    start = torch.load(init, map_location="cpu", weights_only=True)
    rows = {}
    for key, wb in b["state_dict"].items():
        if not key.startswith("net.") or not wb.is_floating_point():
            continue
        wa, wb = a["state_dict"][key].float(), wb.float()
        diff = (wa - wb).norm().item()
        moved = (wb - start[key.removeprefix("net.")]).norm().item()
        rows[key] = {"rel_to_weights": diff / max(wb.norm().item(), 1e-30), "rel_to_movement": diff / max(moved, 1e-30)}
    return {"steps": [a["global_step"], b["global_step"]], "tensors": rows}


def history(run_dir: Path) -> dict:
    """The uninterrupted run's per-epoch throughput (training/callbacks.py's Throughput): the stage itself at
    compile=true, epoch 0 including the compilation."""
    with open(run_dir / "history.csv") as f:
        rows = list(csv.DictReader(f))
    keys = ("train/images_per_s", "train/data_wait_frac", "train/loss")
    return {k: [float(r[k]) for r in rows if r.get(k)] for k in keys}


def resume_check(work: Path, sizes: Sizes, out: Path, cap: float) -> bool:
    deadline = time.time() + cap
    overrides = resume_overrides(work, sizes)
    whole, broken = work / "runs" / "whole", work / "runs" / "killed"
    report = {"overrides": overrides, "kill_at_step": sizes.kill_at, "tolerance_rel_l2": sizes.tolerance,
              "tolerance_why": "bf16 autocast (8 significant bits) and cuDNN's per-process algorithm choice: two runs "
                               "differ by rounding; fp32 master weights" if sizes.device == "cuda" else
                               "CPU kernels are deterministic at a fixed thread count", "pass": False}

    def save(**values) -> None:
        report.update(values)
        write_json(out / "resume.json", report)

    save()
    init = work / "runs" / "init.pt"
    save(whole=train_run(whole, overrides, deadline, "--save-init", str(init)))
    if report["whole"]["rc"] != 0:
        return False
    save(whole_history=history(whole))
    save(killed=train_run(broken, overrides, deadline, "--kill-at", str(sizes.kill_at)))
    ckpt = broken / "checkpoints" / "last.ckpt"
    report["killed"]["last_ckpt_step"] = checkpoint(ckpt)["global_step"] if ckpt.exists() else None
    save()
    if report["killed"]["rc"] != -signal.SIGKILL or report["killed"]["last_ckpt_step"] is None:
        return False
    save(resumed=train_run(broken, overrides, deadline))  # the same folder and config: it resumes itself
    if report["resumed"]["rc"] != 0:
        return False
    compared = compare_weights(broken, whole, init)
    worst = max(compared["tensors"], key=lambda k: compared["tensors"][k]["rel_to_weights"])
    checks = {
        "killed_mid_run": 0 < report["killed"]["last_ckpt_step"] < sizes.kill_at,
        "resumed_from_last_ckpt": report["resumed"]["started_at_step"] == report["killed"]["last_ckpt_step"],
        "same_final_step": compared["steps"][0] == compared["steps"][1],
        "weights_within_tolerance": compared["tensors"][worst]["rel_to_weights"] <= sizes.tolerance,
    }
    save(final_steps=compared["steps"], weights=compared["tensors"], worst_tensor=worst,
         max_rel_to_weights=compared["tensors"][worst]["rel_to_weights"],
         max_rel_to_movement=max(t["rel_to_movement"] for t in compared["tensors"].values()),
         checks=checks, **{"pass": all(checks.values())})
    print(f"resume: {'pass' if report['pass'] else 'FAIL'} {checks}; worst tensor {worst}: "
          f"{report['max_rel_to_weights']:.3g} of its norm (tolerance {sizes.tolerance:.3g}); largest difference "
          f"over the distance moved {report['max_rel_to_movement']:.3g}", flush=True)
    return report["pass"]


# --- the machine ----------------------------------------------------------------------------------------------

def machine(sizes: Sizes) -> dict:
    import lightning
    import torch

    info = {"python": platform.python_version(), "torch": torch.__version__, "lightning": lightning.__version__,
            "cuda": torch.version.cuda, "cores": len(os.sched_getaffinity(0)), "gpus": torch.cuda.device_count(),
            "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
            "peak_tflops": PEAK_TFLOPS, "carried_wheels": os.environ.get("GPU_CHECK_WHEELS", "").split()}
    if sizes.device == "cuda" and not torch.cuda.is_available():
        raise SystemExit("error: no CUDA device; bench/gpu_check.sh --cpu runs the CPU version")
    return info


def ddp2_note(info: dict, out: Path) -> None:
    why = (f"trainer=ddp2 trains on two GPUs (devices: 2, strategy: ddp) and this machine has {info['gpus']}: "
           "not run. tests/test_train.py runs its two processes on a CPU (trainer=ddp2_cpu)")
    print(f"ddp2: {why}", flush=True)
    write_json(out / "ddp2.json", {"run": False, "why": why, "gpus": info["gpus"]})


def run_stage(name: str, args: list[str], cap: float) -> dict:
    """A bench script in its own process group: past its cap it is killed whole (loader workers too)."""
    started = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-u", *args], start_new_session=True)
    try:
        rc = proc.wait(timeout=cap)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        rc = None
    return {"rc": rc, "timed_out": rc is None, "seconds": round(time.perf_counter() - started, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", help="where the files go ($OUT on the device machine)")
    parser.add_argument("--work", required=True, help="scratch folder for the store and the runs")
    parser.add_argument("--cpu", action="store_true", help="tiny sizes on this machine's CPU")
    args = parser.parse_args()
    sizes = SIZES["cpu" if args.cpu else "gpu"]
    out, work = Path(args.out), Path(args.work)
    out.mkdir(parents=True, exist_ok=True)
    began = time.perf_counter()
    kind, why = content()
    env = {"mode": "cpu" if args.cpu else "gpu", "sizes": asdict(sizes), "content": kind, "content_why": why,
           **machine(sizes), "stages": {}}
    write_json(out / "env.json", env)
    print(f"gpu_check: {json.dumps({k: v for k, v in env.items() if k != 'sizes'})}", flush=True)
    ddp2_note(env, out)

    def record(name: str, result: dict) -> None:
        env["stages"][name] = result
        env["seconds"] = round(time.perf_counter() - began, 1)
        write_json(out / "env.json", env)
        print(f"== {name}: {result}", flush=True)

    started = time.perf_counter()
    record("store", {**build_store(work, sizes.images, kind), "rc": 0,
                     "seconds": round(time.perf_counter() - started, 1)})
    common = ["--device", sizes.device, "--width", str(sizes.width), "--input", str(sizes.input),
              "--batch", sizes.batches, "--peak-tflops", str(PEAK_TFLOPS), "--out", str(out)]
    record("model_only", run_stage("model_only", [str(BENCH / "gpu.py"), *common, "--model-only",
                                                  "--warmup", str(sizes.model_warmup), "--steps",
                                                  str(sizes.model_steps)], sizes.caps["model_only"]))
    record("training", run_stage("training", [str(BENCH / "gpu.py"), *common, "--training-only", "--classes", "10",
                                              "--store", str(work), "--warmup", str(sizes.train_warmup), "--steps",
                                              str(sizes.train_steps)], sizes.caps["training"]))
    started = time.perf_counter()
    passed = resume_check(work, sizes, out, sizes.caps["resume"])
    record("resume", {"rc": 0 if passed else 1, "seconds": round(time.perf_counter() - started, 1)})
    failed = [name for name, r in env["stages"].items() if r["rc"] != 0]
    print(f"gpu_check: {'all stages passed' if not failed else 'FAILED: ' + ', '.join(failed)} in "
          f"{env['seconds']:.0f} s; files in {out}", flush=True)
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
