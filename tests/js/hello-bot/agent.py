"""The "hello bot" the official @botpress/chat end-to-end suite expects, on our agent API.

It echoes every message's payload, forwards the metadata when the text is ``metadata``, answers
``bloc`` with a three-item bloc, and sends every custom event's payload back as its own event.
"""

from patchwire import Conversation, EventContext, MessageContext

BLOC = {
    "items": [
        {"type": "text", "payload": {"text": "a bloc from the hello bot"}},
        {"type": "markdown", "payload": {"markdown": "**three** items"}},
        {"type": "image", "payload": {"imageUrl": "https://example.com/hello.png"}},
    ]
}


async def echo(ctx: MessageContext) -> None:
    metadata = ctx.message.metadata if ctx.text == "metadata" else None
    if ctx.text == "bloc":
        message_type, payload = "bloc", BLOC
    else:
        message_type, payload = ctx.message.type, dict(ctx.message.payload)
    await ctx.send_message(
        conversation_id=ctx.conversation.id, type=message_type, payload=payload, metadata=metadata
    )


async def echo_event(ctx: EventContext) -> None:
    if ctx.event.type == "chat.custom":
        await ctx.send_event(conversation_id=ctx.conversation.id, payload=ctx.event.payload)


conversation = Conversation(channel="chat.channel", handler=echo, on_event=echo_event)
