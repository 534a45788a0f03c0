//! Search with highlighted snippets: the API's search, shown as a page.

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use maud::{html, Markup};
use serde::Deserialize;

use crate::api::search::run;
use crate::api::sessions::tool_family;
use crate::domain::tiers::Feature;
use crate::search::SearchQuery;
use crate::state::AppState;
use crate::web::auth::WebUser;
use crate::web::layout::{self, when};
use crate::web::{html, WebResult};

const PAGE_SIZE: usize = 20;

#[derive(Deserialize, Default)]
pub struct SearchForm {
    q: Option<String>,
    tool: Option<String>,
    page: Option<usize>,
}

fn unescape(text: &str) -> String {
    text.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&#x27;", "'")
        .replace("&amp;", "&")
}

/// A snippet from the index (escaped text with `<mark>` around matches), rebuilt as markup:
/// only the marks become elements, everything else is text again.
pub fn snippet(text: &str) -> Markup {
    html! {
        @for (i, part) in text.split("<mark>").enumerate() {
            @if i == 0 {
                (unescape(part))
            } @else {
                @let (hit, rest) = part.split_once("</mark>").unwrap_or((part, ""));
                mark { (unescape(hit)) }
                (unescape(rest))
            }
        }
    }
}

/// `GET /ui/search?q=…`.
pub async fn page(
    State(state): State<AppState>,
    user: WebUser,
    Query(form): Query<SearchForm>,
) -> WebResult<Response> {
    let q = form.q.clone().unwrap_or_default();
    let q = q.trim();
    let page = form.page.unwrap_or(1).clamp(1, 10_000);
    let results = if q.is_empty() {
        None
    } else {
        user.principal.tier().require(Feature::CloudSync)?;
        let query = SearchQuery {
            user_id: user.principal.user.id.clone(),
            q: q.chars().take(500).collect(),
            tools: form
                .tool
                .as_deref()
                .filter(|t| !t.is_empty())
                .map(tool_family)
                .unwrap_or_default(),
            updated_since_micros: None,
            offset: (page - 1) * PAGE_SIZE,
            limit: PAGE_SIZE,
        };
        Some(run(&state, &user.principal.user.id, query).await?)
    };
    let link = |page: usize| {
        let mut pairs = form_urlencoded::Serializer::new(String::new());
        pairs.append_pair("q", q);
        if let Some(t) = form.tool.as_deref().filter(|t| !t.is_empty()) {
            pairs.append_pair("tool", t);
        }
        pairs.append_pair("page", &page.to_string());
        format!("/ui/search?{}", pairs.finish())
    };
    let body = html! {
        form.filters method="get" action="/ui/search" role="search" {
            label.grow { "Words" input type="search" name="q" value=(q) required autofocus[q.is_empty()]; }
            label { "Tool" input type="text" name="tool" value=(form.tool.as_deref().unwrap_or("")); }
            button type="submit" { "Search" }
        }
        @if let Some((hits, total)) = &results {
            p.meta { (total) " matching session" @if *total != 1 { "s" } }
            ol.results {
                @for hit in hits {
                    li {
                        a href=(format!("/ui/sessions/{}", hit.session_id)) { (hit.title.as_deref().filter(|t| !t.is_empty()).unwrap_or("(untitled)")) }
                        span.meta { " · " (hit.source_tool) " · " (hit.message_count) " messages · " (when(&hit.updated_at)) }
                        @for m in &hit.matches { p.snippet { (snippet(&m.snippet)) } }
                    }
                }
            }
            nav.pager aria-label="Pages" {
                @if page > 1 { a href=(link(page - 1)) rel="prev" { "← Previous" } }
                @if page * PAGE_SIZE < *total { a href=(link(page + 1)) rel="next" { "Next →" } }
            }
        }
    };
    Ok(html(
        StatusCode::OK,
        layout::page(&user, "Search", "search", body),
    ))
}

#[cfg(test)]
mod tests {
    #[test]
    fn snippets_keep_only_marks() {
        let html =
            super::snippet("a &lt;script&gt; <mark>flaky</mark> test &amp; more").into_string();
        assert_eq!(html, "a &lt;script&gt; <mark>flaky</mark> test &amp; more");
    }
}
