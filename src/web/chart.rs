//! Server-rendered SVG pictures: sessions per day by tool (stacked bars) and storage used.
//! Only numbers and escaped labels go in; colours come from the stylesheet (classes `t0`–`t5`),
//! so the CSP needs no inline styles.

use std::collections::BTreeMap;

use chrono::{Duration, NaiveDate};
use maud::{html, Markup};

use crate::web::layout::size;

/// Colour classes; tools beyond them share the last.
const COLOURS: usize = 6;

/// Stacked bars of `(day, tool, count)` for the `days` days ending `today`.
pub fn sessions_per_day(rows: &[(String, String, i64)], today: NaiveDate, days: i64) -> Markup {
    let mut tools: Vec<&str> = rows.iter().map(|(_, t, _)| t.as_str()).collect();
    tools.sort_unstable();
    tools.dedup();
    let mut per_day: BTreeMap<&str, Vec<(usize, i64)>> = BTreeMap::new();
    for (day, tool, n) in rows {
        let idx = tools.iter().position(|t| t == tool).unwrap_or(0);
        per_day.entry(day.as_str()).or_default().push((idx, *n));
    }
    let dates: Vec<NaiveDate> = (0..days)
        .rev()
        .map(|back| today - Duration::days(back))
        .collect();
    let max = dates
        .iter()
        .map(|d| {
            per_day
                .get(d.format("%Y-%m-%d").to_string().as_str())
                .map(|v| v.iter().map(|(_, n)| n).sum::<i64>())
                .unwrap_or(0)
        })
        .max()
        .unwrap_or(0)
        .max(1);
    let (width, height, left, bottom) = (640.0_f64, 180.0_f64, 28.0_f64, 20.0_f64);
    let plot_h = height - bottom - 6.0;
    let slot = (width - left) / days as f64;
    let bar = (slot * 0.7).max(1.0);
    let total: i64 = rows.iter().map(|(_, _, n)| n).sum();
    let summary = format!(
        "Sessions per day over the last {days} days: {total} in all{}.",
        if tools.is_empty() {
            String::new()
        } else {
            format!(", from {}", tools.join(", "))
        }
    );
    html! {
        figure.chart {
            svg viewBox=(format!("0 0 {width} {height}")) role="img" aria-label=(summary) {
                title { (summary) }
                line.axis x1=(left) y1=(height - bottom) x2=(width) y2=(height - bottom) {}
                text.label x=(left - 4.0) y=(height - bottom - plot_h + 10.0) text-anchor="end" { (max) }
                text.label x=(left - 4.0) y=(height - bottom) text-anchor="end" { "0" }
                @for (i, date) in dates.iter().enumerate() {
                    @let key = date.format("%Y-%m-%d").to_string();
                    @let x = left + slot * i as f64 + (slot - bar) / 2.0;
                    @let mut y = height - bottom;
                    @if let Some(parts) = per_day.get(key.as_str()) {
                        @for (tool, n) in parts {
                            @let h = plot_h * (*n as f64) / (max as f64);
                            @let top = { y -= h; y };
                            rect class=(format!("t{}", tool.min(&(COLOURS - 1)))) x=(format!("{x:.1}")) y=(format!("{top:.1}"))
                                width=(format!("{bar:.1}")) height=(format!("{h:.1}")) {
                                title { (key) ": " (n) " from " (tools[*tool]) }
                            }
                        }
                    }
                    @if (i % 7 == 0 && dates.len() - i > 4) || i + 1 == dates.len() {
                        text.label x=(format!("{:.1}", x + bar / 2.0)) y=(height - 4.0) text-anchor="middle" {
                            (date.format("%m-%d").to_string())
                        }
                    }
                }
            }
            figcaption {
                ul.legend {
                    @for (i, tool) in tools.iter().enumerate() {
                        li { span class=(format!("swatch t{}", i.min(COLOURS - 1))) aria-hidden="true" {} (tool) }
                    }
                    @if tools.is_empty() { li { "No sessions in this period yet." } }
                }
            }
        }
    }
}

