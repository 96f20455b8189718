"""``client.with_guard(...)``: a client whose chat calls are checked by Llama Guard.

The input (the conversation) is checked before the model's answer is released, the output
(the answer) after it arrives; a streamed answer is released only in pieces a check has
passed. Tool results of ``run_tools`` can be scanned with Prompt Guard before they go back to
the model. Every check is an ordinary call (``client.safety``) of the guard's client, which may
be another client on another provider.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Mapping, Sequence
from functools import cached_property
from types import TracebackType
from typing import TYPE_CHECKING, Any, Literal, cast, overload

from typing_extensions import Self, Unpack

from .._base_client import M
from .._safety import (
    AskMode,
    async_overlap,
    completion_texts,
    conversation_for_guard,
    guarded_completion,
    refusal_chunk,
    refusal_completion,
    with_answer,
)
from .._tool_loop import maybe_awaited, tool_output
from ..errors import InvalidRequestError, UnsafeContentError
from ..types.params import ChatCompletionParams, ParseParams, RunToolsParams

if TYPE_CHECKING:
    from .._tool_loop import ToolRunResult
    from ..tools import Tool, ToolLike
    from ..types.chat import ChatCompletionChunk
    from ..types.params import MessageParam
    from ..types.safety import GuardedChatCompletion, GuardedParsedChatCompletion, SafetyVerdict
    from .client import AsyncLlamaClient
    from .streaming import AsyncStream

__all__ = [
    "AsyncGuard",
    "AsyncGuardedChat",
    "AsyncGuardedClient",
    "AsyncGuardedCompletions",
    "AsyncGuardedStream",
]

OnUnsafe = Literal["raise", "refuse"]


class AsyncGuard:
    """The checks of a guarded client (no state of its own but its settings)."""

    def __init__(
        self,
        client: AsyncLlamaClient,
        *,
        input: str | None,
        output: str | None,
        on_unsafe: OnUnsafe,
        guard_client: AsyncLlamaClient | None,
        ask: AskMode | None,
        categories: Sequence[str] | Mapping[str, str] | None,
        exclude: Sequence[str] | None,
        check_every: int | None,
        refusal: str,
        scan_tool_results: str | None,
        scan_api: Literal["vllm", "tei", "hf"],
        scan_threshold: float,
        overlap: bool,
        scan_client: AsyncLlamaClient | None = None,
    ) -> None:
        if on_unsafe not in ("raise", "refuse"):
            raise InvalidRequestError(
                "on_unsafe", f"must be 'raise' or 'refuse', got {on_unsafe!r}"
            )
        for field, value in (("input", input), ("output", output)):
            if value is not None and (not isinstance(value, str) or not value):
                raise InvalidRequestError(field, "must be a guard model id or alias, or None")
        if check_every is not None and (
            isinstance(check_every, bool) or not isinstance(check_every, int) or check_every < 1
        ):
            raise InvalidRequestError("check_every", "must be a positive number of characters")
        if not isinstance(refusal, str):
            raise InvalidRequestError("refusal", "must be a string")
        self.client = client
        self.guard_client = guard_client or client
        self.scan_client = scan_client or self.guard_client
        self.input = input
        self.output = output
        self.on_unsafe = on_unsafe
        self.ask = ask
        self.categories = categories
        self.exclude = exclude
        self.check_every = check_every
        self.refusal = refusal
        self.scan_tool_results = scan_tool_results
        self.scan_api = scan_api
        self.scan_threshold = scan_threshold
        self.overlap = overlap

    async def check(self, model: str, turns: list[dict[str, str]]) -> SafetyVerdict:
        return await self.guard_client.safety.check(
            turns, model=model, categories=self.categories, exclude=self.exclude, ask=self.ask
        )

    async def check_input(self, turns: list[dict[str, str]]) -> SafetyVerdict:
        assert self.input is not None
        return await self.check(self.input, turns)

    async def check_answer(self, turns: list[dict[str, str]], texts: list[str]) -> Any:
        """The output verdict: the first unsafe one among the answers, else the last; None
        when there is no output guard or nothing to check."""
        verdict = None
        if self.output is None:
            return None
        for text in texts:
            if not text.strip():
                continue
            verdict = await self.check(self.output, with_answer(turns, text))
            if not verdict.safe:
                break
        return verdict

    def unsafe(
        self,
        stage: str,
        verdict: Any,
        model: str,
        inputv: Any,
        outputv: Any,
        *,
        parsed: bool = False,
    ) -> Any:
        """What an unsafe verdict becomes: UnsafeContentError, or the refusal completion."""
        if self.on_unsafe == "raise":
            raise UnsafeContentError(stage, verdict)
        return refusal_completion(self.refusal, model, inputv, outputv, parsed=parsed)


class AsyncGuardedCompletions:
    """``guarded.chat.completions``: ``create`` with the guard's checks around it."""

    def __init__(self, guard: AsyncGuard) -> None:
        self._guard = guard
        self._completions = guard.client.chat.completions

    @overload
    async def create(
        self,
        *,
        messages: Sequence[MessageParam],
        model: str | None = None,
        stream: Literal[False] = False,
        **params: Unpack[ChatCompletionParams],
    ) -> GuardedChatCompletion: ...
    @overload
    async def create(
        self,
        *,
        messages: Sequence[MessageParam],
        model: str | None = None,
        stream: Literal[True],
        **params: Unpack[ChatCompletionParams],
    ) -> AsyncGuardedStream: ...
    async def create(
        self,
        *,
        messages: Sequence[MessageParam],
        model: str | None = None,
        stream: bool = False,
        **params: Unpack[ChatCompletionParams],
    ) -> GuardedChatCompletion | AsyncGuardedStream:
        """A chat completion whose input is checked before its answer is released and whose
        answer is checked before it is returned: a :class:`GuardedChatCompletion` (verdicts
        attached), or with ``stream=True`` an :class:`AsyncGuardedStream`.

        Unsafe content raises :class:`~llama_client.UnsafeContentError` (``on_unsafe="raise"``)
        or gives a refusal whose ``refused`` is True (``"refuse"``). In the async client the
        model is called while the input is checked (``overlap=True``); its answer is
        released only once the input passed, and dropped (a stream closed) when it did not.
        """

        async def main() -> Any:
            return await self._completions.create(
                messages=messages, model=model, stream=stream, **params
            )

        async def discard(result: Any) -> None:
            if stream:
                await result.close()

        result: GuardedChatCompletion | AsyncGuardedStream = await self._guarded(
            messages, model, main, discard, stream=stream
        )
        return result

    @overload
    async def parse(
        self,
        *,
        messages: Sequence[MessageParam],
        response_format: type[M],
        model: str | None = None,
        max_parse_retries: int = 2,
        **params: Unpack[ParseParams],
    ) -> GuardedParsedChatCompletion[M]: ...
    @overload
    async def parse(
        self,
        *,
        messages: Sequence[MessageParam],
        response_format: Mapping[str, Any],
        model: str | None = None,
        max_parse_retries: int = 2,
        **params: Unpack[ParseParams],
    ) -> GuardedParsedChatCompletion[Any]: ...
    async def parse(
        self,
        *,
        messages: Sequence[MessageParam],
        response_format: type[M] | Mapping[str, Any],
        model: str | None = None,
        max_parse_retries: int = 2,
        **params: Unpack[ParseParams],
    ) -> GuardedParsedChatCompletion[Any]:
        """``parse()`` with the guard's checks: the input is checked as for :meth:`create`,
        the validated answer's text before it is returned. Refused (``on_unsafe="refuse"``),
        ``message.parsed`` is None and the content is the refusal."""

        async def main() -> Any:
            return await self._completions.parse(
                messages=messages,
                response_format=response_format,
                model=model,
                max_parse_retries=max_parse_retries,
                **params,
            )

        async def discard(result: Any) -> None:
            return None

        result: GuardedParsedChatCompletion[Any] = await self._guarded(
            messages, model, main, discard, parsed=True
        )
        return result

    async def _guarded(
        self,
        messages: Sequence[MessageParam],
        model: str | None,
        main: Callable[[], Any],
        discard: Callable[[Any], Any],
        *,
        stream: bool = False,
        parsed: bool = False,
    ) -> Any:
        """``main()`` (the model call) between the input check and the output check."""
        g = self._guard
        turns = conversation_for_guard(messages, strict=False)
        name = model or g.client.model or ""

        async def check() -> Any:
            return await g.check_input(turns)

        verdict_in = None
        if g.input is not None:
            verdict_in, result = await async_overlap(
                check, main, overlap=g.overlap, discard=discard
            )
            if not verdict_in.safe:
                refused = g.unsafe("input", verdict_in, name, verdict_in, None, parsed=parsed)
                if stream:
                    return AsyncGuardedStream(None, g, turns, verdict_in, refused=refused)
                return refused
        else:
            result = await main()
        if stream:
            return AsyncGuardedStream(result, g, turns, verdict_in)
        verdict_out = await g.check_answer(turns, completion_texts(result))
        if verdict_out is not None and not verdict_out.safe:
            if g.on_unsafe == "raise":
                raise UnsafeContentError("output", verdict_out, result)
            return refusal_completion(
                g.refusal, result.model or name, verdict_in, verdict_out, parsed=parsed
            )
        return guarded_completion(result, verdict_in, verdict_out)


