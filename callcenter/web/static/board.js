// The live board: snapshots pushed by the server (/board/events), drawn with DOM calls
// (never markup from data), waits and times in state ticking every second between them.
// The server's clock is used throughout: the page only adds the time since the snapshot.

import { connectPhone } from "./phone/device.js";

const STATE_NAMES = {
  available: "Available", ringing: "Ringing", "on-call": "On a call",
  "wrap-up": "Wrap-up", break: "Break", offline: "Offline",
};
const STATES = Object.keys(STATE_NAMES);

let skew = 0; // server clock minus this browser's
let atRiskShare = 0.8;

function secondsSince(iso) {
  return Math.max(0, Math.round((Date.now() + skew - Date.parse(iso)) / 1000));
}

function duration(total) {
  if (total === null || total === undefined) return "–";
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = String(total % 60).padStart(2, "0");
  return h ? `${h}:${String(m).padStart(2, "0")}:${s}` : `${m}:${s}`;
}

function percent(rate) {
  return rate === null || rate === undefined ? "–" : `${Math.round(rate * 100)}%`;
}

function cell(row, text, attributes = {}) {
  const td = document.createElement("td");
  td.textContent = text;
  for (const [name, value] of Object.entries(attributes)) td.setAttribute(name, value);
  row.append(td);
  return td;
}

// A cell whose seconds count up from `since` (re-drawn by tick()).
function ticking(row, since) {
  return cell(row, since ? duration(secondsSince(since)) : "–", since ? { "data-since": since } : {});
}

function caller(entry) {
  return entry.customer ? `${entry.customer} (${entry.number})` : entry.number;
}

function drawQueues(queues) {
  const body = document.getElementById("queue-rows");
  body.replaceChildren();
  for (const queue of queues) {
    const row = document.createElement("tr");
    row.dataset.queue = queue.name;
    const name = document.createElement("th");
    name.scope = "row";
    name.textContent = queue.name;
    const badge = document.createElement("span");
    badge.className = "badge risk";
    badge.textContent = "At risk";
    badge.hidden = !queue.at_risk;
    name.append(" ", badge);
    row.append(name);
    cell(row, String(queue.waiting), { "data-column": "waiting" });
    const longest = ticking(row, queue.oldest_entered_at);
    longest.dataset.column = "longest";
    if (queue.oldest_entered_at) {
      longest.dataset.threshold = String(queue.service_level_seconds);
    }
    for (const state of STATES) cell(row, String(queue.agents[state]), { "data-column": state });
    const today = queue.today;
    cell(row, String(today.offered), { "data-column": "offered" });
    cell(row, String(today.answered), { "data-column": "answered" });
    cell(row, String(today.abandoned), { "data-column": "abandoned" });
    cell(row, percent(today.service_level), { "data-column": "service_level" });
    cell(row, duration(today.average_answer_seconds));
    cell(row, duration(today.average_handle_seconds));
    cell(row, percent(today.abandonment_rate));
    body.append(row);
  }
}

function drawAll(all) {
  const tiles = document.getElementById("all-queues");
  const put = (field, text) => { tiles.querySelector(`[data-field="${field}"]`).textContent = text; };
  put("waiting", String(all.waiting));
  const longest = tiles.querySelector('[data-field="longest"]');
  longest.textContent = all.oldest_entered_at ? duration(secondsSince(all.oldest_entered_at)) : "–";
  if (all.oldest_entered_at) longest.dataset.since = all.oldest_entered_at;
  else delete longest.dataset.since;
  put("available", String(all.agents.available));
  put("on-call", String(all.agents["on-call"]));
  put("service_level", percent(all.today.service_level));
  put("answered", String(all.today.answered));
  put("abandoned", String(all.today.abandoned));
}

function drawWaiting(waiting) {
  const body = document.getElementById("waiting-rows");
  body.replaceChildren();
  if (!waiting.length) {
    const row = document.createElement("tr");
    cell(row, "Nobody is waiting.", { colspan: "5", class: "hint" });
    body.append(row);
    return;
  }
  for (const entry of waiting) {
    const row = document.createElement("tr");
    row.dataset.task = String(entry.task_id);
    cell(row, caller(entry) + (entry.channel === "callback" ? " · callback" : ""));
    cell(row, entry.queue || "–");
    cell(row, entry.priority ? String(entry.priority) : "normal");
    ticking(row, entry.entered_at);
    cell(row, entry.ringing ? "Ringing an agent" : "In line");
    body.append(row);
  }
}

function drawAgents(agents) {
  const body = document.getElementById("agent-rows");
  body.replaceChildren();
  for (const agent of agents) {
    const row = document.createElement("tr");
    row.dataset.agent = String(agent.id);
    const name = document.createElement("th");
    name.scope = "row";
    name.textContent = agent.name;
    row.append(name);
    const state = cell(row, STATE_NAMES[agent.state] || agent.state, { class: `state ${agent.state}` });
    if (agent.break_reason) state.textContent += ` (${agent.break_reason})`;
    ticking(row, agent.since);
    cell(row, agent.queues.join(", ") || "–");
    cell(row, agent.call ? `${caller(agent.call)}${agent.call.queue ? " · " + agent.call.queue : ""}` : "–");
    const actions = cell(row, "");
    if (agent.state === "on-call") {
      for (const [mode, label] of MODES) {
        const button = document.createElement("button");
        button.type = "button";
        button.className = "small";
        button.textContent = label;
        button.setAttribute("aria-label", `${label}: ${agent.name}`);
        button.addEventListener("click", () => monitor(agent, mode, label));
        actions.append(button, " ");
      }
    }
    body.append(row);
  }
}

