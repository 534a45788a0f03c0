//! Compile (02 §3.6): compile and its no-op, rebuild, history, compile status, health, context
//! sections, time-driven steps with a moving clock, the standing matrix and scopes, and the
//! admin restore from a compilation (03 §4.2).

use chrono::Duration;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::common::{error_of, json_of, paths, TestApp, User};

/// Adds a claim (confident, long and specific), asserting 201; returns its id.
async fn claim(app: &TestApp, user: &User, pid: &str, entry_type: &str, content: &str) -> i64 {
    let body = json!({
        "content": content,
        "entry_type": entry_type,
        "confidence": 0.9,
        "session_id": format!("ses_{}", content.len()),
    });
    let added = json_of(
        app.as_(user)
            .post(&paths::project_entries_add(pid), body)
            .await,
        StatusCode::CREATED,
    )
    .await;
    assert_eq!(added["claim_class"], "claim", "{added}");
    added["id"].as_i64().unwrap()
}

const DECISION: &str =
    "We store sessions in SQLite (data/sessions.db) in WAL mode with synchronous=FULL";
const BUG: &str =
    "The importer at src/import.rs drops the last message when a file ends without newline";

#[tokio::test]
async fn compile_noop_history_status_health_and_sections() {
    let app = TestApp::spawn().await;
    let w = app.world().await;
    let pid = w.project.as_str();
    let d = claim(&app, &w.alice, pid, "decision", DECISION).await;
    claim(&app, &w.bob, pid, "bug", BUG).await;

    // Before: two pending claims, compile due, no history.
    let status = json_of(
        app.as_(&w.alice)
            .get(&paths::project_compile_status(pid))
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(status["pending_claims"], 2);
    assert_eq!(status["compile_needed"], true);
    assert_eq!(status["compile_schedule"], "nightly");
    assert_eq!(status["last_compile_at"], Value::Null);
    assert_eq!(status["next_scheduled_at"], Value::Null);
    assert_eq!(status["compile_history"], json!([]));

    // The CLI sends no body.
    let first = json_of(
        app.as_(&w.alice)
            .post_empty(&paths::project_compile(pid))
            .await,
        StatusCode::OK,
    )
    .await;
    assert!(first["id"].as_i64().unwrap() > 0);
    assert_eq!(first["entries_compiled"], 2);
    assert_eq!(first["trigger"], "manual");
    assert_eq!(first["merge"], "deterministic");
    assert_eq!(first["merge_note"], Value::Null);
    assert_eq!(first["noop_reason"], Value::Null);
    assert_eq!(first["section_pages_updated"], 2);
    assert_eq!(first["concept_pages_updated"], 0);
    let after = first["context_after"].as_str().unwrap();
    assert!(
        after.contains(&format!(
            "## Key Decisions\n<!-- Choices made and why. -->\n- {DECISION}"
        )),
        "{after}"
    );
    assert!(
        after.contains(&format!("## Known Issues & Workarounds\n- {BUG}")),
        "{after}"
    );
    assert!(after.contains("## Recent Changes\n### "), "{after}");
    assert_eq!(
        first["context_words_after"].as_i64().unwrap(),
        after.split_whitespace().count() as i64
    );
    let entry = json_of(
        app.as_(&w.alice)
            .get(&paths::project_entry(pid, &d.to_string()))
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(entry["compiled_count"], 1);
    assert_eq!(entry["compiled_at"], first["compiled_at"]);

    // Nothing pending: the no-op, with `{}` and with `null` alike.
    for body in [json!({}), Value::Null] {
        let noop = json_of(
            app.as_(&w.alice)
                .call(Method::POST, &paths::project_compile(pid), Some(body))
                .await,
            StatusCode::OK,
        )
        .await;
        assert_eq!(noop["id"], 0);
        assert_eq!(noop["entries_compiled"], 0);
        assert_eq!(noop["context_before"], Value::Null);
        assert_eq!(noop["context_after"], Value::Null);
        assert_eq!(noop["compiled_at"], first["compiled_at"]);
        assert_eq!(noop["noop_reason"], "no pending claims");
        assert_eq!(noop["context_words_before"], first["context_words_after"]);
        assert_eq!(noop["section_pages_updated"], 2);
    }

    // An LLM key with nothing pending: no model is asked (compile_llm.rs tests the merge).
    let llm = json_of(
        app.as_(&w.alice)
            .post(
                &paths::project_compile(pid),
                json!({"llm_api_key": "sk-test", "model": "m"}),
            )
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(llm["merge"], "deterministic");
    assert_eq!(llm["id"], 0);
    assert_eq!(llm["merge_note"], Value::Null);

    // History: one compilation (no-ops write none), newest first, with word counts.
    let history = json_of(
        app.as_(&w.bob).get(&paths::project_compilations(pid)).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(history.as_array().unwrap().len(), 1);
    assert_eq!(history[0]["id"], first["id"]);
    assert_eq!(
        history[0]["context_words_after"],
        first["context_words_after"]
    );
    assert_eq!(history[0]["section_pages_updated"], 0);
    for bad in ["0", "101", "x"] {
        let res = app
            .as_(&w.alice)
            .get(&paths::query(
                &paths::project_compilations(pid),
                &format!("limit={bad}"),
            ))
            .await;
        error_of(res, StatusCode::UNPROCESSABLE_ENTITY).await;
    }

    let status = json_of(
        app.as_(&w.alice)
            .get(&paths::project_compile_status(pid))
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(status["pending_claims"], 0);
    assert_eq!(status["compile_needed"], false);
    assert_eq!(status["last_compile_at"], first["compiled_at"]);
    assert_eq!(status["compile_history"][0]["entries_compiled"], 2);

    let health = json_of(
        app.as_(&w.alice).get(&paths::project_health(pid)).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(health["project_id"], pid);
    assert_eq!(health["total_entries"], 2);
    assert_eq!(health["pending_entries"], 0);
    assert_eq!(health["compiled_entries"], 2);
    assert_eq!(health["total_compilations"], 1);
    assert_eq!(health["last_compiled"], first["compiled_at"]);
    assert_eq!(health["potentially_stale"], false);
    assert_eq!(
        health["word_count"].as_i64().unwrap(),
        after.split_whitespace().count() as i64
    );

    // Sections: the slug of a heading; the template's comment-only sections are skipped.
    let section = json_of(
        app.as_(&w.alice)
            .get(&paths::context_section(pid, "known_issues_workarounds"))
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(section["title"], "Known Issues Workarounds");
    assert_eq!(section["content"], format!("- {BUG}"));
    assert_eq!(section["source_entries"][0]["compile_id"], first["id"]);
    assert_eq!(section["source_entries"][0]["created_by_user_id"], w.bob.id);
    let miss = error_of(
        app.as_(&w.alice)
            .get(&paths::context_section(pid, "overview"))
            .await,
        StatusCode::NOT_FOUND,
    )
    .await;
    assert_eq!(miss["message"], "Error");
    assert_eq!(miss["details"]["error"], "Section 'overview' not found");
    let slugs = miss["details"]["available_slugs"].as_array().unwrap();
    assert!(slugs.contains(&json!("key_decisions")) && !slugs.contains(&json!("overview")));

    // Section pages were written by the compile.
    let pages = json_of(
        app.as_(&w.alice).get(&paths::pages(pid)).await,
        StatusCode::OK,
    )
    .await;
    let mut slugs: Vec<&str> = pages
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["slug"].as_str().unwrap())
        .collect();
    slugs.sort();
    assert_eq!(slugs, ["key-decisions", "known-issues"]);
    assert!(pages
        .as_array()
        .unwrap()
        .iter()
        .all(|p| p["auto_generated"] == true && p["page_type"] == "section"));

    // Rebuild: every active claim again, from an empty document.
    let rebuilt = json_of(
        app.as_(&w.alice)
            .post_empty(&paths::project_rebuild(pid))
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(rebuilt["project_id"], pid);
    assert_eq!(rebuilt["entries_compiled"], 2);
    assert_eq!(rebuilt["section_pages_updated"], 2);
    let project = json_of(
        app.as_(&w.alice).get(&paths::project(pid)).await,
        StatusCode::OK,
    )
    .await;
    let doc = project["context_document"].as_str().unwrap();
    assert!(doc.starts_with(&format!("# Project Context\n\n## Known Issues & Workarounds\n- {BUG}\n\n## Key Decisions\n- {DECISION}")), "{doc}");
    assert!(!doc.contains("## Overview"), "{doc}");
    assert_eq!(
        rebuilt["context_words"].as_i64().unwrap(),
        doc.split_whitespace().count() as i64
    );
}

#[tokio::test]
async fn notes_give_a_noop_that_says_why() {
    let app = TestApp::spawn().await;
    let w = app.world().await;
    let res = app
        .as_(&w.alice)
        .post(
            &paths::project_entries_add(&w.project),
            json!({"content": "a short note about caching", "confidence": 0.5}),
        )
        .await;
    assert_eq!(
        json_of(res, StatusCode::CREATED).await["claim_class"],
        "note"
    );
    let noop = json_of(
        app.as_(&w.alice)
            .post_empty(&paths::project_compile(&w.project))
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(noop["id"], 0);
    let reason = noop["noop_reason"].as_str().unwrap();
    assert!(
        reason.starts_with("1 notes uncompiled — notes do not auto-promote"),
        "{reason}"
    );
    let health = json_of(
        app.as_(&w.alice)
            .get(&paths::project_health(&w.project))
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(health["uncompiled_notes"], 1);
    assert!(health["recommendations"]
        .as_array()
        .unwrap()
        .iter()
        .any(|r| r.as_str().unwrap().contains("bulk-promote")));
}

#[tokio::test]
async fn time_moves_freshness_decay_and_the_status() {
    let app = TestApp::spawn().await;
    let w = app.world().await;
    let pid = w.project.as_str();
    let bug = claim(&app, &w.alice, pid, "bug", BUG).await;
    json_of(
        app.as_(&w.alice)
            .post_empty(&paths::project_compile(pid))
            .await,
        StatusCode::OK,
    )
    .await;

    // A claim added, then a day passes: the compile is due.
    claim(&app, &w.alice, pid, "decision", DECISION).await;
    app.clock().advance(Duration::hours(25));
    let status = json_of(
        app.as_(&w.alice)
            .get(&paths::project_compile_status(pid))
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(
        (
            status["pending_claims"].clone(),
            status["compile_needed"].clone()
        ),
        (json!(1), json!(true))
    );

    // 100 days on: the bug (30-day window) is stale, and idle for 90 days it decays once.
    app.clock().advance(Duration::days(100));
    json_of(
        app.as_(&w.alice)
            .post_empty(&paths::project_compile(pid))
            .await,
        StatusCode::OK,
    )
    .await;
    let entry = json_of(
        app.as_(&w.alice)
            .get(&paths::project_entry(pid, &bug.to_string()))
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(entry["freshness_class"], "stale");
    assert!(
        (entry["confidence"].as_f64().unwrap() - 0.72).abs() < 1e-9,
        "{entry}"
    );
    // Ten days later: not decayed again (once per 30 days).
    app.clock().advance(Duration::days(10));
    json_of(
        app.as_(&w.alice)
            .post_empty(&paths::project_compile(pid))
            .await,
        StatusCode::OK,
    )
    .await;
    let entry = json_of(
        app.as_(&w.alice)
            .get(&paths::project_entry(pid, &bug.to_string()))
            .await,
        StatusCode::OK,
    )
    .await;
    assert!(
        (entry["confidence"].as_f64().unwrap() - 0.72).abs() < 1e-9,
        "{entry}"
    );
    let health = json_of(
        app.as_(&w.alice).get(&paths::project_health(pid)).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(health["stale_entry_count"], 1);
}

#[tokio::test]
async fn standing_scopes_and_tenancy() {
    let app = TestApp::spawn().await;
    let w = app.world().await;
    let pid = w.project.as_str();
    claim(&app, &w.alice, pid, "decision", DECISION).await;
    let root = app.user("root").tier("admin").create().await;
    let reads = [
        paths::project_compilations(pid),
        paths::project_compile_status(pid),
        paths::project_health(pid),
    ];
    let writes = [paths::project_compile(pid), paths::project_rebuild(pid)];
    let section = paths::context_section(pid, "key_decisions");

    // The outsider: 404 "Project not found" on every route.
    for path in reads.iter().chain(writes.iter()).chain([&section]) {
        let method = if writes.contains(path) {
            Method::POST
        } else {
            Method::GET
        };
        let res = app.as_(&w.eve).call(method, path, None).await;
        assert_eq!(
            error_of(res, StatusCode::NOT_FOUND).await["message"],
            "Project not found",
            "{path}"
        );
    }
    assert_eq!(app.count("context_compilations").await, 0);

    // A reader through a captured session reads, but may not compile.
    app.push_new(&w.eve, "ses_0123456789abcdef", "work on app")
        .await;
    for path in &writes {
        let err = error_of(
            app.as_(&w.eve).post_empty(path).await,
            StatusCode::FORBIDDEN,
        )
        .await;
        assert_eq!(err["code"], "project_edit_forbidden");
    }
    for path in reads.iter().chain([&section]) {
        let res = app.as_(&w.eve).get(path).await;
        assert_ne!(res.status(), StatusCode::FORBIDDEN, "{path}");
    }
    // The platform admin reads any project but is no editor of it.
    json_of(app.as_(&root).get(&reads[2]).await, StatusCode::OK).await;
    let err = error_of(
        app.as_(&root).post_empty(&writes[0]).await,
        StatusCode::FORBIDDEN,
    )
    .await;
    assert_eq!(err["code"], "project_edit_forbidden");
    assert_eq!(app.count("context_compilations").await, 0);

    // Org member and org admin compile; the owner too.
    json_of(app.as_(&w.bob).post_empty(&writes[0]).await, StatusCode::OK).await;
    json_of(
        app.as_(&w.carol).post_empty(&writes[1]).await,
        StatusCode::OK,
    )
    .await;
    json_of(
        app.as_(&w.alice).post_empty(&writes[0]).await,
        StatusCode::OK,
    )
    .await;

    // Service keys: `knowledge:read` reaches the sections only; every other route is user-only.
    let reader = w.key(json!(["knowledge:read"])).await;
    let writer = w.key(json!(["knowledge:write"])).await;
    json_of(
        app.call(Some(&reader), Method::GET, &section, None).await,
        StatusCode::OK,
    )
    .await;
    let err = error_of(
        app.call(Some(&writer), Method::GET, &section, None).await,
        StatusCode::FORBIDDEN,
    )
    .await;
    assert_eq!(err["details"]["error"], "insufficient_scope");
    for path in &writes {
        let err = error_of(
            app.call(Some(&writer), Method::POST, path, None).await,
            StatusCode::FORBIDDEN,
        )
        .await;
        assert_eq!(err["code"], "service_key_not_allowed");
    }
    for path in &reads {
        let err = error_of(
            app.call(Some(&reader), Method::GET, path, None).await,
            StatusCode::FORBIDDEN,
        )
        .await;
        assert_eq!(err["code"], "service_key_not_allowed");
    }
    // A key of another org, and a key whose allowlist leaves the project out.
    let foreign = w.foreign_key(json!(["knowledge:read"])).await;
    let err = error_of(
        app.call(Some(&foreign), Method::GET, &section, None).await,
        StatusCode::FORBIDDEN,
    )
    .await;
    assert_eq!(err["details"]["error"], "cross_org_denied");
    let narrow = w.key_of_another_project(json!(["knowledge:read"])).await;
    let err = error_of(
        app.call(Some(&narrow), Method::GET, &section, None).await,
        StatusCode::FORBIDDEN,
    )
    .await;
    assert_eq!(err["details"]["error"], "project_not_in_allowlist");
}

#[tokio::test]
async fn admin_restores_a_compilation() {
    let app = TestApp::spawn().await;
    let w = app.world().await;
    let pid = w.project.as_str();
    let root = app.user("root").tier("admin").create().await;
    let d = claim(&app, &w.alice, pid, "decision", DECISION).await;
    let first = json_of(
        app.as_(&w.alice)
            .post_empty(&paths::project_compile(pid))
            .await,
        StatusCode::OK,
    )
    .await;
    let cid = first["id"].as_i64().unwrap();
    let restore = paths::restore_from_compilation(pid);

    // Someone rewrites the document and recompiles from scratch.
    json_of(
        app.as_(&w.alice)
            .put(
                &paths::project_context("acme/app"),
                json!({"context_document": "# gone"}),
            )
            .await,
        StatusCode::OK,
    )
    .await;
    app.clock().advance(Duration::hours(1));
    json_of(
        app.as_(&w.alice)
            .post_empty(&paths::project_rebuild(pid))
            .await,
        StatusCode::OK,
    )
    .await;

    // Only a platform admin.
    let err = error_of(
        app.as_(&w.alice)
            .post(&restore, json!({"compilation_id": cid}))
            .await,
        StatusCode::FORBIDDEN,
    )
    .await;
    assert_eq!(err["message"], "Admin access required");
    // Bad input.
    for bad in [
        json!({}),
        json!({"compilation_id": true}),
        json!({"compilation_id": "1"}),
        json!({"compilation_id": 0}),
        json!({"compilation_id": 1.5}),
    ] {
        let err = error_of(
            app.as_(&root).post(&restore, bad).await,
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
        assert_eq!(err["message"], "compilation_id must be a positive integer");
    }
    let err = error_of(
        app.as_(&root)
            .post(&restore, json!({"compilation_id": cid, "dry_run": "no"}))
            .await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert_eq!(err["message"], "dry_run must be a boolean");
    let err = error_of(
        app.as_(&root)
            .post(
                &paths::restore_from_compilation("proj_0000000000000000"),
                json!({"compilation_id": cid}),
            )
            .await,
        StatusCode::NOT_FOUND,
    )
    .await;
    assert_eq!(err["message"], "Project proj_0000000000000000 not found");
    let err = error_of(
        app.as_(&root)
            .post(&restore, json!({"compilation_id": 999}))
            .await,
        StatusCode::NOT_FOUND,
    )
    .await;
    assert_eq!(
        err["message"],
        format!("Compilation 999 not found in project {pid}")
    );

    // A dry run (the default) answers and writes nothing.
    let audited = app.count("admin_actions").await;
    let dry = json_of(
        app.as_(&root)
            .post(&restore, json!({"compilation_id": cid}))
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(dry["dry_run"], true);
    assert_eq!(dry["compiled_at"], first["compiled_at"]);
    assert_eq!(dry["entries_compiled_at_restored"], 1);
    assert_eq!(dry["context_words_restored"], first["context_words_after"]);
    assert_eq!(app.count("admin_actions").await, audited);

    let done = json_of(
        app.as_(&root)
            .post(&restore, json!({"compilation_id": cid, "dry_run": false}))
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(
        (done["project_id"].as_str(), done["compilation_id"].as_i64()),
        (Some(pid), Some(cid))
    );
    assert_eq!(app.count("admin_actions").await, audited + 1);
    let project = json_of(
        app.as_(&w.alice).get(&paths::project(pid)).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(project["context_document"], first["context_after"]);
    let entry = json_of(
        app.as_(&w.alice)
            .get(&paths::project_entry(pid, &d.to_string()))
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(entry["compiled_at"], first["compiled_at"]);
}
