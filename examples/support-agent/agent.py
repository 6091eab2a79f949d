"""The support agent: answer with the model, hand over to a human on /starthitl.

The same file serves every helpdesk: agent.toml decides which one `plugins.hitl` reaches.
"""

from patchwire import Conversation, MessageContext, plugins


async def handler(ctx: MessageContext) -> None:
    if ctx.message.text.strip().lower() == "/starthitl":
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
    await ctx.execute(
        instructions="You are a helpful assistant. If the user asks for a human, "
        "tell them to type /starthitl."
    )


conversation = Conversation(channel=["chat.channel", "webchat.channel"], handler=handler)
