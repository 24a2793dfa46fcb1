//! The one shape in which both resolvers (live and offline) hand back the
//! result of a single (name, type) query, so that everything after it, the
//! classification, is the same code for both.
//!
//! An [`Answer`] is already checked (see `validate`): `Records` holds only
//! answer-section records on the CNAME chain from the query name, and a
//! negative answer names the zone whose SOA vouches for it, if any.

use hickory_proto::rr::{Name, RData, Record, RecordType};

/// Longest CNAME chain followed from a query name, in links. Chains in the
/// wild are one to three links long (CDNs, hosted mail); Postfix follows up
/// to ten queries' worth and recursive resolvers more than ten links, so an
/// MX host eight links away must still resolve. Longer chains, and loops,
/// are inconclusive.
pub(crate) const MAX_CNAME_LINKS: usize = 16;

/// The SOA record of the authority section of a negative answer (RFC 2308):
/// the zone that says the name or the data does not exist.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct NegativeSoa {
    /// The SOA's owner: the zone apex.
    pub zone: Name,
    /// The SOA's MNAME (primary name server), to tell a real root zone
    /// denial from a forged one.
    pub mname: Name,
    /// min(SOA TTL, SOA MINIMUM): how long the denial may be cached.
    pub negative_ttl: u32,
}

/// Result of one (name, type) query.
#[derive(Debug, Clone)]
pub(crate) enum Answer {
    /// The records that answer the query: the CNAME chain from the query
    /// name (if any) and the records of the asked type at its end.
    Records(Vec<Record>),
    /// A negative answer: NXDOMAIN or NODATA.
    NoRecords {
        /// NXDOMAIN (the name does not exist) rather than NODATA.
        nxdomain: bool,
        /// The SOA of the authority section. Without one the answer is no
        /// evidence (RFC 2308): classification makes it inconclusive.
        soa: Option<Box<NegativeSoa>>,
        /// The name the negative answer is about: the query name, or the end
        /// of the CNAME chain the query name led to.
        name: Name,
    },
    /// No conclusive answer: SERVFAIL, REFUSED, timeout, I/O, malformed, a
    /// referral, or (offline) a name outside every loaded zone.
    Failed(String),
}

/// The answer records of `wanted` type reached from `qname` through the
/// CNAME chain in `records`, plus the canonical name when the chain is not
/// empty. Records of other owners are ignored.
pub(crate) fn follow_chain<'a>(
    qname: &Name,
    wanted: RecordType,
    records: &'a [Record],
) -> (Vec<&'a Record>, Option<Name>) {
    // A bounded walk: a CNAME loop must not spin.
    let mut current = qname.clone();
    let mut moved = false;
    for _ in 0..MAX_CNAME_LINKS {
        let next = records.iter().find_map(|r| match &r.data {
            RData::CNAME(target) if wanted != RecordType::CNAME && r.name == current => {
                Some(target.0.clone())
            }
            _ => None,
        });
        match next {
            Some(target) if target != current => {
                current = target;
                moved = true;
            }
            _ => break,
        }
    }
    let found = records
        .iter()
        .filter(|r| r.record_type() == wanted && r.name == current)
        .collect();
    (found, moved.then_some(current))
}

/// Minimum TTL along the CNAME chain that leads from `qname` to its end:
/// an alias is only as fresh as its least fresh link.
pub(crate) fn chain_ttl(qname: &Name, records: &[Record]) -> Option<u32> {
    let mut current = qname.clone();
    let mut ttl: Option<u32> = None;
    for _ in 0..MAX_CNAME_LINKS {
        let link = records.iter().find_map(|r| match &r.data {
            RData::CNAME(target) if r.name == current => Some((target.0.clone(), r.ttl)),
            _ => None,
        });
        match link {
            Some((target, link_ttl)) if target != current => {
                ttl = Some(ttl.map_or(link_ttl, |t| t.min(link_ttl)));
                current = target;
            }
            _ => break,
        }
    }
    ttl
}

/// Lower-case absolute form used as the de-duplication key and for output.
pub(crate) fn normalize(name: &Name) -> Name {
    let mut lower = name.to_lowercase();
    lower.set_fqdn(true);
    lower
}

/// A name as mxdrift prints it: lower case, no trailing dot.
pub(crate) fn display_name(name: &Name) -> String {
    let ascii = name.to_lowercase().to_ascii();
    match ascii.strip_suffix('.') {
        Some(stripped) if !stripped.is_empty() => stripped.to_string(),
        _ => ascii,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::name as n;
    use hickory_proto::rr::rdata::{A, CNAME};
    use std::net::Ipv4Addr;

    #[test]
    fn follows_cname_chain_to_records() {
        let records = vec![
            Record::from_rdata(n("a.test."), 60, RData::CNAME(CNAME(n("b.test.")))),
            Record::from_rdata(n("b.test."), 30, RData::CNAME(CNAME(n("c.test.")))),
            Record::from_rdata(n("c.test."), 300, RData::A(A(Ipv4Addr::new(192, 0, 2, 1)))),
            // Glue for an unrelated name must not be taken as an answer.
            Record::from_rdata(n("x.test."), 300, RData::A(A(Ipv4Addr::new(192, 0, 2, 9)))),
        ];
        let (found, canonical) = follow_chain(&n("a.test."), RecordType::A, &records);
        assert_eq!(found.len(), 1);
        assert_eq!(canonical, Some(n("c.test.")));
        assert_eq!(chain_ttl(&n("a.test."), &records), Some(30));
    }

    #[test]
    fn cname_loop_terminates() {
        let records = vec![
            Record::from_rdata(n("a.test."), 60, RData::CNAME(CNAME(n("b.test.")))),
            Record::from_rdata(n("b.test."), 60, RData::CNAME(CNAME(n("a.test.")))),
        ];
        let (found, _) = follow_chain(&n("a.test."), RecordType::A, &records);
        assert!(found.is_empty());
    }

    #[test]
    fn display_strips_dot_and_lowercases() {
        assert_eq!(display_name(&n("MX1.Example.TEST.")), "mx1.example.test");
        assert_eq!(display_name(&Name::root()), ".");
    }
}
