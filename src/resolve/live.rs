//! The live resolver: hickory's name-server pool on tokio, one pool per
//! configured name server so that a SERVFAIL or REFUSED from one server is
//! retried on the next (hickory itself does not fail over on SERVFAIL).
//!
//! Only hickory's name-server pool is used (UDP with retries, TCP when an
//! answer is truncated, timeouts), never its resolver front end: that front
//! end answers `localhost` itself, takes records of the asked type from any
//! section of a response and follows CNAME chains only eight queries deep.
//! Here every response goes through `validate`, and CNAME chains are
//! followed by [`LiveResolver::query`] itself, with loop detection.
//!
//! Over UDP, names go out in random letter case (0x20) and an answer must
//! repeat it exactly; each server's habit is remembered ([`CaseMemory`]),
//! so one that never repeats the case is asked without it. A resolver in
//! [`Transport::TcpOnly`] mode (the confirmation of changes, `confirm`)
//! asks over TCP alone, without the fast path.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU32, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use hickory_proto::op::{DnsRequestOptions, Query};
use hickory_proto::rr::{Name, RData, Record, RecordType};
use hickory_resolver::config::{NameServerConfig, ResolverOpts};
use hickory_resolver::net::xfer::{DnsHandle, FirstAnswer, RetryDnsHandle};
use hickory_resolver::net::{DnsError, NetError};
use hickory_resolver::{NameServerPool, PoolContext, TlsConfig};

use super::answer::{Answer, MAX_CNAME_LINKS, display_name};
use super::fast::{FastOutcome, FastQuery};
use super::udp_pool::PooledUdpRuntime;
use super::validate::{self, Checked};
use super::{ResolveError, ResolveOptions};

/// How long a fast-path query waits alone before hickory's pool asks again
/// beside it: hickory's own resend interval (its retry floor), so a lost
/// datagram costs what it cost before.
const FAST_PATH_PATIENCE: Duration = hickory_proto::op::DEFAULT_RETRY_FLOOR;

/// Queries one lookup may take to follow a CNAME chain that leaves the
/// responses (an authoritative server answers only from its own zone):
/// Postfix's `dns_lookup` stops after ten.
const MAX_QUERIES_PER_LOOKUP: usize = 10;

/// hickory's name-server pool for one server, with its retries.
type Pool = RetryDnsHandle<NameServerPool<PooledUdpRuntime>>;

/// Mismatched answers (and no exact one) after which a server is taken
/// not to repeat the question's case.
const CASE_MISMATCHES_BEFORE_FALLBACK: u32 = 3;

/// Whether a server repeats a question's letter case (0x20).
#[derive(Debug, Default)]
struct CaseMemory {
    /// [`CASE_UNKNOWN`], [`CASE_KEPT`] or [`CASE_IGNORED`].
    state: AtomicU8,
    mismatches: AtomicU32,
}

const CASE_UNKNOWN: u8 = 0;
/// The server repeated a random case exactly at least once: from now on an
/// answer in another case is taken as forged.
const CASE_KEPT: u8 = 1;
/// Several answers and never the exact case: names go out as they are.
const CASE_IGNORED: u8 = 2;

impl CaseMemory {
    fn randomise(&self) -> bool {
        self.state.load(Ordering::Relaxed) != CASE_IGNORED
    }

    fn kept(&self) {
        let _ = self.state.compare_exchange(
            CASE_UNKNOWN,
            CASE_KEPT,
            Ordering::Relaxed,
            Ordering::Relaxed,
        );
    }

    /// A mismatched answer. A server that never kept the case falls back
    /// after a few; one that has kept it never does (its mismatches are
    /// forgeries, and each is asked again over TCP).
    fn mismatch(&self) {
        let seen = self.mismatches.fetch_add(1, Ordering::Relaxed) + 1;
        if seen >= CASE_MISMATCHES_BEFORE_FALLBACK {
            let _ = self.state.compare_exchange(
                CASE_UNKNOWN,
                CASE_IGNORED,
                Ordering::Relaxed,
                Ordering::Relaxed,
            );
        }
    }
}

