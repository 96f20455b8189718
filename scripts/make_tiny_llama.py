#!/usr/bin/env python3
"""Generate a tiny Llama-3.1-architecture model directory for integration tests.

Runs inside the vLLM virtualenv made by ``scripts/it_server.py setup`` (it needs
numpy, safetensors, tokenizers, transformers and tiktoken, which vLLM brings, plus
the ``llama-models`` wheel for the Llama 3 tokenizer ranks).

    python make_tiny_llama.py --out DIR [--tokenizer-model PATH]

Writes config.json, generation_config.json, model.safetensors, tokenizer.json,
tokenizer_config.json (with a Llama 3.1 Instruct chat template) and
special_tokens_map.json. The output is byte-for-byte reproducible: every random
draw comes from a generator seeded from a fixed seed and the tensor name.

The tokenizer ranks are the real Llama 3 BPE ranks, read at build time from the
installed ``llama_models`` package; they are under the Llama 3 Community License
and are never committed to this repository.

The weights are random except for a few hand-set entries that make the model
behave usefully under a real server (see ``build_weights``):

* channel 0 of every embedding is a constant; the lm_head column reading it is a
  per-token logit bias: whitespace-only tokens, newlines and special tokens are
  pushed down, JSON closers (``"``, ``":``, ``}``, ``]``, ``,``), ``{"``, ``Paris``,
  ``42`` and ``<|eot_id|>`` are pushed up, so that constrained decoding terminates;
* a few "bigram" channels (current token -> next token) make plain chat answer
  ``This is a tiny test model.`` and stop, make every JSON string value read
  ``Paris`` and unconstrained JSON read ``{"name": "Paris"}`` and stop;
* head 0 of layer 0, queried from the token that ends the assistant header
  (``\\n\\n``), looks for ``Environment`` (written by the chat template only when
  tools are given; value +1) and for the ``ipy`` of an ``ipython`` (tool result)
  header (value -1). A positive result makes the first token ``{"`` so that a
  tool call starts; once a tool result is in the conversation the model answers
  with the plain sentence again, so a multi-round tool loop ends.
"""

from __future__ import annotations

import argparse
import hashlib
import itertools
import json
import os
import shutil
import sys
import tempfile

SEED = 20240726

VOCAB_BASE = 128000
NUM_SPECIAL = 256
VOCAB = VOCAB_BASE + NUM_SPECIAL
HIDDEN = 64
LAYERS = 2
HEADS = 2
KV_HEADS = 1
HEAD_DIM = 32
INTERMEDIATE = 128

SENTENCE = "This is a tiny test model."

SPLIT_PATTERN = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}"
    r"| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
)

