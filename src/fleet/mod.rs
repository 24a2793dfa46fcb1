//! Fleet: the stage after report. It reads the per-server reports that
//! `mxdrift audit --format json` wrote on many servers and finds what no
//! single server can see: a domain local on A whose MX is our own server B
//! (`fleet-moved-internally`), an MX pointing at a fleet server that does
//! not accept the domain (`fleet-not-accepted`), a domain local on several
//! servers (`fleet-local-on-several`).
//!
//! What a newcomer gets wrong:
//! - The reports are the evidence, not the servers: nothing is asked again,
//!   so each report's age matters. A report older than `--max-age` is
//!   *stale*: named, and kept out of every rule (its server is then no
//!   fleet server either), never silently mixed with fresh ones.
//! - A server is known by its host name (`server.hostname`). Two reports of
//!   one server conflict; the newest wins, and the report says which file
//!   lost. An MX host is a fleet server by its name or by an address only
//!   that one server states: private addresses behind NAT (10.0.0.5) repeat
//!   across servers and prove nothing.

pub mod input;
pub mod report;
pub mod rules;

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::inventory::{Delivery, DomainName};
use crate::resolve::DnsStatus;
use crate::rules::{RuleId, RuleSet, Severity};
use crate::safe_fs::FsError;
use crate::timestamp::{Timestamp, human_age};
use crate::verdict::Verdict;

#[derive(Debug, thiserror::Error)]
pub enum FleetError {
    #[error("{file}: {source}")]
    Read {
        file: String,
        #[source]
        source: FsError,
    },
    #[error("{file}: not a report of `mxdrift audit --format json`: {message}")]
    NotAReport { file: String, message: String },
}

/// Where a server declares a domain (the report's `declared`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeclaredAt {
    pub file: String,
    pub line: u32,
    pub via: String,
}

impl DeclaredAt {
    /// `etc/postfix/vdomains:3 (virtual_mailbox_domains)`; line 0 is no line.
    pub fn describe(&self) -> String {
        if self.line > 0 {
            format!("{}:{} ({})", self.file, self.line, self.via)
        } else {
            format!("{} ({})", self.file, self.via)
        }
    }
}

/// One MX host as a report recorded it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MxView {
    pub preference: u16,
    pub host: String,
    pub addresses: Vec<IpAddr>,
}

impl MxView {
    /// `MX 10 web2.fleet.test [203.0.113.12]`.
    pub fn describe(&self) -> String {
        let addresses: Vec<String> = self.addresses.iter().map(ToString::to_string).collect();
        format!(
            "MX {} {} [{}]",
            self.preference,
            self.host,
            if addresses.is_empty() {
                "no address".to_string()
            } else {
                addresses.join(" ")
            }
        )
    }
}

/// What DNS said about a domain, as the reporting server saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DnsView {
    pub status: DnsStatus,
    pub implicit_mx: bool,
    pub mx: Vec<MxView>,
}

impl DnsView {
    /// The most preferred MX hosts that have an address: where senders go.
    pub fn best_set(&self) -> Vec<&MxView> {
        let usable = || self.mx.iter().filter(|h| !h.addresses.is_empty());
        let Some(best) = usable().map(|h| h.preference).min() else {
            return Vec::new();
        };
        usable().filter(|h| h.preference == best).collect()
    }

    /// The answer names MX hosts at all (explicit MX, or the implicit one).
    pub fn has_mail_hosts(&self) -> bool {
        matches!(self.status, DnsStatus::Ok)
            || (self.status == DnsStatus::Nodata && self.implicit_mx)
    }
}

/// One domain of one server's report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportedDomain {
    pub name: DomainName,
    pub delivery: Delivery,
    pub declared: Vec<DeclaredAt>,
    pub dns: DnsView,
    pub verdict: Verdict,
}

impl ReportedDomain {
    /// The first declaration, or a word that there is none.
    pub fn declaration(&self) -> String {
        self.declared.first().map_or_else(
            || "no declaration recorded".to_string(),
            DeclaredAt::describe,
        )
    }
}

/// A report's own totals: findings that count (not ignored), per severity.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReportSummary {
    pub domains: usize,
    pub local: usize,
    pub inconclusive: usize,
    pub findings: BTreeMap<Severity, usize>,
}

impl ReportSummary {
    pub fn count(&self, severity: Severity) -> usize {
        self.findings.get(&severity).copied().unwrap_or(0)
    }
}

/// One server's audit report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerReport {
    /// The file as named on the command line.
    pub file: String,
    /// Lower case; the server's key in the fleet.
    pub hostname: String,
    pub platform: String,
    pub audited_at: Timestamp,
    pub addresses: Vec<IpAddr>,
    pub names: Vec<String>,
    /// Sorted by name, one entry per name.
    pub domains: Vec<ReportedDomain>,
    pub summary: ReportSummary,
    /// The server's own findings that count, per rule id as written.
    pub rule_counts: BTreeMap<String, usize>,
}

