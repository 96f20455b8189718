"""This checkout against another one: does a change cost anything when its feature is off?

    python benchmarks/against.py /path/to/other/checkout [--scenarios seq,stream] [--runs 5]

Runs ``clients.py llama_client SCENARIO`` of each checkout (each measures its own
``llama_client``), interleaved, in fresh processes against one local server, in the benchmark
venv (``run.py`` creates it), and prints the median CPU time per operation of each and their
ratio. CPU time of the client process, not wall time: what a change adds is computation, and
CPU time reads it through the noise of a busy machine. The other checkout's ``clients.py`` must
measure that checkout (older ones measure whatever the venv's editable install points at: pass
``PYTHONPATH=/path/to/other/checkout`` in that case, as this script does).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from run import SCENARIOS, VENV, Server  # noqa: E402


def sample(checkout: Path, scenario: str, url: str, params: dict[str, object]) -> float:
    """CPU microseconds per operation of one fresh-process run of ``checkout``'s client."""
    env = {**os.environ, "PYTHONPATH": str(checkout)}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    out = subprocess.run(
        [
            sys.executable,
            str(checkout / "benchmarks" / "clients.py"),
            "llama_client",
            scenario,
            url,
            json.dumps(params),
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
        check=True,
    )
    result = json.loads(out.stdout.strip().splitlines()[-1])
    return 1e6 * float(result["cpu"]) / float(result["ops"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("other", type=Path, help="the checkout to compare with")
    parser.add_argument("--scenarios", default="seq,stream")
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    if Path(sys.prefix).resolve() != VENV.resolve():  # re-run in the benchmark venv
        python = VENV / "bin/python"
        if not python.exists():
            sys.exit(f"no benchmark venv in {VENV}: run benchmarks/run.py once to create it")
        os.execv(str(python), [str(python), __file__, *sys.argv[1:]])
    mine, other = HERE.parent, args.other.resolve()
    by_name = {s.name: s for s in SCENARIOS}
    server = Server()
    try:
        for name in args.scenarios.split(","):
            scenario = by_name[name]
            url = server.url(scenario.prefix)
            times: dict[str, list[float]] = {"this": [], "other": []}
            for _ in range(args.runs):
                times["this"].append(sample(mine, name, url, scenario.quick_params or {}))
                times["other"].append(sample(other, name, url, scenario.quick_params or {}))
            a, b = statistics.median(times["this"]), statistics.median(times["other"])
            print(
                f"{name}: this checkout {a:.2f} CPU µs/op, {other} {b:.2f} CPU µs/op: "
                f"{a / b:.3f}× the other's CPU time (runs: {args.runs}, load "
                f"{os.getloadavg()[0]:.1f})"
            )
    finally:
        server.stop()


if __name__ == "__main__":
    main()
