//! From a domain's MX answer to its evidence, with the MX hosts' addresses
//! looked up: the one procedure of both resolvers (resolver mode's
//! `gather` and `--dns authoritative`), which differ only in how they ask
//! for a host's addresses.
//!
//! The hosts' lookups run at once, each query within its resolver's
//! in-flight limit: 20 hosts that never answer cost one timeout, not
//! twenty. Only the best [`MAX_MX_HOSTS_LOOKED_UP`] named hosts are looked
//! up (answers of 1,500 MX records exist).

use std::future::Future;

use hickory_proto::rr::Name;
use tokio::task::JoinSet;

use super::answer::{Answer, display_name};
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
            let mut lookups = JoinSet::new();
            let mut looked_up = 0usize;
            for (preference, exchange, record_ttl) in records {
                if let Some(ip) = classify::ip_literal(&exchange) {
                    hosts.push(classify::literal_host(
                        preference, &exchange, ip, record_ttl,
                    ));
                } else if looked_up < MAX_MX_HOSTS_LOOKED_UP {
                    looked_up += 1;
                    let found = lookup(exchange.clone());
                    lookups.spawn(async move {
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
            while let Some(joined) = lookups.join_next().await {
                match joined {
                    Ok(host) => hosts.push(host),
                    // Only a panic (a bug) ends a lookup task early: the
                    // domain cannot be judged.
                    Err(_) => {
                        return MxEvidence::inconclusive(format!(
                            "internal error while looking up the MX hosts of {}",
                            display_name(domain)
                        ));
                    }
                }
            }
            classify::with_exchanges(null_mx, hosts, ttl)
        }
    }
}
