// The IVR flow page's simulator: a call through the flow, one step at a time, through the
// engine the webhooks use (POST /api/ivr/flows/<name>/simulate). Nothing is recorded.

import { callApi } from "./apiforms.js";

const box = document.getElementById("try");
const log = document.getElementById("try-log");
const start = document.getElementById("try-start");
const answer = document.getElementById("try-answer");
const error = document.getElementById("try-error");
let call = null; // { draft, staffed, node, attempt, digits: needed, pressed }

function line(text, kind) {
  const item = document.createElement("li");
  item.className = kind;
  item.textContent = text;
  log.append(item);
}

function show(step) {
  line(`Through: ${step.path.join(" → ")}`, "path");
  for (const text of step.says) line(`Caller hears: “${text}”`, "says");
  answer.hidden = step.then !== "ask";
  if (step.then === "ask") {
    line(`Menu ${step.node} (attempt ${step.attempt}): “${step.prompt}”`, "ask");
    Object.assign(call, { node: step.node, attempt: step.attempt, needed: step.num_digits, pressed: "" });
    answer.querySelector("button[data-key]").focus();
  } else if (step.then === "wait") {
    line(`The caller waits in the ${step.queue} queue for an agent. The call is over here.`, "end");
  } else if (step.then === "record") {
    line(`Caller hears: “${step.prompt}”, then leaves a message. The call is over here.`, "end");
  } else {
    line("The call ends.", "end");
  }
  if (step.then !== "ask") start.querySelector("button").focus();
}

async function step(body) {
  error.hidden = true;
  try {
    show(await callApi("POST", `/api/ivr/flows/${encodeURIComponent(box.dataset.flow)}/simulate`, {
      draft: call.draft, staffed: call.staffed, at: call.at, ...body,
    }));
  } catch (failed) {
    error.textContent = failed.message;
    error.hidden = false;
    answer.hidden = true;
  }
}

const reply = (fields) => {
  line(fields.digits ? `Caller presses ${fields.digits}` : fields.speech ? `Caller says “${fields.speech}”` : "Caller stays silent", "caller");
  return step({ node: call.node, attempt: call.attempt, digits: "", speech: "", ...fields });
};

start.addEventListener("submit", (event) => {
  event.preventDefault();
  log.replaceChildren();
  call = {
    draft: start.elements.source.value === "draft", staffed: !start.elements.nobody.checked,
    at: start.elements.at.value || null,
  };
  step({});
});
answer.addEventListener("click", (event) => {
  const key = event.target.closest("button[data-key]");
  if (key) {
    call.pressed += key.dataset.key;
    if (call.pressed.length >= (call.needed || 1)) reply({ digits: call.pressed });
  } else if (event.target.closest("button[data-silence]")) {
    reply({});
  }
});
answer.addEventListener("submit", (event) => {
  event.preventDefault();
  const speech = answer.elements.speech.value.trim();
  answer.elements.speech.value = "";
  reply(speech ? { speech } : {});
});
