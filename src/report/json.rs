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
use crate::parallel;
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
/// the structure of the whole report. They are written by
/// [`write_document`], beside the serializer (see there); in the document
/// serde sees they stand as `null`.
#[derive(Clone, Copy)]
enum Domains<'a> {
    Audit(&'a [AuditedDomain]),
    Inventory(&'a [KnownDomain]),
}

impl Serialize for Domains<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_unit()
    }
}

impl Domains<'_> {
    fn len(self) -> usize {
        match self {
            Domains::Audit(domains) => domains.len(),
            Domains::Inventory(domains) => domains.len(),
        }
    }

    /// Domain `index`, pretty-printed as an element of the document's
    /// `domains` array (one level deeper than a document of its own), after
    /// `buffer`'s end; `scratch` is reused between calls.
    fn write_element(
        self,
        index: usize,
        scratch: &mut Vec<u8>,
        buffer: &mut Vec<u8>,
    ) -> serde_json::Result<()> {
        scratch.clear();
        match self {
            Domains::Audit(domains) => {
                if let Some(d) = domains.get(index) {
                    serde_json::to_writer_pretty(&mut *scratch, &audited(d))?;
                }
            }
            Domains::Inventory(domains) => {
                if let Some(d) = domains.get(index) {
                    serde_json::to_writer_pretty(&mut *scratch, &inventoried(d))?;
                }
            }
        }
        // A JSON string never holds a raw line feed: every one is between
        // tokens, where the array's indentation goes.
        for (n, line) in scratch.split(|b| *b == b'\n').enumerate() {
            if n > 0 {
                buffer.extend_from_slice(ELEMENT_INDENT);
            }
            buffer.extend_from_slice(line);
        }
        Ok(())
    }
}

/// What precedes each element of the document's `domains` array, and each
/// line of it, as serde_json's pretty printer writes them.
const ELEMENT_INDENT: &[u8] = b"\n    ";

/// Domains serialized per batch: one batch's text is held at a time.
const DOMAINS_PER_BATCH: usize = 2048;

/// Write `doc` as `serde_json::to_writer_pretty` would, byte for byte, but
/// with its domains serialized on every core: at 100,000 domains the
/// report is over 100 MB of JSON, a noticeable part of an audit's time on
/// one core. serde writes the document with `domains: null`; the array is
/// written in its place, a batch at a time, each batch split between
/// threads (`parallel`) and written in order.
fn write_document(doc: &Document<'_>, out: &mut dyn Write) -> io::Result<()> {
    let mut skeleton = Vec::new();
    serde_json::to_writer_pretty(&mut skeleton, doc)?;
    // The document's own `domains` key: the only one at this indentation
    // (strings hold no raw line feed, and `server` comes before it).
    const KEY: &[u8] = b"\n  \"domains\": null";
    let Some(at) = skeleton.windows(KEY.len()).position(|w| w == KEY) else {
        return Err(io::Error::other("the JSON document has no domains key"));
    };
    let value_at = at + KEY.len() - b"null".len();
    let (head, tail) = skeleton.split_at(value_at);
    out.write_all(head)?;
    write_domains(doc.domains, out)?;
    out.write_all(tail.get(b"null".len()..).unwrap_or_default())?;
    writeln!(out)
}

/// The `domains` array, formatted as serde_json's pretty printer formats
/// an array one level below the document.
fn write_domains(domains: Domains<'_>, out: &mut dyn Write) -> io::Result<()> {
    let len = domains.len();
    if len == 0 {
        return out.write_all(b"[]");
    }
    out.write_all(b"[")?;
    let mut start = 0;
    while start < len {
        let end = len.min(start + DOMAINS_PER_BATCH);
        let threads = parallel::threads_for(end - start);
        let step = (end - start).div_ceil(threads);
        let ranges: Vec<(usize, usize)> = (start..end)
            .step_by(step)
            .map(|from| (from, end.min(from + step)))
            .collect();
        let parts = parallel::map_each(ranges, |(from, to)| {
            let mut buffer = Vec::new();
            let mut scratch = Vec::new();
            for index in from..to {
                if index > 0 {
                    buffer.push(b',');
                }
                buffer.extend_from_slice(ELEMENT_INDENT);
                domains.write_element(index, &mut scratch, &mut buffer)?;
            }
            Ok::<_, serde_json::Error>(buffer)
        });
        for part in parts {
            out.write_all(&part?)?;
        }
        start = end;
    }
    out.write_all(b"\n  ]")
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

fn inventoried(d: &KnownDomain) -> Domain<'_> {
    Domain {
        domain: &d.name,
        unicode: unicode_form(&d.name),
        delivery: d.delivery,
        declared: &d.declared,
        dns: None,
        verdict: None,
        findings: None,
        rdap: None,
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
        write_document(&doc, out)
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
    write_document(&doc, out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::{declared, known_domain};

    /// The array as serde_json's own pretty printer writes it one level
    /// below a document.
    fn serde_json_array(domains: &[KnownDomain]) -> Vec<u8> {
        #[derive(Serialize)]
        struct Wrapper<'a> {
            domains: Vec<Domain<'a>>,
        }
        let wrapper = Wrapper {
            domains: domains.iter().map(inventoried).collect(),
        };
        let text = serde_json::to_vec_pretty(&wrapper).expect("serialize");
        let head = b"{\n  \"domains\": ".len();
        text[head..text.len() - b"\n}".len()].to_vec()
    }

    #[test]
    fn domains_written_on_several_threads_match_serde_json_byte_for_byte() {
        // Several batches, each split between threads, and the one-thread
        // path; names in Unicode and with characters JSON escapes.
        for count in [0, 1, 3, 5_000] {
            let domains: Vec<KnownDomain> = (0..count)
                .map(|i| {
                    known_domain(
                        &format!("xn--bcher-kva{i}.test"),
                        Delivery::Local,
                        declared("etc/postfix/\"main\".cf\tx", i, "mydestination"),
                    )
                })
                .collect();
            let mut ours = Vec::new();
            write_domains(Domains::Inventory(&domains), &mut ours).expect("write");
            assert_eq!(
                String::from_utf8_lossy(&ours),
                String::from_utf8_lossy(&serde_json_array(&domains)),
                "{count} domains"
            );
        }
    }
}
