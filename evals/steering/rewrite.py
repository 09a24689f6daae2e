"""The baseline the SAE intervention is compared with: rewriting the query text.

- Offline (no key): ``"<query> and <up label>"`` (the paper's rewrite form), re-embedded. The
  down feature cannot be expressed by appending text, so the offline rewrite only adds.
- LLM (key set): the paper's prompt (down-weight X without rewriting too much, append Y), answer
  parsed from the last ``FINAL:`` line; a request or parse failure skips that query (counted).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import NamedTuple

from evals.llm import LLMClient

_FINAL = re.compile(r"FINAL:\s*(.+)", re.IGNORECASE)


class RewriteRequest(NamedTuple):
    query: str
    up_label: str
    down_label: str | None


def offline_rewrite(request: RewriteRequest) -> str:
    return f"{request.query} and {request.up_label}"


def rewrite_messages(request: RewriteRequest) -> list[dict[str, str]]:
    steps = []
    if request.down_label:
        steps.append(f'1. Down-weight the topic "{request.down_label}" without rewriting the query too much.')
    steps.append(
        f'{len(steps) + 1}. Add the topic "{request.up_label}", in the form "<original query> and <new topic>".'
    )
    return [
        {
            "role": "system",
            "content": (
                "You are an expert research librarian who edits queries for a search engine over scientific abstracts."
            ),
        },
        {
            "role": "user",
            "content": f"Original query: {request.query}\n\n"
            + "\n".join(steps)
            + "\n\nThink briefly, then give the rewritten query on the last line as FINAL: <rewritten query>",
        },
    ]


def parse_final(text: str) -> str | None:
    """The text after the last ``FINAL:`` (quotes and asterisks stripped), or None."""
    matches = _FINAL.findall(text or "")
    if not matches:
        return None
    answer = matches[-1].strip().strip("*").strip().strip('"').strip()
    return answer or None


def llm_rewrites(client: LLMClient, requests: Sequence[RewriteRequest]) -> list[str | None]:
    """Rewritten queries in input order; None where the call failed or had no FINAL line."""
    results = client.complete_many([rewrite_messages(request) for request in requests])
    return [None if isinstance(result, Exception) else parse_final(result.text) for result in results]
