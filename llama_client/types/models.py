"""Types of the ``/models`` endpoint."""

from __future__ import annotations

from collections.abc import Iterator

from ._base import ResponseModel

__all__ = ["Model", "ModelList"]


class Model(ResponseModel):
    """One model a server offers."""

    id: str
    object: str = "model"
    created: int | None = None
    owned_by: str | None = None


class ModelList(ResponseModel):
    """The answer of ``GET /models``; iterating it yields the models."""

    object: str = "list"
    data: list[Model]

    def __iter__(self) -> Iterator[Model]:  # type: ignore[override]
        return iter(self.data)

    def __len__(self) -> int:
        return len(self.data)

    def __getitem__(self, index: int) -> Model:
        return self.data[index]

    @property
    def ids(self) -> list[str]:
        return [m.id for m in self.data]
