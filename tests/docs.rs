//! The OpenAPI document (`GET /api/openapi.json`) kept in step with the server:
//!
//! - it parses as OpenAPI 3.1, declares the `bearer` scheme, and is internally sound (unique
//!   operation ids, declared path parameters, resolvable `$ref`s, declared tags);
//! - every route the router has — read from the router itself, and cross-checked against the
//!   `.route("…")` calls in `src/api/*.rs` — is in the document with the same methods, and the
//!   document has nothing else;
//! - every documented operation answers on a running server (never the router's 404 fallback
//!   or a 405), authenticated ones refuse a request without a key and public ones do not ask
//!   for one;
//! - the responses of a real session of use (signup, push, list, share, handoff, org, keys…)
//!   have exactly the fields their documented schemas list.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

mod common;

use common::TestApp;
use regex::Regex;
use reqwest::{Client, Method, Response};
use serde_json::{json, Value};
use sessionfs_server::archive::fixture::session_archive;
use sha2::Digest;

/// A server with no rate limits (the probes send many requests), from the shared harness.
async fn start() -> TestApp {
    TestApp::spawn_with(|c| c.rate_limit_per_minute = 0).await
}

/// The served OpenAPI document.
async fn document(app: &TestApp) -> Value {
    let res = app
        .request(Method::GET, "/api/openapi.json", None)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["content-type"], "application/json");
    res.json().await.unwrap()
}

const METHODS: [&str; 5] = ["get", "put", "post", "delete", "patch"];

/// Every (path, method) of the document, methods lowercase.
fn documented(doc: &Value) -> BTreeSet<(String, String)> {
    let mut out = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in METHODS {
            if item.get(method).is_some() {
                out.insert((path.clone(), method.to_string()));
            }
        }
    }
    out
}

/// Every (path, method) the API router answers, read from the router's own `Debug` form (axum
/// has no public route listing): each route's `Allow` value, and the path of each route id.
/// Fails loudly if that form ever changes, rather than checking nothing.
fn routed() -> BTreeSet<(String, String)> {
    let text = format!("{:?}", sessionfs_server::api::router());
    let start = text
        .find("path_router: PathRouter")
        .expect("router Debug form");
    let end = text.find("fallback_router:").expect("router Debug form");
    let text = &text[start..end];
    let (routes, node) = text.split_at(text.find("node: Node").expect("router Debug form"));

    let endpoint = Regex::new(r"RouteId\((\d+)\): (\w+)\(").unwrap();
    let allow =
        Regex::new(r#"RouteId\((\d+)\): MethodRouter\(MethodRouter \{[^{}]*?allow_header: Bytes\(b"([A-Z,]+)"\)"#)
            .unwrap();
    let path = Regex::new(r#"RouteId\((\d+)\): "([^"]+)""#).unwrap();

    let kinds: Vec<(String, String)> = endpoint
        .captures_iter(routes)
        .map(|c| (c[1].to_string(), c[2].to_string()))
        .collect();
    let methods: BTreeMap<String, String> = allow
        .captures_iter(routes)
        .map(|c| (c[1].to_string(), c[2].to_string()))
        .collect();
    let paths: BTreeMap<String, String> = path
        .captures_iter(node)
        .map(|c| (c[1].to_string(), c[2].to_string()))
        .collect();
    assert!(kinds.len() > 50, "router Debug form not understood: {text}");
    assert_eq!(
        kinds.len(),
        paths.len(),
        "router Debug form not understood: {text}"
    );

    let mut out = BTreeSet::new();
    for (id, kind) in kinds {
        let path = &paths[&id];
        assert_eq!(
            kind, "MethodRouter",
            "{path} is a service route; teach tests/docs.rs which methods it answers"
        );
        let allowed = methods.get(&id).unwrap_or_else(|| {
            panic!("{path}: no Allow list (any()?); teach tests/docs.rs about it")
        });
        for method in allowed.split(',').filter(|m| *m != "HEAD") {
            out.insert((path.clone(), method.to_lowercase()));
        }
    }
    out
}

/// The `.rs` files below `dir`, its area folders (`src/api/org/…`) included.
fn rust_files(dir: &std::path::Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(rust_files(&path));
        } else {
            out.push(path);
        }
    }
    out
}

