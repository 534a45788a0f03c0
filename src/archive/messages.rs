//! Reads `messages.jsonl` out of a stored archive, a page at a time.
//!
//! Stored archives were validated on upload, so reading them is safe; still nothing is kept in
//! memory but the page asked for: one pass finds which lines are visible messages, a second
//! pass parses only the lines of the page.

use std::io::{self, BufRead, BufReader, Read};

use serde_json::Value;

use super::ArchiveError;

/// Calls `each(line_number, line)` for every line of the root `messages.jsonl` of the archive.
/// Returns `false` when the archive has no such member.
pub fn for_each_line(
    archive: impl Read,
    mut each: impl FnMut(usize, &[u8]),
) -> Result<bool, ArchiveError> {
    let gz = flate2::read::MultiGzDecoder::new(archive);
    let mut tar = tar::Archive::new(gz);
    let damaged = ArchiveError::StoredDamaged;
    for entry in tar.entries().map_err(damaged)? {
        let entry = entry.map_err(damaged)?;
        let name = entry.path_bytes();
        let name = name.strip_prefix(b"./").unwrap_or(&name);
        if name != b"messages.jsonl" {
            continue;
        }
        let mut reader = BufReader::new(entry);
        let mut line = Vec::new();
        let mut number = 0usize;
        loop {
            line.clear();
            if reader.read_until(b'\n', &mut line).map_err(damaged)? == 0 {
                return Ok(true);
            }
            each(number, &line);
            number += 1;
        }
    }
    Ok(false)
}

/// A message is hidden when it is a sidechain, or has empty content and is not a tool message.
pub fn is_visible(message: &serde_json::Map<String, Value>) -> bool {
    let sidechain = match message.get("is_sidechain") {
        None | Some(Value::Null) | Some(Value::Bool(false)) => false,
        Some(Value::String(s)) => !s.is_empty(),
        Some(Value::Number(n)) => n.as_f64() != Some(0.0),
        Some(_) => true,
    };
    if sidechain {
        return false;
    }
    let empty = match message.get("content") {
        None | Some(Value::Null) => true,
        Some(Value::String(s)) => s.is_empty(),
        Some(Value::Array(a)) => a.is_empty(),
        Some(Value::Object(o)) => o.is_empty(),
        Some(_) => false,
    };
    !empty || message.get("role").and_then(Value::as_str) == Some("tool")
}

#[derive(Debug, Clone, Copy)]
pub struct PageRequest {
    pub page: usize,
    pub page_size: usize,
    pub newest_first: bool,
    pub around: Option<usize>,
}

#[derive(Debug, PartialEq)]
pub struct Target {
    pub index: usize,
    pub status: &'static str,
    pub anchor_index: Option<usize>,
}

#[derive(Debug)]
pub struct MessagePage {
    pub messages: Vec<Value>,
    pub message_indexes: Vec<usize>,
    pub total: usize,
    pub page: usize,
    pub target: Option<Target>,
}

enum LineKind {
    Visible,
    Hidden,
}

fn classify(line: &[u8]) -> Option<(LineKind, Value)> {
    match serde_json::from_slice::<Value>(line).ok()? {
        Value::Object(m) => {
            let kind = if is_visible(&m) {
                LineKind::Visible
            } else {
                LineKind::Hidden
            };
            Some((kind, Value::Object(m)))
        }
        _ => None,
    }
}

