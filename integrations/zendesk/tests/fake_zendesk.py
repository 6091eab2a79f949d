"""A fake Zendesk Support account, strict about what it receives, served over real HTTP.

Every Support API request is validated against the saved OpenAPI file (with two test-side
fixes: Bearer is accepted as a security scheme, and the dual ``page`` parameter is read in
its cursor form, which openapi-core cannot parse as a oneOf). The Webhooks API, absent from
that file, is checked against the reference's description. The fake keeps users, tickets,
comments, uploads, webhooks and triggers; evaluates the triggers on every ticket update;
and signs the webhooks it sends the way Zendesk does.
"""

from __future__ import annotations

import base64
import itertools
import json
import re
import secrets
import time
import uuid
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import httpx
import yaml
from openapi_core import Config, OpenAPI
from openapi_core.contrib.starlette.requests import StarletteOpenAPIRequest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from patchwire_zendesk import INVOCATION_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER, sign
from patchwire_zendesk import timestamp_now as zendesk_timestamp

SPEC = Path(__file__).resolve().parents[3] / "specs" / "zendesk" / "support-oas.yaml"
API_USER_ID = 1
VIA_IDS = {"web": 0, "email": 4, "api": 5}
_LOOP = re.compile(
    r"\{% for (\w+) in ticket\.public_comments limit:1 %\}\{\{\1\.id\}\}\{% endfor %\}"
)
_WEBHOOK_FIELDS = {
    "name", "status", "endpoint", "http_method", "request_format", "subscriptions",
    "authentication", "custom_headers", "description",
}  # fmt: skip


# The Zendesk file has a bare ``=`` scalar, which PyYAML resolves to an unknown tag.
_YamlLoader: Any = type("_YamlLoader", (yaml.CSafeLoader,), {})
_YamlLoader.add_constructor(
    "tag:yaml.org,2002:value", lambda loader, node: loader.construct_scalar(node)
)


@cache
def support_api() -> OpenAPI:
    """The Support API contract, loaded once per test session (about a second)."""
    contract: dict[str, Any] = yaml.load(SPEC.read_text(), Loader=_YamlLoader)
    contract["servers"] = [{"url": "/"}]
    contract["components"]["securitySchemes"]["bearerAuth"] = {"type": "http", "scheme": "bearer"}
    contract["security"] = [{"basicAuth": []}, {"bearerAuth": []}]
    contract["paths"]["/oauth/tokens"]["post"]["security"] = []
    page = contract["components"]["parameters"]["DualPaginationPage"]
    page["schema"] = page["schema"]["oneOf"][1]
    return OpenAPI.from_dict(contract, config=Config(spec_validator_cls=None))


@dataclass
class Delivery:
    webhook_id: str
    body: bytes
    invocation_id: str


