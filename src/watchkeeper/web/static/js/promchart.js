// PromQL charts with uPlot, shared by the query page and the host pages.
// WK.promChart(el, {query, start, end, step, unit, onZoom, deploys}) fetches /api/v1/query_range
// and draws one line per returned series; dragging across the chart calls onZoom(start, end).
// Deploys of the series' `service` and `host`/`instance` labels (or of o.deploys: {services,
// hosts}) are marked when js/deploy_markers.js is loaded.
(function () {
  var PALETTE = ["#2563eb", "#16a34a", "#dc2626", "#9333ea", "#ea580c", "#0891b2", "#ca8a04",
                 "#db2777", "#4f46e5", "#65a30d", "#0d9488", "#b45309"];
  var MAX_SERIES = 40;
  function css(name) {
    return getComputedStyle(document.documentElement).getPropertyValue(name).trim();
  }
  function seriesName(metric) {
    var name = metric.__name__ || "";
    var pairs = Object.keys(metric).filter(function (k) { return k !== "__name__"; }).sort()
      .map(function (k) { return k + '="' + metric[k] + '"'; });
    return pairs.length ? name + "{" + pairs.join(", ") + "}" : (name || "{}");
  }
  function humanize(v, unit) {
    if (v == null || isNaN(v)) return "–";
    var abs = Math.abs(v);
    var scaled = v, suffix = "";
    if (unit === "bytes" || unit === "bytes/s") {
      var units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"], i = 0;
      while (Math.abs(scaled) >= 1024 && i < units.length - 1) { scaled /= 1024; i++; }
      return scaled.toFixed(scaled % 1 === 0 ? 0 : 1) + " " + units[i] + (unit === "bytes/s" ? "/s" : "");
    }
    if (abs >= 1e9) { scaled = v / 1e9; suffix = "G"; }
    else if (abs >= 1e6) { scaled = v / 1e6; suffix = "M"; }
    else if (abs >= 1e4) { scaled = v / 1e3; suffix = "k"; }
    var text = Math.abs(scaled) >= 100 ? scaled.toFixed(0) : Math.abs(scaled) >= 1 ? scaled.toFixed(2) : scaled.toPrecision(3);
    return text + suffix + (unit && unit !== "bytes" ? " " + unit : "");
  }
  function toColumns(result, start, end, step) {
    var times = [];
    for (var t = start; t <= end + 1e-9; t += step) times.push(Math.round(t * 1000) / 1000);
    var index = {};
    times.forEach(function (t, i) { index[t] = i; });
    var cols = result.slice(0, MAX_SERIES).map(function (s) {
      var col = new Array(times.length).fill(null);
      s.values.forEach(function (p) {
        var i = index[Math.round(p[0] * 1000) / 1000];
        if (i !== undefined) col[i] = Number(p[1]);
      });
      return col;
    });
    return [times].concat(cols);
  }
  function draw(el, body, o) {
    el.textContent = "";
    if (!window.uPlot) { el.textContent = "Charts need the web assets (make assets)."; return null; }
    var data = body.data;
    if (data.resultType !== "matrix") { el.textContent = "The query returns a " + data.resultType + "."; return null; }
    if (!data.result.length) { el.textContent = "No data in this range."; el.classList.add("muted"); return null; }
    var axis = { stroke: css("--muted"), grid: { stroke: css("--border") }, ticks: { stroke: css("--border") } };
    var series = [{}].concat(data.result.slice(0, MAX_SERIES).map(function (s, i) {
      return { label: seriesName(s.metric), stroke: PALETTE[i % PALETTE.length], width: 1.5,
               value: function (u, v) { return humanize(v, o.unit); } };
    }));
    // Deploys of the services and hosts the series are labelled with (or o.deploys).
    var deploys = o.deploys || (WK.deployFilter ? WK.deployFilter(data.result) : null);
    var opts = {
      width: Math.max(el.clientWidth - 24, 200), height: o.height || 280,
      legend: { show: o.legend !== false },
      plugins: deploys && WK.deployMarkers ? [WK.deployMarkers(deploys)] : [],
      cursor: { drag: { x: true, y: false } },
      scales: { x: { time: true, range: function () { return [o.start, o.end]; } } },
      axes: [axis, Object.assign({}, axis, { size: 80, values: function (u, vals) {
        return vals.map(function (v) { return humanize(v, o.unit); }); } })],
      series: series,
      hooks: { setSelect: [function (u) {
        if (!o.onZoom || u.select.width < 5) return;
        var from = u.posToVal(u.select.left, "x"), to = u.posToVal(u.select.left + u.select.width, "x");
        u.setSelect({ left: 0, width: 0 }, false);
        o.onZoom(from, to);
      }] }
    };
    var plot = new uPlot(opts, toColumns(data.result, o.start, o.end, o.step), el);
    if (data.result.length > MAX_SERIES) {
      var note = document.createElement("p");
      note.className = "muted small";
      note.textContent = "Showing " + MAX_SERIES + " of " + data.result.length + " series.";
      el.appendChild(note);
    }
    window.addEventListener("resize", function () { plot.setSize({ width: Math.max(el.clientWidth - 24, 200), height: o.height || 280 }); });
    return plot;
  }
  function autoStep(start, end, points) {
    var raw = (end - start) / (points || 250);
    var steps = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 21600, 43200, 86400];
    for (var i = 0; i < steps.length; i++) if (steps[i] >= raw) return steps[i];
    return 86400;
  }
  function promChart(el, o) {
    o.step = o.step || autoStep(o.start, o.end);
    var params = new URLSearchParams({ query: o.query, start: o.start, end: o.end, step: o.step });
    el.textContent = "Loading…";
    return fetch("/api/v1/query_range?" + params.toString(), { credentials: "same-origin" })
      .then(function (r) { return r.json().then(function (body) { return { ok: r.ok, body: body }; }); })
      .then(function (res) {
        if (!res.ok || res.body.status !== "success") {
          el.textContent = "";
          throw res.body;
        }
        draw(el, res.body, o);
        return res.body;
      });
  }
  window.WK = window.WK || {};
  window.WK.promChart = promChart;
  window.WK.autoStep = autoStep;
  window.WK.seriesName = seriesName;
  window.WK.humanize = humanize;
})();
