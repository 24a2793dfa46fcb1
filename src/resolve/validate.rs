//! What one DNS response says about one question, checked the way a careful
//! stub resolver checks it before believing a word.
//!
//! Both live paths (the fast path and hickory's name-server pool) hand every
//! response to [`check`], so a malformed or inconsistent answer is treated
//! the same whichever path received it, and a TCP-only resolution can use
//! the same function. The rules:
//! - the response repeats the question (name, type, class) exactly;
//! - records count only from the answer section, and only when their owner
//!   is the question name or a name the CNAME chain from it leads to (in
//!   order, without loops, at most [`MAX_CNAME_LINKS`] links); any other
//!   answer record (another name, another type) makes the whole response
//!   malformed, never "no records";
//! - records of the asked type outside the answer section are no answer;
//! - the rcode agrees with the sections: NXDOMAIN with records of the asked
//!   type is malformed; a negative answer is evidence only with the SOA of
//!   an enclosing zone in the authority section (RFC 2308), which
//!   classification checks;
//! - no answer, no SOA and NS records in the authority section is a
//!   referral: the server asked does not recurse.
//!
//! A newcomer would expect a NODATA answer to be harmless. It is not: no MX
//! makes the domain's own address its implicit MX, and a forged "no MX" plus
//! a foreign A record reads as "mail goes elsewhere".

