//! Agent personas of projects and orgs (02 §6): insert, find by name (case-insensitively), list,
//! update. Names are ASCII, so SQLite's NOCASE collation is the whole case-insensitive
//! comparison, and the unique indexes of V8 serve every lookup.

use rusqlite::{params, Connection, OptionalExtension, Row};

use crate::db::DbResult;

/// Whose persona it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Owner {
    Project(String),
    Org(String),
}

impl Owner {
    fn column(&self) -> &'static str {
        match self {
            Owner::Project(_) => "project_id",
            Owner::Org(_) => "org_id",
        }
    }
    fn id(&self) -> &str {
        match self {
            Owner::Project(id) | Owner::Org(id) => id,
        }
    }
}

#[derive(Debug, Clone)]
pub struct Persona {
    pub id: String,
    pub project_id: Option<String>,
    pub org_id: Option<String>,
    pub name: String,
    pub role: String,
    pub content: String,
    pub specializations: Vec<String>,
    pub is_active: bool,
    pub version: i64,
    pub created_by: String,
    pub represented_user_id: Option<String>,
    pub created_at: String,
    pub updated_at: String,
}

impl Persona {
    /// `"project"` or `"org"`.
    pub fn scope(&self) -> &'static str {
        if self.project_id.is_some() {
            "project"
        } else {
            "org"
        }
    }
}

const COLUMNS: &str = "id, project_id, org_id, name, role, content, specializations, is_active, \
    version, created_by, represented_user_id, created_at, updated_at";

fn from_row(r: &Row) -> rusqlite::Result<Persona> {
    let specs: String = r.get(6)?;
    Ok(Persona {
        id: r.get(0)?,
        project_id: r.get(1)?,
        org_id: r.get(2)?,
        name: r.get(3)?,
        role: r.get(4)?,
        content: r.get(5)?,
        specializations: serde_json::from_str(&specs).map_err(|e| {
            rusqlite::Error::FromSqlConversionFailure(6, rusqlite::types::Type::Text, e.into())
        })?,
        is_active: r.get(7)?,
        version: r.get(8)?,
        created_by: r.get(9)?,
        represented_user_id: r.get(10)?,
        created_at: r.get(11)?,
        updated_at: r.get(12)?,
    })
}

fn specs_json(specs: &[String]) -> String {
    serde_json::to_string(specs).expect("a list of strings serializes")
}

/// Inserts a persona; a taken name (any case, soft-deleted included) is `DbError::Duplicate`.
pub fn insert(conn: &Connection, p: &Persona, service_key: Option<(&str, &str)>) -> DbResult<()> {
    conn.execute(
        "INSERT INTO agent_personas (id, project_id, org_id, name, role, content, specializations,
            is_active, version, created_by, represented_user_id, actor_type, service_key_id,
            service_key_name, created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)",
        params![
            p.id,
            p.project_id,
            p.org_id,
            p.name,
            p.role,
            p.content,
            specs_json(&p.specializations),
            p.is_active,
            p.version,
            p.created_by,
            p.represented_user_id,
            if service_key.is_some() {
                "service_key"
            } else {
                "user"
            },
            service_key.map(|k| k.0),
            service_key.map(|k| k.1),
            p.created_at,
            p.updated_at,
        ],
    )?;
    Ok(())
}

/// The persona of `owner` named `name` in any case, active or not.
pub fn find(conn: &Connection, owner: &Owner, name: &str) -> DbResult<Option<Persona>> {
    let sql = format!(
        "SELECT {COLUMNS} FROM agent_personas WHERE {} = ?1 AND name = ?2 COLLATE NOCASE",
        owner.column()
    );
    Ok(conn
        .query_row(&sql, params![owner.id(), name], from_row)
        .optional()?)
}

/// The personas of `owner` sorted by name (case-insensitively), inactive ones only when asked.
pub fn list(conn: &Connection, owner: &Owner, include_inactive: bool) -> DbResult<Vec<Persona>> {
    let sql = format!(
        "SELECT {COLUMNS} FROM agent_personas WHERE {} = ?1 {} ORDER BY name COLLATE NOCASE",
        owner.column(),
        if include_inactive {
            ""
        } else {
            "AND is_active = 1"
        }
    );
    let mut stmt = conn.prepare(&sql)?;
    let rows = stmt.query_map([owner.id()], from_row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Writes the mutable fields of `p` (found by id) and its version.
pub fn update(conn: &Connection, p: &Persona) -> DbResult<()> {
    conn.execute(
        "UPDATE agent_personas SET role = ?2, content = ?3, specializations = ?4, is_active = ?5,
            version = ?6, represented_user_id = ?7, updated_at = ?8
         WHERE id = ?1",
        params![
            p.id,
            p.role,
            p.content,
            specs_json(&p.specializations),
            p.is_active,
            p.version,
            p.represented_user_id,
            p.updated_at,
        ],
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::test_support::{migrated, query_plan};

    #[test]
    fn lookups_use_the_name_indexes() {
        let (_dir, conn) = migrated();
        for owner in [Owner::Project("p".into()), Owner::Org("o".into())] {
            let col = owner.column();
            let find = query_plan(
                &conn,
                &format!(
                    "SELECT id FROM agent_personas WHERE {col} = 'x' AND name = 'A' COLLATE NOCASE"
                ),
            );
            assert!(find.contains("USING INDEX agent_personas_"), "{find}");
            let list = query_plan(&conn,
                &format!("SELECT id FROM agent_personas WHERE {col} = 'x' AND is_active = 1 ORDER BY name COLLATE NOCASE"),
            );
            assert!(list.contains("USING INDEX agent_personas_"), "{list}");
            assert!(!list.contains("TEMP B-TREE"), "{list}");
        }
    }
}
