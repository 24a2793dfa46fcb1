//! A lying resolver must not empty a server (issue 17 §A). Resolvers that
//! answer "does not exist" for every name (captive portals, firewall DNS
//! proxies, this very machine without Internet) are built here as raw
//! responders on loopback; the audit must report `resolver-untrustworthy`,
//! no domain may be `nxdomain`, and `mxdrift fix` must plan nothing. An
//! honest server that looks like a mass exodus gets the
//! `unusual-verdict-share` warning instead.

use std::process::Output;

use crate::common::dns_server::{DnsServer, Transport};
use crate::common::raw_dns::{Path, RawDns, question, reply_to, soa, with_rcode};
use crate::common::{DEMO, DEMO_ZONE, run_mxdrift_blocking, stdout_json as json};
use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::RecordType;

/// `mxdrift COMMAND --root demo --nameserver NS ...` on a blocking thread
/// (the responders run on this test's runtime).
async fn run(command: &str, ns: &RawDnsAddr) -> Output {
    let mut args: Vec<String> = vec![command.into()];
    if command == "audit" {
        args.extend(["--format", "json", "--fail-on", "never"].map(String::from));
    }
    args.extend(
        [
            "--root",
            DEMO,
            "--nameserver",
            &ns.0,
            "--server-ip",
            "203.0.113.10",
            "--timeout",
            "0.5",
            "--attempts",
            "1",
        ]
        .map(String::from),
    );
    run_mxdrift_blocking(args).await
}

struct RawDnsAddr(String);

/// NXDOMAIN for every name, with an empty authority section: this
/// machine's own resolver without Internet access does exactly this.
fn denies_everything(request: &Message) -> Option<Message> {
    Some(with_rcode(reply_to(request), ResponseCode::NXDomain))
}

/// NXDOMAIN for every name, with an SOA that makes each denial look like
/// RFC 2308 for the demo's `.test` names.
fn denies_everything_with_an_soa(request: &Message) -> Option<Message> {
    let mut m = with_rcode(reply_to(request), ResponseCode::NXDomain);
    m.authorities.push(soa("test.", "ns.firewall.example."));
    Some(m)
}

