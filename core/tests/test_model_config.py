"""``[model]``: the shorthand, the explicit form, and one clear problem per mistake."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from patchwire import Catalog, ConfigError, check, define_config, load_config, resolve
from patchwire._resolved import ResolvedModel
from patchwire.cli import app

NOTHING = Catalog.from_objects()
ENV = {"OPENAI_API_KEY": "sk-from-the-environment", "MODEL_URL": "http://127.0.0.1:11434/v1"}


def model_of(model: Any, environ: dict[str, str] = ENV) -> ResolvedModel | None:
    return resolve(define_config(name="agent", model=model), NOTHING, environ).model


def problems_of(model: Any, environ: dict[str, str] = ENV) -> list[str]:
    return [str(p) for p in check(define_config(name="agent", model=model), NOTHING, environ)]


def test_the_shorthand_names_the_provider_and_the_model() -> None:
    assert model_of("openai:gpt-4.1-mini-2025-04-14") == ResolvedModel(
        provider="openai",
        model="gpt-4.1-mini-2025-04-14",
        base_url="https://api.openai.com/v1",
        api_key="sk-from-the-environment",
        timeout_seconds=60,
        max_retries=2,
    )


def test_the_shorthand_at_the_top_of_agent_toml_and_inside_model(tmp_path: Path) -> None:
    (tmp_path / "agent.toml").write_text(
        'name = "agent"\nmodel = "openai:gpt-4.1-mini-2025-04-14"\n', encoding="utf-8"
    )
    top = resolve(load_config(tmp_path), NOTHING, ENV).model
    (tmp_path / "agent.toml").write_text(
        'name = "agent"\n[model]\nmodel = "openai:gpt-4.1-mini-2025-04-14"\n'
        'api_key = "${OPENAI_API_KEY}"\ntimeout_seconds = 20\nmax_retries = 5\n',
        encoding="utf-8",
    )
    table = resolve(load_config(tmp_path), NOTHING, ENV).model
    assert top is not None and table is not None
    assert (top.provider, top.model, top.api_key) == (table.provider, table.model, table.api_key)
    assert (table.timeout_seconds, table.max_retries) == (20, 5)


def test_a_local_server_keeps_the_colons_of_its_model_name() -> None:
    shorthand = model_of({"model": "openai-compatible:llama3.2:3b", "baseUrl": "${MODEL_URL}"})
    explicit = model_of(
        {"provider": "openai-compatible", "model": "llama3.2:3b", "base_url": "${MODEL_URL}"}
    )
    assert shorthand == explicit
    assert shorthand is not None
    assert (shorthand.model, shorthand.base_url, shorthand.api_key) == (
        "llama3.2:3b",
        "http://127.0.0.1:11434/v1",
        None,
    )


def test_the_built_in_responder_is_the_default() -> None:
    assert model_of(None) is None
    assert model_of({"provider": "built-in"}) is None


def test_the_key_is_never_in_a_repr() -> None:
    found = model_of("openai:gpt-4.1-mini-2025-04-14")
    config = define_config(name="agent", model={"model": "openai:x", "api_key": "sk-literal"})
    assert "sk-from-the-environment" not in repr(found)
    assert "sk-literal" not in repr(config)


@pytest.mark.parametrize(
    ("model", "problem"),
    [
        (
            "opneai:gpt-4.1",
            "unknown-provider model.model: unknown model provider 'opneai' (did you mean "
            "'openai'? providers: built-in, openai, openai-compatible; any server with an "
            "OpenAI-style API is 'openai-compatible' with its base_url)",
        ),
        (
            {"provider": "ollama", "model": "llama3.2"},
            "unknown-provider model.provider: unknown model provider 'ollama' (providers: "
            "built-in, openai, openai-compatible; any server with an OpenAI-style API is "
            "'openai-compatible' with its base_url)",
        ),
        (
            "gpt-4.1-mini",
            "bad-model model.model: 'gpt-4.1-mini' does not say its provider (write "
            '"provider:model", e.g. "openai:gpt-4.1-mini", or set provider beside it '
            "(providers: built-in, openai, openai-compatible))",
        ),
        (
            "openai:",
            "bad-model model.model: 'openai:' is not provider:model (write both parts, e.g. "
            '"openai:gpt-4.1-mini-2025-04-14")',
        ),
        (
            {"base_url": "http://127.0.0.1:8000/v1"},
            "bad-model model.model: [model] names no model (write model = "
            '"openai:gpt-4.1-mini-2025-04-14" (provider:model), or remove [model] for the '
            "built-in responder)",
        ),
        (
            {"provider": "openai"},
            "bad-model model.model: provider 'openai' needs a model (name the server's model, "
            'e.g. model = "gpt-4.1-mini-2025-04-14")',
        ),
        (
            "openai-compatible:llama3.2",
            "bad-model model.base_url: provider 'openai-compatible' needs base_url, the "
            "server's API root (local servers: http://127.0.0.1:11434/v1 (Ollama), "
            "http://127.0.0.1:8000/v1 (vLLM), http://127.0.0.1:8080/v1 (llama.cpp))",
        ),
        (
            {"model": "openai-compatible:llama3.2", "base_url": "localhost:11434"},
            "bad-model model.base_url: 'localhost:11434' is not an http(s) URL (write the "
            "whole URL of the API root, e.g. http://127.0.0.1:11434/v1)",
        ),
        (
            {"model": "openai-compatible:m", "base_url": "http://h:8000/v1/chat/completions"},
            "bad-model model.base_url: 'http://h:8000/v1/chat/completions' is the endpoint, not "
            "the API root (write base_url = 'http://h:8000/v1': the client adds "
            "/chat/completions)",
        ),
    ],
)
def test_each_mistake_is_one_problem(model: Any, problem: str) -> None:
    assert problems_of(model) == [problem]


def test_openai_without_a_key_in_the_environment() -> None:
    assert problems_of("openai:gpt-4.1-mini", environ={}) == [
        "env-unset model.api_key: environment variable OPENAI_API_KEY is not set (set it "
        "(export OPENAI_API_KEY=...) or give a default: ${OPENAI_API_KEY:-value})"
    ]


def test_the_provider_may_come_from_the_environment() -> None:
    """``${MODEL:-built-in}`` switches a deployment to a model without editing agent.toml."""
    written = "${MODEL:-built-in}"
    assert model_of(written) is None
    found = model_of(written, environ={"MODEL": "openai:gpt-4.1-mini", **ENV})
    assert found is not None
    assert (found.provider, found.model) == ("openai", "gpt-4.1-mini")


@pytest.mark.parametrize(
    ("table", "problem"),
    [
        ({"timeout_seconds": 0}, "bad-value model.timeout_seconds: Input should be greater than 0"),
        (
            {"max_retries": -1},
            "bad-value model.max_retries: Input should be greater than or equal to 0",
        ),
        (
            {"modle": "openai:x"},
            "unknown-key model.modle: unknown key 'modle' (did you mean 'model'?",
        ),
    ],
)
def test_structural_mistakes_stop_at_load(table: dict[str, Any], problem: str) -> None:
    with pytest.raises(ConfigError) as raised:
        define_config(name="agent", model={"model": "openai:x", **table})
    [found] = raised.value.problems
    assert str(found).startswith(problem)


def test_check_reports_a_model_problem_on_one_line(tmp_path: Path) -> None:
    (tmp_path / "agent.toml").write_text(
        'name = "agent"\nmodel = "opneai:gpt-4.1-mini"\n', encoding="utf-8"
    )
    (tmp_path / "agent.py").write_text("", encoding="utf-8")
    result = CliRunner().invoke(app, ["check", str(tmp_path)])
    assert result.exit_code == 1
    assert result.output.splitlines() == [
        f"{tmp_path / 'agent.toml'}: unknown-provider model.model: unknown model provider "
        "'opneai' (did you mean 'openai'? providers: built-in, openai, openai-compatible; any "
        "server with an OpenAI-style API is 'openai-compatible' with its base_url)",
        f"{tmp_path / 'agent.toml'}: 1 problem",
    ]
