"""Exceptions raised by llama_client.

The hierarchy::

    LlamaClientError
    ├── InvalidRequestError (also a ValueError)   bad input, raised before any network I/O
    │   ├── UnsupportedParameterError             the provider cannot honour a parameter
    │   └── RequestRefusedError                   refused before I/O: every server answers it 400 (*)
    ├── APIError                                  something went wrong talking to the server
    │   ├── APIConnectionError                    the request never got an HTTP answer
    │   │   └── APITimeoutError
    │   ├── APIStatusError                        a 4xx/5xx status (or 3xx: no redirect is followed)
    │   │   ├── BadRequestError (400)
    │   │   │   ├── ContextLengthExceededError    prompt (+ output) longer than the context
    │   │   │   └── ToolUseFailedError            the server rejected the model's tool call (Groq)
    │   │   ├── AuthenticationError (401)
    │   │   ├── PermissionDeniedError (403)
    │   │   ├── NotFoundError (404)
    │   │   │   └── ModelNotServedError           a canonical alias the server serves nothing for
    │   │   ├── ConflictError (409)
    │   │   ├── UnprocessableEntityError (422)
    │   │   ├── RateLimitError (429; also Groq 413 and 498)
    │   │   └── InternalServerError (>= 500)
    │   ├── StreamError                           an event stream broke or carried an error
    │   └── ResponseValidationError               a success status whose body is not what it should be
    │       ├── ToolCallArgumentsError            a tool call's arguments are not valid JSON / not
    │       │                                     valid for the tool's parameters
    │       └── TooManyToolCallsError             run_tools(): one reply asked for more than
    │                                             max_tool_calls calls; none was run
    ├── MaxToolRoundsError                        run_tools() hit max_rounds; carries the conversation
    ├── HookError                                 a hook raised (only with Hooks(raise_errors=True))
    ├── StructuredOutputError                     parse(): no valid reply after every retry
    │   └── StructuredOutputTruncatedError        parse(): the reply was cut off (finish_reason "length")
    └── UnsafeContentError                        a guarded call found unsafe input or output (.verdict)

(*) :class:`RequestRefusedError` is also a :class:`BadRequestError` (``status_code`` 400,
``response`` None), so ``except BadRequestError`` written for the openai SDK catches it.

Every message is built from what the server sent; API keys never appear in it: the
credentials of the request (its key, a ``base_url`` password) are redacted from any server text
a message repeats. ``body`` (and ``response``) keep the data exactly as it arrived.
:class:`UnsupportedParameterWarning` is the warning emitted when a parameter is dropped.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ._error_parsing import ErrorInfo as ErrorInfo
from ._error_parsing import error_info as error_info
from ._error_parsing import is_context_length_error as is_context_length_error
from ._error_parsing import preview as preview

if TYPE_CHECKING:
    import httpx

    from .types.chat import ChatCompletion, Usage
    from .types.ratelimit import RateLimitInfo

# ``ErrorInfo``, ``error_info``, ``is_context_length_error`` and ``preview`` live in
# ``_error_parsing`` (reading error bodies, no exception classes); imported here for
# ``status_error`` and for the old import paths.
__all__ = [
    "APIConnectionError",
    "APIError",
    "APIStatusError",
    "APITimeoutError",
    "AuthenticationError",
    "BadRequestError",
    "ConflictError",
    "ContextLengthExceededError",
    "HookError",
    "InternalServerError",
    "InvalidRequestError",
    "LlamaClientError",
    "MaxToolRoundsError",
    "ModelNotServedError",
    "NotFoundError",
    "PermissionDeniedError",
    "RateLimitError",
    "RequestRefusedError",
    "ResponseValidationError",
    "StreamError",
    "StructuredOutputError",
    "StructuredOutputTruncatedError",
    "TooManyToolCallsError",
    "ToolCallArgumentsError",
    "ToolUseFailedError",
    "UnprocessableEntityError",
    "UnsupportedParameterError",
    "UnsupportedParameterWarning",
]


class LlamaClientError(Exception):
    """Base class of every exception this package raises on purpose."""


class InvalidRequestError(LlamaClientError, ValueError):
    """The call's arguments are invalid; nothing was sent.

    ``field`` names the offending argument (``"messages[2].tool_call_id"``, ``"temperature"``).
    """

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        super().__init__(f"{field}: {message}")


class UnsupportedParameterError(InvalidRequestError):
    """The chosen provider cannot honour a parameter, and the client was built with
    ``unsupported="error"``. Nothing was sent. ``provider`` and ``field`` name them."""

    def __init__(self, provider: str, field: str, message: str) -> None:
        self.provider = provider
        super().__init__(field, f"{message} (provider {provider!r})")


class UnsupportedParameterWarning(UserWarning):
    """A parameter the provider cannot honour was dropped (``unsupported="warn"``)."""


class APIError(LlamaClientError):
    """A failure while talking to the server."""

    message: str
    request: httpx.Request | None
    body: object | None

    def __init__(
        self, message: str, *, request: httpx.Request | None = None, body: object | None = None
    ) -> None:
        if request is not None:
            # Server text repeated in the message (a 401 quoting the key back, an h11 error
            # quoting a header) never shows the request's own credentials. ``body`` stays the
            # data as it arrived.
            from ._redact import redact, request_secrets

            message = redact(message, request_secrets(request))
        super().__init__(message)
        self.message = message
        self.request = request
        self.body = body


class APIConnectionError(APIError):
    """No HTTP answer: the connection failed, was refused or dropped."""

    def __init__(
        self, message: str = "Connection error.", *, request: httpx.Request | None = None
    ) -> None:
        super().__init__(message, request=request)


class APITimeoutError(APIConnectionError):
    """The request timed out."""

    def __init__(
        self, message: str = "Request timed out.", *, request: httpx.Request | None = None
    ) -> None:
        super().__init__(message, request=request)


class APIStatusError(APIError):
    """The server answered with an error status (4xx or 5xx), or a redirect (3xx), which is
    never followed."""

    status_code: int
    response: httpx.Response
    request_id: str | None
    #: ``error.type`` from the body, when there is one (``"BadRequestError"``, ``"server_error"``...)
    error_type: str | None
    #: ``error.code`` from the body: an int (vLLM, llama.cpp), a string (OpenAI style) or None
    code: int | str | None
    #: ``error.param`` from the body, when there is one
    param: str | None

    def __init__(
        self,
        message: str,
        *,
        response: httpx.Response,
        body: object | None,
        error_type: str | None = None,
        code: int | str | None = None,
        param: str | None = None,
    ) -> None:
        super().__init__(
            message, request=response.request if _has_request(response) else None, body=body
        )
        self.response = response
        self.status_code = response.status_code
        self.request_id = response.headers.get("x-request-id") or response.headers.get("request-id")
        self.error_type = error_type
        self.code = code
        self.param = param

    @property
    def rate_limit(self) -> RateLimitInfo | None:
        """The ``x-ratelimit-*`` headers of the error response, parsed (None if absent)."""
        from ._ratelimit import parse_rate_limit

        return parse_rate_limit(self.response.headers)


class BadRequestError(APIStatusError):
    """HTTP 400."""


class RequestRefusedError(InvalidRequestError, BadRequestError):
    """A request no server accepts (empty ``messages``, a ``tool`` message without
    ``tool_call_id``, a ``tool_choice`` naming a tool not offered...), refused before I/O.

    It is an :class:`InvalidRequestError` (nothing was sent) and a :class:`BadRequestError`, so
    ``except BadRequestError`` written for the openai SDK catches it as it would catch the
    server's 400: ``status_code`` is 400, ``param`` is ``field``, and ``response``,
    ``request``, ``body``, ``request_id`` and ``rate_limit`` are None, since there was no
    exchange.
    """

    response: httpx.Response | None  # type: ignore[assignment]

    def __init__(self, field: str, message: str) -> None:
        text = f"{field}: {message}"
        Exception.__init__(self, text)  # no exchange to build an APIStatusError from
        self.field = field
        self.message = text
        self.request = None
        self.body = None
        self.response = None
        self.status_code = 400
        self.request_id = None
        self.error_type = "invalid_request_error"
        self.code = None
        self.param = field

    @property
    def rate_limit(self) -> RateLimitInfo | None:
        """Always None: nothing was sent."""
        return None


class ContextLengthExceededError(BadRequestError):
    """The prompt (or prompt plus requested output) does not fit the model's context window.

    Raised for the server's 400, or before any I/O by the pre-flight check
    (``check_context``): then ``prompt_tokens``, ``max_tokens`` and ``context_window`` carry
    the counts, and ``response``, ``request`` and ``body`` are None.
    """

    response: httpx.Response | None  # type: ignore[assignment]
    #: the counted prompt, the output asked for and the window (pre-flight only)
    prompt_tokens: int | None = None
    max_tokens: int | None = None
    context_window: int | None = None

    @classmethod
    def before_sending(
        cls, message: str, *, prompt_tokens: int, max_tokens: int | None, context_window: int
    ) -> ContextLengthExceededError:
        """The pre-flight's error: nothing was sent, so there is no exchange to show."""
        error = cls.__new__(cls)
        Exception.__init__(error, message)
        error.message = message
        error.request = None
        error.body = None
        error.response = None
        error.status_code = 400
        error.request_id = None
        error.error_type = "context_length_exceeded"
        error.code = None
        error.param = "messages"
        error.prompt_tokens = prompt_tokens
        error.max_tokens = max_tokens
        error.context_window = context_window
        return error

    @property
    def rate_limit(self) -> RateLimitInfo | None:
        """The ``x-ratelimit-*`` headers of the error response (None before sending)."""
        return None if self.response is None else super().rate_limit


