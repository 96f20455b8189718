"""``python -m llama_client.cli``: the same as the ``llama-client`` command."""

from __future__ import annotations

from . import main

if __name__ == "__main__":
    raise SystemExit(main())
