//! The confirmation of changes: before `fix` plans a change, the domains it
//! would change are resolved again over TCP only.
//!
//! The audit may rest on UDP: its answers come over a small pool of
//! long-lived sockets (see `udp_pool`), and an off-path attacker who wins
//! the race of a forged datagram misleads one report. A change is another
//! matter: one forged "the MX is elsewhere" would switch a healthy domain's
//! mail off. An off-path attacker cannot inject into a TCP connection (it
//! would have to guess the connection's sequence numbers as well as the
//! query id), so every change rests on a TCP answer.
//!
//! What a newcomer would get wrong:
//! - Nothing of the audit's resolution is reused: not its answers (a forged
//!   MX host address would otherwise survive), not the fast path, not its
//!   verdict on the resolvers. The sanity probes are asked again, over TCP.
//! - The same resolution code runs as in the audit (`gather` with a
//!   [`LiveResolver`] in [`Transport::TcpOnly`] mode): the same answer
//!   validation (`validate`), CNAME chasing and classification, so the
//!   caller can judge the result with the same verdict and rules. There is
//!   no second copy of any of it here.
//! - Offline evidence (`--zone-file`) is read from files; it needs no
//!   confirmation and never comes here.
//!
//! The hook for `--dns authoritative` (issue 12, not built yet): that mode
//! will ask each delegated server of a domain; its confirmation asks each of
//! them again over TCP, as one more [`Transport::TcpOnly`] resolver per
//! server, before the verdict is compared.

use super::gather::{Backend, gather_with};
use super::live::{LiveResolver, Transport};
use super::{ResolveError, ResolveOptions, ResolveReport};
use crate::inventory::DomainName;

/// Resolve `domains` (MX, and the addresses of their MX hosts) over TCP
/// only, with the resolvers of `opts` and nothing shared with an earlier
/// resolution. `server_names` are this server's names, asked again among
/// the names that must exist.
pub async fn gather_over_tcp(
    domains: &[DomainName],
    server_names: &[String],
    opts: &ResolveOptions,
) -> Result<ResolveReport, ResolveError> {
    let opts = ResolveOptions {
        progress: None,
        ..opts.clone()
    };
    let backend = Backend::Live(LiveResolver::with_transport(&opts, Transport::TcpOnly)?);
    gather_with(backend, domains, server_names, &opts).await
}
