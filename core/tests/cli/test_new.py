"""``patchwire new``: what it writes, and its errors (tests/test_scaffold.py installs it)."""

from __future__ import annotations

import importlib
import inspect
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from typer.testing import CliRunner

from patchwire import InterfaceDefinition
from patchwire.cli import app
from patchwire.scaffold import render_integration

ORDERS = '''
from pydantic import Field

from patchwire import ActionDefinition, ChannelDefinition, EventDefinition, InterfaceDefinition
from patchwire import WireModel
from patchwire.messages import TextPayload


class PlaceOrderInput(WireModel):
    sku: str = Field(min_length=3, description="The product's stock keeping unit.")


class PlaceOrderOutput(WireModel):
    order_id: str


class OrderShipped(WireModel):
    order_id: str


definition = InterfaceDefinition(
    name="orders",
    version="1.2.0",
    actions={
        "place_order": ActionDefinition(
            input=PlaceOrderInput,
            output=PlaceOrderOutput,
            description="Place an order; the rule: never twice for one idempotency key.",
        )
    },
    events={"order_shipped": EventDefinition(payload=OrderShipped, description="It left.")},
    channels={"updates": ChannelDefinition(messages={"text": TextPayload})},
)
'''


@pytest.fixture
def orders(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> InterfaceDefinition:
    """An interface other than hitl, defined in a module of its own."""
    (tmp_path / "orders_interface.py").write_text(textwrap.dedent(ORDERS))
    monkeypatch.syspath_prepend(str(tmp_path))
    definition = importlib.import_module("orders_interface").definition
    assert isinstance(definition, InterfaceDefinition)
    return definition


async def test_the_stubs_follow_the_interface_and_each_names_itself(
    tmp_path: Path, orders: InterfaceDefinition, monkeypatch: pytest.MonkeyPatch
) -> None:
    written = render_integration("shop-desk", orders, tmp_path / "out")
    root = tmp_path / "out" / "patchwire-shop-desk"
    assert {path.relative_to(root).as_posix() for path in written} >= {
        "pyproject.toml",
        "patchwire_shop_desk/__about__.py",
        "patchwire_shop_desk/_integration.py",
        "tests/conftest.py",
        "tests/test_conformance.py",
    }
    source = (root / "patchwire_shop_desk" / "_integration.py").read_text()
    assert "never twice for one idempotency key" in source
    assert "``sku`` (str, required): min length 3; The product's stock keeping unit." in source
    assert "HitlConformance" not in (root / "tests" / "test_conformance.py").read_text()
    assert '"patchwire-hitl' not in (root / "pyproject.toml").read_text()

    ruff = Path(sys.executable).parent / "ruff"
    linted = subprocess.run([str(ruff), "check", "--no-cache", "."], cwd=root, capture_output=True)
    assert linted.returncode == 0, linted.stdout.decode()

    monkeypatch.syspath_prepend(str(root))
    package = importlib.import_module("patchwire_shop_desk")
    integration = package.integration
    assert integration.problems() == []
    assert [i.key for i in integration.definition.implements] == ["orders"]
    assert integration.definition.version == package.__version__ == "0.1.0"
    stubs = {
        "place_order": integration.action_handlers["place_order"],
        "updates.text": integration.message_senders[("updates", "text")],
    }
    module = sys.modules["patchwire_shop_desk._integration"]
    stubs |= {
        "order_shipped webhook": module.on_order_shipped,
        "updates incoming messages": module.on_updates_message,
    }
    for piece, stub in stubs.items():
        assert inspect.iscoroutinefunction(stub)
        with pytest.raises(NotImplementedError, match=f"^not implemented: {piece}$"):
            await stub(None, None)


def test_the_hitl_integration_gets_the_conformance_kit_and_its_plugin(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app, ["new", "integration", "acmedesk", "--implements", "hitl", "--dir", str(tmp_path)]
    )
    assert result.exit_code == 0, result.output
    root = tmp_path / "patchwire-acmedesk"
    assert "class TestAcmedesk(HitlConformance)" in (root / "tests/test_conformance.py").read_text()
    pyproject = (root / "pyproject.toml").read_text()
    assert '"patchwire-hitl>=0.1,<0.2"' in pyproject
    assert 'acmedesk = "patchwire_acmedesk:integration"' in pyproject
    source = (root / "patchwire_acmedesk/_integration.py").read_text()
    for piece in ("create_user", "start_hitl", "stop_hitl", "hitl.text", "hitl.bloc"):
        assert f'raise not_implemented("{piece}")' in source
    assert "get_or_create_user" in source  # the rules travel from the interface's definition


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (
            ["plugin", "Greeter_Bot"],
            "'Greeter_Bot' is not a valid plugin name: use lowercase letters and digits",
        ),
        (
            ["plugin", "much-too-long-a-name"],
            "'much-too-long-a-name' is too long for a plugin name: "
            "at most 16 characters (it has 20)",
        ),
        (
            ["integration", "desk", "--implements", "hitll"],
            "no installed interface is named 'hitll' (installed: hitl)",
        ),
    ],
)
def test_bad_input_is_refused_saying_why(
    tmp_path: Path, arguments: list[str], message: str
) -> None:
    result = CliRunner().invoke(app, ["new", *arguments, "--dir", str(tmp_path)])
    assert result.exit_code == 2
    assert message in result.output
    assert list(tmp_path.iterdir()) == []


def test_an_existing_folder_is_never_overwritten(tmp_path: Path) -> None:
    (tmp_path / "patchwire-greeter").mkdir()
    result = CliRunner().invoke(app, ["new", "plugin", "greeter", "--dir", str(tmp_path)])
    assert result.exit_code == 2
    assert "patchwire-greeter exists already; choose another --dir or name" in result.output
    assert list((tmp_path / "patchwire-greeter").iterdir()) == []
