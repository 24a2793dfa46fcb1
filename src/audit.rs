//! The audit pipeline end to end: sources → inventory → resolve → verdict →
//! rules. `main` calls [`run`]; report formatters and remediation read the
//! [`Audit`] it returns and decide nothing themselves.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::time::{Duration, Instant, SystemTime};

use crate::civil_date::CivilDate;
use crate::crosscheck::{self, CrossCheckError, MtaClass, MtaKind, Tools};
use crate::identity::{Confirmation, MxPattern, Origin, ServerIdentity};
use crate::inventory::{Delivery, DomainName, Inventory, InventoryWarning, KnownDomain, Platform};
use crate::rdap::{self, RdapError, RdapOptions, RdapRecord};
use crate::resolve::authoritative::{self, AuthoritativeDomain};
use crate::resolve::{self, DnsMode, MxEvidence, ResolveError, ResolveOptions};
use crate::rules::{
    self, Finding, IgnoreRule, RuleError, RuleId, RuleSet, RunFinding, Severity, Subject,
};
use crate::sources::postfix::PostfixFiles;
use crate::sources::{self, FilesRead, SourceError, SourceOptions};
use crate::verdict::{self, Verdict};

#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    #[error(transparent)]
    Source(#[from] SourceError),
    #[error(transparent)]
    Resolve(#[from] ResolveError),
    #[error(transparent)]
    Rules(#[from] RuleError),
    #[error(transparent)]
    Rdap(#[from] RdapError),
    #[error("cannot read this machine's network interfaces: {0}")]
    Interfaces(#[source] std::io::Error),
    /// `--cross-check` could not ask the MTA: nothing was compared, and the
    /// run stops rather than report a half-checked inventory.
    #[error("--cross-check: {0}; nothing was compared")]
    CrossCheck(#[from] CrossCheckError),
    #[error("internal error: the cross-check task failed: {0}")]
    CrossCheckTask(#[source] tokio::task::JoinError),
}

/// `--cross-check`: ask the installed MTA how it classes every domain.
#[derive(Debug, Clone)]
pub struct CrossCheckOptions {
    /// Where the MTA's tools and configuration are.
    pub tools: Tools,
    /// When the run's `--deadline` passes (`None`: no deadline; the tools
    /// then get [`CROSS_CHECK_DEFAULT_LIMIT`]).
    pub deadline: Option<Instant>,
}

/// How long the MTA's tools may take without `--deadline`.
pub const CROSS_CHECK_DEFAULT_LIMIT: Duration = Duration::from_secs(600);

/// What `--cross-check` found, for the reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CrossCheckSummary {
    pub mta: MtaKind,
    /// Domains asked (every domain of the inventory).
    pub asked: usize,
    /// Domains whose class the MTA confirmed.
    pub confirmed: usize,
    /// Domains with an `inventory-disagrees-with-mta` finding.
    pub disagreements: usize,
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
    /// The day ignores expire against (today, UTC; fixed in tests), and
    /// the day registration expiry is counted from (`--rdap`).
    pub today: CivilDate,
    /// The RDAP stage (`--rdap`; off by default).
    pub rdap: RdapOptions,
    /// `--cross-check` (off: `None`).
    pub cross_check: Option<CrossCheckOptions>,
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
    /// The registry's record of the domain's registrable domain (`--rdap`;
    /// `None` without it, or for a name that has none). Boxed, as
    /// `authoritative`: a domain without it then costs a pointer, not the
    /// record's size, 100,000 times over in a large audit.
    pub rdap: Option<Box<RdapRecord>>,
    /// `--dns authoritative`: each server's answer and the resolver's view
    /// (`evidence` is then the authoritative servers' evidence).
    pub authoritative: Option<Box<AuthoritativeView>>,
}

/// What `--dns authoritative` adds to a domain's evidence.
#[derive(Debug, Clone)]
pub struct AuthoritativeView {
    pub servers: AuthoritativeDomain,
    /// What this server's resolver answered, and the verdict on it.
    pub resolver: MxEvidence,
    pub resolver_verdict: Verdict,
}

/// Counters of the DNS stage.
#[derive(Debug, Clone, Copy)]
pub struct RunStats {
    pub started: SystemTime,
    pub duration: Duration,
    pub queries_sent: u64,
    pub lookups_failed: u64,
    /// RDAP requests sent (`--rdap`; cache hits send none).
    pub rdap_requests_sent: u64,
}

/// The outcome of an audit.
#[derive(Debug, Clone)]
pub struct Audit {
    pub platform: Platform,
    /// The server's host name, as reports name it (see [`host_name`]).
    pub hostname: Option<String>,
    pub identity: ServerIdentity,
    pub domains: Vec<AuditedDomain>,
    /// Findings about the server or the run as a whole (see [`RunFinding`]).
    pub run_findings: Vec<RunFinding>,
    pub warnings: Vec<InventoryWarning>,
    /// Problems of the run itself (a resolver that may serve a stale local zone).
    pub notes: Vec<String>,
    pub rules: RuleSet,
    pub stats: RunStats,
    /// Every configuration file the audit read, with a digest of its bytes:
    /// remediation edits a file only while it still holds them. Shared with
    /// the `ConfigRoot` the audit read through, which goes on recording (a
    /// later read with other bytes marks the file changed).
    pub files_read: FilesRead,
    /// How plain Postfix reads each of its files, as the audit read them
    /// (`None` on other platforms): remediation edits by it and never reads
    /// the configuration again.
    pub postfix_files: Option<PostfixFiles>,
    /// `--rdap`: the registration that expires first, counted from the
    /// run's day (`None` without `--rdap` or without any expiry date).
    pub rdap_soonest: Option<SoonestExpiry>,
    /// `--cross-check`: how many domains the MTA confirmed (`None` without it).
    pub cross_check: Option<CrossCheckSummary>,
}

/// The registration that expires first (`--rdap`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SoonestExpiry {
    pub registrable: DomainName,
    pub expiration: CivilDate,
    /// Days from the run's day (negative once past).
    pub days: i64,
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
    pub fn count_rule(&self, rule: RuleId) -> usize {
        self.findings()
            .filter(|(_, f)| f.rule == rule && f.ignored.is_none())
            .count()
            + self.run_findings.iter().filter(|f| f.rule == rule).count()
    }
}

/// Why `fix` must not change anything.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FixRefusal {
    #[error(
        "fix refuses to change anything: nothing confirms who this server is \
         (identity-unconfirmed). No name or address of this server appears in the MX records of \
         any local domain, and {elsewhere} local domain(s) look elsewhere: behind NAT the public \
         address is on no interface, and every domain looks moved. Run `mxdrift audit` to see \
         what was tried, then name this server with --server-ip PUBLIC_ADDRESS (the address the \
         MX hosts of its domains resolve to) or --server-name MX_HOST (a host name in their MX \
         records), on the command line or under `server:` in mxdrift.yaml"
    )]
    IdentityUnconfirmed { elsewhere: usize },
}

impl Audit {
    /// `Some` when `fix` must refuse: nothing confirms the identity and the
    /// admin did not name the server.
    pub fn fix_refusal(&self) -> Option<FixRefusal> {
        match self.identity.confirmation {
            Confirmation::Unconfirmed { elsewhere } if !self.identity.named_by_admin() => {
                Some(FixRefusal::IdentityUnconfirmed { elsewhere })
            }
            Confirmation::Unconfirmed { .. }
            | Confirmation::Confirmed
            | Confirmation::NothingAtStake
            | Confirmation::NotJudged => None,
        }
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
    for ip in &inventory.server_addresses {
        identity.add_stated_address(Origin::Configuration, *ip);
    }
    for ip in &opts.server_ips {
        identity.add_stated_address(Origin::Admin, *ip);
    }
    for name in &inventory.server_names {
        identity.add_stated_name(Origin::Configuration, name.as_str());
    }
    for name in &opts.server_names {
        identity.add_stated_name(Origin::Admin, name);
    }
    identity.trusted_mx = opts.trusted_mx.iter().map(|p| MxPattern::new(p)).collect();
    Ok(identity)
}

/// Local domains named in the evidence of `identity-unconfirmed`.
const UNCONFIRMED_LISTED: usize = 10;

/// Does the MX data of the local domains confirm who this server is? The
/// server's own names and localhost names prove nothing either way (they
/// are "here" by name). A local domain with an MX host of this server, at
/// any preference, confirms it. Every other verdict but "elsewhere"
/// (inconclusive, nxdomain, null MX, no mail host) has no MX address that
/// could be this server, or none that can be judged: it neither confirms
/// nor contradicts. Returns the decision and the "elsewhere" domains.
fn confirm_identity<'a>(
    identity: &ServerIdentity,
    domains: &'a [AuditedDomain],
) -> (Confirmation, Vec<&'a DomainName>, BTreeMap<Verdict, usize>) {
    let mut elsewhere = Vec::new();
    let mut neutral: BTreeMap<Verdict, usize> = BTreeMap::new();
    for d in domains {
        let name = &d.domain.name;
        if d.domain.delivery != Delivery::Local
            || name.is_localhost()
            || identity.is_our_name(name.as_str())
        {
            continue;
        }
        if d.mx_this_server.contains(&true) {
            return (Confirmation::Confirmed, Vec::new(), BTreeMap::new());
        }
        match d.verdict {
            Verdict::Elsewhere => elsewhere.push(name),
            // Not without an MX host of this server, which returned above.
            Verdict::Here | Verdict::Backup | Verdict::Mixed => {
                return (Confirmation::Confirmed, Vec::new(), BTreeMap::new());
            }
            Verdict::Inconclusive | Verdict::Nxdomain | Verdict::NullMx | Verdict::NoMailHost => {
                *neutral.entry(d.verdict).or_default() += 1;
            }
        }
    }
    let confirmation = if elsewhere.is_empty() {
        Confirmation::NothingAtStake
    } else {
        Confirmation::Unconfirmed {
            elsewhere: elsewhere.len(),
        }
    };
    (confirmation, elsewhere, neutral)
}

/// `identity-unconfirmed`: decide the identity's confirmation and, when
/// nothing confirms it, the run-level finding listing what was tried.
fn identity_unconfirmed(
    rules: &RuleSet,
    identity: &mut ServerIdentity,
    domains: &[AuditedDomain],
) -> Option<RunFinding> {
    let (confirmation, elsewhere, neutral) = confirm_identity(identity, domains);
    identity.confirmation = confirmation;
    let Confirmation::Unconfirmed { elsewhere: count } = confirmation else {
        return None;
    };
    let listed = |items: Vec<String>| {
        if items.is_empty() {
            "none".to_string()
        } else {
            items.join(", ")
        }
    };
    let mut evidence = Vec::new();
    evidence.push(if identity.interfaces_read {
        format!(
            "interfaces: {}",
            listed(identity.addresses_from(Origin::Interface))
        )
    } else {
        "interfaces: not read (--root is not /: the configuration is not this machine's)"
            .to_string()
    });
    evidence.push(format!(
        "addresses in the configuration (proxy_interfaces, var/cpanel/cpnat): {}",
        listed(identity.addresses_from(Origin::Configuration))
    ));
    evidence.push(format!(
        "names in the configuration (myhostname, the panel's host name, qmail's me): {}",
        listed(identity.names_from(Origin::Configuration))
    ));
    let mut admin = identity.addresses_from(Origin::Admin);
    admin.extend(identity.names_from(Origin::Admin));
    evidence.push(format!(
        "given by the admin (--server-ip, --server-name, server: in mxdrift.yaml): {}",
        listed(admin.clone())
    ));
    if identity.dns_evidence.is_empty() {
        evidence.push("DNS: no name of this server to look up".to_string());
    }
    for line in &identity.dns_evidence {
        evidence.push(format!("DNS: {line}"));
    }
    for (ip, names) in &identity.contradicted {
        evidence.push(format!(
            "not counted: {ip} ({}), contradicted by the public addresses this server states",
            names.iter().cloned().collect::<Vec<_>>().join(", ")
        ));
    }
    let shown: Vec<&str> = elsewhere
        .iter()
        .take(UNCONFIRMED_LISTED)
        .map(|n| n.as_str())
        .collect();
    let more = count.saturating_sub(UNCONFIRMED_LISTED);
    let mut judged = format!("local domains elsewhere ({count}): {}", shown.join(", "));
    if more > 0 {
        judged.push_str(&format!(" and {more} more"));
    }
    evidence.push(judged);
    if !neutral.is_empty() {
        let others: Vec<String> = neutral
            .iter()
            .map(|(verdict, n)| format!("{n} {}", verdict.as_str()))
            .collect();
        evidence.push(format!(
            "local domains that neither confirm nor contradict: {}",
            others.join(", ")
        ));
    }
    let consequence = if identity.named_by_admin() {
        format!(
            "although the admin named it ({}): check --server-ip and --server-name before acting \
             on any finding",
            admin.join(", ")
        )
    } else {
        "behind NAT its public address is on no interface, so every domain looks moved; name it \
         with --server-ip PUBLIC_ADDRESS or --server-name MX_HOST (fix refuses to change anything \
         until then)"
            .to_string()
    };
    let message = format!(
        "no name or address of this server appears in the MX records of any local domain, and \
         {count} local domain(s) look elsewhere: nothing confirms who this server is; {consequence}"
    );
    Some(
        rules
            .run_finding(RuleId::IdentityUnconfirmed, message)
            .with_evidence(evidence),
    )
}

/// Read the configuration only.
pub fn inventory(opts: &SourceOptions) -> Result<Inventory, AuditError> {
    Ok(sources::read_inventory(opts)?)
}

/// `inventory --server-ip/--server-name`: the server as an audit would
/// start from it, what the configuration states plus what the admin gives.
pub fn add_admin_identity(
    inventory: &mut Inventory,
    addresses: &[IpAddr],
    names: &[String],
) -> Result<(), BadServerName> {
    for ip in addresses {
        let ip = crate::identity::normalize_ip(*ip);
        if !inventory.server_addresses.contains(&ip) {
            inventory.server_addresses.push(ip);
        }
    }
    for raw in names {
        let name = DomainName::parse(raw).map_err(|source| BadServerName {
            name: raw.clone(),
            source,
        })?;
        if !inventory.server_names.contains(&name) {
            inventory.server_names.push(name);
        }
    }
    Ok(())
}

/// A `--server-name` that is no domain name.
#[derive(Debug, thiserror::Error)]
#[error("--server-name {name:?} is not a host name: {source}")]
pub struct BadServerName {
    pub name: String,
    #[source]
    pub source: crate::inventory::DomainNameError,
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
            rdap: None,
            authoritative: None,
        },
        expired,
    )
}

