"""The agent's code: answer every message with the model (or the built-in responder)."""

from patchwire import Conversation, MessageContext


async def handler(ctx: MessageContext) -> None:
    await ctx.execute(
        instructions="You are a helpful assistant. Say hello, or type help to see this line."
    )


conversation = Conversation(channel=["chat.channel", "webchat.channel"], handler=handler)
