// Renders the API's OpenAPI document with the vendored Swagger UI.
// Swagger UI leaves some controls without a name a screen reader can say (the servers
// list, a parameter's value list): each gets one from what it is for, as it appears.
function nameOf(control) {
  if (control.id === "servers") return "Server";
  const row = control.closest("[data-param-name]");
  if (row) return "Value of " + row.dataset.paramName;
  const section = control.closest(".opblock, .responses-wrapper");
  const title = section && section.querySelector(".opblock-summary-path, .opblock-title");
  return (control.getAttribute("name") || (title && title.textContent) || "Value").trim();
}

// A label's own words, without those of the controls inside it (a select's options).
function hasText(label) {
  if (!label) return false;
  const words = label.cloneNode(true);
  words.querySelectorAll("select, input, textarea").forEach((inner) => inner.remove());
  return Boolean(words.textContent.trim());
}

// Code samples scroll sideways: focusable, so a keyboard can scroll them too.
function focusableSamples(root) {
  root.querySelectorAll(".highlight-code > pre, .microlight").forEach((sample) => {
    if (!sample.hasAttribute("tabindex")) sample.setAttribute("tabindex", "0");
  });
}

function labelControls(root) {
  root.querySelectorAll("select, input, textarea").forEach((control) => {
    if (control.type === "hidden" || control.getAttribute("aria-label")) return;
    const labelled =
      control.getAttribute("aria-labelledby") ||
      hasText(control.closest("label")) ||
      (control.id && hasText(document.querySelector('label[for="' + CSS.escape(control.id) + '"]')));
    if (!labelled) control.setAttribute("aria-label", nameOf(control));
  });
}

window.addEventListener("DOMContentLoaded", () => {
  const node = document.getElementById("api-reference");
  window.SwaggerUIBundle({
    url: node.dataset.spec,
    domNode: node,
    deepLinking: false,
    presets: [window.SwaggerUIBundle.presets.apis],
    layout: "BaseLayout",
    tryItOutEnabled: false,
    defaultModelsExpandDepth: -1, // the schemas show under each operation; no second list
    onComplete: () => labelControls(node),
  });
  new MutationObserver(() => {
    labelControls(node);
    focusableSamples(node);
  }).observe(node, { childList: true, subtree: true });
});