/// The name a fleet of reports knows this server by: the name its mail
/// server's configuration gives it (Postfix `myhostname`, the panel's host
/// name, qmail's `me`), else, when the configuration is this machine's own
/// (`--root /`), the kernel's host name. A configuration checkout under
/// `--root` is not this machine, so the kernel's name would be wrong there.
pub fn host_name(inventory: &Inventory, own_machine: bool) -> Option<String> {
    if let Some(name) = inventory.server_names.first() {
        return Some(name.to_string());
    }
    if !own_machine {
        return None;
    }
    let uname = rustix::system::uname();
    let kernel = uname
        .nodename()
        .to_string_lossy()
        .trim()
        .to_ascii_lowercase();
    (!kernel.is_empty() && kernel != "localhost" && kernel != "(none)").then_some(kernel)
}

/// The evidence the authoritative servers give, and whether they disagree
/// on the verdict (then it is inconclusive: the old provider's stale copy
/// may be what half the Internet sees).
fn authoritative_evidence(
    domain: &DomainName,
    servers: &AuthoritativeDomain,
    identity: &ServerIdentity,
) -> (MxEvidence, bool) {
    if let Some(problem) = &servers.problem {
        return (MxEvidence::inconclusive(problem.clone()), false);
    }
    match servers.views.as_slice() {
        [] => (MxEvidence::inconclusive("no authoritative answer"), false),
        [only] => (only.clone(), false),
        [first, rest @ ..] => {
            let verdict = verdict::decide(domain, first, identity);
            if verdict != Verdict::Inconclusive
                && rest
                    .iter()
                    .all(|other| verdict::decide(domain, other, identity) == verdict)
            {
                (first.clone(), false)
            } else {
                let answers: Vec<String> = servers
                    .views
                    .iter()
                    .map(|view| {
                        format!(
                            "{} ({})",
                            rules::evidence_summary(view),
                            verdict::decide(domain, view, identity).as_str()
                        )
                    })
                    .collect();
                (
                    MxEvidence::inconclusive(format!(
                        "the authoritative servers disagree on where mail goes: {}",
                        answers.join(" / ")
                    )),
                    true,
                )
            }
        }
    }
}

