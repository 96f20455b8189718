"""Talk to a vLLM server on your own machine.

Start vLLM on a GPU box (tool calling enabled the way Llama 3.1 expects):

    vllm serve meta-llama/Llama-3.1-8B-Instruct \\
        --enable-auto-tool-choice --tool-call-parser llama3_json

then run this script. It uses http://localhost:8000/v1 unless LLAMA_BASE_URL says otherwise,
sends no key unless LLAMA_API_KEY is set (vLLM's --api-key), and picks the served model.

    python examples/local_vllm.py
"""

from __future__ import annotations

import sys

from llama_client import APIConnectionError, APIStatusError, LlamaClient


def main() -> int:
    with LlamaClient(max_retries=0) as client:
        try:
            models = client.models.list()
        except APIConnectionError:
            print(
                f"No server at {client.base_url}. Start vLLM (see this file's docstring) or "
                "`bash scripts/demo.sh` for a tiny CPU test server.",
                file=sys.stderr,
            )
            return 1
        except APIStatusError as exc:
            print(f"The server answered {exc.status_code}: {exc.message}", file=sys.stderr)
            return 1
        if not models and not client.model:
            print("The server lists no models; set LLAMA_MODEL.", file=sys.stderr)
            return 1
        for card in models:
            extra = card.model_extra or {}
            print(
                f"serving {card.id} (context window: {extra.get('max_model_len', 'unknown')} tokens)"
            )
        model = client.model or models[0].id
        r = client.chat.completions.create(
            model=model,
            messages=[{"role": "user", "content": "In one sentence: what is vLLM?"}],
            max_tokens=48,
            temperature=0.0,
            # vLLM-specific sampling options go through extra_body:
            extra_body={"top_k": 20, "repetition_penalty": 1.05},
        )
        print(r.choices[0].message.content or "(the reply has no text)")
        # vLLM reports which stop string or token ended the answer (None means end of sequence).
        print(
            f"finish_reason={r.choices[0].finish_reason} stop_reason={r.choices[0].stop_reason!r}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
