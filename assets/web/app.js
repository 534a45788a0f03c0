// SessionFS dashboard: progressive enhancement only (every page works without it).
// Copy buttons: <button data-copy="text">; forms with class "danger" buttons ask first.
"use strict";
document.addEventListener("click", async (event) => {
  const button = event.target.closest("button[data-copy]");
  if (!button) return;
  try {
    await navigator.clipboard.writeText(button.dataset.copy);
    button.textContent = "Copied";
  } catch {
    button.textContent = "Select and copy";
  }
  setTimeout(() => { button.textContent = "Copy"; }, 2000);
});
document.addEventListener("submit", (event) => {
  const danger = event.submitter && event.submitter.classList.contains("danger");
  if (danger && !window.confirm(event.submitter.textContent.trim() + "?")) event.preventDefault();
});
