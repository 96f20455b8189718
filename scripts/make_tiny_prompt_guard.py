#!/usr/bin/env python3
"""Generate a tiny Prompt Guard stand-in: a sequence classifier vLLM serves on ``/classify``.

Prompt Guard itself is an mDeBERTa classifier, which vLLM does not serve; this stand-in has the
same three classes in the same order (0 ``BENIGN``, 1 ``INJECTION``, 2 ``JAILBREAK``) on the
tiny Llama architecture of ``make_tiny_llama.py`` (``LlamaForSequenceClassification``: the
last token's hidden state through a 3-row ``score`` layer), with the real Llama 3 tokenizer.
It lets the integration tier exercise the SDK's ``safety.scan`` against vLLM's real
classification API.

    python make_tiny_prompt_guard.py --out DIR [--tokenizer-model PATH]

Hand-set weights: every token queries (layer 0, head 0) for the word ``ignore``; when the text
holds it, a "flag" channel is set at the last token and the ``JAILBREAK`` logit wins by a wide
margin. Otherwise ``BENIGN`` wins.
"""

from __future__ import annotations

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import make_tiny_llama as base  # the tiny chat model's builder, reused

MODEL_ID = "meta-llama/Prompt-Guard-86M"
LABELS = ("BENIGN", "INJECTION", "JAILBREAK")
TRIGGERS = (" ignore", "ignore", " Ignore", "Ignore")

C_BIAS = 0  # constant 1: also the query of head 0 (every token asks)
C_FLAG = 1  # written by head 0: +1 when a trigger is in the text
C_KEY = 2
C_VALUE = 3
C_RAND0 = 4


def build_weights(ranks: dict[bytes, int]) -> dict:
    import numpy as np

    vocab, hidden = base.VOCAB, base.HIDDEN
    rand = slice(C_RAND0, hidden)
    n_rand = hidden - C_RAND0
    emb = np.zeros((vocab, hidden), dtype=np.float32)
    emb[:, rand] = base._randn("pg-embed", (vocab, n_rand), base.RAND_EMBED)
    emb[:, C_BIAS] = 1.0
    for word in TRIGGERS:
        t = ranks[word.encode()]
        emb[t, rand] = 0.0
        emb[t, C_KEY] = 1.0
        emb[t, C_VALUE] = 1.0

    score = np.zeros((len(LABELS), hidden), dtype=np.float32)
    score[0, C_BIAS] = 0.8  # BENIGN: ~ +4 logits
    score[2, C_BIAS] = -0.4  # JAILBREAK: ~ -2 logits ...
    score[2, C_FLAG] = 3.0  # ... ~ +13 more when the flag is set

    tensors = {
        "model.embed_tokens.weight": emb,
        "score.weight": score,
        "model.norm.weight": np.ones(hidden, dtype=np.float32),
    }
    tensors.update(
        base.keyword_layers(
            "pg", hidden, slice(0, C_RAND0), flag=C_FLAG, query=C_BIAS, key=C_KEY, value=C_VALUE
        )
    )
    return tensors


def model_config() -> dict:
    config = base.model_config()
    config["architectures"] = ["LlamaForSequenceClassification"]
    config["id2label"] = {str(i): name for i, name in enumerate(LABELS)}
    config["label2id"] = {name: i for i, name in enumerate(LABELS)}
    config["num_labels"] = len(LABELS)
    config["pad_token_id"] = base.VOCAB_BASE + 4  # <|finetune_right_pad_id|>
    return config


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", required=True, help="model directory to (re)create")
    ap.add_argument("--tokenizer-model", help="Llama 3 tiktoken ranks (default: from llama_models)")
    args = ap.parse_args(argv)

    ranks = base.load_ranks(args.tokenizer_model or base.default_tokenizer_model())
    config = base.tokenizer_config(base.special_token_names())
    config["pad_token"] = "<|finetune_right_pad_id|>"
    files = {
        "tokenizer_config.json": config,
        "special_tokens_map.json": {"bos_token": "<|begin_of_text|>", "eos_token": "<|eot_id|>"},
        "config.json": model_config(),
    }
    out = base.write_model_dir(
        args.out,
        ".tiny-pg-",
        ranks,
        files,
        build_weights(ranks),
        "A tiny stand-in for Prompt Guard, generated for tests only; do not redistribute.",
    )
    print(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
