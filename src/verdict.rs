//! Verdict: where mail for a domain really goes, decided the way a sending
//! MTA decides (RFC 5321 5.1): sort the MX hosts by preference and deliver to
//! the most preferred set that has addresses. A pure function of the DNS
//! evidence and this server's identity.

use serde::Serialize;

use crate::identity::ServerIdentity;
use crate::resolve::{DnsStatus, HostLookup, MxEvidence, MxHost};

/// The contract's `verdict`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    /// This server is in the most preferred MX set that resolves, alone.
    Here,
    /// The most preferred resolving set is other hosts only; this server is
    /// not an MX at all.
    Elsewhere,
    /// This server is an MX, but only at a worse preference.
    Backup,
    /// This server shares the best preference with foreign hosts.
    Mixed,
    /// The domain publishes a null MX.
    NullMx,
    /// The domain does not exist.
    Nxdomain,
    /// No MX host (explicit or implicit) has an address.
    NoMailHost,
    /// DNS did not answer conclusively.
    Inconclusive,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Here => "here",
            Verdict::Elsewhere => "elsewhere",
            Verdict::Backup => "backup",
            Verdict::Mixed => "mixed",
            Verdict::NullMx => "null-mx",
            Verdict::Nxdomain => "nxdomain",
            Verdict::NoMailHost => "no-mail-host",
            Verdict::Inconclusive => "inconclusive",
        }
    }

    pub const ALL: [Verdict; 8] = [
        Verdict::Here,
        Verdict::Elsewhere,
        Verdict::Backup,
        Verdict::Mixed,
        Verdict::NullMx,
        Verdict::Nxdomain,
        Verdict::NoMailHost,
        Verdict::Inconclusive,
    ];
}

/// True when `host` delivers to this server: one of its addresses is ours,
/// or it is a configured filtering gateway in front of us.
pub fn is_this_server(host: &MxHost, identity: &ServerIdentity) -> bool {
    identity.is_trusted_mx(&host.host)
        || host.addresses.iter().any(|ip| identity.is_our_address(*ip))
}

