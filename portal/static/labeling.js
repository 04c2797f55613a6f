// Data labeling pages: the task list and New-task form (with the bottom-right notification
// when a background creation ends), a task's sub-tasks and data list, and the annotation page
// that mounts Label Studio's frontend with autosave. Every rule is checked by the API.
"use strict";
(function () {
  const $ = (sel, root) => (root || document).querySelector(sel);
  const $$ = (sel, root) => Array.from((root || document).querySelectorAll(sel));
  const csrf = () => document.querySelector('meta[name="csrf-token"]').content;
  const API = "/api/v1/labeling";
  async function call(method, url, body, opts) {
    const init = Object.assign({ method, headers: { "X-CSRF-Token": csrf() } }, opts || {});
    if (body !== undefined) { init.headers["Content-Type"] = "application/json"; init.body = JSON.stringify(body); }
    const r = await fetch(url, init);
    const data = r.status === 204 ? {} : await r.json().catch(() => ({}));
    if (!r.ok) { const e = new Error(data.text || data.error || r.statusText); e.status = r.status; e.data = data; throw e; }
    return data;
  }
  const el = (tag, attrs, ...kids) => {
    const n = document.createElement(tag);
    Object.entries(attrs || {}).forEach(([k, v]) => { if (v !== undefined && v !== null) n.setAttribute(k, v); });
    kids.flat().forEach((k) => n.append(k instanceof Node ? k : document.createTextNode(k == null ? "" : String(k))));
    return n;
  };
  const when = (iso) => iso ? iso.replace("T", " ").slice(0, 19) : "-";
  const list = (text) => String(text || "").split(/[,\s]+/).map((s) => s.trim()).filter(Boolean);
  function toast(text, bad) {
    const box = $("#toasts") || document.body.appendChild(el("div", { id: "toasts", class: "toasts" }));
    const t = el("div", { class: "toast" + (bad ? " err" : ""), role: "status" }, text);
    box.append(t);
    setTimeout(() => t.remove(), 8000);
  }

  // --- the task list and the New-labeling-task form --------------------------------------------
  const listTable = $("#lt-list");
  if (listTable) {
    const form = $("#lt-form");
    let known = {};
    let templates = [];
    async function refresh() {
      const tasks = await call("GET", API + "/tasks");
      const body = $("tbody", listTable);
      body.replaceChildren(...tasks.map((t) => el("tr", { "data-task": t.name },
        el("td", {}, el("a", { href: "/labeling/tasks/" + t.id }, t.name)), el("td", {}, t.dataset),
        el("td", {}, t.mode), el("td", {}, t.template_title),
        el("td", { class: "state-" + t.state }, t.state === "creating" ? `creating ${Math.round(t.progress * 100)} %` : t.state,
          t.message ? el("div", { class: "muted" }, t.message) : ""),
        el("td", {}, `${t.labeled} / ${t.items}`), el("td", {}, t.roles.join(", ")), el("td", {}, when(t.created_at)))));
      tasks.forEach((t) => {
        const was = known[t.id];
        if (was === "creating" && t.state !== "creating")
          toast(t.state === "ready" ? `Labeling task ${t.name} is ready: ${t.items} files` : `Labeling task ${t.name} failed: ${t.message}`,
                t.state !== "ready");
        known[t.id] = t.state;
      });
      if (tasks.some((t) => t.state === "creating")) setTimeout(refresh, 1000);
    }
    async function fillTemplates() {
      const opt = $("#lt-dataset").selectedOptions[0];
      const cat = opt ? opt.dataset.category : "";
      templates = await call("GET", API + "/templates?category=" + encodeURIComponent(cat || ""));
      $("#lt-template").replaceChildren(...templates.map((t) => el("option", { value: t.name }, t.title)));
      $("#lt-labels").value = templates.length ? templates[0].default_labels.join(", ") : "";
    }
    $("#lt-new").addEventListener("click", async () => {
      form.hidden = false;
      const ds = await call("GET", "/api/v1/datasets");
      const media = ds.filter((d) => ["image", "video", "audio", "text"].includes(d.category) && d.state === "ready");
      $("#lt-dataset").replaceChildren(...media.map((d) => el("option", { value: d.id, "data-category": d.category, "data-name": d.name },
        `${d.name} (${d.category}${d.area === "shared" ? ", shared" : ""})`)));
      await fillTemplates();
    });
    $("#lt-dataset").addEventListener("change", fillTemplates);
    $("#lt-template").addEventListener("change", () => {
      const t = templates.find((x) => x.name === $("#lt-template").value);
      if (t) $("#lt-labels").value = t.default_labels.join(", ");
    });
    const showCollab = () => {
      $("#lt-collab").hidden = $("#lt-mode").value !== "collaborative";
      $$(".lt-review").forEach((f) => { f.hidden = !$("#lt-review").checked; });
    };
    $("#lt-mode").addEventListener("change", showCollab);
    $("#lt-review").addEventListener("change", showCollab);
    showCollab();
    $("#lt-cancel").addEventListener("click", () => { form.hidden = true; });
    form.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      const body = { name: $("#lt-name").value, dataset: $("#lt-dataset").value, template: $("#lt-template").value,
                     labels: $("#lt-labels").value.split(",").map((s) => s.trim()).filter(Boolean),
                     mode: $("#lt-mode").value, description: $("#lt-description").value,
                     background: $("#lt-background").checked };
      if ($("#lt-pre").value.trim()) body.pre_annotation = $("#lt-pre").value.trim();
      if (body.mode === "collaborative") {
        Object.assign(body, { subtask_size: Number($("#lt-size").value), annotators: list($("#lt-annotators").value),
                              review: $("#lt-review").checked, expires_at: $("#lt-expires").value || null });
        if (body.review) Object.assign(body, { reviewers: list($("#lt-reviewers").value), policy: $("#lt-policy").value,
                                               policy_value: Number($("#lt-policy-value").value) });
      }
      const msg = $("#lt-form-msg");
      try {
        const t = await call("POST", API + "/tasks", body);
        known[t.id] = t.state;
        msg.className = "msg ok"; msg.textContent = t.state === "creating" ? "Creating in the background…" : "Created.";
        form.hidden = true;
        refresh();
      } catch (e) { msg.className = "msg err"; msg.textContent = e.message; }
    });
    refresh();
  }

  // --- one task: summary, operations, sub-tasks, data list ---------------------------------------
  const taskBox = $("#lt-task");
  if (taskBox) {
    const id = taskBox.dataset.task;
    let task = null;
    let after = null;
    const pages = [];
    const say = (text, bad) => { const m = $("#lt-msg"); m.className = "msg " + (bad ? "err" : "ok"); m.textContent = text; };
    const guarded = (fn) => async (...a) => { try { await fn(...a); } catch (e) { say(e.message, true); } };
    async function load() {
      task = await call("GET", `${API}/tasks/${id}`);
      $("#lt-state").textContent = task.state + (task.expired ? " (expired)" : "");
      $("#lt-summary").replaceChildren(el("div", {},
        `Creator ${task.owner} · ${task.labeled} of ${task.items} files labeled · labels: ${task.labels.join(", ")}`,
        task.mode === "collaborative" ? ` · annotators: ${task.annotators.join(", ")}` : "",
        task.review ? ` · reviewers: ${task.reviewers.join(", ")} (${task.policy} ${task.policy_value})` : "",
        task.expires_at ? ` · expires ${when(task.expires_at)}` : "",
        task.ended_at ? ` · ended by ${task.ended_by} at ${when(task.ended_at)}` : ""),
        task.description ? el("div", { class: "muted" }, task.description) : "");
      const ops = task.operations;
      const acts = [];
      if (ops.includes("modify")) acts.push(el("button", { type: "button", id: "lt-do-modify" }, "Modify"));
      if (ops.includes("export")) acts.push(el("button", { type: "button", id: "lt-do-export" }, "Export"));
      if (ops.includes("publish")) acts.push(el("button", { type: "button", id: "lt-do-publish" }, "Publish"));
      if (ops.includes("end")) acts.push(el("button", { type: "button", id: "lt-do-end" }, "End task"));
      if (ops.includes("delete")) acts.push(el("button", { type: "button", id: "lt-do-delete", class: "danger" }, "Delete"));
      $("#lt-actions").replaceChildren(...acts);
      $("#lt-actions").hidden = !acts.length;
      await subtasks();
    }
    async function subtasks() {
      const subs = await call("GET", `${API}/tasks/${id}/subtasks`);
      $("#lt-subtasks-card").hidden = task.mode !== "collaborative" && !subs.some((s) => s.state !== "labeling");
      $("tbody", $("#lt-subtasks")).replaceChildren(...subs.map((s) => {
        const cell = el("div", { class: "row" });
        if (s.operations.includes("label")) cell.append(el("a", { href: "#", "data-label": s.number }, "Label"));
        if (s.operations.includes("submit")) cell.append(el("button", { type: "button", "data-submit": s.number }, "Submit"));
        if (s.operations.includes("reassign")) {
          const pick = el("select", { "data-reassign-to": s.number }, ...task.annotators.map((a) => el("option", { value: a }, a)));
          pick.value = s.annotator || "";
          cell.append(pick, el("button", { type: "button", "data-reassign": s.number }, "Reassign"));
        }
        if (s.operations.includes("review")) {
          cell.append(el("select", { "data-verdict-of": s.number }, el("option", { value: "approved" }, "Approved"),
                         el("option", { value: "has_errors" }, "Has errors"), el("option", { value: "rejected" }, "Rejected")),
                      el("input", { "data-comment-of": s.number, placeholder: "comment" }),
                      el("input", { "data-flagged-of": s.number, placeholder: "file ids with errors" }),
                      el("button", { type: "button", "data-review": s.number }, "Review"));
        }
        return el("tr", { "data-subtask": s.number }, el("td", {}, s.number), el("td", {}, s.annotator || "-"),
          el("td", { class: "sub-" + s.state }, s.state), el("td", {}, s.round), el("td", {}, `${s.labeled} / ${s.items}`),
          el("td", {}, s.sample.length ? s.sample.map((i) => el("a", { href: `/labeling/items/${i}/annotate` }, `#${i} `)) : "-"),
          el("td", {}, s.verdict ? `${s.verdict}${s.comment ? ": " + s.comment : ""}` : "-"), el("td", {}, cell));
      }));
    }
    async function items(reset) {
      if (reset) { after = null; pages.length = 0; }
      const q = new URLSearchParams({ limit: "50" });
      if ($("#lf-name").value) q.set("name", $("#lf-name").value);
      if ($("#lf-status").value) q.set("status", $("#lf-status").value);
      if ($("#lf-subtask").value) q.set("subtask", $("#lf-subtask").value);
      if (after) q.set("after", after);
      const page = await call("GET", `${API}/tasks/${id}/items?${q}`);
      $("#lf-total").textContent = `${page.total}${page.more ? "+" : ""} files`;
      $("tbody", $("#lt-items")).replaceChildren(...page.items.map((it) => el("tr", { "data-item": it.id },
        el("td", {}, el("a", { href: `/labeling/items/${it.id}/annotate` }, it.name)),
        el("td", { class: it.review_mark ? "mark-" + it.review_mark : "" }, it.status === "labeled" ? "Labeled" : "Not labeled",
           it.review_mark === "has_errors" ? " · has errors" : ""),
        el("td", {}, when(it.labeled_at)), el("td", {}, when(it.file_mtime)), el("td", { class: "path" }, it.full_path),
        el("td", {}, it.summary))));
      $("#lf-next").disabled = !page.next_after;
      $("#lf-next").dataset.after = page.next_after || "";
    }
    $("#lt-filter").addEventListener("submit", guarded(async (ev) => { ev.preventDefault(); await items(true); }));
    $("#lf-first").addEventListener("click", guarded(() => items(true)));
    $("#lf-next").addEventListener("click", guarded(async () => { after = $("#lf-next").dataset.after; await items(false); }));
    document.addEventListener("click", guarded(async (ev) => {
      const t = ev.target;
      if (t.matches("[data-close]")) { t.closest("form").hidden = true; return; }
      if (t.matches("[data-label]")) {
        ev.preventDefault();
        const page = await call("GET", `${API}/tasks/${id}/items?subtask=${t.dataset.label}&status=unlabeled&limit=1`);
        const any = page.items.length ? page : await call("GET", `${API}/tasks/${id}/items?subtask=${t.dataset.label}&limit=1`);
        if (any.items.length) location.href = `/labeling/items/${any.items[0].id}/annotate`;
        return;
      }
      if (t.matches("[data-submit]")) {
        await call("POST", `${API}/tasks/${id}/subtasks/${t.dataset.submit}/submit`, {});
        say(`Sub-task ${t.dataset.submit} submitted.`); return load();
      }
      if (t.matches("[data-reassign]")) {
        const to = $(`[data-reassign-to="${t.dataset.reassign}"]`).value;
        await call("POST", `${API}/tasks/${id}/subtasks/${t.dataset.reassign}/reassign`, { annotator: to });
        say(`Sub-task ${t.dataset.reassign} reassigned to ${to}.`); return load();
      }
      if (t.matches("[data-review]")) {
        const n = t.dataset.review;
        await call("POST", `${API}/tasks/${id}/subtasks/${n}/review`, {
          verdict: $(`[data-verdict-of="${n}"]`).value, comment: $(`[data-comment-of="${n}"]`).value,
          flagged: list($(`[data-flagged-of="${n}"]`).value).map(Number) });
        say(`Sub-task ${n} reviewed.`); return load();
      }
      if (t.id === "lt-do-end" && confirm("End the task? Nobody can change it afterwards.")) {
        await call("POST", `${API}/tasks/${id}/end`, {}); say("The task is ended."); return load();
      }
      if (t.id === "lt-do-delete" && confirm("Delete the task and its annotations? The dataset's files stay.")) {
        await call("DELETE", `${API}/tasks/${id}`); location.href = "/labeling"; return;
      }
      if (t.id === "lt-do-modify") {
        const tpls = await call("GET", `${API}/templates?category=${task.category}`);
        $("#lm-template").replaceChildren(...tpls.map((x) => el("option", { value: x.name }, x.title)));
        $("#lm-template").value = task.template; $("#lm-labels").value = task.labels.join(", ");
        $("#lm-pre").value = task.pre_annotation || ""; $("#lm-description").value = task.description;
        $("#lt-modify").hidden = false; return;
      }
      if (t.id === "lt-do-export" || t.id === "lt-do-publish") {
        const formats = await call("GET", `${API}/exporters`);
        const tpl = (await call("GET", `${API}/templates?category=${task.category}`)).find((x) => x.name === task.template);
        const fits = formats.filter((f) => !tpl || f.accepts.some((k) => tpl.results.includes(k)));
        $("#lx-format").replaceChildren(...fits.map((f) => el("option", { value: f.name }, f.title)));
        const publish = t.id === "lt-do-publish";
        $("#lx-title").textContent = publish ? "Publish beside the data" : "Export to a directory";
        $("#lx-dir-field").hidden = publish;
        $("#lt-export").dataset.mode = publish ? "publish" : "export";
        $("#lt-export").hidden = false;
      }
    }));
    $("#lt-modify").addEventListener("submit", guarded(async (ev) => {
      ev.preventDefault();
      const body = { template: $("#lm-template").value, labels: $("#lm-labels").value.split(",").map((s) => s.trim()).filter(Boolean),
                     description: $("#lm-description").value };
      if ($("#lm-pre").value.trim() && $("#lm-pre").value.trim() !== (task.pre_annotation || "")) body.pre_annotation = $("#lm-pre").value.trim();
      await call("PATCH", `${API}/tasks/${id}`, body);
      $("#lt-modify").hidden = true; say("Saved."); await load(); await items(true);
    }));
    $("#lt-export").addEventListener("submit", guarded(async (ev) => {
      ev.preventDefault();
      const mode = $("#lt-export").dataset.mode;
      const body = { format: $("#lx-format").value };
      if (mode === "export") body.directory = $("#lx-directory").value;
      const got = await call("POST", `${API}/tasks/${id}/${mode}`, body);
      $("#lt-export").hidden = true;
      say(`${got.files.length} files written to ${got.directory}`);
    }));
    guarded(async () => { await load(); await items(true); })();
  }

  // --- the annotation page ------------------------------------------------------------------------
  const boot = $("#ls-boot");
  if (boot && window.LabelStudio) {
    const cfg = JSON.parse(boot.textContent);
    const itemId = cfg.item.id;
    const opened = Date.now();
    const status = (text, bad) => { const s = $("#ls-status"); s.className = "msg " + (bad ? "err" : "ok"); s.textContent = text; };
    let version = cfg.item.version;
    let lastSent = JSON.stringify(cfg.item.draft || cfg.item.result || []);
    let ls = null;  // the frontend's root store, handed over when it has loaded
    const current = () => {
      const a = ls && ls.annotationStore && ls.annotationStore.selected;
      return a ? a.serializeAnnotation() : null;
    };
    async function save(result, draft) {
      const body = { result, draft, lead_time: draft ? 0 : (Date.now() - opened) / 1000 };
      if (!draft) body.version = version;
      const got = await call("PUT", `${API}/items/${itemId}`, body);
      version = got.version;
      lastSent = JSON.stringify(result);
      status(draft ? "Draft saved " + new Date().toLocaleTimeString() : "Saved");
      if (!draft && $("#ls-itemstate")) $("#ls-itemstate").textContent = got.status === "labeled" ? "labeled" : "not labeled";
      return got;
    }
    const guardedSave = (draft) => async () => {
      const result = current();
      if (result === null) return;
      if (draft && JSON.stringify(result) === lastSent) return;
      try { await save(result, draft); } catch (e) { status(e.message, true); }
    };
    async function neighbour(step) {
      const q = new URLSearchParams({ subtask: cfg.item.subtask, limit: "1" });
      if (step > 0) q.set("after", itemId);
      const page = await call("GET", `${API}/tasks/${cfg.task.id}/items?${q}`);
      if (step > 0) return page.items[0];
      // previous: scan back in small pages (sub-tasks are small)
      let prev = null, after = null;
      for (;;) {
        const p = await call("GET", `${API}/tasks/${cfg.task.id}/items?subtask=${cfg.item.subtask}&limit=200${after ? "&after=" + after : ""}`);
        for (const it of p.items) { if (it.id >= itemId) return prev; prev = it; }
        if (!p.next_after) return prev;
        after = p.next_after;
      }
    }
    $("#ls-next").addEventListener("click", async () => { await guardedSave(true)(); const n = await neighbour(1); if (n) location.href = `/labeling/items/${n.id}/annotate`; else status("last file of this sub-task"); });
    $("#ls-prev").addEventListener("click", async () => { await guardedSave(true)(); const n = await neighbour(-1); if (n) location.href = `/labeling/items/${n.id}/annotate`; else status("first file of this sub-task"); });
    call("GET", `${API}/items/${itemId}`).then((item) => {
      const restored = item.draft && item.editable;
      const result = restored ? item.draft : (item.result || []);
      const interfaces = ["panel", "controls", "side-column", "annotations:current", "topbar", "edit-history"];
      if (item.editable) interfaces.push("update", "submit");
      new window.LabelStudio("label-studio", {
        config: cfg.task.config, interfaces,
        user: { pk: 1, firstName: cfg.user, lastName: "" },
        task: { id: itemId, data: item.data, annotations: [{ id: String(itemId), result }] },
        onLabelStudioLoad: (store) => {
          ls = store;
          window.hpcaiLabelStudio = store;
          const ann = store.annotationStore.annotations[0];
          if (ann) store.annotationStore.selectAnnotation(ann.id);
          if (!item.editable) status("read-only: " + (item.status === "labeled" ? "labeled" : "not labeled"));
          if (restored) status("Restored your unsaved draft");
          document.body.dataset.lsReady = "1";
        },
        onSubmitAnnotation: guardedSave(false),
        onUpdateAnnotation: guardedSave(false),
      });
      if (item.editable) {
        // Autosave: a closed tab or a crash loses at most a few seconds of work.
        setInterval(guardedSave(true), 3000);
        window.addEventListener("beforeunload", () => {
          const r = current();
          if (r && JSON.stringify(r) !== lastSent)
            fetch(`${API}/items/${itemId}`, { method: "PUT", keepalive: true, headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf() },
                                              body: JSON.stringify({ result: r, draft: true }) });
        });
      }
    }).catch((e) => status(e.message, true));
  }
})();
