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
  // Runs table (F94): column chooser, "Only show differences" and "Load more".
  const table = document.getElementById("runs");
  if (table) {
    // The choice is kept in this browser's localStorage, per user and per experiment (or job):
    // a view setting needs no server round trip nor a database table, and each experiment has
    // its own metric/parameter/tag names. What is stored is what is HIDDEN, so a key that a
    // later run brings in shows up.
    const storeKey = "hpcai.runs.columns." + table.dataset.scope;
    const load = () => {
      try { return JSON.parse(window.localStorage.getItem(storeKey) || "{}"); } catch (e) { return {}; }
    };
    const save = (state) => {
      try { window.localStorage.setItem(storeKey, JSON.stringify(state)); } catch (e) { /* private mode */ }
    };
    const state = Object.assign({hidden: [], diff: false}, load());
    const menu = document.getElementById("col-menu");
    const diffBox = document.getElementById("runs-only-diff");
    const groups = [["", "Columns"], ["metrics.", "Metrics"], ["params.", "Parameters"], ["tags.", "Tags"]];
    const groupOf = (col) => (groups.find(([p]) => p && col.startsWith(p)) || groups[0])[0];
    const columns = () => {
      const seen = new Set();
      table.querySelectorAll("thead [data-col], tbody [data-col]").forEach((el) => seen.add(el.dataset.col));
      return Array.from(seen);
    };
    // Keys whose value is the same in every shown run (a run without the key counts as "").
    const equalCols = () => {
      const rows = Array.from(table.querySelectorAll("tbody tr[data-run]"));
      const out = new Set();
      if (rows.length < 2) return out;
      columns().filter((c) => groupOf(c)).forEach((col) => {
        const values = new Set(rows.map((r) => {
          const el = r.querySelector('[data-col="' + CSS.escape(col) + '"]');
          return el ? el.dataset.val : "";
        }));
        if (values.size === 1) out.add(col);
      });
      return out;
    };
    const apply = () => {
      const hidden = new Set(state.hidden);
      const same = state.diff ? equalCols() : new Set();
      table.querySelectorAll("[data-col]").forEach((el) => {
        el.hidden = hidden.has(el.dataset.col) || same.has(el.dataset.col);
      });
      diffBox.checked = !!state.diff;
    };
    const buildMenu = () => {
      const cols = columns();
      menu.textContent = "";
      groups.forEach(([prefix, title]) => {
        const mine = cols.filter((c) => groupOf(c) === prefix).sort((a, b) => (prefix ? a.localeCompare(b) : 0));
        if (!mine.length) return;
        const h = document.createElement("h4");
        h.textContent = title;
        menu.appendChild(h);
        mine.forEach((col) => {
          const label = document.createElement("label");
          const box = document.createElement("input");
          box.type = "checkbox";
          box.value = col;
          box.checked = !state.hidden.includes(col);
          box.dataset.colToggle = col;
          label.appendChild(box);
          label.appendChild(document.createTextNode(" " + (prefix ? col.slice(prefix.length) : col)));
          menu.appendChild(label);
        });
      });
      const actions = document.createElement("div");
      actions.className = "colactions";
      [["Show all", "col-show-all"], ["Hide all", "col-hide-all"]].forEach(([text, id]) => {
        const b = document.createElement("button");
        b.type = "button"; b.className = "small"; b.id = id; b.textContent = text;
        actions.appendChild(b);
      });
      menu.appendChild(actions);
    };
    menu.addEventListener("change", (ev) => {
      const col = ev.target.dataset.colToggle;
      if (!col) return;
      state.hidden = state.hidden.filter((c) => c !== col);
      if (!ev.target.checked) state.hidden.push(col);
      save(state); apply();
    });
    menu.addEventListener("click", (ev) => {
      if (ev.target.id !== "col-show-all" && ev.target.id !== "col-hide-all") return;
      state.hidden = ev.target.id === "col-hide-all" ? columns() : [];
      save(state); buildMenu(); apply();
    });
    diffBox.addEventListener("change", () => { state.diff = diffBox.checked; save(state); apply(); });
    buildMenu(); apply();

    // "Load more": the next page (MLflow's page token) rendered by the server, appended here.
    const more = document.getElementById("load-more");
    const count = document.getElementById("run-count");
    more.addEventListener("click", () => {
      const url = new URL(more.dataset.url, window.location.href);
      url.searchParams.set("page_token", more.dataset.token);
      more.disabled = true;
      fetch(url, {credentials: "same-origin"}).then((r) => r.json().then((body) => ({ok: r.ok, body}))).then(({ok, body}) => {
        more.disabled = false;
        if (!ok) { window.alert(body.error || "Could not load more runs."); return; }
        document.getElementById("runs-body").insertAdjacentHTML("beforeend", body.html);
        const n = table.querySelectorAll("tbody tr[data-run]").length;
        count.textContent = "Showing " + n + " matching run" + (n === 1 ? "" : "s");
        more.dataset.token = body.next_page_token || "";
        more.hidden = !body.next_page_token;
        buildMenu(); apply();
        document.documentElement.dataset.runsLoaded = String(n);
      }).catch(() => { more.disabled = false; });
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
