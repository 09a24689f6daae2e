"""The LightningDataModule: a corpus's stored embeddings, split by document, served as whole batches.

The matrix is small next to any accelerator (12k x 384 floats = 19 MB; the paper's 424k x 1536 =
2.6 GB), so it is loaded once and batches are index slices of it: no per-row Dataset, no workers.
The order of training batches is a pure function of (seed, global step), which makes resuming a
checkpoint replay exactly the data a never-interrupted run would have seen.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import lightning as L
import numpy as np
import torch

from data.corpus import load_corpus_config
from data.embeddings import EmbeddingError, load_embeddings, model_dim
from data.settings import warehouse_path
from data.split import TEST, doc_ids_in_test
from data.warehouse import open_reader

Batch = tuple[torch.Tensor, torch.Tensor]
"""(x (B, d) float32, doc_ids (B,) int64)."""


class GlobalBatchShards:
    """One epoch of training batches; under DDP each rank yields its shard of the global batch.

    Global batch i of epoch e is rows ``perm_e[i*G:(i+1)*G]`` with ``perm_e`` a permutation seeded
    by (seed, e); rank r takes the r-th contiguous slice of it. Iteration starts at the batch of
    the trainer's current global step, so a resumed run continues where it stopped.
    """

    def __init__(
        self,
        x: torch.Tensor,
        doc_ids: torch.Tensor,
        global_batch: int,
        rank: int,
        world_size: int,
        seed: int,
        current_step: Callable[[], int],
    ) -> None:
        self.x, self.doc_ids = x, doc_ids
        self.global_batch, self.rank, self.world_size, self.seed = global_batch, rank, world_size, seed
        self.local_batch = global_batch // world_size
        self.current_step = current_step

    def __len__(self) -> int:
        return self.x.shape[0] // self.global_batch

    def permutation(self, epoch: int) -> torch.Tensor:
        generator = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
        return torch.randperm(self.x.shape[0], generator=generator)

    def __iter__(self) -> Iterator[Batch]:
        epoch, first = divmod(self.current_step(), len(self))
        order = self.permutation(epoch)
        for batch in range(first, len(self)):
            start = batch * self.global_batch + self.rank * self.local_batch
            rows = order[start : start + self.local_batch]
            yield self.x[rows.to(self.x.device)], self.doc_ids[rows]


class EmbeddingDataModule(L.LightningDataModule):
    """Embeddings of one corpus from its warehouse, split into train and validation by document.

    Args:
        corpus: Corpus name (``conf/corpus/<name>.yaml``); decides the embedding model.
        warehouse: DuckDB file; default ``artifacts/<corpus>.duckdb``.
        embed_model: Override the corpus's embedding model (must have stored vectors).
        batch_size: GLOBAL batch size; under DDP each of N ranks gets batch_size / N rows.
        val_fraction: Fraction of the non-test documents held out for validation (seeded permutation).
            The corpus's test split (``docs.split = 'test'``) is excluded from both.
        seed: Seed of the split and of the shuffling.
        device_memory_fraction: Put the whole training matrix on the accelerator when it needs at most
            this fraction of its free memory (otherwise batches are gathered on the CPU and copied).
    """

    def __init__(
        self,
        corpus: str = "astro",
        warehouse: str | None = None,
        embed_model: str | None = None,
        batch_size: int = 1024,
        val_fraction: float = 0.05,
        seed: int = 0,
        device_memory_fraction: float = 0.5,
    ) -> None:
        super().__init__()
        if batch_size <= 0:
            raise ValueError(f"batch_size must be positive, got {batch_size}")
        if not 0 < val_fraction < 1:
            raise ValueError(f"val_fraction must be in (0, 1), got {val_fraction}")
        self.corpus = corpus
        self.warehouse = Path(warehouse) if warehouse else warehouse_path(corpus)
        self.embed_model = embed_model or load_corpus_config(corpus).embed_model
        self.batch_size, self.val_fraction, self.seed = batch_size, val_fraction, seed
        self.device_memory_fraction = device_memory_fraction
        self.doc_ids: np.ndarray | None = None
        self.matrix: np.ndarray | None = None
        self._dim: int | None = None

    # -- what the model needs before set-up ---------------------------------------------
    @property
    def dim(self) -> int:
        """The embedding width of the stored vectors (raises if the corpus has none)."""
        if self._dim is None:
            with open_reader(self.warehouse) as con:
                self._dim = model_dim(con, self.embed_model)
            if self._dim is None:
                raise EmbeddingError(
                    f"{self.warehouse} has no embeddings for model {self.embed_model!r}: run "
                    f"`just data {self.corpus}` (it embeds or imports them) before training"
                )
        return self._dim

    # -- loading and splitting ----------------------------------------------------------
    def setup(self, stage: str | None = None) -> None:
        if self.matrix is not None:
            return
        with open_reader(self.warehouse) as con:
            self.doc_ids, self.matrix = load_embeddings(con, self.embed_model)
            test_ids = np.fromiter(doc_ids_in_test(con), dtype=np.int64)
        self._dim = self.matrix.shape[1]
        # The test split is never trained on nor used to pick checkpoints; validation comes from the rest.
        in_test = np.isin(self.doc_ids, test_ids)
        self.test_rows = np.flatnonzero(in_test)
        order = np.random.default_rng(self.seed).permutation(np.flatnonzero(~in_test))
        n_val = max(1, int(round(len(order) * self.val_fraction)))
        self.val_rows, self.train_rows = np.sort(order[:n_val]), np.sort(order[n_val:])
        if len(self.train_rows) < self.batch_size:
            raise ValueError(
                f"the training split of {self.corpus} has {len(self.train_rows)} documents (after "
                f"{len(self.test_rows)} test and {n_val} validation documents), fewer than "
                f"batch_size={self.batch_size}; lower batch_size or val_fraction"
            )

    def planned_train_size(self) -> int:
        """How many training documents ``setup`` will keep, counted in SQL (nothing loaded)."""
        with open_reader(self.warehouse) as con:
            embedded = con.execute(
                "SELECT count(*) FROM docs d JOIN embeddings e ON e.model = ? AND e.text_hash = d.text_hash "
                "WHERE d.split IS DISTINCT FROM ?",
                [self.embed_model, TEST],
            ).fetchall()[0][0]
        return embedded - max(1, int(round(embedded * self.val_fraction)))

    @property
    def train_size(self) -> int:
        return len(self.train_rows)

    def b_pre_sample(self, size: int) -> torch.Tensor:
        """A seeded sample of training rows (identical on every rank) to initialise b_pre from."""
        assert self.matrix is not None, "call setup() first"
        rows = np.random.default_rng(self.seed + 1).permutation(self.train_rows)[:size]
        return torch.from_numpy(self.matrix[np.sort(rows)])

    def _world(self) -> tuple[int, int, torch.device]:
        if self.trainer is None:
            return 0, 1, torch.device("cpu")
        return self.trainer.global_rank, self.trainer.world_size, self.trainer.strategy.root_device

    def _on_device(self, x: torch.Tensor, device: torch.device) -> torch.Tensor:
        """The whole matrix on the accelerator when it fits comfortably, else on the CPU."""
        if device.type == "cuda":
            free, _total = torch.cuda.mem_get_info(device)
            if x.numel() * x.element_size() <= self.device_memory_fraction * free:
                return x.to(device)
        return x

    def train_dataloader(self) -> GlobalBatchShards:
        rank, world_size, device = self._world()
        if self.batch_size % world_size:
            raise ValueError(f"batch_size={self.batch_size} must be divisible by the number of devices ({world_size})")
        assert self.matrix is not None and self.doc_ids is not None, "call setup() first"
        x = self._on_device(torch.from_numpy(self.matrix[self.train_rows]), device)
        doc_ids = torch.from_numpy(self.doc_ids[self.train_rows])
        trainer = self.trainer
        step = (lambda: trainer.global_step) if trainer is not None else (lambda: 0)
        return GlobalBatchShards(x, doc_ids, self.batch_size, rank, world_size, self.seed, step)

    def val_dataloader(self) -> ValidationBatches:
        """Every rank scores the whole (small) validation split, so metrics need no reduction."""
        assert self.matrix is not None and self.doc_ids is not None, "call setup() first"
        return ValidationBatches(
            torch.from_numpy(self.matrix[self.val_rows]), torch.from_numpy(self.doc_ids[self.val_rows])
        )


class ValidationBatches:
    """The validation split in fixed chunks (one loader; a plain list would read as many loaders)."""

    def __init__(self, x: torch.Tensor, doc_ids: torch.Tensor, chunk: int = 4096) -> None:
        self.x, self.doc_ids, self.chunk = x, doc_ids, chunk

    def __len__(self) -> int:
        return -(-len(self.x) // self.chunk)

    def __iter__(self) -> Iterator[Batch]:
        for start in range(0, len(self.x), self.chunk):
            yield self.x[start : start + self.chunk], self.doc_ids[start : start + self.chunk]
