//! DNS garbage never becomes evidence (issue 11 §A). Each malformed or
//! inconsistent answer is served over the network by a raw responder, once
//! to the fast path (over UDP) and once to hickory's name-server pool (the
//! UDP answer is truncated, the crafted one comes over TCP); the verdict
//! must be inconclusive either way, and `mxdrift fix` must plan nothing for
//! it, while a well-formed control domain beside them is still fixed.
//! CNAME chains of eight links to this server must resolve ("here"), where
//! they used to end as "no address" and let a foreign backup MX win.

use std::net::{Ipv4Addr, Ipv6Addr};

use crate::common::dns::{domain, live_options, run_bound};
use crate::common::dns_server::Transport;
use crate::common::raw_dns::{
    Path, RawDns, a, aaaa, cname, mx, name, ns, question, reply_to, soa, with_rcode,
};
use crate::common::{run_mxdrift_blocking, write};
use hickory_proto::op::{Message, Query, ResponseCode};
use hickory_proto::rr::RecordType;
use mxdrift::identity::ServerIdentity;
use mxdrift::resolve::{MxEvidence, ResolveReport, gather};
use mxdrift::verdict::{Verdict, verdict};

const US: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 10);
const THEM: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 7);
const FOREIGN_MX: &str = "mx.elsewhere.garbage.test.";
/// Links of the CNAME chains to this server's MX host.
const CHAIN_LINKS: usize = 8;

/// (domain, expected verdict, a phrase of the problem both paths give)
const CASES: &[(&str, Verdict, Option<&str>)] = &[
    ("control.garbage.test", Verdict::Elsewhere, None),
    (
        "additional.garbage.test",
        Verdict::Inconclusive,
        Some("only in the additional section"),
    ),
    (
        "authority.garbage.test",
        Verdict::Inconclusive,
        Some("only in the authority section"),
    ),
    (
        "owner.garbage.test",
        Verdict::Inconclusive,
        Some("other.garbage.test"),
    ),
    (
        "wrongtype.garbage.test",
        Verdict::Inconclusive,
        Some(
            "the answer to wrongtype.garbage.test MX holds a record of type A for wrongtype.garbage.test",
        ),
    ),
    (
        "nxmx.garbage.test",
        Verdict::Inconclusive,
        Some("NXDOMAIN with MX records"),
    ),
    ("foreign-a.garbage.test", Verdict::Inconclusive, None),
    ("loop.garbage.test", Verdict::Inconclusive, None),
    (
        "nxnosoa.garbage.test",
        Verdict::Inconclusive,
        Some("RFC 2308"),
    ),
    (
        "nodatanosoa.garbage.test",
        Verdict::Inconclusive,
        Some("RFC 2308"),
    ),
    (
        "referral.garbage.test",
        Verdict::Inconclusive,
        Some("does not recurse"),
    ),
    ("question.garbage.test", Verdict::Inconclusive, None),
    ("loopback.garbage.test", Verdict::Inconclusive, None),
    ("loopback-a.garbage.test", Verdict::Inconclusive, None),
    ("localhost-mx.garbage.test", Verdict::Inconclusive, None),
    ("halfhost.garbage.test", Verdict::Inconclusive, None),
    ("chain.garbage.test", Verdict::Here, None),
    ("fullchain.garbage.test", Verdict::Here, None),
];

fn negative(mut m: Message, nxdomain: bool) -> Message {
    m.authorities
        .push(soa("garbage.test.", "ns1.garbage.test."));
    if nxdomain {
        m = with_rcode(m, ResponseCode::NXDomain);
    }
    m
}

