"""The paper's multiple-choice LLM judge of a steered search (optional, needs a key).

The judge sees the original and the modified top 10 (title + start of abstract) and five
numbered candidate topics: the up label, the down label and three other labels, shuffled. It
answers ``FINAL: <up #>, <down #>``: which topic the modified results gained and which they
lost. Correctness is counted separately for up and down (the paper's final code overwrote its
counters with option indices, which is the scoring bug fixed here), and an unparsable answer is
a recorded failure, never a silent guess.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import NamedTuple

import numpy as np

from evals.llm import LLMClient

_FINAL_PAIR = re.compile(r"FINAL:\D*(\d+)\D+(\d+)", re.IGNORECASE)
N_DISTRACTORS = 3


class JudgeCase(NamedTuple):
    original: list[str]
    """Texts of the original top 10."""
    modified: list[str]
    up_label: str
    down_label: str
    distractors: list[str]


class Verdict(NamedTuple):
    up_correct: bool | None
    down_correct: bool | None
    answer: str

    def to_json(self) -> str:
        return json.dumps(
            {"up_correct": self.up_correct, "down_correct": self.down_correct, "answer": self.answer[-500:]}
        )


def options_for(case: JudgeCase, rng: np.random.Generator) -> tuple[list[str], int, int]:
    """Shuffled candidate topics and the 1-based positions of the up and down labels."""
    options = [case.up_label, case.down_label, *case.distractors[:N_DISTRACTORS]]
    order = rng.permutation(len(options))
    shuffled = [options[i] for i in order]
    return shuffled, int(np.flatnonzero(order == 0)[0]) + 1, int(np.flatnonzero(order == 1)[0]) + 1


def judge_messages(case: JudgeCase, options: list[str]) -> list[dict[str, str]]:
    def block(texts: list[str]) -> str:
        return "\n\n------------------------\n".join(texts)

    numbered = "\n".join(f"{i}. {option}" for i, option in enumerate(options, start=1))
    return [
        {"role": "system", "content": "You are a meticulous researcher comparing two sets of search results."},
        {
            "role": "user",
            "content": (
                f"ORIGINAL RESULTS:\n{block(case.original)}\n\nMODIFIED RESULTS:\n{block(case.modified)}\n\n"
                f"Candidate topics:\n{numbered}\n\n"
                "List the main topics of each set, compare them, then decide which candidate topic the modified "
                "results emphasise MORE than the original ones (up) and which they emphasise LESS (down). "
                "Answer on the last line as FINAL: <up number>, <down number>"
            ),
        },
    ]


def parse_verdict(text: str, up_position: int, down_position: int) -> Verdict:
    match = _FINAL_PAIR.search(text or "")
    if not match:
        return Verdict(None, None, text or "")
    up, down = int(match.group(1)), int(match.group(2))
    return Verdict(up == up_position, down == down_position, text)


def judge_cases(client: LLMClient, cases: Sequence[JudgeCase], seed: int) -> list[Verdict]:
    rng = np.random.default_rng(seed)
    prepared = [options_for(case, rng) for case in cases]
    results = client.complete_many(
        [judge_messages(case, options) for case, (options, _, _) in zip(cases, prepared, strict=False)]
    )
    verdicts = []
    for result, (_, up_position, down_position) in zip(results, prepared, strict=False):
        if isinstance(result, Exception):
            verdicts.append(Verdict(None, None, f"error: {result}"))
        else:
            verdicts.append(parse_verdict(result.text, up_position, down_position))
    return verdicts
