//! `--dns authoritative`: iterative resolution from the root hints, asking
//! every authoritative server of each domain, at every address, directly
//! and without recursion or cache, and keeping each server's answer.
//!
//! Two facts a newcomer would get wrong:
//! - Delegations are shared. The step "who serves `com.`?" is one cached
//!   question to the root for every `.com` domain of the run, and an NS
//!   host's addresses are looked up once; so the cost per domain is about
//!   one referral from its TLD plus one MX query per server address.
//! - A server that stays silent or answers garbage is not "one vote less":
//!   it may be exactly the server with the other answer. Any such fault
//!   makes the domain inconclusive. Only a server that says it is not
//!   authoritative (REFUSED, no AA bit) is left out, as a lame delegation.

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hickory_proto::op::{Message, Query, ResponseCode};
use hickory_proto::rr::{Name, RData, Record, RecordType};
use serde::Serialize;
use tokio::sync::OnceCell;

use super::answer::{Answer, display_name, normalize};
use super::classify;
use super::validate::{self, Checked};
use super::{MxEvidence, ResolveError, ResolveOptions};
use super::{mx_set, per_domain};
use crate::inventory::DomainName;

mod hints;
mod wire;

pub use hints::RootHintsError;
use hints::RootServer;
use wire::{Wire, WireFault};

/// Queries in flight to one server address at once. Authoritative servers
/// of big providers serve thousands of the audited domains; a handful of
/// parallel questions each is polite and keeps them busy enough.
pub const PER_SERVER_IN_FLIGHT: usize = 8;

/// How deep lookups may nest: a CNAME target in another zone, an NS host
/// without glue whose own zone's NS host has no glue, ... Deeper is
/// inconclusive. (Loops are caught before: each lookup carries the trail
/// of lookups it is part of.)
const MAX_DEPTH: usize = 8;

/// The DNS port: root hints and referrals carry addresses, never ports.
const DNS_PORT: u16 = 53;

/// Where one domain's evidence may take at most this many query timeouts
/// (a bound, so that a run cannot hang on a cycle of glueless
/// delegations).
const DOMAIN_BOUND_IN_TIMEOUTS: u32 = 20;

/// Why a delegated server's answer does not count.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Lameness {
    /// REFUSED: the server does not serve the zone.
    Refused,
    /// An answer without the AA bit (a referral, a cached answer).
    NotAuthoritative,
    /// Silence at every attempt.
    NoAnswer,
}

impl Lameness {
    pub fn describe(self) -> &'static str {
        match self {
            Lameness::Refused => "refuses the domain (REFUSED)",
            Lameness::NotAuthoritative => "answers without the AA bit",
            Lameness::NoAnswer => "does not answer",
        }
    }
}

/// What one server address said to the domain's MX question.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "status", rename_all = "kebab-case")]
pub enum ServerReply {
    /// An authoritative answer; `answer` is its short form, `view` the
    /// index of its [`AuthoritativeDomain::views`] entry.
    Answer {
        answer: String,
        view: usize,
    },
    Lame {
        lameness: Lameness,
    },
    /// SERVFAIL, garbage, a network error: unknown.
    Fault {
        problem: String,
    },
}

/// One delegated server address and its answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ServerAnswer {
    /// The name server's host name (from the parent's NS records).
    pub name: String,
    pub address: IpAddr,
    #[serde(flatten)]
    pub reply: ServerReply,
}

/// What the authoritative servers of one domain said.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AuthoritativeDomain {
    /// The zone the domain's MX is asked in (the delegation found).
    pub zone: Option<String>,
    pub servers: Vec<ServerAnswer>,
    /// The evidence of each distinct authoritative answer, in the order
    /// the servers gave them: one when all agree.
    pub views: Vec<MxEvidence>,
    /// Why the answers cannot be trusted as they are: the delegation was
    /// not found, a server failed. Set, the domain is inconclusive.
    pub problem: Option<String>,
}

impl AuthoritativeDomain {
    fn failed(problem: String) -> Self {
        AuthoritativeDomain {
            problem: Some(problem),
            ..AuthoritativeDomain::default()
        }
    }

