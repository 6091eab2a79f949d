"""A fake Intercom workspace, served over real HTTP, strict about every request it receives.

Each request is validated against Intercom's own OpenAPI file (2.16) before anything else;
the workspace keeps admins, teams, contacts, conversations with their parts, and tags. Every
change queues the notification Intercom would send for it (for the subscribed topics only),
signed the way Intercom signs: ``X-Hub-Signature: sha1=<hex HMAC-SHA1 of the raw body>``.
Contacts created through the API are not searchable until :meth:`FakeIntercom.index`, as in
Intercom, where search lags creation.
"""

from __future__ import annotations

import copy
import functools
import hashlib
import hmac
import html
import itertools
import json
import mimetypes
import re
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from openapi_core import Config, OpenAPI
from openapi_core.contrib.starlette.requests import StarletteOpenAPIRequest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from patchwire.testing.loopback import LoopbackServer

SPEC = Path(__file__).resolve().parents[3] / "specs" / "intercom" / "api.intercom.io-2.16.yaml"
TOKEN = "dG9rOmZha2UtaW50ZXJjb20tdG9rZW4="
CLIENT_SECRET = "fake-intercom-client-secret"
APP_ID = "fakeapp1"
APP_PACKAGE_CODE = "patchwire-tests"
"""Intercom stamps parts made through an app's API token with the app's package code."""

Handler = Callable[[dict[str, Any], re.Match[str], Request], Awaitable[Response]]


@functools.cache
def contract() -> OpenAPI:
    """The 2.16 spec, loaded once, with the two workarounds the spec needs (see reference §3.2).

    Spec validation is off (the file fails it on an unrelated path), and ``uuid`` accepts the
    24-hex contact ids the spec itself mislabels as uuids.
    """
    with SPEC.open() as stream:
        data = yaml.load(stream, Loader=yaml.CSafeLoader)
    data["servers"] = [{"url": "/"}]
    return OpenAPI.from_dict(
        data,
        config=Config(spec_validator_cls=None, extra_format_validators={"uuid": lambda _: True}),
    )


def signature(secret: str, raw: bytes) -> str:
    return "sha1=" + hmac.new(secret.encode(), raw, hashlib.sha1).hexdigest()


def plain(body: str | None) -> str:
    """What webhooks from 2.15 on carry instead of the part's HTML."""
    text = re.sub(r"</p>\s*<p>|<br\s*/?>", "\n", body or "")
    return html.unescape(re.sub(r"<[^>]+>", "", text)).strip()


@dataclass
class Delivery:
    topic: str
    raw: bytes
    headers: dict[str, str]

    @property
    def id(self) -> str:
        return str(json.loads(self.raw)["id"])


@dataclass
class FakeConversation:
    id: str
    contact_id: str
    source_body: str
    created_at: int
    title: str | None = None
    state: str = "open"
    admin_assignee_id: int | None = None
    team_assignee_id: int | None = None
    parts: list[dict[str, Any]] = field(default_factory=list)
    tags: list[dict[str, Any]] = field(default_factory=list)


def _error(status: int, code: str, message: str) -> JSONResponse:
    body = {
        "type": "error.list",
        "request_id": str(uuid.uuid4()),
        "errors": [{"code": code, "message": message}],
    }
    return JSONResponse(body, status_code=status)


