// Incident figures and drill charts with uPlot. Every element with
// data-figure-chart="<id of a JSON script>" and data-figure-key="<key>" gets one chart:
// the JSON is {"t": [epoch seconds], "start": s, "end": s, "points": bool,
// "<key>": [{"label": "...", "values": [seconds or null, one per t]}]}; one line per entry.
// data-figure-unit="count" or "percent" (a 0..1 ratio) draws other values than times.
(function () {
  var PALETTE = ["#2563eb", "#16a34a", "#dc2626", "#9333ea", "#ea580c", "#0891b2", "#ca8a04",
                 "#db2777", "#4f46e5", "#65a30d", "#0d9488", "#b45309"];
  // Y-axis steps that read well as times: seconds, minutes, hours, days.
  var INCRS = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600,
               43200, 86400, 172800, 604800, 1209600, 2592000];
  function css(name) {
    return getComputedStyle(document.documentElement).getPropertyValue(name).trim();
  }
  function human(s) {
    if (s == null || isNaN(s)) return "–";
    if (s < 60) return Math.round(s) + " s";
    if (s < 3600) return trim((s / 60).toFixed(s < 600 ? 1 : 0)) + " min";
    if (s < 86400) return trim((s / 3600).toFixed(1)) + " h";
    return trim((s / 86400).toFixed(1)) + " d";
  }
  var COUNTS = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000];  // whole steps for counts
  function trim(text) { return text.replace(/\.0$/, ""); }
  function count(v) { return v == null || isNaN(v) ? "–" : trim(String(Math.round(v * 100) / 100)); }
  function percent(v) { return v == null || isNaN(v) ? "–" : Math.round(v * 100) + "%"; }
  var FORMATS = { time: human, count: count, percent: percent };
  function draw(el, data, key) {
    el.textContent = "";
    if (!window.uPlot) { el.textContent = "Charts need the web assets (make assets)."; return; }
    var lines = data[key] || [];
    var any = lines.some(function (l) { return l.values.some(function (v) { return v != null; }); });
    if (!data.t.length || !any) {
      el.textContent = "Nothing to chart in this range."; el.classList.add("muted"); return;
    }
    var axis = { stroke: css("--muted"), grid: { stroke: css("--border") }, ticks: { stroke: css("--border") } };
    var unit = FORMATS[el.getAttribute("data-figure-unit")] ? el.getAttribute("data-figure-unit") : "time";
    var fmt = FORMATS[unit];
    var series = [{}].concat(lines.map(function (l, i) {
      var color = l.color ? css(l.color) : PALETTE[i % PALETTE.length];
      if (l.marks) {  // points only, e.g. missed drill runs drawn at 0
        return { label: l.label, stroke: color, width: 0, spanGaps: false,
                 points: { show: true, size: 8, fill: color },
                 value: function (u, v) { return v == null ? "" : l.label; } };
      }
      return { label: l.label, stroke: color, width: data.points ? 1 : 1.5, spanGaps: true,
               points: { show: true, size: data.points ? 7 : 5, fill: color },
               value: function (u, v) { return fmt(v); } };
    }));
    var height = Number(el.getAttribute("data-height") || 260);
    var opts = {
      width: Math.max(el.clientWidth - 24, 200), height: height,
      cursor: { drag: { x: false, y: false } },
      scales: {
        x: { time: true, range: function () {
          return [Math.min(data.start, data.t[0]), data.end]; } },
        y: { range: function (u, min, max) {
          return [0, max > 0 ? max * 1.1 : (unit === "time" ? 60 : 1)]; } }
      },
      axes: [axis, Object.assign({}, axis, { size: 70, values: function (u, vals) {
        return vals.map(fmt); } }, unit === "percent" ? {} : { incrs: unit === "count" ? COUNTS : INCRS })],
      series: series
    };
    var plot = new uPlot(opts, [data.t].concat(lines.map(function (l) { return l.values; })), el);
    window.addEventListener("resize", function () {
      plot.setSize({ width: Math.max(el.clientWidth - 24, 200), height: height });
    });
  }
  document.querySelectorAll("[data-figure-chart]").forEach(function (el) {
    var source = document.getElementById(el.getAttribute("data-figure-chart"));
    if (!source) return;
    try {
      draw(el, JSON.parse(source.textContent), el.getAttribute("data-figure-key"));
    } catch (e) {
      el.textContent = "Could not draw the chart (" + e.message + ").";
    }
  });
})();