    /// The lame servers, as `name (address): why`.
    pub fn lame(&self) -> Vec<String> {
        self.servers
            .iter()
            .filter_map(|s| match &s.reply {
                ServerReply::Lame { lameness } => Some(format!(
                    "{} ({}) {}",
                    s.name,
                    s.address,
                    lameness.describe()
                )),
                ServerReply::Answer { .. } | ServerReply::Fault { .. } => None,
            })
            .collect()
    }
}

/// The outcome of an authoritative run.
#[derive(Debug, Clone, Default)]
pub struct AuthoritativeReport {
    pub evidence: BTreeMap<DomainName, AuthoritativeDomain>,
    pub queries_sent: u64,
    /// Domains whose answers cannot be trusted (see `problem`).
    pub lookups_failed: u64,
}

/// A zone and its servers, as the parent's referral gave them.
#[derive(Debug)]
struct Zone {
    name: Name,
    servers: Vec<NsServer>,
}

#[derive(Debug, Clone)]
struct NsServer {
    name: Name,
    /// Addresses from the referral's glue (only names inside the parent's
    /// zone may be glued); empty: looked up iteratively.
    glue: Vec<IpAddr>,
}

/// What the parent's servers said about one name below their zone.
#[derive(Debug, Clone)]
enum Step {
    Delegated(Arc<Zone>),
    /// The name is inside the parent's zone (no zone cut there).
    NoCut,
    Nxdomain,
    Failed(String),
}

/// One server address's answer, kept with its checked form.
struct Asked {
    server: ServerAnswer,
    checked: Option<Checked>,
}

/// A (name, type) question asked once per run.
type RecordKey = (Name, RecordType);

struct Iterative {
    wire: Wire,
    /// IPv6 server addresses are asked only when this machine has an IPv6
    /// route; otherwise every IPv6 address would look silent.
    ipv6: bool,
    root: Arc<Zone>,
    steps: Mutex<HashMap<Name, Arc<OnceCell<Step>>>>,
    records: Mutex<HashMap<RecordKey, Arc<OnceCell<Answer>>>>,
    queries: AtomicU64,
}

/// Follow the delegations of `domains` from the root and ask each
/// domain's servers. Errors only for setup (unreadable root hints).
pub async fn gather_authoritative(
    domains: &[DomainName],
    opts: &ResolveOptions,
) -> Result<AuthoritativeReport, ResolveError> {
    gather_with(domains, opts, false).await
}

/// [`gather_authoritative`] over TCP only, nothing kept from the audit's
/// run: the confirmation before `fix` plans a change.
pub async fn gather_authoritative_over_tcp(
    domains: &[DomainName],
    opts: &ResolveOptions,
) -> Result<AuthoritativeReport, ResolveError> {
    let opts = ResolveOptions {
        progress: None,
        ..opts.clone()
    };
    gather_with(domains, &opts, true).await
}

async fn gather_with(
    domains: &[DomainName],
    opts: &ResolveOptions,
    tcp_only: bool,
) -> Result<AuthoritativeReport, ResolveError> {
    let roots: Vec<RootServer> = match &opts.root_hints {
        Some(file) => hints::load(file)?,
        None => hints::built_in(),
    };
    let run = Arc::new(Iterative {
        wire: Wire::new(
            opts.timeout,
            opts.attempts,
            opts.concurrency,
            PER_SERVER_IN_FLIGHT,
            opts.max_qps,
            tcp_only,
        ),
        ipv6: ipv6_routed(),
        root: Arc::new(Zone {
            name: Name::root(),
            servers: roots
                .into_iter()
                .map(|r| NsServer {
                    name: r.name,
                    glue: r.addresses,
                })
                .collect(),
        }),
        steps: Mutex::new(HashMap::new()),
        records: Mutex::new(HashMap::new()),
        queries: AtomicU64::new(0),
    });
    let bound = opts
        .timeout
        .saturating_mul(u32::try_from(opts.attempts.max(1)).unwrap_or(u32::MAX))
        .saturating_mul(DOMAIN_BOUND_IN_TIMEOUTS)
        .max(Duration::from_secs(1));
    let evidence = per_domain::each_domain(
        domains,
        opts.concurrency,
        opts.progress.as_deref(),
        |domain| {
            let run = Arc::clone(&run);
            let domain = domain.clone();
            async move {
                match tokio::time::timeout(bound, run.domain(&domain)).await {
                    Ok(found) => found,
                    Err(_elapsed) => AuthoritativeDomain::failed(format!(
                        "the authoritative lookup of {domain} took longer than {} s",
                        bound.as_secs()
                    )),
                }
            }
        },
        || AuthoritativeDomain::failed("internal error while resolving".to_string()),
    )
    .await;
    let lookups_failed = evidence.values().filter(|d| d.problem.is_some()).count();
    Ok(AuthoritativeReport {
        evidence,
        queries_sent: run.queries.load(Ordering::Relaxed),
        lookups_failed: u64::try_from(lookups_failed).unwrap_or(u64::MAX),
    })
}

