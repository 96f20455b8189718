"""Exact Llama 3 token counts, offline, and fitting a conversation into a token budget.

::

    from llama_client.tokens import count_tokens, fit_messages

    n = count_tokens(messages, tools=tools, model="llama-3.1-8b-instruct")
    trimmed, report = fit_messages(messages, 8000)

Counting renders the messages with the chat template the server uses (see
:mod:`llama_client._chat_render`: Meta's template as vLLM renders it, llama.cpp, Ollama) and
tokenizes the prompt with the real Llama 3 tokenizer (tiktoken with Meta's ranks). It needs
the optional extra: ``pip install 'llama-client[tokens]'``; without it every count raises
ImportError naming the extra. The tokenizer is loaded once, on the first count.

Control-token text in a message (``<|eot_id|>`` typed by a user, or returned by a tool) is read
by vLLM and llama.cpp as the control token itself: it is counted that way, and
:func:`find_control_tokens` / :func:`check_control_tokens` find it before it is sent (it can
end a turn early or forge a header).
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from . import _tokenizer
from ._chat_render import TEMPLATES, ChatTemplate, render, template_for
from ._json import text_default
from .errors import InvalidRequestError

if TYPE_CHECKING:
    from .types.chat import ChatCompletion, ChatCompletionMessage

__all__ = [
    "TEMPLATES",
    "ChatTemplate",
    "ControlToken",
    "ControlTokenWarning",
    "FitReport",
    "check_control_tokens",
    "count_completion",
    "count_text",
    "count_tokens",
    "count_tool_call",
    "find_control_tokens",
    "fit_messages",
    "render_prompt",
]

TemplateSpec = str | ChatTemplate | None


def _template(template: TemplateSpec, model: str | None, provider: str | None) -> ChatTemplate:
    if isinstance(template, ChatTemplate):
        return template
    if template is None:
        return template_for(provider, model)
    found = TEMPLATES.get(template)
    if found is None:
        raise InvalidRequestError(
            "template", f"unknown chat template {template!r}; known: {', '.join(TEMPLATES)}"
        )
    return found


def render_prompt(
    messages: Sequence[Any],
    *,
    tools: Sequence[Any] | None = None,
    model: str | None = None,
    provider: str | None = None,
    template: TemplateSpec = None,
) -> str:
    """The prompt text the server builds from ``messages`` (what :func:`count_tokens` counts).

    ``template`` names a variant (``"llama3.1"``, ``"llama3.2"``, ``"llamacpp"``,
    ``"llamacpp-builtin"``, ``"ollama-llama3.1"``, ``"ollama-llama3.2"``, see
    :data:`TEMPLATES`); by default it follows ``provider`` (``"ollama"``, ``"llamacpp"``, else
    Meta's template as vLLM renders it) and the Llama version in ``model`` (3.1 when unnamed).
    """
    return render(messages, tools, _template(template, model, provider))


def count_tokens(
    messages: Sequence[Any],
    *,
    tools: Sequence[Any] | None = None,
    model: str | None = None,
    provider: str | None = None,
    template: TemplateSpec = None,
) -> int:
    """The prompt tokens a chat completion of ``messages`` (and ``tools``) costs: exact where
    the server renders the template chosen (see :func:`render_prompt`); on vLLM it equals
    ``/tokenize`` and ``usage.prompt_tokens``.

    Needs ``pip install 'llama-client[tokens]'``. Templates that write today's date
    (``llama3.2``, ``llamacpp``) count the date of the day they run.
    """
    prompt = render(messages, tools, _template(template, model, provider))
    return _tokenizer.count(prompt)


def count_text(text: str) -> int:
    """Tokens of ``text`` as ordinary text (a completion's content as the model wrote it;
    control-token text counts as its characters)."""
    if not isinstance(text, str):
        raise InvalidRequestError("text", f"must be a string, not {type(text).__name__}")
    return _tokenizer.count_plain(text)


def count_tool_call(name: str, arguments: str | Mapping[str, Any]) -> int:
    """Tokens of a tool call as a Llama 3.1 model writes it,
    ``{"name": "<name>", "parameters": <arguments>}`` (arguments as a JSON string or a dict)."""
    import json

    if isinstance(arguments, Mapping):
        args = json.dumps(arguments, ensure_ascii=False)
    elif isinstance(arguments, str):
        args = arguments
    else:
        raise InvalidRequestError(
            "arguments", f"must be a JSON string or a dict, not {type(arguments).__name__}"
        )
    return _tokenizer.count_plain('{"name": "' + name + '", "parameters": ' + args + "}")


def count_completion(completion: ChatCompletion | ChatCompletionMessage | str) -> int:
    """Tokens of a reply's text and tool calls (the first choice of a completion), as the
    model wrote them. The stop token the server also counts in ``usage.completion_tokens``
    is not included."""
    if isinstance(completion, str):
        return count_text(completion)
    message: Any = completion
    choices = getattr(completion, "choices", None)
    if choices is not None:
        if not choices:
            return 0
        message = choices[0].message
    total = count_text(message.content) if message.content else 0
    for call in message.tool_calls or ():
        total += count_tool_call(call.function.name, call.function.arguments)
    return total


# -- control-token text ------------------------------------------------------------------------

_CONTROL = frozenset(_tokenizer.CONTROL_TOKENS)
_CONTROL_TEXT = re.compile(r"<\|[A-Za-z0-9_]{1,40}\|>")


class ControlTokenWarning(UserWarning):
    """A message holds the text of a Llama control token (``check_control_tokens(action="warn")``)."""


@dataclass(frozen=True)
class ControlToken:
    """Control-token text found in a message: where, which token, at which character."""

    where: str
    token: str
    offset: int


def _texts(messages: Sequence[Any], tools: Sequence[Any] | None) -> list[tuple[str, str]]:
    """Every text a server reads from ``messages`` and ``tools``, with where it is. Parts
    that are not text (images) are passed over: they hold no control-token text."""
    import json

    from ._chat_render import read_tools

    out: list[tuple[str, str]] = []
    for i, message in enumerate(messages):
        m = _as_dict(message)
        content = m.get("content")
        if isinstance(content, str):
            out.append((f"messages[{i}].content", content))
        elif isinstance(content, (list, tuple)):
            for j, part in enumerate(content):
                if hasattr(part, "model_dump"):
                    part = part.model_dump(exclude_none=True)
                text = part.get("text") if isinstance(part, Mapping) else part
                if isinstance(text, str):
                    out.append((f"messages[{i}].content[{j}]", text))
        for j, call in enumerate(m.get("tool_calls") or ()):
            if hasattr(call, "model_dump"):
                call = call.model_dump(exclude_none=True)
            fn = call.get("function") if isinstance(call, Mapping) else None
            if not isinstance(fn, Mapping):
                continue
            for key in ("name", "arguments"):
                value = fn.get(key)
                if not isinstance(value, str):
                    value = json.dumps(value, ensure_ascii=False, default=text_default)
                out.append((f"messages[{i}].tool_calls[{j}].function.{key}", value))
    for i, tool in enumerate(read_tools(tools) or ()):
        out.append((f"tools[{i}]", json.dumps(tool, ensure_ascii=False)))
    return out


def find_control_tokens(
    messages: Sequence[Any], *, tools: Sequence[Any] | None = None, limit: int = 100
) -> list[ControlToken]:
    """Every place (at most ``limit``) where a message, tool result, tool call or tool
    definition holds the text of a Llama control token (``<|eot_id|>``,
    ``<|start_header_id|>``, ...), which vLLM and llama.cpp read as the token itself. No
    tokenizer needed."""
    found: list[ControlToken] = []
    for where, text in _texts(messages, tools):
        if "<|" not in text:
            continue
        for match in _CONTROL_TEXT.finditer(text):
            if match.group() in _CONTROL:
                found.append(ControlToken(where, match.group(), match.start()))
                if len(found) >= limit:
                    return found
    return found


def check_control_tokens(
    messages: Sequence[Any],
    *,
    tools: Sequence[Any] | None = None,
    action: Literal["warn", "refuse"] = "refuse",
) -> list[ControlToken]:
    """:func:`find_control_tokens`, then ``"refuse"``: raise
    :class:`~llama_client.InvalidRequestError` naming the first place, or ``"warn"``: one
    :class:`ControlTokenWarning`. Returns what was found."""
    if action not in ("warn", "refuse"):
        raise InvalidRequestError("control_tokens", f'must be "warn" or "refuse", got {action!r}')
    found = find_control_tokens(messages, tools=tools)
    if found:
        first = found[0]
        text = (
            f"holds the control-token text {first.token!r} at character {first.offset} "
            f"({len(found)} found); servers read it as the token itself, which can end the "
            "turn or forge a message header"
        )
        if action == "refuse":
            raise InvalidRequestError(first.where, text)
        warnings.warn(f"{first.where}: {text}", ControlTokenWarning, stacklevel=2)
    return found


# -- fitting a conversation into a budget ------------------------------------------------------


@dataclass
class FitReport:
    """What :func:`fit_messages` did."""

    budget: int
    #: prompt tokens before and after
    tokens_before: int
    tokens_after: int
    #: indexes (in the input) of the messages dropped
    dropped: list[int] = field(default_factory=list)
    #: indexes of the tool results shortened
    shortened: list[int] = field(default_factory=list)
    #: False when even the kept messages (system prompt, last user turn) exceed the budget
    fits: bool = True


Strategy = Literal["turns", "messages"]

#: Appended where a tool result was cut; ``{n}`` is the number of tokens cut.
DEFAULT_MARKER = "\n[... {n} tokens cut ...]"


def _units(msgs: list[Mapping[str, Any]], start: int, strategy: Strategy) -> list[list[int]]:
    """Indexes from ``start`` on, grouped into what may be dropped together: a turn (a user
    message and everything up to the next user message), or with ``"messages"`` a single
    message, except that an assistant message with tool calls and the tool results after it
    are one unit."""
    units: list[list[int]] = []
    for i in range(start, len(msgs)):
        role = msgs[i].get("role")
        if strategy == "turns":
            if role == "user" or not units:
                units.append([i])
            else:
                units[-1].append(i)
        elif role in ("tool", "ipython") and units:
            units[-1].append(i)
        else:
            units.append([i])
    return units


def _as_dict(message: Any) -> Mapping[str, Any]:
    if hasattr(message, "model_dump"):
        dumped: Mapping[str, Any] = message.model_dump(mode="json", exclude_none=True)
        return dumped
    if not isinstance(message, Mapping):
        raise InvalidRequestError("messages", f"must hold dicts, not {type(message).__name__}")
    return message


def _shorten(message: Mapping[str, Any], cap: int, marker: str) -> tuple[Mapping[str, Any], bool]:
    content = message.get("content")
    if not isinstance(content, str):
        return message, False
    enc = _tokenizer.encoding()
    ids = enc.encode_ordinary(content)
    if len(ids) <= cap:
        return message, False
    kept = enc.decode(ids[:cap])
    return {**message, "content": kept + marker.format(n=len(ids) - cap)}, True


def fit_messages(
    messages: Sequence[Any],
    budget: int,
    *,
    keep_system: bool = True,
    strategy: Strategy = "turns",
    keep: Literal["turn", "user"] = "turn",
    tools: Sequence[Any] | None = None,
    max_tool_result_tokens: int | None = None,
    marker: str = DEFAULT_MARKER,
    model: str | None = None,
    provider: str | None = None,
    template: TemplateSpec = None,
) -> tuple[list[Any], FitReport]:
    """``messages`` trimmed so that their prompt (with ``tools``) costs at most ``budget``
    tokens, and a :class:`FitReport`.

    The oldest messages go first: whole turns (``strategy="turns"``: a user message and the
    replies up to the next one) or single messages (``"messages"``); an assistant tool call
    and its results always go together. The system prompt (``keep_system``) and the last
    user turn are kept; with ``keep="user"`` only the last user message and the newest
    message (or tool call with its results) after it are, so that the older rounds of a long
    tool loop can go too. With ``max_tool_result_tokens``, tool results longer than that are
    first cut to that many tokens, ending with ``marker`` (before any message is dropped).
    If even the kept messages exceed the budget, they are returned with
    ``report.fits = False``. Messages are returned as given (the same objects), except the
    shortened tool results, which are new dicts.
    """
    if isinstance(budget, bool) or not isinstance(budget, int) or budget <= 0:
        raise InvalidRequestError("budget", f"must be a positive integer, got {budget!r}")
    if keep not in ("turn", "user"):
        raise InvalidRequestError("keep", f'must be "turn" or "user", got {keep!r}')
    if strategy not in ("turns", "messages"):
        raise InvalidRequestError("strategy", f'must be "turns" or "messages", got {strategy!r}')
    if max_tool_result_tokens is not None and (
        isinstance(max_tool_result_tokens, bool)
        or not isinstance(max_tool_result_tokens, int)
        or max_tool_result_tokens <= 0
    ):
        raise InvalidRequestError(
            "max_tool_result_tokens",
            f"must be a positive integer, got {max_tool_result_tokens!r}",
        )
    chosen = _template(template, model, provider)
    items = list(messages)
    dicts = [_as_dict(m) for m in items]

    def cost(indexes: list[int]) -> int:
        return _tokenizer.count(render([dicts[i] for i in indexes], tools, chosen))

    everything = list(range(len(items)))
    before = cost(everything)
    report = FitReport(budget, before, before)
    if before <= budget:
        return items, report

    if max_tool_result_tokens is not None:
        for i, d in enumerate(dicts):
            if d.get("role") in ("tool", "ipython"):
                short, changed = _shorten(d, max_tool_result_tokens, marker)
                if changed:
                    dicts[i] = short
                    items[i] = short
                    report.shortened.append(i)
        if report.shortened:
            report.tokens_after = cost(everything)
            if report.tokens_after <= budget:
                return items, report

    head = [0] if keep_system and dicts and dicts[0].get("role") == "system" else []
    # the last user turn: from the last user message on
    last_user = max((i for i, d in enumerate(dicts) if d.get("role") == "user"), default=None)
    tail_start = last_user if last_user is not None and last_user >= len(head) else len(dicts)
    droppable = _units(dicts[:tail_start], len(head), strategy)
    tail = list(range(tail_start, len(dicts)))
    if keep == "user" and len(tail) > 1:
        after = _units(dicts, tail_start + 1, "messages")
        droppable += after[:-1]
        tail = [tail_start, *after[-1]]

    def kept_after(k: int) -> list[int]:
        return sorted(head + [i for unit in droppable[k:] for i in unit] + tail)

    # The smallest number of oldest units to drop (the count falls as more are dropped).
    lo, hi = 0, len(droppable)
    cost_hi = cost(kept_after(hi))
    if cost_hi > budget:
        lo = hi
    else:
        while lo < hi:
            mid = (lo + hi) // 2
            if cost(kept_after(mid)) <= budget:
                hi = mid
            else:
                lo = mid + 1
    kept = kept_after(lo)
    report.dropped = sorted(i for unit in droppable[:lo] for i in unit)
    report.tokens_after = cost(kept)
    report.fits = report.tokens_after <= budget
    return [items[i] for i in kept], report
