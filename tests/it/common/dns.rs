//! Helpers shared by the DNS tests: the test zones, resolver options, and
//! evidence made comparable between resolvers.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use mxdrift::inventory::DomainName;

use super::dns_server::DnsServer;
use mxdrift::resolve::{MxEvidence, ResolveOptions};

/// A file under testdata/zones/.
pub fn zone_path(file: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("testdata/zones")
        .join(file)
}

pub fn zone_text(file: &str) -> String {
    std::fs::read_to_string(zone_path(file)).expect("test zone file is readable")
}

/// The zones every DNS test serves.
pub const ZONE_FILES: [&str; 2] = ["drift.test.zone", "hoster.test.zone"];

pub async fn start_test_server() -> DnsServer {
    let texts: Vec<String> = ZONE_FILES.iter().map(|f| zone_text(f)).collect();
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    DnsServer::start_zones(&refs).await
}

pub fn domain(name: &str) -> DomainName {
    DomainName::parse(name).expect("test domain name")
}

/// Options for asking the given servers with short limits.
pub fn live_options(servers: &[SocketAddr]) -> ResolveOptions {
    ResolveOptions {
        nameservers: servers.to_vec(),
        zone_files: Vec::new(),
        timeout: Duration::from_millis(500),
        attempts: 2,
        concurrency: 16,
        progress: None,
        max_qps: None,
        mode: mxdrift::resolve::DnsMode::Resolver,
        root_hints: None,
    }
}

pub fn offline_options(files: &[&str]) -> ResolveOptions {
    ResolveOptions {
        nameservers: Vec::new(),
        zone_files: files.iter().map(|f| zone_path(f)).collect(),
        timeout: Duration::from_millis(500),
        attempts: 1,
        concurrency: 16,
        progress: None,
        max_qps: None,
        mode: mxdrift::resolve::DnsMode::Resolver,
        root_hints: None,
    }
}

/// A generous bound for one `gather` run: no test may hang past its
/// timeouts, whatever the faults.
pub fn run_bound(opts: &ResolveOptions) -> Duration {
    let attempts = u32::try_from(opts.attempts.max(1)).unwrap_or(u32::MAX);
    let servers = u32::try_from(opts.nameservers.len().max(1)).unwrap_or(u32::MAX);
    opts.timeout * (attempts + 1) * 3 * servers * 4 + Duration::from_secs(10)
}

/// A name server address where nothing answers: a port of 127.0.0.2,
/// free when asked. No test binds 127.0.0.2 (every test server binds
/// 127.0.0.1), so no other test's server can take the port meanwhile.
pub fn dead_address() -> SocketAddr {
    let socket = std::net::UdpSocket::bind("127.0.0.2:0").expect("bind UDP on 127.0.0.2");
    socket.local_addr().expect("bound socket has an address")
}

/// Domains of the test zones covering every status and every host outcome.
pub const ALL_CASES: [&str; 21] = [
    "drift.test",
    "ok.drift.test",
    "equal.drift.test",
    "nodata-a.drift.test",
    "nodata-aaaa.drift.test",
    "nodata-none.drift.test",
    "nullmx.drift.test",
    "nullmix.drift.test",
    "dangling.drift.test",
    "aliased.drift.test",
    "cname-mx.drift.test",
    "literal.drift.test",
    "v6only.drift.test",
    "unresolvable.drift.test",
    "no-address.drift.test",
    "missing.drift.test",
    "outside.drift.test",
    "hoster.test",
    "not-served.example",
    "delegated.drift.test",
    "x.delegated.drift.test",
];

/// Evidence with problem texts reduced to their presence: the texts name
/// their source (a server address, "not in any loaded zone") and so differ
/// between resolvers by construction; everything else must not.
pub fn comparable(evidence: &MxEvidence) -> MxEvidence {
    let mut evidence = evidence.clone();
    evidence.problem = evidence.problem.map(|_| "(problem)".to_string());
    for host in &mut evidence.mx {
        host.problem = host.problem.take().map(|_| "(problem)".to_string());
    }
    evidence
}
