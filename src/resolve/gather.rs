//! `gather`: evidence for many domains, with bounded concurrency and every
//! distinct (name, type) query sent once per run.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use hickory_proto::rr::{Name, RecordType};
use tokio::sync::{OnceCell, Semaphore};
use tokio::task::JoinSet;

use super::answer::{Answer, normalize};
use super::classify;
use super::live::LiveResolver;
use super::offline::ZoneSet;
use super::rate::TokenBucket;
use super::sanity::{self, Probe};
use super::{
    MxEvidence, ResolveError, ResolveOptions, ResolveReport, ServerNameAnswer,
    UntrustworthyResolver,
};
use super::{mx_set, per_domain};
use crate::inventory::DomainName;

pub(crate) enum Backend {
    Live(LiveResolver),
    Offline(ZoneSet),
}

type QueryKey = (Name, RecordType);

/// MX hosts of one domain whose addresses are looked up, best preference
/// first. Real domains have one to five; answers with 1,500 records exist.
/// Hosts past the limit count as hosts whose lookup failed: when they may
/// decide the verdict (at the deciding preference, or as a possible backup
/// below a foreign one) the verdict is inconclusive, never "elsewhere".
pub const MAX_MX_HOSTS_LOOKED_UP: usize = 32;

/// Shared by every domain task of one run.
struct Run {
    backend: Backend,
    /// In-flight and finished queries: thousands of domains share a few MX
    /// hosts, and a query already under way is awaited, not sent again.
    answers: Mutex<HashMap<QueryKey, Arc<OnceCell<Answer>>>>,
    in_flight: Semaphore,
    /// `--max-qps`: paces queries on the wire.
    rate: Option<TokenBucket>,
    queries_sent: AtomicU64,
    lookups_failed: AtomicU64,
    /// Offline: why the zone files' negative answers are no evidence (they
    /// denied a name that must exist). Live servers keep their own.
    distrust: OnceLock<String>,
}

impl Run {
    /// Send one query (bounded by the in-flight limit) and count it.
    async fn send(&self, name: &Name, rtype: RecordType) -> Answer {
        // The permit bounds queries on the wire; it is not held while
        // waiting for other queries, so tasks cannot deadlock on it.
        let Ok(_permit) = self.in_flight.acquire().await else {
            return Answer::Failed("query limiter closed".to_string());
        };
        if let Some(bucket) = &self.rate {
            bucket.take().await;
        }
        self.queries_sent.fetch_add(1, Ordering::Relaxed);
        let answer = match &self.backend {
            // Boxed: the query's state (a message buffer, the CNAME chase,
            // the timeout) is kilobytes, and inline it made every domain
            // task that awaits it as big, copied on every spawn.
            Backend::Live(live) => Box::pin(live.query(name, rtype)).await,
            Backend::Offline(zones) => match (zones.query(name, rtype), self.distrust.get()) {
                (Answer::NoRecords { nxdomain, .. }, Some(reason)) => Answer::Failed(format!(
                    "{} {rtype}: {} in the zone files, but {reason}",
                    super::answer::display_name(name),
                    if nxdomain { "NXDOMAIN" } else { "no records" }
                )),
                (answer, _) => answer,
            },
        };
        if matches!(answer, Answer::Failed(_)) {
            self.lookups_failed.fetch_add(1, Ordering::Relaxed);
        }
        answer
    }

    /// One sanity probe on one live server, or on the zone files; not
    /// counted with the audit's queries.
    async fn probe(&self, server: usize, probe: &Probe) -> Answer {
        let Ok(_permit) = self.in_flight.acquire().await else {
            return Answer::Failed("query limiter closed".to_string());
        };
        if let Some(bucket) = &self.rate {
            bucket.take().await;
        }
        match &self.backend {
            Backend::Live(live) => live.query_server(server, &probe.name, probe.rtype).await,
            Backend::Offline(zones) => zones.query(&probe.name, probe.rtype),
        }
    }

