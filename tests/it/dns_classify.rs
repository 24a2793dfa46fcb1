//! Classification of every DNS outcome against the in-process server.

use std::collections::BTreeMap;
use std::net::IpAddr;

use crate::common::dns::{domain, live_options, run_bound, start_test_server};
use mxdrift::inventory::DomainName;
use mxdrift::resolve::{DnsStatus, HostLookup, MxEvidence, gather};

const DOMAINS: [&str; 16] = [
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
];

async fn evidence_for(domains: &[&str]) -> BTreeMap<DomainName, MxEvidence> {
    let server = start_test_server().await;
    let opts = live_options(&[server.addr()]);
    let names: Vec<DomainName> = domains.iter().map(|d| domain(d)).collect();
    let report = tokio::time::timeout(run_bound(&opts), gather(&names, &opts))
        .await
        .expect("gather finished within its timeouts")
        .expect("gather set up");
    report.evidence
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_outcome_is_classified() {
    let evidence = evidence_for(&DOMAINS).await;
    for (name, found) in &evidence {
        eprintln!("{name}: {}", serde_json::to_string(found).unwrap());
    }
    assert_eq!(evidence.len(), DOMAINS.len());
    let get = |d: &str| evidence.get(&domain(d)).expect("evidence for every domain");

    // ok: sorted by preference, addresses of both families, TTLs kept
    let ok = get("ok.drift.test");
    assert_eq!(ok.status, DnsStatus::Ok);
    assert!(!ok.implicit_mx);
    assert_eq!(ok.mx.len(), 2);
    assert_eq!(
        (ok.mx[0].preference, ok.mx[0].host.as_str()),
        (10, "mx1.drift.test")
    );
    assert_eq!(
        ok.mx[0].addresses,
        vec![ip("192.0.2.10"), ip("2001:db8::10")]
    );
    assert_eq!(ok.mx[0].lookup, HostLookup::Complete);
    assert_eq!(ok.mx[0].ttl, Some(300));
    assert_eq!(
        (ok.mx[1].preference, ok.mx[1].host.as_str()),
        (20, "mx2.hoster.test")
    );
    assert_eq!(ok.mx[1].addresses, vec![ip("192.0.2.20")]);
    assert_eq!(ok.ttl, Some(300));

    let apex = get("drift.test");
    assert_eq!(apex.status, DnsStatus::Ok);
    assert_eq!(apex.mx[0].host, "mx1.drift.test");

    // equal preferences: both hosts kept, ordered by name
    let equal = get("equal.drift.test");
    assert_eq!(equal.status, DnsStatus::Ok);
    let hosts: Vec<(u16, &str)> = equal
        .mx
        .iter()
        .map(|h| (h.preference, h.host.as_str()))
        .collect();
    assert_eq!(hosts, vec![(10, "mx1.drift.test"), (10, "mx2.hoster.test")]);

    // NODATA -> implicit MX
    let a_only = get("nodata-a.drift.test");
    assert_eq!(a_only.status, DnsStatus::Nodata);
    assert!(a_only.implicit_mx);
    assert_eq!(a_only.mx.len(), 1);
    assert_eq!(a_only.mx[0].preference, 0);
    assert_eq!(a_only.mx[0].host, "nodata-a.drift.test");
    assert_eq!(a_only.mx[0].addresses, vec![ip("192.0.2.30")]);
    assert_eq!(a_only.mx[0].lookup, HostLookup::Complete);
    assert_eq!(a_only.ttl, Some(120), "negative TTL = SOA minimum");

    let aaaa_only = get("nodata-aaaa.drift.test");
    assert_eq!(aaaa_only.status, DnsStatus::Nodata);
    assert!(aaaa_only.implicit_mx);
    assert_eq!(aaaa_only.mx[0].addresses, vec![ip("2001:db8::30")]);

    let none = get("nodata-none.drift.test");
    assert_eq!(none.status, DnsStatus::Nodata);
    assert!(!none.implicit_mx);
    assert!(none.mx.is_empty());

    // null MX alone and mixed
    let null = get("nullmx.drift.test");
    assert_eq!(null.status, DnsStatus::NullMx);
    assert!(null.mx.is_empty());
    let mixed = get("nullmix.drift.test");
    assert_eq!(mixed.status, DnsStatus::NullMx);
    assert_eq!(mixed.mx.len(), 1);
    assert_eq!(mixed.mx[0].host, "mx1.drift.test");

    // NXDOMAIN, plain and through a dangling alias
    let missing = get("missing.drift.test");
    assert_eq!(missing.status, DnsStatus::Nxdomain);
    assert_eq!(missing.dangling_cname, None);
    assert_eq!(missing.ttl, Some(120));
    let dangling = get("dangling.drift.test");
    assert_eq!(dangling.status, DnsStatus::Nxdomain);
    assert_eq!(dangling.dangling_cname.as_deref(), Some("gone.drift.test"));

    // the domain is an alias of a domain with MX records
    let aliased = get("aliased.drift.test");
    assert_eq!(aliased.status, DnsStatus::Ok);
    assert_eq!(aliased.mx.len(), 2);

    // MX target that is an alias
    let cname_mx = get("cname-mx.drift.test");
    assert_eq!(cname_mx.status, DnsStatus::Ok);
    assert_eq!(cname_mx.mx[0].host, "alias-mx.drift.test");
    assert_eq!(cname_mx.mx[0].cname.as_deref(), Some("mx1.drift.test"));
    assert_eq!(
        cname_mx.mx[0].addresses,
        vec![ip("192.0.2.10"), ip("2001:db8::10")]
    );

    // IP literal exchange: used directly
    let literal = get("literal.drift.test");
    assert_eq!(literal.status, DnsStatus::Ok);
    assert!(literal.mx[0].ip_literal);
    assert_eq!(literal.mx[0].addresses, vec![ip("192.0.2.99")]);

    // IPv6-only host: complete, one address
    let v6 = get("v6only.drift.test");
    assert_eq!(v6.mx[0].addresses, vec![ip("2001:db8::66")]);
    assert_eq!(v6.mx[0].lookup, HostLookup::Complete);

    // hosts without addresses
    let unresolvable = get("unresolvable.drift.test");
    assert_eq!(unresolvable.status, DnsStatus::Ok);
    assert_eq!(unresolvable.mx[0].lookup, HostLookup::NoAddress);
    assert!(unresolvable.mx[0].addresses.is_empty());
    assert!(
        unresolvable.mx[0]
            .problem
            .as_deref()
            .unwrap()
            .contains("NXDOMAIN")
    );
    let no_address = get("no-address.drift.test");
    assert_eq!(no_address.mx[0].lookup, HostLookup::NoAddress);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn host_outside_served_zones_is_inconclusive_not_missing() {
    let evidence = evidence_for(&["outside.drift.test", "other.example"]).await;
    let outside = &evidence[&domain("outside.drift.test")];
    assert_eq!(outside.status, DnsStatus::Ok);
    assert_eq!(outside.mx[0].lookup, HostLookup::Inconclusive);
    assert!(
        outside.mx[0]
            .problem
            .as_deref()
            .unwrap()
            .contains("REFUSED")
    );
    // a domain the server does not serve at all: REFUSED, inconclusive
    let other = &evidence[&domain("other.example")];
    assert_eq!(other.status, DnsStatus::Inconclusive);
    assert!(other.problem.is_some());
}
