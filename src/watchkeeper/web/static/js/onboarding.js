// The home page's first-run tour: hidden for good once dismissed, per user, in this
// browser (localStorage; Watchkeeper keeps no per-user preferences in the store).
// Loaded right after the card, without defer, so a dismissed card never shows.
(function () {
  var card = document.querySelector("[data-tour]");
  if (!card) return;
  var key = card.getAttribute("data-tour-key");
  try {
    if (localStorage.getItem(key) === "1") { card.hidden = true; return; }
  } catch (e) { return; }
  var button = card.querySelector("[data-tour-dismiss]");
  if (button) button.addEventListener("click", function () {
    try { localStorage.setItem(key, "1"); } catch (e) { /* private mode: hide for now */ }
    card.hidden = true;
  });
})();