# --------------------------------------------------------------------------
# Chat template: the Llama 3.1 Instruct prompt format (Meta's prompt-format
# documentation), written for this project.
# Tools go into the first user message unless tools_in_user_message=false;
# "Environment: ipython" is emitted whenever tools or builtin_tools are given;
# tool results render as the ipython role (content passed through tojson);
# an assistant message must carry exactly one tool call.
# --------------------------------------------------------------------------
CHAT_TEMPLATE = r"""{{- bos_token }}
{%- if custom_tools is defined %}{% set tools = custom_tools %}{% endif %}
{%- if tools is not defined %}{% set tools = none %}{% endif %}
{%- if tools_in_user_message is not defined %}{% set tools_in_user_message = true %}{% endif %}
{%- if date_string is not defined %}{% set date_string = "26 Jul 2024" %}{% endif %}
{%- set call_format = 'Respond in the format {"name": function name, "parameters": dictionary of argument name and its value}.' + "Do not use variables.\n\n" %}
{%- if messages | length > 0 and messages[0]['role'] == 'system' %}
    {%- set system_message = messages[0]['content'] | trim %}
    {%- set messages = messages[1:] %}
{%- else %}
    {%- set system_message = "" %}
{%- endif %}
{{- "<|start_header_id|>system<|end_header_id|>\n\n" }}
{%- if builtin_tools is defined or tools is not none %}
    {{- "Environment: ipython\n" }}
{%- endif %}
{%- if builtin_tools is defined %}
    {{- "Tools: " + builtin_tools | reject('equalto', 'code_interpreter') | join(", ") + "\n\n" }}
{%- endif %}
{{- "Cutting Knowledge Date: December 2023\n" }}
{{- "Today Date: " + date_string + "\n\n" }}
{%- if tools is not none and not tools_in_user_message %}
    {{- "You have access to the following functions. To call a function, please respond with JSON for a function call." }}
    {{- call_format }}
    {%- for t in tools %}
        {{- t | tojson(indent=4) + "\n\n" }}
    {%- endfor %}
{%- endif %}
{{- system_message + "<|eot_id|>" }}
{%- if tools is not none and tools_in_user_message %}
    {%- if messages | length == 0 %}
        {{- raise_exception("Cannot put tools in the first user message when there's no first user message!") }}
    {%- endif %}
    {%- set first_user_message = messages[0]['content'] | trim %}
    {%- set messages = messages[1:] %}
    {{- "<|start_header_id|>user<|end_header_id|>\n\n" }}
    {{- "Given the following functions, please respond with a JSON for a function call with its proper arguments that best answers the given prompt.\n\n" }}
    {{- call_format }}
    {%- for t in tools %}
        {{- t | tojson(indent=4) + "\n\n" }}
    {%- endfor %}
    {{- first_user_message + "<|eot_id|>" }}
{%- endif %}
{%- for message in messages %}
    {%- if message['role'] == 'tool' or message['role'] == 'ipython' %}
        {{- "<|start_header_id|>ipython<|end_header_id|>\n\n" }}
        {%- if message['content'] is mapping or message['content'] is iterable %}
            {{- message['content'] | tojson }}
        {%- else %}
            {{- message['content'] }}
        {%- endif %}
        {{- "<|eot_id|>" }}
    {%- elif 'tool_calls' in message %}
        {%- if message['tool_calls'] | length != 1 %}
            {{- raise_exception("This model only supports single tool-calls at once!") }}
        {%- endif %}
        {%- set call = message['tool_calls'][0]['function'] %}
        {{- "<|start_header_id|>assistant<|end_header_id|>\n\n" }}
        {%- if builtin_tools is defined and call['name'] in builtin_tools %}
            {{- "<|python_tag|>" + call['name'] + ".call(" }}
            {%- for arg_name, arg_value in call['arguments'] | items %}
                {{- arg_name + '="' + arg_value + '"' }}
                {%- if not loop.last %}{{- ", " }}{%- endif %}
            {%- endfor %}
            {{- ")" }}
        {%- else %}
            {{- '{"name": "' + call['name'] + '", "parameters": ' + call['arguments'] | tojson + "}" }}
        {%- endif %}
        {%- if builtin_tools is defined %}{{- "<|eom_id|>" }}{% else %}{{- "<|eot_id|>" }}{% endif %}
    {%- else %}
        {{- "<|start_header_id|>" + message['role'] + "<|end_header_id|>\n\n" + message['content'] | trim + "<|eot_id|>" }}
    {%- endif %}
{%- endfor %}
{%- if add_generation_prompt %}
    {{- "<|start_header_id|>assistant<|end_header_id|>\n\n" }}
{%- endif %}
"""


def special_token_names() -> list[str]:
    """The 256 special tokens in id order, with their Llama 3.1 (HF) names."""
    named = {
        0: "<|begin_of_text|>",
        1: "<|end_of_text|>",
        4: "<|finetune_right_pad_id|>",
        6: "<|start_header_id|>",
        7: "<|end_header_id|>",
        8: "<|eom_id|>",
        9: "<|eot_id|>",
        10: "<|python_tag|>",
    }
    names = []
    reserved = 0
    for i in range(NUM_SPECIAL):
        if i in named:
            names.append(named[i])
        else:
            names.append(f"<|reserved_special_token_{reserved}|>")
            reserved += 1
    assert names[255] == "<|reserved_special_token_247|>"
    return names


