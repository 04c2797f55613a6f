// The portal's only script: form refresh on framework/mode change, visible-if rules, image tag
// filter, spec picker filters, directory picker and upload, confirmations, live log (SSE).
"use strict";
(function () {
  const csrf = () => document.querySelector('meta[name="csrf-token"]').content;
  const $ = (sel, root) => (root || document).querySelector(sel);
  const $$ = (sel, root) => Array.from((root || document).querySelectorAll(sel));

  // Confirmation before destructive actions.
  document.addEventListener("submit", (ev) => {
    const msg = ev.target.getAttribute("data-confirm");
    if (msg && !window.confirm(msg)) ev.preventDefault();
  });
  // Under 800 px the navigation folds behind the menu button.
  const menu = $(".menubutton");
  if (menu) menu.addEventListener("click", () => {
    const bar = menu.closest(".topbar");
    bar.classList.toggle("open");
    menu.setAttribute("aria-expanded", bar.classList.contains("open") ? "true" : "false");
  });
  // Live regions (My jobs rows, a job's head and times): while one says data-live="1", fetch
  // the page again every few seconds (one request reading the store the watcher keeps
  // current, never a scheduler poll) and swap the regions in place.
  const liveRegions = () => $$("[data-live-region]");
  let liveTimer = null;
  const refreshLive = () => {
    if (liveTimer) { window.clearTimeout(liveTimer); liveTimer = null; }
    return fetch(window.location.href, { credentials: "same-origin", headers: { "X-Live-Refresh": "1" } })
      .then((r) => (r.ok ? r.text() : Promise.reject(r.status)))
      .then((html) => {
        const doc = new DOMParser().parseFromString(html, "text/html");
        let live = false;
        liveRegions().forEach((old) => {
          const fresh = old.id && doc.getElementById(old.id);
          if (fresh) { old.replaceWith(fresh); live = live || fresh.dataset.live === "1"; }
        });
        if (live) liveTimer = window.setTimeout(refreshLive, 5000);
      })
      .catch(() => { liveTimer = window.setTimeout(refreshLive, 15000); });
  };
  if (liveRegions().some((r) => r.dataset.live === "1")) liveTimer = window.setTimeout(refreshLive, 5000);
  $$("select[data-autosubmit]").forEach((s) => s.addEventListener("change", () => HTMLFormElement.prototype.submit.call(s.form)));

  const form = $("#trainform");
  if (form) {
    // Buttons set the form's action (submit / save_preset).
    $$("button[data-action]", form).forEach((b) => b.addEventListener("click", () => { $("#form-action").value = b.dataset.action; }));
    // Framework / mode / runtime change the schema: the server renders the new form.
    $$("select[data-refresh]", form).forEach((s) => s.addEventListener("change", () => {
      $("#form-action").value = "refresh"; HTMLFormElement.prototype.submit.call(form);
    }));
    // x-visible-if: show a field only when the other fields hold the wanted values.
    const valueOf = (name) => {
      const el = form.elements[name];
      if (!el) return undefined;
      if (el.type === "checkbox") return el.checked;
      return el.value;
    };
    const applyVisibility = () => {
      $$("[data-visible-if]", form).forEach((f) => {
        const rule = JSON.parse(f.dataset.visibleIf);
        const ok = Object.entries(rule).every(([k, want]) => {
          const allowed = Array.isArray(want) ? want : [want];
          const v = valueOf(k);
          return allowed.some((a) => String(a) === String(v));
        });
        f.hidden = !ok;
      });
    };
    form.addEventListener("change", applyVisibility);
    // A field's error (from the last submission) goes away once the user changes that field.
    const clearError = (ev) => {
      const f = ev.target.closest && ev.target.closest(".field.has-error");
      if (!f) return;
      f.classList.remove("has-error");
      const e = $(".error", f); if (e) e.remove();
    };
    form.addEventListener("input", clearError);
    form.addEventListener("change", clearError);
    applyVisibility();

    // Tabs of an x-tab-group: one panel shown; the form says which one it was submitted from
    // (the server drops the other tabs' fields).
    $$(".tabgroup", form).forEach((group) => {
      const tabs = $$("[role=tab]", group);
      tabs.forEach((tab) => tab.addEventListener("click", () => {
        $("[data-tab-input]", group).value = tab.dataset.tab;
        tabs.forEach((t) => {
          const on = t === tab;
          t.setAttribute("aria-selected", on ? "true" : "false");
          document.getElementById(t.getAttribute("aria-controls")).hidden = !on;
        });
      }));
    });

    // Image tag filter and keyword search, with a count ("N in total").
    const tag = $("#imgtag"), img = $("#in-image"), search = $("#imgsearch");
    const filterImages = () => {
      if (!tag || !img) return;
      const t = tag.value.trim().toLowerCase(), k = search ? search.value.trim().toLowerCase() : "";
      let n = 0;
      Array.from(img.options).forEach((o) => {
        const tags = (o.dataset.tags || "").toLowerCase().split(",");
        const show = (!t || tags.includes(t)) && (!k || o.textContent.toLowerCase().includes(k));
        o.hidden = !show; if (show) n++;
      });
      if (img.selectedOptions[0] && img.selectedOptions[0].hidden) {
        const first = Array.from(img.options).find((o) => !o.hidden);
        if (first) img.value = first.value;
      }
      $("#imgcount").textContent = n + " in total";
    };
    if (tag) {
      tag.addEventListener("input", filterImages);
      if (search) search.addEventListener("input", filterImages);
      $("#imgtag-clear").addEventListener("click", () => { tag.value = ""; if (search) search.value = ""; filterImages(); });
      filterImages();
    }

    // Resource spec picker: CPU/GPU group and node-group filter.
    $$(".specpicker").forEach((p) => {
      const sel = $("#" + p.dataset.for);
      let kind = ($(".seg button.on", p) || {}).dataset ? $(".seg button.on", p).dataset.speckind : "cpu";
      const ng = $(".nodegroup", p);
      const apply = () => {
        Array.from(sel.options).forEach((o) => {
          if (!o.value) return;
          o.hidden = o.dataset.kind !== kind || (ng.value && o.dataset.node !== ng.value);
        });
        if (sel.selectedOptions[0] && sel.selectedOptions[0].hidden) sel.value = "";
      };
      $$(".seg button", p).forEach((b) => b.addEventListener("click", () => {
        kind = b.dataset.speckind; $$(".seg button", p).forEach((x) => x.classList.toggle("on", x === b)); apply();
      }));
      ng.addEventListener("change", apply);
      apply();
    });

    // Mount rows.
    $$("[data-addmount]").forEach((b) => b.addEventListener("click", () => {
      const box = $("#" + b.dataset.addmount), rows = $$(".mountrow", box);
      const copy = rows[rows.length - 1].cloneNode(true);
      $$("input", copy).forEach((i) => { i.value = ""; });
      box.insertBefore(copy, b);
    }));

    // Remote directory picker (server-side, limited to the user's roots).
    $$("[data-browse]").forEach((b) => b.addEventListener("click", () => {
      const input = $("#" + b.dataset.browse), box = $("#picker-" + b.dataset.browse);
      const show = (path) => {
        fetch("/api/v1/files" + (path ? "?path=" + encodeURIComponent(path) : ""), { credentials: "same-origin" })
          .then((r) => r.json().then((j) => ({ ok: r.ok, j })))
          .then(({ ok, j }) => {
            box.hidden = false; box.textContent = "";
            if (!ok) { const e = document.createElement("div"); e.className = "error"; e.textContent = j.error; box.appendChild(e); return; }
            const crumb = document.createElement("div"); crumb.className = "crumb";
            const here = document.createElement("span"); here.className = "mono grow"; here.textContent = j.path; crumb.appendChild(here);
            if (j.parent) { const up = document.createElement("button"); up.type = "button"; up.className = "small"; up.textContent = "Up"; up.onclick = () => show(j.parent); crumb.appendChild(up); }
            const pick = document.createElement("button"); pick.type = "button"; pick.className = "small primary"; pick.textContent = "Select this directory";
            pick.onclick = () => { input.value = j.path; box.hidden = true; input.dispatchEvent(new Event("change", { bubbles: true })); }; crumb.appendChild(pick);
            // New folder here, then open it (the core checks the name and the roots).
            const mk = document.createElement("button"); mk.type = "button"; mk.className = "small newfolder"; mk.textContent = "New folder";
            mk.onclick = () => {
              const name = window.prompt("Name of the new folder in " + j.path);
              if (!name) return;
              fetch("/api/v1/files/mkdir", { method: "POST", credentials: "same-origin",
                headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf() }, body: JSON.stringify({ path: j.path, name }) })
                .then((r) => r.json().then((k) => ({ ok: r.ok, k })))
                .then(({ ok, k }) => { if (ok) show(k.path); else window.alert(k.error + (k.fix ? " (" + k.fix + ")" : "")); });
            };
            crumb.appendChild(mk);
            box.appendChild(crumb);
            j.entries.forEach((e) => {
              const row = document.createElement("div"); row.className = "entry" + (e.is_dir ? "" : " file");
              const n = document.createElement("span"); n.textContent = e.name; if (e.is_dir) n.className = "dir"; row.appendChild(n);
              if (e.is_dir) row.onclick = () => show(e.path);
              box.appendChild(row);
            });
          });
      };
      show(input.value);
    }));
    // A JSON file read in the browser into its editor (e.g. a parameter file), to see and edit.
    $$("[data-load-into]").forEach((inp) => inp.addEventListener("change", () => {
      const target = $("#" + inp.dataset.loadInto), file = inp.files[0];
      if (file) file.text().then((text) => { target.value = text; });
    }));
    // Local upload: files into the chosen (or home) directory; a whole folder (sub-folders kept)
    // or a zip archive (unpacked on the server) into the workspace, which becomes the project.
    const upload = (url, fd, target, setProject) => {
      const field = target.closest(".field"), status = $("#upload-" + target.id);
      status.textContent = "uploading…";
      fetch(url, { method: "POST", body: fd, headers: { "X-CSRF-Token": csrf() }, credentials: "same-origin" })
        .then((r) => r.json().catch(() => ({ error: "the server answered " + r.status + " " + r.statusText }))
          .then((j) => ({ ok: r.ok, j })), () => ({ ok: false, j: { error: "the upload failed (connection closed)" } }))
        .then(({ ok, j }) => {
          let err = $(".error", field);
          if (!ok) {
            status.textContent = "";
            if (!err) { err = document.createElement("div"); err.className = "error"; $(".control", field).appendChild(err); }
            err.textContent = j.error + (j.fix ? " — " + j.fix : ""); return;
          }
          if (err) err.remove();
          field.classList.remove("has-error");
          if (setProject || !target.value) {
            target.value = j.project;
            target.dispatchEvent(new Event("change", { bubbles: true }));
          }
          status.textContent = j.files + " item(s) uploaded to " + j.project;
        });
    };
    $$("[data-upload]").forEach((inp) => inp.addEventListener("change", () => {
      const target = $("#" + inp.dataset.upload), fd = new FormData();
      if (target.value) fd.append("path", target.value);
      Array.from(inp.files).forEach((f) => fd.append("file", f, f.name));
      upload("/api/v1/files/upload", fd, target, false);
      inp.value = "";
    }));
    $$("[data-upload-folder]").forEach((inp) => inp.addEventListener("change", () => {
      const target = $("#" + inp.dataset.uploadFolder), fd = new FormData();
      Array.from(inp.files).forEach((f) => {
        fd.append("file", f, f.name); fd.append("relative_path", f.webkitRelativePath || f.name);
      });
      upload("/api/v1/files/upload", fd, target, true);
      inp.value = "";
    }));
    $$("[data-upload-zip]").forEach((inp) => inp.addEventListener("change", () => {
      const target = $("#" + inp.dataset.uploadZip), fd = new FormData();
      if (inp.files.length) fd.append("file", inp.files[0], inp.files[0].name);
      upload("/api/v1/files/unzip", fd, target, true);
      inp.value = "";
    }));
  }

  // My services toolbar (F226): the picked row says which operations the core allows it now.
  const toolbar = $("#svc-toolbar");
  if (toolbar) {
    const opForm = $("#svc-op-form");
    const picked = () => $('input[name="pick"]:checked');
    const refresh = () => {
      const row = picked(), ops = row ? row.dataset.ops.split(" ") : [];
      $$("[data-op]", toolbar).forEach((b) => { b.disabled = !ops.includes(b.dataset.op); });
      $("#tb-picked").textContent = row ? "selected: " + row.dataset.name : "pick a service in the list";
    };
    $$('input[name="pick"]').forEach((r) => r.addEventListener("change", refresh));
    $$("[data-op]", toolbar).forEach((b) => b.addEventListener("click", () => {
      const row = picked(), op = b.dataset.op;
      if (!row || b.disabled) return;
      if (op === "modify") { window.location.href = row.dataset.modify; return; }
      if (op === "authorize") {
        const users = window.prompt("Authorize these users (comma-separated; empty = nobody):", row.dataset.authorized);
        if (users === null) return;
        opForm.elements.users.value = users;
      } else if (b.dataset.confirmText && !window.confirm(b.dataset.confirmText)) return;
      opForm.action = row.dataset.action.replace("ACTION", op);
      HTMLFormElement.prototype.submit.call(opForm);
    }));
    refresh();
  }

  // Log viewer: the whole output live over server-sent events, or one rank's log (re-read
  // every few seconds while the job runs); search filters lines, wrap and follow are toggles.
  // Text is always set as text, never as HTML.
  const log = $("#log");
  if (log && log.dataset.stream) {
    const rankSel = $("#log-rank"), search = $("#log-search"), wrap = $("#log-wrap"), follow = $("#log-follow");
    const matches = $("#log-matches"), download = $("#log-download");
    let text = "", es = null, timer = null, live = !!log.dataset.live;
    const render = () => {
      const q = (search && search.value || "").toLowerCase();
      if (q) {
        const lines = text.split("\n").filter((l) => l.toLowerCase().includes(q));
        log.textContent = lines.join("\n");
        if (matches) matches.textContent = lines.length + " matching line" + (lines.length === 1 ? "" : "s");
      } else {
        log.textContent = text;
        if (matches) matches.textContent = "";
      }
      if (!follow || follow.checked) log.scrollTop = log.scrollHeight;
    };
    const ended = (st) => {
      live = false;
      const s = $("#jobstate"), ls = $("#logstatus");
      if (s) { s.textContent = st; s.className = "state " + st; }
      if (ls) ls.textContent = "job " + st;
    };
    const stream = () => {
      if (!window.EventSource) return;
      es = new EventSource(log.dataset.stream);
      es.onmessage = (ev) => { text += JSON.parse(ev.data); render(); };
      es.addEventListener("end", (ev) => {
        es.close(); es = null; ended(JSON.parse(ev.data));
        refreshLive();  // the times, exit code and actions of the ended job, now
      });
    };
    const readRank = (rank) => {
      fetch(rankSel.dataset.textUrl + "?rank=" + encodeURIComponent(rank), { credentials: "same-origin" })
        .then((r) => r.text()).then((t) => { if (rankSel.value === rank) { text = t; render(); } });
      if (live) timer = window.setTimeout(() => readRank(rank), 3000);
    };
    if (rankSel) rankSel.addEventListener("change", () => {
      if (es) { es.close(); es = null; }
      if (timer) { window.clearTimeout(timer); timer = null; }
      text = ""; render();
      const rank = rankSel.value;
      download.href = rankSel.dataset.textUrl + "?download=1" + (rank ? "&rank=" + encodeURIComponent(rank) : "");
      if (rank) readRank(rank); else stream();
    });
    if (search) search.addEventListener("input", render);
    if (wrap) wrap.addEventListener("change", () => log.classList.toggle("nowrap", !wrap.checked));
    stream();
  }
  // Sortable tables: a click on a column heading sorts the rows by it (numbers as numbers),
  // a second click reverses; a [data-filter-table] box keeps only the rows that contain its text.
  const cellValue = (row, i) => {
    const c = row.cells[i];
    return c ? (c.dataset.sort !== undefined ? c.dataset.sort : c.textContent.trim()) : "";
  };
  const NUMBER = /^[-+]?(\d+\.?\d*|\.\d+)(e[-+]?\d+)?$/i;
  const compare = (a, b) => (NUMBER.test(a) && NUMBER.test(b)
    ? parseFloat(a) - parseFloat(b) : a.localeCompare(b, undefined, { numeric: true }));
  const sortRows = (tbody, key, dir) => {
    const rows = Array.from(tbody.rows).filter((r) => r.cells.length > 1);
    rows.sort((r1, r2) => {
      const a = key(r1), b = key(r2);
      if (a === "" || a === "-") return 1;
      if (b === "" || b === "-") return -1;
      return dir * compare(a, b);
    });
    rows.forEach((r) => tbody.appendChild(r));
  };
  $$("table.sortable").forEach((t) => {
    $$("thead th", t).forEach((th, i) => {
      if (th.querySelector("input")) return;
      th.classList.add("sorthead"); th.tabIndex = 0; th.title = "Sort by " + th.textContent.trim();
      const go = () => {
        const dir = th.dataset.dir === "1" ? -1 : 1;
        $$("thead th", t).forEach((o) => { delete o.dataset.dir; o.removeAttribute("aria-sort"); });
        th.dataset.dir = String(dir); th.setAttribute("aria-sort", dir > 0 ? "ascending" : "descending");
        sortRows(t.tBodies[0], (r) => cellValue(r, i), dir);
      };
      th.addEventListener("click", go);
      th.addEventListener("keydown", (ev) => { if (ev.key === "Enter") go(); });
    });
  });
  $$("[data-filter-table]").forEach((box) => box.addEventListener("input", () => {
    const q = box.value.toLowerCase(), t = $("#" + box.dataset.filterTable);
    Array.from(t.tBodies[0].rows).forEach((r) => { r.hidden = !!q && !r.textContent.toLowerCase().includes(q); });
  }));
  // Runs table: sort by any metric or parameter (their values sit in data-col/data-val).
  const sortBy = $("#runs-sort");
  if (sortBy) {
    const table = $("#runs");
    const keys = () => Array.from(new Set($$(".kvp[data-col]", table).map((k) => k.dataset.col))).sort();
    const fill = () => {
      const have = new Set(Array.from(sortBy.options).map((o) => o.value));
      keys().forEach((k) => { if (!have.has(k)) { const o = document.createElement("option"); o.value = k; o.textContent = k; sortBy.appendChild(o); } });
    };
    fill();
    const apply = () => {
      const [col, dirText] = [sortBy.value, $("#runs-sort-dir").value];
      if (!col) return;
      sortRows(table.tBodies[0], (r) => { const k = r.querySelector('.kvp[data-col="' + col + '"]'); return k ? k.dataset.val : ""; },
        dirText === "desc" ? -1 : 1);
    };
    sortBy.addEventListener("change", apply);
    $("#runs-sort-dir").addEventListener("change", apply);
    sortBy.addEventListener("focus", fill);
  }
  // Copy buttons (F254: an API key): data-copy names the element whose text is copied.
  document.querySelectorAll("[data-copy]").forEach((b) => b.addEventListener("click", async () => {
    const text = document.querySelector(b.dataset.copy).textContent.trim();
    try { await navigator.clipboard.writeText(text); b.textContent = "Copied"; }
    catch (e) { window.getSelection().selectAllChildren(document.querySelector(b.dataset.copy)); b.textContent = "Press Ctrl+C"; }
  }));
  document.documentElement.dataset.ready = "1";  // handlers attached (tests wait for this)
})();
