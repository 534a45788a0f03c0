//! Organizations: creation, invites on both paths (with UPSERT over stale rows), accept and
//! decline, roles per role, removal, the org tier reaching members, billing, admin minting.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use sessionfs_server::domain::tiers::Tier;

use crate::common::paths;
use crate::common::{error_of, json_of, TestApp};

#[tokio::test]
async fn create_and_read_an_org() {
    let app = TestApp::spawn().await;
    let alice = app.signup("alice@example.com").await;
    let empty = json_of(app.as_(&alice).get(paths::ORG).await, StatusCode::OK).await;
    assert_eq!(
        empty,
        json!({"org": null, "members": [], "current_user_role": null})
    );
    for bad in ["ab", "-acme", "Acme", "acme_co"] {
        let res = app
            .as_(&alice)
            .post(paths::ORG, json!({"name": "A", "slug": bad}))
            .await;
        error_of(res, StatusCode::UNPROCESSABLE_ENTITY).await;
    }
    let org = app.as_(&alice).create_org("acme").await.id;
    assert!(org.starts_with("org_"));
    let info = json_of(app.as_(&alice).get(paths::ORG).await, StatusCode::OK).await;
    assert_eq!(info["org"]["id"], org.as_str());
    assert_eq!(info["org"]["tier"], "enterprise");
    assert_eq!(info["org"]["seats_used"], 1);
    assert_eq!(info["current_user_role"], "owner");
    assert_eq!(info["members"][0]["email"], "alice@example.com");
    let me = json_of(app.as_(&alice).get(paths::ME).await, StatusCode::OK).await;
    assert_eq!(me["org_id"], org.as_str());
    assert_eq!(me["org_role"], "owner");

    let again = app
        .as_(&alice)
        .post(paths::ORG, json!({"name": "B", "slug": "bravo"}))
        .await;
    assert_eq!(
        error_of(again, StatusCode::CONFLICT).await["message"],
        "You are already a member of an organization"
    );
    let bob = app.signup("bob@example.com").await;
    let taken = app
        .as_(&bob)
        .post(paths::ORG, json!({"name": "B", "slug": "acme"}))
        .await;
    assert_eq!(
        error_of(taken, StatusCode::CONFLICT).await["message"],
        "Organization slug 'acme' is already taken"
    );
    let orgs = json_of(app.as_(&alice).get(paths::ORGS).await, StatusCode::OK).await;
    assert_eq!(
        orgs["orgs"],
        json!([{"org_id": org, "name": "Acme", "role": "owner"}])
    );

    let pro = TestApp::spawn_with(|c| c.default_tier = Tier::Pro).await;
    let carol = pro.signup("carol@example.com").await;
    let res = pro
        .as_(&carol)
        .post(paths::ORG, json!({"name": "C", "slug": "carols"}))
        .await;
    assert_eq!(
        error_of(res, StatusCode::FORBIDDEN).await["message"],
        "Organizations require Team tier or above."
    );
}

