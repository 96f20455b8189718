"""The run's files: the input read as a stream, the results file read back as state (its
torn last line dropped), durable appends, and the manifest.

Nothing here holds a file's contents: input and results are read line by line, and what a
run must remember per id is a 64-bit key (:mod:`._index`), so memory stays flat in the size
of the files.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ._format import (
    BatchInputError,
    BatchRequest,
    BatchStateError,
    DuplicateCustomIdError,
    parse_checked,
    parse_line,
    parse_result,
)
from ._index import U64Set, key_of

__all__ = [
    "InputScan",
    "ResultsState",
    "append_durably",
    "done_key",
    "in_shard",
    "iter_requests",
    "read_manifest",
    "repair_torn_tail",
    "scan_input",
    "scan_results",
    "write_manifest",
]

logger = logging.getLogger("llama_client.batch")

#: most ids tracked while confirming suspected duplicates
_MAX_DUP_KEYS = 1000
#: most line numbers kept per duplicated id
_MAX_DUP_LINES = 50
#: characters per token assumed by the estimate when nothing better is known
CHARS_PER_TOKEN = 4.0


def done_key(custom_id: str, digest: str | None) -> int:
    """The key of "this id answered with this body": a result counts only for its body."""
    return key_of(f"{custom_id}\x00{digest or ''}")


def in_shard(custom_id: str, shard: tuple[int, int] | None) -> bool:
    """Whether ``custom_id`` belongs to shard ``(index, count)`` (by a hash of the id, so a
    shard keeps its ids whatever the line order)."""
    if shard is None:
        return True
    index, count = shard
    return key_of(custom_id) % count == index


def check_shard(shard: tuple[int, int] | None) -> None:
    if shard is None:
        return
    index, count = shard
    if not (
        isinstance(count, int) and isinstance(index, int) and count >= 1 and 0 <= index < count
    ):
        raise ValueError(f"shard must be (index, count) with 0 <= index < count, got {shard!r}")


def _iter_lines(path: Path) -> Iterator[tuple[int, bytes]]:
    with path.open("rb") as f:
        for number, raw in enumerate(f, 1):
            if raw.strip():
                yield number, raw


def iter_requests(
    path: str | os.PathLike[str],
    defaults: Mapping[str, Any] | None = None,
    *,
    shard: tuple[int, int] | None = None,
) -> Iterator[BatchRequest]:
    """The requests of an input file, one line at a time (blank lines skipped)."""
    check_shard(shard)
    for number, raw in _iter_lines(Path(path)):
        request = parse_line(raw, number, defaults)
        if in_shard(request.custom_id, shard):
            yield request


def estimate_prompt_tokens(body: Mapping[str, Any]) -> int:
    """A rough prompt size without a tokenizer: characters of text / 4, 5 tokens per message
    and 30 for the header Llama 3.1's chat template writes (``"Hello"`` alone is 36 on
    vLLM). Exact counts: :func:`llama_client.tokens.count_tokens`."""
    chars = 0
    messages = body.get("messages")
    count = len(messages) if isinstance(messages, list) else 0
    for message in messages if isinstance(messages, list) else ():
        content = message.get("content") if isinstance(message, dict) else None
        if isinstance(content, str):
            chars += len(content)
        elif isinstance(content, list):
            for part in content:
                if isinstance(part, dict) and isinstance(part.get("text"), str):
                    chars += len(part["text"])
    return int(chars / CHARS_PER_TOKEN) + 5 * count + 30


def completion_budget(body: Mapping[str, Any], default: int) -> int:
    """The completion tokens a request may buy: its ``max_tokens``, else ``default``."""
    for name in ("max_completion_tokens", "max_tokens"):
        value = body.get(name)
        if isinstance(value, int) and not isinstance(value, bool) and value > 0:
            return value
    return default


# ------------------------------------------------------------------------------- results


@dataclass
class ResultsState:
    """What the results files say is done. Keys are :func:`done_key` (id + body hash)."""

    ok: U64Set = field(default_factory=U64Set)
    failed: U64Set = field(default_factory=U64Set)
    lines: int = 0
    succeeded: int = 0
    truncated: int = 0
    failures: int = 0
    #: success lines for an (id, body) that already had one: 0 unless something went wrong
    repeated: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    dropped_bytes: int = 0

    def decide(self, request: BatchRequest, retry_failed: bool) -> str:
        """``"done"``, ``"failed"`` (recorded failure, not retried) or ``"send"``."""
        if not self.ok and not self.failed:  # nothing stored yet (a first run)
            return "send"
        key = done_key(request.custom_id, request.body_hash)
        if key in self.ok:
            return "done"
        if key in self.failed and not retry_failed:
            return "failed"
        return "send"


def repair_torn_tail(path: Path) -> int:
    """Cut an unfinished last line (a write a crash interrupted) off ``path``; the bytes cut."""
    try:
        f = path.open("r+b")
    except FileNotFoundError:
        return 0
    with f:
        size = f.seek(0, os.SEEK_END)
        if size == 0:
            return 0
        f.seek(size - 1)
        if f.read(1) == b"\n":
            return 0
        end = size
        keep = 0
        while end > 0:
            start = max(0, end - 65536)
            f.seek(start)
            chunk = f.read(end - start)
            at = chunk.rfind(b"\n")
            if at >= 0:
                keep = start + at + 1
                break
            end = start
        f.truncate(keep)
        f.flush()
        os.fsync(f.fileno())
        return size - keep


def scan_results(paths: list[Path], *, repair: bool = True) -> ResultsState:
    """Read results files as state: torn last lines dropped (``repair``), the first success
    per (id, body) counted, every other line checked to be an output line."""
    state = ResultsState()
    for path in paths:
        if repair:
            cut = repair_torn_tail(path)
            if cut:
                logger.warning("%s: dropped a torn last line (%d bytes)", path, cut)
                state.dropped_bytes += cut
        if not path.exists():
            continue
        with path.open("rb") as f:
            for number, raw in enumerate(f, 1):
                if not raw.strip():
                    continue
                if not raw.endswith(b"\n"):  # repair=False: an unfinished tail is not state
                    break
                record = parse_result(raw, f"{path}:{number}")
                state.lines += 1
                key = done_key(record.custom_id, record.body_hash)
                if record.ok:
                    if not state.ok.add(key):
                        state.repeated += 1
                        continue
                    state.succeeded += 1
                    state.truncated += record.truncated
                else:
                    state.failed.add(key)
                    state.failures += 1
                state.prompt_tokens += record.prompt_tokens
                state.completion_tokens += record.completion_tokens
    return state


def append_durably(fd: int, data: bytes) -> None:
    """Append ``data`` (whole lines) to the O_APPEND file ``fd``, then fsync it."""
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]
    os.fsync(fd)


def open_for_append(path: Path) -> int:
    return os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)


# --------------------------------------------------------------------------------- input


@dataclass
class InputScan:
    """One pass over the input: line counts, this shard's work, a token estimate."""

    sha256: str = ""
    lines: int = 0
    #: requests in the file (all shards)
    requests: int = 0
    #: requests in this shard
    in_shard: int = 0
    #: of those, already answered for the same body
    done: int = 0
    #: of those, a recorded failure that is not retried (no retry_failed)
    failed_before: int = 0
    #: of those, to send now
    pending: int = 0
    #: estimated prompt / completion tokens of the pending requests
    prompt_tokens: int = 0
    completion_tokens: int = 0
    #: models named by the pending requests (at most 20 kept)
    models: set[str] = field(default_factory=set)


