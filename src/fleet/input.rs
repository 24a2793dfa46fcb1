//! Reading one per-server report (`mxdrift audit --format json`) into a
//! [`ServerReport`]: only what the cross-server rules and the summaries
//! need. Unknown fields are allowed (later releases of version 1 add
//! fields); a document that is no audit report is refused with its file
//! named, never half-read.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::Path;

use serde::Deserialize;

use super::{DeclaredAt, DnsView, FleetError, MxView, ReportSummary, ReportedDomain, ServerReport};
use crate::inventory::{Delivery, DomainName};
use crate::resolve::DnsStatus;
use crate::safe_fs::{self, Limit};
use crate::timestamp::Timestamp;
use crate::verdict::Verdict;

/// A report of 100,000 domains is about 120 MB; anything past this is not
/// a report (and is never read in part).
pub const REPORT_LIMIT: Limit = Limit {
    bytes: 1 << 30,
    what: "a JSON report",
};

#[derive(Deserialize)]
struct Document {
    version: u32,
    server: ServerDoc,
    domains: Vec<DomainDoc>,
    /// Absent in an inventory: the sign that this is no audit.
    run_findings: Option<Vec<FindingDoc>>,
}

#[derive(Deserialize)]
struct ServerDoc {
    platform: String,
    addresses: Vec<IpAddr>,
    names: Vec<String>,
    #[serde(default)]
    hostname: Option<String>,
    #[serde(default)]
    audited_at: Option<String>,
}

#[derive(Deserialize)]
struct DomainDoc {
    domain: String,
    delivery: Delivery,
    declared: Vec<DeclaredAt>,
    dns: Option<DnsDoc>,
    verdict: Option<Verdict>,
    #[serde(default)]
    findings: Vec<FindingDoc>,
}

#[derive(Deserialize)]
struct DnsDoc {
    status: DnsStatus,
    implicit_mx: bool,
    mx: Vec<MxDoc>,
}

#[derive(Deserialize)]
struct MxDoc {
    preference: u16,
    host: String,
    addresses: Vec<IpAddr>,
}

#[derive(Deserialize)]
struct FindingDoc {
    rule: String,
    severity: crate::rules::Severity,
    #[serde(default)]
    ignored: Option<String>,
}

/// Read and check one report.
pub fn read_report(path: &Path) -> Result<ServerReport, FleetError> {
    let file = path.display().to_string();
    let bytes = safe_fs::read_path(path, REPORT_LIMIT).map_err(|source| FleetError::Read {
        file: file.clone(),
        source,
    })?;
    parse_report(&file, &bytes)
}