/// Decide where mail for the domain goes.
pub fn verdict(evidence: &MxEvidence, identity: &ServerIdentity) -> Verdict {
    match evidence.status {
        DnsStatus::Inconclusive => return Verdict::Inconclusive,
        DnsStatus::Nxdomain => return Verdict::Nxdomain,
        // Any null MX makes Postfix refuse the domain, even beside other MX.
        DnsStatus::NullMx => return Verdict::NullMx,
        DnsStatus::Ok | DnsStatus::Nodata => {}
    }

    let mut hosts: Vec<&MxHost> = evidence.mx.iter().collect();
    hosts.sort_by_key(|h| h.preference);

    // Walk preference levels from the best. A level whose hosts all lack
    // addresses is skipped by senders; a level we cannot judge stops us.
    for level in hosts.chunk_by(|a, b| a.preference == b.preference) {
        let resolving: Vec<&MxHost> = level
            .iter()
            .copied()
            .filter(|h| !h.addresses.is_empty() || identity.is_trusted_mx(&h.host))
            .collect();
        let uncertain = level.iter().any(|h| h.lookup == HostLookup::Inconclusive);
        if resolving.is_empty() {
            if uncertain {
                return Verdict::Inconclusive;
            }
            continue;
        }
        let ours = resolving
            .iter()
            .filter(|h| is_this_server(h, identity))
            .count();
        if uncertain && ours < resolving.len() {
            // A host of this level might still be us (or the only foreign
            // one): never call it elsewhere or mixed on partial answers.
            return Verdict::Inconclusive;
        }
        let verdict = if ours == resolving.len() {
            Verdict::Here
        } else if ours > 0 {
            Verdict::Mixed
        } else {
            let pref = level[0].preference;
            let backup = hosts
                .iter()
                .any(|h| h.preference > pref && is_this_server(h, identity));
            if backup {
                Verdict::Backup
            } else {
                Verdict::Elsewhere
            }
        };
        return verdict;
    }
    Verdict::NoMailHost
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::IpAddr;

    const US: &str = "203.0.113.10";
    const THEM: &str = "198.51.100.7";

    fn identity() -> ServerIdentity {
        let mut id = ServerIdentity::default();
        id.add_address(US.parse().unwrap());
        id.add_address("2001:db8::10".parse().unwrap());
        id
    }

    fn host(pref: u16, name: &str, addrs: &[&str]) -> MxHost {
        MxHost {
            preference: pref,
            host: name.to_string(),
            addresses: addrs.iter().map(|a| a.parse::<IpAddr>().unwrap()).collect(),
            lookup: if addrs.is_empty() {
                HostLookup::NoAddress
            } else {
                HostLookup::Complete
            },
            cname: None,
            ip_literal: false,
            ttl: Some(300),
            problem: None,
        }
    }

    fn ok(mx: Vec<MxHost>) -> MxEvidence {
        MxEvidence {
            status: DnsStatus::Ok,
            implicit_mx: false,
            mx,
            ttl: Some(300),
            dangling_cname: None,
            problem: None,
        }
    }

    fn status(s: DnsStatus) -> MxEvidence {
        MxEvidence {
            status: s,
            ..ok(vec![])
        }
    }

    #[test]
    fn single_mx_here_and_elsewhere() {
        assert_eq!(
            verdict(&ok(vec![host(10, "mx.us", &[US])]), &identity()),
            Verdict::Here
        );
        assert_eq!(
            verdict(&ok(vec![host(10, "mx.them", &[THEM])]), &identity()),
            Verdict::Elsewhere
        );
    }

    #[test]
    fn ipv6_only_mx_host() {
        assert_eq!(
            verdict(
                &ok(vec![host(10, "mx6.us", &["2001:db8::10"])]),
                &identity()
            ),
            Verdict::Here
        );
        assert_eq!(
            verdict(
                &ok(vec![host(10, "mx6.them", &["2001:db8::99"])]),
                &identity()
            ),
            Verdict::Elsewhere
        );
    }

    #[test]
    fn ipv4_mapped_address_is_ours() {
        assert_eq!(
            verdict(
                &ok(vec![host(10, "mx.us", &["::ffff:203.0.113.10"])]),
                &identity()
            ),
            Verdict::Here
        );
    }

    #[test]
    fn equal_preferences() {
        let all_ours = ok(vec![
            host(10, "a.us", &[US]),
            host(10, "b.us", &["2001:db8::10"]),
        ]);
        assert_eq!(verdict(&all_ours, &identity()), Verdict::Here);
        let split = ok(vec![host(10, "a.us", &[US]), host(10, "b.them", &[THEM])]);
        assert_eq!(verdict(&split, &identity()), Verdict::Mixed);
    }

    #[test]
    fn backup_mx() {
        let e = ok(vec![host(20, "mx.us", &[US]), host(10, "mx.them", &[THEM])]);
        assert_eq!(verdict(&e, &identity()), Verdict::Backup);
    }

    #[test]
    fn best_set_without_addresses_is_skipped() {
        let e = ok(vec![host(10, "dead.them", &[]), host(20, "mx.us", &[US])]);
        assert_eq!(verdict(&e, &identity()), Verdict::Here);
    }

    #[test]
    fn unresolvable_mx_hosts() {
        let e = ok(vec![
            host(10, "dead1.them", &[]),
            host(20, "dead2.them", &[]),
        ]);
        assert_eq!(verdict(&e, &identity()), Verdict::NoMailHost);
    }

    #[test]
    fn implicit_mx() {
        let mut e = ok(vec![host(0, "example.test", &[US])]);
        e.implicit_mx = true;
        e.status = DnsStatus::Nodata;
        assert_eq!(verdict(&e, &identity()), Verdict::Here);
        let mut none = ok(vec![]);
        none.status = DnsStatus::Nodata;
        assert_eq!(verdict(&none, &identity()), Verdict::NoMailHost);
    }

    #[test]
    fn null_mx_mixed_with_other_mx() {
        let mut e = ok(vec![host(10, "mx.us", &[US])]);
        e.status = DnsStatus::NullMx;
        assert_eq!(verdict(&e, &identity()), Verdict::NullMx);
    }

    #[test]
    fn cname_mx_target_counts_by_its_addresses() {
        let mut h = host(10, "alias.us", &[US]);
        h.cname = Some("real.us".to_string());
        assert_eq!(verdict(&ok(vec![h]), &identity()), Verdict::Here);
    }

    #[test]
    fn status_verdicts() {
        assert_eq!(
            verdict(&status(DnsStatus::Nxdomain), &identity()),
            Verdict::Nxdomain
        );
        assert_eq!(
            verdict(&status(DnsStatus::Inconclusive), &identity()),
            Verdict::Inconclusive
        );
    }

    #[test]
    fn inconclusive_host_lookup_never_becomes_elsewhere() {
        let mut h = host(10, "mx.them", &[THEM]);
        h.lookup = HostLookup::Inconclusive;
        assert_eq!(verdict(&ok(vec![h]), &identity()), Verdict::Inconclusive);
        let mut dead = host(10, "mx.unknown", &[]);
        dead.lookup = HostLookup::Inconclusive;
        let e = ok(vec![dead, host(20, "mx.them", &[THEM])]);
        assert_eq!(verdict(&e, &identity()), Verdict::Inconclusive);
    }

    #[test]
    fn trusted_gateway_counts_as_us() {
        let mut id = identity();
        id.trusted_mx
            .push(crate::identity::MxPattern::new("*.filter.test"));
        let e = ok(vec![host(10, "in1.filter.test", &[THEM])]);
        assert_eq!(verdict(&e, &id), Verdict::Here);
    }
}