class AsyncGuardedStream:
    """A guarded stream of chunks: chunks are released only once the text they carry has
    passed the output check (every ``check_every`` characters, and at the end). An unsafe
    check closes the underlying stream: ``UnsafeContentError`` (``on_unsafe="raise"``), or a
    last chunk carrying the refusal (``"refuse"``). ``input_verdict`` / ``output_verdict`` hold
    the verdicts so far, ``refused`` whether it was cut short."""

    def __init__(
        self,
        stream: AsyncStream[ChatCompletionChunk] | None,
        guard: AsyncGuard,
        turns: list[dict[str, str]],
        input_verdict: SafetyVerdict | None,
        *,
        refused: Any = None,
    ) -> None:
        self._stream = stream
        self._guard = guard
        self._turns = turns
        self.input_verdict = input_verdict
        self.output_verdict: SafetyVerdict | None = None
        self.refused = refused is not None
        self._ready: deque[ChatCompletionChunk] = deque()
        self._pending: list[ChatCompletionChunk] = []
        self._texts: dict[int, str] = {}
        self._checked = 0  # characters of text that passed a check
        self._done = stream is None
        self._model = ""
        if refused is not None:
            self._ready.append(refusal_chunk(guard.refusal, getattr(refused, "model", "")))

    def __aiter__(self) -> Self:
        return self

    async def __anext__(self) -> ChatCompletionChunk:
        while not self._ready:
            if self._done:
                raise StopAsyncIteration
            await self._pull()
        return self._ready.popleft()

    async def _pull(self) -> None:
        assert self._stream is not None
        try:
            chunk = await self._stream.__anext__()
        except StopAsyncIteration:
            self._done = True
            await self._check(final=True)
            return
        self._model = chunk.model or self._model
        if self._guard.output is None:  # nothing to check: chunks flow as they come
            self._ready.append(chunk)
            return
        self._pending.append(chunk)
        for choice in chunk.choices:
            piece = choice.delta.content or ""
            for call in choice.delta.tool_calls or []:
                if call.function is not None:
                    piece += (call.function.name or "") + (call.function.arguments or "")
            if piece:
                self._texts[choice.index] = self._texts.get(choice.index, "") + piece
        every = self._guard.check_every
        if every is not None and self._total() - self._checked >= every:
            await self._check(final=False)

    def _total(self) -> int:
        return sum(len(t) for t in self._texts.values())

    async def _check(self, *, final: bool) -> None:
        g = self._guard
        if g.output is not None and self._total() > self._checked:
            texts = [self._texts[i] for i in sorted(self._texts)]
            verdict = await g.check_answer(self._turns, texts)
            if verdict is not None:
                self.output_verdict = verdict
            if verdict is not None and not verdict.safe:
                self._pending.clear()
                self._done = True
                await self.close()
                if g.on_unsafe == "raise":
                    raise UnsafeContentError("output", verdict)
                self.refused = True
                self._ready.append(refusal_chunk(g.refusal, self._model))
                return
        self._checked = self._total()
        self._ready.extend(self._pending)
        self._pending.clear()

    async def close(self) -> None:
        """Close the underlying stream (and release its connection)."""
        self._done = True
        if self._stream is not None:
            await self._stream.close()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()