class FakeZendesk:
    """State and behaviour of one account; ``app()`` serves it."""

    def __init__(
        self,
        *,
        client_id: str = "patchwire-test",
        client_secret: str = "client-secret-for-tests",
        email: str = "bot@example.com",
        api_token: str = "api-token-for-tests",
    ) -> None:
        self.api = support_api()
        self.client_id, self.client_secret = client_id, client_secret
        self.basic = "Basic " + base64.b64encode(f"{email}/token:{api_token}".encode()).decode()
        self.url = ""
        self.invalid: list[str] = []
        self.validate = True
        """Check every Support API request against the contract (benchmarks may turn it off)."""
        self.requests: list[tuple[str, str]] = []
        self.created: Counter[str] = Counter()
        self.tokens: dict[str, float] = {}
        self.refresh_tokens: set[str] = set()
        self.token_lifetime = 1800
        self.grants: list[str] = []
        self.down = False
        self.failures: list[tuple[int, dict[str, str]]] = []
        self.lose_answer: set[str] = set()
        """``"METHOD /path"`` calls that are carried out once, then answered 502."""
        self.ticket_limit: tuple[int, float, float] | None = None
        self._ticket_updates: dict[int, list[float]] = {}
        self.throttled = 0
        self._ids = itertools.count(1000)
        self.users: dict[int, dict[str, Any]] = {
            API_USER_ID: {"id": API_USER_ID, "name": "Patchwire API", "role": "admin"}
        }
        self.tickets: dict[int, dict[str, Any]] = {}
        self.comments: dict[int, list[dict[str, Any]]] = {}
        self.uploads: dict[str, list[dict[str, Any]]] = {}
        self.attachments: dict[int, bytes] = {}
        self.webhooks: dict[str, dict[str, Any]] = {}
        self.secrets: dict[str, str] = {}
        self.triggers: dict[int, dict[str, Any]] = {}
        self.files: dict[str, tuple[bytes, str]] = {}
        self.fetched: list[str] = []
        """Names of the files someone downloaded from ``/files/{name}``."""
        self.pending: list[Delivery] = []
        self.delivered: list[tuple[Delivery, int]] = []
        self.sender: httpx.AsyncClient | None = None

    def next_id(self) -> int:
        return next(self._ids)

    # --- HTTP ------------------------------------------------------------------------------

    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/files/{name}", self.file, methods=["GET"]),
                Route(
                    "/{path:path}", self.endpoint, methods=["GET", "POST", "PUT", "PATCH", "DELETE"]
                ),
            ]
        )

    async def file(self, request: Request) -> Response:
        self.fetched.append(request.path_params["name"])
        found = self.files.get(request.path_params["name"])
        if found is None:
            return Response(status_code=404)
        return Response(found[0], media_type=found[1])

    def _authorised(self, request: Request) -> bool:
        header = request.headers.get("Authorization", "")
        if header.startswith("Bearer "):
            expiry = self.tokens.get(header.removeprefix("Bearer "))
            return expiry is not None and time.monotonic() < expiry
        return header == self.basic

    async def endpoint(self, request: Request) -> Response:
        raw = await request.body()
        path = "/" + request.path_params["path"]
        self.requests.append((request.method, path))
        if path.startswith("/api/v2/webhooks"):
            problem = _webhook_request_problem(request.method, path, raw)
        elif self.validate:
            problem = self._contract_problem(request, raw)
        else:
            problem = None
        if problem:
            self.invalid.append(f"{request.method} {path}: {problem}")
            return JSONResponse({"error": "InvalidRequest", "description": problem}, 400)
        if self.down:
            return JSONResponse({"error": "ServiceUnavailable"}, status_code=503)
        if self.failures:
            status, headers = self.failures.pop(0)
            return JSONResponse({"error": "injected"}, status_code=status, headers=headers)
        body = (
            json.loads(raw)
            if raw and request.headers.get("content-type", "").startswith("application/json")
            else {}
        )
        if path == "/oauth/tokens":
            return self.token(body)
        if not self._authorised(request):
            return JSONResponse({"error": "Couldn't authenticate you"}, status_code=401)
        answer = self.route(request.method, path, dict(request.query_params), body, raw, request)
        if f"{request.method} {path}" in self.lose_answer:
            self.lose_answer.discard(f"{request.method} {path}")
            return JSONResponse({"error": "BadGateway"}, status_code=502)
        return answer

    def _contract_problem(self, request: Request, raw: bytes) -> str | None:
        try:
            self.api.validate_request(StarletteOpenAPIRequest(request, body=raw))
        except Exception as error:
            cause = error.__cause__
            return f"{type(error).__name__}: {error}" + (f" ({cause})" if cause else "")
        return None

    def route(
        self,
        method: str,
        path: str,
        query: dict[str, str],
        body: dict[str, Any],
        raw: bytes,
        request: Request,
    ) -> Response:
        parts = path.strip("/").split("/")[2:]  # after api/v2
        match method, parts:
            case "POST", ["users", "create_or_update"]:
                return self.create_or_update_user(body["user"])
            case "GET", ["users", "me"]:
                return _json({"user": self.users[API_USER_ID]})
            case "GET", ["users", user_id]:
                user = self.users.get(int(user_id))
                return _json({"user": user}) if user else _not_found()
            case "GET", ["tickets"]:
                found = [
                    t
                    for t in self.tickets.values()
                    if t.get("external_id") == query.get("external_id")
                ]
                return _json({"tickets": found, "count": len(found), "next_page": None})
            case "POST", ["tickets"]:
                return self.create_ticket(body["ticket"])
            case "GET", ["tickets", ticket_id]:
                ticket = self.tickets.get(int(ticket_id))
                return _json({"ticket": ticket}) if ticket else _not_found()
            case "PUT", ["tickets", ticket_id]:
                return self.api_update(int(ticket_id), body["ticket"])
            case "GET", ["tickets", ticket_id, "comments"]:
                return self.list_comments(int(ticket_id), query)
            case "POST", ["uploads"]:
                return self.upload(query, raw, request.headers.get("content-type", ""))
            case "GET", ["triggers"]:
                return self.page("triggers", list(self.triggers.values()), query)
            case "POST", ["triggers"]:
                trigger = {**body["trigger"], "id": self.next_id(), "position": len(self.triggers)}
                trigger.setdefault("active", True)
                self.triggers[trigger["id"]] = trigger
                self.created["trigger"] += 1
                return _json({"trigger": trigger}, 201)
            case "PUT", ["triggers", trigger_id]:
                if int(trigger_id) not in self.triggers:
                    return _not_found()
                self.triggers[int(trigger_id)].update(body["trigger"])
                return _json({"trigger": self.triggers[int(trigger_id)]})
            case "DELETE", ["triggers", trigger_id]:
                return Response(
                    status_code=204 if self.triggers.pop(int(trigger_id), None) else 404
                )
            case "GET", ["webhooks"]:
                needle = query.get("filter[name_contains]", "")
                found = [w for w in self.webhooks.values() if needle in w["name"]]
                return self.page("webhooks", found, query)
            case "POST", ["webhooks"]:
                webhook_id = uuid.uuid4().hex.upper()[:26]
                webhook = {**body["webhook"], "id": webhook_id}
                self.webhooks[webhook_id] = webhook
                self.secrets[webhook_id] = base64.b64encode(secrets.token_bytes(32)).decode()
                self.created["webhook"] += 1
                return _json({"webhook": webhook}, 201)
            case "PATCH", ["webhooks", webhook_id]:
                if webhook_id not in self.webhooks:
                    return _not_found()
                self.webhooks[webhook_id].update(body["webhook"])
                return Response(status_code=204)
            case "DELETE", ["webhooks", webhook_id]:
                if any(_calls(t, webhook_id) for t in self.triggers.values()):
                    return _json({"errors": [{"code": "WebhookInUse"}]}, 400)
                self.secrets.pop(webhook_id, None)
                return Response(status_code=204 if self.webhooks.pop(webhook_id, None) else 404)
            case "GET", ["webhooks", webhook_id, "signing_secret"]:
                if webhook_id not in self.secrets:
                    return _not_found()
                secret = {"algorithm": "SHA256", "secret": self.secrets[webhook_id]}
                return _json({"signing_secret": secret})
        self.invalid.append(f"{method} {path}: the fake does not serve this call")
        return _not_found()

    # --- OAuth -----------------------------------------------------------------------------

    def token(self, body: dict[str, Any]) -> Response:
        grant = body.get("grant_type")
        self.grants.append(str(grant))
        if (
            body.get("client_id") != self.client_id
            or body.get("client_secret") != self.client_secret
        ):
            return _json(
                {"error": "invalid_client", "error_description": "Client authentication failed"},
                401,
            )
        if grant == "refresh_token":
            if body.get("refresh_token") not in self.refresh_tokens:
                return _json({"error": "invalid_grant"}, 400)
            self.refresh_tokens.discard(body["refresh_token"])
        elif grant != "client_credentials":
            return _json({"error": "unsupported_grant_type"}, 400)
        access, refresh = secrets.token_hex(16), secrets.token_hex(16)
        self.tokens[access] = time.monotonic() + self.token_lifetime
        self.refresh_tokens.add(refresh)
        return _json(
            {
                "access_token": access,
                "token_type": "bearer",
                "scope": body.get("scope", "read"),
                "expires_in": self.token_lifetime,
                "refresh_token": refresh,
                "refresh_token_expires_in": 604800,
            },
            201,
        )

    def revoke_tokens(self) -> None:
        self.tokens.clear()

    # --- users, tickets, comments, uploads -------------------------------------------------

    def create_or_update_user(self, fields: dict[str, Any]) -> Response:
        external = str(fields.get("external_id") or "").lower()
        email = fields.get("email")
        for user in self.users.values():
            if (external and str(user.get("external_id", "")).lower() == external) or (
                email and user.get("email") == email
            ):
                user.update({k: v for k, v in fields.items() if k != "skip_verify_email"})
                return _json({"user": user})
        user = {k: v for k, v in fields.items() if k != "skip_verify_email"}
        user["id"] = self.next_id()
        user["role"] = {"end-user": "end-user", None: "end-user"}.get(
            user.get("role"), user.get("role")
        )
        self.users[user["id"]] = user
        self.created["user"] += 1
        return _json({"user": user}, 201)

    def agent(self, name: str) -> int:
        for user in self.users.values():
            if user.get("name") == name and user.get("role") == "agent":
                return int(user["id"])
        agent_id = self.next_id()
        self.users[agent_id] = {
            "id": agent_id,
            "name": name,
            "role": "agent",
            "email": f"{name.lower()}@support.example.com",
            "photo": {"content_url": f"https://example.com/{name.lower()}.png"},
        }
        return agent_id

    def create_ticket(self, fields: dict[str, Any]) -> Response:
        ticket_id = self.next_id()
        requester = fields.get("requester")
        if isinstance(requester, dict):
            answer = self.create_or_update_user(
                {"name": requester["name"], "email": requester.get("email")}
            )
            requester_id = int(json.loads(bytes(answer.body))["user"]["id"])
        else:
            requester_id = int(fields["requester_id"])
        comment = fields.get("comment") or {}
        ticket = {
            **{k: v for k, v in fields.items() if k not in ("comment", "requester")},
            "id": ticket_id,
            "requester_id": requester_id,
            "submitter_id": API_USER_ID,
            "assignee_id": None,
            "status": "new",
            "tags": list(fields.get("tags") or []),
            "description": comment.get("body", ""),
            "via": {"channel": "api"},
        }
        self.tickets[ticket_id] = ticket
        self.comments[ticket_id] = []
        self.created["ticket"] += 1
        self._add_comment(ticket_id, comment, API_USER_ID, "api")
        headers = {"Location": f"{self.url}/api/v2/tickets/{ticket_id}.json"}
        return _json({"ticket": ticket}, 201, headers)

    def _add_comment(
        self, ticket_id: int, fields: Mapping[str, Any], author_id: int, via: str
    ) -> dict[str, Any]:
        attachments = [
            a for token in fields.get("uploads") or [] for a in self.uploads.get(token, [])
        ]
        comment = {
            "id": self.next_id(),
            "type": "Comment",
            "author_id": int(fields.get("author_id") or author_id),
            "body": fields.get("body") or fields.get("html_body") or "",
            "plain_body": fields.get("body") or "",
            "public": bool(fields.get("public", True)),
            "attachments": attachments,
            "via": {"channel": via},
        }
        self.comments[ticket_id].append(comment)
        return comment

    def _throttled(self, ticket_id: int) -> float | None:
        if self.ticket_limit is None:
            return None
        limit, window, retry_after = self.ticket_limit
        now = time.monotonic()
        recent = [t for t in self._ticket_updates.get(ticket_id, []) if now - t < window]
        self._ticket_updates[ticket_id] = recent
        if len(recent) >= limit:
            self.throttled += 1
            return retry_after
        recent.append(now)
        return None

    def api_update(self, ticket_id: int, fields: dict[str, Any]) -> Response:
        ticket = self.tickets.get(ticket_id)
        if ticket is None:
            return _not_found()
        if ticket["status"] == "closed":
            details = {"status": [{"description": "Status: closed prevents ticket update"}]}
            return _json(
                {
                    "error": "RecordInvalid",
                    "description": "Record validation errors",
                    "details": details,
                },
                422,
            )
        wait = self._throttled(ticket_id)
        if wait is not None:
            return _json({"error": "TooManyRequests"}, 429, {"Retry-After": f"{wait:g}"})
        events = self.update(ticket_id, fields, actor_id=API_USER_ID, via="api")
        return _json({"ticket": ticket, "audit": {"events": events}})

    def update(
        self, ticket_id: int, fields: Mapping[str, Any], *, actor_id: int, via: str
    ) -> list[dict[str, Any]]:
        """Apply an update (from the API or an agent in the UI), then run the triggers."""
        ticket = self.tickets[ticket_id]
        events: list[dict[str, Any]] = []
        changes: dict[str, Any] = {"via_id": VIA_IDS[via], "actor_id": actor_id}
        if "comment" in fields:
            comment = self._add_comment(ticket_id, fields["comment"], actor_id, via)
            events.append({"id": comment["id"], "type": "Comment", "body": comment["body"]})
            changes["comment_public"] = comment["public"]
            if (
                ticket["status"] == "solved"
                and self.users.get(comment["author_id"], {}).get("role") == "end-user"
            ):
                fields = {**fields, "status": fields.get("status", "open")}
        for key in ("status", "assignee_id", "priority", "external_id"):
            if key in fields and fields[key] != ticket.get(key):
                changes[f"{key}_changed"] = True
                ticket[key] = fields[key]
        self._run_triggers(ticket, changes)
        return events

    def list_comments(self, ticket_id: int, query: Mapping[str, str]) -> Response:
        if ticket_id not in self.tickets:
            return _not_found()
        comments = list(self.comments[ticket_id])
        if query.get("sort_order") == "desc":
            comments.reverse()
        comments = comments[: int(query.get("per_page", "100"))]
        answer: dict[str, Any] = {"comments": comments, "count": len(comments), "next_page": None}
        if query.get("include") == "users":
            ids = {c["author_id"] for c in comments}
            answer["users"] = [self.users[i] for i in sorted(ids) if i in self.users]
        return _json(answer)

    def upload(self, query: Mapping[str, str], raw: bytes, content_type: str) -> Response:
        attachment_id = self.next_id()
        self.attachments[attachment_id] = raw
        attachment = {
            "id": attachment_id,
            "file_name": query["filename"],
            "content_type": content_type,
            "size": len(raw),
            "content_url": f"{self.url}/attachments/{attachment_id}/{query['filename']}",
        }
        token = query.get("token") or secrets.token_hex(8)
        self.uploads.setdefault(token, []).append(attachment)
        return _json(
            {
                "upload": {
                    "token": token,
                    "attachment": attachment,
                    "attachments": self.uploads[token],
                }
            },
            201,
        )

    def page(self, key: str, items: list[dict[str, Any]], query: Mapping[str, str]) -> Response:
        size = int(query.get("page[size]", "100"))
        start = int(query.get("page[after]", "0") or 0)
        chunk = items[start : start + size]
        more = start + size < len(items)
        meta = {
            "has_more": more,
            "after_cursor": str(start + size) if more else None,
            "before_cursor": None,
        }
        return _json({key: chunk, "meta": meta, "links": {"next": None, "prev": None}})

    # --- the agents' side (the Zendesk UI) ------------------------------------------------

    def agent_comment(
        self,
        ticket_id: int,
        agent_id: int,
        body: str,
        *,
        public: bool = True,
        status: str | None = None,
        attachments: list[tuple[str, str]] | None = None,
    ) -> int:
        uploads = []
        for name, content_type in attachments or []:
            token = json.loads(bytes(self.upload({"filename": name}, b"data", content_type).body))
            uploads.append(token["upload"]["token"])
        fields: dict[str, Any] = {"comment": {"body": body, "public": public, "uploads": uploads}}
        if status:
            fields["status"] = status
        self.update(ticket_id, fields, actor_id=agent_id, via="web")
        return int(self.comments[ticket_id][-1]["id"])

    def assign(self, ticket_id: int, agent_id: int | None) -> None:
        self.update(
            ticket_id, {"assignee_id": agent_id}, actor_id=agent_id or API_USER_ID, via="web"
        )

    def solve(self, ticket_id: int, agent_id: int, body: str | None = None) -> None:
        fields: dict[str, Any] = {"status": "solved"}
        if body:
            fields["comment"] = {"body": body, "public": True}
        self.update(ticket_id, fields, actor_id=agent_id, via="web")

    def email_reply(self, ticket_id: int, body: str) -> None:
        requester = int(self.tickets[ticket_id]["requester_id"])
        self.update(
            ticket_id, {"comment": {"body": body, "public": True}}, actor_id=requester, via="email"
        )

    def received(self, ticket_id: int) -> list[str]:
        texts = []
        for comment in self.comments[ticket_id]:
            names = "".join(f" [attachment: {a['file_name']}]" for a in comment["attachments"])
            texts.append(f"{comment['body']}{names}")
        return texts

    # --- triggers and webhooks -------------------------------------------------------------

    def _condition(
        self, ticket: dict[str, Any], changes: dict[str, Any], c: dict[str, Any]
    ) -> bool:
        field, operator, value = c.get("field"), c.get("operator"), str(c.get("value"))
        role = self.users.get(changes["actor_id"], {}).get("role", "end-user").replace("-", "_")
        match field, operator:
            case "current_tags", "includes":
                return str(value) in ticket["tags"]
            case "comment_is_public", "is":
                if "comment_public" not in changes:
                    return False
                return bool(
                    changes["comment_public"] == (value in ("true", "requester_can_see_comment"))
                )
            case "current_via_id", "is":
                return bool(changes["via_id"] == int(value))
            case "current_via_id", "is_not":
                return bool(changes["via_id"] != int(value))
            case "role", "is":
                return bool(role == value)
            case "role", "is_not":
                return bool(role != value)
            case "assignee_id", "changed":
                return bool(changes.get("assignee_id_changed"))
            case "status", "value":
                return bool(changes.get("status_changed")) and bool(ticket["status"] == value)
            case "status", "is":
                return bool(ticket["status"] == value)
        self.invalid.append(f"trigger condition the fake does not know: {c}")
        return False

    def _render(self, template: str, ticket: dict[str, Any], actor_id: int) -> str:
        public = [c for c in self.comments[ticket["id"]] if c["public"]]
        text = _LOOP.sub(str(public[-1]["id"]) if public else "", template)
        for placeholder, value in {
            "{{ticket.id}}": ticket["id"],
            "{{current_user.id}}": actor_id,
            "{{ticket.assignee.id}}": ticket.get("assignee_id") or "",
        }.items():
            text = text.replace(placeholder, str(value))
        if "{{" in text or "{%" in text:
            self.invalid.append(f"placeholder the fake does not render in {text!r}")
        return text

    def _run_triggers(self, ticket: dict[str, Any], changes: dict[str, Any]) -> None:
        for trigger in sorted(self.triggers.values(), key=lambda t: t.get("position", 0)):
            conditions = trigger.get("conditions") or {}
            every = all(self._condition(ticket, changes, c) for c in conditions.get("all") or [])
            some = conditions.get("any") or []
            if not every or (some and not any(self._condition(ticket, changes, c) for c in some)):
                continue
            for action in trigger.get("actions") or []:
                if action.get("field") == "notification_webhook":
                    webhook_id, template = action["value"]
                    body = self._render(template, ticket, changes["actor_id"]).encode()
                    self.pending.append(Delivery(webhook_id, body, uuid.uuid4().hex))

    def signed_headers(
        self, delivery: Delivery, *, secret: str | None = None, timestamp: str | None = None
    ) -> dict[str, str]:
        moment = timestamp or zendesk_timestamp()
        key = secret if secret is not None else self.secrets[delivery.webhook_id]
        return {
            "Content-Type": "application/json",
            "X-Zendesk-Account-Id": "123456",
            "X-Zendesk-Webhook-Id": delivery.webhook_id,
            INVOCATION_HEADER: delivery.invocation_id,
            SIGNATURE_HEADER: sign(key, moment, delivery.body),
            TIMESTAMP_HEADER: moment,
        }

    async def post(self, delivery: Delivery, headers: Mapping[str, str]) -> httpx.Response:
        assert self.sender is not None, "no agent attached to receive webhooks"
        webhook = self.webhooks[delivery.webhook_id]
        return await self.sender.post(
            webhook["endpoint"], content=delivery.body, headers=dict(headers)
        )

    def redeliver(self, marker: bytes) -> None:
        """Queue the last delivered webhook whose body has ``marker`` again (a new invocation)."""
        for delivery, _ in reversed(self.delivered):
            if marker in delivery.body:
                self.pending.append(Delivery(delivery.webhook_id, delivery.body, uuid.uuid4().hex))
                return
        raise AssertionError(f"no delivery carried {marker!r}")

    async def deliver(self) -> list[httpx.Response]:
        """Send every queued webhook, signed, in order."""
        responses = []
        while self.pending:
            delivery = self.pending.pop(0)
            if delivery.webhook_id not in self.webhooks:
                continue
            response = await self.post(delivery, self.signed_headers(delivery))
            self.delivered.append((delivery, response.status_code))
            responses.append(response)
        return responses