/// The path of every route registration in `src/api/**/*.rs`: the `path = "…"` of each
/// `#[utoipa::path]` annotation (registered with `routes!`) and each `api::alias("…", …)`.
fn route_calls_in_source() -> BTreeSet<String> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("src/api");
    let annotated = Regex::new(r#"#\[utoipa::path\([^\]]*?\bpath = "([^"]+)""#).unwrap();
    let alias = Regex::new(r#"api::alias\(\s*"([^"]+)""#).unwrap();
    let mut out = BTreeSet::new();
    for path in rust_files(&dir) {
        if path.extension().is_none_or(|e| e != "rs") {
            continue;
        }
        let source = std::fs::read_to_string(&path).unwrap();
        let found: Vec<String> = annotated
            .captures_iter(&source)
            .map(|c| c[1].to_string())
            .collect();
        assert_eq!(
            found.len(),
            source.matches("#[utoipa::path(").count(),
            "{}: a #[utoipa::path( annotation without a literal path",
            path.display()
        );
        let aliases: Vec<String> = alias
            .captures_iter(&source)
            .map(|c| c[1].to_string())
            .collect();
        assert_eq!(
            aliases.len(),
            source.matches("api::alias(").count(),
            "{}: an api::alias( call without a literal path",
            path.display()
        );
        for other in [".route(", ".nest(", ".nest_service(", ".route_service("] {
            assert!(
                !source.contains(other),
                "{}: {other} registers a route outside the document; use routes!",
                path.display()
            );
        }
        out.extend(found);
        out.extend(aliases);
    }
    out
}

#[tokio::test]
async fn every_route_is_documented_and_nothing_else() {
    let server = start().await;
    let doc = document(&server).await;
    let routes = routed();

    let route_paths: BTreeSet<String> = routes.iter().map(|(p, _)| p.clone()).collect();
    assert_eq!(
        route_paths,
        route_calls_in_source(),
        "the router's paths and the route registrations in src/api disagree"
    );

    let docs = documented(&doc);
    let missing: Vec<_> = routes.difference(&docs).collect();
    let extra: Vec<_> = docs.difference(&routes).collect();
    assert!(
        missing.is_empty(),
        "routes missing from the OpenAPI document (annotate the handler with #[utoipa::path] and register it with routes!): {missing:?}"
    );
    assert!(
        extra.is_empty(),
        "documented operations the router does not have: {extra:?}"
    );
}

/// Resolves a local `$ref` (`#/components/…`).
fn resolve<'a>(doc: &'a Value, reference: &str) -> Option<&'a Value> {
    let pointer = reference.strip_prefix('#')?;
    doc.pointer(pointer)
}

fn collect_refs<'a>(value: &'a Value, out: &mut Vec<&'a str>) {
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                match (k.as_str(), v) {
                    ("$ref", Value::String(r)) => out.push(r),
                    _ => collect_refs(v, out),
                }
            }
        }
        Value::Array(list) => list.iter().for_each(|v| collect_refs(v, out)),
        _ => {}
    }
}

