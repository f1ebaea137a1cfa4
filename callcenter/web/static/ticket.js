// The ticket page's Call button: click-to-call through the app (your softphone rings
// first, then the requester; keep the Softphone page open to answer).

const button = document.getElementById("call-requester");
if (button) {
  const line = document.querySelector('[data-field="calling"]');
  const ticket = button.closest("[data-ticket]").dataset.ticket;
  const csrf = document.querySelector('meta[name="csrf-token"]').content;
  button.addEventListener("click", async () => {
    button.disabled = true;
    const answer = await fetch(`/api/tickets/${ticket}/call`, {
      method: "POST", headers: { "X-CSRF-Token": csrf },
    });
    const body = await answer.json().catch(() => null);
    line.textContent = answer.ok
      ? `${body.message} Answer it on the Softphone page.`
      : body?.error?.message || `The call could not be made (${answer.status}).`;
    button.disabled = false;
  });
}
