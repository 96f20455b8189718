"""An incremental Server-Sent Events decoder: bytes in, events out. No I/O.

Follows the WHATWG event-stream rules that matter for LLM servers: LF, CRLF and CR line ends
(a CRLF split across two reads counts once), ``data:`` lines of one event joined with ``\\n``,
comment lines (``: keep-alive``) ignored, ``event:``/``id:``/``retry:`` fields kept, one
optional space after the colon removed. Unlike a browser, :meth:`SSEDecoder.flush` also
delivers a last event that was not followed by a blank line, since some servers close the
connection right after their final ``data:`` line.
"""

from __future__ import annotations

__all__ = ["SSEDecoder", "ServerSentEvent"]


class ServerSentEvent:
    """One dispatched event."""

    __slots__ = ("data", "event", "id", "retry")

    def __init__(
        self, data: str, event: str | None = None, id: str | None = None, retry: int | None = None
    ) -> None:
        self.data = data
        self.event = event
        self.id = id
        self.retry = retry

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ServerSentEvent):
            return NotImplemented
        return (self.data, self.event, self.id, self.retry) == (
            other.data,
            other.event,
            other.id,
            other.retry,
        )

    def __hash__(self) -> int:
        return hash((self.data, self.event, self.id, self.retry))

    def __repr__(self) -> str:
        return f"ServerSentEvent(event={self.event!r}, data={self.data!r}, id={self.id!r}, retry={self.retry!r})"


class SSEDecoder:
    """Feed it bytes as they arrive; it returns the events completed so far."""

    __slots__ = ("_buf", "_data", "_event", "_id", "_last_id", "_retry", "_skip_lf")

    def __init__(self) -> None:
        self._buf = b""
        self._skip_lf = False
        self._data: list[str] = []
        self._event: str | None = None
        self._id: str | None = None
        self._last_id: str | None = None
        self._retry: int | None = None

    def feed(self, chunk: bytes) -> list[ServerSentEvent]:
        if self._skip_lf and chunk:
            # The previous chunk ended in CR; a LF right here belongs to the same line end.
            if chunk[:1] == b"\n":
                chunk = chunk[1:]
            self._skip_lf = False
        buf = self._buf + chunk if self._buf else chunk
        cut = max(buf.rfind(b"\n"), buf.rfind(b"\r"))
        if cut < 0:
            self._buf = buf
            return []
        block, self._buf = buf[: cut + 1], buf[cut + 1 :]
        if block[-1:] == b"\r" and not self._buf:
            self._skip_lf = True
        events: list[ServerSentEvent] = []
        for line in block.splitlines():
            self._line(line, events)
        return events

    def flush(self) -> list[ServerSentEvent]:
        """Call at end of input: returns a final event left without a blank line after it."""
        events: list[ServerSentEvent] = []
        if self._buf:
            buf, self._buf = self._buf, b""
            for line in buf.splitlines():
                self._line(line, events)
        self._dispatch(events)
        return events

    def _line(self, line: bytes, events: list[ServerSentEvent]) -> None:
        if not line:
            self._dispatch(events)
            return
        if line[:1] == b":":
            return  # comment, e.g. ": keep-alive"
        field, sep, value = line.partition(b":")
        if sep and value[:1] == b" ":
            value = value[1:]
        text = value.decode("utf-8", errors="replace")
        if field == b"data":
            self._data.append(text)
        elif field == b"event":
            self._event = text
        elif field == b"id":
            if "\0" not in text:
                self._id = text
        elif field == b"retry" and text.isdigit():
            self._retry = int(text)
        # Any other field name is ignored, as the specification says.

    def _dispatch(self, events: list[ServerSentEvent]) -> None:
        if self._id is not None:
            self._last_id = self._id
        if not self._data:
            # No data line: nothing to dispatch (the specification's rule).
            self._event = None
            self._id = None
            self._retry = None
            return
        events.append(ServerSentEvent("\n".join(self._data), self._event, self._id, self._retry))
        self._data = []
        self._event = None
        self._id = None
        self._retry = None

    @property
    def last_event_id(self) -> str | None:
        return self._last_id
