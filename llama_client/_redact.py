"""Redacting credentials from text: the half of :mod:`llama_client._secrets` that
:class:`~llama_client.errors.APIError` needs. No I/O, and it imports nothing from this package,
so ``errors`` can use it without an import cycle."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import httpx

__all__ = [
    "MIN_SECRET",
    "is_credential_header",
    "redact",
    "redact_exception",
    "request_secrets",
    "secrets_in_headers",
]

#: Header names that always carry a credential.
_CREDENTIAL_NAMES = frozenset(
    {"authorization", "proxy-authorization", "api-key", "x-api-key", "cookie", "set-cookie"}
)
#: Fragments of header names that carry one (``x-goog-api-key``, ``x-auth-token``,
#: ``ocp-apim-subscription-key``, ...). Masking a harmless header in a repr costs nothing.
_CREDENTIAL_FRAGMENTS = ("auth", "key", "token", "secret", "passw", "credential", "cookie")
#: Shorter values are never redacted from text: they would garble messages and are no secret.
MIN_SECRET = 6
_MASK = "***"

#: How :func:`llama_client._error_parsing.preview` marks a cut: ``... [123 more characters]``.
_CUT_START, _CUT_END = "... [", " more characters]"


def is_credential_header(name: str) -> bool:
    """Whether a header of this name carries a credential (and is masked when shown)."""
    lower = name.lower()
    return lower in _CREDENTIAL_NAMES or any(f in lower for f in _CREDENTIAL_FRAGMENTS)


def secrets_in_headers(items: Iterable[tuple[str, str]]) -> tuple[str, ...]:
    """The credential values carried by these headers: each whole value, the token after an
    auth scheme (``Bearer sk-...``) and a Basic credential's password, longest first."""
    found: set[str] = set()
    for name, value in items:
        if not value or not is_credential_header(name):
            continue
        found.add(value)
        scheme, space, token = value.partition(" ")
        if space and token:
            found.add(token.strip())
            if scheme.lower() == "basic":
                try:
                    pair = base64.b64decode(token, validate=True).decode("utf-8", "replace")
                except (binascii.Error, ValueError):
                    continue
                user, _, password = pair.partition(":")
                found.update((pair, password or user))
    return tuple(sorted((s for s in found if len(s) >= MIN_SECRET), key=len, reverse=True))


def _cut_prefix(before: str, secrets: tuple[str, ...]) -> str | None:
    """``before`` with a trailing start (4+ characters) of one of ``secrets`` masked, or None."""
    for secret in secrets:
        for k in range(len(secret) - 1, 3, -1):
            if before.endswith(secret[:k]):
                return before[:-k] + _MASK
    return None


def _cut_marks(text: str) -> list[int]:
    """Where each ``... [N more characters]`` marker starts in ``text``."""
    found = []
    start = text.find(_CUT_START)
    while start != -1:
        digits_end = start + len(_CUT_START)
        while digits_end < len(text) and text[digits_end].isdigit():
            digits_end += 1
        if digits_end > start + len(_CUT_START) and text.startswith(_CUT_END, digits_end):
            found.append(start)
        start = text.find(_CUT_START, start + 1)
    return found


def _cut_secret_tail(text: str, secrets: tuple[str, ...]) -> str:
    """Mask the start of a secret that a preview cut off right before its ``... [N more
    characters]`` marker."""
    for mark in reversed(_cut_marks(text)):
        masked = _cut_prefix(text[:mark], secrets)
        if masked is not None:
            text = masked + text[mark:]
    return text


def redact(text: str, secrets: Iterable[str]) -> str:
    """``text`` with every occurrence of each secret (longest first) replaced by ``***``."""
    ordered = tuple(sorted((s for s in secrets if len(s) >= MIN_SECRET), key=len, reverse=True))
    if not ordered:
        return text
    for secret in ordered:
        if secret in text:
            text = text.replace(secret, _MASK)
    if _CUT_END in text:
        text = _cut_secret_tail(text, ordered)
    return text


def redact_exception(exc: BaseException, secrets: Iterable[str]) -> None:
    """Redact ``secrets`` from an exception's message in place (``message`` and ``args``)."""
    message = getattr(exc, "message", None)
    if isinstance(message, str):
        clean = redact(message, secrets)
        if clean != message:
            exc.message = clean  # type: ignore[attr-defined]
            exc.args = (clean, *exc.args[1:])


def request_secrets(request: httpx.Request) -> tuple[str, ...]:
    """The credentials a request carries (headers, and a password left in its URL)."""
    found = secrets_in_headers(request.headers.items())
    password = request.url.password
    if password and len(password) >= MIN_SECRET:
        found = (*found, password)
    return found