// --- supervisors on a live call: the board's own phone is rung into it -------------------

const MODES = [["listen", "Listen"], ["whisper", "Whisper"], ["barge", "Barge"]];
const csrf = document.querySelector('meta[name="csrf-token"]').content;
const monitorBox = document.querySelector(".monitor");
const monitorError = document.getElementById("monitor-error");
let phone = null;
let expected = null; // the monitoring leg asked for: answered when it rings
let live = null;

function problem(text) {
  monitorError.textContent = text;
  monitorError.hidden = !text;
}

function showMonitor(text) {
  monitorBox.hidden = !text;
  const line = monitorBox.querySelector('[data-field="monitor"]');
  if (line.textContent !== text) line.textContent = text;
}

async function monitor(agent, mode, label) {
  problem("");
  live?.disconnect();
  try {
    phone ||= await connectPhone(JSON.parse(document.querySelector(".board").dataset.phone), csrf, (device) => {
      device.on("incoming", (incoming) => {
        if (!expected || incoming.parameters.CallSid !== expected.callSid) return;
        const text = expected.text;
        incoming.on("accept", () => { live = incoming; showMonitor(text); });
        incoming.on("disconnect", () => { if (live === incoming) live = null; showMonitor(""); });
        incoming.accept();
      });
      device.on("error", (failure) => problem(`The phone reported a problem (${failure.code}): ${failure.message}`));
    });
  } catch (failure) {
    problem(`Your phone could not start: ${failure.message}`);
    return;
  }
  const answer = await fetch(`/api/agents/${agent.id}/monitor`, {
    method: "POST",
    headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf },
    body: JSON.stringify({ mode }),
  });
  const body = await answer.json().catch(() => null);
  if (!answer.ok) { problem(body?.error?.message || `The request failed (${answer.status}).`); return; }
  const doing = { listen: "Listening to", whisper: "Whispering to", barge: "On the call with" }[mode];
  expected = { callSid: body.call_sid, text: `${doing} ${agent.name}` };
  // The leg may have rung before the answer came back.
  const early = phone.calls?.find((c) => c.parameters.CallSid === body.call_sid && c.status() === "pending");
  if (early) {
    const text = expected.text;
    early.on("accept", () => { live = early; showMonitor(text); });
    early.on("disconnect", () => { if (live === early) live = null; showMonitor(""); });
    early.accept();
  }
  showMonitor(`Connecting: ${label.toLowerCase()} ${agent.name}…`);
}

document.getElementById("stop-monitor").addEventListener("click", () => {
  live?.disconnect();
  live = null;
  expected = null;
  showMonitor("");
});

function tick() {
  for (const element of document.querySelectorAll("[data-since]")) {
    const seconds = secondsSince(element.dataset.since);
    element.textContent = duration(seconds);
    if (element.dataset.threshold) {
      const badge = element.closest("tr").querySelector(".risk");
      badge.hidden = seconds < atRiskShare * Number(element.dataset.threshold);
    }
  }
}

function draw(snapshot) {
  skew = Date.parse(snapshot.now) - Date.now();
  atRiskShare = snapshot.at_risk_share;
  drawAll(snapshot.all);
  drawQueues(snapshot.queues);
  drawWaiting(snapshot.waiting);
  drawAgents(snapshot.agents);
  // For measuring event-to-screen time where browser and server share a clock (tests,
  // benchmarks/board.py): the event this picture follows and when it was drawn.
  const board = document.querySelector(".board");
  const drawnAt = new Date().toISOString();
  if (snapshot.event) {
    board.dataset.eventAt = snapshot.event.at;
    draws.push({ event: snapshot.event.name, eventAt: snapshot.event.at, drawnAt });
    if (draws.length > 5000) draws.shift();
  }
  board.dataset.drawnAt = drawnAt;
}

const draws = [];
window.boardDraws = draws;

const status = document.getElementById("board-status");
// Said only when it changes, so a screen reader is not told of every picture.
function say(text) {
  if (status.textContent !== text) status.textContent = text;
}
const source = new EventSource("/board/events");
source.addEventListener("snapshot", (message) => {
  draw(JSON.parse(message.data));
  say("Live");
});
source.addEventListener("error", () => {
  if (source.readyState === EventSource.CLOSED) {
    // Refused (signed out, a proxy's error during a deploy): EventSource gives up, so the
    // page loads again, which signs in again if it must, rather than look live while stale.
    say("Disconnected. Loading the board again…");
    setTimeout(() => window.location.reload(), 5000);
  } else {
    say("Reconnecting…"); // EventSource retries; its first snapshot is the resync
  }
});
setInterval(tick, 1000);
