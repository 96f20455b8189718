"""AWS Bedrock Converse <-> OpenAI chat shapes, both ways. Data only: no I/O, no botocore.

Used by :mod:`llama_client.providers.bedrock` (the adapter); nothing else knows Converse.

* :func:`converse_body` turns a prepared OpenAI chat body into a Converse request body:
  system messages into the top-level ``system`` list, the rest into alternating ``messages``
  (consecutive same-role turns merged, ``tool`` results as ``toolResult`` blocks of a user
  turn, assistant ``tool_calls`` as ``toolUse`` blocks), ``inferenceConfig``, ``toolConfig``
  and ``additionalModelRequestFields``;
* :func:`completion_dict` turns a Converse answer into an OpenAI chat completion dict;
* :class:`StreamEvents` turns ConverseStream events into OpenAI chunk dicts, one stream at a
  time (it keeps the tool-call index of each content block).

Converse facts (request and response syntax, stream events, stop reasons): see
``shared/reference/providers.md``, "AWS Bedrock (Converse)".
"""

from __future__ import annotations

import base64
import binascii
import json
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from .._error_parsing import preview
from .._json import text_default
from ..errors import RequestRefusedError, ResponseValidationError

__all__ = [
    "INFERENCE_CONFIG",
    "StreamEvents",
    "completion_dict",
    "converse_body",
    "new_completion_id",
]

#: OpenAI body parameter -> ``inferenceConfig`` field.
INFERENCE_CONFIG: Mapping[str, str] = {
    "max_tokens": "maxTokens",
    "max_completion_tokens": "maxTokens",
    "temperature": "temperature",
    "top_p": "topP",
    "stop": "stopSequences",
}
#: Body keys the mapping itself consumes (everything else is a parameter to place or refuse).
_HANDLED = frozenset({"model", "messages", "stream", "tools", "tool_choice", "response_format"})
_IMAGE_FORMATS = {
    "image/png": "png",
    "image/jpeg": "jpeg",
    "image/gif": "gif",
    "image/webp": "webp",
}

Refuse = Callable[[str, str], None]


def new_completion_id() -> str:
    """An id for an answer that came without one (Converse sends none)."""
    return f"chatcmpl-{uuid.uuid4().hex}"


# -- request ----------------------------------------------------------------------------------


def converse_body(
    body: Mapping[str, Any],
    *,
    refuse: Refuse,
    additional_fields: Mapping[str, str],
) -> dict[str, Any]:
    """The Converse request body for a prepared OpenAI chat ``body`` (its model goes in the
    URL path, not here). A parameter with no Converse place goes to ``refuse(name, reason)``
    (the ``unsupported=`` policy); malformed messages raise :class:`RequestRefusedError`."""
    system, messages = _messages(body["messages"])
    out: dict[str, Any] = {"messages": messages}
    if "response_format" in body:
        instruction = _format_instruction(body["response_format"])
        if instruction:
            system.append({"text": instruction})
    if system:
        out["system"] = system
    config: dict[str, Any] = {}
    extra: dict[str, Any] = {}
    for key, value in body.items():
        if key in _HANDLED:
            continue
        field = INFERENCE_CONFIG.get(key)
        if field is not None:
            if key == "stop":
                value = [value] if isinstance(value, str) else list(value)
            config[field] = value
        elif key in additional_fields:
            extra[additional_fields[key]] = value
        else:
            refuse(key, "has no place in a Bedrock Converse request")
    if config:
        out["inferenceConfig"] = config
    if extra:
        out["additionalModelRequestFields"] = extra
    tools = body.get("tools")
    if tools:
        out["toolConfig"] = {"tools": [_tool_spec(t, i) for i, t in enumerate(tools)]}
    elif _has_tool_blocks(messages):
        # Converse refuses toolUse/toolResult blocks without a toolConfig: describe the tools
        # the history used, by name, so a replayed conversation stays valid.
        names = dict.fromkeys(
            block["toolUse"]["name"]
            for m in messages
            for block in m["content"]
            if "toolUse" in block
        )
        out["toolConfig"] = {
            "tools": [
                {"toolSpec": {"name": n, "inputSchema": {"json": {"type": "object"}}}}
                for n in names
            ]
        }
    return out


