//! Rules: the metadata of every rule lives in `rules/*.yaml` (embedded at
//! build time); this module matches (delivery, verdict, evidence) to
//! findings. One small function per rule id, nothing else decides.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::civil_date::CivilDate;
use crate::identity::{ServerIdentity, glob_match};
use crate::inventory::{Declared, Delivery, DomainName, KnownDomain, TableMismatch};
use crate::rdap::{RdapRecord, RdapStatus};
use crate::resolve::authoritative::{AuthoritativeDomain, ServerReply};
use crate::resolve::{DnsStatus, HostLookup, MxEvidence};
use crate::verdict::{self, Verdict};

include!(concat!(env!("OUT_DIR"), "/embedded_rules.rs"));

/// Declares [`RuleId`] from one list of (variant, id): the enum, its
/// `as_str` and [`RuleId::ALL`] cannot disagree.
macro_rules! rule_ids {
    ($($(#[$doc:meta])* $variant:ident => $id:literal,)+) => {
        /// The id of a rule. Stable: scripts, ignore lists and reports use
        /// the kebab-case names. Every variant has exactly one
        /// `rules/<id>.yaml` and every rule file one variant
        /// ([`RuleSet::parse`] checks both), so code that decides on a rule
        /// matches on this type and a new rule breaks the build wherever a
        /// decision about it is missing.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(rename_all = "kebab-case")]
        pub enum RuleId {
            $($(#[$doc])* $variant,)+
        }

        impl RuleId {
            /// Every rule, sorted by id (the order `mxdrift rules` lists them in).
            pub const ALL: &'static [RuleId] = &[$(RuleId::$variant,)+];

            pub const fn as_str(self) -> &'static str {
                match self {
                    $(RuleId::$variant => $id,)+
                }
            }
        }
    };
}

rule_ids! {
    BackupMxDeliversLocally => "backup-mx-delivers-locally",
    /// `--rdap`: see [`rdap_findings`].
    DomainExpiring => "domain-expiring",
    DomainNotFound => "domain-not-found",
    /// `--rdap`: see [`rdap_findings`].
    DomainOnHold => "domain-on-hold",
    /// Fleet-level: see `fleet::rules` (local on two or more servers).
    FleetLocalOnSeveral => "fleet-local-on-several",
    /// Fleet-level: see `fleet::rules` (local here, the best MX another fleet server).
    FleetMovedInternally => "fleet-moved-internally",
    /// Fleet-level: see `fleet::rules` (the MX is a fleet server that does not accept it).
    FleetNotAccepted => "fleet-not-accepted",
    /// Run-level: see `audit` (nothing confirms who this server is).
    IdentityUnconfirmed => "identity-unconfirmed",
    /// `--cross-check`: see [`inventory_disagrees_with_mta`].
    InventoryDisagreesWithMta => "inventory-disagrees-with-mta",
    /// `--dns authoritative`: see [`lame_delegation`].
    LameDelegation => "lame-delegation",
    LookupInconclusive => "lookup-inconclusive",
    MailSwitchOn => "mail-switch-on",
    MxHostLoopback => "mx-host-loopback",
    MxHostUnresolvable => "mx-host-unresolvable",
    MxPointsHereNotLocal => "mx-points-here-not-local",
    MxTargetCname => "mx-target-cname",
    /// `--dns authoritative`: see [`nameservers_disagree`].
    NameserversDisagree => "nameservers-disagree",
    NullMxDeliveredLocally => "null-mx-delivered-locally",
    /// Run-level: see `audit` (the sanity check of the resolvers).
    ResolverUntrustworthy => "resolver-untrustworthy",
    /// `--dns authoritative`: see [`resolver_view_differs`].
    ResolverViewDiffers => "resolver-view-differs",
    SplitDelivery => "split-delivery",
    /// Run-level: see [`table_not_compiled`].
    TableNotCompiled => "table-not-compiled",
    /// Run-level: see [`unusual_verdict_share`].
    UnusualVerdictShare => "unusual-verdict-share",
}

impl RuleId {
    /// The rule of this id, `None` for a name no rule has (a typo in a
    /// config file or on the command line).
    pub fn parse(name: &str) -> Option<RuleId> {
        RuleId::ALL.iter().copied().find(|id| id.as_str() == name)
    }

    /// A cross-server rule: only `mxdrift fleet` raises it, from many
    /// servers' reports; one server's audit never does. Exhaustive, so a
    /// new rule decides.
    pub fn is_fleet(self) -> bool {
        match self {
            RuleId::FleetLocalOnSeveral
            | RuleId::FleetMovedInternally
            | RuleId::FleetNotAccepted => true,
            RuleId::BackupMxDeliversLocally
            | RuleId::DomainExpiring
            | RuleId::DomainNotFound
            | RuleId::DomainOnHold
            | RuleId::IdentityUnconfirmed
            | RuleId::InventoryDisagreesWithMta
            | RuleId::LameDelegation
            | RuleId::LookupInconclusive
            | RuleId::MailSwitchOn
            | RuleId::MxHostLoopback
            | RuleId::MxHostUnresolvable
            | RuleId::MxPointsHereNotLocal
            | RuleId::MxTargetCname
            | RuleId::NameserversDisagree
            | RuleId::NullMxDeliveredLocally
            | RuleId::ResolverUntrustworthy
            | RuleId::ResolverViewDiffers
            | RuleId::SplitDelivery
            | RuleId::TableNotCompiled
            | RuleId::UnusualVerdictShare => false,
        }
    }

    /// Position in [`RuleId::ALL`] (the variants are declared in that order).
    fn index(self) -> usize {
        self as usize
    }
}

impl fmt::Display for RuleId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // `pad`, not `write_str`: tables align ids with `{:<28}`.
        f.pad(self.as_str())
    }
}

/// Which rules an ignore covers: `*` or one rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RuleFilter {
    Every,
    Only(RuleId),
}

impl RuleFilter {
    /// `*` or a rule id; `None` for a name no rule has.
    pub fn parse(name: &str) -> Option<RuleFilter> {
        if name == "*" {
            Some(RuleFilter::Every)
        } else {
            RuleId::parse(name).map(RuleFilter::Only)
        }
    }

    pub fn covers(self, rule: RuleId) -> bool {
        match self {
            RuleFilter::Every => true,
            RuleFilter::Only(id) => id == rule,
        }
    }
}

/// As written in the config file: `*` or the id.
impl fmt::Display for RuleFilter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RuleFilter::Every => f.pad("*"),
            RuleFilter::Only(id) => id.fmt(f),
        }
    }
}

/// How bad a finding is; ordered from least to most severe.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Info,
    Warning,
    Critical,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Critical => "critical",
        }
    }

    pub const ALL: [Severity; 3] = [Severity::Critical, Severity::Warning, Severity::Info];
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How sure the rule is that a finding is real (zizmor's notion).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Confidence {
    Low,
    Medium,
    High,
}

/// One rule, from `rules/<id>.yaml`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    pub id: RuleId,
    pub severity: Severity,
    pub confidence: Confidence,
    pub title: String,
    /// Completes "N domains ..." in one-line summaries (monitoring status).
    pub headline: String,
    /// When the rule fires, in the contract's words.
    pub when: String,
    pub rationale: String,
    pub remediation: String,
}

/// A rule file as written: its id is checked against [`RuleId`] after
/// parsing, so that an id the code does not know gets its own error.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleFile {
    id: String,
    severity: Severity,
    confidence: Confidence,
    title: String,
    headline: String,
    when: String,
    rationale: String,
    remediation: String,
}