struct Server {
    addr: SocketAddr,
    /// UDP with the names' case randomised (hickory checks the answer
    /// repeats it, and asks over TCP when not), TCP when an answer is
    /// truncated.
    pool: Pool,
    /// The same without case randomisation, for a server that does not
    /// repeat the case.
    plain_pool: Pool,
    case: CaseMemory,
    /// TCP only: for a query whose fast-path answer was truncated.
    tcp_pool: Pool,
    /// The server answered at least once with the AA bit set.
    authoritative: AtomicBool,
    /// Why the negative answers of this server are no evidence: it denied
    /// names that must exist (see `sanity`). Set before the audit's queries.
    distrust: OnceLock<String>,
}

/// How a [`LiveResolver`] asks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Transport {
    /// The fast path over the UDP pool first, hickory's pool (UDP, TCP on
    /// truncation) behind it: the audit.
    UdpFirst,
    /// TCP only, no fast path: the confirmation of changes (`confirm`). An
    /// off-path spoofer cannot inject into a TCP connection.
    TcpOnly,
}

pub(crate) struct LiveResolver {
    transport: Transport,
    servers: Vec<Server>,
    runtime: PooledUdpRuntime,
    request: DnsRequestOptions,
    /// How long the fast path waits alone: [`FAST_PATH_PATIENCE`], or the
    /// query timeout when that is shorter.
    fast_patience: Duration,
    /// Upper bound for one query on one server, whatever hickory does
    /// inside (attempts, UDP then TCP): no run may hang.
    per_server_limit: Duration,
}

impl LiveResolver {
    pub(crate) fn new(opts: &ResolveOptions) -> Result<Self, ResolveError> {
        Self::with_transport(opts, Transport::UdpFirst)
    }

    pub(crate) fn with_transport(
        opts: &ResolveOptions,
        transport: Transport,
    ) -> Result<Self, ResolveError> {
        let configs: Vec<(SocketAddr, NameServerConfig)> = if opts.nameservers.is_empty() {
            system_nameservers()?
        } else {
            opts.nameservers
                .iter()
                .map(|addr| (*addr, server_config(*addr)))
                .collect()
        };
        let attempts = opts.attempts.max(1);
        // One pool of UDP sockets for every server (see udp_pool).
        let runtime = PooledUdpRuntime::default();
        let mut options = ResolverOpts::default();
        options.timeout = opts.timeout;
        options.attempts = attempts;
        // The system-config path turns EDNS off unless resolv.conf says
        // `options edns0`; large MX sets need it.
        options.edns0 = true;
        let mut request = DnsRequestOptions::default();
        request.recursion_desired = true;
        request.use_edns = true;
        request.edns_payload_len = options.edns_payload_len;
        request.edns_set_dnssec_ok = false;
        let build = |addr: SocketAddr,
                     config: NameServerConfig,
                     random_case: bool|
         -> Result<Pool, ResolveError> {
            let tls = TlsConfig::new().map_err(|err| ResolveError::ResolverSetup {
                server: addr,
                message: err.to_string(),
            })?;
            let mut options = options.clone();
            options.case_randomization = random_case;
            let context = Arc::new(PoolContext::new(options, tls));
            let pool = NameServerPool::from_config([config], context, runtime.clone());
            Ok(RetryDnsHandle::new(pool, attempts))
        };
        let servers = configs
            .into_iter()
            .map(|(addr, config)| {
                Ok(Server {
                    addr,
                    pool: build(addr, config.clone(), true)?,
                    plain_pool: build(addr, config, false)?,
                    case: CaseMemory::default(),
                    tcp_pool: build(addr, tcp_config(addr), false)?,
                    authoritative: AtomicBool::new(false),
                    distrust: OnceLock::new(),
                })
            })
            .collect::<Result<Vec<_>, ResolveError>>()?;
        let attempts_u32 = u32::try_from(attempts).unwrap_or(u32::MAX);
        // Each attempt may go over UDP and then TCP (truncation); the slack
        // keeps the bound from cutting a slow but legitimate answer.
        let per_server_limit = opts
            .timeout
            .saturating_mul(attempts_u32.saturating_add(1))
            .saturating_mul(3)
            .saturating_add(Duration::from_secs(1));
        Ok(LiveResolver {
            transport,
            servers,
            runtime,
            request,
            fast_patience: FAST_PATH_PATIENCE.min(opts.timeout),
            per_server_limit,
        })
    }