/// Does this machine route IPv6 to the Internet? (A connected UDP socket
/// sends nothing; the kernel only picks a route.)
fn ipv6_routed() -> bool {
    std::net::UdpSocket::bind("[::]:0")
        .and_then(|s| s.connect("[2001:500:2::c]:53"))
        .is_ok()
}

impl Iterative {
    async fn ask(&self, ip: IpAddr, query: &Query) -> Result<Message, WireFault> {
        self.queries.fetch_add(1, Ordering::Relaxed);
        self.wire.ask(ip, DNS_PORT, query).await
    }

    /// The evidence of one domain.
    async fn domain(self: &Arc<Self>, domain: &DomainName) -> AuthoritativeDomain {
        if domain.is_localhost() {
            return AuthoritativeDomain {
                views: vec![classify::this_machine()],
                ..AuthoritativeDomain::default()
            };
        }
        let name = match Name::from_ascii(domain.fqdn()) {
            Ok(name) => normalize(&name),
            Err(err) => {
                return AuthoritativeDomain::failed(format!("cannot query {domain}: {err}"));
            }
        };
        let zone = match self.zone_of(&name, &[]).await {
            Ok(zone) => zone,
            Err(problem) => return AuthoritativeDomain::failed(problem),
        };
        let asked = self.ask_all(&zone, &name, RecordType::MX, &[]).await;
        let mut found = AuthoritativeDomain {
            zone: Some(display_name(&zone.name)),
            ..AuthoritativeDomain::default()
        };
        let mut keys: Vec<String> = Vec::new();
        let mut answers: Vec<Checked> = Vec::new();
        let mut faults: Vec<String> = Vec::new();
        for Asked {
            mut server,
            checked,
        } in asked
        {
            match (&server.reply, checked) {
                (ServerReply::Answer { .. }, Some(checked)) => {
                    let key = checked_key(&checked);
                    let view = match keys.iter().position(|k| *k == key) {
                        Some(view) => view,
                        None => {
                            keys.push(key);
                            answers.push(checked.clone());
                            keys.len() - 1
                        }
                    };
                    server.reply = ServerReply::Answer {
                        answer: short_answer(&checked),
                        view,
                    };
                }
                (ServerReply::Lame { lameness }, _) => {
                    if *lameness == Lameness::NoAnswer {
                        faults.push(format!(
                            "{} ({}) does not answer",
                            server.name, server.address
                        ));
                    }
                }
                (ServerReply::Fault { problem }, _) => {
                    faults.push(format!("{} ({}): {problem}", server.name, server.address));
                }
                (ServerReply::Answer { .. }, None) => {}
            }
            found.servers.push(server);
        }
        if found.servers.is_empty() {
            found.problem = Some(format!(
                "no address of any server of {} could be found",
                display_name(&zone.name)
            ));
            return found;
        }
        if !faults.is_empty() {
            found.problem = Some(format!(
                "not every authoritative server answered, and the missing one may hold another \
                 answer: {}",
                faults.join("; ")
            ));
        } else if answers.is_empty() {
            found.problem = Some(format!(
                "no server of {} answers authoritatively for {domain}",
                display_name(&zone.name)
            ));
        }
        for checked in answers {
            let answer = self.complete(&name, RecordType::MX, checked, &[]).await;
            found.views.push(self.evidence(&name, answer).await);
        }
        found
    }

