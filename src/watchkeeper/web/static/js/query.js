// The query page: run the PromQL in the form as a range query (chart) and an instant query
// at the end of the range (table). Dragging across the chart zooms in; the URL keeps the
// query and the range so that a view can be shared.
(function () {
  var form = document.getElementById("query-form");
  if (!form) return;
  var chartEl = document.getElementById("query-chart");
  var tableEl = document.getElementById("query-table");
  var errorEl = document.getElementById("query-error");
  var rangeEl = document.getElementById("query-range");
  var RANGES = { "5m": 300, "15m": 900, "1h": 3600, "3h": 10800, "6h": 21600, "12h": 43200,
                 "24h": 86400, "2d": 172800, "7d": 604800, "30d": 2592000 };

  function showError(query, body) {
    var message = (body && (body.error || body.detail)) || "the query failed";
    errorEl.hidden = false;
    errorEl.querySelector(".message").textContent = message;
    var pre = errorEl.querySelector("pre");
    if (body && typeof body.position === "number") {
      pre.hidden = false;
      pre.textContent = query + "\n" + " ".repeat(body.position) + "^";
    } else {
      pre.hidden = true;
    }
  }
  function showTable(body) {
    tableEl.textContent = "";
    var data = body.data;
    var rows = data.resultType === "vector" ? data.result.map(function (s) {
      return [WK.seriesName(s.metric), s.value[1]];
    }) : data.resultType === "scalar" || data.resultType === "string" ? [["scalar", data.result[1]]] : [];
    if (!rows.length) { tableEl.innerHTML = '<p class="muted">No series at the end of the range.</p>'; return; }
    var table = document.createElement("table");
    table.className = "data";
    table.innerHTML = "<thead><tr><th>Series</th><th>Value</th></tr></thead>";
    var tbody = document.createElement("tbody");
    rows.forEach(function (r) {
      var tr = document.createElement("tr");
      var a = document.createElement("td"); a.className = "mono small"; a.textContent = r[0];
      var b = document.createElement("td"); b.className = "num"; b.textContent = r[1];
      tr.appendChild(a); tr.appendChild(b); tbody.appendChild(tr);
    });
    table.appendChild(tbody);
    var wrap = document.createElement("div"); wrap.className = "table-wrap"; wrap.appendChild(table);
    tableEl.appendChild(wrap);
    var count = document.getElementById("query-count");
    if (count) count.textContent = rows.length + (rows.length === 1 ? " series" : " series");
  }
  function run(start, end) {
    var query = form.q.value.trim();
    errorEl.hidden = true;
    if (!query) return;
    var params = new URLSearchParams(window.location.search);
    params.set("q", query);
    params.set("range", rangeEl.value);
    if (start !== undefined) { params.set("start", start.toFixed(3)); params.set("end", end.toFixed(3)); }
    else { params.delete("start"); params.delete("end"); }
    history.replaceState(null, "", "?" + params.toString());
    if (start === undefined) {
      end = Date.now() / 1000;
      start = end - (RANGES[rangeEl.value] || 3600);
    }
    document.getElementById("query-window").textContent =
      new Date(start * 1000).toISOString().replace("T", " ").slice(0, 19) + " – " +
      new Date(end * 1000).toISOString().replace("T", " ").slice(0, 19) + " UTC";
    var count = document.getElementById("query-count");
    if (count) count.textContent = "";
    WK.promChart(chartEl, { query: query, start: start, end: end, onZoom: run })
      .catch(function (body) {
        chartEl.innerHTML = '<p class="muted">Fix the query to see a chart.</p>';
        showError(query, body);
      });
    fetch("/api/v1/query?" + new URLSearchParams({ query: query, time: end }).toString(),
          { credentials: "same-origin" })
      .then(function (r) { return r.json(); })
      .then(function (body) { if (body.status === "success") showTable(body); else tableEl.textContent = ""; })
      .catch(function () { tableEl.textContent = ""; });
  }
  form.addEventListener("submit", function (e) { e.preventDefault(); run(); });
  rangeEl.addEventListener("change", function () { run(); });
  form.q.addEventListener("keydown", function (e) {
    if (e.key === "Enter" && (e.ctrlKey || e.metaKey || !e.shiftKey)) { e.preventDefault(); run(); }
  });
  document.querySelectorAll("[data-example]").forEach(function (a) {
    a.addEventListener("click", function (e) { e.preventDefault(); form.q.value = a.getAttribute("data-example"); run(); });
  });
  var initial = new URLSearchParams(window.location.search);
  if (initial.get("start") && initial.get("end")) run(Number(initial.get("start")), Number(initial.get("end")));
  else run();
})();
