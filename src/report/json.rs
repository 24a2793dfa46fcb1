//! `--format json`: the contract's schema version 1. `inventory` prints the
//! same document without `dns`, `verdict` and `findings`.

use std::collections::BTreeMap;
use std::io::{self, Write};
use std::net::IpAddr;

use serde::Serialize;

use super::baseline::{Change, Delta};
use super::{AuditFormatter, JSON_SCHEMA_VERSION, Report, unicode_form};
use crate::audit::AuditedDomain;
use crate::inventory::{Declared, Delivery, DomainName, Inventory, InventoryWarning, KnownDomain};
use crate::rdap::RdapRecord;
use crate::resolve::{DnsStatus, MxEvidence};
use crate::rules::{Finding, RunFinding, Severity};
use crate::timestamp::Timestamp;
use crate::verdict::Verdict;

#[derive(Serialize)]
struct Document<'a> {
    version: u32,
    tool: Tool,
    server: Server<'a>,
    domains: Domains<'a>,
    /// Findings about the server or the run as a whole (audits only).
    #[serde(skip_serializing_if = "Option::is_none")]
    run_findings: Option<&'a [RunFinding]>,
    summary: Option<Summary>,
    warnings: &'a [InventoryWarning],
    #[serde(skip_serializing_if = "Vec::is_empty")]
    notes: Vec<&'a str>,
    /// Under `--baseline`: what changed since the previous report.
    #[serde(skip_serializing_if = "Option::is_none")]
    baseline: Option<BaselineView<'a>>,
}

#[derive(Serialize)]
struct BaselineView<'a> {
    file: &'a str,
    /// False when the file did not exist yet (every finding is new).
    existed: bool,
    new: &'a [Change],
    resolved: &'a [Change],
}

impl<'a> From<&'a Delta> for BaselineView<'a> {
    fn from(d: &'a Delta) -> Self {
        BaselineView {
            file: &d.file,
            existed: d.existed,
            new: &d.new,
            resolved: &d.resolved,
        }
    }
}

/// The domains, turned into [`Domain`] views one at a time while they are
/// written: a vector of views of 100,000 domains would be a second copy of
/// the structure of the whole report.
enum Domains<'a> {
    Audit(&'a [AuditedDomain]),
    Inventory(&'a [KnownDomain]),
}

impl Serialize for Domains<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Domains::Audit(domains) => serializer.collect_seq(domains.iter().map(audited)),
            Domains::Inventory(domains) => serializer.collect_seq(domains.iter().map(|d| Domain {
                domain: &d.name,
                unicode: unicode_form(&d.name),
                delivery: d.delivery,
                declared: &d.declared,
                dns: None,
                verdict: None,
                findings: None,
                rdap: None,
            })),
        }
    }
}

#[derive(Serialize)]
struct Tool {
    name: &'static str,
    version: &'static str,
}

const TOOL: Tool = Tool {
    name: "mxdrift",
    version: env!("CARGO_PKG_VERSION"),
};

#[derive(Serialize)]
struct Server<'a> {
    platform: &'static str,
    addresses: Vec<IpAddr>,
    names: Vec<&'a str>,
    /// The name `mxdrift fleet` knows the server by (see `audit::host_name`).
    #[serde(skip_serializing_if = "Option::is_none")]
    hostname: Option<&'a str>,
    /// When the audit started (audits only): `fleet` judges staleness by it.
    #[serde(skip_serializing_if = "Option::is_none")]
    audited_at: Option<Timestamp>,
}

#[derive(Serialize)]
struct Domain<'a> {
    domain: &'a DomainName,
    /// The Unicode form of an internationalised domain (`bücher.test`).
    #[serde(skip_serializing_if = "Option::is_none")]
    unicode: Option<String>,
    delivery: Delivery,
    declared: &'a [Declared],
    #[serde(skip_serializing_if = "Option::is_none")]
    dns: Option<Dns<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    verdict: Option<Verdict>,
    #[serde(skip_serializing_if = "Option::is_none")]
    findings: Option<&'a [Finding]>,
    /// `--rdap`: the registry's record of the registrable domain.
    #[serde(skip_serializing_if = "Option::is_none")]
    rdap: Option<Rdap<'a>>,
}

