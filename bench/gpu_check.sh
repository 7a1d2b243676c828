#!/usr/bin/env bash
# The first GPU run, prepared: from a bare checkout on the device machine (one H200, Python 3.12, torch 2.11,
# torchvision 0.26, lightning 2.6, torchmetrics, numpy, scikit-image; no registry reachable) it installs the
# carried wheels, builds a store of photographs and measures, each figure into $OUT as soon as it is known
# (bench/gpu_check.py says what each file holds; docs/performance.md, "First GPU run", has the table to fill):
#   gpu_check.log  everything printed     env.json     machine, versions, sizes, each stage's exit code and time
#   model_only.json  the net alone        training.json  Trainer.fit with data vs the plain recipe
#   resume.json    SIGKILL + resume vs an uninterrupted run   ddp2.json  why trainer=ddp2 is not run (one GPU)
#
#   bash bench/gpu_check.sh          on the device machine: sized to about 6 minutes on an H200
#   bash bench/gpu_check.sh --cpu    here, tiny sizes on the CPU, the same code and files (tests/test_gpu_check.py)
# OUT defaults to ./gpu_check_out; PYTHON to python3 (the device's torch interpreter).
#
# The device call (the `device` tool's `run`; docs/performance.md explains it):
#   command:  bash bench/gpu_check.sh
#   carry:    [".whl"]
#   timeout_s: 480
#
# What the train stage and these scripts import that the device machine lacks (KINDS.md's package list), as
# wheels for CPython 3.12 on x86-64; tests/test_gpu_check.py checks these two lists against the stage's imports.
# WHEELS:
#   hydra-core==1.3.8               conf/ composition (src/train.py, schema.py)
#   omegaconf==2.3.1                hydra-core's config objects
#   antlr4-python3-runtime==4.9.3   hydra-core's and omegaconf's parser (an sdist only: built into a wheel here)
#   simplejpeg==1.9.0               the store's JPEG decoder (data/store.py)
# NOT CARRIED:
#   nvidia-dali-cuda130             data.decoder=dali: 476 MB installed, over the 64 MiB carry: its row says so
#   wandb                           the runs here use logger=none (lightning imports it only for logger=wandb)
# Their needs that are not listed (numpy, pyyaml, packaging) are on the device machine already. 0.8 MB in all.
#
# Fetch them once, here, in the repository's root (.whl/ is git-ignored; the device README's command):
#   python3 -m pip download --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
#     --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_17_x86_64 \
#     --platform manylinux2014_x86_64 --platform manylinux1_x86_64 -d .whl \
#     hydra-core==1.3.8 omegaconf==2.3.1 simplejpeg==1.9.0
#   python3 -m pip wheel --no-deps -w .whl antlr4-python3-runtime==4.9.3
set -uo pipefail
cd "$(dirname "$0")/.."
MODE=gpu
[[ ${1:-} == --cpu ]] && MODE=cpu
OUT=${OUT:-$PWD/gpu_check_out}
PYTHON=${PYTHON:-python3}
export PYTHONUNBUFFERED=1  # unbuffered, so a run cut short still has its last lines in the log

check() {
    # The carried wheels into a folder of their own: the device's packages stay as they are (no dependency
    # resolution there: nothing can be fetched). --cpu uses this interpreter's packages (.[dev] installs them).
    local site=""
    if [[ $MODE == gpu ]]; then
        shopt -s nullglob
        local wheels=(.whl/*.whl)
        if ((${#wheels[@]} == 0)); then
            echo "error: no wheels in .whl/: fetch them (the command in this script's header) and carry .whl"
            return 2
        fi
        site=/tmp/gpu_check_site
        "$PYTHON" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target "$site" \
            "${wheels[@]}" || { echo "error: installing the carried wheels failed"; return 2; }
        export GPU_CHECK_WHEELS="${wheels[*]}"
    fi
    # src/ on the path rather than `pip install -e .`: no build, and the checkout's code is what runs.
    export PYTHONPATH="$PWD/src${site:+:$site}${PYTHONPATH:+:$PYTHONPATH}"
    "$PYTHON" -c "import hydra, omegaconf, simplejpeg, lightning, torch, torchvision, torchmetrics, alexnet_repro" ||
        { echo "error: a module the train stage needs is missing (see WHEELS above)"; return 2; }
    echo "gpu_check: $MODE run, $(date -u +%FT%TZ), out $OUT, work $WORK"
    if [[ $MODE == cpu ]]; then
        "$PYTHON" -u bench/gpu_check.py "$OUT" --work "$WORK" --cpu
    else
        "$PYTHON" -u bench/gpu_check.py "$OUT" --work "$WORK"
    fi
}

mkdir -p "$OUT"
WORK=$(mktemp -d "${TMPDIR:-/tmp}/gpu_check.XXXXXX")  # the store and the runs: gigabytes, not for $OUT
trap 'rm -rf "$WORK"' EXIT
check 2>&1 | tee -a "$OUT/gpu_check.log"  # every line into the log as it is printed, not at the end
exit "${PIPESTATUS[0]}"