#[derive(Debug, thiserror::Error)]
pub enum RuleError {
    #[error("{file}:{line}: {message}")]
    Parse {
        file: String,
        line: u64,
        message: String,
    },
    #[error("{file}: {message}")]
    Invalid { file: String, message: String },
}

/// All rules, one per [`RuleId`], in the order of [`RuleId::ALL`].
#[derive(Debug, Clone)]
pub struct RuleSet {
    /// `rules[id.index()]` is the rule of `id` (see [`RuleSet::parse`]).
    rules: Vec<Rule>,
}

impl RuleSet {
    /// The rules compiled into the binary.
    pub fn embedded() -> Result<Self, RuleError> {
        Self::parse(EMBEDDED_RULES)
    }

    /// Parse rule files given as (file name, text). Each file must hold one
    /// rule whose id is the file's stem and a [`RuleId`], and every
    /// [`RuleId`] must have its file.
    pub fn parse(files: &[(&str, &str)]) -> Result<Self, RuleError> {
        let mut slots: Vec<Option<Rule>> = vec![None; RuleId::ALL.len()];
        for (file, text) in files {
            let rule: RuleFile = serde_saphyr::from_str(text).map_err(|e| RuleError::Parse {
                file: file.to_string(),
                line: e.location().map_or(0, |l| l.line()),
                message: e.to_string(),
            })?;
            let invalid = |message: String| RuleError::Invalid {
                file: file.to_string(),
                message,
            };
            let stem = file
                .rsplit('/')
                .next()
                .and_then(|n| n.strip_suffix(".yaml"))
                .unwrap_or(file);
            if rule.id != stem {
                return Err(invalid(format!(
                    "rule id `{}` does not match the file name",
                    rule.id
                )));
            }
            let id = RuleId::parse(&rule.id).ok_or_else(|| {
                invalid(format!(
                    "rule `{}` is not a RuleId: a new rule needs its variant in src/rules.rs, and the code that decides on it",
                    rule.id
                ))
            })?;
            let slot = slots
                .get_mut(id.index())
                .ok_or_else(|| invalid(format!("internal: no slot for rule `{id}`")))?;
            if slot.is_some() {
                return Err(invalid(format!("rule id `{id}` defined twice")));
            }
            *slot = Some(Rule {
                id,
                severity: rule.severity,
                confidence: rule.confidence,
                title: rule.title,
                headline: rule.headline,
                when: rule.when,
                rationale: rule.rationale,
                remediation: rule.remediation,
            });
        }
        let mut rules = Vec::with_capacity(slots.len());
        for (id, slot) in RuleId::ALL.iter().zip(slots) {
            let rule = slot.ok_or_else(|| RuleError::Invalid {
                file: format!("rules/{id}.yaml"),
                message: format!("missing: rule `{id}` is a RuleId but has no rule file"),
            })?;
            rules.push(rule);
        }
        Ok(RuleSet { rules })
    }

    /// The rule of an id: every id has one.
    pub fn rule(&self, id: RuleId) -> &Rule {
        // `parse` put the rule of every id at its index; nothing else
        // builds or reorders `rules`.
        &self.rules[id.index()]
    }

    /// The rule a user named (`mxdrift rules ID`), if there is one.
    pub fn get(&self, name: &str) -> Option<&Rule> {
        RuleId::parse(name).map(|id| self.rule(id))
    }

    pub fn iter(&self) -> impl Iterator<Item = &Rule> {
        self.rules.iter()
    }

    /// The rules one server's audit can raise (every rule but the fleet's):
    /// what its monitoring series and SARIF rule list name.
    pub fn audit_rules(&self) -> impl Iterator<Item = &Rule> {
        self.rules.iter().filter(|r| !r.id.is_fleet())
    }

    /// Override a rule's default severity (from `--config`).
    pub fn set_severity(&mut self, id: RuleId, severity: Severity) {
        self.rules[id.index()].severity = severity;
    }
}

/// One problem with one domain, with its evidence.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    pub rule: RuleId,
    pub severity: Severity,
    #[serde(skip)]
    pub confidence: Confidence,
    #[serde(skip)]
    pub domain: DomainName,
    /// One line: what is wrong and the DNS evidence.
    pub message: String,
    #[serde(skip)]
    pub declared: Vec<Declared>,
    /// Why the admin chose to ignore this finding (`mxdrift.yaml`). Ignored
    /// findings are still reported and counted, but never fail the run and
    /// are never remediated.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ignored: Option<String>,
    /// The last day the ignore applies (its `until`), when it has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ignored_until: Option<CivilDate>,
}

/// A finding about the server or the run as a whole rather than one domain:
/// a table whose compiled file differs from its source, a resolver that
/// denies names that must exist, an identity nobody confirmed. Reports show
/// these first and count them with the per-domain findings, so they raise
/// the exit code and the monitoring state like any other finding.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RunFinding {
    pub rule: RuleId,
    pub severity: Severity,
    #[serde(skip)]
    pub confidence: Confidence,
    /// One line: what is wrong.
    pub message: String,
    /// The configuration file concerned, relative to the root, when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    /// Its 1-based line, when the finding is about one line of text.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<u32>,
    /// The facts behind the finding, one per line (what was asked and answered,
    /// the keys that differ, ...).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub evidence: Vec<String>,
}

impl RunFinding {
    /// Point the finding at a file (and a line, when `line > 0`).
    pub fn at(mut self, file: impl Into<String>, line: u32) -> Self {
        self.file = Some(file.into());
        self.line = (line > 0).then_some(line);
        self
    }

    pub fn with_evidence(mut self, evidence: Vec<String>) -> Self {
        self.evidence = evidence;
        self
    }

    /// `file:line`, `file`, or nothing.
    pub fn location(&self) -> Option<String> {
        match (&self.file, self.line) {
            (Some(file), Some(line)) => Some(format!("{file}:{line}")),
            (Some(file), None) => Some(file.clone()),
            _ => None,
        }
    }
}

impl RuleSet {
    /// A run-level finding of rule `id` with the rule's severity (after
    /// `--config` overrides).
    pub fn run_finding(&self, id: RuleId, message: impl Into<String>) -> RunFinding {
        let rule = self.rule(id);
        RunFinding {
            rule: id,
            severity: rule.severity,
            confidence: rule.confidence,
            message: message.into(),
            file: None,
            line: None,
            evidence: Vec::new(),
        }
    }
}

/// An ignore from the config file, ready to match.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IgnoreRule {
    /// Domain name or glob, lower case.
    pub domain: String,
    pub rule: RuleFilter,
    pub reason: String,
    pub until: Option<CivilDate>,
}

impl IgnoreRule {
    pub fn matches(&self, finding: &Finding) -> bool {
        self.rule.covers(finding.rule)
            && glob_match(&self.domain.to_ascii_lowercase(), finding.domain.as_str())
    }
}

/// Mark the findings that an ignore covers. Returns one note per expired
/// ignore that would have matched: it no longer applies, and says so.
pub fn apply_ignores(
    findings: &mut [Finding],
    ignores: &[IgnoreRule],
    today: CivilDate,
) -> Vec<String> {
    let mut notes = Vec::new();
    for finding in findings.iter_mut() {
        for ignore in ignores.iter().filter(|i| i.matches(finding)) {
            match ignore.until {
                Some(until) if until < today => notes.push(format!(
                    "the ignore of {} for {} expired on {until} ({}); the finding is reported again",
                    finding.rule, finding.domain, ignore.reason
                )),
                _ => {
                    finding.ignored = Some(ignore.reason.clone());
                    finding.ignored_until = ignore.until;
                    break;
                }
            }
        }
    }
    notes
}

