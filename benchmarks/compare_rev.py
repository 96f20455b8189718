"""This checkout's llama_client against an older revision of itself, in the same run.

    python benchmarks/compare_rev.py REV [--runs N] [--scenarios seq,stream,tool_stream,async_many]

The README table compares llama_client with floors (httpx plus pydantic models) run by run.
A floor's own spread on a shared machine is often ±15 % or more, so comparing a ratio in one
table with the same ratio in an older table cannot tell a small regression from noise. This
script answers "is this change slower than REV?" directly: it checks REV out into a temporary
git worktree, then measures both trees' ``llama_client`` with the same client code
(``clients.py``, ``LlamaClientSDK``) against the same local server, alternating fresh
processes, several runs each. Only the ``llama_client`` package differs between the two
sides (chosen by ``PYTHONPATH``).

Reported per scenario: the median and the minimum of the rate and of the CPU time per
operation for each side, and ``this / REV`` ratios (rate: higher is better; CPU: lower is
better). The minimum is the better estimate of a cost on a noisy machine; the median shows how
noisy it was. Runs inside the benchmark venv like ``run.py`` (which it re-uses).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

import run  # noqa: E402  (the benchmark's server and scenario table)

PARAMS = {
    "seq": {"n": 2000},
    "stream": {"chunks": 2000, "repeats": 10},
    "tool_stream": {"n": 300},
    "async_many": {"total": 1000, "concurrency": 64},
}
#: the client of ``clients.py`` each scenario is measured with (async: the aiohttp transport)
CLIENT = {"async_many": "llama_client[aiohttp]"}


def _measure(tree: Path, scenario: str, url: str, params: dict[str, Any]) -> dict[str, float]:
    env = {**os.environ, "PYTHONPATH": str(tree)}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    out = subprocess.run(
        [
            sys.executable,
            str(HERE / "clients.py"),
            "llama_client",
            scenario,
            url,
            json.dumps(params),
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    if out.returncode != 0:
        raise RuntimeError(f"{tree}: {scenario} failed:\n{out.stderr[-2000:]}")
    sample = json.loads(out.stdout.strip().splitlines()[-1])
    ops = float(sample["ops"])
    return {"rate": ops / float(sample["wall"]), "cpu_us": float(sample["cpu"]) / ops * 1e6}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("rev", help="the git revision to compare with, e.g. 66a0ed4")
    parser.add_argument("--runs", type=int, default=8)
    parser.add_argument("--scenarios", default="seq,stream,tool_stream,async_many")
    args = parser.parse_args()
    if Path(sys.prefix).resolve() != run.VENV.resolve():  # as run.py: inside the bench venv
        python = run.VENV / "bin/python"
        if not python.exists():
            subprocess.run(["bash", str(HERE / "setup.sh")], check=True)
        os.execv(str(python), [str(python), __file__, *sys.argv[1:]])
    scenarios = {s.name: s for s in run.SCENARIOS}
    chosen = [scenarios[name] for name in args.scenarios.split(",")]

    with tempfile.TemporaryDirectory(prefix="llama-client-rev-") as tmp:
        old = Path(tmp) / "tree"
        subprocess.run(
            ["git", "-C", str(ROOT), "worktree", "add", "--detach", "-q", str(old), args.rev],
            check=True,
        )
        server = run.Server()
        try:
            results: dict[str, dict[str, list[dict[str, float]]]] = {}
            for i in range(args.runs):
                for scenario in chosen:
                    for side, tree in (("this", ROOT), ("rev", old)):
                        sample = _measure(
                            tree, scenario.name, server.url(scenario.prefix), PARAMS[scenario.name]
                        )
                        results.setdefault(scenario.name, {}).setdefault(side, []).append(sample)
                        print(
                            f"run {i + 1}/{args.runs} {scenario.name:<7} {side:<5} "
                            f"{sample['rate']:10.1f} {scenario.unit:<9} {sample['cpu_us']:7.1f} µs CPU/op",
                            flush=True,
                        )
        finally:
            server.stop()
            subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(old)])

    head = subprocess.run(
        ["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True, text=True
    ).stdout.strip()
    print(f"\nthis = working tree at {head}, rev = {args.rev}; {args.runs} runs per side\n")
    print("| scenario | rate this / rev (median, best) | CPU/op this / rev (median, min) |")
    print("|---|---|---|")
    for name, sides in results.items():

        def stat(side: str, key: str, pick: Any, sides: Any = sides) -> float:
            return float(pick([s[key] for s in sides[side]]))

        rate_med = stat("this", "rate", statistics.median) / stat("rev", "rate", statistics.median)
        rate_best = stat("this", "rate", max) / stat("rev", "rate", max)
        cpu_med = stat("this", "cpu_us", statistics.median) / stat(
            "rev", "cpu_us", statistics.median
        )
        cpu_min = stat("this", "cpu_us", min) / stat("rev", "cpu_us", min)
        print(f"| {name} | {rate_med:.3f}×, {rate_best:.3f}× | {cpu_med:.3f}×, {cpu_min:.3f}× |")


if __name__ == "__main__":
    main()
