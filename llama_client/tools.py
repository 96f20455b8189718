"""Tool definitions: from a typed function, a pydantic model or an OpenAI-style dict.

::

    from llama_client import tool

    @tool
    def get_weather(city: str, unit: Literal["celsius", "fahrenheit"] = "celsius") -> str:
        \"\"\"Current weather for a city.\"\"\"
        ...

The name is the function's, the description its docstring (a Google-style ``Args:`` section
gives the parameters' descriptions), and the JSON Schema of the parameters comes from the
type hints through pydantic: defaults, ``Literal``, ``Optional``, nested models and
``Annotated[..., Field(description=...)]`` all work. The decorated object is a :class:`Tool`
and still calls the function.

Built-in Llama tools (``brave_search``, ``wolfram_alpha``, ``code_interpreter``) are
:class:`Tool` objects without a handler: their calls come back typed and are never executed
by the SDK unless you attach a handler with :meth:`Tool.with_handler`.
"""

from __future__ import annotations

import inspect
import json
import re
import typing
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any, Generic, TypeAlias, TypeVar, overload

from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model
from typing_extensions import ParamSpec

from ._error_parsing import validation_problems
from ._json import text_default
from ._validation import shown
from .errors import InvalidRequestError, ToolCallArgumentsError
from .types.chat import FunctionCall

__all__ = ["Tool", "ToolLike", "ToolSet", "tool"]

P = ParamSpec("P")
R = TypeVar("R")

_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_ARGS_SECTION = re.compile(r"^\s*(Args|Arguments|Parameters)\s*:\s*$", re.IGNORECASE)
_SECTION = re.compile(r"^\s*[A-Z][A-Za-z ]*:\s*$")
_ARG_LINE = re.compile(r"^\s*\*{0,2}(\w+)\s*(?:\([^)]*\))?\s*:\s*(.*)$")
_RST_PARAM = re.compile(r"^\s*:param\s+(?:[^:]*\s)?(\w+)\s*:\s*(.*)$")


