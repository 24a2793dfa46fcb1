//! `--format table`: for people at a terminal. Findings grouped by
//! severity, one row of evidence per domain, configuration warnings, a
//! summary that names every inconclusive domain, and the next step.
//!
//! The evidence and declared columns wrap to fit the terminal (`COLUMNS`,
//! else the terminal's width); the others never wrap, so a domain or a rule
//! id stays one word to copy.

use std::io::{self, Write};

use tabled::builder::Builder;
use tabled::settings::Style;

use super::{
    AuditFormatter, Report, inconclusive_domains, local_domain_count, name_list, printable,
    server_label, text_width, unicode_form, warning_place, wrap_words,
};
use crate::audit::{Audit, AuditedDomain};
use crate::inventory::{Declared, Inventory, InventoryWarning};
use crate::rules::{RunFinding, Severity, evidence_summary};

/// Inconclusive domains named in the summary before "and N more".
const INCONCLUSIVE_NAMED: usize = 20;

fn declared_cell(declared: &[Declared]) -> String {
    declared
        .iter()
        .map(|d| {
            let file = printable(&d.file);
            if d.line > 0 {
                format!("{file}:{}", d.line)
            } else {
                file.into_owned()
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The domain, with its Unicode form on a second line for an IDN.
fn domain_cell(d: &AuditedDomain) -> String {
    match unicode_form(&d.domain.name) {
        Some(unicode) => format!("{}\n({})", d.domain.name, printable(&unicode)),
        None => d.domain.name.to_string(),
    }
}

/// A paragraph of prose: indented by `indent`, wrapped to `width` when
/// known, continuation lines indented two more.
fn para(width: Option<usize>, indent: usize, text: &str) -> String {
    let Some(width) = width else {
        return format!("{}{text}", " ".repeat(indent));
    };
    let first = " ".repeat(indent);
    let rest = " ".repeat(indent + 2);
    wrap_words(text, width.saturating_sub(indent + 2).max(20))
        .lines()
        .enumerate()
        .map(|(i, line)| format!("{}{line}", if i == 0 { &first } else { &rest }))
        .collect::<Vec<_>>()
        .join("\n")
}

fn write_warnings(
    warnings: &[InventoryWarning],
    shown: &[usize],
    heading: &str,
    width: Option<usize>,
    out: &mut dyn Write,
) -> io::Result<()> {
    if shown.is_empty() {
        return Ok(());
    }
    writeln!(out, "{heading} ({}):", shown.len())?;
    for w in shown.iter().filter_map(|i| warnings.get(*i)) {
        let text = format!("{}{}", printable(&warning_place(w)), printable(&w.message));
        writeln!(out, "{}", para(width, 2, &text))?;
    }
    writeln!(out)
}

/// Findings about the server or the run, before the per-domain tables:
/// they change how every row below must be read.
fn write_run_findings(
    findings: &[&RunFinding],
    heading: &str,
    width: Option<usize>,
    out: &mut dyn Write,
) -> io::Result<()> {
    if findings.is_empty() {
        return Ok(());
    }
    writeln!(out, "{heading} ({})", findings.len())?;
    for f in findings {
        let place = f
            .location()
            .map(|l| format!(" ({})", printable(&l)))
            .unwrap_or_default();
        let text = format!(
            "{} {}{place}: {}",
            f.severity.as_str().to_uppercase(),
            f.rule,
            printable(&f.message)
        );
        writeln!(out, "{}", para(width, 2, &text))?;
        for line in &f.evidence {
            writeln!(out, "{}", para(width, 6, &printable(line)))?;
        }
    }
    writeln!(out)
}

/// The table formatter. `width`: the terminal width to fit, if known.
#[derive(Debug, Clone, Copy, Default)]
pub struct Table {
    pub width: Option<usize>,
}

/// One finding's row, before the layout is chosen.
struct Row {
    domain: String,
    delivery: &'static str,
    verdict: &'static str,
    rule: String,
    evidence: String,
    declared: String,
}

/// Borders and padding of a sharp table with `columns` columns: a border
/// between and around them, one space of padding on each side.
fn frame(columns: usize) -> usize {
    columns + 1 + 2 * columns
}

/// The evidence column is never wrapped narrower than this.
const MIN_EVIDENCE: usize = 24;
/// Rule ids break after a hyphen to fit this on a narrow terminal.
const RULE_BROKEN: usize = 16;
/// In the wide layout the declared column wraps down to this.
const MIN_DECLARED: usize = 16;

fn width_of<'a>(cells: impl Iterator<Item = &'a str>) -> usize {
    cells
        .flat_map(str::lines)
        .map(text_width)
        .max()
        .unwrap_or(0)
}

/// `backup-mx-delivers-locally` as `backup-mx-` / `delivers-locally`:
/// lines of at most `width`, broken only after a hyphen.
fn break_at_hyphens(id: &str, width: usize) -> String {
    let mut lines: Vec<String> = vec![String::new()];
    for part in id.split_inclusive('-') {
        let current = lines.last_mut().map_or(0, |l| l.len());
        if current > 0 && current + part.len() > width {
            lines.push(String::new());
        }
        if let Some(line) = lines.last_mut() {
            line.push_str(part);
        }
    }
    lines.join("\n")
}

impl Table {
    /// Render rows in the wide layout (six columns) when it fits the width,
    /// else in the compact one (delivery and verdict stacked in one column,
    /// the declaration under the evidence). Only the evidence and declared
    /// columns wrap.
    fn render(&self, rows: &[Row]) -> String {
        let header = [
            "domain", "delivery", "verdict", "rule", "evidence", "declared",
        ];
        let domain = width_of(rows.iter().map(|r| r.domain.as_str()).chain([header[0]]));
        let delivery = width_of(rows.iter().map(|r| r.delivery).chain([header[1]]));
        let verdict = width_of(rows.iter().map(|r| r.verdict).chain([header[2]]));
        let rule = width_of(rows.iter().map(|r| r.rule.as_str()).chain([header[3]]));
        let evidence = width_of(rows.iter().map(|r| r.evidence.as_str()).chain([header[4]]));
        let declared = width_of(rows.iter().map(|r| r.declared.as_str()).chain([header[5]]));

        let wide_fixed = domain + delivery + verdict + rule + frame(6);
        let wide = match self.width {
            None => Some((evidence, declared)),
            Some(limit) if wide_fixed + evidence + declared <= limit => Some((evidence, declared)),
            Some(limit) => {
                let room = limit.saturating_sub(wide_fixed);
                let declared_width = declared.min((room / 3).max(MIN_DECLARED));
                let evidence_width = room.saturating_sub(declared_width);
                (evidence_width >= MIN_EVIDENCE).then_some((evidence_width, declared_width))
            }
        };
        let mut builder = Builder::default();
        if let Some((evidence_width, declared_width)) = wide {
            builder.push_record(header.map(String::from));
            for r in rows {
                builder.push_record([
                    r.domain.clone(),
                    r.delivery.to_string(),
                    r.verdict.to_string(),
                    r.rule.clone(),
                    wrap_words(&r.evidence, evidence_width),
                    wrap_words(&r.declared, declared_width),
                ]);
            }
            let mut table = builder.build();
            table.with(Style::sharp());
            return table.to_string();
        }
        builder.push_record(["domain", "delivery\nverdict", "rule", "evidence\ndeclared"]);
        let stacked = delivery.max(verdict);
        let limit = self.width.unwrap_or(usize::MAX);
        // On a narrow terminal rule ids break after a hyphen, which is
        // still readable, before the evidence gets too narrow to read.
        let mut rule_width = rule;
        if limit.saturating_sub(domain + stacked + rule + frame(4)) < MIN_EVIDENCE {
            rule_width = RULE_BROKEN;
        }
        let room = limit
            .saturating_sub(domain + stacked + rule_width.min(rule) + frame(4))
            .max(MIN_EVIDENCE / 2);
        for r in rows {
            builder.push_record([
                r.domain.clone(),
                format!("{}\n{}", r.delivery, r.verdict),
                break_at_hyphens(&r.rule, rule_width),
                wrap_words(&format!("{}\n{}", r.evidence, r.declared), room),
            ]);
        }
        let mut table = builder.build();
        table.with(Style::sharp());
        table.to_string()
    }
}

impl AuditFormatter for Table {
    fn write_report(&self, report: &Report<'_>, out: &mut dyn Write) -> io::Result<()> {
        let audit = report.audit;
        let delta = report.baseline;
        let all_warnings: Vec<usize> = (0..audit.warnings.len()).collect();
        let (warnings, notes) = match delta {
            Some(d) => (d.new_warnings.clone(), d.new_notes.clone()),
            None => (all_warnings, (0..audit.notes.len()).collect()),
        };
        let new = if delta.is_some() { " (new)" } else { "" };
        write_warnings(
            &audit.warnings,
            &warnings,
            &format!("Configuration warnings{new}"),
            self.width,
            out,
        )?;
        for note in notes.iter().filter_map(|i| audit.notes.get(*i)) {
            writeln!(
                out,
                "{}",
                para(self.width, 0, &format!("Note: {}", printable(note)))
            )?;
        }
        if !notes.is_empty() {
            writeln!(out)?;
        }
        let run_findings: Vec<&RunFinding> = audit
            .run_findings
            .iter()
            .filter(|f| delta.is_none_or(|d| d.is_new_run_finding(f.rule, f.file.as_deref())))
            .collect();
        let heading = if delta.is_some() {
            "SERVER AND RUN, NEW"
        } else {
            "SERVER AND RUN"
        };
        write_run_findings(&run_findings, heading, self.width, out)?;
        let mut rules_shown: Vec<&str> = run_findings.iter().map(|f| f.rule.as_str()).collect();
        for severity in Severity::ALL {
            let mut rows = Vec::new();
            for (d, f) in audit.findings().filter(|(d, f)| {
                f.severity == severity
                    && f.ignored.is_none()
                    && delta.is_none_or(|delta| delta.is_new(d.domain.name.as_str(), f.rule))
            }) {
                rules_shown.push(f.rule.as_str());
                rows.push(Row {
                    domain: domain_cell(d),
                    delivery: d.domain.delivery.as_str(),
                    verdict: d.verdict.as_str(),
                    rule: f.rule.as_str().to_string(),
                    evidence: printable(&evidence_summary(&d.evidence)).into_owned(),
                    declared: declared_cell(&d.domain.declared),
                });
            }
            if rows.is_empty() {
                continue;
            }
            writeln!(
                out,
                "{}{} ({})",
                severity.as_str().to_uppercase(),
                new.to_uppercase(),
                rows.len()
            )?;
            writeln!(out, "{}\n", self.render(&rows))?;
        }
        match delta {
            Some(d) => {
                if !d.resolved.is_empty() {
                    writeln!(out, "RESOLVED ({})", d.resolved.len())?;
                    for r in &d.resolved {
                        let now = match (&r.now_ignored, r.now_ignored_until) {
                            (Some(reason), Some(until)) => {
                                format!(" [now ignored until {until}: {}]", printable(reason))
                            }
                            (Some(reason), None) => {
                                format!(" [now ignored: {}]", printable(reason))
                            }
                            _ => String::new(),
                        };
                        let text = format!(
                            "{} {} {}{now}",
                            r.severity.as_str().to_uppercase(),
                            printable(r.subject()),
                            r.rule
                        );
                        writeln!(out, "{}", para(self.width, 2, &text))?;
                    }
                    writeln!(out)?;
                }
                if !d.resolved_warnings.is_empty() {
                    writeln!(
                        out,
                        "Configuration warnings resolved ({}):",
                        d.resolved_warnings.len()
                    )?;
                    for w in &d.resolved_warnings {
                        writeln!(out, "{}", para(self.width, 2, &printable(w)))?;
                    }
                    writeln!(out)?;
                }
            }
            None => write_ignored(audit, self.width, out)?,
        }
        write_summary(audit, self.width, out)?;
        if let Some(d) = delta {
            writeln!(
                out,
                "{}",
                para(self.width, 0, &format!("{}.", printable(&d.headline())))
            )?;
        }
        write_next_step(rules_shown.first().copied(), self.width, out)
    }
}

fn write_ignored(audit: &Audit, width: Option<usize>, out: &mut dyn Write) -> io::Result<()> {
    let ignored: Vec<_> = audit
        .findings()
        .filter(|(_, f)| f.ignored.is_some())
        .collect();
    if ignored.is_empty() {
        return Ok(());
    }
    writeln!(
        out,
        "IGNORED ({}) — listed in mxdrift.yaml, not counted:",
        ignored.len()
    )?;
    for (d, f) in ignored {
        let until = f
            .ignored_until
            .map(|u| format!(" (until {u})"))
            .unwrap_or_default();
        let text = format!(
            "{} {}{until}: {}",
            d.domain.name,
            f.rule,
            printable(f.ignored.as_deref().unwrap_or(""))
        );
        writeln!(out, "{}", para(width, 2, &text))?;
    }
    writeln!(out)
}

fn write_summary(audit: &Audit, width: Option<usize>, out: &mut dyn Write) -> io::Result<()> {
    let s = audit.summary();
    let clean = audit
        .domains
        .iter()
        .filter(|d| d.findings.is_empty())
        .count();
    let summary = format!(
        "{} domains audited on {} ({}): {} critical, {} warning, {} info findings; {} ignored; {} without findings.",
        s.domains,
        audit.platform.as_str(),
        server_label(audit),
        s.count(Severity::Critical),
        s.count(Severity::Warning),
        s.count(Severity::Info),
        s.ignored,
        clean,
    );
    writeln!(out, "{}", para(width, 0, &summary))?;
    let inconclusive = inconclusive_domains(audit);
    let line = if inconclusive.is_empty() {
        "Inconclusive: none.".to_string()
    } else {
        format!(
            "Inconclusive ({}): {}.",
            inconclusive.len(),
            name_list(
                inconclusive.iter().map(|d| &d.domain.name),
                INCONCLUSIVE_NAMED
            )
        )
    };
    writeln!(out, "{}", para(width, 0, &line))?;
    if let Some(cross) = super::cross_check_sentence(audit) {
        writeln!(out, "{}", para(width, 0, &format!("Cross-check: {cross}.")))?;
    }
    if local_domain_count(audit) == 0 {
        writeln!(out, "Warning: {}", super::NO_LOCAL_DOMAINS)?;
    }
    Ok(())
}

/// What to do next, after a report that shows findings: `rule` is the
/// first one shown (the most severe).
fn write_next_step(
    rule: Option<&str>,
    width: Option<usize>,
    out: &mut dyn Write,
) -> io::Result<()> {
    let Some(rule) = rule else {
        return Ok(());
    };
    let text = format!(
        "Next: `mxdrift rules {rule}` explains a rule; `mxdrift fix` prints the remediation of every finding with conclusive evidence (a diff, or panel commands)."
    );
    writeln!(out, "{}", para(Some(width.unwrap_or(100)), 0, &text))
}

/// `inventory --format table`.
pub fn write_inventory(inventory: &Inventory, out: &mut dyn Write) -> io::Result<()> {
    let all: Vec<usize> = (0..inventory.warnings.len()).collect();
    write_warnings(
        &inventory.warnings,
        &all,
        "Configuration warnings",
        None,
        out,
    )?;
    let mut rows = Builder::default();
    rows.push_record(["domain", "delivery", "declared", "via"]);
    for d in &inventory.domains {
        let name = match unicode_form(&d.name) {
            Some(unicode) => format!("{}\n({})", d.name, printable(&unicode)),
            None => d.name.to_string(),
        };
        rows.push_record([
            name,
            d.delivery.as_str().to_string(),
            declared_cell(&d.declared),
            d.declared
                .iter()
                .map(|x| printable(x.via.as_str()).into_owned())
                .collect::<Vec<_>>()
                .join("\n"),
        ]);
    }
    let mut table = rows.build();
    table.with(Style::sharp());
    writeln!(out, "{table}")?;
    let local = inventory.local_domains().count();
    writeln!(
        out,
        "{} domains on {}: {} delivered locally.",
        inventory.domains.len(),
        inventory.platform.as_str(),
        local
    )?;
    if local == 0 {
        writeln!(out, "Warning: {}", super::NO_LOCAL_DOMAINS)?;
    }
    let none = || "none".to_string();
    let names: Vec<&str> = inventory.server_names.iter().map(|n| n.as_str()).collect();
    let addresses: Vec<String> = inventory
        .server_addresses
        .iter()
        .map(|a| a.to_string())
        .collect();
    writeln!(
        out,
        "This server: names {}; addresses {}.",
        Some(names.join(", "))
            .filter(|s| !s.is_empty())
            .unwrap_or_else(none),
        Some(addresses.join(", "))
            .filter(|s| !s.is_empty())
            .unwrap_or_else(none),
    )?;
    Ok(())
}
