"""The I/O shells, written once, async: the source that ``scripts/unasync.py`` turns into
:mod:`llama_client._sync`. Edit these files, then run ``python3 scripts/unasync.py``."""
