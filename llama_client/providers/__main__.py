"""``python -m llama_client.providers``: print or write the generated provider tables.

python -m llama_client.providers --markdown            # print the tables
python -m llama_client.providers --write README.md   # refresh them in a file
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ._table import markdown, update_document


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m llama_client.providers")
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument("--markdown", action="store_true", help="print the tables")
    group.add_argument("--write", metavar="FILE", help="replace the generated section of FILE")
    args = parser.parse_args(argv)
    if args.markdown:
        sys.stdout.write(markdown() + "\n")
        return 0
    path = Path(args.write)
    path.write_text(update_document(path.read_text(encoding="utf-8")), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
