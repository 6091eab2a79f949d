"""``ctx.execute``: the model behind the agent, or a deterministic stand-in when none is set.

The built-in responder lets an agent run offline and in tests: it answers greetings, repeats
what it was told to do when asked for help, and otherwise echoes the user's text, always
the same way for the same input.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import httpx

from patchwire._config import ModelConfig
from patchwire._errors import PatchwireError

__all__ = ["BUILT_IN", "ModelConfig", "ModelError", "respond"]

BUILT_IN = "built-in"


class ModelError(PatchwireError):
    """The model provider could not answer."""


_GREETINGS = {"hi", "hello", "hey", "bonjour", "hola"}


def built_in_reply(instructions: str, text: str) -> str:
    words = text.strip().lower().strip("!?.")
    if words in _GREETINGS:
        return "Hello! How can I help you today?"
    if words in {"help", "?"}:
        return f"Here is what I can do: {instructions.strip()}"
    return f"You said: {text.strip()}"


async def respond(
    config: ModelConfig | None, instructions: str, transcript: Sequence[tuple[str, str]]
) -> str:
    """The agent's answer given its instructions and the transcript (role, text), oldest first."""
    last_user = next((text for role, text in reversed(transcript) if role == "user"), "")
    if config is None or config.provider == BUILT_IN:
        return built_in_reply(instructions, last_user)
    if config.provider != "openai-compatible":
        raise ModelError(
            f"unknown model provider {config.provider!r}: use 'built-in' or 'openai-compatible'"
        )
    if not config.base_url or not config.model:
        raise ModelError("the openai-compatible provider needs base_url and model in [model]")
    messages: list[dict[str, Any]] = [{"role": "system", "content": instructions}]
    messages += [{"role": role, "content": text} for role, text in transcript]
    headers = {"Authorization": f"Bearer {config.api_key}"} if config.api_key else {}
    async with httpx.AsyncClient(timeout=config.timeout_seconds) as client:
        try:
            response = await client.post(
                config.base_url.rstrip("/") + "/chat/completions",
                json={"model": config.model, "messages": messages},
                headers=headers,
            )
        except httpx.HTTPError as error:
            raise ModelError(f"model provider at {config.base_url} unreachable: {error}") from error
    if response.status_code >= 400:
        raise ModelError(f"model provider answered {response.status_code}: {response.text[:300]}")
    try:
        return str(response.json()["choices"][0]["message"]["content"])
    except (KeyError, IndexError, ValueError) as error:
        raise ModelError(f"model provider answered an unexpected body: {error}") from error
