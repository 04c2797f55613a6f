// Experiment pages and job dashboards (a file of its own: the portal's CSP allows no inline script).
"use strict";
(function () {
  // Runs table: the header box selects every run for Compare.
  const all = document.getElementById("select-all");
  if (all) {
    all.addEventListener("change", () => {
      document.querySelectorAll("#runs input[name=run_ids]").forEach((b) => { b.checked = all.checked; });
    });
  }
  // Delete: the ticked runs go to a separate POST form (with its CSRF token and confirmation).
  const del = document.getElementById("delete-runs");
  if (del) {
    del.addEventListener("click", () => {
      const ids = Array.from(document.querySelectorAll("#runs input[name=run_ids]:checked")).map((b) => b.value);
      if (!ids.length) { window.alert("Tick the runs to delete first."); return; }
      document.getElementById("delete-ids").value = ids.join(",");
      document.getElementById("delete-form").requestSubmit();
    });
  }
  // Dashboard of a job: poll the service until it runs, then open it.
  const box = document.getElementById("dashboard-wait");
  if (box) {
    const state = document.getElementById("state");
    const poll = () => {
      fetch(box.dataset.status, {credentials: "same-origin"}).then((r) => r.json()).then((s) => {
        state.textContent = s.state;
        state.className = "state " + s.state;
        if (s.state === "running") { window.location = box.dataset.open; return; }
        if (s.state === "failed" || s.state === "stopped") {
          const e = document.getElementById("wait-error");
          e.hidden = false;
          e.textContent = "The service " + s.state + ": " + (s.log_tail || []).slice(-5).join(" | ");
          return;
        }
        setTimeout(poll, 1000);
      }).catch(() => setTimeout(poll, 2000));
    };
    setTimeout(poll, 500);
  }
  document.documentElement.dataset.expReady = "1";
})();
