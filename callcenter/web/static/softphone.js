// The agent's page: activity through the agents API, their state pushed by /agent/events,
// the time in state ticking, and a heartbeat every 20 s while the page is open.

const page = document.querySelector(".softphone");
const form = document.getElementById("activity-form");
const endWrapup = document.getElementById("end-wrapup");
const error = document.getElementById("phone-error");
const csrf = document.querySelector('meta[name="csrf-token"]').content;
const NAMES = {
  available: "Available", break: "Break", offline: "Offline",
  idle: "Idle", ringing: "Ringing", "on-call": "On a call", "wrap-up": "Wrap-up",
};
let state = JSON.parse(page.dataset.state);

function duration(total) {
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = String(total % 60).padStart(2, "0");
  return h ? `${h}:${String(m).padStart(2, "0")}:${s}` : `${m}:${s}`;
}

function since() {
  // Routing's state when it is busy, else the agent's own activity.
  return state.routing_state === "idle" ? state.activity_changed_at : state.routing_state_changed_at;
}

function draw() {
  const activity = NAMES[state.activity] + (state.break_reason ? ` (${state.break_reason})` : "");
  const text = page.querySelector('[data-field="activity"]');
  if (text.textContent !== activity) text.textContent = activity;
  page.querySelector('[data-field="routing-state"]').textContent = NAMES[state.routing_state];
  endWrapup.hidden = state.routing_state !== "wrap-up";
  form.elements.activity.value = state.activity;
  tick();
}

function tick() {
  const seconds = Math.max(0, Math.round((Date.now() - Date.parse(since())) / 1000));
  page.querySelector('[data-field="time-in-state"]').textContent = duration(seconds);
}

async function call(method, path, body) {
  const answer = await fetch(path, {
    method,
    headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf },
    body: body ? JSON.stringify(body) : undefined,
  });
  if (!answer.ok) {
    const refused = await answer.json().catch(() => null);
    error.textContent = refused?.error?.message || `The request failed (${answer.status}).`;
    error.hidden = false;
    return null;
  }
  error.hidden = true;
  return answer.json();
}

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
  if (agent) { Object.assign(state, agent); draw(); }
});

const source = new EventSource("/agent/events");
source.addEventListener("state", (message) => { state = JSON.parse(message.data); draw(); });
source.addEventListener("error", () => {
  if (source.readyState === EventSource.CLOSED) setTimeout(() => window.location.reload(), 5000);
});
setInterval(tick, 1000);
setInterval(() => call("POST", "/api/agents/me/heartbeat"), 20000);
call("POST", "/api/agents/me/heartbeat");
draw();