impl ServerReport {
    pub fn domain(&self, name: &DomainName) -> Option<&ReportedDomain> {
        self.domains
            .binary_search_by(|d| d.name.cmp(name))
            .ok()
            .and_then(|i| self.domains.get(i))
    }
}

/// A report that lost to a newer one of the same server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Superseded {
    pub hostname: String,
    pub file: String,
    pub audited_at: Timestamp,
    pub newer_file: String,
    pub newer_audited_at: Timestamp,
}

impl Superseded {
    pub fn describe(&self) -> String {
        format!(
            "{}: two reports; {} (audited {}) wins over {} (audited {})",
            self.hostname, self.newer_file, self.newer_audited_at, self.file, self.audited_at
        )
    }
}

/// A cross-server finding, filed under the server to act on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FleetFinding {
    pub rule: RuleId,
    pub severity: Severity,
    pub domain: DomainName,
    /// The host name of the server to act on.
    pub server: String,
    /// Every server the finding involves, the acting one first.
    pub servers: Vec<String>,
    /// One line: what is wrong.
    pub message: String,
    /// The facts behind it, one per line: each server's declaration, the MX.
    pub evidence: Vec<String>,
}

/// How `fleet` judges the reports.
#[derive(Debug, Clone, Copy)]
pub struct FleetOptions {
    /// The time reports are aged against.
    pub now: Timestamp,
    /// Older reports are stale.
    pub max_age: Duration,
}

/// The default `--max-age`: two days (a nightly audit that failed once is
/// still fresh; one that stopped is not).
pub const DEFAULT_MAX_AGE: Duration = Duration::from_secs(2 * 86_400);

/// Clocks drift: a report up to five minutes ahead of this machine is not
/// worth a note.
const FUTURE_SLACK_SECS: u64 = 300;

/// The fleet as the reports describe it, and its findings.
#[derive(Debug, Clone)]
pub struct Fleet {
    pub options: FleetOptions,
    /// Fresh reports, the newest of each server, sorted by host name: the
    /// only ones the rules read.
    pub servers: Vec<ServerReport>,
    /// The newest report of each server whose newest report is older than
    /// `--max-age`, sorted by host name.
    pub stale: Vec<ServerReport>,
    pub superseded: Vec<Superseded>,
    pub findings: Vec<FleetFinding>,
    /// What the reader should know about how the reports were combined.
    pub notes: Vec<String>,
    pub rules: RuleSet,
}

impl Fleet {
    /// Combine the reports (in command-line order) and run the fleet rules.
    pub fn build(reports: Vec<ServerReport>, options: FleetOptions, rules: RuleSet) -> Fleet {
        let mut notes = Vec::new();
        let mut newest: BTreeMap<String, ServerReport> = BTreeMap::new();
        let mut superseded = Vec::new();
        for report in reports {
            match newest.remove(&report.hostname) {
                None => {
                    newest.insert(report.hostname.clone(), report);
                }
                Some(held) => {
                    // At the same time the later one on the command line wins.
                    let (winner, loser) = if report.audited_at >= held.audited_at {
                        (report, held)
                    } else {
                        (held, report)
                    };
                    superseded.push(Superseded {
                        hostname: winner.hostname.clone(),
                        file: loser.file.clone(),
                        audited_at: loser.audited_at,
                        newer_file: winner.file.clone(),
                        newer_audited_at: winner.audited_at,
                    });
                    newest.insert(winner.hostname.clone(), winner);
                }
            }
        }
        for report in newest.values() {
            if report.audited_at.0 > options.now.0 + FUTURE_SLACK_SECS {
                notes.push(format!(
                    "{}: {} says it was audited at {}, later than now ({}): check that server's \
                     clock; a report from the future is never stale and wins over every other \
                     report of its server",
                    report.hostname, report.file, report.audited_at, options.now
                ));
            }
        }
        let (servers, stale): (Vec<ServerReport>, Vec<ServerReport>) = newest
            .into_values()
            .partition(|r| r.audited_at.age_at(options.now) <= options.max_age);
        for report in &stale {
            notes.push(format!(
                "{}: stale: {} was audited {} ({} ago, --max-age {}); not used: its domains and \
                 its server are left out of every fleet rule until it is audited again",
                report.hostname,
                report.file,
                report.audited_at,
                human_age(report.audited_at.age_at(options.now)),
                human_age(options.max_age)
            ));
        }
        let index = ServerIndex::new(&servers, &mut notes);
        let findings = rules::evaluate(&rules, &servers, &index);
        Fleet {
            options,
            servers,
            stale,
            superseded,
            findings,
            notes,
            rules,
        }
    }

