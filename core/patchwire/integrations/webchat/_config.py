"""The web chat's configuration: the Chat API's, plus what its page shows."""

from __future__ import annotations

from pydantic import Field

from patchwire.integrations.chat import ChatConfiguration

__all__ = ["WebchatConfiguration"]


class WebchatConfiguration(ChatConfiguration):
    """``botName`` and ``botAvatarUrl`` stand for the agent in the header, on its messages and
    on the launcher button; ``welcomeText`` opens every conversation (shown, never stored);
    ``accentColor`` colours the header, the user's bubbles and the launcher."""

    bot_name: str = Field(default="Assistant", min_length=1, max_length=80)
    bot_avatar_url: str | None = Field(default=None, pattern=r"^(https?://|/)\S+$", max_length=2000)
    welcome_text: str | None = Field(default=None, max_length=1000)
    accent_color: str = Field(default="#2f5bea", pattern=r"^#[0-9a-fA-F]{6}$")
