//! The platform admin's restore of a project's document from a compilation (03 §4.2).

use super::*;

/// What an admin restore did (or would do).
#[derive(Debug, Clone)]
pub struct Restored {
    pub compiled_at: Option<String>,
    pub context_words_restored: i64,
    pub entries_compiled_at_restored: i64,
}

/// 03 §4.2: put back the context document a compilation produced and stamp its entries with
/// its time, with an admin audit row, in one transaction; a dry run writes nothing.
pub async fn restore_from_compilation(
    db: &Db,
    clock: &Clock,
    admin_id: String,
    project_id: String,
    compilation_id: i64,
    dry_run: bool,
) -> DomainResult<Restored> {
    let clock = clock.clone();
    let work = move |tx: &Connection, write: bool| -> DomainResult<Restored> {
        if rows::settings(tx, &project_id)?.is_none() {
            return Err(DomainError::NotFound(format!(
                "Project {project_id} not found"
            )));
        }
        let c = rows::compilation(tx, &project_id, compilation_id)?.ok_or_else(|| {
            DomainError::NotFound(format!(
                "Compilation {compilation_id} not found in project {project_id}"
            ))
        })?;
        let document = c.context_after.clone().unwrap_or_default();
        if document.trim().is_empty() {
            return Err(DomainError::Unprocessable(format!(
                "Compilation {compilation_id} has no context to restore"
            )));
        }
        let manifest: Value = serde_json::from_str(&c.source_manifest).unwrap_or(Value::Null);
        let ids: BTreeSet<i64> = manifest
            .as_object()
            .into_iter()
            .flat_map(|m| m.values())
            .flat_map(|v| v.as_array().cloned().unwrap_or_default())
            .filter_map(|item| item["kb_entry_id"].as_i64())
            .collect();
        let out = Restored {
            compiled_at: Some(c.compiled_at.clone()),
            context_words_restored: word_count(&document),
            entries_compiled_at_restored: ids.len() as i64,
        };
        if write {
            let now = clock.now_string();
            rows::set_document(tx, &project_id, &document, &now)?;
            let ids: Vec<i64> = ids.into_iter().collect();
            rows::set_compiled_at(tx, &project_id, &ids, &c.compiled_at)?;
            crate::db::admin::record(
                tx,
                Some(&admin_id),
                "restore_from_compilation",
                "project",
                &project_id,
                &json!({
                    "compilation_id": compilation_id,
                    "context_words_restored": out.context_words_restored,
                    "entries_compiled_at_restored": out.entries_compiled_at_restored,
                }),
                "api",
                &now,
            )?;
        }
        Ok(out)
    };
    if dry_run {
        db.read(move |conn| work(conn, false)).await
    } else {
        db.write(move |tx| work(tx, true)).await
    }
}
