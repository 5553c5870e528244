// Renders the API's OpenAPI document with the vendored Swagger UI.
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
  });
});
