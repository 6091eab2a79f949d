"""Linking an upstream user to the user that stands for them in the helpdesk."""

from __future__ import annotations

from patchwire.store import User
from patchwire_hitl._sessions import Sessions
from patchwire_hitl._texts import FALLBACK_USER_NAME

__all__ = ["downstream_user"]


async def downstream_user(sessions: Sessions, upstream: User, *, email: str | None = None) -> str:
    """The helpdesk user id for ``upstream``, created through ``create_user`` when missing.

    A link is reused only when it was made for the same integration alias and its user still
    exists; otherwise a new one is made (switching helpdesks links anew).
    """
    ctx, names = sessions.ctx, sessions.names
    binding = ctx.bound_integration("hitl")
    linked = upstream.tags.get(names.downstream)
    same_helpdesk = upstream.tags.get(names.integration) == binding
    if linked and same_helpdesk and await ctx.get_user(linked) is not None:
        return linked
    created = await sessions.actions.create_user(
        name=upstream.tags.get("name") or upstream.name or FALLBACK_USER_NAME,
        picture_url=upstream.tags.get("pictureUrl") or upstream.picture_url,
        email=email or upstream.tags.get("email"),
    )
    downstream_id = str(created.user_id)
    await ctx.update_user(
        upstream.id, tags={names.downstream: downstream_id, names.integration: binding}
    )
    await ctx.update_user(
        downstream_id, tags={names.upstream: upstream.id, names.integration: binding}
    )
    return downstream_id
