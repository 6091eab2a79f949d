"""``[model]`` resolved: which provider and model answer ``ctx.execute``, and at which URL.

- ``built-in``: the offline responder (also what no ``[model]`` and ``model = "built-in"`` mean);
- ``openai``: OpenAI's API, its key from ``$OPENAI_API_KEY`` unless ``api_key`` names another;
- ``openai-compatible``: any server speaking the Chat Completions API at ``base_url``
  (Ollama, vLLM, llama.cpp, a gateway).

This runs after the structural check, on the table with ``${VAR}`` substituted, because the
provider, the model and the URL may all come from the environment.
"""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import urlsplit

from patchwire._config import ModelConfig, did_you_mean
from patchwire._interpolation import interpolate
from patchwire._problems import Problem
from patchwire._resolved import ResolvedModel

__all__ = ["BUILT_IN", "OPENAI", "OPENAI_COMPATIBLE", "PROVIDERS", "resolve_model"]

BUILT_IN = "built-in"
OPENAI = "openai"
OPENAI_COMPATIBLE = "openai-compatible"
PROVIDERS = (BUILT_IN, OPENAI, OPENAI_COMPATIBLE)
OPENAI_BASE_URL = "https://api.openai.com/v1"
OPENAI_KEY = "${OPENAI_API_KEY}"
"""The key of the ``openai`` provider when ``[model]`` sets none: the SDK's usual variable."""
EXAMPLE = "openai:gpt-4.1-mini-2025-04-14"
OLLAMA_URL = "http://127.0.0.1:11434/v1"
LOCAL_SERVERS = (
    f"{OLLAMA_URL} (Ollama), http://127.0.0.1:8000/v1 (vLLM), http://127.0.0.1:8080/v1 (llama.cpp)"
)


def resolve_model(
    config: ModelConfig, environ: Mapping[str, str]
) -> tuple[ResolvedModel | None, list[Problem]]:
    """What ``[model]`` means, or the problems that stop it; None means the built-in responder."""
    substituted, problems = interpolate(config.model_dump(), environ, ["model"])
    if problems:
        return None, problems
    written = ModelConfig.model_validate(substituted)
    named = _provider_and_model(written)
    if isinstance(named, Problem):
        return None, [named]
    provider, model = named
    if provider == BUILT_IN:
        return None, []
    api_key = written.api_key
    if api_key is None and provider == OPENAI:
        api_key, problems = interpolate(OPENAI_KEY, environ, ["model", "api_key"])
    base_url = written.base_url or (OPENAI_BASE_URL if provider == OPENAI else None)
    if base_url is None:
        problems.append(
            Problem(
                "bad-model",
                "model.base_url",
                f"provider {provider!r} needs base_url, the server's API root",
                f"local servers: {LOCAL_SERVERS}",
            )
        )
    elif (found := _url_problem(base_url)) is not None:
        problems.append(found)
    if problems or base_url is None:
        return None, problems
    return ResolvedModel(
        provider=provider,
        model=model,
        base_url=base_url,
        api_key=api_key,
        timeout_seconds=written.timeout_seconds,
        max_retries=written.max_retries,
    ), []


def _provider_and_model(written: ModelConfig) -> tuple[str, str] | Problem:
    """``(provider, model)`` from the explicit keys or the ``provider:model`` shorthand."""
    if written.provider is not None:
        provider, model, location = written.provider, written.model, "model.provider"
    elif written.model is None:
        return Problem(
            "bad-model",
            "model.model",
            "[model] names no model",
            f'write model = "{EXAMPLE}" (provider:model), or remove [model] for the built-in '
            "responder",
        )
    elif written.model == BUILT_IN:
        return BUILT_IN, ""
    else:
        provider, colon, model = written.model.partition(":")
        location = "model.model"
        if not colon:
            return Problem(
                "bad-model",
                location,
                f"{written.model!r} does not say its provider",
                f'write "provider:model", e.g. "{OPENAI}:{written.model}", or set provider '
                f"beside it (providers: {', '.join(PROVIDERS)})",
            )
        if not provider or not model:
            return Problem(
                "bad-model",
                location,
                f"{written.model!r} is not provider:model",
                f'write both parts, e.g. "{EXAMPLE}"',
            )
    if provider not in PROVIDERS:
        return Problem(
            "unknown-provider",
            location,
            f"unknown model provider {provider!r}",
            did_you_mean(provider, PROVIDERS) + f"providers: {', '.join(PROVIDERS)}; any "
            f"server with an OpenAI-style API is {OPENAI_COMPATIBLE!r} with its base_url",
        )
    if provider != BUILT_IN and not model:
        return Problem(
            "bad-model",
            "model.model",
            f"provider {provider!r} needs a model",
            'name the server\'s model, e.g. model = "gpt-4.1-mini-2025-04-14"',
        )
    return provider, model or ""


def _url_problem(base_url: str) -> Problem | None:
    parts = urlsplit(base_url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return Problem(
            "bad-model",
            "model.base_url",
            f"{base_url!r} is not an http(s) URL",
            f"write the whole URL of the API root, e.g. {OLLAMA_URL}",
        )
    if parts.path.rstrip("/").endswith("/chat/completions"):
        root = base_url.rstrip("/").removesuffix("/chat/completions")
        return Problem(
            "bad-model",
            "model.base_url",
            f"{base_url!r} is the endpoint, not the API root",
            f"write base_url = {root!r}: the client adds /chat/completions",
        )
    return None
