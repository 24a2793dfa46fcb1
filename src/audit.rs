//! The audit pipeline end to end: sources → inventory → resolve → verdict →
//! rules. `main` calls [`run`]; report formatters and remediation read the
//! [`Audit`] it returns and decide nothing themselves.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::time::{Duration, Instant, SystemTime};

use crate::config::CivilDate;
use crate::identity::{MxPattern, ServerIdentity};
use crate::inventory::{Inventory, InventoryWarning, KnownDomain, Platform};
use crate::resolve::{self, MxEvidence, ResolveError, ResolveOptions};
use crate::rules::{self, Finding, IgnoreRule, RuleError, RuleSet, RunFinding, Severity, Subject};
use crate::sources::{self, SourceError, SourceOptions};
use crate::verdict::{self, Verdict};

#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    #[error(transparent)]
    Source(#[from] SourceError),
    #[error(transparent)]
    Resolve(#[from] ResolveError),
    #[error(transparent)]
    Rules(#[from] RuleError),
    #[error("cannot read this machine's network interfaces: {0}")]
    Interfaces(#[source] std::io::Error),
}

/// Who this server is, as given on the command line or in the config file.
#[derive(Debug, Clone, Default)]
pub struct IdentityOptions {
    pub server_ips: Vec<IpAddr>,
    pub server_names: Vec<String>,
    pub trusted_mx: Vec<String>,
    /// Add the addresses of this machine's interfaces (only sensible when the
    /// configuration read is this machine's own, i.e. `--root /`).
    pub interfaces: bool,
}

#[derive(Debug, Clone)]
pub struct AuditOptions {
    pub sources: SourceOptions,
    pub identity: IdentityOptions,
    pub resolve: ResolveOptions,
    /// Findings the admin chose to ignore (`mxdrift.yaml`).
    pub ignores: Vec<IgnoreRule>,
    /// The day ignores expire against (today, UTC; fixed in tests).
    pub today: CivilDate,
}

/// One known domain with its DNS evidence, verdict and findings.
#[derive(Debug, Clone)]
pub struct AuditedDomain {
    pub domain: KnownDomain,
    pub evidence: MxEvidence,
    /// For each entry of `evidence.mx`: does that host deliver to this server?
    pub mx_this_server: Vec<bool>,
    pub verdict: Verdict,
    pub findings: Vec<Finding>,
}

/// Counters of the DNS stage.
#[derive(Debug, Clone, Copy)]
pub struct RunStats {
    pub started: SystemTime,
    pub duration: Duration,
    pub queries_sent: u64,
    pub lookups_failed: u64,
}

/// The outcome of an audit.
#[derive(Debug, Clone)]
pub struct Audit {
    pub platform: Platform,
    pub identity: ServerIdentity,
    pub domains: Vec<AuditedDomain>,
    /// Findings about the server or the run as a whole (see [`RunFinding`]).
    pub run_findings: Vec<RunFinding>,
    pub warnings: Vec<InventoryWarning>,
    /// Problems of the run itself (a resolver that may serve a stale local zone).
    pub notes: Vec<String>,
    pub rules: RuleSet,
    pub stats: RunStats,
}

/// Totals for summaries and exit codes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Summary {
    pub domains: usize,
    pub findings: BTreeMap<Severity, usize>,
    pub verdicts: BTreeMap<Verdict, usize>,
    pub inconclusive: usize,
    /// Findings covered by an ignore: counted here, not in `findings`.
    pub ignored: usize,
}

impl Summary {
    pub fn count(&self, severity: Severity) -> usize {
        self.findings.get(&severity).copied().unwrap_or(0)
    }
}

impl Audit {
    pub fn findings(&self) -> impl Iterator<Item = (&AuditedDomain, &Finding)> {
        self.domains
            .iter()
            .flat_map(|d| d.findings.iter().map(move |f| (d, f)))
    }

    pub fn summary(&self) -> Summary {
        let mut s = Summary {
            domains: self.domains.len(),
            ..Summary::default()
        };
        for severity in Severity::ALL {
            s.findings.insert(severity, 0);
        }
        for d in &self.domains {
            *s.verdicts.entry(d.verdict).or_default() += 1;
            if d.verdict == Verdict::Inconclusive {
                s.inconclusive += 1;
            }
            for f in &d.findings {
                if f.ignored.is_some() {
                    s.ignored += 1;
                } else {
                    *s.findings.entry(f.severity).or_default() += 1;
                }
            }
        }
        for f in &self.run_findings {
            *s.findings.entry(f.severity).or_default() += 1;
        }
        s
    }

    /// The most severe finding that is not ignored, if any, run-level
    /// findings included.
    pub fn worst(&self) -> Option<Severity> {
        self.findings()
            .filter(|(_, f)| f.ignored.is_none())
            .map(|(_, f)| f.severity)
            .chain(self.run_findings.iter().map(|f| f.severity))
            .max()
    }

    /// Findings of one rule that count (not ignored), per-domain and
    /// run-level together.
    pub fn count_rule(&self, rule: &str) -> usize {
        self.findings()
            .filter(|(_, f)| f.rule == rule && f.ignored.is_none())
            .count()
            + self.run_findings.iter().filter(|f| f.rule == rule).count()
    }
}

/// Build "this server" from the inventory and the options.
pub fn build_identity(
    inventory: &Inventory,
    opts: &IdentityOptions,
) -> Result<ServerIdentity, AuditError> {
    let mut identity = ServerIdentity::default();
    if opts.interfaces {
        identity
            .add_interface_addresses()
            .map_err(AuditError::Interfaces)?;
    }
    for ip in inventory.server_addresses.iter().chain(&opts.server_ips) {
        identity.add_address(*ip);
    }
    for name in &inventory.server_names {
        identity.add_name(name.as_str());
    }
    for name in &opts.server_names {
        identity.add_name(name);
    }
    identity.trusted_mx = opts.trusted_mx.iter().map(|p| MxPattern::new(p)).collect();
    Ok(identity)
}

/// Read the configuration only.
pub fn inventory(opts: &SourceOptions) -> Result<Inventory, AuditError> {
    Ok(sources::read_inventory(opts)?)
}

/// Judge one domain from its evidence: verdict, which MX hosts are this
/// server, findings, and ignores (with a note for each expired ignore).
pub fn judge(
    domain: KnownDomain,
    evidence: MxEvidence,
    identity: &ServerIdentity,
    rules: &RuleSet,
    ignores: &[IgnoreRule],
    today: CivilDate,
) -> (AuditedDomain, Vec<String>) {
    let verdict = verdict::decide(&domain.name, &evidence, identity);
    let mx_this_server = evidence
        .mx
        .iter()
        .map(|h| verdict::is_this_server(h, identity))
        .collect();
    let subject = Subject {
        domain: &domain,
        evidence: &evidence,
        verdict,
    };
    let mut findings = rules::evaluate(rules, &subject, identity);
    let expired = rules::apply_ignores(&mut findings, ignores, today);
    (
        AuditedDomain {
            domain,
            evidence,
            mx_this_server,
            verdict,
            findings,
        },
        expired,
    )
}

/// Run the whole audit. `rules` carries any severity overrides.
pub async fn run(opts: &AuditOptions, rules: RuleSet) -> Result<Audit, AuditError> {
    let started = SystemTime::now();
    let clock = Instant::now();
    let inventory = sources::read_inventory(&opts.sources)?;
    let identity = build_identity(&inventory, &opts.identity)?;

    let names: Vec<_> = inventory.domains.iter().map(|d| d.name.clone()).collect();
    // This server's names are among the names the resolvers must know.
    let server_names: Vec<String> = identity.names.iter().cloned().collect();
    let mut dns = resolve::gather_checked(&names, &server_names, &opts.resolve).await?;
    drop(names);

    let mut run_findings: Vec<RunFinding> = dns
        .untrustworthy
        .iter()
        .filter_map(|bad| {
            let message = format!(
                "the resolver {} denies names that must exist: its NXDOMAIN and NODATA answers \
                 count as inconclusive",
                bad.resolver
            );
            Some(
                rules
                    .run_finding(rules::ids::RESOLVER_UNTRUSTWORTHY, message)?
                    .with_evidence(bad.evidence.clone()),
            )
        })
        .collect();
    run_findings.extend(
        inventory
            .table_mismatches
            .iter()
            .filter_map(|m| rules::table_not_compiled(&rules, m)),
    );
    let mut notes = std::mem::take(&mut dns.sanity_notes);
    for server in &dns.authoritative_servers {
        if server.ip().is_loopback() || identity.is_our_address(server.ip()) {
            notes.push(format!(
                "the resolver {server} is this server and answers authoritatively: it may serve the \
                 stale local zone instead of public DNS; use --nameserver with a public resolver"
            ));
        }
    }

    let domains = inventory
        .domains
        .into_iter()
        .map(|domain| {
            let evidence = dns
                .evidence
                .remove(&domain.name)
                .unwrap_or_else(|| MxEvidence::inconclusive("not looked up"));
            let (audited, expired) = judge(
                domain,
                evidence,
                &identity,
                &rules,
                &opts.ignores,
                opts.today,
            );
            notes.extend(expired);
            audited
        })
        .collect::<Vec<AuditedDomain>>();
    run_findings.extend(rules::unusual_verdict_share(
        &rules,
        domains
            .iter()
            .map(|d| (&d.domain.name, d.domain.delivery, d.verdict)),
    ));

    Ok(Audit {
        platform: inventory.platform,
        identity,
        domains,
        run_findings,
        warnings: inventory.warnings,
        notes,
        rules,
        stats: RunStats {
            started,
            duration: clock.elapsed(),
            queries_sent: dns.queries_sent,
            lookups_failed: dns.lookups_failed,
        },
    })
}