    /// The final answer of a checked reply: an alias is followed to its
    /// target, asked iteratively (depth-limited; `validate` has already
    /// refused loops inside one reply).
    async fn complete(
        &self,
        name: &Name,
        rtype: RecordType,
        checked: Checked,
        trail: &[RecordKey],
    ) -> Answer {
        match checked {
            Checked::Answer(answer) => answer,
            Checked::Alias { mut chain, target } => {
                if chain.iter().any(|r| r.name == target) || target == *name {
                    return Answer::Failed(format!(
                        "CNAME loop: {} leads back to {}",
                        display_name(name),
                        display_name(&target)
                    ));
                }
                match Box::pin(self.records(&target, rtype, trail)).await {
                    Answer::Records(mut more) => {
                        if more
                            .iter()
                            .any(|r| matches!(&r.data, RData::CNAME(c) if chain.iter().any(|l| l.name == c.0) || c.0 == *name))
                        {
                            return Answer::Failed(format!(
                                "CNAME loop through {}",
                                display_name(&target)
                            ));
                        }
                        chain.append(&mut more);
                        Answer::Records(chain)
                    }
                    other => other,
                }
            }
        }
    }

    /// MX evidence from the domain's final MX answer, with the MX hosts'
    /// addresses asked iteratively too.
    async fn evidence(self: &Arc<Self>, name: &Name, answer: Answer) -> MxEvidence {
        mx_set::evidence(name, &answer, |host| {
            let run = Arc::clone(self);
            async move { run.host(&host).await }
        })
        .await
    }

    async fn host(&self, host: &Name) -> classify::HostAddresses {
        if classify::is_localhost(host) {
            return classify::loopback_host();
        }
        let (a, aaaa) = tokio::join!(
            self.records(host, RecordType::A, &[]),
            self.records(host, RecordType::AAAA, &[])
        );
        classify::host_addresses(host, &a, &aaaa)
    }

    /// The records of (`name`, `rtype`), asked of every server of its zone
    /// and believed only when they all answer alike. Asked once per run.
    async fn records(&self, name: &Name, rtype: RecordType, trail: &[RecordKey]) -> Answer {
        let key = (normalize(name), rtype);
        // A lookup that needs itself (glueless delegations that point at
        // each other) would wait on its own cell for ever.
        if trail.contains(&key) {
            return Answer::Failed(format!(
                "{} {rtype}: a lookup loop (name servers without glue that need each other)",
                display_name(name)
            ));
        }
        let mut inner = trail.to_vec();
        inner.push(key.clone());
        let cell = {
            let mut records = self
                .records
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            Arc::clone(records.entry(key.clone()).or_default())
        };
        cell.get_or_init(|| self.records_uncached(&key.0, rtype, &inner))
            .await
            .clone()
    }

    async fn records_uncached(
        &self,
        name: &Name,
        rtype: RecordType,
        trail: &[RecordKey],
    ) -> Answer {
        if trail.len() > MAX_DEPTH {
            return Answer::Failed(format!(
                "{} {rtype}: lookups nested more than {MAX_DEPTH} deep (CNAMEs or glueless \
                 delegations)",
                display_name(name)
            ));
        }
        let zone = match Box::pin(self.zone_of(name, trail)).await {
            Ok(zone) => zone,
            Err(problem) => return Answer::Failed(problem),
        };
        let asked = Box::pin(self.ask_all(&zone, name, rtype, trail)).await;
        let mut chosen: Option<(String, Checked)> = None;
        let mut problems = Vec::new();
        for Asked { server, checked } in asked {
            match (server.reply, checked) {
                (ServerReply::Answer { .. }, Some(checked)) => {
                    let key = checked_key(&checked);
                    match &chosen {
                        None => chosen = Some((key, checked)),
                        Some((first, _)) if *first == key => {}
                        Some(_) => {
                            return Answer::Failed(format!(
                                "the servers of {} disagree on {} {rtype}",
                                display_name(&zone.name),
                                display_name(name)
                            ));
                        }
                    }
                }
                (ServerReply::Lame { lameness }, _) => {
                    if lameness == Lameness::NoAnswer {
                        problems.push(format!(
                            "{} ({}) does not answer",
                            server.name, server.address
                        ));
                    }
                }
                (ServerReply::Fault { problem }, _) => {
                    problems.push(format!("{} ({}): {problem}", server.name, server.address));
                }
                (ServerReply::Answer { .. }, None) => {}
            }
        }
        if !problems.is_empty() {
            return Answer::Failed(format!(
                "{} {rtype}: {}",
                display_name(name),
                problems.join("; ")
            ));
        }
        match chosen {
            Some((_, checked)) => self.complete(name, rtype, checked, trail).await,
            None => Answer::Failed(format!(
                "{} {rtype}: no server of {} answers authoritatively",
                display_name(name),
                display_name(&zone.name)
            )),
        }
    }

