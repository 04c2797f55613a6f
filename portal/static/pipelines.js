// Pipeline cards, custom functions and the pipeline instances page (list, filters, operations,
// the drawer with details, live log, data files and the model evaluation tab).
(function () {
  "use strict";
  const csrf = () => document.querySelector('meta[name="csrf-token"]').content;
  const $ = (id) => document.getElementById(id);
  const esc = (s) => String(s == null ? "" : s).replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c]));
  async function api(method, url, body) {
    const opts = { method, credentials: "same-origin", headers: { "X-CSRF-Token": csrf() } };
    if (body !== undefined) { opts.headers["Content-Type"] = "application/json"; opts.body = JSON.stringify(body); }
    const r = await fetch("/api/v1/pipelines" + url, opts);
    const ct = r.headers.get("Content-Type") || "";
    const data = ct.includes("json") ? await r.json() : await r.text();
    if (!r.ok) throw Object.assign(new Error((data && data.error) || r.statusText), { data });
    return data;
  }
  const when = (s) => (s ? new Date(s).toLocaleString() : "");

  // --- cards ---------------------------------------------------------------------------------------
  if ($("pl-cards")) {
    const cards = $("pl-cards");
    async function loadCards() {
      const type = $("pl-type-filter").value;
      const rows = await api("GET", type ? "?type=" + encodeURIComponent(type) : "");
      cards.querySelectorAll(".pl-card:not(.pl-new)").forEach((c) => c.remove());
      for (const r of rows) {
        cards.insertAdjacentHTML("beforeend", `<div class="pl-card" data-id="${r.id}">` +
          `<a href="/pipelines/${r.id}/design"><strong>${esc(r.name)}</strong></a><span class="muted">ID ${r.id} · ${esc(r.type)} · updated ${when(r.updated)}</span>` +
          `<span>${r.nodes} components · revision ${r.revision}${r.published ? " · published" : ""}</span>` +
          `<span class="small" title="${esc(r.description)}">Description</span>` +
          `<span><button type="button" class="link" data-publish="${r.id}" data-state="${r.published ? 1 : 0}">${r.published ? "Unpublish" : "Publish"}</button> ` +
          `<button type="button" class="link danger" data-delete-pipeline="${r.id}">Delete</button></span></div>`);
      }
      const types = [...new Set(rows.map((r) => r.type).filter(Boolean))];
      $("pl-types").innerHTML = types.map((t) => `<option value="${esc(t)}">`).join("");
      if (!type) $("pl-type-filter").innerHTML = '<option value="">all</option>' + types.map((t) => `<option>${esc(t)}</option>`).join("");
    }
    $("pl-type-filter").addEventListener("change", loadCards);
    cards.addEventListener("click", (ev) => {
      const t = ev.target;
      if (t.dataset.deletePipeline && confirm("Delete this pipeline?")) api("DELETE", "/" + t.dataset.deletePipeline).then(loadCards);
      if (t.dataset.publish) api("POST", `/${t.dataset.publish}/publish`, { published: t.dataset.state !== "1" }).then(loadCards);
    });
    $("pl-new").addEventListener("click", () => { $("pl-new-form").hidden = false; $("pl-name").focus(); });
    $("pl-cancel").addEventListener("click", () => { $("pl-new-form").hidden = true; });
    $("pl-new-form").addEventListener("submit", (ev) => {
      ev.preventDefault();
      api("POST", "", { name: $("pl-name").value, type: $("pl-type").value || $("pl-type-filter").value, description: $("pl-description").value })
        .then((row) => { location.href = `/pipelines/${row.id}/design`; }, (e) => { $("pl-new-error").textContent = (e.data && e.data.text) || e.message; });
    });
    document.querySelectorAll(".pl-tabs:not(.small) button").forEach((b) => b.addEventListener("click", () => {
      document.querySelectorAll(".pl-tabs:not(.small) button").forEach((x) => x.classList.toggle("active", x === b));
      $("pl-cards-tab").hidden = b.dataset.tab !== "cards";
      $("pl-functions-tab").hidden = b.dataset.tab !== "functions";
    }));
    let kind = "loss";
    const TEMPLATE = { loss: 'import keras\n\n\ndef my_loss(y_true, y_pred):\n    """The entry name (here my_loss) must equal Name."""\n    return keras.losses.mean_squared_error(y_true, y_pred)\n',
      metric: 'import keras\n\n\ndef my_metric(y_true, y_pred):\n    """The entry name (here my_metric) must equal Name."""\n    return keras.ops.mean(keras.ops.abs(y_true - y_pred))\n' };
    async function loadFunctions() {
      const rows = await api("GET", "/functions?kind=" + kind);
      const box = $("pl-functions");
      box.querySelectorAll(".pl-card:not(.pl-new)").forEach((c) => c.remove());
      for (const f of rows) {
        box.insertAdjacentHTML("beforeend", `<div class="pl-card" data-id="${f.id}"><strong>${esc(f.name)}</strong>` +
          `<span class="muted">ID ${f.id} · ${when(f.created)}</span><span class="small" title="${esc(f.description)}">Description</span>` +
          `<button type="button" class="link danger" data-delete="${f.id}">Delete</button></div>`);
      }
    }
    $("pl-functions").addEventListener("click", (ev) => {
      const id = ev.target.dataset.delete;
      if (id && confirm("Delete this function? This cannot be undone.")) api("DELETE", "/functions/" + id).then(loadFunctions);
    });
    document.querySelectorAll("#pl-functions-tab .pl-tabs button").forEach((b) => b.addEventListener("click", () => {
      kind = b.dataset.kind;
      document.querySelectorAll("#pl-functions-tab .pl-tabs button").forEach((x) => x.classList.toggle("active", x === b));
      loadFunctions();
    }));
    $("pl-new-fn").addEventListener("click", () => { $("pl-fn-form").hidden = false; $("fn-body").value = TEMPLATE[kind]; });
    $("fn-cancel").addEventListener("click", () => { $("pl-fn-form").hidden = true; });
    $("pl-fn-form").addEventListener("submit", (ev) => {
      ev.preventDefault();
      api("POST", "/functions", { kind, name: $("fn-name").value, body: $("fn-body").value, description: $("fn-description").value,
        has_params: $("fn-params").checked }).then(() => { $("pl-fn-form").hidden = true; $("fn-error").textContent = ""; loadFunctions(); },
        (e) => { $("fn-error").textContent = (e.data && e.data.text) || e.message; });
    });
    loadCards();
    loadFunctions();
  }

  // --- instances -------------------------------------------------------------------------------------
  if ($("in-table")) {
    const body = $("in-table").querySelector("tbody");
    const OPS = { queued: ["terminate"], running: ["terminate", "suspend"], suspended: ["resume", "terminate"],
      unknown: ["terminate"], succeeded: ["delete"], failed: ["delete"], cancelled: ["delete"], deleted: ["delete"] };
    async function list() {
      const q = new URLSearchParams({ name: $("in-name").value, state: $("in-state").value });
      const rows = await api("GET", "/instances?" + q);
      body.innerHTML = rows.map((r) => `<tr data-id="${r.id}"><td><a href="#" data-open="${r.id}">${esc(r.name)}</a></td><td>${r.id}</td>` +
        `<td><span class="state ${esc(r.state)}">${esc(r.state)}</span></td><td>${esc(r.resource_spec)}</td><td>${when(r.created)}</td>` +
        `<td>${when(r.start_time)}</td><td>${when(r.end_time)}</td><td>${r.duration_s == null ? "" : Math.round(r.duration_s) + " s"}</td>` +
        `<td>${(OPS[r.state] || []).map((o) => `<button type="button" class="link" data-op="${o}" data-id="${r.id}">${o[0].toUpperCase() + o.slice(1)}</button>`).join(" ")}</td></tr>`).join("")
        || '<tr><td colspan="9" class="muted">No pipeline instances yet: run a pipeline from the designer.</td></tr>';
    }
    body.addEventListener("click", (ev) => {
      const t = ev.target;
      if (t.dataset.open) { ev.preventDefault(); open(t.dataset.open); }
      if (t.dataset.op && (t.dataset.op !== "delete" || confirm("Delete this instance and all its data?"))) {
        api("POST", `/instances/${t.dataset.id}/${t.dataset.op}`).then(list, (e) => alert((e.data && e.data.text) || e.message));
      }
    });
    $("in-refresh").addEventListener("click", list);
    $("in-name").addEventListener("input", list);
    $("in-state").addEventListener("change", list);
    let info = null, tab = "details", timer = null;
    async function open(id) {
      info = await api("GET", "/instances/" + id);
      $("in-drawer").hidden = false;
      $("in-drawer-title").textContent = `${info.name} · instance ${info.id}`;
      $("in-eval-tab").hidden = !Object.keys(info.evaluations).length;
      render();
      clearTimeout(timer);
      if (["queued", "running", "suspended", "unknown"].includes(info.state)) timer = setTimeout(() => { open(id); list(); }, 2000);
    }
    function render() {
      document.querySelectorAll("#in-tabs button").forEach((b) => b.classList.toggle("active", b.dataset.tab === tab));
      const pane = $("in-pane");
      if (tab === "details") {
        pane.innerHTML = `<dl class="pl-dl"><dt>State</dt><dd><span class="state ${esc(info.state)}">${esc(info.state)}</span></dd>` +
          `<dt>Job</dt><dd>${info.job_id ? `<a href="/jobs/${info.job_id}">${info.job_id}</a> (scheduler id ${esc(info.scheduler_job_id)})` : ""}</dd>` +
          `<dt>Resources</dt><dd>${esc(info.resource_spec)}${info.exec_hosts ? " on " + esc(info.exec_hosts) : ""}</dd>` +
          `<dt>Experiment data</dt><dd>${info.job_id ? `<a href="/jobs/${info.job_id}/experiments" id="in-experiment">parameters and metrics (tagged designer)</a>` : ""}</dd><dt>Created</dt><dd>${when(info.created)}</dd>` +
          `<dt>Duration</dt><dd>${info.duration_s == null ? "" : Math.round(info.duration_s) + " s"}</dd></dl>` +
          `<h3>Components</h3><table class="grid small">${Object.entries(info.nodes).sort((x, y) => (x[1].started || 1e20) - (y[1].started || 1e20)).map(([id, n]) => `<tr><td>${esc(id)}</td><td>${esc(n.title)}</td>` +
            `<td><span class="state ${esc(n.state)}">${esc(n.state)}</span></td><td class="error">${esc(n.error || "")}</td></tr>`).join("")}</table>` +
          `<h3>Datasets</h3><ul>${info.datasets.map((d) => `<li>${esc(d.node)}: ${esc(d.source)}</li>`).join("") || "<li class='muted'>none</li>"}</ul>` +
          `<h3>Models</h3><ul>${info.models.map((m) => `<li>${esc(m.node)}: <a href="/api/v1/pipelines/instances/${info.id}/files/${encodeURI(m.file)}">${esc(m.file)}</a> (${m.size} bytes)</li>`).join("") || "<li class='muted'>none</li>"}</ul>` +
          `<p class="muted small" id="in-archiving">${esc(info.archiving)}</p>` +
          `<h3>Metrics</h3><ul>${Object.entries(info.metrics).map(([k, v]) => `<li>${esc(k)} = ${Number(v).toFixed(4)}</li>`).join("") || "<li class='muted'>none</li>"}</ul>`;
      } else if (tab === "log") {
        pane.innerHTML = `<pre class="pl-log" id="in-log">${esc(info.log || "(no output yet)")}</pre>`;
        const pre = $("in-log"); pre.scrollTop = pre.scrollHeight;
      } else if (tab === "files") {
        pane.innerHTML = `<ul class="pl-files">${info.files.map((f) => `<li><a href="/api/v1/pipelines/instances/${info.id}/files/${encodeURI(f.path)}">${esc(f.path)}</a> <span class="muted">${f.size} B</span></li>`).join("")}</ul>`;
      } else {
        pane.innerHTML = Object.entries(info.evaluations).map(([node, ev]) => `<h3>${esc(node)}: ${esc(ev.model)} (${esc(ev.task)}, ${esc(ev.rows)} rows, n=${ev.n})</h3>` +
          `<table class="grid small">${Object.entries(ev.metrics).map(([k, v]) => `<tr><td>${esc(k)}</td><td>${Number(v).toFixed(4)}</td></tr>`).join("")}</table>` +
          (ev.confusion_matrix ? `<h4>Confusion matrix</h4><table class="grid small"><tr><th></th>${ev.confusion_matrix.labels.map((l) => `<th>${esc(l)}</th>`).join("")}</tr>` +
            ev.confusion_matrix.matrix.map((row, i) => `<tr><th>${esc(ev.confusion_matrix.labels[i])}</th>${row.map((v) => `<td>${v}</td>`).join("")}</tr>`).join("") + "</table>" : "")).join("");
      }
    }
    $("in-tabs").addEventListener("click", (ev) => { if (ev.target.dataset.tab) { tab = ev.target.dataset.tab; render(); } });
    $("in-drawer-close").addEventListener("click", () => { $("in-drawer").hidden = true; clearTimeout(timer); });
    list().then(() => {
      const want = new URLSearchParams(location.search).get("open");
      if (want) open(want);
    });
  }
})();
