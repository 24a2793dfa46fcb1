//! `--format text`: one line per finding, printable ASCII only, for cron
//! mail and logs. Each line starts with a tag a filter can match:
//!
//! ```text
//! CRITICAL mail-switch-on moved.test: delivered locally, but mail goes elsewhere: ...
//! IGNORED split-delivery shop.example.org: ... [ignored until 2027-03-31: reason]
//! CONFIG etc/postfix/main.cf:12: relay_domains: pcre:... cannot be enumerated
//! NOTE the resolver 127.0.0.1:53 is this server ...
//! SUMMARY 18 domains audited on postfix (server address 203.0.113.10): ...
//! ```
//!
//! Under `--baseline` the lines are `NEW ...` and `RESOLVED ...`, and a run
//! where nothing changed prints nothing at all: the cron job's mail is empty
//! and not sent. Non-ASCII text (a UTF-8 file name) is written as `\u{..}`
//! escapes; domains are A-labels, which are ASCII already.

use std::io::{self, Write};

use super::{
    AuditFormatter, Report, ascii, ignore_note, inconclusive_domains, local_domain_count,
    name_list, server_label, warning_place,
};
use crate::audit::Audit;
use crate::rules::{RunFinding, Severity};

/// Inconclusive domains named in the summary before "and N more".
const INCONCLUSIVE_NAMED: usize = 20;

/// The text formatter.
pub struct Text;

fn run_finding_line(tag: &str, f: &RunFinding) -> String {
    let place = f.location().map(|l| format!(" ({l})")).unwrap_or_default();
    let evidence = if f.evidence.is_empty() {
        String::new()
    } else {
        format!(" [{}]", f.evidence.join("; "))
    };
    format!("{tag} {} (server){place}: {}{evidence}", f.rule, f.message)
}

fn summary(audit: &Audit) -> String {
    let s = audit.summary();
    let inconclusive = inconclusive_domains(audit);
    let inconclusive = if inconclusive.is_empty() {
        "0 inconclusive".to_string()
    } else {
        format!(
            "{} inconclusive ({})",
            inconclusive.len(),
            name_list(
                inconclusive.iter().map(|d| &d.domain.name),
                INCONCLUSIVE_NAMED
            )
        )
    };
    let mut line = format!(
        "SUMMARY {} domains audited on {} ({}): {} critical, {} warning, {} info findings; {} ignored; {}; {} configuration warnings",
        s.domains,
        audit.platform.as_str(),
        server_label(audit),
        s.count(Severity::Critical),
        s.count(Severity::Warning),
        s.count(Severity::Info),
        s.ignored,
        inconclusive,
        audit.warnings.len(),
    );
    if let Some(cross) = super::cross_check_sentence(audit) {
        line.push_str("; cross-check: ");
        line.push_str(&cross);
    }
    if local_domain_count(audit) == 0 {
        line.push_str("; ");
        line.push_str(super::NO_LOCAL_DOMAINS);
    }
    line
}

impl AuditFormatter for Text {
    fn write_report(&self, report: &Report<'_>, out: &mut dyn Write) -> io::Result<()> {
        let audit = report.audit;
        let mut lines: Vec<String> = Vec::new();
        match report.baseline {
            None => {
                for f in &audit.run_findings {
                    lines.push(run_finding_line(&f.severity.as_str().to_uppercase(), f));
                }
                for severity in Severity::ALL {
                    for (d, f) in audit.findings().filter(|(_, f)| f.severity == severity) {
                        let tag = if f.ignored.is_some() {
                            "IGNORED".to_string()
                        } else {
                            severity.as_str().to_uppercase()
                        };
                        lines.push(format!(
                            "{tag} {} {}: {}{}",
                            f.rule,
                            d.domain.name,
                            f.message,
                            ignore_note(f)
                        ));
                    }
                }
                for w in &audit.warnings {
                    lines.push(format!("CONFIG {}{}", warning_place(w), w.message));
                }
                for note in &audit.notes {
                    lines.push(format!("NOTE {note}"));
                }
                lines.push(summary(audit));
            }
            Some(delta) => {
                for c in &delta.new {
                    let place = c
                        .file
                        .as_deref()
                        .map(|f| format!(" ({f})"))
                        .unwrap_or_default();
                    lines.push(format!(
                        "NEW {} {} {}{place}: {}",
                        c.severity.as_str().to_uppercase(),
                        c.rule,
                        c.subject(),
                        c.message
                    ));
                }
                for c in &delta.resolved {
                    let now = match (&c.now_ignored, c.now_ignored_until) {
                        (Some(reason), Some(until)) => {
                            format!(" [now ignored until {until}: {reason}]")
                        }
                        (Some(reason), None) => format!(" [now ignored: {reason}]"),
                        _ => String::new(),
                    };
                    lines.push(format!(
                        "RESOLVED {} {} {}: {}{now}",
                        c.severity.as_str().to_uppercase(),
                        c.rule,
                        c.subject(),
                        c.message
                    ));
                }
                for w in delta
                    .new_warnings
                    .iter()
                    .filter_map(|i| audit.warnings.get(*i))
                {
                    lines.push(format!("NEW CONFIG {}{}", warning_place(w), w.message));
                }
                for w in &delta.resolved_warnings {
                    lines.push(format!("RESOLVED CONFIG {w}"));
                }
                for note in delta.new_notes.iter().filter_map(|i| audit.notes.get(*i)) {
                    lines.push(format!("NEW NOTE {note}"));
                }
                // Nothing changed: nothing to say (the cron mail stays empty).
                if !lines.is_empty() {
                    lines.push(format!("{}; {}", summary(audit), delta.headline()));
                }
            }
        }
        for line in lines {
            writeln!(out, "{}", ascii(&line))?;
        }
        Ok(())
    }
}