def default_tokenizer_model() -> str:
    import importlib.util

    spec = importlib.util.find_spec("llama_models")
    if spec is None or not spec.submodule_search_locations:
        sys.exit(
            "make_tiny_llama: the llama-models package is not installed "
            "(pip install --no-deps llama-models)"
        )
    path = os.path.join(next(iter(spec.submodule_search_locations)), "llama3", "tokenizer.model")
    if not os.path.isfile(path):
        sys.exit(f"make_tiny_llama: {path} not found")
    return path


def load_ranks(path: str) -> dict[bytes, int]:
    import base64

    ranks: dict[bytes, int] = {}
    with open(path, "rb") as f:
        for line in f:
            if not line.strip():
                continue
            tok, rank = line.split()
            ranks[base64.b64decode(tok)] = int(rank)
    if len(ranks) != VOCAB_BASE or sorted(ranks.values()) != list(range(VOCAB_BASE)):
        sys.exit(f"make_tiny_llama: {path} does not hold {VOCAB_BASE} BPE ranks")
    return ranks


# --------------------------------------------------------------------------
# Tokenizer
# --------------------------------------------------------------------------
def build_tokenizer_json(ranks: dict[bytes, int], specials: list[str]) -> str:
    from tokenizers import AddedToken, processors
    from transformers.convert_slow_tokenizer import TikTokenConverter

    class _Converter(TikTokenConverter):
        # Use the ranks we already parsed instead of tiktoken's (caching) loader.
        @staticmethod
        def load_tiktoken_bpe(tiktoken_url):
            return ranks

    tok = _Converter(vocab_file="<ranks>", pattern=SPLIT_PATTERN).converted()
    tok.add_special_tokens([AddedToken(s, normalized=False, special=True) for s in specials])
    bos = specials[0]
    tok.post_processor = processors.Sequence(
        [
            processors.ByteLevel(trim_offsets=False),
            processors.TemplateProcessing(
                single=f"{bos}:0 $A:0",
                pair=f"{bos}:0 $A:0 {bos}:1 $B:1",
                special_tokens=[(bos, VOCAB_BASE)],
            ),
        ]
    )
    for i, s in enumerate(specials):
        assert tok.token_to_id(s) == VOCAB_BASE + i, s
    text = tok.to_str(pretty=True)
    # sanity: the known-answer vector from llama-models' tokenizer tests
    ids = tok.encode("This is a test sentence.").ids
    assert ids == [VOCAB_BASE, 2028, 374, 264, 1296, 11914, 13], ids
    return text


def tokenizer_config(specials: list[str]) -> dict:
    return {
        "added_tokens_decoder": {
            str(VOCAB_BASE + i): {
                "content": s,
                "lstrip": False,
                "normalized": False,
                "rstrip": False,
                "single_word": False,
                "special": True,
            }
            for i, s in enumerate(specials)
        },
        "bos_token": "<|begin_of_text|>",
        "chat_template": CHAT_TEMPLATE,
        "clean_up_tokenization_spaces": False,
        "eos_token": "<|eot_id|>",
        "model_input_names": ["input_ids", "attention_mask"],
        "model_max_length": 131072,
        "tokenizer_class": "PreTrainedTokenizerFast",
    }


# --------------------------------------------------------------------------
# Weights
# --------------------------------------------------------------------------
# Residual-stream channels with a fixed meaning; the rest are random.
C_BIAS = 0  # constant 1 in every embedding: lm_head column = logit bias
C_TOOL = 1  # written by layer-0 head 0: +1 tools offered, <=0 after a tool result
C_QUERY = 2  # set on "\n\n" (end of the assistant header): head 0 query
C_KEY = 3  # set on "Environment" and on "ipy": head 0 key
C_VALUE = 4  # +1 on "Environment", -1 on "ipy": head 0 value
C_NEXT0 = 5  # first bigram channel (one per bigram target token)
ROPE_SLOW = 15  # rotary pair (15, 31): the lowest frequency, ~0.001 rad over 2048 positions

