// The log explorer: runs the query in the form against /api/v1/logs/* — a histogram of
// matching lines over time (uPlot bars) and the lines newest first; a metric query draws
// its series instead. Lines open to show labels and fields; clicking a value narrows the
// query. Live tail reads /api/v1/logs/tail (server-sent events) and keeps at most 1,000
// lines in the page. Saved searches and recent queries come from the API.
(function () {
  var form = document.getElementById("logs-form");
  if (!form) return;
  var $ = function (id) { return document.getElementById(id); };
  var queryEl = $("logs-query"), rangeEl = $("logs-range"), errorEl = $("logs-error");
  var chartEl = $("logs-histogram"), resultsEl = $("logs-results"), summaryEl = $("logs-summary");
  var RANGES = { "5m": 300, "15m": 900, "1h": 3600, "6h": 21600, "24h": 86400, "7d": 604800 };
  var MAX_TAIL_LINES = 1000;
  var PAGE_LIMIT = 500;
  var csrf = (function () {
    try { return JSON.parse(document.body.getAttribute("hx-headers") || "{}")["X-CSRF-Token"] || ""; }
    catch (e) { return ""; }
  })();
  var plot = null;

  function api(path, params, options) {
    var url = "/api/v1/logs/" + path + (params ? "?" + new URLSearchParams(params).toString() : "");
    options = Object.assign({ credentials: "same-origin" }, options || {});
    options.headers = Object.assign({ "X-CSRF-Token": csrf, "Accept": "application/json" }, options.headers || {});
    return fetch(url, options).then(function (r) {
      if (r.status === 204) return {};
      return r.json().then(function (body) { if (!r.ok) throw body; return body; });
    });
  }
  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined) e.textContent = text;
    return e;
  }
  function fmtTime(rfc) { return rfc.slice(0, 10) + " " + rfc.slice(11, 23); }
  function quote(v) { return '"' + String(v).replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n") + '"'; }
  function selectorOf(labels) {
    return "{" + Object.keys(labels).sort().map(function (k) { return k + "=" + quote(labels[k]); }).join(", ") + "}";
  }

  // -- time range ------------------------------------------------------------------------
  function toLocalInput(seconds) { return new Date(seconds * 1000).toISOString().slice(0, 19); }
  function window_() {
    if (rangeEl.value === "custom") {
      var from = Date.parse($("logs-from").value + "Z") / 1000, to = Date.parse($("logs-to").value + "Z") / 1000;
      if (!isNaN(from) && !isNaN(to) && to > from) return { start: from, end: to };
    }
    var end = Date.now() / 1000;
    return { start: end - (RANGES[rangeEl.value] || 3600), end: end };
  }
  rangeEl.addEventListener("change", function () {
    var custom = rangeEl.value === "custom";
    $("logs-absolute").hidden = !custom;
    if (custom && !$("logs-from").value) {
      var now = Date.now() / 1000;
      $("logs-from").value = toLocalInput(now - 3600);
      $("logs-to").value = toLocalInput(now);
    }
    if (!custom) run();
  });

  // -- errors ----------------------------------------------------------------------------
  function showError(query, body) {
    var message = (body && (body.detail || body.error)) || "the query failed";
    errorEl.hidden = false;
    errorEl.querySelector(".message").textContent = message;
    var pre = errorEl.querySelector("pre");
    if (body && typeof body.position === "number") {
      pre.hidden = false;
      pre.textContent = query + "\n" + " ".repeat(body.position) + "^";
    } else pre.hidden = true;
  }

  // -- charts ----------------------------------------------------------------------------
  function css(name) { return getComputedStyle(document.documentElement).getPropertyValue(name).trim(); }
  function axes() {
    var axis = { stroke: css("--muted"), grid: { stroke: css("--border") }, ticks: { stroke: css("--border") } };
    return [axis, Object.assign({}, axis, { size: 60 })];
  }
  function newPlot(opts, data) {
    chartEl.textContent = "";
    if (plot) { plot.destroy(); plot = null; }
    if (!window.uPlot) { chartEl.textContent = "Charts need the web assets (make assets)."; return; }
    opts.width = Math.max(chartEl.clientWidth - 24, 200);
    plot = new uPlot(opts, data, chartEl);
  }
  window.addEventListener("resize", function () {
    if (plot) plot.setSize({ width: Math.max(chartEl.clientWidth - 24, 200), height: plot.height });
  });
  function drawHistogram(body, win) {
    var xs = body.buckets.map(function (b) { return b[0] - body.width / 2; });
    var ys = body.buckets.map(function (b) { return b[1]; });
    newPlot({
      height: 160, legend: { show: false },
      cursor: { drag: { x: true, y: false } },
      scales: { x: { time: true, range: function () { return [win.start, win.end]; } }, y: { range: function (u, lo, hi) { return [0, Math.max(hi, 1)]; } } },
      axes: axes(),
      series: [{}, { label: "lines", fill: css("--accent"), stroke: css("--accent"), width: 0,
        paths: uPlot.paths && uPlot.paths.bars ? uPlot.paths.bars({ size: [0.85, 60] }) : undefined,
        points: { show: false } }],
      hooks: { setSelect: [function (u) {
        if (u.select.width < 5) return;
        var from = u.posToVal(u.select.left, "x"), to = u.posToVal(u.select.left + u.select.width, "x");
        u.setSelect({ left: 0, width: 0 }, false);
        rangeEl.value = "custom"; $("logs-absolute").hidden = false;
        $("logs-from").value = toLocalInput(from); $("logs-to").value = toLocalInput(to);
        run();
      }] }
    }, [xs, ys]);
  }
  var PALETTE = ["#2563eb", "#16a34a", "#dc2626", "#9333ea", "#ea580c", "#0891b2", "#ca8a04", "#db2777"];
  function drawSeries(body, win) {
    if (!body.result.length) { chartEl.textContent = "No data in this range."; return; }
    var times = {};
    body.result.forEach(function (s) { s.points.forEach(function (p) { times[p[0]] = true; }); });
    var xs = Object.keys(times).map(Number).sort(function (a, b) { return a - b; });
    var index = {}; xs.forEach(function (t, i) { index[t] = i; });
    var cols = body.result.slice(0, 40).map(function (s) {
      var col = new Array(xs.length).fill(null);
      s.points.forEach(function (p) { col[index[p[0]]] = p[1]; });
      return col;
    });
    newPlot({
      height: 260,
      scales: { x: { time: true, range: function () { return [win.start, win.end]; } } },
      axes: axes(),
      series: [{}].concat(body.result.slice(0, 40).map(function (s, i) {
        var name = Object.keys(s.labels).sort().map(function (k) { return k + "=" + quote(s.labels[k]); }).join(", ");
        return { label: "{" + name + "}", stroke: PALETTE[i % PALETTE.length], width: 1.5 };
      }))
    }, [xs].concat(cols));
  }

  // -- result lines ----------------------------------------------------------------------
  function levelOf(line) {
    var v = (line.labels.level || line.fields.level || line.labels.severity || line.fields.severity || "").toLowerCase();
    if (/^(err|error|crit|critical|fatal|alert|emerg|panic)/.test(v)) return "error";
    if (/^warn/.test(v)) return "warn";
    if (/^(debug|trace)/.test(v)) return "debug";
    return v ? "info" : "";
  }
  function addToQuery(kind, key, value) {
    var q = queryEl.value.trim();
    var matcher = key + "=" + quote(value);
    if (kind === "label") {
      var m = /^\s*\{([^}]*)\}/.exec(q);
      if (m) {
        var inner = m[1].trim();
        q = "{" + (inner ? inner + ", " : "") + matcher + "}" + q.slice(m[0].length);
      } else q = "{" + matcher + "}" + (q ? " " + q : "");
    } else q = (q || "{}") + " | " + matcher;
    queryEl.value = q;
    run();
  }
  function pairs(title, obj, kind) {
    var keys = Object.keys(obj).sort();
    var box = el("div", "logs-pairs");
    box.appendChild(el("h4", null, title));
    if (!keys.length) { box.appendChild(el("p", "muted small", "none")); return box; }
    var dl = el("dl");
    keys.forEach(function (k) {
      dl.appendChild(el("dt", "mono small", k));
      var dd = el("dd");
      var b = el("button", "link mono small logs-value", obj[k]);
      b.type = "button";
      b.title = kind === "label" ? "Add " + k + "=… to the stream selector" : "Filter the query by | " + k + "=…";
      b.addEventListener("click", function () { addToQuery(kind, k, obj[k]); });
      dd.appendChild(b);
      dl.appendChild(dd);
    });
    box.appendChild(dl);
    return box;
  }
  function lineRow(line, opts) {
    opts = opts || {};
    var row = el("div", "logs-line" + (levelOf(line) ? " lvl-" + levelOf(line) : "") + (opts.match ? " match" : ""));
    var head = el("button", "logs-line-head");
    head.type = "button";
    head.setAttribute("aria-expanded", "false");
    head.appendChild(el("span", "logs-ts mono", fmtTime(line.ts)));
    head.appendChild(el("span", "logs-level", levelOf(line) || "·"));
    head.appendChild(el("span", "logs-msg mono", line.message));
    row.appendChild(head);
    if (opts.plain) return row;
    var detail = null;
    head.addEventListener("click", function () {
      var open = head.getAttribute("aria-expanded") === "true";
      head.setAttribute("aria-expanded", open ? "false" : "true");
      if (open) { detail.hidden = true; return; }
      if (!detail) {
        detail = el("div", "logs-detail");
        detail.appendChild(pairs("Labels", line.labels, "label"));
        detail.appendChild(pairs("Fields", line.fields, "field"));
        var foot = el("p", "small logs-detail-foot");
        var ctx = el("a", null, "Show context (20 lines before and after)");
        ctx.href = "#logs-context";
        ctx.addEventListener("click", function (e) { e.preventDefault(); showContext(line); });
        foot.appendChild(ctx);
        foot.appendChild(el("span", "muted", " · received " + fmtTime(line.received) + " · ts " + line.ts_ns));
        detail.appendChild(foot);
        row.appendChild(detail);
      }
      detail.hidden = false;
    });
    return row;
  }
  function showLines(lines) {
    resultsEl.textContent = "";
    if (!lines.length) { resultsEl.appendChild(el("p", "muted", "No lines match in this range.")); return; }
    var frag = document.createDocumentFragment();
    lines.forEach(function (line) { frag.appendChild(lineRow(line)); });
    resultsEl.appendChild(frag);
  }
  function showContext(line) {
    var box = $("logs-context");
    box.hidden = false;
    $("logs-context-title").textContent = selectorOf(line.labels) + " around " + fmtTime(line.ts);
    var list = $("logs-context-lines");
    list.textContent = "Loading…";
    api("context", { stream: selectorOf(line.labels), ts: line.ts_ns, before: 20, after: 20 })
      .then(function (body) {
        list.textContent = "";
        body.lines.forEach(function (l) { list.appendChild(lineRow(l, { plain: true, match: l.match })); });
        var hit = list.querySelector(".match");
        box.scrollIntoView({ block: "start" });
        if (hit) hit.scrollIntoView({ block: "center" });
      })
      .catch(function (body) { list.textContent = (body && body.detail) || "Could not load the context."; });
  }
  $("logs-context-close").addEventListener("click", function () { $("logs-context").hidden = true; });

  // -- running a query -------------------------------------------------------------------
  function isMetric(q) { return /^\s*(\(|(count_over_time|rate|bytes_over_time|bytes_rate|absent_over_time|sum_over_time|avg_over_time|min_over_time|max_over_time|sum|count|avg|min|max|topk|bottomk)\s*(\(|by\b|without\b))/.test(q); }
  function run() {
    stopTail();
    var query = queryEl.value;
    errorEl.hidden = true;
    if (!query.trim()) return;
    var win = window_();
    var params = new URLSearchParams(window.location.search);
    params.set("q", query);
    params.set("range", rangeEl.value === "custom" ? "1h" : rangeEl.value);
    history.replaceState(null, "", "?" + params.toString());
    $("logs-window").textContent = new Date(win.start * 1000).toISOString().replace("T", " ").slice(0, 19) +
      " – " + new Date(win.end * 1000).toISOString().replace("T", " ").slice(0, 19) + " UTC";
    var range = { query: query, start: win.start.toFixed(3), end: win.end.toFixed(3) };
    summaryEl.textContent = "";
    chartEl.textContent = "Loading…";
    if (isMetric(query)) {
      resultsEl.textContent = "";
      api("query_range", range).then(function (body) { drawSeries(body, win); })
        .catch(function (body) { chartEl.textContent = ""; showError(query, body); });
      api("query", Object.assign({ record: "1" }, range)).then(function (body) {
        summaryEl.textContent = body.result.length + " series at the end of the range";
        resultsEl.textContent = "";
        body.result.forEach(function (s) {
          var row = el("div", "logs-line");
          row.appendChild(el("span", "logs-msg mono", selectorOf(s.labels) + "  " + s.value[1]));
          resultsEl.appendChild(row);
        });
        loadHistory();
      }).catch(function () {});
      return;
    }
    api("histogram", Object.assign({ buckets: 60 }, range))
      .then(function (body) { drawHistogram(body, win); })
      .catch(function (body) { chartEl.textContent = ""; showError(query, body); });
    resultsEl.textContent = "Loading…";
    api("query", Object.assign({ limit: PAGE_LIMIT, record: "1" }, range))
      .then(function (body) {
        showLines(body.lines);
        var s = body.stats;
        summaryEl.textContent = body.lines.length + (s.truncated ? "+ (showing the newest " + PAGE_LIMIT + ")" : "") +
          " lines · " + s.scanned + " scanned in " + (s.elapsed * 1000).toFixed(0) + " ms";
        loadHistory();
      })
      .catch(function (body) { resultsEl.textContent = ""; showError(query, body); });
  }
  form.addEventListener("submit", function (e) { e.preventDefault(); run(); });
  queryEl.addEventListener("keydown", function (e) {
    if (e.key === "Enter" && !e.shiftKey) { e.preventDefault(); run(); }
  });
  document.querySelectorAll("[data-example]").forEach(function (a) {
    a.addEventListener("click", function (e) { e.preventDefault(); queryEl.value = a.getAttribute("data-example"); run(); });
  });
  $("logs-help-link").addEventListener("click", function () { $("logs-help").open = true; });

  // -- history and saved searches --------------------------------------------------------
  var historyEl = $("logs-history");
  function loadHistory() {
    api("history").then(function (body) {
      historyEl.length = 1;
      body.queries.forEach(function (q) {
        var o = el("option", null, q.query.length > 90 ? q.query.slice(0, 90) + "…" : q.query);
        o.value = q.query;
        historyEl.appendChild(o);
      });
    }).catch(function () {});
  }
  historyEl.addEventListener("change", function () {
    if (!historyEl.value) return;
    queryEl.value = historyEl.value;
    historyEl.value = "";
    run();
  });
  var savedEl = $("logs-saved"), noteEl = $("logs-saved-note"), saved = {};
  function loadSaved(selectId) {
    return api("searches").then(function (body) {
      savedEl.length = 1; saved = {};
      body.searches.forEach(function (s) {
        saved[s.id] = s;
        var o = el("option", null, s.name + (s.shared ? " (shared" + (s.mine ? "" : " by " + s.owner) + ")" : ""));
        o.value = s.id;
        savedEl.appendChild(o);
      });
      if (selectId) savedEl.value = String(selectId);
    }).catch(function () {});
  }
  $("logs-load").addEventListener("click", function () {
    var s = saved[savedEl.value];
    if (!s) return;
    queryEl.value = s.query;
    if (s.time_range && RANGES[s.time_range]) rangeEl.value = s.time_range;
    else if (s.time_range && s.time_range.indexOf(",") > 0) {
      var parts = s.time_range.split(",");
      rangeEl.value = "custom"; $("logs-absolute").hidden = false;
      $("logs-from").value = parts[0].slice(0, 19); $("logs-to").value = parts[1].slice(0, 19);
    }
    noteEl.textContent = "Loaded “" + s.name + "”.";
    run();
  });
  $("logs-delete").addEventListener("click", function () {
    var s = saved[savedEl.value];
    if (!s || !window.confirm("Delete the saved search “" + s.name + "”?")) return;
    api("searches/" + s.id, null, { method: "DELETE" })
      .then(function () { noteEl.textContent = "Deleted “" + s.name + "”."; loadSaved(); })
      .catch(function (body) { noteEl.textContent = (body && body.detail) || "Could not delete it."; });
  });
  $("logs-save").addEventListener("click", function () {
    var name = $("logs-save-name").value.trim();
    if (!name) { noteEl.textContent = "Give the search a name first."; $("logs-save-name").focus(); return; }
    var range = rangeEl.value === "custom" ? $("logs-from").value + "Z," + $("logs-to").value + "Z" : rangeEl.value;
    api("searches", null, {
      method: "POST", headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ name: name, query: queryEl.value, time_range: range, shared: $("logs-save-shared").checked })
    }).then(function (s) {
      noteEl.textContent = "Saved “" + s.name + "”.";
      $("logs-save-name").value = "";
      loadSaved(s.id);
    }).catch(function (body) {
      var errs = body && body.errors ? body.errors.map(function (e) { return e.field + ": " + e.message; }).join("; ") : "";
      noteEl.textContent = errs || (body && body.detail) || "Could not save the search.";
    });
  });

  // -- live tail -------------------------------------------------------------------------
  var tailBtn = $("logs-tail"), source = null, paused = false, pending = [], shown = 0, dropped = 0;
  function stopTail() {
    if (source) { source.close(); source = null; }
    tailBtn.setAttribute("aria-pressed", "false");
    tailBtn.textContent = "Live tail";
    $("logs-tail-bar").hidden = true;
  }
  function appendLines(lines) {
    var frag = document.createDocumentFragment();
    // The tail shows newest first like the results: each new line goes on top.
    for (var i = 0; i < lines.length; i++) frag.insertBefore(lineRow(lines[i]), frag.firstChild);
    resultsEl.insertBefore(frag, resultsEl.firstChild);
    shown += lines.length;
    while (resultsEl.childElementCount > MAX_TAIL_LINES) resultsEl.removeChild(resultsEl.lastElementChild);
    if ($("logs-autoscroll").checked) resultsEl.scrollTop = 0;
    if ($("logs-autoscroll").checked && resultsEl.firstElementChild) resultsEl.firstElementChild.scrollIntoView({ block: "nearest" });
    status();
  }
  function status() {
    $("logs-tail-status").textContent = paused ? "paused · " + pending.length + " new lines waiting" :
      shown + " new lines (the page keeps the newest " + MAX_TAIL_LINES.toLocaleString("en") + ")";
    $("logs-dropped").textContent = dropped ? dropped + " lines skipped: the page could not keep up" : "";
  }
  function startTail() {
    var query = queryEl.value.trim();
    if (!query) { queryEl.focus(); return; }
    if (isMetric(query)) { showError(query, { detail: "live tail needs a log query, not a metric query" }); return; }
    stopTail();
    errorEl.hidden = true;
    paused = false; pending = []; shown = 0; dropped = 0;
    $("logs-pause").textContent = "Pause";
    resultsEl.textContent = "";
    summaryEl.textContent = "live";
    tailBtn.setAttribute("aria-pressed", "true");
    tailBtn.textContent = "Stop live tail";
    $("logs-tail-bar").hidden = false;
    $("logs-tail-status").textContent = "connecting…";
    source = new EventSource("/api/v1/logs/tail?" + new URLSearchParams({ query: query }).toString());
    source.addEventListener("ready", function () { status(); });
    source.addEventListener("lines", function (e) {
      var lines = JSON.parse(e.data).lines;
      if (paused) {
        pending = pending.concat(lines);
        if (pending.length > MAX_TAIL_LINES) pending = pending.slice(pending.length - MAX_TAIL_LINES);
        status();
      } else appendLines(lines);
    });
    source.addEventListener("dropped", function (e) { dropped += JSON.parse(e.data).count; status(); });
    source.onerror = function () {
      if (source && source.readyState === EventSource.CLOSED) {
        $("logs-tail-status").textContent = "disconnected (check the query)";
      } else $("logs-tail-status").textContent = "reconnecting…";
    };
  }
  tailBtn.addEventListener("click", function () { if (source) stopTail(); else startTail(); });
  $("logs-pause").addEventListener("click", function () {
    paused = !paused;
    $("logs-pause").textContent = paused ? "Resume" : "Pause";
    if (!paused && pending.length) { var p = pending; pending = []; appendLines(p); }
    status();
  });

  loadHistory();
  loadSaved();
  if (queryEl.value.trim()) run();
})();
