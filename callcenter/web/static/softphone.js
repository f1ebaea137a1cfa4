// The agent's page: the softphone and the agent's state.
//
// The agent's state and work (the call ringing, talked through or wrapped up, with its
// caller's tickets) come from the server on /agent/events; the phone is a `Device` with
// Twilio's Voice SDK interface: the SDK itself in production, the emulator's browser phone
// (./phone/emulator.js) locally. Offers are answered on the Device; hold, the wrap-up and
// activity go through the agents API. A heartbeat every 20 s says the page is open.

import { connectPhone } from "./phone/device.js";

const page = document.querySelector(".softphone");
const form = document.getElementById("activity-form");
const endWrapup = document.getElementById("end-wrapup");
const error = document.getElementById("phone-error");
const workBox = document.getElementById("work");
const wrapupForm = document.getElementById("wrapup-form");
const transferForm = document.getElementById("transfer-form");
const buttons = {
  accept: document.getElementById("accept"),
  reject: document.getElementById("reject"),
  mute: document.getElementById("mute"),
  hold: document.getElementById("hold"),
  hangup: document.getElementById("hangup"),
  complete: document.getElementById("complete-transfer"),
  cancel: document.getElementById("cancel-transfer"),
};
const csrf = document.querySelector('meta[name="csrf-token"]').content;
const phoneConfig = JSON.parse(page.dataset.phone);
const NAMES = {
  available: "Available", break: "Break", offline: "Offline",
  idle: "Idle", ringing: "Ringing", "on-call": "On a call", "wrap-up": "Wrap-up",
};
const TITLES = { ringing: "Incoming call", talking: "On a call", "wrap-up": "Wrap-up" };

let state = JSON.parse(page.dataset.state);
let device = null;
let offered = null; // the Device's ringing call
let active = null; // the Device's call in progress
let wrappingUp = null; // the reservation whose wrap-up form is shown
let talkingOn = null; // the reservation whose transfer targets were read
let frames = 0; // state frames from the server so far

// Change the work through the API; its answer is drawn unless the server's stream has
// said something since the request went out (the stream is the later word then).
async function act(method, path, body) {
  const seen = frames;
  const answer = await call(method, path, body);
  if (answer && frames === seen) { state.work = answer.work; draw(); }
}
const ring = ringer();

window.softphone = { get ringing() { return ring.on; }, get device() { return device; } };

function field(name) { return page.querySelector(`[data-field="${name}"]`); }

function setText(element, text) { if (element.textContent !== text) element.textContent = text; }

function duration(total) {
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = String(total % 60).padStart(2, "0");
  return h ? `${h}:${String(m).padStart(2, "0")}:${s}` : `${m}:${s}`;
}

function secondsSince(iso) { return Math.max(0, Math.round((Date.now() - Date.parse(iso)) / 1000)); }

function since() {
  // Routing's state when it is busy, else the agent's own activity.
  return state.routing_state === "idle" ? state.activity_changed_at : state.routing_state_changed_at;
}

// The activity the form's choice was last set to from the server: a frame that does not
// change it leaves alone a choice the agent is making (and has not yet set).
let shownActivity = null;

function draw() {
  const activity = NAMES[state.activity] + (state.break_reason ? ` (${state.break_reason})` : "");
  setText(field("activity"), activity);
  setText(field("routing-state"), NAMES[state.routing_state]);
  endWrapup.hidden = state.routing_state !== "wrap-up";
  if (state.activity !== shownActivity) {
    form.elements.activity.value = state.activity;
    shownActivity = state.activity;
  }
  drawWork();
  drawChats();
  tick();
}

// The agent's chats: links to their tickets, where they answer them.
function drawChats() {
  const chats = state.chats || [];
  setText(field("chat-count"), String(chats.length));
  field("no-chats").hidden = chats.length > 0;
  const list = field("chat-list");
  const shownIds = [...list.querySelectorAll("a")].map((a) => a.getAttribute("href")).join();
  const wanted = chats.map((c) => `/tickets/${c.ticket_id}`).join();
  if (shownIds === wanted) return;
  list.replaceChildren(...chats.map((c) => {
    const item = document.createElement("li");
    const link = document.createElement("a");
    link.href = `/tickets/${c.ticket_id}`;
    link.textContent = `Chat with ${c.customer} · ticket #${c.ticket_id}`;
    item.append(link);
    return item;
  }));
}

