//! Identity: who "this server" is. Its interface addresses, the public
//! addresses the configuration adds (NAT, proxies), its names, the
//! addresses its names have in DNS, and the filtering gateways in front of
//! it that count as "us".
//!
//! What a newcomer would get wrong: behind NAT (most cloud servers) no
//! interface holds the address the world connects to, so comparing MX
//! addresses with the interfaces calls every domain "elsewhere". The
//! evidence therefore has grades:
//! - a name of this server (`myhostname`, the panel's host name, qmail's
//!   `me`, `--server-name`, `mxdrift.yaml`) is this server whatever its
//!   addresses;
//! - a stated address (the interfaces, `proxy_interfaces`, cPanel's
//!   `cpnat`, `--server-ip`, `mxdrift.yaml`) is this server;
//! - an address this server's own names have in DNS is weaker: it counts
//!   only when it came from a resolver that passed the sanity check, is
//!   reachable from outside, and is not contradicted. It is contradicted
//!   when the server states public addresses of the same family and it is
//!   not one of them; an MX host there is then neither ours nor foreign,
//!   and the verdict is inconclusive.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use crate::resolve::{AddressFamily, NameAddresses, ServerNameAnswer};

/// A `--trusted-mx` pattern: an exact host name, or `*.suffix` for any name
/// strictly below `suffix`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MxPattern {
    pattern: String,
}

impl MxPattern {
    pub fn new(pattern: &str) -> Self {
        MxPattern {
            pattern: pattern.trim().trim_end_matches('.').to_ascii_lowercase(),
        }
    }

    pub fn as_str(&self) -> &str {
        &self.pattern
    }

    /// Shell-style match: `*` matches any run of characters (including dots),
    /// `?` one character; case-insensitive.
    pub fn matches(&self, host: &str) -> bool {
        let host = host.trim_end_matches('.').to_ascii_lowercase();
        glob_match(&self.pattern, &host)
    }
}

/// Shell-style glob match (`*`, `?`), case-sensitive; callers lower-case.
pub fn glob_match(pattern: &str, text: &str) -> bool {
    glob_match_bytes(pattern.as_bytes(), text.as_bytes())
}

fn glob_match_bytes(pattern: &[u8], text: &[u8]) -> bool {
    // Iterative matcher with one backtrack point: linear in practice, no
    // recursion on hostile input.
    let (mut p, mut t) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        if p < pattern.len() && (pattern[p] == b'?' || pattern[p] == text[t]) {
            p += 1;
            t += 1;
        } else if p < pattern.len() && pattern[p] == b'*' {
            star = Some((p, t));
            p += 1;
        } else if let Some((sp, st)) = star {
            p = sp + 1;
            t = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    pattern[p..].iter().all(|&c| c == b'*')
}

/// Map IPv4-mapped IPv6 (`::ffff:a.b.c.d`) to IPv4 so that addresses compare
/// exactly whichever family reported them.
pub fn normalize_ip(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(v6),
        },
        v4 => v4,
    }
}

/// Who stated an address of this server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Origin {
    /// This machine's network interfaces (only with `--root /`).
    Interface,
    /// The configuration read: Postfix `proxy_interfaces`, cPanel's
    /// `var/cpanel/cpnat`, `myhostname`, a panel's host name, qmail's `me`.
    Configuration,
    /// The admin: `--server-ip`, `--server-name`, `server:` in `mxdrift.yaml`.
    Admin,
}

/// Whether the MX data of the local domains confirms who this server is
/// (decided by the audit, after the verdicts).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Confirmation {
    /// Not decided (no audit ran).
    #[default]
    NotJudged,
    /// An MX host of a local domain is this server.
    Confirmed,
    /// Nothing confirms it, but no local domain looks elsewhere either:
    /// no verdict depends on it.
    NothingAtStake,
    /// No name or address of this server is in any local domain's MX data,
    /// and `elsewhere` local domains look elsewhere: the typical mistake
    /// behind NAT (`identity-unconfirmed`).
    Unconfirmed { elsewhere: usize },
}