    /// Ask (`name`, `rtype`) of every address of every server of `zone`.
    async fn ask_all(
        &self,
        zone: &Zone,
        name: &Name,
        rtype: RecordType,
        trail: &[RecordKey],
    ) -> Vec<Asked> {
        let query = Query::query(name.clone(), rtype);
        let mut targets: Vec<(String, IpAddr)> = Vec::new();
        let mut asked = Vec::new();
        for ns in &zone.servers {
            let shown = display_name(&ns.name);
            match self.addresses(ns, trail).await {
                Ok(addresses) => {
                    for ip in addresses {
                        if !targets.iter().any(|(_, known)| *known == ip) {
                            targets.push((shown.clone(), ip));
                        }
                    }
                }
                Err(problem) => asked.push(Asked {
                    server: ServerAnswer {
                        name: shown,
                        address: IpAddr::from([0, 0, 0, 0]),
                        reply: ServerReply::Fault { problem },
                    },
                    checked: None,
                }),
            }
        }
        // Every address at once: one silent server costs one timeout.
        let replies = {
            let futures = targets.iter().map(|(_, ip)| self.ask(*ip, &query));
            join_all(futures).await
        };
        for ((shown, ip), reply) in targets.into_iter().zip(replies) {
            let (reply, checked) = judge_reply(&query, reply);
            asked.push(Asked {
                server: ServerAnswer {
                    name: shown,
                    address: ip,
                    reply,
                },
                checked,
            });
        }
        asked
    }

    /// The addresses to ask a name server at: its glue, or its A (and,
    /// with an IPv6 route, AAAA) records asked iteratively.
    async fn addresses(&self, ns: &NsServer, trail: &[RecordKey]) -> Result<Vec<IpAddr>, String> {
        let usable = |ip: &IpAddr| self.ipv6 || ip.is_ipv4();
        if !ns.glue.is_empty() {
            let glue: Vec<IpAddr> = ns.glue.iter().copied().filter(usable).collect();
            if !glue.is_empty() {
                return Ok(glue);
            }
        }
        let mut found = Vec::new();
        let mut problems = Vec::new();
        let families: &[RecordType] = if self.ipv6 {
            &[RecordType::A, RecordType::AAAA]
        } else {
            &[RecordType::A]
        };
        for rtype in families {
            match Box::pin(self.records(&ns.name, *rtype, trail)).await {
                Answer::Records(records) => {
                    let (ips, _) = super::answer::follow_chain(&ns.name, *rtype, &records);
                    found.extend(ips.iter().filter_map(|r| match &r.data {
                        RData::A(a) => Some(IpAddr::V4(a.0)),
                        RData::AAAA(a) => Some(IpAddr::V6(a.0)),
                        _ => None,
                    }));
                }
                Answer::NoRecords { .. } => {}
                Answer::Failed(problem) => problems.push(problem),
            }
        }
        if found.is_empty() {
            return Err(format!(
                "no address for the name server {}{}",
                display_name(&ns.name),
                if problems.is_empty() {
                    String::new()
                } else {
                    format!(": {}", problems.join("; "))
                }
            ));
        }
        Ok(found)
    }

