//! Wiki pages and project settings (02 §4): put/get/history/publish/delete/regenerate with
//! slugs that hold slashes, revisions, backlinks, the `project_context` gate on the project's
//! plan, settings with their gate exception, bad input, standing and tenancy.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::common::{error_of, json_of, paths, TestApp};

#[tokio::test]
async fn pages_with_slashes_revisions_publish_delete() {
    let app = TestApp::spawn().await;
    let w = app.world().await;
    let pid = w.project.as_str();
    let slug = "guides/deploy-notes";

    let created = json_of(
        app.as_(&w.alice)
            .put(
                &paths::page(pid, slug),
                json!({"content": "# Deploy\n\nRun make."}),
            )
            .await,
        StatusCode::OK,
    )
    .await;
    assert!(created["id"].as_str().unwrap().starts_with("page_"));
    assert_eq!(created["slug"], slug);
    assert_eq!(created["title"], "Guides/deploy Notes");
    assert_eq!(created["page_type"], "section");
    assert_eq!(created["auto_generated"], false);
    assert_eq!(created["publish"], false);
    assert_eq!(created["word_count"], 4);
    assert_eq!(created["backlinks"], json!([]));
    let simple = json_of(
        app.as_(&w.bob)
            .put(
                &paths::page(pid, "getting-started"),
                json!({"content": "hello"}),
            )
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(simple["title"], "Getting Started");

    // Update: content replaced, title when given, a second revision.
    let updated = json_of(
        app.as_(&w.bob)
            .put(
                &paths::page(pid, slug),
                json!({"content": "new words here", "title": "Deploying"}),
            )
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(
        (updated["id"].clone(), updated["title"].clone()),
        (created["id"].clone(), json!("Deploying"))
    );
    let got = json_of(
        app.as_(&w.alice).get(&paths::page(pid, slug)).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(got["content"], "new words here");
    assert_eq!(got["word_count"], 3);
    assert_eq!(got["backlinks"], json!([]));

    let history = json_of(
        app.as_(&w.alice).get(&paths::page_history(pid, slug)).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(history["slug"], slug);
    assert_eq!(history["count"], 2);
    assert_eq!(history["revisions"][0]["revision_number"], 2);
    assert_eq!(history["revisions"][0]["user_id"], w.bob.id);
    assert_eq!(history["revisions"][1]["title"], "Guides/deploy Notes");
    assert_eq!(history["next_cursor"], Value::Null);
    let first_page = json_of(
        app.as_(&w.alice)
            .get(&paths::query(&paths::page_history(pid, slug), "limit=1"))
            .await,
        StatusCode::OK,
    )
    .await;
    let cursor = first_page["next_cursor"].as_i64().unwrap();
    assert_eq!(cursor, first_page["revisions"][0]["id"].as_i64().unwrap());
    let older = json_of(
        app.as_(&w.alice)
            .get(&paths::query(
                &paths::page_history(pid, slug),
                &format!("limit=1&cursor={cursor}"),
            ))
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(older["revisions"][0]["revision_number"], 1);

    // Publish flips the flag only.
    let published = json_of(
        app.as_(&w.alice)
            .patch(&paths::page(pid, slug), json!({"publish": true}))
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(published, json!({"slug": slug, "publish": true}));
    let after = json_of(
        app.as_(&w.alice).get(&paths::page(pid, slug)).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(
        (after["publish"].clone(), after["updated_at"].clone()),
        (json!(true), got["updated_at"].clone())
    );

    let list = json_of(
        app.as_(&w.alice).get(&paths::pages(pid)).await,
        StatusCode::OK,
    )
    .await;
    let slugs: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["slug"].as_str().unwrap())
        .collect();
    assert_eq!(slugs, [slug, "getting-started"]);

    // A user page is not regenerated; a POST that is not a regenerate is not a route.
    let err = error_of(
        app.as_(&w.alice)
            .post_empty(&paths::page_regenerate(pid, slug))
            .await,
        StatusCode::BAD_REQUEST,
    )
    .await;
    assert_eq!(
        err["message"],
        "Only auto-generated pages can be regenerated"
    );
    error_of(
        app.as_(&w.alice).post_empty(&paths::page(pid, slug)).await,
        StatusCode::METHOD_NOT_ALLOWED,
    )
    .await;

    // Delete: the page goes, its history stays.
    let deleted = json_of(
        app.as_(&w.alice).delete(&paths::page(pid, slug)).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(deleted, json!({"status": "deleted", "slug": slug}));
    let err = error_of(
        app.as_(&w.alice).get(&paths::page(pid, slug)).await,
        StatusCode::NOT_FOUND,
    )
    .await;
    assert_eq!(err["message"], "Page not found");
    let history = json_of(
        app.as_(&w.alice).get(&paths::page_history(pid, slug)).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(history["count"], 2);
    for (method, path) in [
        (Method::GET, paths::page(pid, "nope")),
        (Method::GET, paths::page_history(pid, "nope")),
        (Method::DELETE, paths::page(pid, "nope")),
        (Method::POST, paths::page_regenerate(pid, "nope")),
    ] {
        let err = error_of(
            app.as_(&w.alice).call(method, &path, None).await,
            StatusCode::NOT_FOUND,
        )
        .await;
        assert_eq!(err["message"], "Page not found", "{path}");
    }
    let err = error_of(
        app.as_(&w.alice)
            .patch(&paths::page(pid, "nope"), json!({"publish": true}))
            .await,
        StatusCode::NOT_FOUND,
    )
    .await;
    assert_eq!(err["message"], "Page not found");
}

#[tokio::test]
async fn page_bad_input_writes_nothing() {
    let app = TestApp::spawn().await;
    let w = app.world().await;
    let pid = w.project.as_str();
    let page = paths::page(pid, "notes");
    error_of(
        app.as_(&w.alice).put(&page, json!({})).await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    error_of(
        app.as_(&w.alice).put(&page, json!({"content": 5})).await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    error_of(
        app.as_(&w.alice)
            .put(&page, json!({"content": "x", "title": " "}))
            .await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    let big = "word ".repeat(50_000);
    let err = error_of(
        app.as_(&w.alice).put(&page, json!({"content": big})).await,
        StatusCode::PAYLOAD_TOO_LARGE,
    )
    .await;
    assert_eq!(
        err["message"],
        "Page content too long — maximum 200000 characters"
    );
    let err = error_of(
        app.as_(&w.alice)
            .put(&page, json!({"content": "x", "persona_name": "atlas"}))
            .await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert_eq!(err["message"], "Persona 'atlas' not found in this project");
    let err = error_of(
        app.as_(&w.alice)
            .put(
                &page,
                json!({"content": "x", "ticket_id": "tk_0000000000000000"}),
            )
            .await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert_eq!(
        err["message"],
        "Ticket 'tk_0000000000000000' not found in this project"
    );
    error_of(
        app.as_(&w.alice)
            .put(&paths::page(pid, "a//b"), json!({"content": "x"}))
            .await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    error_of(
        app.as_(&w.alice)
            .patch(&page, json!({"publish": "yes"}))
            .await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert_eq!(app.count("knowledge_pages").await, 0);
    assert_eq!(app.count("wiki_page_revisions").await, 0);
}

#[tokio::test]
async fn regenerate_a_compiled_section_page_and_backlinks() {
    let app = TestApp::spawn().await;
    let w = app.world().await;
    let pid = w.project.as_str();
    let body = json!({
        "content": "All decisions about the cache live in docs/adr/0001-cache.md for review",
        "entry_type": "decision", "confidence": 0.9, "session_id": "s1",
    });
    json_of(
        app.as_(&w.alice)
            .post(&paths::project_entries_add(pid), body)
            .await,
        StatusCode::CREATED,
    )
    .await;
    json_of(
        app.as_(&w.alice)
            .post_empty(&paths::project_compile(pid))
            .await,
        StatusCode::OK,
    )
    .await;

    let page = json_of(
        app.as_(&w.alice)
            .get(&paths::page(pid, "key-decisions"))
            .await,
        StatusCode::OK,
    )
    .await;
    assert!(page["id"].as_str().unwrap().starts_with("kp_"));
    assert_eq!(page["title"], "Key Decisions");
    assert_eq!(page["entry_count"], 1);
    assert!(page["content"]
        .as_str()
        .unwrap()
        .starts_with("# Key Decisions\n\n- All decisions"));

    let regenerated = json_of(
        app.as_(&w.alice)
            .post_empty(&paths::page_regenerate(pid, "key-decisions"))
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(regenerated["status"], "regenerated");
    assert_eq!(regenerated["slug"], "key-decisions");
    assert_eq!(regenerated["entries_used"], 1);
    let page = json_of(
        app.as_(&w.alice)
            .get(&paths::page(pid, "key-decisions"))
            .await,
        StatusCode::OK,
    )
    .await;
    assert!(page["content"]
        .as_str()
        .unwrap()
        .contains("- **[decision]** All decisions"));
    assert_eq!(page["word_count"], regenerated["word_count"]);
    // A regenerate is in the compilation history too (02 §9.5).
    let history = json_of(
        app.as_(&w.alice)
            .get(&paths::project_compilations(pid))
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(history.as_array().unwrap().len(), 2);
    assert_eq!(history[0]["context_after"], page["content"]);
}

#[tokio::test]
async fn the_project_plan_gates_writes_and_settings() {
    let app = TestApp::spawn().await;
    let alice = app.user("alice").create().await;
    let project = app.as_(&alice).create_project("solo/app", None).await;
    let pid = project["id"].as_str().unwrap();
    json_of(
        app.as_(&alice)
            .put(&paths::page(pid, "p"), json!({"content": "x"}))
            .await,
        StatusCode::OK,
    )
    .await;

    // The owner's plan drops below pro: page writes and settings changes are refused...
    app.set_tier(&alice, "free").await;
    let err = error_of(
        app.as_(&alice)
            .put(&paths::page(pid, "p"), json!({"content": "y"}))
            .await,
        StatusCode::FORBIDDEN,
    )
    .await;
    assert_eq!(
        err["message"],
        "This feature requires the project's plan to be pro or above."
    );
    let d = &err["details"];
    assert_eq!(
        (
            d["error"].clone(),
            d["feature"].clone(),
            d["plan_scope"].clone(),
            d["project_id"].clone(),
            d["current_tier"].clone()
        ),
        (
            json!("upgrade_required"),
            json!("project_context"),
            json!("project"),
            json!(pid),
            json!("free")
        )
    );
    for (method, path, body) in [
        (
            Method::PATCH,
            paths::page(pid, "p"),
            Some(json!({"publish": true})),
        ),
        (Method::DELETE, paths::page(pid, "p"), None),
        (
            Method::PUT,
            paths::project_settings(pid),
            Some(json!({"auto_narrative": true})),
        ),
        (
            Method::PUT,
            paths::project_settings(pid),
            Some(json!({"auto_narrative": false, "kb_retention_days": 10})),
        ),
    ] {
        let err = error_of(
            app.as_(&alice).call(method, &path, body).await,
            StatusCode::FORBIDDEN,
        )
        .await;
        assert_eq!(err["details"]["error"], "upgrade_required", "{path}");
    }
    // ...but reads work, and the schedule can still be turned off.
    json_of(
        app.as_(&alice).get(&paths::page(pid, "p")).await,
        StatusCode::OK,
    )
    .await;
    let off = json_of(
        app.as_(&alice)
            .put(&paths::project_settings(pid), json!({"auto_narrative": false, "compile_schedule": "off", "compile_after_claims": null}))
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(off["compile_schedule"], "off");
    // Unchanged values are no change at all.
    json_of(
        app.as_(&alice)
            .put(
                &paths::project_settings(pid),
                json!({"auto_narrative": false, "kb_retention_days": 180}),
            )
            .await,
        StatusCode::OK,
    )
    .await;
}

#[tokio::test]
async fn settings_echo_absent_null_and_bad_values() {
    let app = TestApp::spawn().await;
    let w = app.world().await;
    let path = paths::project_settings(&w.project);
    let set = json_of(
        app.as_(&w.bob)
            .put(&path, json!({"auto_narrative": true, "kb_max_context_words": 500, "compile_schedule": "weekly", "compile_after_claims": 5}))
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(
        set,
        json!({"status": "updated", "auto_narrative": true, "kb_retention_days": 180,
               "kb_max_context_words": 500, "kb_section_page_limit": 30,
               "compile_schedule": "weekly", "compile_after_claims": 5})
    );
    // Absent: unchanged; explicit null: cleared.
    let kept = json_of(
        app.as_(&w.alice)
            .put(&path, json!({"auto_narrative": true}))
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(kept["compile_after_claims"], 5);
    let cleared = json_of(
        app.as_(&w.alice)
            .put(
                &path,
                json!({"auto_narrative": true, "compile_after_claims": null}),
            )
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(cleared["compile_after_claims"], Value::Null);
    let project = json_of(
        app.as_(&w.alice).get(&paths::project(&w.project)).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(
        (
            project["auto_narrative"].clone(),
            project["kb_max_context_words"].clone()
        ),
        (json!(true), json!(500))
    );
    for bad in [
        json!({}),
        json!({"auto_narrative": "yes"}),
        json!({"auto_narrative": true, "compile_schedule": "hourly"}),
        json!({"auto_narrative": true, "compile_after_claims": 0}),
        json!({"auto_narrative": true, "kb_retention_days": 0}),
        json!({"auto_narrative": true, "kb_section_page_limit": -3}),
    ] {
        error_of(
            app.as_(&w.alice).put(&path, bad).await,
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
    }
}

#[tokio::test]
async fn standing_and_tenancy_on_every_wiki_route() {
    let app = TestApp::spawn().await;
    let w = app.world().await;
    let pid = w.project.as_str();
    json_of(
        app.as_(&w.alice)
            .put(&paths::page(pid, "a/b"), json!({"content": "x"}))
            .await,
        StatusCode::OK,
    )
    .await;
    let root = app.user("root").tier("admin").create().await;
    let routes = || {
        vec![
            (Method::GET, paths::pages(pid), None),
            (Method::GET, paths::page(pid, "a/b"), None),
            (Method::GET, paths::page_history(pid, "a/b"), None),
            (
                Method::PUT,
                paths::page(pid, "a/b"),
                Some(json!({"content": "y"})),
            ),
            (
                Method::PATCH,
                paths::page(pid, "a/b"),
                Some(json!({"publish": true})),
            ),
            (Method::POST, paths::page_regenerate(pid, "a/b"), None),
            (Method::DELETE, paths::page(pid, "a/b"), None),
            (
                Method::PUT,
                paths::project_settings(pid),
                Some(json!({"auto_narrative": false})),
            ),
            (Method::GET, paths::links(pid, "page", "x"), None),
        ]
    };
    // Outsider: 404 everywhere.
    for (method, path, body) in routes() {
        let err = error_of(
            app.as_(&w.eve).call(method, &path, body).await,
            StatusCode::NOT_FOUND,
        )
        .await;
        assert_eq!(err["message"], "Project not found", "{path}");
    }
    // Service keys, whatever their scopes: user-only routes.
    let key = w.key(json!(["knowledge:read", "knowledge:write"])).await;
    for (method, path, body) in routes() {
        let err = error_of(
            app.call(Some(&key), method, &path, body).await,
            StatusCode::FORBIDDEN,
        )
        .await;
        assert_eq!(err["code"], "service_key_not_allowed", "{path}");
    }
    // A captured-session reader and the platform admin read but do not write.
    app.push_new(&w.eve, "ses_0123456789abcdef", "work on app")
        .await;
    for user in [&w.eve, &root] {
        for (method, path, body) in routes() {
            let res = app.as_(user).call(method.clone(), &path, body).await;
            if method == Method::GET {
                json_of(res, StatusCode::OK).await;
            } else {
                let err = error_of(res, StatusCode::FORBIDDEN).await;
                assert_eq!(err["code"], "project_edit_forbidden", "{path}");
            }
        }
    }
    assert_eq!(app.count("wiki_page_revisions").await, 1);
    // The member writes.
    json_of(
        app.as_(&w.bob)
            .put(&paths::page(pid, "a/b"), json!({"content": "z"}))
            .await,
        StatusCode::OK,
    )
    .await;
}

#[tokio::test]
async fn compile_writes_concept_pages_with_backlinks_and_drops_dead_ones() {
    let app = TestApp::spawn().await;
    let w = app.world().await;
    let pid = w.project.as_str();
    let cluster = [
        "The rate limiter budget for uploads lives in src/upload/limits.rs and resets hourly",
        "Search requests consume the rate limiter budget twice when snippets are on (v2 api)",
        "Operators raise the rate limiter budget with SFS_RATE_LIMIT=240 in the env file",
        "Service keys each get their own rate limiter budget since release 0.9 shipped",
        "A 429 answer means the rate limiter budget ran out; clients back off 60 seconds",
        "Tests disable the rate limiter budget through config.rate_limit_per_minute = 0",
    ];
    let mut ids = Vec::new();
    let add = |content: String, session: String| {
        let app = &app;
        let alice = &w.alice;
        async move {
            let body = json!({"content": content, "entry_type": "pattern", "confidence": 0.9, "session_id": session});
            let added = json_of(
                app.as_(alice)
                    .post(&paths::project_entries_add(pid), body)
                    .await,
                StatusCode::CREATED,
            )
            .await;
            assert_eq!(added["claim_class"], "claim", "{added}");
            added["id"].as_i64().unwrap()
        }
    };
    for (i, c) in cluster.iter().enumerate() {
        ids.push(add(c.to_string(), format!("c{i}")).await);
    }
    for i in 0..9 {
        add(
            format!("Filler detail {i} recorded in notes/{i}.md for later review by someone"),
            format!("f{i}"),
        )
        .await;
    }
    let compiled = json_of(
        app.as_(&w.alice)
            .post_empty(&paths::project_compile(pid))
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(compiled["entries_compiled"], 15);
    assert_eq!(compiled["concept_pages_updated"], 2);

    // The slug holds a slash; the client percent-encodes it, both spellings answer.
    let page = json_of(
        app.as_(&w.alice)
            .get(&paths::page(pid, "concept/rate-limiter-budget"))
            .await,
        StatusCode::OK,
    )
    .await;
    let encoded = json_of(
        app.as_(&w.alice)
            .get(&paths::page(pid, "concept%2Frate-limiter-budget"))
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(page, encoded);
    assert_eq!(
        (page["page_type"].clone(), page["auto_generated"].clone()),
        (json!("concept"), json!(true))
    );
    assert_eq!(page["title"], "Rate Limiter Budget");
    assert_eq!(page["entry_count"], 6);
    assert!(page["id"].as_str().unwrap().starts_with("page_"));
    let sources: Vec<i64> = page["backlinks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            assert_eq!(
                (l["source_type"].clone(), l["link_type"].clone()),
                (json!("entry"), json!("contributes"))
            );
            l["source_id"].as_str().unwrap().parse().unwrap()
        })
        .collect();
    assert_eq!(sources, ids);
    let links = json_of(
        app.as_(&w.bob)
            .get(&paths::links(pid, "page", page["id"].as_str().unwrap()))
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(links.as_array().unwrap().len(), 6);
    let regenerated = json_of(
        app.as_(&w.alice)
            .post_empty(&paths::page_regenerate(pid, "concept/rate-limiter-budget"))
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(regenerated["entries_used"], 6);

    // Every entry behind a concept dismissed: the next compile deletes its page.
    for id in &ids {
        json_of(
            app.as_(&w.alice)
                .put(&paths::project_entry(pid, &id.to_string()), json!({}))
                .await,
            StatusCode::OK,
        )
        .await;
    }
    add(
        "One more pattern: handlers call exactly one domain function (src/api)".into(),
        "x".into(),
    )
    .await;
    let compiled = json_of(
        app.as_(&w.alice)
            .post_empty(&paths::project_compile(pid))
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(compiled["concept_pages_updated"], 1);
    error_of(
        app.as_(&w.alice)
            .get(&paths::page(pid, "concept/rate-limiter-budget"))
            .await,
        StatusCode::NOT_FOUND,
    )
    .await;
}

/// Provenance on a page write: a persona of the project and a ticket the writer created are
/// accepted and recorded in the revision; a ticket somebody else created (and the writer never
/// started or resolved) is 422.
#[tokio::test]
async fn page_provenance_names_a_real_persona_and_the_writers_ticket() {
    let app = TestApp::spawn().await;
    let w = app.world().await;
    let pid = w.project.as_str();
    json_of(
        app.as_(&w.alice)
            .post(
                &paths::personas(pid),
                json!({"name": "atlas", "role": "reviewer"}),
            )
            .await,
        StatusCode::CREATED,
    )
    .await;
    let ticket = json_of(
        app.as_(&w.alice)
            .post(&paths::tickets(pid), json!({"title": "document the API"}))
            .await,
        StatusCode::CREATED,
    )
    .await;
    let tid = ticket["id"].as_str().unwrap();
    let page = paths::page(pid, "guides/api");
    json_of(
        app.as_(&w.alice)
            .put(
                &page,
                json!({"content": "# API", "persona_name": "ATLAS", "ticket_id": tid}),
            )
            .await,
        StatusCode::OK,
    )
    .await;
    let history = json_of(
        app.as_(&w.alice)
            .get(&paths::page_history(pid, "guides/api"))
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(history["revisions"][0]["ticket_id"], tid);
    assert!(history["revisions"][0]["persona_name"]
        .as_str()
        .unwrap()
        .eq_ignore_ascii_case("atlas"));
    let err = error_of(
        app.as_(&w.bob)
            .put(&page, json!({"content": "# API v2", "ticket_id": tid}))
            .await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert_eq!(
        err["message"],
        format!("Ticket '{tid}' was not created, resolved or started by you")
    );
}
