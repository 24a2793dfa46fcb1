//! Turning query answers into evidence. Pure functions, shared by the live
//! and the offline resolver, so both classify a zone identically.

use std::net::IpAddr;

use hickory_proto::rr::{Name, RData, RecordType};

use super::answer::{Answer, chain_ttl, display_name, follow_chain};
use super::{DnsStatus, HostLookup, MxEvidence, MxHost};

/// What the MX query for a domain said.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum MxAnswer {
    Failed(String),
    Nxdomain {
        /// The domain is an alias whose target does not exist.
        dangling_cname: Option<String>,
        ttl: Option<u32>,
    },
    Nodata {
        ttl: Option<u32>,
    },
    Exchanges {
        /// (preference, exchange, TTL) in answer order.
        records: Vec<(u16, Name, u32)>,
        ttl: Option<u32>,
    },
}

pub(crate) fn mx_answer(domain: &Name, answer: &Answer) -> MxAnswer {
    match answer {
        Answer::Failed(problem) => MxAnswer::Failed(problem.clone()),
        Answer::NoRecords {
            nxdomain,
            soa: None,
            ..
        } => MxAnswer::Failed(unproven_negative(*nxdomain, domain, RecordType::MX)),
        Answer::NoRecords {
            nxdomain: true,
            soa: Some(soa),
            name,
        } => MxAnswer::Nxdomain {
            // The negative answer is about another name than the one asked:
            // the domain is a CNAME (chain) that ends at a missing name.
            dangling_cname: (name != domain).then(|| display_name(name)),
            ttl: Some(soa.negative_ttl),
        },
        Answer::NoRecords {
            nxdomain: false,
            soa: Some(soa),
            ..
        } => MxAnswer::Nodata {
            ttl: Some(soa.negative_ttl),
        },
        Answer::Records(records) => {
            let (found, _) = follow_chain(domain, RecordType::MX, records);
            let link_ttl = chain_ttl(domain, records);
            let exchanges: Vec<(u16, Name, u32)> = found
                .iter()
                .filter_map(|r| match &r.data {
                    RData::MX(mx) => {
                        let ttl = link_ttl.map_or(r.ttl, |t| t.min(r.ttl));
                        Some((mx.preference, mx.exchange.clone(), ttl))
                    }
                    _ => None,
                })
                .collect();
            if exchanges.is_empty() {
                // Records came back, but no MX at the end of the chain: the
                // answer is about something else. Never NODATA, which would
                // make the domain's own address its implicit MX.
                MxAnswer::Failed(format!(
                    "the answer to {} MX holds no MX record",
                    display_name(domain)
                ))
            } else {
                let ttl = exchanges.iter().map(|(_, _, t)| *t).min();
                MxAnswer::Exchanges {
                    records: exchanges,
                    ttl,
                }
            }
        }
    }
}

/// RFC 2308: a negative answer without the SOA of an enclosing zone in its
/// authority section proves nothing; lying and broken resolvers answer so.
fn unproven_negative(nxdomain: bool, name: &Name, rtype: RecordType) -> String {
    format!(
        "{} for {} {rtype} without an SOA record in the authority section (RFC 2308): not evidence",
        if nxdomain { "NXDOMAIN" } else { "no records" },
        display_name(name)
    )
}

/// `localhost`, a name below `localhost.` (RFC 6761) or `localhost.` in
/// front of a domain (`localhost.localdomain`, Postfix's
/// `localhost.$mydomain`): this machine's own names, never asked in DNS.
pub(crate) fn is_localhost(name: &Name) -> bool {
    let mut labels = name.iter();
    let first = labels.next();
    let last = name.iter().next_back();
    [first, last]
        .into_iter()
        .flatten()
        .any(|label| label.eq_ignore_ascii_case(b"localhost"))
}

/// Evidence for one of this machine's own names: no DNS was asked.
pub(crate) fn this_machine() -> MxEvidence {
    MxEvidence {
        status: DnsStatus::Ok,
        implicit_mx: false,
        mx: Vec::new(),
        ttl: None,
        dangling_cname: None,
        problem: Some("a name of this machine (localhost, RFC 6761): not asked in DNS".to_string()),
    }
}

/// The addresses of an MX host named `localhost`: what any resolver on the
/// sending machine answers for it (RFC 6761), without asking DNS.
pub(crate) fn loopback_host() -> HostAddresses {
    HostAddresses {
        addresses: vec![
            IpAddr::V4(std::net::Ipv4Addr::LOCALHOST),
            IpAddr::V6(std::net::Ipv6Addr::LOCALHOST),
        ],
        lookup: HostLookup::Complete,
        cname: None,
        ttl: None,
        problem: None,
    }
}

