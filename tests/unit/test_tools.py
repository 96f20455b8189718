"""Tool definitions from functions, pydantic models and dicts; argument validation."""

from __future__ import annotations

from typing import Annotated, Literal, Optional

import pytest
from pydantic import BaseModel, Field

from llama_client import InvalidRequestError, Tool, ToolCallArgumentsError, tool
from llama_client.tools import ToolSet, brave_search, code_interpreter, wolfram_alpha
from llama_client.types import FunctionCall


class Address(BaseModel):
    street: str
    title: str = "home"  # a property named "title" must survive title stripping


@tool
def get_weather(
    city: str,
    unit: Literal["celsius", "fahrenheit"] = "celsius",
    days: Optional[int] = None,  # noqa: UP045 - Optional is what users write
    address: Address | None = None,
    note: Annotated[str, Field(description="Free text.")] = "",
) -> str:
    """Current weather for a city.

    Args:
        city: The city name,
            possibly with the country.
        unit: Temperature unit.
        note: overridden by the Field description
    """
    return f"{city}:{unit}:{days}:{address.street if address else '-'}"


def test_schema_from_type_hints() -> None:
    param = get_weather.to_param()
    assert param["type"] == "function"
    fn = param["function"]
    assert fn["name"] == "get_weather"
    assert fn["description"] == "Current weather for a city."
    schema = fn["parameters"]
    assert schema["type"] == "object"
    assert schema["required"] == ["city"]
    props = schema["properties"]
    assert props["city"] == {
        "type": "string",
        "description": "The city name, possibly with the country.",
    }
    assert props["unit"]["enum"] == ["celsius", "fahrenheit"]
    assert props["unit"]["default"] == "celsius"
    assert props["unit"]["description"] == "Temperature unit."
    assert {"type": "integer"} in props["days"]["anyOf"]
    assert {"type": "null"} in props["days"]["anyOf"]
    assert props["note"]["description"] == "Free text."
    # nested model inlined (no $defs), pydantic titles dropped, the property "title" kept
    assert "$defs" not in schema
    nested = next(s for s in props["address"]["anyOf"] if s.get("type") == "object")
    assert nested["required"] == ["street"]
    assert set(nested["properties"]) == {"street", "title"}
    assert "title" not in schema and "title" not in props["city"]


def test_decorated_function_still_works() -> None:
    assert get_weather("Oslo", unit="fahrenheit") == "Oslo:fahrenheit:None:-"
    assert isinstance(get_weather, Tool) and get_weather.handler is not None


def test_decorator_with_options() -> None:
    @tool(name="weather", description="Weather now.", strict=True)
    async def fetch(city: str) -> str:
        return city

    fn = fetch.to_param()["function"]
    assert (fn["name"], fn["description"], fn["strict"]) == ("weather", "Weather now.", True)
    assert fetch.is_async


def test_validate_arguments_coerces_and_builds_models() -> None:
    kwargs = get_weather.validate_arguments(
        '{"city": "Paris", "days": 3, "address": {"street": "Rue"}}'
    )
    assert kwargs["city"] == "Paris" and kwargs["days"] == 3 and kwargs["unit"] == "celsius"
    assert kwargs["address"] == Address(street="Rue")
    assert get_weather.validate_arguments({"city": "Rome"})["city"] == "Rome"


def test_validate_arguments_reports_every_problem() -> None:
    with pytest.raises(ToolCallArgumentsError) as info:
        get_weather.validate_arguments('{"unit": "kelvin"}')
    err = info.value
    assert err.tool_name == "get_weather"
    assert any(line.startswith("city:") for line in err.errors)
    assert any(line.startswith("unit:") for line in err.errors)
    assert '"kelvin"' in str(err)


@pytest.mark.parametrize("arguments", ['{"city": ', "[1]", '"x"', "null"])
def test_validate_arguments_rejects_non_objects(arguments: str) -> None:
    with pytest.raises(ToolCallArgumentsError):
        get_weather.validate_arguments(arguments)


def test_tool_from_model() -> None:
    class SearchDocs(BaseModel):
        """Search the documentation."""

        query: str = Field(description="What to look for")
        limit: int = 5

    t = Tool.from_model(SearchDocs)
    fn = t.to_param()["function"]
    assert fn["name"] == "SearchDocs"
    assert fn["description"] == "Search the documentation."
    assert fn["parameters"]["properties"]["query"]["description"] == "What to look for"
    assert t.handler is None
    assert t.validate_arguments('{"query": "x"}') == {"query": "x", "limit": 5}


