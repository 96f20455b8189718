"""The context pre-flight of a chat call, decided while it is planned (no I/O).

``_BaseClient._plan`` calls :func:`context_budget` once per call (it takes out the arguments
read here, which are never sent) and :meth:`Budget.apply` once per provider the call may go
to, on the OpenAI-shaped body before the provider prepares it:

* ``check_context`` (default: on where the window is known): the prompt is counted with the
  real tokenizer (:mod:`llama_client.tokens`) and a prompt plus ``max_tokens`` longer than the
  window raises :class:`~llama_client.ContextLengthExceededError` before any I/O;
* ``context_window=N`` names the window (a vLLM ``--max-model-len``, an Ollama ``num_ctx``),
  which otherwise comes from the model catalogue (hosted vendors only);
* ``max_tokens="auto"``: the output limit is what the window leaves (and at most the vendor's
  ``max_output``);
* ``control_tokens="warn"|"refuse"``: control-token text in the messages is reported first.

The default check costs a dictionary lookup when the window is unknown (self-hosted servers)
and nothing more when the ``tokens`` extra is absent.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import cache
from typing import TYPE_CHECKING, Any

from .errors import ContextLengthExceededError, InvalidRequestError

if TYPE_CHECKING:
    from .providers.base import ModelInfo, Provider

__all__ = ["CONTEXT_PARAMS", "Budget", "context_budget"]

#: Call arguments read here and never sent.
CONTEXT_PARAMS = frozenset({"check_context", "context_window", "control_tokens"})


@cache
def tokens_available() -> bool:
    """Whether the ``tokens`` extra is installed (looked up once, nothing imported)."""
    from importlib.util import find_spec

    return find_spec("tiktoken") is not None and find_spec("llama_models") is not None


class Budget:
    """What the pre-flight of one call was asked to do."""

    __slots__ = ("auto", "check", "counts", "window")

    def __init__(self, check: bool | None, window: int | None, auto: bool) -> None:
        #: True: asked for; None: the default (on where the window is known and the extra
        #: installed); False: off
        self.check = check
        self.window = window
        self.auto = auto
        #: prompt counts per template name, so fallback providers count once per template
        #: (None: not kept, for the shared default budget)
        self.counts: dict[str, int] | None = None

    def apply(self, provider: Provider, body: dict[str, Any]) -> dict[str, Any]:
        """Check ``body`` (the OpenAI-shaped chat body, before ``provider`` prepares it: a
        provider may encode it in another shape) against the window. Returns the body, or
        for ``"auto"`` a copy with ``max_tokens`` filled in (the provider renames it where it
        must). Raises before any I/O."""
        if self is _DEFAULT and provider._table is not None and not provider._table:
            return body  # the default check, for a provider without a model table (self-hosted)
        info = _model_info(provider, body.get("model"))
        window = self.window
        if (
            window is None
            and info is not None
            and (self.check or self.auto or not provider.is_self_hosted())
        ):
            # a self-hosted server's window is its own setting: the catalogue's (Ollama's
            # default 4096) is used only when asked for
            window = info.context_window
        if window is None:
            if self.auto:
                raise InvalidRequestError(
                    "max_tokens",
                    f'"auto" needs the context window, which is not known for provider '
                    f"{provider.name!r} and model {body.get('model')!r}: pass context_window=...",
                )
            if self.check:
                raise InvalidRequestError(
                    "check_context",
                    f"the context window is not known for provider {provider.name!r} and model "
                    f"{body.get('model')!r}: pass context_window=...",
                )
            return body
        if self.check is None and not self.auto and not tokens_available():
            return body  # the default check without the tokens extra: nothing to count with
        try:
            prompt = self._count(provider, body)
        except InvalidRequestError:
            if self.check is None and not self.auto:
                return body  # the default check cannot count this (an image, parallel tool
                # calls in one message): the server decides
            raise
        length_key = "max_completion_tokens" if "max_completion_tokens" in body else "max_tokens"
        if self.auto:
            left = window - prompt
            if info is not None and info.max_output:
                left = min(left, info.max_output)
            if left < 1:
                raise _exceeded(provider, body, prompt, None, window)
            return {**body, "max_tokens": left}
        if self.check is False:
            return body
        wanted = body.get(length_key)
        output = wanted if isinstance(wanted, int) else 0
        if prompt + max(output, 1) > window:
            raise _exceeded(provider, body, prompt, wanted, window)
        return body

    def _count(self, provider: Provider, body: Mapping[str, Any]) -> int:
        from ._chat_render import render, template_for
        from ._tokenizer import count

        template = template_for(provider.name, str(body.get("model") or ""))
        counts = self.counts if self is not _DEFAULT else None
        if counts is None and self is not _DEFAULT:
            counts = self.counts = {}
        found = counts.get(template.name) if counts is not None else None
        if found is None:
            found = count(render(body["messages"], body.get("tools"), template))
            if counts is not None:
                counts[template.name] = found
        return found


def _model_info(provider: Provider, model: object) -> ModelInfo | None:
    return provider.model_info(model) if isinstance(model, str) else None


def _exceeded(
    provider: Provider, body: Mapping[str, Any], prompt: int, wanted: object, window: int
) -> ContextLengthExceededError:
    asked = f" + max_tokens {wanted}" if isinstance(wanted, int) else ""
    return ContextLengthExceededError.before_sending(
        f"the prompt is {prompt} tokens{asked}, more than the {window}-token context window of "
        f"{body.get('model')!r} on provider {provider.name!r}; nothing was sent "
        "(fit_messages() trims a conversation to a budget)",
        prompt_tokens=prompt,
        max_tokens=wanted if isinstance(wanted, int) else None,
        context_window=window,
    )


def _positive(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise InvalidRequestError(name, f"must be a positive integer, got {value!r}")
    return value


#: The budget of a call that asked for nothing: the default check, shared by every such call
#: (it keeps no counts).
_DEFAULT = Budget(None, None, False)


def context_budget(
    params: Mapping[str, Any], messages: Sequence[Any] | None
) -> tuple[Mapping[str, Any], Budget]:
    """The call's parameters without the ones read here, and its :class:`Budget`."""
    if CONTEXT_PARAMS.isdisjoint(params) and "auto" not in (
        params.get("max_tokens"),
        params.get("max_completion_tokens"),
    ):
        return params, _DEFAULT
    out = dict(params)
    check = out.pop("check_context", None)
    if check is not None and not isinstance(check, bool):
        raise InvalidRequestError("check_context", f"must be True or False, got {check!r}")
    window = out.pop("context_window", None)
    if window is not None:
        window = _positive("context_window", window)
    control = out.pop("control_tokens", None)
    auto = False
    for key in ("max_tokens", "max_completion_tokens"):
        if out.get(key) == "auto":
            del out[key]
            auto = True
    if control is not None and control != "allow":
        from .tokens import check_control_tokens

        check_control_tokens(messages or (), tools=out.get("tools"), action=control)
    return out, Budget(check, window, auto)
