"""The support agent: answer with the model, hand over to a human on /starthitl.

The same file serves every helpdesk: agent.toml decides which one `plugins.hitl` reaches.
Without a `[model]` table the answers come from patchwire's offline stand-in, which echoes;
greetings and requests for a person get fixed replies that say how to reach a human.
"""

import re

from patchwire import Conversation, MessageContext, plugins

WELCOME = (
    "Hello! I am the support assistant. Type /starthitl at any time to talk to a human "
    "agent, and /end to come back to me."
)
TO_A_HUMAN = "To talk to a human agent, type /starthitl. To come back to me later, type /end."
GREETINGS = {"hi", "hello", "hey", "bonjour", "hola", "good morning", "good evening"}
ASKS_FOR_A_PERSON = re.compile(
    r"\b(human|humans|agent|agents|person|people|operator|representative|someone real)\b"
)


async def handler(ctx: MessageContext) -> None:
    text = ctx.message.text.strip().lower()
    if text == "/starthitl":
        await plugins.hitl.actions.start_hitl(
            title="Support HITL",
            description="Escalate to support agent",
            conversation_id=ctx.conversation.id,
            user_id=ctx.message.user_id,
            configuration_overrides={
                "on_hitl_handoff_message": "Escalating to support...",
                "user_hitl_close_command": "/end",
                "agent_assigned_timeout_seconds": 100,
            },
        )
        return
    if text.strip("!?. ") in GREETINGS:
        await ctx.reply(WELCOME)
        return
    if ASKS_FOR_A_PERSON.search(text):
        await ctx.reply(TO_A_HUMAN)
        return
    await ctx.execute(
        instructions="You are a helpful assistant. If the user asks for a human, "
        "tell them to type /starthitl."
    )


conversation = Conversation(channel=["chat.channel", "webchat.channel"], handler=handler)
