// Home page: the plan-compliance score over the last 30 days (one point per hour, the
// hour's lowest), from the JSON embedded in #plan-trend-data, drawn with uPlot; redrawn in
// the new colours when the theme is switched.
(function () {
  var el = document.getElementById("plan-trend");
  var source = document.getElementById("plan-trend-data");
  if (!el || !source) return;
  var data = JSON.parse(source.textContent);
  function css(name) {
    return getComputedStyle(document.documentElement).getPropertyValue(name).trim();
  }
  if (!window.uPlot) { el.textContent = "Charts need the web assets (make assets)."; return; }
  if (!data.t.length) {
    el.textContent = "The trend shows here once the server has kept its first snapshots (every minute).";
    el.classList.add("muted");
    return;
  }
  function width() { return Math.max(el.clientWidth, 200); }
  function draw() {
    var axis = { stroke: css("--muted"), grid: { stroke: css("--border") }, ticks: { stroke: css("--border") } };
    var opts = {
      width: width(), height: 170,
      legend: { show: false },
      cursor: { drag: { x: false, y: false } },
      // Always the whole 30 days, however few snapshots there are yet.
      scales: { x: { time: true, range: function () { return [data.from, data.to]; } }, y: { range: [0, 100] } },
      axes: [axis, Object.assign({}, axis, { size: 54, values: function (u, vals) {
        return vals.map(function (v) { return v + "%"; });
      } })],
      series: [
        {},
        { label: "score", stroke: css("--accent"), width: 2, fill: css("--info-bg"), spanGaps: false,
          points: { show: data.t.length < 3 },
          value: function (u, v) { return v == null ? "–" : v.toFixed(0) + "%"; } }
      ]
    };
    return new uPlot(opts, [data.t, data.score], el);
  }
  var plot = draw();
  window.addEventListener("resize", function () { plot.setSize({ width: width(), height: 170 }); });
  new MutationObserver(function () { plot.destroy(); plot = draw(); })
    .observe(document.documentElement, { attributes: true, attributeFilter: ["data-theme"] });
})();
