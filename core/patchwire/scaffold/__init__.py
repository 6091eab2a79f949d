"""Rendering the ``patchwire new`` templates: a package folder from a name and an interface.

The templates (Jinja2, shipped in the wheel beside this module) are the single source of a new
package's files; this module only works out what they are filled with. Stubs are derived from
the installed interface's definition (its actions, events and channel message types, the fields
of their models and the rules in their descriptions), so a new interface gets a scaffold too.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jinja2
from pydantic import BaseModel
from pydantic.fields import FieldInfo

from patchwire._definitions import InterfaceDefinition
from patchwire._errors import PatchwireError

__all__ = [
    "MAX_NAME_LENGTH",
    "NAME_PATTERN",
    "ScaffoldError",
    "render_integration",
    "render_plugin",
]

NAME_PATTERN = re.compile(r"[a-z][a-z0-9]*(-[a-z0-9]+)*")
"""A package name: lowercase letters and digits, words separated by single hyphens."""
MAX_NAME_LENGTH = 16
"""Long enough for a product's name, short enough for the generated lines to fit ruff's 100."""

_TEMPLATES = Path(__file__).parent
_SUFFIX = ".jinja"


class ScaffoldError(PatchwireError, ValueError):
    """Why a package can not be generated (a bad name, a folder in the way)."""


@dataclass(frozen=True)
class ModelField:
    """One field of a model as the docstring of a stub lists it."""

    wire: str
    python: str
    type: str
    required: bool
    rules: str


@dataclass(frozen=True)
class ModelInfo:
    name: str
    module: str
    doc: str
    fields: list[ModelField]


@dataclass(frozen=True)
class Piece:
    """An action, an event or a channel message type the new package must provide."""

    name: str
    python: str
    description: str
    models: dict[str, ModelInfo] = field(default_factory=dict)


def _type_name(annotation: Any) -> str:
    text = getattr(annotation, "__name__", None) if isinstance(annotation, type) else None
    text = re.sub(r"\b[a-z_]+\.(?=[A-Za-z_])", "", text or str(annotation))
    return text if len(text) <= 48 else text.split("[", 1)[0] + "[...]"


def _rules(info: FieldInfo) -> str:
    rules = [
        f"{type(item).__name__.replace('Len', ' length').lower()} {value}"
        for item in info.metadata
        for attribute in ("min_length", "max_length", "ge", "le", "gt", "lt")
        if (value := getattr(item, attribute, None)) is not None
    ]
    if info.description:
        rules.append(info.description)
    return "; ".join(rules)


def _model(model: type[BaseModel]) -> ModelInfo:
    fields = [
        ModelField(
            wire=info.alias or name,
            python=name,
            type=_type_name(info.annotation),
            required=info.is_required(),
            rules=_rules(info),
        )
        for name, info in model.model_fields.items()
    ]
    doc = (model.__doc__ or "").strip().splitlines()
    return ModelInfo(model.__name__, model.__module__, doc[0] if doc else "", fields)


def _python_name(name: str) -> str:
    return re.sub(r"\W", "_", name)


def _pieces(interface: InterfaceDefinition) -> dict[str, Any]:
    actions = [
        Piece(
            name,
            _python_name(name),
            action.description,
            {"input": _model(action.input), "output": _model(action.output)},
        )
        for name, action in interface.actions.items()
    ]
    events = [
        Piece(name, _python_name(name), event.description, {"payload": _model(event.payload)})
        for name, event in interface.events.items()
    ]
    channels = [
        Piece(
            channel_name,
            _python_name(channel_name),
            channel.description,
            {kind: _model(model) for kind, model in channel.messages.items()},
        )
        for channel_name, channel in interface.channels.items()
    ]
    imports: dict[str, set[str]] = defaultdict(set)
    for module, names in _INTEGRATION_IMPORTS.items():
        imports[module].update(names)
    for piece in [*actions, *events]:
        for model in piece.models.values():
            imports[model.module].add(model.name)
    return {
        "actions": actions,
        "events": events,
        "channels": channels,
        "imports": _sorted_imports(imports),
    }


_INTEGRATION_IMPORTS = {
    "patchwire": ["Context", "Integration", "WireModel"],
    "patchwire.runtime": ["MessageError"],
    "patchwire.store": ["Message"],
    "patchwire.webhooks": [
        "PATCHWIRE_SIGNATURE",
        "Key",
        "Refused",
        "TagValue",
        "WebhookVerifier",
        "parse_body",
    ],
    "pydantic": ["Field"],
    "starlette.requests": ["Request"],
    "starlette.responses": ["JSONResponse", "Response"],
    "starlette.routing": ["BaseRoute", "Route"],
}
"""The outside imports of ``_integration.py`` beside the interface's models: one sorted
block with them, in the order ruff's isort keeps (the models' module varies)."""


def _name_order(name: str) -> tuple[int, str]:
    kind = 0 if name.isupper() and len(name) > 1 else 1 if name[0].isupper() else 2
    return kind, name.lower()


def _sorted_imports(imports: dict[str, set[str]]) -> list[tuple[str, list[str]]]:
    return [
        (module, sorted(imports[module], key=_name_order))
        for module in sorted(imports, key=str.lower)
    ]


def _names(name: str, kind: str) -> dict[str, str]:
    if len(name) > MAX_NAME_LENGTH:
        raise ScaffoldError(
            f"{name!r} is too long for a {kind} name: at most {MAX_NAME_LENGTH} characters "
            f"(it has {len(name)}); it becomes module and class names in the generated code"
        )
    if not NAME_PATTERN.fullmatch(name):
        raise ScaffoldError(
            f"{name!r} is not a valid {kind} name: use lowercase letters and digits, words "
            "separated by single hyphens, starting with a letter (e.g. 'acmedesk', 'order-bot')"
        )
    words = name.split("-")
    return {
        "name": name,
        "distribution": f"patchwire-{name}",
        "module": f"patchwire_{'_'.join(words)}",
        "title": " ".join(word.capitalize() for word in words),
        "class_prefix": "".join(word.capitalize() for word in words),
        "env_prefix": "_".join(words).upper(),
    }


def _environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(_TEMPLATES),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        autoescape=False,
    )


def _render(kind: str, target: Path, context: dict[str, Any]) -> list[Path]:
    if target.exists():
        raise ScaffoldError(f"{target} exists already; choose another --dir or name")
    environment = _environment()
    source = _TEMPLATES / kind
    written = []
    for template in sorted(source.rglob(f"*{_SUFFIX}")):
        relative = template.relative_to(source).as_posix()
        path = target / environment.from_string(relative[: -len(_SUFFIX)]).render(context)
        text = environment.get_template(f"{kind}/{relative}").render(context)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written


def _patchwire_range() -> str:
    from importlib.metadata import version

    from packaging.version import Version

    current = Version(version("patchwire"))
    upper = f"{current.major}.{current.minor + 1}" if current.major == 0 else f"{current.major + 1}"
    return f">={current.major}.{current.minor},<{upper}"


def render_integration(name: str, interface: InterfaceDefinition, directory: Path) -> list[Path]:
    """Write ``directory/patchwire-<name>/``, an integration implementing ``interface``."""
    context: dict[str, Any] = {**_names(name, "integration"), **_pieces(interface)}
    context |= {
        "interface": interface,
        "interface_module": _interface_module(interface),
        "entities": list(interface.entities),
        "implementation_key": f"{interface.name}<{','.join(interface.entities)}>"
        if interface.entities
        else interface.name,
        "patchwire_range": _patchwire_range(),
    }
    definition_imports: dict[str, set[str]] = {
        "patchwire": {"IntegrationDefinition", "WireModel", "implements"},
        context["interface_module"]: {"definition as interface"},
        "pydantic": {"Field"},
    }
    if interface.entities:
        definition_imports["patchwire"].add("EntityDefinition")
    context["definition_imports"] = _sorted_imports(definition_imports)
    return _render("integration", directory / context["distribution"], context)


def _interface_module(interface: InterfaceDefinition) -> str:
    """Where the interface's ``definition`` is imported from (the module of its models)."""
    modules = {
        model.__module__
        for action in interface.actions.values()
        for model in (action.input, action.output)
    } | {event.payload.__module__ for event in interface.events.values()}
    if len(modules) != 1:
        raise ScaffoldError(
            f"interface {interface.name!r} defines its models in {len(modules)} modules; the "
            "scaffold needs them beside the definition"
        )
    return modules.pop()


def render_plugin(name: str, directory: Path) -> list[Path]:
    """Write ``directory/patchwire-<name>/``, a plugin whose tests pass as they are."""
    context: dict[str, Any] = {**_names(name, "plugin"), "patchwire_range": _patchwire_range()}
    return _render("plugin", directory / context["distribution"], context)
