"""Where a bracketed value ends: JSON values and Python expressions, in linear time (no I/O).

:class:`JsonSpans` and :class:`PythonSpans` answer "where does the value opening at this
bracket end?" for any number of brackets of one text, reading the text a bounded number of
times in total. The tool-call text parser (:mod:`llama_client.llama_format`) asks this for
every candidate; a model can write ``{"`` or ``brave_search.call(`` 100,000 times, and
asking each candidate's decoder to read to the end would cost O(n²).

A *scan* starts at a bracket and reads on until that bracket's value closes or the text
stops making sense, keeping a stack of the brackets it is inside. Every bracket it opens is
a candidate too, and the scan settles it: where it closed, or that it never did (it was
still open when the scan failed). The answer for an inner bracket is the one a scan started
there would give, because whether a value is complete does not depend on what surrounds it.

A later candidate that no earlier scan opened lies inside a string of every scan that read
past it, and a scan from there reads the quotes the other way round. JSON has two ways of
reading quotes (inside or outside a string) and no way for them to meet again, so at most
two scans read any character. Python's quote kinds (``'``, ``"``, ``'''``, ``\"\"\"``) and
comments allow contrived texts where scans meet and repeat each other's reading, so
:class:`PythonSpans` stops after :data:`PYTHONIC_SCAN_BUDGET` characters per character of
text.
"""

from __future__ import annotations

import re
from array import array
from bisect import bisect_left

__all__ = [
    "PYTHONIC_SCAN_BUDGET",
    "JsonSpans",
    "PythonSpans",
    "json_scalar_end",
    "json_string_end",
    "skip_json_space",
]

#: :class:`PythonSpans` reads at most this many characters per character of text (plus a
#: slack of 4,096); brackets asked about once it is spent have no end.
PYTHONIC_SCAN_BUDGET = 4
_PYTHONIC_SCAN_SLACK = 4096

# JSON, exactly as :mod:`json` reads it (NaN and Infinity included). A pattern repeating
# "characters, then an escape" keeps a backtracking entry per repetition: hundreds of bytes
# per escape of a long string. So strings are read in pieces of at most _ESCAPES escapes,
# each piece one match: C speed, bounded memory.
_ESCAPES = 256
_PIECE = "{0,%s}" % _ESCAPES  # noqa: UP031 - braces are the pattern's
_JSON_SPACE = re.compile(r"[ \t\n\r]*")
_JSON_SCALAR = re.compile(
    r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][-+]?[0-9]+)?"
    r"|true|false|null|NaN|Infinity|-Infinity"
)
_JSON_STRING_PIECE = re.compile(
    r'[^"\\\x00-\x1f]*(?:\\(?:["\\/bfnrt]|u[0-9a-fA-F]{4})[^"\\\x00-\x1f]*)' + _PIECE
)
# One JSON token after optional whitespace; the group that matched says which kind (a
# string is only opened here: json_string_end reads it).
_JSON_TOKEN = re.compile(
    r"[ \t\n\r]*(?:([\[{])|([\]}])|(:)|(,)|(\")|(" + _JSON_SCALAR.pattern + r"))"
)
_OPEN, _CLOSE, _COLON, _COMMA, _STRING, _SCALAR = range(1, 7)
# States of an open JSON container: what may come next.
_OBJ_FIRST, _OBJ_KEY, _OBJ_COLON, _OBJ_VALUE, _OBJ_NEXT = range(5)  # after { , key : value
_ARR_FIRST, _ARR_VALUE, _ARR_NEXT = range(5, 8)  # after [ , value
# The state after a value, for the states that expect one (-1: no value expected here).
_AFTER_VALUE = (-1, -1, -1, _OBJ_NEXT, -1, _ARR_NEXT, _ARR_NEXT, -1)

# Python text for the bracket scan: brackets, quotes, comments, and the backslash (outside
# a string, only as a line continuation). Strings are read in pieces, like JSON's.
_PY_SPECIAL = re.compile(r"[\[\](){}'\"#\\]")
_PY_STRING_PIECE = {
    "'": re.compile(r"[^'\\\n]*(?:\\.[^'\\\n]*)" + _PIECE, re.DOTALL),
    '"': re.compile(r'[^"\\\n]*(?:\\.[^"\\\n]*)' + _PIECE, re.DOTALL),
    "'''": re.compile(r"[^'\\]*(?:(?:\\.|'(?!''))[^'\\]*)" + _PIECE, re.DOTALL),
    '"""': re.compile(r'[^"\\]*(?:(?:\\.|"(?!""))[^"\\]*)' + _PIECE, re.DOTALL),
}
_PY_CLOSER = {"(": ")", "[": "]", "{": "}"}
_LINE_CONTINUATION = re.compile(r"\\\r?\n")