/// This server, as far as the verdict is concerned.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ServerIdentity {
    /// Every address that counts as this server: the stated ones and the
    /// addresses of its names in DNS that count (see the module).
    pub addresses: BTreeSet<IpAddr>,
    /// Lower-case names without trailing dot (`myhostname`, `--server-name`).
    pub names: BTreeSet<String>,
    pub trusted_mx: Vec<MxPattern>,
    /// Who stated each address and name (for the evidence of
    /// `identity-unconfirmed`); addresses learned from DNS are not here.
    pub stated_addresses: BTreeMap<IpAddr, BTreeSet<Origin>>,
    pub stated_names: BTreeMap<String, BTreeSet<Origin>>,
    /// The interfaces were read (the configuration is this machine's own).
    pub interfaces_read: bool,
    /// Addresses learned from the DNS answers for this server's names, with
    /// the names that have them: counted as this server.
    pub learned: BTreeMap<IpAddr, BTreeSet<String>>,
    /// Addresses this server's names have in DNS that the stated addresses
    /// contradict, with the names: an MX host there may be this server or
    /// another one.
    pub contradicted: BTreeMap<IpAddr, BTreeSet<String>>,
    /// What the resolvers answered for each name, one line per name and
    /// address type.
    pub dns_evidence: Vec<String>,
    pub confirmation: Confirmation,
}

impl ServerIdentity {
    pub fn add_address(&mut self, ip: IpAddr) {
        self.addresses.insert(normalize_ip(ip));
    }

    pub fn add_name(&mut self, name: &str) {
        let name = clean_name(name);
        if !name.is_empty() {
            self.names.insert(name);
        }
    }

    /// An address of this server, and who stated it.
    pub fn add_stated_address(&mut self, origin: Origin, ip: IpAddr) {
        let ip = normalize_ip(ip);
        self.addresses.insert(ip);
        self.stated_addresses.entry(ip).or_default().insert(origin);
    }

    /// A name of this server, and who stated it.
    pub fn add_stated_name(&mut self, origin: Origin, name: &str) {
        let name = clean_name(name);
        if !name.is_empty() {
            self.names.insert(name.clone());
            self.stated_names.entry(name).or_default().insert(origin);
        }
    }

    /// The admin named this server (`--server-ip`, `--server-name`, or
    /// `server:` in `mxdrift.yaml`): what `fix` needs when nothing else
    /// confirms the identity.
    pub fn named_by_admin(&self) -> bool {
        self.stated_addresses
            .values()
            .chain(self.stated_names.values())
            .any(|origins| origins.contains(&Origin::Admin))
    }

    pub fn is_our_address(&self, ip: IpAddr) -> bool {
        self.addresses.contains(&normalize_ip(ip))
    }

    /// An address this server's names have in DNS that the stated
    /// addresses contradict.
    pub fn is_contradicted_address(&self, ip: IpAddr) -> bool {
        self.contradicted.contains_key(&normalize_ip(ip))
    }

