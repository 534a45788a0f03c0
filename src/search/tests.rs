//! The index on a temp dir, through its public API only.

use std::fs;
use std::time::{Duration, Instant};

use tempfile::TempDir;

use super::*;

fn doc(id: &str, user: &str, title: &str, text: &str) -> SessionDoc {
    SessionDoc {
        session_id: id.into(),
        user_id: user.into(),
        title: Some(title.into()),
        alias: None,
        tags: Vec::new(),
        source_tool: "claude-code".into(),
        updated_at_micros: 1_700_000_000_000_000,
        text: text.into(),
    }
}

fn query(user: &str, q: &str) -> SearchQuery {
    SearchQuery {
        user_id: user.into(),
        q: q.into(),
        limit: 20,
        ..SearchQuery::default()
    }
}

fn ids(page: &SearchPage) -> Vec<&str> {
    page.hits.iter().map(|h| h.session_id.as_str()).collect()
}

fn sorted_ids(page: &SearchPage) -> Vec<&str> {
    let mut ids = ids(page);
    ids.sort();
    ids
}

fn open(dir: &TempDir) -> (SearchIndex, bool) {
    SearchIndex::open(dir.path()).expect("open the index")
}

/// A fresh index holding `docs`, committed.
fn index_with(docs: Vec<SessionDoc>) -> (TempDir, SearchIndex) {
    let dir = TempDir::new().unwrap();
    let (index, _) = open(&dir);
    for d in docs {
        index.upsert(d);
    }
    index.flush();
    (dir, index)
}

fn search(index: &SearchIndex, q: &SearchQuery) -> SearchPage {
    index.search(q).expect("search")
}

const FILLER: &str = "We looked at the build output, the logs of the deploy job and the \
    configuration of the load balancer before deciding what to change next in the service.";

#[test]
fn words_in_the_title_rank_above_one_mention_in_the_text() {
    let (_dir, index) = index_with(vec![
        doc(
            "s-text",
            "u1",
            "Deploy notes",
            &format!("{FILLER} The websocket reconnect loop was mentioned once. {FILLER}"),
        ),
        doc("s-title", "u1", "Websocket reconnect loop", FILLER),
    ]);
    let page = search(&index, &query("u1", "websocket reconnect"));
    assert_eq!(ids(&page), ["s-title", "s-text"]);
    assert_eq!(page.total, 2);
    assert!(page.hits[0].score > page.hits[1].score);
}

#[test]
fn every_word_must_match_in_some_field() {
    let mut tagged = doc("s-tags", "u1", "Elsewhere", "the migration ran");
    tagged.tags = vec!["postgres".into()];
    let mut aliased = doc("s-alias", "u1", "Elsewhere", "the migration ran");
    aliased.alias = Some("postgres-fix".into());
    let (_dir, index) = index_with(vec![
        doc("s-both", "u1", "Postgres migration", "nothing here"),
        doc("s-one", "u1", "Postgres upgrade", "nothing here"),
        tagged,
        aliased,
    ]);
    let page = search(&index, &query("u1", "postgres migration"));
    assert_eq!(sorted_ids(&page), ["s-alias", "s-both", "s-tags"]);
}

#[test]
fn another_users_sessions_are_never_returned() {
    let (_dir, index) = index_with(vec![
        doc("mine", "u1", "Kubernetes upgrade", "kubernetes kubernetes"),
        doc(
            "theirs",
            "u2",
            "Kubernetes upgrade",
            "kubernetes kubernetes",
        ),
    ]);
    let page = search(&index, &query("u1", "kubernetes"));
    assert_eq!(ids(&page), ["mine"]);
    assert_eq!(page.total, 1);
    assert_eq!(search(&index, &query("u3", "kubernetes")).total, 0);
}

