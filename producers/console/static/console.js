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
  // Filters left empty stay out of the request, so a pushed URL names only what was chosen.
  document.addEventListener("htmx:configRequest", function (event) {
    var params = event.detail.parameters;
    if (event.detail.verb !== "get" || !event.detail.elt || event.detail.elt.id !== "filters") return;
    Array.from(params.keys ? params.keys() : Object.keys(params)).forEach(function (name) {
      if (params.get ? params.get(name) === "" : params[name] === "") {
        if (params.delete) { params.delete(name); } else { delete params[name]; }
      }
    });
  });
  document.addEventListener("htmx:beforeRequest", function (event) {
    var source = event.detail && event.detail.elt;
    if (paused && source && source.closest && source.closest("[data-live]")) {
      event.preventDefault();
    }
  });
})();
