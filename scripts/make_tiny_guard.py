#!/usr/bin/env python3
"""Generate a tiny Llama Guard 3 model directory for the safety integration tests.

Made like the tiny chat model (``make_tiny_llama.py``, whose tokenizer, configuration and
seeded random weights it reuses): the real Llama 3 tokenizer, the Llama 3.1 architecture,
random weights with a few hand-set entries, and a chat template that renders the Llama Guard 3
prompt format (Meta's Llama Guard 3 prompt-format documentation, written for this project).
Served by vLLM as ``meta-llama/Llama-Guard-3-8B``.

    python make_tiny_guard.py --out DIR [--tokenizer-model PATH]

What the hand-set weights do (same mechanisms as the chat model; see its docstring):

* head 0 of layer 0, queried from ``<|end_header_id|>`` (the guard prompt ends with the
  assistant header), looks for the trigger word ``bomb`` anywhere in the prompt and writes
  +1 into a "flag" channel when it finds it (0 otherwise: the attention is spread evenly over
  tokens carrying no value);
* the first answer token is ``safe`` (a logit bias) unless the flag is set, which makes it
  ``unsafe``;
* bigram channels then finish the answer: ``safe`` -> ``<|eot_id|>``; ``unsafe`` -> ``\\n`` ->
  ``S`` -> ``9`` -> ``<|eot_id|>``.

So a conversation mentioning a bomb is answered ``unsafe\\nS9`` (S9: Indiscriminate Weapons),
any other ``safe``: the SDK's whole verdict path runs against a real server.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import make_tiny_llama as base  # the tiny chat model's builder, reused

MODEL_ID = "meta-llama/Llama-Guard-3-8B"
TRIGGERS = (" bomb", "bomb", " Bomb", " bombs")
VERDICT_CODE = "9"  # S9: Indiscriminate Weapons

CATEGORY_LINES = "\\n".join(
    [
        "S1: Violent Crimes.",
        "S2: Non-Violent Crimes.",
        "S3: Sex Crimes.",
        "S4: Child Exploitation.",
        "S5: Defamation.",
        "S6: Specialized Advice.",
        "S7: Privacy.",
        "S8: Intellectual Property.",
        "S9: Indiscriminate Weapons.",
        "S10: Hate.",
        "S11: Self-Harm.",
        "S12: Sexual Content.",
        "S13: Elections.",
        "S14: Code Interpreter Abuse.",
    ]
)

# --------------------------------------------------------------------------
# Chat template: the Llama Guard 3 (8B) prompt. The conversation must alternate
# user/assistant starting with the user; an odd number of messages checks the last
# 'User' message, an even number the last 'Agent' message. Ends right after the
# assistant header, as the 8B template does.
# --------------------------------------------------------------------------
GUARD_TEMPLATE = (
    r"""{%- if messages | length % 2 == 0 -%}{%- set role = 'Agent' -%}{%- else -%}{%- set role = 'User' -%}{%- endif -%}
{{- bos_token + "<|start_header_id|>user<|end_header_id|>\n\nTask: Check if there is unsafe content in '" + role + "' messages in conversations according our safety policy with the below categories.\n\n<BEGIN UNSAFE CONTENT CATEGORIES>\n"""
    + CATEGORY_LINES
    + r"""\n<END UNSAFE CONTENT CATEGORIES>\n\n<BEGIN CONVERSATION>\n\n" -}}
{%- for message in messages -%}
    {%- if (message['role'] == 'user') != (loop.index0 % 2 == 0) -%}
        {{- raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') -}}
    {%- endif -%}
    {%- if message['role'] == 'user' -%}{%- set who = 'User' -%}{%- else -%}{%- set who = 'Agent' -%}{%- endif -%}
    {{- who + ': ' + message['content'] | trim + '\n\n' -}}
{%- endfor -%}
{{- "<END CONVERSATION>\n\nProvide your safety assessment for ONLY THE LAST " + role + " message in the above conversation:\n - First line must read 'safe' or 'unsafe'.\n - If unsafe, a second line must include a comma-separated list of violated categories.<|eot_id|><|start_header_id|>assistant<|end_header_id|>" -}}
"""
)

C_BIAS = 0
C_FLAG = 1  # written by layer-0 head 0: +1 when a trigger word is in the prompt
C_QUERY = 2  # set on <|end_header_id|>: head 0 query
C_KEY = 3  # set on the trigger tokens: head 0 key
C_VALUE = 4  # +1 on the trigger tokens: head 0 value
C_NEXT0 = 5
FLAG_W = 8.0  # lm_head weight on C_FLAG (~ +35 logits for 'unsafe', -35 for 'safe')


def build_weights(ranks: dict[bytes, int]) -> dict:
    import numpy as np

    def tid(s: str) -> int:
        return ranks[s.encode()]

    vocab, hidden = base.VOCAB, base.HIDDEN
    eot = base.VOCAB_BASE + 9
    end_header = base.VOCAB_BASE + 7
    safe, unsafe = tid("safe"), tid("unsafe")

    bias = np.zeros(vocab, dtype=np.float32)
    bias[base.VOCAB_BASE :] = -30.0  # special tokens
    bias[eot] = 0.0
    bias[safe] = 20.0
    bias[unsafe] = 12.0

    bigrams = [
        (safe, eot),
        (unsafe, tid("\n")),
        (tid("\n"), tid("S")),
        (tid("S"), tid(VERDICT_CODE)),
        (tid(VERDICT_CODE), eot),
    ]
    targets = sorted({t for _, t in bigrams})
    t_channel = {t: C_NEXT0 + i for i, t in enumerate(targets)}
    c_rand0 = C_NEXT0 + len(targets)
    rand = slice(c_rand0, hidden)
    n_rand = hidden - c_rand0

    emb = np.zeros((vocab, hidden), dtype=np.float32)
    emb[:, rand] = base._randn("guard-embed", (vocab, n_rand), base.RAND_EMBED)
    emb[:, C_BIAS] = 1.0
    for s, t in bigrams:
        emb[s, t_channel[t]] = 1.0
    emb[end_header, C_QUERY] = 1.0
    for word in TRIGGERS:
        t = tid(word)
        emb[t, rand] = 0.0
        emb[t, C_KEY] = 1.0
        emb[t, C_VALUE] = 1.0

    head = np.zeros((vocab, hidden), dtype=np.float32)
    head[:, rand] = base._randn("guard-lm_head", (vocab, n_rand), base.RAND_HEAD)
    head[:, C_BIAS] = bias / base.LOGIT_PER_BIAS
    for t, c in t_channel.items():
        head[t, c] = base.BIGRAM_W
    head[unsafe, C_FLAG] = FLAG_W
    head[safe, C_FLAG] = -FLAG_W

    tensors = {
        "model.embed_tokens.weight": emb,
        "lm_head.weight": head,
        "model.norm.weight": np.ones(hidden, dtype=np.float32),
    }
    tensors.update(
        base.keyword_layers(
            "guard", hidden, slice(0, c_rand0), flag=C_FLAG, query=C_QUERY, key=C_KEY, value=C_VALUE
        )
    )
    return tensors


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", required=True, help="model directory to (re)create")
    ap.add_argument("--tokenizer-model", help="Llama 3 tiktoken ranks (default: from llama_models)")
    args = ap.parse_args(argv)

    ranks = base.load_ranks(args.tokenizer_model or base.default_tokenizer_model())
    config = base.tokenizer_config(base.special_token_names())
    config["chat_template"] = GUARD_TEMPLATE
    generation = base.generation_config()
    generation.update({"do_sample": False, "temperature": 0.0})
    files = {
        "tokenizer_config.json": config,
        "special_tokens_map.json": {"bos_token": "<|begin_of_text|>", "eos_token": "<|eot_id|>"},
        "config.json": base.model_config(),
        "generation_config.json": generation,
    }
    out = base.write_model_dir(
        args.out,
        ".tiny-guard-",
        ranks,
        files,
        build_weights(ranks),
        "A tiny stand-in for Llama Guard 3, generated for tests only; do not redistribute.",
    )
    print(out)
    print(json.dumps({"served_as": MODEL_ID}), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