/// One line of DNS evidence, for messages and tables:
/// `MX 10 mx1.elsewhere.test [198.51.100.7] (TTL 300)`.
pub fn evidence_summary(evidence: &MxEvidence) -> String {
    let hosts = || {
        evidence
            .mx
            .iter()
            .map(|h| {
                let addrs = if h.addresses.is_empty() {
                    "no address".to_string()
                } else {
                    h.addresses
                        .iter()
                        .map(|a| a.to_string())
                        .collect::<Vec<_>>()
                        .join(" ")
                };
                let alias = h
                    .cname
                    .as_ref()
                    .map(|c| format!(" CNAME {c}"))
                    .unwrap_or_default();
                let unknown = if h.lookup == HostLookup::Inconclusive {
                    ", lookup inconclusive"
                } else {
                    ""
                };
                format!(
                    "{} {}{} [{}{}]",
                    h.preference, h.host, alias, addrs, unknown
                )
            })
            .collect::<Vec<_>>()
            .join(", ")
    };
    let ttl = evidence
        .ttl
        .map(|t| format!(" (TTL {t})"))
        .unwrap_or_default();
    match evidence.status {
        DnsStatus::Ok => format!("MX {}{}", hosts(), ttl),
        DnsStatus::Nodata if evidence.implicit_mx => {
            format!("no MX, implicit MX {}{}", hosts(), ttl)
        }
        DnsStatus::Nodata => format!("no MX and no address records{ttl}"),
        DnsStatus::NullMx => {
            if evidence.mx.is_empty() {
                format!("null MX (MX 0 .){ttl}")
            } else {
                format!("null MX (MX 0 .) beside MX {}{}", hosts(), ttl)
            }
        }
        DnsStatus::Nxdomain => match &evidence.dangling_cname {
            Some(target) => format!("NXDOMAIN: CNAME to missing {target}{ttl}"),
            None => format!("NXDOMAIN{ttl}"),
        },
        DnsStatus::Inconclusive => format!(
            "lookup inconclusive: {}",
            evidence
                .problem
                .as_deref()
                .unwrap_or("no conclusive answer")
        ),
    }
}

fn located(declared: &[Declared]) -> String {
    match declared.first() {
        Some(d) if d.line > 0 => format!("; declared at {}:{}", d.file, d.line),
        Some(d) => format!("; declared in {}", d.file),
        None => String::new(),
    }
}

/// The cases a rule's default severity overstates: at most info, and why.
/// - `mx-points-here-not-local` through an implicit MX: the name has no MX
///   record and its address record is this server (a web-only name, such
///   as a shop's subdomain, whose mail is off); nobody mails it. Through
///   an explicit MX it stays as severe as the rule says.
/// - `domain-not-found` on the subdomain cPanel creates for an addon domain:
///   it is never published in DNS, so NXDOMAIN is the expected answer.
fn primary_cap(subject: &Subject<'_>) -> (Option<Severity>, String) {
    let domain = subject.domain;
    match (domain.delivery, subject.verdict) {
        (Delivery::NotLocal, Verdict::Here) if subject.evidence.implicit_mx => (
            Some(Severity::Info),
            "; only through the implicit MX: the name publishes no MX record, its address is this server (a web-only name), so it gets no mail".to_string(),
        ),
        (Delivery::Local, Verdict::Nxdomain) => match &domain.facts().addon_of {
            Some(addon) => (
                Some(Severity::Info),
                format!("; the subdomain cPanel creates for the addon domain {addon}, which is never published in DNS"),
            ),
            None => (None, String::new()),
        },
        _ => (None, String::new()),
    }
}

/// Everything a rule looks at for one domain.
pub struct Subject<'a> {
    pub domain: &'a KnownDomain,
    pub evidence: &'a MxEvidence,
    pub verdict: Verdict,
}

/// The findings for one domain. The server's own names (`localhost`,
/// `localhost.*`, `myhostname`, `--server-name`) never raise findings.
pub fn evaluate(rules: &RuleSet, subject: &Subject<'_>, identity: &ServerIdentity) -> Vec<Finding> {
    let name = &subject.domain.name;
    if name.is_localhost() || identity.is_our_name(name.as_str()) {
        return Vec::new();
    }
    let evidence = evidence_summary(subject.evidence);
    let delivery = subject.domain.delivery;
    // (rule, message, the most this finding may be: a case the rule's
    // default severity overstates, with the reason in the message).
    let mut fired: Vec<(RuleId, String, Option<Severity>)> = Vec::new();

    let primary = match (delivery, subject.verdict) {
        (Delivery::Local, Verdict::Elsewhere) => Some((
            RuleId::MailSwitchOn,
            "delivered locally, but mail goes elsewhere",
        )),
        (Delivery::Local, Verdict::Nxdomain) => Some((
            RuleId::DomainNotFound,
            "delivered locally, but the domain does not exist",
        )),
        (Delivery::Local, Verdict::NullMx) => Some((
            RuleId::NullMxDeliveredLocally,
            "delivered locally, but the domain accepts no mail",
        )),
        (Delivery::Local, Verdict::Backup) => Some((
            RuleId::BackupMxDeliversLocally,
            "only a backup MX, but delivered locally",
        )),
        (Delivery::Local, Verdict::Mixed) => Some((
            RuleId::SplitDelivery,
            "mail is split between this server and other hosts",
        )),
        (Delivery::NotLocal, Verdict::Here) => Some((
            RuleId::MxPointsHereNotLocal,
            "MX points here, but mail for the domain is not accepted here",
        )),
        (_, Verdict::Inconclusive) => {
            Some((RuleId::LookupInconclusive, "cannot tell where mail goes"))
        }
        _ => None,
    };
    if let Some((id, what)) = primary {
        let (cap, why) = primary_cap(subject);
        fired.push((id, format!("{what}: {evidence}{why}"), cap));
    }

    if subject.verdict == Verdict::NoMailHost {
        fired.push((
            RuleId::MxHostUnresolvable,
            format!("no MX host has an address: {evidence}"),
            None,
        ));
    } else if subject.evidence.status == DnsStatus::Ok {
        // Only the most preferred set: a dead host there costs every sender a try.
        let best = subject.evidence.mx.iter().map(|h| h.preference).min();
        let dead: Vec<&str> = subject
            .evidence
            .mx
            .iter()
            .filter(|h| Some(h.preference) == best && h.lookup == HostLookup::NoAddress)
            .map(|h| h.host.as_str())
            .collect();
        if !dead.is_empty() {
            fired.push((
                RuleId::MxHostUnresolvable,
                format!("MX host {} has no address: {evidence}", dead.join(", ")),
                None,
            ));
        }
    }

    if matches!(subject.evidence.status, DnsStatus::Ok | DnsStatus::Nodata) {
        // The most preferred set that resolves: the one senders use.
        let best = subject
            .evidence
            .mx
            .iter()
            .filter(|h| !h.addresses.is_empty())
            .map(|h| h.preference)
            .min();
        let looping: Vec<String> = subject
            .evidence
            .mx
            .iter()
            .filter(|h| Some(h.preference) == best && verdict::has_loopback_address(h))
            .map(|h| {
                let addresses: Vec<String> = h
                    .addresses
                    .iter()
                    .filter(|ip| crate::identity::is_loopback_like(**ip))
                    .map(|ip| ip.to_string())
                    .collect();
                format!("{} ({})", h.host, addresses.join(" "))
            })
            .collect();
        if !looping.is_empty() {
            fired.push((
                RuleId::MxHostLoopback,
                format!(
                    "MX host {} is a loopback, unspecified or link-local address: mail to it loops \
                     back in the sender or fails: {evidence}",
                    looping.join(", ")
                ),
                None,
            ));
        }
    }

    let aliases: Vec<String> = subject
        .evidence
        .mx
        .iter()
        .filter_map(|h| {
            h.cname
                .as_ref()
                .map(|c| format!("{} is an alias of {c}", h.host))
        })
        .collect();
    if !aliases.is_empty() && subject.evidence.status != DnsStatus::Inconclusive {
        fired.push((
            RuleId::MxTargetCname,
            format!("MX target {}: {evidence}", aliases.join(", ")),
            None,
        ));
    }

    let mut location = located(&subject.domain.declared);
    if let Some(setting) = &subject.domain.facts().hands_off {
        location.push_str("; ");
        location.push_str(&setting.evidence());
    }
    // Exactly sized too: most domains have one finding or none.
    let mut findings = Vec::with_capacity(fired.len());
    findings.extend(fired.into_iter().map(|(id, message, cap)| {
        let rule = rules.rule(id);
        Finding {
            rule: id,
            severity: cap.map_or(rule.severity, |cap| rule.severity.min(cap)),
            confidence: rule.confidence,
            domain: name.clone(),
            // Exactly sized: a large audit keeps tens of thousands of
            // findings until the report is written.
            message: [message.as_str(), location.as_str()].concat(),
            declared: subject.domain.declared.clone(),
            ignored: None,
            ignored_until: None,
        }
    }));
    findings
}

