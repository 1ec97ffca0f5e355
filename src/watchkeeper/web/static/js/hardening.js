// Hardening host page: the index of each audit over time (0-100), from the JSON embedded in
// #hardening-chart-data, drawn with uPlot. Audits where nothing could be judged are gaps.
(function () {
  var el = document.getElementById("hardening-chart");
  var source = document.getElementById("hardening-chart-data");
  if (!el || !source) return;
  var data = JSON.parse(source.textContent);
  function css(name) {
    return getComputedStyle(document.documentElement).getPropertyValue(name).trim();
  }
  if (!window.uPlot) { el.textContent = "Charts need the web assets (make assets)."; return; }
  if (!data.t.length) { el.textContent = "No audit yet."; el.classList.add("muted"); return; }
  var axis = { stroke: css("--muted"), grid: { stroke: css("--border") }, ticks: { stroke: css("--border") } };
  var opts = {
    width: Math.max(el.clientWidth - 24, 200), height: 220,
    scales: { x: { time: true }, y: { range: [0, 100] } },
    axes: [axis, Object.assign({}, axis, { size: 50 })],
    series: [
      {},
      { label: "index", stroke: css("--accent"), width: 2, points: { show: true, size: 6 },
        spanGaps: false, value: function (u, v, s, i) {
          if (v == null) return "–";
          return v + " (" + data.points[i] + " of " + data.possible[i] + " points)"; } }
    ]
  };
  if (data.t.length === 1) {  // alone, it would stretch the time axis over years
    opts.scales.x.range = [data.t[0] - 86400, data.t[0] + 86400];
  }
  var plot = new uPlot(opts, [data.t, data.index], el);
  window.addEventListener("resize", function () {
    plot.setSize({ width: Math.max(el.clientWidth - 24, 200), height: 220 });
  });
})();