def skip_json_space(text: str, pos: int) -> int:
    """The first position from ``pos`` that is not JSON whitespace."""
    space = _JSON_SPACE.match(text, pos)
    return space.end() if space else pos


def json_string_end(text: str, pos: int) -> int:
    """The end of the JSON string opening at ``pos`` (a quote), or -1 when it never closes
    or holds a control character or a bad escape. One pass, bounded memory."""
    piece = _JSON_STRING_PIECE.match
    at = pos + 1
    while True:
        end = piece(text, at).end()  # type: ignore[union-attr]  # matches "" at worst
        if text.startswith('"', end):
            return end + 1
        if end == at:
            return -1  # a bad escape, a control character, or the end of the text
        at = end  # _ESCAPES escapes read: on with the next piece


def json_scalar_end(text: str, pos: int) -> int:
    """The end of the JSON string, number or literal at ``pos``, or -1 if there is none."""
    if text.startswith('"', pos):
        return json_string_end(text, pos)
    scalar = _JSON_SCALAR.match(text, pos)
    return scalar.end() if scalar else -1


def _python_string_end(text: str, pos: int, quote: str) -> int:
    """The end of the Python string literal opening with ``quote`` at ``pos``, or -1."""
    piece = _PY_STRING_PIECE[quote].match
    at = pos + len(quote)
    while True:
        end = piece(text, at).end()  # type: ignore[union-attr]  # matches "" at worst
        if text.startswith(quote, end):
            return end + len(quote)
        if end == at:
            return -1  # a newline in a one-line string, or the end of the text
        at = end


class _Scan:
    """What one scan settled: every bracket it opened, in order, and where each one's value
    ends (-1: still open when the scan stopped, so it has no end)."""

    __slots__ = ("ends", "start", "starts", "stop")

    def __init__(self, starts: array[int], ends: array[int], stop: int) -> None:
        self.start = starts[0]
        self.stop = stop  # where reading stopped
        self.starts = starts
        self.ends = ends

    @property
    def end(self) -> int:
        return self.ends[0]

    def lookup(self, pos: int) -> int | None:
        """The end of the value at ``pos`` (-1: none), or None when this scan cannot tell."""
        starts = self.starts
        i = bisect_left(starts, pos)
        if i < len(starts) and starts[i] == pos:
            return self.ends[i]
        return None

    def failed_run(self, pos: int) -> int:
        """The last of the consecutive positions ``pos, pos + 1, ...`` that have no end."""
        starts, ends = self.starts, self.ends
        i = bisect_left(starts, pos)
        if i >= len(starts) or starts[i] != pos or ends[i] >= 0:
            return pos
        while i + 1 < len(starts) and starts[i + 1] == starts[i] + 1 and ends[i + 1] < 0:
            i += 1
        return starts[i]


class _Spans:
    """Ends of values by their opening bracket, from past scans or a new one.

    Memory: 16 bytes per bracket a scan opened.
    """

    __slots__ = ("_last", "_scans", "text")

    def __init__(self, text: str) -> None:
        self.text = text
        self._scans: list[_Scan] = []
        self._last: tuple[int, int] = (-1, -1)

    def end(self, pos: int) -> int:
        """Where the value opening at ``pos`` ends (exclusive), or -1 if it never does.

        ``text[pos]`` must be an opening bracket. Cheapest when asked in increasing order.
        """
        last = self._last
        if last[0] == pos:
            return last[1]
        scans = self._scans
        end = None
        for found in scans:
            if found.stop < pos:
                scans[:] = [s for s in scans if s.stop >= pos]  # passed: no longer asked
                break
        for found in scans:
            if found.start <= pos:
                end = found.lookup(pos)
                if end is not None:
                    break
        if end is None:
            found = self._scan(pos)
            if len(found.starts) > 1:  # it settled more than its own start
                scans.append(found)
            end = found.end
        self._last = (pos, end)
        return end

    def failed_run(self, pos: int) -> int:
        """After ``end(pos)`` gave -1: the last of the consecutive brackets ``pos, pos + 1,
        ...`` known to have no end either ("[[[[..."), so that they can be passed at once."""
        for found in self._scans:
            if found.start <= pos <= found.stop:
                last = found.failed_run(pos)
                if last > pos:
                    return last
        return pos

    def _scan(self, start: int) -> _Scan:  # pragma: no cover - overridden
        raise NotImplementedError