/// When `domain-expiring` fires (`rdap.warn_days`, `rdap.critical_days`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExpiryWindows {
    pub warn_days: u32,
    pub critical_days: u32,
}

/// `domain-expiring` and `domain-on-hold` for `domain`, from the registry's
/// record of its registrable domain. Within the critical window the finding
/// is one step more severe than the rule's (configured) severity. Nothing
/// fires for an inconclusive or missing record: that is reported in the
/// domain's `rdap` object, never as "fine" and never as a finding.
pub fn rdap_findings(
    rules: &RuleSet,
    domain: &KnownDomain,
    record: &RdapRecord,
    today: CivilDate,
    windows: ExpiryWindows,
) -> Vec<Finding> {
    if record.status != RdapStatus::Found {
        return Vec::new();
    }
    let registrable = record.registrable.as_str();
    let about = if registrable == domain.name.as_str() {
        registrable.to_string()
    } else {
        format!("{registrable} (the registration {} is under)", domain.name)
    };
    let registrar = record
        .registrar
        .as_deref()
        .map(|r| format!("registrar {r}"))
        .unwrap_or_else(|| "the registry names no registrar".to_string());
    let source = record.source.as_deref().unwrap_or("the registry");
    let location = located(&domain.declared);
    let mut fired = Vec::new();
    if let (Some(days), Some((day, _))) = (record.days_left(today), &record.expiration)
        && days <= i64::from(windows.warn_days)
    {
        let rule = rules.rule(RuleId::DomainExpiring);
        let critical = days <= i64::from(windows.critical_days);
        let severity = if critical {
            match rule.severity {
                Severity::Info => Severity::Warning,
                Severity::Warning | Severity::Critical => Severity::Critical,
            }
        } else {
            rule.severity
        };
        let when = match days {
            d if d < 0 => format!("expired on {day} ({} days ago)", -d),
            0 => format!("expires today ({day})"),
            1 => format!("expires tomorrow ({day})"),
            d => format!("expires on {day} (in {d} days)"),
        };
        fired.push((
            RuleId::DomainExpiring,
            severity,
            format!(
                "the registration of {about} {when}, {registrar}: the customer must renew it \
                 there before then, or mail to the domain stops (RDAP {source}){location}"
            ),
        ));
    }
    let holds: Vec<&str> = record.holds().iter().map(|s| s.as_str()).collect();
    if !holds.is_empty() {
        fired.push((
            RuleId::DomainOnHold,
            rules.rule(RuleId::DomainOnHold).severity,
            format!(
                "the registry lists {about} as {}, {registrar}: the domain is out of the DNS or \
                 being deleted; the customer must have the registrar lift the hold or restore the \
                 registration (RDAP {source}){location}",
                holds.join(", ")
            ),
        ));
    }
    fired
        .into_iter()
        .map(|(id, severity, message)| Finding {
            rule: id,
            severity,
            confidence: rules.rule(id).confidence,
            domain: domain.name.clone(),
            message,
            declared: domain.declared.clone(),
            ignored: None,
            ignored_until: None,
        })
        .collect()
}

/// Local domains with the verdict nxdomain or elsewhere, at least this many...
pub const UNUSUAL_SHARE_MIN_DOMAINS: usize = 5;
/// ...and at least this share of all local domains (percent), make the
/// run-level warning `unusual-verdict-share`.
pub const UNUSUAL_SHARE_PERCENT: usize = 25;

/// The run-level warning for an unusual share of local domains that look
/// gone (nxdomain) or moved (elsewhere): more often a lying resolver or a
/// wrong identity than a mass exodus of customers.
pub fn unusual_verdict_share<'a>(
    rules: &RuleSet,
    domains: impl IntoIterator<Item = (&'a DomainName, Delivery, Verdict)>,
) -> Option<RunFinding> {
    let mut local = 0usize;
    let mut gone: Vec<&DomainName> = Vec::new();
    let mut moved: Vec<&DomainName> = Vec::new();
    for (name, delivery, verdict) in domains {
        if delivery != Delivery::Local || name.is_localhost() {
            continue;
        }
        local += 1;
        match verdict {
            Verdict::Nxdomain => gone.push(name),
            Verdict::Elsewhere => moved.push(name),
            _ => {}
        }
    }
    let flagged = gone.len() + moved.len();
    if flagged < UNUSUAL_SHARE_MIN_DOMAINS || flagged * 100 < local * UNUSUAL_SHARE_PERCENT {
        return None;
    }
    const LISTED: usize = 10;
    let mut evidence = Vec::new();
    for (what, names) in [("nxdomain", &gone), ("elsewhere", &moved)] {
        if names.is_empty() {
            continue;
        }
        let shown: Vec<&str> = names.iter().take(LISTED).map(|n| n.as_str()).collect();
        let more = names.len().saturating_sub(LISTED);
        let tail = if more > 0 {
            format!(" and {more} more")
        } else {
            String::new()
        };
        evidence.push(format!(
            "{what} ({}): {}{tail}",
            names.len(),
            shown.join(", ")
        ));
    }
    let message = format!(
        "{flagged} of {local} local domains ({} %) look gone or moved ({} nxdomain, {} elsewhere): \
         check the resolver, --server-ip and --root before acting on them",
        flagged * 100 / local.max(1),
        gone.len(),
        moved.len()
    );
    Some(
        rules
            .run_finding(RuleId::UnusualVerdictShare, message)
            .with_evidence(evidence),
    )
}

/// `table-not-compiled`: a table whose text source and compiled file hold
/// different keys. Located at the source (at the first key Postfix does not
/// know, when there is one); the evidence lists the keys that differ (the
/// first [`crate::inventory::MISMATCH_KEYS_SHOWN`] of each kind, and a
/// count) and the command that compiles the source.
pub fn table_not_compiled(rules: &RuleSet, m: &TableMismatch) -> RunFinding {
    let message = format!(
        "{}: the text source {} and the compiled file {} that Postfix opens hold different keys ({} only in the source, {} only in the compiled file); delivery follows {}: run `{}` once the source is right",
        m.table,
        m.source,
        m.compiled,
        m.only_in_source_count,
        m.only_in_compiled_count,
        m.compiled,
        m.postmap
    );
    let mut evidence = Vec::new();
    for (key, line) in &m.only_in_source {
        evidence.push(format!(
            "{key} ({}:{line}) is not compiled: Postfix does not know it",
            m.source
        ));
    }
    let more = m
        .only_in_source_count
        .saturating_sub(m.only_in_source.len());
    if more > 0 {
        evidence.push(format!("and {more} more key(s) only in {}", m.source));
    }
    for key in &m.only_in_compiled {
        evidence.push(format!(
            "{key} is in {} but no longer in {}: Postfix still uses it",
            m.compiled, m.source
        ));
    }
    let more = m
        .only_in_compiled_count
        .saturating_sub(m.only_in_compiled.len());
    if more > 0 {
        evidence.push(format!("and {more} more key(s) only in {}", m.compiled));
    }
    evidence.push(format!("fix: {}, then postfix reload", m.postmap));
    let line = m.only_in_source.first().map_or(0, |(_, line)| *line);
    rules
        .run_finding(RuleId::TableNotCompiled, message)
        .at(m.source.clone(), line)
        .with_evidence(evidence)
}

