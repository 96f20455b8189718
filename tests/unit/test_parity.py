"""The sync and async public surfaces are the same, and the generated sync files are current.

The sync shells are generated from the async ones by ``scripts/unasync.py``; these tests keep
the public modules that re-export them honest: the same public names, the same signatures
and the same docstrings on both sides, modulo the rewrite the generator applies.
"""

from __future__ import annotations

import importlib.util
import inspect
import subprocess
import sys
import typing
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from llama_client import (
    AsyncChatCompletionStream,
    AsyncLlamaClient,
    AsyncStream,
    ChatCompletionStream,
    LlamaClient,
    Stream,
)
from llama_client._async import chat_stream as async_chat_stream
from llama_client._sync import chat_stream as sync_chat_stream
from llama_client.resources.chat import (
    AsyncChat,
    AsyncCompletions,
    AsyncCompletionsWithRawResponse,
    Chat,
    Completions,
    CompletionsWithRawResponse,
)
from llama_client.resources.models import (
    AsyncModels,
    AsyncModelsWithRawResponse,
    Models,
    ModelsWithRawResponse,
)
from llama_client.resources.safety import (
    AsyncGuardedChat,
    AsyncGuardedClient,
    AsyncGuardedCompletions,
    AsyncGuardedStream,
    AsyncModerations,
    AsyncSafety,
    GuardedChat,
    GuardedClient,
    GuardedCompletions,
    GuardedStream,
    Moderations,
    Safety,
)
from llama_client.resources.tokens import AsyncTokens, Tokens

ROOT = Path(__file__).resolve().parents[2]


def _load_unasync() -> ModuleType:
    spec = importlib.util.spec_from_file_location("unasync", ROOT / "scripts" / "unasync.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


unasync = _load_unasync()

PAIRS: list[tuple[type[Any], type[Any]]] = [
    (LlamaClient, AsyncLlamaClient),
    (Chat, AsyncChat),
    (Completions, AsyncCompletions),
    (CompletionsWithRawResponse, AsyncCompletionsWithRawResponse),
    (Models, AsyncModels),
    (ModelsWithRawResponse, AsyncModelsWithRawResponse),
    (Tokens, AsyncTokens),
    (Stream, AsyncStream),
    (ChatCompletionStream, AsyncChatCompletionStream),
    (
        sync_chat_stream.ChatCompletionStreamManager,
        async_chat_stream.AsyncChatCompletionStreamManager,
    ),
    (Safety, AsyncSafety),
    (Moderations, AsyncModerations),
    (GuardedClient, AsyncGuardedClient),
    (GuardedChat, AsyncGuardedChat),
    (GuardedCompletions, AsyncGuardedCompletions),
    (GuardedStream, AsyncGuardedStream),
]
IDS = [sync.__name__ for sync, _ in PAIRS]

#: Protocol methods that are public in spirit.
DUNDERS = {
    "__init__",
    "__enter__",
    "__exit__",
    "__iter__",
    "__next__",
    "__aenter__",
    "__aexit__",
    "__aiter__",
    "__anext__",
}


def _public(cls: type[Any]) -> dict[str, Any]:
    names: dict[str, Any] = {}
    for klass in reversed(cls.__mro__):
        if klass is object:
            continue
        for name, value in vars(klass).items():
            if not name.startswith("_") or name in DUNDERS:
                names[name] = value
    return names


def _function(value: Any) -> Any:
    if isinstance(value, property):
        return value.fget
    if hasattr(value, "func"):  # functools.cached_property
        return value.func
    return value


def _sync_name(name: str) -> str:
    return str(unasync.unasync_line(name))


@pytest.mark.parametrize(("sync", "asynchronous"), PAIRS, ids=IDS)
def test_same_public_names(sync: type[Any], asynchronous: type[Any]) -> None:
    async_names = {_sync_name(n) for n in _public(asynchronous)}
    assert async_names == set(_public(sync))


@pytest.mark.parametrize(("sync", "asynchronous"), PAIRS, ids=IDS)
def test_same_signatures(sync: type[Any], asynchronous: type[Any]) -> None:
    sync_members = _public(sync)
    for name, value in _public(asynchronous).items():
        twin = sync_members[_sync_name(name)]
        fa, fs = _function(value), _function(twin)
        if not callable(fa):
            continue
        if fa is fs:  # inherited from the shared base class
            continue
        expected = _sync_name(str(inspect.signature(fa)))
        assert str(inspect.signature(fs)) == expected, f"{sync.__name__}.{name}"
        assert inspect.iscoroutinefunction(fs) is False, f"{sync.__name__}.{name}"
        overloads_a = [str(inspect.signature(o)) for o in typing.get_overloads(fa)]
        overloads_s = [str(inspect.signature(o)) for o in typing.get_overloads(fs)]
        assert overloads_s == [_sync_name(o) for o in overloads_a], f"{sync.__name__}.{name}"


@pytest.mark.parametrize(("sync", "asynchronous"), PAIRS, ids=IDS)
def test_same_docstrings_and_every_public_method_has_one(
    sync: type[Any], asynchronous: type[Any]
) -> None:
    assert sync.__doc__ and asynchronous.__doc__
    assert sync.__doc__ == unasync.unasync_text(asynchronous.__doc__)
    sync_members = _public(sync)
    for name, value in _public(asynchronous).items():
        if name.startswith("__"):
            continue
        fa, fs = _function(value), _function(sync_members[_sync_name(name)])
        doc_a, doc_s = inspect.getdoc(fa), inspect.getdoc(fs)
        assert doc_a, f"{asynchronous.__name__}.{name} has no docstring"
        assert doc_s == unasync.unasync_text(doc_a), f"{sync.__name__}.{name}"


def test_async_methods_are_coroutines_where_they_do_io() -> None:
    assert inspect.iscoroutinefunction(AsyncCompletions.create)
    assert inspect.iscoroutinefunction(AsyncModels.list)
    assert inspect.iscoroutinefunction(AsyncChat.run_tools)
    assert not inspect.iscoroutinefunction(AsyncCompletions.stream)  # a manager: async with
    assert not inspect.iscoroutinefunction(AsyncModels.catalog)  # no I/O


def test_tool_loops_are_twins() -> None:
    from llama_client._async.tool_loop import arun_tools
    from llama_client._sync.tool_loop import run_tools

    assert str(inspect.signature(run_tools)) == _sync_name(str(inspect.signature(arun_tools)))
    assert run_tools.__doc__ == unasync.unasync_text(arun_tools.__doc__ or "")
    assert inspect.iscoroutinefunction(arun_tools) and not inspect.iscoroutinefunction(run_tools)


def test_generated_files_are_current() -> None:
    out = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "unasync.py"), "--check"],
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0, out.stdout + out.stderr


