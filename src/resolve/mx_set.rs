//! From a domain's MX answer to its evidence, with the MX hosts' addresses
//! looked up: the one procedure of both resolvers (resolver mode's
//! `gather` and `--dns authoritative`), which differ only in how they ask
//! for a host's addresses.
//!
//! The hosts' lookups run at once, each query within its resolver's
//! in-flight limit: 20 hosts that never answer cost one timeout, not
//! twenty. Only the best [`MAX_MX_HOSTS_LOOKED_UP`] named hosts are looked
//! up (answers of 1,500 MX records exist). They run inside the domain's
//! task, not as tasks of their own: most hosts are shared and answered
//! from the resolvers' memory, and a spawned task for each (150,000 at
//! 100,000 domains) cost more than the lookup.

use std::future::Future;
use std::pin::Pin;
use std::task::Poll;

use hickory_proto::rr::Name;

use super::answer::Answer;
use super::classify::{self, HostAddresses, MxAnswer};
use super::{MAX_MX_HOSTS_LOOKED_UP, MxEvidence};

/// The evidence for `domain` from its final MX `answer`; `lookup` asks for
/// one host's addresses (A and AAAA).
pub(crate) async fn evidence<L, F>(domain: &Name, answer: &Answer, lookup: L) -> MxEvidence
where
    L: Fn(Name) -> F,
    F: Future<Output = HostAddresses> + Send + 'static,
{
    match classify::mx_answer(domain, answer) {
        MxAnswer::Failed(problem) => MxEvidence::inconclusive(problem),
        MxAnswer::Nxdomain {
            dangling_cname,
            ttl,
        } => classify::nxdomain(dangling_cname, ttl),
        MxAnswer::Nodata { ttl } => {
            let found = lookup(domain.clone()).await;
            classify::implicit(domain, ttl, found)
        }
        MxAnswer::Exchanges { mut records, ttl } => {
            let null_mx = records
                .iter()
                .any(|(_, exchange, _)| classify::is_null_mx(exchange));
            records.retain(|(_, exchange, _)| !classify::is_null_mx(exchange));
            // Best preference first, so that the limit keeps the hosts a
            // sender tries first.
            records.sort_by(|a, b| a.0.cmp(&b.0).then_with(|| a.1.cmp(&b.1)));
            let named = records
                .iter()
                .filter(|(_, exchange, _)| classify::ip_literal(exchange).is_none())
                .count();
            let mut hosts = Vec::with_capacity(records.len());
            let mut lookups = Vec::new();
            let mut looked_up = 0usize;
            for (preference, exchange, record_ttl) in records {
                if let Some(ip) = classify::ip_literal(&exchange) {
                    hosts.push(classify::literal_host(
                        preference, &exchange, ip, record_ttl,
                    ));
                } else if looked_up < MAX_MX_HOSTS_LOOKED_UP {
                    looked_up += 1;
                    let found = lookup(exchange.clone());
                    lookups.push(async move {
                        classify::named_host(preference, &exchange, record_ttl, found.await)
                    });
                } else {
                    hosts.push(classify::unresolved_host(
                        preference,
                        &exchange,
                        record_ttl,
                        format!(
                            "not looked up: the domain has {named} MX hosts, mxdrift looks up \
                             the addresses of the best {MAX_MX_HOSTS_LOOKED_UP}"
                        ),
                    ));
                }
            }
            hosts.extend(all_of(lookups).await);
            classify::with_exchanges(null_mx, hosts, ttl)
        }
    }
}

/// Every future's output, in the futures' order, the futures polled
/// concurrently within the calling task (at most
/// [`MAX_MX_HOSTS_LOOKED_UP`] of them: each wake-up polls those not done).
async fn all_of<F: Future>(futures: Vec<F>) -> Vec<F::Output> {
    let mut pending: Vec<Option<Pin<Box<F>>>> =
        futures.into_iter().map(|f| Some(Box::pin(f))).collect();
    let mut done: Vec<Option<F::Output>> = pending.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut waiting = false;
        for (slot, output) in pending.iter_mut().zip(done.iter_mut()) {
            if let Some(future) = slot {
                match future.as_mut().poll(cx) {
                    Poll::Ready(value) => {
                        *output = Some(value);
                        *slot = None;
                    }
                    Poll::Pending => waiting = true,
                }
            }
        }
        if waiting {
            Poll::Pending
        } else {
            Poll::Ready(())
        }
    })
    .await;
    done.into_iter().flatten().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn all_of_keeps_order_whatever_finishes_first() {
        let delays = [30u64, 0, 10];
        let futures = delays.iter().enumerate().map(|(i, ms)| async move {
            tokio::time::sleep(std::time::Duration::from_millis(*ms)).await;
            i
        });
        assert_eq!(all_of(futures.collect()).await, vec![0, 1, 2]);
        assert!(
            all_of(Vec::<std::future::Ready<u8>>::new())
                .await
                .is_empty()
        );
    }
}
