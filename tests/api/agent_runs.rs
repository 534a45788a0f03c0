//! Agent runs (02 §7): create, list with filters, get, start with the compiled context,
//! complete with the policy and exit code, cancel; the run machine's refusals; the actor rule
//! (`project_edit_forbidden`); tenancy, scopes and the plan; concurrent completes of one run.

use std::sync::Arc;

use chrono::Duration;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::common::{add_persona, assert_invalid_field, error_of, json_of, paths, TestApp, User};

/// `key` records a run with `body`, asserting 201.
async fn run(app: &TestApp, key: &str, project: &str, body: Value) -> Value {
    json_of(
        app.call(
            Some(key),
            Method::POST,
            &paths::agent_runs(project),
            Some(body),
        )
        .await,
        StatusCode::CREATED,
    )
    .await
}

/// The ids of the runs `user` lists at `path`, in order.
async fn ids(app: &TestApp, user: &User, path: String) -> Vec<String> {
    let body = json_of(app.as_(user).get(&path).await, StatusCode::OK).await;
    body.as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap().to_string())
        .collect()
}

fn id(v: &Value) -> &str {
    v["id"].as_str().unwrap()
}

#[tokio::test]
async fn create_list_get_and_validation() {
    let app = TestApp::spawn().await;
    app.clock().set(app.clock().now());
    let w = app
        .world_with()
        .persona("Atlas", "You design APIs.")
        .create()
        .await;
    let (b, p) = (&w.bob.key, w.project.as_str());

    let created = run(
        &app,
        b,
        p,
        json!({"persona_name": "atlas", "trigger_source": "CI", "ci_provider": "github",
               "ci_run_url": "https://ci.example/1", "trigger_ref": "refs/heads/main",
               "fail_on": "high", "prompt": "Review the diff", "triggered_by_persona": "scribe",
               "context_refs": [" docs/a.md ", "", "42"]}),
    )
    .await;
    assert!(id(&created).starts_with("run_"));
    assert_eq!(id(&created).len(), 20);
    let expected = json!({
        "id": created["id"], "project_id": p, "persona_name": "Atlas", "tool": "generic",
        "trigger_source": "ci", "status": "queued", "ticket_id": null,
        "trigger_ref": "refs/heads/main", "ci_provider": "github",
        "ci_run_url": "https://ci.example/1", "result_summary": null, "severity": null,
        "findings_count": 0, "findings": [], "fail_on": "high", "policy_result": null,
        "exit_code": null, "session_id": null, "triggered_by_user_id": w.bob.id,
        "triggered_by_persona": "scribe", "replayed_from": null, "prompt": "Review the diff",
        "context_refs": ["docs/a.md", "42"], "actor_type": "user", "service_key_id": null,
        "service_key_name": null, "created_at": app.clock().now_string(), "started_at": null,
        "completed_at": null, "duration_seconds": null,
    });
    assert_eq!(created, expected);
    let got = json_of(
        app.as_(&w.alice)
            .get(&paths::agent_run(p, id(&created)))
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(got, created);

    // Refusals: 422 for every bad field, nothing written.
    let before = app.count("agent_runs").await;
    let err = app
        .refused(
            b,
            Method::POST,
            &paths::agent_runs(p),
            Some(json!({"persona_name": "nobody"})),
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
    assert_eq!(
        err["message"],
        "Persona 'nobody' not found or inactive in this project."
    );
    let err = app
        .refused(
            b,
            Method::POST,
            &paths::agent_runs(p),
            Some(json!({"persona_name": "atlas", "ticket_id": "tk_0000000000000000"})),
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
    assert_eq!(
        err["message"],
        "Ticket 'tk_0000000000000000' not found in this project."
    );
    let many: Vec<String> = (0..51).map(|i| format!("ref{i}")).collect();
    for (body, field) in [
        (json!({}), "persona_name"),
        (json!({"persona_name": "two words"}), "persona_name"),
        (json!({"persona_name": "a".repeat(51)}), "persona_name"),
        (
            json!({"persona_name": "atlas", "trigger_source": "cron"}),
            "trigger_source",
        ),
        (
            json!({"persona_name": "atlas", "ci_provider": "travis"}),
            "ci_provider",
        ),
        (
            json!({"persona_name": "atlas", "fail_on": "urgent"}),
            "fail_on",
        ),
        (
            json!({"persona_name": "atlas", "tool": "t".repeat(51)}),
            "tool",
        ),
        (
            json!({"persona_name": "atlas", "ticket_id": "t".repeat(65)}),
            "ticket_id",
        ),
        (
            json!({"persona_name": "atlas", "trigger_ref": "r".repeat(201)}),
            "trigger_ref",
        ),
        (
            json!({"persona_name": "atlas", "prompt": "p".repeat(20_001)}),
            "prompt",
        ),
        (
            json!({"persona_name": "atlas", "context_refs": many}),
            "context_refs",
        ),
        (
            json!({"persona_name": "atlas", "context_refs": ["c".repeat(501)]}),
            "context_refs",
        ),
        (
            json!({"persona_name": "atlas", "prompt": "echo ${{ secrets.TOKEN }}"}),
            "prompt",
        ),
        (
            json!({"persona_name": "atlas", "trigger_ref": "${{ github.ref }}"}),
            "trigger_ref",
        ),
        (
            json!({"persona_name": "atlas", "context_refs": ["${{ x }}"]}),
            "context_refs",
        ),
        (
            json!({"persona_name": "atlas", "context_refs": "one"}),
            "context_refs",
        ),
    ] {
        let err = app
            .refused(
                b,
                Method::POST,
                &paths::agent_runs(p),
                Some(body.clone()),
                StatusCode::UNPROCESSABLE_ENTITY,
            )
            .await;
        assert_invalid_field(&err, field, &body);
    }
    assert_eq!(app.count("agent_runs").await, before);

    // The list: newest first, with its filters.
    add_persona(&app, &w.alice, p, "scribe", "You write docs.").await;
    app.clock().advance(Duration::seconds(1));
    let second = run(
        &app,
        b,
        p,
        json!({"persona_name": "SCRIBE", "trigger_source": "api"}),
    )
    .await;
    assert_eq!(second["persona_name"], "scribe");
    app.clock().advance(Duration::seconds(1));
    let third = run(&app, &w.alice.key, p, json!({"persona_name": "atlas"})).await;
    json_of(
        app.as_(&w.alice)
            .post_empty(&paths::agent_run_cancel(p, id(&third)))
            .await,
        StatusCode::OK,
    )
    .await;
    let list = |query: &str| ids(&app, &w.bob, paths::query(&paths::agent_runs(p), query));
    let (c, s, t) = (
        id(&created).to_string(),
        id(&second).to_string(),
        id(&third).to_string(),
    );
    assert_eq!(list("").await, vec![t.clone(), s.clone(), c.clone()]);
    assert_eq!(list("persona_name=Atlas").await, vec![t.clone(), c.clone()]);
    assert_eq!(list("persona_name=atlas").await, Vec::<String>::new());
    assert_eq!(list("status=cancelled").await, vec![t.clone()]);
    assert_eq!(list("status=queued").await, vec![s.clone(), c.clone()]);
    assert_eq!(list("trigger_source=ci").await, vec![c.clone()]);
    assert_eq!(
        list("trigger_source=api&status=queued").await,
        vec![s.clone()]
    );
    assert_eq!(list("limit=1").await, vec![t.clone()]);
    assert_eq!(
        list("ticket_id=tk_0000000000000000").await,
        Vec::<String>::new()
    );
    for query in [
        "limit=0",
        "limit=201",
        "limit=x",
        "status=done",
        "trigger_source=cron",
    ] {
        let path = paths::query(&paths::agent_runs(p), query);
        let err = app
            .refused(
                b,
                Method::GET,
                &path,
                None,
                StatusCode::UNPROCESSABLE_ENTITY,
            )
            .await;
        assert_eq!(err["details"]["errors"][0]["loc"][0], "query", "{query}");
    }

    // A run is found only through its own project.
    let other = w.other_project().await;
    let other = other.as_str();
    for path in [
        paths::agent_run(other, &c),
        paths::agent_run(p, "run_0000000000000000"),
    ] {
        let err = app
            .refused(b, Method::GET, &path, None, StatusCode::NOT_FOUND)
            .await;
        assert_eq!(err["message"], "Agent run not found");
    }
    for path in [
        paths::agent_run_start(other, &c),
        paths::agent_run_complete(other, &c),
        paths::agent_run_cancel(other, &c),
    ] {
        let err = app
            .refused(
                b,
                Method::POST,
                &path,
                Some(json!({})),
                StatusCode::NOT_FOUND,
            )
            .await;
        assert_eq!(err["message"], "Agent run not found");
    }
}

#[tokio::test]
async fn start_complete_cancel_the_machine_and_the_policy() {
    let app = TestApp::spawn().await;
    app.clock().set(app.clock().now());
    let w = app
        .world_with()
        .persona("Atlas", "You design APIs.")
        .create()
        .await;
    let (b, p) = (&w.bob.key, w.project.as_str());

    // Start: no body, `{}` and `null` alike; the context is the persona, then the project's
    // context document.
    let mut started = Vec::new();
    for body in [None, Some(json!({})), Some(Value::Null)] {
        let r = run(
            &app,
            b,
            p,
            json!({"persona_name": "atlas", "fail_on": "high"}),
        )
        .await;
        let res = app
            .call(
                Some(b),
                Method::POST,
                &paths::agent_run_start(p, id(&r)),
                body,
            )
            .await;
        let s = json_of(res, StatusCode::OK).await;
        assert_eq!(s["run"]["status"], "running");
        assert_eq!(s["run"]["started_at"], app.clock().now_string());
        assert_eq!(s["run"]["id"], r["id"]);
        let context = s["compiled_context"].as_str().unwrap();
        assert!(
            context.starts_with("# You are Atlas — Backend Architect\n\nYou design APIs.\n---\n\n# Project Context\n"),
            "{context}"
        );
        started.push(r);
    }
    let r = &started[0];
    let err = app
        .refused(
            b,
            Method::POST,
            &paths::agent_run_start(p, id(r)),
            None,
            StatusCode::CONFLICT,
        )
        .await;
    assert_eq!(
        err["message"],
        "Cannot start agent run: current status is 'running', expected 'queued'."
    );

    // Complete: severity at the threshold fails a passed run; duration counts from the start.
    app.clock().advance(Duration::seconds(90));
    let done = json_of(
        app.as_(&w.bob)
            .post(
                &paths::agent_run_complete(p, id(r)),
                json!({"severity": "high", "result_summary": "two issues", "session_id": "ses_1",
                       "findings": [{"file": "a.rs", "line": 3}, {"title": "x"}]}),
            )
            .await,
        StatusCode::OK,
    )
    .await;
    for (field, value) in [
        ("status", json!("failed")),
        ("policy_result", json!("fail")),
        ("exit_code", json!(1)),
        ("severity", json!("high")),
        ("findings_count", json!(2)),
        (
            "findings",
            json!([{"file": "a.rs", "line": 3}, {"title": "x"}]),
        ),
        ("result_summary", json!("two issues")),
        ("session_id", json!("ses_1")),
        ("duration_seconds", json!(90)),
        ("completed_at", json!(app.clock().now_string())),
    ] {
        assert_eq!(done[field], value, "{field}");
    }
    let err = app
        .refused(
            b,
            Method::POST,
            &paths::agent_run_complete(p, id(r)),
            Some(json!({})),
            StatusCode::CONFLICT,
        )
        .await;
    assert_eq!(
        err["message"],
        "Cannot complete agent run: current status is 'failed' (already terminal)."
    );
    let err = app
        .refused(
            b,
            Method::POST,
            &paths::agent_run_cancel(p, id(r)),
            None,
            StatusCode::CONFLICT,
        )
        .await;
    assert_eq!(
        err["message"],
        "Cannot cancel agent run: current status is 'failed' (already terminal)."
    );
    let err = app
        .refused(
            b,
            Method::POST,
            &paths::agent_run_start(p, id(r)),
            None,
            StatusCode::CONFLICT,
        )
        .await;
    assert_eq!(
        err["message"],
        "Cannot start agent run: current status is 'failed', expected 'queued'."
    );

    // Below the threshold it passes; the default body is a pass with severity none.
    let below = json_of(
        app.as_(&w.bob)
            .post(
                &paths::agent_run_complete(p, id(&started[1])),
                json!({"severity": "medium"}),
            )
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(
        (
            &below["status"],
            &below["policy_result"],
            &below["exit_code"]
        ),
        (&json!("passed"), &json!("pass"), &json!(0))
    );
    let plain = json_of(
        app.as_(&w.bob)
            .post(&paths::agent_run_complete(p, id(&started[2])), json!({}))
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(
        (&plain["status"], &plain["severity"], &plain["exit_code"]),
        (&json!("passed"), &json!("none"), &json!(0))
    );

    // A queued run completes too (errored always fails); it never started, so no duration.
    let queued = run(&app, b, p, json!({"persona_name": "atlas"})).await;
    for (body, field) in [
        (json!({"status": "cancelled"}), "status"),
        (json!({"status": "bogus"}), "status"),
        (json!({"severity": "huge"}), "severity"),
        (json!({"findings": [1]}), "findings"),
        (json!({"findings": {"a": 1}}), "findings"),
    ] {
        let err = app
            .refused(
                b,
                Method::POST,
                &paths::agent_run_complete(p, id(&queued)),
                Some(body.clone()),
                StatusCode::UNPROCESSABLE_ENTITY,
            )
            .await;
        assert_eq!(
            err["details"]["errors"][0]["loc"],
            json!(["body", field]),
            "{body}"
        );
    }
    app.refused(
        b,
        Method::POST,
        &paths::agent_run_complete(p, id(&queued)),
        None,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    let errored = json_of(
        app.as_(&w.bob)
            .post(
                &paths::agent_run_complete(p, id(&queued)),
                json!({"status": "ERRORED"}),
            )
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(
        (
            &errored["status"],
            &errored["policy_result"],
            &errored["exit_code"]
        ),
        (&json!("errored"), &json!("fail"), &json!(1))
    );
    assert_eq!(errored["duration_seconds"], Value::Null);

    // Cancel: queued or running, then terminal.
    for start_first in [false, true] {
        let c = run(&app, b, p, json!({"persona_name": "atlas"})).await;
        if start_first {
            json_of(
                app.as_(&w.bob)
                    .post_empty(&paths::agent_run_start(p, id(&c)))
                    .await,
                StatusCode::OK,
            )
            .await;
        }
        let cancelled = json_of(
            app.as_(&w.bob)
                .post_empty(&paths::agent_run_cancel(p, id(&c)))
                .await,
            StatusCode::OK,
        )
        .await;
        assert_eq!(
            (
                &cancelled["status"],
                &cancelled["policy_result"],
                &cancelled["exit_code"]
            ),
            (&json!("cancelled"), &json!("pass"), &json!(0))
        );
        assert_eq!(cancelled["completed_at"], app.clock().now_string());
        let err = app
            .refused(
                b,
                Method::POST,
                &paths::agent_run_cancel(p, id(&c)),
                None,
                StatusCode::CONFLICT,
            )
            .await;
        assert_eq!(
            err["message"],
            "Cannot cancel agent run: current status is 'cancelled' (already terminal)."
        );
        app.refused(
            b,
            Method::POST,
            &paths::agent_run_complete(p, id(&c)),
            Some(json!({})),
            StatusCode::CONFLICT,
        )
        .await;
    }

    // The tool's budget cuts the context; `tool` on start overrides the stored tool.
    add_persona(&app, &w.alice, p, "verbose", &"Be thorough. ".repeat(3_000)).await;
    let long = run(
        &app,
        b,
        p,
        json!({"persona_name": "verbose", "tool": "claude-code"}),
    )
    .await;
    let s = json_of(
        app.as_(&w.bob)
            .post_empty(&paths::query(
                &paths::agent_run_start(p, id(&long)),
                "tool=cursor",
            ))
            .await,
        StatusCode::OK,
    )
    .await;
    let context = s["compiled_context"].as_str().unwrap();
    assert!(context.chars().count() <= 16_000);
    assert!(
        context.ends_with("[… context truncated to fit the tool's budget]"),
        "{}",
        &context[context.len() - 80..]
    );
    assert_eq!(s["run"]["tool"], "claude-code");

    // The stranding guard: a queued run keeps its persona from being deleted or deactivated,
    // unless forced; a run whose persona is gone cannot start, and stays queued.
    add_persona(&app, &w.alice, p, "temp", "Temporary.").await;
    let stranded = run(&app, b, p, json!({"persona_name": "temp"})).await;
    let err = error_of(
        app.as_(&w.alice).delete(&paths::persona(p, "TEMP")).await,
        StatusCode::CONFLICT,
    )
    .await;
    assert_eq!(
        err["message"],
        "Persona 'temp' is still assigned to 0 non-terminal ticket(s), 1 queued/running agent run(s) \
         and 0 pending handoff(s). Reassign them first, or pass force=true to leave them stranded."
    );
    error_of(
        app.as_(&w.alice)
            .put(&paths::persona(p, "temp"), json!({"is_active": false}))
            .await,
        StatusCode::CONFLICT,
    )
    .await;
    let still = json_of(
        app.as_(&w.alice).get(&paths::persona(p, "temp")).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(
        (&still["is_active"], &still["version"]),
        (&json!(true), &json!(1))
    );
    let res = app
        .as_(&w.alice)
        .delete(&paths::query(&paths::persona(p, "temp"), "force=true"))
        .await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    let err = app
        .refused(
            b,
            Method::POST,
            &paths::agent_run_start(p, id(&stranded)),
            None,
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
    assert_eq!(
        err["message"],
        "Persona 'temp' not found or inactive in this project."
    );
    let after = json_of(
        app.as_(&w.bob)
            .get(&paths::agent_run(p, id(&stranded)))
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(after["status"], "queued");
    // A finished run strands nothing.
    add_persona(&app, &w.alice, p, "short", "Brief.").await;
    let finished = run(&app, b, p, json!({"persona_name": "short"})).await;
    json_of(
        app.as_(&w.bob)
            .post_empty(&paths::agent_run_cancel(p, id(&finished)))
            .await,
        StatusCode::OK,
    )
    .await;
    let res = app.as_(&w.alice).delete(&paths::persona(p, "short")).await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
}

#[tokio::test]
async fn the_actor_rule_tenancy_scopes_and_the_plan() {
    let app = TestApp::spawn().await;
    let w = app
        .world_with()
        .persona("Atlas", "You design APIs.")
        .create()
        .await;
    let p = w.project.as_str();
    let bobs = run(&app, &w.bob.key, p, json!({"persona_name": "atlas"})).await;
    let routes = |r: &str| {
        vec![
            (
                Method::POST,
                paths::agent_runs(p),
                Some(json!({"persona_name": "atlas"})),
            ),
            (Method::GET, paths::agent_runs(p), None),
            (Method::GET, paths::agent_run(p, r), None),
            (Method::POST, paths::agent_run_start(p, r), None),
            (
                Method::POST,
                paths::agent_run_complete(p, r),
                Some(json!({})),
            ),
            (Method::POST, paths::agent_run_cancel(p, r), None),
        ]
    };

    // An outsider: 404 on every route, nothing written.
    let before = app.count("agent_runs").await;
    for (method, path, body) in routes(id(&bobs)) {
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
    assert_eq!(app.count("agent_runs").await, before);

    // A reader (captured session) records runs and moves their own, not anyone else's.
    app.push_new(&w.eve, "ses_0123456789abcdef", "work on app")
        .await;
    let eves = run(&app, &w.eve.key, p, json!({"persona_name": "atlas"})).await;
    json_of(
        app.as_(&w.eve).get(&paths::agent_run(p, id(&bobs))).await,
        StatusCode::OK,
    )
    .await;
    for (method, path, body) in routes(id(&bobs)).into_iter().skip(3) {
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
    let got = json_of(
        app.as_(&w.bob).get(&paths::agent_run(p, id(&bobs))).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(got["status"], "queued");
    json_of(
        app.as_(&w.eve)
            .post_empty(&paths::agent_run_start(p, id(&eves)))
            .await,
        StatusCode::OK,
    )
    .await;
    json_of(
        app.as_(&w.eve)
            .post(&paths::agent_run_complete(p, id(&eves)), json!({}))
            .await,
        StatusCode::OK,
    )
    .await;
    // An editor moves anyone's run.
    json_of(
        app.as_(&w.alice)
            .post_empty(&paths::agent_run_start(p, id(&bobs)))
            .await,
        StatusCode::OK,
    )
    .await;

    // Service keys: write records and completes; read lists; start and cancel are user-only.
    let write = w.key(json!(["agent_runs:write"])).await;
    let read = w.key(json!(["agent_runs:read"])).await;
    let by_key = run(
        &app,
        &write,
        p,
        json!({"persona_name": "atlas", "trigger_source": "ci"}),
    )
    .await;
    assert_eq!(by_key["actor_type"], "service_key");
    assert_eq!(by_key["service_key_name"], "bot");
    assert!(by_key["service_key_id"].is_string());
    assert_eq!(by_key["triggered_by_user_id"], w.alice.id.as_str());
    json_of(
        app.call(
            Some(&write),
            Method::POST,
            &paths::agent_run_complete(p, id(&bobs)),
            Some(json!({"status": "failed"})),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    json_of(
        app.call(Some(&read), Method::GET, &paths::agent_runs(p), None)
            .await,
        StatusCode::OK,
    )
    .await;
    json_of(
        app.call(
            Some(&read),
            Method::GET,
            &paths::agent_run(p, id(&by_key)),
            None,
        )
        .await,
        StatusCode::OK,
    )
    .await;
    for (key, method, path, body, scope) in [
        (
            &read,
            Method::POST,
            paths::agent_runs(p),
            Some(json!({"persona_name": "atlas"})),
            "agent_runs:write",
        ),
        (
            &read,
            Method::POST,
            paths::agent_run_complete(p, id(&by_key)),
            Some(json!({})),
            "agent_runs:write",
        ),
        (
            &write,
            Method::GET,
            paths::agent_runs(p),
            None,
            "agent_runs:read",
        ),
        (
            &write,
            Method::GET,
            paths::agent_run(p, id(&by_key)),
            None,
            "agent_runs:read",
        ),
    ] {
        let err = app
            .refused(key, method, &path, body, StatusCode::FORBIDDEN)
            .await;
        assert_eq!(err["details"]["error"], "insufficient_scope");
        assert_eq!(err["details"]["required"], json!([scope]));
    }
    for path in [
        paths::agent_run_start(p, id(&by_key)),
        paths::agent_run_cancel(p, id(&by_key)),
    ] {
        let err = app
            .refused(&write, Method::POST, &path, None, StatusCode::FORBIDDEN)
            .await;
        assert_eq!(err["code"], "service_key_not_allowed");
    }
    // Another org's key with both scopes: cross_org_denied on every route that takes keys.
    let foreign = w
        .foreign_key(json!(["agent_runs:read", "agent_runs:write"]))
        .await;
    for (method, path, body) in routes(id(&by_key)) {
        if path.ends_with("/start") || path.ends_with("/cancel") {
            continue;
        }
        let err = app
            .refused(&foreign, method.clone(), &path, body, StatusCode::FORBIDDEN)
            .await;
        assert_eq!(
            err["details"]["error"], "cross_org_denied",
            "{method} {path}"
        );
    }
    let after = json_of(
        app.as_(&w.bob).get(&paths::agent_run(p, id(&by_key))).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(after["status"], "queued");

    // The plan: agent runs need the project's plan to be team or above.
    let frank = app.user("frank").tier("pro").create().await;
    let personal = app.as_(&frank).create_project("frank/app", None).await;
    let personal = personal["id"].as_str().unwrap().to_string();
    add_persona(&app, &frank, &personal, "solo", "Alone.").await;
    let rid = "run_0000000000000000";
    for (method, path, body) in [
        (
            Method::POST,
            paths::agent_runs(&personal),
            Some(json!({"persona_name": "solo"})),
        ),
        (Method::GET, paths::agent_runs(&personal), None),
        (Method::GET, paths::agent_run(&personal, rid), None),
        (Method::POST, paths::agent_run_start(&personal, rid), None),
        (
            Method::POST,
            paths::agent_run_complete(&personal, rid),
            Some(json!({})),
        ),
        (Method::POST, paths::agent_run_cancel(&personal, rid), None),
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
            err["message"], "This feature requires the project's plan to be team or above.",
            "{method} {path}"
        );
        assert_eq!(err["details"]["error"], "upgrade_required");
        assert_eq!(err["details"]["feature"], "agent_runs");
        assert_eq!(err["details"]["current_tier"], "pro");
        assert_eq!(err["details"]["required_tier"], "team");
        assert_eq!(err["details"]["plan_scope"], "project");
    }
}

/// Two completes of one running run, released together by a barrier: exactly one lands, the
/// other is told the run is already terminal, and the stored result is the winner's. 100 times.
#[tokio::test]
async fn concurrent_completes_of_one_run() {
    let app = Arc::new(TestApp::spawn_with(|c| c.rate_limit_per_minute = 0).await);
    let w = app
        .world_with()
        .persona("Atlas", "You design APIs.")
        .create()
        .await;
    let p = w.project.clone();
    let key = w.key(json!(["agent_runs:write"])).await;
    for round in 0..100 {
        let r = run(&app, &w.bob.key, &p, json!({"persona_name": "atlas"})).await;
        json_of(
            app.as_(&w.bob)
                .post_empty(&paths::agent_run_start(&p, id(&r)))
                .await,
            StatusCode::OK,
        )
        .await;
        let barrier = Arc::new(tokio::sync::Barrier::new(2));
        let path = paths::agent_run_complete(&p, id(&r));
        let racers = [
            (
                w.bob.key.clone(),
                json!({"status": "passed", "result_summary": "bob"}),
            ),
            (
                key.clone(),
                json!({"status": "errored", "result_summary": "bot"}),
            ),
        ]
        .map(|(k, body)| {
            let (app, barrier, path) = (app.clone(), barrier.clone(), path.clone());
            tokio::spawn(async move {
                let req = app.request(Method::POST, &path, Some(&k)).json(&body);
                barrier.wait().await;
                let res = req.send().await.unwrap();
                let status = res.status();
                (status, res.json::<Value>().await.unwrap())
            })
        });
        let mut answers = Vec::new();
        for racer in racers {
            answers.push(racer.await.unwrap());
        }
        let won: Vec<&Value> = answers
            .iter()
            .filter(|(s, _)| *s == StatusCode::OK)
            .map(|(_, b)| b)
            .collect();
        let lost: Vec<&Value> = answers
            .iter()
            .filter(|(s, _)| *s == StatusCode::CONFLICT)
            .map(|(_, b)| b)
            .collect();
        assert_eq!(
            (won.len(), lost.len()),
            (1, 1),
            "round {round}: {answers:?}"
        );
        let winner = won[0];
        let message = lost[0]["error"]["message"].as_str().unwrap();
        assert_eq!(
            message,
            format!(
                "Cannot complete agent run: current status is '{}' (already terminal).",
                winner["status"].as_str().unwrap()
            ),
            "round {round}"
        );
        let stored = json_of(
            app.as_(&w.bob).get(&paths::agent_run(&p, id(&r))).await,
            StatusCode::OK,
        )
        .await;
        assert_eq!(&stored, winner, "round {round}");
    }
}

/// The real client (`sfs persona …`, `sfs agent …`) in a git checkout of the project:
/// `tests/e2e/personas_agents.py` runs every command and checks what it prints and what the
/// server then holds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_real_client_drives_personas_and_agent_runs() {
    const TEST: &str = "the_real_client_drives_personas_and_agent_runs";
    let Some(client) = crate::common::client::sfs_client(TEST) else {
        return;
    };
    let root = crate::common::client::repo_root();
    let app = TestApp::spawn().await;
    let [alice, bob] = app.users(["alice", "bob"]).await;
    let org = app.as_(&alice).org("acme").member(&bob).create().await.id;
    app.as_(&alice).create_project("acme/app", None).await;
    let dir = tempfile::tempdir().unwrap();
    let checkout = dir.path().join("app");
    std::fs::create_dir_all(&checkout).unwrap();
    for git in [
        vec!["init", "-q"],
        vec!["remote", "add", "origin", "git@github.com:Acme/App.git"],
    ] {
        let status = std::process::Command::new("git")
            .args(&git)
            .current_dir(&checkout)
            .env("HOME", dir.path())
            .status()
            .expect("run git");
        assert!(status.success(), "git {git:?}");
    }
    let output = tokio::process::Command::new(&client.python)
        .arg(root.join("tests/e2e/personas_agents.py"))
        .arg(&client.sfs)
        .args([&app.base, &alice.key])
        .arg(&checkout)
        .args([&org, &bob.email])
        .output()
        .await
        .expect("run tests/e2e/personas_agents.py");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.starts_with("ok steps="), "{stdout}");
}

/// A run names a ticket of its project: its start compiles the ticket too (the ticket's own
/// status untouched), and a ticket assigned to a persona keeps the persona from being deleted.
#[tokio::test]
async fn runs_of_tickets_and_the_tickets_a_persona_holds() {
    let app = TestApp::spawn().await;
    let w = app
        .world_with()
        .persona("Atlas", "You design APIs.")
        .create()
        .await;
    let (b, p) = (&w.bob.key, w.project.as_str());
    let ticket = json_of(
        app.as_(&w.bob)
            .post(
                &paths::tickets(p),
                json!({"title": "Fix the parser", "description": "Tabs break keys.",
                       "assigned_to": "atlas", "acceptance_criteria": ["tabs accepted"]}),
            )
            .await,
        StatusCode::CREATED,
    )
    .await;
    let tid = ticket["id"].as_str().unwrap();
    let r = run(
        &app,
        b,
        p,
        json!({"persona_name": "atlas", "ticket_id": tid}),
    )
    .await;
    assert_eq!(r["ticket_id"], tid);
    let listed = ids(
        &app,
        &w.bob,
        paths::query(&paths::agent_runs(p), &format!("ticket_id={tid}")),
    )
    .await;
    assert_eq!(listed, vec![id(&r).to_string()]);
    let s = json_of(
        app.as_(&w.bob)
            .post_empty(&paths::agent_run_start(p, id(&r)))
            .await,
        StatusCode::OK,
    )
    .await;
    let context = s["compiled_context"].as_str().unwrap();
    assert!(
        context.starts_with(
            "# You are Atlas — Backend Architect\n\nYou design APIs.\n---\n\n\
             # Current Ticket: Fix the parser\nKind: task\nPriority: medium\nStatus: open\n\n\
             ## Description\nTabs break keys.\n\n## Acceptance Criteria\n- [ ] tabs accepted\n---\n\n\
             # Project Context\n"
        ),
        "{context}"
    );
    let t = json_of(
        app.as_(&w.bob).get(&paths::ticket(p, tid)).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(t["status"], "open");
    json_of(
        app.as_(&w.bob)
            .post(&paths::agent_run_complete(p, id(&r)), json!({}))
            .await,
        StatusCode::OK,
    )
    .await;
    let err = error_of(
        app.as_(&w.alice).delete(&paths::persona(p, "atlas")).await,
        StatusCode::CONFLICT,
    )
    .await;
    assert!(
        err["message"]
            .as_str()
            .unwrap()
            .starts_with("Persona 'Atlas' is still assigned to 1 non-terminal ticket(s), 0 queued/running agent run(s)"),
        "{err}"
    );
}
