// Host page charts: every [data-host-chart] element draws its PromQL queries (data-queries:
// [{expr, legend}]) over the page's range with uPlot, one line per returned series, named
// by the legend template ("{{device}} received"). "$window" in a query becomes the rate
// window: at least 4 agent intervals and one step, as Grafana's $__rate_interval does.
// Dragging across a chart zooms every chart to that span. Deploys to the host are marked
// (js/deploy_markers.js).
(function () {
  var box = document.getElementById("host-charts");
  if (!box || !window.WK) return;
  var PALETTE = ["#2563eb", "#16a34a", "#dc2626", "#9333ea", "#ea580c", "#0891b2", "#ca8a04",
                 "#db2777", "#4f46e5", "#65a30d", "#0d9488", "#b45309"];
  var interval = Number(box.getAttribute("data-interval")) || 10;
  var plots = [];

  function css(name) {
    return getComputedStyle(document.documentElement).getPropertyValue(name).trim();
  }
  function legend(template, metric) {
    return template.replace(/\{\{\s*([a-zA-Z_]\w*)\s*\}\}/g, function (m, key) { return metric[key] || ""; });
  }
  function rangeQuery(expr, start, end, step) {
    var params = new URLSearchParams({ query: expr, start: start, end: end, step: step });
    return fetch("/api/v1/query_range?" + params.toString(), { credentials: "same-origin" })
      .then(function (r) { return r.json(); })
      .then(function (body) {
        if (body.status !== "success") throw new Error(body.error || body.detail || "query failed");
        return body.data.result;
      });
  }
  function columns(results, start, end, step) {
    var times = [];
    for (var t = start; t <= end + 1e-9; t += step) times.push(Math.round(t * 1000) / 1000);
    var index = {};
    times.forEach(function (t, i) { index[t] = i; });
    var cols = results.map(function (s) {
      var col = new Array(times.length).fill(null);
      s.values.forEach(function (p) {
        var i = index[Math.round(p[0] * 1000) / 1000];
        if (i !== undefined) col[i] = Number(p[1]);
      });
      return col;
    });
    return [times].concat(cols);
  }
  function draw(el, named, start, end, step) {
    el.textContent = "";
    if (!window.uPlot) { el.textContent = "Charts need the web assets (make assets)."; return; }
    if (!named.length) { el.textContent = "No data in this range."; el.classList.add("muted"); return; }
    el.classList.remove("muted");
    var unit = el.getAttribute("data-unit");
    var axis = { stroke: css("--muted"), grid: { stroke: css("--border") }, ticks: { stroke: css("--border") } };
    var host = box.getAttribute("data-host");
    var opts = {
      width: Math.max(el.clientWidth - 24, 200), height: 240,
      plugins: host && WK.deployMarkers ? [WK.deployMarkers({ services: [], hosts: [host] })] : [],
      cursor: { drag: { x: true, y: false } },
      scales: { x: { time: true, range: function () { return [start, end]; } },
                y: unit === "%" ? { range: function (u, lo, hi) { return [0, Math.max(hi, 1)]; } } : {} },
      axes: [axis, Object.assign({}, axis, { size: 80, values: function (u, vals) {
        return vals.map(function (v) { return WK.humanize(v, unit); }); } })],
      series: [{}].concat(named.map(function (s, i) {
        return { label: s.label, stroke: PALETTE[i % PALETTE.length], width: 1.5,
                 value: function (u, v) { return WK.humanize(v, unit); } };
      })),
      hooks: { setSelect: [function (u) {
        if (u.select.width < 5) return;
        var from = u.posToVal(u.select.left, "x"), to = u.posToVal(u.select.left + u.select.width, "x");
        u.setSelect({ left: 0, width: 0 }, false);
        render(from, to);
      }] }
    };
    plots.push({ plot: new uPlot(opts, columns(named, start, end, step), el), el: el });
  }
  function render(start, end) {
    var step = WK.autoStep(start, end, 240);
    var windowSeconds = Math.max(4 * interval, step, 60);
    document.getElementById("host-window").textContent =
      new Date(start * 1000).toISOString().replace("T", " ").slice(0, 19) + " – " +
      new Date(end * 1000).toISOString().replace("T", " ").slice(0, 19) + " UTC, one point every " +
      step + " s, rates over " + windowSeconds + " s";
    plots.forEach(function (p) { p.plot.destroy(); });
    plots = [];
    box.querySelectorAll("[data-host-chart]").forEach(function (el) {
      var queries = JSON.parse(el.getAttribute("data-queries"));
      el.textContent = "Loading…";
      Promise.all(queries.map(function (q) {
        return rangeQuery(q.expr.split("$window").join(windowSeconds + "s"), start, end, step)
          .then(function (result) {
            return result.map(function (s) { return { label: legend(q.legend, s.metric), values: s.values }; });
          });
      })).then(function (lists) {
        draw(el, [].concat.apply([], lists), start, end, step);
      }).catch(function (e) {
        el.textContent = "Could not load the chart (" + e.message + ").";
      });
    });
  }
  window.addEventListener("resize", function () {
    plots.forEach(function (p) { p.plot.setSize({ width: Math.max(p.el.clientWidth - 24, 200), height: 240 }); });
  });
  var end = Date.now() / 1000;
  render(end - Number(box.getAttribute("data-range")), end);
})();