#[test]
fn tools_filter_keeps_any_of_the_given_tools() {
    let with_tool = |id: &str, tool: &str| SessionDoc {
        source_tool: tool.into(),
        ..doc(id, "u1", "Refactor parser", "refactor the parser")
    };
    let (_dir, index) = index_with(vec![
        with_tool("a", "claude-code"),
        with_tool("b", "codex"),
        with_tool("c", "gemini-cli"),
    ]);
    let mut q = query("u1", "parser");
    assert_eq!(search(&index, &q).total, 3);
    q.tools = vec!["claude-code".into(), "gemini-cli".into()];
    assert_eq!(sorted_ids(&search(&index, &q)), ["a", "c"]);
    q.tools = vec!["cursor".into()];
    assert_eq!(search(&index, &q).total, 0);
}

#[test]
fn days_filter_keeps_sessions_updated_since() {
    let at = |id: &str, micros: i64| SessionDoc {
        updated_at_micros: micros,
        ..doc(id, "u1", "Cache invalidation", "cache invalidation bug")
    };
    let (_dir, index) = index_with(vec![at("old", 1_000), at("edge", 5_000), at("new", 9_000)]);
    let mut q = query("u1", "cache");
    q.updated_since_micros = Some(5_000);
    assert_eq!(ids(&search(&index, &q)), ["new", "edge"]);
    q.updated_since_micros = Some(9_001);
    assert_eq!(search(&index, &q).total, 0);
}

#[test]
fn remove_hides_a_session_and_upsert_brings_it_back() {
    let d = doc("s1", "u1", "Terraform state", "terraform state lock");
    let (_dir, index) = index_with(vec![d.clone(), doc("s2", "u1", "Other", "terraform")]);
    index.remove("s1");
    index.flush();
    assert_eq!(ids(&search(&index, &query("u1", "terraform"))), ["s2"]);
    index.upsert(d);
    index.flush();
    assert_eq!(search(&index, &query("u1", "terraform")).total, 2);
}

#[test]
fn upsert_replaces_the_previous_version() {
    let (_dir, index) = index_with(vec![doc("s1", "u1", "First", "alpha bravo")]);
    index.upsert(doc("s1", "u1", "Second", "charlie bravo"));
    index.upsert(doc("s1", "u1", "Third", "delta bravo"));
    index.flush();
    assert_eq!(ids(&search(&index, &query("u1", "bravo"))), ["s1"]);
    assert_eq!(search(&index, &query("u1", "alpha")).total, 0);
    assert_eq!(search(&index, &query("u1", "charlie")).total, 0);
    assert_eq!(search(&index, &query("u1", "delta")).total, 1);
}

#[test]
fn flush_makes_queued_ops_visible_and_clears_pending() {
    let (_dir, index) = index_with(Vec::new());
    for i in 0..30 {
        index.upsert(doc(&format!("s{i}"), "u1", "Batch", "zeppelin"));
    }
    index.flush();
    assert_eq!(index.pending(), 0);
    assert_eq!(search(&index, &query("u1", "zeppelin")).total, 30);
}

