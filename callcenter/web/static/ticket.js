// The ticket page: macros, click-to-call, and changes made elsewhere shown in place.
// Forms with data-api are handled by apiforms.js.

import { callApi, refreshRegions } from "./apiforms.js";

const workspace = document.querySelector("[data-ticket]");
const ticket = workspace.dataset.ticket;

// Apply a macro: its reply and field changes at once, then the page shows them.
const macroForm = document.getElementById("macro-form");
macroForm?.addEventListener("submit", async (event) => {
  event.preventDefault();
  const alert = macroForm.querySelector('[role="alert"]');
  alert.hidden = true;
  try {
    await callApi("POST", `/api/tickets/${ticket}/macros/${macroForm.elements.macro.value}`);
    await refreshRegions();
    const fields = document.getElementById("ticket-fields");
    if (fields) await refreshRegions(fields);
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