def _calls(trigger: dict[str, Any], webhook_id: str) -> bool:
    return any(
        a.get("field") == "notification_webhook" and a["value"][0] == webhook_id
        for a in trigger.get("actions") or []
    )


def _json(body: Any, status: int = 200, headers: Mapping[str, str] | None = None) -> JSONResponse:
    return JSONResponse(body, status_code=status, headers=dict(headers or {}))


def _not_found() -> JSONResponse:
    return _json({"error": "RecordNotFound", "description": "Not found"}, 404)


def _webhook_request_problem(method: str, path: str, raw: bytes) -> str | None:
    """The Webhooks API as the reference describes it (it is not in the OpenAPI file)."""
    if method not in ("POST", "PATCH"):
        return None if not raw else "this call takes no body"
    try:
        body = json.loads(raw)
        webhook = body["webhook"]
    except (ValueError, KeyError, TypeError):
        return 'the body must be {"webhook": {...}}'
    unknown = set(webhook) - _WEBHOOK_FIELDS
    if unknown:
        return f"unknown webhook fields {sorted(unknown)}"
    rules = {
        "status": ("active", "inactive"),
        "http_method": ("GET", "POST", "PUT", "PATCH", "DELETE"),
        "request_format": ("json", "xml", "form_encoded"),
    }
    for key, allowed in rules.items():
        if key in webhook and webhook[key] not in allowed:
            return f"{key} must be one of {allowed}"
    if method == "POST":
        missing = {"name", "endpoint", "http_method", "request_format", "status"} - set(webhook)
        if missing:
            return f"missing webhook fields {sorted(missing)}"
        subscriptions = webhook.get("subscriptions")
        if subscriptions != ["conditional_ticket_events"] and not (
            isinstance(subscriptions, list)
            and all(str(s).startswith("zen:event-type:") for s in subscriptions)
        ):
            return "subscriptions must be conditional_ticket_events or zen:event-type:* names"
    if "endpoint" in webhook and not str(webhook["endpoint"]).startswith(("https://", "http://")):
        return "endpoint must be an http(s) URL"
    return None


__all__ = ["API_USER_ID", "Delivery", "FakeZendesk", "support_api"]