#[test]
fn an_upsert_becomes_visible_without_a_flush() {
    let (_dir, index) = index_with(Vec::new());
    index.upsert(doc("s1", "u1", "Timer", "quokka"));
    // The policy commits about half a second after the first op; the bound is only a guard.
    let deadline = Instant::now() + Duration::from_secs(30);
    while search(&index, &query("u1", "quokka")).total == 0 {
        assert!(Instant::now() < deadline, "never committed");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(index.pending(), 0);
}

#[test]
fn rebuild_replaces_the_whole_content() {
    let (dir, index) = index_with(vec![
        doc("a", "u1", "Old one", "obsolete"),
        doc("b", "u1", "Old two", "obsolete"),
    ]);
    index.upsert(doc("queued", "u1", "Queued", "obsolete"));
    let docs = (0..150).map(|i| doc(&format!("n{i}"), "u1", "New", "fresh"));
    assert_eq!(index.rebuild(docs).unwrap(), 150);
    assert_eq!(search(&index, &query("u1", "obsolete")).total, 0);
    assert_eq!(search(&index, &query("u1", "fresh")).total, 150);
    drop(index);
    let (index, needs_rebuild) = open(&dir);
    assert!(!needs_rebuild);
    assert_eq!(search(&index, &query("u1", "fresh")).total, 150);
}

#[test]
fn a_new_index_needs_a_rebuild_until_one_completes() {
    let dir = TempDir::new().unwrap();
    let (index, needs_rebuild) = open(&dir);
    assert!(needs_rebuild);
    drop(index);
    let (index, needs_rebuild) = open(&dir);
    assert!(needs_rebuild, "no rebuild has completed yet");
    index.rebuild(std::iter::empty()).unwrap();
    index.upsert(doc("s1", "u1", "Kept", "persisted"));
    drop(index); // commits what is pending
    let (index, needs_rebuild) = open(&dir);
    assert!(!needs_rebuild);
    assert_eq!(search(&index, &query("u1", "persisted")).total, 1);
}

#[test]
fn an_abandoned_rebuild_keeps_the_old_content() {
    let (_dir, index) = index_with(vec![doc("a", "u1", "Old", "survivor")]);
    let exploding = (0..3).map(|i| {
        assert!(i < 2, "the producer fails");
        doc(&format!("n{i}"), "u1", "New", "fresh")
    });
    let outcome =
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| index.rebuild(exploding)));
    assert!(outcome.is_err());
    index.flush();
    assert_eq!(search(&index, &query("u1", "survivor")).total, 1);
    assert_eq!(search(&index, &query("u1", "fresh")).total, 0);
}

#[test]
fn a_corrupt_index_is_replaced_by_an_empty_one() {
    let dir = TempDir::new().unwrap();
    let (index, _) = open(&dir);
    index
        .rebuild(vec![doc("s1", "u1", "T", "content")].into_iter())
        .unwrap();
    drop(index);
    fs::write(
        dir.path().join(INDEX_SUBDIR).join("meta.json"),
        b"{ not json at all",
    )
    .unwrap();
    let (index, needs_rebuild) = open(&dir);
    assert!(needs_rebuild);
    assert_eq!(search(&index, &query("u1", "content")).total, 0);
    index.upsert(doc("s2", "u1", "T", "content"));
    index.flush();
    assert_eq!(search(&index, &query("u1", "content")).total, 1);
}

#[test]
fn an_index_from_another_schema_version_is_replaced() {
    let dir = TempDir::new().unwrap();
    let (index, _) = open(&dir);
    index
        .rebuild(vec![doc("s1", "u1", "T", "content")].into_iter())
        .unwrap();
    drop(index);
    fs::write(dir.path().join(MARKER_FILE), "sessionfs-search-0").unwrap();
    let (index, needs_rebuild) = open(&dir);
    assert!(needs_rebuild);
    assert_eq!(search(&index, &query("u1", "content")).total, 0);
}

#[test]
fn a_dir_already_open_is_refused() {
    let dir = TempDir::new().unwrap();
    let (_index, _) = open(&dir);
    let err = SearchIndex::open(dir.path()).unwrap_err();
    assert!(err.contains("in use"), "{err}");
}

#[test]
fn odd_query_syntax_is_never_an_error() {
    let (_dir, index) = index_with(vec![doc(
        "s1",
        "u1",
        "Title",
        "the websocket handler (v2) -- done",
    )]);
    let odd = [
        "\"websocket",
        "websocket\"",
        "title:websocket",
        "websocket AND",
        "AND OR NOT",
        "(websocket",
        "websocket)",
        "-websocket",
        "+websocket",
        "websocket^2",
        "*",
        "websocket~1",
        "/web.*/",
        "[a TO z]",
        "\\",
        "{}",
        "🙂 websocket",
        "a:b:c:d",
    ];
    for q in odd {
        index
            .search(&query("u1", q))
            .unwrap_or_else(|e| panic!("{q:?}: {e}"));
    }
    for q in [
        "\"websocket\"",
        "(websocket)",
        "-websocket",
        "websocket AND handler",
    ] {
        assert_eq!(search(&index, &query("u1", q)).total, 1, "{q:?}");
    }
    let long = "websocket ".repeat(50);
    assert_eq!(search(&index, &query("u1", &long)).total, 1);
}

