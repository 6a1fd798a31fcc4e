/* The session page: plots over acquisition time, histograms, the newest exposures,
   failed exposures, every exposure in a paged sortable table, pause/resume/retry. */
"use strict";

(() => {
  const { el, number, getJSON, COLOURS } = Appion;
  const DATA = JSON.parse(document.getElementById("session-data").textContent);
  const NAME = DATA.name;
  const BASE = `/api/sessions/${encodeURIComponent(NAME)}`;
  const PAGE = `/sessions/${encodeURIComponent(NAME)}`;
  /** The page preloads it (the same URL: a preload is used only by the same request). */
  const SERIES = DATA.series_url || `${BASE}/series`;
  const PER_PAGE = 50;
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
  //
  // A session may have 20,000 exposures: the series become typed arrays once, the time
  // plots draw what a screen can show (one point per few-pixel cell, each column's lowest
  // and highest point kept: outliers stay) and all the points of a zoomed-in range, and
  // the histograms are counted here (bar traces of a few dozen bars).

  /** A drawn point stands for the others in its cell of CELL_PX × CELL_PX pixels or
      more (markers are 4 px: the plot looks alike); cells grow until a trace has at most
      the points of its budget. */
  const CELL_PX = 4;
  /** Points per plot drawn as SVG at most (about 0.06 ms each to draw, and again on
      each zoom); above, WebGL (scattergl) where a GPU draws it. */
  const SVG_POINTS = 1200;
  /** Points per trace at most with WebGL drawn by a GPU. */
  const GL_POINTS = 4000;

  /** The series' columns as Float64Arrays, NaN for unknown values. */
  function columnsOf(series) {
    const n = series.rows.length;
    const found = {};
    series.columns.forEach((name, c) => {
      const values = new Float64Array(n);
      for (let i = 0; i < n; i++) {
        const value = series.rows[i][c];
        values[i] = value === null || value === undefined ? NaN : value;
      }
      found[name] = values;
    });
    return { n, get: (name) => found[name] || new Float64Array(n).fill(NaN) };
  }

  function finite(values) { return values.some((v) => v === v); }

  /** The range of y over the points with x in [lo, hi]; null without any. */
  function yRange(x, y, lo, hi) {
    let min = Infinity, max = -Infinity;
    for (let i = 0; i < x.length; i++) {
      const xi = x[i], yi = y[i];
      if (!(xi >= lo && xi <= hi) || yi !== yi) continue;
      if (yi < min) min = yi;
      if (yi > max) max = yi;
    }
    return min <= max ? [min, max] : null;
  }

  /** The indices (ascending) of the points with x in [lo, hi] worth drawing on a grid
      of `cols` × `rows` cells over [lo, hi] × `yr`: the first point of each cell, and
      each column's lowest and highest (every point when each has a cell of its own). */
  function thin(x, y, lo, hi, yr, cols, rows) {
    const n = x.length;
    const seen = new Uint8Array(cols * rows);
    const low = new Int32Array(cols).fill(-1);
    const high = new Int32Array(cols).fill(-1);
    const keep = new Uint8Array(n);
    const sx = cols / ((hi - lo) || 1), sy = rows / ((yr[1] - yr[0]) || 1);
    for (let i = 0; i < n; i++) {
      const xi = x[i], yi = y[i];
      if (!(xi >= lo && xi <= hi) || yi !== yi) continue;
      const c = Math.min(cols - 1, Math.floor((xi - lo) * sx));
      const r = Math.min(rows - 1, Math.max(0, Math.floor((yi - yr[0]) * sy)));
      const cell = c * rows + r;
      if (!seen[cell]) { seen[cell] = 1; keep[i] = 1; }
      if (low[c] < 0 || yi < y[low[c]]) low[c] = i;
      if (high[c] < 0 || yi > y[high[c]]) high[c] = i;
    }
    for (let c = 0; c < cols; c++) {
      if (low[c] >= 0) { keep[low[c]] = 1; keep[high[c]] = 1; }
    }
    let count = 0;
    for (let i = 0; i < n; i++) count += keep[i];
    const kept = new Int32Array(count);
    for (let i = 0, k = 0; i < n; i++) if (keep[i]) kept[k++] = i;
    return kept;
  }

  /** The points of one trace to draw in the x range [lo, hi] of a plot area of
      `width` × `height` pixels (y range `yr`, or the data's there). */
  function visible(x, y, lo, hi, width, height, yr, limit) {
    const range = yr || yRange(x, y, lo, hi);
    if (!range) return new Int32Array(0);
    let cell = CELL_PX;
    for (;;) {
      const cols = Math.max(20, Math.floor(width / cell)), rows = Math.max(10, Math.floor(height / cell));
      const kept = thin(x, y, lo, hi, range, cols, rows);
      if (kept.length <= limit || cols === 20) return kept;
      cell *= 1.5;
    }
  }

  /** The plot area of a plot node, in pixels (before Plotly drew it: its box less margins). */
  function area(node) {
    const size = node._fullLayout && node._fullLayout._size;
    if (size && size.w > 0) return [size.w, size.h];
    return [Math.max(200, node.clientWidth - 110), Math.max(150, node.clientHeight - 76)];
  }

  let ids = new Float64Array(0);
  let t = new Float64Array(0);
  let tRange = [0, 1];
  const kept = (values, indices) => Array.from(indices, (i) => values[i]);

  /** One marker trace of the values `y` (over `t`) from the point indices `indices`. */
  function pointData(y, indices) {
    return { x: kept(t, indices), y: kept(y, indices), customdata: kept(ids, indices) };
  }

  /** The traces of a time plot: what the whole session shows, or with `range` (ms) the
      points there in full detail and the overview's elsewhere. */
  function timeData(node, range) {
    const [width, height] = area(node);
    return node.appionSeries.map((s) => {
      if (!range) return pointData(s.y, s.overview);
      const axis = node._fullLayout && node._fullLayout[s.yaxis];
      const yr = axis && !axis.autorange && axis.range ? axis.range.map(Number) : null;
      const detail = visible(t, s.y, range[0], range[1], width, height, yr, node.appionLimit);
      const outside = s.overview.filter((i) => t[i] < range[0] || t[i] > range[1]);
      const all = new Int32Array(outside.length + detail.length);
      all.set(outside);
      all.set(detail, outside.length);
      all.sort();
      return pointData(s.y, all);
    });
  }

  function timeTraces(node, specs) {
    const [width, height] = area(node);
    node.appionLimit = Appion.fastWebgl() ? GL_POINTS : Math.floor(SVG_POINTS / specs.length);
    node.appionSeries = specs.map((spec) => ({
      y: spec.y, yaxis: spec.yaxis === "y2" ? "yaxis2" : "yaxis",
      overview: visible(t, spec.y, tRange[0], tRange[1], width, height, null, node.appionLimit),
    }));
    const data = timeData(node, null);
    const many = data.reduce((n, d) => n + d.x.length, 0) > SVG_POINTS;
    const gl = many && Appion.fastWebgl();
    return specs.map((spec, k) => Object.assign(data[k], {
      name: spec.name, type: gl ? "scattergl" : "scatter", mode: "markers",
      marker: { color: spec.colour, size: many ? 4 : 6, symbol: spec.symbol },
      hovertemplate: `${spec.name}: %{y}<br>%{x}<br>exposure %{customdata}<extra></extra>`,
    }, spec.yaxis ? { yaxis: spec.yaxis } : {}));
  }

  /** A date axis value (a number of ms or Plotly's "2025-11-30 12:00:00.5") in ms. */
  function dateMs(node, value) {
    const axis = node._fullLayout && node._fullLayout.xaxis;
    if (axis && axis.r2l) return axis.r2l(value);
    return typeof value === "number" ? value : Date.parse(String(value).replace(" ", "T") + "Z");
  }

  /** The x range a relayout asks for: [lo, hi] in ms, "all" (autorange) or null. */
  function askedRange(node, event) {
    if (event["xaxis.autorange"]) return "all";
    const range = event["xaxis.range"]
      || (event["xaxis.range[0]"] !== undefined ? [event["xaxis.range[0]"], event["xaxis.range[1]"]] : null);
    if (range) return range.map((v) => dateMs(node, v)).sort((a, b) => a - b);
    return Object.keys(event).some((k) => k.startsWith("yaxis")) && node.appionRange ? node.appionRange : null;
  }

  /** Zoomed in or out: the points of the new range, once per frame at most. */
  function followZoom(Plotly, node) {
    let asked = null;
    node.on("plotly_relayout", (event) => {
      const range = askedRange(node, event || {});
      if (range === null) return;
      const first = asked === null;
      asked = range;
      if (!first) return;
      requestAnimationFrame(async () => {
        const now = asked === "all" ? null : asked;
        asked = null;
        node.appionRange = now;
        const data = timeData(node, now);
        await Plotly.restyle(node, { x: data.map((d) => d.x), y: data.map((d) => d.y),
          customdata: data.map((d) => d.customdata) });
        node.dataset.detail = String(Number(node.dataset.detail || 0) + 1);
      });
    });
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

  /** Bins of round width (1, 2 or 5 × 10^k) over all the values of `arrays`. */
  function binsOf(arrays) {
    let min = Infinity, max = -Infinity, n = 0;
    for (const values of arrays) {
      for (const v of values) {
        if (v !== v) continue;
        n++;
        if (v < min) min = v;
        if (v > max) max = v;
      }
    }
    if (!n) return null;
    const target = Math.min(60, Math.max(5, Math.ceil(Math.sqrt(n))));
    const raw = (max - min) / target || Math.abs(max) / 10 || 1;
    const power = 10 ** Math.floor(Math.log10(raw));
    const step = power * [1, 2, 5, 10].find((m) => raw <= m * power * (1 + 1e-9));
    const start = Math.floor(min / step) * step;
    return { start, step, count: Math.max(1, Math.floor((max - start) / step) + 1) };
  }

  function bars(values, bins, name, colour) {
    const counts = new Array(bins.count).fill(0);
    for (const v of values) {
      if (v === v) counts[Math.min(bins.count - 1, Math.max(0, Math.floor((v - bins.start) / bins.step)))]++;
    }
    const edge = (k) => number(bins.start + k * bins.step, 4);
    return { type: "bar", name, x: counts.map((_, k) => bins.start + (k + 0.5) * bins.step), y: counts,
      hovertext: counts.map((_, k) => `${edge(k)} – ${edge(k + 1)}`),
      hovertemplate: `${name}: %{hovertext}<br>%{y} exposures<extra></extra>`,
      marker: { color: colour, line: { color: "#000", width: 0.5 } }, opacity: 0.75 };
  }

  /** Bar traces of the values of `specs` ({values, name, colour}), binned alike. */
  function histogram(specs) {
    const bins = binsOf(specs.map((s) => s.values));
    return bins ? specs.map((s) => bars(s.values, bins, s.name, s.colour)) : [];
  }

  function timeLayout(title, yTitle) {
    return Appion.baseLayout(title, { xaxis: { type: "date", title: { text: "acquired" } },
      yaxis: { title: { text: yTitle }, zeroline: false }, hovermode: "closest", uirevision: "keep" });
  }

  let drawn = false;
  let drawnSignature = "";
  /** What changes when a redraw would show something new. */
  function signature(series) {
    const filled = series.columns.map((_, c) => series.rows.reduce((n, row) => n + (row[c] === null ? 0 : 1), 0));
    return JSON.stringify([series.rows.length, filled, thresholds]);
  }
  const breathe = () => new Promise((resolve) => setTimeout(resolve, 0));

  function onScreen(plot) {
    const box = document.getElementById(plot.id).getBoundingClientRect();
    return box.top < (window.innerHeight || document.documentElement.clientHeight) && box.bottom > 0;
  }

  /** Plots in the window first, then the others. */
  function onScreenFirst(plots) {
    return [...plots.filter(onScreen), ...plots.filter((p) => !onScreen(p))];
  }

  async function drawPlots() {
    const [Plotly, series] = await Promise.all([Appion.plotlyReady(), getJSON(SERIES)]);
    const now = signature(series);
    if (drawn && now === drawnSignature) return;
    drawnSignature = now;
    const data = columnsOf(series);
    t = data.get("acquired_at").map((s) => s * 1000);
    ids = data.get("image_id");
    tRange = yRange(t, t, -Infinity, Infinity) || [0, 1];
    const drift = data.get("drift_total_a");
    const d1 = data.get("defocus1_a").map((v) => v / 1e4);
    const d2 = data.get("defocus2_a").map((v) => v / 1e4);
    const astig = d1.map((v, i) => Math.abs(v - d2[i]));
    const resolution = data.get("resolution_a");
    const ice = data.get("ice_thickness_nm");
    const hasIce = finite(ice);
    document.getElementById("plot-ice").hidden = !hasIce;
    document.getElementById("hist-ice").hidden = !hasIce;
    const time = (specs) => (node) => timeTraces(node, specs);
    const plots = [
      { id: "plot-drift", traces: time([{ y: drift, name: "total drift", colour: COLOURS.blue, symbol: "circle" }]),
        layout: () => withLimits(timeLayout("Total drift", "Å"), "drift_total_a", "y") },
      { id: "plot-defocus", traces: time([
        { y: d1, name: "defocus 1", colour: COLOURS.blue, symbol: "circle" },
        { y: d2, name: "defocus 2", colour: COLOURS.warn, symbol: "triangle-up" },
        { y: astig, name: "astigmatism |1−2|", colour: COLOURS.purple, symbol: "x", yaxis: "y2" }]),
      layout: () => Object.assign(timeLayout("Defocus and astigmatism", "defocus (µm)"),
        { yaxis2: { title: { text: "astigmatism (µm)" }, overlaying: "y", side: "right", showgrid: false, rangemode: "tozero" } }) },
      { id: "plot-resolution", traces: time([{ y: resolution, name: "CTF fit resolution", colour: COLOURS.ok, symbol: "diamond" }]),
        layout: () => withLimits(timeLayout("CTF fit resolution", "Å"), "resolution_a", "y") },
      { id: "hist-drift", ...hist([{ values: drift, name: "total drift", colour: COLOURS.blue }],
        () => withLimits(Appion.baseLayout("Total drift (Å)", { showlegend: false, bargap: 0.05 }), "drift_total_a", "x")) },
      { id: "hist-defocus", ...hist([{ values: d1, name: "defocus 1", colour: COLOURS.blue }, { values: d2, name: "defocus 2", colour: COLOURS.warn }],
        () => Appion.baseLayout("Defocus (µm)", { barmode: "overlay", bargap: 0.05 })) },
      { id: "hist-resolution", ...hist([{ values: resolution, name: "resolution", colour: COLOURS.ok }],
        () => withLimits(Appion.baseLayout("CTF fit resolution (Å)", { showlegend: false, bargap: 0.05 }), "resolution_a", "x")) },
    ];
    if (hasIce) {
      plots.push(
        { id: "plot-ice", traces: time([{ y: ice, name: "ice thickness", colour: COLOURS.sky, symbol: "square" }]),
          layout: () => withLimits(timeLayout("Ice thickness (Leginon)", "nm"), "ice_thickness_nm", "y") },
        { id: "hist-ice", ...hist([{ values: ice, name: "ice thickness", colour: COLOURS.sky }],
          () => withLimits(Appion.baseLayout("Ice thickness (nm)", { showlegend: false, bargap: 0.05 }), "ice_thickness_nm", "x")) });
    }
    let thinned = false;
    const order = onScreenFirst(plots);
    const firstScreen = order.filter(onScreen).length;
    for (const [k, p] of order.entries()) {
      await breathe(); // one plot per task: the page answers while they are drawn
      const node = document.getElementById(p.id);
      const traces = p.traces(node);
      thinned = thinned || traces.some((trace, j) => trace.customdata && node.appionSeries
        && node.appionSeries[j].overview.length < finiteCount(node.appionSeries[j].y));
      await Plotly.react(node, traces, p.layout(), Appion.PLOT_CONFIG);
      if (node.appionSeries && node.appionRange) {
        const data = timeData(node, node.appionRange);
        await Plotly.restyle(node, { x: data.map((d) => d.x), y: data.map((d) => d.y), customdata: data.map((d) => d.customdata) });
      }
      if (!node.dataset.clicks) {
        node.dataset.clicks = "yes";
        node.on("plotly_click", (event) => {
          const point = event.points && event.points[0];
          if (point && point.customdata !== undefined && String(point.data.type).startsWith("scatter")) {
            window.location.href = `${PAGE}/exposures/${point.customdata}`;
          }
        });
        if (node.appionSeries) followZoom(Plotly, node);
      }
      if (k + 1 === firstScreen) document.body.dataset.plotsShown = "yes";
    }
    document.getElementById("plot-note").textContent = `${series.rows.length} exposures`
      + (thinned ? " (one point per few pixels where they crowd: zoom in for every point)" : "")
      + ". Click a point to open its exposure.";
    drawn = true;
    document.body.dataset.plotsShown = "yes";
    document.body.dataset.plotsDrawn = "yes";
  }

  function finiteCount(values) {
    let n = 0;
    for (const v of values) if (v === v) n++;
    return n;
  }

  function hist(specs, layout) {
    return { traces: () => histogram(specs), layout };
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
