// Theme toggle: auto -> dark -> light -> auto; remembered in localStorage.
document.addEventListener("click", function (ev) {
  var btn = ev.target.closest("[data-theme-toggle]");
  if (!btn) return;
  var root = document.documentElement;
  var dark = root.dataset.theme === "dark" ||
    (root.dataset.theme === "auto" && matchMedia("(prefers-color-scheme: dark)").matches);
  var next = dark ? "light" : "dark";
  root.dataset.theme = next;
  localStorage.setItem("wk-theme", next);
});

// Forms with data-confirm ask before they are sent (e.g. deleting an object).
document.addEventListener("submit", function (ev) {
  var message = ev.target.getAttribute("data-confirm");
  if (message && !window.confirm(message)) ev.preventDefault();
});