#[test]
fn blank_punctuation_or_stop_words_only_give_an_empty_page() {
    let (_dir, index) = index_with(vec![doc("s1", "u1", "The title", "the and of it")]);
    for q in ["", "   ", "\t\n", "()-:\"", "the and of"] {
        assert_eq!(
            search(&index, &query("u1", q)),
            SearchPage::default(),
            "{q:?}"
        );
    }
}

#[test]
fn stop_words_are_ignored_and_words_are_stemmed() {
    let (_dir, index) = index_with(vec![doc(
        "s1",
        "u1",
        "Notes",
        "we were reconnecting the sockets",
    )]);
    assert_eq!(
        search(&index, &query("u1", "the reconnect socket")).total,
        1
    );
    assert_eq!(search(&index, &query("u1", "RECONNECTS")).total, 1);
}

#[test]
fn snippets_mark_the_matches_and_escape_the_rest() {
    let text = format!("{FILLER}\n\nThen the Websocket reconnects when x<y & y>z. {FILLER}");
    let (_dir, index) = index_with(vec![doc("s1", "u1", "Notes", &text)]);
    let page = search(&index, &query("u1", "websocket reconnect"));
    let snippet = &page.hits[0].snippet;
    assert!(snippet.contains("<mark>Websocket</mark>"), "{snippet}");
    assert!(snippet.contains("<mark>reconnects</mark>"), "{snippet}");
    assert!(snippet.contains("x&lt;y &amp; y&gt;z"), "{snippet}");
    let unmarked = snippet.replace("<mark>", "").replace("</mark>", "");
    assert!(!unmarked.contains(['<', '>', '\n']), "{snippet}");
    assert!(snippet.len() < 400, "{snippet}");
}

#[test]
fn a_title_only_match_gives_the_start_of_the_text() {
    let long = format!("Plain <b>start</b> of the text. {FILLER} {FILLER}");
    let (_dir, index) = index_with(vec![
        doc("s1", "u1", "Gardening", &long),
        doc("s2", "u1", "Gardening", ""),
    ]);
    let page = search(&index, &query("u1", "gardening"));
    let by_id = |id: &str| {
        page.hits
            .iter()
            .find(|h| h.session_id == id)
            .unwrap()
            .snippet
            .clone()
    };
    let lead = by_id("s1");
    assert!(
        lead.starts_with("Plain &lt;b&gt;start&lt;/b&gt; of the text."),
        "{lead}"
    );
    assert!(!lead.contains("<mark>") && lead.len() <= 200, "{lead}");
    assert_eq!(by_id("s2"), "");
}

#[test]
fn ties_are_broken_by_time_then_id_and_pages_do_not_overlap() {
    let mut docs: Vec<SessionDoc> = ["s3", "s1", "s5", "s2", "s4"]
        .iter()
        .map(|id| doc(id, "u1", "Same", "identical words"))
        .collect();
    docs.push(SessionDoc {
        updated_at_micros: 1_800_000_000_000_000,
        ..doc("s9", "u1", "Same", "identical words")
    });
    let (_dir, index) = index_with(docs);
    let mut seen = Vec::new();
    for page in 0..4 {
        let mut q = query("u1", "identical");
        q.offset = page * 2;
        q.limit = 2;
        let result = search(&index, &q);
        assert_eq!(result.total, 6);
        seen.extend(result.hits.into_iter().map(|h| h.session_id));
    }
    assert_eq!(seen, ["s9", "s1", "s2", "s3", "s4", "s5"]);
}

#[test]
fn the_index_can_be_shared_across_tasks() {
    fn shareable<T: Send + Sync + Clone + 'static>() {}
    shareable::<SearchIndex>();
}
