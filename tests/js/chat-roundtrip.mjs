// Drives a patchwire agent with the official @botpress/chat client and prints what happened as JSON.
// Usage: node chat-roundtrip.mjs <apiUrl> <text>
import * as chat from "@botpress/chat";

const [apiUrl, text] = process.argv.slice(2);
const fail = (message) => {
  console.error(message);
  process.exit(1);
};
const timer = setTimeout(() => fail("no reply within 20 seconds"), 20000);

const client = await chat.Client.connect({ apiUrl });
const { conversation } = await client.createConversation({});
const listener = await client.listenConversation({ id: conversation.id });
const reply = new Promise((resolve) => {
  listener.on("message_created", (message) => {
    if (message.userId !== client.user.id) resolve(message);
  });
});
const { message: sent } = await client.createMessage({
  conversationId: conversation.id,
  payload: { type: "text", text },
});
const received = await reply;
await listener.disconnect();
const { messages } = await client.listMessages({ conversationId: conversation.id });

let notFound = null;
try {
  await client.getConversation({ id: "no-such-conversation" });
} catch (error) {
  notFound = { name: error.constructor.name, code: error.code, type: error.type };
}
let unauthorized = null;
try {
  await new chat.Client({ apiUrl }).getUser({ "x-user-key": "not-a-key" });
} catch (error) {
  unauthorized = { name: error.constructor.name, code: error.code, type: error.type };
}

clearTimeout(timer);
console.log(JSON.stringify({ user: client.user.id, conversation: conversation.id, sent, received, listed: messages, notFound, unauthorized }));