class Tool(Generic[P, R]):
    """A tool the model may call: ``name``, ``description``, JSON Schema ``parameters``.

    ``handler`` is the function that runs it (None for a definition only, such as a built-in
    Llama tool or a tool made from a dict); calling the Tool calls the handler.
    ``arguments_model`` is the pydantic model arguments are validated with (None for tools
    made from a dict: then only "is a JSON object" is checked).
    """

    __slots__ = (
        "_param",
        "arguments_model",
        "description",
        "handler",
        "name",
        "parameters",
        "strict",
    )

    def __init__(
        self,
        *,
        name: str,
        description: str | None = None,
        parameters: Mapping[str, Any] | None = None,
        handler: Callable[P, R] | None = None,
        arguments_model: type[BaseModel] | None = None,
        strict: bool | None = None,
    ) -> None:
        if not isinstance(name, str) or not _NAME.match(name):
            raise InvalidRequestError(
                "tools", f"tool name {shown(name)} must be 1-64 letters, digits, '_' or '-'"
            )
        if parameters is not None and not isinstance(parameters, Mapping):
            raise InvalidRequestError(
                f"tools[{name}].parameters", "must be a JSON Schema object (a dict)"
            )
        if description is not None and not isinstance(description, str):
            raise InvalidRequestError(f"tools[{name}].description", "must be a string")
        self.name = name
        self.description = description or None
        self.parameters: dict[str, Any] = (
            dict(parameters) if parameters is not None else {"type": "object", "properties": {}}
        )
        self.handler = handler
        self.arguments_model = arguments_model
        self.strict = strict
        self._param: dict[str, Any] | None = None

    # -- construction --------------------------------------------------------------------

    @classmethod
    def from_function(
        cls,
        fn: Callable[P, R],
        *,
        name: str | None = None,
        description: str | None = None,
        strict: bool | None = None,
    ) -> Tool[P, R]:
        """A tool that runs ``fn``; the schema comes from its signature and type hints."""
        if not callable(fn):
            raise InvalidRequestError("tools", f"{shown(fn)} is not callable")
        tool_name = name or str(getattr(fn, "__name__", ""))
        doc = inspect.getdoc(fn) or ""
        summary, arg_docs = _split_docstring(doc)
        model = _arguments_model(fn, tool_name)
        schema = _schema(model, tool_name)
        props = schema.get("properties")
        if isinstance(props, dict):
            for pname, text in arg_docs.items():
                prop = props.get(pname)
                if isinstance(prop, dict) and "description" not in prop:
                    prop["description"] = text
        return cls(
            name=tool_name,
            description=description if description is not None else summary or None,
            parameters=schema,
            handler=fn,
            arguments_model=model,
            strict=strict,
        )

    @classmethod
    def from_model(
        cls,
        model: type[BaseModel],
        *,
        name: str | None = None,
        description: str | None = None,
        strict: bool | None = None,
    ) -> Tool[..., Any]:
        """A definition-only tool whose arguments are the fields of a pydantic model.

        The name is the class name and the description its docstring unless given. Read a
        call's arguments back with ``model.model_validate_json(call.function.arguments)``.
        """
        if not (isinstance(model, type) and issubclass(model, BaseModel)):
            raise InvalidRequestError("tools", f"{shown(model)} is not a pydantic model class")
        tool_name = name or re.sub(r"[^A-Za-z0-9_-]", "_", model.__name__)
        doc = model.__doc__ if model.__doc__ != BaseModel.__doc__ else None
        return Tool(
            name=tool_name,
            description=description if description is not None else inspect.cleandoc(doc or ""),
            parameters=_schema(model, tool_name),
            arguments_model=model,
            strict=strict,
        )

    @classmethod
    def from_dict(cls, definition: Mapping[str, Any]) -> Tool[..., Any]:
        """A definition-only tool from ``{"type": "function", "function": {...}}``.

        The flat form ``{"name": ..., "description": ..., "parameters": ...}`` is accepted too.
        The dict is sent as given.
        """
        if not isinstance(definition, Mapping):
            raise InvalidRequestError("tools", "a tool definition must be a dict")
        fn = definition.get("function") if "function" in definition else definition
        kind = definition.get("type", "function")
        if kind != "function" or not isinstance(fn, Mapping):
            raise InvalidRequestError(
                "tools",
                'a tool dict must be {"type": "function", "function": {"name": ..., '
                '"parameters": {...}}}',
            )
        out: Tool[..., Any] = Tool(
            name=fn.get("name", ""),  # checked by __init__
            description=fn.get("description"),
            parameters=fn.get("parameters"),
            strict=fn.get("strict"),
        )
        param: dict[str, Any] = (
            dict(definition) if "function" in definition else {"type": "function"}
        )
        param["function"] = dict(fn)
        param.setdefault("type", "function")
        out._param = param
        return out

    def with_handler(self, handler: Callable[..., Any]) -> Tool[..., Any]:
        """The same definition, run by ``handler(**arguments)`` in ``run_tools``."""
        if not callable(handler):
            raise InvalidRequestError(f"tools[{self.name}]", "the handler must be callable")
        out: Tool[..., Any] = Tool(
            name=self.name,
            description=self.description,
            parameters=self.parameters,
            handler=handler,
            arguments_model=self.arguments_model,
            strict=self.strict,
        )
        out._param = self._param
        return out

    # -- use -----------------------------------------------------------------------------

    def to_param(self) -> dict[str, Any]:
        """The OpenAI-style definition sent in ``tools``."""
        if self._param is None:
            fn: dict[str, Any] = {"name": self.name}
            if self.description:
                fn["description"] = self.description
            fn["parameters"] = self.parameters
            if self.strict is not None:
                fn["strict"] = self.strict
            self._param = {"type": "function", "function": fn}
        return self._param

    @property
    def is_async(self) -> bool:
        """True when the handler is a coroutine function."""
        return self.handler is not None and _is_coroutine_function(self.handler)

    def validate_arguments(self, arguments: str | Mapping[str, Any]) -> dict[str, Any]:
        """The keyword arguments for the handler, checked against the tool's schema.

        ``arguments`` is the JSON text of a call (``""`` means no arguments) or a dict.
        Raises :class:`~llama_client.ToolCallArgumentsError` listing every problem.
        """
        if isinstance(arguments, str):
            raw = arguments
            value = FunctionCall(name=self.name, arguments=arguments).parsed_arguments()
        elif isinstance(arguments, Mapping):
            value = dict(arguments)
            try:
                raw = json.dumps(value, ensure_ascii=False, default=text_default)
            except RecursionError:
                raise ToolCallArgumentsError(
                    self.name, "<not shown>", ["nested too deeply to encode"]
                ) from None
            except ValueError as exc:  # a circular reference
                raise ToolCallArgumentsError(self.name, "<not shown>", [str(exc)]) from None
        else:
            raise ToolCallArgumentsError(
                self.name,
                repr(arguments),
                [f"expected a JSON object, got {type(arguments).__name__}"],
            )
        if self.arguments_model is None:
            return value
        try:
            validated = self.arguments_model.model_validate(value)
        except ValidationError as exc:
            raise ToolCallArgumentsError(self.name, raw, _error_lines(exc)) from None
        except RecursionError:
            raise ToolCallArgumentsError(
                self.name, raw, ["nested too deeply to validate"]
            ) from None
        return {field: getattr(validated, field) for field in type(validated).model_fields}

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R:
        if self.handler is None:
            raise TypeError(f"tool {self.name!r} has no handler; attach one with with_handler()")
        return self.handler(*args, **kwargs)

    def __repr__(self) -> str:
        kind = "handler" if self.handler is not None else "definition only"
        return f"Tool(name={self.name!r}, {kind})"


