"""Helpers the commands share: the server options, terminal-safe output, the console."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

import click

if TYPE_CHECKING:
    from rich.console import Console

    from .._sync.client import LlamaClient

__all__ = [
    "client_from_options",
    "client_options",
    "console",
    "is_tty",
    "provider_spec",
    "terminal_safe",
    "write_out",
]

F = TypeVar("F", bound=Callable[..., Any])


def client_options(func: F) -> F:
    """``--provider``, ``--base-url`` and ``--model``; unset ones come from LLAMA_* variables."""
    func = click.option(
        "-m",
        "--model",
        help="Model id or catalogue alias (default: LLAMA_MODEL).",
    )(func)
    func = click.option(
        "--base-url",
        help="Server URL, e.g. http://localhost:8000/v1 (default: LLAMA_BASE_URL, then the "
        "provider's own).",
    )(func)
    func = click.option(
        "-p",
        "--provider",
        help="Provider name, e.g. vllm, groq, together, or a fallback list groq,together "
        "(default: LLAMA_PROVIDER, then vllm). `llama-client providers` lists them.",
    )(func)
    return func


def provider_spec(value: str | None) -> str | list[str] | None:
    """``--provider`` as the client takes it: ``groq,together`` is a fallback list (as in
    LLAMA_PROVIDER)."""
    if value is None or "," not in value:
        return value
    return [name.strip() for name in value.split(",") if name.strip()]


def client_from_options(
    provider: str | None, base_url: str | None, model: str | None, **kwargs: Any
) -> LlamaClient:
    """A client configured by the options, the environment for the rest (keys included)."""
    from .._sync.client import LlamaClient

    return LlamaClient(provider=provider_spec(provider), base_url=base_url, model=model, **kwargs)


def is_tty(stream: Any) -> bool:
    isatty = getattr(stream, "isatty", None)
    try:
        return bool(isatty()) if isatty is not None else False
    except (OSError, ValueError):
        return False


# Control characters a terminal would act on: C0 (except tab and newline), DEL, C1, and the
# bidirectional overrides that reorder what is shown. Model and server text is hostile: on a
# terminal it is shown, escaped, never obeyed. Pipes and files get the text unchanged.
_UNSAFE = {c: f"\\x{c:02x}" for c in [*range(0x00, 0x20), 0x7F, *range(0x80, 0xA0)]}
del _UNSAFE[0x09], _UNSAFE[0x0A]
_UNSAFE.update({c: f"\\u{c:04x}" for c in [*range(0x202A, 0x202F), *range(0x2066, 0x206A)]})


def terminal_safe(text: str) -> str:
    """``text`` with terminal control characters shown as escapes (``\\x1b``)."""
    return text.translate(_UNSAFE)


def write_out(text: str, *, tty: bool) -> None:
    """Write model or server text to stdout as it is; escaped when stdout is a terminal."""
    sys.stdout.write(terminal_safe(text) if tty else text)
    sys.stdout.flush()


def console(*, stderr: bool = False) -> Console:
    """A rich console on the current stdout/stderr: colours only on a terminal (and never
    with NO_COLOR), no markup or emoji read from the text it prints."""
    from rich.console import Console

    stream = sys.stderr if stderr else sys.stdout
    return Console(file=stream, markup=False, emoji=False, highlight=False, soft_wrap=False)
