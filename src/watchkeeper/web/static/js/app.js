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

// Buttons with data-copy="#id" copy that field's value (e.g. a token shown once).
document.addEventListener("click", function (ev) {
  var btn = ev.target.closest("[data-copy]");
  if (!btn) return;
  var field = document.querySelector(btn.getAttribute("data-copy"));
  if (!field) return;
  var done = function () { btn.textContent = "Copied"; };
  field.select();
  if (navigator.clipboard && window.isSecureContext) {
    navigator.clipboard.writeText(field.value).then(done, function () { document.execCommand("copy"); done(); });
  } else {
    document.execCommand("copy");
    done();
  }
});
document.addEventListener("focusin", function (ev) {
  if (ev.target.matches && ev.target.matches("[data-select-on-focus]")) ev.target.select();
});
