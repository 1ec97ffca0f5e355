// Time-series charts with uPlot: every element with data-chart="<url>" gets one.
// The URL answers {"t": [epoch seconds], "ms": [values or null], "ok": [1|0]}.
// data-deploys="<service>" marks that service's deploys on the chart (js/deploy_markers.js).
(function () {
  function css(name) {
    return getComputedStyle(document.documentElement).getPropertyValue(name).trim();
  }
  function draw(el, data) {
    if (!window.uPlot) { el.textContent = "Charts need the web assets (make assets)."; return; }
    if (!data.t.length) { el.textContent = "No results yet."; el.classList.add("muted"); return; }
    var unit = el.getAttribute("data-unit") || "";
    var hours = Number(el.getAttribute("data-hours") || 24);
    var fails = data.ok.map(function (ok, i) { return ok ? null : 0; });
    var service = el.getAttribute("data-deploys");
    var opts = {
      width: el.clientWidth - 24,
      height: 260,
      cursor: { drag: { x: true, y: false } },
      plugins: service && window.WK && WK.deployMarkers ? [WK.deployMarkers({ services: [service], hosts: [] })] : [],
      // Always the whole requested window, however few points there are yet.
      scales: { x: { time: true, range: function () {
        var now = Date.now() / 1000;
        return [now - hours * 3600, now];
      } } },
      axes: [
        { stroke: css("--muted"), grid: { stroke: css("--border") }, ticks: { stroke: css("--border") } },
        { stroke: css("--muted"), grid: { stroke: css("--border") }, ticks: { stroke: css("--border") },
          values: function (u, vals) { return vals.map(function (v) { return v + " " + unit; }); }, size: 70 }
      ],
      series: [
        {},
        { label: "response", stroke: css("--accent"), width: 1.5, spanGaps: false,
          value: function (u, v) { return v == null ? "–" : v.toFixed(1) + " " + unit; } },
        { label: "failed", stroke: css("--err"), width: 0, points: { show: true, size: 6, fill: css("--err") },
          value: function (u, v) { return v == null ? "" : "failed"; } }
      ]
    };
    var plot = new uPlot(opts, [data.t, data.ms, fails], el);
    window.addEventListener("resize", function () { plot.setSize({ width: el.clientWidth - 24, height: 260 }); });
  }
  document.querySelectorAll("[data-chart]").forEach(function (el) {
    fetch(el.getAttribute("data-chart"), { credentials: "same-origin" })
      .then(function (r) { if (!r.ok) throw new Error(r.status); return r.json(); })
      .then(function (data) { draw(el, data); })
      .catch(function (e) { el.textContent = "Could not load the chart (" + e.message + ")."; });
  });
})();