function drawWork() {
  const work = state.work;
  workBox.hidden = !work && !offered;
  if (workBox.hidden) { ring.stop(); return; }
  const stage = work ? work.stage : "ringing";
  const held = stage === "talking" && Boolean(work?.held_since);
  setText(document.getElementById("work-title"), held ? "On hold" : TITLES[stage]);
  for (const part of workBox.querySelectorAll("[data-part]")) part.hidden = part.dataset.part !== stage;
  const number = work ? work.number : offered.parameters.From;
  setText(field("caller"), work?.withheld ? "Withheld number" : number);
  setText(field("customer"), customerLine(work));
  const transferred = work?.kind === "transfer" ? " · transferred by a colleague" : "";
  setText(field("queue"), (work?.queue ? `Queue ${work.queue}` : "") + transferred);
  drawConsult(work);
  drawTicket(work?.ticket);
  drawLastFive(work?.last_five || []);
  buttons.accept.disabled = !offered;
  buttons.reject.disabled = !offered;
  buttons.hold.setAttribute("aria-pressed", String(held));
  setText(buttons.hold, held ? "Resume" : "Hold");
  const muted = Boolean(active?.isMuted());
  buttons.mute.setAttribute("aria-pressed", String(muted));
  setText(buttons.mute, muted ? "Unmute" : "Mute");
  if (stage === "ringing" && offered) ring.start(); else ring.stop();
  if (stage === "talking" && talkingOn !== work.reservation_id) {
    talkingOn = work.reservation_id;
    transferForm.reset();
    loadTargets();
  }
  if (stage === "wrap-up" && wrappingUp !== work.reservation_id) {
    wrappingUp = work.reservation_id;
    wrapupForm.reset();
    setText(field("saved"), "");
  }
}

function drawConsult(work) {
  const box = field("consult-box");
  box.hidden = !work?.consulting;
  transferForm.hidden = Boolean(work?.consulting);
  if (!work?.consulting) return;
  setText(field("consult"), work.consult_answered
    ? `Consulting ${work.consulting}: the caller is on hold.`
    : `Ringing ${work.consulting}…`);
  buttons.complete.disabled = !work.consult_answered;
}

async function loadTargets() {
  const targets = await call("GET", "/api/agents/me/work/transfer-targets");
  if (!targets) return;
  const fill = (group, items, value, label) => {
    const box = transferForm.querySelector(`[data-group="${group}"]`);
    box.replaceChildren(...items.map((item) => {
      const option = document.createElement("option");
      option.value = value(item);
      option.textContent = label(item);
      option.disabled = item.free === false;
      return option;
    }));
  };
  fill("agents", targets.agents, (a) => `agent:${a.id}`, (a) => a.free ? a.name : `${a.name} (busy)`);
  fill("queues", targets.queues, (q) => `queue:${q.id}`, (q) => `Queue ${q.name}`);
}

function customerLine(work) {
  if (!work) return "";
  if (work.customer_name) return work.customer_name;
  if (work.withheld) return "Unknown caller";
  return work.ticket || work.last_five.length ? "Known customer, no name yet" : "New caller";
}

function link(ticket) {
  const a = document.createElement("a");
  a.href = ticket.url;
  a.textContent = `#${ticket.id} ${ticket.subject}`;
  return a;
}

function drawTicket(ticket) {
  const box = field("ticket");
  const key = ticket ? `${ticket.id}:${ticket.status}:${ticket.subject}` : "";
  if (box.dataset.key === key) return;
  box.dataset.key = key;
  box.replaceChildren();
  if (!ticket) { box.textContent = "No open ticket: the call opens one."; return; }
  box.append("Open ticket: ", link(ticket), ` (${ticket.status})`);
}

