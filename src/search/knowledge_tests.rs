//! Unit tests of the knowledge index (src/search/knowledge.rs).

use super::*;

fn doc(id: i64, project: &str, content: &str, status: EntryStatus) -> KnowledgeDoc {
    KnowledgeDoc {
        entry_id: id,
        project_id: project.into(),
        entry_type: if id % 2 == 0 { "decision" } else { "bug" }.into(),
        claim_class: "claim".into(),
        status,
        content: content.into(),
        entity_ref: None,
    }
}

fn query(project: &str, text: &str) -> KnowledgeQuery {
    KnowledgeQuery {
        project_id: project.into(),
        text: text.into(),
        entry_types: vec![],
        include_inactive: false,
        limit: 10,
    }
}

fn ids(index: &KnowledgeIndex, q: &KnowledgeQuery) -> Vec<i64> {
    index
        .search(q)
        .unwrap()
        .into_iter()
        .map(|h| h.entry_id)
        .collect()
}

#[test]
fn ranks_within_a_project_and_follows_updates() {
    let dir = tempfile::tempdir().unwrap();
    let (index, needs) = KnowledgeIndex::open(dir.path()).unwrap();
    assert!(needs, "a new index needs a rebuild");
    assert_eq!(index.rebuild(std::iter::empty::<IndexDoc>()).unwrap(), 0);
    index.upsert(doc(
        1,
        "p1",
        "Retries use exponential backoff in the HTTP client",
        EntryStatus::Active,
    ));
    index.upsert(doc(
        2,
        "p1",
        "Deploys run from the release workflow",
        EntryStatus::Active,
    ));
    index.upsert(doc(
        3,
        "p2",
        "Retries are disabled in the HTTP client",
        EntryStatus::Active,
    ));
    index.upsert(doc(
        4,
        "p1",
        "The HTTP client retries idempotent requests; backoff doubles",
        EntryStatus::Active,
    ));
    index.flush();
    assert_eq!(index.pending(), 0);
    // Stemming: "retrying" finds "retries"; another project's entry never appears.
    let found = ids(&index, &query("p1", "retrying with backoff"));
    assert_eq!(found.len(), 2);
    assert!(found.contains(&1) && found.contains(&4));
    assert!(ids(&index, &query("p1", "\"AND\" (:) -")).is_empty());
    // Types filter.
    let mut q = query("p1", "backoff");
    q.entry_types = vec!["decision".into()];
    assert_eq!(ids(&index, &q), vec![4]);
    // A dismissed entry drops out unless asked for.
    index.upsert(doc(
        1,
        "p1",
        "Retries use exponential backoff in the HTTP client",
        EntryStatus::Dismissed,
    ));
    index.flush();
    assert_eq!(ids(&index, &query("p1", "backoff")), vec![4]);
    let mut all = query("p1", "backoff");
    all.include_inactive = true;
    assert_eq!(ids(&index, &all).len(), 2);
    // A deleted project's entries go.
    index.remove_project("p1");
    index.flush();
    assert!(ids(&index, &all).is_empty());
    assert_eq!(ids(&index, &query("p2", "retries")), vec![3]);
}

#[test]
fn reopens_complete_and_rebuilds_when_missing_or_corrupt() {
    let dir = tempfile::tempdir().unwrap();
    {
        let (index, _) = KnowledgeIndex::open(dir.path()).unwrap();
        let n = index
            .rebuild((1..=3).map(|i| doc(i, "p", "cache invalidation rules", EntryStatus::Active)))
            .unwrap();
        assert_eq!(n, 3);
        // A second open of the same directory is refused while this one lives.
        assert!(KnowledgeIndex::open(dir.path()).is_err());
    }
    let (index, needs) = KnowledgeIndex::open(dir.path()).unwrap();
    assert!(!needs, "a completed rebuild is reused");
    assert_eq!(ids(&index, &query("p", "cache")).len(), 3);
    drop(index);
    // Corrupt: the index files are garbage. The open starts empty and asks for a rebuild.
    let meta = dir.path().join(INDEX_SUBDIR).join("meta.json");
    fs::write(&meta, b"not json").unwrap();
    let (index, needs) = KnowledgeIndex::open(dir.path()).unwrap();
    assert!(needs);
    assert!(ids(&index, &query("p", "cache")).is_empty());
    drop(index);
    // Missing: same.
    fs::remove_dir_all(dir.path().join(INDEX_SUBDIR)).unwrap();
    let (_index, needs) = KnowledgeIndex::open(dir.path()).unwrap();
    assert!(needs);
}

fn page(id: &str, project: &str, title: &str, content: &str) -> PageDoc {
    PageDoc {
        page_id: id.into(),
        project_id: project.into(),
        title: title.into(),
        content: content.into(),
    }
}

fn pages(index: &KnowledgeIndex, project: &str, text: &str) -> Vec<String> {
    index
        .search_pages(&PageQuery {
            project_id: project.into(),
            text: text.into(),
            limit: 10,
        })
        .unwrap()
        .into_iter()
        .map(|h| h.page_id)
        .collect()
}

#[test]
fn pages_are_their_own_kind_replaced_per_project() {
    let dir = tempfile::tempdir().unwrap();
    let (index, _) = KnowledgeIndex::open(dir.path()).unwrap();
    index.upsert(doc(
        1,
        "p1",
        "Deploys use the Helm chart",
        EntryStatus::Active,
    ));
    index.replace_pages(
        "p1",
        vec![
            page("kp_1", "p1", "Deploy guide", "Blue-green deploys with Helm"),
            page("kp_2", "p1", "Known issues", "The importer drops a line"),
        ],
    );
    index.replace_pages("p2", vec![page("kp_3", "p2", "Helm", "Helm everywhere")]);
    index.flush();
    // Entries and pages never answer for each other, even with inactive entries.
    assert_eq!(pages(&index, "p1", "helm"), vec!["kp_1"]);
    let all = KnowledgeQuery {
        include_inactive: true,
        ..query("p1", "helm deploy")
    };
    assert_eq!(ids(&index, &all), vec![1]);
    // By title too; one project only.
    assert_eq!(pages(&index, "p1", "issues"), vec!["kp_2"]);
    assert_eq!(pages(&index, "p2", "helm"), vec!["kp_3"]);
    // A replacement drops the pages it does not list.
    index.replace_pages("p1", vec![page("kp_2", "p1", "Known issues", "Fixed")]);
    index.flush();
    assert!(pages(&index, "p1", "helm").is_empty());
    assert_eq!(pages(&index, "p1", "fixed"), vec!["kp_2"]);
    assert_eq!(ids(&index, &query("p1", "helm")), vec![1]);
    // A rebuild takes both kinds; removing a project removes both.
    let n = index
        .rebuild(
            [
                IndexDoc::Entry(doc(
                    1,
                    "p1",
                    "Deploys use the Helm chart",
                    EntryStatus::Active,
                )),
                IndexDoc::Page(page("kp_1", "p1", "Deploy guide", "Helm")),
            ]
            .into_iter(),
        )
        .unwrap();
    assert_eq!(n, 2);
    assert_eq!(pages(&index, "p1", "helm"), vec!["kp_1"]);
    index.remove_project("p1");
    index.flush();
    assert!(pages(&index, "p1", "helm").is_empty());
    assert!(ids(&index, &query("p1", "helm")).is_empty());
}
