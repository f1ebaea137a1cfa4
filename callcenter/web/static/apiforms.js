// Forms that speak the JSON API: the ticket, tickets and customer pages use one helper.
//
//   <form data-api="/api/tickets/7" data-method="PATCH" data-then="refresh">
//
// Named fields become a JSON body (`data-type="number"`: a number or null when empty;
// `data-type="minutes"`: minutes sent as seconds; `data-type="datetime"`: local time, sent
// as UTC; `data-type="list"`: comma-separated words; `data-type="set"` on checkboxes sharing
// a name: the list of checked values; `data-type="bool"`: "true" or "false" (a checkbox:
// whether it is ticked);
// `data-type="json"`: a JSON value, refused with its label when it does not parse; a
// select's "" is null when the select has `data-type="nullable"`; fields left empty with
// `data-optional` are left out). The
// answer's error message goes to the form's role="alert" element. After success:
// "refresh" re-reads the page's live regions in place, "go:/tickets/{id}" follows a link
// filled from the answer, "reset" also clears the form.

const csrf = document.querySelector('meta[name="csrf-token"]').content;

export async function callApi(method, url, body) {
  const answer = await fetch(url, {
    method,
    headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf, Accept: "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const data = await answer.json().catch(() => null);
  if (!answer.ok) {
    const message = data?.error?.message || `That did not work (${answer.status}).`;
    throw new Error(message);
  }
  return data;
}

function bodyOf(form) {
  const body = {};
  for (const field of form.elements) {
    if (!field.name || field.disabled || field.type === "submit") continue;
    if (field.type === "checkbox" && field.dataset.type === "bool") {  // ticked or not
      body[field.name] = field.checked;
      continue;
    }
    if (field.dataset.type === "set") {  // checkboxes sharing a name: the checked values
      body[field.name] = [...(body[field.name] || []), ...(field.checked ? [field.value] : [])];
      continue;
    }
    if ((field.type === "checkbox" || field.type === "radio") && !field.checked) continue;
    const raw = field.value.trim();
    if (raw === "" && field.hasAttribute("data-optional")) continue;
    const type = field.dataset.type;
    if (type === "datetime") body[field.name] = new Date(raw).toISOString();
    else if (type === "minutes") body[field.name] = Math.round(Number(raw.replace(",", ".")) * 60);
    else if (type === "number") body[field.name] = raw === "" ? null : Number(raw);
    else if (type === "list") body[field.name] = raw.split(",").map((w) => w.trim()).filter(Boolean);
    else if (type === "bool") body[field.name] = raw === "true";
    else if (type === "json") body[field.name] = parsedJson(field, raw);
    else if (type === "nullable") body[field.name] = raw === "" ? null : (/^\d+$/.test(raw) ? Number(raw) : raw);
    else body[field.name] = field.value;
  }
  return body;
}

function parsedJson(field, raw) {
  try {
    return JSON.parse(raw === "" ? "null" : raw);
  } catch (error) {
    const label = field.labels?.[0]?.textContent.trim() || field.name;
    throw new Error(`${label}: not valid JSON (${error.message})`);
  }
}

// The page's live regions ([data-live] with an id), read again from the server and
// swapped in. A region holding the focus or a form being edited is left alone, unless it
// is `forced` (the one whose form was just saved): then the focus moves to the same
// control in the new region, so a keyboard user stays where they were.
export async function refreshRegions(forced = null) {
  const answer = await fetch(location.href, { headers: { Accept: "text/html" } });
  if (!answer.ok) return;
  const fresh = new DOMParser().parseFromString(await answer.text(), "text/html");
  for (const region of document.querySelectorAll("[data-live][id]")) {
    const next = fresh.getElementById(region.id);
    if (!next) continue;
    const focused = region.contains(document.activeElement) ? document.activeElement : null;
    if (region !== forced && (focused || region.querySelector("form[data-dirty]"))) continue;
    region.replaceWith(next);
    if (focused) sameControl(next, focused)?.focus();
  }
  document.dispatchEvent(new CustomEvent("regions-refreshed"));
}

function sameControl(region, old) {
  if (old.id) return region.querySelector(`#${CSS.escape(old.id)}`);
  const form = old.form?.getAttribute("aria-label");
  const scope = form ? region.querySelector(`form[aria-label="${CSS.escape(form)}"]`) : region;
  if (!scope) return null;
  if (old.name) return scope.querySelector(`[name="${CSS.escape(old.name)}"]`);
  return [...scope.querySelectorAll(old.tagName)].find((el) => el.textContent === old.textContent) || null;
}

async function submit(form, event) {
  event.preventDefault();
  const alert = form.querySelector('[role="alert"]');
  const button = event.submitter || form.querySelector('button[type="submit"]');
  if (alert) { alert.hidden = true; alert.textContent = ""; }
  if (button) button.disabled = true;
  try {
    const url = form.dataset.api;
    const data = await callApi(form.dataset.method || "POST", url, form.dataset.nobody ? undefined : bodyOf(form));
    const then = form.dataset.then || "refresh";
    delete form.dataset.dirty;
    if (then.startsWith("go:")) {
      location.assign(then.slice(3).replace(/\{(\w+)\}/g, (_, key) => encodeURIComponent(data?.[key] ?? "")));
      return;
    }
    if (then === "reset") form.reset();
    if (button) button.disabled = false;
    await refreshRegions(form.closest("[data-live]"));
    form.dispatchEvent(new CustomEvent("api-done", { detail: data, bubbles: true }));
  } catch (error) {
    if (alert) { alert.textContent = error.message; alert.hidden = false; }
    if (button) button.disabled = false;
  }
}

document.addEventListener("submit", (event) => {
  const form = event.target.closest("form[data-api]");
  if (form) submit(form, event);
});
document.addEventListener("input", (event) => {
  const form = event.target.closest("form[data-api]");
  if (form) form.dataset.dirty = "";
});
