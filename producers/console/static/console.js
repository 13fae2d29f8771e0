// vbq console: the one behaviour htmx attributes cannot express without eval (which the
// Content-Security-Policy forbids): pausing the live updates of a page.
(function () {
  "use strict";
  var paused = false;
  document.addEventListener("click", function (event) {
    var button = event.target.closest ? event.target.closest("#pause-live") : null;
    if (!button) return;
    paused = !paused;
    button.setAttribute("aria-pressed", paused ? "true" : "false");
    button.textContent = paused ? "Resume live updates" : "Pause live updates";
  });
  document.addEventListener("htmx:beforeRequest", function (event) {
    var source = event.detail && event.detail.elt;
    if (paused && source && source.closest && source.closest("[data-live]")) {
      event.preventDefault();
    }
  });
})();
