"""``patchwire list``: what is installed, what it offers, and what is broken."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Annotated, Any

import typer

if TYPE_CHECKING:
    from patchwire._discovery import Catalog

__all__ = ["inventory", "list_packages"]


def list_packages(
    json_output: Annotated[
        bool, typer.Option("--json", help="Print one JSON object for tools instead of tables.")
    ] = False,
) -> None:
    """Load every installed interface, integration and plugin and show them by kind."""
    from patchwire._discovery import installed

    report = inventory(installed())
    if json_output:
        typer.echo(json.dumps(report, indent=2))
        return
    _print_tables(report)


def inventory(catalog: Catalog) -> dict[str, list[dict[str, Any]]]:
    """Everything ``patchwire list --json`` prints; loads every package (the eager mode)."""
    from patchwire._definitions import IntegrationDefinition, InterfaceDefinition, PluginDefinition
    from patchwire._discovery import _definition_of
    from patchwire._packages import Integration, Plugin

    catalog.load_all()
    failed = {(failure.kind, failure.name) for failure in catalog.failures}
    report: dict[str, list[dict[str, Any]]] = {
        "interfaces": [],
        "integrations": [],
        "plugins": [],
        "broken": [],
        "duplicates": [],
    }
    for kind in ("interface", "integration", "plugin"):
        for name, records in sorted(catalog.records[kind].items()):
            if len(records) > 1 or (kind, name) in failed:
                continue
            record = records[0]
            package = catalog.load(kind, name)
            entry: dict[str, Any] = {
                "name": name,
                "distribution": record.distribution,
                "version": record.version,
                "entry_point": record.value,
            }
            definition = _definition_of(package)
            entry["definition_version"] = definition.version
            if isinstance(definition, IntegrationDefinition):
                entry["implementation_keys"] = definition.implementation_keys
                entry["implements"] = [
                    {
                        "key": item.key,
                        "interface": item.interface.name,
                        "interface_version": item.interface.version,
                    }
                    for item in definition.implements
                ]
            elif isinstance(definition, PluginDefinition):
                entry["requires"] = {
                    alias: str(requirement) for alias, requirement in definition.requires.items()
                }
            if not isinstance(definition, InterfaceDefinition):
                entry["runnable"] = isinstance(package, Integration | Plugin)
            report[f"{kind}s"].append(entry)
    report["broken"] = [
        {
            "kind": failure.kind,
            "name": failure.name,
            "distribution": failure.distribution,
            "version": failure.version,
            "reason": failure.reason,
        }
        for failure in sorted(catalog.failures, key=lambda item: (item.kind, item.name))
    ]
    report["duplicates"] = [
        {
            "kind": duplicate.kind,
            "name": duplicate.name,
            "providers": [record.pin for record in duplicate.records],
        }
        for duplicate in catalog.duplicates()
    ]
    return report


def _print_tables(report: dict[str, list[dict[str, Any]]]) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()

    def table(title: str, columns: list[str], rows: list[list[str]]) -> None:
        if not rows:
            console.print(f"{title}: none installed", markup=False, highlight=False)
            return
        output = Table(title=title, title_justify="left")
        for column in columns:
            output.add_column(column, overflow="fold")
        for row in rows:
            output.add_row(*row)
        console.print(output)

    def status(entry: dict[str, Any]) -> str:
        return "runnable" if entry["runnable"] else "definition only"

    table(
        "Interfaces",
        ["name", "distribution", "version", "interface version"],
        [
            [e["name"], e["distribution"], e["version"], e["definition_version"]]
            for e in report["interfaces"]
        ],
    )
    table(
        "Integrations",
        ["name", "distribution", "version", "implementation keys", "status"],
        [
            [
                e["name"],
                e["distribution"],
                e["version"],
                "\n".join(
                    f"{item['key']} ({item['interface']} {item['interface_version']})"
                    for item in e["implements"]
                )
                or "-",
                status(e),
            ]
            for e in report["integrations"]
        ],
    )
    table(
        "Plugins",
        ["name", "distribution", "version", "requirements", "status"],
        [
            [
                e["name"],
                e["distribution"],
                e["version"],
                "\n".join(f"{alias}: {text}" for alias, text in e["requires"].items()) or "-",
                status(e),
            ]
            for e in report["plugins"]
        ],
    )
    if report["broken"]:
        table(
            "Broken",
            ["kind", "name", "distribution", "reason"],
            [
                [e["kind"], e["name"], f"{e['distribution']}=={e['version']}", e["reason"]]
                for e in report["broken"]
            ],
        )
    if report["duplicates"]:
        table(
            "Duplicates (uninstall all but one)",
            ["kind", "name", "provided by"],
            [[e["kind"], e["name"], ", ".join(e["providers"])] for e in report["duplicates"]],
        )
