//! `--format prometheus`: the text exposition format for node_exporter's
//! textfile collector. Metrics are per server, never per domain, so a
//! thousand domains do not become a thousand series; the JSON report holds
//! the details.
//!
//! Every run writes `mxdrift_last_run_success` and
//! `mxdrift_last_run_timestamp_seconds`: a run that fails writes them too
//! ([`write_failure`]), with `mxdrift_last_run_error{kind}`, so a broken
//! audit alerts at once instead of after the staleness window.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::{self, Write};
use std::time::{SystemTime, UNIX_EPOCH};

use super::{AuditFormatter, Report};
use crate::inventory::Delivery;
use crate::rules::Severity;
use crate::verdict::Verdict;

pub struct Prometheus;

/// Escape a label value (backslash, double quote, newline).
pub(crate) fn label(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// `# HELP` and `# TYPE ... gauge` of one metric family.
pub(crate) fn family(out: &mut String, name: &str, help: &str) {
    // Writing to a String cannot fail.
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} gauge");
}

/// Why a run failed, as the `kind` label of `mxdrift_last_run_error`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunErrorKind {
    /// A bad option or option value.
    Usage,
    /// The mail server's configuration or mxdrift.yaml could not be read.
    Configuration,
    /// DNS could not be set up (no resolver, a bad zone file).
    Dns,
    /// `--deadline` passed.
    Deadline,
    /// Anything else (the system, an internal error).
    Internal,
}

impl RunErrorKind {
    pub fn as_str(self) -> &'static str {
        match self {
            RunErrorKind::Usage => "usage",
            RunErrorKind::Configuration => "configuration",
            RunErrorKind::Dns => "dns",
            RunErrorKind::Deadline => "deadline",
            RunErrorKind::Internal => "internal",
        }
    }
}

fn unix_seconds(t: SystemTime) -> f64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

fn run_status(text: &mut String, success: bool, started: SystemTime) {
    family(
        text,
        "mxdrift_last_run_success",
        "1 if the last run completed, 0 if it failed (see mxdrift_last_run_error).",
    );
    let _ = writeln!(text, "mxdrift_last_run_success {}", u8::from(success));
    family(
        text,
        "mxdrift_last_run_timestamp_seconds",
        "Unix time when the last run started, failed runs included.",
    );
    let _ = writeln!(
        text,
        "mxdrift_last_run_timestamp_seconds {:.3}",
        unix_seconds(started)
    );
}

/// The textfile of a run that failed: success 0, the kind of error, the
/// time, and the version; no finding counts (there are none to trust).
pub fn write_failure(
    kind: RunErrorKind,
    started: SystemTime,
    out: &mut dyn Write,
) -> io::Result<()> {
    let mut text = String::new();
    run_status(&mut text, false, started);
    family(
        &mut text,
        "mxdrift_last_run_error",
        "Why the last run failed: 1 for its kind (usage, configuration, dns, deadline, internal).",
    );
    let _ = writeln!(
        text,
        "mxdrift_last_run_error{{kind=\"{}\"}} 1",
        kind.as_str()
    );
    family(&mut text, "mxdrift_info", "The mxdrift version.");
    let _ = writeln!(
        text,
        "mxdrift_info{{version=\"{}\"}} 1",
        env!("CARGO_PKG_VERSION")
    );
    out.write_all(text.as_bytes())
}

/// `--dns authoritative` only: lame delegations (server addresses) and
/// domains whose authoritative servers disagree.
fn authoritative_counts(text: &mut String, audit: &crate::audit::Audit) {
    let views = || {
        audit
            .domains
            .iter()
            .filter_map(|d| d.authoritative.as_ref())
    };
    family(
        text,
        "mxdrift_lame_delegations",
        "Delegated name server addresses that refuse, answer without AA or do not answer (--dns authoritative).",
    );
    let lame: usize = views().map(|v| v.servers.lame().len()).sum();
    let _ = writeln!(text, "mxdrift_lame_delegations {lame}");
    family(
        text,
        "mxdrift_nameserver_disagreements",
        "Domains whose authoritative servers give different answers (--dns authoritative).",
    );
    let disagree = views().filter(|v| v.servers.views.len() > 1).count();
    let _ = writeln!(text, "mxdrift_nameserver_disagreements {disagree}");
}

