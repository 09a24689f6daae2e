"""Explainer and predictor prompts (the paper's shape) and their tolerant parsers.

A parser never invents a value: what it cannot read is returned as missing (None / NaN) and
counted as a parse failure by the caller.
"""

from __future__ import annotations

import json
import re

import numpy as np

DOMAINS = {"astro": "astronomy", "cslg": "machine learning"}
SEPARATOR = "\n\n------------------------\n"
_FINAL = re.compile(r"FINAL\s*:\s*(.+)", re.IGNORECASE)
_RATING = re.compile(
    r"^(?:abstract|prediction|example)?\s*(\d+)\s*[:=).\]]\s*(?:rating\s*[:=]?\s*)?([-+]?\d*\.?\d+)", re.IGNORECASE
)
MAX_LABEL_WORDS = 8


def _clip(text: str, max_chars: int) -> str:
    return text if len(text) <= max_chars else text[:max_chars].rsplit(" ", 1)[0] + " ..."


def explain_messages(
    corpus_name: str,
    positives: list[tuple[float, str]],
    negatives: list[str],
    max_chars: int = 1500,
    candidates: int = 1,
) -> list[dict[str, str]]:
    """The explainer request: activating abstracts with values (strongest first), then zero ones.

    With ``candidates`` > 1 the model is asked for that many alternative labels, best first, as
    JSON (``CANDIDATES_SCHEMA``) and, for a model that ignores the format, as ``FINAL:`` lines.
    """
    domain = DOMAINS.get(corpus_name, "science")
    shown = SEPARATOR.join(f"Activation: {value:.3f}\n{_clip(text, max_chars)}" for value, text in positives)
    zero = SEPARATOR.join(_clip(text, max_chars) for text in negatives)
    system = (
        f"You are a meticulous AI and {domain} researcher studying one feature (neuron) of a sparse "
        f"autoencoder trained on embeddings of {domain} paper abstracts."
    )
    user = (
        "Below are abstracts on which the feature activates, with their activation values, followed by "
        "abstracts on which it does not activate at all.\n\n"
        f"ACTIVATING ABSTRACTS:\n{shown}\n\nNON-ACTIVATING ABSTRACTS:\n{zero}\n\n"
        "Work step by step:\n"
        "1. List the specific topics, concepts, objects or methods the activating abstracts share; weight "
        "higher-activation abstracts more.\n"
        "2. Strike any that also appear in the non-activating abstracts.\n"
        "3. Choose the right granularity (Occam's razor): specific enough to exclude the non-activating "
        "abstracts, general enough to cover the activating ones.\n"
        + (
            "4. End with one line `FINAL: <label of 1-8 words>`."
            if candidates == 1
            else f"4. Give {candidates} different candidate labels of 1-8 words each, the most likely first. Name the "
            "specific concept: never answer with a generic topic, a keyword list or 'presence of ...'.\n"
            f'Answer as JSON: {{"reasoning": "<steps 1-3>", "candidates": [<{candidates} labels>]}}; if you cannot '
            f"write JSON, end with {candidates} lines `FINAL: <label>`."
        )
    )
    return [{"role": "system", "content": system}, {"role": "user", "content": user}]


CANDIDATES_SCHEMA = {
    "type": "json_schema",
    "json_schema": {
        "name": "feature_labels",
        "strict": True,
        "schema": {
            "type": "object",
            "properties": {
                "reasoning": {"type": "string"},
                "candidates": {"type": "array", "items": {"type": "string"}},
            },
            "required": ["reasoning", "candidates"],
            "additionalProperties": False,
        },
    },
}
"""OpenAI-style structured output (``response_format``); Ollama, the llama.cpp server and vLLM accept it too."""
_JSON_OBJECT = re.compile(r"\{.*\}", re.S)
_LISTED = re.compile(r"^\s*(?:\d+[.)]|[-*])\s+(.+)$")


