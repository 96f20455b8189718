#!/usr/bin/env bash
# Creates the benchmark environment: a separate venv with this project (editable, with the
# aiohttp extra) and the peers it is compared with. The peers are never project dependencies.
#   bash benchmarks/setup.sh            # venv in ~/.cache/llama-client-bench/venv
#   BENCH_VENV=/some/where bash benchmarks/setup.sh
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${BENCH_VENV:-$HOME/.cache/llama-client-bench/venv}
PY=${PYTHON:-python3}
if [ ! -x "$VENV/bin/python" ]; then
    "$PY" -m venv "$VENV"
fi
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade pip
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check \
    -e '.[aiohttp,tokens,otel]' opentelemetry-sdk 'openai[aiohttp]' litellm aiohttp httpx-aiohttp matplotlib psutil pyinstrument
echo "$VENV/bin/python"
