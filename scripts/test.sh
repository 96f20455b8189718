#!/usr/bin/env bash
# The whole test suite, as CI runs it, from a fresh machine:
#   1. installs the project with its dev extras,
#   2. checks that the sync code generated from llama_client/_async is current, then
#      runs the unit tier (offline, respx) and the reliability tier (a misbehaving server on
#      127.0.0.1, hypothesis properties, secrets),
#   3. builds (once, cached in ~/.cache/llama-client-it) and starts four tiny local vLLM servers
#      on 127.0.0.1 -- one open, one started with --api-key, the tiny Llama Guard 3 stand-in
#      (--model guard) and the tiny Prompt Guard stand-in (--model promptguard) -- and runs the
#      integration tier against them (a server that fails to start fails the run),
#   4. runs mypy --strict, ruff check and ruff format --check (llama_client/_sync is excluded
#      from formatting: it is generated, and step 2 keeps it equal to its source).
# Any failure, including a pytest run that collects no test, exits non-zero.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}

echo "== install" >&2
"$PY" -m pip install --quiet --disable-pip-version-check --root-user-action=ignore -e '.[dev]'

echo "== generated sync code is current (scripts/unasync.py --check)" >&2
"$PY" scripts/unasync.py --check

echo "== unit tier" >&2
"$PY" -m pytest tests/unit -q -p no:cacheprovider

echo "== reliability tier: fault server on 127.0.0.1, hypothesis, secrets" >&2
"$PY" -m pytest tests/reliability -q -p no:cacheprovider

echo "== integration tier: starting the tiny local vLLM servers" >&2
"$PY" scripts/it_server.py setup
stop_servers() { "$PY" scripts/it_server.py stop --name it >/dev/null 2>&1 || true
                 "$PY" scripts/it_server.py stop --name it-auth >/dev/null 2>&1 || true
                 "$PY" scripts/it_server.py stop --name it-guard >/dev/null 2>&1 || true
                 "$PY" scripts/it_server.py stop --name it-promptguard >/dev/null 2>&1 || true; }
trap stop_servers EXIT
AUTH_KEY="it-$(date +%s)-$RANDOM"
url=$("$PY" scripts/it_server.py start --name it | tail -n 1)
auth_url=$("$PY" scripts/it_server.py start --name it-auth --api-key "$AUTH_KEY" | tail -n 1)
guard_url=$("$PY" scripts/it_server.py start --name it-guard --model guard | tail -n 1)
pg_url=$("$PY" scripts/it_server.py start --name it-promptguard --model promptguard | tail -n 1)

LLAMA_IT_BASE_URL="$url" LLAMA_IT_AUTH_BASE_URL="$auth_url" LLAMA_IT_AUTH_KEY="$AUTH_KEY" \
LLAMA_IT_GUARD_BASE_URL="$guard_url" LLAMA_IT_PROMPT_GUARD_BASE_URL="$pg_url" \
LLAMA_IT_REQUIRED=1 "$PY" -m pytest tests/integration -q -p no:cacheprovider -rs

echo "== type check and lint" >&2
"$PY" -m mypy --strict llama_client
"$PY" -m ruff check llama_client tests scripts examples benchmarks
"$PY" -m ruff format --check .
echo "== all checks passed" >&2
