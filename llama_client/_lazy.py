"""Names a module resolves on first use (PEP 562): one helper for every lazy module.

``__getattr__, __dir__ = lazy_names(__name__, {"Name": ".module", ...}, globals())`` makes
``Name`` import its module the first time it is read, then binds it in the module so later
reads cost nothing. Used to keep ``import llama_client`` cheap (the response models are defined
on first use) and to keep old import paths working after a class moved.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, MutableMapping
from importlib import import_module

__all__ = ["lazy_names"]


def lazy_names(
    module: str, table: Mapping[str, str], namespace: MutableMapping[str, object]
) -> tuple[Callable[[str], object], Callable[[], list[str]]]:
    """The ``__getattr__`` and ``__dir__`` of ``module``: ``table`` maps each lazy name to the
    module (absolute, or relative to ``module``'s package) that defines it."""
    package = module if namespace.get("__path__") is not None else module.rpartition(".")[0]

    def __getattr__(name: str) -> object:
        where = table.get(name)
        if where is None:
            raise AttributeError(f"module {module!r} has no attribute {name!r}")
        value = getattr(import_module(where, package), name)
        namespace[name] = value
        return value

    def __dir__() -> list[str]:
        return sorted(set(namespace) | set(table))

    return __getattr__, __dir__
