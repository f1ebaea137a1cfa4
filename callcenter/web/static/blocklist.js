// The blocklist page's CSV import: the file's text goes to the API, all rows or none.

import { callApi, refreshRegions } from "./apiforms.js";

const form = document.getElementById("blocklist-import");
form.addEventListener("submit", async (event) => {
  event.preventDefault();
  const alert = form.querySelector('[role="alert"]');
  const status = form.querySelector('[data-field="imported"]');
  alert.hidden = true;
  status.textContent = "";
  try {
    const text = await form.elements.file.files[0].text();
    const { added } = await callApi("POST", "/api/blocklist/import", { csv: text });
    status.textContent = `Imported ${added} ${added === 1 ? "entry" : "entries"}.`;
    form.reset();
    await refreshRegions();
  } catch (error) {
    alert.textContent = error.message;
    alert.hidden = false;
  }
});
