//! Projects and knowledge entries: every route, its errors, the standing matrix, the
//! service-key boundary, routing precedence, and tenancy (an outsider gets 404).

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::common::paths;
use crate::common::{error_of, json_of, TestApp};

const CONTENT: &str = "The parser in src/parse.rs rejects tabs in keys since v2.3";

#[test]
fn remote_normalization_table() {
    use sessionfs_server::domain::git_remote::normalize;
    for (input, want) in [
        (
            "git@github.com:SessionFS/sessionfs.git",
            "sessionfs/sessionfs",
        ),
        (
            "https://github.com/SessionFS/sessionfs.git",
            "sessionfs/sessionfs",
        ),
        (
            "ssh://git@gitlab.example.com:2222/group/sub/repo.git",
            "group/sub/repo",
        ),
        ("HTTPS://GitLab.example.com/Group/Repo/", "group/repo"),
        ("alice@box:~/app", "alice@box:~/app"),
        ("group/repo.git", "group/repo"),
        ("deploy@gitlab.example.com:group/repo", "group/repo"),
        ("ssh://box/~/app", "ssh://box/~/app"),
        ("box:/srv/app", "box:/srv/app"),
        ("https://git.sr.ht/~alice/app", "~alice/app"),
        ("git+ssh://git@host/a/b.GIT", "a/b"),
        ("  /home/dev/App.git/  ", "/home/dev/app"),
        ("c:/repo", "c:/repo"),
        ("", ""),
    ] {
        assert_eq!(normalize(input), want, "{input}");
    }
}

