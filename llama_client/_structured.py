"""``chat.completions.parse``: structured output validated into a pydantic model.

:class:`StructuredOutput` holds the decisions and does no I/O: the ``response_format`` to
send, how to read a reply, what to append to re-ask after an invalid one, and when to give
up. The sync and async ``parse`` methods only send the requests.

- A pydantic model class is sent as
  ``{"type": "json_schema", "json_schema": {"name", "schema", "strict": true}}`` (accepted by
  vLLM and llama-server, both grammar-constrained) and the reply validated into the model.
- A dict (``{"type": "json_object"}`` or a ready ``json_schema`` format) is sent as given;
  the reply must be JSON (an object, for ``json_object``) and ``parsed`` is the decoded value.
- An invalid reply is answered with the validation error and asked again, up to
  ``max_parse_retries`` times; then :class:`~llama_client.StructuredOutputError`. A reply cut
  off by the token limit raises :class:`~llama_client.StructuredOutputTruncatedError` at once.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from typing import Any, Generic, NoReturn, TypeVar, cast

from pydantic import BaseModel, ValidationError

from ._error_parsing import preview, validation_problems
from ._validation import normalize_messages
from .errors import InvalidRequestError, StructuredOutputError, StructuredOutputTruncatedError
from .types.chat import ChatCompletion, ParsedChatCompletion, Usage, add_usage

__all__ = ["StructuredOutput", "response_format_for"]

T = TypeVar("T")

_LANGUAGE = re.compile(r"[A-Za-z]*")
_MAX_ERRORS_SHOWN = 8


def response_format_for(model: type[BaseModel], *, strict: bool = True) -> dict[str, Any]:
    """The ``response_format`` that asks a server for JSON matching ``model``'s schema."""
    name = re.sub(r"[^A-Za-z0-9_-]", "_", model.__name__)[:64] or "response"
    try:
        schema = model.model_json_schema()
    except Exception as exc:  # pydantic raises several classes for unsupported types
        raise InvalidRequestError(
            "response_format", f"{model.__name__} has no JSON Schema: {exc}"
        ) from None
    return {
        "type": "json_schema",
        "json_schema": {"name": name, "schema": schema, "strict": strict},
    }


class StructuredOutput(Generic[T]):
    """The state of one ``parse()`` call: attempts so far and what to send next."""

    def __init__(
        self,
        response_format: type[BaseModel] | Mapping[str, Any],
        messages: Sequence[Any],
        max_parse_retries: int,
        params: Mapping[str, Any],
    ) -> None:
        if (
            isinstance(max_parse_retries, bool)
            or not isinstance(max_parse_retries, int)
            or max_parse_retries < 0
        ):
            raise InvalidRequestError(
                "max_parse_retries", f"must be a non-negative integer, got {max_parse_retries!r}"
            )
        if params.get("n") not in (None, 1):
            raise InvalidRequestError("n", "parse() makes one choice per request (n=1)")
        self.model: type[BaseModel] | None = None
        if isinstance(response_format, type) and issubclass(response_format, BaseModel):
            self.model = response_format
            self.response_format: dict[str, Any] = response_format_for(response_format)
            self._target = response_format.__name__
        elif isinstance(response_format, Mapping) and isinstance(response_format.get("type"), str):
            if response_format["type"] not in ("json_object", "json_schema"):
                raise InvalidRequestError(
                    "response_format",
                    'parse() needs a pydantic model, {"type": "json_object"} or a json_schema format',
                )
            self.response_format = dict(response_format)
            self._target = "JSON" if response_format["type"] == "json_schema" else "a JSON object"
        else:
            raise InvalidRequestError(
                "response_format",
                "must be a pydantic model class or a dict such as {'type': 'json_object'}",
            )
        self.messages: list[dict[str, Any]] = [dict(m) for m in normalize_messages(messages)]
        self.max_parse_retries = max_parse_retries
        self.attempts: list[str | None] = []
        self.errors: list[str] = []
        self.usage = Usage()

    def handle(self, completion: ChatCompletion) -> ParsedChatCompletion[T] | None:
        """The parsed result, or None to ask again (``messages`` extended); raises when done."""
        if completion.usage is not None:
            self.usage = add_usage(self.usage, completion.usage)
        if not completion.choices:
            self._fail(completion, None, "the reply has no choices")
        choice = completion.choices[0]
        text = choice.message.content
        if choice.finish_reason == "length":
            self.attempts.append(text)
            self.errors.append("cut off by the token limit")
            raise StructuredOutputTruncatedError(
                f"The reply was cut off by the token limit (finish_reason 'length') before the "
                f"{self._target} was complete; raise max_tokens. Reply so far: "
                f"{preview(text or '', 500)!r}",
                attempts=self.attempts,
                errors=self.errors,
                usage=self.usage,
                completion=completion,
            )
        if not text:
            self._retry(completion, text, "the reply has no content")
            return None
        try:
            parsed = self._parse(text)
        except ValidationError as exc:
            self._retry(completion, text, _describe(exc))
            return None
        except ValueError as exc:
            self._retry(completion, text, str(exc))
            return None
        except RecursionError:  # a model whose own validation recursed too deep
            self._retry(completion, text, "nested too deeply to validate")
            return None
        self.attempts.append(text)
        data = completion.model_dump()
        data["choices"][0]["message"]["parsed"] = parsed
        return cast("ParsedChatCompletion[T]", ParsedChatCompletion.model_validate(data))

    def _parse(self, text: str) -> object:
        text = _unfence(text)
        if self.model is not None:
            return self.model.model_validate_json(text)
        try:
            value = json.loads(text)
        except ValueError as exc:
            raise ValueError(f"not valid JSON: {exc}") from None
        except RecursionError:
            raise ValueError("not valid JSON: nested too deeply to decode") from None
        if self.response_format["type"] == "json_object" and not isinstance(value, dict):
            raise ValueError(f"expected a JSON object, got {type(value).__name__}")
        return value

    def _retry(self, completion: ChatCompletion, text: str | None, error: str) -> None:
        if len(self.attempts) >= self.max_parse_retries:
            self._fail(completion, text, error)
        self.attempts.append(text)
        self.errors.append(error)
        self.messages.append({"role": "assistant", "content": text or ""})
        self.messages.append(
            {
                "role": "user",
                "content": f"That reply cannot be used: {error}. Answer again with only "
                f"{'a JSON object matching the required schema' if self.model else self._target}, "
                "and no other text.",
            }
        )

    def _fail(self, completion: ChatCompletion, text: str | None, error: str) -> NoReturn:
        self.attempts.append(text)
        self.errors.append(error)
        raise StructuredOutputError(
            f"No valid {self._target} after {len(self.attempts)} attempt(s); last problem: "
            f"{error}. Last reply: {preview(text or '', 500)!r}",
            attempts=self.attempts,
            errors=self.errors,
            usage=self.usage,
            completion=completion,
        )


def _unfence(text: str) -> str:
    """The text inside a Markdown code fence around the whole reply, else the text.

    One pass over the text (a regular expression for this backtracked: cubic time on a fence
    followed by a run of whitespace, which JSON-mode models do write).
    """
    stripped = text.strip()
    if len(stripped) < 6 or not (stripped.startswith("```") and stripped.endswith("```")):
        return text
    inner = stripped[3:-3]
    language = _LANGUAGE.match(inner)
    return inner[language.end() if language else 0 :].strip()


def _describe(exc: ValidationError) -> str:
    return "; ".join(validation_problems(exc, limit=_MAX_ERRORS_SHOWN))
