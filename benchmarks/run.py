"""Benchmark llama_client against its floors and peers: ``python benchmarks/run.py``.

One command: creates the benchmark venv when missing (``benchmarks/setup.sh``: this project
plus ``openai``, ``litellm``, ``aiohttp``, ``httpx-aiohttp``, ``matplotlib``; never project
dependencies), re-runs itself inside it, starts the local server (``server.py``), checks the
server's own throughput with a raw socket client, then measures every client in every
scenario in fresh processes (``clients.py``), several runs each, interleaved so that noise
from the shared machine spreads over all clients alike. Load average is recorded before and
after each run.

Writes ``benchmarks/results/latest.json`` (every sample), ``latest.md`` (the table, the
targets, met or missed) and ``latest.png`` (the chart).

Options: ``--runs N`` (default 5), ``--quick`` (3 runs, smaller workloads), ``--clients a,b``,
``--scenarios a,b`` (only these, e.g. ``async_many``), ``--no-soak`` (skip the memory soak),
``--out DIR`` (write the three files there instead of ``benchmarks/results/``, e.g. for a
partial run that should not replace the committed results).

Adding a scenario: add a method with its name to the clients in ``clients.py`` that can do
it, then a :class:`Scenario` to ``SCENARIOS`` below (its unit, whether higher is better, the
client it is compared with, the URL prefix the server answers it on, and its parameters).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
VENV = Path(os.environ.get("BENCH_VENV", Path.home() / ".cache/llama-client-bench/venv"))
RESULTS = HERE / "results"


@dataclass
class Scenario:
    name: str
    title: str
    unit: str
    higher_is_better: bool
    floor: str
    prefix: str = ""
    params: dict[str, Any] = field(default_factory=dict)
    quick_params: dict[str, Any] = field(default_factory=dict)
    #: per CPU-second of the client process rather than per second of wall time: what an
    #: overhead of pure computation (hooks, spans) costs, read through a busy machine's noise
    per_cpu: bool = False

    def value(self, sample: dict[str, Any]) -> float:
        if self.name == "import":
            return float(sample["wall"]) * 1000.0
        if self.name == "batch_input":  # peak memory, not a rate
            return float(sample["maxrss_kb"]) / 1024.0
        return float(sample["ops"]) / float(sample["cpu" if self.per_cpu else "wall"])


SCENARIOS = [
    Scenario("import", "cold import", "ms", False, "httpx+pydantic"),
    Scenario(
        "seq",
        "sequential requests",
        "req/s",
        True,
        "httpx+pydantic",
        params={"n": 1000},
        quick_params={"n": 400},
    ),
    Scenario(
        "stream",
        "2,000-chunk stream",
        "chunks/s",
        True,
        "httpx+pydantic",
        prefix="/c2000",
        params={"chunks": 2000, "repeats": 3},
        quick_params={"chunks": 2000, "repeats": 1},
    ),
    Scenario(
        "tool_stream",
        "streamed tool call, merged",
        "calls/s",
        True,
        "httpx+pydantic",
        prefix="/tools",
        params={"n": 300},
        quick_params={"n": 100},
    ),
    Scenario(
        "obs_seq",
        "sequential requests, hooks / OTel on",
        "req/CPU-s",
        True,
        "llama_client",
        params={"n": 1000},
        quick_params={"n": 400},
        per_cpu=True,
    ),
    Scenario(
        "obs_stream",
        "2,000-chunk stream, hooks / OTel on",
        "chunks/CPU-s",
        True,
        "llama_client",
        prefix="/c2000",
        params={"chunks": 2000, "repeats": 3},
        quick_params={"chunks": 2000, "repeats": 2},
        per_cpu=True,
    ),
    Scenario(
        "count_tokens",
        "count a 1,500-token chat prompt (#12)",
        "prompts/s",
        True,
        "tiktoken",
        params={"n": 400},
        quick_params={"n": 150},
    ),
    Scenario(
        "guarded",
        "guarded call (Llama Guard on input and output)",
        "calls/s",
        True,
        "llama_client",
        params={"n": 300},
        quick_params={"n": 150},
    ),
    Scenario(
        "async_many",
        "async, 1,000 requests, 64 in flight",
        "req/s",
        True,
        "httpx",
        params={"total": 1000, "concurrency": 64},
        quick_params={"total": 500, "concurrency": 64},
    ),
    # Bulk generation (issue #11): a batch job against a bare aiohttp loop at the same
    # concurrency, and the peak memory of reading a 1M-line input against parsing it into a list.
    Scenario(
        "batch",
        "batch job, 4,000 lines, 64 in flight",
        "req/s",
        True,
        "aiohttp",
        params={"total": 4000, "concurrency": 64},
        quick_params={"total": 1500, "concurrency": 64},
    ),
    Scenario(
        "batch_input",
        "batch input, 1M lines: peak RSS",
        "MiB",
        False,
        "in-memory lines",
        params={"lines": 1_000_000},
        quick_params={"lines": 1_000_000},
    ),
]
CLIENT_ORDER = [
    "httpx",
    "httpx+pydantic",
    "httpx+BaseModel",
    "aiohttp",
    "aiohttp+durable",
    "llama_client",
    "llama_client+hooks",
    "llama_client+otel",
    "llama_client+otel(no SDK)",
    "llama_client[aiohttp]",
    "llama_client[httpx-aiohttp]",
    "llama_client+guard",
    "openai",
    "openai[aiohttp]",
    "litellm",
    "tiktoken",
    "in-memory lines",
]


# --------------------------------------------------------------------------- environment


def ensure_venv() -> None:
    """Re-run inside the benchmark venv (creating it first) unless already there."""
    if Path(sys.prefix).resolve() == VENV.resolve():
        return
    python = VENV / "bin/python"
    if not python.exists():
        print(f"creating the benchmark venv in {VENV} (benchmarks/setup.sh)", file=sys.stderr)
        subprocess.run(["bash", str(HERE / "setup.sh")], check=True)
    os.execv(str(python), [str(python), __file__, *sys.argv[1:]])


def versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {"python": platform.python_version()}
    for name in (
        "llama-client",
        "httpx",
        "httpcore",
        "pydantic",
        "aiohttp",
        "httpx-aiohttp",
        "openai",
        "litellm",
    ):
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = "not installed"
    return out


# --------------------------------------------------------------------------- server


class Server:
    def __init__(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, str(HERE / "server.py")], stdout=subprocess.PIPE, text=True
        )
        assert self.proc.stdout is not None
        self.port = int(self.proc.stdout.readline())

    def url(self, prefix: str = "") -> str:
        return f"http://127.0.0.1:{self.port}{prefix}/v1"

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)


def _request_bytes(path: str, body: bytes) -> bytes:
    return (
        f"POST {path} HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\n"
        f"content-length: {len(body)}\r\n\r\n"
    ).encode() + body


def server_capacity(port: int, seconds: float = 2.0) -> dict[str, float]:
    """The server's own throughput, measured with raw sockets (no HTTP library)."""
    body = json.dumps({"model": "m", "messages": [{"role": "user", "content": "x"}]}).encode()
    request = _request_bytes("/v1/chat/completions", body)

    sock = socket.create_connection(("127.0.0.1", port))
    n, end = 0, time.perf_counter() + seconds
    start = time.perf_counter()
    while time.perf_counter() < end:
        sock.sendall(request)
        buf = b""
        while b"\r\n\r\n" not in buf:
            buf += sock.recv(65536)
        head, _, rest = buf.partition(b"\r\n\r\n")
        length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
        while len(rest) < length:
            rest += sock.recv(65536)
        n += 1
    seq = n / (time.perf_counter() - start)
    sock.close()

    stream_request = _request_bytes(
        "/c2000/v1/chat/completions", json.dumps({"stream": True}).encode()
    )
    sock = socket.create_connection(("127.0.0.1", port))
    start = time.perf_counter()
    chunks = 0
    for _ in range(5):
        sock.sendall(stream_request)
        buf = b""
        while not buf.endswith(b"0\r\n\r\n"):
            buf += sock.recv(1 << 20)
        chunks += buf.count(b"data: ") - 1
    stream = chunks / (time.perf_counter() - start)
    sock.close()

    async def concurrent(total: int = 4000, conc: int = 64) -> float:
        per = total // conc

        async def worker() -> None:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            for _ in range(per):
                writer.write(request)
                head = await reader.readuntil(b"\r\n\r\n")
                length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
                await reader.readexactly(length)
            writer.close()

        t0 = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(conc)))
        return per * conc / (time.perf_counter() - t0)

    return {"seq_req_s": seq, "stream_chunks_s": stream, "async64_req_s": asyncio.run(concurrent())}