    /// The zone `name` is in, following referrals down from the root.
    async fn zone_of(&self, name: &Name, trail: &[RecordKey]) -> Result<Arc<Zone>, String> {
        let mut zone = Arc::clone(&self.root);
        let total = usize::from(name.num_labels());
        let mut labels = usize::from(zone.name.num_labels()) + 1;
        // Every pass moves at least one label down: bounded by the name.
        while labels <= total {
            let child = name.trim_to(labels);
            match self.step(&child, &zone, trail).await {
                Step::Delegated(below) => {
                    let below_labels = usize::from(below.name.num_labels());
                    if below_labels < labels || !below.name.zone_of(name) {
                        return Err(format!(
                            "a bad referral for {}: to {}",
                            display_name(&child),
                            display_name(&below.name)
                        ));
                    }
                    labels = below_labels + 1;
                    zone = below;
                }
                Step::NoCut => labels += 1,
                Step::Nxdomain => return Ok(zone),
                Step::Failed(problem) => return Err(problem),
            }
        }
        Ok(zone)
    }

    async fn step(&self, child: &Name, zone: &Arc<Zone>, trail: &[RecordKey]) -> Step {
        let key = (normalize(child), RecordType::NS);
        if trail.contains(&key) || trail.len() > MAX_DEPTH {
            return Step::Failed(format!(
                "a delegation loop at {} (name servers without glue that need each other)",
                display_name(child)
            ));
        }
        let mut inner = trail.to_vec();
        inner.push(key);
        let cell = {
            let mut steps = self
                .steps
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            Arc::clone(steps.entry(normalize(child)).or_default())
        };
        cell.get_or_init(|| self.step_uncached(child, zone, &inner))
            .await
            .clone()
    }

    /// Ask the servers of `zone`, one address after another until one
    /// answers usefully, who serves `child`.
    async fn step_uncached(&self, child: &Name, zone: &Zone, trail: &[RecordKey]) -> Step {
        let query = Query::query(child.clone(), RecordType::NS);
        let mut problems = Vec::new();
        for ns in &zone.servers {
            let addresses = match self.addresses(ns, trail).await {
                Ok(addresses) => addresses,
                Err(problem) => {
                    problems.push(problem);
                    continue;
                }
            };
            for ip in addresses {
                match self.ask(ip, &query).await {
                    Err(fault) => {
                        problems.push(format!("{} ({ip}): {fault}", display_name(&ns.name)));
                    }
                    Ok(message) => match referral(&message, &zone.name, child) {
                        Ok(step) => return step,
                        Err(why) => {
                            problems.push(format!("{} ({ip}): {why}", display_name(&ns.name)));
                        }
                    },
                }
            }
        }
        Step::Failed(format!(
            "no server of {} told where {} is served: {}",
            zone_shown(&zone.name),
            display_name(child),
            problems.join("; ")
        ))
    }
}

fn zone_shown(zone: &Name) -> String {
    if zone.is_root() {
        "the root zone".to_string()
    } else {
        display_name(zone)
    }
}

/// What a server of `zone` said when asked `child NS`.
fn referral(message: &Message, zone: &Name, child: &Name) -> Result<Step, String> {
    let aa = message.metadata.authoritative;
    match message.metadata.response_code {
        ResponseCode::NoError => {}
        ResponseCode::NXDomain if aa => return Ok(Step::Nxdomain),
        other => return Err(format!("{} from the server", validate::rcode_text(other))),
    }
    // A referral: NS records for a name between the zone and the child.
    let cut = message.authorities.iter().find_map(|r| match &r.data {
        RData::NS(_) if r.name != *zone && zone.zone_of(&r.name) && r.name.zone_of(child) => {
            Some(normalize(&r.name))
        }
        _ => None,
    });
    let answered_ns = aa
        && message
            .answers
            .iter()
            .any(|r| matches!(r.data, RData::NS(_)) && normalize(&r.name) == normalize(child));
    let (owner, section) = match (cut, answered_ns) {
        (Some(owner), _) => (owner, &message.authorities),
        (None, true) => (normalize(child), &message.answers),
        (None, false) if aa => return Ok(Step::NoCut),
        (None, false) => return Err("answers without the AA bit and without a referral".into()),
    };
    let servers: Vec<NsServer> = section
        .iter()
        .filter_map(|r| match &r.data {
            RData::NS(ns) if normalize(&r.name) == owner => {
                let ns_name = normalize(&ns.0);
                // Glue only for names inside the zone of the server asked.
                let glue = if zone.zone_of(&ns_name) {
                    glue_for(&ns_name, &message.additionals)
                } else {
                    Vec::new()
                };
                Some(NsServer {
                    name: ns_name,
                    glue,
                })
            }
            _ => None,
        })
        .collect();
    if servers.is_empty() {
        return Err(format!(
            "a referral to {} without servers",
            display_name(&owner)
        ));
    }
    Ok(Step::Delegated(Arc::new(Zone {
        name: owner,
        servers,
    })))
}