function drawLastFive(tickets) {
  const body = field("last-five");
  const key = tickets.map((t) => `${t.id}:${t.status}:${t.updated_at}`).join(",");
  if (body.dataset.key === key && body.childElementCount) return;
  body.dataset.key = key;
  body.replaceChildren();
  if (!tickets.length) {
    const row = body.insertRow();
    const cell = row.insertCell();
    cell.colSpan = 4;
    cell.textContent = "No earlier tickets.";
    return;
  }
  for (const ticket of tickets) {
    const row = body.insertRow();
    row.insertCell().append(link(ticket));
    row.insertCell().textContent = ticket.status;
    row.insertCell().textContent = ticket.channel;
    const when = document.createElement("time");
    when.dateTime = ticket.updated_at;
    when.textContent = new Date(ticket.updated_at).toLocaleDateString();
    row.insertCell().append(when);
  }
}

function tick() {
  setText(field("time-in-state"), duration(secondsSince(since())));
  const work = state.work;
  let clock = "";
  if (work?.stage === "ringing" && work.ring_until) {
    const left = Math.max(0, Math.round((Date.parse(work.ring_until) - Date.now()) / 1000));
    clock = `Rings for ${left} s more`;
  } else if (work?.held_since) {
    clock = `On hold ${duration(secondsSince(work.held_since))}`;
  } else if (work?.stage === "talking" && work.answered_at) {
    clock = `Talking ${duration(secondsSince(work.answered_at))}`;
  }
  setText(field("clock"), clock);
}

function say(problem) {
  error.textContent = problem;
  error.hidden = !problem;
}

async function call(method, path, body) {
  const answer = await fetch(path, {
    method,
    headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf },
    body: body ? JSON.stringify(body) : undefined,
  });
  if (!answer.ok) {
    const refused = await answer.json().catch(() => null);
    say(refused?.error?.message || `The request failed (${answer.status}).`);
    return null;
  }
  say("");
  return answer.json();
}

// --- the phone ------------------------------------------------------------------------------

async function startPhone() {
  device = await connectPhone(phoneConfig, csrf, listen);
}

function listen(phone) {
  device = phone;
  device.on("registered", () => setText(field("device"), "Phone ready"));
  device.on("unregistered", () => setText(field("device"), "Phone reconnecting…"));
  device.on("error", (problem) => say(`The phone reported a problem (${problem.code}): ${problem.message}`));
  device.on("incoming", (incoming) => {
    offered = incoming;
    const forget = () => { if (offered === incoming) offered = null; draw(); };
    incoming.on("cancel", forget);
    incoming.on("reject", forget);
    incoming.on("accept", () => { offered = null; take(incoming); });
    incoming.on("disconnect", forget);
    draw();
  });
  // The emulator's phone, after a reload: the call this agent was on is theirs again.
  device.on("reconnected", take);
}

function take(connected) {
  active = connected;
  connected.on("mute", draw);
  connected.on("disconnect", () => { if (active === connected) active = null; draw(); });
  draw();
}

buttons.accept.addEventListener("click", () => offered?.accept());
buttons.reject.addEventListener("click", () => offered?.reject());
buttons.mute.addEventListener("click", () => { if (active) active.mute(!active.isMuted()); draw(); });
buttons.hold.addEventListener("click", () => act("PUT", "/api/agents/me/work/hold", { hold: !state.work?.held_since }));
buttons.hangup.addEventListener("click", async () => {
  if (active) active.disconnect();
  else await act("POST", "/api/agents/me/work/hangup");
});
transferForm.elements.target.addEventListener("focus", loadTargets);
transferForm.addEventListener("submit", async (submitted) => {
  submitted.preventDefault();
  const [kind, id] = transferForm.elements.target.value.split(":");
  const body = { warm: transferForm.elements.warm.checked };
  body[kind === "agent" ? "agent_id" : "queue_id"] = Number(id);
  await act("POST", "/api/agents/me/work/transfer", body);
});
buttons.complete.addEventListener("click", () => act("POST", "/api/agents/me/work/transfer/complete"));
buttons.cancel.addEventListener("click", () => act("POST", "/api/agents/me/work/transfer/cancel"));
for (const key of workBox.querySelectorAll("[data-digit]")) {
  key.addEventListener("click", () => active?.sendDigits(key.dataset.digit));
}
document.addEventListener("keydown", (event) => {
  if (!event.altKey || event.ctrlKey || event.metaKey) return;
  const key = event.key.toLowerCase();
  if (key === "a" && offered) { event.preventDefault(); offered.accept(); }
  if (key === "h" && !buttons.hangup.closest("[data-part]").hidden) {
    event.preventDefault();
    buttons.hangup.click();
  }
});

