//! 0x20: query names go out in random letter case, and an answer must
//! repeat the question in exactly that case (issue 19, hardening the UDP
//! pool). A forged answer in another case is not believed (the question is
//! asked again over TCP); a server that never repeats the case is, after a
//! few answers, asked without it.

use std::net::Ipv4Addr;

use crate::common::dns::{domain, live_options, run_bound};
use crate::common::dns_server::Transport;
use crate::common::mini_zone::MiniZone;
use crate::common::raw_dns::{RawDns, mx, question, reply_to};
use hickory_proto::op::Message;
use hickory_proto::rr::RecordType;
use mxdrift::identity::ServerIdentity;
use mxdrift::resolve::gather_checked;
use mxdrift::verdict::{Verdict, verdict};

const US: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 10);
const THEM: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 7);

fn identity() -> ServerIdentity {
    let mut id = ServerIdentity::default();
    id.add_address(US.into());
    id
}

/// The question of `answer`, in lower case: what a server that does not
/// keep the case (or a blind spoofer) sends back.
fn lowercased(mut answer: Message) -> Message {
    for q in &mut answer.queries {
        let lower = q.name().to_lowercase();
        q.set_name(lower);
    }
    answer
}

fn truth(domains: &[&str]) -> MiniZone {
    let mut zone = MiniZone::new()
        .a("mail.hoster.test", US)
        .a("mx1.elsewhere.test", THEM)
        .mx("control.test", 10, "mx1.elsewhere.test");
    for d in domains {
        zone = zone.mx(d, 10, "mail.hoster.test");
    }
    zone
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forged_answer_in_another_case_is_not_believed() {
    // Long names: a blind spoofer's lower-case question matches a random
    // case with probability 2^-letters (1 in 32 for `t1.test`).
    let targets = [
        "one.forged-answers-never-count.test",
        "two.forged-answers-never-count.test",
        "three.forged-answers-never-count.test",
        "four.forged-answers-never-count.test",
        "five.forged-answers-never-count.test",
    ];
    let zone = truth(&targets);
    let udp_zone = zone.clone();
    // Over UDP every target's answer is a lie in lower case (a blind
    // spoofer cannot know the case); everything else is the truth, in the
    // case asked. Over TCP, the truth.
    let server = RawDns::start_split(
        move |request| {
            let (qname, qtype) = question(request)?;
            let name = qname.to_ascii();
            if qtype == RecordType::MX && targets.iter().any(|t| name == format!("{t}.")) {
                let mut lie = reply_to(request);
                lie.answers.push(mx(&name, 10, "mx1.elsewhere.test."));
                return Some(lowercased(lie));
            }
            udp_zone.answer(request)
        },
        move |request| zone.answer(request),
    )
    .await;
    let opts = live_options(&[server.addr()]);
    let mut names: Vec<_> = targets.iter().map(|d| domain(d)).collect();
    names.push(domain("control.test"));
    let report = tokio::time::timeout(
        run_bound(&opts),
        gather_checked(&names, &["mail.hoster.test".to_string()], &opts),
    )
    .await
    .expect("within its timeouts")
    .expect("resolver set up");
    for target in targets {
        let evidence = &report.evidence[&domain(target)];
        assert_eq!(
            verdict(evidence, &identity()),
            Verdict::Here,
            "{target}: {evidence:?}"
        );
        assert!(
            server
                .transports(target, RecordType::MX)
                .contains(&Transport::Tcp),
            "{target}: asked again over TCP"
        );
    }
    assert_eq!(
        verdict(&report.evidence[&domain("control.test")], &identity()),
        Verdict::Elsewhere
    );
    // The control's answer kept its case: it never needed TCP.
    assert_eq!(
        server.transports("control.test", RecordType::MX),
        [Transport::Udp]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_that_does_not_keep_the_case_is_asked_without_it() {
    let names: Vec<String> = (1..=20).map(|i| format!("d{i:02}.example.test")).collect();
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    let zone = truth(&refs);
    let udp_zone = zone.clone();
    let server = RawDns::start_split(
        move |request| udp_zone.answer(request).map(lowercased),
        move |request| zone.answer(request),
    )
    .await;
    let mut opts = live_options(&[server.addr()]);
    // One query at a time, so that "after a few answers" is well defined.
    opts.concurrency = 1;
    let domains: Vec<_> = names.iter().map(|d| domain(d)).collect();
    let report = tokio::time::timeout(run_bound(&opts), gather_checked(&domains, &[], &opts))
        .await
        .expect("within its timeouts")
        .expect("resolver set up");
    for name in &names {
        assert_eq!(
            verdict(&report.evidence[&domain(name)], &identity()),
            Verdict::Here,
            "{name}"
        );
    }
    let over_tcp: Vec<&String> = names
        .iter()
        .filter(|n| {
            server
                .transports(n, RecordType::MX)
                .contains(&Transport::Tcp)
        })
        .collect();
    // The first answers in the wrong case went to TCP; then the server
    // was asked without random case, over UDP alone.
    assert!(over_tcp.len() < 10, "{over_tcp:?}");
    for name in &names[10..] {
        assert_eq!(
            server.transports(name, RecordType::MX),
            [Transport::Udp],
            "{name}"
        );
    }
    let received = server.received();
    assert!(
        received.iter().any(|r| r.transport == Transport::Tcp),
        "the mismatched answers were asked again over TCP: {received:?}"
    );
}