fn glue_for(ns: &Name, additionals: &[Record]) -> Vec<IpAddr> {
    additionals
        .iter()
        .filter(|r| normalize(&r.name) == *ns)
        .filter_map(|r| match &r.data {
            RData::A(a) => Some(IpAddr::V4(a.0)),
            RData::AAAA(a) => Some(IpAddr::V6(a.0)),
            _ => None,
        })
        .collect()
}

/// One delegated server's reply to a data question, judged.
fn judge_reply(query: &Query, reply: Result<Message, WireFault>) -> (ServerReply, Option<Checked>) {
    let message = match reply {
        Ok(message) => message,
        Err(WireFault::Silent) => {
            return (
                ServerReply::Lame {
                    lameness: Lameness::NoAnswer,
                },
                None,
            );
        }
        Err(fault) => {
            return (
                ServerReply::Fault {
                    problem: fault.to_string(),
                },
                None,
            );
        }
    };
    match message.metadata.response_code {
        ResponseCode::Refused => {
            return (
                ServerReply::Lame {
                    lameness: Lameness::Refused,
                },
                None,
            );
        }
        ResponseCode::NoError | ResponseCode::NXDomain => {}
        other => {
            return (
                ServerReply::Fault {
                    problem: format!("{} from the server", validate::rcode_text(other)),
                },
                None,
            );
        }
    }
    if !message.metadata.authoritative {
        return (
            ServerReply::Lame {
                lameness: Lameness::NotAuthoritative,
            },
            None,
        );
    }
    match validate::check(query, &message) {
        Checked::Answer(Answer::Failed(problem)) => (ServerReply::Fault { problem }, None),
        checked => (
            ServerReply::Answer {
                answer: String::new(),
                view: 0,
            },
            Some(checked),
        ),
    }
}

/// What makes two answers the same answer: their records without TTLs, or
/// the kind of denial.
fn checked_key(checked: &Checked) -> String {
    let records = |records: &[Record]| {
        let mut lines: Vec<String> = records
            .iter()
            .map(|r| {
                format!("{} {} {}", display_name(&r.name), r.record_type(), r.data)
                    .to_ascii_lowercase()
            })
            .collect();
        lines.sort();
        lines.join("\n")
    };
    match checked {
        Checked::Answer(Answer::Records(r)) => records(r),
        Checked::Answer(Answer::NoRecords { nxdomain, name, .. }) => format!(
            "{} {}",
            if *nxdomain { "nxdomain" } else { "nodata" },
            display_name(name)
        ),
        Checked::Answer(Answer::Failed(problem)) => format!("failed {problem}"),
        Checked::Alias { chain, target } => {
            format!("{}\nalias {}", records(chain), display_name(target))
        }
    }
}

/// An answer in a few words, for the evidence: `MX 10 mx1.example`.
fn short_answer(checked: &Checked) -> String {
    let records = |records: &[Record]| {
        let mut parts: Vec<String> = records
            .iter()
            .filter_map(|r| match &r.data {
                RData::MX(mx) => Some(format!(
                    "MX {} {}",
                    mx.preference,
                    display_name(&mx.exchange)
                )),
                RData::CNAME(c) => Some(format!("CNAME {}", display_name(&c.0))),
                _ => None,
            })
            .collect();
        parts.sort();
        parts.join(", ")
    };
    match checked {
        Checked::Answer(Answer::Records(r)) => records(r),
        Checked::Answer(Answer::NoRecords { nxdomain: true, .. }) => "NXDOMAIN".to_string(),
        Checked::Answer(Answer::NoRecords {
            nxdomain: false, ..
        }) => "no MX records".to_string(),
        Checked::Answer(Answer::Failed(problem)) => problem.clone(),
        Checked::Alias { chain, .. } => records(chain),
    }
}

