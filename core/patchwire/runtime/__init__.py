"""The runtime: host API, hook pipeline, agent code, and the durable processing loop."""

from patchwire.runtime._context import Context, EventError, MessageError
from patchwire.runtime._conversation import (
    AgentCode,
    AgentCodeError,
    Conversation,
    load_agent_code,
)
from patchwire.runtime._current import (
    NoAgentRunningError,
    activate,
    current_runtime,
    integrations,
    plugins,
)
from patchwire.runtime._hooks import HOOK_NAMES, STOP, OutgoingMessage, Stop
from patchwire.runtime._message_context import HUMAN_AGENT_METADATA, EventContext, MessageContext
from patchwire.runtime._outbox import DeliveryError
from patchwire.runtime._responder import ModelError
from patchwire.runtime._runtime import NotRunnableError, Runtime

__all__ = [
    "HOOK_NAMES",
    "HUMAN_AGENT_METADATA",
    "STOP",
    "AgentCode",
    "AgentCodeError",
    "Context",
    "Conversation",
    "DeliveryError",
    "EventContext",
    "EventError",
    "MessageContext",
    "MessageError",
    "ModelError",
    "NoAgentRunningError",
    "NotRunnableError",
    "OutgoingMessage",
    "Runtime",
    "Stop",
    "activate",
    "current_runtime",
    "integrations",
    "load_agent_code",
    "plugins",
]
