//! The fast path of one query: a plain UDP exchange over the socket pool.
//!
//! hickory's resolver sends every query through a request channel to a
//! background task, a connection pool, a caching client (even with the cache
//! off), a retry scheduler and a CNAME follower: several task wake-ups and
//! re-parses per query, which at 100,000 domains cost more CPU than the
//! queries themselves. Most answers need none of that. Here the query is
//! sent once and its answer is checked by `validate`, exactly as an answer
//! that came through hickory's name-server pool is; what needs the pool's
//! machinery is left to it: truncation (TCP), an error code (hickory asks
//! again, with its retries), an answer that does not parse, and silence.
//! So every fault keeps hickory's behaviour and texts; only a failing
//! server sees one query more.
//!
//! The name goes out in random letter case (0x20) unless the server is
//! known not to repeat it: an answer must repeat the question in exactly
//! that case, or it is no answer here ([`FastOutcome::CaseMismatch`]: the
//! caller asks over TCP).

use std::net::SocketAddr;

use hickory_proto::op::{DEFAULT_MAX_PAYLOAD_LEN, Edns, Message, Query, ResponseCode};
use hickory_proto::rr::{Name, RecordType};
use hickory_resolver::net::runtime::{DnsUdpSocket, RuntimeProvider};

use super::udp_pool::{PooledUdp, PooledUdpRuntime};
use super::validate::{self, Checked};

/// What the fast path made of the server's answer.
pub(crate) enum FastOutcome {
    /// The checked answer, and whether the server set the AA bit.
    Done {
        checked: Checked,
        authoritative: bool,
    },
    /// The answer was truncated: the query must go over TCP.
    Truncated,
    /// The answer repeats the question in another letter case than sent:
    /// forged (a blind spoofer cannot know the case), or the server does
    /// not keep the case. Either way it is not believed; ask over TCP.
    CaseMismatch,
    /// Anything else: hickory's name-server pool asks again.
    Hickory,
}

/// One query sent over the pool, waiting for its answer.
pub(crate) struct FastQuery {
    socket: PooledUdp,
    query: Query,
    /// The name as sent in random case, when randomised: the answer must
    /// repeat it exactly. (Without randomisation the case carries no
    /// secret, and a server's habit of changing it means nothing.)
    random_case: Option<Name>,
    buf: Vec<u8>,
}

impl FastQuery {
    /// Send `name` `rtype` to `server` as hickory's resolver would: a random
    /// id, recursion desired, EDNS with hickory's payload size, no DO bit;
    /// with `random_case`, the name's letters in random case.
    pub(crate) async fn send(
        runtime: &PooledUdpRuntime,
        server: SocketAddr,
        name: &Name,
        rtype: RecordType,
        random_case: bool,
    ) -> std::io::Result<FastQuery> {
        let query = Query::query(name.clone(), rtype);
        let random_case = random_case.then(|| {
            let mut sent = name.clone();
            sent.randomize_label_case();
            sent
        });
        let mut message = Message::query();
        message.queries.push(Query::query(
            random_case.clone().unwrap_or_else(|| name.clone()),
            rtype,
        ));
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
            random_case,
            buf: vec![0; usize::from(DEFAULT_MAX_PAYLOAD_LEN).max(4096)],
        })
    }

    /// True when an answer repeating the question exactly shows that the
    /// server keeps the case: some letter went out in upper case (a name
    /// without letters, or one that came out all lower case, shows nothing).
    pub(crate) fn proves_case(&self) -> bool {
        self.random_case
            .as_ref()
            .is_some_and(|sent| !sent.eq_case(&sent.to_lowercase()))
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
            // Names compare without regard to case here.
            if response.queries.len() != 1 || response.queries.first() != Some(&self.query) {
                continue;
            }
            if let Some(sent) = &self.random_case
                && !response
                    .queries
                    .first()
                    .is_some_and(|echoed| echoed.name().eq_case(sent))
            {
                return FastOutcome::CaseMismatch;
            }
            return judge(response, &self.query);
        }
    }
}

/// Truncation and error codes are hickory's; everything else is checked here.
fn judge(response: Message, query: &Query) -> FastOutcome {
    if response.metadata.truncation {
        return FastOutcome::Truncated;
    }
    if !matches!(
        response.metadata.response_code,
        ResponseCode::NoError | ResponseCode::NXDomain
    ) {
        return FastOutcome::Hickory;
    }
    FastOutcome::Done {
        checked: validate::check(query, &response),
        authoritative: response.metadata.authoritative,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resolve::answer::Answer;
    use crate::test_support::{name, response};
    use hickory_proto::rr::rdata::{A, CNAME, MX};
    use hickory_proto::rr::{RData, Record};
    use hickory_resolver::MAX_TTL;

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
                checked: Checked::Answer(Answer::Records(records)),
                authoritative: true,
            } => {
                assert_eq!(records.len(), 1);
                assert_eq!(records[0].ttl, MAX_TTL);
            }
            _ => panic!("not a final answer"),
        }
    }

    #[test]
    fn cname_chains_and_malformed_answers_are_decided_here() {
        let query = Query::query(name("a.test."), RecordType::A);
        let mut chained = response(&query, ResponseCode::NoError);
        chained.answers.push(Record::from_rdata(
            name("a.test."),
            60,
            RData::CNAME(CNAME(name("b.test."))),
        ));
        chained.answers.push(Record::from_rdata(
            name("b.test."),
            60,
            RData::A(A::new(192, 0, 2, 1)),
        ));
        assert!(matches!(
            judge(chained, &query),
            FastOutcome::Done {
                checked: Checked::Answer(Answer::Records(_)),
                ..
            }
        ));
        let mut foreign = response(&query, ResponseCode::NoError);
        foreign.answers.push(Record::from_rdata(
            name("evil.test."),
            60,
            RData::A(A::new(192, 0, 2, 1)),
        ));
        assert!(matches!(
            judge(foreign, &query),
            FastOutcome::Done {
                checked: Checked::Answer(Answer::Failed(_)),
                ..
            }
        ));
    }

    #[test]
    fn truncation_and_error_codes_are_left_to_hickory() {
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
    }
}
