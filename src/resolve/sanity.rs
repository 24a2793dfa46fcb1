//! Sanity before judging: before the audit believes a resolver's "does not
//! exist", it asks that resolver for names that must exist: the root zone's
//! SOA, the SOA of `arpa.` (the infrastructure TLD, RFC 3172), the SOA of
//! every top-level domain in the inventory, and this server's own names.
//!
//! Captive portals, firewall DNS proxies and broken resolvers answer
//! NXDOMAIN for every name, and a run that believed them would call every
//! domain "not found" and `fix` would switch them all off. A resolver that
//! denies a name that must exist is untrustworthy: none of its negative
//! answers is evidence.
//!
//! What a newcomer would get wrong: a TLD can really be missing (`.lan`,
//! `.corp` on internal networks), and a server's host name can really be
//! absent from DNS. Those denials are consistent (the root zone, or the
//! name's own zone, says so with its SOA) and are reported as notes; only
//! an inconsistent denial (no SOA, the SOA of an unrelated zone, a root SOA
//! that is not the root's) counts against the resolver. The root zone and
//! `arpa.` can never be denied: a resolver that forges consistent denials
//! of everything but the root is caught there.
//!
//! The addresses each resolver gives for this server's names are also the
//! identity's evidence of where "here" is (`server_name_answers`): asked
//! here once, never again for the identity.

use std::net::IpAddr;

use hickory_proto::rr::{Name, RData, RecordType};

use super::answer::{Answer, display_name, follow_chain};
use super::{AddressFamily, NameAddresses};
use crate::inventory::DomainName;

/// Top-level domains that are not (and are not expected to be) in the
/// root zone: RFC 6761 and RFC 6762 special-use names, `.onion`
/// (RFC 7686), `.alt` (RFC 9476), `.internal` (ICANN, 2024), and names
/// that private networks use and the root never delegated. A name under
/// one of them proves nothing about a resolver.
const NOT_IN_THE_ROOT: [&str; 14] = [
    "test",
    "example",
    "invalid",
    "localhost",
    "local",
    "onion",
    "alt",
    "internal",
    "home",
    "corp",
    "lan",
    "localdomain",
    "intranet",
    "private",
];

/// What a probe asks about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ProbeKind {
    /// The root zone's SOA.
    Root,
    /// The SOA of `arpa.`, which always exists.
    Arpa,
    /// The SOA of a TLD that domains of the inventory are under.
    Tld,
    /// An address of one of this server's names.
    ServerName,
}

/// One question whose answer must not be "does not exist".
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Probe {
    pub kind: ProbeKind,
    pub name: Name,
    pub rtype: RecordType,
}

impl Probe {
    fn describe(&self) -> String {
        match self.kind {
            ProbeKind::Root => "the root zone's SOA".to_string(),
            ProbeKind::Arpa => "the SOA of arpa".to_string(),
            ProbeKind::Tld => format!("the SOA of the TLD {}", display_name(&self.name)),
            ProbeKind::ServerName => format!(
                "{} {} (a name of this server)",
                display_name(&self.name),
                self.rtype
            ),
        }
    }
}

/// The probes for a run over `domains` on a server called `server_names`.
pub(crate) fn probes(domains: &[DomainName], server_names: &[String]) -> Vec<Probe> {
    let mut probes = vec![Probe {
        kind: ProbeKind::Root,
        name: Name::root(),
        rtype: RecordType::SOA,
    }];
    if let Ok(arpa) = Name::from_ascii("arpa.") {
        probes.push(Probe {
            kind: ProbeKind::Arpa,
            name: arpa,
            rtype: RecordType::SOA,
        });
    }
    let mut tlds: Vec<&str> = domains
        .iter()
        .filter(|d| !d.is_localhost())
        .filter_map(|d| tld_of(d.as_str()))
        .filter(|tld| *tld != "arpa")
        .collect();
    tlds.sort_unstable();
    tlds.dedup();
    for tld in tlds {
        if let Ok(name) = Name::from_ascii(format!("{tld}.")) {
            probes.push(Probe {
                kind: ProbeKind::Tld,
                name,
                rtype: RecordType::SOA,
            });
        }
    }
    // Every name of this server is asked, under a real TLD or not: the
    // answers are also the identity's evidence of this server's public
    // addresses (see `server_name_answers`). Only names under a real TLD
    // are judged (see `judge`).
    let mut names: Vec<DomainName> = server_names
        .iter()
        .filter_map(|n| DomainName::parse(n).ok())
        .filter(|n| !n.is_localhost() && n.as_str().contains('.'))
        .collect();
    names.sort();
    names.dedup();
    for server_name in names {
        if let Ok(name) = Name::from_ascii(server_name.fqdn()) {
            for rtype in [RecordType::A, RecordType::AAAA] {
                probes.push(Probe {
                    kind: ProbeKind::ServerName,
                    name: name.clone(),
                    rtype,
                });
            }
        }
    }
    probes
}