    /// Learn from the answers for this server's names (see the module for
    /// which addresses count). Returns one note per contradicted address.
    pub fn learn_from_dns(&mut self, answers: &[ServerNameAnswer]) -> Vec<String> {
        // Decided against the stated addresses only, not against what
        // this loop learns.
        let stated_public: BTreeSet<AddressFamily> = self
            .stated_addresses
            .keys()
            .filter(|ip| is_public(**ip))
            .map(|ip| AddressFamily::of(*ip))
            .collect();
        let mut lines: BTreeMap<(String, AddressFamily), Vec<String>> = BTreeMap::new();
        for answer in answers {
            let said = match &answer.found {
                NameAddresses::Found(addresses) => addresses
                    .iter()
                    .map(|ip| ip.to_string())
                    .collect::<Vec<_>>()
                    .join(" "),
                NameAddresses::None { nxdomain: true } => "NXDOMAIN".to_string(),
                NameAddresses::None { nxdomain: false } => "no records".to_string(),
                NameAddresses::Failed(problem) => format!("no answer ({problem})"),
            };
            let distrust = if answer.trusted {
                ""
            } else {
                ", untrustworthy: not used"
            };
            lines
                .entry((answer.name.clone(), answer.family))
                .or_default()
                .push(format!("{said} from {}{distrust}", answer.resolver));
            let NameAddresses::Found(addresses) = &answer.found else {
                continue;
            };
            if !answer.trusted {
                continue;
            }
            for ip in addresses.iter().map(|ip| normalize_ip(*ip)) {
                if !reachable_from_outside(ip) || self.stated_addresses.contains_key(&ip) {
                    continue;
                }
                let target = if stated_public.contains(&AddressFamily::of(ip)) {
                    &mut self.contradicted
                } else {
                    &mut self.learned
                };
                target.entry(ip).or_default().insert(answer.name.clone());
            }
        }
        self.dns_evidence = lines
            .into_iter()
            .map(|((name, family), said)| {
                format!("{name} {}: {}", family.record_type(), said.join("; "))
            })
            .collect();
        for ip in self.learned.keys() {
            self.addresses.insert(*ip);
        }
        self.contradicted
            .iter()
            .map(|(ip, names)| {
                let stated: Vec<String> = self
                    .stated_addresses
                    .keys()
                    .filter(|s| is_public(**s) && AddressFamily::of(**s) == AddressFamily::of(*ip))
                    .map(|s| s.to_string())
                    .collect();
                format!(
                    "{} (a name of this server) resolves to {ip}, which is not one of the \
                     public addresses this server states ({}): MX hosts at {ip} count as \
                     inconclusive; if {ip} is this server (NAT), pass --server-ip {ip}",
                    names.iter().cloned().collect::<Vec<_>>().join(", "),
                    stated.join(", ")
                )
            })
            .collect()
    }

    /// The host is a configured filtering gateway that delivers to us.
    pub fn is_trusted_mx(&self, host: &str) -> bool {
        self.trusted_mx.iter().any(|p| p.matches(host))
    }

    pub fn is_our_name(&self, host: &str) -> bool {
        self.names
            .contains(&host.trim_end_matches('.').to_ascii_lowercase())
    }

    /// Add the addresses of this machine's network interfaces, skipping
    /// loopback and link-local ones: no public MX points at those.
    pub fn add_interface_addresses(&mut self) -> std::io::Result<()> {
        for iface in if_addrs::get_if_addrs()? {
            let ip = iface.ip();
            if ip.is_loopback() || is_link_local(ip) {
                continue;
            }
            self.add_stated_address(Origin::Interface, ip);
        }
        self.interfaces_read = true;
        Ok(())
    }

    /// The addresses one origin stated, as text.
    pub fn addresses_from(&self, origin: Origin) -> Vec<String> {
        self.stated_addresses
            .iter()
            .filter(|(_, origins)| origins.contains(&origin))
            .map(|(ip, _)| ip.to_string())
            .collect()
    }

    /// The names one origin stated.
    pub fn names_from(&self, origin: Origin) -> Vec<String> {
        self.stated_names
            .iter()
            .filter(|(_, origins)| origins.contains(&origin))
            .map(|(name, _)| name.clone())
            .collect()
    }
}

fn clean_name(name: &str) -> String {
    name.trim().trim_end_matches('.').to_ascii_lowercase()
}

/// An address no other machine can be reached at: loopback (`127.0.0.0/8`,
/// `::1`), unspecified or "this network" (`0.0.0.0/8`, `::`), link-local
/// (`169.254.0.0/16`, `fe80::/10`), also as IPv4-mapped IPv6. Mail to an MX
/// host there loops back in the sender or fails.
pub fn is_loopback_like(ip: IpAddr) -> bool {
    match normalize_ip(ip) {
        IpAddr::V4(v4) => v4.is_loopback() || v4.octets()[0] == 0 || v4.is_link_local(),
        IpAddr::V6(v6) => {
            v6.is_loopback() || v6.is_unspecified() || (v6.segments()[0] & 0xffc0) == 0xfe80
        }
    }
}

