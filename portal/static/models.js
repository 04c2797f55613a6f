// Model registry pages: create / modify / delete, versions, convert, share and the file browser,
// all through /api/v1/models (the same calls a script makes).
(() => {
  "use strict";
  const $ = (s) => document.querySelector(s);
  const csrf = () => document.querySelector('meta[name="csrf-token"]').content;
  async function api(method, url, body, raw) {
    const opts = { method, credentials: "same-origin", headers: { "X-CSRF-Token": csrf() } };
    if (raw) opts.body = raw;
    else if (body !== undefined) { opts.headers["Content-Type"] = "application/json"; opts.body = JSON.stringify(body); }
    const r = await fetch("/api/v1" + url, opts);
    const data = r.status === 204 ? {} : await r.json().catch(() => ({}));
    if (!r.ok) throw new Error((data.field ? data.field + ": " : "") + (data.error || r.statusText) + (data.fix ? " — " + data.fix : ""));
    return data;
  }
  const say = (el, text, ok) => { if (el) { el.textContent = text; el.className = "msg " + (ok ? "ok" : "error"); } };
  const show = (sel) => { const f = $(sel); if (f) f.hidden = !f.hidden; };
  const on = (sel, ev, fn) => { const el = $(sel); if (el) el.addEventListener(ev, fn); };

  // --- list page ---------------------------------------------------------------------------
  const flash = sessionStorage.getItem("models-flash");
  if (flash && $("#models-flash")) { sessionStorage.removeItem("models-flash"); say($("#models-flash"), flash, true); $("#models-flash").hidden = false; }
  on("#create-model", "click", () => show("#model-form"));
  on("#m-cancel", "click", () => show("#model-form"));
  on("#m-dir-reset", "click", () => { $("#m-dir").value = ""; });
  on("#m-lora", "change", () => { $("#m-base-field").hidden = !$("#m-lora").value; });
  on("#model-form", "submit", async (e) => {
    e.preventDefault();
    const body = { name: $("#m-name").value, purpose: $("#m-purpose").value, model_dir: $("#m-dir").value,
      is_lora: !!$("#m-lora").value, base_model: $("#m-base").value, tags: $("#m-tags").value,
      description: $("#m-description").value };
    // The toast outlives the reload that shows the new card: a 400 ms window was missed under load.
    try { const m = await api("POST", "/models", body); say($("#m-msg"), m.message, true);
      sessionStorage.setItem("models-flash", m.message); location.reload(); }
    catch (err) { say($("#m-msg"), err.message, false); }
  });
  let deleting = null;
  document.querySelectorAll(".delete-model").forEach((b) => b.addEventListener("click", () => {
    deleting = `/models/${b.dataset.id}?area=${b.dataset.area}`;
    $("#delete-what").textContent = b.dataset.name; $("#delete-files").checked = false; $("#delete-dialog").showModal();
  }));
  on("#delete-dialog", "close", async () => {
    if ($("#delete-dialog").returnValue !== "ok" || !deleting) return;
    try { await api("DELETE", deleting + (deleting.includes("?") ? "&" : "?") + "delete_files=" + ($("#delete-files").checked ? 1 : 0));
      location.href = deleting.includes("/versions/") ? location.pathname : "/models"; }
    catch (err) { alert(err.message); }
  });

  on("#tag-form", "submit", async (e) => {
    e.preventDefault();
    try { await api("POST", "/model-tags", { category: $("#tag-category").value, name: $("#tag-name").value }); location.reload(); }
    catch (err) { say($("#tag-msg"), err.message, false); }
  });
  document.querySelectorAll(".tag-delete").forEach((b) => b.addEventListener("click", async () => {
    try { await api("DELETE", `/model-tags?category=${encodeURIComponent(b.dataset.category)}&name=${encodeURIComponent(b.dataset.name)}`); location.reload(); }
    catch (err) { alert(err.message); }
  }));

  // --- detail page -------------------------------------------------------------------------
  const data = $("#model-data");
  if (!data) return;
  const model = data.dataset.name;
  const version = () => $("#version-select") ? $("#version-select").value : "";
  const base = () => `/models/${model}/versions/${version()}`;
  on("#version-select", "change", () => { location.search = "?v=" + version(); });
  on("#modify-form", "submit", async (e) => {
    e.preventDefault();
    try { await api("PATCH", `/models/${model}`, { purpose: $("#mod-purpose").value, tags: $("#mod-tags").value,
      description: $("#mod-description").value }); say($("#modify-msg"), "Modified", true);
      sessionStorage.setItem("models-flash", "Model modified"); location.reload(); }
    catch (err) { say($("#modify-msg"), err.message, false); }
  });
  on("#new-version-btn", "click", () => show("#version-form"));
  on("#v-dir-reset", "click", () => { $("#v-dir").value = ""; });
  on("#version-form", "submit", async (e) => {
    e.preventDefault();
    try { const v = await api("POST", `/models/${model}/versions`, { model_dir: $("#v-dir").value, description: $("#v-description").value });
      location.search = "?v=" + v.number; }
    catch (err) { say($("#v-msg"), err.message, false); }
  });
  const convType = () => $("#c-type").value;
  const showConv = () => document.querySelectorAll(".c-fields").forEach((d) => { d.hidden = d.dataset.type !== convType(); });
  on("#convert-btn", "click", () => { show("#convert-form"); showConv(); });
  on("#c-type", "change", showConv);
  on("#convert-form", "submit", async (e) => {
    e.preventDefault();
    const options = {};
    document.querySelectorAll(`.c-fields[data-type="${convType()}"] input`).forEach((i) => {
      if (i.value === "") return;
      options[i.dataset.key] = i.dataset.kind === "integer" ? Number(i.value) : i.dataset.kind === "boolean" ? i.value === "true" : i.value;
    });
    try { const r = await api("POST", base() + "/convert", { converter: convType(), options });
      say($("#c-msg"), `Conversion job ${r.job.id} submitted (My jobs); its result is v${r.version}`, true);
      setTimeout(() => { location.search = "?v=" + r.version; }, 800); }
    catch (err) { say($("#c-msg"), err.message, false); }
  });
  on("#share-btn", "click", () => show("#share-form"));
  on("#share-form", "submit", async (e) => {
    e.preventDefault();
    const body = { name: $("#s-name").value, share_group: $("#s-group").value, share_users: $("#s-users").value,
      share_dir: $("#s-dir").value, description: $("#s-description").value, background: $("#s-background").checked };
    try { const m = await api("POST", base() + "/share", body); say($("#s-msg"), `Shared as ${m.name} (${m.state})`, true); }
    catch (err) { say($("#s-msg"), err.message, false); }
  });
  on("#delete-version-btn", "click", () => {
    deleting = base(); $("#delete-what").textContent = "v" + version(); $("#delete-files").checked = false; $("#delete-dialog").showModal();
  });

  // --- file browser (F212) -------------------------------------------------------------------
  let where = "", clip = null;
  const picked = () => [...document.querySelectorAll("#file-table input:checked")].map((c) => c.value);
  const fmsg = (t, ok) => say($("#f-msg"), t, ok);
  async function list(q) {
    const url = base() + "/files?" + (q ? "q=" + encodeURIComponent(q) : "path=" + encodeURIComponent(where));
    let r;
    try { r = await api("GET", url); } catch (err) { fmsg(err.message, false); return; }
    $("#f-where").textContent = q ? `search: ${q}` : "/" + where;
    const rows = r.entries.map((e) => {
      const name = e.path.split("/").pop();
      const link = e.is_dir ? `<a href="#" data-dir="${e.path}">${name}/</a>`
        : `<a href="/api/v1${base()}/files/download?path=${encodeURIComponent(e.path)}">${name}</a>`;
      return `<tr><td><input type="checkbox" value="${e.path}" aria-label="pick ${name}"></td><td>${link}</td><td>${e.is_dir ? "" : e.size}</td><td class="muted">${q ? e.path : ""}</td></tr>`;
    });
    if (where && !q) rows.unshift(`<tr><td></td><td><a href="#" data-dir="${where.split("/").slice(0, -1).join("/")}">..</a></td><td></td><td></td></tr>`);
    $("#file-table tbody").innerHTML = rows.join("");
    document.querySelectorAll("#file-table a[data-dir]").forEach((a) => a.addEventListener("click", (ev) => { ev.preventDefault(); where = a.dataset.dir; list(); }));
  }
  on("#file-search", "keydown", (e) => { if (e.key === "Enter") list($("#file-search").value); });
  on("#f-new", "click", async () => {
    const name = prompt("New folder name"); if (!name) return;
    try { await api("POST", base() + "/files", { op: "mkdir", path: where, name }); list(); } catch (err) { fmsg(err.message, false); }
  });
  on("#f-upload", "change", async () => {
    const f = $("#f-upload").files[0]; if (!f) return;
    const form = new FormData(); form.append("path", where); form.append("file", f, f.name);
    try { await api("POST", base() + "/files", undefined, form); fmsg(`uploaded ${f.name}`, true); list(); } catch (err) { fmsg(err.message, false); }
  });
  on("#f-cut", "click", () => { clip = { mode: "cut", paths: picked() }; fmsg(`${clip.paths.length} to move`, true); });
  on("#f-copy", "click", () => { clip = { mode: "copy", paths: picked() }; fmsg(`${clip.paths.length} to copy`, true); });
  on("#f-paste", "click", async () => {
    if (!clip) return fmsg("cut or copy files first", false);
    try { await api("POST", base() + "/files", { op: "paste", mode: clip.mode, paths: clip.paths, dest: where }); clip = null; list(); }
    catch (err) { fmsg(err.message, false); }
  });
  on("#f-delete", "click", async () => {
    const paths = picked(); if (!paths.length || !confirm(`Delete ${paths.length} item(s)?`)) return;
    try { await api("POST", base() + "/files", { op: "delete", paths }); list(); } catch (err) { fmsg(err.message, false); }
  });
  if ($("#version-select") && version()) list();
})();
