//! A small honest zone for raw responders: MX and A records by name, the
//! root's and arpa's SOA for the resolver sanity probes, NODATA (with the
//! SOA of `test.`) for other types of known names and NXDOMAIN (with it)
//! for everything else. Tests that need a server to lie build on it.

use std::collections::HashMap;
use std::net::Ipv4Addr;

use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::RecordType;

use super::dns_server::fqdn_lower;
use super::raw_dns::{a, mx, question, reply_to, soa, with_rcode};

#[derive(Debug, Clone, Default)]
pub struct MiniZone {
    mx: HashMap<String, Vec<(u16, String)>>,
    a: HashMap<String, Ipv4Addr>,
}

impl MiniZone {
    pub fn new() -> Self {
        Self::default()
    }

    /// `domain MX preference host`.
    pub fn mx(mut self, domain: &str, preference: u16, host: &str) -> Self {
        self.mx
            .entry(fqdn_lower(domain))
            .or_default()
            .push((preference, fqdn_lower(host)));
        self
    }

    /// `host A ip`.
    pub fn a(mut self, host: &str, ip: Ipv4Addr) -> Self {
        self.a.insert(fqdn_lower(host), ip);
        self
    }

    /// The answer to `request`, repeating its question exactly (case too).
    pub fn answer(&self, request: &Message) -> Option<Message> {
        let (qname, qtype) = question(request)?;
        let name = fqdn_lower(&qname.to_ascii());
        let mut m = reply_to(request);
        match (name.as_str(), qtype) {
            (".", RecordType::SOA) => m.answers.push(soa(".", "a.root-servers.net.")),
            ("arpa.", RecordType::SOA) => m.answers.push(soa("arpa.", "a.root-servers.net.")),
            (_, RecordType::MX) if self.mx.contains_key(&name) => {
                for (preference, host) in &self.mx[&name] {
                    m.answers.push(mx(&name, *preference, host));
                }
            }
            (_, RecordType::A) if self.a.contains_key(&name) => {
                m.answers.push(a(&name, self.a[&name]));
            }
            _ if self.mx.contains_key(&name) || self.a.contains_key(&name) => {
                m.authorities.push(soa("test.", "ns1.test."));
            }
            _ => {
                m = with_rcode(m, ResponseCode::NXDomain);
                m.authorities.push(soa("test.", "ns1.test."));
            }
        }
        Some(m)
    }
}
