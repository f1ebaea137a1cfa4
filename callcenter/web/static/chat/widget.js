// The chat widget: one <script src=".../chat/widget.js" defer></script> on a site's pages.
//
// It draws a "Chat with us" button and its panel in a shadow root (the site's styles and
// ours stay apart), talks to the app over one WebSocket, and keeps the visitor's token in
// the site's local storage, so a visitor is the same visitor on every page and visit. A
// message is kept until the app has it: one sent while the connection is down goes when it
// is back, under the same id, and the app keeps it once.
// Optional attributes on the script tag: data-title (the panel's heading).
(() => {
  const script = document.currentScript;
  const base = new URL(script.src);
  const socketUrl = `${base.protocol === "https:" ? "wss:" : "ws:"}//${base.host}/chat/socket`;
  const storageKey = `callcenter-chat:${base.host}`;
  const title = script.dataset.title || "Chat with us";

  const css = `
    :host { all: initial; font: 15px/1.4 system-ui, sans-serif; color: #1b1f24; }
    .launcher { position: fixed; right: 20px; bottom: 20px; z-index: 2147483000;
      background: #1f5fbf; color: #fff; border: 0; border-radius: 24px; padding: 12px 18px;
      font: inherit; font-weight: 600; cursor: pointer; box-shadow: 0 2px 8px #0004; }
    .launcher:focus-visible, button:focus-visible, input:focus-visible, textarea:focus-visible {
      outline: 3px solid #f5b400; outline-offset: 2px; }
    .panel { position: fixed; right: 20px; bottom: 76px; z-index: 2147483000; width: 340px;
      max-width: calc(100vw - 40px); max-height: calc(100vh - 100px); display: flex;
      flex-direction: column; background: #fff; border: 1px solid #c9d1db; border-radius: 10px;
      box-shadow: 0 4px 20px #0003; overflow: hidden; }
    .panel[hidden] { display: none; }
    header { display: flex; justify-content: space-between; align-items: center;
      background: #1f5fbf; color: #fff; padding: 10px 12px; }
    h2 { font-size: 16px; margin: 0; }
    header button { background: transparent; color: #fff; border: 1px solid #fff8;
      border-radius: 6px; font: inherit; padding: 2px 8px; cursor: pointer; }
    .status { margin: 0; padding: 6px 12px; background: #eef3fa; font-size: 13px; }
    ol { list-style: none; margin: 0; padding: 10px 12px; overflow-y: auto; flex: 1;
      min-height: 120px; }
    li { margin: 6px 0; max-width: 85%; padding: 6px 10px; border-radius: 10px;
      background: #eef1f4; white-space: pre-wrap; overflow-wrap: anywhere; }
    li.visitor { margin-left: auto; background: #1f5fbf; color: #fff; }
    li.pending { opacity: .6; }
    li .who { display: block; font-size: 12px; font-weight: 600; }
    .typing { margin: 0; padding: 0 12px; min-height: 1.4em; font-size: 13px; color: #4a5563; }
    form { display: flex; flex-direction: column; gap: 6px; padding: 10px 12px;
      border-top: 1px solid #e1e6ec; }
    form[hidden] { display: none; }
    label { font-size: 13px; font-weight: 600; }
    input, textarea { font: inherit; padding: 6px 8px; border: 1px solid #9aa5b1;
      border-radius: 6px; }
    textarea { resize: vertical; }
    .row { display: flex; gap: 6px; }
    .row button { flex: 1; }
    form button { font: inherit; padding: 8px; border: 0; border-radius: 6px;
      background: #1f5fbf; color: #fff; font-weight: 600; cursor: pointer; }
    form button.secondary { background: #e1e6ec; color: #1b1f24; }
    .error { color: #a4161a; margin: 0; font-size: 13px; }
    .error:empty { display: none; }
    .hint { margin: 0; font-size: 13px; color: #4a5563; }
  `;

  const host = document.createElement("div");
  host.setAttribute("data-callcenter-chat", "");
  const root = host.attachShadow({ mode: "open" });
  const sheet = new CSSStyleSheet();
  sheet.replaceSync(css);
  root.adoptedStyleSheets = [sheet];
  root.innerHTML = `
    <button class="launcher" type="button" aria-expanded="false" aria-controls="panel"></button>
    <section class="panel" id="panel" role="dialog" aria-labelledby="chat-title" hidden>
      <header><h2 id="chat-title"></h2><button type="button" data-close>Close</button></header>
      <p class="status" role="status" data-status>Connecting…</p>
      <ol aria-label="Messages" role="log" aria-live="polite" data-log></ol>
      <p class="typing" aria-live="polite" data-typing></p>
      <form data-start hidden aria-label="Start a chat">
        <p class="hint">Tell us who you are (optional), and what you need.</p>
        <label for="start-name">Your name</label><input id="start-name" name="name" autocomplete="name" maxlength="200">
        <label for="start-email">Your email (optional)</label><input id="start-email" name="email" type="email" autocomplete="email" maxlength="254">
        <label for="start-phone">Your phone number (optional)</label><input id="start-phone" name="phone" type="tel" autocomplete="tel" maxlength="40">
        <label for="start-message">Your message</label><textarea id="start-message" name="body" rows="3" required></textarea>
        <p class="error" role="alert" data-error></p>
        <button type="submit">Start chat</button>
      </form>
      <form data-talk hidden aria-label="Send a message">
        <label for="talk-message">Message</label><textarea id="talk-message" name="body" rows="2" required></textarea>
        <p class="error" role="alert" data-error></p>
        <div class="row"><button type="submit">Send</button><button type="button" class="secondary" data-end>End chat</button></div>
      </form>
      <form data-leave hidden aria-label="Leave a message">
        <p class="hint">Nobody is here to chat right now. Leave a message and we will answer you by email.</p>
        <label for="leave-name">Your name</label><input id="leave-name" name="name" autocomplete="name" maxlength="200">
        <label for="leave-email">Your email</label><input id="leave-email" name="email" type="email" autocomplete="email" required maxlength="254">
        <label for="leave-message">Your message</label><textarea id="leave-message" name="body" rows="3" required></textarea>
        <p class="error" role="alert" data-error></p>
        <button type="submit">Send message</button>
      </form>
      <form data-done hidden aria-label="Chat ended">
        <p class="hint" data-done-text>This chat has ended. Thank you!</p>
        <button type="button" data-again>Start a new chat</button>
      </form>
    </section>`;
  root.querySelector(".launcher").textContent = title;
  root.querySelector("#chat-title").textContent = title;
  document.body.append(host);

  const $ = (selector) => root.querySelector(selector);
  const launcher = $(".launcher");
  const panel = $(".panel");
  const log = $("[data-log]");
  const statusLine = $("[data-status]");
  const typingLine = $("[data-typing]");
  const forms = { start: $("[data-start]"), talk: $("[data-talk]"), leave: $("[data-leave]"), done: $("[data-done]") };
  let socket = null;
  let ready = false;
  let online = false;
  let chat = null; // { id, status, agent }
  let retry = 500;
  let limit = 2000;
  const outbox = new Map(); // id -> frame, until the app sends the message back
  const shown = new Set();

  const newId = () => (crypto.randomUUID ? crypto.randomUUID()
    : `${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 12)}`);
  const send = (frame) => { if (socket?.readyState === WebSocket.OPEN) socket.send(JSON.stringify(frame)); };

  function show(which) {
    const focused = root.activeElement;
    const lost = focused && Object.values(forms).some((form) => form.contains(focused));
    for (const [name, form] of Object.entries(forms)) form.hidden = name !== which;
    // The control that had focus went away with its form: focus the form that took its place.
    if (lost && focused.closest("form").hidden) forms[which].querySelector("textarea, input, button")?.focus();
  }

  function showForm() {
    if (chat && chat.status !== "closed") show("talk");
    else if (chat?.status === "closed") show("done");
    else show(online ? "start" : "leave");
  }

  function describe() {
    if (!ready) statusLine.textContent = "Connecting…";
    else if (!chat) statusLine.textContent = online ? "We are online." : "We are away right now.";
    else if (chat.status === "waiting") statusLine.textContent = "Waiting for an agent: you are in line.";
    else if (chat.status === "active") statusLine.textContent = `You are chatting with ${chat.agent || "an agent"}.`;
    else statusLine.textContent = "The chat has ended.";
  }

  function addMessage(message, pending = false) {
    const key = message.client_id || `event-${message.id}`;
    let item = log.querySelector(`[data-key="${CSS.escape(key)}"]`);
    if (shown.has(key) && item) {
      item.classList.toggle("pending", pending);
      return;
    }
    shown.add(key);
    item = document.createElement("li");
    item.dataset.key = key;
    item.className = message.from === "visitor" ? "visitor" : "agent";
    if (pending) item.classList.add("pending");
    const who = document.createElement("span");
    who.className = "who";
    // "Sam: Hello" to a screen reader, not "SamHello".
    who.textContent = `${message.from === "visitor" ? "You" : (message.name || "Agent")}:`;
    item.append(who, document.createTextNode(message.body));
    log.append(item);
    log.scrollTop = log.scrollHeight;
  }

  function flush() {
    for (const frame of outbox.values()) send(frame);
  }

  function connect() {
    socket = new WebSocket(socketUrl);
    socket.addEventListener("open", () => {
      retry = 500;
      send({ type: "hello", token: localStorage.getItem(storageKey) });
    });
    socket.addEventListener("message", (event) => {
      const data = JSON.parse(event.data);
      if (data.type === "welcome") {
        localStorage.setItem(storageKey, data.token);
        ready = true;
        online = data.online;
        limit = data.limit;
        chat = data.conversation;
        for (const message of data.messages) { addMessage(message); outbox.delete(message.client_id); }
        if (data.name) { forms.start.elements.name.value = data.name; forms.leave.elements.name.value = data.name; }
        flush();
      } else if (data.type === "message") {
        addMessage(data);
        if (data.client_id) outbox.delete(data.client_id);
        if (data.from === "agent") typingLine.textContent = "";
      } else if (data.type === "status") {
        const changed = !chat || chat.status !== data.status;
        chat = data;
        if (changed && data.status === "closed") typingLine.textContent = "";
      } else if (data.type === "typing") {
        typingLine.textContent = data.on ? `${data.name || "The agent"} is typing…` : "";
        clearTimeout(typingLine.timer);
        if (data.on) typingLine.timer = setTimeout(() => { typingLine.textContent = ""; }, 6000);
      } else if (data.type === "left") {
        forms.done.querySelector("[data-done-text]").textContent = data.ok
          ? "Thank you: we have your message and will answer you by email." : "We cannot take this message.";
        outbox.clear();
        show("done");
        describe();
        return;
      } else if (data.type === "error") {
        const visible = Object.values(forms).find((form) => !form.hidden);
        const line = visible?.querySelector("[data-error]");
        if (line) line.textContent = data.message;
        // Refused (too fast, too long, not valid): not kept, so not shown as sent.
        for (const [id, frame] of outbox) {
          if (!frame.sent) continue;
          outbox.delete(id);
          shown.delete(id);
          log.querySelector(`[data-key="${CSS.escape(id)}"]`)?.remove();
          if (frame.type === "start" && chat && !chat.id) chat = null;
        }
      }
      describe();
      if (data.type !== "typing") showForm();
    });
    socket.addEventListener("close", () => {
      ready = false;
      describe();
      setTimeout(connect, retry);
      retry = Math.min(retry * 2, 10000);
    });
  }

  function submitted(form, type, extra = {}) {
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      const body = form.elements.body.value.trim().slice(0, limit);
      if (!body) return;
      form.querySelector("[data-error]").textContent = "";
      const id = newId();
      const frame = { type, id, body, ...extra(form) };
      outbox.set(id, frame);
      if (type !== "leave") addMessage({ client_id: id, from: "visitor", body }, true);
      send(frame);
      frame.sent = true;
      form.elements.body.value = "";
      if (type === "start") chat = { status: "waiting" };
      describe();
      showForm();
      forms.talk.elements.body.focus();
    });
  }
  const about = (form) => ({
    name: form.elements.name.value, email: form.elements.email.value,
    phone: form.elements.phone?.value || "",
  });
  submitted(forms.start, "start", about);
  submitted(forms.talk, "message", () => ({}));
  submitted(forms.leave, "leave", about);

  let toldAt = 0;
  let quiet = null;
  forms.talk.elements.body.addEventListener("input", () => {
    if (Date.now() - toldAt > 2500) { toldAt = Date.now(); send({ type: "typing", on: true }); }
    clearTimeout(quiet);
    quiet = setTimeout(() => { toldAt = 0; send({ type: "typing", on: false }); }, 3000);
  });
  forms.talk.elements.body.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey) { event.preventDefault(); forms.talk.requestSubmit(); }
  });
  forms.talk.querySelector("[data-end]").addEventListener("click", () => send({ type: "end" }));
  forms.done.querySelector("[data-again]").addEventListener("click", () => {
    chat = null;
    log.replaceChildren();
    shown.clear();
    describe();
    showForm();
  });

  const toggle = (open) => {
    panel.hidden = !open;
    launcher.setAttribute("aria-expanded", String(open));
    if (open) (Object.values(forms).find((form) => !form.hidden)?.querySelector("textarea, input, button"))?.focus();
    else launcher.focus();
  };
  launcher.addEventListener("click", () => toggle(panel.hidden));
  $("[data-close]").addEventListener("click", () => toggle(false));
  root.addEventListener("keydown", (event) => { if (event.key === "Escape" && !panel.hidden) toggle(false); });

  connect();
})();
