"""W&B's history across a kill and a restart. An offline run cannot be resumed (wandb #4624): the restarted process
opens a second `offline-run-*` folder under the same id, where W&B's own step (`_step`) would count from 0 again,
so `wandb sync`, which appends the folders in start order, would hand the server rows whose steps repeat (what
the server does with them is not documented). And the rows a killed process logged after its last checkpoint come
again, identically (the resume is exact), from the restarted one.

So the restarted process reads the rows the earlier folders of its run hold, logs its own with steps that go on
from theirs, and leaves out each row they hold already (the same training step and keys). What a folder holds is
what W&B's service wrote before the kill: it writes the `.wandb` file every FLUSH_INTERVAL_S seconds, so a SIGKILL
loses the rows of the last such interval, and those logged before the checkpoint the restart begins from cannot
be logged again (history.csv, which the checkpoint carries, has every epoch)."""

from __future__ import annotations

import json
import struct
from collections.abc import Iterator, Mapping
from pathlib import Path

from lightning.pytorch.loggers import WandbLogger
from lightning.pytorch.utilities.rank_zero import rank_zero_only

GLOBAL_STEP = "trainer/global_step"  # Lightning's x-axis for every W&B chart (WandbLogger.experiment)
# W&B's default is 15 s; one write a second costs nothing beside a training step and bounds what a kill loses.
FLUSH_INTERVAL_S = 1.0


def history_rows(path: Path) -> Iterator[dict]:
    """The history rows of an offline run's `.wandb` file, in order. The file is LevelDB's log format (32 KiB
    blocks of records, each a 7-byte header: CRC, length, type; then a piece of a protobuf Record); wandb 0.31 has
    no Python reader of its own. A record cut off by a kill ends the rows."""
    from wandb.proto import wandb_internal_pb2

    data = Path(path).read_bytes()[7:]  # the file header: ":W&B", a magic number, a version
    block, pos, pieces = 32768, 0, b""
    while pos + 7 <= len(data):
        if block - pos % block < 7:  # a block's tail too short for a header is padding
            pos += block - pos % block
            continue
        length, kind = struct.unpack("<HB", data[pos + 4 : pos + 7])
        if pos + 7 + length > len(data):
            return
        pieces += data[pos + 7 : pos + 7 + length]
        pos += 7 + length
        if kind in (1, 4):  # FULL or LAST: a whole record
            record = wandb_internal_pb2.Record()
            record.ParseFromString(pieces)
            pieces = b""
            if record.WhichOneof("record_type") == "history":
                yield {"/".join(i.nested_key) or i.key: json.loads(i.value_json) for i in record.history.item}


def offline_folders(save_dir: Path, run_id: str) -> list[Path]:
    """The offline folders of one W&B run under a run folder, in the order they were started (their names begin
    with the start time, `offline-run-YYYYMMDD_HHMMSS-<id>`)."""
    return sorted((Path(save_dir) / "wandb").glob(f"offline-run-*-{run_id}*"))


def _signature(row: Mapping[str, object]) -> tuple:
    """What tells one row from another within a run: the training step it belongs to and the keys it holds (a
    step's training row and its epoch's validation row have different keys)."""
    return row.get(GLOBAL_STEP), tuple(sorted(k for k in row if not k.startswith("_")))


class ContinuedWandbLogger(WandbLogger):
    """WandbLogger whose rows keep their order and are logged once over every process of one run folder."""

    def __init__(self, **kwargs):
        import wandb

        if "x_transaction_log_flush_interval" in getattr(wandb.Settings, "model_fields", {}):  # newer wandb
            kwargs["settings"] = wandb.Settings(x_transaction_log_flush_interval=FLUSH_INTERVAL_S)
        super().__init__(**kwargs)
        self._earlier: tuple[set, int] | None = None  # read on the first row: only rank zero logs

    def _earlier_rows(self) -> tuple[set, int]:
        """(signatures of the rows earlier processes wrote, the step this process starts from)."""
        if self._earlier is None:
            own = Path(self.experiment.dir).parent.name  # started by now: its folder is not an earlier one
            signatures, steps = set(), [-1]
            for folder in offline_folders(self.save_dir, self.version):
                wandb_file = next(folder.glob("*.wandb"), None)
                if folder.name == own or wandb_file is None:
                    continue
                for row in history_rows(wandb_file):
                    signatures.add(_signature(row))
                    steps.append(row.get("_step", -1))
            self._earlier = signatures, max(steps) + 1
        return self._earlier

    @rank_zero_only
    def log_metrics(self, metrics: Mapping[str, float], step: int | None = None) -> None:
        row = {f"{self._prefix}{self.LOGGER_JOIN_CHAR}{k}" if self._prefix else k: v for k, v in metrics.items()}
        if step is not None:
            row[GLOBAL_STEP] = step
        written, first_step = self._earlier_rows()
        if _signature(row) in written:
            return  # an earlier process of this run logged it after its last checkpoint
        # explicit, rising steps, each row committed at once (not held until the next step arrives)
        self.experiment.log(row, step=max(first_step, self.experiment.step), commit=True)