class JsonSpans(_Spans):
    """JSON values opening at ``{`` or ``[``: complete exactly when :mod:`json` decodes them
    (nesting depth aside: the scan has no depth limit)."""

    __slots__ = ()

    def _scan(self, start: int) -> _Scan:
        text = self.text
        token = _JSON_TOKEN.match
        after_value = _AFTER_VALUE
        starts = array("q", [start])  # every bracket opened, in order
        ends = array("q", [-1])  # where each one's value ends
        stack = array("q", [0])  # indexes (into starts) of the open ones
        states = bytearray([_OBJ_FIRST if text[start] == "{" else _ARR_FIRST])
        pos = start + 1
        while True:
            m = token(text, pos)
            if m is None:
                break
            kind = m.lastindex
            state = states[-1]
            pos = m.end()
            if kind == _STRING:
                pos = json_string_end(text, pos - 1)
                if pos < 0:
                    pos = m.end()
                    break
                if state <= _OBJ_KEY:
                    states[-1] = _OBJ_COLON
                    continue
            if kind in (_STRING, _SCALAR):
                after = after_value[state]
                if after < 0:
                    break
                states[-1] = after
            elif kind == _COMMA:
                if state == _OBJ_NEXT:
                    states[-1] = _OBJ_KEY
                elif state == _ARR_NEXT:
                    states[-1] = _ARR_VALUE
                else:
                    break
            elif kind == _COLON:
                if state != _OBJ_COLON:
                    break
                states[-1] = _OBJ_VALUE
            elif kind == _OPEN:
                after = after_value[state]
                if after < 0:
                    break
                states[-1] = after
                stack.append(len(starts))
                starts.append(pos - 1)
                ends.append(-1)
                states.append(_OBJ_FIRST if text[pos - 1] == "{" else _ARR_FIRST)
            else:  # _CLOSE
                if text[pos - 1] == "}":
                    if state != _OBJ_FIRST and state != _OBJ_NEXT:
                        break
                elif state != _ARR_FIRST and state != _ARR_NEXT:
                    break
                ends[stack.pop()] = pos
                states.pop()
                if not stack:
                    break
        return _Scan(starts, ends, pos)


class PythonSpans(_Spans):
    """Bracketed Python expressions opening at ``(``, ``[`` or ``{``: where the bracket
    closes, reading string literals (all four quote kinds) and comments so that brackets
    inside them do not count. Says nothing about what is between the brackets."""

    __slots__ = ("_budget",)

    def __init__(self, text: str) -> None:
        super().__init__(text)
        self._budget = PYTHONIC_SCAN_BUDGET * len(text) + _PYTHONIC_SCAN_SLACK

    def _scan(self, start: int) -> _Scan:
        starts = array("q", [start])
        ends = array("q", [-1])
        if self._budget <= 0:
            return _Scan(starts, ends, start)
        text = self.text
        special = _PY_SPECIAL.search
        stack = array("q", [0])
        closers = [_PY_CLOSER[text[start]]]
        pos = start + 1
        while True:
            m = special(text, pos)
            if m is None:
                pos = len(text)
                break
            at = m.start()
            char = text[at]
            if char in _PY_CLOSER:
                stack.append(len(starts))
                starts.append(at)
                ends.append(-1)
                closers.append(_PY_CLOSER[char])
                pos = at + 1
            elif char == "'" or char == '"':
                quote = char * 3 if text.startswith(char * 3, at) else char
                pos = _python_string_end(text, at, quote)
                if pos < 0:
                    # Never closed: reading went to the end of the line (or of the text).
                    pos = len(text) if len(quote) == 3 else _line_end(text, at)
                    break
            elif char == "#":
                pos = _line_end(text, at)
            elif char == "\\":
                # Only a line continuation ("\\" at the end of a line) is Python here.
                after = _LINE_CONTINUATION.match(text, at)
                if after is None:
                    pos = at
                    break
                pos = after.end()
            elif closers[-1] != char:
                pos = at
                break
            else:
                pos = at + 1
                ends[stack.pop()] = pos
                closers.pop()
                if not stack:
                    break
        self._budget -= pos - start + 1
        return _Scan(starts, ends, pos)


def _line_end(text: str, pos: int) -> int:
    end = text.find("\n", pos)
    return len(text) if end < 0 else end
