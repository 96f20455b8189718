"""A safety-verdict filter for exports: Llama Guard (issue #10) asked about each answer.

``export(..., filters=[safety_filter(client)])`` keeps an example only when the guard finds
the answer safe, asking :meth:`client.safety.check <llama_client.resources.safety.Safety.check>`
about the conversation that ends with it (response classification), through the client's one
request path (its retries, providers and fallback). A guard that fails (after the client's
retries) or answers something that is not a verdict raises, and the export stops: no example
is kept or dropped on a guess.

Large exports: the export hands the filter its examples a window at a time
(:meth:`SafetyFilter.prefetch`), and ``concurrency`` checks of a window run at once on a
thread pool made for that window (the sync client is shared; its connection pool bounds the
sockets). With ``verdicts=PATH`` every verdict is appended to a log (one line per answer:
a key, the id, safe or not, the hazard codes; no text) with one ``fsync`` per window, and an
export that finds a verdict there for the same guard, categories and conversation uses it
instead of asking again: a stopped or crashed export, run again, pays only for the answers
it had not judged. The log is read once as a stream; memory holds an 8-byte key and a small
value per verdict.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import InvalidRequestError
from ._export import Example, answer_message
from ._files import append_durably, repair_torn_tail
from ._format import canonical_json
from ._index import U64Map, key_of

if TYPE_CHECKING:
    from .._safety import AskMode
    from .._sync.client import LlamaClient
    from ..types.safety import SafetyVerdict

__all__ = ["MAX_CONCURRENCY", "VERDICTS", "SafetyFilter", "SafetyTally", "safety_filter"]

#: most checks at once
MAX_CONCURRENCY = 256
#: the verdict log ``llama-client batch export --safety-model`` keeps in the run directory
VERDICTS = "safety-verdicts.jsonl"


@dataclass
class SafetyTally:
    """What the filter saw: answers judged, found unsafe, the hazard codes named, and how many
    verdicts came from the verdict log instead of a guard request."""

    checked: int = 0
    unsafe: int = 0
    codes: dict[str, int] = field(default_factory=dict)
    #: of ``checked``, verdicts read back from the log (no request)
    reused: int = 0


class SafetyFilter:
    """A filter for :func:`~llama_client.batch.export` (call it with an :class:`Example`: True
    keeps it) that can judge a window of examples at once (:meth:`prefetch`). Build it with
    :func:`safety_filter`."""

    def __init__(
        self,
        client: LlamaClient,
        *,
        model: str,
        categories: Sequence[str] | Mapping[str, str] | None,
        ask: AskMode | None,
        tally: SafetyTally,
        concurrency: int,
        verdicts: Path | None,
    ) -> None:
        self._client = client
        self._model = model
        self._categories = categories
        self._ask_mode = ask
        self.tally = tally
        self.concurrency = concurrency
        self._log = verdicts
        #: what the key of an answer depends on besides its conversation
        try:
            self._scope = canonical_json(
                {
                    "guard": model,
                    "ask": ask,
                    "categories": dict(categories)
                    if isinstance(categories, Mapping)
                    else (sorted(categories) if categories is not None else None),
                }
            )
        except (TypeError, ValueError):
            raise InvalidRequestError(
                "categories", "must be hazard codes or a mapping of code to description"
            ) from None
        #: key -> (index into _code_sets) << 1 | safe, for verdicts in the log
        self._known = U64Map()
        self._code_sets: list[tuple[str, ...]] = []
        self._code_index: dict[tuple[str, ...], int] = {}
        #: verdicts asked for in the current window, by key (dropped with the window)
        self._fresh: dict[int, tuple[bool, tuple[str, ...]]] = {}
        #: the current window's examples and their keys, by id (the example is held, so its
        #: id stays its own): each key is computed once
        self._window: dict[int, tuple[Example, int]] = {}
        self._log_checked = False
        if verdicts is not None:
            self._read_log(verdicts)

    # -- the verdict log --------------------------------------------------------------------

    def _pack(self, safe: bool, codes: tuple[str, ...]) -> int:
        index = self._code_index.get(codes)
        if index is None:
            index = self._code_index[codes] = len(self._code_sets)
            self._code_sets.append(codes)
        return (index << 1) | int(safe)

    def _read_log(self, path: Path) -> None:
        try:
            f = path.open("rb")
        except FileNotFoundError:
            return
        with f:
            for raw in f:
                if not raw.endswith(b"\n"):
                    break  # a torn last line: cut before the next append
                try:
                    entry = json.loads(raw)
                    key = int(entry["key"], 16)
                    safe, codes = entry["safe"], entry["codes"]
                except (ValueError, KeyError, TypeError, IndexError, RecursionError):
                    continue  # not a verdict line of ours: that answer is asked again
                if (
                    0 < key < 1 << 64
                    and isinstance(safe, bool)
                    and isinstance(codes, list)
                    and all(isinstance(c, str) for c in codes)
                ):
                    self._known.set(key, self._pack(safe, tuple(codes)), keep_first=True)

    def _append(self, entries: list[tuple[int, Example, bool, tuple[str, ...]]]) -> None:
        if self._log is None or not entries:
            return
        if not self._log_checked:
            self._log.parent.mkdir(parents=True, exist_ok=True)
            repair_torn_tail(self._log)
            self._log_checked = True
        data = "".join(
            json.dumps(
                {"key": f"{key:016x}", "custom_id": ex.custom_id, "safe": safe, "codes": codes},
                ensure_ascii=False,
            )
            + "\n"
            for key, ex, safe, codes in entries
        ).encode("utf-8")
        fd = os.open(self._log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            append_durably(fd, data)
        finally:
            os.close(fd)
        for key, _, safe, codes in entries:
            self._known.set(key, self._pack(safe, codes), keep_first=True)

    # -- judging ----------------------------------------------------------------------------

    def key(self, example: Example) -> int:
        """The key of ``example``'s verdict: the guard, the categories and the conversation."""
        conversation = [*example.messages, answer_message(example.answer)]
        return key_of(self._scope + "\x00" + canonical_json(conversation))

    def _ask(self, example: Example) -> tuple[bool, tuple[str, ...]]:
        conversation: list[Any] = [*example.messages, answer_message(example.answer)]
        kwargs: dict[str, Any] = {"model": self._model}
        if self._categories is not None:
            kwargs["categories"] = self._categories
        if self._ask_mode is not None:
            kwargs["ask"] = self._ask_mode
        verdict: SafetyVerdict = self._client.safety.check(conversation, **kwargs)
        return verdict.safe, tuple(verdict.codes)

    def prefetch(self, examples: Sequence[Example]) -> None:
        """Judge the examples of a window not judged yet, ``concurrency`` at a time, and log
        their verdicts. The first failure is raised once the window's checks have ended.
        Verdicts of the window before that were not asked for are dropped (an earlier filter
        rejected those examples)."""
        self._fresh.clear()
        self._window.clear()
        todo: dict[int, Example] = {}
        for example in examples:
            key = self.key(example)
            self._window[id(example)] = (example, key)
            if self._known.get(key) is None:
                todo.setdefault(key, example)
        if not todo:
            return
        keys, items = list(todo), list(todo.values())
        done: list[tuple[int, Example, bool, tuple[str, ...]]] = []
        try:
            if self.concurrency == 1 or len(items) == 1:
                for key, example in zip(keys, items, strict=True):
                    done.append((key, example, *self._ask(example)))
            else:
                pool = ThreadPoolExecutor(
                    max_workers=min(self.concurrency, len(items)), thread_name_prefix="llama-guard"
                )
                try:
                    futures = [pool.submit(self._ask, example) for example in items]
                    for key, example, future in zip(keys, items, futures, strict=True):
                        done.append((key, example, *future.result()))  # raises the first failure
                finally:
                    # what has not started is not asked; what is running ends (its timeout)
                    pool.shutdown(wait=True, cancel_futures=True)
        finally:
            self._append(done)  # verdicts had before a failure are kept for the next export
        for key, _, safe, codes in done:
            self._fresh[key] = (safe, codes)

    def __call__(self, example: Example) -> bool:
        held = self._window.get(id(example))
        key = held[1] if held is not None and held[0] is example else self.key(example)
        found = self._fresh.get(key)  # not popped: an answer given twice has one verdict
        if found is None:
            packed = self._known.get(key)
            if packed is not None:
                found = (bool(packed & 1), self._code_sets[packed >> 1])
                self.tally.reused += 1
            else:  # not prefetched (called on its own): ask now
                self.prefetch([example])
                found = self._fresh[key]
        safe, codes = found
        seen = self.tally
        seen.checked += 1
        if not safe:
            seen.unsafe += 1
            for code in codes:
                seen.codes[code] = seen.codes.get(code, 0) + 1
        return safe