class FakeIntercom:
    """One workspace; ``url`` is set once :func:`serve` runs it."""

    def __init__(self, subscribed: Iterable[str] = (), *, validate: bool = True) -> None:
        self.url = ""
        self.validate = validate
        self.subscribed = set(subscribed)
        self.plain_text_webhooks = True
        self.ids = itertools.count(1000)
        self.admins: dict[str, dict[str, Any]] = {}
        self.teams: dict[str, dict[str, Any]] = {}
        self.contacts: dict[str, dict[str, Any]] = {}
        self.searchable: set[str] = set()
        self.conversations: dict[str, FakeConversation] = {}
        self.tag_ids: dict[str, str] = {}
        self.outbox: list[Delivery] = []
        self.requests: list[tuple[str, str, Any]] = []
        self.invalid: list[str] = []
        self.failures: list[tuple[int, dict[str, str]]] = []
        self.down = False
        self.bot = self.add_admin("Patch Bot")
        self.routes: list[tuple[str, re.Pattern[str], Handler]] = [
            ("GET", re.compile(r"/me"), self._me),
            ("GET", re.compile(r"/admins/(?P<id>[^/]+)"), self._admin),
            ("POST", re.compile(r"/contacts"), self._create_contact),
            ("GET", re.compile(r"/contacts/find_by_external_id/(?P<id>[^/]+)"), self._find),
            ("POST", re.compile(r"/contacts/search"), self._search),
            ("GET", re.compile(r"/contacts/(?P<id>[^/]+)"), self._contact),
            ("POST", re.compile(r"/conversations"), self._create_conversation),
            ("GET", re.compile(r"/conversations/(?P<id>\d+)"), self._conversation),
            ("PUT", re.compile(r"/conversations/(?P<id>\d+)"), self._update),
            ("POST", re.compile(r"/conversations/(?P<id>\d+)/reply"), self._reply),
            ("POST", re.compile(r"/conversations/(?P<id>\d+)/parts"), self._manage),
            ("POST", re.compile(r"/conversations/(?P<id>\d+)/tags"), self._tag_conversation),
            ("POST", re.compile(r"/tags"), self._tag),
        ]

    # --- the workspace, as an admin sees it in the inbox ----------------------------------

    def next_id(self) -> str:
        return str(next(self.ids))

    def add_admin(self, name: str) -> str:
        admin_id = self.next_id()
        email = f"{name.lower().replace(' ', '.')}@example.com"
        self.admins[admin_id] = {"type": "admin", "id": admin_id, "name": name, "email": email}
        return admin_id

    def admin_named(self, name: str) -> str:
        found = [a["id"] for a in self.admins.values() if a["name"] == name]
        return str(found[0]) if found else self.add_admin(name)

    def add_team(self, name: str) -> str:
        team_id = self.next_id()
        self.teams[team_id] = {"type": "team", "id": team_id, "name": name, "admin_ids": []}
        return team_id

    def add_contact(self, *, role: str = "user", **fields: Any) -> dict[str, Any]:
        """A contact Intercom knows already (searchable at once)."""
        contact = self._new_contact(role, fields)
        self.searchable.add(contact["id"])
        return contact

    def index(self) -> None:
        """Search catches up with creation."""
        self.searchable |= set(self.contacts)

    def admin_reply(
        self,
        conversation_id: str,
        admin_id: str,
        body: str,
        *,
        attachments: Iterable[dict[str, Any]] = (),
        author_type: str = "admin",
    ) -> dict[str, Any]:
        conversation = self.conversations[conversation_id]
        author = dict(self.admins[admin_id], type=author_type)
        part = self._part(conversation, "comment", author, body, attachments=list(attachments))
        self._notify("conversation.admin.replied", conversation, [part])
        return part

    def admin_note(self, conversation_id: str, admin_id: str, body: str) -> dict[str, Any]:
        conversation = self.conversations[conversation_id]
        part = self._part(conversation, "note", self.admins[admin_id], body)
        self._notify("conversation.admin.noted", conversation, [part])
        return part

    def assign(self, conversation_id: str, assignee_id: str, *, by: str | None = None) -> None:
        conversation = self.conversations[conversation_id]
        self._assign(conversation, "admin", assignee_id, by or assignee_id, api=False)

    def close(self, conversation_id: str, admin_id: str) -> None:
        conversation = self.conversations[conversation_id]
        self._close(conversation, admin_id, api=False)

    def delete(self, conversation_id: str) -> None:
        self.conversations.pop(conversation_id)
        if "conversation.deleted" in self.subscribed:
            self._queue("conversation.deleted", {"type": "conversation", "id": conversation_id})

    def received(self, conversation_id: str) -> list[str]:
        """Texts the human agent reads that came from patchwire: first message, then parts."""
        conversation = self.conversations[conversation_id]
        texts = [conversation.source_body]
        for part in conversation.parts:
            from_patchwire = part["app_package_code"] == APP_PACKAGE_CODE
            if part["part_type"] in ("comment", "note") and from_patchwire:
                urls = [a["url"] for a in part["attachments"]]
                texts.append(" ".join([plain(part["body"]), *urls]).strip())
        return texts

    # --- rendering ------------------------------------------------------------------------

    def render(self, conversation: FakeConversation, parts: list[dict[str, Any]]) -> dict[str, Any]:
        """The conversation as the API shows it: at most the 500 most recent parts."""
        parts = parts[-500:]
        contact = self.contacts[conversation.contact_id]
        return {
            "type": "conversation",
            "id": conversation.id,
            "created_at": conversation.created_at,
            "updated_at": int(time.time()),
            "title": conversation.title,
            "state": conversation.state,
            "open": conversation.state == "open",
            "read": False,
            "priority": "none",
            "admin_assignee_id": conversation.admin_assignee_id,
            "team_assignee_id": conversation.team_assignee_id,
            "source": {
                "type": "conversation",
                "id": f"src{conversation.id}",
                "delivered_as": "customer_initiated",
                "subject": "",
                "body": conversation.source_body,
                "author": {"type": contact["role"], "id": contact["id"], "name": contact["name"]},
                "attachments": [],
            },
            "contacts": {
                "type": "contact.list",
                "contacts": [
                    {"type": "contact", "id": contact["id"], "external_id": contact["external_id"]}
                ],
            },
            "tags": {"type": "tag.list", "tags": list(conversation.tags)},
            "conversation_parts": {
                "type": "conversation_part.list",
                "conversation_parts": parts,
                "total_count": len(parts),
            },
        }

    # --- internals shared by the API and the inbox ----------------------------------------

    def _new_contact(self, role: str, fields: dict[str, Any]) -> dict[str, Any]:
        contact_id = uuid.uuid4().hex[:24]
        contact = {
            "type": "contact",
            "id": contact_id,
            "role": role,
            "external_id": fields.get("external_id"),
            "email": fields.get("email"),
            "name": fields.get("name"),
            "avatar": fields.get("avatar"),
        }
        self.contacts[contact_id] = contact
        return contact

    def _part(
        self,
        conversation: FakeConversation,
        part_type: str,
        author: dict[str, Any],
        body: str | None,
        *,
        api: bool = False,
        attachments: list[dict[str, Any]] | None = None,
        assigned_to: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        now = int(time.time())
        part = {
            "type": "conversation_part",
            "id": self.next_id(),
            "part_type": part_type,
            "body": body,
            "created_at": now,
            "updated_at": now,
            "notified_at": now,
            "assigned_to": assigned_to,
            "author": {
                "type": author["type"],
                "id": author["id"],
                "name": author.get("name"),
                "email": author.get("email"),
                "from_ai_agent": False,
                "is_ai_answer": False,
            },
            "attachments": attachments or [],
            "external_id": None,
            "redacted": False,
            "app_package_code": APP_PACKAGE_CODE if api else None,
        }
        conversation.parts.append(part)
        return part

    def _assign(
        self, conversation: FakeConversation, kind: str, assignee: str, by: str, *, api: bool
    ) -> None:
        if kind == "team":
            conversation.team_assignee_id = int(assignee) if assignee != "0" else None
        else:
            conversation.admin_assignee_id = int(assignee) if assignee != "0" else None
        part = self._part(
            conversation,
            "assignment",
            self.admins[by],
            None,
            api=api,
            assigned_to={"type": kind, "id": assignee},
        )
        self._notify("conversation.admin.assigned", conversation, [part])
        if conversation.state == "open":
            self._notify("conversation.admin.open.assigned", conversation, [part])

    def _close(self, conversation: FakeConversation, admin_id: str, *, api: bool) -> None:
        conversation.state = "closed"
        part = self._part(conversation, "close", self.admins[admin_id], None, api=api)
        self._notify("conversation.admin.closed", conversation, [part])

    def _notify(
        self, topic: str, conversation: FakeConversation, parts: list[dict[str, Any]]
    ) -> None:
        if topic not in self.subscribed:
            return
        shown = copy.deepcopy(parts)
        if self.plain_text_webhooks:
            for part in shown:
                part["body"] = plain(part["body"]) if part["body"] else part["body"]
        self._queue(topic, self.render(conversation, shown))

    def _queue(self, topic: str, item: dict[str, Any]) -> None:
        now = int(time.time())
        notification = {
            "type": "notification_event",
            "app_id": APP_ID,
            "id": f"notif_{uuid.uuid4()}",
            "topic": topic,
            "delivery_status": "pending",
            "delivery_attempts": 1,
            "delivered_at": 0,
            "first_sent_at": now,
            "created_at": now,
            "self": None,
            "links": {},
            "data": {"type": "notification_event_data", "item": item},
        }
        raw = json.dumps(notification).encode()
        headers = {
            "Content-Type": "application/json",
            "X-Hub-Signature": signature(CLIENT_SECRET, raw),
        }
        self.outbox.append(Delivery(topic, raw, headers))

    # --- the HTTP API ---------------------------------------------------------------------

    async def endpoint(self, request: Request) -> Response:
        raw = await request.body()
        path = request.url.path
        try:
            if self.validate:
                contract().validate_request(StarletteOpenAPIRequest(request, body=raw))
        except Exception as error:
            self.invalid.append(f"{request.method} {path}: {error}")
            return _error(400, "parameter_invalid", f"invalid request: {error}")
        if request.headers.get("Authorization") != f"Bearer {TOKEN}":
            return _error(401, "unauthorized", "Access Token Invalid")
        if self.down:
            return _error(503, "service_unavailable", "down for maintenance")
        if self.failures:
            status, headers = self.failures.pop(0)
            response = _error(
                status,
                "rate_limit_exceeded" if status == 429 else "server_error",
                f"failure {status} injected by the test",
            )
            response.headers.update(headers)
            return response
        body = json.loads(raw) if raw else None
        self.requests.append((request.method, path, body))
        for method, pattern, handler in self.routes:
            match = pattern.fullmatch(path)
            if method == request.method and match:
                answer = await handler(body or {}, match, request)
                answer.headers.update(
                    {
                        "X-RateLimit-Limit": "1000",
                        "X-RateLimit-Remaining": "999",
                        "X-RateLimit-Reset": str(int(time.time()) + 10),
                    }
                )
                return answer
        return _error(404, "not_found", f"no route {request.method} {path} in the fake")

    def app(self) -> Starlette:
        methods = ["GET", "POST", "PUT", "DELETE"]
        return Starlette(routes=[Route("/{path:path}", self.endpoint, methods=methods)])

    async def _me(self, body: dict[str, Any], match: re.Match[str], _: Request) -> Response:
        app = {"type": "app", "id_code": APP_ID, "name": "Fake", "region": "US"}
        return JSONResponse(dict(self.admins[self.bot], app=app, has_inbox_seat=True))

    async def _admin(self, body: dict[str, Any], match: re.Match[str], _: Request) -> Response:
        admin = self.admins.get(match["id"])
        return JSONResponse(admin) if admin else _error(404, "not_found", "Admin not found")

    async def _create_contact(
        self, body: dict[str, Any], match: re.Match[str], _: Request
    ) -> Response:
        role = body.get("role", "user")
        for contact in self.contacts.values():
            same_external = (
                body.get("external_id") and contact["external_id"] == body["external_id"]
            )
            same_email = role == "user" and body.get("email") and contact["email"] == body["email"]
            if same_external or same_email:
                return _error(
                    409,
                    "conflict",
                    f"A contact matching those details already exists with id={contact['id']}",
                )
        return JSONResponse(self._new_contact(role, body))

    async def _contact(self, body: dict[str, Any], match: re.Match[str], _: Request) -> Response:
        contact = self.contacts.get(match["id"])
        return JSONResponse(contact) if contact else _error(404, "not_found", "User Not Found")

    async def _find(self, body: dict[str, Any], match: re.Match[str], _: Request) -> Response:
        for contact in self.contacts.values():
            if contact["role"] == "user" and contact["external_id"] == match["id"]:
                return JSONResponse(contact)
        return _error(404, "not_found", "User Not Found")

    async def _search(self, body: dict[str, Any], match: re.Match[str], _: Request) -> Response:
        query = body["query"]
        filters = query["value"] if query.get("operator") in ("OR", "AND") else [query]
        combine = all if query.get("operator") == "AND" else any
        found = [
            contact
            for contact_id, contact in self.contacts.items()
            if contact_id in self.searchable
            and combine(contact.get(f["field"]) == f["value"] for f in filters)
        ]
        pages = {"type": "pages", "page": 1, "per_page": 50, "total_pages": 1}
        return JSONResponse(
            {"type": "list", "data": found, "total_count": len(found), "pages": pages}
        )

    async def _create_conversation(
        self, body: dict[str, Any], match: re.Match[str], _: Request
    ) -> Response:
        sender = body["from"]
        contact = self.contacts.get(sender["id"])
        if contact is None or sender["type"] not in (contact["role"], "contact"):
            return _error(404, "not_found", "User Not Found")
        conversation = FakeConversation(
            id=self.next_id(),
            contact_id=contact["id"],
            source_body=body["body"],
            created_at=int(time.time()),
        )
        self.conversations[conversation.id] = conversation
        self._notify("conversation.user.created", conversation, [])
        message = {
            "type": "user_message",
            "id": self.next_id(),
            "created_at": conversation.created_at,
            "body": body["body"],
            "message_type": "inapp",
            "conversation_id": conversation.id,
        }
        return JSONResponse(message)

    def _found(self, match: re.Match[str]) -> FakeConversation | None:
        return self.conversations.get(match["id"])

    async def _conversation(
        self, body: dict[str, Any], match: re.Match[str], _: Request
    ) -> Response:
        conversation = self._found(match)
        if conversation is None:
            return _error(404, "not_found", "Resource Not Found")
        return JSONResponse(self.render(conversation, conversation.parts))

    async def _update(self, body: dict[str, Any], match: re.Match[str], _: Request) -> Response:
        conversation = self._found(match)
        if conversation is None:
            return _error(404, "not_found", "Resource Not Found")
        if "title" in body:
            conversation.title = body["title"]
        return JSONResponse(self.render(conversation, conversation.parts))

    def _attachments(self, urls: list[str]) -> list[dict[str, Any]]:
        return [
            {
                "type": "upload",
                "name": url.rsplit("/", 1)[-1],
                "url": url,
                "content_type": mimetypes.guess_type(url)[0] or "application/octet-stream",
            }
            for url in urls
        ]

    async def _reply(self, body: dict[str, Any], match: re.Match[str], _: Request) -> Response:
        conversation = self._found(match)
        if conversation is None:
            return _error(404, "not_found", "Resource Not Found")
        attachments = self._attachments(body.get("attachment_urls", []))
        if body["type"] == "user":
            contact = self.contacts.get(body.get("intercom_user_id", ""))
            if contact is None or contact["id"] != conversation.contact_id:
                return _error(404, "not_found", "User Not Found")
            author = {"type": contact["role"], "id": contact["id"], "name": contact["name"]}
            part = self._part(
                conversation, "comment", author, body["body"], api=True, attachments=attachments
            )
            conversation.state = "open"
            self._notify("conversation.user.replied", conversation, [part])
        else:
            admin = self.admins.get(body["admin_id"])
            if admin is None:
                return _error(404, "not_found", "Admin not found")
            kind = "note" if body["message_type"] == "note" else "comment"
            part = self._part(
                conversation, kind, admin, body.get("body"), api=True, attachments=attachments
            )
            topic = "conversation.admin.noted" if kind == "note" else "conversation.admin.replied"
            self._notify(topic, conversation, [part])
        return JSONResponse(self.render(conversation, conversation.parts))

    async def _manage(self, body: dict[str, Any], match: re.Match[str], _: Request) -> Response:
        conversation = self._found(match)
        if conversation is None:
            return _error(404, "not_found", "Resource Not Found")
        if body["admin_id"] not in self.admins:
            return _error(404, "not_found", "Admin not found")
        kind = body["message_type"]
        if kind == "close":
            self._close(conversation, body["admin_id"], api=True)
        elif kind == "assignment":
            known = self.teams if body["type"] == "team" else self.admins
            if body["assignee_id"] != "0" and body["assignee_id"] not in known:
                return _error(404, "not_found", f"{body['type']} not found")
            self._assign(
                conversation, body["type"], body["assignee_id"], body["admin_id"], api=True
            )
        elif kind == "open":
            conversation.state = "open"
            self._part(conversation, "open", self.admins[body["admin_id"]], None, api=True)
        return JSONResponse(self.render(conversation, conversation.parts))

    async def _tag(self, body: dict[str, Any], match: re.Match[str], _: Request) -> Response:
        name = body["name"]
        tag_id = self.tag_ids.setdefault(name.lower(), self.next_id())
        return JSONResponse({"type": "tag", "id": tag_id, "name": name})

    async def _tag_conversation(
        self, body: dict[str, Any], match: re.Match[str], _: Request
    ) -> Response:
        conversation = self._found(match)
        if conversation is None:
            return _error(404, "not_found", "Conversation not found")
        names = {tag_id: name for name, tag_id in self.tag_ids.items()}
        tag = {
            "type": "tag",
            "id": body["id"],
            "name": names.get(body["id"], "?"),
            "applied_at": int(time.time()),
            "applied_by": {"type": "admin", "id": body["admin_id"]},
        }
        conversation.tags.append(tag)
        return JSONResponse(tag)


@asynccontextmanager
async def serve(fake: FakeIntercom) -> AsyncIterator[FakeIntercom]:
    """Run ``fake`` on a loopback port for the duration of the block."""
    if fake.validate:
        contract()
    async with LoopbackServer(fake.app()) as server:
        fake.url = server.url
        yield fake