/// The zone `garbage.test.` as a lying or broken server would serve it.
fn garbage_zone(request: &Message) -> Option<Message> {
    let (qname, qtype) = question(request)?;
    let qname = qname.to_ascii();
    let mut m = reply_to(request);
    let addr = |m: &mut Message, v4: Ipv4Addr, v6: Option<Ipv6Addr>| match qtype {
        RecordType::A => m.answers.push(a(&qname, v4)),
        RecordType::AAAA => match v6 {
            Some(v6) => m.answers.push(aaaa(&qname, v6)),
            None => m
                .authorities
                .push(soa("garbage.test.", "ns1.garbage.test.")),
        },
        _ => m
            .authorities
            .push(soa("garbage.test.", "ns1.garbage.test.")),
    };
    if !qname.ends_with("garbage.test.") && qname != "localhost." {
        return Some(with_rcode(m, ResponseCode::Refused));
    }
    // CNAME chains of CHAIN_LINKS links to this server: one link per
    // answer (as an authoritative server answers), or all in one.
    if let Some(rest) = qname.strip_suffix(".chain.garbage.test.") {
        let index: usize = rest.trim_start_matches('c').parse().ok()?;
        if index < CHAIN_LINKS {
            m.answers.push(cname(
                &qname,
                &format!("c{}.chain.garbage.test.", index + 1),
            ));
        } else {
            addr(&mut m, US, None);
        }
        return Some(m);
    }
    if qname == "f0.fullchain.garbage.test." && matches!(qtype, RecordType::A | RecordType::AAAA) {
        for index in 0..CHAIN_LINKS {
            m.answers.push(cname(
                &format!("f{index}.fullchain.garbage.test."),
                &format!("f{}.fullchain.garbage.test.", index + 1),
            ));
        }
        let end = format!("f{CHAIN_LINKS}.fullchain.garbage.test.");
        match qtype {
            RecordType::A => m.answers.push(a(&end, US)),
            _ => m
                .authorities
                .push(soa("garbage.test.", "ns1.garbage.test.")),
        }
        return Some(m);
    }
    let is_mx = qtype == RecordType::MX;
    match qname.as_str() {
        "control.garbage.test." if is_mx => m.answers.push(mx(&qname, 10, FOREIGN_MX)),
        "mx.elsewhere.garbage.test." => addr(&mut m, THEM, None),
        "mx.us.garbage.test." => addr(&mut m, US, None),
        "additional.garbage.test." if is_mx => {
            m.additionals.push(mx(&qname, 10, FOREIGN_MX));
            m = negative(m, false);
        }
        "authority.garbage.test." if is_mx => {
            m.authorities.push(mx(&qname, 10, FOREIGN_MX));
            m = negative(m, false);
        }
        "owner.garbage.test." if is_mx => m.answers.push(mx("other.garbage.test.", 10, FOREIGN_MX)),
        "wrongtype.garbage.test." if is_mx => {
            m.answers.push(a(&qname, THEM));
            m = negative(m, false);
        }
        // Its implicit MX, had "A instead of MX" become NODATA: elsewhere.
        "wrongtype.garbage.test." => addr(&mut m, THEM, None),
        "nxmx.garbage.test." if is_mx => {
            m.answers.push(mx(&qname, 10, FOREIGN_MX));
            m = negative(m, true);
        }
        "foreign-a.garbage.test." if is_mx => {
            m.answers.push(mx(&qname, 10, "mx-foreign-a.garbage.test."));
            m.answers.push(mx(&qname, 20, FOREIGN_MX));
        }
        // An address answer for another name than the MX host asked.
        "mx-foreign-a.garbage.test." => match qtype {
            RecordType::A => m.answers.push(a("evil.garbage.test.", US)),
            _ => m
                .answers
                .push(aaaa("evil.garbage.test.", Ipv6Addr::LOCALHOST)),
        },
        "chain.garbage.test." if is_mx => {
            m.answers.push(mx(&qname, 10, "c0.chain.garbage.test."));
            m.answers.push(mx(&qname, 20, FOREIGN_MX));
        }
        "fullchain.garbage.test." if is_mx => {
            m.answers.push(mx(&qname, 10, "f0.fullchain.garbage.test."));
            m.answers.push(mx(&qname, 20, FOREIGN_MX));
        }
        "loop.garbage.test." if is_mx => {
            m.answers.push(mx(&qname, 10, "l0.loop.garbage.test."));
            m.answers.push(mx(&qname, 20, FOREIGN_MX));
        }
        "l0.loop.garbage.test." => m.answers.push(cname(&qname, "l1.loop.garbage.test.")),
        "l1.loop.garbage.test." => m.answers.push(cname(&qname, "l0.loop.garbage.test.")),
        "nxnosoa.garbage.test." if is_mx => m = with_rcode(m, ResponseCode::NXDomain),
        "nodatanosoa.garbage.test." if is_mx => {}
        "referral.garbage.test." if is_mx => {
            m.authorities
                .push(ns("referral.garbage.test.", "ns1.elsewhere.example."));
        }
        "question.garbage.test." if is_mx => {
            m.queries = vec![Query::query(name("other.garbage.test."), RecordType::MX)];
            m.answers.push(mx("other.garbage.test.", 10, FOREIGN_MX));
        }
        "loopback.garbage.test." if is_mx => m.answers.push(mx(&qname, 10, "127.0.0.1.")),
        "loopback-a.garbage.test." if is_mx => {
            m.answers.push(mx(&qname, 10, "mx-lo.garbage.test."));
        }
        "mx-lo.garbage.test." => addr(&mut m, Ipv4Addr::LOCALHOST, Some(Ipv6Addr::LOCALHOST)),
        "localhost-mx.garbage.test." if is_mx => m.answers.push(mx(&qname, 10, "localhost.")),
        // A resolver asked for localhost would say 127.0.0.1; mxdrift must
        // not ask (and this one would lie about it).
        "localhost." => addr(&mut m, THEM, None),
        "halfhost.garbage.test." if is_mx => {
            m.answers.push(mx(&qname, 10, "mx.us.garbage.test."));
            m.answers.push(mx(&qname, 10, "mx-fail.garbage.test."));
        }
        "mx-fail.garbage.test." => m = with_rcode(m, ResponseCode::ServFail),
        _ => m = negative(m, true),
    }
    Some(m)
}

