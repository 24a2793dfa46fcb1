//! Resolve: ask DNS where mail for each domain goes. The only async stage.
//! Every DNS failure is a value ([`DnsStatus::Inconclusive`] and friends),
//! never an error: a timeout must never turn into "this domain is not ours".

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::inventory::DomainName;

pub(crate) mod answer;
pub mod authoritative;
pub(crate) mod classify;
mod confirm;
mod fast;
mod gather;
mod live;
mod mx_set;
pub(crate) mod offline;
mod per_domain;
mod rate;
mod sanity;
mod udp_pool;
pub(crate) mod validate;

pub use confirm::gather_over_tcp;

/// The name servers of a resolv.conf's text (`nameserver` lines).
pub fn resolv_conf_nameservers(text: &[u8]) -> Result<Vec<SocketAddr>, ResolveError> {
    live::resolv_conf_nameservers(text)
}
pub use gather::{MAX_MX_HOSTS_LOOKED_UP, gather, gather_checked};

/// How to ask DNS. `main` fills it from the command line.
#[derive(Debug, Clone)]
pub struct ResolveOptions {
    /// Resolvers to ask, in order; empty = the system's (resolv.conf).
    pub nameservers: Vec<SocketAddr>,
    /// Non-empty = answer from these RFC 1035 master files, no network at all.
    pub zone_files: Vec<PathBuf>,
    /// Time to wait for one attempt of one query.
    pub timeout: Duration,
    /// Tries per query and server (at least one is always made).
    pub attempts: usize,
    /// Queries in flight at once (at least one).
    pub concurrency: usize,
    /// Told as each domain's evidence is complete (the binary draws a
    /// progress bar on a terminal); `None`: nobody is told.
    pub progress: Option<Arc<dyn ResolveProgress>>,
    /// At most this many queries per second (a token bucket); `None`: no
    /// limit beyond `concurrency`. Public resolvers rate-limit clients at
    /// about 1,000 queries per second.
    pub max_qps: Option<u32>,
    /// Ask the resolvers (the default), or follow the delegations from
    /// the root and ask the authoritative servers (see `authoritative`).
    /// In authoritative mode `max_qps` is per server address.
    pub mode: DnsMode,
    /// `--root-hints`: named.root-format root hints for the authoritative
    /// mode; `None`: IANA's, built in.
    pub root_hints: Option<PathBuf>,
}

/// How DNS is asked (`--dns`, `dns:` in mxdrift.yaml).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DnsMode {
    #[default]
    Resolver,
    Authoritative,
}

impl DnsMode {
    pub fn as_str(self) -> &'static str {
        match self {
            DnsMode::Resolver => "resolver",
            DnsMode::Authoritative => "authoritative",
        }
    }
}

impl Default for ResolveOptions {
    fn default() -> Self {
        ResolveOptions {
            nameservers: Vec::new(),
            zone_files: Vec::new(),
            timeout: Duration::from_secs(5),
            attempts: 2,
            concurrency: 64,
            progress: None,
            max_qps: None,
            mode: DnsMode::Resolver,
            root_hints: None,
        }
    }
}

/// Follows the resolution of the domains of one run. The resolve stage
/// never writes to the terminal itself; the binary's progress bar is one of
/// these. Called from the runtime's worker threads, so it must not block.
pub trait ResolveProgress: Send + Sync + std::fmt::Debug {
    /// The resolution of `domains` distinct domains begins (after the
    /// resolvers' sanity check).
    fn started(&self, domains: u64);
    /// One more domain has its evidence.
    fn resolved(&self);
    /// Every domain has its evidence.
    fn finished(&self);
}

