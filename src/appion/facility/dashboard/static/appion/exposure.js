/* The exposure page: the zoomable aligned sum, the CTF profile, the drift trajectory. */
"use strict";

(() => {
  const { COLOURS } = Appion;
  const DATA = JSON.parse(document.getElementById("exposure-data").textContent);

  // ------------------------------------------------------------ zooming

  const box = document.getElementById("zoom");
  const image = document.getElementById("preview");
  if (box && image) {
    const view = { scale: 1, x: 0, y: 0 };
    const apply = () => {
      view.scale = Math.min(16, Math.max(1, view.scale));
      const w = box.clientWidth, h = box.clientHeight;
      view.x = Math.min(0, Math.max(w - w * view.scale, view.x));
      view.y = Math.min(0, Math.max(h - h * view.scale, view.y));
      image.style.transform = `translate(${view.x}px, ${view.y}px) scale(${view.scale})`;
      box.dataset.scale = view.scale.toFixed(2);
    };
    const zoomAt = (factor, px, py) => {
      const before = view.scale;
      view.scale = Math.min(16, Math.max(1, view.scale * factor));
      const k = view.scale / before;
      view.x = px - (px - view.x) * k;
      view.y = py - (py - view.y) * k;
      apply();
    };
    box.addEventListener("wheel", (event) => {
      event.preventDefault();
      const rect = box.getBoundingClientRect();
      zoomAt(event.deltaY < 0 ? 1.25 : 0.8, event.clientX - rect.left, event.clientY - rect.top);
    }, { passive: false });
    box.addEventListener("dblclick", () => { view.scale = 1; view.x = 0; view.y = 0; apply(); });
    box.addEventListener("keydown", (event) => {
      const centre = [box.clientWidth / 2, box.clientHeight / 2];
      if (event.key === "+" || event.key === "=") zoomAt(1.25, ...centre);
      else if (event.key === "-") zoomAt(0.8, ...centre);
      else if (event.key === "0") { view.scale = 1; apply(); }
      else return;
      event.preventDefault();
    });
    let drag = null;
    box.addEventListener("pointerdown", (event) => {
      drag = { x: event.clientX - view.x, y: event.clientY - view.y };
      box.setPointerCapture(event.pointerId);
    });
    box.addEventListener("pointermove", (event) => {
      if (!drag) return;
      view.x = event.clientX - drag.x;
      view.y = event.clientY - drag.y;
      apply();
    });
    box.addEventListener("pointerup", () => { drag = null; });
    const contrast = document.getElementById("contrast");
    if (contrast) {
      contrast.addEventListener("input", () => { image.style.filter = `contrast(${contrast.value}%)`; });
    }
  }

  // ---------------------------------------------------------- keyboard

  document.addEventListener("keydown", (event) => {
    if (event.target.closest("input, textarea, #zoom")) return;
    const link = event.key === "ArrowLeft" ? document.getElementById("previous")
      : event.key === "ArrowRight" ? document.getElementById("next") : null;
    if (link) window.location.href = link.href;
  });

  // -------------------------------------------------------------- plots

  function stepDetail(key) {
    for (const step of Object.values(DATA.steps || {})) {
      if (step && step[key]) return step[key];
    }
    return null;
  }

  function empty(id, text) {
    document.getElementById(id).replaceChildren(Appion.el("p", { class: "placeholder" }, text));
  }

  Appion.plotlyReady().then((Plotly) => {
    const profile = stepDetail("profile");
    if (profile && profile.spatial_frequency_per_a && profile.spatial_frequency_per_a.length) {
      const f = profile.spatial_frequency_per_a;
      const traces = [
        { x: f, y: profile.spectrum, name: "rotational average", type: "scatter", mode: "lines", line: { color: COLOURS.blue, width: 1.5 } },
        { x: f, y: profile.fit, name: "fitted CTF", type: "scatter", mode: "lines", line: { color: COLOURS.warn, width: 2, dash: "dash" } },
      ];
      const layout = Appion.baseLayout("CTF: 1D profile", {
        xaxis: { title: { text: "spatial frequency (1/Å)" } }, yaxis: { title: { text: "amplitude" } } });
      const resolution = profile.resolution_a || (DATA.values || {}).resolution_a;
      if (resolution) {
        layout.shapes = [{ type: "line", yref: "paper", y0: 0, y1: 1, x0: 1 / resolution, x1: 1 / resolution,
          line: { color: COLOURS.alert, width: 2, dash: "dot" } }];
        layout.annotations = [{ yref: "paper", y: 1, x: 1 / resolution, text: `fit to ${Appion.number(resolution)} Å`,
          showarrow: false, xanchor: "left", yanchor: "top", font: { color: "#7a3500" } }];
      }
      Plotly.newPlot("plot-profile", traces, layout, Appion.PLOT_CONFIG);
    } else {
      empty("plot-profile", "No CTF profile yet.");
    }
    const trajectory = stepDetail("trajectory_a");
    if (trajectory && trajectory.length) {
      const x = trajectory.map((p) => p[0]);
      const y = trajectory.map((p) => p[1]);
      Plotly.newPlot("plot-trajectory", [{
        x, y, type: "scatter", mode: "lines+markers", name: "drift",
        text: trajectory.map((_, i) => `frame ${i + 1}`),
        line: { color: COLOURS.blue }, marker: { color: trajectory.map((_, i) => i), colorscale: "Viridis", size: 7,
          colorbar: { title: { text: "frame" }, thickness: 10 } },
      }], Appion.baseLayout("Drift trajectory", {
        xaxis: { title: { text: "x (Å)" }, zeroline: true }, yaxis: { title: { text: "y (Å)" }, scaleanchor: "x", zeroline: true },
        showlegend: false }), Appion.PLOT_CONFIG);
    } else {
      empty("plot-trajectory", "No drift trajectory yet.");
    }
    document.body.dataset.plotsDrawn = "yes";
  }).catch((error) => empty("plot-profile", `⚠ ${error.message}`));
})();