    /// The configured servers, in the order they are asked.
    pub(crate) fn server_addrs(&self) -> Vec<SocketAddr> {
        self.servers.iter().map(|s| s.addr).collect()
    }

    /// From now on, the negative answers of server `index` are no evidence.
    pub(crate) fn distrust(&self, index: usize, reason: String) {
        if let Some(server) = self.servers.get(index) {
            let _ = server.distrust.set(reason);
        }
    }

    /// One lookup, failing over to the next configured server when a server
    /// gives no conclusive answer, and following the CNAME chain.
    pub(crate) async fn query(&self, name: &Name, rtype: RecordType) -> Answer {
        self.chase(None, name, rtype).await
    }

    /// One lookup on server `index` alone, trusted or not (the sanity check).
    pub(crate) async fn query_server(
        &self,
        index: usize,
        name: &Name,
        rtype: RecordType,
    ) -> Answer {
        self.chase(Some(index), name, rtype).await
    }

    /// Ask for `name` `rtype`, and again for the target of a CNAME chain
    /// that leaves a response, until an answer: the chain as a whole is
    /// bounded and must not loop.
    async fn chase(&self, only: Option<usize>, name: &Name, rtype: RecordType) -> Answer {
        let mut chain: Vec<Record> = Vec::new();
        let mut current = name.clone();
        for _ in 0..MAX_QUERIES_PER_LOOKUP {
            match self.hop(only, &current, rtype).await {
                Checked::Answer(Answer::Records(mut records)) => {
                    if chain.is_empty() {
                        return Answer::Records(records);
                    }
                    if let Some(problem) = chain_problem(name, &chain, &records) {
                        return Answer::Failed(problem);
                    }
                    chain.append(&mut records);
                    return Answer::Records(chain);
                }
                Checked::Answer(answer) => return answer,
                Checked::Alias {
                    chain: mut links,
                    target,
                } => {
                    if let Some(problem) = chain_problem(name, &chain, &links) {
                        return Answer::Failed(problem);
                    }
                    chain.append(&mut links);
                    current = target;
                }
            }
        }
        Answer::Failed(format!(
            "{} {rtype}: the CNAME chain needs more than {MAX_QUERIES_PER_LOOKUP} queries",
            display_name(name)
        ))
    }

    /// One question, asked of the servers in order (or of one server).
    async fn hop(&self, only: Option<usize>, name: &Name, rtype: RecordType) -> Checked {
        let mut problems = Vec::new();
        let servers = self
            .servers
            .iter()
            .enumerate()
            .filter(|(i, _)| only.is_none_or(|o| o == *i))
            .map(|(_, s)| s);
        for server in servers {
            let outcome =
                tokio::time::timeout(self.per_server_limit, self.ask(server, name, rtype)).await;
            let checked = match outcome {
                Err(_elapsed) => {
                    problems.push(format!(
                        "{}: no answer within {:?}",
                        server.addr, self.per_server_limit
                    ));
                    continue;
                }
                Ok(checked) => checked,
            };
            match checked {
                Checked::Answer(Answer::Failed(problem)) => {
                    problems.push(format!("{}: {problem}", server.addr));
                }
                Checked::Answer(Answer::NoRecords { nxdomain, .. })
                    if only.is_none() && server.distrust.get().is_some() =>
                {
                    let reason = server.distrust.get().map_or("", String::as_str);
                    problems.push(format!(
                        "{}: {}, but {reason}",
                        server.addr,
                        if nxdomain { "NXDOMAIN" } else { "no records" }
                    ));
                }
                conclusive => return conclusive,
            }
        }
        if problems.is_empty() {
            problems.push("no name server configured".to_string());
        }
        Checked::Answer(Answer::Failed(format!(
            "{} {}: {}",
            display_name(name),
            rtype,
            problems.join("; ")
        )))
    }

