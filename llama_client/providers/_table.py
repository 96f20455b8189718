"""Markdown tables of the providers and the model catalogue, generated from the data."""

from __future__ import annotations

import re

from .base import DEFAULT_CONTEXT_WINDOW, Provider

__all__ = ["BEGIN", "END", "markdown", "update_document"]

BEGIN = "<!-- BEGIN GENERATED: python -m llama_client.providers --markdown -->"
END = "<!-- END GENERATED -->"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _builtin() -> list[Provider]:
    from ._builtin import builtin_providers

    return builtin_providers()


def provider_table(providers: list[Provider]) -> str:
    lines = [
        "| Provider | API key variable(s) | Default base URL | Notes |",
        "|---|---|---|---|",
    ]
    for p in providers:
        keys = ", ".join(f"`{k}`" for k in p.api_key_env) or "—"
        if not p.key_required and p.api_key_env:
            keys += " (optional)"
        url = f"`{p.base_url}`" if p.base_url else "required"
        if p.base_url_env:
            url += " (or " + ", ".join(f"`{v}`" for v in p.base_url_env) + ")"
        lines.append(f"| `{p.name}` | {keys} | {url} | {_cell(p.notes)} |")
    return "\n".join(lines)


def model_table(providers: list[Provider]) -> str:
    lines = [
        "| Alias | Provider | Model id | Context | Max output |",
        "|---|---|---|---|---|",
    ]
    from ._catalog import ALIASES

    for alias in ALIASES:
        for p in providers:
            info = p.model_table().get(alias)
            if info is None:
                continue
            mark = "" if info.verified else "*"
            context = (
                f"{info.context_window:,}{mark}"
                if info.context_window != DEFAULT_CONTEXT_WINDOW
                else ""
            )
            output = f"{info.max_output:,}{mark}" if info.max_output else ""
            note = f" ({info.notes})" if info.notes else ""
            lines.append(
                f"| `{alias}` | `{p.name}` | `{info.id}`{_cell(note)} | {context} | {output} |"
            )
    return "\n".join(lines)


def markdown() -> str:
    """Both tables for the built-in providers, between the generated-section markers."""
    providers = _builtin()
    return "\n".join(
        [
            BEGIN,
            "",
            "### Providers",
            "",
            provider_table(providers),
            "",
            "### Model catalogue",
            "",
            "Context is 131,072 tokens unless shown. Providers not listed here (vLLM, llama.cpp,"
            " TGI, any OpenAI-compatible server) pass every model id through unchanged."
            " Limits marked * are unverified (third-party metadata or tier-dependent; sources"
            " and dates in `providers/_catalog.py` `SOURCES`, and on each `ModelInfo`).",
            "",
            model_table(providers),
            "",
            END,
        ]
    )


def update_document(text: str) -> str:
    """``text`` with its generated section replaced by the current tables."""
    pattern = re.compile(re.escape(BEGIN) + ".*?" + re.escape(END), re.DOTALL)
    if not pattern.search(text):
        raise ValueError("the document has no generated section markers")
    return pattern.sub(lambda _: markdown(), text)