RAND_EMBED = 0.1  # std of random embedding channels
RAND_HEAD = 0.3  # std of random lm_head entries (random logits std ~1)
RAND_LAYER = 0.02  # std of all other random weights
BIGRAM_W = 8.0  # lm_head weight on a bigram channel (~ +40 logits)
TOOL_W = 12.0  # lm_head weight on C_TOOL (~ +45 logits on '{"' when tools are offered)
QK_W = 3.0  # q/k weight of head 0 (~ +30 score margin)
LOGIT_PER_BIAS = 5.1  # normalised value of C_BIAS for a typical token


def _rng(name: str):
    import numpy as np

    digest = hashlib.sha256(f"{SEED}:{name}".encode()).digest()
    return np.random.default_rng(int.from_bytes(digest[:8], "little"))


def _randn(name: str, shape, std: float):
    import numpy as np

    return (_rng(name).standard_normal(shape, dtype=np.float32) * np.float32(std)).astype(
        np.float32
    )


def keyword_layers(
    tag: str, hidden: int, designed: slice, flag: int, query: int, key: int, value: int
) -> dict:
    """The transformer layers of a stand-in that reacts to keywords (the guard and Prompt Guard
    models): random weights whose writes never touch the ``designed`` channels, except head 0
    of layer 0, which attends from the ``query`` channel to the ``key`` channel over the
    slowest rotary pair (position-independent) and writes the ``value`` channel it finds into
    ``flag``. ``tag`` names the random draws, so each model gets its own."""
    import numpy as np

    tensors = {}
    slow, half = ROPE_SLOW, HEAD_DIM // 2
    for layer in range(LAYERS):
        p = f"model.layers.{layer}."
        q = _randn(p + f"{tag}-q", (HEADS * HEAD_DIM, hidden), RAND_LAYER)
        k = _randn(p + f"{tag}-k", (KV_HEADS * HEAD_DIM, hidden), RAND_LAYER)
        v = _randn(p + f"{tag}-v", (KV_HEADS * HEAD_DIM, hidden), RAND_LAYER)
        o = _randn(p + f"{tag}-o", (hidden, HEADS * HEAD_DIM), RAND_LAYER)
        gate = _randn(p + f"{tag}-gate", (INTERMEDIATE, hidden), RAND_LAYER)
        up = _randn(p + f"{tag}-up", (INTERMEDIATE, hidden), RAND_LAYER)
        down = _randn(p + f"{tag}-down", (hidden, INTERMEDIATE), RAND_LAYER)
        o[designed, :] = 0.0
        down[designed, :] = 0.0
        if layer == 0:
            for d in (slow, slow + half):
                q[d, :] = 0.0
                k[d, :] = 0.0
                v[d, :] = 0.0
            q[slow, query] = QK_W
            k[slow, key] = QK_W
            v[slow, value] = 1.0
            o[flag, slow] = float(np.sqrt(3.0 / 64.0))
        tensors.update(
            {
                p + "self_attn.q_proj.weight": q,
                p + "self_attn.k_proj.weight": k,
                p + "self_attn.v_proj.weight": v,
                p + "self_attn.o_proj.weight": o,
                p + "mlp.gate_proj.weight": gate,
                p + "mlp.up_proj.weight": up,
                p + "mlp.down_proj.weight": down,
                p + "input_layernorm.weight": np.ones(hidden, dtype=np.float32),
                p + "post_attention_layernorm.weight": np.ones(hidden, dtype=np.float32),
            }
        )
    return tensors


