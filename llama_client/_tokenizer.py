"""The Llama 3 tokenizer: tiktoken with Meta's ranks, loaded once on first use. No I/O but
reading the ranks file.

The ranks (``tokenizer.model``, 128,000 lines of ``base64(token) rank``) are under the Llama 3
Community License, so this package does not ship them: they come from Meta's ``llama-models``
wheel (``pip install 'llama-client[tokens]'``), or from a file named by
``LLAMA_TOKENIZER_MODEL`` (the same file is ``original/tokenizer.model`` in the Hugging Face
Llama 3.1 / 3.2 repositories). ``tiktoken`` and ``llama_models`` are imported here only, and
only when a count is first asked for.
"""

from __future__ import annotations

import os
import threading
from typing import TYPE_CHECKING

from .errors import InvalidRequestError

if TYPE_CHECKING:
    import tiktoken

__all__ = [
    "BOS",
    "CONTROL_TOKENS",
    "EXTRA_HINT",
    "NUM_BASE_TOKENS",
    "count",
    "count_plain",
    "encoding",
]

EXTRA_HINT = "pip install 'llama-client[tokens]'"

#: Meta's split pattern for Llama 3 (``llama3/tokenizer.py``; cl100k's).
PATTERN = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}"
    r"| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
)
NUM_BASE_TOKENS = 128000
BOS = "<|begin_of_text|>"


def _special_names() -> tuple[str, ...]:
    """The 256 special tokens in id order (128000...), named as in Hugging Face's
    ``tokenizer.json`` for Llama 3.1, which is what vLLM and llama.cpp read."""
    named = {
        0: "<|begin_of_text|>",
        1: "<|end_of_text|>",
        4: "<|finetune_right_pad_id|>",
        6: "<|start_header_id|>",
        7: "<|end_header_id|>",
        8: "<|eom_id|>",
        9: "<|eot_id|>",
        10: "<|python_tag|>",
    }
    names: list[str] = []
    reserved = 0
    for i in range(256):
        if i in named:
            names.append(named[i])
        else:
            names.append(f"<|reserved_special_token_{reserved}|>")
            reserved += 1
    return tuple(names)


#: Every control token's text. Servers read this text in message content as the token itself.
CONTROL_TOKENS: tuple[str, ...] = _special_names()

_lock = threading.Lock()
_encoding: tiktoken.Encoding | None = None


def _ranks_path() -> str:
    path = os.environ.get("LLAMA_TOKENIZER_MODEL")
    if path:
        if not os.path.isfile(path):
            raise InvalidRequestError(
                "LLAMA_TOKENIZER_MODEL", f"names {path!r}, which is not a file"
            )
        return path
    try:
        from importlib.resources import files

        found = files("llama_models.llama3").joinpath("tokenizer.model")
    except ModuleNotFoundError:
        raise ImportError(
            "counting Llama tokens needs the Llama 3 tokenizer ranks from Meta's llama-models "
            f"package: {EXTRA_HINT} (or set LLAMA_TOKENIZER_MODEL to a tokenizer.model file)"
        ) from None
    if not found.is_file():
        raise ImportError(
            f"the installed llama-models package has no llama3/tokenizer.model; {EXTRA_HINT}"
        )
    return str(found)


def encoding() -> tiktoken.Encoding:
    """The Llama 3 encoding, built on the first call (about 0.1-0.4 s) and then reused."""
    enc = _encoding
    if enc is not None:
        return enc
    with _lock:
        if _encoding is None:
            _load()
        assert _encoding is not None
        return _encoding


def _load() -> None:
    global _encoding
    try:
        import tiktoken
        from tiktoken.load import load_tiktoken_bpe
    except ModuleNotFoundError:
        raise ImportError(f"counting Llama tokens needs tiktoken: {EXTRA_HINT}") from None
    path = _ranks_path()
    ranks = load_tiktoken_bpe(path)
    if len(ranks) != NUM_BASE_TOKENS:
        raise ImportError(
            f"{path} holds {len(ranks)} ranks, not the {NUM_BASE_TOKENS} of the Llama 3 tokenizer"
        )
    _encoding = tiktoken.Encoding(
        name="llama3",
        pat_str=PATTERN,
        mergeable_ranks=ranks,
        special_tokens={name: NUM_BASE_TOKENS + i for i, name in enumerate(CONTROL_TOKENS)},
    )


def count(text: str) -> int:
    """Tokens of ``text`` as a server counts a rendered prompt: control-token text (``<|eot_id|>``)
    is the control token."""
    return len(encoding().encode(text, allowed_special="all"))


def count_plain(text: str) -> int:
    """Tokens of ``text`` as ordinary text (control-token text counted as its characters): how
    a model's own output is counted."""
    return len(encoding().encode_ordinary(text))
