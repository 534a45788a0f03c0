//! Request paths of the API, typed: `paths::session(id)` instead of a hand-written
//! `/api/v1/...` string, so a route that moves is changed here once.

pub const HEALTH: &str = "/api/v1/health";
pub const SIGNUP: &str = "/api/v1/auth/signup";
pub const ME: &str = "/api/v1/auth/me";
pub const VERIFY: &str = "/api/v1/auth/verify";
pub const KEYS: &str = "/api/v1/auth/keys";
pub const MY_API_KEYS: &str = "/api/v1/auth/me/api-keys";
pub const DEFAULT_ORG: &str = "/api/v1/auth/me/default-org";
pub const SESSIONS: &str = "/api/v1/sessions";
pub const SESSIONS_SEARCH: &str = "/api/v1/sessions/search";
pub const HANDOFFS: &str = "/api/v1/handoffs";
pub const HANDOFFS_INBOX: &str = "/api/v1/handoffs/inbox";
pub const HANDOFFS_SENT: &str = "/api/v1/handoffs/sent";
pub const ORG: &str = "/api/v1/org";
pub const ORGS: &str = "/api/v1/orgs";
pub const ORG_INVITE: &str = "/api/v1/org/invite";
pub const ORG_INVITES: &str = "/api/v1/org/invites";
pub const MY_INVITES: &str = "/api/v1/org/invites/me";
pub const SYNC_SETTINGS: &str = "/api/v1/sync/settings";
pub const SYNC_STATUS: &str = "/api/v1/sync/status";
pub const SYNC_WATCHLIST: &str = "/api/v1/sync/watchlist";
pub const PROJECTS: &str = "/api/v1/projects/";
pub const SYNC_HEALTH: &str = "/api/v1/sync/health";
pub const BILLING_STATUS: &str = "/api/v1/billing/status";
pub const BILLING_CHECKOUT: &str = "/api/v1/billing/checkout";
pub const BILLING_PORTAL: &str = "/api/v1/billing/portal";

pub fn key(id: &str) -> String {
    format!("{KEYS}/{id}")
}
pub fn my_api_key(id: &str) -> String {
    format!("{MY_API_KEYS}/{id}")
}

pub fn session(id: &str) -> String {
    format!("{SESSIONS}/{id}")
}
pub fn session_sync(id: &str) -> String {
    format!("{SESSIONS}/{id}/sync")
}
pub fn session_alias(id: &str) -> String {
    format!("{SESSIONS}/{id}/alias")
}
pub fn session_restore(id: &str) -> String {
    format!("{SESSIONS}/{id}/restore")
}
pub fn session_summary(id: &str) -> String {
    format!("{SESSIONS}/{id}/summary")
}
pub fn session_share(id: &str) -> String {
    format!("{SESSIONS}/{id}/share")
}
/// `DELETE` with `?scope=cloud`.
pub fn session_cloud(id: &str) -> String {
    format!("{SESSIONS}/{id}?scope=cloud")
}
pub fn shared(token: &str) -> String {
    format!("{SESSIONS}/share/{token}")
}

pub fn handoff(id: &str) -> String {
    format!("{HANDOFFS}/{id}")
}
pub fn handoff_claim(id: &str) -> String {
    format!("{HANDOFFS}/{id}/claim")
}
pub fn handoff_revoke(id: &str) -> String {
    format!("{HANDOFFS}/{id}/revoke")
}
pub fn handoff_decline(id: &str) -> String {
    format!("{HANDOFFS}/{id}/decline")
}
pub fn handoff_comments(id: &str) -> String {
    format!("{HANDOFFS}/{id}/comments")
}
pub fn handoff_events(id: &str) -> String {
    format!("{HANDOFFS}/{id}/events")
}
pub fn handoff_summary(id: &str) -> String {
    format!("{HANDOFFS}/{id}/summary")
}

pub fn invite_accept(id: &str) -> String {
    format!("{ORG_INVITE}/{id}/accept")
}
pub fn invite_decline(id: &str) -> String {
    format!("{ORG_INVITE}/{id}/decline")
}
pub fn member_role(user_id: &str) -> String {
    format!("{ORG}/members/{user_id}/role")
}
pub fn org_member(org_id: &str, user_id: &str) -> String {
    format!("{ORGS}/{org_id}/members/{user_id}")
}
pub fn org_invite(org_id: &str) -> String {
    format!("{ORGS}/{org_id}/invite")
}
pub fn invite_resend(org_id: &str, invite_id: &str) -> String {
    format!("{ORGS}/{org_id}/invites/{invite_id}/resend")
}
pub fn service_keys(org_id: &str) -> String {
    format!("{ORGS}/{org_id}/service-keys")
}

