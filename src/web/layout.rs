//! The frame of every page: header with navigation, main, the sign-out form; small shared
//! pieces (the CSRF field, one-button forms, dates, sizes).

use axum::http::StatusCode;
use axum::response::Response;
use maud::{html, Markup, DOCTYPE};
use serde_json::Value;

use crate::error::ApiError;
use crate::web::auth::WebUser;

/// A top-level page in the navigation.
pub struct NavItem {
    pub key: &'static str,
    pub label: &'static str,
    pub href: &'static str,
    /// Shown only to platform admins.
    pub admin_only: bool,
}

/// The navigation, in order. A new top-level area adds one line here and its routes in
/// `crate::web::router`; a project's areas (tickets, personas, runs, wiki, settings) are linked
/// from the project's page.
pub const NAV: &[NavItem] = &[
    NavItem {
        key: "sessions",
        label: "Sessions",
        href: "/",
        admin_only: false,
    },
    NavItem {
        key: "search",
        label: "Search",
        href: "/ui/search",
        admin_only: false,
    },
    NavItem {
        key: "handoffs",
        label: "Handoffs",
        href: "/ui/handoffs",
        admin_only: false,
    },
    NavItem {
        key: "projects",
        label: "Projects",
        href: "/ui/projects",
        admin_only: false,
    },
    NavItem {
        key: "org",
        label: "Organization",
        href: "/ui/org",
        admin_only: false,
    },
    NavItem {
        key: "keys",
        label: "API keys",
        href: "/ui/keys",
        admin_only: false,
    },
    NavItem {
        key: "settings",
        label: "Settings",
        href: "/ui/settings",
        admin_only: false,
    },
    NavItem {
        key: "account",
        label: "Account",
        href: "/ui/account",
        admin_only: false,
    },
    NavItem {
        key: "admin",
        label: "Admin",
        href: "/ui/admin/users",
        admin_only: true,
    },
];

fn head(title: &str) -> Markup {
    html! {
        head {
            meta charset="utf-8";
            meta name="viewport" content="width=device-width, initial-scale=1";
            meta name="robots" content="noindex, nofollow";
            meta name="color-scheme" content="light dark";
            title { (title) " · SessionFS" }
            link rel="stylesheet" href="/ui/assets/app.css";
            script src="/ui/assets/app.js" defer {}
        }
    }
}

/// A page for a signed-in user; `active` is the [`NavItem::key`] to highlight.
pub fn page(user: &WebUser, title: &str, active: &str, body: Markup) -> Markup {
    let admin = user.principal.is_platform_admin();
    html! {
        (DOCTYPE)
        html lang="en" {
            (head(title))
            body {
                a.skip href="#main" { "Skip to content" }
                header.top {
                    a.brand href="/" { "SessionFS" }
                    nav aria-label="Main" {
                        ul {
                            @for item in NAV.iter().filter(|i| admin || !i.admin_only) {
                                li {
                                    @if item.key == active {
                                        a href=(item.href) aria-current="page" { (item.label) }
                                    } @else {
                                        a href=(item.href) { (item.label) }
                                    }
                                }
                            }
                        }
                    }
                    form.signout method="post" action="/ui/sign-out" {
                        (csrf(user))
                        span.who { (user.principal.user.email) }
                        button type="submit" { "Sign out" }
                    }
                }
                main #main tabindex="-1" {
                    h1 { (title) }
                    (body)
                }
            }
        }
    }
}

/// A page without navigation (sign-in, errors before sign-in).
pub fn bare(title: &str, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            (head(title))
            body.bare {
                main #main {
                    p.brand { "SessionFS" }
                    h1 { (title) }
                    (body)
                }
            }
        }
    }
}

/// The hidden synchronizer-token field every form carries.
pub fn csrf(user: &WebUser) -> Markup {
    html! { input type="hidden" name="csrf_token" value=(user.csrf()); }
}

/// A form of one button (claim, revoke, restore…), posting only the token.
pub fn button_form(user: &WebUser, action: &str, label: &str, class: &str) -> Markup {
    html! {
        form.inline method="post" action=(action) {
            (csrf(user))
            button type="submit" class=(class) { (label) }
        }
    }
}

/// A notice above the content after a form was carried out.
pub fn notice(text: Option<&str>) -> Markup {
    html! {
        @if let Some(text) = text {
            p.notice role="status" { (text) }
        }
    }
}

/// `2026-12-03T10:11:12.123456Z` → `2026-12-03 10:11`.
pub fn when(ts: &str) -> String {
    if ts.len() >= 16 {
        format!("{} {}", &ts[..10], &ts[11..16])
    } else {
        ts.to_string()
    }
}

/// Bytes in a short human form.
pub fn size(bytes: i64) -> String {
    let b = bytes.max(0) as f64;
    if b < 1024.0 {
        format!("{bytes} B")
    } else if b < 1024.0 * 1024.0 {
        format!("{:.1} KiB", b / 1024.0)
    } else if b < 1024.0 * 1024.0 * 1024.0 {
        format!("{:.1} MiB", b / 1024.0 / 1024.0)
    } else {
        format!("{:.2} GiB", b / 1024.0 / 1024.0 / 1024.0)
    }
}

/// The text people read for an API error: the message, or the first validation message.
pub fn error_text(err: &ApiError) -> String {
    err.details
        .get("errors")
        .and_then(|e| e.get(0))
        .and_then(|e| e.get("msg"))
        .and_then(Value::as_str)
        .map(|m| m.trim_start_matches("Value error, ").to_string())
        .unwrap_or_else(|| err.message.clone())
}

/// An error as a page, with the status the API gives it.
pub fn error_page(err: &ApiError) -> Response {
    let title = match err.status {
        StatusCode::NOT_FOUND => "Not found",
        StatusCode::FORBIDDEN => "Not allowed",
        s if s.is_client_error() => "That did not work",
        _ => "Something went wrong",
    };
    let body = html! {
        p.error role="alert" { (error_text(err)) }
        p { a href="/" { "Back to your sessions" } }
    };
    super::html(err.status, bare(title, body))
}
