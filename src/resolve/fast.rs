//! The fast path of one query: a plain UDP exchange over the socket pool,
//! for the answers that need nothing of hickory's resolver machinery.
//!
//! hickory's resolver sends every query through a request channel to a
//! background task, a connection pool, a caching client (even with the cache
//! off), a retry scheduler and a CNAME follower: several task wake-ups and
//! re-parses per query, which at 100,000 domains cost more CPU than the
//! queries themselves. Most answers are simple, though: records of the type
//! asked, or no records at all. Those are taken here, with exactly what
//! hickory would have made of them; everything else (truncation, an error
//! code, a CNAME to follow, DNSSEC records, an answer that does not parse,
//! silence) is left to hickory, which asks again and decides as it always
//! did. So every fault keeps hickory's behaviour and texts; only a failing
//! server sees one query more.

use std::net::SocketAddr;

use hickory_resolver::MAX_TTL;
use hickory_resolver::net::runtime::{DnsUdpSocket, RuntimeProvider};
use hickory_resolver::proto::op::{DEFAULT_MAX_PAYLOAD_LEN, Edns, Message, Query, ResponseCode};
use hickory_resolver::proto::rr::{DNSClass, Name, RData, RecordType};

use super::answer::Answer;
use super::udp_pool::{PooledUdp, PooledUdpRuntime};

/// What the fast path made of the server's answer.
pub(crate) enum FastOutcome {
    /// A final answer, and whether the server set the AA bit.
    Done { answer: Answer, authoritative: bool },
    /// The answer was truncated: the query must go over TCP.
    Truncated,
    /// Anything else: hickory's resolver decides.
    Hickory,
}

/// One query sent over the pool, waiting for its answer.
pub(crate) struct FastQuery {
    socket: PooledUdp,
    query: Query,
    buf: Vec<u8>,
}

impl FastQuery {
    /// Send `name` `rtype` to `server` as hickory's resolver would: a random
    /// id, recursion desired, EDNS with hickory's payload size, no DO bit.
    pub(crate) async fn send(
        runtime: &PooledUdpRuntime,
        server: SocketAddr,
        name: &Name,
        rtype: RecordType,
    ) -> std::io::Result<FastQuery> {
        let query = Query::query(name.clone(), rtype);
        let mut message = Message::query();
        message.queries.push(query.clone());
        message.metadata.recursion_desired = true;
        message
            .edns
            .get_or_insert_with(Edns::new)
            .set_max_payload(DEFAULT_MAX_PAYLOAD_LEN)
            .set_dnssec_ok(false);
        let bytes = message.to_vec().map_err(std::io::Error::other)?;
        let unspecified = SocketAddr::new(
            if server.is_ipv4() {
                std::net::Ipv4Addr::UNSPECIFIED.into()
            } else {
                std::net::Ipv6Addr::UNSPECIFIED.into()
            },
            0,
        );
        let socket = runtime.bind_udp(unspecified, server).await?;
        socket.send_to(&bytes, server).await?;
        Ok(FastQuery {
            socket,
            query,
            buf: vec![0; usize::from(DEFAULT_MAX_PAYLOAD_LEN).max(4096)],
        })
    }

    /// Wait for the answer. Datagrams reach this query only from the server
    /// asked and with the query's id (the pool sorts them); one whose
    /// question is not the query's is ignored, as hickory ignores it.
    pub(crate) async fn answer(&mut self) -> FastOutcome {
        loop {
            let Ok((len, _source)) = self.socket.recv_from(&mut self.buf).await else {
                return FastOutcome::Hickory;
            };
            let Some(data) = self.buf.get(..len) else {
                return FastOutcome::Hickory;
            };
            // hickory fails the exchange on an answer it cannot parse.
            let Ok(response) = Message::from_vec(data) else {
                return FastOutcome::Hickory;
            };
            if response.queries.len() != 1 || response.queries.first() != Some(&self.query) {
                continue;
            }
            return judge(response, &self.query);
        }
    }
}