class ToolUseFailedError(BadRequestError):
    """The server could not parse or validate the tool call the model wrote (Groq
    ``tool_use_failed``). ``failed_generation`` is the model's raw output, when sent."""

    failed_generation: str | None = None


class AuthenticationError(APIStatusError):
    """HTTP 401: missing or wrong API key."""


class PermissionDeniedError(APIStatusError):
    """HTTP 403."""


class NotFoundError(APIStatusError):
    """HTTP 404: unknown model or route."""


class ModelNotServedError(NotFoundError):
    """A canonical alias (``"llama-3.1-8b-instruct"``) matched none of the ids a self-hosted
    server lists at ``/v1/models``; the chat request was not sent.

    Raised after the listing was fetched, in place of the 404 the server would answer to the
    alias: ``status_code`` is 404, ``model`` the alias, ``served`` the ids the server lists,
    ``request`` and ``response`` None (the listing itself succeeded; the chat request was not
    sent).
    """

    response: httpx.Response | None  # type: ignore[assignment]

    def __init__(self, model: str, served: list[str], *, provider: str, base_url: str) -> None:
        listed = ", ".join(preview(s, 100) for s in served[:50]) + (
            " ..." if len(served) > 50 else ""
        )
        message = (
            f"model {model!r} is a canonical alias, and the {provider} server at {base_url} "
            f"serves no model it names; it serves: {listed or 'nothing'}. Pass one of those "
            "ids as model="
        )
        APIError.__init__(self, message)
        self.model = model
        self.served = served
        self.response = None
        self.status_code = 404
        self.request_id = None
        self.error_type = "model_not_found"
        self.code = None
        self.param = "model"

    @property
    def rate_limit(self) -> RateLimitInfo | None:
        """Always None: the error comes from the model listing, not a 404 response."""
        return None


