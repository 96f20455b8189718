"""``chat.completions.stream()``: rebuilding one ChatCompletion from streamed chunks.

:class:`ChatCompletionAccumulator` does the merging (no I/O): content per choice index
(``n > 1`` streams interleave, and index 1 may come first), tool-call deltas merged by their
``index`` (id and name arrive once, or repeated in every delta, depending on the server;
arguments arrive as fragments), finish_reason, logprobs and the usage chunk.
:class:`~llama_client.ChatCompletionStream` and :class:`~llama_client.AsyncChatCompletionStream`
(in :mod:`llama_client._async.chat_stream` and its generated sync twin) feed it while the caller
iterates.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from ._error_parsing import validation_problems
from ._lazy import lazy_names
from .errors import ResponseValidationError

if TYPE_CHECKING:  # the tool-call modules load on first use of tools=
    from ._tool_calls import TextHoldBack
    from .types.chat import (
        ChatCompletion,
        ChatCompletionChunk,
        ChunkChoice,
        TokenLogprob,
        Usage,
    )

__all__ = ["ChatCompletionAccumulator"]


class _ToolCallState:
    __slots__ = ("arguments", "extra", "id", "name", "type")

    def __init__(self) -> None:
        self.id: str | None = None
        self.type: str | None = None
        self.name: str | None = None
        self.arguments: list[str] = []
        self.extra: dict[str, Any] = {}


class _ChoiceState:
    __slots__ = (
        "choice_extra",
        "content",
        "extra",
        "finish_reason",
        "logprobs",
        "message",
        "role",
        "stop_reason",
        "tool_calls",
    )

    def __init__(self) -> None:
        self.role: str | None = None
        self.content: list[str] = []
        self.tool_calls: dict[int, _ToolCallState] = {}
        self.finish_reason: str | None = None
        self.stop_reason: str | int | None = None
        self.logprobs: list[TokenLogprob] | None = None
        self.extra: dict[str, Any] = {}
        self.choice_extra: dict[str, Any] = {}
        #: a whole ``message`` some servers put in a streamed choice besides its ``delta``
        self.message: object = None


class ChatCompletionAccumulator:
    """Merges chunks into the ChatCompletion a non-streamed call would have returned."""

    def __init__(self) -> None:
        self._choices: dict[int, _ChoiceState] = {}
        self._usage: Usage | None = None
        self._top: dict[str, Any] = {}
        self._extra: dict[str, Any] = {}
        self.chunk_count = 0

    def add(self, chunk: ChatCompletionChunk) -> None:
        self.chunk_count += 1
        top = self._top
        if chunk.id:
            top.setdefault("id", chunk.id)
        if chunk.created:
            top.setdefault("created", chunk.created)
        if chunk.model:
            top.setdefault("model", chunk.model)
        if chunk.system_fingerprint is not None:
            top["system_fingerprint"] = chunk.system_fingerprint
        if chunk.usage is not None:
            self._usage = chunk.usage
        if chunk.model_extra:
            self._extra.update(chunk.model_extra)
        for choice in chunk.choices:
            self._add_choice(choice)

    def _add_choice(self, choice: ChunkChoice) -> None:
        state = self._choices.get(choice.index)
        if state is None:
            state = self._choices[choice.index] = _ChoiceState()
        delta = choice.delta
        if delta.role:
            state.role = delta.role
        if delta.content:
            state.content.append(delta.content)
        if delta.tool_calls:
            for position, call in enumerate(delta.tool_calls):
                index = call.index if call.index is not None else position
                tc = state.tool_calls.get(index)
                if tc is None:
                    tc = state.tool_calls[index] = _ToolCallState()
                if call.id and not tc.id:
                    tc.id = call.id
                if call.type and not tc.type:
                    tc.type = call.type
                fn = call.function
                if fn is not None:
                    if fn.name:
                        # Some servers repeat the whole name in every delta: take it once.
                        if tc.name is None:
                            tc.name = fn.name
                        elif fn.name != tc.name:
                            tc.name += fn.name  # streamed in fragments
                    if fn.arguments:
                        tc.arguments.append(fn.arguments)
                if call.model_extra:
                    tc.extra.update(call.model_extra)
        if delta.model_extra:
            extra = state.extra
            for k, v in delta.model_extra.items():
                if v is None:
                    continue
                before = extra.get(k)
                # Text fields of a delta are fragments (reasoning_content, refusal): joined,
                # like content. Anything else: the last value sent.
                extra[k] = before + v if isinstance(v, str) and isinstance(before, str) else v
        if choice.finish_reason is not None:
            state.finish_reason = choice.finish_reason
        if choice.stop_reason is not None:
            state.stop_reason = choice.stop_reason
        if choice.model_extra:
            # e.g. raw_finish_reason (a provider's own word), native_finish_reason (OpenRouter)
            for k, v in choice.model_extra.items():
                if v is None:
                    continue
                if k == "message":  # folded into the message in completion()
                    state.message = v
                else:
                    state.choice_extra[k] = v
        if choice.logprobs is not None and choice.logprobs.content:
            if state.logprobs is None:
                state.logprobs = []
            state.logprobs.extend(choice.logprobs.content)

    @property
    def usage(self) -> Usage | None:
        return self._usage

    def text(self, index: int = 0) -> str:
        state = self._choices.get(index)
        return "".join(state.content) if state else ""

    def completion(self) -> ChatCompletion:
        """The ChatCompletion built from every chunk added so far.

        Raises :class:`ResponseValidationError` when what the server streamed does not make a
        valid one (a field of the wrong type, e.g. ``"raw_finish_reason": 5``), as the same
        fields in a non-streamed answer would.
        """
        from .types.chat import ChatCompletion, ChoiceLogprobs  # once per stream, not per chunk

        choices: list[dict[str, Any]] = []
        for index in sorted(self._choices):
            state = self._choices[index]
            choices.append(
                {
                    **state.choice_extra,
                    "index": index,
                    "message": self._message(state),
                    "finish_reason": state.finish_reason,
                    "logprobs": ChoiceLogprobs(content=state.logprobs)
                    if state.logprobs is not None
                    else None,
                    "stop_reason": state.stop_reason,
                }
            )
        fields = {k: v for k, v in self._extra.items() if k not in ("usage", "choices")}
        fields.update(self._top)
        fields.update(object="chat.completion", choices=choices, usage=self._usage)
        try:
            return ChatCompletion.model_validate(fields)
        except ValidationError as exc:
            raise _unfoldable(exc) from None

    @staticmethod
    def _message(state: _ChoiceState) -> object:
        tool_calls = [
            {
                **tc.extra,
                "id": tc.id,
                "type": tc.type or "function",
                "function": {"name": tc.name or "", "arguments": "".join(tc.arguments)},
            }
            for _, tc in sorted(state.tool_calls.items())
        ]
        message: dict[str, Any] = {}
        if isinstance(state.message, dict):
            # A whole message in the chunk: it fills in what the deltas did not carry.
            message.update(state.message)
        elif state.message is not None:
            return state.message  # not an object: fails validation, as unstreamed it would
        message.update(state.extra)
        message["role"] = state.role or message.get("role") or "assistant"
        text = "".join(state.content)
        if text or "content" not in message:
            message["content"] = text if text or not tool_calls else None
        if tool_calls or "tool_calls" not in message:
            message["tool_calls"] = tool_calls or None
        return message


def _unfoldable(exc: ValidationError) -> ResponseValidationError:
    """The error for streamed chunks that do not make a valid ChatCompletion."""
    problems = validation_problems(exc, limit=3, root="completion", show_input=True)
    return ResponseValidationError(
        "The streamed chunks do not make a valid chat completion: " + "; ".join(problems),
        body=[{"loc": list(e["loc"]), "msg": e["msg"], "input": e["input"]} for e in exc.errors()],
    )


def _held_text(hold: TextHoldBack, final: ChatCompletion) -> str:
    # Text held back because it started like a tool call: show it unless it was one; if it
    # was, show only the prose around the call.
    from ._tool_calls import text_was_call

    if text_was_call(final):
        return hold.release(True) + (final.choices[0].message.content or "")
    return hold.release(False)


# The stream wrappers moved to llama_client._async / _sync; these import paths keep working.
_MOVED = {
    "ChatCompletionStream": "llama_client._sync.chat_stream",
    "ChatCompletionStreamManager": "llama_client._sync.chat_stream",
    "AsyncChatCompletionStream": "llama_client._async.chat_stream",
    "AsyncChatCompletionStreamManager": "llama_client._async.chat_stream",
}
__getattr__ = lazy_names(__name__, _MOVED, globals())[0]
