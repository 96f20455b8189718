"""A call, described once and without I/O: what to send, to which provider(s), how to read
the answer.

A resource builds a :class:`Call` (with :func:`chat_call` or :func:`get_call`) and hands it to
its client's one verb, ``_request``, bound once in the resource's ``__init__``. The client
plans the call (:meth:`~llama_client._base_client._BaseClient._plan`: validation, routing,
the request for each provider it may go to, all before any I/O), sends it with fallback, and
reads the answer as the call says (:meth:`Call.read`, or a stream, or an
:class:`~llama_client.APIResponse` around either).

The type parameter ``R`` is what the verb returns for the call; it only guides the type
checker (the resource that builds a call names it).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import cache
from typing import TYPE_CHECKING, Any, Generic, TypeVar, cast

from pydantic import BaseModel

from ._response import completion_as_sent, parse_json, parse_model
from .errors import InvalidRequestError

if TYPE_CHECKING:
    import httpx

    from ._tool_calls import ToolCallPolicy
    from .providers._endpoint import Endpoint
    from .types.chat import ChatCompletion
    from .types.params import MessageParam

__all__ = ["Call", "Deferred", "chat_call", "get_call", "post_call", "server_call"]

R = TypeVar("R")


class Call(Generic[R]):
    """One API call. ``params`` is set for a chat completion (its body, from ``messages`` and
    ``params``, is built per provider when the call is planned); otherwise the call is
    ``method path`` without a body."""

    __slots__ = (
        "body",
        "cls",
        "messages",
        "method",
        "model",
        "options",
        "params",
        "path",
        "raw",
        "stream",
        "tool_policy",
        "want_usage",
    )

    def __init__(
        self,
        method: str,
        path: str,
        cls: type[BaseModel],
        model: str | None,
        messages: Sequence[MessageParam] | None,
        params: Mapping[str, Any] | None,
        options: Mapping[str, Any] | None,
        stream: bool,
        want_usage: bool,
        raw: bool,
        tool_policy: ToolCallPolicy | None,
        /,
    ) -> None:
        # Positional only: keyword arguments would cost half a microsecond per call.
        self.method = method
        self.path = path
        #: the model class of a non-streamed answer
        self.cls = cls
        #: the model asked for: picks the provider with a ``"provider:model"`` prefix. A chat
        #: call falls back to the client's model; another call without one goes to every
        #: provider of the client, in fallback order.
        self.model = model
        self.messages = messages
        #: a chat call's parameters, request options included (None: not a chat call)
        self.params = params
        #: request options (``extra_headers``, ``extra_query``, ``timeout``, ...) of other calls
        self.options = options
        self.stream = stream
        #: ask the provider to put usage into the stream (``stream_options``)
        self.want_usage = want_usage
        #: return an :class:`~llama_client.APIResponse` around the result
        self.raw = raw
        #: what to do with the tool calls of the reply (None without tools)
        self.tool_policy = tool_policy
        #: the JSON body of a call that is not a chat completion (:func:`post_call`)
        self.body: Mapping[str, Any] | None = None

    def read(self, endpoint: Endpoint, response: httpx.Response) -> Any:
        """The result of a non-streamed answer from ``endpoint``."""
        if self.cls is _RawJSON:
            return parse_json(response)
        if self.params is None:
            value = parse_model(response, self.cls)
        else:  # a chat answer: in the provider's shape, which it converts
            value = endpoint.provider.parse_completion(response, self.cls)
        if isinstance(value, _chat_completion()):
            value = endpoint.provider.normalize_completion(value)
            if self.tool_policy:
                value = self.tool_policy.apply(value)
            value._set_provider(endpoint.name)
        return value

    def read_as_sent(self, endpoint: Endpoint, response: httpx.Response) -> dict[str, Any] | None:
        """A non-streamed chat answer decoded as sent, when :meth:`read` would change nothing
        but its type (see :meth:`~llama_client.APIResponse.parse_as_sent`); else None."""
        if (
            self.params is None
            or self.tool_policy is not None
            or self.cls is not _chat_completion()
        ):
            return None
        data = completion_as_sent(response.content)
        if data is None or not endpoint.provider.answer_as_sent(data):
            return None
        return data

    def deferred(self) -> Deferred[R]:
        """This call, to be planned now and sent later (by a stream manager)."""
        return Deferred(self)


class Deferred(Generic[R]):
    """A call the verb plans at once but sends only when the opener it returns is called."""

    __slots__ = ("call",)

    def __init__(self, call: Call[R]) -> None:
        self.call = call


#: Marks a call whose answer is returned as decoded JSON, not validated into a model (the
#: caller reads shapes that differ by server, e.g. classification endpoints). A plain
#: sentinel: a model class defined here would load pydantic's model machinery with the package.
_RawJSON: type[BaseModel] = cast("type[BaseModel]", type("_RawJSON", (), {}))


@cache
def _chat_completion() -> type[ChatCompletion]:
    """The ChatCompletion class, imported on the first call rather than with the package:
    `import llama_client` defines no pydantic model (issue #9, import cost)."""
    from .types.chat import ChatCompletion

    return ChatCompletion


def chat_call(
    messages: Sequence[MessageParam],
    model: str | None,
    stream: bool,
    params: Mapping[str, Any],
    *,
    want_usage: bool = False,
    raw: bool = False,
) -> Call[Any]:
    """A chat completion call. Tool parameters are converted (and checked) here."""
    tool_policy: ToolCallPolicy | None = None
    if "tools" in params or "parse_tool_calls" in params:
        # Tool support is imported on first use, keeping `import llama_client` light.
        from ._tool_calls import prepare_tool_params

        params, tool_policy = prepare_tool_params(params)
    return Call(
        "POST",
        "/chat/completions",
        _chat_completion(),
        model,
        messages,
        params,
        None,
        stream,
        want_usage,
        raw,
        tool_policy,
    )


def get_call(
    path: str,
    cls: type[BaseModel],
    options: Mapping[str, Any],
    *,
    model: str | None = None,
    raw: bool = False,
) -> Call[Any]:
    """A ``GET`` call; with ``model``, of ``path/<model>`` on the provider the model routes to."""
    if model is not None and (not model or not isinstance(model, str)):
        raise InvalidRequestError("model", "must be a non-empty string")
    return Call("GET", path, cls, model, None, None, options, False, False, raw, None)


def post_call(
    path: str,
    body: Mapping[str, Any],
    options: Mapping[str, Any],
    *,
    model: str,
    cls: type[BaseModel] | None = None,
    model_in_body: bool = True,
) -> Call[Any]:
    """A ``POST`` of a JSON ``body`` that is not a chat completion (``/completions``, a
    classification endpoint). ``model`` routes it like a chat call (``"provider:model"``,
    catalogue aliases) and, with ``model_in_body``, is written into the body as the id the
    provider serves. A ``path`` starting with ``/..`` is taken from the server root: a
    trailing ``/v1`` of the base URL is left out (vLLM's ``/classify``), any other base URL
    is the root itself (text-embeddings-inference at ``http://host:8080``). Without ``cls`` the answer is the decoded JSON, unvalidated."""
    if not model or not isinstance(model, str):
        raise InvalidRequestError("model", "must be a non-empty string")
    call: Call[Any] = Call(
        "POST", path, cls or _RawJSON, model, None, None, options, False, False, False, None
    )
    call.body = {**body, "model": model} if model_in_body else dict(body)
    return call


def server_call(path: str, cls: type[BaseModel], body: Mapping[str, Any]) -> Call[Any]:
    """A ``POST`` of ``body`` to ``path`` on the server's root (beside ``/v1``), to every
    provider of the client in fallback order: a self-hosted server's own endpoint such as
    vLLM's or llama.cpp's ``/tokenize``. The model, if any, is in ``body`` as it is."""
    call: Call[Any] = Call(
        "POST", "/.." + path, cls, None, None, None, {}, False, False, False, None
    )
    call.body = dict(body)
    return call
