/* The session page: plots over acquisition time, histograms, the newest exposures,
   failed exposures, every exposure in a paged sortable table, pause/resume/retry. */
"use strict";

(() => {
  const { el, number, getJSON, COLOURS } = Appion;
  const NAME = JSON.parse(document.getElementById("session-data").textContent).name;
  const BASE = `/api/sessions/${encodeURIComponent(NAME)}`;
  const PAGE = `/sessions/${encodeURIComponent(NAME)}`;
  const PER_PAGE = 50;
  /** Points drawn as SVG at most; above, WebGL (scattergl) or, without it, a min/max downsampling. */
  const SVG_POINTS = 2000;
  const table = { page: 1, sort: "acquired_at", order: "desc", total: 0 };
  let thresholds = {};

  // -------------------------------------------------------------- status

  async function refreshStatus() {
    const sessions = await getJSON("/api/sessions");
    const session = sessions.find((s) => s.name === NAME);
    if (!session) return;
    Appion.showLag(document.getElementById("lag"), Appion.sessionLag(session), thresholds.lag_minutes, session.paused);
    const eta = Appion.sessionEta(session);
    document.getElementById("session-state").textContent =
      `${session.active ? (session.paused ? "‖ paused" : "⟳ processing") : "■ finished"} · ${session.collected} exposures`
      + ` (${number(session.collected_per_hour)}/h) · catch up: ${eta === null ? "not catching up" : (eta === 0 ? "caught up" : Appion.duration(eta))}`
      + (session.error ? ` · ⚠ ${session.error}` : "");
    document.querySelector("#steps tbody").replaceChildren(...Object.entries(session.steps || {}).map(([name, step]) =>
      el("tr", {}, el("th", { scope: "row" }, name), el("td", {}, step.done), el("td", {}, step.running),
        el("td", {}, step.pending), el("td", {}, step.failed ? `✗ ${step.failed}` : "0"),
        el("td", {}, Appion.duration(step.lag_seconds)), el("td", {}, number(step.processed_per_hour)),
        el("td", {}, Appion.duration(step.latency_p50_s)),
        el("td", {}, step.eta_seconds === null ? (step.lag_exposures ? "never" : "—") : Appion.duration(step.eta_seconds)))));
  }

  // --------------------------------------------------------------- plots

  function column(series, name) {
    const index = series.columns.indexOf(name);
    return index < 0 ? series.rows.map(() => null) : series.rows.map((row) => row[index]);
  }

  /** The indices of at most `limit` points: per bucket its first, min and max (the
      shape of the cloud stays, outliers included). */
  function downsample(x, y, limit) {
    if (x.length <= limit) return x.map((_, i) => i);
    const per = Math.ceil(x.length / (limit / 3));
    const keep = new Set();
    for (let start = 0; start < x.length; start += per) {
      let lo = -1, hi = -1;
      for (let i = start; i < Math.min(x.length, start + per); i++) {
        if (y[i] === null || y[i] === undefined) continue;
        if (lo < 0 || y[i] < y[lo]) lo = i;
        if (hi < 0 || y[i] > y[hi]) hi = i;
      }
      keep.add(start);
      if (lo >= 0) keep.add(lo);
      if (hi >= 0) keep.add(hi);
    }
    return [...keep].sort((a, b) => a - b);
  }

  let ids = [];
  function points(x, y, name, colour, symbol, extra = {}) {
    const many = x.length > SVG_POINTS;
    const gl = many && Appion.webgl();
    const pick = (values, kept) => (kept ? kept.map((i) => values[i]) : values);
    const kept = many && !gl ? downsample(x, y, SVG_POINTS) : null;
    return Object.assign({
      x: pick(x, kept), y: pick(y, kept), customdata: pick(ids, kept), name,
      type: gl ? "scattergl" : "scatter", mode: "markers",
      marker: { color: colour, size: many ? 4 : 6, symbol },
      hovertemplate: `${name}: %{y}<br>%{x}<br>exposure %{customdata}<extra></extra>`,
    }, extra);
  }

  function limitLine(value, text, axis = "y") {
    const line = { type: "line", line: { color: COLOURS.alert, width: 2, dash: "dash" } };
    if (axis === "y") Object.assign(line, { xref: "paper", x0: 0, x1: 1, y0: value, y1: value });
    else Object.assign(line, { yref: "paper", y0: 0, y1: 1, x0: value, x1: value });
    const note = axis === "y"
      ? { xref: "paper", x: 1, y: value, xanchor: "right", yanchor: "bottom", text, showarrow: false, font: { color: "#7a3500", size: 11 } }
      : { yref: "paper", y: 1, x: value, xanchor: "left", yanchor: "top", text, showarrow: false, font: { color: "#7a3500", size: 11 } };
    return { line, note };
  }

  /** Thresholds of a value: the alert rules' and, when the service gives them, curation's. */
  function limitsOf(key) {
    const found = [];
    const alertKey = { drift_total_a: "drift_a", resolution_a: "ctf_resolution_a" }[key];
    if (alertKey && thresholds[alertKey] !== null && thresholds[alertKey] !== undefined) {
      found.push({ value: thresholds[alertKey], text: `alert ${thresholds[alertKey]}` });
    }
    const curation = thresholds.curation || {};
    if (curation[key] !== null && curation[key] !== undefined) {
      found.push({ value: curation[key], text: `curation ${curation[key]}` });
    }
    return found;
  }

  function withLimits(layout, key, axis, scale = 1) {
    const parts = limitsOf(key).map((limit) => limitLine(limit.value * scale, limit.text, axis));
    layout.shapes = parts.map((p) => p.line);
    layout.annotations = parts.map((p) => p.note);
    return layout;
  }

  function histogram(values, name, colour) {
    return { x: values.filter((v) => v !== null && v !== undefined), type: "histogram", name,
      marker: { color: colour, line: { color: "#000", width: 0.5 } }, opacity: 0.75 };
  }

  function timeLayout(title, yTitle) {
    return Appion.baseLayout(title, { xaxis: { type: "date", title: { text: "acquired" } },
      yaxis: { title: { text: yTitle }, zeroline: false }, hovermode: "closest" });
  }

  let drawn = false;
  let drawnSignature = "";
  /** What changes when a redraw would show something new. */
  function signature(series) {
    const filled = series.columns.map((_, c) => series.rows.reduce((n, row) => n + (row[c] === null ? 0 : 1), 0));
    return JSON.stringify([series.rows.length, filled, thresholds]);
  }
  const breathe = () => new Promise((resolve) => setTimeout(resolve, 0));

  async function drawPlots() {
    const [Plotly, series] = await Promise.all([Appion.plotlyReady(), getJSON(`${BASE}/series`)]);
    const now = signature(series);
    if (drawn && now === drawnSignature) return;
    drawnSignature = now;
    const t = column(series, "acquired_at").map((s) => (s === null ? null : s * 1000));
    ids = column(series, "image_id");
    const drift = column(series, "drift_total_a");
    const d1 = column(series, "defocus1_a").map((v) => (v === null ? null : v / 1e4));
    const d2 = column(series, "defocus2_a").map((v) => (v === null ? null : v / 1e4));
    const astig = d1.map((v, i) => (v === null || d2[i] === null ? null : Math.abs(v - d2[i])));
    const resolution = column(series, "resolution_a");
    const ice = column(series, "ice_thickness_nm");
    const hasIce = ice.some((v) => v !== null && v !== undefined);
    document.getElementById("plot-note").textContent = `${series.rows.length} exposures`
      + (series.rows.length > SVG_POINTS ? (Appion.webgl() ? " (drawn with WebGL)" : " (downsampled: no WebGL here)") : "")
      + ". Click a point to open its exposure.";
    const plot = async (id, traces, layout) => {
      await breathe(); // one plot per task: the page answers while 20,000 points are drawn
      const node = document.getElementById(id);
      await Plotly.react(node, traces, layout, Appion.PLOT_CONFIG);
      if (!node.dataset.clicks && ids.length) {
        node.dataset.clicks = "yes";
        node.on("plotly_click", (event) => {
          const point = event.points && event.points[0];
          if (point && point.customdata !== undefined && point.data.type !== "histogram") {
            window.location.href = `${PAGE}/exposures/${point.customdata}`;
          }
        });
      }
    };
    await plot("plot-drift", [points(t, drift, "total drift", COLOURS.blue, "circle")],
      withLimits(timeLayout("Total drift", "Å"), "drift_total_a", "y"));
    await plot("plot-defocus", [
      points(t, d1, "defocus 1", COLOURS.blue, "circle"),
      points(t, d2, "defocus 2", COLOURS.warn, "triangle-up"),
      points(t, astig, "astigmatism |1−2|", COLOURS.purple, "x", { yaxis: "y2" }),
    ], Object.assign(timeLayout("Defocus and astigmatism", "defocus (µm)"),
      { yaxis2: { title: { text: "astigmatism (µm)" }, overlaying: "y", side: "right", showgrid: false, rangemode: "tozero" } }));
    await plot("plot-resolution", [points(t, resolution, "CTF fit resolution", COLOURS.ok, "diamond")],
      withLimits(timeLayout("CTF fit resolution", "Å"), "resolution_a", "y"));
    await plot("hist-drift", [histogram(drift, "total drift", COLOURS.blue)],
      withLimits(Appion.baseLayout("Total drift (Å)", { showlegend: false, bargap: 0.05 }), "drift_total_a", "x"));
    await plot("hist-defocus", [histogram(d1, "defocus 1", COLOURS.blue), histogram(d2, "defocus 2", COLOURS.warn)],
      Appion.baseLayout("Defocus (µm)", { barmode: "overlay", bargap: 0.05 }));
    await plot("hist-resolution", [histogram(resolution, "resolution", COLOURS.ok)],
      withLimits(Appion.baseLayout("CTF fit resolution (Å)", { showlegend: false, bargap: 0.05 }), "resolution_a", "x"));
    document.getElementById("plot-ice").hidden = !hasIce;
    document.getElementById("hist-ice").hidden = !hasIce;
    if (hasIce) {
      await plot("plot-ice", [points(t, ice, "ice thickness", COLOURS.sky, "square")],
        withLimits(timeLayout("Ice thickness (Leginon)", "nm"), "ice_thickness_nm", "y"));
      await plot("hist-ice", [histogram(ice, "ice thickness", COLOURS.sky)],
        withLimits(Appion.baseLayout("Ice thickness (nm)", { showlegend: false }), "ice_thickness_nm", "x"));
    }
    drawn = true;
    document.body.dataset.plotsDrawn = "yes";
  }

  // ---------------------------------------------------------- thumbnails

  function imageUrl(id, kind) {
    const suffix = kind === "spectrum" ? "png" : "jpg";
    return `/images/${encodeURIComponent(NAME)}/${id}/${kind}.${suffix}`;
  }

  function picture(exposure, kind, alt) {
    const images = exposure.images;
    if (images && !images[kind]) return el("div", { class: "missing" }, `no ${kind} yet`);
    return el("img", { src: imageUrl(exposure.image_id, kind), alt, loading: "lazy", width: 128, height: 128,
      "data-kind": kind });
  }

  async function refreshThumbnails() {
    const page = await getJSON(`${BASE}/exposures?page=1&per_page=12&sort=acquired_at&order=desc`);
    const box = document.getElementById("thumbnails");
    box.replaceChildren(...page.exposures.map((exposure) => {
      const v = exposure.values || {};
      return el("a", { class: "thumb", href: `${PAGE}/exposures/${exposure.image_id}`, "data-testid": "thumbnail" },
        el("div", { class: "pair" },
          picture(exposure, "thumbnail", `aligned sum of ${exposure.filename}`),
          picture(exposure, "spectrum", `power spectrum of ${exposure.filename}`)),
        el("figcaption", {}, `${exposure.filename || exposure.image_id}`, el("br"),
          `res ${number(v.resolution_a)} Å · drift ${number(v.drift_total_a)} Å`));
    }));
    if (!page.exposures.length) box.replaceChildren(el("p", { class: "muted" }, "No exposure yet."));
  }

  // ---------------------------------------------------------------- table

  const ORDER = { failed: 4, running: 3, pending: 2, done: 1 };
  function overall(exposure) {
    let worst = "done";
    for (const step of Object.values(exposure.steps || {})) {
      if ((ORDER[step.status] || 0) > (ORDER[worst] || 0)) worst = step.status;
    }
    return worst;
  }

  function microns(value) { return value === null || value === undefined ? "—" : number(value / 1e4, 3); }

  function row(exposure) {
    const v = exposure.values || {};
    const status = overall(exposure);
    const href = `${PAGE}/exposures/${exposure.image_id}`;
    return el("tr", { class: "link-row", "data-image-id": exposure.image_id, onclick: (event) => {
      if (event.target.tagName !== "A") window.location.href = href;
    } },
      el("td", {}, el("a", { href }, exposure.filename || exposure.image_id)),
      el("td", {}, Appion.when(exposure.acquired_at)), el("td", {}, number(v.drift_total_a)),
      el("td", {}, microns(v.defocus1_a)), el("td", {}, microns(v.defocus2_a)),
      el("td", {}, number(v.astigmatism_angle_deg)), el("td", {}, number(v.resolution_a)),
      el("td", {}, number(v.ice_thickness_nm)), el("td", {}, number(v.particles)),
      el("td", {}, el("span", { class: `status status-${status}` }, status)));
  }

  function pager(node) {
    const pages = Math.max(1, Math.ceil(table.total / PER_PAGE));
    const go = (page) => { table.page = Math.min(pages, Math.max(1, page)); refreshTable(); };
    node.replaceChildren(
      el("button", { type: "button", disabled: table.page <= 1, onclick: () => go(1) }, "« First"),
      el("button", { type: "button", disabled: table.page <= 1, onclick: () => go(table.page - 1) }, "‹ Previous"),
      el("span", {}, `page ${table.page} of ${pages} · ${table.total} exposures`),
      el("button", { type: "button", disabled: table.page >= pages, onclick: () => go(table.page + 1) }, "Next ›"),
      el("button", { type: "button", disabled: table.page >= pages, onclick: () => go(pages) }, "Last »"));
  }

  async function refreshTable() {
    const query = `page=${table.page}&per_page=${PER_PAGE}&sort=${table.sort}&order=${table.order}`;
    const page = await getJSON(`${BASE}/exposures?${query}`);
    table.total = page.total;
    document.querySelector("#exposures tbody").replaceChildren(...page.exposures.map(row));
    for (const th of document.querySelectorAll("#exposures th[data-sort]")) {
      th.setAttribute("aria-sort", th.dataset.sort === table.sort ? (table.order === "asc" ? "ascending" : "descending") : "none");
    }
    pager(document.getElementById("pager-top"));
    pager(document.getElementById("pager-bottom"));
  }

  for (const th of document.querySelectorAll("#exposures th[data-sort]")) {
    th.querySelector("button").addEventListener("click", () => {
      const key = th.dataset.sort;
      table.order = table.sort === key && table.order === "desc" ? "asc" : "desc";
      table.sort = key;
      table.page = 1;
      refreshTable().catch((error) => { document.getElementById("control-message").textContent = `⚠ ${error.message}`; });
    });
  }

  async function refreshFailed() {
    const page = await getJSON(`${BASE}/exposures?page=1&per_page=100&status=failed`);
    const rows = [];
    for (const exposure of page.exposures) {
      for (const [step, state] of Object.entries(exposure.steps || {})) {
        if (state.status !== "failed") continue;
        rows.push(el("tr", {},
          el("td", {}, el("a", { href: `${PAGE}/exposures/${exposure.image_id}` }, exposure.filename || exposure.image_id)),
          el("td", {}, step), el("td", {}, state.error || "—")));
      }
    }
    document.querySelector("#failed tbody").replaceChildren(...rows);
    document.getElementById("no-failed").hidden = rows.length > 0;
  }

  // ------------------------------------------------------------- control

  for (const button of document.querySelectorAll(".controls button[data-action]")) {
    button.addEventListener("click", async () => {
      const message = document.getElementById("control-message");
      button.disabled = true;
      try {
        const answer = await Appion.control(NAME, button.dataset.action);
        message.textContent = answer.ok ? `✓ ${answer.message}` : `⚠ ${answer.message}`;
        message.dataset.status = String(answer.status);
        if (answer.ok) { refreshStatus(); refreshFailed(); }
      } finally {
        button.disabled = !Appion.loggedIn();
      }
    });
  }

  // --------------------------------------------------------------- start

  getJSON("/api/facility").then((facility) => { thresholds = facility.thresholds || {}; if (drawn) drawPlots(); })
    .catch((error) => console.warn(error));
  Appion.every(3, refreshStatus);
  Appion.every(10, refreshTable);
  Appion.every(10, refreshThumbnails);
  Appion.every(15, refreshFailed);
  Appion.every(20, () => drawPlots().catch((error) => {
    document.getElementById("plot-note").textContent = `⚠ plots: ${error.message}`;
  }));
})();
