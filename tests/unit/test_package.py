from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import llama_client

ROOT = Path(__file__).resolve().parents[2]


def test_all_is_honest() -> None:
    for name in llama_client.__all__:
        assert hasattr(llama_client, name), name
    public = {n for n in dir(llama_client) if not n.startswith("_") and n not in {"annotations"}}
    modules = {
        "client",
        "errors",
        "types",
        "tools",
        "tokens",
        "llama_format",
        "providers",
        "resources",
        "pricing",
        "batch",
        "usage",
        "hooks",
        "otel",
    }
    modules |= {"cli"}  # a subpackage, present once a test imported it
    assert public - modules - set(llama_client.__all__) == set()


def test_version_is_in_one_place() -> None:
    text = (ROOT / "llama_client" / "_version.py").read_text()
    assert f'__version__ = "{llama_client.__version__}"' in text
    assert (
        "version =" not in (ROOT / "pyproject.toml").read_text().split("[project]")[1].split("[")[0]
    )


def test_ships_py_typed() -> None:
    assert (ROOT / "llama_client" / "py.typed").exists()


def test_import_pulls_in_no_optional_dependency() -> None:
    # (click and rich are not in the list: httpx itself imports them when both are installed,
    # for its own command line; llama_client.cli imports them only in main() / on use.)
    code = (
        "import sys, llama_client\n"
        "bad = [m for m in ('aiohttp', 'botocore', 'respx', 'pytest', 'hypothesis', 'openai', 'numpy', 'transformers', 'tiktoken', 'llama_models', 'ray', 'opentelemetry', 'llama_client.hooks', 'llama_client.otel', 'llama_client._otel') if m in sys.modules]\n"
        "print(','.join(bad))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_tool_support_loads_on_first_use() -> None:
    code = (
        "import sys, llama_client\n"
        "lazy = ('llama_client.tools', 'llama_client.llama_format', 'llama_client._tool_loop', "
        "'llama_client._tool_calls', 'llama_client._structured')\n"
        "print(','.join(m for m in lazy if m in sys.modules))\n"
        "from llama_client import tool, Tool, ToolRunResult\n"
        "from llama_client.tools import Tool as T2\n"
        "assert Tool is T2 and callable(tool) and ToolRunResult.__name__ == 'ToolRunResult'\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_response_models_load_on_first_use() -> None:
    # Defining pydantic classes is most of what `import llama_client` would cost beyond
    # httpx + pydantic themselves (issue #9): importing the package and building a client
    # define none; the names still resolve, to the same objects, from every public path.
    code = (
        "import sys, llama_client\n"
        "client = llama_client.LlamaClient(base_url='http://127.0.0.1:9/v1', api_key='k')\n"
        "llama_client.AsyncLlamaClient(base_url='http://127.0.0.1:9/v1', api_key='k')\n"
        # pydantic.fields loads with the first model class defined anywhere in the package
        "lazy = ('llama_client.types.chat', 'llama_client.types.models', 'llama_client.types._base', "
        "'pydantic.fields')\n"
        "print(','.join(m for m in lazy if m in sys.modules))\n"
        "from llama_client import ChatCompletion, Model\n"
        "from llama_client.types import ChatCompletion as C2, MessageParam, Model as M2\n"
        "from llama_client.types.chat import ChatCompletion as C3, ChatMessage\n"
        "import llama_client.types as types\n"
        "assert ChatCompletion is C2 is C3 and Model is M2\n"
        "assert 'ChatCompletion' in dir(llama_client) and 'MessageParam' in dir(types)\n"
        "assert all(hasattr(types, n) for n in types.__all__)\n"
        "assert MessageParam.__args__[-1].__name__ == 'Mapping'\n"
        "assert set(ChatMessage.__args__) <= set(MessageParam.__args__)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
