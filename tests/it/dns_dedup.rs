//! Thousands of domains share a few MX hosts: each distinct (name, type)
//! query goes to the server once per run, counted at the server.

use std::collections::HashMap;
use std::fmt::Write as _;

use crate::common::dns::{domain, live_options, run_bound, zone_text};
use crate::common::dns_server::DnsServer;
use hickory_proto::rr::RecordType;
use mxdrift::resolve::{DnsStatus, HostLookup, gather};

const DOMAINS: usize = 200;
const HOSTS: [&str; 3] = ["mx2.hoster.test.", "mx3.hoster.test.", "mx4.hoster.test."];

fn shared_zone() -> String {
    let mut zone = String::from(
        "$ORIGIN shared.test.\n$TTL 300\n@ IN SOA ns1.shared.test. hostmaster.shared.test. 1 3600 600 86400 60\n@ IN NS ns1\nns1 IN A 127.0.0.1\n",
    );
    for i in 0..DOMAINS {
        // Every domain uses two of the three hosts.
        let first = HOSTS[i % 3];
        let second = HOSTS[(i + 1) % 3];
        writeln!(zone, "d{i:03} IN MX 10 {first}\nd{i:03} IN MX 20 {second}").unwrap();
    }
    zone
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_distinct_query_is_sent_once() {
    let hoster = zone_text("hoster.test.zone");
    let shared = shared_zone();
    let server = DnsServer::start_zones(&[&hoster, &shared]).await;
    let mut opts = live_options(&[server.addr()]);
    opts.concurrency = 50;
    // A retransmission after a timeout is the same question sent again by
    // design; on a loaded 2-core machine 500 ms can pass before the server
    // answers. This test counts questions, so it waits long enough that
    // nothing is retransmitted.
    opts.timeout = std::time::Duration::from_secs(5);

    let mut names: Vec<_> = (0..DOMAINS)
        .map(|i| domain(&format!("d{i:03}.shared.test")))
        .collect();
    // The same domain twice in the input is still one question.
    names.push(domain("d000.shared.test"));

    let report = tokio::time::timeout(run_bound(&opts), gather(&names, &opts))
        .await
        .expect("no hang")
        .expect("resolver set up");

    assert_eq!(report.evidence.len(), DOMAINS);
    for (name, evidence) in &report.evidence {
        assert_eq!(evidence.status, DnsStatus::Ok, "{name}");
        assert_eq!(evidence.mx.len(), 2, "{name}");
        assert!(
            evidence.mx.iter().all(|h| h.lookup == HostLookup::Complete),
            "{name}"
        );
    }

    // The sanity check asks for the SOA of the root zone and of arpa first
    // (this authoritative server refuses them, and they are retried like
    // any refused query); `.test` is not a TLD it probes. Nothing else is
    // extra.
    const PROBES: [&str; 2] = [".", "arpa."];
    for probe in PROBES {
        assert!(server.count(probe, RecordType::SOA) >= 1, "{probe}");
    }
    let mut asked: HashMap<(String, RecordType), usize> = HashMap::new();
    for received in server.received() {
        if !PROBES.contains(&received.name.as_str()) {
            *asked.entry((received.name, received.rtype)).or_default() += 1;
        }
    }
    let repeated: Vec<_> = asked.iter().filter(|(_, count)| **count != 1).collect();
    assert!(repeated.is_empty(), "asked more than once: {repeated:?}");
    for host in HOSTS {
        assert_eq!(server.count(host, RecordType::A), 1, "{host} A");
        assert_eq!(server.count(host, RecordType::AAAA), 1, "{host} AAAA");
    }
    // 200 MX queries plus A and AAAA for 3 hosts, nothing else.
    assert_eq!(asked.len(), DOMAINS + 2 * HOSTS.len());
    assert_eq!(report.queries_sent, u64::try_from(asked.len()).unwrap());
    assert_eq!(report.lookups_failed, 0);
}