/// Reads one page of visible messages. `open` is called once per pass.
pub fn read_page<R: Read>(
    mut open: impl FnMut() -> io::Result<R>,
    req: PageRequest,
) -> Result<Option<MessagePage>, ArchiveError> {
    let reopen = ArchiveError::StoredUnopenable;
    let mut visible: Vec<usize> = Vec::new();
    let mut target_status = "missing";
    let found = for_each_line(open().map_err(reopen)?, |n, line| {
        if let Some((kind, _)) = classify(line) {
            let is_target = req.around == Some(n);
            match kind {
                LineKind::Visible => {
                    visible.push(n);
                    if is_target {
                        target_status = "found";
                    }
                }
                LineKind::Hidden if is_target => target_status = "hidden",
                LineKind::Hidden => {}
            }
        }
    })?;
    if !found {
        return Ok(None);
    }
    if req.newest_first {
        visible.reverse();
    }
    let total = visible.len();
    let mut page = req.page.max(1);
    let mut target = None;
    if let Some(index) = req.around {
        // The nearest visible message to the requested line, ties to the earlier line.
        let anchor = visible
            .iter()
            .copied()
            .min_by_key(|&v| (v.abs_diff(index), v));
        if let Some(anchor) = anchor {
            let position = visible.iter().position(|&v| v == anchor).unwrap_or(0);
            page = position / req.page_size + 1;
        } else {
            page = 1;
        }
        target = Some(Target {
            index,
            status: target_status,
            anchor_index: anchor,
        });
    }
    let start = (page - 1).saturating_mul(req.page_size).min(total);
    let end = (start + req.page_size).min(total);
    let wanted: Vec<usize> = visible[start..end].to_vec();
    let mut by_line: Vec<(usize, Value)> = Vec::with_capacity(wanted.len());
    if !wanted.is_empty() {
        let (low, high) = (
            *wanted.iter().min().unwrap_or(&0),
            *wanted.iter().max().unwrap_or(&0),
        );
        for_each_line(open().map_err(reopen)?, |n, line| {
            if n >= low && n <= high && wanted.contains(&n) {
                if let Some((_, value)) = classify(line) {
                    by_line.push((n, value));
                }
            }
        })?;
    }
    let messages = wanted
        .iter()
        .filter_map(|n| {
            by_line
                .iter()
                .position(|(l, _)| l == n)
                .map(|i| by_line[i].1.clone())
        })
        .collect();
    Ok(Some(MessagePage {
        messages,
        message_indexes: wanted,
        total,
        page,
        target,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::archive::fixture::{gzip, tar_of, Member};

    fn archive() -> Vec<u8> {
        let lines = [
            r#"{"role":"user","content":"one"}"#,
            "",
            r#"{"role":"assistant","content":"two","is_sidechain":true}"#,
            "not json",
            r#"{"role":"tool","content":""}"#,
            r#"{"role":"assistant","content":[]}"#,
            r#"{"role":"assistant","content":"three"}"#,
        ]
        .join("\n");
        gzip(&tar_of(&[Member::file("messages.jsonl", lines.as_bytes())]))
    }

    fn page(req: PageRequest) -> MessagePage {
        let bytes = archive();
        read_page(|| Ok(&bytes[..]), req).unwrap().unwrap()
    }

    #[test]
    fn pages_skip_hidden_messages() {
        let p = page(PageRequest {
            page: 1,
            page_size: 2,
            newest_first: false,
            around: None,
        });
        assert_eq!(p.total, 3);
        assert_eq!(p.message_indexes, vec![0, 4]);
        assert_eq!(p.messages[0]["content"], "one");
        let p = page(PageRequest {
            page: 1,
            page_size: 2,
            newest_first: true,
            around: None,
        });
        assert_eq!(p.message_indexes, vec![6, 4]);
        assert_eq!(p.messages[0]["content"], "three");
    }

    #[test]
    fn around_finds_the_nearest_visible_message() {
        let p = page(PageRequest {
            page: 9,
            page_size: 1,
            newest_first: false,
            around: Some(5),
        });
        assert_eq!(
            p.target,
            Some(Target {
                index: 5,
                status: "hidden",
                anchor_index: Some(4)
            })
        );
        assert_eq!(p.page, 2);
        assert_eq!(p.message_indexes, vec![4]);
        let p = page(PageRequest {
            page: 1,
            page_size: 1,
            newest_first: false,
            around: Some(6),
        });
        assert_eq!(p.target.unwrap().status, "found");
        let p = page(PageRequest {
            page: 1,
            page_size: 1,
            newest_first: false,
            around: Some(99),
        });
        assert_eq!(p.target.unwrap().status, "missing");
    }
}