def _token_bytes(ranks: dict[bytes, int]) -> list[bytes]:
    out = [b""] * VOCAB_BASE
    for b, r in ranks.items():
        out[r] = b
    return out


def build_weights(ranks: dict[bytes, int]) -> dict:
    import numpy as np

    tb = _token_bytes(ranks)

    def tid(s: str) -> int:
        return ranks[s.encode()]

    EOT = VOCAB_BASE + 9

    # --- per-token logit biases (in logits, for a typical token) -------------
    bias = np.zeros(VOCAB, dtype=np.float32)
    for r, b in enumerate(tb):
        try:
            s = b.decode("utf-8")
        except UnicodeDecodeError:
            continue
        if s.isspace():
            bias[r] = -30.0  # whitespace-only tokens (~530 of them)
        elif "\n" in s or "\r" in s:
            bias[r] = -20.0  # anything carrying a newline
    bias[VOCAB_BASE:] = -30.0  # special tokens ...
    bias[VOCAB_BASE + 1] = -5.0  # <|end_of_text|> (an eos id)
    bias[VOCAB_BASE + 8] = -5.0  # <|eom_id|> (an eos id)
    bias[EOT] = 6.0  # <|eot_id|>
    # '"' must beat every other token that may continue a JSON string ('}' and
    # ']' included), so that constrained strings close.
    # '":' beats '"' so that keys end as '"key":' (it cannot end a string value).
    # Closing an object or array beats adding to it ('}' > ']' > ','), and '{}' is
    # avoided so that optional-only tool arguments still get filled in.
    for s, v in [
        ('"', 20.0),
        ('":', 26.0),
        (":", 14.0),
        ("}", 17.0),
        ("]", 16.0),
        (",", 15.0),
        ('{"', 12.0),
        ("Paris", 12.0),
        ("42", 12.0),
        ("-", -10.0),
        ("{}", -10.0),
        (" {}", -10.0),
    ]:
        bias[tid(s)] = v

    # --- bigrams: current token -> next token ---------------------------------
    words = ["This", " is", " a", " tiny", " test", " model", "."]
    assert "".join(words) == SENTENCE
    bigrams: list[tuple[int, int]] = [(tid("\n\n"), tid(words[0]))]
    bigrams += [(tid(a), tid(b)) for a, b in itertools.pairwise(words)]
    bigrams.append((tid(words[-1]), EOT))
    bigrams += [
        (tid('{"'), tid("name")),  # {"name": "  -> also the auto tool-call trigger
        (tid("name"), tid('":')),
        (tid('":'), tid(' "')),
        # '"}' where the grammar allows it, else '"' (free text then ends: '"}' -> eot)
        (tid("Paris"), tid('"}')),
        (tid(","), tid(' "')),
        (tid("}"), EOT),
        (tid("}}"), EOT),
        (tid('"}'), EOT),
    ]
    # other tokens that open an object key -> "name"
    bigrams += [(tid(q), tid("name")) for q in [' {"', ',{"', '":{"', ' [{"', '":[{"']]
    # every other token that can open a JSON string value -> "Paris"
    bigrams += [
        (tid(q), tid("Paris"))
        for q in [
            '"',
            ' "',
            ':"',
            ' :"',
            '":"',
            '","',
            '["',
            ' ["',
            ',"',
            ' ,"',
            ':["',
            '":["',
            ' [["',
        ]
    ]
    sources = [s for s, _ in bigrams]
    assert len(sources) == len(set(sources)), "a token may have only one successor"
    targets = sorted({t for _, t in bigrams})
    t_channel = {t: C_NEXT0 + i for i, t in enumerate(targets)}
    c_rand0 = C_NEXT0 + len(targets)
    assert c_rand0 < HIDDEN - 32
    rand = slice(c_rand0, HIDDEN)
    n_rand = HIDDEN - c_rand0

    env_tok, ipy_tok, hdr_end = tid("Environment"), tid("ipy"), tid("\n\n")

    # --- embeddings ----------------------------------------------------------
    emb = np.zeros((VOCAB, HIDDEN), dtype=np.float32)
    emb[:, rand] = _randn("embed", (VOCAB, n_rand), RAND_EMBED)
    emb[:, C_BIAS] = 1.0
    for s, t in bigrams:
        emb[s, t_channel[t]] = 1.0
    emb[hdr_end, C_QUERY] = 1.0
    for t, v in [(env_tok, 1.0), (ipy_tok, -1.0)]:
        emb[t, rand] = 0.0  # identical norms -> identical attention scores
        emb[t, C_KEY] = 1.0
        emb[t, C_VALUE] = v

    # --- lm_head -----------------------------------------------------------
    head = np.zeros((VOCAB, HIDDEN), dtype=np.float32)
    head[:, rand] = _randn("lm_head", (VOCAB, n_rand), RAND_HEAD)
    head[:, C_BIAS] = bias / LOGIT_PER_BIAS
    for t, c in t_channel.items():
        head[t, c] = BIGRAM_W
    head[tid('{"'), C_TOOL] = TOOL_W
    head[tid(words[0]), C_TOOL] = -TOOL_W

    tensors = {
        "model.embed_tokens.weight": emb,
        "lm_head.weight": head,
        "model.norm.weight": np.ones(HIDDEN, dtype=np.float32),
    }
    designed = slice(0, c_rand0)
    for layer in range(LAYERS):
        p = f"model.layers.{layer}."
        q = _randn(p + "q", (HEADS * HEAD_DIM, HIDDEN), RAND_LAYER)
        k = _randn(p + "k", (KV_HEADS * HEAD_DIM, HIDDEN), RAND_LAYER)
        v = _randn(p + "v", (KV_HEADS * HEAD_DIM, HIDDEN), RAND_LAYER)
        o = _randn(p + "o", (HIDDEN, HEADS * HEAD_DIM), RAND_LAYER)
        gate = _randn(p + "gate", (INTERMEDIATE, HIDDEN), RAND_LAYER)
        up = _randn(p + "up", (INTERMEDIATE, HIDDEN), RAND_LAYER)
        down = _randn(p + "down", (HIDDEN, INTERMEDIATE), RAND_LAYER)
        # layers never write into the designed channels (except C_TOOL below)
        o[designed, :] = 0.0
        down[designed, :] = 0.0
        if layer == 0:
            for d in (ROPE_SLOW, ROPE_SLOW + HEAD_DIM // 2):
                q[d, :] = 0.0  # head 0 (rows 0..31)
                k[d, :] = 0.0
                v[d, :] = 0.0
            q[ROPE_SLOW, C_QUERY] = QK_W
            k[ROPE_SLOW, C_KEY] = QK_W
            v[ROPE_SLOW, C_VALUE] = 1.0
            # value 1.0 * normalised C_VALUE (1/sqrt(3/64)) -> C_TOOL = +-1
            o[C_TOOL, ROPE_SLOW] = float(np.sqrt(3.0 / 64.0))
        tensors.update(
            {
                p + "self_attn.q_proj.weight": q,
                p + "self_attn.k_proj.weight": k,
                p + "self_attn.v_proj.weight": v,
                p + "self_attn.o_proj.weight": o,
                p + "mlp.gate_proj.weight": gate,
                p + "mlp.up_proj.weight": up,
                p + "mlp.down_proj.weight": down,
                p + "input_layernorm.weight": np.ones(HIDDEN, dtype=np.float32),
                p + "post_attention_layernorm.weight": np.ones(HIDDEN, dtype=np.float32),
            }
        )
    return tensors


def model_config() -> dict:
    return {
        "architectures": ["LlamaForCausalLM"],
        "attention_bias": False,
        "attention_dropout": 0.0,
        "bos_token_id": VOCAB_BASE,
        "eos_token_id": [VOCAB_BASE + 1, VOCAB_BASE + 8, VOCAB_BASE + 9],
        "head_dim": HEAD_DIM,
        "hidden_act": "silu",
        "hidden_size": HIDDEN,
        "initializer_range": 0.02,
        "intermediate_size": INTERMEDIATE,
        "max_position_embeddings": 131072,
        "mlp_bias": False,
        "model_type": "llama",
        "num_attention_heads": HEADS,
        "num_hidden_layers": LAYERS,
        "num_key_value_heads": KV_HEADS,
        "pretraining_tp": 1,
        "rms_norm_eps": 1e-05,
        "rope_scaling": {
            "factor": 8.0,
            "high_freq_factor": 4.0,
            "low_freq_factor": 1.0,
            "original_max_position_embeddings": 8192,
            "rope_type": "llama3",
        },
        "rope_theta": 500000.0,
        "tie_word_embeddings": False,
        "torch_dtype": "float32",
        "transformers_version": "4.43.0.dev0",
        "use_cache": True,
        "vocab_size": VOCAB,
    }


def generation_config() -> dict:
    # Same sampling defaults as Llama-3.1-8B-Instruct.
    return {
        "bos_token_id": VOCAB_BASE,
        "do_sample": True,
        "eos_token_id": [VOCAB_BASE + 1, VOCAB_BASE + 8, VOCAB_BASE + 9],
        "temperature": 0.6,
        "top_p": 0.9,
    }


def _dump(path: str, obj) -> None:
    with open(path, "w", encoding="utf-8") as f:
        json.dump(obj, f, indent=2, ensure_ascii=False, sort_keys=False)
        f.write("\n")


def write_model_dir(
    out: str, prefix: str, ranks: dict[bytes, int], files: dict, weights: dict, built: str
) -> str:
    """Write a tiny model's directory: the Llama 3 ``tokenizer.json``, ``files`` (name -> a
    dict written as JSON), ``model.safetensors`` from ``weights`` and a NOTICE ending with
    ``built`` (what the model is). Written into a temporary directory beside ``out`` that
    replaces ``out`` only once everything is written. Returns the absolute path."""
    from safetensors.numpy import save_file

    specials = special_token_names()
    out = os.path.abspath(out)
    parent = os.path.dirname(out)
    os.makedirs(parent, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=prefix, dir=parent)
    os.chmod(tmp, 0o755)
    try:
        with open(os.path.join(tmp, "tokenizer.json"), "w", encoding="utf-8") as f:
            f.write(build_tokenizer_json(ranks, specials))
        for name, obj in files.items():
            _dump(os.path.join(tmp, name), obj)
        save_file(weights, os.path.join(tmp, "model.safetensors"), metadata={"format": "pt"})
        with open(os.path.join(tmp, "NOTICE"), "w", encoding="utf-8") as f:
            f.write(
                "tokenizer.json is derived from the Llama 3 tokenizer (llama-models package).\n"
                "Llama 3.1 is licensed under the Llama 3.1 Community License, "
                "Copyright \u00a9 Meta Platforms, Inc. All Rights Reserved.\n"
                f"Built with Llama. {built}\n"
            )
        if os.path.exists(out):
            shutil.rmtree(out)
        os.rename(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", required=True, help="model directory to (re)create")
    ap.add_argument("--tokenizer-model", help="Llama 3 tiktoken ranks (default: from llama_models)")
    args = ap.parse_args(argv)

    ranks = load_ranks(args.tokenizer_model or default_tokenizer_model())
    specials = special_token_names()
    files = {
        "tokenizer_config.json": tokenizer_config(specials),
        "special_tokens_map.json": {"bos_token": "<|begin_of_text|>", "eos_token": "<|eot_id|>"},
        "config.json": model_config(),
        "generation_config.json": generation_config(),
    }
    out = write_model_dir(
        args.out,
        ".tiny-llama-",
        ranks,
        files,
        build_weights(ranks),
        "Generated for tests only; do not redistribute.",
    )
    print(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