/// RFC 7505: an exchange of `.` means "this domain accepts no mail".
pub(crate) fn is_null_mx(exchange: &Name) -> bool {
    exchange.is_root()
}

/// An exchange that is an address literal instead of a host name:
/// `MX 10 192.0.2.1.` (parsed by DNS as four labels) or `[192.0.2.1]`.
/// Postfix uses such an address directly; Exim refuses it by default.
pub(crate) fn ip_literal(exchange: &Name) -> Option<IpAddr> {
    let text = raw_text(exchange);
    let inner = text
        .strip_prefix('[')
        .and_then(|t| t.strip_suffix(']'))
        .unwrap_or(&text);
    let inner = inner.strip_prefix("ipv6:").unwrap_or(inner);
    inner.parse::<IpAddr>().ok()
}

/// The labels as written, joined by dots: the presentation form would
/// escape the `[` and `]` of an address literal.
fn raw_text(name: &Name) -> String {
    let labels: Vec<String> = name
        .iter()
        .map(|label| String::from_utf8_lossy(label).to_ascii_lowercase())
        .collect();
    labels.join(".")
}

/// Addresses of one host from its separate A and AAAA answers.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct HostAddresses {
    pub addresses: Vec<IpAddr>,
    pub lookup: HostLookup,
    pub cname: Option<String>,
    /// Smallest TTL of the address records (and the CNAME links to them).
    pub ttl: Option<u32>,
    pub problem: Option<String>,
}

pub(crate) fn host_addresses(host: &Name, a: &Answer, aaaa: &Answer) -> HostAddresses {
    let mut addresses = Vec::new();
    let mut cname = None;
    let mut ttl: Option<u32> = None;
    let mut problems = Vec::new();
    let mut both_nxdomain = true;
    for (family, wanted, answer) in [("A", RecordType::A, a), ("AAAA", RecordType::AAAA, aaaa)] {
        match answer {
            Answer::Records(records) => {
                both_nxdomain = false;
                let (found, canonical) = follow_chain(host, wanted, records);
                let link_ttl = chain_ttl(host, records);
                for record in found {
                    let ip = match &record.data {
                        RData::A(v4) => IpAddr::V4(v4.0),
                        RData::AAAA(v6) => IpAddr::V6(v6.0),
                        _ => continue,
                    };
                    addresses.push(ip);
                    let record_ttl = link_ttl.map_or(record.ttl, |t| t.min(record.ttl));
                    ttl = Some(ttl.map_or(record_ttl, |t| t.min(record_ttl)));
                }
                if cname.is_none() {
                    cname = canonical.map(|c| display_name(&c));
                }
            }
            Answer::NoRecords {
                nxdomain,
                soa: None,
                ..
            } => {
                both_nxdomain = false;
                problems.push(format!(
                    "{family} lookup: {}",
                    unproven_negative(*nxdomain, host, wanted)
                ));
            }
            Answer::NoRecords { nxdomain, name, .. } => {
                both_nxdomain &= *nxdomain;
                if cname.is_none() && name != host {
                    cname = Some(display_name(name));
                }
            }
            Answer::Failed(problem) => {
                both_nxdomain = false;
                problems.push(format!("{family} lookup failed: {problem}"));
            }
        }
    }
    // Sorted so that the evidence does not depend on the order a server
    // happens to rotate its records in.
    addresses.sort();
    addresses.dedup();
    let (lookup, problem) = if !problems.is_empty() {
        (HostLookup::Inconclusive, Some(problems.join("; ")))
    } else if addresses.is_empty() {
        let why = if both_nxdomain {
            "host does not exist (NXDOMAIN)"
        } else {
            "host has no A or AAAA records"
        };
        (HostLookup::NoAddress, Some(why.to_string()))
    } else {
        (HostLookup::Complete, None)
    };
    HostAddresses {
        addresses,
        lookup,
        cname,
        ttl,
        problem,
    }
}

/// One MX record whose exchange is a host name, with its addresses.
pub(crate) fn named_host(
    preference: u16,
    exchange: &Name,
    ttl: u32,
    found: HostAddresses,
) -> MxHost {
    MxHost {
        preference,
        host: display_name(exchange),
        addresses: found.addresses,
        lookup: found.lookup,
        cname: found.cname,
        ip_literal: false,
        ttl: Some(ttl),
        problem: found.problem,
    }
}

