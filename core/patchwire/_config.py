"""agent.toml: the model of an agent's configuration, read from TOML or built in Python.

The model checks structure only (which keys exist, which are tables, which are strings), so a
file with a misspelt alias or an unset variable still loads and ``patchwire check`` can report
every problem at once. Everything that needs the installed packages or the environment (alias
syntax, version pins, ``${VAR}``, package config schemas) is the resolver's job.
"""

from __future__ import annotations

import difflib
import json
import re
import tomllib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import UnionType
from typing import Annotated, Any, Union, get_args, get_origin
from urllib.parse import urlsplit

from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.version import InvalidVersion, Version
from pydantic import BaseModel, BeforeValidator, Field, PrivateAttr, ValidationError
from pydantic.alias_generators import to_camel, to_snake
from pydantic_core import PydanticCustomError

from patchwire._errors import ConfigError, error_message
from patchwire._models import WireModel
from patchwire._problems import Problem

__all__ = [
    "ALIAS_PATTERN",
    "CONFIG_FILENAME",
    "AgentConfig",
    "IntegrationEntry",
    "ModelConfig",
    "PackageRef",
    "PluginDependency",
    "PluginEntry",
    "RuntimeSettings",
    "alias_problem",
    "config_path",
    "define_config",
    "did_you_mean",
    "dotted",
    "load_config",
    "public_url_problem",
    "validation_problems",
]

CONFIG_FILENAME = "agent.toml"
ALIAS_PATTERN = re.compile(r"^[a-z][a-z0-9_-]*$")
ALIAS_LENGTH = (2, 64)
"""Aliases name namespaces in the store (`integration:<alias>:...`, at most 100 characters)."""
LATEST = "latest"


class IntegrationEntry(WireModel):
    """``[integrations.<alias>]``: which package, its configuration, whether it is active."""

    version: str
    config: dict[str, Any] = Field(default_factory=dict)
    enabled: bool = True


class PluginDependency(WireModel):
    """Binds one plugin requirement to an integration alias and one of its implementation keys.

    ``integration_interface_alias`` may be left out when the integration implements the
    required interface exactly once.
    """

    integration_alias: str
    integration_interface_alias: str | None = None


class PluginEntry(WireModel):
    """``[plugins.<alias>]``: which package, its configuration and its requirement bindings."""

    version: str
    config: dict[str, Any] = Field(default_factory=dict)
    dependencies: dict[str, PluginDependency] = Field(default_factory=dict)


def _short_form(value: Any) -> Any:
    """``alias = "name@version"`` means ``[integrations.alias] version = "name@version"``."""
    if isinstance(value, str):
        return {"version": value}
    if isinstance(value, Mapping | IntegrationEntry):
        return value
    raise PydanticCustomError(
        "integration_entry",
        'expected a version string such as "zendesk@latest" or a table with version, config '
        "and enabled, got {kind}",
        {"kind": type(value).__name__},
    )


class ModelConfig(WireModel):
    """The ``[model]`` table as written: what answers ``ctx.execute``.

    ``model = "openai:gpt-4.1-mini"`` names the provider and the model in one string; with
    ``provider`` set, ``model`` is the server's model name as it is (Ollama's ``llama3.2:3b``
    keeps its colon). Which providers exist and what each needs is checked by the resolver,
    after ``${VAR}`` substitution, since any of these strings may come from the environment.
    """

    provider: str | None = None
    model: str | None = None
    base_url: str | None = None
    api_key: str | None = Field(default=None, repr=False)
    timeout_seconds: float = Field(default=60, gt=0)
    """How long one attempt may take; the SDK then retries up to ``max_retries`` times."""
    max_retries: int = Field(default=2, ge=0)


def _model_short_form(value: Any) -> Any:
    """``model = "openai:gpt-4.1-mini"`` at the top means ``[model] model = "openai:..."``."""
    return {"model": value} if isinstance(value, str) else value


DEFAULT_ERROR_TEXT = "Sorry, something went wrong on my side. Please try again in a moment."


class RuntimeSettings(WireModel):
    """The ``[runtime]`` table: what the pipeline does when something fails."""

    error_text: str | None = DEFAULT_ERROR_TEXT
    """Sent to the conversation once when a handler or hook raises; "" sends nothing."""
    delivery_retry_hours: float = Field(default=24, gt=0)
    """How long an outgoing message is retried while its outside system is down."""
    max_retry_seconds: float = Field(default=30, gt=0)
    """The longest wait between two delivery attempts (backoff doubles from 1 s up to this)."""


def public_url_problem(url: str) -> str | None:
    """Why ``url`` cannot be the agent's public URL (None when it can): the outside system
    appends ``/webhooks/<alias>`` to it, so it is an http(s) base address, no query."""
    parsed = urlsplit(url)
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        return f"{url!r} is not an http(s) URL such as https://bot.example.com"
    if parsed.query or parsed.fragment:
        return f"{url!r} has a query or fragment; give the base URL only"
    return None


