from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

import patchwire._discovery
from patchwire import (
    Catalog,
    EntryPointRecord,
    Integration,
    IntegrationDefinition,
    PluginDefinition,
)
from patchwire.cli import app
from patchwire.cli._list import inventory
from patchwire.interfaces.hitl import definition as hitl

runner = CliRunner()


def test_lists_the_installed_packages_as_json() -> None:
    result = runner.invoke(app, ["list", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert list(report) == ["interfaces", "integrations", "plugins", "broken", "duplicates"]
    interfaces = {entry["name"]: entry for entry in report["interfaces"]}
    assert interfaces["hitl"]["distribution"] == "patchwire"
    assert interfaces["hitl"]["definition_version"] == "2.1.0"
    integrations = {entry["name"]: entry for entry in report["integrations"]}
    generic = integrations["generic-hitl"]
    assert generic["distribution"] == "patchwire-generic-hitl"
    assert generic["implementation_keys"] == ["hitl<hitlSession>"]
    assert generic["implements"] == [
        {"key": "hitl<hitlSession>", "interface": "hitl", "interface_version": "2.1.0"}
    ]
    assert generic["runnable"] is True
    plugins = {entry["name"]: entry for entry in report["plugins"]}
    assert plugins["hitl"]["requires"] == {"hitl": "hitl<3,>=2"}


@pytest.fixture
def troubled_catalog(monkeypatch: pytest.MonkeyPatch) -> Catalog:
    catalog = Catalog.from_objects(
        interfaces=[hitl],
        integrations=[Integration(IntegrationDefinition(name="chat", version="1.0.0"))],
        plugins=[PluginDefinition(name="notes", version="0.2.0")],
    )
    catalog.records["integration"]["ghost"] = [
        EntryPointRecord(
            "integration", "ghost", "patchwire_no_such_module:x", "patchwire-ghost", "0.9"
        )
    ]
    catalog.records["plugin"]["twice"] = [
        EntryPointRecord("plugin", "twice", "one:plugin", "patchwire-one", "1.0"),
        EntryPointRecord("plugin", "twice", "two:plugin", "patchwire-two", "2.0"),
    ]
    monkeypatch.setattr(patchwire._discovery, "installed", lambda: catalog)
    return catalog


def test_inventory_reports_broken_packages_and_duplicates(troubled_catalog: Catalog) -> None:
    report = inventory(troubled_catalog)
    assert [entry["name"] for entry in report["integrations"]] == ["chat"]
    assert report["integrations"][0]["runnable"] is True
    assert report["plugins"][0]["requires"] == {}
    assert report["plugins"][0]["runnable"] is False
    assert report["broken"] == [
        {
            "kind": "integration",
            "name": "ghost",
            "distribution": "patchwire-ghost",
            "version": "0.9",
            "reason": "ModuleNotFoundError: No module named 'patchwire_no_such_module'",
        }
    ]
    assert report["duplicates"] == [
        {
            "kind": "plugin",
            "name": "twice",
            "providers": ["patchwire-one==1.0", "patchwire-two==2.0"],
        }
    ]


def test_tables_show_every_kind_and_the_trouble(troubled_catalog: Catalog) -> None:
    result = runner.invoke(app, ["list"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    output = result.output
    for text in (
        "Interfaces",
        "Integrations",
        "Plugins",
        "runnable",
        "definition only",
        "Broken",
        "patchwire-ghost==0.9",
        "No module named 'patchwire_no_such_module'",
        "Duplicates (uninstall all but one)",
        "patchwire-one==1.0, patchwire-two==2.0",
    ):
        assert text in output, text
