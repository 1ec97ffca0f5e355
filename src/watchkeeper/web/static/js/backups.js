// Backup policy page: size (bytes read, bytes newly stored) and duration of each good
// backup over time, from the JSON embedded in #backup-chart-data, drawn with uPlot.
(function () {
  var el = document.getElementById("backup-chart");
  var source = document.getElementById("backup-chart-data");
  if (!el || !source) return;
  var data = JSON.parse(source.textContent);
  function css(name) {
    return getComputedStyle(document.documentElement).getPropertyValue(name).trim();
  }
  function bytes(v) {
    if (v == null) return "–";
    var units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"], i = 0, s = v;
    while (Math.abs(s) >= 1024 && i < units.length - 1) { s /= 1024; i++; }
    return (i ? s.toFixed(1) : String(Math.round(s))) + " " + units[i];
  }
  function seconds(v) {
    if (v == null) return "–";
    if (v < 120) return v.toFixed(v < 10 ? 1 : 0) + " s";
    if (v < 7200) return Math.round(v / 60) + " min";
    return (v / 3600).toFixed(1) + " h";
  }
  if (!window.uPlot) { el.textContent = "Charts need the web assets (make assets)."; return; }
  if (!data.t.length) { el.textContent = "No successful backup yet."; el.classList.add("muted"); return; }
  // Binary steps for the bytes axis (1, 2, 4 ... 512 KiB, MiB, GiB) so that ticks read well.
  var binary = [];
  for (var k = 0; k < 6; k++) {
    [1, 2, 4, 8, 16, 32, 64, 128, 256, 512].forEach(function (m) { binary.push(m * Math.pow(1024, k)); });
  }
  var axis = { stroke: css("--muted"), grid: { stroke: css("--border") }, ticks: { stroke: css("--border") } };
  var opts = {
    width: Math.max(el.clientWidth - 24, 200), height: 260,
    scales: { x: { time: true }, bytes: {}, s: {} },
    axes: [
      axis,
      Object.assign({}, axis, { scale: "bytes", size: 80, incrs: binary, values: function (u, vals) { return vals.map(bytes); } }),
      Object.assign({}, axis, { scale: "s", side: 1, size: 70, grid: { show: false },
        values: function (u, vals) { return vals.map(seconds); } })
    ],
    series: [
      {},
      { label: "size", scale: "bytes", stroke: css("--accent"), width: 2, points: { show: true },
        value: function (u, v) { return bytes(v); } },
      { label: "stored", scale: "bytes", stroke: css("--ok"), width: 1.5, dash: [4, 4],
        value: function (u, v) { return bytes(v); } },
      { label: "duration", scale: "s", stroke: css("--warn"), width: 1.5, points: { show: true },
        value: function (u, v) { return seconds(v); } }
    ]
  };
  var plot = new uPlot(opts, [data.t, data.size, data.added, data.duration], el);
  window.addEventListener("resize", function () {
    plot.setSize({ width: Math.max(el.clientWidth - 24, 200), height: 260 });
  });
})();
