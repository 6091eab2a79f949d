"""Log lines as JSON objects (``serve --log-format json``), naming the conversation they are
about by the id its user's channel shows (the Chat API's ``conv_…``), where there is one.

The runtime names the conversation when a job starts handling it (:func:`log_conversation`);
a context variable carries it to every line logged while that job runs, by the runtime, the
packages or the agent's code, without passing it around.
"""

from __future__ import annotations

import logging
from contextvars import ContextVar
from enum import StrEnum
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from patchwire.store import Conversation

__all__ = ["ConversationFilter", "LogFormat", "log_config", "log_conversation"]


class LogFormat(StrEnum):
    """How ``serve`` and ``dev`` write their log (``--log-format``)."""

    text = "text"
    json = "json"


_conversation: ContextVar[str | None] = ContextVar("patchwire_log_conversation", default=None)


def log_conversation(conversation: Conversation) -> None:
    """Name ``conversation`` in what the current job logs from here on."""
    from patchwire.integrations.chat import chat_id_tag

    _conversation.set(conversation.tags.get(chat_id_tag(conversation.integration), conversation.id))


class ConversationFilter(logging.Filter):
    """Adds ``conversation_id`` to a record logged while a job handles a conversation."""

    def filter(self, record: logging.LogRecord) -> bool:
        conversation = _conversation.get()
        if conversation is not None:
            record.conversation_id = conversation
        return True


def log_config(format: LogFormat) -> dict[str, Any]:
    """uvicorn's ``log_config``: its own for text; for JSON, every logger (uvicorn's, the
    runtime's, the packages', the agent's) as one object a line on stderr, from INFO up.

    Imported here, so that the CLI's other commands never load uvicorn or the JSON formatter.
    """
    from pythonjsonlogger.core import RESERVED_ATTRS
    from uvicorn.config import LOGGING_CONFIG

    if format is LogFormat.text:
        return LOGGING_CONFIG
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"conversation": {"()": ConversationFilter}},
        "formatters": {
            "json": {
                "()": "pythonjsonlogger.json.JsonFormatter",
                "fmt": "%(levelname)s %(name)s %(message)s",
                "rename_fields": {"levelname": "level", "name": "logger"},
                "timestamp": "time",
                # uvicorn's lines carry a copy of the message with terminal colours
                "reserved_attrs": [*RESERVED_ATTRS, "color_message"],
            }
        },
        "handlers": {
            "stderr": {
                "class": "logging.StreamHandler",
                "formatter": "json",
                "filters": ["conversation"],
                "stream": "ext://sys.stderr",
            }
        },
        "root": {"handlers": ["stderr"], "level": "INFO"},
        "loggers": {
            name: {"handlers": [], "propagate": True}
            for name in ("uvicorn", "uvicorn.error", "uvicorn.access")
        },
    }