/// A bar of storage used per tool against the tier's limit (0: unlimited, the bar is then
/// the share of each tool in what is used).
pub fn storage(by_tool: &[(String, i64)], limit: u64) -> Markup {
    let used: i64 = by_tool.iter().map(|(_, b)| b).sum();
    let cap = (limit as f64).max(used as f64).max(1.0);
    let width = 640.0_f64;
    let summary = if limit == 0 {
        format!("Storage used: {} (no limit)", size(used))
    } else {
        format!("Storage used: {} of {}", size(used), size(limit as i64))
    };
    html! {
        figure.chart {
            svg viewBox=(format!("0 0 {width} 28")) role="img" aria-label=(summary) {
                title { (summary) }
                rect.track x="0" y="4" width=(width) height="20" rx="4" {}
                @let mut x = 0.0_f64;
                @for (i, (tool, bytes)) in by_tool.iter().enumerate() {
                    @let w = width * (*bytes as f64) / cap;
                    @let start = { let s = x; x += w; s };
                    rect class=(format!("t{}", i.min(COLOURS - 1))) x=(format!("{start:.1}")) y="4"
                        width=(format!("{w:.1}")) height="20" {
                        title { (tool) ": " (size(*bytes)) }
                    }
                }
            }
            figcaption {
                (summary)
                ul.legend {
                    @for (i, (tool, bytes)) in by_tool.iter().enumerate() {
                        li { span class=(format!("swatch t{}", i.min(COLOURS - 1))) aria-hidden="true" {} (tool) ": " (size(*bytes)) }
                    }
                }
            }
        }
    }
}

/// Counts per status (a ticket board's columns) as one row of bars, each labelled with its
/// count; the longest bar is the largest count.
pub fn counts(caption: &str, rows: &[(&str, usize)]) -> Markup {
    let max = rows.iter().map(|(_, n)| *n).max().unwrap_or(0).max(1) as f64;
    let total: usize = rows.iter().map(|(_, n)| n).sum();
    let (row_h, label_w, width) = (18.0_f64, 110.0_f64, 640.0_f64);
    let height = row_h * rows.len() as f64 + 4.0;
    let summary = format!(
        "{caption}: {}",
        rows.iter()
            .map(|(s, n)| format!("{s} {n}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    html! {
        figure.chart.counts {
            svg viewBox=(format!("0 0 {width} {height}")) role="img" aria-label=(summary) {
                title { (summary) }
                @for (i, (label, n)) in rows.iter().enumerate() {
                    @let y = 2.0 + row_h * i as f64;
                    @let w = (width - label_w - 40.0) * (*n as f64) / max;
                    text.label x="0" y=(format!("{:.1}", y + 12.0)) { (label) }
                    rect class=(format!("t{}", i % COLOURS)) x=(label_w) y=(format!("{y:.1}"))
                        width=(format!("{w:.1}")) height=(row_h - 4.0) {}
                    text.label x=(format!("{:.1}", label_w + w + 4.0)) y=(format!("{:.1}", y + 12.0)) { (n) }
                }
            }
            figcaption { (caption) ": " (total) " in all" }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bars_escape_labels_and_scale() {
        let today = NaiveDate::from_ymd_opt(2026, 12, 3).unwrap();
        let rows = vec![
            ("2026-12-03".to_string(), "<b>evil</b>".to_string(), 4),
            ("2026-12-02".to_string(), "codex".to_string(), 2),
        ];
        let svg = sessions_per_day(&rows, today, 30).into_string();
        assert!(svg.contains("&lt;b&gt;evil&lt;/b&gt;"));
        assert!(!svg.contains("<b>evil"));
        assert_eq!(svg.matches("<rect").count(), 2);
        assert!(svg.contains("6 in all"));
    }
}
