"""register / unregister: the webhook and the three triggers that feed it, made idempotently.

Everything is found by name (webhook) or title (triggers) before anything is created, and
brought up to date when it differs, so running ``patchwire serve`` twice creates nothing
twice. Trigger bodies carry ids only; the adapter reads comments back through the API, which
avoids Liquid's missing JSON escaping and the Markdown rendering of placeholders.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from typing import Any

from patchwire import Context
from patchwire_zendesk._client import ZendeskClient
from patchwire_zendesk._definition import ZendeskConfiguration
from patchwire_zendesk._desk import Desk, desk
from patchwire_zendesk._errors import ZendeskError

__all__ = [
    "EVENTS",
    "Progress",
    "provision",
    "register",
    "trigger_specs",
    "unprovision",
    "unregister",
    "webhook_name",
]

Progress = Callable[[str], None]

EVENTS = {
    "agent_commented": "agent commented",
    "assignee_changed": "assignee changed",
    "ticket_solved": "ticket solved",
}
"""The webhook body's ``event`` value, and the words in the trigger's title."""

_COMMENT_ID = "{% for comment in ticket.public_comments limit:1 %}{{comment.id}}{% endfor %}"


def webhook_name(alias: str) -> str:
    return f"patchwire-{alias}"


def _body(event: str) -> str:
    return json.dumps(
        {
            "event": event,
            "ticket_id": "{{ticket.id}}",
            "comment_id": _COMMENT_ID,
            "actor_id": "{{current_user.id}}",
            "assignee_id": "{{ticket.assignee.id}}",
        }
    )


def trigger_specs(alias: str, tag: str, webhook_id: str) -> dict[str, dict[str, Any]]:
    """Title to ``{title, conditions, actions, active}`` of the triggers register makes."""
    ours = {"field": "current_tags", "operator": "includes", "value": tag}
    conditions: dict[str, list[dict[str, Any]]] = {
        "agent_commented": [
            ours,
            {"field": "comment_is_public", "operator": "is", "value": "true"},
            # via id 5 is the API: our own comments never come back as agent messages
            {"field": "current_via_id", "operator": "is_not", "value": "5"},
            {"field": "role", "operator": "is_not", "value": "end_user"},
        ],
        "assignee_changed": [ours, {"field": "assignee_id", "operator": "changed"}],
        "ticket_solved": [ours, {"field": "status", "operator": "value", "value": "solved"}],
    }
    specs = {}
    for event, words in EVENTS.items():
        title = f"{webhook_name(alias)}: {words}"
        specs[title] = {
            "title": title,
            "active": True,
            "conditions": {"all": conditions[event], "any": []},
            "actions": [{"field": "notification_webhook", "value": [webhook_id, _body(event)]}],
        }
    return specs


def _stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


async def _webhooks_named(client: ZendeskClient, name: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    params = {"filter[name_contains]": name, "page[size]": "100"}
    while True:
        answer = await client.request("GET", "/api/v2/webhooks", params=params)
        found += [w for w in answer.get("webhooks") or [] if w.get("name") == name]
        meta = answer.get("meta") or {}
        if not meta.get("has_more") or not meta.get("after_cursor"):
            return found
        params = {**params, "page[after]": str(meta["after_cursor"])}


async def _triggers_titled(client: ZendeskClient, titles: set[str]) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    params = {"page[size]": "100"}
    while True:
        answer = await client.request("GET", "/api/v2/triggers", params=params)
        found += [t for t in answer.get("triggers") or [] if t.get("title") in titles]
        meta = answer.get("meta") or {}
        if not meta.get("has_more") or not meta.get("after_cursor"):
            return found
        params = {**params, "page[after]": str(meta["after_cursor"])}


def _same(found: dict[str, Any], wanted: dict[str, Any]) -> bool:
    def conditions(value: Any) -> list[tuple[str, str, str]]:
        return sorted(
            (str(c.get("field")), str(c.get("operator")), str(c.get("value") or ""))
            for c in (value or {}).get("all") or []
        )

    def actions(value: Any) -> list[str]:
        return [json.dumps(a, sort_keys=True) for a in value or []]

    return (
        bool(found.get("active"))
        and conditions(found.get("conditions")) == conditions(wanted["conditions"])
        and not (found.get("conditions") or {}).get("any")
        and actions(found.get("actions")) == actions(wanted["actions"])
    )


async def _webhook(client: ZendeskClient, name: str, endpoint: str, progress: Progress) -> str:
    wanted = {
        "name": name,
        "status": "active",
        "endpoint": endpoint,
        "http_method": "POST",
        "request_format": "json",
        "subscriptions": ["conditional_ticket_events"],
    }
    found = await _webhooks_named(client, name)
    if not found:
        answer = await client.request("POST", "/api/v2/webhooks", json={"webhook": wanted})
        webhook_id = str((answer.get("webhook") or {}).get("id") or "")
        if not webhook_id:
            raise ZendeskError(f"creating webhook {name!r} returned no id: {answer!r}")
        progress(f"  created webhook {name!r} ({webhook_id}) -> {endpoint}")
        return webhook_id
    first = found[0]
    webhook_id = str(first["id"])
    if first.get("endpoint") != endpoint or first.get("status") != "active":
        patch = {"endpoint": endpoint, "status": "active"}
        await client.request("PATCH", f"/api/v2/webhooks/{webhook_id}", json={"webhook": patch})
        progress(f"  updated webhook {name!r} ({webhook_id}) -> {endpoint}")
    else:
        progress(f"  found webhook {name!r} ({webhook_id}), up to date")
    return webhook_id


async def _triggers(
    client: ZendeskClient, alias: str, tag: str, webhook_id: str, progress: Progress
) -> dict[str, str]:
    specs = trigger_specs(alias, tag, webhook_id)
    existing: dict[str, list[dict[str, Any]]] = {}
    for trigger in await _triggers_titled(client, set(specs)):
        existing.setdefault(str(trigger["title"]), []).append(trigger)
    ids: dict[str, str] = {}
    for title, wanted in specs.items():
        found = existing.get(title, [])
        for extra in found[1:]:
            await client.request("DELETE", f"/api/v2/triggers/{extra['id']}")
            progress(f"  deleted duplicate trigger {title!r} ({extra['id']})")
        if not found:
            answer = await client.request("POST", "/api/v2/triggers", json={"trigger": wanted})
            ids[title] = str(answer["trigger"]["id"])
            progress(f"  created trigger {title!r} ({ids[title]})")
            continue
        ids[title] = str(found[0]["id"])
        if _same(found[0], wanted):
            progress(f"  found trigger {title!r} ({ids[title]}), up to date")
        else:
            await client.request("PUT", f"/api/v2/triggers/{ids[title]}", json={"trigger": wanted})
            progress(f"  updated trigger {title!r} ({ids[title]})")
    return ids


async def provision(target: Desk, progress: Progress = _stderr) -> dict[str, Any]:
    """Make or find the webhook and triggers; keep their ids and the signing secret."""
    configuration, alias = target.configuration, target.ctx.alias
    base = configuration.public_url or target.ctx.public_url
    if not base:
        raise ZendeskError(
            f"no public URL for {alias!r}: set public_url in agent.toml (or serve --public-url, "
            f"or this integration's publicUrl) to where Zendesk reaches this agent (the webhook "
            f"will point at <public_url>/webhooks/{alias})"
        )
    endpoint = f"{base.rstrip('/')}/webhooks/{alias}"
    client = target.client
    progress(f"zendesk {alias}: {configuration.url}")
    webhook_id = await _webhook(client, webhook_name(alias), endpoint, progress)
    answer = await client.request("GET", f"/api/v2/webhooks/{webhook_id}/signing_secret")
    secret = str((answer.get("signing_secret") or {}).get("secret") or "")
    if not secret:
        raise ZendeskError(f"webhook {webhook_id} has no signing secret: {answer!r}")
    progress("  read the webhook's signing secret")
    triggers = await _triggers(client, alias, configuration.ticket_tag, webhook_id, progress)
    registration = {
        "webhookId": webhook_id,
        "secret": secret,
        "endpoint": endpoint,
        "triggerIds": triggers,
    }
    await target.save_registration(registration)
    return registration


async def unprovision(target: Desk, progress: Progress = _stderr) -> None:
    """Delete the triggers, then the webhook they call; forget the secret."""
    alias, client = target.ctx.alias, target.client
    titles = set(trigger_specs(alias, target.configuration.ticket_tag, "-"))
    for trigger in await _triggers_titled(client, titles):
        await client.request("DELETE", f"/api/v2/triggers/{trigger['id']}")
        progress(f"  deleted trigger {trigger['title']!r} ({trigger['id']})")
    for webhook in await _webhooks_named(client, webhook_name(alias)):
        await client.request("DELETE", f"/api/v2/webhooks/{webhook['id']}")
        progress(f"  deleted webhook {webhook['name']!r} ({webhook['id']})")
    await target.save_registration(None)


async def register(ctx: Context[ZendeskConfiguration]) -> None:
    """``patchwire serve`` runs this once per start; it is safe to run again."""
    await provision(desk(ctx))


async def unregister(ctx: Context[ZendeskConfiguration]) -> None:
    await unprovision(desk(ctx))
