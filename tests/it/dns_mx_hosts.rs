//! A domain's MX hosts are looked up at once (within the run's in-flight
//! limit), and at most `MAX_MX_HOSTS_LOOKED_UP` of them: hosts that never
//! answer cost one timeout, not one each, and a host past the limit can
//! only make the verdict inconclusive, never "elsewhere".

use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use crate::common::dns::{domain, live_options};
use crate::common::raw_dns::{Path, RawDns, a, mx, question, reply_to, soa};
use hickory_proto::op::Message;
use hickory_proto::rr::RecordType;
use mxdrift::identity::ServerIdentity;
use mxdrift::resolve::{DnsStatus, HostLookup, ResolveOptions, gather};
use mxdrift::verdict::{Verdict, verdict};

const US: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 10);
const THEM: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 7);
const LIMIT: usize = mxdrift::resolve::MAX_MX_HOSTS_LOOKED_UP;

/// `silent.test`: 20 MX hosts whose names never answer. `wide.test`: 40
/// hosts at one preference, all foreign. `deep.test`: one foreign host at
/// preference 10, then 40 worse ones. `ours.test`: this server at 10, then
/// 40 worse foreign ones.
fn respond(request: &Message) -> Option<Message> {
    let (qname, rtype) = question(request)?;
    let qname = qname.to_ascii();
    let mut reply = reply_to(request);
    match (qname.as_str(), rtype) {
        ("silent.test.", RecordType::MX) => {
            for i in 0..20 {
                reply
                    .answers
                    .push(mx("silent.test.", 10 + i, &format!("s{i}.silent.test.")));
            }
        }
        ("wide.test.", RecordType::MX) => {
            for i in 0..40 {
                reply
                    .answers
                    .push(mx("wide.test.", 10, &format!("w{i:02}.wide.test.")));
            }
        }
        ("deep.test.", RecordType::MX) => {
            reply.answers.push(mx("deep.test.", 10, "best.deep.test."));
            for i in 0..40 {
                reply
                    .answers
                    .push(mx("deep.test.", 20, &format!("d{i:02}.deep.test.")));
            }
        }
        ("ours.test.", RecordType::MX) => {
            reply.answers.push(mx("ours.test.", 10, "here.ours.test."));
            for i in 0..40 {
                reply
                    .answers
                    .push(mx("ours.test.", 20, &format!("o{i:02}.ours.test.")));
            }
        }
        (name, _) if name.ends_with(".silent.test.") => return None,
        // The resolver checks (the root zone's SOA, arpa's) find zones.
        (_, RecordType::SOA) => reply.answers.push(soa(&qname, "ns.test.")),
        ("here.ours.test.", RecordType::A) => reply.answers.push(a(&qname, US)),
        (_, RecordType::A) => reply.answers.push(a(&qname, THEM)),
        // No AAAA anywhere: NODATA with the SOA of test.
        (_, _) => reply.authorities.push(soa("test.", "ns.test.")),
    }
    Some(reply)
}

fn identity() -> ServerIdentity {
    let mut id = ServerIdentity::default();
    id.add_address(US.into());
    id
}

fn options(server: &RawDns) -> ResolveOptions {
    ResolveOptions {
        timeout: Duration::from_secs(1),
        attempts: 1,
        // The default: the hosts' queries fit in flight at once.
        concurrency: 64,
        ..live_options(&[server.addr()])
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_silent_mx_hosts_cost_one_timeout_and_are_inconclusive() {
    let server = RawDns::start(Path::Fast, respond).await;
    let opts = options(&server);
    let started = Instant::now();
    let report = gather(&[domain("silent.test")], &opts).await.unwrap();
    let took = started.elapsed();
    let evidence = &report.evidence[&domain("silent.test")];
    assert_eq!(evidence.status, DnsStatus::Ok);
    assert_eq!(evidence.mx.len(), 20);
    for host in &evidence.mx {
        assert_eq!(host.lookup, HostLookup::Inconclusive, "{host:?}");
    }
    assert_eq!(verdict(evidence, &identity()), Verdict::Inconclusive);
    // One after another they took 20 timeouts (and more). A generous bound:
    // three timeouts.
    assert!(
        took < opts.timeout * 3,
        "20 silent MX hosts took {took:?} at --timeout {:?}",
        opts.timeout
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hosts_past_the_limit_are_never_a_reason_for_elsewhere() {
    let server = RawDns::start(Path::Fast, respond).await;
    let opts = options(&server);
    let names = [
        domain("wide.test"),
        domain("deep.test"),
        domain("ours.test"),
    ];
    let report = gather(&names, &opts).await.unwrap();

    // The limit cuts into the deciding preference: inconclusive.
    let wide = &report.evidence[&domain("wide.test")];
    assert_eq!(wide.mx.len(), 40);
    let unresolved: Vec<_> = wide
        .mx
        .iter()
        .filter(|h| h.lookup == HostLookup::Inconclusive)
        .collect();
    assert_eq!(unresolved.len(), 40 - LIMIT, "{:?}", unresolved[0]);
    assert!(
        unresolved[0]
            .problem
            .as_deref()
            .is_some_and(|p| p.contains("not looked up")),
        "{:?}",
        unresolved[0]
    );
    assert_eq!(verdict(wide, &identity()), Verdict::Inconclusive);

    // A foreign best host, worse hosts past the limit that might be this
    // server (a backup MX): inconclusive, not elsewhere.
    let deep = &report.evidence[&domain("deep.test")];
    assert_eq!(verdict(deep, &identity()), Verdict::Inconclusive);

    // This server at the best preference: the hosts past the limit do not
    // matter.
    let ours = &report.evidence[&domain("ours.test")];
    assert_eq!(verdict(ours, &identity()), Verdict::Here);
    // Only the best LIMIT hosts were asked for.
    let asked_a = server
        .received()
        .iter()
        .filter(|r| r.name.ends_with(".ours.test.") && r.rtype == RecordType::A)
        .count();
    assert_eq!(asked_a, LIMIT);
}
