"""The ImageNet path at its real shape, by simulation: a generated ILSVRC-2012-layout set with 1000 classes (a few
images each, at ImageNet's image sizes and JPEG quality) taken through source -> resize -> pca, measuring per
stage the CPU seconds per image (this process and its workers), peak RSS, peak disk and files created.
docs/scale.md extrapolates these to ImageNet's 1,281,167 + 50,000 images.

    python bench/scale.py                          # 1000 classes x (2 train + 1 val), 2 workers
    python bench/scale.py --classes 100 --train-per-class 20 --val-per-class 10   # same images, 10x fewer classes

Memory should not grow with the number of classes or images: compare the two runs above.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import resource
import tempfile
import threading
import time
from pathlib import Path

from omegaconf import OmegaConf

from alexnet_repro.basics import PROJECT_ROOT
from alexnet_repro.data.config import ResizeConfig
from alexnet_repro.data.generate import GeneratedSpec, generate
from alexnet_repro.data.ilsvrc import index_ilsvrc
from alexnet_repro.data.pca import pixel_statistics, write_statistics
from alexnet_repro.data.resize import build_store


def _tree(root: Path) -> tuple[int, int]:
    """(bytes, files) under root."""
    size = files = 0
    for folder, _, names in os.walk(root):
        for name in names:
            try:
                size += os.path.getsize(os.path.join(folder, name))
                files += 1
            except OSError:  # a temporary renamed or removed while we looked
                pass
    return size, files


class DiskPeak:
    """Samples the bytes under a folder every 0.1 s: the peak includes temporaries that live for a moment."""

    def __init__(self, root: Path):
        self.root, self.peak, self._stop = root, 0, threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(0.1):
            self.peak = max(self.peak, _tree(self.root)[0])

    def __enter__(self) -> DiskPeak:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, _tree(self.root)[0])


def _children(pid: int) -> list[int]:
    try:
        tasks = Path(f"/proc/{pid}/task").iterdir()
        return [int(c) for t in tasks for c in (t / "children").read_text().split()]
    except OSError:
        return []


def _private_mb(pid: int) -> float:
    """Memory only this process holds (Private_Clean + Private_Dirty): RSS also counts the pages a forked
    worker shares with its parent (torch's libraries, imported once before the fork), which cost nothing more."""
    try:
        fields = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()[1:])
    except OSError:
        return 0.0
    return sum(int(fields[k].split()[0]) for k in ("Private_Clean", "Private_Dirty") if k in fields) / 1024


class WorkerPrivatePeak(threading.Thread):
    """Samples every 0.1 s the private memory of each worker of a stage process (Linux /proc)."""

    def __init__(self):
        super().__init__(daemon=True)
        self.pid, self.peak, self.stop = 0, 0.0, threading.Event()

    def run(self) -> None:
        while not self.stop.wait(0.1):
            if self.pid:
                self.peak = max([self.peak, *(_private_mb(c) for c in _children(self.pid))])


def _stage_in_child(run, queue) -> None:
    """Run one stage in a fresh process so its CPU time and peak memory are its own (getrusage's maxrss
    never goes down: measured in one process, every stage would inherit the largest before it)."""
    run()
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    queue.put((own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime,
               own.ru_maxrss / 1024, children.ru_maxrss / 1024))  # Linux reports KB


def _run_measured(run) -> tuple[float, float, float, float]:
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    child = context.Process(target=_stage_in_child, args=(run, queue))
    private = WorkerPrivatePeak()
    private.start()
    child.start()
    private.pid = child.pid
    result = queue.get()
    child.join()
    private.stop.set()
    private.join()
    if child.exitcode != 0:
        raise RuntimeError(f"a measured stage failed (exit code {child.exitcode})")
    return (*result, private.peak)


def imagenet_resize(workers: int) -> ResizeConfig:
    """data.resize of conf/data/imagenet.yaml, the settings this simulates, with this run's workers."""
    settings = OmegaConf.to_container(OmegaConf.load(PROJECT_ROOT / "conf" / "data" / "imagenet.yaml").resize)
    return ResizeConfig(**{**settings, "workers": workers})


def measure(root: Path, spec: GeneratedSpec, workers: int) -> list[dict]:
    images = spec.classes * (spec.train_per_class + spec.val_per_class)
    archives_dir, raw, store, stats = root / "archives", root / "raw", root / "store", root / "stats"
    stages = [
        ("generate (simulated download)", lambda: generate(archives_dir, spec, workers=workers, progress=False)),
        ("source: index the archives", lambda: index_ilsvrc(*(archives_dir / n for n in (
            "ILSVRC2012_img_train.tar", "ILSVRC2012_img_val.tar", "ILSVRC2012_devkit_t12.tar.gz")), raw,
            progress=False)),
        ("resize: stream into the store", lambda: build_store(raw, store, imagenet_resize(workers), progress=False)),
        ("pca", lambda: write_statistics(*pixel_statistics(store, workers=workers, progress=False),
                                         stats / "pca_stats.json")),
    ]
    rows = []
    for name, run in stages:
        files_before = _tree(root)[1]
        wall = time.perf_counter()
        with DiskPeak(root) as disk:
            cpu, own, worker, private = _run_measured(run)
        wall = time.perf_counter() - wall
        rows.append({"stage": name, "wall_s": wall, "cpu_ms_per_image": 1000 * cpu / images,
                     "peak_disk_mb": disk.peak / 2**20, "files_created": _tree(root)[1] - files_before,
                     "peak_rss_mb": own, "peak_worker_rss_mb": worker, "peak_worker_private_mb": private})
    sizes = {name: _tree(path)[0] / 2**20 for name, path in (("archives", archives_dir), ("raw", raw),
                                                              ("store", store), ("stats", stats))}
    rows.append({"stage": "sizes (MB)", **sizes})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--classes", type=int, default=1000)
    parser.add_argument("--train-per-class", type=int, default=2)
    parser.add_argument("--val-per-class", type=int, default=1)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--dir", type=Path, default=None, help="work folder (default: a temporary one)")
    args = parser.parse_args()
    spec = GeneratedSpec(classes=args.classes, train_per_class=args.train_per_class,
                         val_per_class=args.val_per_class, seed=0, quality=90)
    images = spec.classes * (spec.train_per_class + spec.val_per_class)
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        rows = measure(Path(tmp), spec, args.workers)
    print(f"{spec.classes} classes, {images} images ({spec.train_per_class} train + {spec.val_per_class} val per "
          f"class), {args.workers} workers, {os.cpu_count()} cores")
    print(f"{'stage':32s} {'wall s':>8s} {'CPU ms/img':>10s} {'peak disk MB':>12s} {'files':>7s} "
          f"{'RSS MB':>7s} {'worker RSS MB':>13s} {'worker private MB':>17s}")
    for r in rows[:-1]:
        print(f"{r['stage']:32s} {r['wall_s']:8.1f} {r['cpu_ms_per_image']:10.2f} {r['peak_disk_mb']:12.1f} "
              f"{r['files_created']:7d} {r['peak_rss_mb']:7.0f} {r['peak_worker_rss_mb']:13.0f} "
              f"{r['peak_worker_private_mb']:17.0f}")
    print("final sizes, MB: " + ", ".join(f"{k} {v:.1f}" for k, v in rows[-1].items() if k != "stage"))


if __name__ == "__main__":
    main()
