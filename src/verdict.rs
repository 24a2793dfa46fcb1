//! Verdict: where mail for a domain really goes, decided the way a sending
//! MTA decides (RFC 5321 5.1): sort the MX hosts by preference and deliver to
//! the most preferred set that has addresses. A pure function of the domain
//! name, the DNS evidence and this server's identity.
//!
//! Two things a newcomer would get wrong: an MX host on a loopback,
//! unspecified or link-local address is not "another server" (a sender
//! connects to itself, or its MTA skips the host), so it can never make a
//! verdict of "elsewhere"; and a host of the deciding preference whose
//! address lookup failed might be this server or a foreign one, so the
//! verdict is inconclusive, never "here" on the other hosts alone.
//!
//! Which host is "this server" is the identity's grading (see `identity`):
//! a name of this server counts whatever its addresses, and a host whose
//! only link to this server is a contradicted DNS address makes the level
//! it decides inconclusive.

use serde::{Deserialize, Serialize};

use crate::identity::{ServerIdentity, is_loopback_like};
use crate::inventory::DomainName;
use crate::resolve::{DnsStatus, HostLookup, MxEvidence, MxHost};

/// The contract's `verdict`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
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

/// Whether an MX host is this server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HostIdentity {
    /// Its name is a name of this server or a configured filtering
    /// gateway, or one of its addresses counts as this server.
    Ours,
    /// Its only link to this server is an address this server's names have
    /// in DNS that the stated addresses contradict: it may be this server
    /// or another one.
    Unsure,
    Foreign,
}

/// Whether `host` delivers to this server. A name of this server is this
/// server whatever its addresses (behind NAT they are none of the
/// interfaces'), and so is a configured filtering gateway.
pub fn recognize(host: &MxHost, identity: &ServerIdentity) -> HostIdentity {
    if identity.is_trusted_mx(&host.host)
        || identity.is_our_name(&host.host)
        || host.addresses.iter().any(|ip| identity.is_our_address(*ip))
    {
        HostIdentity::Ours
    } else if host
        .addresses
        .iter()
        .any(|ip| identity.is_contradicted_address(*ip))
    {
        HostIdentity::Unsure
    } else {
        HostIdentity::Foreign
    }
}

/// True when `host` delivers to this server (see [`recognize`]).
pub fn is_this_server(host: &MxHost, identity: &ServerIdentity) -> bool {
    recognize(host, identity) == HostIdentity::Ours
}

/// A host whose lookup was partial, but whose name is this server's or a
/// configured gateway's: which addresses it has changes nothing.
fn known_by_name(host: &MxHost, identity: &ServerIdentity) -> bool {
    identity.is_trusted_mx(&host.host)
        || (identity.is_our_name(&host.host) && !host.addresses.is_empty())
}

/// True when an MX host has an address no other machine can be reached at.
pub fn has_loopback_address(host: &MxHost) -> bool {
    host.addresses.iter().any(|ip| is_loopback_like(*ip))
}

/// Decide where mail for `domain` goes. The machine's own localhost names
/// are this machine, whatever DNS would say (it is not asked for them).
pub fn decide(domain: &DomainName, evidence: &MxEvidence, identity: &ServerIdentity) -> Verdict {
    if domain.is_localhost() {
        return Verdict::Here;
    }
    verdict(evidence, identity)
}

