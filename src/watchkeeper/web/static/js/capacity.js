// Capacity charts with uPlot: every element with data-capacity-chart="<url>" gets the
// forecast's history, the projection with its ±2σ band and the limit line. The URL answers
// {"t": [...], "value": [...], "fit": [...], "low": [...], "high": [...], "limit": n,
// "unit": "bytes"} (GET /api/v1/capacity/{id}: its "series"). Small charts (data-small, the
// report's rows) have no axes and load when they scroll into view.
(function () {
  function css(name) {
    return getComputedStyle(document.documentElement).getPropertyValue(name).trim();
  }
  function alpha(color, a) {
    var m = /^#([0-9a-f]{6})$/i.exec(color);
    if (!m) return color;
    var n = parseInt(m[1], 16);
    return "rgba(" + (n >> 16) + "," + ((n >> 8) & 255) + "," + (n & 255) + "," + a + ")";
  }
  function bytes(v) {
    var units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"], i = 0, s = Math.abs(v);
    while (s >= 1024 && i < units.length - 1) { s /= 1024; i++; }
    return (v < 0 ? "-" : "") + (i ? s.toFixed(1) : String(Math.round(s))) + " " + units[i];
  }
  function formatter(unit) {
    return function (v) {
      if (v == null) return "–";
      if (unit === "bytes") return bytes(v);
      if (unit === "bytes/s") return bytes(v) + "/s";
      if (unit === "ratio") return (v * 100).toFixed(1) + "%";
      if (unit === "percent" || unit === "%") return v.toFixed(1) + "%";
      var size = Math.abs(v), text;
      if (size >= 1e9) text = +(v / 1e9).toFixed(2) + "G";
      else if (size >= 1e6) text = +(v / 1e6).toFixed(2) + "M";
      else if (size >= 1e4) text = +(v / 1e3).toFixed(1) + "k";
      else if (size >= 0.01 || v === 0) text = String(+v.toFixed(2));
      else text = v.toExponential(1);
      return unit ? text + " " + unit : text;
    };
  }
  function axis(extra) {
    return Object.assign({ stroke: css("--muted"), grid: { stroke: css("--border") }, ticks: { stroke: css("--border") } }, extra || {});
  }

  function draw(el, d) {
    if (!window.uPlot) { el.textContent = "Charts need the web assets (make assets)."; return; }
    if (!d.t.length) { el.textContent = "No history yet."; el.classList.add("muted"); return; }
    var small = el.hasAttribute("data-small");
    var fmt = formatter(d.unit);
    var accent = css("--accent"), limitColor = css("--err");
    var top = -Infinity, bottom = Infinity;
    d.value.concat(d.high, d.low).forEach(function (v) {
      if (v != null) { top = Math.max(top, v); bottom = Math.min(bottom, v); }
    });
    // The limit is drawn when it is within reach of the data (else it flattens the rest).
    var span = Math.max(top - bottom, Math.abs(top) * 0.05, 1e-9);
    var showLimit = d.limit != null && d.limit <= top + 2 * span && d.limit >= bottom - 2 * span;
    var value = function (u, v) { return fmt(v); };
    var series = [
      {},
      { label: "history", stroke: accent, width: small ? 1.2 : 1.6, value: value },
      { label: "forecast", stroke: accent, width: small ? 1.2 : 1.5, dash: [6, 4], value: value },
      { label: "band low", stroke: alpha(accent, 0.35), width: 1, value: value },
      { label: "band high", stroke: alpha(accent, 0.35), width: 1, value: value }
    ];
    var columns = [d.t, d.value, d.fit, d.low, d.high];
    if (showLimit) {
      series.push({ label: "limit", stroke: limitColor, width: 1.5, dash: [2, 3], value: value });
      columns.push(d.t.map(function () { return d.limit; }));
    }
    var height = small ? 56 : 300;
    var width = function () { return Math.max(el.clientWidth - (small ? 0 : 24), small ? 120 : 240); };
    var lo = Math.min(bottom, showLimit ? d.limit : bottom), hi = Math.max(top, showLimit ? d.limit : top);
    var pad = (hi - lo) * 0.06 || Math.abs(hi) * 0.05 || 1;
    var opts = {
      width: width(), height: height,
      scales: { x: { time: true }, y: { range: function () { return [Math.min(lo - pad, lo >= 0 ? 0 : lo - pad), hi + pad]; } } },
      series: series,
      bands: [{ series: [4, 3], fill: alpha(accent, 0.16) }]
    };
    if (small) {
      opts.legend = { show: false };
      opts.cursor = { show: false };
      opts.axes = [{ show: false }, { show: false }];
      opts.padding = [4, 2, 4, 2];
      opts.scales.y.range = function () { return [lo - pad, hi + pad]; };
    } else {
      opts.axes = [axis(), axis({ size: 80, values: function (u, vals) { return vals.map(fmt); } })];
    }
    var plot = new uPlot(opts, columns, el);
    window.addEventListener("resize", function () { plot.setSize({ width: width(), height: height }); });
    if (!small && d.limit != null && !showLimit) {
      var note = document.createElement("p");
      note.className = "muted small chart-note";
      note.textContent = "The limit (" + fmt(d.limit) + ") is far from the chart's values.";
      el.appendChild(note);
    }
  }

  function load(el) {
    fetch(el.getAttribute("data-capacity-chart"), { credentials: "same-origin" })
      .then(function (r) { if (!r.ok) throw new Error(r.status); return r.json(); })
      .then(function (item) { draw(el, item.series); })
      .catch(function (e) { el.textContent = "Could not load the chart (" + e.message + ")."; });
  }

  function start() {
    var all = document.querySelectorAll("[data-capacity-chart]");
    if (!("IntersectionObserver" in window)) { all.forEach(load); return; }
    var seen = new IntersectionObserver(function (entries) {
      entries.forEach(function (e) {
        if (e.isIntersecting) { seen.unobserve(e.target); load(e.target); }
      });
    }, { rootMargin: "200px" });
    all.forEach(function (el) { seen.observe(el); });
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
