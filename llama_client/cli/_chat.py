"""``llama-client chat``: one question, or a conversation, streamed to the terminal."""

from __future__ import annotations

import contextlib
import logging
import sys
from typing import TYPE_CHECKING, Any

import click

from ..errors import InvalidRequestError, LlamaClientError
from ._app import describe
from ._common import client_from_options, client_options, is_tty, terminal_safe, write_out

if TYPE_CHECKING:
    from .._sync.client import LlamaClient

__all__ = ["chat"]

logger = logging.getLogger("llama_client.cli")

#: Largest prompt read from stdin: a prompt, not a data set (``batch run`` is for those).
MAX_STDIN_PROMPT = 16 * 1024 * 1024
HELP_TEXT = "/exit (or Ctrl-D) leaves, /reset starts a new conversation, /help shows this."


@click.command()
@click.argument("prompt", nargs=-1)
@client_options
@click.option("-s", "--system", help="A system message to start the conversation with.")
@click.option("-t", "--temperature", type=float, help="Sampling temperature, 0 to 2.")
@click.option("--max-tokens", type=int, help="Most tokens in each answer.")
@click.option(
    "--stream/--no-stream",
    default=True,
    show_default=True,
    help="Show the answer as it is generated.",
)
@click.option(
    "-i",
    "--interactive",
    is_flag=True,
    help="A conversation, one turn per line of input (the default when no PROMPT is given "
    "and stdin is a terminal).",
)
def chat(
    prompt: tuple[str, ...],
    provider: str | None,
    base_url: str | None,
    model: str | None,
    system: str | None,
    temperature: float | None,
    max_tokens: int | None,
    stream: bool,
    interactive: bool,
) -> None:
    """Ask PROMPT and print the answer, or talk: with no PROMPT on a terminal.

    \b
      llama-client chat "Write a haiku about llamas"
      echo "Summarise: ..." | llama-client chat          (the prompt from stdin)
      llama-client chat --system "Be brief" -m llama-3.1-8b-instruct
    """
    params: dict[str, Any] = {}
    if temperature is not None:
        params["temperature"] = temperature
    if max_tokens is not None:
        params["max_tokens"] = max_tokens
    text = " ".join(prompt)
    if not interactive and (text == "-" or (not text and not is_tty(sys.stdin))):
        text = _read_stdin_prompt()
        if not text.strip():
            raise click.UsageError("the prompt read from stdin is empty")
    elif not text and not interactive:
        interactive = True
    elif interactive and text:
        raise click.UsageError("give a PROMPT or --interactive, not both")
    with client_from_options(provider, base_url, model) as client:
        _choose_model(client)
        start = [{"role": "system", "content": system}] if system else []
        if interactive:
            _conversation(client, start, params, stream=stream)
        else:
            _answer(client, [*start, {"role": "user", "content": text}], params, stream=stream)


def _read_stdin_prompt() -> str:
    data = sys.stdin.read(MAX_STDIN_PROMPT + 1)
    if len(data) > MAX_STDIN_PROMPT:
        raise click.UsageError(
            f"the prompt on stdin is longer than {MAX_STDIN_PROMPT:,} characters; "
            "for many prompts use `llama-client batch run`"
        )
    return data


def _choose_model(client: LlamaClient) -> None:
    """With no model configured, the one model the server serves (vLLM serves one)."""
    if client.model:
        return
    served = [m.id for m in client.models.list()]
    if len(served) != 1:
        shown = ", ".join(repr(s) for s in served[:10]) + (", ..." if len(served) > 10 else "")
        raise InvalidRequestError(
            "model",
            "no model given (--model or LLAMA_MODEL) and the server serves "
            + (f"{len(served)} models: {shown}" if served else "none"),
        )
    client.model = served[0]
    logger.info("model: %s (the one the server serves)", served[0])


def _answer(
    client: LlamaClient, messages: list[dict[str, Any]], params: dict[str, Any], *, stream: bool
) -> str:
    """Print the answer to ``messages`` (as it arrives with ``stream``) and return its text."""
    tty = is_tty(sys.stdout)
    if stream:
        parts: list[str] = []
        with client.chat.completions.stream(messages=messages, **params) as s:
            for piece in s.text_stream:
                write_out(piece, tty=tty)
                parts.append(piece)
            final = s.get_final_completion()
        text = "".join(parts)
    else:
        final = client.chat.completions.create(messages=messages, **params)
        text = (final.choices[0].message.content or "") if final.choices else ""
        write_out(text, tty=tty)
    write_out("\n", tty=tty)
    reason = final.choices[0].finish_reason if final.choices else None
    if reason == "length":
        click.echo("(the answer was cut short: it reached --max-tokens or the context)", err=True)
    elif reason not in (None, "stop", "eos"):
        click.echo(f"(finish reason: {terminal_safe(str(reason))[:100]})", err=True)
    return text


def _conversation(
    client: LlamaClient, start: list[dict[str, Any]], params: dict[str, Any], *, stream: bool
) -> None:
    """Read a turn per line until /exit or end of input; an error ends the turn, not the talk.

    Ctrl-C during an answer stops that answer; at the prompt it leaves (exit code 130).
    """
    tty_in = is_tty(sys.stdin)
    history = list(start)
    if tty_in:
        click.echo(f"Model {client.model}. {HELP_TEXT}", err=True)
        with contextlib.suppress(ImportError):  # not on every platform
            import readline  # noqa: F401  (line editing and history for input())
    while True:
        if tty_in:
            try:
                line = input(">>> ")
            except EOFError:
                click.echo(err=True)
                return
        else:
            line = sys.stdin.readline()
            if not line:
                return
        line = line.strip()
        if not line:
            continue
        if line in ("/exit", "/quit"):
            return
        if line == "/reset":
            history = list(start)
            click.echo("(new conversation)", err=True)
            continue
        if line == "/help":
            click.echo(HELP_TEXT, err=True)
            continue
        turn = [*history, {"role": "user", "content": line}]
        try:
            text = _answer(client, turn, params, stream=stream)
        except KeyboardInterrupt:
            click.echo("\n(answer stopped)", err=True)
            continue
        except LlamaClientError as exc:
            click.echo(f"Error: {describe(exc)[0]}", err=True)
            continue
        history = [*turn, {"role": "assistant", "content": text}]