fn is_link_local(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.is_link_local(),
        IpAddr::V6(v6) => (v6.segments()[0] & 0xffc0) == 0xfe80,
    }
}

/// An address another machine can reach this one at: not loopback,
/// unspecified or link-local (a name of this server that resolves there
/// says nothing about where the world connects).
fn reachable_from_outside(ip: IpAddr) -> bool {
    !is_loopback_like(ip) && !is_link_local(ip)
}

/// An address the Internet routes to: not private (RFC 1918, RFC 4193),
/// shared (RFC 6598), loopback, link-local, unspecified, multicast or
/// reserved. The documentation ranges count as public (test fixtures use
/// them as this server's public address). Behind NAT the interfaces hold
/// only private addresses: those say nothing about the public identity.
pub fn is_public(ip: IpAddr) -> bool {
    if !reachable_from_outside(ip) {
        return false;
    }
    match normalize_ip(ip) {
        IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            let shared = a == 100 && (64..128).contains(&b);
            !(v4.is_private() || shared || v4.is_multicast() || v4.is_broadcast() || a >= 240)
        }
        IpAddr::V6(v6) => {
            let unique_local = (v6.segments()[0] & 0xfe00) == 0xfc00;
            !(unique_local || v6.is_multicast())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resolve::{AddressFamily, NameAddresses, ServerNameAnswer};

    #[test]
    fn glob_patterns() {
        let p = MxPattern::new("*.Filter.example.");
        assert!(p.matches("mx1.filter.example"));
        assert!(p.matches("a.b.filter.example."));
        assert!(!p.matches("filter.example"));
        assert!(!p.matches("evilfilter.example"));
        assert!(MxPattern::new("mx?.hoster.test").matches("mx1.hoster.test"));
        assert!(MxPattern::new("mx.hoster.test").matches("MX.hoster.test"));
        assert!(!MxPattern::new("mx.hoster.test").matches("mx.hoster.test.evil"));
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn answer(name: &str, family: AddressFamily, found: NameAddresses) -> ServerNameAnswer {
        ServerNameAnswer {
            name: name.to_string(),
            family,
            resolver: "127.0.0.53:53".to_string(),
            trusted: true,
            found,
        }
    }

    fn found(addrs: &[&str]) -> NameAddresses {
        NameAddresses::Found(addrs.iter().map(|a| ip(a)).collect())
    }

    #[test]
    fn public_addresses() {
        for public in [
            "203.0.113.10",
            "8.8.8.8",
            "2001:db8::10",
            "::ffff:198.51.100.7",
        ] {
            assert!(is_public(ip(public)), "{public}");
        }
        for private in [
            "10.0.0.12",
            "172.16.5.1",
            "192.168.1.1",
            "100.64.0.1",
            "127.0.0.1",
            "169.254.1.1",
            "0.0.0.0",
            "224.0.0.1",
            "255.255.255.255",
            "240.0.0.1",
            "fd00::12",
            "fe80::1",
            "::1",
            "::",
            "ff02::1",
            "::ffff:10.0.0.1",
        ] {
            assert!(!is_public(ip(private)), "{private}");
        }
    }

    #[test]
    fn dns_addresses_count_unless_a_stated_public_address_of_their_family_contradicts() {
        let mut id = ServerIdentity::default();
        id.add_stated_name(Origin::Configuration, "web10.hoster.test");
        // Public IPv6 on the interface, IPv4 behind NAT: the DNS IPv4 of
        // our name is the public one, nothing contradicts it.
        id.add_stated_address(Origin::Interface, ip("10.0.0.12"));
        id.add_stated_address(Origin::Interface, ip("2001:db8::10"));
        let notes = id.learn_from_dns(&[
            answer(
                "web10.hoster.test",
                AddressFamily::V4,
                found(&["203.0.113.10"]),
            ),
            answer(
                "web10.hoster.test",
                AddressFamily::V6,
                found(&["2001:db8::99", "2001:db8::10"]),
            ),
        ]);
        assert!(id.is_our_address(ip("203.0.113.10")));
        assert!(id.is_our_address(ip("2001:db8::10")));
        assert!(!id.is_our_address(ip("2001:db8::99")));
        assert!(id.is_contradicted_address(ip("2001:db8::99")));
        assert_eq!(notes.len(), 1, "{notes:?}");
        assert!(
            notes[0].starts_with(
                "web10.hoster.test (a name of this server) resolves to 2001:db8::99, which is not one of the public addresses this server states (2001:db8::10)"
            ),
            "{notes:?}"
        );
        // Learned addresses are not stated ones: they never contradict.
        assert!(!id.stated_addresses.contains_key(&ip("203.0.113.10")));
        assert_eq!(
            id.dns_evidence,
            [
                "web10.hoster.test A: 203.0.113.10 from 127.0.0.53:53",
                "web10.hoster.test AAAA: 2001:db8::99 2001:db8::10 from 127.0.0.53:53",
            ]
        );
    }

    #[test]
    fn loopback_answers_and_failures_teach_nothing_but_are_listed() {
        let mut id = ServerIdentity::default();
        let mut untrusted = answer(
            "web10.hoster.test",
            AddressFamily::V4,
            found(&["192.0.2.1"]),
        );
        untrusted.trusted = false;
        untrusted.resolver = "192.0.2.53:53".to_string();
        let notes = id.learn_from_dns(&[
            answer(
                "web10.hoster.test",
                AddressFamily::V4,
                found(&["127.0.1.1"]),
            ),
            untrusted,
            answer(
                "web10.hoster.test",
                AddressFamily::V6,
                NameAddresses::None { nxdomain: true },
            ),
            answer(
                "mail.hoster.test",
                AddressFamily::V4,
                NameAddresses::Failed("SERVFAIL".to_string()),
            ),
        ]);
        assert!(notes.is_empty());
        assert!(id.addresses.is_empty() && id.learned.is_empty());
        assert_eq!(
            id.dns_evidence,
            [
                "mail.hoster.test A: no answer (SERVFAIL) from 127.0.0.53:53",
                "web10.hoster.test A: 127.0.1.1 from 127.0.0.53:53; 192.0.2.1 from 192.0.2.53:53, untrustworthy: not used",
                "web10.hoster.test AAAA: NXDOMAIN from 127.0.0.53:53",
            ]
        );
    }

    #[test]
    fn only_the_admin_names_the_server() {
        let mut id = ServerIdentity::default();
        id.add_stated_name(Origin::Configuration, "web10.hoster.test");
        id.add_stated_address(Origin::Configuration, ip("203.0.113.10"));
        id.add_stated_address(Origin::Interface, ip("203.0.113.10"));
        assert!(!id.named_by_admin());
        id.add_stated_name(Origin::Admin, "WEB10.hoster.test.");
        assert!(id.named_by_admin());
        assert_eq!(id.names_from(Origin::Admin), ["web10.hoster.test"]);
        let mut by_ip = ServerIdentity::default();
        by_ip.add_stated_address(Origin::Admin, ip("::ffff:203.0.113.10"));
        assert!(by_ip.named_by_admin());
        assert_eq!(by_ip.addresses_from(Origin::Admin), ["203.0.113.10"]);
    }

    #[test]
    fn mapped_ipv6_compares_as_ipv4() {
        let mut id = ServerIdentity::default();
        id.add_address("::ffff:203.0.113.10".parse().unwrap());
        assert!(id.is_our_address("203.0.113.10".parse().unwrap()));
        assert!(id.is_our_address("::ffff:203.0.113.10".parse().unwrap()));
        assert!(!id.is_our_address("203.0.113.11".parse().unwrap()));
    }
}
