"""Typed views of one agent's actions, generated as a Python module for type checkers.

Which plugins and integrations an agent has is known only from its agent.toml, so the types
of ``plugins.<alias>.actions.<name>`` are generated from the resolved agent: ``Protocol``
classes whose methods take the action's fields as keyword arguments with their real types
(entity-typed fields take the bound integration's entity model), and return the action's
output model. At run time the module hands back patchwire's own proxies unchanged.
"""

from __future__ import annotations

import keyword
import sys
import types
import typing
from collections.abc import Iterable
from typing import Any

from pydantic import BaseModel

from patchwire._binding import plugin_actions
from patchwire._definitions import ActionDefinition
from patchwire._resolved import ResolvedAgent

__all__ = ["GENERATED_MODULE", "render_types"]

GENERATED_MODULE = "patchwire_types.py"

_BUILTINS = {
    str: "str",
    int: "int",
    float: "float",
    bool: "bool",
    bytes: "bytes",
    type(None): "None",
}


class _Renderer:
    def __init__(self) -> None:
        self.modules: dict[str, str] = {}

    def model(self, model: type[BaseModel]) -> str:
        """A reference to ``model`` through an import; a generated model names its base."""
        while not _importable(model):
            bases = [
                b for b in model.__mro__[1:] if issubclass(b, BaseModel) and b is not BaseModel
            ]
            if not bases:
                return "dict[str, Any]"
            model = bases[0]
        alias = self.modules.setdefault(model.__module__, f"_m{len(self.modules)}")
        return f"{alias}.{model.__qualname__}"

    def annotation(self, annotation: Any) -> str:
        if annotation in _BUILTINS:
            return _BUILTINS[annotation]
        if annotation is Any:
            return "Any"
        origin = typing.get_origin(annotation)
        arguments = typing.get_args(annotation)
        if origin is typing.Annotated:
            return self.annotation(arguments[0])
        if origin in (typing.Union, types.UnionType):
            return " | ".join(dict.fromkeys(self.annotation(item) for item in arguments))
        if origin is typing.Literal:
            return f"Literal[{', '.join(repr(item) for item in arguments)}]"
        if origin in (list, tuple, set, frozenset, dict):
            inner = ", ".join(self.annotation(item) for item in arguments) or "Any"
            return f"{origin.__name__}[{inner}]"
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            return f"{self.model(annotation)} | dict[str, Any]"
        return "Any"

    def method(self, name: str, action: ActionDefinition) -> str:
        parameters = []
        for field_name, field in action.input.model_fields.items():
            default = "" if field.is_required() else " = ..."
            parameters.append(f"{field_name}: {self.annotation(field.annotation)}{default}")
        signature = ", ".join(["self", "*", *parameters]) if parameters else "self"
        output = self.model(action.output)
        return f"    async def {name}({signature}) -> {output}: ..."


def _importable(model: type[BaseModel]) -> bool:
    found: Any = sys.modules.get(model.__module__)
    for part in model.__qualname__.split("."):
        found = getattr(found, part, None)
    return found is model


def _identifier(alias: str) -> bool:
    return alias.isidentifier() and not keyword.iskeyword(alias)


def _namespace(
    renderer: _Renderer, kind: str, entries: Iterable[tuple[str, dict[str, ActionDefinition]]]
) -> list[str]:
    lines: list[str] = []
    members: list[str] = []
    for alias, actions in entries:
        if not _identifier(alias):
            continue
        stem = "".join(part.capitalize() for part in alias.split("_")) + kind.capitalize()
        lines += ["", "", f"class {stem}Actions(Protocol):"]
        lines += [renderer.method(name, action) for name, action in sorted(actions.items())]
        if not actions:
            lines.append("    pass")
        lines += ["", "", f"class {stem}(Protocol):", "    @property"]
        lines.append(f"    def actions(self) -> {stem}Actions: ...")
        members += ["    @property", f"    def {alias}(self) -> {stem}: ..."]
    lines += ["", "", f"class {kind.capitalize()}s(Protocol):"]
    lines += members or ["    pass"]
    return lines


def render_types(agent: ResolvedAgent) -> str:
    """The source of the typed module for ``agent`` (deterministic for the same agent)."""
    renderer = _Renderer()
    body = _namespace(
        renderer,
        "plugin",
        ((alias, plugin_actions(agent, plugin)) for alias, plugin in sorted(agent.plugins.items())),
    )
    body += _namespace(
        renderer,
        "integration",
        (
            (alias, integration.definition.all_actions)
            for alias, integration in sorted(agent.integrations.items())
        ),
    )
    imports = [f"import {module} as {alias}" for module, alias in renderer.modules.items()]
    header = [
        f'"""Typed views of agent {agent.name!r}: generated by `patchwire typegen`; do not edit.',
        "",
        "Use ``from patchwire_types import plugins, integrations`` in agent code for completion",
        "and type checking; at run time these are patchwire's own proxies.",
        '"""',
        "",
        "from __future__ import annotations",
        "",
        "from typing import Any, Literal, Protocol, cast",
        "",
        "import patchwire",
        *imports,
    ]
    footer = [
        "",
        "",
        "plugins = cast(Plugins, patchwire.plugins)",
        "integrations = cast(Integrations, patchwire.integrations)",
        "",
        '__all__ = ["integrations", "plugins"]',
        "",
    ]
    return "\n".join(header + body + footer)