/// A finding of `id` about one domain, with the rule's severity capped at
/// `cap` when given (after `--config` overrides), located at its
/// declaration.
fn domain_finding(
    rules: &RuleSet,
    id: RuleId,
    cap: Option<Severity>,
    domain: &KnownDomain,
    message: String,
) -> Finding {
    let rule = rules.rule(id);
    Finding {
        rule: id,
        severity: cap.map_or(rule.severity, |cap| rule.severity.min(cap)),
        confidence: rule.confidence,
        domain: domain.name.clone(),
        message: [message.as_str(), located(&domain.declared).as_str()].concat(),
        declared: domain.declared.clone(),
        ignored: None,
        ignored_until: None,
    }
}

/// `nameservers-disagree`: the delegated servers gave different answers.
/// `decisive`: the answers lead to different verdicts (the domain is then
/// inconclusive).
pub fn nameservers_disagree(
    rules: &RuleSet,
    domain: &KnownDomain,
    servers: &AuthoritativeDomain,
    decisive: bool,
) -> Option<Finding> {
    if servers.views.len() < 2 {
        return None;
    }
    let answers: Vec<String> = servers
        .servers
        .iter()
        .filter_map(|s| match &s.reply {
            ServerReply::Answer { answer, .. } => {
                Some(format!("{} ({}) says {answer}", s.name, s.address))
            }
            ServerReply::Lame { .. } | ServerReply::Fault { .. } => None,
        })
        .collect();
    let consequence = if decisive {
        "the answers lead to different verdicts, so where mail goes is inconclusive"
    } else {
        "every answer leads to the same verdict"
    };
    Some(domain_finding(
        rules,
        RuleId::NameserversDisagree,
        None,
        domain,
        format!(
            "the authoritative servers disagree ({consequence}): {}",
            answers.join("; ")
        ),
    ))
}

/// `lame-delegation`: a delegated server refuses, answers without AA or
/// does not answer.
pub fn lame_delegation(
    rules: &RuleSet,
    domain: &KnownDomain,
    servers: &AuthoritativeDomain,
) -> Option<Finding> {
    let lame = servers.lame();
    if lame.is_empty() {
        return None;
    }
    Some(domain_finding(
        rules,
        RuleId::LameDelegation,
        None,
        domain,
        format!(
            "delegated name server{} of {}: {}",
            if lame.len() > 1 { "s" } else { "" },
            servers.zone.as_deref().unwrap_or(domain.name.as_str()),
            lame.join("; ")
        ),
    ))
}

/// `inventory-disagrees-with-mta` (`--cross-check`): the installed MTA's
/// own tools class the domain as `theirs`, mxdrift's reading says
/// otherwise. The message carries both answers and where mxdrift found
/// the domain.
pub fn inventory_disagrees_with_mta(
    rules: &RuleSet,
    domain: &KnownDomain,
    mta: crate::crosscheck::MtaKind,
    theirs: crate::crosscheck::MtaClass,
) -> Finding {
    let via = domain
        .declared
        .first()
        .map(|d| format!(" via {}", d.via))
        .unwrap_or_default();
    domain_finding(
        rules,
        RuleId::InventoryDisagreesWithMta,
        None,
        domain,
        format!(
            "the installed MTA classes the domain differently: mxdrift: {}{via} (from the configuration files); {}: {} (its own tools)",
            domain.delivery.as_str(),
            mta.as_str(),
            theirs.as_str()
        ),
    )
}

/// What this server's resolver said, for `resolver-view-differs`.
pub struct ResolverView<'a> {
    pub evidence: &'a MxEvidence,
    pub verdict: Verdict,
    /// The run started at this Unix time (for when caches expire).
    pub asked_at: u64,
    /// The resolver answers authoritatively and is this machine: a local zone.
    pub local_zone: Option<&'a str>,
}