@overload
def tool(fn: Callable[P, R], /) -> Tool[P, R]: ...
@overload
def tool(
    *, name: str | None = None, description: str | None = None, strict: bool | None = None
) -> Callable[[Callable[P, R]], Tool[P, R]]: ...
def tool(
    fn: Callable[P, R] | None = None,
    /,
    *,
    name: str | None = None,
    description: str | None = None,
    strict: bool | None = None,
) -> Tool[P, R] | Callable[[Callable[P, R]], Tool[P, R]]:
    """Turn a typed function into a :class:`Tool`: ``@tool`` or ``@tool(name=..., strict=True)``.

    ``strict=True`` asks servers that support it (vLLM) to constrain the arguments to the
    schema.
    """
    if fn is not None:
        return Tool.from_function(fn, name=name, description=description, strict=strict)

    def decorate(f: Callable[P, R]) -> Tool[P, R]:
        return Tool.from_function(f, name=name, description=description, strict=strict)

    return decorate


#: What ``tools=[...]`` accepts: a :class:`Tool` (``@tool``), a plain typed function, a
#: pydantic model class (definition only) or an OpenAI-style dict.
ToolLike: TypeAlias = Tool[..., Any] | Callable[..., Any] | type[BaseModel] | Mapping[str, Any]


class ToolSet:
    """The tools of one request, by name, converted from whatever the caller passed."""

    __slots__ = ("_params", "_tools")

    def __init__(self, tools: Iterable[Tool[..., Any]]) -> None:
        self._tools: dict[str, Tool[..., Any]] = {}
        for t in tools:
            if t.name in self._tools:
                raise InvalidRequestError("tools", f"two tools are named {t.name!r}")
            self._tools[t.name] = t
        self._params: list[dict[str, Any]] | None = None

    @classmethod
    def from_param(cls, tools: object) -> ToolSet:
        """Convert ``tools=[...]``: Tool objects, functions, pydantic model classes, dicts."""
        if isinstance(tools, ToolSet):
            return tools
        if isinstance(tools, (str, bytes, Mapping)) or not isinstance(tools, Iterable):
            raise InvalidRequestError("tools", "must be a list of tools")
        return cls(_as_tool(item, i) for i, item in enumerate(tools))

    def params(self) -> list[dict[str, Any]]:
        """The ``tools`` list of the request body."""
        if self._params is None:
            self._params = [t.to_param() for t in self._tools.values()]
        return self._params

    @property
    def names(self) -> frozenset[str]:
        return frozenset(self._tools)

    def get(self, name: str) -> Tool[..., Any] | None:
        return self._tools.get(name)

    def __iter__(self) -> Iterator[Tool[..., Any]]:
        return iter(self._tools.values())

    def __len__(self) -> int:
        return len(self._tools)

    def __contains__(self, name: object) -> bool:
        return name in self._tools


def _as_tool(item: object, index: int) -> Tool[..., Any]:
    try:
        if isinstance(item, Tool):
            return item
        if isinstance(item, type) and issubclass(item, BaseModel):
            return Tool.from_model(item)
        if isinstance(item, Mapping):
            return Tool.from_dict(item)
        if callable(item):
            return Tool.from_function(item)
    except InvalidRequestError as exc:
        raise InvalidRequestError(f"tools[{index}]", str(exc)) from None
    raise InvalidRequestError(
        f"tools[{index}]",
        f"expected a Tool, a function, a pydantic model class or a dict, got {type(item).__name__}",
    )


# --------------------------------------------------------------------------- schema building


def _is_coroutine_function(fn: object) -> bool:
    return inspect.iscoroutinefunction(fn) or inspect.iscoroutinefunction(
        getattr(fn, "__call__", None)  # noqa: B004 - callable objects with async __call__
    )


def _arguments_model(fn: Callable[..., Any], name: str) -> type[BaseModel]:
    try:
        signature = inspect.signature(fn)
    except (TypeError, ValueError) as exc:
        raise InvalidRequestError(
            "tools", f"cannot read the signature of {name!r}: {exc}"
        ) from None
    try:
        hints = typing.get_type_hints(fn, include_extras=True)
    except Exception as exc:  # NameError for unresolvable forward references, and more
        raise InvalidRequestError(
            "tools", f"cannot resolve the type hints of {name!r}: {exc}"
        ) from None
    fields: dict[str, Any] = {}
    for param in signature.parameters.values():
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD, param.POSITIONAL_ONLY):
            raise InvalidRequestError(
                "tools",
                f"parameter {param.name!r} of {name!r} cannot be described to the model "
                "(*args, **kwargs and positional-only parameters are not supported)",
            )
        annotation = hints.get(param.name, Any)
        default = ... if param.default is param.empty else param.default
        fields[param.name] = (annotation, default)
    try:
        return create_model(
            f"{name}_arguments",
            __config__=ConfigDict(arbitrary_types_allowed=False),
            **fields,
        )
    except Exception as exc:  # pydantic's schema errors come in several classes
        raise InvalidRequestError(
            "tools", f"the parameters of {name!r} cannot be turned into a schema: {exc}"
        ) from None


