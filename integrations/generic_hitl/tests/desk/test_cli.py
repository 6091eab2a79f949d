"""``patchwire desk add-agent``: accounts made from the command line, as an operator does.

The tests are synchronous: the command runs its own event loop, as it does in a terminal.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from typer.testing import CliRunner

from patchwire.cli import app
from patchwire_generic_hitl.desk import DeskStore

PASSWORD = "a long enough password"


def add_agent(database: Path, *args: str, input: str) -> tuple[int, str]:
    result = CliRunner().invoke(
        app, ["desk", "add-agent", *args, "--database", str(database)], input=input
    )
    return result.exit_code, result.output


def logs_in(database: Path, name: str, password: str) -> tuple[str, bool] | None:
    async def check() -> tuple[str, bool] | None:
        store = await DeskStore.open(database)
        try:
            agent = await store.accounts.authenticate(name, password)
        finally:
            await store.close()
        return (agent.name, agent.admin) if agent else None

    return asyncio.run(check())


def test_an_agent_added_with_a_prompted_password_can_log_in(tmp_path: Path) -> None:
    database = tmp_path / "desk.db"
    code, output = add_agent(database, "Alice", input=f"{PASSWORD}\n{PASSWORD}\n")
    assert code == 0, output
    assert f"added agent 'Alice' in {database}" in output
    assert PASSWORD not in output, "the password is never echoed"
    assert logs_in(database, "alice", PASSWORD) == ("Alice", False)
    assert logs_in(database, "Alice", "another password") is None


def test_mistakes_are_refused_with_the_reason(tmp_path: Path) -> None:
    database = tmp_path / "desk.db"
    code, output = add_agent(database, "Bob", "--password-stdin", input="short\n")
    assert (code, output.strip()) == (1, "error: the password has 5 characters: use at least 10")
    code, output = add_agent(database, " ", "--password-stdin", input=f"{PASSWORD}\n")
    assert (code, output.strip()) == (1, "error: an agent name cannot be empty")
    code, output = add_agent(database, "x" * 61, "--password-stdin", input=f"{PASSWORD}\n")
    assert code == 1 and "at most 60 characters, not 61" in output
    assert add_agent(database, "Bob", "--password-stdin", input=f"{PASSWORD}\n")[0] == 0
    code, output = add_agent(database, "BOB", "--password-stdin", input=f"{PASSWORD}\n")
    assert (code, output.strip()) == (
        1,
        "error: an agent named 'Bob' exists already: pass --replace to set a new password",
    )


def test_replace_sets_a_new_password_and_role(tmp_path: Path) -> None:
    database = tmp_path / "desk.db"
    assert add_agent(database, "Carol", "--password-stdin", input=f"{PASSWORD}\n")[0] == 0
    code, output = add_agent(
        database,
        "Carol",
        "--replace",
        "--admin",
        "--password-stdin",
        input="the second password\n",
    )
    assert code == 0 and "updated admin 'Carol'" in output
    assert logs_in(database, "Carol", PASSWORD) is None
    assert logs_in(database, "Carol", "the second password") == ("Carol", True)
