// Swagger UI for this server's own OpenAPI document (served at /api/openapi.json, relative to
// /api/docs/ so it also works behind a path prefix). Nothing is fetched from another host:
// the bundle and stylesheet come from the binary, and the online validator badge (which would
// send the document's URL to validator.swagger.io) is off.
window.ui = SwaggerUIBundle({
  url: "../openapi.json",
  dom_id: "#swagger-ui",
  layout: "BaseLayout",
  presets: [SwaggerUIBundle.presets.apis],
  deepLinking: true,
  // Tags start folded: the document has ~190 operations, more than Swagger UI renders at once
  // (it stops after the first tags when every operation is listed). A tag opens on a click or
  // a deep link (/api/docs/#/sync).
  docExpansion: "none",
  validatorUrl: null,
  // Keys stay in this tab only; "Authorize" takes a raw key (sk_sfs_…), sent as a Bearer token.
  persistAuthorization: false,
  displayRequestDuration: true,
});