#[tokio::test]
async fn create_get_context_rename_delete() {
    let app = TestApp::spawn().await;
    let [alice, bob, carol, eve] = app.users(["alice", "bob", "carol", "eve"]).await;
    let acme = app.as_(&alice).org("acme");
    let org = acme.member(&bob).admin(&carol).create().await.id;
    let p = app
        .as_(&alice)
        .create_project("git@github.com:Acme/App.git", Some(&org))
        .await;
    let id = p["id"].as_str().unwrap();
    assert!(id.starts_with("proj_") && id.len() == 21);
    assert_eq!(p["git_remote_normalized"], "acme/app");
    assert_eq!(p["compile_schedule"], "nightly");
    assert!(p["context_document"]
        .as_str()
        .unwrap()
        .starts_with("# Project Context"));
    assert!(p["repos"].is_null());

    // Every form of the remote, the raw URL, %2F and the id find it.
    for path in [
        "acme/app",
        "https://github.com/acme/app.git",
        "acme%2Fapp",
        id,
    ] {
        let got = json_of(
            app.as_(&bob).get(&paths::project(path)).await,
            StatusCode::OK,
        )
        .await;
        assert_eq!(got["id"], id, "{path}");
        assert_eq!(got["repos"][0]["git_remote_normalized"], "acme/app");
        assert_eq!(got["repos"][0]["is_primary"], true);
        assert_eq!(got["groups"], json!([]));
    }
    let err = error_of(
        app.as_(&bob).get(&paths::project("acme/other")).await,
        StatusCode::NOT_FOUND,
    )
    .await;
    assert_eq!(err["message"], "No project context found");

    // Duplicate remote, blank and reclaimed remotes.
    let dup = app
        .as_(&bob)
        .post(
            paths::PROJECTS,
            json!({"name": "x", "git_remote_normalized": "https://github.com/ACME/app"}),
        )
        .await;
    assert_eq!(
        error_of(dup, StatusCode::CONFLICT).await["message"],
        "Project already exists for this repository"
    );
    for remote in ["  ", "reclaimed:acme/app"] {
        let res = app
            .as_(&bob)
            .post(
                paths::PROJECTS,
                json!({"name": "x", "git_remote_normalized": remote}),
            )
            .await;
        error_of(res, StatusCode::UNPROCESSABLE_ENTITY).await;
    }
    let res = app
        .as_(&eve)
        .post(
            paths::PROJECTS,
            json!({"name": "x", "git_remote_normalized": "eve/x", "org_id": org}),
        )
        .await;
    assert_eq!(
        error_of(res, StatusCode::FORBIDDEN).await["message"],
        "You are not a member of the requested org"
    );

    // Context: members edit; the size is in characters.
    let res = app
        .as_(&bob)
        .put(
            &paths::project_context("acme/app"),
            json!({"context_document": "# Ctx — ü"}),
        )
        .await;
    assert_eq!(
        json_of(res, StatusCode::OK).await,
        json!({"status": "updated", "size": 9})
    );
    let got = json_of(
        app.as_(&alice).get(&paths::project("acme/app")).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(got["context_document"], "# Ctx — ü");
    let res = app
        .as_(&bob)
        .put(
            &paths::project_context("nobody/app"),
            json!({"context_document": "x"}),
        )
        .await;
    error_of(res, StatusCode::NOT_FOUND).await;
    let big = "x".repeat(1024 * 1024 + 1);
    let res = app
        .as_(&bob)
        .put(
            &paths::project_context("acme/app"),
            json!({"context_document": big}),
        )
        .await;
    error_of(res, StatusCode::PAYLOAD_TOO_LARGE).await;

    // Rename: owner and org admin; a member is refused; names are cleaned.
    let path = paths::project(id);
    let res = app.as_(&bob).patch(&path, json!({"name": "B"})).await;
    error_of(res, StatusCode::FORBIDDEN).await;
    let res = app
        .as_(&carol)
        .patch(&path, json!({"name": " <b>App</b> 2 "}))
        .await;
    let renamed = json_of(res, StatusCode::OK).await;
    assert_eq!(renamed["name"], "App 2");
    assert!(renamed["repos"].is_array());
    let res = app
        .as_(&alice)
        .patch(&path, json!({"name": "<i></i>"}))
        .await;
    error_of(res, StatusCode::UNPROCESSABLE_ENTITY).await;

    // List: members see it; the outsider does not.
    let list = json_of(app.as_(&bob).get(paths::PROJECTS).await, StatusCode::OK).await;
    assert_eq!(list.as_array().unwrap().len(), 1);
    assert_eq!(list[0]["can_edit"], true);
    assert_eq!(list[0]["can_admin"], false);
    let list = json_of(app.as_(&eve).get(paths::PROJECTS).await, StatusCode::OK).await;
    assert_eq!(list, json!([]));

    // Delete: org admins do not qualify; the owner does, and the project is gone.
    let res = app.as_(&carol).delete(&path).await;
    assert_eq!(
        error_of(res, StatusCode::FORBIDDEN).await["message"],
        "Only the project owner or an admin can delete this project"
    );
    let res = app.as_(&alice).delete(&path).await;
    assert_eq!(
        json_of(res, StatusCode::OK).await,
        json!({"status": "deleted", "id": id})
    );
    error_of(app.as_(&alice).get(&path).await, StatusCode::NOT_FOUND).await;
}

#[tokio::test]
async fn standing_matrix_and_tenancy() {
    let app = TestApp::spawn().await;
    let [alice, bob, carol, eve] = app.users(["alice", "bob", "carol", "eve"]).await;
    let acme = app.as_(&alice).org("acme");
    let org = acme.member(&bob).admin(&carol).create().await.id;
    let p = app.as_(&alice).create_project("acme/app", Some(&org)).await;
    let id = p["id"].as_str().unwrap().to_string();
    let entries = paths::project_entries(&id);

    // The outsider gets 404 on every project route.
    for (method, path, body) in [
        (Method::GET, paths::project(&id), None),
        (Method::GET, paths::project("acme/app"), None),
        (
            Method::PUT,
            paths::project_context("acme/app"),
            Some(json!({"context_document": "x"})),
        ),
        (
            Method::PATCH,
            paths::project(&id),
            Some(json!({"name": "x"})),
        ),
        (Method::DELETE, paths::project(&id), None),
        (Method::GET, entries.clone(), None),
        (Method::GET, format!("{entries}/1"), None),
        (
            Method::POST,
            format!("{entries}/add"),
            Some(json!({"content": CONTENT})),
        ),
        (Method::PUT, format!("{entries}/1"), Some(json!({}))),
    ] {
        let res = app.as_(&eve).call(method.clone(), &path, body).await;
        error_of(res, StatusCode::NOT_FOUND).await;
    }

    // A user with a session on the remote reads and contributes but does not edit.
    app.as_(&eve)
        .push_new("ses_0123456789abcdef", "work on app")
        .await;
    let got = json_of(
        app.as_(&eve).get(&paths::project(&id)).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(got["can_edit"], false);
    let list = json_of(app.as_(&eve).get(paths::PROJECTS).await, StatusCode::OK).await;
    assert_eq!(list[0]["session_count"], 1);
    let res = app
        .as_(&eve)
        .put(
            &paths::project_context("acme/app"),
            json!({"context_document": "x"}),
        )
        .await;
    assert_eq!(
        error_of(res, StatusCode::FORBIDDEN).await["code"],
        "project_edit_forbidden"
    );
    let added = json_of(
        app.as_(&eve)
            .post(
                &format!("{entries}/add"),
                json!({"content": CONTENT, "confidence": 0.95}),
            )
            .await,
        StatusCode::CREATED,
    )
    .await;
    assert_eq!(added["confidence"], 0.7);
    assert_eq!(added["claim_class"], "note");
    assert!(added["tip"].is_string());
    let res = app
        .as_(&eve)
        .put(&format!("{entries}/{}", added["id"]), json!({}))
        .await;
    assert_eq!(
        error_of(res, StatusCode::FORBIDDEN).await["code"],
        "project_edit_forbidden"
    );
    let res = app.as_(&eve).post(&format!("{entries}/add"), json!({"content": "an upsert by a reader of the project", "upsert": true, "entity_ref": "x"})).await;
    assert_eq!(
        error_of(res, StatusCode::FORBIDDEN).await["code"],
        "project_edit_forbidden"
    );

    // A platform admin reads and deletes anything.
    let admin = app.signup("root@example.com").await;
    app.set_tier(&admin, "admin").await;
    let got = json_of(
        app.as_(&admin).get(&paths::project(&id)).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(got["can_delete"], true);
    assert_eq!(got["can_edit"], false);

    // Service keys: user-only routes refuse them; scopes and the boundary decide the rest.
    let reader = app
        .as_(&alice)
        .mint_key(&org, json!(["knowledge:read"]), Value::Null)
        .await;
    let res = app
        .call(Some(&reader), Method::GET, &paths::project(&id), None)
        .await;
    assert_eq!(
        error_of(res, StatusCode::FORBIDDEN).await["code"],
        "service_key_not_allowed"
    );
    json_of(
        app.call(Some(&reader), Method::GET, &entries, None).await,
        StatusCode::OK,
    )
    .await;
    let res = app
        .call(
            Some(&reader),
            Method::POST,
            &format!("{entries}/add"),
            Some(json!({"content": CONTENT})),
        )
        .await;
    let err = error_of(res, StatusCode::FORBIDDEN).await;
    assert_eq!(err["details"]["error"], "insufficient_scope");
    assert_eq!(err["details"]["required"], json!(["knowledge:write"]));

    let writer = app
        .as_(&alice)
        .mint_key(&org, json!(["knowledge:write"]), Value::Null)
        .await;
    let added = json_of(app.call(Some(&writer), Method::POST, &format!("{entries}/add"), Some(json!({"content": "Deploys run from .github/workflows/deploy.yml on tag push", "session_id": "ses_x"}))).await,
        StatusCode::CREATED).await;
    assert_eq!(added["author_class"], "agent");
    assert_eq!(added["claim_class"], "claim");

    // Allowlist and another org.
    let listed = app
        .as_(&alice)
        .mint_key(
            &org,
            json!(["knowledge:read"]),
            json!(["proj_0000000000000000"]),
        )
        .await;
    let err = error_of(
        app.call(Some(&listed), Method::GET, &entries, None).await,
        StatusCode::FORBIDDEN,
    )
    .await;
    assert_eq!(err["details"]["error"], "project_not_in_allowlist");
    assert_eq!(err["details"]["requested_project_id"], id.as_str());
    let other = json_of(
        app.as_(&eve)
            .post(paths::ORG, json!({"name": "Evil", "slug": "evil"}))
            .await,
        StatusCode::OK,
    )
    .await;
    let foreign = app
        .as_(&eve)
        .mint_key(
            other["org_id"].as_str().unwrap(),
            json!(["knowledge:read"]),
            Value::Null,
        )
        .await;
    let err = error_of(
        app.call(Some(&foreign), Method::GET, &entries, None).await,
        StatusCode::FORBIDDEN,
    )
    .await;
    assert_eq!(err["details"]["error"], "cross_org_denied");
    assert_eq!(err["details"]["project_org_id"], org.as_str());
    // A personal project is outside every org.
    let personal = app.as_(&alice).create_project("alice/solo", None).await;
    let path = paths::project_entries(personal["id"].as_str().unwrap());
    let err = error_of(
        app.call(Some(&reader), Method::GET, &path, None).await,
        StatusCode::FORBIDDEN,
    )
    .await;
    assert_eq!(err["details"]["error"], "cross_org_denied");
    assert_eq!(err["details"]["project_org_id"], Value::Null);
}

#[tokio::test]
async fn routing_precedence_sends_sub_resource_names_to_the_sub_resource() {
    let app = TestApp::spawn().await;
    let alice = app.signup("alice@example.com").await;
    app.as_(&alice).create_project("acme/entries", None).await;
    // `acme/entries` is the entries route of a project `acme`.
    let err = error_of(
        app.as_(&alice).get(&paths::project_entries("acme")).await,
        StatusCode::NOT_FOUND,
    )
    .await;
    assert_eq!(err["message"], "Project not found");
    // Percent-encoded, it is one segment and reaches the remote lookup.
    let got = json_of(
        app.as_(&alice).get(&paths::project("acme%2Fentries")).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(got["git_remote_normalized"], "acme/entries");
    // PUT on the catch-all must end in /context.
    let res = app
        .as_(&alice)
        .put(&paths::project("acme/x/y"), json!({"context_document": ""}))
        .await;
    error_of(res, StatusCode::METHOD_NOT_ALLOWED).await;
}

#[tokio::test]
async fn entries_add_list_get_dismiss() {
    let app = TestApp::spawn().await;
    let alice = app.signup("alice@example.com").await;
    let p = app.as_(&alice).create_project("acme/app", None).await;
    let entries = paths::project_entries(p["id"].as_str().unwrap());
    let add_path = format!("{entries}/add");
    let add = |body: Value| app.as_(&alice).post(&add_path, body);

    // Validation in the contract's order and words.
    let err = error_of(
        add(json!({"content": CONTENT, "entry_type": "idea"})).await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert_eq!(err["message"], "Invalid entry_type. Must be one of: decision, pattern, discovery, convention, bug, dependency");
    let err = error_of(
        add(json!({"content": "too short"})).await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert_eq!(
        err["message"],
        "Content too short — minimum 20 characters required"
    );
    error_of(
        add(json!({"content": "x ".repeat(30_000)})).await,
        StatusCode::PAYLOAD_TOO_LARGE,
    )
    .await;
    error_of(
        add(json!({"content": CONTENT, "upsert": true})).await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    error_of(add(json!({})).await, StatusCode::UNPROCESSABLE_ENTITY).await;

    let first = json_of(add(json!({"content": CONTENT, "entry_type": "bug", "confidence": 0.9, "entity_ref": "parser"})).await, StatusCode::CREATED).await;
    assert_eq!(first["claim_class"], "claim");
    assert_eq!(first["freshness_class"], "current");
    assert_eq!(first["upserted_from"], json!([]));
    let err = error_of(add(json!({"content": CONTENT})).await, StatusCode::CONFLICT).await;
    assert_eq!(err["message"], "Similar entry already exists");
    // Upsert by entity_ref replaces the active entry.
    let second = json_of(add(json!({"content": "The parser now accepts tabs in keys after the 2.4 fix", "upsert": true,
        "entity_ref": "parser", "confidence": 0.9})).await, StatusCode::CREATED).await;
    assert_eq!(second["upserted_from"], json!([first["id"]]));
    let old = json_of(
        app.as_(&alice)
            .get(&format!("{entries}/{}", first["id"]))
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(old["dismissed"], true);
    assert_eq!(old["superseded_by"], second["id"]);
    for i in 0..3 {
        add(json!({"content": format!("Convention number {i}: modules named after tables {}", "q".repeat(i + 1)),
            "entry_type": "convention", "confidence": 0.5 + 0.1 * i as f64})).await;
    }

    // Get: integer ids only; entries of other projects are not found.
    error_of(
        app.as_(&alice).get(&format!("{entries}/abc")).await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert_eq!(
        error_of(
            app.as_(&alice).get(&format!("{entries}/9999")).await,
            StatusCode::NOT_FOUND
        )
        .await["message"],
        "Entry not found"
    );

    // List: filters, sort, keyset and offset pagination.
    let res = app.as_(&alice).get(&format!("{entries}?limit=2")).await;
    let cursor = res.headers()["x-next-cursor"].to_str().unwrap().to_string();
    let page = json_of(res, StatusCode::OK).await;
    assert_eq!(page.as_array().unwrap().len(), 2);
    assert_eq!(cursor, page[1]["id"].to_string());
    let res = app
        .as_(&alice)
        .get(&format!("{entries}?limit=2&cursor={cursor}"))
        .await;
    assert!(res.headers().get("x-next-cursor").is_some());
    let next = json_of(res, StatusCode::OK).await;
    assert!(next[0]["id"].as_i64().unwrap() < cursor.parse::<i64>().unwrap());
    let offset = json_of(
        app.as_(&alice)
            .get(&format!("{entries}?limit=2&page=2"))
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(offset, next);
    let res = app.as_(&alice).get(&format!("{entries}?limit=50")).await;
    assert!(res.headers().get("x-next-cursor").is_none());
    let convs = json_of(
        app.as_(&alice)
            .get(&format!("{entries}?type=convention&sort=confidence_desc"))
            .await,
        StatusCode::OK,
    )
    .await;
    let conf: Vec<f64> = convs
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["confidence"].as_f64().unwrap())
        .collect();
    assert_eq!(conf.len(), 3);
    assert!(conf.windows(2).all(|w| w[0] >= w[1]));
    let dismissed = json_of(
        app.as_(&alice)
            .get(&format!("{entries}?dismissed=true"))
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(dismissed.as_array().unwrap().len(), 1);
    for bad in [
        "search=ab",
        "claim_class=x",
        "freshness_class=x",
        "sort=x",
        "limit=0",
        "limit=201",
        "cursor=5&sort=confidence_desc",
        "author_class=robot",
    ] {
        error_of(
            app.as_(&alice).get(&format!("{entries}?{bad}")).await,
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
    }
    // A search records retrieval; `used_in_answer` marks relevance.
    let found = json_of(
        app.as_(&alice)
            .get(&format!("{entries}?search=TABS%20in"))
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(found.as_array().unwrap().len(), 2);
    let e = json_of(
        app.as_(&alice)
            .get(&format!("{entries}/{}", second["id"]))
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(e["retrieved_count"], 1);
    json_of(
        app.as_(&alice)
            .get(&format!("{entries}?search=tabs&used_in_answer=true"))
            .await,
        StatusCode::OK,
    )
    .await;
    let e = json_of(
        app.as_(&alice)
            .get(&format!("{entries}/{}", second["id"]))
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(e["used_in_answer_count"], 1);
    assert!(e["last_relevant_at"].is_string());
    let literal = json_of(
        app.as_(&alice)
            .get(&format!("{entries}?source_filter=%25"))
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(literal, json!([]));

    // Dismiss / undismiss.
    let path = format!("{entries}/{}", second["id"]);
    let d = json_of(app.as_(&alice).put(&path, json!({})).await, StatusCode::OK).await;
    assert_eq!(d["dismissed"], true);
    assert_eq!(d["dismissed_by"], alice.id.as_str());
    let first_at = d["dismissed_at"].clone();
    let d = json_of(
        app.as_(&alice)
            .put(&path, json!({"dismissed": true, "reason": " dup "}))
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(d["dismissed_reason"], "dup");
    assert_eq!(d["dismissed_at"], first_at);
    let d = json_of(
        app.as_(&alice)
            .put(&path, json!({"dismissed": false}))
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(d["dismissed"], false);
    assert!(d["dismissed_at"].is_null() && d["dismissed_reason"].is_null());
    let res = app
        .as_(&alice)
        .put(&path, json!({"reason": "x".repeat(501)}))
        .await;
    error_of(res, StatusCode::UNPROCESSABLE_ENTITY).await;
    error_of(
        app.as_(&alice)
            .put(&format!("{entries}/1.5"), json!({}))
            .await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
}
