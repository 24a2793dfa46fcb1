//! The offline resolver (zone files) gives the same evidence as the live
//! resolver asking a server that serves the same zones.

use crate::common::dns::{
    ALL_CASES, ZONE_FILES, comparable, domain, live_options, offline_options, run_bound,
    start_test_server,
};
use mxdrift::inventory::DomainName;
use mxdrift::resolve::{DnsStatus, ResolveError, gather};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offline_equals_live() {
    let names: Vec<DomainName> = ALL_CASES.iter().map(|d| domain(d)).collect();

    let offline = gather(&names, &offline_options(&ZONE_FILES))
        .await
        .expect("zone files load");

    let server = start_test_server().await;
    let opts = live_options(&[server.addr()]);
    let live = tokio::time::timeout(run_bound(&opts), gather(&names, &opts))
        .await
        .expect("no hang")
        .expect("resolver set up");

    let statuses: std::collections::BTreeSet<DnsStatus> =
        offline.evidence.values().map(|e| e.status).collect();
    assert_eq!(statuses.len(), 5, "the domain set covers every status");

    for name in &names {
        let off = comparable(&offline.evidence[name]);
        let on = comparable(&live.evidence[name]);
        assert_eq!(off, on, "{name}: offline and live differ");
    }
    // Both resolvers asked the same distinct questions.
    assert_eq!(offline.queries_sent, live.queries_sent);
    assert_eq!(offline.lookups_failed, live.lookups_failed);
    assert!(live.lookups_failed > 0);
    // hickory-server answers with AA: the report says so.
    assert_eq!(live.authoritative_servers, vec![server.addr()]);
    assert!(offline.authoritative_servers.is_empty());
}

#[tokio::test]
async fn outside_every_loaded_zone_is_inconclusive() {
    let report = gather(&[domain("example.org")], &offline_options(&ZONE_FILES))
        .await
        .unwrap();
    let evidence = &report.evidence[&domain("example.org")];
    assert_eq!(evidence.status, DnsStatus::Inconclusive);
    assert!(
        evidence
            .problem
            .as_deref()
            .unwrap()
            .contains("not in any loaded zone")
    );
}

#[tokio::test]
async fn bad_zone_file_is_a_setup_error_with_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("broken.test.zone");
    std::fs::write(
        &file,
        "$ORIGIN broken.test.\n$TTL 60\n@ SOA ns host 1 2 3 4 5\n@ MX 10 mx\nmx A not-an-address\n",
    )
    .unwrap();
    let mut opts = offline_options(&[]);
    opts.zone_files = vec![file.clone()];
    let err = gather(&[domain("broken.test")], &opts).await.unwrap_err();
    match &err {
        ResolveError::ZoneFileSyntax { file: f, line, .. } => {
            assert_eq!(f, &file);
            assert_eq!(*line, 5);
        }
        other => panic!("unexpected error {other:?}"),
    }
    assert!(err.to_string().contains("broken.test.zone:5:"), "{err}");

    opts.zone_files = vec![dir.path().join("absent.zone")];
    assert!(matches!(
        gather(&[domain("broken.test")], &opts).await,
        Err(ResolveError::ZoneFileUnreadable { .. })
    ));
}

/// Counts what the resolve stage tells its progress observer.
#[derive(Debug, Default)]
struct CountingProgress {
    started: std::sync::Mutex<Vec<u64>>,
    resolved: std::sync::atomic::AtomicU64,
    finished: std::sync::atomic::AtomicU64,
}

impl mxdrift::resolve::ResolveProgress for CountingProgress {
    fn started(&self, domains: u64) {
        self.started.lock().unwrap().push(domains);
    }
    fn resolved(&self) {
        self.resolved
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }
    fn finished(&self) {
        self.finished
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }
}

#[tokio::test]
async fn progress_is_told_every_domain_and_does_not_change_the_evidence() {
    use std::sync::atomic::Ordering;
    let mut names: Vec<DomainName> = ALL_CASES.iter().map(|d| domain(d)).collect();
    // A name given twice is resolved, and counted, once.
    names.push(names[0].clone());
    let quiet = gather(&names, &offline_options(&ZONE_FILES)).await.unwrap();
    let progress = std::sync::Arc::new(CountingProgress::default());
    let mut opts = offline_options(&ZONE_FILES);
    opts.progress = Some(progress.clone());
    let observed = gather(&names, &opts).await.unwrap();
    assert_eq!(quiet.evidence, observed.evidence);
    assert_eq!(quiet.queries_sent, observed.queries_sent);
    let distinct = names.len() as u64 - 1;
    assert_eq!(*progress.started.lock().unwrap(), [distinct]);
    assert_eq!(progress.resolved.load(Ordering::Relaxed), distinct);
    assert_eq!(progress.finished.load(Ordering::Relaxed), 1);
}
