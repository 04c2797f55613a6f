// The pipeline designer: palette (from the components' categories), a Drawflow canvas, the
// property panel rendered from each component's schema, "!" markers from the core's
// validation, undo/redo over document snapshots, right-button panning. The document it edits
// is the same JSON the CLI and the API run.
(function () {
  "use strict";
  const csrf = () => document.querySelector('meta[name="csrf-token"]').content;
  const root = document.getElementById("pl-designer");
  if (!root) return;
  const DATA = JSON.parse(document.getElementById("pl-data").textContent);
  const pid = Number(root.dataset.id);
  let published = root.dataset.published === "1";
  const $ = (id) => document.getElementById(id);
  const esc = (s) => String(s == null ? "" : s).replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c]));

  async function api(method, url, body) {
    const opts = { method, credentials: "same-origin", headers: { "X-CSRF-Token": csrf() } };
    if (body !== undefined) { opts.headers["Content-Type"] = "application/json"; opts.body = JSON.stringify(body); }
    const r = await fetch("/api/v1/pipelines" + url, opts);
    const data = await r.json().catch(() => ({}));
    if (!r.ok) throw Object.assign(new Error(data.error || r.statusText), { data });
    return data;
  }

  const editor = new Drawflow($("pl-canvas"));
  editor.reroute = false;
  editor.start();
  const comps = {};           // component name -> descriptor
  const customFns = { loss: [], metric: [] };  // the user's custom function names by kind
  const nodes = {};           // drawflow id -> {id, component, properties}
  let meta = { ...DATA.empty };   // name, type, description of the document
  let loading = false, history = [], future = [], errors = {}, selected = null, seq = 0;

  // --- palette ----------------------------------------------------------------------------------
  async function palette(search) {
    const res = await api("GET", "/components?search=" + encodeURIComponent(search || ""));
    const list = $("pl-palette-list");
    list.innerHTML = "";
    for (const cat of res.categories) {
      cat.components.forEach((c) => { comps[c.name] = c; });
      const sec = document.createElement("details");
      sec.className = "pl-cat";
      sec.open = !!search;
      sec.innerHTML = `<summary>${esc(cat.category)} <span class="muted">${cat.components.length}</span></summary>`;
      let group = null;
      for (const c of cat.components) {
        if (c.group && c.group !== group) { group = c.group; sec.insertAdjacentHTML("beforeend", `<div class="pl-group">${esc(group)}</div>`); }
        const item = document.createElement("div");
        item.className = "pl-item" + (c.unavailable ? " unavailable" : "");
        item.draggable = true;
        item.dataset.component = c.name;
        item.title = c.unavailable ? "Cannot run here: " + c.unavailable : (c.description || c.title);
        item.textContent = c.title;
        item.addEventListener("dragstart", (ev) => ev.dataTransfer.setData("text/plain", c.name));
        sec.appendChild(item);
      }
      list.appendChild(sec);
    }
  }
  let searchTimer = null;
  $("pl-search").addEventListener("input", (ev) => { clearTimeout(searchTimer); searchTimer = setTimeout(() => palette(ev.target.value), 200); });

  // --- nodes ------------------------------------------------------------------------------------
  function nodeHtml(c, docId) {
    const ins = c.inputs.map((p) => esc(p.name)).join(", "), outs = c.outputs.map((p) => esc(p.name)).join(", ");
    return `<div class="pl-node" data-doc-id="${esc(docId)}"><div class="pl-node-title">${esc(c.title)}<span class="pl-warn" hidden>!</span></div>` +
      `<div class="pl-node-ports muted">${ins ? "in: " + ins : ""}${ins && outs ? " · " : ""}${outs ? "out: " + outs : ""}</div></div>`;
  }
  function newId(name) {
    const used = new Set(Object.values(nodes).map((n) => n.id));
    let id;
    do { seq += 1; id = name.replace(/[^A-Za-z0-9_.-]/g, "_").slice(0, 40) + "_" + seq; } while (used.has(id));
    return id;
  }
  function addNode(name, x, y, docId, props) {
    const c = comps[name];
    if (!c) { status(`unknown component ${name}`, true); return null; }
    docId = docId || newId(name);
    const fid = editor.addNode(name, c.inputs.length, c.outputs.length, x, y, "pl-n", {}, nodeHtml(c, docId));
    nodes[fid] = { id: docId, component: name, properties: props || {} };
    return fid;
  }
  const canvas = $("pl-canvas");
  canvas.addEventListener("dragover", (ev) => ev.preventDefault());
  canvas.addEventListener("drop", (ev) => {
    ev.preventDefault();
    const name = ev.dataTransfer.getData("text/plain");
    const rect = editor.precanvas.getBoundingClientRect();
    const x = (ev.clientX - rect.x) / editor.zoom, y = (ev.clientY - rect.y) / editor.zoom;
    const fid = addNode(name, x, y);
    if (fid) openProps(fid);
  });

  // --- the document <-> the canvas --------------------------------------------------------------
  function toDocument() {
    const data = editor.export().drawflow.Home.data;
    const out = { format: 1, name: meta.name, type: meta.type, description: meta.description, nodes: [], edges: [] };
    for (const [fid, n] of Object.entries(nodes)) {
      const d = data[fid];
      if (!d) continue;
      out.nodes.push({ id: n.id, component: n.component, properties: n.properties, position: { x: Math.round(d.pos_x), y: Math.round(d.pos_y) } });
      const c = comps[n.component];
      Object.entries(d.outputs || {}).forEach(([oname, o]) => {
        const port = c.outputs[Number(oname.split("_")[1]) - 1];
        for (const conn of o.connections) {
          const dst = nodes[conn.node];
          if (!dst) continue;
          const dport = comps[dst.component].inputs[Number(conn.output.split("_")[1]) - 1];
          out.edges.push({ from: { node: n.id, port: port.name }, to: { node: dst.id, port: dport.name } });
        }
      });
    }
    return out;
  }
  function load(doc) {
    loading = true;
    editor.clear();
    editor.nodeId = 1;  // a reloaded snapshot (undo/redo) gets the same canvas ids again
    Object.keys(nodes).forEach((k) => delete nodes[k]);
    meta = { name: doc.name || meta.name, type: doc.type || meta.type, description: doc.description || "" };
    const byDoc = {};
    for (const n of doc.nodes || []) {
      const p = n.position || { x: 40, y: 40 };
      const fid = addNode(n.component, p.x, p.y, n.id, JSON.parse(JSON.stringify(n.properties || {})));
      if (fid) byDoc[n.id] = fid;
      const m = /_(\d+)$/.exec(n.id); if (m) seq = Math.max(seq, Number(m[1]));
    }
    for (const e of doc.edges || []) {
      const s = byDoc[e.from.node], d = byDoc[e.to.node];
      if (!s || !d) continue;
      const oi = comps[nodes[s].component].outputs.findIndex((p) => p.name === e.from.port) + 1;
      const ii = comps[nodes[d].component].inputs.findIndex((p) => p.name === e.to.port) + 1;
      if (oi && ii) editor.addConnection(s, d, "output_" + oi, "input_" + ii);
    }
    loading = false;
    closeProps();
    validateSoon();
  }

  // --- undo / redo: snapshots of the document ---------------------------------------------------
  let current = null;
  function changed() {
    if (loading) return;
    const doc = JSON.stringify(toDocument());
    if (doc === current) return;
    if (current !== null) history.push(current);
    if (history.length > 200) history.shift();
    future = [];
    current = doc;
    dirty(true);
    validateSoon();
  }
  function undo() { if (!history.length) return; future.push(current); current = history.pop(); load(JSON.parse(current)); dirty(true); }
  function redo() { if (!future.length) return; history.push(current); current = future.pop(); load(JSON.parse(current)); dirty(true); }
  ["nodeCreated", "nodeRemoved", "connectionCreated", "connectionRemoved", "nodeMoved"].forEach((ev) => editor.on(ev, changed));
  editor.on("nodeRemoved", (fid) => { delete nodes[fid]; if (selected === String(fid)) closeProps(); changed(); });
  editor.on("nodeSelected", (fid) => openProps(fid));
  editor.on("connectionCreated", (c) => {  // a port takes one edge unless it is `multiple`
    const n = nodes[c.input_id];
    if (!n || loading) return;
    const port = comps[n.component].inputs[Number(c.input_class.split("_")[1]) - 1];
    const d = editor.getNodeFromId(c.input_id);
    if (!port.multiple && d.inputs[c.input_class].connections.length > 1) {
      editor.removeSingleConnection(c.output_id, c.input_id, c.output_class, c.input_class);
      status(`${comps[n.component].title}: input "${port.name}" takes one connection only`, true);
    }
  });
  let isDirty = false;
  function dirty(v) { isDirty = v; $("pl-save").textContent = v ? "Save *" : "Save"; }
  window.addEventListener("beforeunload", (ev) => { if (isDirty) { ev.preventDefault(); ev.returnValue = ""; } });

  // --- validation markers -----------------------------------------------------------------------
  let vTimer = null;
  function validateSoon() { clearTimeout(vTimer); vTimer = setTimeout(validate, 250); }
  let vSeq = 0;
  async function validate() {
    const mine = ++vSeq;
    const res = await api("POST", "/validate", { document: toDocument() }).catch(() => null);
    if (!res || mine !== vSeq) return res;  // a newer check is under way: its answer wins
    root.dataset.validated = String(Number(root.dataset.validated || 0) + 1);  // tests and benchmarks wait on it
    errors = {};
    const general = [];
    for (const e of res.errors) { if (e.node) (errors[e.node] = errors[e.node] || []).push(e); else general.push(e.text); }
    document.querySelectorAll(".pl-node").forEach((el) => {
      const list = errors[el.dataset.docId] || [];
      const warn = el.querySelector(".pl-warn");
      warn.hidden = !list.length;
      warn.title = list.map((e) => e.error + (e.fix ? " (" + e.fix + ")" : "")).join("\n");
    });
    status(res.valid ? "Ready to run" : (general.join("; ") || `${Object.keys(errors).length} component(s) need fixing (hover the ! marker)`), !res.valid);
    if (selected) markFields();
    return res;
  }
  function status(text, bad) { const s = $("pl-status"); s.textContent = text; s.className = "pl-status" + (bad ? " bad" : " good"); }

  // --- the property panel (from the component's schema) ----------------------------------------
  function fieldHtml(key, p, value) {
    const type = [].concat(p.type || []);
    const label = esc(p.title || key), id = "prop-" + key;
    const shown = value === undefined ? "" : (typeof value === "string" ? value : JSON.stringify(value));
    const ph = p.default === undefined || p.default === null ? "" : (typeof p.default === "string" ? p.default : JSON.stringify(p.default));
    let control;
    const fns = p["x-widget"] === "custom-function" ? (customFns[p["x-kind"]] || []) : null;
    if (fns && !type.includes("array")) {  // pick one of your custom functions (Custom functions page)
      control = `<select id="${id}" name="${esc(key)}"><option value="">(none)</option>` +
        fns.map((f) => `<option value="${esc(JSON.stringify(f))}" ${value === f ? "selected" : ""}>${esc(f)}</option>`).join("") + "</select>";
    } else if (p.enum) {
      control = `<select id="${id}" name="${esc(key)}"><option value="">(default${ph ? ": " + esc(ph) : ""})</option>` +
        p.enum.map((v) => `<option value="${esc(JSON.stringify(v))}" ${value !== undefined && JSON.stringify(v) === JSON.stringify(value) ? "selected" : ""}>${esc(v === null ? "None" : v)}</option>`).join("") + "</select>";
    } else if (type.includes("boolean")) {
      control = `<select id="${id}" name="${esc(key)}"><option value="">(default: ${esc(ph || "None")})</option>` +
        ["true", "false"].map((v) => `<option value="${v}" ${String(value) === v ? "selected" : ""}>${v === "true" ? "True" : "False"}</option>`).join("") + "</select>";
    } else if (p["x-widget"] === "code" || p["x-widget"] === "textarea") {
      control = `<textarea id="${id}" name="${esc(key)}" rows="6" class="code" placeholder="${esc(ph)}">${esc(shown)}</textarea>`;
    } else {
      control = `<input id="${id}" name="${esc(key)}" value="${esc(shown)}" placeholder="${esc(ph)}">`;
    }
    return `<div class="field" data-key="${esc(key)}"><label class="flabel" for="${id}">${label}</label><div class="control">${control}` +
      `${p.description ? `<div class="muted small">${esc(p.description)}</div>` : ""}<div class="error small"></div></div></div>`;
  }
  function parseValue(p, raw) {
    const type = [].concat(p.type || []);
    if (raw === "") return undefined;
    if (p.enum || type.includes("boolean") || p["x-widget"] === "custom-function" && !type.includes("array")) { try { return JSON.parse(raw); } catch (e) { return raw; } }
    if (type.length === 1 && type[0] === "string" || (type.includes("string") && !p["x-format"] && !type.includes("array"))) return raw;
    if ((type.includes("integer") || type.includes("number")) && raw.trim() !== "" && !isNaN(Number(raw))) return Number(raw);
    if (type.includes("array") || type.includes("object")) { try { return JSON.parse(raw); } catch (e) { return raw; } }
    return raw;  // "(2, 2)" and other literals: the core parses them and names any error
  }
  function openProps(fid) {
    const n = nodes[fid];
    if (!n) return;
    selected = String(fid);
    const c = comps[n.component];
    $("pl-props-title").textContent = `${c.title} (${n.id})`;
    $("pl-props-note").textContent = [c.unavailable ? "Cannot run here: " + c.unavailable : "", c.note].filter(Boolean).join(" ");
    const form = $("pl-props-form");
    const props = c.schema.properties;
    form.innerHTML = Object.keys(props).length ? Object.entries(props).map(([k, p]) => fieldHtml(k, p, n.properties[k])).join("")
      : '<p class="muted">This component has no properties.</p>';
    form.oninput = form.onchange = (ev) => {
      const key = ev.target.name;
      if (!key) return;
      const v = parseValue(props[key], ev.target.value);
      if (v === undefined) delete n.properties[key]; else n.properties[key] = v;
      changed();
    };
    $("pl-props").classList.add("open");
    root.classList.add("props-open");  // the toolbar moves left of the panel
    markFields();
  }
  function markFields() {
    const n = nodes[selected];
    if (!n) return;
    document.querySelectorAll("#pl-props-form .field").forEach((f) => {
      const e = (errors[n.id] || []).find((x) => x.property === f.dataset.key);
      f.classList.toggle("invalid", !!e);
      f.querySelector(".error").textContent = e ? e.error.replace(/^.*?property [^:]+: /, "") : "";
    });
  }
  function closeProps() { selected = null; $("pl-props").classList.remove("open"); root.classList.remove("props-open"); }
  $("pl-props-close").addEventListener("click", closeProps);

  // --- toolbar ----------------------------------------------------------------------------------
  $("pl-toolbar").addEventListener("click", (ev) => {
    const act = ev.target.dataset.act;
    if (!act) return;
    if (act === "undo") undo();
    else if (act === "redo") redo();
    else if (act === "delete") {
      if (editor.node_selected) editor.removeNodeId(editor.node_selected.id);
      else if (editor.connection_selected) editor.removeConnection();
    } else if (act === "clear") { if (confirm("Remove every component from the canvas?")) { editor.clear(); Object.keys(nodes).forEach((k) => delete nodes[k]); closeProps(); changed(); } }
    else editor[act]();
  });
  // Right button drags the whole canvas (the left button selects and connects).
  let pan = null;
  canvas.addEventListener("contextmenu", (ev) => ev.preventDefault());
  canvas.addEventListener("mousedown", (ev) => { if (ev.button === 2) { pan = { x: ev.clientX, y: ev.clientY, cx: editor.canvas_x, cy: editor.canvas_y }; ev.preventDefault(); ev.stopPropagation(); } }, true);
  window.addEventListener("mousemove", (ev) => {
    if (!pan) return;
    editor.canvas_x = pan.cx + ev.clientX - pan.x; editor.canvas_y = pan.cy + ev.clientY - pan.y;
    editor.precanvas.style.transform = `translate(${editor.canvas_x}px, ${editor.canvas_y}px) scale(${editor.zoom})`;
  });
  window.addEventListener("mouseup", () => { pan = null; });

  // --- save, save as, publish, description, run --------------------------------------------------
  function dialog(title, fields) {
    return new Promise((resolve) => {
      $("pl-dialog-title").textContent = title;
      $("pl-dialog-error").textContent = "";
      $("pl-dialog-fields").innerHTML = fields.map((f) => `<div class="field"><label class="flabel" for="dlg-${f.name}">${esc(f.label)}</label><div class="control">` +
        (f.options ? `<select id="dlg-${f.name}" name="${f.name}" ${f.readonly ? "disabled" : ""}>${f.options.map((o) => `<option ${o === f.value ? "selected" : ""}>${esc(o)}</option>`).join("")}</select>`
          : f.textarea ? `<textarea id="dlg-${f.name}" name="${f.name}" rows="3" ${f.readonly ? "readonly" : ""}>${esc(f.value || "")}</textarea>`
            : `<input id="dlg-${f.name}" name="${f.name}" value="${esc(f.value || "")}" ${f.readonly ? "readonly" : ""}>`) + "</div></div>").join("");
      const dlg = $("pl-dialog");
      dlg.onclose = () => {
        if (dlg.returnValue !== "ok") return resolve(null);
        const out = {};
        fields.forEach((f) => { out[f.name] = $("dlg-" + f.name).value; });
        resolve(out);
      };
      dlg.showModal();
    });
  }
  async function save(description) {
    const body = { document: toDocument() };
    if (description !== undefined) body.description = description;
    const row = await api("PUT", "/" + pid, body);
    meta.description = row.description;
    $("pl-revision").textContent = "revision " + row.revision;
    dirty(false);
    return row;
  }
  const report = (e) => status(e.data && e.data.text ? e.data.text : e.message, true);
  $("pl-save").addEventListener("click", async () => {
    const v = await dialog("Save", [{ name: "name", label: "Name", value: meta.name, readonly: true },
      { name: "type", label: "Type", value: meta.type, readonly: true },
      { name: "description", label: "Description", value: meta.description, textarea: true }]);
    if (v) save(v.description).then(() => status("Saved"), report);
  });
  $("pl-description-btn").addEventListener("click", async () => {
    const v = await dialog("Description", [{ name: "description", label: "Pipeline description", value: meta.description, textarea: true }]);
    if (v) { meta.description = v.description; changed(); }
  });
  $("pl-saveas").addEventListener("click", async () => {
    const v = await dialog("Save as", [{ name: "name", label: "Pipeline name", value: "" },
      { name: "type", label: "Pipeline type", value: meta.type }, { name: "description", label: "Description", value: meta.description, textarea: true }]);
    if (!v) return;
    api("POST", `/${pid}/save-as`, { document: toDocument(), ...v }).then((row) => { isDirty = false; location.href = `/pipelines/${row.id}/design`; }, report);
  });
  $("pl-publish").addEventListener("click", () => api("POST", `/${pid}/publish`, { published: !published }).then((row) => {
    published = row.published; $("pl-publish").textContent = published ? "Unpublish" : "Publish"; status(published ? "Published" : "Unpublished");
  }, report));
  $("pl-run").addEventListener("click", async () => {
    const res = await validate();
    if (res && !res.valid) { status("Fix the marked components before running: " + res.errors.map((e) => e.text).join("; "), true); return; }
    const v = await dialog("Run pipeline", [{ name: "resource_spec", label: "Resource specification", options: DATA.specs, value: DATA.specs[0] }]);
    if (!v) return;
    api("POST", `/${pid}/run`, { document: toDocument(), resource_spec: v.resource_spec }).then(() => {
      dirty(false);
      api("GET", "/" + pid).then((row) => { $("pl-revision").textContent = "revision " + row.revision; });
      status("Submitted: see the instance below");
      instances();
    }, report);
  });

  // --- the bottom drawer: this pipeline's instances (spec 02 §1.4: it opens after Run) ---------
  let iTimer = null;
  async function instances() {
    const rows = await api("GET", "/instances?pipeline=" + pid);
    $("pl-bottom").hidden = false;
    root.classList.add("with-bottom");
    $("pl-bottom-table").querySelector("tbody").innerHTML = rows.map((r) => `<tr><td><a href="/pipelines/instances?open=${r.id}">` +
      `${esc(r.name)} #${r.id}</a></td><td><span class="state ${esc(r.state)}">${esc(r.state)}</span></td><td>${esc(r.resource_spec)}</td>` +
      `<td>${r.created ? new Date(r.created).toLocaleString() : ""}</td><td>${r.duration_s == null ? "" : Math.round(r.duration_s) + " s"}</td></tr>`).join("");
    clearTimeout(iTimer);
    if (rows.some((r) => ["queued", "running", "suspended", "unknown"].includes(r.state))) iTimer = setTimeout(instances, 2000);
  }
  $("pl-bottom-close").addEventListener("click", () => { $("pl-bottom").hidden = true; root.classList.remove("with-bottom"); clearTimeout(iTimer); });

  // --- start --------------------------------------------------------------------------------------
  api("GET", "/functions").then((rows) => rows.forEach((f) => customFns[f.kind].push(f.name))).catch(() => null)
    .then(() => palette("")).then(() => api("GET", "/" + pid)).then((row) => {
    meta = { name: row.name, type: row.type, description: row.description };
    load(row.document);
    current = JSON.stringify(toDocument());
    dirty(false);
    window.plDesigner = { editor, toDocument, load, nodes, validate };
    root.dataset.ready = "1";
  });
})();