    /// The worst severity that counts for the exit code: the findings', and
    /// a stale report is a warning (the fleet view is incomplete).
    pub fn worst(&self) -> Option<Severity> {
        let stale = (!self.stale.is_empty()).then_some(Severity::Warning);
        self.findings.iter().map(|f| f.severity).chain(stale).max()
    }

    pub fn count(&self, severity: Severity) -> usize {
        self.findings
            .iter()
            .filter(|f| f.severity == severity)
            .count()
    }

    /// Fleet findings of `rule` filed under `server`.
    pub fn count_of(&self, server: &str, rule: RuleId) -> usize {
        self.findings
            .iter()
            .filter(|f| f.rule == rule && f.server == server)
            .count()
    }

    /// The fleet rules, in the order of [`RuleId::ALL`].
    pub fn fleet_rules() -> impl Iterator<Item = RuleId> {
        RuleId::ALL.iter().copied().filter(|id| id.is_fleet())
    }
}

/// Which fresh server an MX host is: by name, or by an address that only
/// one server states.
#[derive(Debug, Default)]
pub struct ServerIndex {
    by_name: BTreeMap<String, usize>,
    by_address: BTreeMap<IpAddr, usize>,
}

impl ServerIndex {
    fn new(servers: &[ServerReport], notes: &mut Vec<String>) -> ServerIndex {
        let mut index = ServerIndex::default();
        let mut owners: BTreeMap<IpAddr, BTreeSet<usize>> = BTreeMap::new();
        for (i, server) in servers.iter().enumerate() {
            for name in server.names.iter().chain([&server.hostname]) {
                index.by_name.entry(name.clone()).or_insert(i);
            }
            for ip in &server.addresses {
                owners
                    .entry(crate::identity::normalize_ip(*ip))
                    .or_default()
                    .insert(i);
            }
        }
        for (ip, owners) in owners {
            if owners.len() == 1 {
                if let Some(owner) = owners.first() {
                    index.by_address.insert(ip, *owner);
                }
            } else {
                let names: Vec<&str> = owners
                    .iter()
                    .filter_map(|i| servers.get(*i).map(|s| s.hostname.as_str()))
                    .collect();
                notes.push(format!(
                    "the address {ip} is stated by {}: it identifies none of them, so an MX host \
                     with only that address is no fleet server (often a private address behind \
                     NAT; audit each server with --server-ip and its public address)",
                    names.join(", ")
                ));
            }
        }
        index
    }

    /// The server an MX host is, if it is one of the fleet's.
    pub fn server_of(&self, host: &MxView) -> Option<usize> {
        if let Some(i) = self.by_name.get(&host.host) {
            return Some(*i);
        }
        let mut found = host
            .addresses
            .iter()
            .filter_map(|ip| self.by_address.get(&crate::identity::normalize_ip(*ip)));
        let first = found.next()?;
        // Addresses of two servers under one name: not one server.
        found.all(|other| other == first).then_some(*first)
    }
}

