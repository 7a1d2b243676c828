"""What decides an evaluation's result, as one fingerprint, and whether out_dir already holds a finished
evaluation of exactly those inputs. The pipeline evaluates ahead of `dvc repro` in long-lived worker processes;
`dvc repro` then runs each evaluate stage's command again, which adopts that result ("up to date") in about a
second instead of scoring the runs again. Nothing here imports torch: an adopted evaluation never loads it.

The inputs:
  config  the validated evaluate config less where files lie, what is logged and how fast it runs (the keys a
          training run's recorded config leaves out, results.NOT_RECORDED, and evaluate's own folders, loader
          workers and device); cpu_threads stays: the number of threads changes the float rounding
  store   the store's content fingerprint (data/store.py)
  runs    the sha256 of every file evaluation reads from each finished run (results.RunRecord.files_read), and
          the notes on the seed folders left out, which the result records
  code    the hash of the code the evaluate stage runs (code_hash.py)
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict
from pathlib import Path

from alexnet_repro import results
from alexnet_repro.code_hash import code_fingerprint
from alexnet_repro.data.store import fingerprint as store_fingerprint
from alexnet_repro.evaluation.config import EvaluateConfig

STAGE = "alexnet_repro.stages.evaluate"
NOT_FINGERPRINTED = ("runs_dir", "out_dir", "workers", "device")  # besides results.NOT_RECORDED's keys


def evaluation_inputs(cfg: EvaluateConfig) -> dict:
    """{"fingerprint": sha256 (16 hex digits) of the rest, "config", "store", "runs", "ignored", "code"}."""
    config = results.recorded_config(asdict(cfg))
    for key in NOT_FINGERPRINTED:
        config.pop(key)
    records, notes = results.finished_runs(cfg.runs_dir, cfg.seeds)
    runs = {record.name: {os.path.relpath(path, record.folder): results.file_sha256(path)
                          for path in record.files_read()} for record in records}
    inputs = {"config": config, "store": store_fingerprint(cfg.data.store_dir), "runs": runs, "ignored": notes,
              "code": code_fingerprint(STAGE)}
    return {"fingerprint": hashlib.sha256(json.dumps(inputs, sort_keys=True).encode()).hexdigest()[:16], **inputs}


def _changed_parts(recorded: dict, inputs: dict) -> str:
    parts = [key for key in ("config", "store", "runs", "ignored", "code") if recorded.get(key) != inputs[key]]
    return ", ".join(parts) or "the fingerprint"


def why_not_up_to_date(out_dir: str | Path, inputs: dict) -> str | None:
    """None when out_dir holds a finished evaluation of `inputs` (evaluation_inputs()) whose output files still
    hash as it recorded them; else the reason it does not, for the log."""
    path = Path(out_dir) / results.RESULT_JSON
    if not path.exists():
        return "no finished evaluation there"
    try:
        meta = json.loads(path.read_text())
    except (OSError, ValueError):
        return f"{results.RESULT_JSON} cannot be read"
    if not isinstance(meta, dict) or meta.get("schema_version") != results.SCHEMA_VERSION:
        return f"{results.RESULT_JSON} is of another schema"
    recorded, outputs = meta.get("inputs"), meta.get("outputs")
    if not isinstance(recorded, dict) or not isinstance(outputs, dict):
        return f"{results.RESULT_JSON} records no inputs (an evaluation older than this check)"
    if recorded.get("fingerprint") != inputs["fingerprint"]:
        return f"its inputs changed ({_changed_parts(recorded, inputs)})"
    for name in results.output_files(meta.get("seeds") or []):
        output = Path(out_dir) / name
        if not output.is_file() or results.file_sha256(output) != outputs.get(name):
            return f"{name} is missing or changed since"
    return None
