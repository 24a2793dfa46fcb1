//! Builders for the unit tests (compiled for `cargo test` only). The
//! integration tests share `builders.rs` (see there); what only unit tests
//! need (hickory names for the resolver's internals) stays here.

mod builders;

pub use builders::*;

use crate::inventory::DomainName;

/// A DNS name, as the resolver's internals take it (`a.test.`).
pub fn name(text: &str) -> hickory_proto::rr::Name {
    hickory_proto::rr::Name::from_ascii(text).expect("test DNS name")
}

pub fn domain(text: &str) -> DomainName {
    DomainName::parse(text).expect("test domain name")
}

/// An empty response (id 7) to `query` with this rcode.
pub fn response(
    query: &hickory_proto::op::Query,
    rcode: hickory_proto::op::ResponseCode,
) -> hickory_proto::op::Message {
    let mut message = hickory_proto::op::Message::response(7, hickory_proto::op::OpCode::Query);
    message.queries.push(query.clone());
    message.metadata.response_code = rcode;
    message
}