/// `path` with a trailing slash, for the routes that must answer with or without one.
pub fn slash(path: &str) -> String {
    format!("{path}/")
}
/// `path` with a query string: `paths::query(&paths::handoff_comments(id), "limit=500")`.
pub fn query(path: &str, query: &str) -> String {
    format!("{path}?{query}")
}
pub fn handoff_preview(id: &str) -> String {
    format!("{HANDOFFS}/{id}/preview")
}

/// `/api/v1/org/invites/{id}` (revoke an invite of the caller's org).
pub fn org_invite_by_id(id: &str) -> String {
    format!("{ORG_INVITES}/{id}")
}
/// `/api/v1/org/members/{user_id}`: a member of the caller's org.
pub fn my_org_member(user_id: &str) -> String {
    format!("{ORG}/members/{user_id}")
}
pub fn org_members(org_id: &str) -> String {
    format!("{ORGS}/{org_id}/members")
}
pub fn org_members_invite(org_id: &str) -> String {
    format!("{ORGS}/{org_id}/members/invite")
}
pub fn org_member_role(org_id: &str, user_id: &str) -> String {
    format!("{ORGS}/{org_id}/members/{user_id}/role")
}
pub fn admin_user_api_keys(user_id: &str) -> String {
    format!("/api/v1/admin/users/{user_id}/api-keys")
}
pub fn session_messages(id: &str) -> String {
    format!("{SESSIONS}/{id}/messages")
}
/// One share link of a session (`DELETE` revokes it).
pub fn share_link(id: &str, link_id: &str) -> String {
    format!("{SESSIONS}/{id}/share/{link_id}")
}
pub fn service_key(org_id: &str, key_id: &str) -> String {
    format!("{ORGS}/{org_id}/service-keys/{key_id}")
}
pub fn service_key_rotate(org_id: &str, key_id: &str) -> String {
    format!("{ORGS}/{org_id}/service-keys/{key_id}/rotate")
}

/// `project`: an id, or a normalized remote (`acme/app`) that the server resolves.
pub fn project(project: &str) -> String {
    format!("{PROJECTS}{project}")
}
pub fn project_context(remote: &str) -> String {
    format!("{PROJECTS}{remote}/context")
}
pub fn project_entries(project: &str) -> String {
    format!("{PROJECTS}{project}/entries")
}
pub fn project_entries_add(project: &str) -> String {
    format!("{PROJECTS}{project}/entries/add")
}
pub fn project_entry(project: &str, entry_id: &str) -> String {
    format!("{PROJECTS}{project}/entries/{entry_id}")
}
/// `/api/v1/auth/verify/{token}`: the verification link's path form.
pub fn verify(token: &str) -> String {
    format!("{VERIFY}/{token}")
}
/// The HTML view of a share link.
pub fn share_view(token: &str) -> String {
    format!("/api/v1/share/{token}/view")
}

pub fn watch(id: &str) -> String {
    format!("/api/v1/sync/watch/{id}")
}
pub fn watch_status(id: &str, status: &str) -> String {
    format!("/api/v1/sync/watch/{id}/{status}")
}

/// `POST`: start a chunked upload of session `id`.
pub fn session_uploads(id: &str) -> String {
    format!("{SESSIONS}/{id}/uploads")
}
pub fn upload(upload_id: &str) -> String {
    format!("/api/v1/uploads/{upload_id}")
}
pub fn upload_part(upload_id: &str, n: u64) -> String {
    format!("/api/v1/uploads/{upload_id}/parts/{n}")
}
pub fn upload_complete(upload_id: &str) -> String {
    format!("/api/v1/uploads/{upload_id}/complete")
}

