//! Faults never produce anything but inconclusive evidence, and never hang.

use crate::common::dns::{dead_address, domain, live_options, run_bound, start_test_server};
use crate::common::dns_server::{Fault, Transport};
use hickory_proto::rr::RecordType;
use mxdrift::resolve::{DnsStatus, HostLookup, ResolveOptions, ResolveReport, gather};

const FAILING: [Fault; 4] = [
    Fault::ServFail,
    Fault::Refused,
    Fault::Silent,
    Fault::Garbage,
];

async fn gather_bounded(domains: &[&str], opts: &ResolveOptions) -> ResolveReport {
    let names: Vec<_> = domains.iter().map(|d| domain(d)).collect();
    tokio::time::timeout(run_bound(opts), gather(&names, opts))
        .await
        .expect("gather must finish within its timeouts")
        .expect("resolver set up")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failing_mx_lookup_is_inconclusive() {
    for fault in FAILING {
        let server = start_test_server()
            .await
            .with_fault("ok.drift.test.", fault);
        let opts = live_options(&[server.addr()]);
        let report = gather_bounded(&["ok.drift.test", "nullmx.drift.test"], &opts).await;
        let ok = &report.evidence[&domain("ok.drift.test")];
        assert_eq!(ok.status, DnsStatus::Inconclusive, "{fault:?}: {ok:?}");
        assert!(ok.mx.is_empty());
        eprintln!("{fault:?}: {}", ok.problem.as_deref().unwrap_or("(none)"));
        assert!(ok.problem.is_some(), "{fault:?}: a problem text is given");
        // Other names on the same server are unaffected.
        let other = &report.evidence[&domain("nullmx.drift.test")];
        assert_eq!(other.status, DnsStatus::NullMx, "{fault:?}");
        assert_eq!(report.lookups_failed, 1, "{fault:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failing_host_lookup_is_inconclusive_for_that_host_only() {
    for fault in FAILING {
        let server = start_test_server()
            .await
            .with_fault("mx2.hoster.test.", fault);
        let opts = live_options(&[server.addr()]);
        let report = gather_bounded(&["ok.drift.test"], &opts).await;
        let ok = &report.evidence[&domain("ok.drift.test")];
        assert_eq!(ok.status, DnsStatus::Ok, "{fault:?}");
        assert_eq!(ok.mx[0].lookup, HostLookup::Complete, "{fault:?}");
        assert_eq!(ok.mx[1].host, "mx2.hoster.test");
        assert_eq!(ok.mx[1].lookup, HostLookup::Inconclusive, "{fault:?}");
        assert!(ok.mx[1].problem.is_some());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_name_failing_gives_only_inconclusive() {
    for fault in FAILING {
        let server = start_test_server().await.with_fault_everywhere(fault);
        let opts = live_options(&[server.addr()]);
        let domains = ["ok.drift.test", "missing.drift.test", "nodata-a.drift.test"];
        let report = gather_bounded(&domains, &opts).await;
        for (name, evidence) in &report.evidence {
            assert_eq!(evidence.status, DnsStatus::Inconclusive, "{fault:?} {name}");
        }
        assert_eq!(report.lookups_failed, 3, "{fault:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn truncated_udp_answer_is_retried_over_tcp() {
    let server = start_test_server()
        .await
        .with_fault("ok.drift.test.", Fault::Truncate);
    let opts = live_options(&[server.addr()]);
    let report = gather_bounded(&["ok.drift.test"], &opts).await;
    let ok = &report.evidence[&domain("ok.drift.test")];
    assert_eq!(ok.status, DnsStatus::Ok, "{ok:?}");
    assert_eq!(ok.mx.len(), 2);
    let transports: Vec<Transport> = server
        .received()
        .into_iter()
        .filter(|r| r.name == "ok.drift.test." && r.rtype == RecordType::MX)
        .map(|r| r.transport)
        .collect();
    assert_eq!(transports, vec![Transport::Udp, Transport::Tcp]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failing_first_server_fails_over_to_the_next() {
    for fault in FAILING {
        let broken = start_test_server().await.with_fault_everywhere(fault);
        let healthy = start_test_server().await;
        let opts = live_options(&[broken.addr(), healthy.addr()]);
        let report = gather_bounded(&["ok.drift.test", "missing.drift.test"], &opts).await;
        assert_eq!(
            report.evidence[&domain("ok.drift.test")].status,
            DnsStatus::Ok,
            "{fault:?}"
        );
        assert_eq!(
            report.evidence[&domain("missing.drift.test")].status,
            DnsStatus::Nxdomain,
            "{fault:?}"
        );
        assert!(broken.count("ok.drift.test.", RecordType::MX) >= 1);
        assert_eq!(healthy.count("ok.drift.test.", RecordType::MX), 1);
        assert_eq!(report.lookups_failed, 0, "{fault:?}");
        // Only the server that answered counts as authoritative.
        assert_eq!(report.authoritative_servers, vec![healthy.addr()]);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn all_servers_failing_names_each_problem() {
    let first = start_test_server()
        .await
        .with_fault_everywhere(Fault::ServFail);
    let second = start_test_server()
        .await
        .with_fault_everywhere(Fault::Refused);
    let opts = live_options(&[first.addr(), second.addr()]);
    let report = gather_bounded(&["ok.drift.test"], &opts).await;
    let ok = &report.evidence[&domain("ok.drift.test")];
    assert_eq!(ok.status, DnsStatus::Inconclusive);
    let problem = ok.problem.as_deref().unwrap();
    assert!(
        problem.contains("SERVFAIL") && problem.contains(&first.addr().to_string()),
        "{problem}"
    );
    assert!(
        problem.contains("REFUSED") && problem.contains(&second.addr().to_string()),
        "{problem}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreachable_server_is_inconclusive() {
    // A port nobody listens on: the ICMP error or the timeout must end as
    // inconclusive evidence, not as an error or a hang.
    let opts = live_options(&[dead_address()]);
    let report = gather_bounded(&["ok.drift.test"], &opts).await;
    assert_eq!(
        report.evidence[&domain("ok.drift.test")].status,
        DnsStatus::Inconclusive
    );
}
