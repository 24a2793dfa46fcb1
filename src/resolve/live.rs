//! The live resolver: hickory-resolver on tokio, one resolver per
//! configured name server so that a SERVFAIL or REFUSED from one server is
//! retried on the next (hickory itself does not fail over on SERVFAIL).

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use hickory_resolver::Resolver;
use hickory_resolver::config::{NameServerConfig, ResolveHosts, ResolverConfig, ResolverOpts};
use hickory_resolver::net::{DnsError, NetError};
use hickory_resolver::proto::op::ResponseCode;
use hickory_resolver::proto::rr::{Name, RecordType};

use super::answer::{Answer, display_name};
use super::fast::{FastOutcome, FastQuery};
use super::udp_pool::PooledUdpRuntime;
use super::{ResolveError, ResolveOptions};

/// How long a fast-path query waits alone before hickory's resolver asks
/// again beside it: hickory's own resend interval (its retry floor), so a
/// lost datagram costs what it cost before.
const FAST_PATH_PATIENCE: Duration = hickory_resolver::proto::op::DEFAULT_RETRY_FLOOR;

struct Server {
    addr: SocketAddr,
    /// UDP, and TCP when an answer is truncated.
    resolver: Resolver<PooledUdpRuntime>,
    /// TCP only: for a query whose fast-path answer was truncated.
    tcp_resolver: Resolver<PooledUdpRuntime>,
    /// The server answered at least once with the AA bit set.
    authoritative: AtomicBool,
}

pub(crate) struct LiveResolver {
    servers: Vec<Server>,
    runtime: PooledUdpRuntime,
    /// How long the fast path waits alone: [`FAST_PATH_PATIENCE`], or the
    /// query timeout when that is shorter.
    fast_patience: Duration,
    /// Upper bound for one query on one server, whatever hickory does
    /// inside (attempts, UDP then TCP, CNAME chasing): no run may hang.
    per_server_limit: Duration,
}

impl LiveResolver {
    pub(crate) fn new(opts: &ResolveOptions) -> Result<Self, ResolveError> {
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
        let build = |addr: SocketAddr, config: NameServerConfig| {
            // No domain, no search list: every query is an FQDN anyway,
            // and a search list could turn a missing name into a hit.
            let config = ResolverConfig::from_parts(None, vec![], vec![config]);
            let mut builder = Resolver::builder_with_config(config, runtime.clone());
            let options: &mut ResolverOpts = builder.options_mut();
            options.ndots = 0;
            options.timeout = opts.timeout;
            options.attempts = attempts;
            // The system-config path turns EDNS off unless resolv.conf
            // says `options edns0`; large MX sets need it.
            options.edns0 = true;
            // A mail server's /etc/hosts maps its own name locally:
            // that must never count as DNS evidence.
            options.use_hosts_file = ResolveHosts::Never;
            options.preserve_intermediates = true;
            // `gather` already sends every distinct query once and keeps
            // the answer; hickory's own response cache would only hold a
            // second copy of every answer (memory) and cost a cache
            // insertion per query (time).
            options.cache_size = 0;
            builder.build().map_err(|err| ResolveError::ResolverSetup {
                server: addr,
                message: err.to_string(),
            })
        };
        let servers = configs
            .into_iter()
            .map(|(addr, config)| {
                Ok(Server {
                    addr,
                    resolver: build(addr, config)?,
                    tcp_resolver: build(addr, tcp_config(addr))?,
                    authoritative: AtomicBool::new(false),
                })
            })
            .collect::<Result<Vec<_>, ResolveError>>()?;
        let attempts_u32 = u32::try_from(attempts).unwrap_or(u32::MAX);
        // Each attempt may go over UDP and then TCP (truncation), and a CNAME
        // chain adds hops; the slack keeps the bound from cutting a slow but
        // legitimate answer.
        let per_server_limit = opts
            .timeout
            .saturating_mul(attempts_u32.saturating_add(1))
            .saturating_mul(3)
            .saturating_add(Duration::from_secs(1));
        Ok(LiveResolver {
            servers,
            runtime,
            fast_patience: FAST_PATH_PATIENCE.min(opts.timeout),
            per_server_limit,
        })
    }

