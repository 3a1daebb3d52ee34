// Staff pages on a phone: the header's links fold behind a "Menu" button (WAI-ARIA disclosure pattern).
// Without this script the links simply wrap; on a wide screen they are always shown.
(function () {
  "use strict";
  var button = document.querySelector(".menu-toggle");
  var nav = document.getElementById("main-nav");
  if (!button || !nav || !window.matchMedia) return;
  var narrow = window.matchMedia("(max-width: 40rem)");

  function show(open) {
    button.setAttribute("aria-expanded", open ? "true" : "false");
    nav.hidden = !open;
  }
  function fit() {
    button.hidden = !narrow.matches;
    document.body.classList.toggle("menu-folds", narrow.matches);
    show(!narrow.matches || button.getAttribute("aria-expanded") === "true");
  }
  button.addEventListener("click", function () { show(button.getAttribute("aria-expanded") !== "true"); });
  nav.addEventListener("keydown", function (e) {
    if (e.key === "Escape" && narrow.matches) { show(false); button.focus(); }
  });
  if (narrow.addEventListener) narrow.addEventListener("change", fit);
  fit();
})();
