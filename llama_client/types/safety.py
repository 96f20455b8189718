"""Safety results: Llama Guard verdicts, Prompt Guard scans, the moderations view, and the
completions of a guarded client."""

from __future__ import annotations

from typing import Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from ._base import ResponseModel
from .chat import ChatCompletion, ParsedChatCompletion, Usage

T = TypeVar("T")

__all__ = [
    "GuardedChatCompletion",
    "HazardCategory",
    "Moderation",
    "ModerationCreateResponse",
    "SafetyVerdict",
    "ScanResult",
    "ScanSegment",
]


class _Result(BaseModel):
    model_config = ConfigDict(defer_build=True, protected_namespaces=(), frozen=True)


class HazardCategory(_Result):
    """One hazard category a guard named: its code and the model card's name (None for a code
    outside S1-S14, or the description you gave a custom code)."""

    code: str
    name: str | None = None

    def __str__(self) -> str:
        return f"{self.code} ({self.name})" if self.name else self.code


class SafetyVerdict(_Result):
    """What Llama Guard said about a conversation.

    ``safe`` is the verdict; ``categories`` the hazards named when unsafe (codes the SDK does
    not know are kept, with ``name`` None); ``role_checked`` is ``"user"`` when the
    conversation ended with a user turn (prompt classification) and ``"agent"`` when it ended
    with the assistant's (response classification); ``unsafe_probability`` the probability of
    ``unsafe`` as the first answer token when logprobs were asked for (``check(...,
    logprobs=True)``) and sent; ``raw`` the guard's answer as it arrived.
    """

    safe: bool
    categories: list[HazardCategory] = Field(default_factory=list)
    role_checked: Literal["user", "agent"]
    unsafe_probability: float | None = None
    model: str = ""
    usage: Usage | None = None
    raw: str = ""
    #: how the guard was asked: "chat", "prompt" or "completions"
    ask: str = "chat"

    @property
    def codes(self) -> list[str]:
        """The codes of :attr:`categories` (``["S1", "S10"]``)."""
        return [c.code for c in self.categories]


class ScanSegment(_Result):
    """The scores of one segment of a scanned text (``text[start:end]``)."""

    index: int
    start: int
    end: int
    scores: dict[str, float]
    jailbreak_score: float
    injection_score: float


class ScanResult(_Result):
    """What Prompt Guard said about a text.

    ``scores`` are the class probabilities of the worst segment (Prompt Guard 1: ``BENIGN``,
    ``INJECTION``, ``JAILBREAK``; Prompt Guard 2: ``benign``, ``malicious``).
    ``jailbreak_score`` and ``injection_score`` are computed as the model cards define them
    (maxima over the segments); ``flagged`` is whether the score of ``kind`` reached
    ``threshold``. Texts longer than the 512-token window were split into ``segments``.
    """

    model: str
    flagged: bool
    kind: Literal["jailbreak", "injection"]
    threshold: float
    jailbreak_score: float
    injection_score: float
    scores: dict[str, float]
    segments: list[ScanSegment]
    worst_segment: int = 0

    @property
    def score(self) -> float:
        """The score the verdict was taken on (of ``kind``)."""
        return self.jailbreak_score if self.kind == "jailbreak" else self.injection_score


class Moderation(ResponseModel):
    """One result of ``client.moderations.create``, as OpenAI's moderations API shapes it,
    built from a Llama Guard verdict (``verdict``). Category keys are the Llama Guard
    categories (``violent-crimes``, ``hate``, ...); scores are 1.0/0.0, or the first-token
    probability of ``unsafe`` when logprobs were asked for."""

    flagged: bool
    categories: dict[str, bool]
    category_scores: dict[str, float]
    category_applied_input_types: dict[str, list[str]] = Field(default_factory=dict)
    verdict: SafetyVerdict


class ModerationCreateResponse(ResponseModel):
    """``client.moderations.create``: one result per input."""

    id: str
    model: str
    results: list[Moderation]


class _GuardVerdicts(BaseModel):
    """The verdicts a guarded client attaches to an answer."""

    input_verdict: SafetyVerdict | None = None
    output_verdict: SafetyVerdict | None = None
    refused: bool = False

    @property
    def verdict(self) -> SafetyVerdict | None:
        """The verdict that decided: the unsafe one of a refusal, else the last check's."""
        if self.refused and self.input_verdict is not None and not self.input_verdict.safe:
            return self.input_verdict
        return self.output_verdict if self.output_verdict is not None else self.input_verdict


class GuardedChatCompletion(_GuardVerdicts, ChatCompletion):
    """A completion of a guarded client: the verdicts that let it through, or, refused with
    ``on_unsafe="refuse"``, the refusal and the verdict that stopped it (``refused`` True;
    ``finish_reason`` ``"content_filter"``)."""


class GuardedParsedChatCompletion(_GuardVerdicts, ParsedChatCompletion[T], Generic[T]):
    """What a guarded client's ``parse()`` returns: a :class:`ParsedChatCompletion` with the
    verdicts attached. Refused with ``on_unsafe="refuse"``, ``message.parsed`` is None and
    the content is the refusal."""
