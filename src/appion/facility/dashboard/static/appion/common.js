/* Appion dashboard: what every page uses.  Plain JavaScript, no build step. */
"use strict";

const Appion = (() => {
  // Okabe–Ito: distinguishable with colour-vision deficiencies
  const COLOURS = {
    ok: "#009E73", warn: "#E69F00", alert: "#D55E00", blue: "#0072B2", sky: "#56B4E9",
    purple: "#CC79A7", yellow: "#F0E442", black: "#000000", grey: "#999999",
  };
  const LEVELS = {
    ok: { label: "on time", icon: "✓" },
    warn: { label: "falling behind", icon: "▲" },
    alert: { label: "over the lag limit", icon: "⚠" },
    paused: { label: "paused", icon: "‖" },
    unknown: { label: "", icon: "" },
  };
  /** The lag limit (minutes) when the configuration has no lag alert. */
  const DEFAULT_LAG_MINUTES = 10;

  async function getJSON(url) {
    const response = await fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } });
    const body = await response.json().catch(() => null);
    if (!response.ok) {
      const message = body && body.error ? body.error : `${response.status} ${response.statusText}`;
      const failure = new Error(message);
      failure.status = response.status;
      throw failure;
    }
    return body;
  }

  function csrfToken() {
    const meta = document.querySelector('meta[name="csrf-token"]');
    return meta ? meta.content : "";
  }

  function loggedIn() { return document.body.dataset.loggedIn === "yes"; }

  /** POST a control action; resolves to {ok, status, message}. */
  async function control(session, action) {
    const response = await fetch(`/api/sessions/${encodeURIComponent(session)}/${action}`, {
      method: "POST", credentials: "same-origin",
      headers: { "X-CSRF-Token": csrfToken(), Accept: "application/json" },
    });
    const body = await response.json().catch(() => ({}));
    return { ok: response.ok, status: response.status, message: body.message || body.error || response.statusText };
  }

  function duration(seconds) {
    if (seconds === null || seconds === undefined || !isFinite(seconds)) return "—";
    const s = Math.max(0, Math.round(seconds));
    if (s < 60) return `${s} s`;
    if (s < 3600) return `${Math.floor(s / 60)} min ${String(s % 60).padStart(2, "0")} s`;
    const h = Math.floor(s / 3600);
    return `${h} h ${String(Math.floor((s % 3600) / 60)).padStart(2, "0")} min`;
  }

  function number(value, digits = 3) {
    if (value === null || value === undefined || (typeof value === "number" && !isFinite(value))) return "—";
    if (typeof value !== "number") return String(value);
    if (Number.isInteger(value)) return String(value);
    return Number(value.toPrecision(digits)).toString();
  }

  function when(iso) {
    if (!iso) return "—";
    const date = new Date(iso);
    return isNaN(date) ? iso : date.toLocaleString();
  }

  /** The level of a lag against the lag limit: under half is on time. */
  function lagLevel(seconds, limitMinutes, paused) {
    if (paused) return "paused";
    if (seconds === null || seconds === undefined) return "unknown";
    const limit = 60 * (limitMinutes || DEFAULT_LAG_MINUTES);
    if (seconds >= limit) return "alert";
    if (seconds >= limit / 2) return "warn";
    return "ok";
  }

  /** A session's lag: that of its slowest step. */
  function sessionLag(session) {
    const steps = Object.values(session.steps || {});
    if (!steps.length) return null;
    return Math.max(...steps.map((step) => step.lag_seconds || 0));
  }

  /** The time to catch up: null when some step does not catch up. */
  function sessionEta(session) {
    const steps = Object.values(session.steps || {});
    if (!steps.length) return null;
    let eta = 0;
    for (const step of steps) {
      if (step.eta_seconds === null || step.eta_seconds === undefined) {
        if (step.lag_exposures > 0) return null;
      } else {
        eta = Math.max(eta, step.eta_seconds);
      }
    }
    return eta;
  }

  function showLag(box, seconds, limitMinutes, paused) {
    const level = lagLevel(seconds, limitMinutes, paused);
    box.dataset.level = level;
    box.querySelector(".lag-value").textContent = duration(seconds);
    const info = LEVELS[level];
    box.querySelector(".lag-label").textContent = info.label ? `${info.icon} ${info.label}` : "";
    box.title = `lag: ${duration(seconds)}; limit ${limitMinutes || DEFAULT_LAG_MINUTES} min`;
  }

  /** An element: el("td", {class: "x"}, "text", child). */
  function el(tag, attributes = {}, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attributes)) {
      if (value === null || value === undefined || value === false) continue;
      if (key === "class") node.className = value;
      else if (key === "text") node.textContent = value;
      else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
      else node.setAttribute(key, value === true ? "" : value);
    }
    for (const child of children) {
      if (child === null || child === undefined) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  let webglChecked = null;
  let softwareChecked = false;
  function checkWebgl() {
    if (webglChecked !== null) return;
    try {
      const canvas = document.createElement("canvas");
      const gl = canvas.getContext("webgl") || canvas.getContext("experimental-webgl");
      webglChecked = Boolean(gl);
      if (gl) {
        const info = gl.getExtension("WEBGL_debug_renderer_info");
        const renderer = String(gl.getParameter(info ? info.UNMASKED_RENDERER_WEBGL : gl.RENDERER));
        softwareChecked = /swiftshader|llvmpipe|softpipe|software/i.test(renderer);
        const lose = gl.getExtension("WEBGL_lose_context");
        if (lose) lose.loseContext();
      }
    } catch (error) {
      webglChecked = false;
    }
  }

  /** Whether WebGL works here (Plotly's scattergl needs it). */
  function webgl() {
    checkWebgl();
    return webglChecked;
  }

  /** Whether WebGL works here and a GPU draws it: drawn by the CPU (SwiftShader,
      llvmpipe: remote desktops, virtual machines), a WebGL plot takes longer to set up
      than an SVG one of a thousand points. */
  function fastWebgl() {
    checkWebgl();
    return webglChecked && !softwareChecked;
  }

  /** Call fn now and every `seconds` while the page is visible; never two at once. */
  function every(seconds, fn) {
    let busy = false;
    const tick = async () => {
      if (busy || document.hidden) return;
      busy = true;
      try { await fn(); } catch (error) { console.warn(error); } finally { busy = false; }
    };
    tick();
    document.addEventListener("visibilitychange", () => { if (!document.hidden) tick(); });
    return setInterval(tick, seconds * 1000);
  }

  /** Plotly, once its script (loaded async, so that tables come first) has run. */
  function plotlyReady() {
    return new Promise((resolve, reject) => {
      if (window.Plotly) return resolve(window.Plotly);
      const script = document.getElementById("plotly");
      if (!script) return reject(new Error("no Plotly script on this page"));
      script.addEventListener("load", () => resolve(window.Plotly));
      script.addEventListener("error", () => reject(new Error("could not load /static/plotly.min.js")));
    });
  }

  const PLOT_CONFIG = { responsive: true, displaylogo: false, modeBarButtonsToRemove: ["lasso2d", "select2d"] };

  function baseLayout(title, extra = {}) {
    return Object.assign({
      title: { text: title, font: { size: 14 }, x: 0.02 },
      margin: { l: 55, r: 15, t: 36, b: 40 },
      font: { family: "system-ui, sans-serif", size: 12, color: "#1b1b1b" },
      paper_bgcolor: "#ffffff", plot_bgcolor: "#ffffff",
      legend: { orientation: "h", x: 1, xanchor: "right", y: 1.0, yanchor: "bottom", bgcolor: "rgba(255,255,255,0.6)" },
    }, extra);
  }

  return { COLOURS, LEVELS, getJSON, control, csrfToken, loggedIn, duration, number, when,
    lagLevel, sessionLag, sessionEta, showLag, el, webgl, fastWebgl, every, plotlyReady, PLOT_CONFIG, baseLayout };
})();
