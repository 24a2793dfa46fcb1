//! Identity: who "this server" is. Its interface addresses, the public
//! addresses the configuration adds (NAT, proxies), its names, and the
//! filtering gateways in front of it that count as "us".

use std::collections::BTreeSet;
use std::net::IpAddr;

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

/// This server, as far as the verdict is concerned.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ServerIdentity {
    pub addresses: BTreeSet<IpAddr>,
    /// Lower-case names without trailing dot (`myhostname`, `--server-name`).
    pub names: BTreeSet<String>,
    pub trusted_mx: Vec<MxPattern>,
}

impl ServerIdentity {
    pub fn add_address(&mut self, ip: IpAddr) {
        self.addresses.insert(normalize_ip(ip));
    }

    pub fn add_name(&mut self, name: &str) {
        let name = name.trim().trim_end_matches('.').to_ascii_lowercase();
        if !name.is_empty() {
            self.names.insert(name);
        }
    }

    pub fn is_our_address(&self, ip: IpAddr) -> bool {
        self.addresses.contains(&normalize_ip(ip))
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
            self.add_address(ip);
        }
        Ok(())
    }
}

fn is_link_local(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.is_link_local(),
        IpAddr::V6(v6) => (v6.segments()[0] & 0xffc0) == 0xfe80,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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

    #[test]
    fn mapped_ipv6_compares_as_ipv4() {
        let mut id = ServerIdentity::default();
        id.add_address("::ffff:203.0.113.10".parse().unwrap());
        assert!(id.is_our_address("203.0.113.10".parse().unwrap()));
        assert!(id.is_our_address("::ffff:203.0.113.10".parse().unwrap()));
        assert!(!id.is_our_address("203.0.113.11".parse().unwrap()));
    }
}