fn identity() -> ServerIdentity {
    let mut id = ServerIdentity::default();
    id.add_address(US.into());
    id
}

async fn gather_cases(server: &RawDns) -> ResolveReport {
    let opts = live_options(&[server.addr()]);
    let names: Vec<_> = CASES.iter().map(|(d, _, _)| domain(d)).collect();
    tokio::time::timeout(run_bound(&opts), gather(&names, &opts))
        .await
        .expect("gather finishes within its timeouts")
        .expect("resolver set up")
}

/// Every problem text of the evidence, the domain's and its hosts'.
fn problems(evidence: &MxEvidence) -> String {
    let mut all: Vec<&str> = evidence.problem.iter().map(String::as_str).collect();
    all.extend(evidence.mx.iter().filter_map(|h| h.problem.as_deref()));
    all.join(" | ")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_is_inconclusive_through_the_fast_path_and_through_hickory() {
    for path in [Path::Fast, Path::Hickory] {
        let server = RawDns::start(path, garbage_zone).await;
        let report = gather_cases(&server).await;
        for (name, expected, phrase) in CASES {
            let evidence = &report.evidence[&domain(name)];
            let got = verdict(evidence, &identity());
            eprintln!("{path:?} {name}: {got:?}: {}", problems(evidence));
            assert_eq!(got, *expected, "{path:?} {name}: {evidence:?}");
            if let Some(phrase) = phrase {
                let text = problems(evidence);
                assert!(text.contains(phrase), "{path:?} {name}: {text}");
            }
            // Which path received the MX answer.
            let transports = server.transports(name, RecordType::MX);
            match path {
                Path::Fast => assert!(
                    !transports.is_empty() && !transports.contains(&Transport::Tcp),
                    "{name}: {transports:?}"
                ),
                Path::Hickory => assert!(
                    transports.contains(&Transport::Tcp),
                    "{name}: {transports:?}"
                ),
            }
        }
        let get = |d: &str| &report.evidence[&domain(d)];
        // The eight-link chains end at this server's address.
        for chained in ["chain.garbage.test", "fullchain.garbage.test"] {
            let host = &get(chained).mx[0];
            assert_eq!(host.addresses, vec![std::net::IpAddr::from(US)], "{path:?}");
            assert!(host.cname.is_some(), "{path:?} {chained}");
        }
        assert!(
            problems(get("loop.garbage.test")).contains("CNAME loop"),
            "{path:?}"
        );
        assert!(
            problems(get("foreign-a.garbage.test")).contains("evil.garbage.test"),
            "{path:?}"
        );
        // An MX target named localhost is never asked for.
        assert!(server.transports("localhost.", RecordType::A).is_empty());
        assert_eq!(
            get("localhost-mx.garbage.test").mx[0].addresses,
            vec![
                std::net::IpAddr::from(Ipv4Addr::LOCALHOST),
                std::net::IpAddr::from(Ipv6Addr::LOCALHOST)
            ]
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fix_plans_nothing_for_garbage_on_either_path() {
    let root = tempfile::tempdir().unwrap();
    // The control domain on a continuation line of its own.
    let mut domains: Vec<&str> = CASES.iter().map(|(d, _, _)| *d).collect();
    domains.retain(|d| *d != "control.garbage.test");
    domains.insert(1, "control.garbage.test");
    write(
        root.path(),
        "etc/postfix/main.cf",
        format!(
            "myhostname = mail.garbage.test\nmydestination =\nvirtual_mailbox_domains = {}\n",
            domains.join(",\n    ")
        ),
    );
    for path in [Path::Fast, Path::Hickory] {
        let server = RawDns::start(path, garbage_zone).await;
        let ns = server.addr().to_string();
        let root_path = root.path().to_str().unwrap().to_string();
        let args = |command: &str| {
            let mut args = vec![command];
            if command == "audit" {
                args.extend(["--format", "json", "--fail-on", "never"]);
            }
            args.extend([
                "--root",
                &root_path,
                "--nameserver",
                &ns,
                "--server-ip",
                "203.0.113.10",
                "--timeout",
                "0.5",
                "--attempts",
                "1",
            ]);
            args.into_iter().map(String::from).collect::<Vec<_>>()
        };
        let audit = run_mxdrift_blocking(args("audit")).await;
        let doc: serde_json::Value = serde_json::from_slice(&audit.stdout).unwrap_or_else(|e| {
            panic!("{path:?}: {e}: {}", String::from_utf8_lossy(&audit.stderr))
        });
        for d in doc["domains"].as_array().unwrap() {
            let name = d["domain"].as_str().unwrap();
            let (_, expected, _) = CASES.iter().find(|(n, _, _)| *n == name).unwrap();
            assert_eq!(d["verdict"], expected.as_str(), "{path:?} {name}: {d}");
            let rules: Vec<&str> = d["findings"]
                .as_array()
                .unwrap()
                .iter()
                .map(|f| f["rule"].as_str().unwrap())
                .collect();
            if name.starts_with("loopback") || name.starts_with("localhost-mx") {
                assert!(
                    rules.contains(&"mx-host-loopback"),
                    "{path:?} {name}: {rules:?}"
                );
            }
        }
        let fix = run_mxdrift_blocking(args("fix")).await;
        assert_eq!(
            fix.status.code(),
            Some(0),
            "{path:?}: {}",
            String::from_utf8_lossy(&fix.stderr)
        );
        let diff = String::from_utf8_lossy(&fix.stdout);
        // The control domain is fixed: the pipeline works...
        assert!(
            diff.contains("-    control.garbage.test,"),
            "{path:?}: {diff}"
        );
        // ...and it is the only line the diff removes.
        let removed: Vec<&str> = diff
            .lines()
            .filter(|l| l.starts_with('-') && !l.starts_with("---"))
            .collect();
        assert_eq!(removed, ["-    control.garbage.test,"], "{path:?}: {diff}");
    }
}