#[derive(Serialize)]
struct Rdap<'a> {
    /// `ok` | `not-found` | `no-service` | `inconclusive`.
    status: &'static str,
    registrable: &'a str,
    /// The expiration event's date as the registry wrote it (RFC 3339).
    #[serde(skip_serializing_if = "Option::is_none")]
    expiration: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    registrar: Option<&'a str>,
    /// The registry's status values (`client hold`, ...).
    states: Vec<&'a str>,
    /// The URL asked.
    #[serde(skip_serializing_if = "Option::is_none")]
    source: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    problem: Option<&'a str>,
    cached: bool,
}

fn rdap(record: &RdapRecord) -> Rdap<'_> {
    Rdap {
        status: record.status.as_str(),
        registrable: record.registrable.as_str(),
        expiration: record.expiration.as_ref().map(|(_, text)| text.as_str()),
        registrar: record.registrar.as_deref(),
        states: record.states.iter().map(|s| s.as_str()).collect(),
        source: record.source.as_deref(),
        problem: record.problem.as_deref(),
        cached: record.cached,
    }
}

#[derive(Serialize)]
struct Dns<'a> {
    status: DnsStatus,
    implicit_mx: bool,
    mx: Vec<Mx<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    ttl: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    dangling_cname: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    problem: Option<&'a str>,
    /// `resolver` or `authoritative` (`--dns`).
    mode: &'static str,
    /// Authoritative mode: the zone the MX was asked in.
    #[serde(skip_serializing_if = "Option::is_none")]
    zone: Option<&'a str>,
    /// Authoritative mode: each delegated server address and its answer.
    #[serde(skip_serializing_if = "Option::is_none")]
    servers: Option<&'a [crate::resolve::authoritative::ServerAnswer]>,
    /// Authoritative mode: what this server's resolver answered.
    #[serde(skip_serializing_if = "Option::is_none")]
    resolver: Option<ResolverDns<'a>>,
}

#[derive(Serialize)]
struct ResolverDns<'a> {
    status: DnsStatus,
    mx: Vec<&'a crate::resolve::MxHost>,
    #[serde(skip_serializing_if = "Option::is_none")]
    ttl: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    problem: Option<&'a str>,
    verdict: Verdict,
}

#[derive(Serialize)]
struct Mx<'a> {
    #[serde(flatten)]
    host: &'a crate::resolve::MxHost,
    this_server: bool,
}

#[derive(Serialize)]
struct Summary {
    domains: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    findings: Option<BTreeMap<&'static str, usize>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    inconclusive: Option<usize>,
    /// Findings covered by an ignore (counted here, not under `findings`).
    #[serde(skip_serializing_if = "Option::is_none")]
    ignored: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    verdicts: Option<BTreeMap<&'static str, usize>>,
    /// Domains per delivery class.
    delivery: BTreeMap<&'static str, usize>,
    /// `--cross-check` only: what the installed MTA's own tools confirmed.
    #[serde(skip_serializing_if = "Option::is_none")]
    cross_check: Option<CrossCheck>,
}

#[derive(Serialize)]
struct CrossCheck {
    mta: &'static str,
    asked: usize,
    confirmed: usize,
    disagreements: usize,
}

fn delivery_counts(deliveries: impl Iterator<Item = Delivery>) -> BTreeMap<&'static str, usize> {
    let mut counts = BTreeMap::new();
    for d in deliveries {
        *counts.entry(d.as_str()).or_default() += 1;
    }
    counts
}