    /// One question to one server: the fast path first (see `fast`); when
    /// its answer needs hickory, or none came within hickory's resend
    /// interval, hickory's pool asks, while the fast path keeps listening.
    async fn ask(&self, server: &Server, name: &Name, rtype: RecordType) -> Checked {
        if self.transport == Transport::TcpOnly {
            return self.lookup(server, &server.tcp_pool, name, rtype).await;
        }
        let random_case = server.case.randomise();
        let mut fast = FastQuery::send(&self.runtime, server.addr, name, rtype, random_case)
            .await
            .ok();
        if let Some(query) = fast.as_mut() {
            match tokio::time::timeout(self.fast_patience, query.answer()).await {
                Ok(FastOutcome::Done {
                    checked,
                    authoritative,
                }) => {
                    if query.proves_case() {
                        server.case.kept();
                    }
                    return server.note(checked, authoritative);
                }
                Ok(FastOutcome::Truncated) => {
                    return self.lookup(server, &server.tcp_pool, name, rtype).await;
                }
                Ok(FastOutcome::CaseMismatch) => {
                    server.case.mismatch();
                    return self.lookup(server, &server.tcp_pool, name, rtype).await;
                }
                Ok(FastOutcome::Hickory) => fast = None,
                Err(_still_waiting) => {}
            }
        }
        let pool = if server.case.randomise() {
            &server.pool
        } else {
            &server.plain_pool
        };
        let full = self.lookup(server, pool, name, rtype);
        let Some(mut query) = fast else {
            return full.await;
        };
        tokio::pin!(full);
        tokio::select! {
            checked = &mut full => checked,
            late = query.answer() => match late {
                FastOutcome::Done { checked, authoritative } => {
                    if query.proves_case() {
                        server.case.kept();
                    }
                    server.note(checked, authoritative)
                }
                FastOutcome::CaseMismatch => {
                    server.case.mismatch();
                    full.await
                }
                // hickory is asking anyway and handles this itself.
                FastOutcome::Truncated | FastOutcome::Hickory => full.await,
            },
        }
    }

    /// One question through hickory's name-server pool, checked.
    async fn lookup(
        &self,
        server: &Server,
        pool: &Pool,
        name: &Name,
        rtype: RecordType,
    ) -> Checked {
        let query = Query::query(name.clone(), rtype);
        match pool
            .lookup(query.clone(), self.request)
            .first_answer()
            .await
        {
            Ok(response) => {
                let authoritative = response.metadata.authoritative;
                server.note(validate::check(&query, &response), authoritative)
            }
            Err(NetError::Dns(DnsError::NoRecordsFound(no_records))) => {
                validate::check_no_records(&query, &no_records)
            }
            Err(err) => Checked::Answer(Answer::Failed(error_text(err))),
        }
    }

    pub(crate) fn authoritative_servers(&self) -> Vec<SocketAddr> {
        self.servers
            .iter()
            .filter(|s| s.authoritative.load(Ordering::Relaxed))
            .map(|s| s.addr)
            .collect()
    }
}

/// Why `more` (the answer for the target of `so_far`) cannot extend the
/// CNAME chain `so_far` that started at `name`: too many links, or a link
/// back to a name the chain already passed (a loop across responses; one
/// response's own loops are caught by `validate`).
fn chain_problem(name: &Name, so_far: &[Record], more: &[Record]) -> Option<String> {
    let links = || {
        so_far
            .iter()
            .chain(more)
            .filter(|r| r.record_type() == RecordType::CNAME)
    };
    if links().count() > MAX_CNAME_LINKS {
        return Some(format!(
            "CNAME chain from {} is longer than {MAX_CNAME_LINKS} links",
            display_name(name)
        ));
    }
    let passed: Vec<&Name> = std::iter::once(name)
        .chain(so_far.iter().map(|r| &r.name))
        .collect();
    more.iter()
        .find_map(|r| match &r.data {
            RData::CNAME(target) if passed.contains(&&target.0) => Some(&target.0),
            _ => None,
        })
        .map(|target| {
            format!(
                "CNAME loop: the chain from {} comes back to {}",
                display_name(name),
                display_name(target)
            )
        })
}

