//! `--format table`: for people. Findings grouped by severity, one line of
//! evidence per domain, configuration warnings, and a summary.

use std::io::{self, Write};

use tabled::builder::Builder;
use tabled::settings::Style;

use super::AuditFormatter;
use crate::audit::Audit;
use crate::inventory::{Declared, Inventory, InventoryWarning};
use crate::rules::{RunFinding, Severity, evidence_summary};

fn declared_cell(declared: &[Declared]) -> String {
    declared
        .iter()
        .map(|d| {
            if d.line > 0 {
                format!("{}:{}", d.file, d.line)
            } else {
                d.file.clone()
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn write_warnings(warnings: &[InventoryWarning], out: &mut dyn Write) -> io::Result<()> {
    if warnings.is_empty() {
        return Ok(());
    }
    writeln!(out, "Configuration warnings ({}):", warnings.len())?;
    for w in warnings {
        let place = match (&w.file, w.line) {
            (Some(f), Some(l)) if l > 0 => format!("{f}:{l}: "),
            (Some(f), _) => format!("{f}: "),
            _ => String::new(),
        };
        writeln!(out, "  {place}{}", w.message)?;
    }
    writeln!(out)
}

/// Findings about the server or the run, before the per-domain tables:
/// they change how every row below must be read.
fn write_run_findings(findings: &[RunFinding], out: &mut dyn Write) -> io::Result<()> {
    if findings.is_empty() {
        return Ok(());
    }
    writeln!(out, "SERVER AND RUN ({})", findings.len())?;
    for f in findings {
        let place = f.location().map(|l| format!(" ({l})")).unwrap_or_default();
        writeln!(
            out,
            "  {} {}{place}: {}",
            f.severity.as_str().to_uppercase(),
            f.rule,
            f.message
        )?;
        for line in &f.evidence {
            writeln!(out, "      {line}")?;
        }
    }
    writeln!(out)
}

/// The table formatter.
pub struct Table;

impl AuditFormatter for Table {
    fn write_audit(&self, audit: &Audit, out: &mut dyn Write) -> io::Result<()> {
        write_warnings(&audit.warnings, out)?;
        for note in &audit.notes {
            writeln!(out, "Note: {note}")?;
        }
        write_run_findings(&audit.run_findings, out)?;
        for severity in Severity::ALL {
            let mut rows = Builder::default();
            rows.push_record([
                "domain", "delivery", "verdict", "rule", "evidence", "declared",
            ]);
            let mut count = 0;
            for (d, f) in audit
                .findings()
                .filter(|(_, f)| f.severity == severity && f.ignored.is_none())
            {
                count += 1;
                rows.push_record([
                    d.domain.name.to_string(),
                    d.domain.delivery.as_str().to_string(),
                    d.verdict.as_str().to_string(),
                    f.rule.clone(),
                    evidence_summary(&d.evidence),
                    declared_cell(&d.domain.declared),
                ]);
            }
            if count == 0 {
                continue;
            }
            writeln!(out, "{} ({count})", severity.as_str().to_uppercase())?;
            let mut table = rows.build();
            table.with(Style::sharp());
            writeln!(out, "{table}\n")?;
        }
        let ignored: Vec<_> = audit
            .findings()
            .filter(|(_, f)| f.ignored.is_some())
            .collect();
        if !ignored.is_empty() {
            writeln!(
                out,
                "IGNORED ({}) — listed in mxdrift.yaml, not counted:",
                ignored.len()
            )?;
            for (d, f) in ignored {
                writeln!(
                    out,
                    "  {} {}: {}",
                    d.domain.name,
                    f.rule,
                    f.ignored.as_deref().unwrap_or("")
                )?;
            }
            writeln!(out)?;
        }
        let s = audit.summary();
        let clean = audit
            .domains
            .iter()
            .filter(|d| d.findings.is_empty())
            .count();
        writeln!(
            out,
            "{} domains audited on {} ({}): {} critical, {} warning, {} info findings; {} ignored; {} inconclusive; {} without findings.",
            s.domains,
            audit.platform.as_str(),
            if audit.identity.addresses.is_empty() {
                "no server address known".to_string()
            } else {
                audit
                    .identity
                    .addresses
                    .iter()
                    .map(|a| a.to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            },
            s.count(Severity::Critical),
            s.count(Severity::Warning),
            s.count(Severity::Info),
            s.ignored,
            s.inconclusive,
            clean,
        )
    }
}

/// `inventory --format table`.
pub fn write_inventory(inventory: &Inventory, out: &mut dyn Write) -> io::Result<()> {
    write_warnings(&inventory.warnings, out)?;
    let mut rows = Builder::default();
    rows.push_record(["domain", "delivery", "declared", "via"]);
    for d in &inventory.domains {
        rows.push_record([
            d.name.to_string(),
            d.delivery.as_str().to_string(),
            declared_cell(&d.declared),
            d.declared
                .iter()
                .map(|x| x.via.clone())
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
    )
}