def test_tool_from_dict_is_sent_as_given() -> None:
    d = {
        "type": "function",
        "function": {
            "name": "lookup",
            "description": "Look up.",
            "parameters": {"type": "object", "properties": {"k": {"type": "string"}}},
            "x-extra": 1,
        },
    }
    t = Tool.from_dict(d)
    assert t.to_param() == d
    assert t.validate_arguments('{"k": 1}') == {"k": 1}  # no model: only "is an object"
    flat = Tool.from_dict({"name": "lookup", "parameters": {"type": "object"}})
    assert flat.to_param() == {
        "type": "function",
        "function": {"name": "lookup", "parameters": {"type": "object"}},
    }


@pytest.mark.parametrize(
    "bad",
    [
        {"type": "function", "function": {"description": "no name"}},
        {"type": "function", "function": {"name": "has space"}},
        {"type": "function", "function": {"name": "x", "parameters": "not a schema"}},
        {"type": "retrieval"},
        42,
        "get_weather",
    ],
)
def test_invalid_tools_fail_with_the_position(bad: object) -> None:
    with pytest.raises(InvalidRequestError) as info:
        ToolSet.from_param([get_weather, bad])
    assert info.value.field == "tools[1]"


def test_functions_that_cannot_be_described() -> None:
    def varargs(*args: int) -> None: ...

    def unresolvable(x: NoSuchType) -> None: ...  # type: ignore[name-defined]  # noqa: F821

    for fn in (varargs, unresolvable):
        with pytest.raises(InvalidRequestError):
            tool(fn)


def test_duplicate_names_and_non_list() -> None:
    with pytest.raises(InvalidRequestError, match="two tools"):
        ToolSet.from_param([get_weather, get_weather])
    with pytest.raises(InvalidRequestError):
        ToolSet.from_param(get_weather.to_param())


def test_plain_functions_and_models_are_accepted() -> None:
    def get_time(tz: str = "UTC") -> str:
        """The time."""
        return tz

    class Lookup(BaseModel):
        key: str

    tools = ToolSet.from_param([get_time, Lookup, get_weather])
    assert [t.name for t in tools] == ["get_time", "Lookup", "get_weather"]
    assert tools.get("get_time") is not None and tools.get("get_time").handler is get_time  # type: ignore[union-attr]


def test_builtin_tools_are_typed_and_never_run_by_themselves() -> None:
    assert brave_search.to_param()["function"]["parameters"]["required"] == ["query"]
    assert wolfram_alpha.to_param()["function"]["name"] == "wolfram_alpha"
    assert code_interpreter.to_param()["function"]["parameters"]["required"] == ["code"]
    assert code_interpreter.handler is None
    with pytest.raises(TypeError, match="no handler"):
        code_interpreter(code="print(1)")
    runner = code_interpreter.with_handler(lambda code: f"ran {code}")
    assert runner(code="1") == "ran 1"
    assert code_interpreter.handler is None  # the shared definition is unchanged
    assert runner.validate_arguments('{"code": "1"}') == {"code": "1"}


@pytest.mark.parametrize(
    ("arguments", "expected"),
    [
        ('{"city": "Paris"}', {"city": "Paris"}),
        ("", {}),
        ("  ", {}),
        ('"{\\"city\\": \\"Paris\\"}"', {"city": "Paris"}),  # double-encoded
    ],
)
def test_parsed_arguments(arguments: str, expected: dict[str, object]) -> None:
    assert FunctionCall(name="f", arguments=arguments).parsed_arguments() == expected


def test_parsed_arguments_accepts_an_object_as_sent_by_some_servers() -> None:
    call = FunctionCall.model_validate({"name": "f", "arguments": {"a": [1, 2]}})
    assert call.arguments == '{"a": [1, 2]}'
    assert call.parsed_arguments() == {"a": [1, 2]}
    assert FunctionCall.model_validate({"name": "f", "arguments": None}).parsed_arguments() == {}


@pytest.mark.parametrize("arguments", ['{"city": "Par', "[1, 2]", "nope"])
def test_parsed_arguments_errors(arguments: str) -> None:
    with pytest.raises(ToolCallArgumentsError) as info:
        FunctionCall(name="get_weather", arguments=arguments).parsed_arguments()
    assert info.value.arguments == arguments
    assert "get_weather" in str(info.value)


class _Unprintable:
    def __repr__(self) -> str:
        raise RuntimeError("repr failed")


def _deep_list() -> list[object]:
    deep: list[object] = []
    for _ in range(10_000):
        deep = [deep]
    return deep


@pytest.mark.parametrize(
    "bad", [_Unprintable(), _deep_list(), 12], ids=["repr-raises", "deep", "int"]
)
def test_a_bad_tool_name_is_invalid_request_even_when_it_cannot_be_printed(bad: object) -> None:
    with pytest.raises(InvalidRequestError, match="tool name"):
        Tool(name=bad)  # type: ignore[arg-type]