impl Server {
    /// Remember the AA bit of an answer.
    fn note(&self, checked: Checked, authoritative: bool) -> Checked {
        if authoritative && !matches!(checked, Checked::Answer(Answer::Failed(_))) {
            self.authoritative.store(true, Ordering::Relaxed);
        }
        checked
    }
}

fn error_text(err: NetError) -> String {
    match err {
        NetError::Dns(DnsError::ResponseCode(code)) => validate::rcode_text(code),
        NetError::Timeout => "timeout".to_string(),
        other => other.to_string(),
    }
}

/// UDP with TCP fallback (on truncation) to one address and port.
fn server_config(addr: SocketAddr) -> NameServerConfig {
    let mut config = NameServerConfig::udp_and_tcp(addr.ip());
    for connection in &mut config.connections {
        connection.port = addr.port();
    }
    config
}

/// TCP only, to one address and port.
fn tcp_config(addr: SocketAddr) -> NameServerConfig {
    let mut config = NameServerConfig::tcp(addr.ip());
    for connection in &mut config.connections {
        connection.port = addr.port();
    }
    config
}

/// The system's resolver configuration.
const RESOLV_CONF: &str = "/etc/resolv.conf";

/// The servers of resolv.conf, each on its own (see the module comment).
/// Its search list, ndots, timeout and attempts are deliberately ignored.
fn system_nameservers() -> Result<Vec<(SocketAddr, NameServerConfig)>, ResolveError> {
    let text = crate::safe_fs::read_path(
        std::path::Path::new(RESOLV_CONF),
        crate::safe_fs::SMALL_FILE_LIMIT,
    )
    .map_err(|err| ResolveError::SystemConfig(format!("cannot read {RESOLV_CONF}: {err}")))?;
    nameservers_from_resolv_conf(&text)
}

/// The name servers a resolv.conf names (for the one under `--root`).
pub(crate) fn resolv_conf_nameservers(text: &[u8]) -> Result<Vec<SocketAddr>, ResolveError> {
    Ok(nameservers_from_resolv_conf(text)?
        .into_iter()
        .map(|(addr, _)| addr)
        .collect())
}

fn nameservers_from_resolv_conf(
    text: &[u8],
) -> Result<Vec<(SocketAddr, NameServerConfig)>, ResolveError> {
    let (config, _options) = hickory_resolver::system_conf::parse_resolv_conf(text)
        .map_err(|err| ResolveError::SystemConfig(err.to_string()))?;
    let mut servers: Vec<(SocketAddr, NameServerConfig)> = Vec::new();
    for ns in config.name_servers() {
        let port = ns.connections.first().map_or(53, |c| c.port);
        let addr = SocketAddr::new(ns.ip, port);
        if !servers.iter().any(|(known, _)| *known == addr) {
            servers.push((addr, server_config(addr)));
        }
    }
    if servers.is_empty() {
        return Err(ResolveError::NoNameservers);
    }
    Ok(servers)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_config_keeps_the_port() {
        let config = server_config("127.0.0.1:5353".parse().unwrap());
        assert_eq!(config.connections.len(), 2);
        assert!(config.connections.iter().all(|c| c.port == 5353));
    }

    #[test]
    fn resolv_conf_servers_in_order() {
        let servers = nameservers_from_resolv_conf(
            b"search hoster.test\noptions ndots:5\nnameserver 192.0.2.53\nnameserver 2001:db8::53\n",
        )
        .unwrap();
        let addrs: Vec<SocketAddr> = servers.iter().map(|(a, _)| *a).collect();
        assert_eq!(
            addrs,
            vec![
                "192.0.2.53:53".parse().unwrap(),
                "[2001:db8::53]:53".parse().unwrap()
            ]
        );
    }

    #[test]
    fn resolv_conf_without_servers_is_an_error() {
        // hickory refuses a resolv.conf without servers; no default is
        // invented behind the admin's back.
        match nameservers_from_resolv_conf(b"search hoster.test\n") {
            Err(ResolveError::SystemConfig(message)) => {
                assert!(message.contains("nameservers"), "{message}")
            }
            other => panic!("unexpected {:?}", other.map(|s| s.len())),
        }
    }
}