def safety_filter(
    client: LlamaClient,
    *,
    model: str = "llama-guard-3-8b",
    categories: Sequence[str] | Mapping[str, str] | None = None,
    ask: AskMode | None = None,
    tally: SafetyTally | None = None,
    concurrency: int = 1,
    verdicts: str | os.PathLike[str] | None = None,
) -> Callable[[Example], bool]:
    """A filter for :func:`~llama_client.batch.export` keeping answers Llama Guard finds safe.

    ``model`` is the guard (an alias, a served id or ``"provider:model"``); ``categories``
    narrows the hazards checked (codes, as for ``safety.check``; with a server that applies the
    guard's own template, pass ``ask="prompt"`` too). ``tally`` collects counts. ``concurrency`` checks run at once (the export hands the filter a window of examples);
    ``verdicts`` is a verdict log that makes a repeated export reuse what was judged.
    """
    if isinstance(concurrency, bool) or not isinstance(concurrency, int):
        raise InvalidRequestError("concurrency", f"must be an integer, got {concurrency!r}")
    if not 1 <= concurrency <= MAX_CONCURRENCY:
        raise InvalidRequestError(
            "concurrency", f"must be between 1 and {MAX_CONCURRENCY}, got {concurrency}"
        )
    if not isinstance(model, str) or not model:
        raise InvalidRequestError("model", "must be a guard model id or alias")
    return SafetyFilter(
        client,
        model=model,
        categories=categories,
        ask=ask,
        tally=tally if tally is not None else SafetyTally(),
        concurrency=concurrency,
        verdicts=Path(verdicts) if verdicts is not None else None,
    )
