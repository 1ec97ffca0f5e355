// A service's page: each [data-release-chart] draws its gate metric's PromQL expression over
// the last days with WK.promChart, with the service's deploys marked (js/deploy_markers.js).
// Dragging across a chart zooms it; a double click goes back.
(function () {
  if (!window.WK || !WK.promChart) return;
  document.querySelectorAll("[data-release-chart]").forEach(function (el) {
    var query = el.getAttribute("data-query");
    var service = el.getAttribute("data-service");
    var first = { start: Number(el.getAttribute("data-start")), end: Number(el.getAttribute("data-end")) };
    function draw(start, end) {
      WK.promChart(el, { query: query, start: start, end: end, height: 220, legend: false,
                         deploys: { services: [service], hosts: [] }, onZoom: draw })
        .catch(function (body) {
          el.textContent = "Could not draw the chart: " + ((body && (body.error || body.detail)) || "the query failed") + ".";
          el.classList.add("muted");
        });
    }
    el.addEventListener("dblclick", function () { draw(first.start, first.end); });
    draw(first.start, first.end);
  });
})();