#[tokio::test]
async fn invites_accept_decline_and_upsert_over_stale() {
    let app = TestApp::spawn().await;
    let [alice, bob, carol, dave] = app.users(["alice", "bob", "carol", "dave"]).await;
    let acme = app.as_(&alice).create_org("acme").await;
    // A mixed-case address: the invite still reaches Bob.
    let inv = acme.invite_email("Bob@Example.com", None).await;
    app.as_(&bob)
        .accept(inv["invite_id"].as_str().unwrap())
        .await;
    let org = acme.id;

    // Bob is in; a second invite for him is refused.
    let res = app
        .as_(&alice)
        .post(
            &paths::org_invite(&org),
            json!({"email": "bob@example.com"}),
        )
        .await;
    assert_eq!(
        error_of(res, StatusCode::CONFLICT).await["message"],
        "This user is already a member"
    );
    let res = app
        .as_(&alice)
        .post(
            &paths::org_members_invite(&org),
            json!({"email": "carol@example.com", "role": "owner"}),
        )
        .await;
    assert_eq!(
        error_of(res, StatusCode::BAD_REQUEST).await["message"],
        "Role must be 'admin' or 'member'"
    );

    let first = json_of(
        app.as_(&alice)
            .post(
                &paths::org_invite(&org),
                json!({"email": "carol@example.com", "role": "admin"}),
            )
            .await,
        StatusCode::OK,
    )
    .await;
    let first_id = first["invite_id"].as_str().unwrap().to_string();
    let dup = app
        .as_(&alice)
        .post(paths::ORG_INVITE, json!({"email": "carol@example.com"}))
        .await;
    assert_eq!(
        error_of(dup, StatusCode::CONFLICT).await["message"],
        "An active invite already exists for this email"
    );

    let mine = json_of(app.as_(&carol).get(paths::MY_INVITES).await, StatusCode::OK).await;
    assert_eq!(mine["invites"][0]["invite_id"], first_id.as_str());
    assert_eq!(mine["invites"][0]["org_name"], "Acme");
    assert_eq!(mine["invites"][0]["invited_by_email"], "alice@example.com");
    let pending = json_of(
        app.as_(&alice).get(paths::ORG_INVITES).await,
        StatusCode::OK,
    )
    .await;
    let created_at = pending["invites"][0]["created_at"].clone();

    // Someone else cannot accept Carol's invite.
    let res = app
        .as_(&dave)
        .post_empty(&paths::invite_accept(&first_id))
        .await;
    assert_eq!(
        error_of(res, StatusCode::FORBIDDEN).await["message"],
        "This invite is for a different email address"
    );
    let res = app
        .as_(&carol)
        .post(
            &paths::invite_decline(&first_id),
            json!({"decline_reason": "not now"}),
        )
        .await;
    let declined = json_of(res, StatusCode::OK).await;
    assert!(declined["declined_at"].is_string());
    let res = app
        .as_(&carol)
        .post_empty(&paths::invite_accept(&first_id))
        .await;
    assert_eq!(
        error_of(res, StatusCode::BAD_REQUEST).await["message"],
        "Invite was declined"
    );

    // Re-inviting refreshes the stale row: a new id, the old one is dead, created_at is kept.
    let again = json_of(
        app.as_(&alice)
            .post(paths::ORG_INVITE, json!({"email": "carol@example.com"}))
            .await,
        StatusCode::OK,
    )
    .await;
    let new_id = again["invite_id"].as_str().unwrap().to_string();
    assert_ne!(new_id, first_id);
    let res = app
        .as_(&carol)
        .post_empty(&paths::invite_accept(&first_id))
        .await;
    assert_eq!(
        error_of(res, StatusCode::NOT_FOUND).await["message"],
        "Invite not found"
    );
    let pending = json_of(
        app.as_(&alice).get(paths::ORG_INVITES).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(pending["invites"][0]["id"], new_id.as_str());
    assert_eq!(pending["invites"][0]["created_at"], created_at);

    let resent = json_of(
        app.as_(&alice)
            .post_empty(&paths::invite_resend(&org, &new_id))
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(resent["sent"], false);
    let joined = json_of(
        app.as_(&carol)
            .post_empty(&paths::invite_accept(&new_id))
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(joined, json!({"org_id": org, "role": "member"}));
    let res = app
        .as_(&carol)
        .post_empty(&paths::invite_accept(&new_id))
        .await;
    assert_eq!(
        error_of(res, StatusCode::BAD_REQUEST).await["message"],
        "Invite already accepted"
    );
    let res = app
        .as_(&alice)
        .post_empty(&paths::invite_resend(&org, &new_id))
        .await;
    error_of(res, StatusCode::CONFLICT).await;

    // Revoking an invite deletes it.
    let inv = json_of(
        app.as_(&alice)
            .post(paths::ORG_INVITE, json!({"email": "dave@example.com"}))
            .await,
        StatusCode::OK,
    )
    .await;
    let id = inv["invite_id"].as_str().unwrap();
    let res = app.as_(&alice).delete(&paths::org_invite_by_id(id)).await;
    assert_eq!(json_of(res, StatusCode::OK).await["revoked"], id);
    let res = app.as_(&dave).post_empty(&paths::invite_accept(id)).await;
    error_of(res, StatusCode::NOT_FOUND).await;
    let bobs = app.as_(&bob).get(paths::ORG_INVITES).await;
    assert_eq!(
        error_of(bobs, StatusCode::FORBIDDEN).await["details"]["error"],
        "insufficient_role"
    );
}

#[tokio::test]
async fn roles_and_removal_keep_an_owner() {
    let app = TestApp::spawn().await;
    let [alice, bob] = app.users(["alice", "bob"]).await;
    let org = app.as_(&alice).org("acme").member(&bob).create().await.id;
    let outsider = app.signup("eve@example.com").await;

    // A member cannot administer.
    let res = app
        .as_(&bob)
        .post(paths::ORG_INVITE, json!({"email": "x@example.com"}))
        .await;
    let err = error_of(res, StatusCode::FORBIDDEN).await;
    assert_eq!(
        err["details"],
        json!({"error": "insufficient_role", "current_role": "member", "required_role": "admin"})
    );
    let res = app
        .as_(&outsider)
        .post(paths::ORG_INVITE, json!({"email": "x@example.com"}))
        .await;
    assert_eq!(
        error_of(res, StatusCode::FORBIDDEN).await["details"]["current_role"],
        "none"
    );
    let res = app
        .as_(&outsider)
        .post(&paths::org_invite(&org), json!({"email": "x@example.com"}))
        .await;
    assert_eq!(
        error_of(res, StatusCode::FORBIDDEN).await["message"],
        "Admin or owner role required"
    );
    let res = app.as_(&outsider).get(&paths::org_members(&org)).await;
    error_of(res, StatusCode::FORBIDDEN).await;
    let res = app
        .as_(&outsider)
        .get(&paths::org_members("org_doesnotexist0000"))
        .await;
    error_of(res, StatusCode::NOT_FOUND).await;
    let res = app
        .as_(&outsider)
        .put(
            &paths::org_member_role(&org, &bob.id),
            json!({"role": "admin"}),
        )
        .await;
    error_of(res, StatusCode::FORBIDDEN).await;

    // The owner promotes Bob; Bob (admin) still cannot touch the owner.
    let res = app
        .as_(&alice)
        .put(&paths::member_role(&bob.id), json!({"role": "admin"}))
        .await;
    assert_eq!(
        json_of(res, StatusCode::OK).await,
        json!({"user_id": bob.id, "role": "admin"})
    );
    let res = app
        .as_(&bob)
        .put(
            &paths::org_member_role(&org, &alice.id),
            json!({"role": "member"}),
        )
        .await;
    error_of(res, StatusCode::FORBIDDEN).await;
    let res = app
        .as_(&alice)
        .put(&paths::member_role(&alice.id), json!({"role": "admin"}))
        .await;
    error_of(res, StatusCode::FORBIDDEN).await;
    let res = app
        .as_(&bob)
        .put(&paths::member_role(&bob.id), json!({"role": "member"}))
        .await;
    assert_eq!(
        error_of(res, StatusCode::BAD_REQUEST).await["message"],
        "Cannot change your own role"
    );
    let res = app
        .as_(&alice)
        .put(&paths::member_role(&bob.id), json!({"role": "owner"}))
        .await;
    error_of(res, StatusCode::BAD_REQUEST).await;
    let res = app.as_(&bob).delete(&paths::my_org_member(&alice.id)).await;
    error_of(res, StatusCode::CONFLICT).await;
    let res = app
        .as_(&bob)
        .delete(&paths::org_member(&org, &bob.id))
        .await;
    error_of(res, StatusCode::BAD_REQUEST).await;
    let res = app
        .as_(&alice)
        .delete(&paths::my_org_member("nobody"))
        .await;
    assert_eq!(
        error_of(res, StatusCode::NOT_FOUND).await["message"],
        "Member not found in this org"
    );

    // Default org: only an org one belongs to.
    let res = app
        .as_(&outsider)
        .put(paths::DEFAULT_ORG, json!({"org_id": org}))
        .await;
    assert_eq!(
        error_of(res, StatusCode::FORBIDDEN).await["message"],
        "You are not a member of that org"
    );
    let res = app
        .as_(&bob)
        .put(paths::DEFAULT_ORG, json!({"org_id": org}))
        .await;
    assert_eq!(
        json_of(res, StatusCode::OK).await["default_org_id"],
        org.as_str()
    );
    let me = json_of(app.as_(&bob).get(paths::ME).await, StatusCode::OK).await;
    assert_eq!(me["default_org_id"], org.as_str());

    // The owner removes Bob; he is out, his default org cleared, his sessions still his.
    app.as_(&bob)
        .push_new("ses_bobsession000001", "Bob's")
        .await;
    let res = app
        .as_(&alice)
        .delete(&paths::org_member(&org, &bob.id))
        .await;
    assert_eq!(
        json_of(res, StatusCode::OK).await["removed"],
        bob.id.as_str()
    );
    let info = json_of(app.as_(&bob).get(paths::ORG).await, StatusCode::OK).await;
    assert_eq!(info["org"], Value::Null);
    let me = json_of(app.as_(&bob).get(paths::ME).await, StatusCode::OK).await;
    assert_eq!(me["default_org_id"], Value::Null);
    assert_eq!(
        app.as_(&bob)
            .pull("ses_bobsession000001", None)
            .await
            .status(),
        StatusCode::OK
    );
    let info = json_of(app.as_(&alice).get(paths::ORG).await, StatusCode::OK).await;
    assert_eq!(info["org"]["seats_used"], 1);
}

#[tokio::test]
async fn the_org_tier_reaches_its_members() {
    let app = TestApp::spawn_with(|c| c.default_tier = Tier::Free).await;
    let alice = app.user("alice").tier("team").create().await;
    let bob = app.user("bob").create().await;
    let archive =
        || sessionfs_server::archive::fixture::session_archive("ses_0123456789abcdef", "t", "x", 2);
    let res = app
        .as_(&bob)
        .push("ses_0123456789abcdef", archive(), None)
        .await;
    assert_eq!(
        error_of(res, StatusCode::FORBIDDEN).await["details"]["error"],
        "upgrade_required"
    );

    let acme = app.as_(&alice).create_org("acme").await;
    acme.add(&bob).await;
    let me = json_of(app.as_(&bob).get(paths::ME).await, StatusCode::OK).await;
    assert_eq!(me["tier"], "free");
    assert_eq!(me["effective_tier"], "team");
    assert_eq!(
        app.as_(&bob)
            .push("ses_0123456789abcdef", archive(), None)
            .await
            .status(),
        StatusCode::CREATED
    );

    let billing = json_of(
        app.as_(&bob).get(paths::BILLING_STATUS).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(billing["tier"], "team");
    assert_eq!(billing["is_org_member"], true);
    assert_eq!(billing["org_role"], "member");
    assert!(billing["storage_used_bytes"].as_i64().unwrap() > 0);
    for path in [paths::BILLING_CHECKOUT, paths::BILLING_PORTAL] {
        let res = app
            .as_(&bob)
            .post(path, json!({"tier": "pro", "seats": 1}))
            .await;
        assert_eq!(
            error_of(res, StatusCode::BAD_REQUEST).await["details"]["error"],
            "billing_unavailable"
        );
    }
}

#[tokio::test]
async fn platform_admins_mint_keys_for_users() {
    let app = TestApp::spawn().await;
    let [root, bob] = app.users(["root", "bob"]).await;
    let path = paths::admin_user_api_keys(&bob.id);
    let res = app.as_(&bob).post(&path, json!({})).await;
    assert_eq!(
        error_of(res, StatusCode::FORBIDDEN).await["message"],
        "Admin access required"
    );

    app.set_tier(&root, "admin").await;
    error_of(
        app.as_(&root).post_empty(&path).await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    let res = app
        .as_(&root)
        .post(&paths::admin_user_api_keys("nobody"), json!({}))
        .await;
    assert_eq!(
        error_of(res, StatusCode::NOT_FOUND).await["message"],
        "User not found"
    );
    let minted = json_of(
        app.as_(&root)
            .post(&path, json!({"name": "recovery"}))
            .await,
        StatusCode::CREATED,
    )
    .await;
    assert_eq!(minted["user_id"], bob.id.as_str());
    assert_eq!(minted["user_email"], "bob@example.com");
    assert_eq!(minted["name"], "recovery");
    let res = app
        .request(Method::GET, paths::ME, minted["raw_key"].as_str())
        .send()
        .await
        .unwrap();
    assert_eq!(
        json_of(res, StatusCode::OK).await["email"],
        "bob@example.com"
    );
    let bob_id = bob.id.clone();
    let audited = app
        .state
        .db
        .read(move |conn| {
            sessionfs_server::db::admin::count(conn, "mint_api_key_on_behalf", &bob_id)
        })
        .await
        .unwrap();
    assert_eq!(audited, 1);

    app.disable(&bob).await;
    let res = app.as_(&root).post(&path, json!({})).await;
    assert_eq!(
        error_of(res, StatusCode::FORBIDDEN).await["message"],
        "Cannot mint key for inactive user"
    );
}
