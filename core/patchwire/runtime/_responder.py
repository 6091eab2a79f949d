"""``ctx.execute``: the agent's model through the OpenAI SDK, or a deterministic stand-in.

One ``AsyncOpenAI`` client per agent, made on the first call and closed with the runtime,
keeps connections open between turns and brings the SDK's retries (rate limits, server
errors, timeouts and lost connections, with backoff and ``Retry-After``) and per-attempt
timeouts. What still fails after them is a ``ModelError`` saying what failed, at which
``base_url``, and what to do. The handler raises it like any error of its own: the user gets
``[runtime] error_text`` once and the job stays failed for ``patchwire jobs``, rather than
being retried for hours as an outgoing message is: an answer that arrives minutes late to a
conversation that moved on helps nobody, and the operator can retry the job.

The built-in responder lets an agent run offline and in tests: it answers greetings, repeats
what it was told to do when asked for help, and otherwise echoes the user's text, always
the same way for the same input.

The SDK is imported by the first call that needs it: importing it takes about half a second,
which every process importing the runtime paid before (the CLI's ``check``, the tests, an
agent without a model).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Literal

from patchwire._errors import PatchwireError
from patchwire._resolved import ResolvedModel

if TYPE_CHECKING:
    import openai
    from openai.types.chat import ChatCompletionMessageParam

__all__ = ["ModelError", "Responder", "Role"]

Role = Literal["system", "user", "assistant"]

NO_API_KEY = "no-key"
"""The key sent when ``[model]`` sets none: the SDK requires one, and local servers that
check no key (Ollama, vLLM and llama.cpp by default) ignore it."""


class ModelError(PatchwireError):
    """The model could not answer: what failed, at which base_url, and what to do."""


_GREETINGS = {"hi", "hello", "hey", "bonjour", "hola"}


def built_in_reply(instructions: str, text: str) -> str:
    words = text.strip().lower().strip("!?.")
    if words in _GREETINGS:
        return "Hello! How can I help you today?"
    if words in {"help", "?"}:
        return f"Here is what I can do: {instructions.strip()}"
    return f"You said: {text.strip()}"


class Responder:
    """The agent's model (``[model]``), or the built-in responder when there is none."""

    def __init__(self, model: ResolvedModel | None) -> None:
        self.model = model
        self._client: openai.AsyncOpenAI | None = None

    async def answer(self, instructions: str, transcript: Sequence[tuple[Role, str]]) -> str:
        """The answer given the instructions and the transcript (role, text), oldest first."""
        if self.model is None:
            last_user = next((text for role, text in reversed(transcript) if role == "user"), "")
            return built_in_reply(instructions, last_user)
        import openai

        messages = [_message("system", instructions)]
        messages += [_message(role, text) for role, text in transcript]
        try:
            completion = await self._openai(self.model).chat.completions.create(
                model=self.model.model, messages=messages
            )
        except openai.OpenAIError as error:
            raise ModelError(_explained(self.model, error)) from None  # the message says it all
        return _text(self.model, completion)

    def _openai(self, model: ResolvedModel) -> openai.AsyncOpenAI:
        import openai

        if self._client is None:
            self._client = openai.AsyncOpenAI(
                base_url=model.base_url,
                api_key=model.api_key or NO_API_KEY,
                timeout=model.timeout_seconds,
                max_retries=model.max_retries,
            )
        return self._client

    async def close(self) -> None:
        """Close the client's connections (a later answer opens a new client)."""
        client, self._client = self._client, None
        if client is not None:
            await client.close()


def _message(role: Role, text: str) -> ChatCompletionMessageParam:
    if role == "user":
        return {"role": "user", "content": text}
    if role == "assistant":
        return {"role": "assistant", "content": text}
    return {"role": "system", "content": text}


def _text(model: ResolvedModel, completion: object) -> str:
    """The answer's text. The SDK builds responses without validating them, so a server that
    is not what base_url promised shows here as a missing attribute or a plain string."""
    choices = getattr(completion, "choices", None)
    message = (
        getattr(choices[0], "message", None) if isinstance(choices, list) and choices else None
    )
    content = getattr(message, "content", None)
    if isinstance(content, str):
        return content
    if isinstance(completion, str):
        got = f"a body that is not JSON ({completion[:80]!r})"
    elif not choices:
        got = "no choices"
    else:
        got = "a first choice without text (a refusal or a tool call?)"
    raise ModelError(
        f"the model server at {model.base_url} answered {got}: check that base_url is the root "
        "of an OpenAI-compatible API (it often ends in /v1)"
    )


def _explained(model: ResolvedModel, error: openai.OpenAIError) -> str:
    """What failed, where, and what to do; never the API key."""
    import openai

    where = f"the model server at {model.base_url}"
    retries = model.max_retries
    retried = (
        f"after {retries} {'retry' if retries == 1 else 'retries'}" if retries else "with no retry"
    )
    if isinstance(error, openai.APITimeoutError):
        return (
            f"{where} did not answer within timeout_seconds = {model.timeout_seconds:g} "
            f"({retried}): check that it runs, or raise [model] timeout_seconds"
        )
    if isinstance(error, openai.APIConnectionError):
        cause = error.__cause__ or error
        return (
            f"could not reach {where} ({retried}): {cause}: check [model] base_url and that "
            "the server runs"
        )
    if not isinstance(error, openai.APIStatusError):
        return f"the model client failed for {where}: {error}"
    said = f"{error.status_code}: {_detail(error)}"
    if isinstance(error, openai.AuthenticationError | openai.PermissionDeniedError):
        return (
            f"{where} refused the API key ({said}): check [model] api_key and the environment "
            "variable it comes from"
        )
    if isinstance(error, openai.RateLimitError):
        return (
            f"{where} is still rate limiting {retried} ({said}): check the account's quota, or "
            "raise [model] max_retries"
        )
    if isinstance(error, openai.NotFoundError):
        return (
            f"{where} has no model {model.model!r} or no /chat/completions ({said}): check "
            "[model] model, and that base_url is the API root (it often ends in /v1)"
        )
    if isinstance(error, openai.InternalServerError):
        return f"{where} failed {retried} ({said}): check the server and its logs"
    return f"{where} refused the request ({said}): check [model] model and the server's logs"


def _detail(error: openai.APIStatusError) -> str:
    """The server's own message (OpenAI's ``{"error": {"message": ...}}``), cut short."""
    body = error.body
    if isinstance(body, dict):
        inner = body.get("error", body)
        found = inner.get("message") if isinstance(inner, dict) else None
        if isinstance(found, str):
            return found[:200]
    return error.response.text[:200] or error.response.reason_phrase
