// Database page: the size chart (history, forecast with its ±2σ band, size budget) and the
// mean time per call of the top queries, from the JSON embedded in the page, drawn with
// uPlot; and the "Copy SQL" buttons of the recommendations.
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
    if (v == null) return "–";
    var units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"], i = 0, s = v;
    while (Math.abs(s) >= 1024 && i < units.length - 1) { s /= 1024; i++; }
    return (i ? s.toFixed(1) : String(Math.round(s))) + " " + units[i];
  }
  function ms(v) {
    if (v == null) return "–";
    if (v < 1) return v.toFixed(2) + " ms";
    if (v < 1000) return v.toFixed(v < 10 ? 1 : 0) + " ms";
    return (v / 1000).toFixed(1) + " s";
  }
  function axis(extra) {
    return Object.assign({ stroke: css("--muted"), grid: { stroke: css("--border") }, ticks: { stroke: css("--border") } }, extra || {});
  }
  function read(id) {
    var el = document.getElementById(id), source = document.getElementById(id + "-data");
    if (!el || !source) return null;
    if (!window.uPlot) { el.textContent = "Charts need the web assets (make assets)."; return null; }
    return { el: el, data: JSON.parse(source.textContent) };
  }
  function width(el) { return Math.max(el.clientWidth - 24, 200); }
  function keepWidth(plot, el, height) {
    window.addEventListener("resize", function () { plot.setSize({ width: width(el), height: height }); });
  }
  // Binary steps for a bytes axis (1, 2, 4 ... 512 KiB, MiB, GiB) so that ticks read well.
  var binary = [];
  for (var k = 0; k < 6; k++) {
    [1, 2, 4, 8, 16, 32, 64, 128, 256, 512].forEach(function (m) { binary.push(m * Math.pow(1024, k)); });
  }

  function sizeChart() {
    var found = read("db-size-chart");
    if (!found) return;
    var el = found.el, d = found.data;
    if (!d.t.length) {
      el.textContent = "No size history yet: the chart needs two collections.";
      el.classList.add("muted", "empty");
      return;
    }
    var top = 0;
    d.size.concat(d.high).forEach(function (v) { if (v != null && v > top) top = v; });
    // The budget is drawn when it is within reach of the chart (else it flattens the rest).
    var budget = d.budget != null && d.budget <= 2 * top ? d.t.map(function () { return d.budget; }) : null;
    var accent = css("--accent");
    var series = [
      {},
      { label: "size", stroke: accent, width: 2, value: function (u, v) { return bytes(v); } },
      { label: "forecast", stroke: accent, width: 1.5, dash: [6, 4], value: function (u, v) { return bytes(v); } },
      { label: "low", stroke: alpha(accent, 0.35), width: 1, value: function (u, v) { return bytes(v); } },
      { label: "high", stroke: alpha(accent, 0.35), width: 1, value: function (u, v) { return bytes(v); } }
    ];
    var columns = [d.t, d.size, d.fit, d.low, d.high];
    if (budget) {
      series.push({ label: "budget", stroke: css("--err"), width: 1.5, dash: [2, 3], value: function (u, v) { return bytes(v); } });
      columns.push(budget);
    }
    var opts = {
      width: width(el), height: 280,
      scales: { x: { time: true }, y: { range: function (u, lo, hi) { return [0, hi * 1.05 || 1]; } } },
      axes: [axis(), axis({ size: 80, incrs: binary, values: function (u, vals) { return vals.map(bytes); } })],
      series: series,
      bands: [{ series: [4, 3], fill: alpha(accent, 0.18) }]
    };
    var plot = new uPlot(opts, columns, el);
    keepWidth(plot, el, 280);
    if (d.budget != null && !budget) {
      var note = document.createElement("p");
      note.className = "muted small chart-note";
      note.textContent = "Budget " + bytes(d.budget) + " is far above the chart.";
      el.appendChild(note);
    }
  }

  function queryChart() {
    var found = read("db-query-chart");
    if (!found) return;
    var el = found.el, d = found.data;
    if (d.t.length < 1 || !d.series.length) {
      el.textContent = "No history yet: the mean time shows from the second collection on.";
      el.classList.add("muted", "empty");
      return;
    }
    var palette = [css("--accent"), css("--warn"), css("--ok"), css("--err"), css("--managed") || "#7c3aed"];
    var opts = {
      width: width(el), height: 240,
      scales: { x: { time: true } },
      axes: [axis(), axis({ size: 70, values: function (u, vals) { return vals.map(ms); } })],
      series: [{}].concat(d.series.map(function (s, i) {
        return { label: s.label, stroke: palette[i % palette.length], width: 1.5, points: { show: true, size: 4 },
          spanGaps: false, value: function (u, v) { return ms(v); } };
      }))
    };
    var plot = new uPlot(opts, [d.t].concat(d.series.map(function (s) { return s.values; })), el);
    keepWidth(plot, el, 240);
  }

  // "Copy SQL": the text of the element named by data-copy-code.
  document.addEventListener("click", function (ev) {
    var btn = ev.target.closest("[data-copy-code]");
    if (!btn) return;
    var el = document.querySelector(btn.getAttribute("data-copy-code"));
    if (!el) return;
    var done = function () { btn.textContent = "Copied"; };
    var fallback = function () {
      var range = document.createRange();
      range.selectNodeContents(el);
      var sel = window.getSelection();
      sel.removeAllRanges();
      sel.addRange(range);
      document.execCommand("copy");
      done();
    };
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(el.textContent).then(done, fallback);
    } else {
      fallback();
    }
  });

  function start() { sizeChart(); queryChart(); }
  // Deferred with uPlot: both have run once the document is parsed.
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