async function saveWrapup(body, tries = 5) {
  const answer = await fetch("/api/agents/me/work/wrap-up", {
    method: "POST",
    headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf },
    body: JSON.stringify(body),
  });
  const sent = await answer.json().catch(() => null);
  if (answer.status === 409 && sent?.error?.code === "not_landed" && tries > 1) {
    // Twilio's last word on the caller's leg is on its way: the call lands in a moment.
    await new Promise((resolve) => setTimeout(resolve, 1000));
    return saveWrapup(body, tries - 1);
  }
  if (!answer.ok) {
    say(sent?.error?.message || `The request failed (${answer.status}).`);
    return null;
  }
  say("");
  return sent;
}

wrapupForm.addEventListener("submit", async (submitted) => {
  submitted.preventDefault();
  const values = wrapupForm.elements;
  const saved = await saveWrapup({
    reservation_id: state.work.reservation_id,
    notes: values.notes.value,
    disposition_id: values.disposition.value ? Number(values.disposition.value) : null,
    ticket_status: values.ticket_status.value || null,
  });
  if (!saved) return;
  const box = field("saved");
  const a = document.createElement("a");
  a.href = saved.url;
  a.textContent = `ticket #${saved.ticket_id}`;
  box.replaceChildren("Saved to ", a, ` (${saved.ticket_status}).`);
});

// The ring: a two-tone burble every three seconds, made with Web Audio (no sound file).
function ringer() {
  let timer = null;
  let context = null;
  function burst() {
    try {
      context ||= new AudioContext();
      const now = context.currentTime;
      for (const [start, pitch] of [[0, 440], [0.45, 480]]) {
        const tone = context.createOscillator();
        const gain = context.createGain();
        tone.frequency.value = pitch;
        gain.gain.value = 0.08;
        tone.connect(gain).connect(context.destination);
        tone.start(now + start);
        tone.stop(now + start + 0.4);
      }
    } catch { /* no audio output: the card still shows the call */ }
  }
  return {
    get on() { return timer !== null; },
    start() { if (timer === null) { burst(); timer = setInterval(burst, 3000); } },
    stop() { clearInterval(timer); timer = null; },
  };
}

// --- activity -------------------------------------------------------------------------------

form.addEventListener("submit", async (submitted) => {
  submitted.preventDefault();
  const activity = form.elements.activity.value;
  const reason = form.elements.reason.value.trim();
  const body = activity === "break" && reason ? { activity, reason } : { activity };
  const agent = await call("PUT", "/api/agents/me/activity", body);
  if (agent) { Object.assign(state, agent); draw(); }
});

endWrapup.addEventListener("click", async () => {
  const agent = await call("POST", "/api/agents/me/wrap-up/end");
  if (agent) { Object.assign(state, agent); state.work = null; draw(); }
});

const source = new EventSource("/agent/events");
source.addEventListener("state", (message) => {
  frames += 1;
  state = JSON.parse(message.data);
  draw();
});
source.addEventListener("error", () => {
  if (source.readyState === EventSource.CLOSED) setTimeout(() => window.location.reload(), 5000);
});
setInterval(tick, 1000);
setInterval(() => call("POST", "/api/agents/me/heartbeat"), 20000);
call("POST", "/api/agents/me/heartbeat");
draw();
page.dataset.ready = "true"; // the controls are the script's now (tests wait for it)
startPhone().catch((problem) => say(`The phone could not start: ${problem.message}`));