/// The resolver options of the run. In authoritative mode the resolver
/// view is the one this server's MTA has: without `--nameserver` (or
/// `resolvers:`) and with a `--root` other than `/`, the name servers of
/// `<root>/etc/resolv.conf`, when it names any (else the system's, with a
/// note).
fn mta_resolver(opts: &AuditOptions, notes: &mut Vec<String>) -> ResolveOptions {
    let root = &opts.sources.root;
    if opts.resolve.mode != DnsMode::Authoritative
        || !opts.resolve.nameservers.is_empty()
        || !opts.resolve.zone_files.is_empty()
        || root.is_system_root()
        || !root.exists("/etc/resolv.conf")
    {
        return quiet(opts);
    }
    let found = root
        .read_to_string("/etc/resolv.conf")
        .map_err(|e| e.to_string())
        .and_then(|text| {
            resolve::resolv_conf_nameservers(text.as_bytes()).map_err(|e| e.to_string())
        });
    match found {
        Ok(nameservers) => {
            let shown: Vec<String> = nameservers.iter().map(|a| a.to_string()).collect();
            notes.push(format!(
                "this server's resolver view: etc/resolv.conf under the root names {}",
                shown.join(", ")
            ));
            ResolveOptions {
                nameservers,
                ..quiet(opts)
            }
        }
        Err(why) => {
            notes.push(format!(
                "etc/resolv.conf under the root cannot be used ({why}): the resolver view is this \
                 machine's resolv.conf"
            ));
            quiet(opts)
        }
    }
}