def _format_instruction(response_format: Mapping[str, Any]) -> str | None:
    """Converse has no ``response_format``: JSON output is asked for in the system prompt
    (not grammar-constrained; ``parse()`` validates the reply and re-asks on a bad one)."""
    kind = response_format.get("type")
    if kind == "json_schema":
        spec = response_format.get("json_schema")
        schema = spec.get("schema") if isinstance(spec, Mapping) else None
        text = json.dumps(schema, ensure_ascii=False, separators=(",", ":"))
        return (
            "Answer with one JSON value only, no prose and no code fence, matching this JSON "
            f"Schema: {text}"
        )
    if kind == "json_object":
        return "Answer with one JSON object only, no prose and no code fence."
    if kind == "text":
        return None
    raise RequestRefusedError("response_format", f"type {kind!r} is not accepted by Bedrock")


def _tool_spec(tool: Mapping[str, Any], i: int) -> dict[str, Any]:
    function = tool.get("function") if isinstance(tool, Mapping) else None
    if not isinstance(function, Mapping) or not isinstance(function.get("name"), str):
        raise RequestRefusedError(f"tools[{i}]", "must be a function tool with a name")
    spec: dict[str, Any] = {
        "name": function["name"],
        "inputSchema": {"json": function.get("parameters") or {"type": "object"}},
    }
    if function.get("description"):
        spec["description"] = function["description"]
    return {"toolSpec": spec}


def _has_tool_blocks(messages: list[dict[str, Any]]) -> bool:
    return any("toolUse" in b or "toolResult" in b for m in messages for b in m["content"])


