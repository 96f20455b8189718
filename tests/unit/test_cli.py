"""The ``llama-client`` command: output, the server options, exit codes, errors on one line.

Commands run in-process through click's CliRunner (stdout is not a terminal there, as in a
pipe) against respx routes; a few run as real subprocesses to check the entry points.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx
from click.testing import CliRunner, Result

from llama_client.cli import _commands, cli, main
from llama_client.cli._common import terminal_safe
from llama_client.cli._exit import (
    EXIT_API_ERROR,
    EXIT_INTERNAL,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_UNAVAILABLE,
    EXIT_USAGE,
)
from tests.wire import LOCAL_BASE_URL, completion_body, sent_json, sse_reply, text_chunks

MODEL = "meta-llama/Llama-3.1-8B-Instruct"
SECRET = "sk-cli-test-5ecret-do-not-print"


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LLAMA_BASE_URL", LOCAL_BASE_URL)
    monkeypatch.setenv("LLAMA_MODEL", MODEL)
    monkeypatch.setenv("LLAMA_API_KEY", SECRET)


@pytest.fixture
def mock(env: None) -> Iterator[respx.MockRouter]:
    with respx.mock(base_url=LOCAL_BASE_URL, assert_all_called=False) as router:
        yield router


def run(*args: str, input: str | None = None) -> Result:
    return CliRunner().invoke(cli, list(args), input=input)


def stream_of(*pieces: str, finish_reason: str = "stop") -> httpx.Response:
    return sse_reply(*text_chunks(*pieces, finish_reason=finish_reason))


def models_body(*ids: str) -> dict[str, Any]:
    return {
        "object": "list",
        "data": [
            {"id": i, "object": "model", "created": 0, "owned_by": "vllm", "max_model_len": 8192}
            for i in ids
        ],
    }


# ----------------------------------------------------------------------------- chat


def test_chat_one_shot_streams_the_answer_to_stdout(mock: respx.MockRouter) -> None:
    route = mock.post("/chat/completions").mock(return_value=stream_of("Hel", "lo ", "there"))
    result = run("chat", "Hi", "there")
    assert result.exit_code == EXIT_OK, result.stderr
    assert result.stdout == "Hello there\n"
    sent = sent_json(route)
    assert sent["stream"] is True
    assert sent["model"] == MODEL
    assert sent["messages"] == [{"role": "user", "content": "Hi there"}]
    assert route.calls.last.request.headers["authorization"] == f"Bearer {SECRET}"


def test_chat_options_reach_the_request(mock: respx.MockRouter) -> None:
    route = mock.post("/chat/completions").mock(
        return_value=httpx.Response(200, json=completion_body("Fine."))
    )
    result = run(
        "chat",
        "--no-stream",
        "--system",
        "Be brief",
        "--temperature",
        "0.2",
        "--max-tokens",
        "7",
        "--model",
        "other-model",
        "How are you?",
    )
    assert result.exit_code == EXIT_OK, result.stderr
    assert result.stdout == "Fine.\n"
    sent = sent_json(route)
    assert "stream" not in sent or sent["stream"] is False
    assert sent["model"] == "other-model"
    assert sent["temperature"] == 0.2 and sent["max_tokens"] == 7
    assert sent["messages"] == [
        {"role": "system", "content": "Be brief"},
        {"role": "user", "content": "How are you?"},
    ]


def test_chat_base_url_option_overrides_the_environment(env: None) -> None:
    with respx.mock(base_url="http://127.0.0.1:9999/v1") as router:
        route = router.post("/chat/completions").mock(return_value=stream_of("ok"))
        result = run("chat", "--base-url", "http://127.0.0.1:9999/v1", "hi")
    assert result.exit_code == EXIT_OK, result.stderr
    assert route.called


def test_chat_reads_the_prompt_from_stdin(mock: respx.MockRouter) -> None:
    route = mock.post("/chat/completions").mock(return_value=stream_of("ok"))
    result = run("chat", input="line one\nline two\n")
    assert result.exit_code == EXIT_OK, result.stderr
    assert sent_json(route)["messages"][0]["content"] == "line one\nline two\n"
    result = run("chat", "-", input="dash\n")
    assert sent_json(route)["messages"][0]["content"] == "dash\n"


def test_chat_empty_stdin_is_a_usage_error(mock: respx.MockRouter) -> None:
    route = mock.post("/chat/completions")
    result = run("chat", input="  \n")
    assert result.exit_code == EXIT_USAGE
    assert "empty" in result.stderr
    assert not route.called


def test_chat_without_a_model_uses_the_one_the_server_serves(
    monkeypatch: pytest.MonkeyPatch, mock: respx.MockRouter
) -> None:
    monkeypatch.delenv("LLAMA_MODEL")
    mock.get("/models").mock(return_value=httpx.Response(200, json=models_body("served-one")))
    route = mock.post("/chat/completions").mock(return_value=stream_of("ok"))
    result = run("chat", "hi")
    assert result.exit_code == EXIT_OK, result.stderr
    assert sent_json(route)["model"] == "served-one"


def test_chat_without_a_model_and_several_served_is_a_usage_error(
    monkeypatch: pytest.MonkeyPatch, mock: respx.MockRouter
) -> None:
    monkeypatch.delenv("LLAMA_MODEL")
    mock.get("/models").mock(return_value=httpx.Response(200, json=models_body("a", "b")))
    route = mock.post("/chat/completions")
    result = run("chat", "hi")
    assert result.exit_code == EXIT_USAGE
    assert "no model given" in result.stderr and "'a', 'b'" in result.stderr
    assert not route.called


def test_cut_short_answer_is_said_on_stderr(mock: respx.MockRouter) -> None:
    mock.post("/chat/completions").mock(return_value=stream_of("abc", finish_reason="length"))
    result = run("chat", "hi")
    assert result.exit_code == EXIT_OK
    assert result.stdout == "abc\n"
    assert "cut short" in result.stderr


def test_model_output_reaches_a_pipe_unchanged(mock: respx.MockRouter) -> None:
    hostile = "red \x1b[31mtext\x1b[0m \x07 [bold]markup[/bold] \u202eevil"
    mock.post("/chat/completions").mock(return_value=stream_of(hostile))
    result = run("chat", "hi")
    assert result.stdout == hostile + "\n"


def test_terminal_output_escapes_control_characters() -> None:
    text = "a\x1b[2Jb\x07c\rd\u202ee\x9bf\tg\nh"
    assert terminal_safe(text) == "a\\x1b[2Jb\\x07c\\x0dd\\u202ee\\x9bf\tg\nh"


# ----------------------------------------------------------------------------- interactive


def test_interactive_conversation_keeps_history_and_survives_errors(
    mock: respx.MockRouter,
) -> None:
    replies = iter(
        [
            stream_of("first answer"),
            httpx.Response(400, json={"error": {"message": "boom"}}),
            stream_of("third answer"),
            stream_of("after reset"),
        ]
    )
    route = mock.post("/chat/completions").mock(side_effect=lambda request: next(replies))
    script = "one\n\n/help\ntwo\nthree\n/reset\nfour\n/exit\nnever sent\n"
    result = CliRunner().invoke(cli, ["--log-level", "error", "chat", "-i"], input=script)
    assert result.exit_code == EXIT_OK, result.stderr
    assert result.stdout == "first answer\nthird answer\nafter reset\n"
    assert "BadRequestError" in result.stderr and "boom" in result.stderr
    bodies = [json.loads(c.request.content) for c in route.calls]
    # "two" failed: it is not part of the conversation
    assert [m["content"] for m in bodies[-2]["messages"]] == ["one", "first answer", "three"]
    assert [m["content"] for m in bodies[-1]["messages"]] == ["four"]
    assert all("never sent" not in json.dumps(b) for b in bodies)


def test_interactive_ends_at_end_of_input(mock: respx.MockRouter) -> None:
    mock.post("/chat/completions").mock(return_value=stream_of("ok"))
    result = run("chat", "-i", input="hello\n")
    assert result.exit_code == EXIT_OK
    assert result.stdout == "ok\n"


def test_prompt_and_interactive_together_is_a_usage_error(mock: respx.MockRouter) -> None:
    assert run("chat", "-i", "hello").exit_code == EXIT_USAGE


# ----------------------------------------------------------------------------- errors → exit codes


def test_api_error_is_one_line_without_the_key_or_a_traceback(mock: respx.MockRouter) -> None:
    mock.post("/chat/completions").mock(
        return_value=httpx.Response(
            401, json={"error": {"message": f"invalid key {SECRET}", "type": "auth"}}
        )
    )
    result = run("chat", "hi")
    assert result.exit_code == EXIT_API_ERROR
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: AuthenticationError")
    assert SECRET not in result.stderr
    assert "Traceback" not in result.stderr


def test_connection_error_exits_1(
    env: None, monkeypatch: pytest.MonkeyPatch, sleeps: list[float]
) -> None:
    monkeypatch.setenv("LLAMA_BASE_URL", "http://127.0.0.1:9/v1")
    with respx.mock(base_url="http://127.0.0.1:9/v1") as router:
        router.post("/chat/completions").mock(side_effect=httpx.ConnectError("refused"))
        result = run("chat", "--no-stream", "hi")
    assert result.exit_code == EXIT_API_ERROR
    assert result.stderr.startswith("Error: APIConnectionError")


def test_bad_parameter_is_a_usage_error_before_any_request(mock: respx.MockRouter) -> None:
    route = mock.post("/chat/completions")
    result = run("chat", "--temperature", "5", "hi")
    assert result.exit_code == EXIT_USAGE
    assert result.stderr.strip() == "Error: temperature: must be between 0 and 2, got 5.0"
    assert not route.called
    result = run("chat", "--provider", "no-such-provider", "hi")
    assert result.exit_code == EXIT_USAGE
    assert "no-such-provider" in result.stderr
    assert not route.called


def test_unknown_option_is_a_usage_error() -> None:
    assert run("chat", "--no-such-option").exit_code == EXIT_USAGE
    assert run("no-such-command").exit_code == EXIT_USAGE


def test_ctrl_c_exits_130(mock: respx.MockRouter) -> None:
    def interrupt(request: httpx.Request) -> httpx.Response:
        raise KeyboardInterrupt

    mock.post("/chat/completions").mock(side_effect=interrupt)
    result = run("chat", "hi")
    assert result.exit_code == EXIT_INTERRUPTED
    assert "Interrupted." in result.stderr


def test_unexpected_exception_is_internal_and_verbose_shows_the_traceback(
    mock: respx.MockRouter,
) -> None:
    def bug(request: httpx.Request) -> httpx.Response:
        raise ZeroDivisionError("a bug")

    mock.post("/chat/completions").mock(side_effect=bug)
    result = run("chat", "hi")
    assert result.exit_code == EXIT_INTERNAL
    assert "ZeroDivisionError: a bug" in result.stderr and "Traceback" not in result.stderr
    result = run("-v", "chat", "hi")
    assert result.exit_code == EXIT_INTERNAL
    assert "Traceback" in result.stderr


def test_debug_logging_goes_to_stderr_without_the_key(mock: respx.MockRouter) -> None:
    mock.post("/chat/completions").mock(return_value=stream_of("ok"))
    result = run("--log-level", "debug", "chat", "hi")
    assert result.exit_code == EXIT_OK
    assert result.stdout == "ok\n"
    assert "DEBUG llama_client: sending POST" in result.stderr
    assert SECRET not in result.stderr


# ----------------------------------------------------------------------------- models, providers


def test_models_prints_one_id_per_line_when_piped(mock: respx.MockRouter) -> None:
    mock.get("/models").mock(return_value=httpx.Response(200, json=models_body("m1", "m2")))
    result = run("models")
    assert result.exit_code == EXIT_OK, result.stderr
    assert result.stdout == "m1\nm2\n"
    result = run("models", "--json")
    data = json.loads(result.stdout)
    assert [m["id"] for m in data] == ["m1", "m2"] and data[0]["max_model_len"] == 8192


def test_models_error_exits_1(mock: respx.MockRouter) -> None:
    mock.get("/models").mock(return_value=httpx.Response(404, json={"error": "nope"}))
    result = run("models")
    assert result.exit_code == EXIT_API_ERROR
    assert result.stderr.startswith("Error: NotFoundError")


def test_providers_prints_the_catalogue_tables() -> None:
    from llama_client.providers._table import _builtin, model_table, provider_table

    result = run("providers")
    assert result.exit_code == EXIT_OK
    assert provider_table(_builtin()) in result.stdout
    assert model_table(_builtin()) in result.stdout
    result = run("providers", "--no-models")
    assert model_table(_builtin()) not in result.stdout


# ----------------------------------------------------------------------------- bench


def test_bench_outside_a_checkout_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_commands, "find_benchmark", lambda: None)
    result = run("bench", "--quick")
    assert result.exit_code == EXIT_UNAVAILABLE
    assert "source checkout" in result.stderr


def test_bench_runs_the_script_with_the_arguments(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    script = tmp_path / "benchmarks" / "run.py"
    script.parent.mkdir()
    out = tmp_path / "args.json"
    script.write_text(
        f"import json, sys\nopen({str(out)!r}, 'w').write(json.dumps(sys.argv[1:]))\nsys.exit(3)\n"
    )
    monkeypatch.setattr(_commands, "find_benchmark", lambda: script)
    result = run("bench", "--scenarios", "seq", "--quick", "--help")
    assert result.exit_code == 3
    assert json.loads(out.read_text()) == ["--scenarios", "seq", "--quick", "--help"]


def test_bench_finds_this_checkout() -> None:
    found = _commands.find_benchmark()
    assert found is not None and found.name == "run.py" and found.parent.name == "benchmarks"


# ----------------------------------------------------------------------------- entry points


def test_help_lists_every_command_and_the_exit_codes() -> None:
    result = run("--help")
    assert result.exit_code == EXIT_OK
    for name in ("chat", "models", "providers", "batch", "bench"):
        assert name in result.stdout
    assert "130 interrupted" in result.stdout


def test_main_returns_the_exit_code(
    mock: respx.MockRouter, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--version"]) == EXIT_OK
    assert main(["chat", "--temperature", "7", "hi"]) == EXIT_USAGE


def test_python_dash_m_and_the_missing_extra() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "llama_client.cli", "--version"], capture_output=True, text=True
    )
    assert done.returncode == 0 and "llama-client" in done.stdout
    # import llama_client.cli needs no click; main() names the extra when click is missing
    code = (
        "import sys; sys.modules['click'] = None\n"
        "import llama_client.cli as c\n"
        "sys.exit(c.main(['--help']))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == EXIT_UNAVAILABLE
    assert done.stderr.strip() == (
        "Error: the llama-client command line needs click: pip install 'llama-client[cli]'"
    )


def test_the_console_script_is_declared() -> None:
    text = (Path(__file__).resolve().parents[2] / "pyproject.toml").read_text()
    assert '\n[project.scripts]\nllama-client = "llama_client.cli:main"\n' in text
    # aiohttp: the pool `batch run` sends over (several times less CPU than httpx's)
    assert 'cli = ["click>=8.1", "rich>=13.7", "aiohttp>=3.9"]' in text


# ----------------------------------------------------------------------------- on a terminal


@pytest.fixture
def terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    """Commands believe stdout and stdin are a terminal (CliRunner's are not)."""
    from llama_client.cli import _chat, _common

    for module in (_chat, _commands, _common):
        monkeypatch.setattr(module, "is_tty", lambda stream: True)
    monkeypatch.setenv("COLUMNS", "200")


def test_on_a_terminal_model_text_is_escaped(terminal: None, mock: respx.MockRouter) -> None:
    mock.post("/chat/completions").mock(return_value=stream_of("ok \x1b]0;pwned\x07 done"))
    result = run("chat", "hi")
    assert result.exit_code == EXIT_OK
    assert result.stdout == "ok \\x1b]0;pwned\\x07 done\n"


def test_on_a_terminal_models_is_a_table_of_escaped_ids(
    terminal: None, mock: respx.MockRouter
) -> None:
    mock.get("/models").mock(
        return_value=httpx.Response(200, json=models_body("good-model", "evil\x1b[2J[red]x[/red]"))
    )
    result = run("models")
    assert result.exit_code == EXIT_OK
    assert "\x1b[2J" not in result.stdout
    assert "evil\\x1b[2J[red]x[/red]" in result.stdout  # no markup read from it either
    assert (
        "good-model" in result.stdout and "8,192" in result.stdout and "owned by" in result.stdout
    )


def test_on_a_terminal_providers_renders_the_tables(terminal: None) -> None:
    result = run("providers", "--no-models")
    assert result.exit_code == EXIT_OK
    assert "| Provider |" not in result.stdout  # rendered, not Markdown source
    assert "vllm" in result.stdout and "groq" in result.stdout
    assert "| Provider |" in run("providers", "--markdown").stdout


def test_interactive_is_the_default_on_a_terminal(terminal: None, mock: respx.MockRouter) -> None:
    route = mock.post("/chat/completions").mock(return_value=stream_of("hello back"))
    result = run("chat", input="hello\n")  # input() reads the turn; EOF (Ctrl-D) leaves
    assert result.exit_code == EXIT_OK, result.stderr
    assert "hello back\n" in result.stdout
    assert sent_json(route)["messages"] == [{"role": "user", "content": "hello"}]
    assert "/exit (or Ctrl-D) leaves" in result.stderr


def test_provider_option_takes_a_fallback_list(
    monkeypatch: pytest.MonkeyPatch, mock: respx.MockRouter, sleeps: list[float]
) -> None:
    # vllm first, llamacpp second: the 500 from the first moves the call to the second
    monkeypatch.delenv("LLAMA_BASE_URL")
    with respx.mock(assert_all_called=False) as router:
        first = router.post("http://localhost:8000/v1/chat/completions").mock(
            return_value=httpx.Response(503, json={"error": {"message": "down"}})
        )
        second = router.post("http://localhost:8080/v1/chat/completions").mock(
            return_value=stream_of("from the second")
        )
        result = run("chat", "--provider", "vllm, llamacpp", "hi")
    assert result.exit_code == EXIT_OK, result.stderr
    assert result.stdout == "from the second\n"
    assert first.called and second.called


def test_the_callers_logging_is_left_as_it_was(mock: respx.MockRouter) -> None:
    import logging

    mock.post("/chat/completions").mock(return_value=stream_of("ok"))
    root = logging.getLogger()
    level, handlers = root.level, list(root.handlers)
    assert run("-vv", "chat", "hi").exit_code == EXIT_OK
    assert root.level == level and root.handlers == handlers
