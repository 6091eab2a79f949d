"""Where Intercom ids live in patchwire's store (tags), and one API client per alias.

The links between patchwire and Intercom ids never change once written, so each alias keeps
the ones it has read in memory: the relay path then reads the store once less per id.
Only found links are kept; a missing one is looked up again next time.
"""

from __future__ import annotations

from collections import OrderedDict

from patchwire import Context
from patchwire_intercom._client import IntercomClient
from patchwire_intercom._definition import IntercomConfiguration

__all__ = [
    "ADMIN_TAG",
    "AGENT_ROLE",
    "CONTACT_ROLE_TAG",
    "CONTACT_TAG",
    "CONVERSATION_TAG",
    "EMAIL_TAG",
    "EXTERNAL_ID_TAG",
    "MEMO_LIMIT",
    "UNDELIVERED_TAG",
    "Memo",
    "client_for",
    "memo_for",
    "remote_conversation",
    "session_for",
    "user_contact",
]

CONVERSATION_TAG = "intercomConversationId"
CONTACT_TAG = "intercomContactId"
"""Cached on the user: search lags creation, so the id is never looked up twice."""
CONTACT_ROLE_TAG = "intercomContactRole"
EXTERNAL_ID_TAG = "intercomExternalId"
EMAIL_TAG = "intercomEmail"
ADMIN_TAG = "intercomAdminId"
AGENT_ROLE = {"role": "agent"}
"""The tag the hitl plugin reads to tell human agents from end users."""
UNDELIVERED_TAG = "intercom.undelivered"

MEMO_LIMIT = 10_000


class Memo:
    """A bounded map of links already read (least recently used dropped first)."""

    def __init__(self, limit: int = MEMO_LIMIT) -> None:
        self.limit = limit
        self._items: OrderedDict[str, str] = OrderedDict()

    def get(self, key: str) -> str | None:
        value = self._items.get(key)
        if value is not None:
            self._items.move_to_end(key)
        return value

    def put(self, key: str, value: str) -> None:
        self._items[key] = value
        self._items.move_to_end(key)
        while len(self._items) > self.limit:
            self._items.popitem(last=False)


def _new_client(ctx: Context[IntercomConfiguration]) -> IntercomClient:
    return IntercomClient(ctx.configuration, label=ctx.alias)


def _new_memo(ctx: Context[IntercomConfiguration]) -> Memo:
    return Memo()


def client_for(ctx: Context[IntercomConfiguration]) -> IntercomClient:
    """The alias's client, closed when the agent stops."""
    return ctx.local(_new_client)


def memo_for(ctx: Context[IntercomConfiguration]) -> Memo:
    return ctx.local(_new_memo)


async def session_for(ctx: Context[IntercomConfiguration], remote_id: str) -> str | None:
    """This alias's session conversation for an Intercom conversation id, if it opened one."""
    memo = memo_for(ctx)
    found = memo.get(f"session:{remote_id}")
    if found is None:
        matches = await ctx.find_conversations({CONVERSATION_TAG: remote_id}, own=True)
        if not matches:
            return None
        found = matches[0].id
        memo.put(f"session:{remote_id}", found)
    return found


async def remote_conversation(ctx: Context[IntercomConfiguration], conversation_id: str) -> str:
    """The Intercom conversation id of one of this alias's sessions."""
    memo = memo_for(ctx)
    found = memo.get(f"remote:{conversation_id}")
    if found is None:
        conversation = await ctx.get_conversation(conversation_id)
        if conversation is None or CONVERSATION_TAG not in conversation.tags:
            raise ValueError(
                f"conversation {conversation_id!r} is not a session of integration {ctx.alias!r}"
            )
        found = conversation.tags[CONVERSATION_TAG]
        memo.put(f"remote:{conversation_id}", found)
    return found


async def user_contact(ctx: Context[IntercomConfiguration], user_id: str) -> str | None:
    """The Intercom contact id linked to a patchwire user by ``create_user``, if any."""
    memo = memo_for(ctx)
    found = memo.get(f"contact:{user_id}")
    if found is None:
        user = await ctx.get_user(user_id)
        found = user.tags.get(CONTACT_TAG) if user is not None else None
        if found is not None:
            memo.put(f"contact:{user_id}", found)
    return found