use hickory_proto::op::{Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::{DNSClass, Name, RData, Record, RecordType};
use hickory_resolver::MAX_TTL;
use hickory_resolver::net::NoRecords;

use super::answer::{Answer, MAX_CNAME_LINKS, NegativeSoa, display_name};

/// What a response says, once checked.
#[derive(Debug, Clone)]
pub(crate) enum Checked {
    /// A final answer to the question (including "malformed": `Failed`).
    Answer(Answer),
    /// The answer section leads through CNAME records to `target`, whose
    /// records this response does not hold: the question must be asked
    /// again for `target` (an authoritative server answers only from its
    /// own zone), keeping `chain`.
    Alias { chain: Vec<Record>, target: Name },
}

impl Checked {
    fn failed(problem: impl Into<String>) -> Self {
        Checked::Answer(Answer::Failed(problem.into()))
    }
}

/// Check one response to `query`. The caller has already dealt with
/// truncation (retry over TCP) and with error rcodes it wants to retry.
pub(crate) fn check(query: &Query, response: &Message) -> Checked {
    if response.metadata.message_type != MessageType::Response
        || response.metadata.op_code != OpCode::Query
    {
        return Checked::failed("malformed answer: not a response to a query");
    }
    if response.metadata.truncation {
        return Checked::failed("the answer was truncated even over TCP");
    }
    if let Some(problem) = question_problem(query, &response.queries) {
        return Checked::failed(problem);
    }
    let nxdomain = match response.metadata.response_code {
        ResponseCode::NoError => false,
        ResponseCode::NXDomain => true,
        other => return Checked::failed(format!("{} from the server", rcode_text(other))),
    };
    check_sections(
        query,
        nxdomain,
        &response.answers,
        &response.authorities,
        &response.additionals,
        response.metadata.authoritative,
    )
}

/// Check a negative response as hickory's name-server pool hands it back:
/// an error carrying the question the server repeated and the authority
/// section (the answer section was empty).
pub(crate) fn check_no_records(query: &Query, no_records: &NoRecords) -> Checked {
    if let Some(problem) = question_problem(query, std::slice::from_ref(&*no_records.query)) {
        return Checked::failed(problem);
    }
    let nxdomain = match no_records.response_code {
        ResponseCode::NoError => false,
        ResponseCode::NXDomain => true,
        other => return Checked::failed(format!("{} from the server", rcode_text(other))),
    };
    let authorities: &[Record] = no_records.authorities.as_deref().unwrap_or_default();
    // hickory does not keep the AA bit of a negative answer; it only words
    // the referral message.
    check_sections(query, nxdomain, &[], authorities, &[], false)
}

fn question_problem(query: &Query, echoed: &[Query]) -> Option<String> {
    match echoed {
        [only]
            if only.name() == query.name()
                && only.query_type() == query.query_type()
                && only.query_class() == query.query_class() =>
        {
            None
        }
        [] => Some("malformed answer: the question is not repeated".to_string()),
        [only] => Some(format!(
            "malformed answer: asked {} {}, the answer repeats {} {}",
            display_name(query.name()),
            query.query_type(),
            display_name(only.name()),
            only.query_type()
        )),
        _ => Some("malformed answer: several questions in the answer".to_string()),
    }
}

fn check_sections(
    query: &Query,
    nxdomain: bool,
    answers: &[Record],
    authorities: &[Record],
    additionals: &[Record],
    authoritative: bool,
) -> Checked {
    let qname = query.name();
    let qtype = query.query_type();

    // The CNAME chain from the question name, through the answer section.
    let mut chain: Vec<Record> = Vec::new();
    let mut names: Vec<&Name> = vec![qname];
    let mut current = qname;
    if qtype != RecordType::CNAME {
        loop {
            let mut links = answers
                .iter()
                .filter(|r| r.record_type() == RecordType::CNAME && &r.name == current);
            let Some(link) = links.next() else { break };
            if links.next().is_some() {
                return Checked::failed(format!(
                    "malformed answer: two CNAME records for {}",
                    display_name(current)
                ));
            }
            let RData::CNAME(target) = &link.data else {
                return Checked::failed("malformed answer: a CNAME record without a target");
            };
            if names.contains(&&target.0) {
                return Checked::failed(format!(
                    "CNAME loop: {} leads back to {}",
                    display_name(current),
                    display_name(&target.0)
                ));
            }
            if chain.len() >= MAX_CNAME_LINKS {
                return Checked::failed(format!(
                    "CNAME chain from {} is longer than {MAX_CNAME_LINKS} links",
                    display_name(qname)
                ));
            }
            chain.push(clamped(link));
            names.push(&target.0);
            current = &target.0;
        }
    }

    // Every answer record must be a link of the chain or of the asked type
    // at its end. DNSSEC records of chain names (sent although the DO bit
    // was not set) and a DNAME above a chain name (with the CNAME it
    // synthesises in the chain) are tolerated and ignored.
    let mut rrset: Vec<Record> = Vec::new();
    for record in answers {
        let rtype = record.record_type();
        if record.dns_class != DNSClass::IN {
            return Checked::failed(format!(
                "malformed answer: a record of class {} for {}",
                record.dns_class,
                display_name(&record.name)
            ));
        }
        let on_chain = names.contains(&&record.name);
        // A link (taken above), a DNSSEC record of a chain name, or a DNAME
        // above a chain name: tolerated, not counted.
        let tolerated = (rtype == RecordType::CNAME && on_chain && &record.name != current)
            || (rtype.is_dnssec() && on_chain)
            || (rtype == RecordType::DNAME && names.iter().any(|n| record.name.zone_of(n)));
        if rtype == qtype && &record.name == current {
            rrset.push(clamped(record));
        } else if tolerated {
        } else if on_chain {
            return Checked::failed(format!(
                "malformed answer: the answer to {} {qtype} holds a record of type {rtype} for {}",
                display_name(qname),
                display_name(&record.name)
            ));
        } else {
            return Checked::failed(format!(
                "malformed answer: the answer to {} {qtype} holds a record of type {rtype} for {}, a name \
                 its CNAME chain does not lead to",
                display_name(qname),
                display_name(&record.name)
            ));
        }
    }

    if nxdomain && !rrset.is_empty() {
        return Checked::failed(format!(
            "malformed answer: NXDOMAIN with {qtype} records for {} in the answer section",
            display_name(current)
        ));
    }
    if !rrset.is_empty() {
        chain.append(&mut rrset);
        return Checked::Answer(Answer::Records(chain));
    }

    // No answer. Records of the asked type (or an alias) for a chain name
    // elsewhere in the response are not an answer, and a response that has
    // them is not a trustworthy "no" either.
    if let Some(misplaced) = authorities
        .iter()
        .map(|r| (r, "authority"))
        .chain(additionals.iter().map(|r| (r, "additional")))
        .find(|(r, _)| {
            (r.record_type() == qtype || r.record_type() == RecordType::CNAME)
                && names.contains(&&r.name)
        })
    {
        let (record, section) = misplaced;
        return Checked::failed(format!(
            "malformed answer: {} records for {} only in the {section} section, none in the answer",
            record.record_type(),
            display_name(&record.name)
        ));
    }

    let soa = negative_soa(current, authorities);
    if nxdomain {
        return Checked::Answer(Answer::NoRecords {
            nxdomain: true,
            soa,
            name: current.clone(),
        });
    }
    if soa.is_some() {
        return Checked::Answer(Answer::NoRecords {
            nxdomain: false,
            soa,
            name: current.clone(),
        });
    }
    if !chain.is_empty() {
        return Checked::Alias {
            target: current.clone(),
            chain,
        };
    }
    let referral: Vec<String> = authorities
        .iter()
        .filter_map(|r| match &r.data {
            RData::NS(ns) => Some(format!(
                "{} NS {}",
                display_name(&r.name),
                display_name(&ns.0)
            )),
            _ => None,
        })
        .collect();
    if !referral.is_empty() {
        let aa = if authoritative {
            " (with the AA bit)"
        } else {
            ""
        };
        return Checked::failed(format!(
            "a referral{aa}, not an answer ({}): this nameserver does not recurse; ask a \
             recursive resolver",
            referral.join(", ")
        ));
    }
    Checked::Answer(Answer::NoRecords {
        nxdomain: false,
        soa: None,
        name: current.clone(),
    })
}

/// The SOA of the authority section that can vouch for a negative answer
/// about `name`: one whose owner is `name` or a zone above it.
fn negative_soa(name: &Name, authorities: &[Record]) -> Option<Box<NegativeSoa>> {
    authorities.iter().find_map(|r| match &r.data {
        RData::SOA(soa) if r.dns_class == DNSClass::IN && r.name.zone_of(name) => {
            Some(Box::new(NegativeSoa {
                zone: r.name.clone(),
                mname: soa.mname.clone(),
                negative_ttl: r.ttl.min(soa.minimum).min(MAX_TTL),
            }))
        }
        _ => None,
    })
}

/// TTLs are clamped to hickory's bound, as its resolver did: evidence must
/// not depend on which path received it.
fn clamped(record: &Record) -> Record {
    let mut record = record.clone();
    record.ttl = record.ttl.min(MAX_TTL);
    record
}

/// The conventional upper-case name of an error rcode.
pub(crate) fn rcode_text(code: ResponseCode) -> String {
    match code {
        ResponseCode::ServFail => "SERVFAIL".to_string(),
        ResponseCode::Refused => "REFUSED".to_string(),
        ResponseCode::FormErr => "FORMERR".to_string(),
        ResponseCode::NotImp => "NOTIMP".to_string(),
        ResponseCode::NXDomain => "NXDOMAIN".to_string(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::{name as n, response};
    use hickory_proto::rr::rdata::{A, CNAME, MX, NS, SOA};
    use std::net::Ipv4Addr;

    fn mx(owner: &str, host: &str) -> Record {
        Record::from_rdata(n(owner), 300, RData::MX(MX::new(10, n(host))))
    }

    fn a(owner: &str) -> Record {
        Record::from_rdata(n(owner), 300, RData::A(A(Ipv4Addr::new(192, 0, 2, 1))))
    }

    fn cname(owner: &str, target: &str) -> Record {
        Record::from_rdata(n(owner), 300, RData::CNAME(CNAME(n(target))))
    }

    fn soa(zone: &str) -> Record {
        Record::from_rdata(
            n(zone),
            600,
            RData::SOA(SOA::new(n("ns.test."), n("h.test."), 1, 2, 3, 4, 60)),
        )
    }

    fn ns(owner: &str) -> Record {
        Record::from_rdata(n(owner), 600, RData::NS(NS(n("ns.elsewhere.example."))))
    }

    fn q(name: &str, rtype: RecordType) -> Query {
        Query::query(n(name), rtype)
    }

    fn problem(checked: Checked) -> String {
        match checked {
            Checked::Answer(Answer::Failed(problem)) => problem,
            other => panic!("expected a failure, got {other:?}"),
        }
    }

    #[test]
    fn plain_records_and_chains_are_answers() {
        let query = q("d.test.", RecordType::MX);
        let mut m = response(&query, ResponseCode::NoError);
        m.answers.push(mx("D.test.", "mx.test."));
        assert!(matches!(
            check(&query, &m),
            Checked::Answer(Answer::Records(r)) if r.len() == 1
        ));
        let mut chained = response(&query, ResponseCode::NoError);
        chained.answers = vec![
            cname("d.test.", "e.test."),
            cname("e.test.", "f.test."),
            mx("f.test.", "mx.test."),
        ];
        assert!(matches!(
            check(&query, &chained),
            Checked::Answer(Answer::Records(r)) if r.len() == 3
        ));
    }

    #[test]
    fn a_chain_that_leaves_the_response_is_followed_by_the_caller() {
        let query = q("d.test.", RecordType::A);
        let mut m = response(&query, ResponseCode::NoError);
        m.answers.push(cname("d.test.", "out.example."));
        m.authorities.push(ns("test."));
        match check(&query, &m) {
            Checked::Alias { chain, target } => {
                assert_eq!(chain.len(), 1);
                assert_eq!(target, n("out.example."));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn the_question_must_be_repeated() {
        let query = q("d.test.", RecordType::MX);
        let mut m = response(&q("other.test.", RecordType::MX), ResponseCode::NoError);
        m.answers.push(mx("other.test.", "mx.test."));
        assert!(problem(check(&query, &m)).contains("repeats other.test MX"));
        let mut none = response(&query, ResponseCode::NoError);
        none.queries.clear();
        assert!(problem(check(&query, &none)).contains("not repeated"));
    }

    #[test]
    fn records_of_another_owner_or_type_are_malformed_not_nodata() {
        let query = q("d.test.", RecordType::MX);
        let mut other_owner = response(&query, ResponseCode::NoError);
        other_owner.answers.push(mx("other.test.", "mx.test."));
        other_owner.authorities.push(soa("test."));
        assert!(problem(check(&query, &other_owner)).contains("other.test"));

        let mut other_type = response(&query, ResponseCode::NoError);
        other_type.answers.push(a("d.test."));
        other_type.authorities.push(soa("test."));
        assert!(
            problem(check(&query, &other_type)).contains("holds a record of type A for d.test")
        );

        let address = q("mx.test.", RecordType::A);
        let mut other_host = response(&address, ResponseCode::NoError);
        other_host.answers.push(a("evil.test."));
        assert!(problem(check(&address, &other_host)).contains("evil.test"));
    }

    #[test]
    fn records_outside_the_answer_section_are_no_answer() {
        let query = q("d.test.", RecordType::MX);
        for section in ["authority", "additional"] {
            let mut m = response(&query, ResponseCode::NoError);
            m.authorities.push(soa("test."));
            if section == "authority" {
                m.authorities.push(mx("d.test.", "mx.test."));
            } else {
                m.additionals.push(mx("d.test.", "mx.test."));
            }
            let text = problem(check(&query, &m));
            assert!(text.contains(section), "{text}");
        }
    }

    #[test]
    fn nxdomain_with_records_is_malformed() {
        let query = q("d.test.", RecordType::MX);
        let mut m = response(&query, ResponseCode::NXDomain);
        m.answers.push(mx("d.test.", "mx.test."));
        m.authorities.push(soa("test."));
        assert!(problem(check(&query, &m)).contains("NXDOMAIN with MX"));
    }

    #[test]
    fn negative_answers_carry_their_soa_only_from_an_enclosing_zone() {
        let query = q("gone.drift.test.", RecordType::MX);
        let mut m = response(&query, ResponseCode::NXDomain);
        m.authorities.push(soa("drift.test."));
        match check(&query, &m) {
            Checked::Answer(Answer::NoRecords {
                nxdomain: true,
                soa: Some(soa),
                name,
            }) => {
                assert_eq!(soa.zone, n("drift.test."));
                assert_eq!(soa.negative_ttl, 60);
                assert_eq!(name, n("gone.drift.test."));
            }
            other => panic!("{other:?}"),
        }
        let mut foreign = response(&query, ResponseCode::NXDomain);
        foreign.authorities.push(soa("other.example."));
        assert!(matches!(
            check(&query, &foreign),
            Checked::Answer(Answer::NoRecords { soa: None, .. })
        ));
        let bare = response(&query, ResponseCode::NXDomain);
        assert!(matches!(
            check(&query, &bare),
            Checked::Answer(Answer::NoRecords { soa: None, .. })
        ));
    }

    #[test]
    fn a_referral_is_not_an_answer() {
        let query = q("x.sub.drift.test.", RecordType::MX);
        let mut m = response(&query, ResponseCode::NoError);
        m.authorities.push(ns("sub.drift.test."));
        assert!(problem(check(&query, &m)).contains("does not recurse"));
    }

    #[test]
    fn cname_loops_and_overlong_chains_fail() {
        let query = q("a.test.", RecordType::A);
        let mut looped = response(&query, ResponseCode::NoError);
        looped.answers = vec![cname("a.test.", "b.test."), cname("b.test.", "a.test.")];
        assert!(problem(check(&query, &looped)).contains("loop"));
        let mut long = response(&query, ResponseCode::NoError);
        long.answers.push(cname("a.test.", "l0.test."));
        for i in 0..MAX_CNAME_LINKS {
            long.answers
                .push(cname(&format!("l{i}.test."), &format!("l{}.test.", i + 1)));
        }
        assert!(problem(check(&query, &long)).contains("longer than"));
        let mut two = response(&query, ResponseCode::NoError);
        two.answers = vec![cname("a.test.", "b.test."), cname("a.test.", "c.test.")];
        assert!(problem(check(&query, &two)).contains("two CNAME"));
    }

    #[test]
    fn other_rcodes_fail_with_their_name() {
        let query = q("a.test.", RecordType::A);
        let m = response(&query, ResponseCode::ServFail);
        assert!(problem(check(&query, &m)).contains("SERVFAIL"));
    }
}