def test_every_generated_file_says_so() -> None:
    sources = sorted(p.name for p in (ROOT / "llama_client" / "_async").glob("*.py"))
    generated = sorted(p.name for p in (ROOT / "llama_client" / "_sync").glob("*.py"))
    assert sources == generated
    for name in generated:
        first = (ROOT / "llama_client" / "_sync" / name).read_text().splitlines()[0]
        assert first.startswith("# generated by scripts/unasync.py"), name


def test_check_mode_fails_on_a_hand_edit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "_sync"
    target.mkdir()
    for path, text in unasync.generated().items():
        (target / path.name).write_text(text)
    monkeypatch.setattr(unasync, "TARGET", target)
    monkeypatch.setattr(unasync, "ROOT", tmp_path)
    assert unasync.main(["--check"]) == 0
    edited = target / "client.py"
    edited.write_text(edited.read_text() + "# a hand edit\n")
    assert unasync.main(["--check"]) == 1
    assert unasync.main([]) == 0  # regenerating repairs it
    assert unasync.main(["--check"]) == 0


def test_unasync_rules() -> None:
    line = "    async def f(self) -> Callable[[], Awaitable[AsyncStream[Chunk]]]:"
    assert unasync.unasync_line(line) == "    def f(self) -> Callable[[], Stream[Chunk]]:"
    assert unasync.unasync_line("        await self._http.aclose()") == "        self._http.close()"
    assert unasync.unasync_text("    aclose = close\n    x = 1\n") == "    x = 1\n"


def test_old_import_paths_still_work() -> None:
    import llama_client
    from llama_client import _chat_stream, _streaming

    assert _streaming.Stream is Stream and _streaming.AsyncStream is AsyncStream
    assert _chat_stream.ChatCompletionStream is llama_client.ChatCompletionStream
    assert (
        _chat_stream.AsyncChatCompletionStreamManager
        is async_chat_stream.AsyncChatCompletionStreamManager
    )
