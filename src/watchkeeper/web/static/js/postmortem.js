// Postmortem editor: ask before leaving the page with changes that are not saved.
(function () {
  var form = document.querySelector("form[data-dirty-guard]");
  if (!form) return;
  var dirty = false;
  form.addEventListener("input", function () { dirty = true; });
  form.addEventListener("submit", function () { dirty = false; });
  window.addEventListener("beforeunload", function (ev) {
    if (!dirty) return;
    ev.preventDefault();
    ev.returnValue = "";
  });
})();