# --------------------------------------------------------------------------- measuring


def measure(client: str, scenario: Scenario, url: str, params: dict[str, Any]) -> dict[str, Any]:
    # Bytecode is written and reused, as after a pip install: PYTHONDONTWRITEBYTECODE set to
    # any non-empty value (even "0") disables it, and the editable llama_client would then be
    # compiled from source on every import while the peers load their installed .pyc files.
    env = {**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True"}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    load_before = os.getloadavg()[0]
    out = subprocess.run(
        [sys.executable, str(HERE / "clients.py"), client, scenario.name, url, json.dumps(params)],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    if out.returncode != 0:
        raise RuntimeError(f"{client} {scenario.name} failed:\n{out.stderr[-2000:]}")
    sample: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    sample["load_before"] = load_before
    sample["load_after"] = os.getloadavg()[0]
    return sample


def summarize(values: list[float]) -> dict[str, float]:
    return {
        "median": statistics.median(values),
        "min": min(values),
        "max": max(values),
        "n": len(values),
    }


def run(args: argparse.Namespace) -> dict[str, Any]:
    sys.path.insert(0, str(HERE))
    from clients import supports

    clients = [c for c in CLIENT_ORDER if not args.clients or c in args.clients.split(",")]
    scenarios = [s for s in SCENARIOS if not args.scenarios or s.name in args.scenarios.split(",")]
    server = Server()
    try:
        report: dict[str, Any] = {
            "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
            "machine": {
                "cpus": os.cpu_count(),
                "platform": platform.platform(),
                "load_at_start": os.getloadavg(),
            },
            "versions": versions(),
            "runs": args.runs,
            "server_capacity": server_capacity(server.port),
            "samples": {},
        }
        print("server capacity (raw sockets):", report["server_capacity"], file=sys.stderr)
        samples: dict[str, dict[str, list[dict[str, Any]]]] = report["samples"]
        for scenario in scenarios:
            if scenario.name == "import":  # untimed: writes each client's .pyc files first
                for client in clients:
                    if supports(client, scenario.name):
                        measure(client, scenario, server.url(scenario.prefix), {})
        for i in range(args.runs):
            for scenario in scenarios:
                params = (
                    scenario.quick_params
                    if args.quick and scenario.quick_params
                    else scenario.params
                )
                for client in clients:
                    if not supports(client, scenario.name):
                        continue
                    sample = measure(client, scenario, server.url(scenario.prefix), params)
                    samples.setdefault(scenario.name, {}).setdefault(client, []).append(sample)
                    print(
                        f"run {i + 1}/{args.runs} {scenario.name:<10} {client:<22} "
                        f"{scenario.value(sample):10.1f} {scenario.unit}  "
                        f"load {sample['load_before']:.2f}",
                        file=sys.stderr,
                    )
        soaks = {
            "soak": "llama_client",
            "soak_aiohttp": "llama_client[aiohttp]",
            "soak_httpx_aiohttp": "llama_client[httpx-aiohttp]",
        }
        if not args.no_soak and any(c in clients for c in soaks.values()):
            soak_params = (
                {"requests": 4000, "broken": 200}
                if args.quick
                else {"requests": 20000, "broken": 1000}
            )
            print("memory soak ...", file=sys.stderr)
            soak = Scenario("soak", "", "", False, "")
            for key, client in soaks.items():
                if client in clients:
                    report[key] = measure(client, soak, server.url(), soak_params)
                    report[key]["params"] = soak_params
        report["machine"]["load_at_end"] = os.getloadavg()
    finally:
        server.stop()
    return report


# --------------------------------------------------------------------------- reporting


def table(report: dict[str, Any]) -> dict[str, dict[str, dict[str, float]]]:
    """scenario -> client -> summary of values (plus cpu per op and peak RSS)."""
    out: dict[str, dict[str, dict[str, float]]] = {}
    for scenario in SCENARIOS:
        for client, samples in report["samples"].get(scenario.name, {}).items():
            s = summarize([scenario.value(x) for x in samples])
            if scenario.name != "import":
                s["cpu_us_per_op"] = statistics.median(1e6 * x["cpu"] / x["ops"] for x in samples)
            s["maxrss_mib"] = statistics.median(x["maxrss_kb"] / 1024 for x in samples)
            out.setdefault(scenario.name, {})[client] = s
    return out


def ratio(
    t: dict[str, Any], scenario: Scenario, client: str, floor: str | None = None
) -> float | None:
    cells = t.get(scenario.name, {})
    floor = floor or scenario.floor
    if client not in cells or floor not in cells:
        return None
    return cells[client]["median"] / cells[floor]["median"]


def targets(t: dict[str, Any], report: dict[str, Any]) -> list[tuple[str, str, bool | None]]:
    by = {s.name: s for s in SCENARIOS}
    rows: list[tuple[str, str, bool | None]] = []

    def add(label: str, value: float | None, ok: bool | None, fmt: str) -> None:
        rows.append((label, "n/a" if value is None else fmt.format(value), ok))

    r = ratio(t, by["import"], "llama_client")
    add("import ≤ 1.3× httpx+pydantic", r, None if r is None else r <= 1.3, "{:.2f}×")
    r = ratio(t, by["import"], "llama_client", "httpx+BaseModel")
    add("import ≤ 1.3× httpx+BaseModel", r, None if r is None else r <= 1.3, "{:.2f}×")
    r = ratio(t, by["seq"], "llama_client")
    add("sequential req/s ≥ 0.8× httpx+pydantic", r, None if r is None else r >= 0.8, "{:.2f}×")
    r = ratio(t, by["stream"], "llama_client")
    add("stream chunks/s ≥ 0.8× httpx+pydantic", r, None if r is None else r >= 0.8, "{:.2f}×")
    for client, what, target in (
        ("llama_client+hooks", "a hook on every event", 0.9),
        ("llama_client+otel(no SDK)", "otel=True without an SDK (no-op tracer)", 0.9),
        # The SDK's own span work, exported synchronously: measured, not a target of ours.
        ("llama_client+otel", "OTel spans (SDK, every span exported)", None),
    ):
        for scenario, label in (
            ("obs_seq", "sequential req/CPU-s"),
            ("obs_stream", "stream chunks/CPU-s"),
        ):
            r = ratio(t, by[scenario], client)
            bar = f" ≥ {target}×" if target else " (measured, no target)"
            add(
                f"{what}: {label} vs hooks and OTel off{bar}",
                r,
                None if r is None or target is None else r >= target,
                "{:.2f}×",
            )
    r = ratio(t, by["async_many"], "llama_client[aiohttp]", "aiohttp")
    add(
        "async (aiohttp transport) ≥ 0.5× raw aiohttp",
        r,
        None if r is None else r >= 0.5,
        "{:.2f}×",
    )
    r = ratio(t, by["async_many"], "llama_client[aiohttp]", "llama_client[httpx-aiohttp]")
    add(
        "own aiohttp transport ≥ 1.1× httpx-aiohttp package (else use the package)",
        r,
        None if r is None else r >= 1.1,
        "{:.2f}×",
    )
    r = ratio(t, by["count_tokens"], "llama_client")
    add(
        "count_tokens ≥ 0.9× tiktoken on the rendered prompt",
        r,
        None if r is None else r >= 0.9,
        "{:.2f}×",
    )
    r = ratio(t, by["async_many"], "llama_client", "httpx")
    add("async (default httpx) ≥ 1.5× raw httpx", r, None if r is None else r >= 1.5, "{:.2f}×")
    # A guarded call is three requests (input check, the call, output check): 1/3 is the most
    # it can reach; the SDK's own overhead is what keeps it below that.
    r = ratio(t, by["guarded"], "llama_client+guard")
    add(
        "guarded call ≥ 0.25× unguarded (3 requests instead of 1; 0.33× is the ceiling)",
        r,
        None if r is None else r >= 0.25,
        "{:.2f}×",
    )
    r = ratio(t, by["batch"], "llama_client[aiohttp]", "aiohttp")
    add(
        "batch job (aiohttp transport) ≥ 0.8× a raw aiohttp loop, same concurrency",
        r,
        None if r is None else r >= 0.8,
        "{:.2f}×",
    )
    r = ratio(t, by["batch"], "aiohttp+durable", "aiohttp")
    add(
        "the bound: a durable loop with no SDK (the issue's must-haves on bare aiohttp) vs a "
        "raw aiohttp loop (measured, no target)",
        r,
        None,
        "{:.2f}×",
    )
    r = ratio(t, by["batch"], "llama_client[aiohttp]", "aiohttp+durable")
    add(
        "batch job (aiohttp transport) vs that durable loop (measured, no target)",
        r,
        None,
        "{:.2f}×",
    )
    own = t.get("async_many", {}).get("llama_client[aiohttp]")
    job = t.get("batch", {}).get("llama_client[aiohttp]")
    if own is not None and job is not None:
        r = job["median"] / own["median"]
        add(
            "batch job ≥ 0.8× the same client's plain async loop (async_many column)",
            r,
            r >= 0.8,
            "{:.2f}×",
        )
    mem = t.get("batch_input", {}).get("llama_client")
    if mem is not None:
        r = ratio(t, by["batch_input"], "llama_client")
        add(
            f"batch input of 1M lines: peak RSS {mem['median']:.0f} MiB "
            "(× parsing it into a list; lower is better)",
            r,
            None if r is None else r < 1.0,
            "{:.2f}×",
        )
    for key, label in (
        ("soak", "sync"),
        ("soak_aiohttp", "async, aiohttp, 64 in flight"),
        ("soak_httpx_aiohttp", "async, httpx-aiohttp, 64 in flight"),
    ):
        soak = report.get(key)
        if not soak:
            continue
        req = [v / 1024 for k, v in soak.items() if k.endswith("_requests_kb")]
        brk = [v / 1024 for k, v in soak.items() if k.endswith("_broken_kb")]
        # Growth over the second half of each phase, once pools and allocators are warm.
        growth = (req[-1] - req[-2]) + (brk[-1] - brk[-2])
        add(
            f"memory flat ({label}): RSS after 10/50/100 % of "
            f"{soak['params']['requests']:,} requests {' / '.join(f'{x:.1f}' for x in req)} MiB, "
            f"of {soak['params']['broken']:,} broken streams {' / '.join(f'{x:.1f}' for x in brk)} MiB "
            f"({soak['broken_errors']:,} StreamErrors raised, {soak['connections_in_use']} "
            "connections left in use)",
            growth,
            growth < 2.0,
            "{:+.1f} MiB over the second halves",
        )
    return rows


def fmt(v: float) -> str:
    return f"{v:,.0f}" if v >= 100 else f"{v:,.1f}" if v >= 10 else f"{v:.2f}"


def markdown(report: dict[str, Any]) -> str:
    t = table(report)
    clients = [c for c in CLIENT_ORDER if any(c in t.get(s.name, {}) for s in SCENARIOS)]
    lines = [
        f"# Benchmark results ({report['date']})",
        "",
        f"`python benchmarks/run.py` — {report['runs']} fresh-process runs per cell, median "
        "(spread = (max − min) / median). Ratios are to the floor named in each column; for "
        "import a lower ratio is better, for the rest higher is better.",
        "",
        "| client | "
        + " | ".join(f"{s.title}, {s.unit} (× {s.floor})" for s in SCENARIOS)
        + " | CPU µs/request | peak RSS MiB |",
        "|---" * (len(SCENARIOS) + 3) + "|",
    ]
    for client in clients:
        cells = [f"`{client}`"]
        for s in SCENARIOS:
            c = t.get(s.name, {}).get(client)
            if c is None:
                cells.append("n/a")
                continue
            r = ratio(t, s, client)
            spread = (c["max"] - c["min"]) / c["median"] * 100 if c["median"] else 0
            cells.append(f"{fmt(c['median'])} ±{spread:.0f}% ({r:.2f}×)" if r else fmt(c["median"]))
        seq = t.get("seq", {}).get(client) or t.get("async_many", {}).get(client)
        cells.append(f"{seq['cpu_us_per_op']:.0f}" if seq else "n/a")
        rss = max(
            (t[s.name][client]["maxrss_mib"] for s in SCENARIOS[1:] if client in t.get(s.name, {})),
            default=None,
        )
        cells.append(f"{rss:.0f}" if rss else "n/a")
        lines.append("| " + " | ".join(cells) + " |")
    lines += [
        "",
        "Floors: `httpx+pydantic` is httpx plus hand-written pydantic models; raw `httpx` in "
        "the async column is `httpx.AsyncClient()` with its default limits. CPU µs/request is "
        "from the sequential run (async run for async-only clients). The tool-call column "
        "streams a call to `get_weather` and merges it into one completion. In the batch "
        "column, `aiohttp+durable` is a batch run's own floor: the input read twice, each body "
        "hashed, each answer appended as a result line with grouped `fsync`, on bare aiohttp "
        "with no SDK.",
        "",
        "## Targets",
        "",
        "| target | measured | met |",
        "|---|---|---|",
    ]
    for label, value, ok in targets(t, report):
        lines.append(
            f"| {label} | {value} | {'yes' if ok else 'n/a' if ok is None else '**no**'} |"
        )
    cap = report["server_capacity"]
    m = report["machine"]
    lines += [
        "",
        "## Conditions",
        "",
        f"- Server's own capacity (raw sockets, no HTTP library): {cap['seq_req_s']:,.0f} "
        f"sequential req/s, {cap['stream_chunks_s']:,.0f} stream chunks/s, "
        f"{cap['async64_req_s']:,.0f} req/s at 64 in flight.",
        f"- Machine: {m['cpus']} CPUs, {m['platform']}; load average at start "
        f"{', '.join(f'{x:.2f}' for x in m['load_at_start'])}, at end "
        f"{', '.join(f'{x:.2f}' for x in m['load_at_end'])}.",
        "- Versions: " + ", ".join(f"{k} {v}" for k, v in report["versions"].items()) + ".",
        "",
    ]
    return "\n".join(lines)


def chart(report: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    t = table(report)
    fig, axes = plt.subplots(1, len(SCENARIOS), figsize=(4.2 * len(SCENARIOS), 4.2))
    for ax, s in zip(axes, SCENARIOS, strict=True):
        cells = t.get(s.name, {})
        names = [c for c in CLIENT_ORDER if c in cells]
        values = [ratio(t, s, c) or 0.0 for c in names]
        colors = ["#2a7ab9" if c.startswith("llama_client") else "#999999" for c in names]
        ax.barh(names[::-1], values[::-1], color=colors[::-1])
        ax.axvline(1.0, color="black", linewidth=0.8)
        ax.set_title(
            f"{s.title}\n(× {s.floor}, {'higher' if s.higher_is_better else 'lower'} is better)",
            fontsize=9,
        )
        if max(values, default=1) / max(min((v for v in values if v), default=1), 1e-9) > 20:
            ax.set_xscale("log")
        ax.tick_params(labelsize=8)
    fig.suptitle(
        f"llama_client benchmark, {report['date']} (median of {report['runs']} runs)", fontsize=10
    )
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main() -> None:
    parser = argparse.ArgumentParser(description="Benchmark llama_client against floors and peers.")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--clients", default="", help="comma-separated; default all")
    parser.add_argument("--scenarios", default="", help="comma-separated; default all")
    parser.add_argument("--no-soak", action="store_true")
    parser.add_argument(
        "--out", type=Path, default=RESULTS, help="directory for latest.{json,md,png}"
    )
    parser.add_argument(
        "--report-only", action="store_true", help="redo table and chart from latest.json"
    )
    args = parser.parse_args()
    ensure_venv()
    if args.quick and args.runs == 5:
        args.runs = 3
    out: Path = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    if args.report_only:
        report = json.loads((out / "latest.json").read_text())
    else:
        report = run(args)
        (out / "latest.json").write_text(json.dumps(report, indent=1))
    (out / "latest.md").write_text(markdown(report))
    chart(report, out / "latest.png")
    print((out / "latest.md").read_text())


if __name__ == "__main__":
    main()