def _schema(model: type[BaseModel], name: str) -> dict[str, Any]:
    try:
        schema = model.model_json_schema()
    except Exception as exc:
        raise InvalidRequestError(
            "tools", f"the parameters of {name!r} have no JSON Schema: {exc}"
        ) from None
    schema = _inline_refs(schema)
    _drop_titles(schema)
    schema.setdefault("properties", {})
    return schema


def _inline_refs(schema: dict[str, Any]) -> dict[str, Any]:
    """Replace local ``$ref``s by the definitions, unless they are recursive.

    Small models read an inlined schema far better than one with ``$defs``.
    """
    defs = schema.get("$defs")
    if not isinstance(defs, dict):
        return schema

    def resolve(node: object, seen: tuple[str, ...]) -> object:
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith("#/$defs/"):
                key = ref[len("#/$defs/") :]
                if key in seen or key not in defs:
                    raise _Recursive
                target = resolve(defs[key], (*seen, key))
                rest = {k: resolve(v, seen) for k, v in node.items() if k != "$ref"}
                return {**target, **rest} if isinstance(target, dict) else target
            return {k: resolve(v, seen) for k, v in node.items()}
        if isinstance(node, list):
            return [resolve(v, seen) for v in node]
        return node

    try:
        out = resolve({k: v for k, v in schema.items() if k != "$defs"}, ())
    except _Recursive:
        return schema
    assert isinstance(out, dict)
    return out


class _Recursive(Exception):
    pass


def _drop_titles(node: object, in_properties: bool = False) -> None:
    """Remove pydantic's generated ``title`` keys (noise in the prompt), not properties named title."""
    if isinstance(node, dict):
        if not in_properties and isinstance(node.get("title"), str):
            del node["title"]
        for key, value in node.items():
            _drop_titles(
                value, in_properties=(key in ("properties", "$defs") and not in_properties)
            )
    elif isinstance(node, list):
        for value in node:
            _drop_titles(value)


def _split_docstring(doc: str) -> tuple[str, dict[str, str]]:
    """The description part of a docstring, and per-parameter texts from ``Args:``/``:param:``."""
    summary: list[str] = []
    args: dict[str, str] = {}
    current: str | None = None
    in_args = False
    in_other = False
    for line in doc.splitlines():
        rst = _RST_PARAM.match(line)
        if rst:
            current = rst.group(1)
            args[current] = rst.group(2).strip()
            in_args = True
            continue
        if _ARGS_SECTION.match(line):
            in_args, in_other, current = True, False, None
            continue
        if _SECTION.match(line) and not line.startswith((" ", "\t")):
            in_args, in_other, current = False, True, None
            continue
        if in_args:
            arg = _ARG_LINE.match(line)
            if arg and (line.startswith((" ", "\t")) or current is None):
                current = arg.group(1)
                args[current] = arg.group(2).strip()
            elif current is not None and line.strip():
                args[current] = f"{args[current]} {line.strip()}".strip()
            continue
        if not in_other:
            summary.append(line)
    return "\n".join(summary).strip(), {k: v for k, v in args.items() if v}


def _error_lines(exc: ValidationError) -> list[str]:
    return validation_problems(exc, root="arguments")


# --------------------------------------------------------------------------- built-in tools


#: name -> (description, argument name, argument description)
_BUILTINS: dict[str, tuple[str, str, str]] = {
    "brave_search": ("Search the web with Brave Search.", "query", "The search query."),
    "wolfram_alpha": (
        "Compute or look up facts with Wolfram Alpha.",
        "query",
        "The question or expression for Wolfram Alpha.",
    ),
    "code_interpreter": (
        "Run Python code and return its output.",
        "code",
        "The Python code to run.",
    ),
}


def _builtin(name: str) -> Tool[..., Any]:
    description, arg, arg_description = _BUILTINS[name]
    model = create_model(  # type: ignore[call-overload]
        f"{name}_arguments", **{arg: (str, Field(description=arg_description))}
    )
    return Tool.from_model(model, name=name, description=description)


def __getattr__(name: str) -> Tool[..., Any]:
    # brave_search, wolfram_alpha, code_interpreter: built lazily so import stays cheap.
    if name in _BUILTINS:
        value = _builtin(name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


if typing.TYPE_CHECKING:
    brave_search: Tool[..., Any]
    wolfram_alpha: Tool[..., Any]
    code_interpreter: Tool[..., Any]
