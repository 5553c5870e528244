// Runs in <head> before the page paints: resolves the "auto" theme from the
// device setting so the page never flashes the other colour scheme.
(function () {
  var root = document.documentElement;
  if (root.dataset.theme !== "auto" || !window.matchMedia) return;
  var query = window.matchMedia("(prefers-color-scheme: dark)");
  var apply = function () {
    root.setAttribute("data-bs-theme", query.matches ? "dark" : "light");
  };
  apply();
  query.addEventListener("change", apply);
})();