def _messages(
    messages: Sequence[Mapping[str, Any]],
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(system blocks, Converse messages): same-role turns merged, tool results as user turns."""
    system: list[dict[str, Any]] = []
    out: list[dict[str, Any]] = []
    for i, message in enumerate(messages):
        where = f"messages[{i}]"
        role = message.get("role")
        if role in ("system", "developer"):
            system.extend({"text": t} for t in _texts(message.get("content"), where) if t)
            continue
        if role == "user":
            turn, blocks = "user", _user_blocks(message.get("content"), where)
        elif role == "assistant":
            turn, blocks = "assistant", _assistant_blocks(message, where)
        elif role in ("tool", "ipython"):
            turn, blocks = "user", [_tool_result(message, where)]
        else:
            raise RequestRefusedError(f"{where}.role", f"{role!r} has no Converse equivalent")
        if not blocks:
            continue  # an empty assistant turn (no text, no calls): nothing to send
        if out and out[-1]["role"] == turn:
            out[-1]["content"].extend(blocks)  # Converse needs alternating turns
        else:
            out.append({"role": turn, "content": blocks})
    if not out:
        raise RequestRefusedError("messages", "Bedrock needs at least one non-system message")
    return system, out


def _texts(content: object, where: str) -> list[str]:
    if content is None:
        return []
    if isinstance(content, str):
        return [content]
    texts = []
    for j, part in enumerate(_parts(content, where)):
        if part.get("type") != "text":
            raise RequestRefusedError(f"{where}.content[{j}]", "must be a text part here")
        texts.append(str(part.get("text", "")))
    return texts


def _parts(content: object, where: str) -> list[Mapping[str, Any]]:
    if not isinstance(content, (list, tuple)) or not all(isinstance(p, Mapping) for p in content):
        raise RequestRefusedError(f"{where}.content", "must be a string or a list of parts")
    return list(content)


def _user_blocks(content: object, where: str) -> list[dict[str, Any]]:
    if content is None or isinstance(content, str):
        return [{"text": content}] if content else []
    blocks: list[dict[str, Any]] = []
    for j, part in enumerate(_parts(content, where)):
        kind = part.get("type")
        if kind == "text":
            if part.get("text"):
                blocks.append({"text": str(part["text"])})
        elif kind == "image_url":
            blocks.append(_image_block(part.get("image_url"), f"{where}.content[{j}]"))
        else:
            raise RequestRefusedError(f"{where}.content[{j}]", f"part type {kind!r} not supported")
    return blocks


def _image_block(image: object, where: str) -> dict[str, Any]:
    url = image.get("url") if isinstance(image, Mapping) else None
    if not isinstance(url, str) or not url.startswith("data:"):
        raise RequestRefusedError(
            where,
            "Bedrock takes images as bytes: give a data: URL (data:image/png;base64,...), "
            "not a link",
        )
    header, _, data = url[5:].partition(",")
    mime, _, encoding = header.partition(";")
    fmt = _IMAGE_FORMATS.get(mime.lower())
    if fmt is None or encoding != "base64":
        raise RequestRefusedError(
            where, f"a base64 data: URL of a png, jpeg, gif or webp image, got {mime!r}"
        )
    try:
        base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        raise RequestRefusedError(where, "the data: URL is not valid base64") from None
    return {"image": {"format": fmt, "source": {"bytes": data}}}


def _assistant_blocks(message: Mapping[str, Any], where: str) -> list[dict[str, Any]]:
    blocks: list[dict[str, Any]] = [
        {"text": t} for t in _texts(message.get("content"), where) if t.strip()
    ]
    for k, call in enumerate(message.get("tool_calls") or ()):
        call_where = f"{where}.tool_calls[{k}]"
        if not isinstance(call, Mapping):
            dump = getattr(call, "model_dump", None)
            call = dump(mode="json") if callable(dump) else {}
        function = call.get("function")
        if not isinstance(function, Mapping) or not isinstance(function.get("name"), str):
            raise RequestRefusedError(call_where, "must have function.name")
        if not call.get("id"):
            raise RequestRefusedError(f"{call_where}.id", "Bedrock needs the tool call's id")
        arguments = function.get("arguments") or "{}"
        try:
            value = json.loads(arguments) if isinstance(arguments, str) else arguments
        except ValueError:
            raise RequestRefusedError(
                f"{call_where}.function.arguments",
                f"must be JSON (Bedrock sends tool input as an object): {preview(arguments, 80)}",
            ) from None
        if not isinstance(value, Mapping):
            raise RequestRefusedError(
                f"{call_where}.function.arguments", "must be a JSON object for Bedrock"
            )
        blocks.append(
            {"toolUse": {"toolUseId": call["id"], "name": function["name"], "input": value}}
        )
    return blocks


def _tool_result(message: Mapping[str, Any], where: str) -> dict[str, Any]:
    call_id = message.get("tool_call_id")
    if not isinstance(call_id, str) or not call_id:
        raise RequestRefusedError(
            f"{where}.tool_call_id", "Bedrock needs the id of the tool call this answers"
        )
    text = "".join(_texts(message.get("content"), where))
    return {"toolResult": {"toolUseId": call_id, "content": [{"text": text}]}}


# -- response ---------------------------------------------------------------------------------


def _bad(what: str, body: object) -> ResponseValidationError:
    shown = preview(json.dumps(body, ensure_ascii=False, default=text_default))
    return ResponseValidationError(f"Unexpected Bedrock {what}: {shown}", body=body)


def _usage(value: object, body: object) -> dict[str, int] | None:
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise _bad("usage", body)
    counts = {}
    for theirs, ours in (
        ("inputTokens", "prompt_tokens"),
        ("outputTokens", "completion_tokens"),
        ("totalTokens", "total_tokens"),
    ):
        n = value.get(theirs, 0)
        if isinstance(n, bool) or not isinstance(n, int) or n < 0:
            raise _bad("usage", body)
        counts[ours] = n
    if not counts["total_tokens"]:
        counts["total_tokens"] = counts["prompt_tokens"] + counts["completion_tokens"]
    return counts


def _tool_call(use: object, body: object) -> dict[str, Any]:
    if (
        not isinstance(use, Mapping)
        or not isinstance(use.get("name"), str)
        or not isinstance(use.get("toolUseId", ""), str)
    ):
        raise _bad("toolUse block", body)
    return {
        "id": use.get("toolUseId") or None,
        "type": "function",
        "function": {
            "name": use["name"],
            "arguments": json.dumps(use.get("input", {}), ensure_ascii=False),
        },
    }


def completion_dict(body: object, model: str, completion_id: str) -> dict[str, Any]:
    """An OpenAI chat completion dict for a Converse answer (``stopReason`` kept raw: the
    provider's finish-reason mapping moves it to ``raw_finish_reason``)."""
    if not isinstance(body, Mapping):
        raise _bad("answer", body)
    output = body.get("output")
    message = output.get("message") if isinstance(output, Mapping) else None
    content = message.get("content") if isinstance(message, Mapping) else None
    if not isinstance(content, list):
        raise _bad("answer (no output.message.content)", body)
    texts: list[str] = []
    calls: list[dict[str, Any]] = []
    for block in content:
        if not isinstance(block, Mapping):
            raise _bad("content block", body)
        if "text" in block:
            if not isinstance(block["text"], str):
                raise _bad("text block", body)
            texts.append(block["text"])
        elif "toolUse" in block:
            calls.append(_tool_call(block["toolUse"], body))
        # other block kinds (reasoningContent, citations...) are not produced by Llama
    reason = body.get("stopReason")
    if reason is not None and not isinstance(reason, str):
        raise _bad("stopReason", body)
    return {
        "id": completion_id,
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {
                    "role": "assistant",
                    "content": "".join(texts) if texts or not calls else None,
                    "tool_calls": calls or None,
                },
                "finish_reason": reason,
            }
        ],
        "usage": _usage(body.get("usage"), body),
    }


