//! Which finding of a domain `fix` acts on, and how: an exhaustive `match`
//! on [`RuleId`], so a new rule does not compile until someone decides
//! what `fix` does with it. Then, before anything is planned, whether the
//! evidence asked again over TCP still calls for the same change.
//!
//! A domain with a finding a human must decide (`split-delivery`, ...) is
//! not fixed for any other rule either: the fixes would contradict.

use super::{Action, Confirmation, Left};
use crate::audit::{AuditedDomain, Reconfirmed};
use crate::inventory::Delivery;
use crate::rules::{Finding, RuleId, Severity, evidence_summary};
use crate::verdict::Verdict;

/// What remediation does with a finding of a rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Treatment {
    /// Fixed, when the evidence is conclusive.
    Fix(Action),
    /// Never fixed automatically: a human decides, for this reason. A
    /// domain with such a finding is not fixed for another rule either.
    ForAHuman(&'static str),
    /// The DNS evidence itself is missing: reported as left, never fixed.
    Inconclusive,
    /// Nothing for `fix` to do or say (DNS-side problems, run-level
    /// findings).
    Nothing,
}

/// The treatment of each rule. Exhaustive: a new rule does not compile
/// until someone decides what `fix` does with it.
fn treatment(rule: RuleId) -> Treatment {
    match rule {
        RuleId::MailSwitchOn | RuleId::DomainNotFound | RuleId::NullMxDeliveredLocally => {
            Treatment::Fix(Action::TurnOff)
        }
        RuleId::BackupMxDeliversLocally => Treatment::Fix(Action::MakeRelay),
        RuleId::SplitDelivery => Treatment::ForAHuman(
            "this server shares the best MX preference with foreign hosts; some setups split delivery on purpose, so decide which server should receive the mail",
        ),
        RuleId::MxHostUnresolvable => Treatment::ForAHuman(
            "an MX host of the domain has no address: the DNS is broken, not this server; fix the DNS first",
        ),
        RuleId::MxPointsHereNotLocal => Treatment::ForAHuman(
            "the MX points here but this server does not accept the domain's mail; turn mail on in the panel or change the MX (mxdrift never turns delivery on)",
        ),
        RuleId::ResolverViewDiffers => Treatment::ForAHuman(
            "this server's resolver does not see what the authoritative servers say: if a local DNS zone answers for the domain, remove the local DNS zone first (and wait until caches expire), or this server's mail will loop",
        ),
        // The files mxdrift read are not what the MTA uses: a fix made from
        // them could change the wrong thing, for this rule or any other.
        RuleId::InventoryDisagreesWithMta => Treatment::ForAHuman(
            "the installed MTA's own tools class this domain differently from the configuration mxdrift read (--cross-check); find out which is right before changing anything",
        ),
        RuleId::LookupInconclusive => Treatment::Inconclusive,
        // The customer's registration, not this server: the customer must
        // renew or have the hold lifted (the finding's message says so).
        RuleId::DomainExpiring | RuleId::DomainOnHold => Treatment::Nothing,
        RuleId::MxTargetCname
        | RuleId::MxHostLoopback
        | RuleId::TableNotCompiled
        | RuleId::ResolverUntrustworthy
        | RuleId::IdentityUnconfirmed
        | RuleId::UnusualVerdictShare
        // The servers' answers agree on the verdict (otherwise the domain
        // is inconclusive), and a lame server changes nothing here.
        | RuleId::NameserversDisagree
        | RuleId::LameDelegation => Treatment::Nothing,
        // Cross-server findings come from `mxdrift fleet`, never from one
        // server's audit: `fix` on one server cannot see the other servers
        // the evidence rests on.
        RuleId::FleetMovedInternally | RuleId::FleetNotAccepted | RuleId::FleetLocalOnSeveral => {
            Treatment::Nothing
        }
    }
}