/// The resolver options; in authoritative mode without the progress bar,
/// which follows the authoritative stage (the longer one) alone.
fn quiet(opts: &AuditOptions) -> ResolveOptions {
    match opts.resolve.mode {
        DnsMode::Resolver => opts.resolve.clone(),
        DnsMode::Authoritative => ResolveOptions {
            progress: None,
            ..opts.resolve.clone()
        },
    }
}

/// Where the resolver view of `--dns authoritative` comes from.
#[derive(Debug, Clone, Copy)]
struct ResolverContext<'a> {
    asked_at: u64,
    /// A resolver that is this machine and answers authoritatively.
    local_zone: Option<&'a str>,
}

/// [`judge`] in authoritative mode: the authoritative servers' evidence
/// decides; their disagreements, lame servers and the resolver's differing
/// view are findings of their own.
#[allow(clippy::too_many_arguments)]
fn judge_authoritative(
    domain: KnownDomain,
    servers: AuthoritativeDomain,
    resolver: MxEvidence,
    context: ResolverContext<'_>,
    identity: &ServerIdentity,
    rules: &RuleSet,
    ignores: &[IgnoreRule],
    today: CivilDate,
) -> (AuditedDomain, Vec<String>) {
    let (evidence, decisive) = authoritative_evidence(&domain.name, &servers, identity);
    let resolver_verdict = verdict::decide(&domain.name, &resolver, identity);
    let (mut audited, mut notes) = judge(domain, evidence, identity, rules, ignores, today);
    let name = &audited.domain.name;
    if !name.is_localhost() && !identity.is_our_name(name.as_str()) {
        let mut extra: Vec<Finding> = Vec::new();
        extra.extend(rules::nameservers_disagree(
            rules,
            &audited.domain,
            &servers,
            decisive,
        ));
        extra.extend(rules::lame_delegation(rules, &audited.domain, &servers));
        extra.extend(rules::resolver_view_differs(
            rules,
            &audited.domain,
            &audited.evidence,
            audited.verdict,
            &rules::ResolverView {
                evidence: &resolver,
                verdict: resolver_verdict,
                asked_at: context.asked_at,
                local_zone: context.local_zone,
            },
        ));
        notes.extend(rules::apply_ignores(&mut extra, ignores, today));
        audited.findings.extend(extra);
    }
    // Boxed: only this mode has it, and 100,000 domains would otherwise
    // each carry its room inline.
    audited.authoritative = Some(Box::new(AuthoritativeView {
        servers,
        resolver,
        resolver_verdict,
    }));
    (audited, notes)
}

