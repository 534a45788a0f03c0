// ReDoc for this server's own OpenAPI document (served at /api/openapi.json, relative to
// /api/redoc/ so it also works behind a path prefix). The standalone bundle comes from the
// binary; its telemetry (on by default, posting to a Redocly host) is switched off here, and
// no <redoc spec-url> tag is used, so the bundle never starts itself with default options.
import { init } from "./redoc.standalone.js";

init(
  "../openapi.json",
  {
    disableTelemetry: true,
  },
  document.getElementById("redoc"),
);