    /// One query, failing over to the next configured server when a server
    /// gives no conclusive answer.
    pub(crate) async fn query(&self, name: &Name, rtype: RecordType) -> Answer {
        let mut problems = Vec::new();
        for server in &self.servers {
            let outcome =
                tokio::time::timeout(self.per_server_limit, self.ask(server, name, rtype)).await;
            let answer = match outcome {
                Err(_elapsed) => Answer::Failed(format!(
                    "no answer from {} within {:?}",
                    server.addr, self.per_server_limit
                )),
                Ok(answer) => answer,
            };
            match answer {
                Answer::Failed(problem) => problems.push(problem),
                conclusive => return conclusive,
            }
        }
        if problems.is_empty() {
            problems.push("no name server configured".to_string());
        }
        Answer::Failed(format!(
            "{} {}: {}",
            display_name(name),
            rtype,
            problems.join("; ")
        ))
    }

    /// One query to one server: the fast path first (see `fast`); when its
    /// answer is not simple, or none came within hickory's resend interval,
    /// hickory's resolver asks, while the fast path keeps listening.
    async fn ask(&self, server: &Server, name: &Name, rtype: RecordType) -> Answer {
        let mut fast = FastQuery::send(&self.runtime, server.addr, name, rtype)
            .await
            .ok();
        if let Some(query) = fast.as_mut() {
            match tokio::time::timeout(self.fast_patience, query.answer()).await {
                Ok(FastOutcome::Done {
                    answer,
                    authoritative,
                }) => return server.note(answer, authoritative),
                Ok(FastOutcome::Truncated) => {
                    return server.lookup(&server.tcp_resolver, name, rtype).await;
                }
                Ok(FastOutcome::Hickory) => fast = None,
                Err(_still_waiting) => {}
            }
        }
        let full = server.lookup(&server.resolver, name, rtype);
        let Some(mut query) = fast else {
            return full.await;
        };
        tokio::pin!(full);
        tokio::select! {
            answer = &mut full => answer,
            late = query.answer() => match late {
                FastOutcome::Done { answer, authoritative } => server.note(answer, authoritative),
                // hickory is asking anyway and handles this itself.
                FastOutcome::Truncated | FastOutcome::Hickory => full.await,
            },
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

impl Server {
    /// Remember the AA bit of a final answer.
    fn note(&self, answer: Answer, authoritative: bool) -> Answer {
        if authoritative {
            self.authoritative.store(true, Ordering::Relaxed);
        }
        answer
    }

    /// One query through hickory's resolver.
    async fn lookup(
        &self,
        resolver: &Resolver<PooledUdpRuntime>,
        name: &Name,
        rtype: RecordType,
    ) -> Answer {
        match resolver.lookup(name.clone(), rtype).await {
            Ok(lookup) => {
                // Answers first; some servers put the records a CNAME
                // leads to in the additional section.
                let records = lookup
                    .answers()
                    .iter()
                    .chain(lookup.additionals())
                    .cloned()
                    .collect();
                self.note(
                    Answer::Records(records),
                    lookup.message().metadata.authoritative,
                )
            }
            Err(err) => classify_error(err, self.addr),
        }
    }
}

fn classify_error(err: NetError, server: SocketAddr) -> Answer {
    match err {
        NetError::Dns(DnsError::NoRecordsFound(no_records)) => match no_records.response_code {
            ResponseCode::NXDomain => Answer::NoRecords {
                nxdomain: true,
                negative_ttl: no_records.negative_ttl,
                name: no_records.query.name().clone(),
            },
            ResponseCode::NoError => Answer::NoRecords {
                nxdomain: false,
                negative_ttl: no_records.negative_ttl,
                name: no_records.query.name().clone(),
            },
            other => Answer::Failed(format!("{other} from {server}")),
        },
        NetError::Dns(DnsError::ResponseCode(code)) => {
            Answer::Failed(format!("{} from {server}", rcode_name(code)))
        }
        NetError::Timeout => Answer::Failed(format!("timeout waiting for {server}")),
        other => Answer::Failed(format!("{other} ({server})")),
    }
}

fn rcode_name(code: ResponseCode) -> String {
    match code {
        ResponseCode::ServFail => "SERVFAIL".to_string(),
        ResponseCode::Refused => "REFUSED".to_string(),
        ResponseCode::FormErr => "FORMERR".to_string(),
        ResponseCode::NotImp => "NOTIMP".to_string(),
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