/// The reports named on the command line, read in order.
pub fn read_reports(paths: &[PathBuf]) -> Result<Vec<ServerReport>, FleetError> {
    paths.iter().map(|p| input::read_report(p)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mx(preference: u16, host: &str, addresses: &[&str]) -> MxView {
        MxView {
            preference,
            host: host.into(),
            addresses: addresses.iter().map(|a| a.parse().unwrap()).collect(),
        }
    }

    fn domain(name: &str, delivery: Delivery, verdict: Verdict, mx: Vec<MxView>) -> ReportedDomain {
        ReportedDomain {
            name: DomainName::parse(name).unwrap(),
            delivery,
            declared: vec![DeclaredAt {
                file: "etc/postfix/vdomains".into(),
                line: 1,
                via: "virtual_mailbox_domains".into(),
            }],
            dns: DnsView {
                status: DnsStatus::Ok,
                implicit_mx: false,
                mx,
            },
            verdict,
        }
    }

    fn server(
        host: &str,
        addresses: &[&str],
        at: u64,
        domains: Vec<ReportedDomain>,
    ) -> ServerReport {
        ServerReport {
            file: format!("{host}.json"),
            hostname: host.into(),
            platform: "postfix".into(),
            audited_at: Timestamp(at),
            addresses: addresses.iter().map(|a| a.parse().unwrap()).collect(),
            names: vec![host.into()],
            domains,
            summary: ReportSummary::default(),
            rule_counts: BTreeMap::new(),
        }
    }

    const NOW: u64 = 1_796_000_000;

    fn options() -> FleetOptions {
        FleetOptions {
            now: Timestamp(NOW),
            max_age: DEFAULT_MAX_AGE,
        }
    }

    fn rules_of(fleet: &Fleet) -> Vec<(RuleId, String, String)> {
        fleet
            .findings
            .iter()
            .map(|f| (f.rule, f.domain.to_string(), f.server.clone()))
            .collect()
    }

    #[test]
    fn a_private_address_two_servers_state_identifies_neither() {
        // Both behind NAT with the same private address; the MX host has
        // no fleet name and only that address.
        let moved = domain(
            "moved.test",
            Delivery::Local,
            Verdict::Elsewhere,
            vec![mx(10, "mail.customer.test", &["10.0.0.5"])],
        );
        let a = server("a.test", &["10.0.0.5"], NOW, vec![moved]);
        let b = server(
            "b.test",
            &["10.0.0.5"],
            NOW,
            vec![domain("moved.test", Delivery::Local, Verdict::Here, vec![])],
        );
        let fleet = Fleet::build(vec![a, b], options(), RuleSet::embedded().unwrap());
        assert_eq!(
            rules_of(&fleet),
            vec![
                (
                    RuleId::FleetLocalOnSeveral,
                    "moved.test".into(),
                    "a.test".into()
                ),
                (
                    RuleId::FleetLocalOnSeveral,
                    "moved.test".into(),
                    "b.test".into()
                ),
            ]
        );
        assert!(
            fleet
                .notes
                .iter()
                .any(|n| n.starts_with("the address 10.0.0.5 is stated by a.test, b.test")),
            "{:?}",
            fleet.notes
        );
    }

    #[test]
    fn an_mx_host_is_a_server_by_name_or_by_its_one_address() {
        let servers = vec![
            server("a.test", &["192.0.2.1"], NOW, vec![]),
            server("b.test", &["192.0.2.2"], NOW, vec![]),
        ];
        let mut notes = Vec::new();
        let index = ServerIndex::new(&servers, &mut notes);
        assert_eq!(index.server_of(&mx(10, "b.test", &[])), Some(1));
        assert_eq!(
            index.server_of(&mx(10, "mx.b.test", &["192.0.2.2"])),
            Some(1)
        );
        assert_eq!(
            index.server_of(&mx(10, "mx.other.test", &["198.51.100.1"])),
            None
        );
        // One name with the addresses of two servers is neither.
        assert_eq!(
            index.server_of(&mx(10, "both.test", &["192.0.2.1", "192.0.2.2"])),
            None
        );
        assert!(notes.is_empty());
    }

    #[test]
    fn newest_wins_stale_is_left_out_and_the_future_is_noted() {
        let old_a = server("a.test", &["192.0.2.1"], NOW - 3600, vec![]);
        let new_a = server("a.test", &["192.0.2.1"], NOW - 60, vec![]);
        let stale_b = server("b.test", &["192.0.2.2"], NOW - 3 * 86_400, vec![]);
        let future_c = server("c.test", &["192.0.2.3"], NOW + 3600, vec![]);
        let fleet = Fleet::build(
            vec![new_a, stale_b, old_a, future_c],
            options(),
            RuleSet::embedded().unwrap(),
        );
        let fresh: Vec<&str> = fleet.servers.iter().map(|s| s.hostname.as_str()).collect();
        assert_eq!(fresh, ["a.test", "c.test"]);
        assert_eq!(fleet.servers[0].audited_at, Timestamp(NOW - 60));
        assert_eq!(fleet.superseded.len(), 1);
        assert_eq!(fleet.superseded[0].audited_at, Timestamp(NOW - 3600));
        assert_eq!(fleet.stale.len(), 1);
        assert_eq!(
            fleet.worst(),
            Some(Severity::Warning),
            "stale counts as a warning"
        );
        let notes = fleet.notes.join("\n");
        assert!(
            notes.contains("b.test: stale: b.test.json was audited"),
            "{notes}"
        );
        assert!(
            notes.contains("c.test: c.test.json says it was audited at"),
            "{notes}"
        );
    }

    #[test]
    fn own_names_and_localhost_are_never_fleet_findings() {
        let everywhere = |host: &str| {
            vec![
                domain(
                    "localhost.fleet.test",
                    Delivery::Local,
                    Verdict::Here,
                    vec![],
                ),
                domain("a.test", Delivery::Local, Verdict::Here, vec![]),
                domain(host, Delivery::Local, Verdict::Here, vec![]),
            ]
        };
        let a = server("a.test", &["192.0.2.1"], NOW, everywhere("a.test"));
        let b = server("b.test", &["192.0.2.2"], NOW, everywhere("b.test"));
        let fleet = Fleet::build(vec![a, b], options(), RuleSet::embedded().unwrap());
        assert!(fleet.findings.is_empty(), "{:?}", rules_of(&fleet));
    }
}