class AgentConfig(WireModel):
    """The whole of agent.toml."""

    name: str
    module: str = "agent.py"
    database_url: str | None = None
    public_url: str | None = None
    """Where outside systems reach this agent (``<public_url>/webhooks/<alias>``)."""
    model: Annotated[ModelConfig | None, BeforeValidator(_model_short_form)] = None
    runtime: RuntimeSettings = Field(default_factory=RuntimeSettings)
    integrations: dict[str, Annotated[IntegrationEntry, BeforeValidator(_short_form)]] = Field(
        default_factory=dict
    )
    plugins: dict[str, PluginEntry] = Field(default_factory=dict)

    _directory: Path | None = PrivateAttr(default=None)

    @property
    def directory(self) -> Path | None:
        """The folder of the agent.toml this came from; ``module`` is relative to it."""
        return self._directory

    @property
    def module_path(self) -> Path:
        return (self._directory or Path.cwd()) / self.module


@dataclass(frozen=True)
class PackageRef:
    """A parsed version string: ``zendesk@1.2.3``, ``zendesk@latest``, ``zendesk@>=0.1,<1``."""

    name: str
    specifier: SpecifierSet | None

    @classmethod
    def parse(cls, text: str) -> PackageRef:
        name, at, wanted = text.partition("@")
        name, wanted = name.strip(), wanted.strip()
        if not at or not name or not wanted:
            raise ValueError(f"{text!r} is not a package version")
        if wanted == LATEST:
            return cls(name, None)
        try:
            return cls(name, SpecifierSet(f"=={Version(wanted)}"))
        except InvalidVersion:
            pass
        try:
            return cls(name, SpecifierSet(wanted))
        except InvalidSpecifier:
            raise ValueError(f"{wanted!r} in {text!r} is neither a version nor a range") from None

    def accepts(self, version: str) -> bool:
        """Whether an installed version satisfies the pin (pre-releases count, as in pip)."""
        if self.specifier is None:
            return True
        try:
            return self.specifier.contains(Version(version), prereleases=True)
        except InvalidVersion:
            return False

    @property
    def wanted(self) -> str:
        return LATEST if self.specifier is None else str(self.specifier)


def dotted(parts: Sequence[str | int]) -> str:
    """A TOML-style dotted key: ``plugins.hitl.config."odd key"[0]``."""
    text = ""
    for part in parts:
        if isinstance(part, int):
            text += f"[{part}]"
            continue
        key = part if re.fullmatch(r"[A-Za-z0-9_-]+", part) else json.dumps(part)
        text = f"{text}.{key}" if text else key
    return text or "(root)"


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """``did you mean 'x'? `` or an empty string when nothing is close."""
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f"did you mean {close[0]!r}? " if close else ""


def _as_written(raw: Any, loc: Sequence[str | int]) -> tuple[list[str | int], Any]:
    """Follow a pydantic error location through the raw input, in the user's spelling.

    Returns the path and the deepest value found on it: the value as the user wrote it.
    """
    path: list[str | int] = []
    node, found = raw, raw
    for part in loc:
        if isinstance(node, Mapping) and isinstance(part, str):
            for spelling in (part, to_snake(part), to_camel(part)):
                if spelling in node:
                    part = spelling
                    break
            node = node.get(part)
        elif isinstance(node, list | tuple) and isinstance(part, int) and part < len(node):
            node = node[part]
        else:
            node = None
        if node is not None:
            found = node
        path.append(part)
    return path, found


def _field_names(model: type[BaseModel], loc: Sequence[str | int]) -> list[str]:
    """The keys accepted at ``loc`` (camelCase spelling), for "did you mean"."""
    current: Any = model
    for part in loc:
        current = _unwrap(current)
        if isinstance(current, type) and issubclass(current, BaseModel):
            field = next((f for n, f in current.model_fields.items() if part in (n, f.alias)), None)
            if field is None:
                return []
            current = field.annotation
        elif get_origin(current) is dict:
            current = get_args(current)[1]
        else:
            return []
    current = _unwrap(current)
    if not (isinstance(current, type) and issubclass(current, BaseModel)):
        return []
    return [field.alias or name for name, field in current.model_fields.items()]


def _unwrap(annotation: Any) -> Any:
    """Look through ``Annotated[X, ...]`` and ``X | None``."""
    while True:
        if get_origin(annotation) is Annotated:
            annotation = get_args(annotation)[0]
            continue
        arguments = [a for a in get_args(annotation) if a is not type(None)]
        if get_origin(annotation) in (Union, UnionType) and len(arguments) == 1:
            annotation = arguments[0]
            continue
        return annotation