/// What the answers to the probes say about the addresses of this server's
/// names: one entry per name and address type asked.
pub(crate) fn server_name_answers(
    results: &[(Probe, Answer)],
) -> Vec<(String, AddressFamily, NameAddresses)> {
    results
        .iter()
        .filter(|(probe, _)| probe.kind == ProbeKind::ServerName)
        .filter_map(|(probe, answer)| {
            let family = match probe.rtype {
                RecordType::A => AddressFamily::V4,
                RecordType::AAAA => AddressFamily::V6,
                _ => return None,
            };
            let found = match answer {
                Answer::Records(records) => {
                    let (found, _) = follow_chain(&probe.name, probe.rtype, records);
                    let mut addresses: Vec<IpAddr> = found
                        .iter()
                        .filter_map(|r| match &r.data {
                            RData::A(v4) => Some(IpAddr::V4(v4.0)),
                            RData::AAAA(v6) => Some(IpAddr::V6(v6.0)),
                            _ => None,
                        })
                        .collect();
                    addresses.sort();
                    addresses.dedup();
                    if addresses.is_empty() {
                        NameAddresses::None { nxdomain: false }
                    } else {
                        NameAddresses::Found(addresses)
                    }
                }
                // A denial without an SOA is no evidence (RFC 2308).
                Answer::NoRecords { soa: None, .. } => {
                    NameAddresses::Failed("a denial without an SOA record".to_string())
                }
                Answer::NoRecords { nxdomain, .. } => NameAddresses::None {
                    nxdomain: *nxdomain,
                },
                Answer::Failed(problem) => NameAddresses::Failed(problem.clone()),
            };
            Some((display_name(&probe.name), family, found))
        })
        .collect()
}

/// The TLD of a name, unless it is one that is not in the root zone.
fn tld_of(name: &str) -> Option<&str> {
    let tld = name.rsplit('.').next()?;
    let numeric = tld.bytes().all(|b| b.is_ascii_digit());
    (!tld.is_empty() && !numeric && !NOT_IN_THE_ROOT.contains(&tld)).then_some(tld)
}

/// What the probes said about one resolver.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Judgement {
    /// Denials of names that must exist: the resolver is untrustworthy when
    /// this is not empty.
    pub evidence: Vec<String>,
    /// Consistent denials worth telling the admin (a TLD or a name of this
    /// server that really does not exist).
    pub notes: Vec<String>,
}

/// Judge a resolver by its answers to the probes.
pub(crate) fn judge(results: &[(Probe, Answer)]) -> Judgement {
    let mut judgement = Judgement::default();
    // The root zone's primary server name, as this resolver gave it: a
    // denial that carries the root's SOA must carry this one.
    let root_mname = results.iter().find_map(|(probe, answer)| match answer {
        Answer::Records(records) if probe.kind == ProbeKind::Root => {
            records.iter().find_map(|r| match &r.data {
                RData::SOA(soa) if r.name.is_root() => Some(soa.mname.clone()),
                _ => None,
            })
        }
        _ => None,
    });
    for (probe, answer) in results {
        let Answer::NoRecords { nxdomain, soa, .. } = answer else {
            // Records: as it must be. Failed: no answer, no evidence
            // either way (a resolver that does not answer is inconclusive
            // on every domain anyway).
            continue;
        };
        // A name under a TLD that is not in the root zone (`.test`,
        // `.lan`) may really not exist: its denial proves nothing.
        if probe.kind == ProbeKind::ServerName
            && tld_of(display_name(&probe.name).as_str()).is_none()
        {
            continue;
        }
        let denial = if *nxdomain { "NXDOMAIN" } else { "no records" };
        let from_root = soa.as_ref().is_some_and(|s| {
            s.zone.is_root() && root_mname.as_ref().is_some_and(|m| *m == s.mname)
        });
        let consistent = match probe.kind {
            ProbeKind::Root | ProbeKind::Arpa => false,
            ProbeKind::Tld => *nxdomain && from_root,
            ProbeKind::ServerName => match soa {
                None => false,
                Some(_) if !*nxdomain => {
                    // The name exists; it has no address of this type.
                    continue;
                }
                Some(s) if s.zone.is_root() => from_root,
                Some(s) => s.zone.zone_of(&probe.name) && s.zone != probe.name,
            },
        };
        let with_soa = match soa {
            None => "without an SOA record in the authority section".to_string(),
            Some(s) => format!("with the SOA of {}", zone_text(&s.zone)),
        };
        if consistent {
            judgement.notes.push(match probe.kind {
                ProbeKind::Tld => format!(
                    "the TLD {} does not exist (the root zone says so): domains under it cannot \
                     receive mail from the Internet",
                    display_name(&probe.name)
                ),
                _ => format!(
                    "{}, a name of this server, does not exist in DNS ({denial} {with_soa})",
                    display_name(&probe.name)
                ),
            });
        } else {
            judgement
                .evidence
                .push(format!("{}: {denial} {with_soa}", probe.describe()));
        }
    }
    judgement
}

