// Datasets pages: the category tree, cards and forms (datasets.html) and the preview page
// (dataset.html). Everything goes through /api/v1; the server enforces every rule.
(function () {
  "use strict";
  const csrf = () => document.querySelector('meta[name="csrf-token"]').content;
  const $ = (sel, root) => (root || document).querySelector(sel);
  const el = (tag, attrs, ...kids) => {
    const n = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (k === "text") n.textContent = v; else if (k.startsWith("on")) n.addEventListener(k.slice(2), v);
      else if (v !== false && v != null) n.setAttribute(k, v === true ? "" : v);
    }
    kids.flat().forEach((c) => n.append(c instanceof Node ? c : document.createTextNode(String(c))));
    return n;
  };
  async function api(method, url, body) {
    const opts = { method, credentials: "same-origin", headers: { "X-CSRF-Token": csrf() } };
    if (body !== undefined) { opts.headers["Content-Type"] = "application/json"; opts.body = JSON.stringify(body); }
    const r = await fetch("/api/v1" + url, opts);
    const data = r.status === 204 ? {} : await r.json().catch(() => ({}));
    if (!r.ok) { const e = new Error(data.text || data.error || r.statusText); e.field = data.field; throw e; }
    return data;
  }
  const enc = encodeURIComponent;
  const fmtSize = (n) => n > 1 << 20 ? (n / (1 << 20)).toFixed(1) + " MB" : n > 1024 ? (n / 1024).toFixed(1) + " KB" : n + " B";
  const kindOf = (path) => {
    const s = path.split(".").pop().toLowerCase();
    if (["bmp", "jpg", "jpeg", "gif", "png", "svg", "webp"].includes(s)) return "image";
    if (s === "mp4") return "video";
    if (["flac", "mp3", "m4a", "ogg", "wav"].includes(s)) return "audio";
    if (["csv", "tsv"].includes(s)) return "table";
    return "text";
  };

  // --- preview pieces shared by both pages ------------------------------------------------
  function renderTable(host, t) {
    host.replaceChildren(el("table", { class: "preview" },
      el("thead", {}, el("tr", {}, t.columns.map((c) => el("th", { text: c })))),
      el("tbody", {}, t.rows.map((r) => el("tr", {}, r.map((v) => el("td", { text: v == null ? "" : v })))))),
      el("p", { class: "muted", text: t.rows.length + " rows" + (t.truncated ? " shown (more exist)" : "") }));
  }
  function drawChart(svg, t, chosen) {
    // Columns are addressed by index, so names with '.' (FAQ 8) are ordinary names here.
    const W = 800, H = 320, P = 36, colors = ["#1f6feb", "#c62828", "#2e7d32", "#b26a00", "#6f42c1", "#0aa"];
    svg.replaceChildren();
    const series = chosen.map((i) => t.rows.map((r) => parseFloat(r[i])));
    const all = series.flat().filter((v) => !isNaN(v));
    if (!all.length) { svg.append(svgEl("text", { x: P, y: H / 2, text: "choose numeric columns" })); return; }
    const lo = Math.min(...all), hi = Math.max(...all), n = Math.max(t.rows.length - 1, 1);
    const x = (i) => P + (i * (W - 2 * P)) / n, y = (v) => H - P - ((v - lo) * (H - 2 * P)) / ((hi - lo) || 1);
    svg.append(svgEl("line", { x1: P, y1: H - P, x2: W - P, y2: H - P, stroke: "#999" }),
      svgEl("line", { x1: P, y1: P, x2: P, y2: H - P, stroke: "#999" }),
      svgEl("text", { x: 2, y: P, text: String(+hi.toPrecision(4)), "font-size": 11 }),
      svgEl("text", { x: 2, y: H - P, text: String(+lo.toPrecision(4)), "font-size": 11 }));
    series.forEach((s, k) => {
      const pts = s.map((v, i) => isNaN(v) ? null : x(i) + "," + y(v)).filter(Boolean).join(" ");
      svg.append(svgEl("polyline", { points: pts, fill: "none", stroke: colors[k % colors.length], "stroke-width": 1.5, "data-column": t.columns[chosen[k]] }),
        svgEl("text", { x: W - P - 150, y: P + 14 * k, fill: colors[k % colors.length], "font-size": 12, text: t.columns[chosen[k]] }));
    });
  }
  function svgEl(tag, attrs) {
    const n = document.createElementNS("http://www.w3.org/2000/svg", tag);
    for (const [k, v] of Object.entries(attrs)) { if (k === "text") n.textContent = v; else n.setAttribute(k, v); }
    return n;
  }
  function tableWithChart(card, t, title) {
    card.hidden = false;
    $("#table-title").textContent = title;
    renderTable($("#table-view"), t);
    const numeric = t.columns.map((c, i) => i).filter((i) => t.rows.some((r) => !isNaN(parseFloat(r[i]))));
    const chosen = new Set(numeric.slice(0, 2));
    const boxes = $("#chart-columns");
    boxes.replaceChildren(el("span", { class: "muted", text: "Columns:" }), ...numeric.map((i) => el("label", { class: "inline" },
      el("input", { type: "checkbox", "data-column": t.columns[i], checked: chosen.has(i), onchange: (e) => {
        e.target.checked ? chosen.add(i) : chosen.delete(i); drawChart($("#chart"), t, [...chosen]);
      } }), " " + t.columns[i])));
    drawChart($("#chart"), t, [...chosen]);
  }

  // --- the preview page ------------------------------------------------------------------
  function viewer(root) {
    const ref = root.dataset.ref, category = root.dataset.category;
    const raw = (f) => "/api/v1/datasets/" + enc(ref) + "/raw?file=" + enc(f);
    $("#show-table").onclick = () => { $("#table-view").hidden = false; $("#chart-view").hidden = true; };
    $("#show-chart").onclick = () => { $("#table-view").hidden = true; $("#chart-view").hidden = false; };
    async function openFile(f) {
      const kind = category === "numeric" ? "table" : kindOf(f.path);
      if (kind === "table") {
        try { tableWithChart($("#table-card"), await api("GET", "/datasets/" + enc(ref) + "/preview?rows=100&file=" + enc(f.path)), f.path); }
        catch (e) { $("#file-list").append(el("p", { class: "msg err", text: e.message })); }
        return;
      }
      const media = $("#media");
      $("#media-card").hidden = false; $("#media-title").textContent = f.path + (f.label ? " — label " + f.label : "");
      if (kind === "image") media.replaceChildren(el("img", { src: raw(f.path), alt: f.path, class: "fit" }));
      else if (kind === "video") media.replaceChildren(el("video", { src: raw(f.path), controls: true, class: "fit" }));
      else if (kind === "audio") media.replaceChildren(el("audio", { src: raw(f.path), controls: true }));
      else {
        const r = await fetch(raw(f.path), { credentials: "same-origin" });
        media.replaceChildren(el("pre", { class: "text", text: await r.text() }));
      }
    }
    async function load() {
      if (root.dataset.state === "copying") { $("#file-list").textContent = "copying… reload to see the progress"; return; }
      if (root.dataset.backend === "postgresql" || root.dataset.backend === "mysql") {
        $("#file-list-card").hidden = true;
        try { tableWithChart($("#table-card"), await api("GET", "/datasets/" + enc(ref) + "/preview?rows=100"), "Query result"); }
        catch (e) { $("#table-card").hidden = false; $("#table-view").replaceChildren(el("p", { class: "msg err", text: e.message })); }
        return;
      }
      let data;
      try { data = await api("GET", "/datasets/" + enc(ref) + "/files?limit=200"); }
      catch (e) { $("#file-list").replaceChildren(el("p", { class: "msg err", text: e.message })); return; }
      const list = $("#file-list");
      list.classList.remove("muted");
      if (category === "image") {
        list.replaceChildren(el("div", { class: "thumbs" }, data.files.map((f) => el("figure", { ondblclick: () => openFile(f) },
          el("img", { src: raw(f.path), alt: f.path, loading: "lazy" }), el("figcaption", { text: f.path + (f.label ? " · " + f.label : "") })))));
      } else {
        list.replaceChildren(el("ul", { class: "files" }, data.files.map((f) => el("li", { ondblclick: () => openFile(f), "data-file": f.path },
          f.path + "  (" + fmtSize(f.size) + (f.label ? ", label " + f.label : "") + ")"))));
      }
      if (data.more) list.append(el("p", { class: "muted", text: "first 200 files shown" }));
      list.append(el("p", { class: "muted", text: "Double-click a file to preview it." }));
      if (data.files.length && category === "numeric") openFile(data.files[0]);
    }
    load();
  }

  // --- the datasets page ------------------------------------------------------------------
  function index() {
    let catalog, area = "my", category = null, backend = null, shareTarget = null, editing = null;
    const form = $("#ds-form"), fields = $("#ds-fields"), msg = $("#ds-form-msg");
    const visible = (prop, values) => Object.entries(prop["x-visible-if"] || {}).every(([k, want]) =>
      (Array.isArray(want) ? want : [want]).includes(values[k]));

    function buildFields() {
      const b = catalog.backends[backend], props = b.schema.properties;
      fields.replaceChildren();
      Object.entries(props).sort((a, z) => (a[1]["x-order"] || 0) - (z[1]["x-order"] || 0)).forEach(([name, p]) => {
        let input;
        if (name === "file_suffix") {
          const suffixes = (p["x-suffixes"] || {})[category] || [];
          input = el("span", { "data-name": name }, suffixes.map((s) => el("label", { class: "inline" },
            el("input", { type: "checkbox", value: s, checked: true, name: "file_suffix" }), " " + s + " ")));
        } else if (p.enum) {
          input = el("select", { name }, p.enum.map((v) => el("option", { value: v, selected: v === p.default, text: (p["x-enum-labels"] || {})[v] || v })));
        } else if (p["x-widget"] === "textarea") input = el("textarea", { name, rows: 3 });
        else input = el("input", { name, type: p["x-widget"] === "password" ? "password" : p.type === "integer" ? "number" : "text",
          value: p.default != null ? p.default : "", placeholder: p.description || "" });
        if (["directory", "file"].includes(p["x-widget"])) input = picker(input, p["x-widget"]);
        const req = (b.schema.required || []).includes(name);
        fields.append(el("div", { class: "field" + (req ? " required" : ""), "data-field": name },
          el("label", { class: "flabel", text: p.title || name }), el("div", { class: "control" }, input)));
      });
      refreshVisibility();
    }
    // Server-side picker (F153: "Select data directory"), limited by the server to the user's roots.
    function picker(input, kind) {
      const box = el("div", { class: "picker", hidden: true });
      const show = async (path) => {
        let j;
        try { j = await api("GET", "/files" + (path ? "?path=" + enc(path) : "")); }
        catch (e) { box.hidden = false; box.replaceChildren(el("div", { class: "error", text: e.message })); return; }
        box.hidden = false;
        box.replaceChildren(el("div", { class: "crumb" }, el("span", { class: "mono grow", text: j.path }),
          j.parent ? el("button", { type: "button", class: "small", text: "Up", onclick: () => show(j.parent) }) : "",
          kind === "directory" ? el("button", { type: "button", class: "small primary", text: "Select this directory",
            onclick: () => { input.value = j.path; box.hidden = true; } }) : ""),
          ...j.entries.map((e) => el("div", { class: "entry" + (e.is_dir ? "" : " file"), text: (e.is_dir ? "📁 " : "") + e.name,
            onclick: () => { if (e.is_dir) show(e.path); else if (kind === "file") { input.value = e.path; box.hidden = true; } } })));
      };
      return el("span", { class: "row" }, input, el("button", { type: "button", class: "small", text: "Browse…",
        onclick: () => show(input.value) }), box);
    }
    function values() {
      const v = { name: $("#ds-name").value, category, backend, description: $("#ds-description").value };
      const props = catalog.backends[backend].schema.properties;
      fields.querySelectorAll("[data-field]").forEach((f) => {
        if (f.hidden) return;
        const name = f.dataset.field, p = props[name];
        if (name === "file_suffix") v[name] = [...f.querySelectorAll("input:checked")].map((i) => i.value);
        else { const val = f.querySelector("[name]").value; if (val !== "") v[name] = p.type === "integer" ? Number(val) : val; }
      });
      if (area === "shared") {
        v.area = "shared";
        if (!catalog.backends[backend].connection_based) v.share_group = $("#ds-share-group").value;
        v.share_users = $("#ds-share-users").value.split(/[,\s]+/).filter(Boolean);
      }
      return v;
    }
    function refreshVisibility() {
      const props = catalog.backends[backend].schema.properties, v = { category };
      fields.querySelectorAll("[data-field]").forEach((f) => { const s = f.querySelector("select"); if (s) v[f.dataset.field] = s.value; });
      fields.querySelectorAll("[data-field]").forEach((f) => { f.hidden = !visible(props[f.dataset.field], v); });
    }
    fields.addEventListener("change", refreshVisibility);
    function showError(e) {
      msg.className = "msg err"; msg.textContent = e.message;
      fields.querySelectorAll(".field").forEach((f) => f.classList.toggle("invalid", f.dataset.field === e.field));
    }
    $("#ds-cancel").onclick = () => { form.hidden = true; };
    $("#ds-test").onclick = async () => {
      try { msg.className = "msg ok"; msg.textContent = "testing…"; msg.textContent = (await api("POST", "/dataset-drafts/test", values())).message; }
      catch (e) { showError(e); }
    };
    $("#ds-preview").onclick = async () => {
      const host = $("#ds-draft-preview");
      try {
        msg.textContent = "";
        if (catalog.backends[backend].connection_based && category === "numeric" && backend !== "hdfs") {
          renderTable(host, await api("POST", "/dataset-drafts/preview?rows=20", values()));
        } else {
          const d = await api("POST", "/dataset-drafts/files?limit=100", values());
          host.replaceChildren(el("ul", { class: "files" }, d.files.map((f) => el("li", { text: f.path + (f.label ? " · " + f.label : "") }))));
        }
      } catch (e) { showError(e); }
    };
    form.onsubmit = async (ev) => {
      ev.preventDefault();
      try {
        if (editing) await api("PUT", "/datasets/" + enc(editing.id), values());
        else await api("POST", "/datasets", values());
        form.hidden = true; list();
      } catch (e) { showError(e); }
    };
    function openForm(current) {
      editing = current && current.id ? current : null;
      form.hidden = false; msg.textContent = ""; $("#ds-draft-preview").replaceChildren();
      const b = catalog.backends[backend];
      $("#ds-form-title").textContent = (editing ? "Modify " + editing.name + " — " :
        area === "shared" ? "New shared dataset — " : "New dataset — ") + b.title;
      $("#ds-test").hidden = !b.connection_based;
      $("#ds-group-field").hidden = area !== "shared" || b.connection_based;
      $("#ds-users-field").hidden = area !== "shared";
      $("#ds-share-group").replaceChildren(...catalog.groups.map((g) => el("option", { value: g, text: g })));
      $("#ds-share-group").onchange = () => {
        const g = $("#ds-share-group").value;
        $("#ds-share-users").placeholder = "empty = every member of " + g + ": " + (catalog.members[g] || []).join(", ");
        const dir = fields.querySelector("input[name=directory]");
        if (dir && !dir.value) dir.value = catalog.areas[g] || "";
      };
      buildFields();
      if (area === "shared" && !b.connection_based) $("#ds-share-group").onchange();
      $("#ds-name").value = editing ? editing.name : "";
      $("#ds-description").value = editing ? editing.description : "";
      if (editing) {  // the stored values; a password stays blank and is kept unless retyped
        if (editing.share_group) $("#ds-share-group").value = editing.share_group;
        $("#ds-share-users").value = (editing.share_users || []).join(", ");
        fields.querySelectorAll("[data-field]").forEach((f) => {
          const v = editing.options[f.dataset.field];
          if (v == null || v === "********") return;
          if (f.dataset.field === "file_suffix") f.querySelectorAll("input").forEach((i) => { i.checked = v.includes(i.value); });
          else f.querySelector("[name]").value = v;
        });
        refreshVisibility();
      }
    }

    // Sharing
    const sform = $("#share-form");
    $("#share-cancel").onclick = () => { sform.hidden = true; };
    sform.onsubmit = async (ev) => {
      ev.preventDefault();
      const b = catalog.backends[shareTarget.backend];
      const body = { share_name: $("#share-name").value, description: $("#share-description").value,
        share_users: $("#share-users").value.split(/[,\s]+/).filter(Boolean) };
      if (!b.connection_based) Object.assign(body, { share_group: $("#share-group").value,
        share_directory: $("#share-directory").value, background: $("#share-background").checked });
      try { await api("POST", "/datasets/" + enc(shareTarget.id) + "/share", body); sform.hidden = true; list(); }
      catch (e) { $("#share-msg").className = "msg err"; $("#share-msg").textContent = e.message; }
    };
    function openShare(d) {
      shareTarget = d; sform.hidden = false; $("#share-msg").textContent = "";
      $("#share-what").textContent = d.name;
      $("#share-name").value = d.name + "-shared";
      const fileBased = !catalog.backends[d.backend].connection_based;
      sform.querySelectorAll(".share-files").forEach((f) => { f.hidden = !fileBased; });
      $("#share-group").replaceChildren(...catalog.groups.map((g) => el("option", { value: g, text: g })));
      const suggest = () => {  // F176/F177: the group's members, a folder inside its shared area
        const g = $("#share-group").value;
        if (fileBased && g) {
          $("#share-directory").value = (catalog.areas[g] || "") + "/" + $("#share-name").value;
          $("#share-users").placeholder = "empty = every member of " + g + ": " + (catalog.members[g] || []).join(", ");
        }
      };
      $("#share-group").onchange = suggest;
      $("#share-name").oninput = suggest;
      suggest();
    }

    async function list() {
      const cards = $("#ds-cards");
      const q = "?area=" + area + (category ? "&category=" + category : "") + (backend ? "&backend=" + backend : "");
      let rows;
      try { rows = await api("GET", "/datasets" + q); } catch (e) { cards.replaceChildren(el("p", { class: "msg err", text: e.message })); return; }
      $("#ds-where").textContent = (area === "my" ? "My datasets" : "Shared datasets") + " → " +
        catalog.categories.find((c) => c.category === category).title + (backend ? " → " + catalog.backends[backend].title : "");
      cards.replaceChildren(...rows.map((d) => el("div", { class: "ds-card", "data-dataset": d.name },
        el("strong", {}, el("a", { href: "/datasets/" + enc(d.id) + "/view", text: d.name })),
        el("div", { class: "muted", text: catalog.backends[d.backend] ? catalog.backends[d.backend].title : d.backend }),
        el("div", { class: "state " + d.state, text: d.state === "copying" ? "copying " + Math.round(d.progress * 100) + "%" : d.state }),
        d.area === "shared" ? el("div", { class: "muted", text: "by " + d.owner + (d.share_group ? " · group " + d.share_group : "") }) : "",
        el("div", { text: d.description || "" }),
        el("div", { class: "actions" },
          el("a", { href: "/datasets/" + enc(d.id) + "/view", text: "Preview" }),
          d.permissions.includes("modify") && d.state === "ready" ? el("button", { type: "button", class: "link", text: "Modify", onclick: () => {
            backend = d.backend; category = d.category; openForm(d); } }) : "",
          d.area === "my" && d.permissions.includes("modify") ? el("button", { type: "button", class: "link", text: "Share", onclick: () => openShare(d) }) : "",
          d.permissions.includes("delete") ? el("button", { type: "button", class: "link danger", text: "Delete", onclick: async () => {
            if (!confirm("Delete dataset " + d.name + "? Its data files stay where they are.")) return;
            try { await api("DELETE", "/datasets/" + enc(d.id)); list(); } catch (e) { alert(e.message); }
          } }) : ""))));
      if (backend) cards.prepend(el("div", { class: "ds-card new", id: "ds-new", onclick: () => openForm(null),
        text: area === "shared" ? "+ New shared dataset" : "+ New dataset" }));
      if (rows.some((d) => d.state === "copying")) setTimeout(list, 1500);
    }

    api("GET", "/datasets/catalog").then((c) => {
      catalog = c;
      document.querySelectorAll("ul.backends").forEach((ul) => {
        const cat = c.categories.find((x) => x.category === ul.dataset.category);
        ul.replaceChildren(...cat.backends.map((b) => el("li", {}, el("a", { href: "#", "data-area": ul.dataset.area,
          "data-category": ul.dataset.category, "data-backend": b.name, text: b.title }))));
      });
      $("#ds-tree").addEventListener("click", (ev) => {
        const a = ev.target.closest("a[data-area]");
        if (!a) return;
        ev.preventDefault();
        document.querySelectorAll("#ds-tree a.active").forEach((x) => x.classList.remove("active"));
        a.classList.add("active");
        area = a.dataset.area; category = a.dataset.category; backend = a.dataset.backend || null;
        form.hidden = true; sform.hidden = true;
        list();
      });
    });
  }

  document.addEventListener("DOMContentLoaded", () => {
    const root = document.getElementById("viewer");
    if (root) viewer(root); else if (document.getElementById("ds-tree")) index();
  });
})();
