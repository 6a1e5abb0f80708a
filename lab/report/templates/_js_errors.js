/* Headless checks read data-js-errors: every script or resource error the page hits. */
(function () {
  var errors = [];
  window.addEventListener("error", function (e) {
    var what = e.message || (e.target && (e.target.src || e.target.href)) || "error";
    errors.push(String(what));
    document.documentElement.setAttribute("data-js-errors", errors.join(" | "));
  }, true);
})();
