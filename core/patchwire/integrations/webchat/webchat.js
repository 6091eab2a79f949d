// The web chat: the full page at the integration's base URL, and the bubble one <script> tag adds
// to any page of an allowed origin. The server calls this function with the integration's page
// options and, when embedded, the <script> element that loaded it (whose URL is the API's).
function patchwireWebchat(options, script) {
  "use strict";
  const embedded = Boolean(script);
  const base = embedded
    ? new URL(script.src).href.replace(/\/embed\.js(?:[?#].*)?$/, "")
    : location.origin + location.pathname.replace(/\/+$/, "");
  const storageKey = "patchwire.webchat:" + base;
  const botUserId = options.botUserId;
  const rendered = new Map();
  const people = new Map();
  const pending = new Set();
  let session = JSON.parse(localStorage.getItem(storageKey) || "{}");
  let connection = "connecting";
  let retryDelay = 500;
  let ready = null;
  let ui = null;

  const css = `
    :host, .pw-chat { --accent: ${cssColor(options.accentColor)}; --bg: #f4f5f7; --text: #1d2330; --muted: #5b6475; }
    .pw-chat, .pw-chat * { box-sizing: border-box; }
    .pw-chat { display: flex; flex-direction: column; height: 100%; background: var(--bg); color: var(--text); font: 15px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; }
    .pw-chat header { padding: 10px 14px; background: var(--accent); color: #fff; display: flex; align-items: center; gap: 10px; }
    .pw-chat header img { width: 34px; height: 34px; border-radius: 50%; object-fit: cover; background: #fff; }
    .pw-chat header h1 { font-size: 16px; margin: 0; }
    .pw-chat header .titles { display: flex; flex-direction: column; min-width: 0; flex: 1; }
    #status { font-size: 12px; opacity: .9; }
    #status[data-connection="reconnecting"]::before { content: ""; display: inline-block; width: 7px; height: 7px; border-radius: 50%; background: #ffd26a; margin-right: 5px; }
    #messages { flex: 1; overflow-y: auto; padding: 12px; display: flex; flex-direction: column; gap: 8px; }
    .welcome, .notice { align-self: center; font-size: 13px; color: var(--muted); background: #fff; border-radius: 12px; padding: 4px 12px; text-align: center; max-width: 90%; }
    .welcome { align-self: flex-start; text-align: left; color: var(--text); font-size: 15px; border-radius: 14px; padding: 8px 12px; }
    .row { display: flex; flex-direction: column; align-items: flex-start; max-width: 100%; }
    .row.mine { align-items: flex-end; }
    .author { display: flex; align-items: center; gap: 6px; font-size: 12px; color: var(--muted); margin: 0 4px 2px; }
    .author img { width: 22px; height: 22px; border-radius: 50%; object-fit: cover; }
    .bubble { background: #fff; border-radius: 14px; padding: 8px 12px; max-width: min(80%, 520px); overflow-wrap: anywhere; box-shadow: 0 1px 1px rgba(0,0,0,.06); }
    .mine .bubble { background: var(--accent); color: #fff; }
    .mine .bubble a { color: #fff; }
    .meta { font-size: 11px; color: var(--muted); margin: 2px 6px 0; display: flex; gap: 6px; align-items: center; }
    .pending .bubble { opacity: .7; }
    .failed .bubble { opacity: 1; background: #fff; color: var(--text); border: 1px dashed #b9bfcc; }
    .meta button { font: inherit; font-size: 12px; border: 1px solid var(--accent); color: var(--accent); background: #fff; border-radius: 10px; padding: 1px 8px; cursor: pointer; }
    .bubble img.media { display: block; max-width: 100%; border-radius: 8px; }
    .bubble video, .bubble audio { max-width: 100%; }
    .bubble p { margin: 0 0 4px; }
    .bubble p:last-child { margin-bottom: 0; }
    .bubble pre { white-space: pre-wrap; background: rgba(0,0,0,.06); padding: 6px; border-radius: 6px; }
    .card { border: 1px solid #e1e4ea; border-radius: 10px; overflow: hidden; background: #fff; color: var(--text); margin: 2px 0; }
    .card .body { padding: 8px 10px; }
    .card .title { font-weight: 600; }
    .card .subtitle { font-size: 13px; color: var(--muted); }
    .carousel { display: flex; gap: 8px; overflow-x: auto; max-width: 100%; }
    .carousel .card { min-width: 200px; }
    .buttons { display: flex; flex-wrap: wrap; gap: 6px; margin-top: 6px; }
    .buttons button, .buttons a { border: 1px solid var(--accent); background: #fff; color: var(--accent); border-radius: 16px; padding: 4px 12px; font: inherit; cursor: pointer; text-decoration: none; }
    .bloc > * + * { margin-top: 6px; }
    .pw-chat form { display: flex; gap: 8px; padding: 10px; background: #fff; border-top: 1px solid #e1e4ea; padding-bottom: max(10px, env(safe-area-inset-bottom)); }
    #input { flex: 1; min-width: 0; font: inherit; padding: 10px 12px; border: 1px solid #c9ceda; border-radius: 20px; }
    #send { font: inherit; padding: 0 16px; border: 0; border-radius: 20px; background: var(--accent); color: #fff; cursor: pointer; }
    .pw-chat :focus-visible, .launcher:focus-visible, .close:focus-visible { outline: 3px solid #ffb02e; outline-offset: 2px; }
    .sr-only { position: absolute; width: 1px; height: 1px; overflow: hidden; clip: rect(0 0 0 0); white-space: nowrap; }
    .launcher { position: fixed; right: 20px; bottom: 20px; width: 58px; height: 58px; border-radius: 50%; border: 0; background: var(--accent); color: #fff; box-shadow: 0 4px 14px rgba(0,0,0,.25); cursor: pointer; display: flex; align-items: center; justify-content: center; z-index: 2147483000; }
    .launcher img { width: 100%; height: 100%; border-radius: 50%; object-fit: cover; }
    .launcher svg { width: 28px; height: 28px; fill: currentColor; }
    .panel { position: fixed; right: 20px; bottom: 90px; width: min(380px, calc(100vw - 24px)); height: min(600px, calc(100vh - 110px)); border-radius: 14px; overflow: hidden; box-shadow: 0 8px 30px rgba(0,0,0,.25); z-index: 2147483000; }
    .panel[hidden] { display: none; }
    .close { background: transparent; border: 0; color: #fff; font-size: 22px; line-height: 1; cursor: pointer; padding: 2px 6px; }
  `;

  function cssColor(value) {
    return /^#[0-9a-f]{3,8}$/i.test(value || "") ? value : "#2f5bea";
  }

  function element(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  // --- the frame: the full page, or a launcher button and a panel in a shadow root ------------

  function mount() {
    const chat = element("section", "pw-chat");
    chat.setAttribute("aria-label", "Chat with " + options.botName);
    const header = element("header");
    if (options.botAvatarUrl) header.append(avatar(options.botAvatarUrl, ""));
    const titles = element("div", "titles");
    titles.append(element("h1", "", options.botName));
    const status = element("span", "", "connecting…");
    status.id = "status";
    status.setAttribute("role", "status");
    titles.append(status);
    header.append(titles);
    const list = element("div");
    list.id = "messages";
    list.setAttribute("role", "log");
    list.setAttribute("aria-live", "polite");
    list.setAttribute("aria-label", "Messages");
    list.tabIndex = 0;
    if (options.welcomeText) list.append(element("div", "welcome", options.welcomeText));
    const form = element("form");
    form.autocomplete = "off";
    const label = element("label", "sr-only", "Message to " + options.botName);
    label.htmlFor = "input";
    const input = element("input");
    Object.assign(input, { id: "input", name: "text", placeholder: "Type a message", maxLength: 4000 });
    const sendButton = element("button", "", "Send");
    Object.assign(sendButton, { id: "send", type: "submit" });
    form.append(label, input, sendButton);
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      const text = input.value;
      input.value = "";
      send(text);
    });
    chat.append(header, list, form);
    const style = element("style", "", css);
    if (!embedded) {
      document.head.append(style);
      document.body.append(chat);
      input.focus();
      return { list, status, input, header };
    }
    const host = element("div");
    host.id = "patchwire-webchat";
    const shadow = host.attachShadow({ mode: "open" });
    const launcher = element("button", "launcher");
    launcher.type = "button";
    launcher.setAttribute("aria-label", "Chat with " + options.botName);
    launcher.setAttribute("aria-expanded", "false");
    if (options.botAvatarUrl) launcher.append(avatar(options.botAvatarUrl, ""));
    else launcher.innerHTML = '<svg viewBox="0 0 24 24" aria-hidden="true"><path d="M4 4h16a2 2 0 0 1 2 2v10a2 2 0 0 1-2 2H8l-4 4V6a2 2 0 0 1 2-2z"/></svg>';
    const panel = element("div", "panel");
    panel.hidden = true;
    panel.setAttribute("role", "dialog");
    panel.setAttribute("aria-label", "Chat with " + options.botName);
    const close = element("button", "close", "×");
    close.type = "button";
    close.setAttribute("aria-label", "Close the chat");
    header.append(close);
    panel.append(chat);
    const toggle = (open) => {
      panel.hidden = !open;
      launcher.setAttribute("aria-expanded", String(open));
      if (open) { input.focus(); start(); } else launcher.focus();
    };
    launcher.addEventListener("click", () => toggle(panel.hidden));
    close.addEventListener("click", () => toggle(false));
    panel.addEventListener("keydown", (event) => { if (event.key === "Escape") toggle(false); });
    shadow.append(style, panel, launcher);
    document.body.append(host);
    return { list, status, input, header };
  }

  function avatar(url, alt) {
    const img = element("img");
    img.src = safeUrl(url);
    img.alt = alt;
    img.addEventListener("error", () => img.remove());
    return img;
  }

  // --- the API ----------------------------------------------------------------------------

  class ApiError extends Error {
    constructor(status, body) { super(body.message || ("HTTP " + status)); this.status = status; this.type = body.type; }
  }

  async function call(method, path, body) {
    const headers = { "content-type": "application/json" };
    if (session.userKey) headers["x-user-key"] = session.userKey;
    const response = await fetch(base + path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
    const data = await response.json().catch(() => ({}));
    if (!response.ok) throw new ApiError(response.status, data);
    return data;
  }

  function save() { localStorage.setItem(storageKey, JSON.stringify(session)); }
  const conversationPath = () => "/conversations/" + encodeURIComponent(session.conversationId);

  async function ensureUser() {
    if (session.userKey) {
      try { session.user = (await call("GET", "/users/me")).user; return; }
      catch (error) { if (![401, 404].includes(error.status)) throw error; }
    }
    session = {};
    const created = await call("POST", "/users", {});
    session.userKey = created.key;
    session.user = created.user;
    save();
  }

  async function ensureConversation() {
    if (session.conversationId) {
      try { await call("GET", conversationPath()); return; }
      catch (error) { if (![403, 404].includes(error.status)) throw error; }
    }
    session.conversationId = (await call("POST", "/conversations", {})).conversation.id;
    delete session.handoff;
    save();
  }

  async function catchUp() {
    const fetched = [];
    let token;
    do {
      const query = token ? "?nextToken=" + encodeURIComponent(token) : "";
      const page = await call("GET", conversationPath() + "/messages" + query);
      fetched.push(...page.messages);
      token = page.meta && page.meta.nextToken;
      if (page.messages.some((m) => rendered.has(m.id))) break;
    } while (token);
    fetched.reverse().forEach(show);
  }

  // --- rendering ----------------------------------------------------------------------------

  function safeUrl(url) {
    try { const parsed = new URL(url, location.href); return ["http:", "https:", "data:", "blob:"].includes(parsed.protocol) ? parsed.href : "#"; }
    catch { return "#"; }
  }

  function link(text, url, className) {
    const node = element("a", className || "", text);
    node.href = safeUrl(url); node.target = "_blank"; node.rel = "noopener";
    return node;
  }

  // An image that cannot be loaded becomes a link to it, never a broken-image icon.
  function image(url, alt) {
    const img = element("img", "media");
    img.src = safeUrl(url);
    img.alt = alt;
    img.addEventListener("error", () => img.replaceWith(link("Open image" + (alt && alt !== "image" ? ": " + alt : ""), url, "broken-image")));
    return img;
  }

  function markdown(source) {
    const escaped = source.replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);
    const inline = (text) => text
      .replace(/`([^`]+)`/g, "<code>$1</code>")
      .replace(/\*\*([^*]+)\*\*/g, "<strong>$1</strong>")
      .replace(/(^|[^*])\*([^*]+)\*/g, "$1<em>$2</em>")
      .replace(/\[([^\]]+)\]\(([^)\s]+)\)/g, (_, label, url) => '<a target="_blank" rel="noopener" href="' + safeUrl(url.replace(/&amp;/g, "&")) + '">' + label + "</a>");
    const node = element("div", "markdown");
    node.innerHTML = escaped.split(/```/).map((part, index) => index % 2
      ? "<pre>" + part.replace(/^\n/, "") + "</pre>"
      : part.split(/\n{2,}/).filter((p) => p.trim()).map((p) => "<p>" + inline(p).replace(/\n/g, "<br>") + "</p>").join("")).join("");
    return node;
  }

  function buttons(items, onPick) {
    const row = element("div", "buttons");
    for (const item of items) {
      if (item.action === "url") { row.append(link(item.label, item.value)); continue; }
      const button = element("button", "", item.label);
      button.type = "button";
      button.addEventListener("click", () => onPick(item));
      row.append(button);
    }
    return row;
  }

  function card(payload) {
    const node = element("div", "card");
    if (payload.imageUrl) node.append(image(payload.imageUrl, payload.title));
    const body = element("div", "body");
    body.append(element("div", "title", payload.title));
    if (payload.subtitle) body.append(element("div", "subtitle", payload.subtitle));
    body.append(buttons(payload.actions || [], (action) => send(action.label, action.value)));
    node.append(body);
    return node;
  }

  function content(payload) {
    switch (payload.type) {
      case "text": { const node = element("div", "text"); node.append(...payload.text.split("\n").flatMap((line, i) => i ? [element("br"), line] : [line])); return node; }
      case "markdown": return markdown(payload.markdown);
      case "image": return image(payload.imageUrl, payload.title || "image");
      case "audio": { const audio = element("audio"); audio.controls = true; audio.src = safeUrl(payload.audioUrl); return audio; }
      case "video": { const video = element("video"); video.controls = true; video.src = safeUrl(payload.videoUrl); return video; }
      case "file": return link("Download " + (payload.title || payload.fileUrl.split("/").pop() || "file"), payload.fileUrl, "file");
      case "location": return link("Map: " + (payload.title || payload.address || payload.latitude + ", " + payload.longitude), "https://www.openstreetmap.org/?mlat=" + payload.latitude + "&mlon=" + payload.longitude, "location");
      case "card": return card(payload);
      case "carousel": { const node = element("div", "carousel"); node.append(...payload.items.map(card)); return node; }
      case "choice":
      case "dropdown": { const node = element("div", "choice"); node.append(element("div", "text", payload.text), buttons(payload.options, (option) => send(option.label, option.value))); return node; }
      case "bloc": { const node = element("div", "bloc"); node.append(...payload.items.map(content)); return node; }
      default: return element("div", "text", "[unsupported message: " + payload.type + "]");
    }
  }

  function clock(iso) {
    const time = element("time", "", new Date(iso).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" }));
    time.dateTime = iso;
    return time;
  }

  // Who sent a message: the bot from the page options (no request), anyone else from the API.
  async function person(userId) {
    if (userId === botUserId) return { name: options.botName, pictureUrl: options.botAvatarUrl };
    if (!people.has(userId)) {
      people.set(userId, call("GET", conversationPath() + "/participants/" + encodeURIComponent(userId))
        .then((answer) => answer.participant).catch(() => null));
    }
    return people.get(userId);
  }

  function place(row, createdAt) {
    const list = ui.list;
    const stickToBottom = list.scrollHeight - list.scrollTop - list.clientHeight < 40;
    row.dataset.createdAt = createdAt;
    const later = [...list.children].find((other) => other.dataset.createdAt > createdAt);
    list.insertBefore(row, later || null);
    if (stickToBottom || row.classList.contains("mine")) list.scrollTop = list.scrollHeight;
  }

  function show(message) {
    if (rendered.has(message.id)) return;
    const mine = session.user && message.userId === session.user.id;
    if (mine) settle(message.payload);
    const row = element("div", "row " + (mine ? "mine" : "theirs"));
    row.dataset.messageId = message.id;
    row.dataset.userId = message.userId;
    if (mine) row.append(element("span", "sr-only", "You said:"));
    const bubble = element("div", "bubble");
    bubble.append(content(message.payload));
    const meta = element("div", "meta");
    meta.append(clock(message.createdAt));
    row.append(bubble, meta);
    rendered.set(message.id, row);
    place(row, message.createdAt);
    if (!mine) {
      person(message.userId).then((who) => {
        if (!who || !(who.name || who.pictureUrl)) return;
        const author = element("div", "author");
        if (who.pictureUrl) author.append(avatar(who.pictureUrl, ""));
        author.append(element("span", "name", who.name || ""));
        row.prepend(author);
      });
    }
  }

  function notice(text) {
    const node = element("div", "notice", text);
    place(node, new Date().toISOString());
  }

  function forget(id) {
    const row = rendered.get(id);
    if (row) { row.remove(); rendered.delete(id); }
  }

  // --- status: the connection, then the handoff to a human agent --------------------------

  const HANDOFF_STATUS = {
    waiting: () => "Waiting for a human agent…",
    assigned: (name) => "Talking to " + name,
    ended: () => "Back with " + options.botName,
  };

  function refreshStatus() {
    const handoff = session.handoff;
    let text = { connecting: "connecting…", online: "online", reconnecting: "reconnecting…", unavailable: "not available on this site" }[connection];
    if (connection === "online" && handoff) text = HANDOFF_STATUS[handoff.state](handoff.agentName || "a human agent");
    ui.status.textContent = text;
    ui.status.dataset.connection = connection;
    ui.status.dataset.handoff = handoff ? handoff.state : "";
  }

  function setConnection(state) { connection = state; refreshStatus(); }

  function handoff(event) {
    const { state, agentName } = event;
    if (!(state in HANDOFF_STATUS)) return;
    const name = agentName || "A human agent";
    const previous = session.handoff;
    if (state === "waiting") notice("Waiting for a human agent to join…");
    else if (state === "assigned") notice(name + " joined the conversation");
    else notice((previous && previous.agentName ? previous.agentName + " left the conversation. " : "") + "You are back with " + options.botName + ".");
    session.handoff = { state, agentName: agentName || (previous && previous.agentName) || null };
    save();
    refreshStatus();
  }

  async function joined(userId) {
    people.delete(userId);
    if (userId === botUserId || (session.user && userId === session.user.id)) return;
    const who = await person(userId);
    const announced = session.handoff && session.handoff.agentName;
    if (who && who.name && who.name !== announced) notice(who.name + " joined the conversation");
  }

  // --- sending: shown at once, kept with a retry when it cannot be sent -------------------

  function send(text, value) {
    const shown = text.trim();
    if (!shown) return;
    const payload = { type: "text", text: value !== undefined && value !== text ? value : shown };
    const row = element("div", "row mine pending");
    row.append(element("span", "sr-only", "You said:"));
    const bubble = element("div", "bubble");
    bubble.append(content(payload));
    const meta = element("div", "meta", "sending…");
    row.append(bubble, meta);
    place(row, "~");
    deliver(row, payload);
  }

  // The stream may bring a sent message before its POST answers: it replaces the pending row.
  function settle(payload) {
    const sent = JSON.stringify(payload);
    const row = [...pending].find((each) => each.dataset.payload === sent && each.classList.contains("pending"));
    if (row) { pending.delete(row); row.remove(); }
  }

  async function deliver(row, payload) {
    pending.add(row);
    row.dataset.payload = JSON.stringify(payload);
    row.className = "row mine pending";
    row.querySelector(".meta").replaceChildren("sending…");
    try {
      await (ready || start());
      const { message } = await call("POST", "/messages", { conversationId: session.conversationId, payload });
      pending.delete(row);
      row.remove();
      show(message);
    } catch (error) {
      row.className = "row mine failed";
      const retry = element("button", "retry", "Retry");
      retry.type = "button";
      retry.setAttribute("aria-label", "Retry sending: " + (payload.text || ""));
      retry.addEventListener("click", () => deliver(row, payload));
      row.querySelector(".meta").replaceChildren(element("span", "", "Not sent."), retry);
    }
  }

  // --- the signal stream ------------------------------------------------------------------

  async function listen() {
    const response = await fetch(base + conversationPath() + "/listen", {
      headers: { "x-user-key": session.userKey, accept: "text/event-stream" },
    });
    if (!response.ok || !response.body) throw new ApiError(response.status, await response.json().catch(() => ({})));
    retryDelay = 500;
    await catchUp();
    setConnection("online");
    const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      buffer += value;
      let cut;
      while ((cut = buffer.indexOf("\n\n")) >= 0) {
        const frame = buffer.slice(0, cut);
        buffer = buffer.slice(cut + 2);
        const data = frame.split("\n").filter((line) => line.startsWith("data:")).map((line) => line.slice(5).trimStart()).join("\n");
        if (!data || data === "ping") continue;
        const signal = JSON.parse(data);
        if (signal.type === "message_created") show(signal.data);
        else if (signal.type === "message_deleted") forget(signal.data.id);
        else if (signal.type === "participant_added") joined(signal.data.participantId);
        else if (signal.type === "participant_removed") people.delete(signal.data.participantId);
        else if (signal.type === "event_created" && signal.data.payload && signal.data.payload.type === "patchwire.handoff") handoff(signal.data.payload);
      }
    }
  }

  async function pause() {
    await new Promise((resolve) => setTimeout(resolve, retryDelay));
    retryDelay = Math.min(retryDelay * 2, 10000);
  }

  async function stayConnected() {
    for (;;) {
      try { await listen(); }
      catch (error) {
        if (error instanceof ApiError && [401, 403, 404].includes(error.status)) { ready = null; start(); return; }
      }
      setConnection("reconnecting");
      await pause();
    }
  }

  // The API refuses other origins anyway (CORS); saying so here tells the site's owner why.
  function refuseOrigin() {
    const reason = "This chat is not enabled on " + location.origin + ": add it to allowedOrigins of the agent's webchat integration.";
    console.error("patchwire web chat: " + reason);
    setConnection("unavailable");
    notice(reason);
    ready = Promise.reject(new Error(reason));
    ready.catch(() => {});
    return ready;
  }

  function start() {
    if (ready) return ready;
    if (embedded && !options.allowedOrigins.includes(location.origin)) return refuseOrigin();
    ready = (async () => {
      for (;;) {
        try { await ensureUser(); await ensureConversation(); break; }
        catch (error) { setConnection("reconnecting"); await pause(); }
      }
      refreshStatus();
      stayConnected();
    })();
    return ready;
  }

  function boot() {
    ui = mount();
    refreshStatus();
    if (!embedded) start();
  }

  if (document.body) boot();
  else document.addEventListener("DOMContentLoaded", boot, { once: true });
}