fn dns<'a>(d: &'a AuditedDomain) -> Dns<'a> {
    let evidence: &'a MxEvidence = &d.evidence;
    let this_server = &d.mx_this_server;
    let view = d.authoritative.as_ref();
    Dns {
        mode: if view.is_some() {
            crate::resolve::DnsMode::Authoritative.as_str()
        } else {
            crate::resolve::DnsMode::Resolver.as_str()
        },
        zone: view.and_then(|v| v.servers.zone.as_deref()),
        servers: view.map(|v| v.servers.servers.as_slice()),
        resolver: view.map(|v| ResolverDns {
            status: v.resolver.status,
            mx: v.resolver.mx.iter().collect(),
            ttl: v.resolver.ttl,
            problem: v.resolver.problem.as_deref(),
            verdict: v.resolver_verdict,
        }),
        status: evidence.status,
        implicit_mx: evidence.implicit_mx,
        mx: evidence
            .mx
            .iter()
            .enumerate()
            .map(|(i, host)| Mx {
                host,
                this_server: this_server.get(i).copied().unwrap_or(false),
            })
            .collect(),
        ttl: evidence.ttl,
        dangling_cname: evidence.dangling_cname.as_deref(),
        problem: evidence.problem.as_deref(),
    }
}

fn audited(d: &AuditedDomain) -> Domain<'_> {
    Domain {
        domain: &d.domain.name,
        unicode: unicode_form(&d.domain.name),
        delivery: d.domain.delivery,
        declared: &d.domain.declared,
        dns: Some(dns(d)),
        verdict: Some(d.verdict),
        findings: Some(&d.findings),
        rdap: d.rdap.as_deref().map(rdap),
    }
}

/// The JSON formatter.
pub struct Json;

impl AuditFormatter for Json {
    fn write_report(&self, report: &Report<'_>, out: &mut dyn Write) -> io::Result<()> {
        let audit = report.audit;
        let s = audit.summary();
        let doc = Document {
            version: JSON_SCHEMA_VERSION,
            tool: TOOL,
            server: Server {
                platform: audit.platform.as_str(),
                addresses: audit.identity.addresses.iter().copied().collect(),
                names: audit.identity.names.iter().map(String::as_str).collect(),
                hostname: audit.hostname.as_deref(),
                audited_at: Some(Timestamp::from_system(audit.stats.started)),
            },
            domains: Domains::Audit(&audit.domains),
            run_findings: Some(&audit.run_findings),
            summary: Some(Summary {
                domains: s.domains,
                findings: Some(
                    Severity::ALL
                        .iter()
                        .map(|sev| (sev.as_str(), s.count(*sev)))
                        .collect(),
                ),
                inconclusive: Some(s.inconclusive),
                ignored: Some(s.ignored),
                verdicts: Some(s.verdicts.iter().map(|(v, n)| (v.as_str(), *n)).collect()),
                delivery: delivery_counts(audit.domains.iter().map(|d| d.domain.delivery)),
                cross_check: audit.cross_check.map(|c| CrossCheck {
                    mta: c.mta.as_str(),
                    asked: c.asked,
                    confirmed: c.confirmed,
                    disagreements: c.disagreements,
                }),
            }),
            warnings: &audit.warnings,
            notes: audit.notes.iter().map(String::as_str).collect(),
            baseline: report.baseline.map(BaselineView::from),
        };
        serde_json::to_writer_pretty(&mut *out, &doc)?;
        writeln!(out)
    }
}

/// `inventory --format json`.
pub fn write_inventory(
    inventory: &Inventory,
    addresses: &[IpAddr],
    out: &mut dyn Write,
) -> io::Result<()> {
    let doc = Document {
        version: JSON_SCHEMA_VERSION,
        tool: TOOL,
        server: Server {
            platform: inventory.platform.as_str(),
            addresses: addresses.to_vec(),
            names: inventory
                .server_names
                .iter()
                .map(DomainName::as_str)
                .collect(),
            hostname: inventory.server_names.first().map(DomainName::as_str),
            audited_at: None,
        },
        domains: Domains::Inventory(&inventory.domains),
        run_findings: None,
        summary: Some(Summary {
            domains: inventory.domains.len(),
            findings: None,
            inconclusive: None,
            ignored: None,
            verdicts: None,
            delivery: delivery_counts(inventory.domains.iter().map(|d| d.delivery)),
            cross_check: None,
        }),
        warnings: &inventory.warnings,
        notes: Vec::new(),
        baseline: None,
    };
    serde_json::to_writer_pretty(&mut *out, &doc)?;
    writeln!(out)
}
