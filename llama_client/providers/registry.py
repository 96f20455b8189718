"""The provider registry: built-ins, :func:`register`, and the ``llama_client.providers``
entry-point group.

Nothing is loaded at import time: the built-in rows are built on the first lookup, and
entry points are read only when a name is not found among the registered providers (or when
:func:`list_providers` is called). An entry point may name a :class:`Provider` instance, a
``Provider`` subclass (instantiated without arguments) or a function returning a Provider.
"""

from __future__ import annotations

import logging
import threading

from ..errors import InvalidRequestError
from .base import Provider

__all__ = ["ENTRY_POINT_GROUP", "find_provider", "get_provider", "list_providers", "register"]

ENTRY_POINT_GROUP = "llama_client.providers"

logger = logging.getLogger("llama_client")

_lock = threading.Lock()
_providers: dict[str, Provider] = {}
_state = {"builtins": False, "entry_points": False}


def _ensure_builtins() -> None:
    if _state["builtins"]:
        return
    with _lock:
        if not _state["builtins"]:
            from ._builtin import builtin_providers

            for provider in builtin_providers():
                _providers.setdefault(provider.name, provider)
            _state["builtins"] = True


def _load_entry_points() -> None:
    if _state["entry_points"]:
        return
    _state["entry_points"] = True
    from importlib.metadata import entry_points

    for ep in entry_points(group=ENTRY_POINT_GROUP):
        if ep.name in _providers:
            continue
        try:
            obj = ep.load()
            provider = obj() if callable(obj) and not isinstance(obj, Provider) else obj
        except Exception as exc:  # a broken plug-in must not break the client
            logger.warning("provider entry point %r failed to load: %s", ep.name, exc)
            continue
        if not isinstance(provider, Provider):
            logger.warning("provider entry point %r is not a Provider: %r", ep.name, provider)
            continue
        _providers.setdefault(provider.name, provider)


def register(provider: Provider, *, replace: bool = False) -> Provider:
    """Make ``provider`` available by its name. A built-in name is only replaced with
    ``replace=True``. Returns the provider, so it can be used as a decorator on a factory's
    result or inline."""
    if not isinstance(provider, Provider):
        raise TypeError(f"register() needs a Provider instance, got {type(provider).__name__}")
    _ensure_builtins()
    with _lock:
        if provider.name in _providers and not replace:
            raise ValueError(
                f"a provider named {provider.name!r} is already registered; pass replace=True"
            )
        _providers[provider.name] = provider
    return provider


def find_provider(name: str) -> Provider | None:
    """The provider called ``name``, or None."""
    _ensure_builtins()
    provider = _providers.get(name)
    if provider is None and not _state["entry_points"]:
        _load_entry_points()
        provider = _providers.get(name)
    return provider


def get_provider(name: str) -> Provider:
    """The provider called ``name``; an unknown name raises InvalidRequestError listing all."""
    provider = find_provider(name)
    if provider is None:
        raise InvalidRequestError(
            "provider", f"unknown provider {name!r}; known: {', '.join(list_providers())}"
        )
    return provider


def list_providers() -> list[str]:
    """The names of every available provider, built-ins first in their display order."""
    _ensure_builtins()
    _load_entry_points()
    return list(_providers)
