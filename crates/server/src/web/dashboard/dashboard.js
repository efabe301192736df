// Shared by every dashboard page: writes carry the session's CSRF token (the server refuses
// session writes without it), signing out is a POST, campaign buttons call the JSON API.
"use strict";
const csrf = document.querySelector('meta[name="csrf-token"]').content;

async function post(url) {
  const resp = await fetch(url, {
    method: "POST",
    headers: { "X-CSRF-Token": csrf },
    credentials: "same-origin",
  });
  return resp;
}

document.getElementById("signout").addEventListener("click", async () => {
  await post("/logout");
  window.location = "/login";
});

for (const button of document.querySelectorAll("button[data-campaign]")) {
  button.addEventListener("click", async () => {
    button.disabled = true;
    const resp = await post(`/api/v1/campaigns/${button.dataset.campaign}/${button.dataset.action}`);
    if (resp.ok) {
      window.location.reload();
      return;
    }
    let message = `${resp.status}`;
    try {
      const body = await resp.json();
      message = body.error.message;
    } catch (_) { /* not JSON: keep the status */ }
    const out = document.getElementById(`campaign-msg-${button.dataset.campaign}`);
    if (out) out.textContent = message;
    button.disabled = false;
  });
}