impl AuditFormatter for Prometheus {
    fn write_report(&self, report: &Report<'_>, out: &mut dyn Write) -> io::Result<()> {
        let audit = report.audit;
        let mut text = String::new();
        let s = audit.summary();
        run_status(&mut text, true, audit.stats.started);

        family(
            &mut text,
            "mxdrift_findings",
            "Findings of the last audit by rule and severity, ignored findings excluded.",
        );
        for rule in audit.rules.audit_rules() {
            let n = audit.count_rule(rule.id);
            let _ = writeln!(
                text,
                "mxdrift_findings{{rule=\"{}\",severity=\"{}\"}} {n}",
                label(rule.id.as_str()),
                rule.severity
            );
        }
        family(
            &mut text,
            "mxdrift_findings_ignored",
            "Findings of the last audit covered by an ignore in mxdrift.yaml, by rule.",
        );
        for rule in audit.rules.audit_rules() {
            let n = audit
                .findings()
                .filter(|(_, f)| f.rule == rule.id && f.ignored.is_some())
                .count();
            let _ = writeln!(
                text,
                "mxdrift_findings_ignored{{rule=\"{}\"}} {n}",
                label(rule.id.as_str())
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
        if audit.domains.iter().any(|d| d.authoritative.is_some()) {
            authoritative_counts(&mut text, audit);
        }
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
        if audit.domains.iter().any(|d| d.rdap.is_some()) {
            family(
                &mut text,
                "mxdrift_rdap_requests",
                "RDAP requests sent to the registries by the last audit (--rdap; cache hits send none).",
            );
            let _ = writeln!(
                text,
                "mxdrift_rdap_requests {}",
                audit.stats.rdap_requests_sent
            );
            let mut by_status: BTreeMap<&str, usize> = BTreeMap::new();
            let mut seen = std::collections::BTreeSet::new();
            for record in audit.domains.iter().filter_map(|d| d.rdap.as_ref()) {
                if seen.insert(&record.registrable) {
                    *by_status.entry(record.status.as_str()).or_default() += 1;
                }
            }
            family(
                &mut text,
                "mxdrift_rdap_lookups",
                "Registrable domains by the outcome of their RDAP lookup (--rdap).",
            );
            for (status, n) in by_status {
                let _ = writeln!(text, "mxdrift_rdap_lookups{{status=\"{status}\"}} {n}");
            }
        }
        if let Some(soonest) = &audit.rdap_soonest {
            family(
                &mut text,
                "mxdrift_domain_expiry_soonest_days",
                "Days until the soonest registration expiry among the audited domains (--rdap; negative once past).",
            );
            let _ = writeln!(
                text,
                "mxdrift_domain_expiry_soonest_days{{domain=\"{}\"}} {}",
                label(soonest.registrable.as_str()),
                soonest.days
            );
        }
        if let Some(cross) = &audit.cross_check {
            family(
                &mut text,
                "mxdrift_crosscheck_confirmed_domains",
                "Domains whose class the installed MTA's own tools confirmed (--cross-check).",
            );
            let _ = writeln!(
                text,
                "mxdrift_crosscheck_confirmed_domains{{mta=\"{}\"}} {}",
                cross.mta.as_str(),
                cross.confirmed
            );
            family(
                &mut text,
                "mxdrift_crosscheck_disagreeing_domains",
                "Domains the installed MTA's own tools class differently from mxdrift (--cross-check).",
            );
            let _ = writeln!(
                text,
                "mxdrift_crosscheck_disagreeing_domains{{mta=\"{}\"}} {}",
                cross.mta.as_str(),
                cross.disagreements
            );
        }
        family(
            &mut text,
            "mxdrift_config_warnings",
            "Warnings about the mail server configuration (not enumerable tables, missing files, invalid names).",
        );
        let _ = writeln!(text, "mxdrift_config_warnings {}", audit.warnings.len());
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