/// Decide where mail for the domain goes, from its evidence.
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
        // A configured gateway is us by its name, whatever its lookup; so is
        // a name of this server once it resolves at all.
        let uncertain = level
            .iter()
            .any(|h| h.lookup == HostLookup::Inconclusive && !known_by_name(h, identity));
        if resolving.is_empty() {
            if uncertain {
                return Verdict::Inconclusive;
            }
            continue;
        }
        // A host of this level might be us or a foreign one (partial
        // answers), or is nobody reachable (a loopback address): this level
        // decides, and it cannot be judged.
        if uncertain
            || resolving
                .iter()
                .any(|h| !identity.is_trusted_mx(&h.host) && has_loopback_address(h))
        {
            return Verdict::Inconclusive;
        }
        let seen: Vec<HostIdentity> = resolving.iter().map(|h| recognize(h, identity)).collect();
        if seen.contains(&HostIdentity::Unsure) {
            return Verdict::Inconclusive;
        }
        let ours = seen.iter().filter(|s| **s == HostIdentity::Ours).count();
        let verdict = if ours == resolving.len() {
            Verdict::Here
        } else if ours > 0 {
            Verdict::Mixed
        } else {
            let pref = level[0].preference;
            let worse: Vec<HostIdentity> = hosts
                .iter()
                .filter(|h| h.preference > pref)
                .map(|h| recognize(h, identity))
                .collect();
            // A worse host whose addresses are unknown (a failed lookup, or
            // past the MX host limit) may be this server as a backup MX.
            let maybe_ours = hosts.iter().any(|h| {
                h.preference > pref
                    && h.lookup == HostLookup::Inconclusive
                    && recognize(h, identity) != HostIdentity::Ours
            });
            if worse.contains(&HostIdentity::Ours) {
                Verdict::Backup
            } else if maybe_ours || worse.contains(&HostIdentity::Unsure) {
                // Backup or elsewhere: the remedies differ.
                Verdict::Inconclusive
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
    use crate::test_support::{host, ok};

    const US: &str = "203.0.113.10";
    const THEM: &str = "198.51.100.7";

    fn identity() -> ServerIdentity {
        let mut id = ServerIdentity::default();
        id.add_address(US.parse().unwrap());
        id.add_address("2001:db8::10".parse().unwrap());
        id
    }

    fn status(s: DnsStatus) -> MxEvidence {
        crate::test_support::evidence(s, vec![])
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
    fn a_worse_host_of_unknown_address_may_be_this_server_as_backup() {
        // Its lookup failed, or it is past the MX host limit: the domain
        // may be backup-MX'd here, so "elsewhere" would be a guess.
        let mut unknown = host(20, "mx.maybe-us", &[]);
        unknown.lookup = HostLookup::Inconclusive;
        let e = ok(vec![host(10, "mx.them", &[THEM]), unknown.clone()]);
        assert_eq!(verdict(&e, &identity()), Verdict::Inconclusive);
        // Known to be foreign, or at a better level than ours: decided.
        let e = ok(vec![
            host(10, "mx.them", &[THEM]),
            host(20, "mx2.them", &[THEM]),
        ]);
        assert_eq!(verdict(&e, &identity()), Verdict::Elsewhere);
        let e = ok(vec![host(10, "mx.us", &[US]), unknown]);
        assert_eq!(verdict(&e, &identity()), Verdict::Here);
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
    fn inconclusive_host_beside_ours_is_not_here() {
        let mut unknown = host(10, "mx2.unknown", &[]);
        unknown.lookup = HostLookup::Inconclusive;
        let e = ok(vec![host(10, "mx.us", &[US]), unknown]);
        assert_eq!(verdict(&e, &identity()), Verdict::Inconclusive);
        let mut partial = host(10, "mx.us", &[US]);
        partial.lookup = HostLookup::Inconclusive;
        assert_eq!(
            verdict(&ok(vec![partial]), &identity()),
            Verdict::Inconclusive
        );
        // Only at a worse preference, it does not matter.
        let mut worse = host(20, "mx2.unknown", &[]);
        worse.lookup = HostLookup::Inconclusive;
        let e = ok(vec![host(10, "mx.us", &[US]), worse]);
        assert_eq!(verdict(&e, &identity()), Verdict::Here);
    }

    #[test]
    fn loopback_mx_hosts_are_never_elsewhere() {
        for addr in [
            "127.0.0.1",
            "127.1.2.3",
            "0.0.0.0",
            "::",
            "::1",
            "169.254.10.1",
            "fe80::1",
            "::ffff:127.0.0.1",
        ] {
            let e = ok(vec![host(10, "mx.loop", &[addr])]);
            assert_eq!(verdict(&e, &identity()), Verdict::Inconclusive, "{addr}");
            let mixed = ok(vec![
                host(10, "mx.loop", &[addr]),
                host(10, "mx.them", &[THEM]),
            ]);
            assert_eq!(
                verdict(&mixed, &identity()),
                Verdict::Inconclusive,
                "{addr}"
            );
        }
        // Behind a real best MX it does not decide anything.
        let e = ok(vec![
            host(10, "mx.them", &[THEM]),
            host(20, "mx.loop", &["127.0.0.1"]),
        ]);
        assert_eq!(verdict(&e, &identity()), Verdict::Elsewhere);
        assert!(!is_loopback_like("192.0.2.1".parse().unwrap()));
        assert!(!is_loopback_like("2001:db8::1".parse().unwrap()));
    }

    #[test]
    fn localhost_names_are_here_whatever_the_evidence() {
        let elsewhere = ok(vec![host(10, "mx.them", &[THEM])]);
        for name in [
            "localhost",
            "localhost.localdomain",
            "mail.localhost",
            "localhost.hoster.test",
        ] {
            let domain = DomainName::parse(name).unwrap();
            assert_eq!(
                decide(&domain, &elsewhere, &identity()),
                Verdict::Here,
                "{name}"
            );
            assert_eq!(
                decide(&domain, &status(DnsStatus::Inconclusive), &identity()),
                Verdict::Here
            );
        }
        let other = DomainName::parse("moved.test").unwrap();
        assert_eq!(decide(&other, &elsewhere, &identity()), Verdict::Elsewhere);
    }

    fn named(name: &str) -> ServerIdentity {
        let mut id = ServerIdentity::default();
        id.add_name(name);
        id
    }

    #[test]
    fn a_name_of_this_server_is_here_whatever_its_addresses() {
        // Behind NAT: no address of ours is known at all.
        let id = named("Mail.Hoster.test.");
        let e = ok(vec![host(10, "mail.hoster.test", &["198.51.100.99"])]);
        assert_eq!(verdict(&e, &id), Verdict::Here);
        assert!(is_this_server(&e.mx[0], &id));
        // Beside a foreign host of the same preference: split delivery.
        let e = ok(vec![
            host(10, "mail.hoster.test", &["10.0.0.5"]),
            host(10, "mx.them", &[THEM]),
        ]);
        assert_eq!(verdict(&e, &id), Verdict::Mixed);
        // Only at a worse preference: a backup MX.
        let e = ok(vec![
            host(10, "mx.them", &[THEM]),
            host(20, "mail.hoster.test", &["203.0.113.99"]),
        ]);
        assert_eq!(verdict(&e, &id), Verdict::Backup);
        // Another name is not ours by its name.
        let e = ok(vec![host(10, "mail2.hoster.test", &["203.0.113.99"])]);
        assert_eq!(verdict(&e, &id), Verdict::Elsewhere);
    }

    #[test]
    fn a_name_of_this_server_without_address_is_skipped_like_any_dead_host() {
        let id = named("mail.hoster.test");
        let e = ok(vec![
            host(10, "mail.hoster.test", &[]),
            host(20, "mx.them", &[THEM]),
        ]);
        assert_eq!(verdict(&e, &id), Verdict::Elsewhere);
        // Its lookup failed: whether senders can reach it is unknown.
        let mut unknown = host(10, "mail.hoster.test", &[]);
        unknown.lookup = HostLookup::Inconclusive;
        let e = ok(vec![unknown, host(20, "mx.them", &[THEM])]);
        assert_eq!(verdict(&e, &id), Verdict::Inconclusive);
        // A partial answer is enough: it resolves, and it is ours by name.
        let mut partial = host(10, "mail.hoster.test", &["203.0.113.99"]);
        partial.lookup = HostLookup::Inconclusive;
        assert_eq!(verdict(&ok(vec![partial]), &id), Verdict::Here);
    }

    #[test]
    fn a_name_of_this_server_on_a_loopback_address_is_not_judged() {
        let id = named("mail.hoster.test");
        let e = ok(vec![host(10, "mail.hoster.test", &["127.0.0.1"])]);
        assert_eq!(verdict(&e, &id), Verdict::Inconclusive);
    }

    #[test]
    fn own_names_as_domains_are_here_through_their_implicit_mx() {
        let id = named("da1.hoster.test");
        let mut e = ok(vec![host(0, "da1.hoster.test", &["203.0.113.99"])]);
        e.implicit_mx = true;
        e.status = DnsStatus::Nodata;
        let domain = DomainName::parse("da1.hoster.test").unwrap();
        assert_eq!(decide(&domain, &e, &id), Verdict::Here);
    }

    fn answer(name: &str, addrs: &[&str], trusted: bool) -> crate::resolve::ServerNameAnswer {
        crate::resolve::ServerNameAnswer {
            name: name.to_string(),
            family: crate::resolve::AddressFamily::V4,
            resolver: "the zone files".to_string(),
            trusted,
            found: crate::resolve::NameAddresses::Found(
                addrs.iter().map(|a| a.parse().unwrap()).collect(),
            ),
        }
    }

    #[test]
    fn an_address_learned_from_our_name_in_dns_is_here() {
        let mut id = named("web10.hoster.test");
        // Behind NAT: the interface holds only a private address.
        id.add_stated_address(
            crate::identity::Origin::Interface,
            "10.0.0.12".parse().unwrap(),
        );
        let notes = id.learn_from_dns(&[answer("web10.hoster.test", &[US], true)]);
        assert!(notes.is_empty(), "{notes:?}");
        let e = ok(vec![host(10, "mx.customer.test", &[US])]);
        assert_eq!(verdict(&e, &id), Verdict::Here);
        assert_eq!(
            verdict(&ok(vec![host(10, "mx.them", &[THEM])]), &id),
            Verdict::Elsewhere
        );
    }

    #[test]
    fn an_untrustworthy_answer_teaches_nothing() {
        let mut id = named("web10.hoster.test");
        id.learn_from_dns(&[answer("web10.hoster.test", &[US], false)]);
        let e = ok(vec![host(10, "mx.customer.test", &[US])]);
        assert_eq!(verdict(&e, &id), Verdict::Elsewhere);
    }

    #[test]
    fn a_contradicted_dns_address_is_neither_here_nor_elsewhere() {
        let mut id = named("web10.hoster.test");
        id.add_stated_address(crate::identity::Origin::Admin, US.parse().unwrap());
        let notes = id.learn_from_dns(&[answer("web10.hoster.test", &["198.51.100.50"], true)]);
        assert_eq!(notes.len(), 1);
        assert!(
            notes[0].contains("pass --server-ip 198.51.100.50"),
            "{notes:?}"
        );
        let stale = host(10, "mx.customer.test", &["198.51.100.50"]);
        assert_eq!(recognize(&stale, &id), HostIdentity::Unsure);
        assert_eq!(
            verdict(&ok(vec![stale.clone()]), &id),
            Verdict::Inconclusive
        );
        // At a worse preference: backup or elsewhere cannot be told apart.
        let e = ok(vec![host(10, "mx.them", &[THEM]), {
            let mut h = stale.clone();
            h.preference = 20;
            h
        }]);
        assert_eq!(verdict(&e, &id), Verdict::Inconclusive);
        // A stated address of ours at the worse preference still decides.
        let e = ok(vec![
            host(10, "mx.them", &[THEM]),
            host(20, "mx.us", &[US]),
            host(30, "mx.customer.test", &["198.51.100.50"]),
        ]);
        assert_eq!(verdict(&e, &id), Verdict::Backup);
        // Our own name is ours whatever DNS says about it.
        let e = ok(vec![host(10, "web10.hoster.test", &["198.51.100.50"])]);
        assert_eq!(verdict(&e, &id), Verdict::Here);
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