def validation_problems(
    error: ValidationError,
    *,
    raw: Any,
    model: type[BaseModel],
    prefix: Sequence[str | int] = (),
    code: str | None = None,
) -> list[Problem]:
    """One problem per field a model rejects, located where the user wrote it.

    ``raw`` is the input as written, before ``${VAR}`` substitution: a rejected value is shown
    from there, so a secret that came from the environment is shown as its ``${VAR}``, never
    its value. With ``code`` every problem gets that code; otherwise the code says what kind of
    mistake it is (``unknown-key``, ``missing-key``, ``bad-value``).
    """
    problems = []
    for item in error.errors(include_url=False):
        loc = [part for part in item["loc"] if isinstance(part, str | int)]
        path, written = _as_written(raw, loc)
        kind = item["type"]
        hint = ""
        if kind == "extra_forbidden":
            key = str(loc[-1])
            accepted = _field_names(model, loc[:-1])
            message = f"unknown key {key!r}"
            hint = did_you_mean(key, accepted) + (
                f"accepted keys: {', '.join(accepted)}" if accepted else "remove it"
            )
            default_code = "unknown-key"
        elif kind == "missing":
            message = f"required key {loc[-1]!r} is missing" if loc else "required value missing"
            hint = "add it"
            default_code = "missing-key"
        else:
            message = error_message(item)
            if kind != "integration_entry" and not isinstance(item["input"], dict | list):
                shown = item["input"] if isinstance(written, Mapping | list) else written
                message += f" (got {shown!r})"
            default_code = "bad-value"
        problems.append(
            Problem(
                code=code or default_code,
                location=dotted([*prefix, *path]),
                message=message,
                hint=hint,
            )
        )
    return problems


def _validate(raw: Any, directory: Path | None) -> AgentConfig:
    try:
        config = AgentConfig.model_validate(raw)
    except ValidationError as error:
        raise ConfigError(validation_problems(error, raw=raw, model=AgentConfig)) from None
    config._directory = directory
    return config


_TOML_POSITION = re.compile(r"\s*\(at line (\d+), column (\d+)\)$")


def config_path(path: str | Path) -> Path:
    """The agent.toml a command-line PATH means: the file itself, or the one in that folder."""
    path = Path(path)
    return path / CONFIG_FILENAME if path.is_dir() else path


def load_config(path: str | Path) -> AgentConfig:
    """Read an agent folder's agent.toml (or the file named); raises ConfigError on problems."""
    path = config_path(path)
    try:
        data = tomllib.loads(path.read_bytes().decode("utf-8"))
    except FileNotFoundError:
        raise ConfigError(
            [
                Problem(
                    "no-config",
                    str(path),
                    "the file does not exist",
                    "pass an agent folder or its agent.toml; patchwire init creates one",
                )
            ]
        ) from None
    except UnicodeDecodeError as error:
        raise ConfigError(
            [
                Problem(
                    "toml-syntax",
                    f"byte {error.start}",
                    "the file is not UTF-8 text",
                    "save agent.toml as UTF-8",
                )
            ]
        ) from None
    except tomllib.TOMLDecodeError as error:
        text = str(error)
        found = _TOML_POSITION.search(text)
        location = f"line {found[1]}, column {found[2]}" if found else "(file)"
        message = _TOML_POSITION.sub("", text) if found else text
        raise ConfigError(
            [
                Problem(
                    "toml-syntax",
                    location,
                    message[:1].lower() + message[1:],
                    "fix the TOML at that position (https://toml.io/en/v1.0.0)",
                )
            ]
        ) from None
    return _validate(data, path.parent.resolve())


def define_config(
    *,
    name: str,
    integrations: Mapping[str, str | IntegrationEntry | Mapping[str, Any]] | None = None,
    plugins: Mapping[str, PluginEntry | Mapping[str, Any]] | None = None,
    module: str = "agent.py",
    database_url: str | None = None,
    model: str | ModelConfig | Mapping[str, Any] | None = None,
    public_url: str | None = None,
    runtime: RuntimeSettings | Mapping[str, Any] | None = None,
    directory: str | Path | None = None,
) -> AgentConfig:
    """Build the agent.toml model in Python; raises ConfigError with every structural problem.

    ``integrations`` and ``model`` take the same short forms (``{"chat": "chat@latest"}``,
    ``"openai:gpt-4.1-mini"``) and long forms as agent.toml; nested keys may be camelCase or
    snake_case.
    """
    raw: dict[str, Any] = {
        "name": name,
        "module": module,
        "database_url": database_url,
        "public_url": public_url,
        "integrations": dict(integrations or {}),
        "plugins": dict(plugins or {}),
    }
    if model is not None:
        raw["model"] = model.model_dump() if isinstance(model, ModelConfig) else model
    if runtime is not None:
        raw["runtime"] = runtime.model_dump() if isinstance(runtime, RuntimeSettings) else runtime
    return _validate(raw, Path(directory).resolve() if directory is not None else None)


def alias_problem(alias: str, location: str, what: str, code: str = "bad-alias") -> Problem | None:
    """A problem when ``alias`` breaks the alias rules, else None."""
    low, high = ALIAS_LENGTH
    if low <= len(alias) <= high and ALIAS_PATTERN.match(alias):
        return None
    suggestion = re.sub(r"[^a-z0-9_-]", "-", alias.lower()).strip("-_")
    if suggestion and not suggestion[0].isalpha():
        suggestion = f"x{suggestion}"
    suggestion = suggestion[:high]
    hint = f"{low}-{high} characters: lowercase letters, digits, '-' or '_', starting with a letter"
    if low <= len(suggestion) and ALIAS_PATTERN.match(suggestion):
        hint += f", e.g. {suggestion!r}"
    return Problem(code, location, f"{alias!r} is not a valid {what}", hint)
