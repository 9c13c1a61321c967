// Starts Swagger UI on the service's own OpenAPI document (app/api/apidocs.py serves it).
// A file of its own, not an inline script: the page's Content-Security-Policy lets only
// scripts of the service's own origin run.
"use strict";
(function () {
  const root = document.getElementById("swagger-ui");
  window.ui = SwaggerUIBundle({
    url: root.dataset.openapi,
    domNode: root,
    deepLinking: true,
    presets: [SwaggerUIBundle.presets.apis],
    plugins: [SwaggerUIBundle.plugins.DownloadUrl],
    layout: "BaseLayout",
    // never send the document to swagger.io's online validator
    validatorUrl: null,
  });
})();