fn zone_text(zone: &Name) -> String {
    if zone.is_root() {
        "the root zone".to_string()
    } else {
        format!("zone {}", display_name(zone))
    }
}

/// The reason, attached to each negative answer of an untrustworthy
/// resolver, why it is no evidence (the run-level finding has the details).
pub(crate) fn distrust_reason() -> String {
    "this resolver denies names that must exist (see resolver-untrustworthy), so its negative \
     answers are no evidence"
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resolve::answer::NegativeSoa;
    use crate::test_support::{domain as d, name as n};
    use hickory_proto::rr::Record;
    use hickory_proto::rr::rdata::SOA;

    fn root_soa(mname: &str) -> Answer {
        Answer::Records(vec![Record::from_rdata(
            Name::root(),
            86400,
            RData::SOA(SOA::new(
                n(mname),
                n("nstld.verisign-grs.com."),
                1,
                2,
                3,
                4,
                86400,
            )),
        )])
    }

    fn denial(nxdomain: bool, zone: Option<(&str, &str)>, name: &str) -> Answer {
        Answer::NoRecords {
            nxdomain,
            soa: zone.map(|(zone, mname)| {
                Box::new(NegativeSoa {
                    zone: n(zone),
                    mname: n(mname),
                    negative_ttl: 60,
                })
            }),
            name: n(name),
        }
    }

    fn probe(kind: ProbeKind, name: &str, rtype: RecordType) -> Probe {
        Probe {
            kind,
            name: n(name),
            rtype,
        }
    }

    #[test]
    fn probes_cover_root_real_tlds_and_every_dotted_server_name() {
        let domains = [
            d("shop.example.com"),
            d("b.example.com"),
            d("x.de"),
            d("legacy.invalid"),
            d("a.test"),
            d("localhost"),
            d("mail.lan"),
        ];
        let names = [
            "web10.hoster.com".to_string(),
            "localhost.localdomain".to_string(),
            "debian".to_string(),
            "mail.hoster.test".to_string(),
        ];
        let got: Vec<(ProbeKind, String, RecordType)> = probes(&domains, &names)
            .into_iter()
            .map(|p| (p.kind, p.name.to_ascii(), p.rtype))
            .collect();
        let server = |name: &str, rtype| (ProbeKind::ServerName, name.to_string(), rtype);
        assert_eq!(
            got,
            vec![
                (ProbeKind::Root, ".".to_string(), RecordType::SOA),
                (ProbeKind::Arpa, "arpa.".to_string(), RecordType::SOA),
                (ProbeKind::Tld, "com.".to_string(), RecordType::SOA),
                (ProbeKind::Tld, "de.".to_string(), RecordType::SOA),
                server("mail.hoster.test.", RecordType::A),
                server("mail.hoster.test.", RecordType::AAAA),
                server("web10.hoster.com.", RecordType::A),
                server("web10.hoster.com.", RecordType::AAAA),
            ]
        );
    }

    #[test]
    fn a_server_name_under_a_private_tld_proves_nothing_about_the_resolver() {
        let results = vec![(
            probe(ProbeKind::ServerName, "web10.hoster.lan.", RecordType::A),
            denial(true, None, "web10.hoster.lan."),
        )];
        assert_eq!(judge(&results), Judgement::default());
    }

    #[test]
    fn server_name_answers_follow_the_chain_and_keep_denials_apart() {
        use hickory_proto::rr::rdata::{A, AAAA, CNAME};
        let records = vec![
            Record::from_rdata(
                n("web10.hoster.test."),
                60,
                RData::CNAME(CNAME(n("nat.hoster.test."))),
            ),
            Record::from_rdata(
                n("nat.hoster.test."),
                60,
                RData::A(A("203.0.113.10".parse().unwrap())),
            ),
        ];
        let results = vec![
            (
                probe(ProbeKind::ServerName, "web10.hoster.test.", RecordType::A),
                Answer::Records(records),
            ),
            (
                probe(
                    ProbeKind::ServerName,
                    "web10.hoster.test.",
                    RecordType::AAAA,
                ),
                denial(false, Some(("hoster.test.", "ns1.hoster.test.")), "x."),
            ),
            (
                probe(ProbeKind::ServerName, "gone.hoster.test.", RecordType::A),
                denial(true, None, "gone.hoster.test."),
            ),
            (
                probe(ProbeKind::ServerName, "v6.hoster.test.", RecordType::AAAA),
                Answer::Records(vec![Record::from_rdata(
                    n("v6.hoster.test."),
                    60,
                    RData::AAAA(AAAA("2001:db8::10".parse().unwrap())),
                )]),
            ),
            (
                probe(ProbeKind::Root, ".", RecordType::SOA),
                root_soa("a.root-servers.net."),
            ),
        ];
        let got = server_name_answers(&results);
        assert_eq!(
            got,
            vec![
                (
                    "web10.hoster.test".to_string(),
                    AddressFamily::V4,
                    NameAddresses::Found(vec!["203.0.113.10".parse().unwrap()])
                ),
                (
                    "web10.hoster.test".to_string(),
                    AddressFamily::V6,
                    NameAddresses::None { nxdomain: false }
                ),
                (
                    "gone.hoster.test".to_string(),
                    AddressFamily::V4,
                    NameAddresses::Failed("a denial without an SOA record".to_string())
                ),
                (
                    "v6.hoster.test".to_string(),
                    AddressFamily::V6,
                    NameAddresses::Found(vec!["2001:db8::10".parse().unwrap()])
                ),
            ]
        );
    }

    #[test]
    fn a_resolver_that_denies_everything_is_untrustworthy() {
        let results = vec![
            (
                probe(ProbeKind::Root, ".", RecordType::SOA),
                denial(true, None, "."),
            ),
            (
                probe(ProbeKind::Tld, "com.", RecordType::SOA),
                denial(true, None, "com."),
            ),
            (
                probe(ProbeKind::ServerName, "web10.hoster.com.", RecordType::A),
                denial(true, None, "web10.hoster.com."),
            ),
        ];
        let judgement = judge(&results);
        assert_eq!(judgement.evidence.len(), 3, "{judgement:?}");
        assert!(judgement.evidence[0].starts_with("the root zone's SOA: NXDOMAIN without an SOA"));
    }

    #[test]
    fn a_forged_root_soa_does_not_excuse_a_denied_tld() {
        let results = vec![
            (
                probe(ProbeKind::Root, ".", RecordType::SOA),
                root_soa("a.root-servers.net."),
            ),
            (
                probe(ProbeKind::Tld, "com.", RecordType::SOA),
                denial(true, Some((".", "fake.firewall.example.")), "com."),
            ),
        ];
        assert_eq!(judge(&results).evidence.len(), 1);
    }

    #[test]
    fn arpa_can_never_be_denied() {
        let results = vec![
            (
                probe(ProbeKind::Root, ".", RecordType::SOA),
                root_soa("a.root-servers.net."),
            ),
            (
                probe(ProbeKind::Arpa, "arpa.", RecordType::SOA),
                denial(true, Some((".", "a.root-servers.net.")), "arpa."),
            ),
        ];
        let judgement = judge(&results);
        assert_eq!(
            judgement.evidence,
            ["the SOA of arpa: NXDOMAIN with the SOA of the root zone"]
        );
    }

    #[test]
    fn consistent_denials_are_notes_not_evidence() {
        let results = vec![
            (
                probe(ProbeKind::Root, ".", RecordType::SOA),
                root_soa("a.root-servers.net."),
            ),
            (
                probe(ProbeKind::Tld, "lan2.", RecordType::SOA),
                denial(true, Some((".", "a.root-servers.net.")), "lan2."),
            ),
            (
                probe(ProbeKind::ServerName, "web10.hoster.com.", RecordType::A),
                denial(
                    true,
                    Some(("hoster.com.", "ns1.hoster.com.")),
                    "web10.hoster.com.",
                ),
            ),
            (
                probe(ProbeKind::ServerName, "v6only.hoster.com.", RecordType::A),
                denial(
                    false,
                    Some(("hoster.com.", "ns1.hoster.com.")),
                    "v6only.hoster.com.",
                ),
            ),
        ];
        let judgement = judge(&results);
        assert!(judgement.evidence.is_empty(), "{judgement:?}");
        assert_eq!(judgement.notes.len(), 2, "{judgement:?}");
    }

    #[test]
    fn unanswered_probes_are_no_evidence() {
        let results = vec![(
            probe(ProbeKind::Root, ".", RecordType::SOA),
            Answer::Failed("REFUSED".into()),
        )];
        assert_eq!(judge(&results), Judgement::default());
    }
}