    /// The MX query of a domain. Only that domain's own task asks it (the
    /// domains are de-duplicated), so its answer is not kept for others:
    /// at 100,000 domains that would be most of the memory of the run.
    async fn query_mx(&self, domain: &Name) -> Answer {
        self.send(domain, RecordType::MX).await
    }

    async fn query(&self, name: &Name, rtype: RecordType) -> Answer {
        let key = (normalize(name), rtype);
        let cell = {
            // A poisoned lock only means another task panicked while
            // holding it; the map itself is still consistent.
            let mut answers = self
                .answers
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            answers.entry(key.clone()).or_default().clone()
        };
        // Boxed too: only the first asker runs it, and every MX host
        // lookup (boxed one by one in `mx_set`) holds this future.
        cell.get_or_init(|| Box::pin(self.send(&key.0, key.1)))
            .await
            .clone()
    }

    /// Keep a conclusive answer the sanity check already got, so that an
    /// MX host that is one of this server's names is not asked again.
    fn remember(&self, name: &Name, rtype: RecordType, answer: &Answer) {
        let conclusive = match answer {
            Answer::Records(_) => true,
            Answer::NoRecords { soa, .. } => soa.is_some(),
            Answer::Failed(_) => false,
        };
        if !conclusive {
            return;
        }
        let mut answers = self
            .answers
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        answers
            .entry((normalize(name), rtype))
            .or_insert_with(|| Arc::new(OnceCell::new_with(Some(answer.clone()))));
    }

    async fn host(&self, host: &Name) -> classify::HostAddresses {
        if classify::is_localhost(host) {
            return classify::loopback_host();
        }
        // Separate A and AAAA queries: a combined lookup would hide the
        // failure of one family behind the success of the other.
        let (a, aaaa) = tokio::join!(
            self.query(host, RecordType::A),
            self.query(host, RecordType::AAAA)
        );
        classify::host_addresses(host, &a, &aaaa)
    }

    async fn evidence(self: &Arc<Self>, domain: &DomainName) -> MxEvidence {
        if domain.is_localhost() {
            return classify::this_machine();
        }
        let name = match Name::from_ascii(domain.fqdn()) {
            Ok(name) => normalize(&name),
            Err(err) => {
                return MxEvidence::inconclusive(format!("cannot query {domain}: {err}"));
            }
        };
        let mx = self.query_mx(&name).await;
        mx_set::evidence(&name, &mx, |host| {
            let run = Arc::clone(self);
            async move { run.host(&host).await }
        })
        .await
    }
}

/// Ask DNS (or the loaded zone files) where mail for each domain goes.
/// Errors only for setup problems; every lookup failure is evidence.
pub async fn gather(
    domains: &[DomainName],
    opts: &ResolveOptions,
) -> Result<ResolveReport, ResolveError> {
    gather_checked(domains, &[], opts).await
}

/// [`gather`], with this server's names among the names that must exist
/// (see `sanity`): the resolvers are asked for them, for the root zone's SOA
/// and for the SOA of every TLD of `domains` before any domain, and a
/// resolver that denies one of them is not believed when it says "does not
/// exist".
pub async fn gather_checked(
    domains: &[DomainName],
    server_names: &[String],
    opts: &ResolveOptions,
) -> Result<ResolveReport, ResolveError> {
    let backend = if opts.zone_files.is_empty() {
        Backend::Live(LiveResolver::new(opts)?)
    } else {
        Backend::Offline(ZoneSet::load(&opts.zone_files)?)
    };
    gather_with(backend, domains, server_names, opts).await
}

