//! `mxdrift audit` end to end against a live DNS server on loopback (the
//! in-process hickory-server of common/dns_server.rs): the same verdicts and rules
//! as the offline zone-file run, and a dead server that ends within its
//! timeouts with every domain inconclusive.

use std::time::{Duration, Instant};

use crate::common::dns::dead_address;
use crate::common::dns_server::{DnsServer, Fault};
use crate::common::report::{Rows, rows};
use crate::common::{DEMO, DEMO_ZONE, run_mxdrift_blocking, stdout_json, write};
use hickory_proto::rr::RecordType;

/// The exit code, the JSON report and the time `mxdrift ARGS` took (on a
/// blocking thread: the test's DNS server runs on its runtime).
async fn run(args: &[&str]) -> (i32, serde_json::Value, Duration) {
    let started = Instant::now();
    let out = run_mxdrift_blocking(args.iter().copied()).await;
    let elapsed = started.elapsed();
    (out.status.code().unwrap_or(-1), stdout_json(&out), elapsed)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_audit_matches_the_contract_and_the_offline_run() {
    let zone = std::fs::read_to_string(DEMO_ZONE).unwrap();
    let server = DnsServer::start(&zone).await;
    let ns = server.addr().to_string();
    let (live_code, live, _) = run(&[
        "audit",
        "--root",
        DEMO,
        "--nameserver",
        &ns,
        "--server-ip",
        "203.0.113.10",
        "--format",
        "json",
        "--timeout",
        "2",
    ])
    .await;
    let (offline_code, offline, _) = run(&[
        "audit",
        "--root",
        DEMO,
        "--zone-file",
        DEMO_ZONE,
        "--server-ip",
        "203.0.113.10",
        "--format",
        "json",
    ])
    .await;
    assert_eq!(live_code, 1);
    assert_eq!(offline_code, 1);
    // The test server is on loopback and authoritative: exactly the stale
    // local-zone situation of a Plesk or cPanel server's own BIND.
    let notes = live["notes"].as_array().cloned().unwrap_or_default();
    assert!(
        notes
            .iter()
            .any(|n| n.as_str().unwrap().contains("answers authoritatively")),
        "expected a stale-zone warning, got {notes:?}"
    );
    assert!(offline.get("notes").is_none(), "no resolver, no warning");

    // This machine's names are not asked in DNS.
    for name in ["localhost.", "localhost.hoster.test."] {
        for rtype in [RecordType::MX, RecordType::A, RecordType::AAAA] {
            assert_eq!(server.count(name, rtype), 0, "{name} {rtype} was asked");
        }
    }
    let live = rows(&live);
    let offline = rows(&offline);
    // The localhost names are this machine, live and offline alike, and
    // nothing answers for `.invalid` itself: the server is asked.
    assert_eq!(live, offline, "live and offline runs disagree");

    let want = |d: &str, delivery: &str, verdict: &str, rules: &[&str]| {
        let rules = if rules.is_empty() {
            "-".to_string()
        } else {
            rules.join(",")
        };
        (
            d.to_string(),
            (delivery.to_string(), verdict.to_string(), rules),
        )
    };
    let expected: Rows = [
        want("backup-for-customer.test", "relay", "backup", &[]),
        want(
            "backup.test",
            "local",
            "backup",
            &["backup-mx-delivers-locally"],
        ),
        want("cname-mx.test", "local", "here", &["mx-target-cname"]),
        want(
            "deadmx.test",
            "local",
            "no-mail-host",
            &["mx-host-unresolvable"],
        ),
        want("expired.test", "local", "nxdomain", &["domain-not-found"]),
        want("forward-only.test", "local", "here", &[]),
        want("implicit.test", "local", "here", &[]),
        want("legacy-shop.test", "local", "here", &[]),
        want(
            "flaky.invalid",
            "local",
            "inconclusive",
            &["lookup-inconclusive"],
        ),
        want("localhost", "local", "here", &[]),
        want("localhost.hoster.test", "local", "here", &[]),
        want("migrated.test", "relay", "elsewhere", &[]),
        want("moved.test", "local", "elsewhere", &["mail-switch-on"]),
        want(
            "nullmx.test",
            "local",
            "null-mx",
            &["null-mx-delivered-locally"],
        ),
        want("split.test", "local", "mixed", &["split-delivery"]),
        want("stays.test", "local", "here", &[]),
        want("web10.hoster.test", "local", "here", &[]),
        want(
            "xn--bcher-kva.test",
            "local",
            "elsewhere",
            &["mail-switch-on"],
        ),
    ]
    .into_iter()
    .collect();
    assert_eq!(live, expected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dead_name_server_ends_within_timeouts_all_inconclusive() {
    let root = tempfile::tempdir().unwrap();
    write(
        root.path(),
        "etc/postfix/main.cf",
        "myhostname = web10.hoster.test\nmydestination =\nvirtual_mailbox_domains = a.test, b.test, c.test, moved.test\n",
    );
    let zone = std::fs::read_to_string(DEMO_ZONE).unwrap();
    let server = DnsServer::start(&zone)
        .await
        .with_fault_everywhere(Fault::Silent);
    // A second configured server that does not exist at all.
    let (ns1, ns2) = (server.addr().to_string(), dead_address().to_string());
    let (code, doc, elapsed) = run(&[
        "audit",
        "--root",
        root.path().to_str().unwrap(),
        "--nameserver",
        &ns1,
        "--nameserver",
        &ns2,
        "--timeout",
        "0.5",
        "--attempts",
        "2",
        "--format",
        "json",
    ])
    .await;
    // 0.5 s × 2 attempts × 2 servers per query, queries in parallel: a few
    // seconds at most; 30 s means something waited without a bound.
    assert!(elapsed < Duration::from_secs(30), "took {elapsed:?}");
    let domains = doc["domains"].as_array().unwrap();
    assert_eq!(domains.len(), 4);
    for d in domains {
        assert_eq!(d["verdict"], "inconclusive", "{d}");
        assert_eq!(d["dns"]["status"], "inconclusive", "{d}");
        assert_eq!(d["findings"][0]["rule"], "lookup-inconclusive", "{d}");
        assert_eq!(
            d["findings"].as_array().unwrap().len(),
            1,
            "never more than the inconclusive finding: {d}"
        );
    }
    assert_eq!(doc["summary"]["inconclusive"], 4);
    // lookup-inconclusive is info: below the default --fail-on warning.
    assert_eq!(code, 0);
}
