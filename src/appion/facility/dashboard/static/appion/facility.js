/* The facility page: one card per active session, finished sessions below. */
"use strict";

(() => {
  const { el, duration, number, getJSON } = Appion;
  const cards = new Map(); // session name -> {card, parts}
  let limits = {};
  let facility = null;

  function stepTable() {
    return el("table", { class: "data steps" },
      el("thead", {}, el("tr", {}, ...["Step", "Done", "Running", "Pending", "Failed", "Lag"]
        .map((h) => el("th", { scope: "col" }, h)))),
      el("tbody"));
  }

  function newCard(session) {
    const link = el("a", { href: `/sessions/${encodeURIComponent(session.name)}`, "data-testid": "session-link" }, session.name);
    const lag = el("div", { class: "lag-box", "data-testid": "lag", "data-level": "unknown" },
      el("span", { class: "lag-value" }, "—"), el("span", { class: "lag-label" }));
    const facts = el("dl", { class: "facts" });
    const chart = el("div", { class: "minichart", "aria-label": `exposures collected and processed per interval, ${session.name}`, role: "img" });
    const table = stepTable();
    const card = el("article", { class: "card", "data-session": session.name },
      el("h2", {}, link), el("p", { class: "meta" }),
      el("div", { class: "row" }, lag, facts), el("div", { class: "scroll" }, table), chart);
    return { card, lag, facts, chart, table, meta: card.querySelector(".meta"), historyAt: 0 };
  }

  function fact(dl, term, value) {
    dl.append(el("dt", {}, term), el("dd", {}, value));
  }

  function fill(parts, session) {
    parts.meta.textContent = `${session.microscope} · ${session.camera} · preset ${session.preset}`
      + (session.paused ? " · paused" : "");
    const lagSeconds = Appion.sessionLag(session);
    Appion.showLag(parts.lag, lagSeconds, limits.lag_minutes, session.paused);
    const steps = Object.entries(session.steps || {});
    const last = steps.length ? steps[steps.length - 1][1] : null;
    parts.facts.replaceChildren();
    fact(parts.facts, "Collected", `${session.collected} (${number(session.collected_per_hour)}/h)`);
    fact(parts.facts, "Processed", last ? `${last.done} (${number(last.processed_per_hour)}/h)` : "—");
    const eta = Appion.sessionEta(session);
    fact(parts.facts, "Catch up in", eta === null ? "not catching up" : (eta === 0 ? "caught up" : duration(eta)));
    fact(parts.facts, "Last exposure", Appion.when(session.last_exposure_at));
    if (session.error) fact(parts.facts, "Problem", `⚠ ${session.error}`);
    const body = parts.table.tBodies[0];
    body.replaceChildren(...steps.map(([name, step]) => el("tr", {},
      el("th", { scope: "row" }, name), el("td", {}, step.done), el("td", {}, step.running),
      el("td", {}, step.pending), el("td", {}, step.failed ? `✗ ${step.failed}` : "0"),
      el("td", {}, duration(step.lag_seconds)))));
  }

  async function drawHistory(parts, name) {
    const Plotly = await Appion.plotlyReady();
    const history = await getJSON(`/api/sessions/${encodeURIComponent(name)}/history?hours=6&bucket_s=600`);
    const buckets = history.buckets || [];
    const x = buckets.map((b) => b.start);
    const perHour = 3600 / (history.bucket_seconds || 600);
    const traces = [
      { x, y: buckets.map((b) => b.collected * perHour), name: "collected /h", type: "scatter", mode: "lines+markers",
        line: { color: Appion.COLOURS.blue, width: 2 }, marker: { symbol: "circle", size: 5 } },
      { x, y: buckets.map((b) => b.processed * perHour), name: "processed /h", type: "scatter", mode: "lines+markers",
        line: { color: Appion.COLOURS.warn, width: 2, dash: "dot" }, marker: { symbol: "square", size: 5 } },
    ];
    const layout = Appion.baseLayout("", { margin: { l: 35, r: 5, t: 5, b: 25 }, height: 140, showlegend: true,
      legend: { orientation: "h", x: 0, y: 1.15, font: { size: 10 } }, xaxis: { type: "date" }, yaxis: { rangemode: "tozero" } });
    Plotly.react(parts.chart, traces, layout, { displayModeBar: false, responsive: true });
  }

  function finishedRow(session) {
    const steps = Object.values(session.steps || {});
    const last = steps.length ? steps[steps.length - 1] : null;
    const failed = steps.reduce((sum, step) => sum + (step.failed || 0), 0);
    return el("tr", {},
      el("td", {}, el("a", { href: `/sessions/${encodeURIComponent(session.name)}` }, session.name)),
      el("td", {}, session.microscope), el("td", {}, session.collected),
      el("td", {}, last ? last.done : "—"), el("td", {}, failed ? `✗ ${failed}` : "0"),
      el("td", {}, Appion.when(session.last_exposure_at)),
      el("td", {}, session.error ? `⚠ ${session.error}` : (session.paused ? "‖ paused" : "")));
  }

  function summary() {
    if (!facility) return;
    const firing = (facility.alerts || []).filter((a) => !a.state || a.state === "firing");
    document.getElementById("summary").textContent =
      `${facility.workers} worker(s) in use · ${facility.cluster || "cluster"} · since ${Appion.when(facility.started_at)}`
      + ` · lag limit ${limits.lag_minutes ? `${limits.lag_minutes} min` : "not set (colours at 10 min)"}`;
    document.getElementById("alerts").replaceChildren(...firing.map((a) =>
      el("li", {}, `${a.rule || a.name || "alert"}: ${a.subject || ""} ${a.message || a.summary || ""}`)));
  }

  async function refreshFacility() {
    facility = await getJSON("/api/facility");
    limits = facility.thresholds || {};
    summary();
  }

  async function refreshSessions() {
    const sessions = await getJSON("/api/sessions");
    const active = sessions.filter((s) => s.active);
    const container = document.getElementById("active");
    const seen = new Set();
    for (const session of active) {
      seen.add(session.name);
      let parts = cards.get(session.name);
      if (!parts) {
        parts = newCard(session);
        cards.set(session.name, parts);
        container.append(parts.card);
      }
      fill(parts, session);
      if (Date.now() - parts.historyAt > 30000) {
        parts.historyAt = Date.now();
        drawHistory(parts, session.name).catch((error) => console.warn(error));
      }
    }
    for (const [name, parts] of cards) {
      if (!seen.has(name)) { parts.card.remove(); cards.delete(name); }
    }
    document.getElementById("no-active").hidden = active.length > 0;
    document.querySelector("#finished tbody").replaceChildren(
      ...sessions.filter((s) => !s.active).map(finishedRow));
  }

  Appion.every(10, refreshFacility);
  Appion.every(2, refreshSessions);
})();