/// Run the whole audit. `rules` carries any severity overrides.
pub async fn run(opts: &AuditOptions, rules: RuleSet) -> Result<Audit, AuditError> {
    let started = SystemTime::now();
    let clock = Instant::now();
    let sources::Read {
        inventory,
        postfix_files,
    } = sources::read(&opts.sources)?;
    let files_read = opts.sources.root.files_read();
    // Before any DNS: a platform without an MTA to ask, or a missing tool,
    // is an error of the options, not of the run.
    let cross_check = opts
        .cross_check
        .as_ref()
        .map(|c| {
            c.tools
                .mta_for(inventory.platform)
                .map(|mta| (mta, c.deadline))
        })
        .transpose()?;
    let mut identity = build_identity(&inventory, &opts.identity)?;
    let hostname = host_name(&inventory, opts.identity.interfaces);

    let names: Vec<_> = inventory.domains.iter().map(|d| d.name.clone()).collect();
    // This server's names are among the names the resolvers must know.
    let server_names: Vec<String> = identity.names.iter().cloned().collect();
    let mut root_notes = Vec::new();
    let resolver_opts = mta_resolver(opts, &mut root_notes);
    // The registries, the resolvers and the MTA's tools are asked at the
    // same time; the tools are processes waited for on a blocking thread.
    let asking_mta = async {
        let Some((mta, deadline)) = cross_check else {
            return Ok(None);
        };
        let limit = deadline.map_or(CROSS_CHECK_DEFAULT_LIMIT, |d| {
            d.saturating_duration_since(Instant::now())
        });
        let domains = names.clone();
        let kind = mta.kind();
        tokio::task::spawn_blocking(move || crosscheck::ask_mta(&mta, &domains, limit))
            .await
            .map_err(AuditError::CrossCheckTask)?
            .map(|classes| Some((kind, classes)))
            .map_err(AuditError::from)
    };
    let (dns, rdap, mta_classes) = tokio::join!(
        resolve::gather_checked(&names, &server_names, &resolver_opts),
        rdap::gather(&names, &opts.rdap),
        asking_mta
    );
    let mut dns = dns?;
    let mut rdap = rdap?;
    let mta_classes: Option<(MtaKind, Vec<MtaClass>)> = mta_classes?;
    let mut cross_check_summary = mta_classes
        .as_ref()
        .map(|(mta, classes)| CrossCheckSummary {
            mta: *mta,
            asked: classes.len(),
            confirmed: 0,
            disagreements: 0,
        });
    let mut mta_classes = mta_classes.map(|(_, classes)| classes.into_iter());
    let mut servers = match opts.resolve.mode {
        DnsMode::Resolver => None,
        DnsMode::Authoritative => {
            Some(authoritative::gather_authoritative(&names, &opts.resolve).await?)
        }
    };
    drop(names);
    let rdap_anchors = rdap_anchors(&inventory.domains, &rdap);
    let rdap_soonest = rdap
        .records
        .values()
        .filter(|r| r.status == rdap::RdapStatus::Found)
        .filter_map(|r| {
            r.expiration.as_ref().map(|(day, _)| SoonestExpiry {
                registrable: r.registrable.clone(),
                expiration: *day,
                days: day.days() - opts.today.days(),
            })
        })
        .min_by_key(|s| s.days);

    let mut run_findings: Vec<RunFinding> = dns
        .untrustworthy
        .iter()
        .map(|bad| {
            let message = format!(
                "the resolver {} denies names that must exist: its NXDOMAIN and NODATA answers \
                 count as inconclusive",
                bad.resolver
            );
            rules
                .run_finding(RuleId::ResolverUntrustworthy, message)
                .with_evidence(bad.evidence.clone())
        })
        .collect();
    run_findings.extend(
        inventory
            .table_mismatches
            .iter()
            .map(|m| rules::table_not_compiled(&rules, m)),
    );
    let mut notes = root_notes;
    notes.append(&mut dns.sanity_notes);
    notes.append(&mut rdap.notes);
    notes.extend(identity.learn_from_dns(&dns.server_names));
    let mut local_zone: Option<String> = None;
    for server in &dns.authoritative_servers {
        if server.ip().is_loopback() || identity.is_our_address(server.ip()) {
            local_zone.get_or_insert_with(|| server.to_string());
            notes.push(format!(
                "the resolver {server} is this server and answers authoritatively: it may serve the \
                 stale local zone instead of public DNS; run with --dns authoritative to ask the \
                 domains' authoritative servers and compare, or use --nameserver with a public \
                 resolver"
            ));
        }
    }
    let context = ResolverContext {
        asked_at: started
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs()),
        local_zone: local_zone.as_deref(),
    };

    let domains = inventory
        .domains
        .into_iter()
        .map(|domain| {
            let evidence = dns
                .evidence
                .remove(&domain.name)
                .unwrap_or_else(|| MxEvidence::inconclusive("not looked up"));
            let (mut audited, expired) = match servers.as_mut() {
                None => judge(
                    domain,
                    evidence,
                    &identity,
                    &rules,
                    &opts.ignores,
                    opts.today,
                ),
                Some(found) => {
                    let answers = found.evidence.remove(&domain.name).unwrap_or_default();
                    judge_authoritative(
                        domain,
                        answers,
                        evidence,
                        context,
                        &identity,
                        &rules,
                        &opts.ignores,
                        opts.today,
                    )
                }
            };
            notes.extend(expired);
            // The classes are in inventory order, as the domains are.
            if let (Some(theirs), Some(summary)) = (
                mta_classes.as_mut().and_then(Iterator::next),
                cross_check_summary.as_mut(),
            ) {
                if crosscheck::agrees(audited.domain.delivery, theirs) {
                    summary.confirmed += 1;
                } else {
                    summary.disagreements += 1;
                    let mut found = vec![rules::inventory_disagrees_with_mta(
                        &rules,
                        &audited.domain,
                        summary.mta,
                        theirs,
                    )];
                    notes.extend(rules::apply_ignores(&mut found, &opts.ignores, opts.today));
                    audited.findings.extend(found);
                }
            }
            if let Some(record) = rdap.record_of(&audited.domain.name) {
                if rdap_anchors.contains(&audited.domain.name) {
                    let windows = rules::ExpiryWindows {
                        warn_days: opts.rdap.warn_days,
                        critical_days: opts.rdap.critical_days,
                    };
                    let mut found =
                        rules::rdap_findings(&rules, &audited.domain, record, opts.today, windows);
                    notes.extend(rules::apply_ignores(&mut found, &opts.ignores, opts.today));
                    audited.findings.extend(found);
                }
                audited.rdap = Some(Box::new(record.clone()));
            }
            audited
        })
        .collect::<Vec<AuditedDomain>>();
    run_findings.extend(identity_unconfirmed(&rules, &mut identity, &domains));
    run_findings.extend(rules::unusual_verdict_share(
        &rules,
        domains
            .iter()
            .map(|d| (&d.domain.name, d.domain.delivery, d.verdict)),
    ));

    Ok(Audit {
        hostname,
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
            queries_sent: dns.queries_sent + servers.as_ref().map_or(0, |s| s.queries_sent),
            lookups_failed: dns.lookups_failed + servers.as_ref().map_or(0, |s| s.lookups_failed),
            rdap_requests_sent: rdap.requests_sent,
        },
        files_read,
        postfix_files,
        rdap_soonest,
        cross_check: cross_check_summary,
    })
}