def parse_candidates(text: str) -> list[str]:
    """Candidate labels from any of: the JSON object asked for (also inside prose or a code fence),
    ``FINAL:`` lines, or, failing both, a numbered or bulleted list. Empty when none is readable."""
    text = text or ""
    match = _JSON_OBJECT.search(text)
    if match:
        try:
            found = json.loads(match.group(0))
        except json.JSONDecodeError:
            found = None
        listed = next(
            (
                found[key]
                for key in ("candidates", "labels", "explanations")
                if isinstance(found, dict) and isinstance(found.get(key), list)
            ),
            None,
        )
        if listed is not None:
            return _tidy([str(item) for item in listed])
    finals = _FINAL.findall(text)
    if finals:
        return _tidy(finals)
    return _tidy([m.group(1) for line in text.splitlines() if (m := _LISTED.match(line))])


def _tidy(labels: list[str]) -> list[str]:
    out = []
    for label in labels:
        words = label.strip().strip("*_`\"' .").strip().split()
        if words and " ".join(words[:MAX_LABEL_WORDS]) not in out:
            out.append(" ".join(words[:MAX_LABEL_WORDS]))
    return out


_DOMAIN_SUFFIX = re.compile(
    r"\s+in\s+(?:astronomy|astrophysics|astronomical|astrophysical|physics|computer science|cs|"
    r"machine learning)\s*$",
    re.IGNORECASE,
)
_GENERIC = re.compile(r"\b(?:keywords?|topics?|concepts?|presence)\b|['\"][a-z]['\"]", re.IGNORECASE)


def filtered_label(label: str) -> str | None:
    """The paper's label filter: domain suffixes ("... in astronomy") stripped; None for a generic
    label (it names a "topic", "keyword", "concept" or "presence", or quotes a single letter)."""
    label = _DOMAIN_SUFFIX.sub("", label).strip()
    return None if not label or _GENERIC.search(label) else label


def parse_label(text: str) -> str | None:
    """The text after the last ``FINAL:``, without markdown or quotes; None if absent or empty."""
    matches = _FINAL.findall(text or "")
    if not matches:
        return None
    label = matches[-1].strip().strip("*_`\"' .").strip()
    words = label.split()
    if not words:
        return None
    return " ".join(words[:MAX_LABEL_WORDS])


def predict_messages(corpus_name: str, label: str, abstracts: list[str], max_chars: int = 1500) -> list[dict[str, str]]:
    """The predictor request: one label, several numbered abstracts, one rating line each."""
    domain = DOMAINS.get(corpus_name, "science")
    listed = SEPARATOR.join(f"Abstract {i + 1}:\n{_clip(text, max_chars)}" for i, text in enumerate(abstracts))
    system = (
        f"You are a meticulous AI and {domain} researcher. A feature of a model trained on {domain} "
        "paper abstracts has this description: it activates on abstracts about the described concept."
    )
    user = (
        f"Feature description: {label}\n\n{listed}\n\n"
        "For each abstract, think briefly about whether the feature activates on it. Then give a rating "
        "in [-1, 1]: from 0 to 1 (confidence) if it activates, from -1 to 0 if it does not. "
        f"Finish with exactly {len(abstracts)} lines, one per abstract, in the form `<number>: <rating>`, "
        "e.g. `1: 0.8`."
    )
    return [{"role": "system", "content": system}, {"role": "user", "content": user}]


def parse_ratings(text: str, count: int) -> np.ndarray:
    """Ratings for abstracts 1..count; NaN where an answer is missing, repeated or outside [-1, 1]."""
    found: dict[int, list[float]] = {}
    for line in (text or "").splitlines():
        match = _RATING.match(line.strip().lstrip("-*_#`> ").replace("**", ""))
        if match:
            found.setdefault(int(match.group(1)), []).append(float(match.group(2)))
    ratings = np.full(count, np.nan)
    for number, values in found.items():
        # The final answer block comes last; earlier mentions are reasoning.
        value = values[-1]
        if 1 <= number <= count and -1.0 <= value <= 1.0:
            ratings[number - 1] = value
    return ratings
