"""Canonical aliases on self-hosted servers: which served model an alias means. No I/O.

A self-hosted server (vLLM, llama.cpp, Ollama, TGI, any OpenAI-compatible server) serves the
ids it was started with, not the catalogue's aliases: ``llama-3.1-8b-instruct`` is
``meta-llama/Llama-3.1-8B-Instruct`` on vLLM, ``llama3.1:8b`` on Ollama and
``/models/Meta-Llama-3.1-8B-Instruct-Q4_K_M.gguf`` on llama.cpp. The client fetches the
server's ``/v1/models`` once (see ``AsyncLlamaClient._send``) and :func:`match_served` picks
the served id here.

Only a canonical alias is resolved (:func:`is_alias`); any other id is sent as it is, without
a listing. An id the server lists verbatim is never rewritten.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import httpx

__all__ = ["PendingAlias", "is_alias", "match_served"]

# Trailing parts naming a file format or quantisation, not the model: "-Q4_K_M", ".f16",
# "-GGUF", "-AWQ", "-bf16"... Removed repeatedly ("-Instruct-GGUF-Q8_0").
_QUANT = re.compile(
    r"[-._:](?:i?q\d\w*|[fb]f?\d+|fp\d+|int\d+|awq|gptq|gguf|exl2|mlx|\d+bit)$", re.IGNORECASE
)
_SEPARATORS = re.compile(r"[^a-z0-9]")
#: A served file name longer than this names no catalogue model (theirs are under 100
#: characters); the loose comparison skips it, so a hostile listing costs linear time.
_MAX_KEYED_NAME = 256
#: The key of a name too long to compare: never equal to a real key (those are [a-z0-9]).
_UNKEYED = "\x00"


_aliases: frozenset[str] | None = None


def is_alias(model: str) -> bool:
    """Whether ``model`` is one of the catalogue's canonical aliases (exactly)."""
    global _aliases
    if _aliases is None:
        from .providers._catalog import ALIASES  # the catalogue loads on first use

        _aliases = frozenset(ALIASES)
    return model in _aliases


def _key(model: str) -> tuple[bool, str]:
    """A model name without its directory, file extension, quantisation suffix, ``Meta-``
    prefix, letter case or separators: ``/m/Meta-Llama-3.1-8B-Instruct-Q4_K_M.gguf`` →
    ``llama318binstruct``; first, whether it is an Ollama ``name:tag``, whose ``llama3.1:8b``
    is the instruct model and must not match the base model ``Llama-3.1-8B``."""
    name = model.strip().replace("\\", "/").rsplit("/", 1)[-1].lower()
    if len(name) > _MAX_KEYED_NAME:
        return False, _UNKEYED
    ollama = ":" in name and "instruct" not in name  # "llama3.1:8b-instruct-q4_0" says it
    if name.endswith(".gguf"):
        name = name[:-5]
    while True:
        shorter = _QUANT.sub("", name)
        if shorter == name:
            break
        name = shorter
    if name.startswith("meta-"):
        name = name[5:]
    return ollama, _SEPARATORS.sub("", name)


def _names(alias: str) -> tuple[list[str], list[str]]:
    """The names ``alias`` goes by: every one matched ignoring case, and those also matched
    loosely (:func:`_key`). The first list holds itself, its Hugging Face id (and the older
    ``Meta-Llama-3.1-...`` repository name) and every vendor id in the catalogue; the second
    leaves out vendor ids other than Ollama's, since some (Cerebras ``llama3.1-8b``) read,
    loosely, as a base model's name (``Llama-3.1-8B``)."""
    from .providers._catalog import MODELS

    hf_id = MODELS.get("huggingface", {}).get(alias)
    loose = [alias]
    if isinstance(hf_id, str):
        loose.append(hf_id)
        if "/Llama-3.1-" in hf_id:
            loose.append(hf_id.replace("/Llama-3.1-", "/Meta-Llama-3.1-"))
    ollama = MODELS.get("ollama", {}).get(alias)
    if isinstance(ollama, str):
        loose.append(ollama)
    exact = list(loose)
    for table in MODELS.values():
        row = table.get(alias)
        if row is not None:
            exact.append(row if isinstance(row, str) else str(row["id"]))
    return exact, loose


def match_served(alias: str, served: Sequence[str]) -> str | None:
    """The id in ``served`` that ``alias`` names, or None.

    In order: ``alias`` itself, served verbatim; a served id equal to one of the alias's
    names (:func:`_names`: its Hugging Face ids, the catalogue's vendor ids) ignoring case;
    then one equal to its Hugging Face or Ollama name once both drop their directory,
    ``.gguf``, quantisation suffix, ``Meta-`` prefix, case and separators (:func:`_key`).
    The first served id in the server's order wins at the first level that matches.
    """
    if alias in served:
        return alias
    exact, loose = _names(alias)
    lowered = {name.lower() for name in exact}
    for model in served:
        if model.lower() in lowered:
            return model
    keys = {_key(name) for name in loose}
    for model in served:
        if _key(model) in keys:
            return model
    return None


class PendingAlias:
    """A planned request whose model is a canonical alias still to resolve against the
    server's listing; :meth:`resolve` builds the request once the listing is known."""

    __slots__ = ("alias", "build", "sent")

    def __init__(self, alias: str, sent: str, build: Callable[[str], httpx.Request]) -> None:
        self.alias = alias
        #: the model the provider would send without the listing (Ollama: its table's id)
        self.sent = sent
        self.build = build

    def resolve(self, served: Sequence[str]) -> str | None:
        """The served id to send, or None when nothing matches."""
        if self.sent in served:
            return self.sent
        return match_served(self.alias, served)
