"""The texts the plugin sends, and the rule that picks one for a session."""

from __future__ import annotations

from typing import Final

from patchwire_hitl._config import NULL, HitlConfiguration

__all__ = [
    "ABORT_TEXT",
    "DEFAULTS",
    "DEFAULT_CLOSE_COMMAND",
    "FALLBACK_AGENT_NAME",
    "FALLBACK_USER_NAME",
    "IDLE_END_DEFAULT",
    "RELAYED_TYPES",
    "UNSUPPORTED_TYPE_TEXT",
    "close_command",
    "text_for",
]

DEFAULTS: Final = {
    "on_hitl_handoff_message": (
        "I have escalated this conversation to a human agent. They should be with you shortly."
    ),
    "on_human_agent_assigned_message": "A human agent has joined the conversation.",
    "on_human_agent_transferred_message": (
        "Your conversation has been transferred to {agentName}."
    ),
    "on_hitl_stopped_message": (
        "The human agent closed the conversation. I will continue assisting you."
    ),
    "on_user_hitl_cancelled_message": "( The user has ended the session. )",
    "on_incompatible_msg_type_message": (
        "Sorry, the user can not receive this type of message. "
        "Please resend your message as a text message."
    ),
    "on_user_hitl_close_message": (
        "You have ended the session with the human agent. I will continue assisting you."
    ),
    "on_agent_assigned_timeout_message": (
        "No human agent is available at the moment. Please try again later. "
        "I will continue assisting you for the time being."
    ),
    "on_agent_idle_message": (
        "The human agent has not answered yet. They will reply as soon as they can."
    ),
    "on_hitl_start_failed_message": (
        "Sorry, I could not connect you with a human agent. Please try again later."
    ),
}
"""The built-in text of each message field (the reference system's, and ours for the rest)."""

IDLE_END_DEFAULT: Final = "The human agent has not answered in time. I will continue assisting you."
"""``on_agent_idle_message``'s built-in text when the session ends on agent idle."""

RELAYED_TYPES: Final = ("text", "image", "video", "audio", "file", "bloc")
UNSUPPORTED_TYPE_TEXT: Final = (
    "Sorry, I can only handle one of the following message types: "
    "text, image, video, audio, file, bloc"
)
ABORT_TEXT: Final = "Something went wrong, you are not connected to a human agent..."
FALLBACK_AGENT_NAME: Final = "A Human Agent"
FALLBACK_USER_NAME: Final = "Unknown User"
DEFAULT_CLOSE_COMMAND: Final = "/end"


def text_for(config: HitlConfiguration, field: str, *, agent_name: str | None = None) -> str | None:
    """The text to send for ``field``: None for ``NULL``, the built-in one when empty.

    ``{agentName}`` in the text becomes ``agent_name`` when one is given.
    """
    value = getattr(config, field)
    if value == NULL:
        return None
    text = value or _built_in(config, field)
    return text if agent_name is None else text.replace("{agentName}", agent_name)


def _built_in(config: HitlConfiguration, field: str) -> str:
    if field == "on_agent_idle_message" and config.end_session_on_agent_idle:
        return IDLE_END_DEFAULT
    return DEFAULTS[field]


def close_command(config: HitlConfiguration) -> str | None:
    """The normalised close command; None when ``NULL`` turns the command off."""
    value = config.user_hitl_close_command
    if value is not None and value.strip() == NULL:
        return None
    return (value or "").strip().lower() or DEFAULT_CLOSE_COMMAND
