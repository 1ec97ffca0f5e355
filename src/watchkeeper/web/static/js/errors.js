// Error issue page: events and newly affected users per step over 24 hours or 14 days,
// from /api/v1/errors/issues/{id}/counts, drawn with uPlot (events as bars, users as a line).
(function () {
  var el = document.getElementById("error-chart");
  if (!el) return;
  function css(name) {
    return getComputedStyle(document.documentElement).getPropertyValue(name).trim();
  }
  var plot = null;
  function whole(u, vals) { return vals.map(function (v) { return Number.isInteger(v) ? String(v) : ""; }); }
  function draw(data) {
    el.textContent = "";
    if (plot) { plot.destroy(); plot = null; }
    if (!window.uPlot) { el.textContent = "Charts need the web assets (make assets)."; return; }
    var axis = { stroke: css("--muted"), grid: { stroke: css("--border") }, ticks: { stroke: css("--border") } };
    var bars = uPlot.paths && uPlot.paths.bars ? uPlot.paths.bars({ size: [0.8, 40] }) : null;
    var opts = {
      width: Math.max(el.clientWidth - 24, 200), height: 240,
      scales: { x: { time: true }, n: { range: function (u, lo, hi) { return [0, Math.max(hi, 1)]; } } },
      axes: [axis, Object.assign({}, axis, { scale: "n", size: 50, values: whole })],
      series: [
        {},
        { label: "events", scale: "n", stroke: css("--err"), fill: css("--err-bg"), width: 1, paths: bars,
          points: { show: false } },
        { label: "new users", scale: "n", stroke: css("--accent"), width: 2, points: { show: false } }
      ]
    };
    plot = new uPlot(opts, [data.t, data.events, data.users], el);
  }
  function load(span) {
    fetch(el.getAttribute("data-error-chart") + "?span=" + span, { credentials: "same-origin" })
      .then(function (r) { if (!r.ok) throw new Error(r.status); return r.json(); })
      .then(draw)
      .catch(function (e) { el.textContent = "Could not load the chart (" + e.message + ")."; });
  }
  document.querySelectorAll(".error-spans a").forEach(function (a) {
    a.addEventListener("click", function (ev) {
      ev.preventDefault();
      document.querySelectorAll(".error-spans a").forEach(function (b) { b.classList.remove("active"); });
      a.classList.add("active");
      load(a.getAttribute("data-span"));
    });
  });
  window.addEventListener("resize", function () {
    if (plot) plot.setSize({ width: Math.max(el.clientWidth - 24, 200), height: 240 });
  });
  load("24h");
})();
