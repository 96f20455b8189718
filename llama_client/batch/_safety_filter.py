"""A safety-verdict filter for exports: Llama Guard (issue #10) asked about each answer.

``export(..., filters=[safety_filter(client)])`` keeps an example only when the guard finds
the answer safe, asking :meth:`client.safety.check <llama_client.resources.safety.Safety.check>`
about the conversation that ends with it (response classification), through the client's one
request path (its retries, providers and fallback). Synchronous, one check per example, not
resumable: for a large export, pass a client with several connections and expect one guard
request per answer. A guard that fails (after the client's retries) or answers something
that is not a verdict raises, and the export stops: no example is kept or dropped on a guess.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ._export import Example, answer_message

if TYPE_CHECKING:
    from .._sync.client import LlamaClient
    from ..types.safety import SafetyVerdict

__all__ = ["SafetyTally", "safety_filter"]


@dataclass
class SafetyTally:
    """What the filter saw: answers checked, found unsafe, and the hazard codes named."""

    checked: int = 0
    unsafe: int = 0
    codes: dict[str, int] = field(default_factory=dict)


def safety_filter(
    client: LlamaClient,
    *,
    model: str = "llama-guard-3-8b",
    categories: Sequence[str] | None = None,
    tally: SafetyTally | None = None,
) -> Callable[[Example], bool]:
    """A filter for :func:`~llama_client.batch.export` keeping answers Llama Guard finds safe.

    ``model`` is the guard (an alias, a served id or ``"provider:model"``); ``categories``
    narrows the hazards checked (codes, as for ``safety.check``). ``tally`` collects counts.
    """
    seen = tally if tally is not None else SafetyTally()

    def keep(example: Example) -> bool:
        conversation: list[Any] = [*example.messages, answer_message(example.answer)]
        kwargs: dict[str, Any] = {"model": model}
        if categories is not None:
            kwargs["categories"] = categories
        verdict: SafetyVerdict = client.safety.check(conversation, **kwargs)
        seen.checked += 1
        if not verdict.safe:
            seen.unsafe += 1
            for code in verdict.codes:
                seen.codes[code] = seen.codes.get(code, 0) + 1
        return verdict.safe

    return keep