class AsyncGuardedChat:
    """``guarded.chat``: ``completions.create`` and ``run_tools``, guarded."""

    def __init__(self, guard: AsyncGuard) -> None:
        self._guard = guard

    @cached_property
    def completions(self) -> AsyncGuardedCompletions:
        """Guarded chat completions (``create``)."""
        return AsyncGuardedCompletions(self._guard)

    async def run_tools(
        self,
        *,
        messages: Sequence[MessageParam],
        tools: Sequence[ToolLike],
        model: str | None = None,
        max_rounds: int = 8,
        raise_tool_errors: bool = False,
        split_tool_calls: bool = True,
        max_tool_calls: int = 64,
        max_concurrency: int = 8,
        **params: Unpack[RunToolsParams],
    ) -> ToolRunResult:
        """``chat.run_tools`` with every request guarded (its input and its answer) and, with
        ``scan_tool_results``, every tool result scanned by Prompt Guard for injection before
        it goes back to the model: a flagged result raises
        :class:`~llama_client.UnsafeContentError` (stage ``"tool"``) or is replaced by a
        notice saying it was withheld (``on_unsafe="refuse"``)."""
        from ..tools import ToolSet
        from .chat import AsyncCompletions
        from .tool_loop import arun_tools

        g = self._guard
        toolset = ToolSet.from_param(tools)
        if g.scan_tool_results is not None:
            for t in toolset:
                _runnable(t, allow_async=True)
            toolset = ToolSet(self._scanned(t) for t in toolset)
        return await arun_tools(
            cast(AsyncCompletions, self.completions),
            messages,
            toolset,
            model=model,
            max_rounds=max_rounds,
            raise_tool_errors=raise_tool_errors,
            split_tool_calls=split_tool_calls,
            params=params,
            max_tool_calls=max_tool_calls,
            max_concurrency=max_concurrency,
        )

    def _scanned(self, tool: Tool[..., Any]) -> Tool[..., Any]:
        """``tool`` whose result is scanned by Prompt Guard before the model sees it."""
        handler = tool.handler
        if handler is None:
            return tool
        g = self._guard
        assert g.scan_tool_results is not None
        scan_model = g.scan_tool_results

        async def scanned(**arguments: Any) -> str:
            text = tool_output(await maybe_awaited(handler(**arguments)))
            result = await g.scan_client.safety.scan(
                text,
                model=scan_model,
                api=g.scan_api,
                kind="injection",
                threshold=g.scan_threshold,
            )
            if not result.flagged:
                return text
            if g.on_unsafe == "raise":
                raise UnsafeContentError("tool", result)
            return (
                f"[tool result withheld: Prompt Guard flagged it as a possible prompt "
                f"injection (score {result.injection_score:.2f})]"
            )

        return tool.with_handler(scanned)


class AsyncGuardedClient:
    """A client whose chat calls are guarded (``client.with_guard(...)``): ``chat.completions
    .create`` and ``chat.run_tools`` as on the client, with the checks around them. ``client``
    is the client underneath, ``guard_client`` the one the guard calls go to."""

    def __init__(self, guard: AsyncGuard) -> None:
        self._guard = guard

    @property
    def client(self) -> AsyncLlamaClient:
        """The unguarded client the model calls go to."""
        return self._guard.client

    @property
    def guard_client(self) -> AsyncLlamaClient:
        """The client the guard calls go to (the same client unless one was given)."""
        return self._guard.guard_client

    @cached_property
    def chat(self) -> AsyncGuardedChat:
        """Guarded chat: ``completions.create`` and ``run_tools``."""
        return AsyncGuardedChat(self._guard)


def _runnable(tool: Tool[..., Any], *, allow_async: bool) -> None:
    """Before any I/O: the sync loop cannot run coroutine tools (checked before a tool is
    wrapped for scanning, which hides what its handler is)."""
    if tool.is_async and not allow_async:
        raise InvalidRequestError(
            "tools", f"tool {tool.name!r} is async; use AsyncLlamaClient.chat.run_tools to run it"
        )