/// The personas of a project (`GET` list, `POST` create).
pub fn personas(project: &str) -> String {
    format!("{PROJECTS}{project}/personas")
}
/// One persona of a project, by name in any case.
pub fn persona(project: &str, name: &str) -> String {
    format!("{PROJECTS}{project}/personas/{name}")
}
pub fn org_personas(org_id: &str) -> String {
    format!("{ORGS}/{org_id}/personas")
}
pub fn org_persona(org_id: &str, name: &str) -> String {
    format!("{ORGS}/{org_id}/personas/{name}")
}
/// The agent runs of a project (`GET` list, `POST` create).
pub fn agent_runs(project: &str) -> String {
    format!("{PROJECTS}{project}/agent-runs")
}
pub fn agent_run(project: &str, run_id: &str) -> String {
    format!("{PROJECTS}{project}/agent-runs/{run_id}")
}
pub fn agent_run_start(project: &str, run_id: &str) -> String {
    format!("{PROJECTS}{project}/agent-runs/{run_id}/start")
}
pub fn agent_run_complete(project: &str, run_id: &str) -> String {
    format!("{PROJECTS}{project}/agent-runs/{run_id}/complete")
}
pub fn agent_run_cancel(project: &str, run_id: &str) -> String {
    format!("{PROJECTS}{project}/agent-runs/{run_id}/cancel")
}
/// `/api/v1/projects/{project}/tickets`: list (GET) and create (POST).
pub fn tickets(project: &str) -> String {
    format!("{PROJECTS}{project}/tickets")
}
/// One ticket of a project (GET, PUT).
pub fn ticket(project: &str, ticket: &str) -> String {
    format!("{PROJECTS}{project}/tickets/{ticket}")
}
/// A sub-route of a ticket: `start`, `complete`, `accept`, `resolve`, `comments`, `watch`, …
pub fn ticket_action(project: &str, ticket: &str, action: &str) -> String {
    format!("{PROJECTS}{project}/tickets/{ticket}/{action}")
}
/// A ticket by id alone.
pub fn ticket_by_id(ticket: &str) -> String {
    format!("/api/v1/tickets/{ticket}")
}
// Compile, wiki pages and project settings (02 §3.6, §4).
pub fn project_compile(project: &str) -> String {
    format!("{PROJECTS}{project}/compile")
}
pub fn project_rebuild(project: &str) -> String {
    format!("{PROJECTS}{project}/rebuild")
}
pub fn project_compilations(project: &str) -> String {
    format!("{PROJECTS}{project}/compilations")
}
pub fn project_compile_status(project: &str) -> String {
    format!("{PROJECTS}{project}/compile-status")
}
pub fn project_health(project: &str) -> String {
    format!("{PROJECTS}{project}/health")
}
pub fn context_section(project: &str, slug: &str) -> String {
    format!("{PROJECTS}{project}/context/sections/{slug}")
}
pub fn pages(project: &str) -> String {
    format!("{PROJECTS}{project}/pages")
}
/// A wiki page; `slug` may hold slashes.
pub fn page(project: &str, slug: &str) -> String {
    format!("{PROJECTS}{project}/pages/{slug}")
}
pub fn page_history(project: &str, slug: &str) -> String {
    format!("{PROJECTS}{project}/pages/{slug}/history")
}
pub fn page_regenerate(project: &str, slug: &str) -> String {
    format!("{PROJECTS}{project}/pages/{slug}/regenerate")
}
pub fn project_settings(project: &str) -> String {
    format!("{PROJECTS}{project}/settings")
}
pub fn restore_from_compilation(project: &str) -> String {
    format!("/api/v1/admin/projects/{project}/restore-from-compilation")
}
/// Links pointing at (`target_type`, `target_id`).
pub fn links(project: &str, target_type: &str, target_id: &str) -> String {
    format!("{PROJECTS}{project}/links/{target_type}/{target_id}")
}
pub const SETTINGS_JUDGE: &str = "/api/v1/settings/judge";
pub const SETTINGS_JUDGE_MODELS: &str = "/api/v1/settings/judge/models";
pub const SETTINGS_AUDIT_TRIGGER: &str = "/api/v1/settings/audit-trigger";
pub const SETTINGS_SUMMARIZE_TRIGGER: &str = "/api/v1/settings/summarize-trigger";
pub const SETTINGS_GITHUB: &str = "/api/v1/settings/github";
pub const SETTINGS_GITLAB: &str = "/api/v1/settings/gitlab";
pub const LLM_PROVIDERS: &str = "/api/v1/llm/providers";

/// `GET /settings/judge/models?base_url=…` (the URL encoded).
pub fn judge_models(base_url: &str) -> String {
    let q: String = form_urlencoded::byte_serialize(base_url.as_bytes()).collect();
    format!("{SETTINGS_JUDGE_MODELS}?base_url={q}")
}

pub fn session_audit(id: &str) -> String {
    format!("/api/v1/sessions/{id}/audit")
}