/// [`gather_checked`] on a given backend (the TCP-only confirmation of
/// `confirm` builds its own).
pub(crate) async fn gather_with(
    backend: Backend,
    domains: &[DomainName],
    server_names: &[String],
    opts: &ResolveOptions,
) -> Result<ResolveReport, ResolveError> {
    let run = Arc::new(Run {
        backend,
        answers: Mutex::new(HashMap::new()),
        in_flight: Semaphore::new(opts.concurrency.max(1)),
        rate: opts.max_qps.map(TokenBucket::new),
        queries_sent: AtomicU64::new(0),
        lookups_failed: AtomicU64::new(0),
        distrust: OnceLock::new(),
    });
    let (untrustworthy, sanity_notes, server_name_answers) =
        check_resolvers(&run, domains, server_names).await;

    let evidence = per_domain::each_domain(
        domains,
        opts.concurrency,
        opts.progress.as_deref(),
        |domain| {
            let run = Arc::clone(&run);
            let domain = domain.clone();
            async move { run.evidence(&domain).await }
        },
        || MxEvidence::inconclusive("internal error while resolving"),
    )
    .await;

    let authoritative_servers = match &run.backend {
        Backend::Live(live) => live.authoritative_servers(),
        Backend::Offline(_) => Vec::new(),
    };
    Ok(ResolveReport {
        evidence,
        queries_sent: run.queries_sent.load(Ordering::Relaxed),
        lookups_failed: run.lookups_failed.load(Ordering::Relaxed),
        authoritative_servers,
        untrustworthy,
        sanity_notes,
        server_names: server_name_answers,
    })
}

/// Ask every resolver (each live server on its own, or the zone files) the
/// sanity probes, and distrust those that deny names that must exist.
/// Also returns each resolver's answers for this server's names.
async fn check_resolvers(
    run: &Arc<Run>,
    domains: &[DomainName],
    server_names: &[String],
) -> (
    Vec<UntrustworthyResolver>,
    Vec<String>,
    Vec<ServerNameAnswer>,
) {
    let probes = Arc::new(sanity::probes(domains, server_names));
    let resolvers: Vec<String> = match &run.backend {
        Backend::Live(live) => live.server_addrs().iter().map(|a| a.to_string()).collect(),
        Backend::Offline(_) => vec!["the zone files".to_string()],
    };
    let mut tasks = JoinSet::new();
    for server in 0..resolvers.len() {
        for index in 0..probes.len() {
            let run = Arc::clone(run);
            let probes = Arc::clone(&probes);
            tasks.spawn(async move {
                let answer = match probes.get(index) {
                    Some(probe) => run.probe(server, probe).await,
                    None => Answer::Failed("no such probe".to_string()),
                };
                (server, index, answer)
            });
        }
    }
    let mut answers: Vec<Vec<Option<Answer>>> = vec![vec![None; probes.len()]; resolvers.len()];
    while let Some(joined) = tasks.join_next().await {
        if let Ok((server, index, answer)) = joined
            && let Some(slot) = answers.get_mut(server).and_then(|a| a.get_mut(index))
        {
            *slot = Some(answer);
        }
    }
    let mut untrustworthy = Vec::new();
    let mut notes: Vec<String> = Vec::new();
    let mut name_answers = Vec::new();
    for (server, (resolver, answers)) in resolvers.into_iter().zip(answers).enumerate() {
        let results: Vec<(Probe, Answer)> = probes
            .iter()
            .cloned()
            .zip(answers)
            .filter_map(|(probe, answer)| answer.map(|a| (probe, a)))
            .collect();
        let judgement = sanity::judge(&results);
        for note in judgement.notes {
            if !notes.contains(&note) {
                notes.push(note);
            }
        }
        let trusted = judgement.evidence.is_empty();
        // The first server is the one the audit asks first: its answers
        // for this server's names stand for the MX host lookups too.
        if trusted && server == 0 {
            for (probe, answer) in &results {
                if probe.kind == sanity::ProbeKind::ServerName {
                    run.remember(&probe.name, probe.rtype, answer);
                }
            }
        }
        for (name, family, found) in sanity::server_name_answers(&results) {
            name_answers.push(ServerNameAnswer {
                name,
                family,
                resolver: resolver.clone(),
                trusted,
                found,
            });
        }
        if trusted {
            continue;
        }
        let reason = sanity::distrust_reason();
        match &run.backend {
            Backend::Live(live) => live.distrust(server, reason),
            Backend::Offline(_) => {
                let _ = run.distrust.set(reason);
            }
        }
        untrustworthy.push(UntrustworthyResolver {
            resolver,
            evidence: judgement.evidence,
        });
    }
    (untrustworthy, notes, name_answers)
}
