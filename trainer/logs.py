"""The per-step metrics CSV of a run (``<run dir>/logs/metrics.csv``), kept whole across crashes and resumes.

Lightning's CSV logger deletes an existing ``metrics.csv`` when it starts and writes rows only every 100
steps, so a run resumed after a kill kept only the steps after its checkpoint, and a re-run after a kill
during the final write kept no file at all. Here the rows are flushed with every checkpoint, and a resumed
run keeps the earlier rows: when it logs its first step s, the rows of step >= s (logged after the
checkpoint it resumes from, and about to be logged again) are dropped, so the file holds every step once.
"""

from __future__ import annotations

import csv
import os

import lightning as L
from lightning.fabric.loggers.logger import rank_zero_experiment
from lightning.pytorch.loggers import CSVLogger
from lightning.pytorch.loggers.csv_logs import ExperimentWriter


class _ResumingWriter(ExperimentWriter):
    def __init__(self, log_dir: str) -> None:
        super().__init__(log_dir)
        self._first_row = True

    def _check_log_dir_exists(self) -> None:
        """Lightning deletes the earlier metrics.csv here; a resumed run needs it."""

    def log_metrics(self, metrics_dict: dict, step: int | None = None) -> None:
        if self._first_row:
            self._first_row = False
            self._keep_rows_before(len(self.metrics) if step is None else step)
        super().log_metrics(metrics_dict, step)

    def _keep_rows_before(self, step: int) -> None:
        if not os.path.isfile(self.metrics_file_path):
            return
        with open(self.metrics_file_path, newline="") as file:
            reader = csv.DictReader(file)
            header = list(reader.fieldnames or [])
            rows = [
                row for row in reader if (row_step := _step(row)) is not None and row_step < step
            ]  # a half-written last row goes too
        partial = self.metrics_file_path + ".tmp"
        with open(partial, "w", newline="") as file:
            writer = csv.DictWriter(file, fieldnames=header)
            writer.writeheader()
            writer.writerows(rows)
        os.replace(partial, self.metrics_file_path)  # atomic: a kill now leaves the old file or the new one
        self.metrics_keys = sorted(header)


def _step(row: dict) -> int | None:
    try:
        return int(row.get("step") or "")
    except ValueError:
        return None


class ResumableCSVLogger(CSVLogger):
    """``CSVLogger`` whose ``metrics.csv`` survives a resume (see the module docstring)."""

    @property
    @rank_zero_experiment
    def experiment(self) -> ExperimentWriter:
        if self._experiment is None:
            self._fs.makedirs(self.root_dir, exist_ok=True)
            self._experiment = _ResumingWriter(log_dir=self.log_dir)
        return self._experiment  # type: ignore[return-value]  # always the _ResumingWriter set above


class FlushLogsWithCheckpoints(L.Callback):
    """Writes the logged rows out whenever a checkpoint is saved, so a kill loses no row the resume will not redo."""

    def on_save_checkpoint(self, trainer, pl_module, checkpoint) -> None:
        for logger in trainer.loggers:
            logger.save()
