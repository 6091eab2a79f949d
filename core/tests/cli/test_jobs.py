"""``patchwire jobs``: an operator lists failed and waiting work, retries or discards a job."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from typer.testing import CliRunner

from patchwire.cli import app
from patchwire.store import Store

runner = CliRunner()


def agent(tmp_path: Path) -> Path:
    (tmp_path / "agent.toml").write_text(
        'name = "ops-agent"\n[integrations]\nchat = "chat@latest"\n', encoding="utf-8"
    )
    return tmp_path


async def seed(url: str) -> tuple[int, int, int]:
    store = await Store.open(url)
    try:
        conversation = await store.create_conversation(integration="chat", channel="channel")
        failed = await store.enqueue(conversation.id, "message", {"message_id": "m1"})
        waiting = await store.enqueue(conversation.id, "message", {"message_id": "m2"})
        untouched = await store.enqueue(conversation.id, "message", {"message_id": "m3"})
        await store.fail_job(failed.id, "Traceback ...\nValueError: handler bug", retry_at=None)
        later = datetime.now(UTC) + timedelta(hours=1)
        await store.fail_job(waiting.id, "OperationalError: database is locked", retry_at=later)
        return failed.id, waiting.id, untouched.id
    finally:
        await store.close()


async def statuses(url: str) -> dict[int, str]:
    store = await Store.open(url)
    try:
        return {job.id: job.status for job in await store.jobs()}
    finally:
        await store.close()


def test_jobs_lists_retries_and_discards(tmp_path: Path) -> None:
    folder = agent(tmp_path)
    url = f"sqlite:///{tmp_path / 'ops.db'}"
    failed, waiting, untouched = asyncio.run(seed(url))
    options = ["--agent", str(folder), "--database-url", url]

    listed = runner.invoke(app, ["jobs", *options, "--json"])
    assert listed.exit_code == 0, listed.output
    jobs = {job["id"]: job for job in json.loads(listed.output)["jobs"]}
    assert set(jobs) == {failed, waiting}, "a job that never failed is not the operator's"
    assert jobs[failed]["status"] == "failed" and jobs[failed]["reason"] == [
        "ValueError: handler bug"
    ]
    assert jobs[waiting]["nextAttemptAt"] is not None

    table = runner.invoke(app, ["jobs", *options, "--failed-only"])
    assert "handler bug" in table.output and "database is locked" not in table.output

    assert runner.invoke(app, ["jobs", *options, "retry", str(failed)]).exit_code == 0
    assert runner.invoke(app, ["jobs", *options, "discard", str(waiting)]).exit_code == 0
    assert asyncio.run(statuses(url)) == {failed: "pending", untouched: "pending"}

    missing = runner.invoke(app, ["jobs", *options, "retry", "999"])
    assert missing.exit_code == 1 and "no failed job 999" in missing.output
