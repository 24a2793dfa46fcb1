//! One task per distinct domain, started as others finish: the loop both
//! resolver modes run their domains through (`gather` and
//! `authoritative`).
//!
//! Tasks are started a few per allowed in-flight query, not all at once:
//! a task's future is a KiB or more, and 100,000 of them started at once
//! were most of the run's memory. Every task a started one waits for (a
//! shared host lookup) has itself been started, so the bound cannot
//! deadlock.

use std::collections::BTreeMap;
use std::future::Future;

use tokio::task::JoinSet;

use super::ResolveProgress;
use crate::inventory::DomainName;

/// Domain tasks alive per allowed in-flight query.
const TASKS_PER_QUERY_SLOT: usize = 4;

/// `per_domain` for every distinct domain of `domains`, at most
/// `concurrency` x [`TASKS_PER_QUERY_SLOT`] at a time, telling `progress`;
/// the results by domain. A domain whose task ended without a result (a
/// panic: a bug) gets `failed()`, so every domain has one.
pub(crate) async fn each_domain<T, F, Fut>(
    domains: &[DomainName],
    concurrency: usize,
    progress: Option<&dyn ResolveProgress>,
    per_domain: F,
    failed: impl Fn() -> T,
) -> BTreeMap<DomainName, T>
where
    F: Fn(&DomainName) -> Fut,
    Fut: Future<Output = T> + Send + 'static,
    T: Send + 'static,
{
    let mut unique: Vec<DomainName> = domains.to_vec();
    unique.sort();
    unique.dedup();
    if let Some(progress) = progress {
        progress.started(u64::try_from(unique.len()).unwrap_or(u64::MAX));
    }
    let task_limit = concurrency.max(1).saturating_mul(TASKS_PER_QUERY_SLOT);
    let mut tasks = JoinSet::new();
    let mut results = BTreeMap::new();
    let mut collect = |joined: Result<(DomainName, T), tokio::task::JoinError>| {
        // A task fails only by panicking; its domain gets `failed()` below.
        if let Ok((domain, found)) = joined {
            results.insert(domain, found);
        }
        if let Some(progress) = progress {
            progress.resolved();
        }
    };
    for domain in unique {
        while tasks.len() >= task_limit {
            match tasks.join_next().await {
                Some(joined) => collect(joined),
                None => break,
            }
        }
        let found = per_domain(&domain);
        tasks.spawn(async move { (domain, found.await) });
    }
    while let Some(joined) = tasks.join_next().await {
        collect(joined);
    }
    if let Some(progress) = progress {
        progress.finished();
    }
    for domain in domains {
        results.entry(domain.clone()).or_insert_with(&failed);
    }
    results
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn every_domain_once_and_a_panic_is_a_failure() {
        let names: Vec<DomainName> = ["b.test", "a.test", "b.test", "boom.test"]
            .iter()
            .map(|n| DomainName::parse(n).unwrap())
            .collect();
        let results = each_domain(
            &names,
            1,
            None,
            |domain| {
                let domain = domain.clone();
                async move {
                    assert_ne!(domain.as_str(), "boom.test", "a bug in a task");
                    format!("ok {domain}")
                }
            },
            || "failed".to_string(),
        )
        .await;
        let got: Vec<(&str, &str)> = results
            .iter()
            .map(|(d, r)| (d.as_str(), r.as_str()))
            .collect();
        assert_eq!(
            got,
            [
                ("a.test", "ok a.test"),
                ("b.test", "ok b.test"),
                ("boom.test", "failed")
            ]
        );
    }
}
