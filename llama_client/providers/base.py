"""The :class:`Provider` base class: everything that differs between Llama hosts, as data.

A provider is a set of attributes (base URL, key variables, auth style, model table and
capability flags, each documented where it is declared below) and hooks the one request
path calls, none of which does I/O:

* :meth:`Provider.prepare` — body and headers for one call: model alias → vendor id,
  parameters renamed, reshaped, dropped or refused per the capability flags, message fields
  the vendor rejects cleaned;
* :meth:`Provider.normalize_completion` / :meth:`Provider.chunk_normalizer` — usage found
  wherever the vendor put it, finish reasons mapped to ``stop``/``length``/``tool_calls``
  (the raw value kept in ``raw_finish_reason``);
* :meth:`Provider.classify_error` — the vendor's error statuses and bodies mapped to the
  project's exception classes;
* :meth:`Provider.auth_headers` — how the key is sent.

A vendor whose API is not OpenAI's (AWS Bedrock Converse) also uses the wire hooks: the
request path and body (``prepare()`` setting :attr:`Prepared.path`), how each attempt is
signed (:meth:`Provider.request_signer`, run by the sender after the final body is built, so
a retry is signed afresh), how a response body is decoded (:meth:`Provider.parse_completion`)
and how a stream is framed (:meth:`Provider.stream_framer`: SSE, or another framing that
yields the same events). The transport, retries and fallback stay shared.

A plain OpenAI-compatible vendor is one data row::

    register(Provider(name="acme", base_url="https://api.acme.ai/v1", api_key_env=("ACME_API_KEY",)))

and a vendor with a real difference subclasses and overrides a hook.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Literal, Protocol, TypeVar

from typing_extensions import TypedDict, Unpack

from .._error_parsing import error_info
from .._response import parse_model
from .._secrets import mask_url
from .._sse import SSEDecoder
from ..errors import (
    APIStatusError,
    ContextLengthExceededError,
    InvalidRequestError,
    RateLimitError,
    RequestRefusedError,
    ToolUseFailedError,
    UnsupportedParameterError,
)

if TYPE_CHECKING:
    import httpx
    from pydantic import BaseModel

    from .._sse import ServerSentEvent
    from ..types.chat import ChatCompletion, ChatCompletionChunk, Usage

__all__ = [
    "DEFAULT_CONTEXT_WINDOW",
    "Framer",
    "ModelInfo",
    "Prepared",
    "Provider",
    "ProviderOptions",
    "Signer",
    "UnsupportedPolicy",
]

E = TypeVar("E", bound=APIStatusError)
M = TypeVar("M", bound="BaseModel")

#: Signs one attempt of a request in place (adds its auth headers); called by the sender
#: right before each attempt, after the body is final. Raises a llama_client error if it can't.
Signer = Callable[["httpx.Request"], None]


class Framer(Protocol):
    """Bytes of a streamed answer in, events out (:class:`~llama_client._sse.SSEDecoder` is
    one). Each event's ``data`` is an OpenAI chat completion chunk as JSON, ``"[DONE]"``, or
    the body of an error when ``event == "error"``."""

    def feed(self, chunk: bytes) -> list[ServerSentEvent]: ...

    def flush(self) -> list[ServerSentEvent]: ...


UnsupportedPolicy = Literal["warn", "drop", "error"]
AuthStyle = Literal["bearer", "api-key", "none"]
ResponseFormatStyle = Literal["openai", "tgi", "llamacpp"]

_EMPTY: Mapping[str, Any] = MappingProxyType({})

#: The context window of every Llama 3.1+ model, unless a vendor serves it with less.
DEFAULT_CONTEXT_WINDOW = 131072

#: Finish reasons vendors send instead of the OpenAI words.
_FINISH_REASONS: Mapping[str, str] = {
    "eos": "stop",  # Together
    "eos_token": "stop",  # TGI generate API, older TGI chat
    "stop_sequence": "stop",  # TGI, Bedrock
    "end_turn": "stop",  # Bedrock
    "max_tokens": "length",  # Bedrock
    "model_length": "length",
    "tool_use": "tool_calls",  # Bedrock
    "function_call": "tool_calls",  # legacy OpenAI
}

#: Keys an OpenAI chat message may carry; vendors with strict validation reject the rest.
OPENAI_MESSAGE_KEYS = frozenset({"role", "content", "name", "tool_calls", "tool_call_id"})
#: Request parameters that are vendor extras (not OpenAI's).
VENDOR_EXTRAS = frozenset({"top_k", "min_p", "repetition_penalty"})


@dataclass(frozen=True)
class ModelInfo:
    """One row of the model catalogue: a canonical alias as one provider serves it."""

    alias: str
    provider: str
    id: str
    context_window: int = DEFAULT_CONTEXT_WINDOW
    #: the most output tokens the vendor allows, when it caps output below the context
    max_output: int | None = None
    notes: str = ""
    #: where ``context_window`` / ``max_output`` come from, and when they were recorded
    source: str = ""
    as_of: str = ""
    #: False when the limits are not confirmed on the vendor's own pages (third-party
    #: metadata, tier-dependent limits)
    verified: bool = False


@dataclass
class Prepared:
    """What :meth:`Provider.prepare` decided for one call."""

    body: dict[str, Any]
    #: headers this call needs on top of the client's (e.g. Azure ``extra-parameters``)
    headers: dict[str, str] = field(default_factory=dict)
    #: parameters removed because the provider cannot honour them: (name, reason)
    dropped: list[tuple[str, str]] = field(default_factory=list)
    #: where the request goes, relative to the base URL, when not the call's own path (a
    #: vendor that puts the model in the path: Bedrock ``/model/<id>/converse``)
    path: str | None = None


class ProviderOptions(TypedDict, total=False):
    """Keyword arguments of :class:`Provider` (each overrides the attribute of that name)."""

    name: str
    base_url: str | None
    base_url_env: tuple[str, ...]
    base_url_suffix: str
    api_key_env: tuple[str, ...]
    key_required: bool
    self_hosted: bool | None
    auth: AuthStyle
    default_headers: Mapping[str, str]
    default_query: Mapping[str, str]
    default_body: Mapping[str, object]
    models: Mapping[str, str | Mapping[str, Any]] | None
    notes: str
    semconv_name: str | None
    unsupported_params: frozenset[str]
    length_param: Literal["max_tokens", "max_completion_tokens"] | None
    tool_choice_values: frozenset[str] | None
    named_tool_choice: bool
    tool_choice_required: str
    logprobs_int: bool
    max_n: int | None
    max_top_logprobs: int | None
    stream_options: bool
    response_format_types: frozenset[str] | None
    response_format_style: ResponseFormatStyle
    no_stream_with: frozenset[str]
    exclusive_with_tools: frozenset[str]
    message_keys: frozenset[str] | None
    drop_null_message_fields: bool
    drop_empty_tool_calls: bool
    flatten_content: bool
    strip_tool_call_index: bool
    strip_name_except_user: bool
    retry_statuses: frozenset[int]
    rate_limit_statuses: frozenset[int]
    context_error_patterns: tuple[str, ...]


class Provider:
    """A Llama host. Configure by keyword (a data row) or by subclassing; then :func:`register`.

    Every attribute below is a default that a keyword argument of the same name overrides.
    """

    # -- identity and connection ------------------------------------------------------------

    #: registry name, used in ``LlamaClient(provider=...)`` and ``"name:model"`` strings
    name: str = "openai-compatible"
    #: default base URL (ending in the OpenAI ``/v1`` root); None = the user must give one
    base_url: str | None = None
    #: environment variables holding a base URL (or a host) for this provider, first set wins
    base_url_env: tuple[str, ...] = ()
    #: appended to a base URL taken from ``base_url_env`` when it does not already end so
    #: (e.g. Databricks ``DATABRICKS_HOST`` + ``/serving-endpoints``)
    base_url_suffix: str = ""
    #: environment variables holding the API key, first set wins
    api_key_env: tuple[str, ...] = ()
    #: whether a call without a key is refused before I/O (hosted vendors)
    key_required: bool = False
    #: a server the user runs (vLLM, llama.cpp, Ollama, TGI, any OpenAI-compatible server).
    #: Only these read ``LLAMA_BASE_URL`` and ``LLAMA_API_KEY`` and get an untranslated
    #: ``LLAMA_MODEL``; a hosted vendor takes only its own variables or arguments, so a local
    #: key or model name never goes to another company. None = decided from the data: a
    #: provider that requires no key and has no ``https://`` default URL is self-hosted.
    self_hosted: bool | None = None
    #: how the key is sent: ``Authorization: Bearer``, an ``api-key`` header, or not at all
    auth: AuthStyle = "bearer"
    #: headers every request to this provider carries
    default_headers: Mapping[str, str] = _EMPTY
    #: query parameters every request carries (Azure ``api-version``)
    default_query: Mapping[str, str] = _EMPTY
    #: body fields every chat call carries unless the caller sets them
    default_body: Mapping[str, object] = _EMPTY
    #: canonical alias → vendor model id (a string, or a dict with ``id``, ``context_window``,
    #: ``max_output``, ``notes``). None = the built-in catalogue's table for :attr:`name`; a
    #: provider with no table (self-hosted servers) passes every model id through unchanged.
    models: Mapping[str, str | Mapping[str, Any]] | None = None
    #: one line for the generated provider table
    notes: str = ""
    #: the OpenTelemetry GenAI ``gen_ai.provider.name`` of this host where the conventions
    #: name it (``"aws.bedrock"``, ``"azure.ai.inference"``); None = :attr:`name`
    semconv_name: str | None = None

    # -- request capabilities -----------------------------------------------------------------

    #: body parameters the vendor rejects or silently ignores; handled per ``unsupported=``
    unsupported_params: frozenset[str] = frozenset()
    #: the vendor's word for the output-length limit; the other spelling is renamed to it.
    #: None = send whichever the caller used
    length_param: Literal["max_tokens", "max_completion_tokens"] | None = None
    #: string ``tool_choice`` values the vendor accepts (None = all of none/auto/required)
    tool_choice_values: frozenset[str] | None = None
    #: whether the named form ``{"type": "function", "function": {"name": ...}}`` works
    named_tool_choice: bool = True
    #: the vendor's word for ``tool_choice="required"`` (Fireworks historically: ``"any"``)
    tool_choice_required: str = "required"
    #: ``logprobs`` is a count of top tokens (Together, Fireworks) instead of a bool
    logprobs_int: bool = False
    #: the largest ``n`` the vendor serves (None = no limit)
    max_n: int | None = None
    #: the largest ``top_logprobs`` the vendor accepts, where it is documented and fixed
    #: (None = the server decides: vLLM's limit is its ``--max-logprobs`` flag)
    max_top_logprobs: int | None = None
    #: whether ``stream_options`` (``include_usage``) is accepted; when False it is never
    #: added automatically and a caller's is handled per ``unsupported=``
    stream_options: bool = True
    #: ``response_format`` types the vendor accepts (None = any)
    response_format_types: frozenset[str] | None = None
    #: how a JSON-schema ``response_format`` is spelled: OpenAI's ``json_schema``, TGI's
    #: ``{"type": "json", "value": schema}`` or llama.cpp's ``{"type": "json_object", "schema": ...}``
    response_format_style: ResponseFormatStyle = "openai"
    #: parameters the vendor refuses on a streamed call (Groq: ``response_format``)
    no_stream_with: frozenset[str] = frozenset()
    #: parameters the vendor refuses together with ``tools`` (TGI: ``response_format``)
    exclusive_with_tools: frozenset[str] = frozenset()

    # -- message cleaning ---------------------------------------------------------------------

    #: message keys the vendor accepts; others (``reasoning_content``, vLLM extras) are removed.
    #: None = send messages as given
    message_keys: frozenset[str] | None = None
    #: remove null-valued keys from messages (Groq rejects ``"name": null`` and the like)
    drop_null_message_fields: bool = False
    #: remove ``tool_calls: []`` from assistant messages (Together rejects it)
    drop_empty_tool_calls: bool = False
    #: send a list of text parts as one string (SambaNova, Azure)
    flatten_content: bool = False
    #: remove ``index`` from replayed assistant ``tool_calls`` (Azure 422s on it)
    strip_tool_call_index: bool = False
    #: remove ``name`` from messages other than user messages (Databricks)
    strip_name_except_user: bool = False

    # -- errors -------------------------------------------------------------------------------

    #: statuses retried on top of 408/409/429/5xx (Groq 498: flex capacity exceeded)
    retry_statuses: frozenset[int] = frozenset()
    #: statuses that mean "rate limited" on top of 429 (Groq 498)
    rate_limit_statuses: frozenset[int] = frozenset()
    #: lower-case fragments of this vendor's context-overflow messages, on top of the
    #: patterns every provider shares (vLLM, llama.cpp, TGI, OpenAI style)
    context_error_patterns: tuple[str, ...] = ()

    def __init__(self, **options: Unpack[ProviderOptions]) -> None:
        for key, value in options.items():
            if not hasattr(type(self), key) or key.startswith("_"):
                raise TypeError(f"Provider() got an unexpected keyword argument {key!r}")
            setattr(self, key, value)
        if not isinstance(self.name, str) or not self.name or ":" in self.name:
            raise ValueError(
                f"provider name must be a non-empty string without ':', got {self.name!r}"
            )
        self._table: dict[str, ModelInfo] | None = None
        self._by_id: dict[str, ModelInfo] = {}  # vendor id → row, built with the table

    def replace(self, **options: Unpack[ProviderOptions]) -> Provider:
        """A copy with some attributes changed (e.g. a base URL for a self-hosted NIM)."""
        clone = copy.copy(self)
        for key, value in options.items():
            if not hasattr(type(self), key) or key.startswith("_"):
                raise TypeError(f"replace() got an unexpected keyword argument {key!r}")
            setattr(clone, key, value)
        clone._table = None
        return clone

    def __repr__(self) -> str:
        return f"<Provider {self.name!r} {mask_url(self.base_url or '(base URL required)')}>"

    # -- connection -----------------------------------------------------------------------------

    def is_self_hosted(self) -> bool:
        """Whether this provider is a server the user runs (see :attr:`self_hosted`)."""
        if self.self_hosted is not None:
            return bool(self.self_hosted)
        return not self.key_required and not (self.base_url or "").startswith("https://")

    def requires_key(self, base_url: str) -> bool:
        """Whether a call to ``base_url`` without a key should be refused before I/O."""
        return self.key_required

    def auth_headers(self, api_key: str | None, base_url: str) -> dict[str, str]:
        """The headers that carry ``api_key`` (never logged)."""
        if not api_key or self.auth == "none":
            return {}
        if self.auth == "api-key":
            return {"api-key": api_key}
        return {"Authorization": f"Bearer {api_key}"}

    def default_base_url(self, env: Mapping[str, str]) -> str | None:
        """The base URL when neither ``base_url=`` nor a base-URL variable gives one (a
        vendor whose address depends on configuration, like a region, computes it)."""
        return self.base_url

    def request_signer(
        self, api_key: str | None, base_url: str, env: Mapping[str, str]
    ) -> Signer | None:
        """How each attempt of a request is signed, resolved once per client endpoint (None:
        the key headers of :meth:`auth_headers` are all the auth there is)."""
        return None

    # -- models ---------------------------------------------------------------------------------

    def model_table(self) -> dict[str, ModelInfo]:
        """Canonical alias → :class:`ModelInfo` for this provider (empty = passes ids through)."""
        if self._table is None:
            rows = self.models
            if rows is None:
                from ._catalog import MODELS

                rows = MODELS.get(self.name, {})
            from ._catalog import SOURCES

            origin = SOURCES.get(self.name, {}) if self.models is None else {}
            table: dict[str, ModelInfo] = {}
            for alias, row in rows.items():
                if isinstance(row, str):
                    row = {"id": row}
                info = {**origin, **row}
                table[alias] = ModelInfo(
                    alias,
                    self.name,
                    str(info["id"]),
                    context_window=int(info.get("context_window", DEFAULT_CONTEXT_WINDOW)),
                    max_output=info.get("max_output"),
                    notes=str(info.get("notes", "")),
                    source=str(info.get("source", "")),
                    as_of=str(info.get("as_of", "")),
                    verified=bool(info.get("verified", False)),
                )
            self._table = table
            self._by_id = {info.id: info for info in table.values()}
        return self._table

    def model_info(self, model: str, *, ignore_case: bool = False) -> ModelInfo | None:
        """The catalogue row ``model`` names on this provider: a canonical alias or this
        vendor's own id (in any letter case with ``ignore_case``). None for any other id."""
        table = self.model_table()
        info = table.get(model) or self._by_id.get(model)
        if info is None and ignore_case:
            lowered = model.lower()
            info = next((row for row in table.values() if row.id.lower() == lowered), None)
        return info

    def resolve_model(self, model: str) -> str:
        """The vendor id for ``model``: a catalogue alias is translated, any other id passes
        through; a canonical alias this vendor does not offer is refused before I/O."""
        table = self.model_table()
        info = table.get(model)
        if info is not None:
            return info.id
        if table and model not in self._by_id:
            from ._catalog import ALIASES

            if model in ALIASES:
                raise InvalidRequestError(
                    "model",
                    f"provider {self.name!r} does not offer {model!r}; it offers: "
                    + ", ".join(sorted(table)),
                )
        return model

    # -- request --------------------------------------------------------------------------------

    def prepare(
        self,
        body: Mapping[str, Any],
        *,
        stream: bool,
        want_usage: bool = False,
        unsupported: UnsupportedPolicy = "warn",
    ) -> Prepared:
        """Turn a validated OpenAI-style chat body into what this vendor accepts.

        ``want_usage`` asks for the streamed usage chunk where the vendor accepts
        ``stream_options``. A parameter the vendor cannot honour raises
        :class:`UnsupportedParameterError` with ``unsupported="error"``; otherwise it is
        removed and listed in :attr:`Prepared.dropped`.
        """
        out = Prepared(dict(body))
        b = out.body

        def refuse(param: str, reason: str) -> None:
            if unsupported == "error":
                raise UnsupportedParameterError(self.name, param, reason)
            b.pop(param, None)
            out.dropped.append((param, reason))

        b["model"] = self.resolve_model(b["model"])
        for key, value in self.default_body.items():
            b.setdefault(key, value)
        for param in self.unsupported_params:
            if param in b:
                refuse(param, "is not supported")
        if self.max_n is not None and b.get("n", 1) > self.max_n:
            refuse("n", f"must be at most {self.max_n}")
        cap, top = self.max_top_logprobs, b.get("top_logprobs")
        if cap is not None and isinstance(top, int) and top > cap:
            raise RequestRefusedError(
                "top_logprobs", f"must be at most {cap} for provider {self.name!r}"
            )
        self._map_length(b)
        if self.logprobs_int and "logprobs" in b:
            top = b.pop("top_logprobs", None)
            if b["logprobs"]:
                b["logprobs"] = top or 1
            else:
                del b["logprobs"]
        if "tool_choice" in b:
            self._map_tool_choice(b, refuse)
        if "response_format" in b:
            self._map_response_format(b, refuse)
        for param in self.exclusive_with_tools:
            if param in b and b.get("tools"):
                refuse(param, "cannot be combined with tools")
        if stream:
            for param in self.no_stream_with:
                if param in b:
                    refuse(param, "cannot be used with stream=True")
            if "stream_options" in b:
                if not self.stream_options:
                    refuse("stream_options", "is not accepted")
            elif want_usage and self.stream_options:
                b["stream_options"] = {"include_usage": True}
        if self._cleans_messages():
            b["messages"] = [self.clean_message(m) for m in b["messages"]]
        return out

    def _map_length(self, b: dict[str, Any]) -> None:
        target = self.length_param
        if target is None:
            return
        other = "max_completion_tokens" if target == "max_tokens" else "max_tokens"
        if other in b:
            if target in b and b[target] != b[other]:
                raise InvalidRequestError(
                    other,
                    f"give either max_tokens or max_completion_tokens, not both ({self.name!r})",
                )
            b[target] = b.pop(other)

    def _map_tool_choice(self, b: dict[str, Any], refuse: Callable[[str, str], None]) -> None:
        choice = b["tool_choice"]
        if isinstance(choice, str):
            allowed = self.tool_choice_values
            if allowed is not None and choice not in allowed:
                refuse(
                    "tool_choice", f"{choice!r} is not accepted (only {', '.join(sorted(allowed))})"
                )
            elif choice == "required":
                b["tool_choice"] = self.tool_choice_required
        elif not self.named_tool_choice:
            refuse("tool_choice", "the named (object) form is not supported")

    def _map_response_format(self, b: dict[str, Any], refuse: Callable[[str, str], None]) -> None:
        rf: Mapping[str, Any] = b["response_format"]
        kind = rf.get("type")
        allowed = self.response_format_types
        if allowed is not None and kind not in allowed:
            refuse(
                "response_format",
                f"type {kind!r} is not accepted (only {', '.join(sorted(allowed))})",
            )
            return
        style = self.response_format_style
        if style == "openai":
            return
        schema = rf.get("schema")
        if kind == "json_schema":
            spec = rf.get("json_schema")
            schema = spec.get("schema") if isinstance(spec, Mapping) else None
            if schema is None:
                raise InvalidRequestError(
                    "response_format",
                    'a json_schema response_format needs {"json_schema": {"schema": ...}}',
                )
        elif kind == "text":
            del b["response_format"]
            return
        elif kind != "json_object":
            refuse("response_format", f"type {kind!r} is not accepted")
            return
        if style == "tgi":
            b["response_format"] = {"type": "json", "value": schema or {"type": "object"}}
        elif schema is not None:  # llamacpp
            b["response_format"] = {"type": "json_object", "schema": schema}

    def _cleans_messages(self) -> bool:
        return (
            self.message_keys is not None
            or self.drop_null_message_fields
            or self.drop_empty_tool_calls
            or self.flatten_content
            or self.strip_tool_call_index
            or self.strip_name_except_user
        )

    def clean_message(self, message: Mapping[str, Any]) -> Mapping[str, Any]:
        """``message`` without what this vendor rejects; the caller's dict is never changed."""
        m = dict(message)
        if self.message_keys is not None:
            for key in [k for k in m if k not in self.message_keys]:
                del m[key]
        if self.drop_null_message_fields:
            for key in [k for k, v in m.items() if v is None and k != "content"]:
                del m[key]
            if m.get("content") is None and m.get("tool_calls"):
                del m["content"]
        if self.strip_name_except_user and m.get("role") != "user":
            m.pop("name", None)
        calls = m.get("tool_calls")
        if self.drop_empty_tool_calls and calls is not None and not calls:
            del m["tool_calls"]
        if self.strip_tool_call_index and calls:
            m["tool_calls"] = [
                {k: v for k, v in _as_dict(c).items() if k != "index"} for c in calls
            ]
        content = m.get("content")
        if self.flatten_content and isinstance(content, (list, tuple)):
            parts = [_as_dict(p) for p in content]
            if all(p.get("type") == "text" for p in parts):
                m["content"] = "".join(str(p.get("text", "")) for p in parts)
        return m

    # -- responses ------------------------------------------------------------------------------

    def parse_completion(self, response: httpx.Response, cls: type[M]) -> M:
        """A non-streamed chat answer read into ``cls`` (an OpenAI-style completion); a
        vendor with its own answer shape converts it here."""
        return parse_model(response, cls)

    def answer_as_sent(self, data: Mapping[str, Any]) -> bool:
        """Whether ``data``, a non-streamed chat answer already checked to be plainly in the
        OpenAI shape (``_response.completion_as_sent``), is what :meth:`parse_completion` and
        :meth:`normalize_completion` would make of it: the vendor's answers are OpenAI's,
        usage is in place and every finish reason is already OpenAI's. A subclass that reads
        or normalizes answers its own way is never taken at its word."""
        cls = type(self)
        if (
            cls.parse_completion is not Provider.parse_completion
            or cls.normalize_completion is not Provider.normalize_completion
            or (data.get("usage") is None and cls.extract_usage is not Provider.extract_usage)
        ):
            return False
        for choice in data["choices"]:
            reason = choice.get("finish_reason")
            if reason is not None and self.normalize_finish(reason, False) != reason:
                return False
        return True

    def stream_framer(self, request: httpx.Request) -> Framer:
        """A fresh framer for one streamed answer to ``request``: SSE, unless the vendor
        frames its stream otherwise."""
        return SSEDecoder()

    def extract_usage(self, extra: Mapping[str, Any] | None) -> Usage | None:
        """Usage the vendor put outside ``usage`` (Groq: ``x_groq.usage``)."""
        return None

    def check_chunk(self, chunk: ChatCompletionChunk) -> None:
        """Raise for a vendor's in-stream error marker that is not an ``{"error"}`` event."""

    def normalize_finish(self, reason: str | None, has_tool_calls: bool) -> str | None:
        """The OpenAI finish reason for a vendor's ``reason``."""
        if reason is None:
            return None
        mapped = _FINISH_REASONS.get(reason, reason)
        if mapped == "stop" and has_tool_calls:
            return "tool_calls"
        return mapped

    def normalize_completion(self, completion: ChatCompletion) -> ChatCompletion:
        """Usage and finish reasons of a non-streamed answer in the OpenAI places (in place)."""
        if completion.usage is None:
            completion.usage = self.extract_usage(completion.model_extra)
        for choice in completion.choices:
            raw = choice.finish_reason
            mapped = self.normalize_finish(raw, bool(choice.message.tool_calls))
            if mapped != raw:
                choice.finish_reason = mapped
                choice.raw_finish_reason = raw
        return completion

    def chunk_normalizer(self) -> Callable[[ChatCompletionChunk], ChatCompletionChunk]:
        """A function normalising the chunks of one stream, in order (it keeps state)."""
        with_tools: set[int] = set()

        def normalize(chunk: ChatCompletionChunk) -> ChatCompletionChunk:
            self.check_chunk(chunk)
            if chunk.usage is None and chunk.model_extra:
                chunk.usage = self.extract_usage(chunk.model_extra)
            for choice in chunk.choices:
                if choice.delta.tool_calls:
                    with_tools.add(choice.index)
                raw = choice.finish_reason
                if raw is not None:
                    mapped = self.normalize_finish(raw, choice.index in with_tools)
                    if mapped != raw:
                        choice.finish_reason = mapped
                        choice.raw_finish_reason = raw  # type: ignore[attr-defined]
            return chunk

        return normalize

    # -- errors ---------------------------------------------------------------------------------

    def classify_error(self, exc: APIStatusError) -> APIStatusError:
        """The project's exception for a vendor error response (``exc`` as classified by
        status and shared patterns). Returns ``exc`` itself when nothing changes."""
        status = exc.status_code
        body = exc.body
        err = body.get("error") if isinstance(body, dict) else None
        if exc.code == "tool_use_failed" and status == 400:
            new = _reclass(exc, ToolUseFailedError)
            if isinstance(err, dict) and isinstance(err.get("failed_generation"), str):
                new.failed_generation = err["failed_generation"]
            return new
        if status in (400, 413, 422) and self.context_error_patterns:
            text = error_info(body, status).message.lower()
            if any(p in text for p in self.context_error_patterns) and not isinstance(
                exc, ContextLengthExceededError
            ):
                return _reclass(exc, ContextLengthExceededError)
        if isinstance(exc, RateLimitError):
            return exc
        code = str(exc.code or "").lower()
        if status in self.rate_limit_statuses or (
            status == 413 and ("rate_limit" in code or "too large" in exc.message.lower())
        ):
            return _reclass(exc, RateLimitError)
        return exc


def _as_dict(value: object) -> dict[str, Any]:
    if isinstance(value, Mapping):
        return dict(value)
    dump = getattr(value, "model_dump", None)
    if callable(dump):
        result = dump(mode="json", exclude_none=True)
        if isinstance(result, dict):
            return result
    return {"value": value}


def _reclass(exc: APIStatusError, cls: type[E]) -> E:
    kwargs: dict[str, Any] = {
        "response": exc.response,
        "body": exc.body,
        "error_type": exc.error_type,
        "code": exc.code,
        "param": exc.param,
    }
    if issubclass(cls, RateLimitError):
        kwargs["retry_after"] = getattr(exc, "retry_after", None)
    new = cls(exc.message, **kwargs)
    new.__cause__ = exc.__cause__
    return new
