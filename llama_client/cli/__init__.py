"""The ``llama-client`` command line (``pip install 'llama-client[cli]'``).

``main()`` is the console script; ``cli`` is the click group, for embedding or testing
(``click.testing.CliRunner().invoke(cli, [...])``). Importing this package does not import
click: ``main()`` says which extra to install when click or rich is missing.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

from ._exit import EXIT_UNAVAILABLE

if TYPE_CHECKING:
    from ._app import LlamaGroup

    cli: LlamaGroup

__all__ = ["cli", "main"]

#: What the command line needs beyond the core dependencies.
_NEEDS = ("click", "rich")


def main(argv: list[str] | None = None) -> int:
    """Run ``llama-client`` with ``argv`` (default: the process arguments); the exit code."""
    try:
        from ._app import cli
    except ModuleNotFoundError as exc:
        if exc.name not in _NEEDS:
            raise
        sys.stderr.write(
            f"Error: the llama-client command line needs {exc.name}: "
            "pip install 'llama-client[cli]'\n"
        )
        return EXIT_UNAVAILABLE
    try:
        cli.main(args=argv, prog_name="llama-client")
    except SystemExit as exc:
        code = exc.code
        return code if isinstance(code, int) else (0 if code is None else 1)
    return 0


def __getattr__(name: str) -> Any:
    if name == "cli":
        from ._app import cli

        return cli
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
