//! Resolve: ask DNS where mail for each domain goes. The only async stage.
//! Every DNS failure is a value ([`DnsStatus::Inconclusive`] and friends),
//! never an error: a timeout must never turn into "this domain is not ours".

use std::net::IpAddr;

use serde::Serialize;

/// Outcome of the MX lookup for a domain (the contract's `dns.status`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
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
    /// Why the lookup was inconclusive (SERVFAIL from 127.0.0.1:53, timeout, ...).
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

// --- integration stub: replaced by the real resolver on merge ---
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use crate::inventory::DomainName;

#[derive(Debug, Clone)]
pub struct ResolveOptions {
    pub nameservers: Vec<SocketAddr>,
    pub zone_files: Vec<PathBuf>,
    pub timeout: Duration,
    pub attempts: usize,
    pub concurrency: usize,
    pub progress: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum ResolveError {
    #[error("bad name server `{0}`")]
    BadNameserver(String),
}

pub fn parse_nameserver(s: &str) -> Result<SocketAddr, ResolveError> {
    s.parse()
        .map_err(|_| ResolveError::BadNameserver(s.to_string()))
}

#[derive(Debug, Default)]
pub struct ResolveReport {
    pub evidence: BTreeMap<DomainName, MxEvidence>,
    pub queries_sent: u64,
    pub lookups_failed: u64,
    pub authoritative_servers: Vec<SocketAddr>,
}

pub async fn gather(
    domains: &[DomainName],
    opts: &ResolveOptions,
) -> Result<ResolveReport, ResolveError> {
    let _ = opts;
    Ok(ResolveReport {
        evidence: domains
            .iter()
            .map(|d| (d.clone(), MxEvidence::inconclusive("stub")))
            .collect(),
        ..Default::default()
    })
}