/// One MX record whose exchange was not looked up (beyond the per-domain
/// limit): its addresses are unknown, as after a failed lookup.
pub(crate) fn unresolved_host(preference: u16, exchange: &Name, ttl: u32, why: String) -> MxHost {
    MxHost {
        preference,
        host: display_name(exchange),
        addresses: Vec::new(),
        lookup: HostLookup::Inconclusive,
        cname: None,
        ip_literal: false,
        ttl: Some(ttl),
        problem: Some(why),
    }
}

/// One MX record whose exchange is an address literal: used as is.
pub(crate) fn literal_host(preference: u16, exchange: &Name, ip: IpAddr, ttl: u32) -> MxHost {
    MxHost {
        preference,
        host: raw_text(exchange),
        addresses: vec![ip],
        lookup: HostLookup::Complete,
        cname: None,
        ip_literal: true,
        ttl: Some(ttl),
        problem: None,
    }
}

/// Evidence for a domain with MX records (null MX or not).
pub(crate) fn with_exchanges(null_mx: bool, mut mx: Vec<MxHost>, ttl: Option<u32>) -> MxEvidence {
    sort_hosts(&mut mx);
    MxEvidence {
        status: if null_mx {
            DnsStatus::NullMx
        } else {
            DnsStatus::Ok
        },
        implicit_mx: false,
        mx,
        ttl,
        dangling_cname: None,
        problem: None,
    }
}

/// Evidence for a domain without MX records: the implicit MX (RFC 5321
/// 5.1) is the domain's own addresses at preference 0. With conclusively no
/// address there is no mail host at all and `mx` stays empty.
pub(crate) fn implicit(domain: &Name, nodata_ttl: Option<u32>, found: HostAddresses) -> MxEvidence {
    let mx = if found.lookup == HostLookup::NoAddress {
        Vec::new()
    } else {
        vec![MxHost {
            preference: 0,
            host: display_name(domain),
            addresses: found.addresses,
            lookup: found.lookup,
            cname: found.cname,
            ip_literal: false,
            ttl: found.ttl,
            problem: found.problem,
        }]
    };
    MxEvidence {
        status: DnsStatus::Nodata,
        implicit_mx: !mx.is_empty(),
        mx,
        ttl: nodata_ttl,
        dangling_cname: None,
        problem: None,
    }
}

pub(crate) fn nxdomain(dangling_cname: Option<String>, ttl: Option<u32>) -> MxEvidence {
    MxEvidence {
        status: DnsStatus::Nxdomain,
        implicit_mx: false,
        mx: Vec::new(),
        ttl,
        dangling_cname,
        problem: None,
    }
}