/// What hickory's resolver (NameServerPool, `DnsError::from_response`,
/// `CachingClient`) returns for this response, when that is simple.
fn judge(mut response: Message, query: &Query) -> FastOutcome {
    if response.metadata.truncation {
        return FastOutcome::Truncated;
    }
    let rcode = response.metadata.response_code;
    if !matches!(rcode, ResponseCode::NoError | ResponseCode::NXDomain) {
        return FastOutcome::Hickory;
    }
    // hickory strips DNSSEC records (the DO bit is not set) in some paths
    // and not others; leave such answers to it.
    if response.all_sections().any(|r| r.record_type().is_dnssec()) {
        return FastOutcome::Hickory;
    }
    let rtype = query.query_type();
    let name = query.name();
    let is_the_answer =
        |r: &&hickory_resolver::proto::rr::Record| r.record_type() == rtype && &r.name == name;
    // `DnsResponse::contains_answer` for a type other than ANY and SOA.
    let contains_answer =
        !response.answers.is_empty() || response.all_sections().any(|r| is_the_answer(&r));
    if !contains_answer {
        // `DnsError::from_response`: no records, with the negative TTL of
        // the SOA in the authority section (the lesser of its TTL and
        // minimum) and the question as the server repeated it.
        let negative_ttl = response.authorities.iter().find_map(|r| match &r.data {
            RData::SOA(soa) => Some(r.ttl.min(soa.minimum)),
            _ => None,
        });
        let Some(asked) = response.queries.first() else {
            return FastOutcome::Hickory;
        };
        return FastOutcome::Done {
            answer: Answer::NoRecords {
                nxdomain: rcode == ResponseCode::NXDomain,
                negative_ttl,
                name: asked.name().clone(),
            },
            authoritative: response.metadata.authoritative,
        };
    }
    // An NXDOMAIN with records, or a CNAME anywhere in the answers: hickory
    // follows the chain.
    if rcode != ResponseCode::NoError
        || response
            .answers
            .iter()
            .any(|r| r.record_type() == RecordType::CNAME)
    {
        return FastOutcome::Hickory;
    }
    if !response
        .all_sections()
        .any(|r| r.dns_class == DNSClass::IN && is_the_answer(&r))
    {
        return FastOutcome::Hickory;
    }
    // `CachingClient::cache` clamps every TTL to hickory's default bounds.
    for record in response
        .answers
        .iter_mut()
        .chain(response.authorities.iter_mut())
        .chain(response.additionals.iter_mut())
    {
        record.ttl = record.ttl.min(MAX_TTL);
    }
    let authoritative = response.metadata.authoritative;
    let mut records = std::mem::take(&mut response.answers);
    records.append(&mut response.additionals);
    FastOutcome::Done {
        answer: Answer::Records(records),
        authoritative,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hickory_resolver::proto::rr::Record;
    use hickory_resolver::proto::rr::rdata::{CNAME, MX, SOA};

    fn name(text: &str) -> Name {
        Name::from_ascii(text).unwrap()
    }

    fn response(query: &Query, rcode: ResponseCode) -> Message {
        let mut message = Message::response(7, hickory_resolver::proto::op::OpCode::Query);
        message.queries.push(query.clone());
        message.metadata.response_code = rcode;
        message
    }

    fn soa(ttl: u32, minimum: u32) -> Record {
        Record::from_rdata(
            name("test."),
            ttl,
            RData::SOA(SOA::new(
                name("ns.test."),
                name("h.test."),
                1,
                2,
                3,
                4,
                minimum,
            )),
        )
    }

    #[test]
    fn records_of_the_type_asked_are_final_with_hickorys_ttl_bounds() {
        let query = Query::query(name("a.test."), RecordType::MX);
        let mut message = response(&query, ResponseCode::NoError);
        message.metadata.authoritative = true;
        message.answers.push(Record::from_rdata(
            name("A.test."),
            MAX_TTL + 100,
            RData::MX(MX::new(10, name("mx.test."))),
        ));
        match judge(message, &query) {
            FastOutcome::Done {
                answer: Answer::Records(records),
                authoritative: true,
            } => {
                assert_eq!(records.len(), 1);
                assert_eq!(records[0].ttl, MAX_TTL);
            }
            _ => panic!("not a final answer"),
        }
    }

    #[test]
    fn no_records_carry_the_soa_negative_ttl_and_the_question() {
        let query = Query::query(name("gone.test."), RecordType::MX);
        for (rcode, nxdomain) in [
            (ResponseCode::NXDomain, true),
            (ResponseCode::NoError, false),
        ] {
            let mut message = response(&query, rcode);
            message.authorities.push(soa(300, 60));
            match judge(message, &query) {
                FastOutcome::Done {
                    answer:
                        Answer::NoRecords {
                            nxdomain: got,
                            negative_ttl,
                            name: asked,
                        },
                    authoritative: false,
                } => {
                    assert_eq!(got, nxdomain);
                    assert_eq!(negative_ttl, Some(60));
                    assert_eq!(asked, name("gone.test."));
                }
                _ => panic!("not no-records for {rcode:?}"),
            }
        }
    }

    #[test]
    fn everything_else_is_left_to_hickory() {
        let query = Query::query(name("a.test."), RecordType::MX);
        let mut truncated = response(&query, ResponseCode::NoError);
        truncated.metadata.truncation = true;
        assert!(matches!(judge(truncated, &query), FastOutcome::Truncated));
        for rcode in [
            ResponseCode::ServFail,
            ResponseCode::Refused,
            ResponseCode::FormErr,
        ] {
            assert!(matches!(
                judge(response(&query, rcode), &query),
                FastOutcome::Hickory
            ));
        }
        let mut cname = response(&query, ResponseCode::NoError);
        cname.answers.push(Record::from_rdata(
            name("a.test."),
            60,
            RData::CNAME(CNAME(name("b.test."))),
        ));
        assert!(matches!(judge(cname, &query), FastOutcome::Hickory));
        // Records, but none of the type asked for the name asked.
        let mut other = response(&query, ResponseCode::NoError);
        other.answers.push(Record::from_rdata(
            name("elsewhere.test."),
            60,
            RData::MX(MX::new(10, name("mx.test."))),
        ));
        assert!(matches!(judge(other, &query), FastOutcome::Hickory));
    }
}
