// The ticket page: macros, click-to-call, and changes made elsewhere shown in place.
// Forms with data-api are handled by apiforms.js.

import { callApi, refreshRegions } from "./apiforms.js";

const workspace = document.querySelector("[data-ticket]");
const csrf = () => document.querySelector('meta[name="csrf-token"]').content;
const ticket = workspace.dataset.ticket;

// Apply a macro: its reply and field changes at once, then the page shows them.
const macroForm = document.getElementById("macro-form");
macroForm?.addEventListener("submit", async (event) => {
  event.preventDefault();
  const alert = macroForm.querySelector('[role="alert"]');
  alert.hidden = true;
  try {
    await callApi("POST", `/api/tickets/${ticket}/macros/${macroForm.elements.macro.value}`);
    // One read of the page, the fields taken from it even if edited (the macro set them):
    // a second, later read would undo what the agent changes next.
    await refreshRegions(document.getElementById("ticket-fields"));
  } catch (error) {
    alert.textContent = error.message;
    alert.hidden = false;
  }
});

// Click-to-call: your softphone rings first, then the requester.
document.addEventListener("click", async (event) => {
  const button = event.target.closest("#call-requester");
  if (!button) return;
  const line = document.querySelector('[data-field="calling"]');
  button.disabled = true;
  try {
    const body = await callApi("POST", `/api/tickets/${ticket}/call`);
    line.textContent = `${body.message} Answer it on the Softphone page.`;
  } catch (error) {
    line.textContent = error.message;
  }
  button.disabled = false;
});

// Someone else changed this ticket (or a call landed on it): show it. The stream says so
// on every (re)connection too, so anything missed while away is read again.
const stream = new EventSource(`/tickets/${ticket}/events`);
stream.addEventListener("changed", (event) => {
  const { version } = JSON.parse(event.data);
  if (version !== workspace.dataset.version) {
    workspace.dataset.version = version;
    refreshRegions();
  }
});
document.addEventListener("regions-refreshed", () => {
  document.body.dataset.refreshed = String(Number(document.body.dataset.refreshed || 0) + 1);
});

// The time tracker. The timer is the server's: this page says start, pause, reset and
// "still here" every 15 s, and shows the seconds the server counts. It pauses while the
// tab is hidden or closed (and resumes when it comes back, unless you paused it).
const timerBox = document.getElementById("timer");
if (timerBox) {
  const clock = timerBox.querySelector('[data-field="timer"]');
  const stateLine = timerBox.querySelector('[data-field="timer-state"]');
  const toggle = document.getElementById("timer-toggle");
  let base = 0;
  let since = performance.now();
  let running = false;
  let youPaused = false;

  const show = () => {
    const seconds = base + (running ? Math.floor((performance.now() - since) / 1000) : 0);
    clock.textContent = `${Math.floor(seconds / 60)}:${String(seconds % 60).padStart(2, "0")}`;
    timerBox.dataset.seconds = String(seconds);
  };
  const take = (state) => {
    base = state.seconds;
    since = performance.now();
    running = state.running;
    timerBox.dataset.running = String(running);
    stateLine.textContent = running ? "running" : "paused";
    toggle.textContent = running ? "Pause timer" : "Resume timer";
    show();
  };
  const send = async (action, keepalive = false) => {
    const answer = await fetch(`/api/tickets/${ticket}/timer`, {
      method: "PUT", keepalive,
      headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf() },
      body: JSON.stringify({ action }),
    }).catch(() => null);
    if (answer?.ok) take(await answer.json());
  };
  const resync = async () => {
    const answer = await fetch(`/api/tickets/${ticket}/time`).catch(() => null);
    if (answer?.ok) take((await answer.json()).timer);
  };

  toggle.addEventListener("click", () => {
    youPaused = running;
    send(running ? "pause" : "start");
  });
  document.getElementById("timer-reset").addEventListener("click", () => send("reset"));
  document.addEventListener("visibilitychange", () => {
    if (document.visibilityState === "hidden") { if (running) send("pause", true); }
    else if (!youPaused) send("start");
  });
  window.addEventListener("pagehide", () => { if (running) send("pause", true); });
  // An update records the timer's time and restarts it from zero: read it again.
  document.addEventListener("regions-refreshed", resync);
  setInterval(show, 1000);
  setInterval(() => { if (running && document.visibilityState === "visible") send("heartbeat"); }, 15000);
  if (document.visibilityState === "visible") send("start");
  else take({ seconds: Number(timerBox.dataset.seconds), running: false });
}

// The ticket's live chat: Enter sends, the visitor sees that you type, End chat ends it,
// and "typing…" shows while the visitor types.
// (The line is part of the chat's box, which a refresh replaces: look it up each time.)
const typingLine = () => document.getElementById("chat-typing");
let visitorTypingUntil = 0;
stream.addEventListener("typing", (event) => {
  const { on } = JSON.parse(event.data);
  visitorTypingUntil = on ? Date.now() + 6000 : 0;
  if (typingLine()) typingLine().textContent = on ? "The visitor is typing…" : "";
});
setInterval(() => {
  if (visitorTypingUntil && Date.now() > visitorTypingUntil) {
    visitorTypingUntil = 0;
    if (typingLine()) typingLine().textContent = "";
  }
}, 1000);
// A chat that ended takes its reply box with it, even while the agent is typing there.
stream.addEventListener("chat", (event) => {
  const { status } = JSON.parse(event.data);
  refreshRegions(status === "closed" ? document.getElementById("chat-box") : null);
});

const chatId = () => document.querySelector("[data-chat]")?.dataset.chat;
let toldTypingAt = 0;
const tellTyping = (on) => {
  const id = chatId();
  if (!id) return;
  fetch(`/api/chats/${id}/typing`, {
    method: "POST",
    headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf() },
    body: JSON.stringify({ on }),
  }).catch(() => null);
};
document.addEventListener("input", (event) => {
  if (event.target.id !== "chat-body") return;
  if (Date.now() - toldTypingAt > 3000) {
    toldTypingAt = Date.now();
    tellTyping(true);
  }
});
document.addEventListener("keydown", (event) => {
  if (event.target.id !== "chat-body" || event.key !== "Enter" || event.shiftKey) return;
  event.preventDefault();
  if (event.target.value.trim()) event.target.form.requestSubmit();
});
document.addEventListener("api-done", (event) => {
  if (event.target.id === "chat-form") {
    toldTypingAt = 0;
    tellTyping(false);
  }
});
document.addEventListener("click", async (event) => {
  if (event.target.id !== "chat-end") return;
  const id = chatId();
  const alert = event.target.form.querySelector('[role="alert"]');
  try {
    await callApi("POST", `/api/chats/${id}/close`);
    await refreshRegions(document.getElementById("chat-box"));
  } catch (error) {
    alert.textContent = error.message;
    alert.hidden = false;
  }
});
