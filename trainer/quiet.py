"""Library noise the training commands cannot act on, silenced in their entry points only (not on import).

Lightning's info lines (the litlogger advertisement, "Seed set to", "GPU available", "weights_only was not
set") and two warnings: the TensorBoard notice of the parse-time Trainer (ours logs to CSV) and torch's
LeafSpec deprecation raised inside Lightning's own code. Warnings and errors from Lightning still show.
"""

from __future__ import annotations

import logging
import warnings

_UNACTIONABLE = (
    r"Starting from v1\.9\.0, `tensorboardX` has been removed",
    r"`isinstance\(treespec, LeafSpec\)` is deprecated",
)


def quiet_lightning() -> None:
    """Call from a command's ``main`` before building a Trainer."""
    import lightning.pytorch  # noqa: F401  # importing Lightning sets its loggers' levels: do it before we do

    for name in ("lightning.pytorch", "lightning.fabric", "pytorch_lightning"):
        logging.getLogger(name).setLevel(logging.WARNING)
    for message in _UNACTIONABLE:
        warnings.filterwarnings("ignore", message=message)
