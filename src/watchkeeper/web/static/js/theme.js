// Applied before first paint so that the chosen theme never flashes.
(function () {
  var t = localStorage.getItem("wk-theme");
  if (t === "light" || t === "dark") document.documentElement.dataset.theme = t;
})();