pub fn session_audits(id: &str) -> String {
    format!("/api/v1/sessions/{id}/audits")
}

pub fn session_audit_status(id: &str) -> String {
    format!("/api/v1/sessions/{id}/audit/status")
}

pub fn session_audit_dismiss(id: &str) -> String {
    format!("/api/v1/sessions/{id}/audit/dismiss")
}

pub fn audit_entry(audit_id: &str) -> String {
    format!("/api/v1/sessions/audits/{audit_id}")
}
/// The web dashboard's pages and forms.
pub mod ui {
    pub const HOME: &str = "/";
    pub const SIGN_IN: &str = "/ui/sign-in";
    pub const SIGN_OUT: &str = "/ui/sign-out";
    pub const ACCOUNT: &str = "/ui/account";
    pub const KEYS: &str = "/ui/keys";
    pub const HANDOFFS: &str = "/ui/handoffs";
    pub const ORG: &str = "/ui/org";
    pub const PROJECTS: &str = "/ui/projects";
    pub const ADMIN_USERS: &str = "/ui/admin/users";
    pub fn search(q: &str) -> String {
        format!("/ui/search?q={}", urlencode(q))
    }
    pub fn session(id: &str) -> String {
        format!("/ui/sessions/{id}")
    }
    pub fn session_action(id: &str, action: &str) -> String {
        format!("/ui/sessions/{id}/{action}")
    }
    pub fn handoff(id: &str) -> String {
        format!("/ui/handoffs/{id}")
    }
    pub fn handoff_action(id: &str, action: &str) -> String {
        format!("/ui/handoffs/{id}/{action}")
    }
    pub fn revoke_browser_session(handle: &str) -> String {
        format!("/ui/account/browser-sessions/{handle}/revoke")
    }
    pub fn revoke_key(id: &str) -> String {
        format!("/ui/keys/{id}/revoke")
    }
    fn urlencode(s: &str) -> String {
        s.bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => {
                    (b as char).to_string()
                }
                _ => format!("%{b:02X}"),
            })
            .collect()
    }
}

pub const ADMIN_USERS: &str = "/api/v1/admin/users";
pub fn admin_user(user_id: &str) -> String {
    format!("/api/v1/admin/users/{user_id}")
}
pub fn admin_user_tier(user_id: &str) -> String {
    format!("/api/v1/admin/users/{user_id}/tier")
}
pub fn admin_user_active(user_id: &str) -> String {
    format!("/api/v1/admin/users/{user_id}/active")
}

/// The dashboard's project pages (tickets, personas, runs, wiki, settings).
pub mod ui_project {
    pub fn tickets(project: &str) -> String {
        format!("/ui/projects/{project}/tickets")
    }
    pub fn ticket(project: &str, ticket: &str) -> String {
        format!("/ui/projects/{project}/tickets/{ticket}")
    }
    pub fn ticket_move(project: &str, ticket: &str) -> String {
        format!("/ui/projects/{project}/tickets/{ticket}/move")
    }
    pub fn ticket_comment(project: &str, ticket: &str) -> String {
        format!("/ui/projects/{project}/tickets/{ticket}/comment")
    }
    pub fn personas(project: &str) -> String {
        format!("/ui/projects/{project}/personas")
    }
    pub fn persona_action(project: &str, persona: &str, action: &str) -> String {
        format!("/ui/projects/{project}/personas/{persona}/{action}")
    }
    pub fn runs(project: &str) -> String {
        format!("/ui/projects/{project}/runs")
    }
    pub fn run(project: &str, run: &str) -> String {
        format!("/ui/projects/{project}/runs/{run}")
    }
    pub fn wiki(project: &str) -> String {
        format!("/ui/projects/{project}/wiki")
    }
    pub fn wiki_new(project: &str) -> String {
        format!("/ui/projects/{project}/wiki/new")
    }
    pub fn wiki_page(project: &str, slug: &str) -> String {
        format!("/ui/projects/{project}/wiki/{slug}")
    }
    pub fn settings(project: &str) -> String {
        format!("/ui/projects/{project}/settings")
    }
    pub const ORG_PERSONAS: &str = "/ui/org/personas";
    pub const SETTINGS: &str = "/ui/settings";
    pub const SETTINGS_JUDGE: &str = "/ui/settings/judge";
    pub const SETTINGS_JUDGE_CLEAR: &str = "/ui/settings/judge/clear";
    pub const SETTINGS_TRIGGERS: &str = "/ui/settings/triggers";
}