/// `resolver-view-differs`: the resolver's answer is not the authoritative
/// one. Critical when the resolver says here and the authoritative servers
/// say elsewhere (mail from this server stays here; switching local
/// delivery off makes it loop), a warning otherwise. Nothing when either
/// side is inconclusive: there is nothing to compare.
pub fn resolver_view_differs(
    rules: &RuleSet,
    domain: &KnownDomain,
    authoritative: &MxEvidence,
    authoritative_verdict: Verdict,
    resolver: &ResolverView<'_>,
) -> Option<Finding> {
    if authoritative_verdict == Verdict::Inconclusive || resolver.verdict == Verdict::Inconclusive {
        return None;
    }
    fn hosts(e: &MxEvidence) -> Vec<(u16, &str)> {
        let mut hosts: Vec<(u16, &str)> =
            e.mx.iter()
                .map(|h| (h.preference, h.host.as_str()))
                .collect();
        hosts.sort_unstable();
        hosts
    }
    if authoritative_verdict == resolver.verdict
        && authoritative.status == resolver.evidence.status
        && hosts(authoritative) == hosts(resolver.evidence)
    {
        return None;
    }
    let cap = if resolver.verdict == Verdict::Here && authoritative_verdict == Verdict::Elsewhere {
        None
    } else {
        Some(Severity::Warning)
    };
    let ttl = match (resolver.local_zone, resolver.evidence.ttl) {
        (Some(server), _) => format!(
            "; the resolver {server} answers authoritatively from this machine: a local DNS zone \
             (such as Plesk's or cPanel's BIND) serves this answer and it never expires"
        ),
        (None, Some(ttl)) => format!(
            "; the resolver's remaining TTL is {ttl} s: caches will have expired by {}",
            crate::civil_date::utc_timestamp(resolver.asked_at.saturating_add(u64::from(ttl)))
        ),
        (None, None) => String::new(),
    };
    Some(domain_finding(
        rules,
        RuleId::ResolverViewDiffers,
        cap,
        domain,
        format!(
            "this server's resolver says {} ({}), the authoritative servers say {} ({}){ttl}",
            resolver.verdict.as_str(),
            evidence_summary(resolver.evidence),
            authoritative_verdict.as_str(),
            evidence_summary(authoritative),
        ),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::{declared, host, known_domain, ok};

    /// The contract's rule table: ids and default severities.
    const CONTRACT: &[(&str, Severity)] = &[
        ("mail-switch-on", Severity::Critical),
        ("domain-not-found", Severity::Critical),
        ("null-mx-delivered-locally", Severity::Warning),
        ("backup-mx-delivers-locally", Severity::Warning),
        ("split-delivery", Severity::Warning),
        ("mx-host-unresolvable", Severity::Warning),
        ("mx-points-here-not-local", Severity::Critical),
        ("mx-target-cname", Severity::Info),
        ("lookup-inconclusive", Severity::Info),
        ("table-not-compiled", Severity::Warning),
        ("mx-host-loopback", Severity::Warning),
        ("resolver-untrustworthy", Severity::Critical),
        ("identity-unconfirmed", Severity::Critical),
        ("fleet-moved-internally", Severity::Critical),
        ("fleet-not-accepted", Severity::Critical),
        ("fleet-local-on-several", Severity::Warning),
        ("domain-expiring", Severity::Warning),
        ("domain-on-hold", Severity::Critical),
        ("nameservers-disagree", Severity::Warning),
        ("lame-delegation", Severity::Warning),
        ("resolver-view-differs", Severity::Critical),
        // Not (yet) in contract.md's table: the run-level warning of issue
        // 17 for an unusual share of nxdomain or elsewhere verdicts.
        ("unusual-verdict-share", Severity::Warning),
        ("inventory-disagrees-with-mta", Severity::Warning),
    ];

    #[test]
    fn embedded_rule_files_parse() {
        // A broken rules/*.yaml fails here with file:line.
        if let Err(e) = RuleSet::embedded() {
            panic!("{e}");
        }
    }

    #[test]
    fn embedded_rules_are_exactly_the_contract() {
        let rules = RuleSet::embedded().unwrap();
        assert_eq!(rules.iter().count(), CONTRACT.len());
        for (id, severity) in CONTRACT {
            let rule = rules.get(id).unwrap_or_else(|| panic!("rule {id} missing"));
            assert_eq!(rule.id.as_str(), *id);
            assert_eq!(rule.severity, *severity, "{id}");
            assert!(
                !rule.title.is_empty()
                    && !rule.rationale.is_empty()
                    && !rule.remediation.is_empty()
            );
        }
    }

    #[test]
    fn rule_file_errors_name_file_and_line() {
        let bad = "id: x\nseverity: critical\nconfidence: high\ntitle: t\nwhen: w\nrationale: r\nremediation: r\nsurprise: 1\n";
        let err = RuleSet::parse(&[("rules/x.yaml", bad)])
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("rules/x.yaml:8:"), "{err}");
        let bad_severity = "id: x\nseverity: fatal\n";
        let err = RuleSet::parse(&[("rules/x.yaml", bad_severity)])
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("rules/x.yaml:2:"), "{err}");
        let wrong_id = "id: y\nseverity: info\nconfidence: low\nheadline: h\ntitle: t\nwhen: w\nrationale: r\nremediation: r\n";
        assert!(RuleSet::parse(&[("rules/x.yaml", wrong_id)]).is_err());
    }

    /// The embedded rule files, with `change` applied to the list.
    fn embedded_with(change: impl FnOnce(&mut Vec<(&str, &str)>)) -> Result<RuleSet, RuleError> {
        let mut files = EMBEDDED_RULES.to_vec();
        change(&mut files);
        RuleSet::parse(&files)
    }

    #[test]
    fn a_rule_file_without_a_rule_id_is_an_error() {
        let yaml = "id: brand-new-rule\nseverity: info\nconfidence: low\nheadline: h\ntitle: t\nwhen: w\nrationale: r\nremediation: r\n";
        let err = embedded_with(|files| files.push(("rules/brand-new-rule.yaml", yaml)))
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            "rules/brand-new-rule.yaml: rule `brand-new-rule` is not a RuleId: a new rule needs its variant in src/rules.rs, and the code that decides on it"
        );
    }

    #[test]
    fn a_rule_id_without_a_rule_file_is_an_error() {
        let err = embedded_with(|files| {
            files.retain(|(name, _)| *name != "rules/split-delivery.yaml");
        })
        .unwrap_err()
        .to_string();
        assert_eq!(
            err,
            "rules/split-delivery.yaml: missing: rule `split-delivery` is a RuleId but has no rule file"
        );
        // Twice is an error too.
        let err = embedded_with(|files| {
            let twice = files[0];
            files.push(twice);
        })
        .unwrap_err()
        .to_string();
        assert!(err.ends_with("defined twice"), "{err}");
    }

    #[test]
    fn rule_ids_are_their_kebab_case_names_in_order() {
        for id in RuleId::ALL {
            assert_eq!(
                serde_json::to_value(id).unwrap(),
                serde_json::Value::from(id.as_str())
            );
            assert_eq!(RuleId::parse(id.as_str()), Some(*id));
            assert_eq!(id.to_string(), id.as_str());
        }
        // Sorted by name: `rules` lists them in file order, as before.
        assert!(
            RuleId::ALL
                .windows(2)
                .all(|w| w[0].as_str() < w[1].as_str())
        );
        assert!(
            RuleId::ALL
                .iter()
                .enumerate()
                .all(|(i, id)| id.index() == i)
        );
        assert_eq!(RuleId::parse("mail-switch"), None);
        assert_eq!(
            format!("{:<16}|", RuleId::SplitDelivery),
            "split-delivery  |"
        );
        assert_eq!(RuleFilter::parse("*"), Some(RuleFilter::Every));
        assert_eq!(format!("{}", RuleFilter::Every), "*");
        assert!(RuleFilter::Every.covers(RuleId::MailSwitchOn));
        assert!(!RuleFilter::Only(RuleId::SplitDelivery).covers(RuleId::MailSwitchOn));
    }

    fn domain(name: &str, delivery: Delivery) -> KnownDomain {
        known_domain(
            name,
            delivery,
            declared("etc/postfix/main.cf", 7, "mydestination"),
        )
    }

    fn rules_for(d: &KnownDomain, e: &MxEvidence, v: Verdict) -> Vec<String> {
        let rules = RuleSet::embedded().unwrap();
        let mut id = ServerIdentity::default();
        id.add_name("web10.hoster.test");
        evaluate(
            &rules,
            &Subject {
                domain: d,
                evidence: e,
                verdict: v,
            },
            &id,
        )
        .into_iter()
        .map(|f| f.rule.as_str().to_string())
        .collect()
    }

    #[test]
    fn each_contract_rule_fires_on_its_case() {
        let local = domain("moved.test", Delivery::Local);
        let e = ok(vec![host(10, "mx1.elsewhere.test", &["198.51.100.7"])]);
        assert_eq!(
            rules_for(&local, &e, Verdict::Elsewhere),
            ["mail-switch-on"]
        );
        assert_eq!(
            rules_for(&local, &e, Verdict::Backup),
            ["backup-mx-delivers-locally"]
        );
        assert_eq!(rules_for(&local, &e, Verdict::Mixed), ["split-delivery"]);
        assert!(rules_for(&local, &e, Verdict::Here).is_empty());
        let nx = MxEvidence {
            status: DnsStatus::Nxdomain,
            ..ok(vec![])
        };
        assert_eq!(
            rules_for(&local, &nx, Verdict::Nxdomain),
            ["domain-not-found"]
        );
        let null = MxEvidence {
            status: DnsStatus::NullMx,
            ..ok(vec![])
        };
        assert_eq!(
            rules_for(&local, &null, Verdict::NullMx),
            ["null-mx-delivered-locally"]
        );
        let unknown = MxEvidence::inconclusive("SERVFAIL");
        assert_eq!(
            rules_for(&local, &unknown, Verdict::Inconclusive),
            ["lookup-inconclusive"]
        );
        let dead = ok(vec![host(10, "gone.test", &[])]);
        assert_eq!(
            rules_for(&local, &dead, Verdict::NoMailHost),
            ["mx-host-unresolvable"]
        );
        let not_local = domain("hosted.test", Delivery::NotLocal);
        assert_eq!(
            rules_for(&not_local, &e, Verdict::Here),
            ["mx-points-here-not-local"]
        );
        assert!(rules_for(&not_local, &e, Verdict::Elsewhere).is_empty());
        let relay = domain("relayed.test", Delivery::Relay);
        assert!(rules_for(&relay, &e, Verdict::Elsewhere).is_empty());
    }

    fn findings_for(d: &KnownDomain, e: &MxEvidence, v: Verdict) -> Vec<Finding> {
        let rules = RuleSet::embedded().unwrap();
        evaluate(
            &rules,
            &Subject {
                domain: d,
                evidence: e,
                verdict: v,
            },
            &ServerIdentity::default(),
        )
    }

    #[test]
    fn web_only_name_through_the_implicit_mx_is_info() {
        let web_only = domain("shop.bistro.test", Delivery::NotLocal);
        let implicit = MxEvidence {
            status: DnsStatus::Nodata,
            implicit_mx: true,
            ..ok(vec![host(0, "shop.bistro.test", &["203.0.113.10"])])
        };
        let f = findings_for(&web_only, &implicit, Verdict::Here);
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].rule, RuleId::MxPointsHereNotLocal);
        assert_eq!(f[0].severity, Severity::Info);
        assert!(
            f[0].message.contains("only through the implicit MX"),
            "{}",
            f[0].message
        );
        // Through an explicit MX it stays critical.
        let explicit = ok(vec![host(10, "mail.hoster.test", &["203.0.113.10"])]);
        let f = findings_for(&web_only, &explicit, Verdict::Here);
        assert_eq!(f[0].severity, Severity::Critical);
        assert!(!f[0].message.contains("implicit"));
    }

    #[test]
    fn addon_subdomain_not_found_is_info_naming_the_addon() {
        let mut sub = domain("addon.main.test", Delivery::Local);
        sub.facts_mut().addon_of = Some(DomainName::parse("addon.test").unwrap());
        let nx = MxEvidence {
            status: DnsStatus::Nxdomain,
            ..ok(vec![])
        };
        let f = findings_for(&sub, &nx, Verdict::Nxdomain);
        assert_eq!(f[0].rule, RuleId::DomainNotFound);
        assert_eq!(f[0].severity, Severity::Info);
        assert!(
            f[0].message.contains("addon domain addon.test"),
            "{}",
            f[0].message
        );
        // Any other domain not found stays critical.
        let plain = domain("gone.test", Delivery::Local);
        assert_eq!(
            findings_for(&plain, &nx, Verdict::Nxdomain)[0].severity,
            Severity::Critical
        );
    }

    #[test]
    fn a_panel_setting_shows_in_the_evidence() {
        let mut forced = domain("moved.test", Delivery::Local);
        forced.facts_mut().hands_off =
            Some(Box::new(crate::inventory::HandsOff::CpanelForcedLocal {
                setting: "MXCHECK-moved.test=0".into(),
                file: "var/cpanel/users/movedco".into(),
                line: 12,
            }));
        let e = ok(vec![host(10, "mx1.elsewhere.test", &["198.51.100.7"])]);
        let f = findings_for(&forced, &e, Verdict::Elsewhere);
        assert_eq!(f[0].severity, Severity::Critical);
        assert!(
            f[0].message.ends_with(
                "; cPanel Email Routing is forced to Local (MXCHECK-moved.test=0 at var/cpanel/users/movedco:12)"
            ),
            "{}",
            f[0].message
        );
    }

    #[test]
    fn dead_host_in_best_set_and_cname_target() {
        let local = domain("a.test", Delivery::Local);
        let mut alias = host(10, "alias.test", &["203.0.113.10"]);
        alias.cname = Some("real.test".into());
        let e = ok(vec![
            alias,
            host(10, "gone.test", &[]),
            host(20, "gone2.test", &[]),
        ]);
        assert_eq!(
            rules_for(&local, &e, Verdict::Here),
            ["mx-host-unresolvable", "mx-target-cname"]
        );
        // A dead host only at a worse preference is not reported.
        let e = ok(vec![
            host(10, "mx.test", &["203.0.113.10"]),
            host(20, "gone.test", &[]),
        ]);
        assert!(rules_for(&local, &e, Verdict::Here).is_empty());
    }

    #[test]
    fn loopback_mx_host_of_the_best_set_warns() {
        let local = domain("parked.test", Delivery::Local);
        for mx in [
            vec![host(10, "localhost", &["127.0.0.1", "::1"])],
            vec![host(10, "127.0.0.1", &["127.0.0.1"])],
            vec![
                host(10, "dead.test", &[]),
                host(20, "ll.test", &["fe80::1"]),
            ],
            vec![
                host(10, "zero.test", &["0.0.0.0"]),
                host(10, "mx.them", &["198.51.100.7"]),
            ],
        ] {
            let e = ok(mx);
            let fired = rules_for(&local, &e, Verdict::Inconclusive);
            assert!(fired.contains(&"mx-host-loopback".to_string()), "{fired:?}");
            assert!(!fired.contains(&"mail-switch-on".to_string()));
        }
        let mut implicit = ok(vec![host(0, "parked.test", &["127.0.0.1"])]);
        implicit.status = DnsStatus::Nodata;
        implicit.implicit_mx = true;
        assert!(
            rules_for(&local, &implicit, Verdict::Inconclusive)
                .contains(&"mx-host-loopback".to_string())
        );
        // Only at a worse preference: not the set senders use.
        let e = ok(vec![
            host(10, "mx.them", &["198.51.100.7"]),
            host(20, "localhost", &["127.0.0.1"]),
        ]);
        assert_eq!(
            rules_for(&local, &e, Verdict::Elsewhere),
            ["mail-switch-on"]
        );
    }

    #[test]
    fn unusual_share_of_gone_or_moved_domains() {
        let rules = RuleSet::embedded().unwrap();
        let names: Vec<DomainName> = (0..20)
            .map(|i| DomainName::parse(&format!("d{i}.test")).unwrap())
            .collect();
        let verdicts = |bad: usize| -> Vec<(&DomainName, Delivery, Verdict)> {
            names
                .iter()
                .enumerate()
                .map(|(i, n)| {
                    let v = if i < bad {
                        if i % 2 == 0 {
                            Verdict::Nxdomain
                        } else {
                            Verdict::Elsewhere
                        }
                    } else {
                        Verdict::Here
                    };
                    (n, Delivery::Local, v)
                })
                .collect()
        };
        // 4 of 20: too few. 5 of 20 (25 %): reported.
        assert!(unusual_verdict_share(&rules, verdicts(4)).is_none());
        let f = unusual_verdict_share(&rules, verdicts(5)).unwrap();
        assert_eq!(f.rule, RuleId::UnusualVerdictShare);
        assert_eq!(f.severity, Severity::Warning);
        assert!(
            f.message.starts_with("5 of 20 local domains (25 %)"),
            "{}",
            f.message
        );
        assert_eq!(f.evidence.len(), 2);
        // Relayed domains do not count; 5 of 30 local is under a quarter.
        let more: Vec<DomainName> = (0..10)
            .map(|i| DomainName::parse(&format!("e{i}.test")).unwrap())
            .collect();
        let mut mixed = verdicts(5);
        mixed.extend(more.iter().map(|n| (n, Delivery::Local, Verdict::Here)));
        assert!(unusual_verdict_share(&rules, mixed).is_none());
    }

    #[test]
    fn own_names_never_raise_findings() {
        let e = ok(vec![host(10, "mx1.elsewhere.test", &["198.51.100.7"])]);
        for name in ["localhost", "localhost.hoster.test", "web10.hoster.test"] {
            assert!(
                rules_for(&domain(name, Delivery::Local), &e, Verdict::Elsewhere).is_empty(),
                "{name}"
            );
        }
    }

    #[test]
    fn ignores_mark_findings_until_they_expire() {
        let rules = RuleSet::embedded().unwrap();
        let d = domain("shop.example.org", Delivery::Local);
        let e = ok(vec![host(10, "mx1.elsewhere.test", &["198.51.100.7"])]);
        let subject = Subject {
            domain: &d,
            evidence: &e,
            verdict: Verdict::Elsewhere,
        };
        let today = CivilDate::parse("2026-11-23").unwrap();
        let ignore = |rule: &str, until: Option<&str>| IgnoreRule {
            domain: "*.Example.org".into(),
            rule: RuleFilter::parse(rule).unwrap(),
            reason: "moving on Friday".into(),
            until: until.and_then(CivilDate::parse),
        };
        let mut f = evaluate(&rules, &subject, &ServerIdentity::default());
        assert!(
            apply_ignores(
                &mut f,
                &[ignore("mail-switch-on", Some("2026-11-23"))],
                today
            )
            .is_empty()
        );
        assert_eq!(f[0].ignored.as_deref(), Some("moving on Friday"));

        let mut f = evaluate(&rules, &subject, &ServerIdentity::default());
        let notes = apply_ignores(&mut f, &[ignore("*", Some("2026-11-22"))], today);
        assert_eq!(f[0].ignored, None);
        assert!(notes[0].contains("expired on 2026-11-22"), "{notes:?}");

        let mut f = evaluate(&rules, &subject, &ServerIdentity::default());
        apply_ignores(&mut f, &[ignore("split-delivery", None)], today);
        assert_eq!(f[0].ignored, None);
    }

    #[test]
    fn message_carries_evidence_and_location() {
        let rules = RuleSet::embedded().unwrap();
        let d = domain("moved.test", Delivery::Local);
        let e = ok(vec![host(10, "mx1.elsewhere.test", &["198.51.100.7"])]);
        let f = evaluate(
            &rules,
            &Subject {
                domain: &d,
                evidence: &e,
                verdict: Verdict::Elsewhere,
            },
            &ServerIdentity::default(),
        );
        assert_eq!(
            f[0].message,
            "delivered locally, but mail goes elsewhere: MX 10 mx1.elsewhere.test [198.51.100.7] (TTL 300); declared at etc/postfix/main.cf:7"
        );
    }

    #[test]
    fn table_not_compiled_names_the_table_the_keys_and_the_command() {
        let rules = RuleSet::embedded().unwrap();
        let m = TableMismatch {
            table: "hash:/etc/postfix/vdomains".into(),
            postmap: "postmap hash:/etc/postfix/vdomains".into(),
            source: "etc/postfix/vdomains".into(),
            compiled: "etc/postfix/vdomains.db".into(),
            only_in_source: vec![("new.test".into(), 4)],
            only_in_source_count: 1,
            only_in_compiled: vec!["old.test".into()],
            only_in_compiled_count: 23,
        };
        let f = table_not_compiled(&rules, &m);
        assert_eq!(
            (f.rule.as_str(), f.severity),
            ("table-not-compiled", Severity::Warning)
        );
        assert_eq!(f.location().as_deref(), Some("etc/postfix/vdomains:4"));
        assert!(
            f.message
                .contains("run `postmap hash:/etc/postfix/vdomains`"),
            "{}",
            f.message
        );
        assert_eq!(
            f.evidence,
            [
                "new.test (etc/postfix/vdomains:4) is not compiled: Postfix does not know it",
                "old.test is in etc/postfix/vdomains.db but no longer in etc/postfix/vdomains: Postfix still uses it",
                "and 22 more key(s) only in etc/postfix/vdomains.db",
                "fix: postmap hash:/etc/postfix/vdomains, then postfix reload",
            ]
        );
    }
}