/// The finding of a domain to fix and how, or `None` (with the reasons
/// pushed to `left`) when nothing may be touched.
pub(super) fn select<'a>(
    audited: &'a AuditedDomain,
    left: &mut Vec<Left>,
) -> Option<(&'a Finding, Action)> {
    let name = &audited.domain.name;
    let conclusive =
        audited.verdict != Verdict::Inconclusive && audited.domain.delivery == Delivery::Local;
    let mut blocking = None;
    let mut candidate = None;
    for f in &audited.findings {
        let treatment = treatment(f.rule);
        let reason = match (&f.ignored, treatment) {
            (Some(why), _) => Some(format!(
                "ignored in the configuration ({why}); never remediated"
            )),
            (None, Treatment::Inconclusive) => {
                Some("DNS did not answer conclusively; never remediated".to_string())
            }
            (None, Treatment::ForAHuman(why)) => {
                blocking = Some(f.rule);
                if f.severity == Severity::Info {
                    // A case the rule reports at info (a web-only name): the
                    // finding says why; there is nothing to decide.
                    Some("reported at info level; nothing to fix".to_string())
                } else {
                    Some(why.to_string())
                }
            }
            (None, Treatment::Fix(_)) if f.severity == Severity::Info => {
                Some("the finding is at info level; never remediated".into())
            }
            (None, Treatment::Fix(_)) if !conclusive => {
                Some("the evidence is not conclusive; never remediated".into())
            }
            (None, Treatment::Fix(_) | Treatment::Nothing) => None,
        };
        match (reason, treatment) {
            (
                Some(reason),
                Treatment::Fix(_) | Treatment::ForAHuman(_) | Treatment::Inconclusive,
            ) => {
                left.push(Left {
                    domain: name.clone(),
                    rule: f.rule,
                    reason,
                });
            }
            // An ignored info finding (mx-target-cname) needs no mention.
            (Some(_), Treatment::Nothing) => {}
            (None, Treatment::Fix(action)) => candidate = Some((f, action)),
            (None, Treatment::ForAHuman(_) | Treatment::Inconclusive | Treatment::Nothing) => {}
        }
    }
    let (finding, action) = candidate?;
    if let Some(other) = blocking {
        left.push(Left {
            domain: name.clone(),
            rule: finding.rule,
            reason: format!("the domain also has {other}; decide by hand"),
        });
        return None;
    }
    Some((finding, action))
}

/// The confirmation of a change, or why it is refused: asked again over
/// TCP, the evidence must give the same verdict, and on it [`select`] the
/// same rule and action. The comparison runs the same verdict and rules
/// code as the audit (`audit::reconfirm` judged the TCP evidence).
pub(super) fn confirm(
    audited: &AuditedDomain,
    finding: &Finding,
    action: Action,
    reconfirmed: &Reconfirmed,
) -> Result<Confirmation, String> {
    let domains = match reconfirmed {
        Reconfirmed::ZoneFiles => return Ok(Confirmation::ZoneFiles),
        Reconfirmed::OverTcp(domains) => domains,
    };
    let Some(again) = domains.get(&audited.domain.name) else {
        return Err(
            "not resolved again over TCP, so the evidence is unconfirmed; nothing planned".into(),
        );
    };
    let mut ignored = Vec::new();
    let same = again.verdict == audited.verdict
        && select(again, &mut ignored).is_some_and(|(f, a)| f.rule == finding.rule && a == action);
    if same {
        return Ok(Confirmation::OverTcp {
            verdict: again.verdict,
            evidence: evidence_summary(&again.evidence),
        });
    }
    let rules = |d: &AuditedDomain| {
        let ids: Vec<&str> = d
            .findings
            .iter()
            .filter(|f| f.ignored.is_none())
            .map(|f| f.rule.as_str())
            .collect();
        if ids.is_empty() {
            "no finding".to_string()
        } else {
            ids.join(", ")
        }
    };
    Err(format!(
        "evidence changed between UDP and TCP: possible spoofing or a zone in flux; nothing planned. UDP: verdict {} ({}), {}; TCP: verdict {} ({}), {}",
        audited.verdict.as_str(),
        rules(audited),
        evidence_summary(&audited.evidence),
        again.verdict.as_str(),
        rules(again),
        evidence_summary(&again.evidence),
    ))
}
