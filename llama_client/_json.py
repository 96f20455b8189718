"""The one ``default=`` for ``json.dumps``: how values JSON cannot carry are written. No I/O.

:func:`json_default` encodes request bodies: a pydantic model becomes its JSON dict without
``None`` fields (servers refuse nulls they did not ask for), a set or tuple a list, and
anything else is refused with ``TypeError`` (the body encoder names the field).
:func:`text_default` writes text for people and models (a tool's output, an error message):
models keep their ``None`` fields and anything else becomes ``str(value)``.
"""

from __future__ import annotations

from pydantic import BaseModel

__all__ = ["json_default", "text_default"]


def _convert(value: object, *, for_request: bool) -> object:
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json", exclude_none=for_request)
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    if for_request:
        raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")
    return str(value)


def json_default(value: object) -> object:
    """``default=`` for request bodies: strict (``TypeError`` for what JSON cannot carry)."""
    return _convert(value, for_request=True)


def text_default(value: object) -> object:
    """``default=`` for text: never fails (``str(value)`` for what JSON cannot carry)."""
    return _convert(value, for_request=False)
