"""The ``llama-client`` click group: logging, lazy subcommands, and errors → exit codes.

Every subcommand is imported when it is run (or listed by ``--help``), so ``llama-client
chat`` does not import the batch engine or Ray. Whatever a subcommand raises is turned here
into one clean line on stderr and an exit code from :mod:`._exit`; ``-v`` adds the traceback.
"""

from __future__ import annotations

import importlib
import logging
import sys
from typing import Any

import click

from .._version import __version__
from ..errors import APIError, InvalidRequestError, LlamaClientError
from ._exit import (
    EXIT_API_ERROR,
    EXIT_INTERNAL,
    EXIT_INTERRUPTED,
    EXIT_IO_ERROR,
    EXIT_UNAVAILABLE,
    EXIT_USAGE,
)

__all__ = ["CommandError", "LlamaGroup", "cli"]

logger = logging.getLogger("llama_client.cli")

#: name → "module:attribute"; imported on first use.
COMMANDS = {
    "chat": "llama_client.cli._chat:chat",
    "models": "llama_client.cli._commands:models",
    "providers": "llama_client.cli._commands:providers",
    "batch": "llama_client.cli.batch:batch",
    "bench": "llama_client.cli._commands:bench",
}

LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
#: Longest error text printed: a server may send megabytes of error body.
MAX_ERROR_CHARS = 2000


class CommandError(click.ClickException):
    """A failure reported as ``Error: <message>`` on stderr, exiting with ``exit_code``."""

    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(message)
        self.code = exit_code

    @property
    def exit_code(self) -> int:  # type: ignore[override]  # a class attribute in click
        return self.code


class _StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever ``sys.stderr`` is when a record is emitted (test runners swap it)."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    def emit(self, record: logging.LogRecord) -> None:
        self.stream = sys.stderr
        super().emit(record)


def configure_logging(level: int) -> None:
    """Root logging to stderr at ``level``, replacing what an earlier run of the CLI set up."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        if isinstance(handler, _StderrHandler):
            root.removeHandler(handler)
    handler = _StderrHandler()
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    root.addHandler(handler)
    root.setLevel(level)


def _one_line(text: str) -> str:
    text = " ".join(text.split())
    if len(text) > MAX_ERROR_CHARS:
        text = text[: MAX_ERROR_CHARS - 20] + f"... ({len(text)} chars)"
    return text


def describe(exc: BaseException) -> tuple[str, int]:
    """The message and exit code an exception ends the command with."""
    if isinstance(exc, InvalidRequestError):
        return _one_line(str(exc)), EXIT_USAGE
    if isinstance(exc, APIError):
        return _one_line(f"{type(exc).__name__}: {exc}"), EXIT_API_ERROR
    if isinstance(exc, LlamaClientError):
        return _one_line(f"{type(exc).__name__}: {exc}"), EXIT_API_ERROR
    if isinstance(exc, ImportError) and "pip install 'llama-client[" in str(exc):
        return _one_line(str(exc)), EXIT_UNAVAILABLE
    if isinstance(exc, OSError):
        return _one_line(f"{type(exc).__name__}: {exc}"), EXIT_IO_ERROR
    return (
        _one_line(f"unexpected {type(exc).__name__}: {exc} (a bug; run with -v for the traceback)"),
        EXIT_INTERNAL,
    )


class LlamaGroup(click.Group):
    """A group whose subcommands load on first use and whose errors become exit codes."""

    verbose = False

    def main(self, *args: Any, **kwargs: Any) -> Any:
        # The command sets up root logging for itself; whoever called it (a test, a program
        # embedding the CLI) gets the root logger back as it was.
        root = logging.getLogger()
        level, handlers = root.level, list(root.handlers)
        try:
            return super().main(*args, **kwargs)
        finally:
            for handler in list(root.handlers):
                if handler not in handlers:
                    root.removeHandler(handler)
            root.setLevel(level)

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *COMMANDS})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        command = super().get_command(ctx, cmd_name)
        if command is not None or cmd_name not in COMMANDS:
            return command
        module_name, _, attr = COMMANDS[cmd_name].partition(":")
        try:
            module = importlib.import_module(module_name)
        except ImportError as exc:
            if exc.name != module_name:
                raise  # the module exists but fails to import: a real error, shown as such
            return _unavailable(cmd_name, f"{module_name} is not part of this installation")
        loaded = getattr(module, attr)
        if not isinstance(loaded, click.Command):
            raise TypeError(f"{COMMANDS[cmd_name]} is not a click command")
        return loaded

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (click.exceptions.Exit, click.ClickException):
            raise
        except (KeyboardInterrupt, click.Abort):
            click.echo("Interrupted.", err=True)
            raise click.exceptions.Exit(EXIT_INTERRUPTED) from None
        except BrokenPipeError:
            # The reader went away (``| head``): nothing more can be shown; not an error of ours.
            _silence_stdout()
            raise click.exceptions.Exit(0) from None
        except Exception as exc:
            message, code = describe(exc)
            if LlamaGroup.verbose:
                logger.error("%s", message, exc_info=exc)
            raise CommandError(message, code) from None


def _silence_stdout() -> None:
    import os

    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):  # no real file descriptor (a test runner's buffer)
        pass


def _unavailable(name: str, why: str) -> click.Command:
    @click.command(
        name,
        help=f"(not available: {why})",
        context_settings={"ignore_unknown_options": True, "allow_extra_args": True},
        add_help_option=False,
    )
    def command() -> None:
        raise CommandError(f"'{name}' is not available: {why}", EXIT_UNAVAILABLE)

    return command


@click.group(cls=LlamaGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "-V", "--version", prog_name="llama-client")
@click.option(
    "-v",
    "--verbose",
    count=True,
    help="More log output on stderr (-v: INFO, -vv: DEBUG) and tracebacks on errors.",
)
@click.option(
    "--log-level",
    type=click.Choice(LOG_LEVELS, case_sensitive=False),
    envvar="LLAMA_LOG_LEVEL",
    help="Log level for stderr (overrides -v). Env: LLAMA_LOG_LEVEL.",
)
def cli(verbose: int, log_level: str | None) -> None:
    """llama-client: chat with, list and batch-run Llama models on any OpenAI-compatible server.

    The server comes from --provider/--base-url/--model or LLAMA_PROVIDER, LLAMA_BASE_URL,
    LLAMA_API_KEY and LLAMA_MODEL (keys only ever from the environment).

    Exit codes: 0 ok, 1 API error, 2 usage error, 3 batch items failed, 4 not installed here,
    70 internal error, 74 file error, 130 interrupted.
    """
    if log_level:
        level = getattr(logging, log_level.upper())
    else:
        level = (logging.WARNING, logging.INFO)[verbose] if verbose < 2 else logging.DEBUG
    LlamaGroup.verbose = verbose > 0 or level <= logging.DEBUG
    configure_logging(level)
