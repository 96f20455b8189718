"""``client.safety`` (Llama Guard ``check``, Prompt Guard ``scan``) and ``client.moderations``.

Every guard call is an ordinary call through the client's one verb: a chat completion, a
``/completions`` call or a classification endpoint, routed and retried like any other. The
decisions (prompt, parsing, scores) are :mod:`llama_client._safety`'s.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal

from typing_extensions import Unpack

from .._call import Call, chat_call, post_call
from .._safety import (
    AskMode,
    build_verdict,
    conversation_for_guard,
    custom_names,
    default_ask,
    guard_request,
    guard_scores,
    label_scores,
    moderation_fields,
    routed_provider,
    segment_text,
)
from ..errors import InvalidRequestError, ResponseValidationError
from ..types.params import RequestOptions

if TYPE_CHECKING:
    from ..types.safety import ModerationCreateResponse, SafetyVerdict, ScanResult
    from .client import AsyncLlamaClient

__all__ = ["AsyncModerations", "AsyncSafety"]

#: The default guard: Llama Guard 3 8B (S1-S14), resolved per provider by the catalogue.
DEFAULT_GUARD = "llama-guard-3-8b"
#: Enough for "unsafe\nS1,S2,...": verdicts are short.
DEFAULT_GUARD_MAX_TOKENS = 20
#: Inputs of one moderations call.
MAX_MODERATION_INPUTS = 256

ClassifierAPI = Literal["vllm", "tei", "hf"]


class AsyncSafety:
    """``client.safety``: Llama Guard verdicts and Prompt Guard scans."""

    def __init__(self, client: AsyncLlamaClient) -> None:
        self._client = client
        self._request = client._request

    async def check(
        self,
        messages: Sequence[Any],
        *,
        model: str = DEFAULT_GUARD,
        categories: Sequence[str] | Mapping[str, str] | None = None,
        exclude: Sequence[str] | None = None,
        ask: AskMode | None = None,
        logprobs: bool = False,
        max_tokens: int = DEFAULT_GUARD_MAX_TOKENS,
        **options: Unpack[RequestOptions],
    ) -> SafetyVerdict:
        """Classify a conversation with Llama Guard: a prompt when it ends with a user turn, a
        response when it ends with the assistant's.

        ``model`` is a guard id or alias (``llama-guard-3-8b``, ``llama-guard-3-1b``,
        ``llama-guard-4-12b``, ``"provider:model"``). ``categories`` narrows the hazard list
        (codes) or replaces it (``{code: description}``, custom categories); ``exclude`` drops
        codes; both need the SDK to write the prompt (``ask="prompt"`` or
        ``"completions"``). ``ask`` overrides the catalogue's way of asking this provider
        and model. ``logprobs=True`` asks for first-token logprobs and fills
        ``unsafe_probability``. Temperature is 0. An answer that is not a verdict raises
        :class:`~llama_client.ResponseValidationError` carrying the raw text.
        """
        turns = conversation_for_guard(messages)
        if not isinstance(model, str) or not model:
            raise InvalidRequestError("model", "must be a guard model id or alias")
        if ask is None:
            ask = default_ask(routed_provider(model, self._client.providers), model)
        req = guard_request(turns, model=model, mode=ask, categories=categories, exclude=exclude)
        custom = custom_names(categories)
        params: dict[str, Any] = {"temperature": 0, "max_tokens": max_tokens, **options}
        if req.prompt is not None:
            body: dict[str, Any] = {"prompt": req.prompt, "temperature": 0}
            body["max_tokens"] = max_tokens
            if logprobs:
                body["logprobs"] = 5
            raw: Call[Any] = post_call("/completions", body, options, model=model)
            answer = await self._request(raw)
            return _completions_verdict(answer, req.role, model, req.mode, custom)
        if logprobs:
            params["logprobs"] = True
            params["top_logprobs"] = 5
        call = chat_call(req.messages or [], model, False, params)
        completion = await self._request(call)
        if not completion.choices:
            raise ResponseValidationError("The guard model answered with no choice", body=None)
        choice = completion.choices[0]
        return build_verdict(
            choice.message.content or "",
            role=req.role,
            model=completion.model or model,
            usage=completion.usage,
            logprobs=choice.logprobs,
            ask=req.mode,
            custom=custom,
        )

    async def scan(
        self,
        text: str,
        *,
        model: str,
        api: ClassifierAPI = "vllm",
        kind: Literal["jailbreak", "injection"] = "jailbreak",
        threshold: float = 0.9,
        tokenizer: Callable[[str], Sequence[tuple[int, int]]] | None = None,
        window: int = 512,
        batch_size: int = 32,
        **options: Unpack[RequestOptions],
    ) -> ScanResult:
        """Scan ``text`` with Prompt Guard (1 or 2) served by an HTTP classification endpoint.

        ``api`` names the endpoint: ``"vllm"`` (vLLM's ``/classify``), ``"tei"``
        (text-embeddings-inference ``/predict``) or ``"hf"`` (Hugging Face inference,
        ``/models/<model>``). Texts longer than the ``window`` (512 tokens) are split into
        overlapping segments (exact with ``tokenizer``, the guard tokenizer's character
        offsets; otherwise a generous estimate) and scanned in batches of ``batch_size``; the
        worst segment decides. ``kind="jailbreak"`` flags on the jailbreak score (user
        input), ``"injection"`` on the injection score (tool results, documents).
        """
        if not isinstance(text, str):
            raise InvalidRequestError("text", f"must be a string, got {type(text).__name__}")
        if not isinstance(model, str) or not model:
            raise InvalidRequestError("model", "must be the Prompt Guard model's id")
        if api not in ("vllm", "tei", "hf"):
            raise InvalidRequestError("api", f"must be 'vllm', 'tei' or 'hf', got {api!r}")
        if kind not in ("jailbreak", "injection"):
            raise InvalidRequestError("kind", f"must be 'jailbreak' or 'injection', got {kind!r}")
        if isinstance(threshold, bool) or not 0.0 < threshold <= 1.0:
            raise InvalidRequestError("threshold", f"must be in (0, 1], got {threshold!r}")
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise InvalidRequestError("batch_size", "must be a positive integer")
        spans = segment_text(text, window=window, tokenizer=tokenizer)
        pieces = [text[a:b] for a, b in spans]
        all_scores: list[dict[str, float]] = []
        step = 1 if api == "hf" else batch_size
        for first in range(0, len(pieces), step):
            batch = pieces[first : first + step]
            answer = await self._request(_classify_call(api, model, batch, options))
            all_scores += _classification_items(api, answer, len(batch))
        from ..types.safety import ScanResult, ScanSegment

        segments = []
        for i, ((start, end), scores) in enumerate(zip(spans, all_scores, strict=True)):
            jailbreak, injection = guard_scores(scores)
            segments.append(
                ScanSegment(
                    index=i,
                    start=start,
                    end=end,
                    scores=scores,
                    jailbreak_score=jailbreak,
                    injection_score=injection,
                )
            )
        key = "jailbreak_score" if kind == "jailbreak" else "injection_score"
        worst = max(segments, key=lambda s: getattr(s, key))
        jailbreak = max(s.jailbreak_score for s in segments)
        injection = max(s.injection_score for s in segments)
        return ScanResult(
            model=model,
            flagged=(jailbreak if kind == "jailbreak" else injection) >= threshold,
            kind=kind,
            threshold=threshold,
            jailbreak_score=jailbreak,
            injection_score=injection,
            scores=worst.scores,
            segments=segments,
            worst_segment=worst.index,
        )


def _classify_call(
    api: ClassifierAPI, model: str, batch: list[str], options: Mapping[str, Any]
) -> Call[Any]:
    """The request for one batch of segments on ``api``."""
    if api == "vllm":
        return post_call("/../classify", {"input": batch}, options, model=model)
    if api == "tei":
        # a list of one-text lists is a batch (a flat list of two would be a text pair)
        body: dict[str, Any] = {"inputs": [[t] for t in batch]}
        return post_call("/../predict", body, options, model=model, model_in_body=False)
    name = model.partition(":")[2] if ":" in model and "/" not in model.split(":")[0] else model
    return post_call(
        f"/../models/{name}", {"inputs": batch[0]}, options, model=model, model_in_body=False
    )


def _classification_items(api: ClassifierAPI, answer: object, count: int) -> list[dict[str, float]]:
    """Per-text class probabilities from a classification answer (shapes in
    :func:`llama_client._safety.label_scores`); the count must match what was sent."""
    items: object = answer
    if api == "vllm":
        data = answer.get("data") if isinstance(answer, Mapping) else None
        if not isinstance(data, list) or len(data) != count:
            raise ResponseValidationError(
                f"A /classify answer needs a 'data' list of {count}: {str(answer)[:300]}",
                body=answer,
            )
        items = sorted(data, key=lambda d: d.get("index", 0) if isinstance(d, Mapping) else 0)
    elif api == "hf" and isinstance(answer, list) and answer and isinstance(answer[0], Mapping):
        items = [answer]  # one text: a flat list of {label, score}
    elif api == "tei" and count == 1 and isinstance(answer, list) and answer:
        items = [answer] if isinstance(answer[0], Mapping) else answer
    if not isinstance(items, list) or len(items) != count:
        raise ResponseValidationError(
            f"The classifier answered {len(items) if isinstance(items, list) else 'no list'} "
            f"result(s) for {count} text(s): {str(answer)[:300]}",
            body=answer,
        )
    return [label_scores(item) for item in items]


def _completions_verdict(
    answer: object,
    role: Literal["user", "agent"],
    model: str,
    ask: str,
    custom: Mapping[str, str],
) -> SafetyVerdict:
    """The verdict of a ``/completions`` answer, or of an already-parsed verdict body."""
    if isinstance(answer, Mapping) and "choices" not in answer:
        return build_verdict(
            "", role=role, model=model, usage=None, logprobs=None, ask=ask, parsed=answer
        )
    choices = answer.get("choices") if isinstance(answer, Mapping) else None
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], Mapping):
        raise ResponseValidationError(
            f"A /completions answer needs choices: {str(answer)[:300]}", body=answer
        )
    assert isinstance(answer, Mapping)
    usage = answer.get("usage") if isinstance(answer.get("usage"), Mapping) else None
    return build_verdict(
        choices[0].get("text") if isinstance(choices[0].get("text"), str) else None,  # type: ignore[arg-type]
        role=role,
        model=str(answer.get("model") or model),
        usage=usage,
        logprobs=choices[0].get("logprobs"),
        ask=ask,
        custom=custom,
    )


class AsyncModerations:
    """``client.moderations``: OpenAI's moderations API shape, answered by Llama Guard."""

    def __init__(self, client: AsyncLlamaClient) -> None:
        self._client = client

    async def create(
        self,
        *,
        input: str | Sequence[str],
        model: str = DEFAULT_GUARD,
        ask: AskMode | None = None,
        logprobs: bool = False,
        **options: Unpack[RequestOptions],
    ) -> ModerationCreateResponse:
        """Moderate one text or a list of texts: each is checked by Llama Guard as a user
        prompt (one guard call per text). ``results[i].flagged``, ``.categories`` and
        ``.category_scores`` are built from the verdict (``.verdict``); category keys are the
        Llama Guard categories (``violent-crimes``, ...), scores 1.0/0.0 or, with
        ``logprobs=True``, the first-token probability of ``unsafe``."""
        texts = [input] if isinstance(input, str) else input
        if isinstance(texts, (bytes, Mapping)) or not isinstance(texts, Sequence) or not texts:
            raise InvalidRequestError("input", "must be a string or a non-empty list of strings")
        if len(texts) > MAX_MODERATION_INPUTS:
            raise InvalidRequestError("input", f"at most {MAX_MODERATION_INPUTS} texts per call")
        for i, text in enumerate(texts):
            if not isinstance(text, str):
                raise InvalidRequestError(f"input[{i}]", "must be a string (text only)")
        from .._safety import CATEGORIES, category_codes_for
        from ..types.safety import Moderation, ModerationCreateResponse

        checked = {code: CATEGORIES[code][1] for code in category_codes_for(model)}
        results = []
        for text in texts:
            verdict = await self._client.safety.check(
                [{"role": "user", "content": text}],
                model=model,
                ask=ask,
                logprobs=logprobs,
                **options,
            )
            categories, scores = moderation_fields(
                verdict.safe, verdict.codes, checked, verdict.unsafe_probability
            )
            results.append(
                Moderation(
                    flagged=not verdict.safe,
                    categories=categories,
                    category_scores=scores,
                    category_applied_input_types={
                        k: ["text"] for k, hit in categories.items() if hit
                    },
                    verdict=verdict,
                )
            )
        import time

        return ModerationCreateResponse(
            id=f"modr-{time.time_ns():x}",
            model=results[0].verdict.model or model,
            results=results,
        )
