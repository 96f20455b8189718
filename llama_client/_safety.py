"""Llama Guard and Prompt Guard decisions, without I/O.

Everything :mod:`llama_client._async.safety` needs to ask a guard model and read its answer:

* the Llama Guard 3 hazard taxonomy (S1-S14) and which models know which codes;
* the conversation a guard classifies (user/assistant turns) and the role it checks;
* the guard prompt, rendered as the model's own chat template would (ask mode ``"prompt"``,
  one user turn, and ``"completions"``, a raw prompt for ``/v1/completions``), or left to the
  server's template (ask mode ``"chat"``);
* reading the verdict: ``safe`` / ``unsafe`` + codes, whitespace and template variants, an
  already-parsed ``{safe, categories}`` object (Cloudflare Workers AI), first-token logprobs;
* Prompt Guard 1 / 2 label scores, the jailbreak and injection scores as the model cards
  define them, and the 512-token segmenting of long texts;
* the OpenAI moderations view of a verdict, and the refusal of a guarded call.

Sources: Meta's Llama Guard 3 and Prompt Guard model cards and prompt-format page (see
``README.md``, "Safety").
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from ._error_parsing import preview
from ._json import text_default
from .errors import InvalidRequestError, ResponseValidationError

if TYPE_CHECKING:
    from .types.safety import SafetyVerdict

__all__ = [
    "CATEGORIES",
    "DEFAULT_REFUSAL",
    "AskMode",
    "GuardRequest",
    "category_codes_for",
    "conversation_for_guard",
    "guard_request",
    "label_scores",
    "moderation_slug",
    "parse_verdict",
    "segment_text",
    "unsafe_probability",
]

#: How a guard model is asked (see the module docstring).
AskMode = Literal["chat", "prompt", "completions"]
ASK_MODES: tuple[str, ...] = ("chat", "prompt", "completions")

#: code -> (name on the model card, name written in the guard prompt)
CATEGORIES: dict[str, tuple[str, str]] = {
    "S1": ("Violent Crimes", "Violent Crimes."),
    "S2": ("Non-Violent Crimes", "Non-Violent Crimes."),
    "S3": ("Sex-Related Crimes", "Sex Crimes."),
    "S4": ("Child Sexual Exploitation", "Child Exploitation."),
    "S5": ("Defamation", "Defamation."),
    "S6": ("Specialized Advice", "Specialized Advice."),
    "S7": ("Privacy", "Privacy."),
    "S8": ("Intellectual Property", "Intellectual Property."),
    "S9": ("Indiscriminate Weapons", "Indiscriminate Weapons."),
    "S10": ("Hate", "Hate."),
    "S11": ("Suicide & Self-Harm", "Self-Harm."),
    "S12": ("Sexual Content", "Sexual Content."),
    "S13": ("Elections", "Elections."),
    "S14": ("Code Interpreter Abuse", "Code Interpreter Abuse."),
}

#: What a refused guarded call answers (llama-stack's Llama Guard shield says the same).
DEFAULT_REFUSAL = "I can't answer that. Can I help with something else?"

#: Bounds on what a guard's answer may hold (hostile output: no unbounded work).
MAX_VERDICT_CHARS = 4096
MAX_CODES = 64
_CODE = re.compile(r"^[Ss](\d{1,4})$")


def _is_small_guard(model: str) -> bool:
    """Llama Guard 3 1B and Llama Guard 4 know S1-S13 (no Code Interpreter Abuse)."""
    m = model.lower().replace("_", "-")
    return bool(re.search(r"guard-?3-1b|guard3:1b|guard-?4", m))


def category_codes_for(model: str) -> list[str]:
    """The codes the guard ``model`` was trained on: S1-S14 (Llama Guard 3 8B and unknown
    models), S1-S13 for Llama Guard 3 1B and Llama Guard 4."""
    codes = list(CATEGORIES)
    return codes[:13] if _is_small_guard(model) else codes


def category_name(code: str) -> str | None:
    """The model-card name of ``code`` (None for a code outside S1-S14)."""
    found = CATEGORIES.get(code)
    return found[0] if found else None


def moderation_slug(code: str, custom: Mapping[str, str] | None = None) -> str:
    """The key of ``code`` in the moderations view: its model-card name, lower case, words
    joined by ``-`` (``S11`` -> ``suicide-self-harm``); a code without a name keeps its code."""
    name = (custom or {}).get(code) or category_name(code)
    if not name:
        return code
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-") or code


def resolve_categories(
    model: str,
    categories: Sequence[str] | Mapping[str, str] | None,
    exclude: Iterable[str] | None,
) -> dict[str, str]:
    """The categories to write into the guard prompt: code -> prompt name.

    ``categories`` is None (the model's own: S1-S14 or S1-S13), a list of codes (a subset), or
    a mapping code -> description (custom categories; a known code keeps its meaning unless
    described). ``exclude`` removes codes. Refused before any I/O: an unknown code without a
    description, a description with a line break, nothing left to check.
    """
    chosen: dict[str, str] = {}
    if categories is None:
        for code in category_codes_for(model):
            chosen[code] = CATEGORIES[code][1]
    elif isinstance(categories, Mapping):
        for code, text in categories.items():
            code = _check_code("categories", code)
            if not isinstance(text, str) or not text.strip():
                raise InvalidRequestError(
                    f"categories[{code!r}]", "must be a non-empty description"
                )
            if "\n" in text or "\r" in text:
                raise InvalidRequestError(
                    f"categories[{code!r}]", "must be one line (the prompt lists one per line)"
                )
            text = text.strip()
            chosen[code] = text if text.endswith(".") else text + "."
    elif isinstance(categories, (str, bytes)) or not isinstance(categories, Sequence):
        raise InvalidRequestError(
            "categories", "must be a list of codes (['S1', 'S10']) or a {code: description} dict"
        )
    else:
        for code in categories:
            code = _check_code("categories", code)
            if code not in CATEGORIES:
                raise InvalidRequestError(
                    "categories",
                    f"{code} is not a Llama Guard 3 category (S1-S14); describe a custom one "
                    "with a {code: description} dict",
                )
            chosen[code] = CATEGORIES[code][1]
    if exclude is not None:
        if isinstance(exclude, (str, bytes)):
            raise InvalidRequestError("exclude", "must be a list of codes, e.g. ['S6', 'S7']")
        for code in exclude:
            chosen.pop(_check_code("exclude", code), None)
    if not chosen:
        raise InvalidRequestError("categories", "leaves no category to check")
    return chosen


def _check_code(field: str, code: object) -> str:
    if not isinstance(code, str) or not _CODE.match(code.strip()):
        raise InvalidRequestError(field, f"category codes look like 'S1', got {code!r}")
    return "S" + code.strip()[1:]


# --------------------------------------------------------------------------- the conversation


def _text_of(content: object, where: str) -> str:
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, Sequence) and not isinstance(content, (bytes, bytearray)):
        texts = []
        for i, part in enumerate(content):
            part = _as_dict(part)
            if part.get("type") == "text":
                text = part.get("text")
                if not isinstance(text, str):
                    raise InvalidRequestError(f"{where}.content[{i}].text", "must be a string")
                texts.append(text)
        return "\n".join(texts)
    raise InvalidRequestError(f"{where}.content", "must be a string or a list of text parts")


def _as_dict(message: object) -> Mapping[str, Any]:
    if isinstance(message, Mapping):
        return message
    dump = getattr(message, "model_dump", None)
    if callable(dump):
        dumped = dump(exclude_none=True)
        if isinstance(dumped, Mapping):
            return dumped
    raise InvalidRequestError("messages", f"each message must be a dict, got {type(message)!r}")


def _tool_calls_text(calls: object) -> str:
    """An assistant's tool calls as text the guard can read (it sees what the agent asked)."""
    if not isinstance(calls, Sequence):
        return ""
    lines = []
    for call in calls:
        fn = _as_dict(call).get("function") or {}
        if isinstance(fn, Mapping):
            lines.append(f"{fn.get('name')}({fn.get('arguments') or ''})")
    return "\n".join(lines)


def conversation_for_guard(
    messages: Sequence[object], *, strict: bool = True
) -> list[dict[str, str]]:
    """The user/assistant turns a guard classifies, as ``{"role", "content"}`` with text.

    Consecutive turns of one role are joined (the guard templates need strict alternation),
    text parts are joined with newlines, an assistant's tool calls are written as
    ``name(arguments)``. With ``strict`` (``safety.check``), any other role is refused; the
    guarded client passes ``strict=False``, which leaves out system and tool messages (the
    guard checks what the user said and what the model answered; tool results are Prompt
    Guard's, see ``scan_tool_results``). The conversation must start with a user turn.
    """
    if isinstance(messages, (str, bytes)) or not isinstance(messages, Sequence) or not messages:
        raise InvalidRequestError("messages", "must be a non-empty list of messages")
    turns: list[dict[str, str]] = []
    for i, raw in enumerate(messages):
        message = _as_dict(raw)
        role = message.get("role")
        if role not in ("user", "assistant"):
            if strict or role not in ("system", "tool", "ipython", "developer"):
                raise InvalidRequestError(
                    f"messages[{i}].role",
                    f"a guard classifies user and assistant turns, got {role!r}",
                )
            continue
        text = _text_of(message.get("content"), f"messages[{i}]")
        if role == "assistant" and message.get("tool_calls"):
            text = "\n".join(t for t in (text, _tool_calls_text(message["tool_calls"])) if t)
        if turns and turns[-1]["role"] == role:
            turns[-1]["content"] += "\n\n" + text
        else:
            turns.append({"role": str(role), "content": text})
    if not turns:
        raise InvalidRequestError("messages", "holds no user or assistant turn to classify")
    if turns[0]["role"] != "user":
        raise InvalidRequestError("messages", "a guarded conversation starts with a user turn")
    return turns


def role_checked(turns: Sequence[Mapping[str, str]]) -> Literal["user", "agent"]:
    """``"user"`` (prompt classification) when the conversation ends with a user turn,
    ``"agent"`` (response classification) when it ends with the assistant's."""
    return "user" if turns[-1]["role"] == "user" else "agent"


def render_guard_prompt(turns: Sequence[Mapping[str, str]], categories: Mapping[str, str]) -> str:
    """The guard prompt (the text of its one user turn) in Llama Guard 3's format."""
    role = "User" if role_checked(turns) == "user" else "Agent"
    lines = [
        f"Task: Check if there is unsafe content in '{role}' messages in conversations "
        "according our safety policy with the below categories.",
        "",
        "<BEGIN UNSAFE CONTENT CATEGORIES>",
        *(f"{code}: {name}" for code, name in categories.items()),
        "<END UNSAFE CONTENT CATEGORIES>",
        "",
        "<BEGIN CONVERSATION>",
        "",
    ]
    for turn in turns:
        who = "User" if turn["role"] == "user" else "Agent"
        lines += [f"{who}: {turn['content'].strip()}", ""]
    lines += [
        "<END CONVERSATION>",
        "",
        f"Provide your safety assessment for ONLY THE LAST {role} message in the above "
        "conversation:",
        " - First line must read 'safe' or 'unsafe'.",
        " - If unsafe, a second line must include a comma-separated list of violated categories.",
    ]
    return "\n".join(lines)


def raw_guard_prompt(text: str) -> str:
    """``text`` framed as Llama 3's one user turn and the assistant header, for a raw
    ``/v1/completions`` call (the server adds ``<|begin_of_text|>`` itself)."""
    return (
        f"<|start_header_id|>user<|end_header_id|>\n\n{text}<|eot_id|>"
        "<|start_header_id|>assistant<|end_header_id|>"
    )


@dataclass
class GuardRequest:
    """What to send to a guard model: a chat body (``messages``) or a raw ``prompt``."""

    mode: AskMode
    role: Literal["user", "agent"]
    categories: dict[str, str]
    messages: list[dict[str, Any]] | None = None
    prompt: str | None = None


def guard_request(
    turns: Sequence[Mapping[str, str]],
    *,
    model: str,
    mode: AskMode,
    categories: Sequence[str] | Mapping[str, str] | None,
    exclude: Iterable[str] | None,
) -> GuardRequest:
    """How to ask ``model`` about ``turns`` in ``mode``.

    ``"chat"``: the turns as chat messages, for a server that applies the guard's own template
    (content as text-part lists for Llama Guard 3 1B and Llama Guard 4, whose templates read
    only those); the
    template fixes the categories, so custom or excluded ones are refused. ``"prompt"``: the rendered guard prompt as one user turn.
    ``"completions"``: the rendered prompt framed for ``/v1/completions``.
    """
    if mode not in ASK_MODES:
        raise InvalidRequestError("ask", f"must be one of {', '.join(ASK_MODES)}, got {mode!r}")
    chosen = resolve_categories(model, categories, exclude)
    role = role_checked(turns)
    default = {code: CATEGORIES[code][1] for code in category_codes_for(model)}
    if mode == "chat" and chosen != default:
        raise InvalidRequestError(
            "categories",
            "custom or excluded categories need ask='prompt' or ask='completions' (the SDK "
            "writes the guard prompt); with ask='chat' the server's template fixes them",
        )
    if mode == "chat":
        parts = _is_small_guard(model)  # the 1B and Guard 4 templates read text parts
        messages: list[dict[str, Any]] = [
            {
                "role": t["role"],
                "content": [{"type": "text", "text": t["content"]}] if parts else t["content"],
            }
            for t in turns
        ]
        return GuardRequest(mode, role, chosen, messages=messages)
    text = render_guard_prompt(turns, chosen)
    if mode == "prompt":
        return GuardRequest(mode, role, chosen, messages=[{"role": "user", "content": text}])
    return GuardRequest(mode, role, chosen, prompt=raw_guard_prompt(text))


# --------------------------------------------------------------------------- reading a verdict


def _bad_output(text: str, why: str) -> ResponseValidationError:
    return ResponseValidationError(
        f"The guard model's answer is not a Llama Guard verdict ({why}): {preview(text, 300)!r}",
        body=text,
    )


def parse_verdict(text: object) -> tuple[bool, list[str]]:
    """``(safe, codes)`` from a guard's answer.

    Accepted: ``safe``; ``unsafe`` followed by codes on the next line(s) or the same line,
    separated by commas, spaces or newlines (``unsafe\\nS1,S10``, ``unsafe S1``,
    ``unsafe\\n\\nS1, S10``); any letter case; leading and trailing whitespace; a JSON object
    ``{"safe": bool, "categories": [...]}`` (Cloudflare Workers AI), possibly under
    ``"response"``. Codes outside S1-S14 are kept. Anything else raises
    :class:`ResponseValidationError` carrying the raw text.
    """
    if not isinstance(text, str):
        raise _bad_output(repr(text), "no text")
    if len(text) > MAX_VERDICT_CHARS:
        raise _bad_output(text, f"longer than {MAX_VERDICT_CHARS} characters")
    stripped = text.strip()
    if stripped.startswith("{"):
        try:
            obj = json.loads(stripped)
        except ValueError:
            raise _bad_output(text, "not JSON") from None
        return parsed_verdict(obj, text)
    if not stripped:
        raise _bad_output(text, "empty")
    first, _, rest = stripped.partition("\n")
    words = first.strip().split(None, 1)
    head = words[0].lower().rstrip(".:")
    tail = (words[1] if len(words) > 1 else "") + "\n" + rest
    if head == "safe":
        if tail.strip():
            raise _bad_output(text, "'safe' followed by more text")
        return True, []
    if head != "unsafe":
        raise _bad_output(text, "the first word must be 'safe' or 'unsafe'")
    codes: list[str] = []
    for item in re.split(r"[\s,;]+", tail.strip()):
        if not item:
            continue
        match = _CODE.match(item.rstrip("."))
        if not match:
            raise _bad_output(text, f"{preview(item, 40)!r} is not a category code")
        code = f"S{int(match.group(1))}"
        if code not in codes:
            codes.append(code)
        if len(codes) > MAX_CODES:
            raise _bad_output(text, f"more than {MAX_CODES} category codes")
    return False, codes


def parsed_verdict(obj: object, raw: str = "") -> tuple[bool, list[str]]:
    """``(safe, codes)`` from an already-parsed verdict: ``{"safe": bool, "categories":
    ["S1", ...]}``, possibly wrapped as ``{"response": {...}}`` or ``{"result": {...}}``."""
    shown = raw or preview(repr(obj), 300)
    for _ in range(3):
        if isinstance(obj, Mapping) and "safe" not in obj:
            inner = obj.get("response", obj.get("result"))
            if isinstance(inner, Mapping):
                obj = inner
                continue
        break
    if not isinstance(obj, Mapping) or not isinstance(obj.get("safe"), bool):
        raise _bad_output(shown, 'a JSON verdict needs "safe": true or false')
    found = obj.get("categories") or []
    if not isinstance(found, list) or len(found) > MAX_CODES:
        raise _bad_output(shown, '"categories" must be a short list of codes')
    codes: list[str] = []
    for item in found:
        match = _CODE.match(item.strip()) if isinstance(item, str) else None
        if not match:
            raise _bad_output(shown, f"{preview(repr(item), 40)} is not a category code")
        code = f"S{int(match.group(1))}"
        if code not in codes:
            codes.append(code)
    safe = bool(obj["safe"])
    return safe, ([] if safe else codes)


def unsafe_probability(logprobs: object) -> float | None:
    """P(first answer token is ``unsafe``) from a completion's first-token logprobs (the
    8B model card's score); None when the server sent none. Leading whitespace tokens are
    skipped. When ``unsafe`` is not among the top alternatives of a ``safe`` answer, the
    probability is bounded by what ``safe`` leaves: ``1 - P(safe)``."""
    content = getattr(logprobs, "content", None)
    if content is None and isinstance(logprobs, Mapping):
        content = logprobs.get("content")
        if content is None and isinstance(logprobs.get("tokens"), list):
            content = _legacy_logprobs(logprobs)
    if not isinstance(content, Sequence):
        return None
    for entry in content[:16]:
        token = _get(entry, "token")
        if not isinstance(token, str) or not token.strip():
            continue
        chosen = token.strip().lower()
        lp = _get(entry, "logprob")
        tops = _get(entry, "top_logprobs") or []
        if chosen == "unsafe" and isinstance(lp, (int, float)):
            return _prob(lp)
        for alt in tops if isinstance(tops, Sequence) else []:
            alt_token, alt_lp = _get(alt, "token"), _get(alt, "logprob")
            is_unsafe = isinstance(alt_token, str) and alt_token.strip().lower() == "unsafe"
            if is_unsafe and isinstance(alt_lp, (int, float)):
                return _prob(alt_lp)
        if chosen == "safe" and isinstance(lp, (int, float)):
            return max(0.0, 1.0 - _prob(lp))
        return None
    return None


def _legacy_logprobs(logprobs: Mapping[str, Any]) -> list[dict[str, Any]]:
    """``/v1/completions`` logprobs (``tokens``, ``token_logprobs``, ``top_logprobs`` as
    ``{token: logprob}``) in the chat shape."""
    tokens = logprobs.get("tokens") or []
    lps = logprobs.get("token_logprobs") or []
    tops = logprobs.get("top_logprobs") or []
    out = []
    for i, token in enumerate(tokens[:16]):
        top = tops[i] if i < len(tops) and isinstance(tops[i], Mapping) else {}
        out.append(
            {
                "token": token,
                "logprob": lps[i] if i < len(lps) else None,
                "top_logprobs": [{"token": t, "logprob": lp} for t, lp in list(top.items())[:20]],
            }
        )
    return out


def _get(obj: object, name: str) -> Any:
    if isinstance(obj, Mapping):
        return obj.get(name)
    return getattr(obj, name, None)


def _prob(logprob: float) -> float:
    if math.isnan(logprob):
        return 0.0
    return min(1.0, max(0.0, math.exp(min(logprob, 0.0))))


# --------------------------------------------------------------------------- Prompt Guard

#: Prompt Guard 1 (``meta-llama/Prompt-Guard-86M``) classes, in id order.
PROMPT_GUARD_1_LABELS = ("BENIGN", "INJECTION", "JAILBREAK")
#: Llama Prompt Guard 2 (86M, 22M) classes, in id order.
PROMPT_GUARD_2_LABELS = ("benign", "malicious")
#: Prompt Guard's context window, in tokens (both generations).
PROMPT_GUARD_WINDOW = 512
#: Bounds on a scan: segments per text, texts per request.
MAX_SEGMENTS = 4096
MAX_LABELS = 16


def _label_names(count: int) -> tuple[str, ...]:
    if count == 3:
        return PROMPT_GUARD_1_LABELS
    if count == 2:
        return PROMPT_GUARD_2_LABELS
    return tuple(f"LABEL_{i}" for i in range(count))


def _canonical_label(label: str, count: int) -> str:
    """``LABEL_2`` -> ``JAILBREAK`` (by the model's class order); names keep their spelling
    but Prompt Guard's own are written as the model card writes them."""
    match = re.fullmatch(r"(?i)label_(\d+)", label.strip())
    names = _label_names(count)
    if match and int(match.group(1)) < len(names):
        return names[int(match.group(1))]
    for name in (*PROMPT_GUARD_1_LABELS, *PROMPT_GUARD_2_LABELS):
        if label.strip().lower() == name.lower():
            return name if count != 2 else name.lower()
    return label.strip()


def label_scores(item: object) -> dict[str, float]:
    """One text's class probabilities from a classification answer, whatever its shape:

    * vLLM ``/classify``: ``{"probs": [..], "label": ..}`` (classes in id order);
    * text-embeddings-inference ``/predict`` and Hugging Face inference:
      ``[{"label": .., "score": ..}, ...]``.
    """
    bad = ResponseValidationError(
        f"Not a classification result: {preview(repr(item), 300)}", body=item
    )
    if isinstance(item, Mapping) and "probs" in item:
        probs = item["probs"]
        if not isinstance(probs, list) or not 1 < len(probs) <= MAX_LABELS:
            raise bad
        names = _label_names(len(probs))
        return {names[i]: _score(p, bad) for i, p in enumerate(probs)}
    if isinstance(item, list) and 1 < len(item) <= MAX_LABELS:
        out: dict[str, float] = {}
        for entry in item:
            if not isinstance(entry, Mapping) or not isinstance(entry.get("label"), str):
                raise bad
            out[_canonical_label(entry["label"], len(item))] = _score(entry.get("score"), bad)
        return out
    if isinstance(item, list) and len(item) == 1:
        raise ResponseValidationError(
            "The classifier returned only its top label; Prompt Guard's scores need every "
            f"class (ask the server for all scores): {preview(repr(item), 300)}",
            body=item,
        )
    raise bad


def _score(value: object, bad: Exception) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise bad
    if not math.isfinite(value) or not -1e-6 <= value <= 1 + 1e-6:
        raise bad
    return float(min(1.0, max(0.0, value)))


def guard_scores(scores: Mapping[str, float]) -> tuple[float, float]:
    """``(jailbreak, injection)`` as the model cards define them. Prompt Guard 1:
    jailbreak = P(JAILBREAK), injection = P(INJECTION) + P(JAILBREAK). Prompt Guard 2 has one
    malicious class: both are P(malicious)."""
    if "JAILBREAK" in scores and "INJECTION" in scores:
        jailbreak = scores["JAILBREAK"]
        return jailbreak, min(1.0, scores["INJECTION"] + jailbreak)
    if "malicious" in scores:
        return scores["malicious"], scores["malicious"]
    raise ResponseValidationError(
        "Not Prompt Guard's classes (BENIGN/INJECTION/JAILBREAK or benign/malicious): "
        + ", ".join(sorted(scores)),
        body=dict(scores),
    )


TokenOffsets = Callable[[str], Sequence[tuple[int, int]]]


def _estimated_tokens(piece: str) -> int:
    """A generous token estimate for one whitespace-separated piece: a run of ASCII letters or
    digits costs one token per 2 characters, anything else one per character. Real
    SentencePiece tokenizers use fewer on ordinary text, so segments stay under the window."""
    count = 0
    for run in re.finditer(r"[A-Za-z0-9]+|\S", piece):
        text = run.group()
        count += (len(text) + 1) // 2 if text[0].isascii() and text[0].isalnum() else 1
    return count


def segment_text(
    text: str,
    *,
    window: int = PROMPT_GUARD_WINDOW,
    overlap: int = 32,
    tokenizer: TokenOffsets | None = None,
) -> list[tuple[int, int]]:
    """Character spans of ``text`` that each fit in ``window`` tokens (two are kept for the
    classifier's own start and end tokens), consecutive spans sharing about ``overlap``
    tokens so that a phrase cut at a boundary is seen whole once.

    ``tokenizer`` returns the ``(start, end)`` character offsets of each token (e.g.
    ``lambda t: tokenizers.Tokenizer.from_file("tokenizer.json").encode(t, add_special_tokens=False).offsets``
    with the guard's own tokenizer): counts are then exact. Without it, a generous estimate
    (:func:`_estimated_tokens`) is used. Linear in the text; at most :data:`MAX_SEGMENTS`.
    """
    budget = window - 2
    if budget < 8 or not 0 <= overlap < budget // 2:
        raise InvalidRequestError("window", "must leave room for the overlap (window > 4*overlap)")
    if not text:
        return [(0, 0)]
    if tokenizer is not None:
        offsets = [(int(a), int(b)) for a, b in tokenizer(text)]
    else:
        offsets = []
        for match in re.finditer(r"\S+\s*|\s+", text):
            piece, start = match.group(), match.start()
            cost = _estimated_tokens(piece)
            if cost <= 1:
                offsets.append((start, match.end()))
                continue
            # one pseudo-token per estimated token, spread over the piece
            step = max(1, math.ceil(len(piece) / cost))
            for i in range(start, match.end(), step):
                offsets.append((i, min(i + step, match.end())))
    if len(offsets) <= budget:
        return [(0, len(text))]
    spans: list[tuple[int, int]] = []
    first = 0
    while first < len(offsets):
        last = min(first + budget, len(offsets))
        start = offsets[first][0] if spans else 0
        end = offsets[last - 1][1] if last < len(offsets) else len(text)
        spans.append((start, end))
        if len(spans) > MAX_SEGMENTS:
            raise InvalidRequestError(
                "text", f"needs more than {MAX_SEGMENTS} segments of {window} tokens; split it"
            )
        if last == len(offsets):
            break
        first = last - overlap
    return spans


# --------------------------------------------------------------------------- moderations


def moderation_fields(
    safe: bool,
    codes: Sequence[str],
    checked: Mapping[str, str],
    probability: float | None,
    custom: Mapping[str, str] | None = None,
) -> tuple[dict[str, bool], dict[str, float]]:
    """``categories`` and ``category_scores`` of a moderation result from a verdict: one key
    per checked category (plus any unknown code the guard named), True for those named. Scores
    are 1.0 / 0.0, or the first-token ``unsafe`` probability where the server sent logprobs
    (the guard gives one probability for the whole verdict)."""
    flagged_score = 1.0 if probability is None else probability
    other_score = 0.0
    categories: dict[str, bool] = {}
    scores: dict[str, float] = {}
    for code in [*checked, *(c for c in codes if c not in checked)]:
        key = moderation_slug(code, custom)
        hit = (not safe) and code in codes
        categories[key] = hit
        scores[key] = flagged_score if hit else other_score
    return categories, scores


# --------------------------------------------------------------------------- the verdict object


def default_ask(provider: str, model: str) -> AskMode:
    """How to ask ``model`` on ``provider`` when the call does not say: the catalogue's
    :data:`~llama_client.providers._catalog.GUARD_ASK` (per provider, per alias or id), else
    ``"chat"`` (the server applies the guard's own chat template)."""
    from .providers._catalog import GUARD_ASK, canonical_alias

    table = GUARD_ASK.get(provider, {})
    alias = canonical_alias(model) or model
    mode = table.get(model) or table.get(alias) or table.get("*") or "chat"
    return mode  # type: ignore[return-value]


def routed_provider(model: str, providers: Sequence[str]) -> str:
    """The provider a guard call goes to first: a ``"provider:model"`` prefix, else the
    client's first provider (the same rule as the client's routing)."""
    prefix, sep, rest = model.partition(":")
    if sep and rest and prefix and "/" not in prefix:
        from .providers import find_provider

        if prefix in providers or find_provider(prefix) is not None:
            return prefix
    return providers[0]


def build_verdict(
    text: str,
    *,
    role: Literal["user", "agent"],
    model: str,
    usage: object,
    logprobs: object,
    ask: str,
    custom: Mapping[str, str] | None = None,
    parsed: object = None,
) -> SafetyVerdict:
    """The :class:`~llama_client.types.safety.SafetyVerdict` of a guard's answer."""
    from .types.safety import HazardCategory, SafetyVerdict

    safe, codes = parsed_verdict(parsed) if parsed is not None else parse_verdict(text)
    names = {code: (custom or {}).get(code) for code in codes}
    return SafetyVerdict(
        safe=safe,
        categories=[
            HazardCategory(code=code, name=category_name(code) or names.get(code)) for code in codes
        ],
        role_checked=role,
        unsafe_probability=unsafe_probability(logprobs),
        model=model,
        usage=usage if usage is not None else None,
        raw=text
        if parsed is None
        else json.dumps(parsed, ensure_ascii=False, default=text_default),
        ask=ask,
    )


def custom_names(categories: object) -> dict[str, str]:
    """The descriptions of custom categories (a ``{code: description}`` mapping), by code."""
    if isinstance(categories, Mapping):
        return {str(k).strip(): str(v).strip().rstrip(".") for k, v in categories.items()}
    return {}


# --------------------------------------------------------------------------- guarded calls


def completion_texts(completion: Any) -> list[str]:
    """The text of each choice of a completion, as a guard reads it (content, and tool calls
    written as ``name(arguments)``)."""
    texts = []
    for choice in completion.choices:
        message = choice.message
        parts = [message.content or ""]
        if message.tool_calls:
            parts.append(
                "\n".join(f"{c.function.name}({c.function.arguments})" for c in message.tool_calls)
            )
        texts.append("\n".join(p for p in parts if p))
    return texts


def with_answer(turns: Sequence[Mapping[str, str]], answer: str) -> list[dict[str, str]]:
    """``turns`` followed by the assistant's ``answer`` (response classification)."""
    out = [dict(t) for t in turns]
    if out and out[-1]["role"] == "assistant":
        out[-1]["content"] += "\n\n" + answer
    else:
        out.append({"role": "assistant", "content": answer})
    return out


def guarded_completion(completion: Any, input_verdict: Any, output_verdict: Any) -> Any:
    """``completion`` as a :class:`~llama_client.types.safety.GuardedChatCompletion` (a
    ``GuardedParsedChatCompletion`` for ``parse()``'s) carrying the verdicts that let it
    through. Parsed objects are kept as they are, not re-validated."""
    from .types.chat import ParsedChatCompletion
    from .types.safety import GuardedChatCompletion, GuardedParsedChatCompletion

    parsed = isinstance(completion, ParsedChatCompletion)
    cls = GuardedParsedChatCompletion if parsed else GuardedChatCompletion
    out: Any = cls.model_validate(
        {
            **completion.model_dump(),
            "input_verdict": input_verdict,
            "output_verdict": output_verdict,
        }
    )
    if parsed:
        for mine, theirs in zip(out.choices, completion.choices, strict=True):
            mine.message.parsed = theirs.message.parsed
    out._set_provider(completion.provider_name)
    return out


def refusal_completion(
    refusal: str,
    model: str,
    input_verdict: Any,
    output_verdict: Any,
    usage: Any = None,
    *,
    parsed: bool = False,
) -> Any:
    """The answer of a guarded call refused with ``on_unsafe="refuse"``: ``refusal`` as the
    assistant's content, ``finish_reason`` ``"content_filter"``, the verdicts attached (for
    ``parse()``, a ``GuardedParsedChatCompletion`` whose ``parsed`` is None)."""
    import time

    from .types.safety import GuardedChatCompletion, GuardedParsedChatCompletion

    cls = GuardedParsedChatCompletion if parsed else GuardedChatCompletion
    return cls.model_validate(
        {
            "id": f"guard-refusal-{time.time_ns():x}",
            "created": int(time.time()),
            "model": model,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": refusal},
                    "finish_reason": "content_filter",
                }
            ],
            "usage": usage,
            "input_verdict": input_verdict,
            "output_verdict": output_verdict,
            "refused": True,
        }
    )


