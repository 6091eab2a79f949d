"""What can go wrong talking to Zendesk, as errors that say what to do about it."""

from __future__ import annotations

from patchwire import PatchwireError

__all__ = ["CredentialsError", "ThrottledError", "TicketGoneError", "ZendeskError"]


class ZendeskError(PatchwireError):
    """Zendesk refused a call, or stayed unreachable or failing through the retries."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class CredentialsError(ZendeskError):
    """401/403: the message names the credential (OAuth client or email + API token) at fault."""


class TicketGoneError(ZendeskError):
    """The ticket was deleted in Zendesk, or is closed and can take no more updates."""


class ThrottledError(ZendeskError):
    """429 on a call that asked to see throttling rather than wait it out."""

    def __init__(self, message: str, *, retry_after: float) -> None:
        super().__init__(message, status=429)
        self.retry_after = retry_after
