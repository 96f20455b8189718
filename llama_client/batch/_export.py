"""Training files from a run: the input's conversations joined with their answers.

Formats (one JSON object a line):

- ``messages``: ``{"messages": [...the input messages..., {"role": "assistant", ...}]}`` --
  the chat format TRL's SFTTrainer, torchtune's chat datasets and axolotl's
  ``chat_template`` type read;
- ``prompt-completion``: ``{"prompt": [...input messages...], "completion": [{"role":
  "assistant", ...}]}`` -- TRL's conversational prompt/completion format;
- ``sharegpt``: ``{"conversations": [{"from": "system"|"human"|"gpt"|"tool", "value": ...}]}``;
- ``alpaca``: ``{"instruction", "input": "", "output"}`` (plus ``"system"`` when the input
  has one) -- single-turn inputs only; others are counted as not representable;
- ``openai``: the stored result line of every input id, one each (its first success, else
  its last failure): the run's output as a plain OpenAI batch output file.

Only answers whose ``finish_reason`` is in ``finish_reasons`` (default: ``stop``) are
exported, so a truncated answer never becomes a training target by accident; answers with
neither text nor tool calls are left out too (counted as ``empty``). ``filters`` are
more predicates over each :class:`Example`, applied a window of examples at a time (a filter
with a ``prefetch`` method is handed each window first): :func:`llama_client.batch.safety_filter`
keeps the answers Llama Guard finds safe. Every
input line is accounted for in the :class:`ExportReport`: nothing is dropped silently.
The export reads the input and the results as streams; it keeps one 64-bit key and offset
per result in memory.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from ._files import done_key, iter_requests
from ._format import BatchStateError, parse_result
from ._index import U64Map

__all__ = ["FORMATS", "Example", "ExportFormat", "ExportReport", "export"]

ExportFormat = Literal["messages", "prompt-completion", "sharegpt", "alpaca", "openai"]
FORMATS: tuple[str, ...] = ("messages", "prompt-completion", "sharegpt", "alpaca", "openai")

#: examples filtered together: at least this many, at most the latter
_MIN_WINDOW, _MAX_WINDOW = 64, 2048

_SHAREGPT_ROLES = {"system": "system", "user": "human", "assistant": "gpt", "tool": "tool"}


@dataclass(frozen=True)
class Example:
    """One answer joined with its input, as filters see it."""

    custom_id: str
    #: the input conversation (as sent)
    messages: list[dict[str, Any]]
    #: the answer (``choices[i].message`` as stored)
    answer: dict[str, Any]
    finish_reason: str | None
    #: the whole stored result line
    result: dict[str, Any]


@dataclass
class ExportReport:
    """How every input line of the shard ended up in (or out of) the export."""

    written: int = 0
    #: answers left out by finish reason, by reason
    finish_reason: dict[str, int] = field(default_factory=dict)
    #: answers a filter rejected
    filtered: int = 0
    #: ids whose result is a failure
    failed: int = 0
    #: ids without any result (not run yet)
    missing: int = 0
    #: answers the format cannot hold (alpaca: multi-turn input; no text)
    not_representable: int = 0
    #: answers with neither text nor tool calls (never a training target)
    empty: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "written": self.written,
            "skipped_finish_reason": dict(self.finish_reason),
            "skipped_by_filter": self.filtered,
            "failed": self.failed,
            "missing": self.missing,
            "not_representable": self.not_representable,
            "empty": self.empty,
        }


def _text(content: object) -> str | None:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = [p.get("text") for p in content if isinstance(p, dict)]
        texts = [p for p in parts if isinstance(p, str)]
        return "".join(texts) if texts else None
    return None


def answer_message(answer: Mapping[str, Any]) -> dict[str, Any]:
    """The answer as an assistant message (content, and tool calls when there are)."""
    message: dict[str, Any] = {"role": "assistant", "content": answer.get("content")}
    if answer.get("tool_calls"):
        message["tool_calls"] = answer["tool_calls"]
    return message


def _render(fmt: str, example: Example) -> dict[str, Any] | None:
    answer = answer_message(example.answer)
    if fmt == "messages":
        return {"messages": [*example.messages, answer]}
    if fmt == "prompt-completion":
        return {"prompt": example.messages, "completion": [answer]}
    if fmt == "sharegpt":
        turns = []
        for message in [*example.messages, answer]:
            role = _SHAREGPT_ROLES.get(str(message.get("role")))
            text = _text(message.get("content"))
            if role is None or text is None:
                return None
            turns.append({"from": role, "value": text})
        return {"conversations": turns}
    if fmt == "alpaca":
        system = [m for m in example.messages if m.get("role") == "system"]
        users = [m for m in example.messages if m.get("role") == "user"]
        if len(users) != 1 or len(system) + 1 != len(example.messages):
            return None
        instruction = _text(users[0].get("content"))
        output = _text(answer.get("content"))
        if instruction is None or output is None:
            return None
        row = {"instruction": instruction, "input": "", "output": output}
        if system:
            text = _text(system[0].get("content"))
            if text is None:
                return None
            row["system"] = text
        return row
    raise ValueError(f"unknown export format {fmt!r}")


def export(
    input_path: str | os.PathLike[str],
    results_paths: str | os.PathLike[str] | Sequence[str | os.PathLike[str]],
    out_path: str | os.PathLike[str],
    fmt: ExportFormat = "messages",
    *,
    defaults: Mapping[str, Any] | None = None,
    finish_reasons: Collection[str] | None = ("stop",),
    filters: Sequence[Callable[[Example], bool]] = (),
    shard: tuple[int, int] | None = None,
) -> ExportReport:
    """Write ``out_path`` in ``fmt`` from the input and its results (see the module doc).

    ``defaults`` must be the run's (``BatchSettings.body_defaults``) so the body hashes match
    what was sent; :func:`llama_client.batch.export_run` reads them from the manifest.
    ``finish_reasons=None`` keeps every answer. Input order is kept.
    """
    if fmt not in FORMATS:
        raise ValueError(f"format must be one of {', '.join(FORMATS)}, got {fmt!r}")
    paths = (
        [Path(results_paths)]
        if isinstance(results_paths, (str, os.PathLike))
        else [Path(p) for p in results_paths]
    )
    allowed = None if finish_reasons is None else frozenset(finish_reasons)
    ok, failed = U64Map(), U64Map()
    files = []
    for index, path in enumerate(paths):
        if index > 255:
            raise BatchStateError("at most 256 results files per export")
        with path.open("rb") as f:
            offset = 0
            for number, raw in enumerate(f, 1):
                start, offset = offset, offset + len(raw)
                if not raw.endswith(b"\n") or not raw.strip():
                    continue  # an unfinished last line is not a result
                record = parse_result(raw, f"{path}:{number}")
                key = done_key(record.custom_id, record.body_hash)
                packed = (start << 8) | index
                if record.ok:
                    ok.set(key, packed, keep_first=True)
                else:
                    failed.set(key, packed)
        files.append(path.open("rb"))
    report = ExportReport()
    # Examples go through the filters a window at a time, so that a filter that asks a model
    # (a safety check) can ask about a whole window at once; the order is kept.
    window: list[Example] = []
    wanted = [8 * c for c in (getattr(f, "concurrency", 1) for f in filters) if isinstance(c, int)]
    size = min(_MAX_WINDOW, max([_MIN_WINDOW, *wanted]))
    out = Path(out_path)
    tmp = out.with_name(out.name + ".partial")
    try:
        with tmp.open("w", encoding="utf-8") as sink:
            for request in iter_requests(input_path, defaults, shard=shard):
                key = done_key(request.custom_id, request.body_hash)
                found = ok.get(key)
                if found is None:
                    lost = failed.get(key)
                    if lost is None:
                        report.missing += 1
                        continue
                    report.failed += 1
                    if fmt == "openai":
                        sink.write(_read_at(files, lost).decode("utf-8"))
                    continue
                line = _read_at(files, found)
                if fmt == "openai":
                    sink.write(line.decode("utf-8"))
                    report.written += 1
                    continue
                record = parse_result(line, request.custom_id)
                body = record.data["response"]["body"]
                for choice in body.get("choices") or []:
                    if not isinstance(choice, dict) or not isinstance(choice.get("message"), dict):
                        report.not_representable += 1
                        continue
                    reason = choice.get("finish_reason")
                    if allowed is not None and reason not in allowed:
                        name = str(reason)
                        report.finish_reason[name] = report.finish_reason.get(name, 0) + 1
                        continue
                    message = choice["message"]
                    if not _text(message.get("content")) and not message.get("tool_calls"):
                        report.empty += 1
                        continue
                    window.append(
                        Example(
                            request.custom_id,
                            list(request.body["messages"]),
                            choice["message"],
                            reason,
                            record.data,
                        )
                    )
                if len(window) >= size:
                    _write_window(window, filters, fmt, sink, report)
                    window.clear()
            _write_window(window, filters, fmt, sink, report)
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)
        for f in files:
            f.close()
    return report


def _write_window(
    window: list[Example],
    filters: Sequence[Callable[[Example], bool]],
    fmt: str,
    sink: Any,
    report: ExportReport,
) -> None:
    """Filter and write a window of examples, in order. Each filter sees the examples the
    ones before it kept (as ``all(...)`` would), and a filter with a ``prefetch`` method is
    first handed them all at once."""
    alive = window
    for keep in filters:
        prefetch = getattr(keep, "prefetch", None)
        if prefetch is not None and alive:
            prefetch(alive)
        alive = [example for example in alive if keep(example)]
    report.filtered += len(window) - len(alive)
    for example in alive:
        row = _render(fmt, example)
        if row is None:
            report.not_representable += 1
            continue
        sink.write(json.dumps(row, ensure_ascii=False) + "\n")
        report.written += 1


def _read_at(files: list[Any], packed: int) -> bytes:
    f = files[packed & 0xFF]
    f.seek(packed >> 8)
    line: bytes = f.readline()
    return line
