//! The cross-server rules: one function per fleet rule id, over the fresh
//! reports. Each server's DNS view is its own report's: A's verdict is
//! judged on what A's resolver said.
//!
//! `fleet-moved-internally` needs B to accept the domain (deliver or
//! relay it): only then is switching A off safe. When B does not accept
//! it, `fleet-not-accepted` fires instead and says that A still delivers
//! it, so nobody switches off the last place the mail arrives.

use std::collections::{BTreeMap, BTreeSet};

use super::{FleetFinding, ReportedDomain, ServerIndex, ServerReport};
use crate::inventory::{Delivery, DomainName};
use crate::rules::{RuleId, RuleSet};
use crate::verdict::Verdict;

/// Every fleet finding, sorted worst first, then by rule, domain, server.
pub fn evaluate(
    rules: &RuleSet,
    servers: &[ServerReport],
    index: &ServerIndex,
) -> Vec<FleetFinding> {
    // Names that are some server's own (`localhost.hoster.test`, a host
    // name in mydestination) are local everywhere by design. One set, not
    // a scan of every server per domain: a fleet is hundreds of servers.
    let own_names: BTreeSet<&str> = servers
        .iter()
        .flat_map(|s| s.names.iter().chain([&s.hostname]).map(String::as_str))
        .collect();
    let skip = |name: &DomainName| name.is_localhost() || own_names.contains(name.as_str());
    let mut findings = Vec::new();
    moved_and_not_accepted(rules, servers, index, &skip, &mut findings);
    local_on_several(rules, servers, &skip, &mut findings);
    findings.sort_by(|a, b| {
        b.severity
            .cmp(&a.severity)
            .then(a.rule.cmp(&b.rule))
            .then(a.domain.cmp(&b.domain))
            .then(a.server.cmp(&b.server))
    });
    findings
}

fn finding(
    rules: &RuleSet,
    rule: RuleId,
    domain: &DomainName,
    servers: Vec<String>,
    message: String,
    evidence: Vec<String>,
) -> FleetFinding {
    FleetFinding {
        rule,
        severity: rules.rule(rule).severity,
        domain: domain.clone(),
        server: servers.first().cloned().unwrap_or_default(),
        servers,
        message,
        evidence,
    }
}

/// `delivers it locally`, `relays it`, `knows it with mail off`.
fn treats(delivery: Delivery) -> &'static str {
    match delivery {
        Delivery::Local => "delivers it locally",
        Delivery::Relay => "relays it",
        Delivery::NotLocal => "knows it with mail off (not-local)",
    }
}

/// `fleet-moved-internally` and `fleet-not-accepted`, from each server's
/// view of each of its domains.
fn moved_and_not_accepted(
    rules: &RuleSet,
    servers: &[ServerReport],
    index: &ServerIndex,
    skip: &dyn Fn(&DomainName) -> bool,
    findings: &mut Vec<FleetFinding>,
) {
    // (domain, B): reported once, from the first server (by host name) that saw it.
    let mut not_accepted: BTreeSet<(DomainName, usize)> = BTreeSet::new();
    for (a, server_a) in servers.iter().enumerate() {
        for domain in &server_a.domains {
            if skip(&domain.name) || !domain.dns.has_mail_hosts() {
                continue;
            }
            let best = domain.dns.best_set();
            if domain.delivery == Delivery::Local && domain.verdict == Verdict::Elsewhere {
                let mut seen = BTreeSet::new();
                for host in &best {
                    let Some(b) = index.server_of(host).filter(|b| *b != a) else {
                        continue;
                    };
                    let Some(server_b) = servers.get(b) else {
                        continue;
                    };
                    let accepted = server_b
                        .domain(&domain.name)
                        .filter(|d| matches!(d.delivery, Delivery::Local | Delivery::Relay));
                    if let (Some(on_b), true) = (accepted, seen.insert(b)) {
                        findings.push(moved_internally(
                            rules, server_a, domain, server_b, on_b, host,
                        ));
                    }
                }
            }
            // An implicit MX (no MX record, the domain's own address) is
            // someone's mail host only when this server expects mail for it.
            if domain.dns.implicit_mx && domain.delivery == Delivery::NotLocal {
                continue;
            }
            // A host without an address gets no mail (mx-host-unresolvable).
            for host in domain.dns.mx.iter().filter(|h| !h.addresses.is_empty()) {
                let Some(b) = index.server_of(host).filter(|b| *b != a) else {
                    continue;
                };
                let Some(server_b) = servers.get(b) else {
                    continue;
                };
                let on_b = server_b.domain(&domain.name);
                if on_b.is_some_and(|d| matches!(d.delivery, Delivery::Local | Delivery::Relay)) {
                    continue;
                }
                if !not_accepted.insert((domain.name.clone(), b)) {
                    continue;
                }
                let in_best = best.iter().any(|h| h.host == host.host);
                findings.push(not_accepted_finding(
                    rules, server_a, domain, server_b, on_b, host, in_best,
                ));
            }
        }
    }
}