/// Why the resolve stage could not even start. Per-query failures are never
/// errors: they are [`DnsStatus::Inconclusive`] evidence.
#[derive(Debug, thiserror::Error)]
pub enum ResolveError {
    #[error("cannot read zone file {}: {source}", file.display())]
    ZoneFileUnreadable {
        file: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{}:{line}: bad zone file: {message}", file.display())]
    ZoneFileSyntax {
        file: PathBuf,
        line: usize,
        message: String,
    },
    #[error("{}: zone {zone} is also loaded from {}", file.display(), first.display())]
    ZoneLoadedTwice {
        file: PathBuf,
        zone: String,
        first: PathBuf,
    },
    #[error("cannot use the system resolver configuration (resolv.conf): {0}")]
    SystemConfig(String),
    #[error("the system resolver configuration lists no name server; use --nameserver")]
    NoNameservers,
    #[error("bad name server `{input}`: {reason}")]
    BadNameserver { input: String, reason: String },
    #[error(transparent)]
    RootHints(#[from] authoritative::RootHintsError),
    #[error("cannot set up the resolver for {server}: {message}")]
    ResolverSetup { server: SocketAddr, message: String },
}

/// What the resolve stage found, plus counters for the summary.
#[derive(Debug, Clone, Default)]
pub struct ResolveReport {
    /// One entry per requested domain.
    pub evidence: BTreeMap<DomainName, MxEvidence>,
    /// Distinct (name, type) queries actually sent, after de-duplication.
    pub queries_sent: u64,
    /// Distinct queries that ended inconclusive.
    pub lookups_failed: u64,
    /// Configured servers that answered with the AA bit: they answer from
    /// their own zones, which on a hosting server may be the stale local view.
    pub authoritative_servers: Vec<SocketAddr>,
    /// Resolvers that denied names that must exist when asked before the
    /// audit (the root zone's SOA, the inventory's TLDs, this server's
    /// names): none of their negative answers was used as evidence.
    pub untrustworthy: Vec<UntrustworthyResolver>,
    /// What that check noticed without condemning a resolver: a TLD or a
    /// name of this server that really does not exist.
    pub sanity_notes: Vec<String>,
    /// The addresses of this server's names, as each resolver gave them to
    /// that check (asked once per name, address type and resolver): the
    /// identity's evidence of where "here" is.
    pub server_names: Vec<ServerNameAnswer>,
}

/// An address type asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum AddressFamily {
    V4,
    V6,
}

impl AddressFamily {
    /// The record type: `A` or `AAAA`.
    pub fn record_type(self) -> &'static str {
        match self {
            AddressFamily::V4 => "A",
            AddressFamily::V6 => "AAAA",
        }
    }

    pub fn of(ip: IpAddr) -> Self {
        match ip {
            IpAddr::V4(_) => AddressFamily::V4,
            IpAddr::V6(_) => AddressFamily::V6,
        }
    }
}

/// What one resolver (or the zone files) answered when asked for the
/// addresses of one of this server's names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerNameAnswer {
    /// The name, lower case, without trailing dot.
    pub name: String,
    pub family: AddressFamily,
    /// The server (`127.0.0.53:53`), or `the zone files`.
    pub resolver: String,
    /// The resolver passed the sanity check: its answers are evidence.
    pub trusted: bool,
    pub found: NameAddresses,
}

/// The addresses a name has, as one answer said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NameAddresses {
    /// The addresses at the end of the name's CNAME chain, sorted.
    Found(Vec<IpAddr>),
    /// NXDOMAIN, or the name has no records of this type.
    None { nxdomain: bool },
    /// No conclusive answer (timeout, SERVFAIL, a name outside every zone file).
    Failed(String),
}

/// A resolver that denied names that must exist, with what it said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UntrustworthyResolver {
    /// The server (`127.0.0.53:53`), or `the zone files`.
    pub resolver: String,
    /// One line per denied name.
    pub evidence: Vec<String>,
}

/// Parse a `--nameserver` value: `IP` (port 53), `IPv4:PORT` or `[IPv6]:PORT`.
pub fn parse_nameserver(s: &str) -> Result<SocketAddr, ResolveError> {
    let input = s.trim();
    let bad = |reason: &str| ResolveError::BadNameserver {
        input: s.to_string(),
        reason: reason.to_string(),
    };
    if input.is_empty() {
        return Err(bad("empty value"));
    }
    // A bare address (IPv4, or IPv6 which contains colons itself) means port 53.
    if let Ok(ip) = input.parse::<IpAddr>() {
        return Ok(SocketAddr::new(ip, 53));
    }
    if let Some(inner) = input.strip_prefix('[').and_then(|r| r.strip_suffix(']')) {
        return inner
            .parse::<IpAddr>()
            .map(|ip| SocketAddr::new(ip, 53))
            .map_err(|_| bad("not an IP address"));
    }
    match input.parse::<SocketAddr>() {
        Ok(addr) if addr.port() == 0 => Err(bad("port 0 is not a DNS port")),
        Ok(addr) => Ok(addr),
        Err(_) => Err(bad(
            "expected an IP address, IPv4:PORT or [IPv6]:PORT (host names are not accepted)",
        )),
    }
}