/// The domains that carry the RDAP findings of their registrable domain:
/// the registrable domain itself when the server knows it, else the first
/// of its names in inventory order. One registration, one finding.
fn rdap_anchors(
    domains: &[KnownDomain],
    rdap: &rdap::RdapEvidence,
) -> std::collections::BTreeSet<DomainName> {
    let mut anchor: BTreeMap<&DomainName, &DomainName> = BTreeMap::new();
    for d in domains {
        let Some(reg) = rdap.registrable_of.get(&d.name) else {
            continue;
        };
        if *reg == d.name {
            anchor.insert(reg, &d.name);
        } else {
            anchor.entry(reg).or_insert(&d.name);
        }
    }
    anchor.into_values().cloned().collect()
}

/// The evidence of the domains `fix` would change, gathered again before
/// anything is planned (see [`reconfirm`]).
#[derive(Debug, Clone)]
pub enum Reconfirmed {
    /// The evidence came from zone files (`--zone-file`): read from files,
    /// nothing a spoofer can forge, so nothing was asked again.
    ZoneFiles,
    /// Each domain resolved again over TCP only and judged again by the same
    /// verdict and rules. A domain that was not asked is missing.
    OverTcp(BTreeMap<DomainName, AuditedDomain>),
}

/// Resolve `domains` again over TCP only (no UDP fast path, nothing kept
/// from the audit's resolution) and judge each as the audit did: the same
/// stated identity (its names' addresses asked again over TCP), rules,
/// ignores and day. Remediation compares the result with
/// the audit's verdict and rule (see `resolve::gather_over_tcp`).
pub async fn reconfirm(
    audit: &Audit,
    opts: &AuditOptions,
    domains: &[DomainName],
) -> Result<Reconfirmed, AuditError> {
    if !opts.resolve.zone_files.is_empty() {
        return Ok(Reconfirmed::ZoneFiles);
    }
    if domains.is_empty() {
        return Ok(Reconfirmed::OverTcp(BTreeMap::new()));
    }
    let asked: std::collections::BTreeSet<&DomainName> = domains.iter().collect();
    let wanted: Vec<&AuditedDomain> = audit
        .domains
        .iter()
        .filter(|d| asked.contains(&d.domain.name))
        .collect();
    let names: Vec<DomainName> = wanted.iter().map(|d| d.domain.name.clone()).collect();
    let server_names: Vec<String> = audit.identity.names.iter().cloned().collect();
    // The same resolver view as the audit's (the root's resolv.conf).
    let resolver_opts = mta_resolver(opts, &mut Vec::new());
    let mut dns = resolve::gather_over_tcp(&names, &server_names, &resolver_opts).await?;
    // This server as stated, and what its names resolve to over TCP:
    // nothing the audit learned from DNS over UDP.
    let mut identity = ServerIdentity {
        addresses: audit.identity.stated_addresses.keys().copied().collect(),
        learned: BTreeMap::new(),
        contradicted: BTreeMap::new(),
        dns_evidence: Vec::new(),
        ..audit.identity.clone()
    };
    let _notes = identity.learn_from_dns(&dns.server_names);
    let mut servers = match opts.resolve.mode {
        DnsMode::Resolver => None,
        DnsMode::Authoritative => {
            Some(authoritative::gather_authoritative_over_tcp(&names, &opts.resolve).await?)
        }
    };
    let asked_at = SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let judged = wanted
        .into_iter()
        .map(|audited| {
            let evidence = dns
                .evidence
                .remove(&audited.domain.name)
                .unwrap_or_else(|| MxEvidence::inconclusive("not looked up over TCP"));
            let (again, _expired) = match servers.as_mut() {
                None => judge(
                    audited.domain.clone(),
                    evidence,
                    &identity,
                    &audit.rules,
                    &opts.ignores,
                    opts.today,
                ),
                Some(found) => {
                    let answers = found
                        .evidence
                        .remove(&audited.domain.name)
                        .unwrap_or_default();
                    // The local zone only words a message; the
                    // confirmation compares verdicts, rules and actions.
                    judge_authoritative(
                        audited.domain.clone(),
                        answers,
                        evidence,
                        ResolverContext {
                            asked_at,
                            local_zone: None,
                        },
                        &identity,
                        &audit.rules,
                        &opts.ignores,
                        opts.today,
                    )
                }
            };
            (audited.domain.name.clone(), again)
        })
        .collect();
    Ok(Reconfirmed::OverTcp(judged))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resolve::DnsStatus;
    use crate::test_support::{declared, evidence, host, known_domain};

    fn judged(name: &str, delivery: Delivery, mx: &[(u16, &str, &str)]) -> AuditedDomain {
        judged_with(name, delivery, mx, &ServerIdentity::default())
    }

    fn judged_with(
        name: &str,
        delivery: Delivery,
        mx: &[(u16, &str, &str)],
        identity: &ServerIdentity,
    ) -> AuditedDomain {
        let status = if mx.is_empty() {
            DnsStatus::Nxdomain
        } else {
            DnsStatus::Ok
        };
        let hosts = mx
            .iter()
            .map(|(preference, name, ip)| host(*preference, name, &[ip]))
            .collect();
        let domain = known_domain(
            name,
            delivery,
            declared("etc/postfix/main.cf", 3, "mydestination"),
        );
        let rules = RuleSet::embedded().unwrap();
        let today = CivilDate::parse("2026-11-23").unwrap();
        judge(
            domain,
            evidence(status, hosts),
            identity,
            &rules,
            &[],
            today,
        )
        .0
    }

    const THEM: &str = "198.51.100.7";
    const US: &str = "203.0.113.10";

    fn nat_identity() -> ServerIdentity {
        let mut id = ServerIdentity::default();
        id.add_stated_name(Origin::Configuration, "box1.internal.lan");
        id
    }

    #[test]
    fn every_local_domain_elsewhere_and_nothing_of_ours_is_unconfirmed() {
        let mut id = nat_identity();
        let domains = vec![
            judged_with(
                "moved.test",
                Delivery::Local,
                &[(10, "mx1.them.test", THEM)],
                &id,
            ),
            judged_with(
                "shop.test",
                Delivery::Local,
                &[(10, "mail.hoster.test", US)],
                &id,
            ),
            // Neither confirms nor contradicts.
            judged_with("gone.test", Delivery::Local, &[], &id),
            // Not local: not counted either way.
            judged_with(
                "web.test",
                Delivery::NotLocal,
                &[(0, "web.test", THEM)],
                &id,
            ),
            // The server's own name and localhost prove nothing.
            judged_with("box1.internal.lan", Delivery::Local, &[], &id),
            judged_with("localhost", Delivery::Local, &[], &id),
        ];
        let rules = RuleSet::embedded().unwrap();
        let finding = identity_unconfirmed(&rules, &mut id, &domains).unwrap();
        assert_eq!(id.confirmation, Confirmation::Unconfirmed { elsewhere: 2 });
        assert_eq!(finding.rule, RuleId::IdentityUnconfirmed);
        assert_eq!(finding.severity, crate::rules::Severity::Critical);
        assert!(
            finding.message.starts_with(
                "no name or address of this server appears in the MX records of any local \
                 domain, and 2 local domain(s) look elsewhere"
            ),
            "{}",
            finding.message
        );
        assert!(
            finding.message.contains("--server-ip"),
            "{}",
            finding.message
        );
        let evidence = finding.evidence.join("\n");
        for line in [
            "interfaces: not read",
            "addresses in the configuration (proxy_interfaces, var/cpanel/cpnat): none",
            "names in the configuration (myhostname, the panel's host name, qmail's me): box1.internal.lan",
            "given by the admin (--server-ip, --server-name, server: in mxdrift.yaml): none",
            "DNS: no name of this server to look up",
            "local domains elsewhere (2): moved.test, shop.test",
            "local domains that neither confirm nor contradict: 1 nxdomain",
        ] {
            assert!(evidence.contains(line), "{line}\n{evidence}");
        }
        let audit = Audit {
            platform: Platform::Postfix,
            hostname: None,
            identity: id.clone(),
            domains,
            run_findings: vec![finding],
            warnings: Vec::new(),
            notes: Vec::new(),
            rules,
            stats: RunStats {
                started: SystemTime::UNIX_EPOCH,
                duration: Duration::ZERO,
                queries_sent: 0,
                lookups_failed: 0,
                rdap_requests_sent: 0,
            },
            files_read: FilesRead::default(),
            postfix_files: None,
            rdap_soonest: None,
            cross_check: None,
        };
        assert_eq!(
            audit.fix_refusal(),
            Some(FixRefusal::IdentityUnconfirmed { elsewhere: 2 })
        );
        // Named by the admin: still reported, but fix may go on.
        let mut named = audit.clone();
        named
            .identity
            .add_stated_address(Origin::Admin, US.parse().unwrap());
        assert_eq!(named.fix_refusal(), None);
    }

    #[test]
    fn one_mx_host_of_ours_anywhere_confirms_the_identity() {
        let mut id = nat_identity();
        id.add_stated_address(Origin::Admin, US.parse().unwrap());
        let domains = vec![
            judged_with(
                "moved.test",
                Delivery::Local,
                &[(10, "mx1.them.test", THEM)],
                &id,
            ),
            // Only a backup MX of ours: it still names this server.
            judged_with(
                "backup.test",
                Delivery::Local,
                &[(10, "mx1.them.test", THEM), (20, "mx.us.test", US)],
                &id,
            ),
        ];
        let rules = RuleSet::embedded().unwrap();
        assert!(identity_unconfirmed(&rules, &mut id, &domains).is_none());
        assert_eq!(id.confirmation, Confirmation::Confirmed);
    }

    #[test]
    fn nothing_elsewhere_is_nothing_at_stake() {
        let mut id = nat_identity();
        let domains = vec![
            judged("gone.test", Delivery::Local, &[]),
            judged(
                "relayed.test",
                Delivery::Relay,
                &[(10, "mx1.them.test", THEM)],
            ),
        ];
        let rules = RuleSet::embedded().unwrap();
        assert!(identity_unconfirmed(&rules, &mut id, &domains).is_none());
        assert_eq!(id.confirmation, Confirmation::NothingAtStake);
    }
}