/// The root zone's SOA as the root has it, and NXDOMAIN with that same SOA
/// for every other name: consistent, and still a lie (arpa exists).
fn forges_consistent_denials(request: &Message) -> Option<Message> {
    let (qname, qtype) = question(request)?;
    let mut m = reply_to(request);
    if qname.is_root() && qtype == RecordType::SOA {
        m.answers.push(soa(".", "a.root-servers.net."));
    } else {
        m = with_rcode(m, ResponseCode::NXDomain);
        m.authorities.push(soa(".", "a.root-servers.net."));
    }
    Some(m)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lying_resolver_is_untrustworthy_and_fix_switches_nothing_off() {
    type Liar = fn(&Message) -> Option<Message>;
    let liars: [(&str, Liar, &str); 3] = [
        (
            "empty authority",
            denies_everything,
            "the root zone's SOA: NXDOMAIN without an SOA record",
        ),
        (
            "forged SOA",
            denies_everything_with_an_soa,
            "the root zone's SOA: NXDOMAIN without an SOA record",
        ),
        (
            "consistent forger",
            forges_consistent_denials,
            "the SOA of arpa: NXDOMAIN with the SOA of the root zone",
        ),
    ];
    for (what, liar, evidence) in liars {
        for path in [Path::Fast, Path::Hickory] {
            let server = RawDns::start(path, liar).await;
            let ns = RawDnsAddr(server.addr().to_string());
            let doc = json(&run("audit", &ns).await);
            let run_findings = doc["run_findings"].as_array().expect("run_findings");
            let untrustworthy: Vec<&serde_json::Value> = run_findings
                .iter()
                .filter(|f| f["rule"] == "resolver-untrustworthy")
                .collect();
            assert_eq!(untrustworthy.len(), 1, "{what} {path:?}: {run_findings:?}");
            assert_eq!(untrustworthy[0]["severity"], "critical");
            let lines: Vec<&str> = untrustworthy[0]["evidence"]
                .as_array()
                .unwrap()
                .iter()
                .map(|l| l.as_str().unwrap())
                .collect();
            assert!(
                lines.iter().any(|l| l.starts_with(evidence)),
                "{what} {path:?}: {lines:?}"
            );
            for d in doc["domains"].as_array().unwrap() {
                let name = d["domain"].as_str().unwrap();
                let expected = if name.starts_with("localhost") {
                    "here"
                } else {
                    "inconclusive"
                };
                assert_eq!(d["verdict"], expected, "{what} {path:?}: {d}");
                assert!(
                    !d["findings"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .any(|f| f["rule"] == "domain-not-found"),
                    "{what} {path:?}: {d}"
                );
            }
            // Which path the answers took.
            let transports = server.transports(".", RecordType::SOA);
            match path {
                Path::Fast => assert!(!transports.contains(&Transport::Tcp), "{transports:?}"),
                Path::Hickory => assert!(transports.contains(&Transport::Tcp), "{transports:?}"),
            }

            let fix = run("fix", &ns).await;
            assert_eq!(
                fix.status.code(),
                Some(0),
                "{what} {path:?}: {}",
                String::from_utf8_lossy(&fix.stderr)
            );
            assert!(
                fix.stdout.is_empty(),
                "{what} {path:?}: fix planned changes:\n{}",
                String::from_utf8_lossy(&fix.stdout)
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn honest_servers_pass_the_sanity_check() {
    // The in-process authoritative server refuses the root and arpa (not
    // its zones) and puts its SOA in every negative answer: trustworthy,
    // and its NXDOMAIN for expired.test stays evidence.
    let zone = std::fs::read_to_string(DEMO_ZONE).unwrap();
    let server = DnsServer::start(&zone).await;
    let ns = RawDnsAddr(server.addr().to_string());
    let doc = json(&run("audit", &ns).await);
    let run_findings = doc["run_findings"].as_array().cloned().unwrap_or_default();
    assert!(
        !run_findings
            .iter()
            .any(|f| f["rule"] == "resolver-untrustworthy"),
        "{run_findings:?}"
    );
    let expired = doc["domains"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["domain"] == "expired.test")
        .unwrap();
    assert_eq!(expired["verdict"], "nxdomain");
    assert!(
        server.count(".", RecordType::SOA) >= 1,
        "the root SOA was asked"
    );
    assert!(
        server.count("arpa.", RecordType::SOA) >= 1,
        "arpa's SOA was asked"
    );
}

/// Honest about the root and arpa, but NXDOMAIN (with the root's SOA) for
/// every domain of the demo: consistent, so not provably a lie; the share
/// of "gone" domains is what gives it away.
fn every_domain_gone(request: &Message) -> Option<Message> {
    let (qname, qtype) = question(request)?;
    let mut m = reply_to(request);
    let text = qname.to_ascii();
    if qtype == RecordType::SOA && (text == "." || text == "arpa.") {
        m.answers.push(soa(&text, "a.root-servers.net."));
    } else {
        m = with_rcode(m, ResponseCode::NXDomain);
        m.authorities.push(soa(".", "a.root-servers.net."));
    }
    Some(m)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unusual_share_of_gone_domains_is_a_run_level_warning() {
    let server = RawDns::start(Path::Fast, every_domain_gone).await;
    let ns = RawDnsAddr(server.addr().to_string());
    let doc = json(&run("audit", &ns).await);
    let run_findings = doc["run_findings"].as_array().unwrap();
    let share: Vec<&serde_json::Value> = run_findings
        .iter()
        .filter(|f| f["rule"] == "unusual-verdict-share")
        .collect();
    assert_eq!(share.len(), 1, "{run_findings:?}");
    assert_eq!(share[0]["severity"], "warning");
    let message = share[0]["message"].as_str().unwrap();
    assert!(
        message.starts_with("14 of 14 local domains (100 %)"),
        "{message}"
    );
    assert!(
        !run_findings
            .iter()
            .any(|f| f["rule"] == "resolver-untrustworthy")
    );
}
