// Deploy markers on uPlot charts. WK.deployMarkers({services: [...], hosts: [...]}) returns a
// uPlot plugin: once the chart is drawn it fetches /api/v1/deploys for the visible range (the
// deploys of those services or to those hosts) and marks each with a dashed vertical line,
// coloured by its release gate, with a tooltip (service, version, environment, author, gate)
// on hover or keyboard focus; a click opens the deploy on its service's page.
// WK.deployFilter(result) picks the services and hosts from a PromQL result's labels
// (`service`, `host`, `instance`); charts whose series carry none get no markers.
(function () {
  var SHEET = "/static/css/deploy_markers.css";
  var GATES = { pending: "gate pending", healthy: "gate healthy", regressed: "gate regressed", unaccepted: "no UAT sign-off", skipped: "gate skipped" };

  function loadSheet() {
    if (document.querySelector('link[href="' + SHEET + '"]')) return;
    var link = document.createElement("link");
    link.rel = "stylesheet";
    link.href = SHEET;
    document.head.appendChild(link);
  }
  function iso(seconds) { return new Date(seconds * 1000).toISOString(); }
  function stamp(text) { return new Date(text).toISOString().replace("T", " ").slice(0, 16) + " UTC"; }
  function line(tip, text, className) {
    var p = document.createElement("div");
    if (className) p.className = className;
    p.textContent = text;
    tip.appendChild(p);
  }
  function unique(values) {
    var seen = {};
    return values.filter(function (v) { if (!v || seen[v]) return false; seen[v] = true; return true; });
  }

  function deployFilter(result) {
    var services = [], hosts = [];
    (result || []).forEach(function (s) {
      var m = s.metric || {};
      if (m.service) services.push(m.service);
      if (m.host) hosts.push(m.host);
      if (m.instance) hosts.push(m.instance);
    });
    services = unique(services).slice(0, 20);
    hosts = unique(hosts).slice(0, 50);
    return services.length || hosts.length ? { services: services, hosts: hosts } : null;
  }

  function deployMarkers(filter) {
    var deploys = [], layer = null, fetched = "";
    loadSheet();

    function place(u) {
      if (!layer) {
        layer = document.createElement("div");
        layer.className = "deploy-markers";
        u.over.appendChild(layer);
      }
      layer.textContent = "";
      var min = u.scales.x.min, max = u.scales.x.max, width = u.over.clientWidth;
      deploys.forEach(function (d) {
        var t = Date.parse(d.deployed_at) / 1000;
        if (!(t >= min && t <= max)) return;
        var left = u.valToPos(t, "x");
        var marker = document.createElement("div");
        marker.className = "deploy-marker gate-" + d.gate + (left > width * 0.6 ? " flip" : "");
        marker.style.left = left + "px";
        marker.tabIndex = 0;
        marker.setAttribute("role", "img");
        marker.setAttribute("data-deploy-id", d.id);
        var label = d.service + " " + d.version + " to " + d.environment + ", " + stamp(d.deployed_at) +
          (d.author ? ", by " + d.author : "") + ", " + (GATES[d.gate] || d.gate);
        marker.setAttribute("aria-label", "Deploy: " + label);
        var tip = document.createElement("div");
        tip.className = "deploy-tip";
        line(tip, d.service + " " + d.version, "deploy-tip-title");
        line(tip, d.environment + " · " + stamp(d.deployed_at));
        if (d.author) line(tip, "by " + d.author);
        line(tip, GATES[d.gate] || d.gate);
        if (d.status !== "succeeded") line(tip, d.status.replace("_", " "));
        if (d.in_freeze) line(tip, "during freeze " + d.in_freeze);
        marker.appendChild(tip);
        marker.addEventListener("click", function () { window.location.href = d.url; });
        marker.addEventListener("keydown", function (e) { if (e.key === "Enter") window.location.href = d.url; });
        layer.appendChild(marker);
      });
    }

    function load(u) {
      var min = u.scales.x.min, max = u.scales.x.max;
      if (min == null || max == null) return;
      var key = min + ":" + max;
      if (key === fetched) { place(u); return; }
      fetched = key;
      var params = new URLSearchParams({ start: iso(min), end: iso(max + 1), limit: "1000" });
      (filter.services || []).forEach(function (s) { params.append("service", s); });
      (filter.hosts || []).forEach(function (h) { params.append("host", h); });
      fetch("/api/v1/deploys?" + params.toString(), { credentials: "same-origin" })
        .then(function (r) { return r.ok ? r.json() : { deploys: [] }; })
        .then(function (body) { deploys = body.deploys || []; place(u); })
        .catch(function () { deploys = []; });
    }

    return { hooks: {
      ready: [load],
      setScale: [function (u, key) { if (key === "x" && layer) load(u); }],
      setSize: [function (u) { if (layer) place(u); }]
    } };
  }

  window.WK = window.WK || {};
  window.WK.deployMarkers = deployMarkers;
  window.WK.deployFilter = deployFilter;
})();