class StreamEvents:
    """ConverseStream events of one answer in, OpenAI chunk dicts out (in order).

    Converse sends no ids: every chunk carries the one synthesised id of this stream. Tool
    calls are numbered in the order their ``contentBlockStart`` arrives; a block's
    ``toolUse.input`` fragments become that call's ``arguments`` deltas.
    """

    __slots__ = ("_base", "_tools", "done")

    def __init__(self, model: str, completion_id: str | None = None) -> None:
        self._base = {
            "id": completion_id or new_completion_id(),
            "object": "chat.completion.chunk",
            "created": int(time.time()),
            "model": model,
        }
        self._tools: dict[object, int] = {}  # contentBlockIndex -> tool call index
        #: the final ``metadata`` event arrived
        self.done = False

    def _chunk(self, delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        choice: dict[str, Any] = {"index": 0, "delta": delta}
        if finish is not None:
            choice["finish_reason"] = finish
        return {**self._base, "choices": [choice]}

    def event(self, kind: str, body: object) -> dict[str, Any] | None:
        """The chunk for one event (None for an event that carries nothing for the caller)."""
        if not isinstance(body, Mapping):
            raise _bad(f"{kind} event", body)
        if kind == "messageStart":
            return self._chunk({"role": body.get("role") or "assistant"})
        if kind == "contentBlockStart":
            start = body.get("start")
            use = start.get("toolUse") if isinstance(start, Mapping) else None
            if use is None:
                return None
            call = _tool_call({**use, "input": {}} if isinstance(use, Mapping) else use, body)
            index = self._tools.setdefault(body.get("contentBlockIndex"), len(self._tools))
            call["function"]["arguments"] = ""
            return self._chunk({"tool_calls": [{"index": index, **call}]})
        if kind == "contentBlockDelta":
            delta = body.get("delta")
            if not isinstance(delta, Mapping):
                raise _bad("contentBlockDelta event", body)
            if "text" in delta:
                if not isinstance(delta["text"], str):
                    raise _bad("contentBlockDelta event", body)
                return self._chunk({"content": delta["text"]})
            use = delta.get("toolUse")
            if use is not None:
                number = self._tools.get(body.get("contentBlockIndex"))
                fragment = use.get("input") if isinstance(use, Mapping) else None
                if number is None or not isinstance(fragment, str):
                    raise _bad("toolUse delta (no toolUse block started)", body)
                return self._chunk(
                    {"tool_calls": [{"index": number, "function": {"arguments": fragment}}]}
                )
            return None  # reasoning or citation deltas: not produced by Llama
        if kind == "messageStop":
            reason = body.get("stopReason")
            if not isinstance(reason, str):
                raise _bad("messageStop event", body)
            return self._chunk({}, finish=reason)
        if kind == "metadata":
            self.done = True
            return {**self._base, "choices": [], "usage": _usage(body.get("usage"), body)}
        return None  # contentBlockStop, and events added to Converse later