fn sort_hosts(mx: &mut [MxHost]) {
    mx.sort_by(|a, b| {
        a.preference
            .cmp(&b.preference)
            .then_with(|| a.host.cmp(&b.host))
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resolve::answer::NegativeSoa;
    use crate::test_support::name as n;
    use hickory_proto::rr::Record;
    use hickory_proto::rr::rdata::{A, AAAA, CNAME, MX};
    use std::net::{Ipv4Addr, Ipv6Addr};

    fn a(owner: &str, ip: [u8; 4]) -> Record {
        Record::from_rdata(n(owner), 300, RData::A(A(Ipv4Addr::from(ip))))
    }

    fn soa() -> Option<Box<NegativeSoa>> {
        Some(Box::new(NegativeSoa {
            zone: n("test."),
            mname: n("ns.test."),
            negative_ttl: 60,
        }))
    }

    fn nodata(name: &str) -> Answer {
        Answer::NoRecords {
            nxdomain: false,
            soa: soa(),
            name: n(name),
        }
    }

    fn nx(name: &str) -> Answer {
        Answer::NoRecords {
            nxdomain: true,
            soa: soa(),
            name: n(name),
        }
    }

    #[test]
    fn ip_literals_are_recognised() {
        assert_eq!(
            ip_literal(&n("192.0.2.1.")),
            Some("192.0.2.1".parse().unwrap())
        );
        assert_eq!(ip_literal(&n("mx1.example.")), None);
        assert_eq!(ip_literal(&n("1.2.3.example.")), None);
        // `[192.0.2.1]` cannot be written in a zone file hickory parses,
        // but other servers (BIND) accept it and send it as four labels.
        let bracketed =
            Name::from_labels(["[192", "0", "2", "1]"].iter().map(|l| l.as_bytes())).unwrap();
        let ip = ip_literal(&bracketed).unwrap();
        assert_eq!(ip, "192.0.2.1".parse::<IpAddr>().unwrap());
        assert_eq!(literal_host(10, &bracketed, ip, 60).host, "[192.0.2.1]");
    }

    #[test]
    fn nxdomain_through_alias_is_a_dangling_cname() {
        let domain = n("alias.test.");
        assert_eq!(
            mx_answer(&domain, &nx("gone.test.")),
            MxAnswer::Nxdomain {
                dangling_cname: Some("gone.test".into()),
                ttl: Some(60)
            }
        );
        assert_eq!(
            mx_answer(&domain, &nx("alias.test.")),
            MxAnswer::Nxdomain {
                dangling_cname: None,
                ttl: Some(60)
            }
        );
    }

    #[test]
    fn mx_records_through_alias_take_the_smallest_ttl() {
        let records = vec![
            Record::from_rdata(n("d.test."), 30, RData::CNAME(CNAME(n("t.test.")))),
            Record::from_rdata(n("t.test."), 300, RData::MX(MX::new(10, n("mx.test.")))),
        ];
        assert_eq!(
            mx_answer(&n("d.test."), &Answer::Records(records)),
            MxAnswer::Exchanges {
                records: vec![(10, n("mx.test."), 30)],
                ttl: Some(30)
            }
        );
    }

    #[test]
    fn host_with_one_family_failing_is_inconclusive_but_keeps_addresses() {
        let host = n("mx.test.");
        let found = host_addresses(
            &host,
            &Answer::Records(vec![a("mx.test.", [192, 0, 2, 1])]),
            &Answer::Failed("SERVFAIL".into()),
        );
        assert_eq!(found.lookup, HostLookup::Inconclusive);
        assert_eq!(
            found.addresses,
            vec!["192.0.2.1".parse::<IpAddr>().unwrap()]
        );
        assert!(found.problem.unwrap().contains("AAAA"));
    }

    #[test]
    fn host_without_addresses() {
        let host = n("mx.test.");
        let none = host_addresses(&host, &nodata("mx.test."), &nodata("mx.test."));
        assert_eq!(none.lookup, HostLookup::NoAddress);
        let missing = host_addresses(&host, &nx("mx.test."), &nx("mx.test."));
        assert_eq!(missing.lookup, HostLookup::NoAddress);
        assert!(missing.problem.unwrap().contains("NXDOMAIN"));
    }

    #[test]
    fn host_alias_reports_canonical_name() {
        let host = n("mx.test.");
        let records = vec![
            Record::from_rdata(n("mx.test."), 300, RData::CNAME(CNAME(n("real.test.")))),
            Record::from_rdata(n("real.test."), 300, RData::AAAA(AAAA(Ipv6Addr::LOCALHOST))),
        ];
        let found = host_addresses(&host, &nodata("real.test."), &Answer::Records(records));
        assert_eq!(found.cname.as_deref(), Some("real.test"));
        assert_eq!(found.lookup, HostLookup::Complete);
    }

    #[test]
    fn implicit_mx_without_addresses_is_empty() {
        let domain = n("d.test.");
        let none = host_addresses(&domain, &nodata("d.test."), &nodata("d.test."));
        let evidence = implicit(&domain, Some(60), none);
        assert_eq!(evidence.status, DnsStatus::Nodata);
        assert!(evidence.mx.is_empty());
        assert!(!evidence.implicit_mx);
    }
}

#[cfg(test)]
mod negative_answers {
    use super::*;
    use crate::test_support::name as n;
    use hickory_proto::rr::Record;

    #[test]
    fn negative_answers_without_soa_are_not_evidence() {
        let domain = n("d.test.");
        for nxdomain in [true, false] {
            let bare = Answer::NoRecords {
                nxdomain,
                soa: None,
                name: domain.clone(),
            };
            match mx_answer(&domain, &bare) {
                MxAnswer::Failed(problem) => assert!(problem.contains("RFC 2308"), "{problem}"),
                other => panic!("{other:?}"),
            }
            let host = host_addresses(&domain, &bare, &bare);
            assert_eq!(host.lookup, HostLookup::Inconclusive);
        }
    }

    #[test]
    fn records_without_mx_are_never_nodata() {
        let domain = n("d.test.");
        let a = Record::from_rdata(
            domain.clone(),
            60,
            RData::A(hickory_proto::rr::rdata::A::new(192, 0, 2, 1)),
        );
        assert!(matches!(
            mx_answer(&domain, &Answer::Records(vec![a])),
            MxAnswer::Failed(_)
        ));
    }

    #[test]
    fn localhost_names() {
        for name in [
            "localhost.",
            "LOCALHOST.localdomain.",
            "a.localhost.",
            "localhost.hoster.test.",
        ] {
            assert!(is_localhost(&n(name)), "{name}");
        }
        for name in [
            "mylocalhost.test.",
            "localhost-mx.test.",
            "localhost2.test.",
        ] {
            assert!(!is_localhost(&n(name)), "{name}");
        }
    }
}
