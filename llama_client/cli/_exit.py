"""The exit codes of the ``llama-client`` command, one place for every command (no click here).

Scripts can rely on them; the README's "Command line" section lists the same table.
"""

from __future__ import annotations

__all__ = [
    "EXIT_API_ERROR",
    "EXIT_FAILED_ITEMS",
    "EXIT_INTERNAL",
    "EXIT_INTERRUPTED",
    "EXIT_IO_ERROR",
    "EXIT_OK",
    "EXIT_UNAVAILABLE",
    "EXIT_USAGE",
]

#: Done.
EXIT_OK = 0
#: The server or the connection failed (any :class:`llama_client.APIError`: refused
#: connection, timeout, 4xx/5xx after the retries, a broken stream, an invalid answer).
EXIT_API_ERROR = 1
#: Bad command line or bad input, found before anything was sent: an unknown option, a
#: missing model, an unknown provider, a value out of range (:class:`InvalidRequestError`).
EXIT_USAGE = 2
#: ``batch run``: the run finished, and some items failed; each is recorded with its reason
#: in the results file (``--retry-failed`` runs them again).
EXIT_FAILED_ITEMS = 3
#: Something this command needs is not installed here: an optional extra
#: (``pip install 'llama-client[ray]'``) or, for ``bench``, a source checkout.
EXIT_UNAVAILABLE = 4
#: A file could not be read or written (missing, permissions, disk full).
EXIT_IO_ERROR = 74
#: A bug in llama-client: an unexpected exception (``-v`` shows the traceback).
EXIT_INTERNAL = 70
#: Stopped by Ctrl-C (SIGINT); ``batch run`` can be resumed.
EXIT_INTERRUPTED = 130