/// Await every future, in order (tokio has no `join_all`; the futures
/// borrow the run, so they cannot be spawned).
async fn join_all<F: std::future::Future>(futures: impl Iterator<Item = F>) -> Vec<F::Output> {
    let mut pinned: Vec<std::pin::Pin<Box<F>>> = futures.map(Box::pin).collect();
    let mut outputs: Vec<Option<F::Output>> = pinned.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (future, output) in pinned.iter_mut().zip(outputs.iter_mut()) {
            if output.is_none() {
                match future.as_mut().poll(cx) {
                    std::task::Poll::Ready(value) => *output = Some(value),
                    std::task::Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            std::task::Poll::Pending
        } else {
            std::task::Poll::Ready(())
        }
    })
    .await;
    outputs.into_iter().flatten().collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::name as n;
    use hickory_proto::op::{Message, OpCode};
    use hickory_proto::rr::rdata::{A, NS};

    fn reply(child: &str) -> Message {
        let mut message = Message::response(1, OpCode::Query);
        message.queries.push(Query::query(n(child), RecordType::NS));
        message
    }

    #[test]
    fn a_referral_keeps_only_glue_inside_the_parent_zone() {
        let mut message = reply("shop.test.");
        for ns in ["ns1.shop.test.", "ns.provider.example."] {
            message.authorities.push(Record::from_rdata(
                n("shop.test."),
                3600,
                RData::NS(NS(n(ns))),
            ));
        }
        message.additionals.push(Record::from_rdata(
            n("ns1.shop.test."),
            3600,
            RData::A(A::new(192, 0, 2, 1)),
        ));
        // Glue the parent may not vouch for.
        message.additionals.push(Record::from_rdata(
            n("ns.provider.example."),
            3600,
            RData::A(A::new(192, 0, 2, 66)),
        ));
        let Ok(Step::Delegated(zone)) = referral(&message, &n("test."), &n("shop.test.")) else {
            panic!("not a referral");
        };
        assert_eq!(zone.name, n("shop.test."));
        assert_eq!(zone.servers.len(), 2);
        assert_eq!(
            zone.servers[0].glue,
            ["192.0.2.1".parse::<IpAddr>().unwrap()]
        );
        assert!(zone.servers[1].glue.is_empty());
    }

    #[test]
    fn a_referral_upwards_or_sideways_is_no_referral() {
        let mut message = reply("shop.test.");
        message.authorities.push(Record::from_rdata(
            n("other.test."),
            3600,
            RData::NS(NS(n("ns.other.test."))),
        ));
        assert!(referral(&message, &n("test."), &n("shop.test.")).is_err());
        let mut aa = reply("www.shop.test.");
        aa.metadata.authoritative = true;
        assert!(matches!(
            referral(&aa, &n("shop.test."), &n("www.shop.test.")),
            Ok(Step::NoCut)
        ));
        let mut refused = reply("shop.test.");
        refused.metadata.response_code = ResponseCode::Refused;
        assert!(referral(&refused, &n("test."), &n("shop.test.")).is_err());
    }

    #[test]
    fn answers_compare_without_ttls_and_case() {
        let record = |owner: &str, ttl: u32| {
            Record::from_rdata(
                n(owner),
                ttl,
                RData::MX(hickory_proto::rr::rdata::MX::new(10, n("mx.test."))),
            )
        };
        let a = Checked::Answer(Answer::Records(vec![record("a.test.", 300)]));
        let b = Checked::Answer(Answer::Records(vec![record("A.TEST.", 60)]));
        assert_eq!(checked_key(&a), checked_key(&b));
        assert_eq!(short_answer(&a), "MX 10 mx.test");
    }
}