#[cfg(test)]
mod authoritative_tests {
    use super::*;
    use crate::resolve::authoritative::{Lameness, ServerAnswer};
    use crate::test_support::{declared, host, known_domain, ok};

    fn moved() -> KnownDomain {
        known_domain(
            "moved.test",
            Delivery::Local,
            declared("etc/postfix/main.cf", 3, "mydestination"),
        )
    }

    #[test]
    fn resolver_here_and_authoritative_elsewhere_is_critical_with_the_expiry() {
        let rules = RuleSet::embedded().unwrap();
        let here = ok(vec![host(10, "mail.hoster.test", &["203.0.113.10"])]);
        let there = ok(vec![host(10, "mx.elsewhere.test", &["198.51.100.7"])]);
        let view = ResolverView {
            evidence: &here,
            verdict: Verdict::Here,
            asked_at: 1_795_398_400,
            local_zone: None,
        };
        let finding =
            resolver_view_differs(&rules, &moved(), &there, Verdict::Elsewhere, &view).unwrap();
        assert_eq!(finding.rule, RuleId::ResolverViewDiffers);
        assert_eq!(finding.severity, Severity::Critical);
        let ttl = here.ttl.unwrap();
        assert!(
            finding.message.contains(&format!(
                "the resolver's remaining TTL is {ttl} s: caches will have expired by {}",
                crate::civil_date::utc_timestamp(1_795_398_400 + u64::from(ttl))
            )),
            "{}",
            finding.message
        );
        assert!(
            finding
                .message
                .ends_with("declared at etc/postfix/main.cf:3")
        );

        // The other way round (the resolver lags behind a move here): a warning.
        let back = ResolverView {
            evidence: &there,
            verdict: Verdict::Elsewhere,
            ..view
        };
        let finding = resolver_view_differs(&rules, &moved(), &here, Verdict::Here, &back).unwrap();
        assert_eq!(finding.severity, Severity::Warning);
        // Same answer: nothing. Either side inconclusive: nothing to compare.
        let same = ResolverView {
            evidence: &there,
            verdict: Verdict::Elsewhere,
            ..view
        };
        assert!(
            resolver_view_differs(&rules, &moved(), &there, Verdict::Elsewhere, &same).is_none()
        );
        assert!(
            resolver_view_differs(&rules, &moved(), &there, Verdict::Inconclusive, &view).is_none()
        );
    }