def refusal_chunk(refusal: str, model: str, chunk_id: str = "") -> Any:
    """The last chunk of a guarded stream refused with ``on_unsafe="refuse"``."""
    import time

    from .types.chat import ChatCompletionChunk

    return ChatCompletionChunk.model_validate(
        {
            "id": chunk_id or f"guard-refusal-{time.time_ns():x}",
            "created": int(time.time()),
            "model": model,
            "choices": [
                {
                    "index": 0,
                    "delta": {"role": "assistant", "content": refusal},
                    "finish_reason": "content_filter",
                }
            ],
        }
    )


async def async_overlap(
    check: Callable[[], Any],
    main: Callable[[], Any],
    *,
    overlap: bool,
    discard: Callable[[Any], Any],
) -> tuple[Any, Any]:
    """``(verdict, result)``: the input check and the main call, the main call started at
    once when ``overlap`` (its result is released only after the check passed). An unsafe
    verdict (or a failed check) cancels the main call and discards what it opened (a
    stream); the result is then None."""
    if not overlap:
        verdict = await check()
        if not verdict.safe:
            return verdict, None
        return verdict, await main()
    import asyncio

    task = asyncio.ensure_future(main())
    try:
        verdict = await check()
    except BaseException:
        await _abandon(task, discard)
        raise
    if not verdict.safe:
        await _abandon(task, discard)
        return verdict, None
    return verdict, await task


async def _abandon(task: Any, discard: Callable[[Any], Any]) -> None:
    import asyncio

    task.cancel()
    await asyncio.wait({task})
    if not task.cancelled() and task.exception() is None:
        await discard(task.result())


def sync_overlap(
    check: Callable[[], Any],
    main: Callable[[], Any],
    *,
    overlap: bool,
    discard: Callable[[Any], Any],
) -> tuple[Any, Any]:
    """The sync twin of :func:`async_overlap`: the check, then (if it passed) the main call."""
    verdict = check()
    if not verdict.safe:
        return verdict, None
    return verdict, main()
