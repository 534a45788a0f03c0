//! Step 9 without a model: the deterministic merge of the pending claims into the document,
//! and the word budget every merge ends with.

use super::*;

pub(super) fn bullet_text(content: &str) -> String {
    content.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// A document as sections: the text before the first `## ` heading, then each heading with
/// its lines.
pub(super) struct Sections {
    pub(super) preamble: Vec<String>,
    pub(super) sections: Vec<(String, Vec<String>)>,
}

impl Sections {
    pub(super) fn parse(doc: &str) -> Sections {
        let mut preamble = Vec::new();
        let mut sections: Vec<(String, Vec<String>)> = Vec::new();
        for line in doc.lines() {
            if let Some(title) = line.strip_prefix("## ") {
                sections.push((title.trim().to_string(), Vec::new()));
            } else if let Some((_, body)) = sections.last_mut() {
                body.push(line.to_string());
            } else {
                preamble.push(line.to_string());
            }
        }
        Sections { preamble, sections }
    }

    fn render(&self) -> String {
        let mut blocks = Vec::new();
        let pre = self.preamble.join("\n").trim().to_string();
        if !pre.is_empty() {
            blocks.push(pre);
        }
        for (title, body) in &self.sections {
            let body = body.join("\n").trim().to_string();
            blocks.push(if body.is_empty() {
                format!("## {title}")
            } else {
                format!("## {title}\n{body}")
            });
        }
        blocks.join("\n\n")
    }

    fn bullets(&self) -> HashSet<String> {
        self.preamble
            .iter()
            .chain(self.sections.iter().flat_map(|(_, b)| b.iter()))
            .filter_map(|l| l.trim_start().strip_prefix("- "))
            .map(|b| b.trim().to_lowercase())
            .collect()
    }
}

/// Step 9, without a model: the current document with `## Recent Changes` dropped and the
/// `## Unverified` facts carried over; each pending claim (≥ 0.5) added as a bullet under its
/// type's heading (the heading appended when missing — placed under the existing heading, not
/// at the end as the reference does, 02 §9.4); low-confidence facts under `## Unverified`; one
/// `## Recent Changes` with the pending claims by creation date; then the word budget.
pub fn deterministic_merge(document: &str, pending: &[&CompileEntry], budget: i64) -> String {
    let mut doc = Sections::parse(document);
    let mut carried: Vec<String> = Vec::new();
    doc.sections.retain(|(title, body)| {
        if title.eq_ignore_ascii_case("Recent Changes") {
            return false;
        }
        if title.eq_ignore_ascii_case("Unverified") {
            for line in body {
                if let Some(b) = line.trim_start().strip_prefix("- ") {
                    let fact = b.trim();
                    let fact = fact.strip_prefix("(unverified) ").unwrap_or(fact);
                    carried.push(fact.to_string());
                }
            }
            return false;
        }
        true
    });
    if doc.preamble.iter().all(|l| l.trim().is_empty()) && doc.sections.is_empty() {
        doc.preamble = vec![EMPTY_DOCUMENT.to_string()];
    }
    let mut present = doc.bullets();
    let mut unverified = carried;
    for t in types_alphabetical() {
        let group: Vec<&&CompileEntry> = pending.iter().filter(|e| e.entry_type == t).collect();
        if group.is_empty() {
            continue;
        }
        let title = heading(t);
        let index = match doc.sections.iter().position(|(h, _)| h == title) {
            Some(i) => i,
            None => {
                doc.sections.push((title.to_string(), Vec::new()));
                doc.sections.len() - 1
            }
        };
        for e in group {
            let text = bullet_text(&e.content);
            if e.confidence < LOW_CONFIDENCE {
                unverified.push(text);
                continue;
            }
            if present.insert(text.to_lowercase()) {
                let body = &mut doc.sections[index].1;
                while body.last().is_some_and(|l| l.trim().is_empty()) {
                    body.pop();
                }
                body.push(format!("- {text}"));
            }
        }
    }
    let mut seen = HashSet::new();
    let facts: Vec<String> = unverified
        .into_iter()
        .filter(|f| !present.contains(&f.to_lowercase()) && seen.insert(f.to_lowercase()))
        .map(|f| format!("- (unverified) {f}"))
        .collect();
    if !facts.is_empty() {
        doc.sections.push(("Unverified".into(), facts));
    }
    if !pending.is_empty() {
        let mut by_day: BTreeMap<String, Vec<&CompileEntry>> = BTreeMap::new();
        for e in pending {
            let day = e.created_at.get(..10).unwrap_or(&e.created_at).to_string();
            by_day.entry(day).or_default().push(e);
        }
        let mut body = Vec::new();
        for (day, group) in by_day.iter().rev() {
            if !body.is_empty() {
                body.push(String::new());
            }
            body.push(format!("### {day}"));
            for e in group {
                body.push(format!(
                    "- [{}] {}",
                    e.entry_type.as_str(),
                    bullet_text(&e.content)
                ));
            }
        }
        doc.sections.push(("Recent Changes".into(), body));
    }
    enforce_budget(&doc.render(), budget)
}

/// The word budget: while the document is over it, delete the last bullet of the `##` section
/// with the most bullets (only sections with more than 3).
pub fn enforce_budget(document: &str, budget: i64) -> String {
    let mut doc = Sections::parse(document);
    let is_bullet = |l: &String| l.trim_start().starts_with("- ");
    while word_count(&doc.render()) > budget {
        let Some((index, _)) = doc
            .sections
            .iter()
            .enumerate()
            .map(|(i, (_, body))| (i, body.iter().filter(|l| is_bullet(l)).count()))
            .filter(|(_, n)| *n > 3)
            .max_by_key(|&(i, n)| (n, std::cmp::Reverse(i)))
        else {
            break;
        };
        let body = &mut doc.sections[index].1;
        if let Some(last) = body.iter().rposition(is_bullet) {
            body.remove(last);
        }
    }
    doc.render()
}