/// Outcome of the MX lookup for a domain (the contract's `dns.status`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DnsStatus {
    /// MX records found (or an implicit MX from the domain's own addresses).
    Ok,
    /// The domain does not exist.
    Nxdomain,
    /// The domain exists but has no MX records (and no addresses either when
    /// `implicit` is false and `mx` is empty).
    Nodata,
    /// The domain publishes a null MX (RFC 7505): it accepts no mail.
    NullMx,
    /// SERVFAIL, REFUSED, timeout, I/O error, malformed answer: unknown.
    Inconclusive,
}

impl DnsStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            DnsStatus::Ok => "ok",
            DnsStatus::Nxdomain => "nxdomain",
            DnsStatus::Nodata => "nodata",
            DnsStatus::NullMx => "null-mx",
            DnsStatus::Inconclusive => "inconclusive",
        }
    }
}

/// How the addresses of one MX host were found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum HostLookup {
    /// Both A and AAAA answered (possibly with no records for one family).
    Complete,
    /// The name has neither A nor AAAA records (or does not exist).
    NoAddress,
    /// At least one family's lookup failed temporarily: the address list
    /// may be incomplete.
    Inconclusive,
}

/// One mail exchanger of a domain, with its resolved addresses.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MxHost {
    pub preference: u16,
    /// Exchange name without trailing dot, lower case (or the IP literal).
    pub host: String,
    pub addresses: Vec<IpAddr>,
    pub lookup: HostLookup,
    /// The exchange is an alias: the canonical name it points to (RFC 2181 10.3).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cname: Option<String>,
    /// The exchange is an IP address literal instead of a host name.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub ip_literal: bool,
    /// Remaining TTL of the MX record (or of the A/AAAA for an implicit MX).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ttl: Option<u32>,
    /// Why the address lookup was inconclusive or empty.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub problem: Option<String>,
}

/// Everything DNS said about where mail for one domain goes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MxEvidence {
    pub status: DnsStatus,
    /// The MX set came from the domain's own A/AAAA (no MX records, RFC 5321 5.1).
    pub implicit_mx: bool,
    /// MX hosts sorted by preference, then host name. For an implicit MX,
    /// one host: the domain itself at preference 0.
    pub mx: Vec<MxHost>,
    /// Remaining TTL of the MX answer (or negative-caching TTL).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ttl: Option<u32>,
    /// NXDOMAIN came through a CNAME whose target does not exist.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dangling_cname: Option<String>,
    /// Why the lookup was inconclusive (SERVFAIL from 127.0.0.1:53, timeout,
    /// a malformed answer, ...), or why DNS was not asked (`localhost`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub problem: Option<String>,
}

impl MxEvidence {
    /// Evidence for a lookup that failed temporarily.
    pub fn inconclusive(problem: impl Into<String>) -> Self {
        MxEvidence {
            status: DnsStatus::Inconclusive,
            implicit_mx: false,
            mx: Vec::new(),
            ttl: None,
            dangling_cname: None,
            problem: Some(problem.into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nameserver_forms() {
        assert_eq!(
            parse_nameserver("192.0.2.1").unwrap(),
            "192.0.2.1:53".parse().unwrap()
        );
        assert_eq!(
            parse_nameserver("127.0.0.1:5353").unwrap(),
            "127.0.0.1:5353".parse().unwrap()
        );
        assert_eq!(
            parse_nameserver("2001:db8::1").unwrap(),
            "[2001:db8::1]:53".parse().unwrap()
        );
        assert_eq!(
            parse_nameserver("[::1]:5300").unwrap(),
            "[::1]:5300".parse().unwrap()
        );
        assert_eq!(
            parse_nameserver("[::1]").unwrap(),
            "[::1]:53".parse().unwrap()
        );
    }

    #[test]
    fn nameserver_rejects_names_and_bad_ports() {
        for bad in [
            "",
            "dns.example",
            "1.2.3.4:0",
            "1.2.3.4:99999",
            "[::1",
            "1.2.3.4:x",
        ] {
            assert!(
                matches!(
                    parse_nameserver(bad),
                    Err(ResolveError::BadNameserver { .. })
                ),
                "{bad}"
            );
        }
    }
}