fn moved_internally(
    rules: &RuleSet,
    server_a: &ServerReport,
    on_a: &ReportedDomain,
    server_b: &ServerReport,
    on_b: &ReportedDomain,
    host: &super::MxView,
) -> FleetFinding {
    let message = format!(
        "delivered locally on {}, but its best MX is fleet server {}, which {}: switch local \
         delivery off on {}",
        server_a.hostname,
        server_b.hostname,
        treats(on_b.delivery),
        server_a.hostname
    );
    let evidence = vec![
        format!(
            "{} {}: {}",
            server_a.hostname,
            treats(on_a.delivery),
            on_a.declaration()
        ),
        format!(
            "{} {}: {}",
            server_b.hostname,
            treats(on_b.delivery),
            on_b.declaration()
        ),
        format!(
            "DNS seen by {} (audited {}): {} is {}",
            server_a.hostname,
            server_a.audited_at,
            host.describe(),
            server_b.hostname
        ),
    ];
    finding(
        rules,
        RuleId::FleetMovedInternally,
        &on_a.name,
        vec![server_a.hostname.clone(), server_b.hostname.clone()],
        message,
        evidence,
    )
}

fn not_accepted_finding(
    rules: &RuleSet,
    server_a: &ServerReport,
    on_a: &ReportedDomain,
    server_b: &ServerReport,
    on_b: Option<&ReportedDomain>,
    host: &super::MxView,
    in_best: bool,
) -> FleetFinding {
    let which = if in_best {
        "its MX"
    } else {
        "a backup MX of it"
    };
    let mut message = format!(
        "{which} points at fleet server {}, which neither delivers nor relays it: mail sent \
         there is rejected",
        server_b.hostname
    );
    if on_a.delivery == Delivery::Local {
        message.push_str(&format!(
            "; {} still delivers it locally: set it up on {} before switching {} off",
            server_a.hostname, server_b.hostname, server_a.hostname
        ));
    }
    let on_b_line = match on_b {
        Some(d) => format!(
            "{} {}: {}",
            server_b.hostname,
            treats(d.delivery),
            d.declaration()
        ),
        None => format!(
            "{}: not in its inventory ({})",
            server_b.hostname, server_b.file
        ),
    };
    let evidence = vec![
        format!(
            "DNS seen by {} (audited {}): {} is {}",
            server_a.hostname,
            server_a.audited_at,
            host.describe(),
            server_b.hostname
        ),
        on_b_line,
        format!(
            "{} {}: {}",
            server_a.hostname,
            treats(on_a.delivery),
            on_a.declaration()
        ),
    ];
    finding(
        rules,
        RuleId::FleetNotAccepted,
        &on_a.name,
        vec![server_b.hostname.clone(), server_a.hostname.clone()],
        message,
        evidence,
    )
}

/// `fleet-local-on-several`: one finding per server that delivers a domain
/// locally that another fresh server delivers locally too, so each server's
/// count says what to look at there.
fn local_on_several(
    rules: &RuleSet,
    servers: &[ServerReport],
    skip: &dyn Fn(&DomainName) -> bool,
    findings: &mut Vec<FleetFinding>,
) {
    let mut local: BTreeMap<&DomainName, Vec<(&ServerReport, &ReportedDomain)>> = BTreeMap::new();
    for server in servers {
        for domain in server
            .domains
            .iter()
            .filter(|d| d.delivery == Delivery::Local)
        {
            if !skip(&domain.name) {
                local
                    .entry(&domain.name)
                    .or_default()
                    .push((server, domain));
            }
        }
    }
    for (name, holders) in local.into_iter().filter(|(_, h)| h.len() >= 2) {
        let hostnames: Vec<&str> = holders.iter().map(|(s, _)| s.hostname.as_str()).collect();
        let evidence: Vec<String> = holders
            .iter()
            .map(|(s, d)| {
                format!(
                    "{} delivers it locally: {}; verdict there: {}",
                    s.hostname,
                    d.declaration(),
                    d.verdict.as_str()
                )
            })
            .collect();
        for (server, _) in &holders {
            let others: Vec<String> = hostnames
                .iter()
                .filter(|h| **h != server.hostname)
                .map(|h| h.to_string())
                .collect();
            let message = format!(
                "delivered locally on {} servers ({}): mail sent from each stays on it",
                holders.len(),
                hostnames.join(", ")
            );
            let mut involved = vec![server.hostname.clone()];
            involved.extend(others);
            findings.push(finding(
                rules,
                RuleId::FleetLocalOnSeveral,
                name,
                involved,
                message,
                evidence.clone(),
            ));
        }
    }
}