#[tokio::test]
async fn document_is_openapi_3_1_with_the_bearer_scheme() {
    let server = start().await;
    let raw = server
        .request(Method::GET, "/api/openapi.json", None)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();

    let spec = oas3::from_json(&raw).expect("the document parses as OpenAPI 3.1");
    let version = spec
        .validate_version()
        .expect("a supported OpenAPI version");
    assert_eq!((version.major, version.minor), (3, 1), "{version}");
    assert_eq!(spec.info.title, "SessionFS server API");
    assert_eq!(spec.info.version, env!("CARGO_PKG_VERSION"));

    let components = spec.components.as_ref().expect("components");
    match components.security_schemes["bearer"]
        .resolve(&spec)
        .expect("bearer scheme")
    {
        oas3::spec::SecurityScheme::Http { scheme, .. } => {
            assert_eq!(scheme.to_lowercase(), "bearer")
        }
        other => panic!("bearer is not an HTTP bearer scheme: {other:?}"),
    }
    assert!(
        spec.security.iter().any(|r| r.0.contains_key("bearer")),
        "authentication is required unless an operation says otherwise"
    );

    let doc: Value = serde_json::from_str(&raw).unwrap();
    let tags: BTreeSet<&str> = doc["tags"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    let mut ids = BTreeSet::new();
    let mut public = Vec::new();
    let param = Regex::new(r"\{([^}]+)\}").unwrap();
    for (path, method, op) in spec.operations() {
        let here = format!("{method} {path}");
        let id = op
            .operation_id
            .clone()
            .unwrap_or_else(|| panic!("{here}: no operationId"));
        assert!(
            ids.insert(id.clone()),
            "{here}: operationId {id} is used twice"
        );
        assert!(op.summary.is_some(), "{here}: no summary");
        assert!(!op.responses(&spec).is_empty(), "{here}: no responses");
        let op_tags = &op.tags;
        assert_eq!(op_tags.len(), 1, "{here}: one tag per operation");
        assert!(tags.contains(op_tags[0].as_str()), "{here}: undeclared tag");

        // Path parameters: exactly the template's.
        let declared: BTreeSet<String> = op
            .parameters(&spec)
            .unwrap_or_else(|e| panic!("{here}: {e}"))
            .into_iter()
            .filter(|p| p.location == oas3::spec::ParameterIn::Path)
            .map(|p| {
                assert!(
                    p.required == Some(true),
                    "{here}: path parameter {} not required",
                    p.name
                );
                p.name
            })
            .collect();
        let template: BTreeSet<String> = param
            .captures_iter(&path)
            .map(|c| c[1].to_string())
            .collect();
        assert_eq!(declared, template, "{here}: path parameters");

        let security = op.security.clone();
        if security.is_empty()
            && doc["paths"][&path][method.as_str().to_lowercase()]
                .get("security")
                .is_some()
        {
            public.push(here.clone());
        } else {
            assert!(
                op.responses(&spec).contains_key("401"),
                "{here}: an authenticated operation documents its 401"
            );
        }
    }
    assert!(ids.len() > 80, "{} operations", ids.len());
    assert!(public.contains(&"GET /health".to_string()), "{public:?}");
    assert!(public.contains(&"GET /s/{token}".to_string()), "{public:?}");

    let mut refs = Vec::new();
    collect_refs(&doc, &mut refs);
    assert!(!refs.is_empty());
    for r in refs {
        assert!(resolve(&doc, r).is_some(), "unresolvable $ref {r}");
    }
}

/// Fills a path template: a parameter's documented example, or a value that names nothing.
fn fill(doc: &Value, path: &str, method: &str) -> String {
    let params = doc["paths"][path][method]["parameters"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let mut out = path.to_string();
    for p in params.iter().filter(|p| p["in"] == "path") {
        let name = p["name"].as_str().unwrap();
        let value = p["example"]
            .as_str()
            .or(p["schema"]["example"].as_str())
            .unwrap_or("ses_0000000000000000");
        out = out.replace(&format!("{{{name}}}"), value);
    }
    out
}

fn is_public(doc: &Value, path: &str, method: &str) -> bool {
    doc["paths"][path][method]["security"]
        .as_array()
        .is_some_and(Vec::is_empty)
}

#[tokio::test]
async fn every_documented_operation_answers() {
    let server = start().await;
    let doc = document(&server).await;
    let key = server.signup("prober@example.com").await.key;

    // What the router's fallback says; a documented route must never say it. (A path that is
    // no route, on purpose: the literal is the data under test.)
    let res = server
        .request(Method::GET, "/api/v1/no-such-route-for-the-docs-test", None)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 404);
    let fallback: Value = res.json().await.unwrap();

    let mut failures = Vec::new();
    for (path, method) in documented(&doc) {
        let url = fill(&doc, &path, &method);
        let public = is_public(&doc, &path, &method);
        let verb = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
        for key in [None, Some(key.as_str())] {
            let res = server
                .request(verb.clone(), &url, key)
                .header("x-preview-token", "hpr_0")
                .send()
                .await
                .unwrap();
            let status = res.status().as_u16();
            let is_json = res
                .headers()
                .get("content-type")
                .is_some_and(|v| v.to_str().unwrap_or("").starts_with("application/json"));
            let body: Value = if is_json {
                res.json().await.unwrap_or(Value::Null)
            } else {
                Value::Null
            };
            let here = format!(
                "{} {url} ({})",
                verb,
                if key.is_some() {
                    "with a key"
                } else {
                    "no key"
                }
            );
            if status == 405 || (status == 404 && body == fallback) {
                failures.push(format!("{here}: not routed ({status})"));
            }
            let asks_for_key = status == 401
                && body["error"]["message"] == "Missing or invalid Authorization header";
            match (public, key.is_some()) {
                (true, _) if asks_for_key => {
                    failures.push(format!("{here}: documented as public but asks for a key"))
                }
                (false, false) if status != 401 => failures.push(format!(
                    "{here}: documented as needing a key but answered {status} without one"
                )),
                (false, true) if status == 401 => {
                    failures.push(format!("{here}: refused a valid key"))
                }
                _ => {}
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

// ---------------------------------------------------------------------------------------------
// Responses against their documented schemas.

fn type_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// Checks `value` against `schema`: types, and for objects exactly the documented properties
/// (none missing that are required, none undocumented), recursively.
fn check(doc: &Value, schema: &Value, value: &Value, at: &str, errors: &mut Vec<String>) {
    if let Some(r) = schema["$ref"].as_str() {
        let target = resolve(doc, r).unwrap_or_else(|| panic!("unresolvable {r}"));
        return check(doc, target, value, at, errors);
    }
    if let Some(parts) = schema["allOf"].as_array() {
        // Merge the parts into one object schema.
        let mut properties = serde_json::Map::new();
        let mut required = Vec::new();
        let mut stack: Vec<&Value> = parts.iter().collect();
        while let Some(part) = stack.pop() {
            let part = match part["$ref"].as_str() {
                Some(r) => resolve(doc, r).unwrap(),
                None => part,
            };
            if let Some(more) = part["allOf"].as_array() {
                stack.extend(more);
                continue;
            }
            if let Some(p) = part["properties"].as_object() {
                properties.extend(p.clone());
            }
            if let Some(r) = part["required"].as_array() {
                required.extend(r.clone());
            }
        }
        let merged = json!({"type": "object", "properties": properties, "required": required});
        return check(doc, &merged, value, at, errors);
    }
    if let Some(options) = schema["oneOf"].as_array().or(schema["anyOf"].as_array()) {
        let fits = options.iter().any(|option| {
            let mut scratch = Vec::new();
            check(doc, option, value, at, &mut scratch);
            scratch.is_empty()
        });
        if !fits {
            errors.push(format!("{at}: {value} fits none of {options:?}"));
        }
        return;
    }
    let actual = type_of(value);
    let allowed: Vec<&str> = match &schema["type"] {
        Value::String(t) => vec![t.as_str()],
        Value::Array(ts) => ts.iter().filter_map(Value::as_str).collect(),
        _ => vec![],
    };
    let fits = allowed.is_empty()
        || allowed.contains(&actual)
        || (actual == "integer" && allowed.contains(&"number"));
    if !fits {
        errors.push(format!(
            "{at}: {actual} where the document says {allowed:?}"
        ));
        return;
    }
    match value {
        Value::Object(map) => {
            if let Some(properties) = schema["properties"].as_object() {
                for name in map.keys() {
                    if !properties.contains_key(name)
                        && schema.get("additionalProperties").is_none()
                    {
                        errors.push(format!("{at}.{name}: sent but not documented"));
                    }
                }
                for name in schema["required"].as_array().into_iter().flatten() {
                    let name = name.as_str().unwrap();
                    if !map.contains_key(name) {
                        errors.push(format!(
                            "{at}.{name}: documented as always sent, but missing"
                        ));
                    }
                }
                for (name, sub) in properties {
                    if let Some(v) = map.get(name) {
                        check(doc, sub, v, &format!("{at}.{name}"), errors);
                    }
                }
            }
        }
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                check(doc, &schema["items"], item, &format!("{at}[{i}]"), errors);
            }
        }
        _ => {}
    }
}

/// Calls the API and checks each answer against the document's schema for that operation and
/// status. Requests are written as the documented template (`/api/v1/sessions/{id}`, with an
/// optional query); `{…}` are filled from `vars`.
///
/// The template strings in `responses_have_the_documented_fields` stay literal on purpose: they
/// are the keys this test looks up in the OpenAPI document (the data under test), not request
/// paths a helper could build — `tests/common/paths.rs` builds concrete paths, not templates.
struct Checker<'a> {
    server: &'a TestApp,
    doc: Value,
    vars: BTreeMap<&'static str, String>,
    errors: Vec<String>,
    seen: BTreeSet<String>,
}

impl Checker<'_> {
    fn url(&self, template: &str) -> String {
        let mut url = template.to_string();
        for (name, value) in &self.vars {
            url = url.replace(&format!("{{{name}}}"), value);
        }
        url
    }

    async fn call(
        &mut self,
        method: Method,
        template: &str,
        key: Option<&str>,
        body: Option<Value>,
        expect: u16,
    ) -> Value {
        let mut req = self
            .server
            .request(method.clone(), &self.url(template), key);
        if let Some(body) = body {
            req = req.json(&body);
        }
        let res = req.send().await.unwrap();
        self.checked(method, template, res, expect).await
    }

    async fn checked(
        &mut self,
        method: Method,
        template: &str,
        res: Response,
        expect: u16,
    ) -> Value {
        let template = template.split('?').next().unwrap();
        let status = res.status().as_u16();
        let body: Value = res.json().await.unwrap_or(Value::Null);
        let here = format!("{method} {template} {status}");
        assert_eq!(status, expect, "{here}: {body}");
        let m = method.as_str().to_lowercase();
        let documented = &self.doc["paths"][template][&m]["responses"][status.to_string()];
        let schema = documented["content"]["application/json"]["schema"].clone();
        if schema.is_null() {
            self.errors
                .push(format!("{here}: no JSON schema documented for this answer"));
        } else {
            let doc = self.doc.clone();
            check(&doc, &schema, &body, &here, &mut self.errors);
        }
        self.seen.insert(format!("{m} {template}"));
        body
    }
}

fn text(v: &Value) -> String {
    v.as_str()
        .unwrap_or_else(|| panic!("{v} is not a string"))
        .to_string()
}

#[tokio::test]
async fn responses_have_the_documented_fields() {
    use Method as M;
    let server = start().await;
    let mut c = Checker {
        server: &server,
        doc: document(&server).await,
        vars: BTreeMap::new(),
        errors: Vec::new(),
        seen: BTreeSet::new(),
    };

    c.call(M::GET, "/health", None, None, 200).await;
    c.call(M::GET, "/health/ready", None, None, 200).await;

    let email = json!({"email": "alice@example.com"});
    let signup = c
        .call(M::POST, "/api/v1/auth/signup", None, Some(email), 201)
        .await;
    let alice = text(&signup["raw_key"]);
    let a = Some(alice.as_str());
    let bob = server.signup("bob@example.com").await.key;
    let b = Some(bob.as_str());

    // Errors: the envelope, and a 422 with its issues.
    c.vars.insert("id", "ses_00000000".into());
    c.call(M::GET, "/api/v1/sessions/{id}", a, None, 404).await;
    let invalid = c
        .call(M::POST, "/api/v1/auth/signup", None, Some(json!({})), 422)
        .await;
    let issue = json!({"$ref": "#/components/schemas/ValidationIssue"});
    let doc = c.doc.clone();
    let details = &invalid["error"]["details"]["errors"][0];
    check(
        &doc,
        &issue,
        details,
        "422 details.errors[0]",
        &mut c.errors,
    );

    // Accounts and keys.
    c.call(M::GET, "/api/v1/auth/me", a, None, 200).await;
    let named = json!({"name": "laptop"});
    c.call(M::POST, "/api/v1/auth/keys", a, Some(named), 201)
        .await;
    c.call(M::GET, "/api/v1/auth/keys", a, None, 200).await;
    let personal = json!({"name": "ci", "expires_in_days": 30});
    c.call(M::POST, "/api/v1/auth/me/api-keys", a, Some(personal), 201)
        .await;
    c.call(M::GET, "/api/v1/auth/me/api-keys", a, None, 200)
        .await;
    c.call(M::GET, "/api/v1/auth/me/default-org", a, None, 200)
        .await;

    // Push, then read the session every way.
    let id = "ses_d0c5d0c5d0c50001";
    c.vars.insert("id", id.into());
    let archive = session_archive(id, "Docs drift", "the retry loop", 6);
    let part = reqwest::multipart::Part::bytes(archive).file_name("session.tar.gz");
    let res = server
        .request(M::PUT, &c.url("/api/v1/sessions/{id}/sync"), a)
        .multipart(reqwest::multipart::Form::new().part("file", part))
        .send()
        .await
        .unwrap();
    c.checked(M::PUT, "/api/v1/sessions/{id}/sync", res, 201)
        .await;
    c.call(M::GET, "/api/v1/sessions", a, None, 200).await;
    c.call(M::GET, "/api/v1/sessions/{id}", a, None, 200).await;
    let title = json!({"title": "Docs drift, again"});
    c.call(M::PATCH, "/api/v1/sessions/{id}", a, Some(title), 200)
        .await;
    let alias = json!({"alias": "drift"});
    c.call(M::PUT, "/api/v1/sessions/{id}/alias", a, Some(alias), 200)
        .await;
    c.call(
        M::GET,
        "/api/v1/sessions/{id}/messages?page_size=2",
        a,
        None,
        200,
    )
    .await;
    c.call(
        M::GET,
        "/api/v1/sessions/{id}/messages?around=3",
        a,
        None,
        200,
    )
    .await;
    c.call(M::GET, "/api/v1/sessions/{id}/summary", a, None, 200)
        .await;
    let mut found = false;
    for _ in 0..50 {
        let hits = c
            .call(M::GET, "/api/v1/sessions/search?q=retry", a, None, 200)
            .await;
        if hits["total"].as_i64().unwrap_or(0) > 0 {
            found = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(found, "the pushed session became searchable");

    // Share links.
    let link = c
        .call(
            M::POST,
            "/api/v1/sessions/{id}/share",
            a,
            Some(json!({})),
            201,
        )
        .await;
    let token = text(&link["public_url"])
        .rsplit('/')
        .next()
        .unwrap()
        .to_string();
    c.vars.insert("token", token);
    c.call(M::GET, "/api/v1/share/{token}/view", None, None, 200)
        .await;

    // Autosync and billing.
    c.call(M::GET, "/api/v1/sync/settings", a, None, 200).await;
    let mode = json!({"mode": "selective"});
    c.call(M::PUT, "/api/v1/sync/settings", a, Some(mode), 200)
        .await;
    c.call(M::POST, "/api/v1/sync/watch/{id}", a, None, 200)
        .await;
    c.vars.insert("status", "synced".into());
    c.call(M::PUT, "/api/v1/sync/watch/{id}/{status}", a, None, 200)
        .await;
    c.call(M::GET, "/api/v1/sync/watchlist", a, None, 200).await;
    c.call(M::GET, "/api/v1/sync/status", a, None, 200).await;
    let report = json!({"watchers": [{"tool": "claude-code"}]});
    c.call(M::PUT, "/api/v1/sync/health", a, Some(report), 200)
        .await;
    c.call(M::GET, "/api/v1/sync/health", a, None, 200).await;
    c.call(M::GET, "/api/v1/billing/status", a, None, 200).await;
    c.call(M::POST, "/api/v1/billing/checkout", a, None, 400)
        .await;

    // Handoffs.
    let give = json!({"session_id": id, "recipient_email": "bob@example.com", "message": "yours"});
    let handoff = c
        .call(M::POST, "/api/v1/handoffs", a, Some(give), 201)
        .await;
    c.vars.insert("id", text(&handoff["id"]));
    c.call(M::GET, "/api/v1/handoffs/sent", a, None, 200).await;
    c.call(M::GET, "/api/v1/handoffs/inbox", b, None, 200).await;
    c.call(M::GET, "/api/v1/handoffs/{id}", b, None, 200).await;
    let comment = json!({"content": "thanks"});
    c.call(
        M::POST,
        "/api/v1/handoffs/{id}/comments",
        b,
        Some(comment),
        201,
    )
    .await;
    c.call(M::GET, "/api/v1/handoffs/{id}/comments", a, None, 200)
        .await;
    c.call(M::GET, "/api/v1/handoffs/{id}/events", a, None, 200)
        .await;
    c.call(M::GET, "/api/v1/handoffs/{id}/summary", None, None, 200)
        .await;
    c.call(M::POST, "/api/v1/handoffs/{id}/claim", b, None, 200)
        .await;

    // Trash and back.
    c.vars.insert("id", id.into());
    c.call(M::DELETE, "/api/v1/sessions/{id}?scope=cloud", a, None, 200)
        .await;
    c.call(M::POST, "/api/v1/sessions/{id}/restore", a, None, 200)
        .await;

    // Organizations and service keys.
    c.call(M::GET, "/api/v1/org", a, None, 200).await;
    let acme = json!({"name": "Acme", "slug": "acme"});
    let org = c.call(M::POST, "/api/v1/org", a, Some(acme), 200).await;
    c.vars.insert("org_id", text(&org["org_id"]));
    c.call(M::GET, "/api/v1/org", a, None, 200).await;
    c.call(M::GET, "/api/v1/orgs", a, None, 200).await;
    c.call(M::GET, "/api/v1/orgs/{org_id}/members", a, None, 200)
        .await;
    let to_bob = json!({"email": "bob@example.com"});
    let invite = c
        .call(M::POST, "/api/v1/org/invite", a, Some(to_bob), 200)
        .await;
    c.vars.insert("invite_id", text(&invite["invite_id"]));
    c.call(M::GET, "/api/v1/org/invites", a, None, 200).await;
    c.call(M::GET, "/api/v1/org/invites/me", b, None, 200).await;
    let resend = "/api/v1/orgs/{org_id}/invites/{invite_id}/resend";
    c.call(M::POST, resend, a, None, 200).await;
    c.call(
        M::POST,
        "/api/v1/org/invite/{invite_id}/accept",
        b,
        None,
        200,
    )
    .await;
    let ci = json!({"name": "ci", "scopes": ["handoffs:write"], "expires_in_days": 30});
    let key = c
        .call(
            M::POST,
            "/api/v1/orgs/{org_id}/service-keys",
            a,
            Some(ci),
            201,
        )
        .await;
    c.vars.insert("key_id", text(&key["id"]));
    c.call(M::GET, "/api/v1/orgs/{org_id}/service-keys", a, None, 200)
        .await;
    let rotate = "/api/v1/orgs/{org_id}/service-keys/{key_id}/rotate";
    c.call(M::POST, rotate, a, None, 200).await;
    let me: Value = server
        .request(M::GET, "/api/v1/auth/me", b)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    c.vars.insert("user_id", text(&me["user_id"]));
    let admin = json!({"role": "admin"});
    c.call(
        M::PUT,
        "/api/v1/org/members/{user_id}/role",
        a,
        Some(admin),
        200,
    )
    .await;
    c.call(
        M::DELETE,
        "/api/v1/orgs/{org_id}/members/{user_id}",
        a,
        None,
        200,
    )
    .await;

    assert!(
        c.errors.is_empty(),
        "answers that differ from the document:\n{}",
        c.errors.join("\n")
    );
    assert!(c.seen.len() >= 50, "checked {} operations", c.seen.len());
}

#[tokio::test]
async fn docs_pages_are_served_from_the_binary() {
    let server = start().await;
    let client = Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    for (page, index) in [("/api/docs", "docs/"), ("/api/redoc", "redoc/")] {
        let res = client
            .get(format!("{}{page}", server.base))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 308, "{page}");
        assert_eq!(
            res.headers()["location"],
            index,
            "{page}: a relative redirect"
        );

        let res = client
            .get(format!("{}{page}/", server.base))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200, "{page}/");
        assert!(res.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html"));
        let csp = res.headers()["content-security-policy"]
            .to_str()
            .unwrap()
            .to_string();
        for directive in [
            "default-src 'none'",
            "script-src 'self'",
            "connect-src 'self'",
            "img-src 'self' data:",
        ] {
            assert!(csp.contains(directive), "{page}/: CSP {csp}");
        }
        let html = res.text().await.unwrap();
        assert!(!html.contains("://"), "{page}/ names another host:\n{html}");
    }

    // Our set-up turns off what would call out: Swagger UI's online validator, ReDoc's telemetry.
    let init = |path: &'static str| {
        let server = &server;
        async move {
            let res = server
                .request(Method::GET, path, None)
                .send()
                .await
                .unwrap();
            assert_eq!(res.status(), 200, "{path}");
            assert!(res.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/javascript"));
            res.text().await.unwrap()
        }
    };
    let swagger = init("/api/docs/init.js").await;
    assert!(swagger.contains("validatorUrl: null"), "{swagger}");
    assert!(swagger.contains("\"../openapi.json\""), "{swagger}");
    let redoc = init("/api/redoc/init.js").await;
    assert!(redoc.contains("disableTelemetry: true"), "{redoc}");
    assert!(redoc.contains("\"../openapi.json\""), "{redoc}");

    // The vendored files are served byte for byte as assets/update.sh recorded them.
    let versions = std::fs::read_to_string(
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("assets/versions.txt"),
    )
    .unwrap();
    let mut served = 0;
    for line in versions
        .lines()
        .filter(|l| !l.starts_with('#') && l.contains("  "))
    {
        let (sha, file) = line.split_once("  ").unwrap();
        let url = match file.split_once('/') {
            Some(("swagger-ui", name)) => format!("/api/docs/{name}"),
            Some(("redoc", name)) => format!("/api/redoc/{name}"),
            _ => panic!("assets/versions.txt: unexpected file {file}"),
        };
        let res = server
            .request(Method::GET, &url, None)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200, "{url}");
        let etag = res.headers()["etag"].to_str().unwrap().to_string();
        assert_eq!(etag, format!("\"{sha}\""), "{url}: ETag");
        let bytes = res.bytes().await.unwrap();
        assert_eq!(
            hex::encode(sha2::Sha256::digest(&bytes)),
            sha,
            "{url}: bytes differ from assets/versions.txt"
        );
        let again = server
            .request(Method::GET, &url, None)
            .header("if-none-match", &etag)
            .send()
            .await
            .unwrap();
        assert_eq!(again.status(), 304, "{url}");
        served += 1;
    }
    assert!(served >= 4, "{served} vendored files");

    let res = server
        .request(Method::GET, "/api/docs/no-such-file.js", None)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 404);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["error"]["code"], "404");
}