class ConflictError(APIStatusError):
    """HTTP 409."""


class UnprocessableEntityError(APIStatusError):
    """HTTP 422."""


class RateLimitError(APIStatusError):
    """HTTP 429, or a vendor's equivalent (Groq 413 tokens-per-minute, Groq 498 capacity).

    ``retry_after`` is the server's requested wait in seconds, or None; ``rate_limit`` the
    parsed ``x-ratelimit-*`` headers.
    """

    retry_after: float | None

    def __init__(
        self,
        message: str,
        *,
        response: httpx.Response,
        body: object | None,
        error_type: str | None = None,
        code: int | str | None = None,
        param: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(
            message, response=response, body=body, error_type=error_type, code=code, param=param
        )
        self.retry_after = retry_after


class InternalServerError(APIStatusError):
    """HTTP 5xx."""


class StreamError(APIError):
    """An event stream carried an error event, or ended before it was complete."""


class ResponseValidationError(APIError):
    """A success status whose body is not the expected shape. ``body`` holds what arrived."""


class ToolCallArgumentsError(ResponseValidationError):
    """A tool call's arguments cannot be used: not a JSON object, or invalid for the tool.

    ``tool_name`` is the called tool, ``arguments`` the raw text as the server sent it and
    ``errors`` the individual problems (JSON syntax or schema validation), one line each.
    """

    def __init__(self, tool_name: str, arguments: str, errors: list[str]) -> None:
        shown = preview(arguments, 500) if arguments else "<empty>"
        super().__init__(
            f"Invalid arguments for tool {tool_name!r}: {'; '.join(errors)} (arguments: {shown})",
            body=arguments,
        )
        self.tool_name = tool_name
        self.arguments = arguments
        self.errors = errors


class TooManyToolCallsError(ResponseValidationError):
    """``run_tools``: one reply asked for more tool calls than ``max_tool_calls`` allows.

    None of them was run. ``count`` is how many the reply asked for, ``max_tool_calls`` the
    limit, ``messages`` the conversation before that reply (a valid history) and
    ``completion`` the reply itself.
    """

    def __init__(
        self,
        count: int,
        max_tool_calls: int,
        messages: list[dict[str, Any]],
        completion: ChatCompletion,
    ) -> None:
        super().__init__(
            f"The model asked for {count} tool calls in one reply; run_tools runs at most "
            f"{max_tool_calls} (max_tool_calls). None was run: the reply is in .completion and "
            "the conversation before it in .messages."
        )
        self.count = count
        self.max_tool_calls = max_tool_calls
        self.messages = messages
        self.completion = completion


class HookError(LlamaClientError):
    """A hook raised, and the client's hooks were built with ``raise_errors=True``: the
    hook's own exception is ``__cause__``. (By default a hook's exception is logged and the
    call goes on.)"""

    def __init__(self, hook: str, kind: str) -> None:
        super().__init__(f"hook {hook} raised on a {kind} event (see __cause__)")
        self.hook = hook
        self.kind = kind


class MaxToolRoundsError(LlamaClientError):
    """``run_tools`` made ``max_rounds`` requests and the model still asked for tools.

    ``messages`` is the conversation so far (a valid history: every tool call in it has its
    result), ``completion`` the last reply, whose tool calls were not run.
    """

    def __init__(
        self, max_rounds: int, messages: list[dict[str, Any]], completion: ChatCompletion
    ) -> None:
        super().__init__(
            f"The model still asked for tools after {max_rounds} round(s); the conversation so far "
            "is in .messages and the unanswered reply in .completion (raise max_rounds to allow more)."
        )
        self.max_rounds = max_rounds
        self.messages = messages
        self.completion = completion


class StructuredOutputError(LlamaClientError):
    """``parse()`` got no reply that validates against the requested format.

    ``attempts`` holds the raw text of every reply (None when a reply had no content),
    ``errors`` why each one was rejected, ``usage`` the token usage summed over all attempts
    and ``completion`` the last ChatCompletion.
    """

    def __init__(
        self,
        message: str,
        *,
        attempts: list[str | None],
        errors: list[str],
        usage: Usage,
        completion: ChatCompletion,
    ) -> None:
        super().__init__(message)
        self.attempts = attempts
        self.errors = errors
        self.usage = usage
        self.completion = completion


class StructuredOutputTruncatedError(StructuredOutputError):
    """The reply was cut off by the token limit (``finish_reason == "length"``); raise
    ``max_tokens`` (or shorten the prompt) rather than retrying."""


class UnsafeContentError(LlamaClientError):
    """A guarded client (``client.with_guard(..., on_unsafe="raise")``) found unsafe content.

    ``stage`` is ``"input"`` (the conversation, before the model's answer was released),
    ``"output"`` (the model's answer, or a streamed answer so far) or ``"tool"`` (a tool result
    Prompt Guard flagged). ``verdict`` is the :class:`~llama_client.types.safety.SafetyVerdict`
    (or, for ``"tool"``, the :class:`~llama_client.types.safety.ScanResult`) that decided, and
    ``completion`` the withheld answer of an output check (None otherwise).
    """

    def __init__(self, stage: str, verdict: Any, completion: Any = None) -> None:
        what = {"input": "the input", "output": "the model's answer", "tool": "a tool result"}
        codes = getattr(verdict, "codes", None)
        detail = f" ({', '.join(codes)})" if codes else ""
        if stage == "tool":
            detail = f" (score {getattr(verdict, 'score', 0.0):.2f})"
        super().__init__(f"Unsafe content in {what.get(stage, stage)}{detail}; it was withheld.")
        self.stage = stage
        self.verdict = verdict
        self.completion = completion


def _has_request(response: httpx.Response) -> bool:
    try:
        response.request  # noqa: B018 - raises RuntimeError when unset
    except RuntimeError:
        return False
    return True


_STATUS_CLASSES: dict[int, type[APIStatusError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    409: ConflictError,
    422: UnprocessableEntityError,
    429: RateLimitError,
}


def status_error(
    response: httpx.Response, body: object, *, retry_after: float | None = None
) -> APIStatusError:
    """Build the exception for an error response from its status and parsed body."""
    status = response.status_code
    info = error_info(body, status)
    message = f"Error code: {status} - {info.message}"
    if 300 <= status < 400:
        location = response.headers.get("location") or "<no Location header>"
        message = (
            f"Error code: {status} - the server redirects to {preview(location, 200)}; redirects "
            "are not followed (the request and its API key would go to another address): "
            "use the final address as base_url"
        )
    kwargs: dict[str, Any] = {
        "response": response,
        "body": body,
        "error_type": info.type,
        "code": info.code,
        "param": info.param,
    }
    cls: type[APIStatusError]
    if status in (400, 413, 422) and is_context_length_error(info):
        cls = ContextLengthExceededError
    elif status >= 500:
        cls = InternalServerError
    else:
        cls = _STATUS_CLASSES.get(status, APIStatusError)
    if cls is RateLimitError:
        return RateLimitError(message, retry_after=retry_after, **kwargs)
    return cls(message, **kwargs)
