"""The multi-node path without a cluster: Hydra's submitit launcher in its local mode runs a two-seed sweep
as submitit jobs, each in its own deterministic run folder (the SLURM launcher is the same code with
`hydra/launcher=slurm`, conf/hydra/launcher/slurm.yaml)."""

import json
import subprocess

import pytest

from conftest import PYTHON, ROOT, child_env, data_overrides

pytestmark = pytest.mark.slow


def test_a_two_seed_sweep_through_submitit_local(tiny_data, tmp_path):
    env = child_env()
    args = [PYTHON, "src/train.py", "-m", "hydra/launcher=submitit_local", "hydra.launcher.timeout_min=10",
            "+experiment=baseline", "seed=0,1", *data_overrides(tiny_data), "trainer.max_epochs=1", "logger=none",
            f"paths.runs={tmp_path}"]
    result = subprocess.run(args, cwd=ROOT, capture_output=True, text=True, timeout=900, env=env)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    for seed in (0, 1):
        run = tmp_path / "embedded" / "embedded" / "baseline" / f"seed{seed}"
        summary = json.loads((run / "train_summary.json").read_text())
        assert summary["seed"] == seed and summary["global_step"] == 7  # 56 training images (8 are minival), batch 8
    assert list(tmp_path.rglob(".submitit"))  # run through submitit, not in this process
