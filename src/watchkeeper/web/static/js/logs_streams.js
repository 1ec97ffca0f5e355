// Sortable tables: a click on a <th data-sort="num|text"> sorts the rows by that column
// (numbers by the cell's data-value); a second click reverses the order.
(function () {
  document.querySelectorAll("table.sortable").forEach(function (table) {
    var heads = table.querySelectorAll("th[data-sort]");
    heads.forEach(function (th, col) {
      th.tabIndex = 0;
      th.classList.add("sort-head");
      function sort() {
        var desc = th.getAttribute("aria-sort") !== "descending";
        heads.forEach(function (h) { h.removeAttribute("aria-sort"); });
        th.setAttribute("aria-sort", desc ? "descending" : "ascending");
        var body = table.tBodies[0];
        var rows = Array.prototype.slice.call(body.rows);
        var numeric = th.getAttribute("data-sort") === "num";
        rows.sort(function (a, b) {
          var x = a.cells[col], y = b.cells[col];
          var r = numeric ? Number(x.getAttribute("data-value")) - Number(y.getAttribute("data-value"))
                          : x.textContent.trim().localeCompare(y.textContent.trim());
          return desc ? -r : r;
        });
        rows.forEach(function (row) { body.appendChild(row); });
      }
      th.addEventListener("click", sort);
      th.addEventListener("keydown", function (e) { if (e.key === "Enter" || e.key === " ") { e.preventDefault(); sort(); } });
    });
  });
})();