    #[test]
    fn lame_and_disagreeing_servers_are_named_with_their_answers() {
        let rules = RuleSet::embedded().unwrap();
        let answer = |name: &str, ip: &str, text: &str, view: usize| ServerAnswer {
            name: name.into(),
            address: ip.parse().unwrap(),
            reply: ServerReply::Answer {
                answer: text.into(),
                view,
            },
        };
        let servers = AuthoritativeDomain {
            zone: Some("moved.test".into()),
            servers: vec![
                answer("ns1.new.test", "192.0.2.1", "MX 10 mx.new.test", 0),
                answer("ns.old.test", "192.0.2.2", "MX 10 mail.hoster.test", 1),
                ServerAnswer {
                    name: "ns.gone.test".into(),
                    address: "192.0.2.3".parse().unwrap(),
                    reply: ServerReply::Lame {
                        lameness: Lameness::Refused,
                    },
                },
            ],
            views: vec![ok(vec![]), ok(vec![])],
            problem: None,
        };
        let disagree = nameservers_disagree(&rules, &moved(), &servers, true).unwrap();
        assert_eq!(disagree.severity, Severity::Warning);
        assert!(
            disagree.message.contains(
                "ns1.new.test (192.0.2.1) says MX 10 mx.new.test; ns.old.test (192.0.2.2) says MX 10 mail.hoster.test"
            ) && disagree.message.contains("different verdicts"),
            "{}",
            disagree.message
        );
        let lame = lame_delegation(&rules, &moved(), &servers).unwrap();
        assert!(
            lame.message
                .contains("ns.gone.test (192.0.2.3) refuses the domain (REFUSED)"),
            "{}",
            lame.message
        );
        let agreeing = AuthoritativeDomain {
            views: vec![ok(vec![])],
            ..servers
        };
        assert!(nameservers_disagree(&rules, &moved(), &agreeing, false).is_none());
    }
}