def scan_input(
    path: str | os.PathLike[str],
    defaults: Mapping[str, Any] | None = None,
    *,
    shard: tuple[int, int] | None = None,
    state: ResultsState | None = None,
    retry_failed: bool = False,
    default_completion_tokens: int = 256,
    count_prompt: Callable[[Mapping[str, Any]], int] | None = None,
) -> InputScan:
    """Check every line of the input (:class:`BatchInputError` listing the bad ones,
    :class:`DuplicateCustomIdError` with line numbers) and count the work, before anything
    is sent. Reads the file as a stream (twice when an id looks repeated). ``count_prompt``
    counts a body's prompt tokens (default: :func:`estimate_prompt_tokens`)."""
    check_shard(shard)
    source = Path(path)
    scan = InputScan()
    digest = hashlib.sha256()
    seen = U64Set()
    suspects: set[int] = set()
    problems: list[tuple[int, str]] = []
    bad = 0
    # The body hash only matters against stored results: a first run checks without it.
    hashed = state is not None and bool(state.ok or state.failed)
    with source.open("rb") as f:
        for number, raw in enumerate(f, 1):
            digest.update(raw)
            scan.lines = number
            if not raw.strip():
                continue
            try:
                request = parse_checked(raw, number, defaults, digest=hashed)
            except BatchInputError as exc:
                bad += 1
                if len(problems) < 20:
                    problems.extend(exc.problems)
                continue
            scan.requests += 1
            key = key_of(request.custom_id)
            if not seen.add(key) and len(suspects) < _MAX_DUP_KEYS:
                suspects.add(key)
            if not in_shard(request.custom_id, shard):
                continue
            scan.in_shard += 1
            verdict = state.decide(request, retry_failed) if state is not None else "send"
            if verdict == "done":
                scan.done += 1
            elif verdict == "failed":
                scan.failed_before += 1
            else:
                scan.pending += 1
                scan.prompt_tokens += (count_prompt or estimate_prompt_tokens)(request.body)
                scan.completion_tokens += completion_budget(request.body, default_completion_tokens)
                model = request.body.get("model")
                if isinstance(model, str) and len(scan.models) < 20:
                    scan.models.add(model)
    scan.sha256 = digest.hexdigest()
    if bad:
        raise BatchInputError(problems, bad)
    if suspects:
        _confirm_duplicates(source, suspects, defaults)
    return scan


def _confirm_duplicates(
    source: Path, suspects: set[int], defaults: Mapping[str, Any] | None
) -> None:
    lines: dict[str, list[int]] = {}
    for number, raw in _iter_lines(source):
        request = parse_line(raw, number, defaults)
        if key_of(request.custom_id) in suspects:
            found = lines.setdefault(request.custom_id, [])
            if len(found) < _MAX_DUP_LINES:
                found.append(number)
    repeated = {cid: numbers for cid, numbers in lines.items() if len(numbers) > 1}
    if repeated:
        raise DuplicateCustomIdError(repeated)


# ------------------------------------------------------------------------------ manifest


def write_manifest(path: Path, manifest: Mapping[str, Any]) -> None:
    """Replace ``path`` atomically (temporary file, fsync, rename)."""
    fd, tmp = tempfile.mkstemp(prefix=".manifest-", suffix=".json", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(manifest, f, indent=2, sort_keys=True, allow_nan=False)
            f.write("\n")
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def read_manifest(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise BatchStateError(f"{path}: no manifest (is this a run directory?)") from None
    except ValueError as exc:
        raise BatchStateError(f"{path}: not valid JSON ({exc})") from None
    if not isinstance(data, dict):
        raise BatchStateError(f"{path}: not a manifest")
    return data
