"""The exception tree drawn in ``llama_client/errors.py``'s docstring and in the README is the
real class hierarchy: the same classes, each under its real parent."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import llama_client.errors as errors

ROOT = Path(__file__).resolve().parents[2]
_NAME = re.compile(r"[A-Z][A-Za-z]*Error\b")


def _classes() -> dict[str, type[BaseException]]:
    return {
        name: cls
        for name, cls in vars(errors).items()
        if isinstance(cls, type) and issubclass(cls, errors.LlamaClientError)
    }


def _real_parents() -> dict[str, str | None]:
    parents: dict[str, str | None] = {}
    for name, cls in _classes().items():
        # A class with two of our bases (RequestRefusedError: InvalidRequestError and
        # BadRequestError) is drawn under its first; the tree's footnote names the second.
        ours = [b for b in cls.__bases__ if issubclass(b, errors.LlamaClientError)]
        assert len(ours) <= 2, name
        parents[name] = ours[0].__name__ if ours else None
    return parents


def parse_tree(lines: list[str]) -> dict[str, str | None]:
    """``{class: parent}`` from a box-drawing tree, 4 columns a level; asserts it is drawn right.

    A line's first class name sits at the line's depth; further names after ``──`` (the
    README's compact ``A ── B, C``) are children of that first name, further names after a
    comma are its siblings. Names that are not our exception classes (``ValueError``) are
    ignored, as are lines without one. Each node's prefix must be what its place in the tree
    draws: ``├── `` when a sibling follows, ``└── `` for the last child, and ``│   `` under every
    ancestor that has a later sibling.
    """
    known = _classes()
    parents: dict[str, str | None] = {}
    path: list[str] = []  # the last node seen at each depth
    base: int | None = None
    drawn: list[tuple[str, list[str], str]] = []  # (node, its ancestors, prefix as drawn)
    for line in lines:
        names = [m for m in _NAME.finditer(line) if m.group() in known]
        if not names:
            continue
        first = names[0]
        if base is None:
            base = first.start()
        depth = (first.start() - base) // 4
        assert (first.start() - base) % 4 == 0, f"misaligned: {line!r}"
        assert depth <= len(path), f"skips a level: {line!r}"
        del path[depth:]
        parent = path[-1] if path else None
        parents[first.group()] = parent
        drawn.append((first.group(), list(path), line[base : first.start()]))
        path.append(first.group())
        arrow = line.find("──", first.end())
        for m in names[1:]:
            parents[m.group()] = first.group() if arrow != -1 and m.start() > arrow else parent
    line_parent = {node: (ancestors[-1] if ancestors else None) for node, ancestors, _ in drawn}
    order = [node for node, _, _ in drawn]

    def has_later_sibling(node: str) -> bool:
        later = order[order.index(node) + 1 :]
        return any(line_parent[n] == line_parent[node] for n in later)

    for node, ancestors, prefix in drawn:
        if not ancestors:
            expected = ""
        else:
            bars = "".join("│   " if has_later_sibling(a) else "    " for a in ancestors[1:])
            expected = bars + ("├── " if has_later_sibling(node) else "└── ")
        assert prefix.rstrip() == expected.rstrip(), f"{node} drawn {prefix!r}, not {expected!r}"
    return parents


def _docstring_tree() -> list[str]:
    doc = errors.__doc__ or ""
    block = doc.split("::", 1)[1].split("\n\n")[1]
    return block.splitlines()


def _readme_tree() -> list[str]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("## Errors and retries", 1)[1]
    block = section.split("```", 2)[1]
    return block.splitlines()


def test_parser_reads_parents_and_refuses_misdrawn_trees() -> None:
    assert parse_tree(
        [
            "LlamaClientError",
            "├── APIError ── StreamError, APITimeoutError",
            "└── MaxToolRoundsError",
        ]
    ) == {
        "LlamaClientError": None,
        "APIError": "LlamaClientError",
        "StreamError": "APIError",
        "APITimeoutError": "APIError",
        "MaxToolRoundsError": "LlamaClientError",
    }
    # MaxToolRoundsError drawn under the last child: a different parent, which the test sees
    drawn = parse_tree(["LlamaClientError", "└── APIError", "    └── MaxToolRoundsError"])
    assert drawn["MaxToolRoundsError"] == "APIError"
    # ... and a sibling hanging after a "└──" child is a drawing error
    with pytest.raises(AssertionError, match="APIError drawn"):
        parse_tree(["LlamaClientError", "└── APIError", "├── MaxToolRoundsError"])


def test_errors_docstring_tree_is_the_class_hierarchy() -> None:
    assert parse_tree(_docstring_tree()) == _real_parents()


def test_readme_tree_is_the_class_hierarchy() -> None:
    assert parse_tree(_readme_tree()) == _real_parents()
