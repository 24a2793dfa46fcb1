//! End to end against a real authoritative server: NSD serving the test
//! zones on a loopback port. Its answers must give the expected evidence,
//! the same as the offline resolver loading the same files. NSD does not
//! recurse: below a delegation it answers with a referral, which is no
//! answer (inconclusive), as the offline resolver says too. It also serves
//! `idn.test`, whose MX host labels are valid DNS but not valid IDNA.

use std::path::PathBuf;

use crate::common::dns::{
    ALL_CASES, ZONE_FILES, comparable, domain, live_options, offline_options, run_bound, zone_path,
};
use crate::common::nsd::Nsd;
use mxdrift::inventory::DomainName;
use mxdrift::resolve::{DnsStatus, HostLookup, gather};

/// The shared test zones, and one that hickory's own zone parser (and so
/// the in-process test server) cannot read.
const NSD_ZONE_FILES: [&str; 3] = [ZONE_FILES[0], ZONE_FILES[1], "idn.test.zone"];

/// Names of `idn.test`.
const IDN_CASES: [&str; 2] = ["xn--mller-recht-thb.idn.test", "under_score.idn.test"];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nsd_answers_classify_as_expected() {
    let zones: Vec<(&str, PathBuf)> = NSD_ZONE_FILES
        .iter()
        .map(|file| (file.trim_end_matches(".zone"), zone_path(file)))
        .collect();
    let Some(nsd) = Nsd::start(&zones) else {
        return;
    };
    let addr = nsd.addr();

    let names: Vec<DomainName> = ALL_CASES
        .iter()
        .chain(&IDN_CASES)
        .map(|d| domain(d))
        .collect();
    let opts = live_options(&[addr]);
    let live = tokio::time::timeout(run_bound(&opts), gather(&names, &opts))
        .await
        .expect("no hang")
        .expect("resolver set up");
    let get = |d: &str| &live.evidence[&domain(d)];

    // Spot checks in NSD's own terms.
    assert_eq!(get("ok.drift.test").status, DnsStatus::Ok);
    assert_eq!(get("ok.drift.test").mx.len(), 2);
    assert_eq!(get("missing.drift.test").status, DnsStatus::Nxdomain);
    assert_eq!(
        get("dangling.drift.test").dangling_cname.as_deref(),
        Some("gone.drift.test")
    );
    assert_eq!(get("nodata-a.drift.test").status, DnsStatus::Nodata);
    assert!(get("nodata-a.drift.test").implicit_mx);
    assert_eq!(get("nullmix.drift.test").status, DnsStatus::NullMx);
    assert_eq!(
        get("cname-mx.drift.test").mx[0].cname.as_deref(),
        Some("mx1.drift.test")
    );
    assert!(get("literal.drift.test").mx[0].ip_literal);
    assert_eq!(
        get("unresolvable.drift.test").mx[0].lookup,
        HostLookup::NoAddress
    );
    assert_eq!(
        get("outside.drift.test").mx[0].lookup,
        HostLookup::Inconclusive
    );
    assert_eq!(get("not-served.example").status, DnsStatus::Inconclusive);
    // A referral is not an answer: NSD does not recurse.
    for delegated in ["delegated.drift.test", "x.delegated.drift.test"] {
        let evidence = get(delegated);
        assert_eq!(evidence.status, DnsStatus::Inconclusive, "{delegated}");
        let problem = evidence.problem.as_deref().unwrap_or_default();
        assert!(
            problem.contains("does not recurse"),
            "{delegated}: {problem}"
        );
    }
    // DNS labels that are not IDNA.
    let idn = get("xn--mller-recht-thb.idn.test");
    assert_eq!(idn.status, DnsStatus::Ok);
    assert_eq!(
        idn.mx[0].host,
        "xn--mller-recht-thb-test.mail.protection.idn.test"
    );
    assert_eq!(
        idn.mx[0].addresses,
        vec!["198.51.100.77".parse::<std::net::IpAddr>().unwrap()]
    );
    assert_eq!(get("under_score.idn.test").mx[0].host, "mail_host.idn.test");
    // NSD is authoritative for the zones, and says so.
    assert_eq!(live.authoritative_servers, vec![addr]);

    // And the offline resolver reads the same files the same way.
    let offline = gather(&names, &offline_options(&NSD_ZONE_FILES))
        .await
        .expect("zone files load");
    for name in &names {
        assert_eq!(
            comparable(&live.evidence[name]),
            comparable(&offline.evidence[name]),
            "{name}: NSD and offline differ"
        );
    }
}
