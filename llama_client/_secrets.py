"""Keeping credentials out of what we print, and bad header input out of the wire. No I/O.

Everything that prints a URL goes through :func:`mask_url`; everything that repeats server text
in an exception message goes through :func:`redact` (done by :class:`~llama_client.errors.APIError`
itself when it knows the request). Request headers are an :class:`SecretHeaders`, whose ``repr``
masks every header that carries a credential (httpx masks only ``Authorization``).

Header names and values, and the API key, are checked once when a client is built (and per
call only for ``extra_headers``), so a value that would break the HTTP framing (CR, LF and other
control characters, non-ASCII text, surrounding whitespace) is refused before any socket is
opened, with a message that never repeats the value.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from urllib.parse import unquote

import httpx

from ._redact import (
    _MASK,
    is_credential_header,
    redact,
    redact_exception,
    request_secrets,
    secrets_in_headers,
)
from .errors import InvalidRequestError

__all__ = [
    "SecretHeaders",
    "basic_auth_from_url",
    "check_api_key",
    "check_headers",
    "is_credential_header",
    "mask_url",
    "redact",
    "redact_exception",
    "request_secrets",
    "secrets_in_headers",
]

#: The characters of an HTTP header name (RFC 9110 ``token``). No regex: import stays cheap.
_TOKEN_CHARS = frozenset(
    "!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
)
#: Headers the HTTP layer computes from the body: given by hand they would break the framing.
_FRAMING = frozenset({"content-length", "transfer-encoding"})


class SecretHeaders(httpx.Headers):
    """``httpx.Headers`` whose ``repr`` masks every credential header, not only
    ``Authorization``. Sent exactly like ``httpx.Headers``: only printing differs.

    The client turns each request's headers into this class (``request.headers.__class__``:
    no copy on the hot path), so ``repr(exc.request.headers)`` never shows an ``api-key``.
    """

    __slots__ = ()

    def __repr__(self) -> str:
        items = [(k, "[secure]" if is_credential_header(k) else v) for k, v in self.multi_items()]
        as_dict = dict(items)
        shown: object = as_dict if len(as_dict) == len(items) else items
        return f"Headers({shown!r})"


# -------------------------------------------------------------------------------- URLs


def _split_authority(url: str) -> tuple[str, str, str] | None:
    """``(scheme://, userinfo, rest)`` when ``url`` carries a userinfo, else None."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        return None
    end = len(rest)
    for stop in "/?#":
        i = rest.find(stop)
        if i != -1 and i < end:
            end = i
    userinfo, at, _host = rest[:end].rpartition("@")
    if not at:
        return None
    return scheme + sep, userinfo, rest[len(userinfo) + 1 :]


def mask_url(url: object) -> str:
    """``url`` as text with its password (or a lone user name, often a token) masked:
    ``http://user:***@host/v1``. Every place that prints a URL uses this."""
    text = str(url)
    if "@" not in text:
        return text
    parts = _split_authority(text)
    if parts is None:
        return text
    head, userinfo, rest = parts
    user, colon, _ = userinfo.partition(":")
    return f"{head}{user + ':' if colon else ''}{_MASK}@{rest}"


def basic_auth_from_url(url: str) -> tuple[str, str | None, tuple[str, ...]]:
    """Split ``user:password@`` off ``url``: the URL without it, the ``Authorization: Basic``
    value it stands for (None without userinfo), and the secrets to redact."""
    parts = _split_authority(url)
    if parts is None:
        return url, None, ()
    head, userinfo, rest = parts
    user, _, password = userinfo.partition(":")
    user, password = unquote(user), unquote(password)
    token = base64.b64encode(f"{user}:{password}".encode()).decode("ascii")
    secrets = tuple(s for s in (password or user, f"{user}:{password}", token) if s)
    return head + rest, f"Basic {token}", secrets


# -------------------------------------------------------------------------------- checks


def _bad_char(text: str) -> str | None:
    """Why ``text`` cannot be an HTTP header value, or None. Never quotes ``text``."""
    for i, ch in enumerate(text):
        code = ord(ch)
        if ch in "\r\n":
            return f"contains a line break (CR or LF) at position {i}"
        if code == 0x7F or (code < 0x20 and ch != "\t"):
            return f"contains a control character (U+{code:04X}) at position {i}"
        if code > 0x7E:
            return f"contains a non-ASCII character at position {i} (header values must be ASCII)"
    if text != text.strip(" \t"):
        return "has leading or trailing whitespace"
    return None


def check_api_key(value: object, source: str) -> str | None:
    """The API key as text, or InvalidRequestError (never quoting it) when it cannot be sent.

    ``bytes`` are accepted when ASCII (decoded); anything else but ``str`` and None is refused.
    ``source`` says where it came from (``"the api_key argument"``, an environment variable).
    """
    if value is None:
        return None
    if isinstance(value, (bytes, bytearray)):
        try:
            value = bytes(value).decode("ascii")
        except UnicodeDecodeError:
            raise InvalidRequestError(
                "api_key", f"the API key from {source} is bytes that are not ASCII"
            ) from None
    if not isinstance(value, str):
        raise InvalidRequestError(
            "api_key", f"the API key from {source} must be a string, got {type(value).__name__}"
        )
    problem = _bad_char(value)
    if problem:
        hint = ""
        if "line break" in problem or "whitespace" in problem:
            hint = " (a key read from a file often ends with a newline: strip it)"
        raise InvalidRequestError(
            "api_key",
            f"the API key from {source} {problem}; it cannot be sent in an HTTP header{hint}",
        )
    return value


def _header_name(field: str, name: object) -> str:
    if isinstance(name, (bytes, bytearray)):
        try:
            name = bytes(name).decode("ascii")
        except UnicodeDecodeError:
            raise InvalidRequestError(field, "a header name is bytes that are not ASCII") from None
    if not isinstance(name, str):
        raise InvalidRequestError(field, f"header names must be strings, got {type(name).__name__}")
    if not name or not _TOKEN_CHARS.issuperset(name):
        bad = next((i for i, ch in enumerate(name) if ch not in _TOKEN_CHARS), 0)
        shown = repr(name) if len(name) <= 40 and name.isprintable() else "a header name"
        raise InvalidRequestError(
            field,
            f"{shown} is not a valid HTTP header name (character {bad} is not allowed; "
            "letters, digits and !#$%&'*+-.^_`|~ only)"
            if name
            else "a header name is empty",
        )
    if name.lower() in _FRAMING:
        raise InvalidRequestError(
            field, f"{name!r} is computed from the body when the request is sent; it cannot be set"
        )
    return name


def check_headers(field: str, headers: object) -> list[tuple[str, str | None]]:
    """``headers`` as checked ``(name, value)`` pairs; a None value means "remove this header".

    Values must be ``str`` (or ASCII ``bytes``) of visible ASCII, spaces and tabs, without
    surrounding whitespace; any other type, a CR/LF or another control character raises
    InvalidRequestError naming the header but never showing its value.
    """
    if not isinstance(headers, Mapping):
        raise InvalidRequestError(
            field, f"must be a mapping of header names to values, got {type(headers).__name__}"
        )
    out: list[tuple[str, str | None]] = []
    for raw_name, value in headers.items():
        name = _header_name(field, raw_name)
        if value is None:
            out.append((name, None))
            continue
        if isinstance(value, (bytes, bytearray)):
            try:
                value = bytes(value).decode("ascii")
            except UnicodeDecodeError:
                raise InvalidRequestError(
                    field, f"the value of header {name!r} is bytes that are not ASCII"
                ) from None
        if not isinstance(value, str):
            raise InvalidRequestError(
                field,
                f"the value of header {name!r} must be a string (or None to remove the header), "
                f"got {type(value).__name__}",
            )
        problem = _bad_char(value)
        if problem:
            raise InvalidRequestError(field, f"the value of header {name!r} {problem}")
        out.append((name, value))
    return out


# -------------------------------------------------------------------------------- redaction
