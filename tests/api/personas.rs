//! Personas (02 §6): every route of the project and org collections, the name rules, the 409s,
//! soft delete keeping the name, versions moving only on real change, project-first then org
//! resolution, standing, tenancy (outsiders 404, another org's key `cross_org_denied`), scopes
//! and the plan gate.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::common::{assert_invalid_field, error_of, json_of, paths, TestApp};

fn atlas() -> Value {
    json!({"name": "Atlas", "role": "Backend Architect", "content": "# Atlas\n\nYou design APIs.",
           "specializations": ["rust", "sql"]})
}

async fn create(app: &TestApp, key: &str, project: &str, body: Value) -> Value {
    json_of(
        app.call(
            Some(key),
            Method::POST,
            &paths::personas(project),
            Some(body),
        )
        .await,
        StatusCode::CREATED,
    )
    .await
}

#[tokio::test]
async fn crud_name_rules_versions_and_soft_delete() {
    let app = TestApp::spawn().await;
    let w = app.world().await;
    let (a, p) = (&w.alice.key, w.project.as_str());

    let created = create(&app, a, p, atlas()).await;
    assert!(created["id"].as_str().unwrap().starts_with("per_"));
    assert_eq!(created["id"].as_str().unwrap().len(), 20);
    for (field, value) in [
        ("project_id", json!(p)),
        ("org_id", Value::Null),
        ("scope", json!("project")),
        ("name", json!("Atlas")),
        ("role", json!("Backend Architect")),
        ("specializations", json!(["rust", "sql"])),
        ("is_active", json!(true)),
        ("version", json!(1)),
        ("created_by", json!(w.alice.id)),
        ("represented_user_id", Value::Null),
    ] {
        assert_eq!(created[field], value, "{field}");
    }
    assert_eq!(created["created_at"], created["updated_at"]);

    // Any case finds it; the canonical name is answered.
    let got = json_of(
        app.as_(&w.bob).get(&paths::persona(p, "aTLAS")).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(got, created);
    let listed = json_of(
        app.as_(&w.bob).get(&paths::personas(p)).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(listed, json!([created]));

    // Names are unique in any case.
    let err = app
        .refused(
            a,
            Method::POST,
            &paths::personas(p),
            Some(json!({"name": "ATLAS", "role": "x"})),
            StatusCode::CONFLICT,
        )
        .await;
    assert!(
        err["message"]
            .as_str()
            .unwrap()
            .starts_with("A persona named 'ATLAS' already exists in this project (active)"),
        "{err}"
    );

    // The name and role rules, and a project persona cannot represent anyone: all 422, nothing
    // written.
    for (body, field) in [
        (json!({"name": "two words", "role": "r"}), "name"),
        (json!({"name": "   ", "role": "r"}), "name"),
        (json!({"name": "a".repeat(51), "role": "r"}), "name"),
        (json!({"name": "émile", "role": "r"}), "name"),
        (json!({"name": "a/b", "role": "r"}), "name"),
        (json!({"name": "ok", "role": "   "}), "role"),
        (json!({"name": "ok", "role": "r".repeat(101)}), "role"),
        (
            json!({"name": "ok", "role": "r", "represented_user": "bob@example.com"}),
            "represented_user",
        ),
        (json!({"role": "r"}), "name"),
        (json!({"name": "ok"}), "role"),
        (
            json!({"name": "ok", "role": "r", "specializations": "rust"}),
            "specializations",
        ),
    ] {
        let err = app
            .refused(
                a,
                Method::POST,
                &paths::personas(p),
                Some(body.clone()),
                StatusCode::UNPROCESSABLE_ENTITY,
            )
            .await;
        assert_invalid_field(&err, field, &body);
    }
    app.refused(
        a,
        Method::POST,
        &paths::personas(p),
        None,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    // Trimmed name, 50 characters is fine.
    let long = create(
        &app,
        a,
        p,
        json!({"name": format!(" {} ", "b".repeat(50)), "role": " r "}),
    )
    .await;
    assert_eq!(long["name"], "b".repeat(50));
    assert_eq!(long["role"], "r");
    assert_eq!(long["content"], "");
    assert_eq!(long["specializations"], json!([]));

    // Updates: the version moves only when something changed.
    let path = paths::persona(p, "atlas");
    let same = json_of(
        app.as_(&w.alice)
            .put(
                &path,
                json!({"content": "# Atlas\n\nYou design APIs.", "role": "Backend Architect"}),
            )
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(same["version"], 1);
    assert_eq!(same["updated_at"], created["updated_at"]);
    let none = json_of(
        app.as_(&w.alice).put(&path, json!({})).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(none["version"], 1);
    app.clock().advance(chrono::Duration::seconds(5));
    let edited = json_of(
        app.as_(&w.bob)
            .put(
                &path,
                json!({"content": "New text", "specializations": ["go"]}),
            )
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(edited["version"], 2);
    assert_eq!(edited["content"], "New text");
    assert_eq!(edited["specializations"], json!(["go"]));
    assert_eq!(edited["role"], "Backend Architect");
    assert_ne!(edited["updated_at"], created["updated_at"]);
    for (body, field) in [
        (json!({"role": " "}), "role"),
        (
            json!({"represented_user": "bob@example.com"}),
            "represented_user",
        ),
        (json!({"is_active": "nope"}), "is_active"),
    ] {
        let err = app
            .refused(
                a,
                Method::PUT,
                &path,
                Some(body),
                StatusCode::UNPROCESSABLE_ENTITY,
            )
            .await;
        assert_eq!(err["details"]["errors"][0]["loc"], json!(["body", field]));
    }
    let err = app
        .refused(
            a,
            Method::PUT,
            &paths::persona(p, "nobody"),
            Some(json!({"role": "r"})),
            StatusCode::NOT_FOUND,
        )
        .await;
    assert_eq!(err["message"], "Persona not found");
    let unchanged = json_of(app.as_(&w.alice).get(&path).await, StatusCode::OK).await;
    assert_eq!(unchanged, edited);

    // Soft delete: 204 with no body; gone for reads; the name stays reserved.
    let res = app.as_(&w.alice).delete(&paths::persona(p, "ATLAS")).await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    assert!(res.bytes().await.unwrap().is_empty());
    let err = app
        .refused(a, Method::GET, &path, None, StatusCode::NOT_FOUND)
        .await;
    assert_eq!(err["message"], "Persona not found");
    app.refused(a, Method::DELETE, &path, None, StatusCode::NOT_FOUND)
        .await;
    let listed = json_of(
        app.as_(&w.alice).get(&paths::personas(p)).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(listed.as_array().unwrap().len(), 1, "{listed}");
    let all = json_of(
        app.as_(&w.alice)
            .get(&paths::query(&paths::personas(p), "include_inactive=true"))
            .await,
        StatusCode::OK,
    )
    .await;
    let names: Vec<&str> = all
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, vec!["Atlas", &"b".repeat(50)]);
    assert_eq!(all[0]["is_active"], false);
    assert_eq!(all[0]["version"], 3);
    let err = app
        .refused(
            a,
            Method::POST,
            &paths::personas(p),
            Some(json!({"name": "atlas", "role": "again"})),
            StatusCode::CONFLICT,
        )
        .await;
    assert!(
        err["message"].as_str().unwrap().contains("(soft-deleted)"),
        "{err}"
    );
    app.refused(
        a,
        Method::GET,
        &paths::query(&paths::personas(p), "include_inactive=maybe"),
        None,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;

    // PUT finds soft-deleted personas: reactivation is a change.
    let back = json_of(
        app.as_(&w.alice)
            .put(&path, json!({"is_active": true}))
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(back["is_active"], true);
    assert_eq!(back["version"], 4);
    assert_eq!(back["name"], "Atlas");
    json_of(app.as_(&w.carol).get(&path).await, StatusCode::OK).await;
}

#[tokio::test]
async fn org_personas_and_project_first_resolution() {
    let app = TestApp::spawn().await;
    let w = app.world().await;
    let p = w.project.as_str();
    let org_path = paths::org_personas(&w.org);

    // Org personas: admins and owners write, members read, outsiders are refused.
    let reviewer = json_of(
        app.as_(&w.carol)
            .post(
                &org_path,
                json!({"name": "Reviewer", "role": "Code reviewer", "content": "Review.",
                       "represented_user": "bob@example.com"}),
            )
            .await,
        StatusCode::CREATED,
    )
    .await;
    assert_eq!(reviewer["scope"], "org");
    assert_eq!(reviewer["org_id"], w.org.as_str());
    assert_eq!(reviewer["project_id"], Value::Null);
    assert_eq!(reviewer["represented_user_id"], w.bob.id.as_str());
    let err = error_of(
        app.as_(&w.bob)
            .post(&org_path, json!({"name": "mine", "role": "r"}))
            .await,
        StatusCode::FORBIDDEN,
    )
    .await;
    assert_eq!(
        err["message"],
        "Only org admins and owners may manage org personas"
    );
    error_of(
        app.as_(&w.alice)
            .post(
                &org_path,
                json!({"name": "x", "role": "r", "represented_user": "eve@example.com"}),
            )
            .await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    error_of(
        app.as_(&w.alice)
            .post(&org_path, json!({"name": "reviewer", "role": "r"}))
            .await,
        StatusCode::CONFLICT,
    )
    .await;
    let listed = json_of(app.as_(&w.bob).get(&org_path).await, StatusCode::OK).await;
    assert_eq!(listed, json!([reviewer]));
    for (method, path) in [
        (Method::GET, org_path.clone()),
        (Method::GET, paths::org_persona(&w.org, "reviewer")),
        (Method::PUT, paths::org_persona(&w.org, "reviewer")),
        (Method::DELETE, paths::org_persona(&w.org, "reviewer")),
    ] {
        let err = app
            .refused(
                &w.eve.key,
                method,
                &path,
                Some(json!({"role": "r"})),
                StatusCode::FORBIDDEN,
            )
            .await;
        assert_eq!(err["message"], "You are not a member of this org");
    }
    app.refused(
        &w.eve.key,
        Method::GET,
        &paths::org_personas("org_nope"),
        None,
        StatusCode::NOT_FOUND,
    )
    .await;

    // The represented member edits content but not activity; admins edit anything.
    let path = paths::org_persona(&w.org, "REVIEWER");
    let edited = json_of(
        app.as_(&w.bob)
            .put(&path, json!({"content": "Review carefully."}))
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(edited["version"], 2);
    error_of(
        app.as_(&w.bob)
            .put(&path, json!({"is_active": false}))
            .await,
        StatusCode::FORBIDDEN,
    )
    .await;
    let cleared = json_of(
        app.as_(&w.alice)
            .put(&path, json!({"represented_user": null}))
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(cleared["represented_user_id"], Value::Null);
    assert_eq!(cleared["version"], 3);
    error_of(
        app.as_(&w.bob)
            .put(&path, json!({"content": "mine now"}))
            .await,
        StatusCode::FORBIDDEN,
    )
    .await;

    // A project of the org sees the org's persona after its own; any case resolves it.
    let own = create(&app, &w.alice.key, p, atlas()).await;
    let listed = json_of(
        app.as_(&w.bob).get(&paths::personas(p)).await,
        StatusCode::OK,
    )
    .await;
    let scopes: Vec<(&str, &str)> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["name"].as_str().unwrap(), p["scope"].as_str().unwrap()))
        .collect();
    assert_eq!(scopes, vec![("Atlas", "project"), ("Reviewer", "org")]);
    let only = json_of(
        app.as_(&w.bob)
            .get(&paths::query(&paths::personas(p), "include_org=false"))
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(only, json!([own]));
    let got = json_of(
        app.as_(&w.bob).get(&paths::persona(p, "reviewer")).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(got["scope"], "org");
    // The project's routes do not edit org personas, and say where to.
    let err = error_of(
        app.as_(&w.alice)
            .put(&paths::persona(p, "reviewer"), json!({"content": "x"}))
            .await,
        StatusCode::NOT_FOUND,
    )
    .await;
    let message = err["message"].as_str().unwrap();
    assert!(message.contains("org-level persona"), "{message}");
    assert!(
        message.contains(&format!("/api/v1/orgs/{}/personas", w.org)),
        "{message}"
    );
    error_of(
        app.as_(&w.alice)
            .delete(&paths::persona(p, "reviewer"))
            .await,
        StatusCode::NOT_FOUND,
    )
    .await;

    // A project persona of the same name shadows the org's.
    let shadow = create(
        &app,
        &w.alice.key,
        p,
        json!({"name": "reviewer", "role": "Project reviewer"}),
    )
    .await;
    let got = json_of(
        app.as_(&w.bob).get(&paths::persona(p, "Reviewer")).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(got, shadow);
    let listed = json_of(
        app.as_(&w.bob).get(&paths::personas(p)).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(listed, json!([own, shadow]));

    // Personas of a personal project never include an org's.
    let personal = app.as_(&w.bob).create_project("bob/tools", None).await;
    let personal = personal["id"].as_str().unwrap();
    let listed = json_of(
        app.as_(&w.bob).get(&paths::personas(personal)).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(listed, json!([]));
    error_of(
        app.as_(&w.bob)
            .get(&paths::persona(personal, "reviewer"))
            .await,
        StatusCode::NOT_FOUND,
    )
    .await;

    // Org delete: admins only, soft, 204; the project falls back to nothing once both are gone.
    error_of(app.as_(&w.bob).delete(&path).await, StatusCode::FORBIDDEN).await;
    let res = app.as_(&w.carol).delete(&path).await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    error_of(app.as_(&w.carol).get(&path).await, StatusCode::NOT_FOUND).await;
    error_of(app.as_(&w.carol).delete(&path).await, StatusCode::NOT_FOUND).await;
    let all = json_of(
        app.as_(&w.bob)
            .get(&paths::query(&org_path, "include_inactive=true"))
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(all[0]["is_active"], false);
}

#[tokio::test]
async fn standing_tenancy_service_keys_and_the_plan() {
    let app = TestApp::spawn().await;
    let w = app.world().await;
    let p = w.project.as_str();
    create(&app, &w.alice.key, p, atlas()).await;
    let routes = |name: &str| {
        vec![
            (Method::GET, paths::personas(p), None),
            (Method::GET, paths::persona(p, name), None),
            (
                Method::POST,
                paths::personas(p),
                Some(json!({"name": "new", "role": "r"})),
            ),
            (
                Method::PUT,
                paths::persona(p, name),
                Some(json!({"content": "x"})),
            ),
            (Method::DELETE, paths::persona(p, name), None),
        ]
    };

    // An outsider: every route is 404 "Project not found", and nothing changes.
    for (method, path, body) in routes("atlas") {
        let err = app
            .refused(
                &w.eve.key,
                method.clone(),
                &path,
                body,
                StatusCode::NOT_FOUND,
            )
            .await;
        assert_eq!(err["message"], "Project not found", "{method} {path}");
    }
    // A reader through a captured session reads, but may not write.
    app.push_new(&w.eve, "ses_0123456789abcdef", "work on app")
        .await;
    json_of(
        app.as_(&w.eve).get(&paths::personas(p)).await,
        StatusCode::OK,
    )
    .await;
    json_of(
        app.as_(&w.eve).get(&paths::persona(p, "atlas")).await,
        StatusCode::OK,
    )
    .await;
    for (method, path, body) in routes("atlas").into_iter().skip(2) {
        let err = app
            .refused(
                &w.eve.key,
                method.clone(),
                &path,
                body,
                StatusCode::FORBIDDEN,
            )
            .await;
        assert_eq!(err["code"], "project_edit_forbidden", "{method} {path}");
    }
    let after = json_of(
        app.as_(&w.alice).get(&paths::persona(p, "atlas")).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(after["version"], 1);
    assert_eq!(app.count("agent_personas").await, 1);

    // Service keys: personas:read reads, personas:write writes, neither reaches the other.
    let read = w.key(json!(["personas:read"])).await;
    let write = w.key(json!(["personas:write"])).await;
    json_of(
        app.call(Some(&read), Method::GET, &paths::personas(p), None)
            .await,
        StatusCode::OK,
    )
    .await;
    for (method, path, body) in routes("atlas").into_iter().skip(2) {
        let err = app
            .refused(&read, method, &path, body, StatusCode::FORBIDDEN)
            .await;
        assert_eq!(err["details"]["error"], "insufficient_scope");
        assert_eq!(err["details"]["required"], json!(["personas:write"]));
    }
    let err = app
        .refused(
            &write,
            Method::GET,
            &paths::personas(p),
            None,
            StatusCode::FORBIDDEN,
        )
        .await;
    assert_eq!(err["details"]["error"], "insufficient_scope");
    let by_key = create(&app, &write, p, json!({"name": "ci-bot", "role": "CI"})).await;
    assert_eq!(by_key["created_by"], w.alice.id.as_str());
    json_of(
        app.call(
            Some(&write),
            Method::PUT,
            &paths::persona(p, "ci-bot"),
            Some(json!({"content": "c"})),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    let res = app
        .call(
            Some(&write),
            Method::DELETE,
            &paths::persona(p, "ci-bot"),
            None,
        )
        .await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    // A key bound to another project of the org.
    let bound = w.key_of_another_project(json!(["personas:read"])).await;
    let err = app
        .refused(
            &bound,
            Method::GET,
            &paths::personas(p),
            None,
            StatusCode::FORBIDDEN,
        )
        .await;
    assert_eq!(err["details"]["error"], "project_not_in_allowlist");
    // Another org's key with every persona scope: cross_org_denied on every route.
    let foreign = w
        .foreign_key(json!(["personas:read", "personas:write"]))
        .await;
    for (method, path, body) in routes("atlas") {
        let err = app
            .refused(&foreign, method.clone(), &path, body, StatusCode::FORBIDDEN)
            .await;
        assert_eq!(
            err["details"]["error"], "cross_org_denied",
            "{method} {path}"
        );
        assert_eq!(err["details"]["project_org_id"], w.org.as_str());
    }
    // Service keys do not reach the org collection (user keys only).
    let err = app
        .refused(
            &write,
            Method::GET,
            &paths::org_personas(&w.org),
            None,
            StatusCode::FORBIDDEN,
        )
        .await;
    assert_eq!(err["code"], "service_key_not_allowed");

    // The plan: personas need the project's plan to be pro or above.
    let frank = app.user("frank").tier("pro").create().await;
    let personal = app.as_(&frank).create_project("frank/app", None).await;
    let personal = personal["id"].as_str().unwrap().to_string();
    create(
        &app,
        &frank.key,
        &personal,
        json!({"name": "solo", "role": "r"}),
    )
    .await;
    app.set_tier(&frank, "free").await;
    for (method, path, body) in [
        (Method::GET, paths::personas(&personal), None),
        (Method::GET, paths::persona(&personal, "solo"), None),
        (
            Method::POST,
            paths::personas(&personal),
            Some(json!({"name": "n", "role": "r"})),
        ),
        (
            Method::PUT,
            paths::persona(&personal, "solo"),
            Some(json!({"content": "x"})),
        ),
        (Method::DELETE, paths::persona(&personal, "solo"), None),
    ] {
        let err = app
            .refused(
                &frank.key,
                method.clone(),
                &path,
                body,
                StatusCode::FORBIDDEN,
            )
            .await;
        assert_eq!(
            err["message"], "This feature requires the project's plan to be pro or above.",
            "{method} {path}"
        );
        let d = &err["details"];
        assert_eq!(d["error"], "upgrade_required");
        assert_eq!(d["feature"], "agent_personas");
        assert_eq!(d["current_tier"], "free");
        assert_eq!(d["required_tier"], "pro");
        assert_eq!(d["plan_scope"], "project");
        assert_eq!(d["project_id"], personal.as_str());
    }
    // Still not found for an outsider: access is decided before the plan.
    app.refused(
        &w.eve.key,
        Method::GET,
        &paths::personas(&personal),
        None,
        StatusCode::NOT_FOUND,
    )
    .await;
}

/// A knowledge entry (and a wiki page write) names a persona the project knows, active or
/// retired, the entry storing it as spelt on the persona; any other name is 422.
#[tokio::test]
async fn knowledge_entries_and_pages_name_personas_of_the_project() {
    let app = TestApp::spawn().await;
    let w = app.world().await;
    let p = w.project.as_str();
    create(&app, &w.alice.key, p, atlas()).await;
    let path = paths::project_entries_add(p);
    let add = |persona: &str, content: &str| {
        app.as_(&w.bob)
            .post(&path, json!({"content": content, "persona_name": persona}))
    };
    let entry = json_of(
        add("ATLAS", "The parser rejects tabs in keys since version 2.3").await,
        StatusCode::CREATED,
    )
    .await;
    assert_eq!(entry["persona_name"], "Atlas");
    let err = error_of(
        add("nobody", "Release builds strip debug symbols in profile").await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert_eq!(err["message"], "Persona 'nobody' not found in this project");
    let page = paths::page(p, "guides/setup");
    let res = app
        .as_(&w.bob)
        .put(
            &page,
            json!({"content": "# Setup", "persona_name": "atlas"}),
        )
        .await;
    assert!(res.status().is_success(), "{}", res.text().await.unwrap());
    let err = error_of(
        app.as_(&w.bob)
            .put(
                &page,
                json!({"content": "# Setup", "persona_name": "nobody"}),
            )
            .await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert_eq!(err["message"], "Persona 'nobody' not found in this project");
    let res = app.as_(&w.alice).delete(&paths::persona(p, "atlas")).await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    let retired = json_of(
        add("atlas", "Integration tests spawn one server per test case").await,
        StatusCode::CREATED,
    )
    .await;
    assert_eq!(retired["persona_name"], "Atlas");
}