/// A report from its bytes; `file` names it in errors.
pub fn parse_report(file: &str, bytes: &[u8]) -> Result<ServerReport, FleetError> {
    let not_a_report = |message: String| FleetError::NotAReport {
        file: file.to_string(),
        message,
    };
    let doc: Document = serde_json::from_slice(bytes).map_err(|e| not_a_report(e.to_string()))?;
    if doc.version != 1 {
        return Err(not_a_report(format!(
            "schema version {} (this mxdrift reads version 1)",
            doc.version
        )));
    }
    let Some(run_findings) = doc.run_findings else {
        return Err(not_a_report(
            "no run_findings: an inventory, not an audit (use `mxdrift audit --format json`)"
                .into(),
        ));
    };
    let audited_at = doc.server.audited_at.as_deref().ok_or_else(|| {
        not_a_report(
            "server.audited_at is missing: written by an mxdrift older than `fleet`; audit the \
             server again"
                .into(),
        )
    })?;
    let audited_at = Timestamp::parse(audited_at).ok_or_else(|| {
        not_a_report(format!(
            "server.audited_at `{audited_at}` is not a time as YYYY-MM-DDTHH:MM:SSZ"
        ))
    })?;
    let names: Vec<String> = doc
        .server
        .names
        .iter()
        .map(|n| n.trim_end_matches('.').to_ascii_lowercase())
        .collect();
    let hostname = doc
        .server
        .hostname
        .map(|h| h.trim_end_matches('.').to_ascii_lowercase())
        .or_else(|| names.first().cloned())
        .filter(|h| !h.is_empty())
        .ok_or_else(|| {
            not_a_report(
                "the report names no server (no server.hostname, no server.names): audit it \
                 with --server-name HOST"
                    .into(),
            )
        })?;

    let mut summary = ReportSummary::default();
    let mut rule_counts: BTreeMap<String, usize> = BTreeMap::new();
    let mut count = |finding: &FindingDoc, summary: &mut ReportSummary| {
        if finding.ignored.is_some() {
            return;
        }
        *rule_counts.entry(finding.rule.clone()).or_default() += 1;
        *summary.findings.entry(finding.severity).or_default() += 1;
    };
    for finding in &run_findings {
        count(finding, &mut summary);
    }
    let mut domains = Vec::with_capacity(doc.domains.len());
    for d in doc.domains {
        let (Some(dns), Some(verdict)) = (d.dns, d.verdict) else {
            return Err(not_a_report(format!(
                "domain {} has no dns or verdict: not an audit report",
                d.domain
            )));
        };
        let name = DomainName::parse(&d.domain)
            .map_err(|e| not_a_report(format!("domain `{}`: {e}", d.domain)))?;
        summary.domains += 1;
        if d.delivery == Delivery::Local {
            summary.local += 1;
        }
        if verdict == Verdict::Inconclusive {
            summary.inconclusive += 1;
        }
        for finding in &d.findings {
            count(finding, &mut summary);
        }
        domains.push(ReportedDomain {
            name,
            delivery: d.delivery,
            declared: d.declared,
            dns: DnsView {
                status: dns.status,
                implicit_mx: dns.implicit_mx,
                mx: dns
                    .mx
                    .into_iter()
                    .map(|m| MxView {
                        preference: m.preference,
                        host: m.host.trim_end_matches('.').to_ascii_lowercase(),
                        addresses: m.addresses,
                    })
                    .collect(),
            },
            verdict,
        });
    }
    domains.sort_by(|a, b| a.name.cmp(&b.name));
    domains.dedup_by(|a, b| a.name == b.name);
    Ok(ServerReport {
        file: file.to_string(),
        hostname,
        platform: doc.server.platform,
        audited_at,
        addresses: doc.server.addresses,
        names,
        domains,
        summary,
        rule_counts,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const REPORT: &str = r#"{
      "version": 1,
      "tool": {"name": "mxdrift", "version": "0.1.0"},
      "server": {"platform": "postfix", "addresses": ["203.0.113.11"], "names": ["web1.fleet.test"],
                 "hostname": "web1.fleet.test", "audited_at": "2026-11-30T10:00:00Z"},
      "domains": [
        {"domain": "moved.test", "delivery": "local",
         "declared": [{"file": "etc/postfix/vdomains", "line": 3, "via": "virtual_mailbox_domains"}],
         "dns": {"status": "ok", "implicit_mx": false,
                 "mx": [{"preference": 10, "host": "web2.fleet.test", "addresses": ["203.0.113.12"], "lookup": "answered", "this_server": false}]},
         "verdict": "elsewhere",
         "findings": [{"rule": "mail-switch-on", "severity": "critical", "message": "m"},
                      {"rule": "split-delivery", "severity": "warning", "message": "m", "ignored": "why"}]}
      ],
      "run_findings": [],
      "summary": {},
      "warnings": [],
      "a_field_of_a_later_release": true
    }"#;

    #[test]
    fn an_audit_report_is_read_with_its_counts() {
        let report = parse_report("web1.json", REPORT.as_bytes()).unwrap();
        assert_eq!(report.hostname, "web1.fleet.test");
        assert_eq!(report.audited_at.to_string(), "2026-11-30T10:00:00Z");
        assert_eq!(report.domains.len(), 1);
        assert_eq!(report.domains[0].dns.mx[0].host, "web2.fleet.test");
        assert_eq!(report.summary.local, 1);
        assert_eq!(report.summary.count(crate::rules::Severity::Critical), 1);
        // The ignored finding is not counted.
        assert_eq!(report.summary.count(crate::rules::Severity::Warning), 0);
        assert_eq!(report.rule_counts.get("mail-switch-on"), Some(&1));
        assert_eq!(report.rule_counts.get("split-delivery"), None);
    }

    #[test]
    fn what_is_no_audit_report_is_refused_with_its_file() {
        let cases = [
            ("not json", "expected"),
            (
                &REPORT.replace("\"run_findings\": [],", "") as &str,
                "an inventory",
            ),
            (
                &REPORT.replace(", \"audited_at\": \"2026-11-30T10:00:00Z\"", ""),
                "server.audited_at is missing",
            ),
            (
                &REPORT.replace("2026-11-30T10:00:00Z", "yesterday"),
                "`yesterday` is not a time",
            ),
            (
                &REPORT.replace("\"version\": 1", "\"version\": 2"),
                "version 2",
            ),
            (
                &REPORT.replace("\"verdict\": \"elsewhere\",", ""),
                "no dns or verdict",
            ),
        ];
        for (text, expected) in cases {
            let err = parse_report("dir/web1.json", text.as_bytes())
                .unwrap_err()
                .to_string();
            assert!(err.starts_with("dir/web1.json: "), "{err}");
            assert!(err.contains(expected), "{expected}: {err}");
        }
    }
}
