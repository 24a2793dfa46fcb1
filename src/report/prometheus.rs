//! `--format prometheus`: the text exposition format for node_exporter's
//! textfile collector. Metrics are per server, never per domain, so a
//! thousand domains do not become a thousand series; the JSON report holds
//! the details.

use std::fmt::Write as _;
use std::io::{self, Write};
use std::time::UNIX_EPOCH;

use super::AuditFormatter;
use crate::audit::Audit;
use crate::inventory::Delivery;
use crate::rules::Severity;
use crate::verdict::Verdict;

pub struct Prometheus;

/// Escape a label value (backslash, double quote, newline).
fn label(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

fn family(out: &mut String, name: &str, help: &str) {
    // Writing to a String cannot fail.
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} gauge");
}

impl AuditFormatter for Prometheus {
    fn write_audit(&self, audit: &Audit, out: &mut dyn Write) -> io::Result<()> {
        let mut text = String::new();
        let s = audit.summary();

        family(
            &mut text,
            "mxdrift_findings",
            "Findings of the last audit by rule and severity, ignored findings excluded.",
        );
        for rule in audit.rules.iter() {
            let n = audit.count_rule(&rule.id);
            let _ = writeln!(
                text,
                "mxdrift_findings{{rule=\"{}\",severity=\"{}\"}} {n}",
                label(&rule.id),
                rule.severity
            );
        }
        family(
            &mut text,
            "mxdrift_findings_ignored",
            "Findings of the last audit covered by an ignore in mxdrift.yaml, by rule.",
        );
        for rule in audit.rules.iter() {
            let n = audit
                .findings()
                .filter(|(_, f)| f.rule == rule.id && f.ignored.is_some())
                .count();
            let _ = writeln!(
                text,
                "mxdrift_findings_ignored{{rule=\"{}\"}} {n}",
                label(&rule.id)
            );
        }
        family(
            &mut text,
            "mxdrift_findings_by_severity",
            "Findings of the last audit by severity, ignored findings excluded.",
        );
        for severity in Severity::ALL {
            let _ = writeln!(
                text,
                "mxdrift_findings_by_severity{{severity=\"{severity}\"}} {}",
                s.count(severity)
            );
        }
        family(
            &mut text,
            "mxdrift_domains",
            "Domains known to the mail server, by delivery and verdict.",
        );
        for delivery in [Delivery::Local, Delivery::Relay, Delivery::NotLocal] {
            for verdict in Verdict::ALL {
                let n = audit
                    .domains
                    .iter()
                    .filter(|d| d.domain.delivery == delivery && d.verdict == verdict)
                    .count();
                let _ = writeln!(
                    text,
                    "mxdrift_domains{{delivery=\"{}\",verdict=\"{}\"}} {n}",
                    delivery.as_str(),
                    verdict.as_str()
                );
            }
        }
        family(
            &mut text,
            "mxdrift_dns_queries",
            "Distinct DNS queries sent by the last audit.",
        );
        let _ = writeln!(text, "mxdrift_dns_queries {}", audit.stats.queries_sent);
        family(
            &mut text,
            "mxdrift_dns_lookups_failed",
            "DNS lookups of the last audit that ended inconclusive (timeout, SERVFAIL, REFUSED).",
        );
        let _ = writeln!(
            text,
            "mxdrift_dns_lookups_failed {}",
            audit.stats.lookups_failed
        );
        family(
            &mut text,
            "mxdrift_config_warnings",
            "Warnings about the mail server configuration (not enumerable tables, missing files, invalid names).",
        );
        let _ = writeln!(text, "mxdrift_config_warnings {}", audit.warnings.len());
        family(
            &mut text,
            "mxdrift_last_run_timestamp_seconds",
            "Unix time when the last audit started.",
        );
        let started = audit
            .stats
            .started
            .duration_since(UNIX_EPOCH)
            .map_or(0.0, |d| d.as_secs_f64());
        let _ = writeln!(text, "mxdrift_last_run_timestamp_seconds {started:.3}");
        family(
            &mut text,
            "mxdrift_run_duration_seconds",
            "How long the last audit took.",
        );
        let _ = writeln!(
            text,
            "mxdrift_run_duration_seconds {:.6}",
            audit.stats.duration.as_secs_f64()
        );
        family(
            &mut text,
            "mxdrift_info",
            "The mxdrift version and the platform it audited.",
        );
        let _ = writeln!(
            text,
            "mxdrift_info{{version=\"{}\",platform=\"{}\"}} 1",
            env!("CARGO_PKG_VERSION"),
            audit.platform.as_str()
        );
        out.write_all(text.as_bytes())
    }
}
