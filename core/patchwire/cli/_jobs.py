"""``patchwire jobs``: the work an operator looks at, failed or waiting, and what to do with it."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer

if TYPE_CHECKING:
    from patchwire.store import Job, Store

__all__ = ["jobs_app"]

_T = TypeVar("_T")

jobs_app = typer.Typer(
    help="Failed and waiting work of an agent: list it, run a failed job again, or drop it.",
    no_args_is_help=False,
    invoke_without_command=True,
)

AgentPath = Annotated[Path, typer.Option("--agent", help="The agent folder or its config file.")]
DatabaseUrl = Annotated[
    str | None, typer.Option(help="Database URL (default: as `patchwire serve` finds it).")
]
JobId = Annotated[int, typer.Argument(help="The job's id, as `patchwire jobs` lists it.")]


def _with_store(path: Path, database_url: str | None, use: Callable[[Store], Awaitable[_T]]) -> _T:
    from patchwire._config import config_path, load_config
    from patchwire._errors import ConfigError
    from patchwire._resolver import resolve
    from patchwire.server import database_url_for
    from patchwire.store import Store

    try:
        agent = resolve(load_config(config_path(path)))
    except ConfigError as error:
        for problem in error.problems:
            typer.echo(f"{config_path(path)}: {problem}", err=True)
        raise typer.Exit(1) from None

    async def run() -> _T:
        store = await Store.open(database_url_for(agent, database_url))
        try:
            return await use(store)
        finally:
            await store.close()

    return asyncio.run(run())


def _describe(job: Job) -> dict[str, Any]:
    return {
        "id": job.id,
        "conversationId": job.conversation_id or None,
        "kind": job.kind,
        "status": job.status,
        "attempts": job.attempts,
        "nextAttemptAt": job.available_at.isoformat()
        if job.available_at and job.status == "pending"
        else None,
        "failingSince": job.failing_since.isoformat() if job.failing_since else None,
        "reason": (job.last_error or "").strip().splitlines()[-1:] or None,
        "error": job.last_error,
        "payload": dict(job.payload),
    }


@jobs_app.callback()
def jobs(
    ctx: typer.Context,
    path: AgentPath = Path("."),
    database_url: DatabaseUrl = None,
    json_output: Annotated[bool, typer.Option("--json", help="Print JSON for tools.")] = False,
    waiting: Annotated[
        bool, typer.Option("--waiting/--failed-only", help="Also list work waiting for a retry.")
    ] = True,
) -> None:
    """List failed jobs (and, by default, jobs waiting for a retry), oldest first."""
    ctx.obj = (path, database_url)
    if ctx.invoked_subcommand is not None:
        return
    statuses = ("failed", "pending") if waiting else ("failed",)

    async def listing(store: Store) -> list[Job]:
        found = await store.jobs(statuses=statuses)
        return [job for job in found if job.status == "failed" or job.attempts > 0]

    found = [_describe(job) for job in _with_store(path, database_url, listing)]
    if json_output:
        typer.echo(json.dumps({"jobs": found}, indent=2))
        return
    if not found:
        typer.echo("no failed or waiting jobs")
        return
    from rich.console import Console
    from rich.table import Table

    table = Table("id", "kind", "conversation", "status", "tries", "next try", "reason")
    for job in found:
        reason = job["reason"][0] if job["reason"] else ""
        table.add_row(
            str(job["id"]),
            job["kind"],
            job["conversationId"] or "(agent)",
            job["status"],
            str(job["attempts"]),
            job["nextAttemptAt"] or "-",
            reason[:120],
        )
    Console().print(table)
    typer.echo("`patchwire jobs retry ID` runs a failed job again; `discard ID` drops one.")


@jobs_app.command("retry")
def retry(ctx: typer.Context, job_id: JobId) -> None:
    """Run a failed job again now (what it did before is replayed, not repeated)."""
    path, database_url = ctx.obj
    if not _with_store(path, database_url, lambda store: store.retry_job(job_id)):
        typer.echo(f"error: no failed job {job_id} (see `patchwire jobs`)", err=True)
        raise typer.Exit(1)
    typer.echo(f"job {job_id} will run again")


@jobs_app.command("discard")
def discard(ctx: typer.Context, job_id: JobId) -> None:
    """Drop a failed or waiting job for good (its message stays stored)."""
    path, database_url = ctx.obj
    if not _with_store(path, database_url, lambda store: store.discard_job(job_id)):
        typer.echo(f"error: no failed or waiting job {job_id} (see `patchwire jobs`)", err=True)
        raise typer.Exit(1)
    typer.echo(f"job {job_id} discarded")
