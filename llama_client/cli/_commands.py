"""``llama-client models``, ``providers`` and ``bench``."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import click

from ._app import CommandError
from ._common import client_from_options, client_options, console, is_tty, terminal_safe
from ._exit import EXIT_INTERRUPTED, EXIT_UNAVAILABLE

__all__ = ["bench", "models", "providers"]


@click.command()
@client_options
@click.option("--json", "as_json", is_flag=True, help="The server's model objects as JSON.")
def models(provider: str | None, base_url: str | None, model: str | None, as_json: bool) -> None:
    """List the models the server serves.

    One id per line when stdout is not a terminal (for scripts), a table when it is.
    """
    with client_from_options(provider, base_url, model) as client:
        listing = list(client.models.list())
    if as_json:
        data = [m.model_dump(mode="json") for m in listing]
        sys.stdout.write(json.dumps(data, indent=2, ensure_ascii=False) + "\n")
        return
    if not is_tty(sys.stdout):
        sys.stdout.write("".join(f"{m.id}\n" for m in listing))
        return
    from rich.table import Table
    from rich.text import Text

    table = Table("id", "owned by", "context", box=None, header_style="bold")
    for m in listing:
        context = (m.model_extra or {}).get("max_model_len")
        table.add_row(
            Text(terminal_safe(m.id)),
            Text(terminal_safe(str(m.owned_by or ""))),
            f"{context:,}" if isinstance(context, int) else "",
        )
    console().print(table)


@click.command()
@click.option(
    "--models/--no-models", "with_models", default=True, help="Include the model catalogue."
)
@click.option(
    "--markdown", is_flag=True, help="Markdown source (the default when stdout is not a terminal)."
)
def providers(with_models: bool, markdown: bool) -> None:
    """The providers this client knows (keys, base URLs, quirks) and the model catalogue.

    The same tables as ``python -m llama_client.providers --markdown`` and the README.
    """
    from ..providers._table import _builtin, model_table, provider_table

    builtin = _builtin()
    parts = ["## Providers", "", provider_table(builtin)]
    if with_models:
        parts += ["", "## Model catalogue", "", model_table(builtin)]
    text = "\n".join(parts)
    if markdown or not is_tty(sys.stdout):
        sys.stdout.write(text + "\n")
        return
    from rich.markdown import Markdown

    console().print(Markdown(text))


#: Where the benchmark lives in a source checkout, relative to its root.
BENCH_SCRIPT = Path("benchmarks") / "run.py"


def find_benchmark(start: Path | None = None) -> Path | None:
    """``benchmarks/run.py`` of the checkout this package runs from, or of the current
    directory (or a parent); None in an installed package, which does not ship it."""
    candidates = [Path(__file__).resolve().parents[2]]
    here = (start or Path.cwd()).resolve()
    candidates += [here, *here.parents]
    for root in candidates:
        script = root / BENCH_SCRIPT
        if script.is_file() and (root / "llama_client").is_dir():
            return script
    return None


@click.command(
    context_settings={"ignore_unknown_options": True, "allow_interspersed_args": False},
    add_help_option=False,
)
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def bench(args: tuple[str, ...]) -> None:
    """Run the benchmark (benchmarks/run.py of a source checkout), passing ARGS on.

    \b
      llama-client bench --help
      llama-client bench --scenarios seq --quick --out /tmp/bench
    """
    script = find_benchmark()
    if script is None:
        raise CommandError(
            "the benchmark is not installed with the package: it runs from a source checkout "
            "(git clone the repository, then run `llama-client bench` or "
            "`python benchmarks/run.py` in it)",
            EXIT_UNAVAILABLE,
        )
    try:
        code = subprocess.call([sys.executable, str(script), *args], cwd=script.parents[1])
    except KeyboardInterrupt:
        code = EXIT_INTERRUPTED
    if code < 0:  # killed by a signal
        code = 128 - code
    raise click.exceptions.Exit(code)
