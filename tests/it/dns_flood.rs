//! A forged answer accepted by the audit must not survive into a change
//! (issue 19). While an audit runs, a thread floods the pool's UDP ports
//! (found the way a local attacker finds them, in `/proc/net/udp`) with
//! forged answers carrying every query id, sent from the DNS server's own
//! address and port: "the MX of target.test is elsewhere". The attacker is
//! stronger than an off-path one: it copies each question it sees,
//! letter case included, so only the id and the port stand in its way. The
//! server itself never answers target.test over UDP (the window stays
//! open) and tells the truth over TCP: the MX is this server.
//!
//! Whether or not a forgery wins the race, `fix` must plan nothing for
//! target.test: when the audit believed the forgery, the change is refused
//! because TCP disagrees; when it did not, there is nothing to change. The
//! test asserts that invariant either way, so its outcome does not depend
//! on timing; it prints which case happened.

use std::collections::HashSet;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::common::dns::{domain, live_options};
use crate::common::mini_zone::MiniZone;
use crate::common::raw_dns::{RawDns, mx, question};
use hickory_proto::op::{Message, MessageType, OpCode, Query};
use hickory_proto::rr::RecordType;
use mxdrift::audit::{self, AuditOptions, IdentityOptions};
use mxdrift::civil_date::CivilDate;
use mxdrift::remediate::{self, Confirmation, RefusalCause};
use mxdrift::rules::RuleSet;
use mxdrift::sources::{ConfigRoot, PlatformChoice, SourceOptions};
use mxdrift::verdict::Verdict;
use tokio::net::UdpSocket;

const US: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 10);
const THEM: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 7);

fn truth() -> MiniZone {
    MiniZone::new()
        .mx("target.test", 10, "mail.hoster.test")
        .mx("control.test", 10, "mx1.elsewhere.test")
        .a("mail.hoster.test", US)
        .a("mx1.elsewhere.test", THEM)
}

/// The local ports of this process's UDP sockets, except `except`: the
/// pool's sockets (the audit runs in this process), found as a local
/// attacker would find them.
fn pool_ports(except: u16) -> Vec<u16> {
    let mut inodes = HashSet::new();
    if let Ok(fds) = std::fs::read_dir("/proc/self/fd") {
        for fd in fds.flatten() {
            if let Ok(target) = std::fs::read_link(fd.path()) {
                let target = target.to_string_lossy().into_owned();
                if let Some(inode) = target
                    .strip_prefix("socket:[")
                    .and_then(|t| t.strip_suffix(']'))
                {
                    inodes.insert(inode.to_string());
                }
            }
        }
    }
    let table = std::fs::read_to_string("/proc/self/net/udp").unwrap_or_default();
    let mut ports: Vec<u16> = table
        .lines()
        .skip(1)
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let local = fields.get(1)?;
            let inode = fields.get(9)?;
            if !inodes.contains(*inode) {
                return None;
            }
            let port = u16::from_str_radix(local.rsplit(':').next()?, 16).ok()?;
            (port != except).then_some(port)
        })
        .collect();
    ports.sort_unstable();
    ports.dedup();
    ports
}

/// The forged answer to `asked`, with id 0.
fn forgery(asked: &Query) -> Vec<u8> {
    let mut m = Message::response(0, OpCode::Query);
    m.metadata.message_type = MessageType::Response;
    m.metadata.recursion_desired = true;
    m.metadata.recursion_available = true;
    m.queries.push(asked.clone());
    let owner = asked.name().to_ascii();
    m.answers.push(mx(&owner, 10, "mx1.elsewhere.test."));
    m.to_vec().expect("forged answer encodes")
}

struct Flood {
    stop: Arc<AtomicBool>,
    sent: Arc<AtomicU64>,
    thread: std::thread::JoinHandle<()>,
}

/// Send forged answers to the latest question seen, with every id, to
/// every pool port, from the server's socket, until stopped.
fn flood(socket: Arc<UdpSocket>, latest: Arc<Mutex<Option<Query>>>) -> Flood {
    let stop = Arc::new(AtomicBool::new(false));
    let sent = Arc::new(AtomicU64::new(0));
    let server_port = socket.local_addr().expect("bound").port();
    let thread = {
        let (stop, sent) = (stop.clone(), sent.clone());
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                let asked = latest.lock().unwrap().clone();
                let Some(asked) = asked else {
                    std::thread::sleep(Duration::from_millis(1));
                    continue;
                };
                let mut bytes = forgery(&asked);
                let ports = pool_ports(server_port);
                for id in 0..=u16::MAX {
                    if stop.load(Ordering::Relaxed) {
                        break;
                    }
                    bytes[..2].copy_from_slice(&id.to_be_bytes());
                    for port in &ports {
                        let to = SocketAddr::from((Ipv4Addr::LOCALHOST, *port));
                        if socket.try_send_to(&bytes, to).is_ok() {
                            sent.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                    if id % 4096 == 0 {
                        std::thread::yield_now();
                    }
                }
            }
        })
    };
    Flood { stop, sent, thread }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forged_answer_never_survives_into_a_change() {
    let latest: Arc<Mutex<Option<Query>>> = Arc::default();
    let server = {
        let latest = latest.clone();
        RawDns::start_split(
            move |request| {
                let (qname, qtype) = question(request)?;
                if qtype == RecordType::MX && qname.to_ascii() == "target.test." {
                    // Seen by the attacker, letter case and all; never
                    // answered over UDP.
                    *latest.lock().unwrap() = request.queries.first().cloned();
                    return None;
                }
                truth().answer(request)
            },
            |request| truth().answer(request),
        )
        .await
    };
    let dir = tempfile::tempdir().unwrap();
    let main_cf = dir.path().join("etc/postfix/main.cf");
    std::fs::create_dir_all(main_cf.parent().unwrap()).unwrap();
    std::fs::write(
        &main_cf,
        "myhostname = mail.hoster.test\nmydestination =\nvirtual_mailbox_domains = target.test, control.test\n",
    )
    .unwrap();
    let mut resolve = live_options(&[server.addr()]);
    resolve.timeout = Duration::from_secs(1);
    let opts = AuditOptions {
        sources: SourceOptions {
            root: ConfigRoot::new(dir.path()),
            platform: PlatformChoice::Auto,
            domains_file: None,
            hostname: None,
        },
        identity: IdentityOptions {
            server_ips: vec![US.into()],
            ..IdentityOptions::default()
        },
        resolve,
        ignores: Vec::new(),
        today: CivilDate::today(),
        rdap: Default::default(),
        cross_check: None,
    };

    let attacker = flood(server.udp_socket(), latest);
    let audit = audit::run(&opts, RuleSet::embedded().unwrap())
        .await
        .expect("audit runs");
    attacker.stop.store(true, Ordering::Relaxed);
    let sent = attacker.sent.load(Ordering::Relaxed);
    attacker.thread.join().expect("flood thread");

    let target = audit
        .domains
        .iter()
        .find(|d| d.domain.name == domain("target.test"))
        .expect("target.test audited");
    let control = audit
        .domains
        .iter()
        .find(|d| d.domain.name == domain("control.test"))
        .expect("control.test audited");
    let forged_won = target.verdict == Verdict::Elsewhere;
    eprintln!(
        "{sent} forged datagrams; the audit's verdict on target.test: {:?} (the forgery {})",
        target.verdict,
        if forged_won { "won" } else { "lost" }
    );
    assert!(sent > 0, "the attacker sent nothing");

    let wanted = remediate::candidates(&audit);
    let reconfirmed = audit::reconfirm(&audit, &opts, &wanted)
        .await
        .expect("reconfirm");
    let plan = remediate::plan(&audit, &opts.sources.root, &reconfirmed).expect("plan");
    // The invariant, whatever the race gave.
    assert!(
        plan.fixes.iter().all(|f| f.domain != domain("target.test")),
        "a forged answer became a change: {:?}",
        plan.fixes
    );
    assert!(
        plan.edits.iter().all(|e| !e.diff().contains(
            "-virtual_mailbox_domains = target.test,\n+virtual_mailbox_domains = control.test"
        )),
        "{:?}",
        plan.edits
    );
    if forged_won {
        let refused = plan
            .refused
            .iter()
            .find(|r| r.domain == domain("target.test"))
            .expect("the forged evidence is refused");
        assert_eq!(refused.cause, RefusalCause::EvidenceChanged);
        assert!(
            refused.reason.contains("TCP: verdict here"),
            "{}",
            refused.reason
        );
    } else {
        assert_ne!(target.verdict, Verdict::Elsewhere);
    }
    // The pipeline is not idle: the domain that really moved is fixed, on
    // TCP evidence. (Unless the flood drowned its UDP answers: the audit
    // then calls it inconclusive, and nothing is planned for it either.)
    if control.verdict != Verdict::Elsewhere {
        assert_eq!(control.verdict, Verdict::Inconclusive);
        assert!(
            plan.fixes
                .iter()
                .all(|f| f.domain != domain("control.test"))
        );
        eprintln!("control.test was inconclusive under the flood");
        return;
    }
    let fixed = plan
        .fixes
        .iter()
        .find(|f| f.domain == domain("control.test"))
        .expect("control.test is fixed");
    assert!(
        matches!(
            fixed.confirmation,
            Confirmation::OverTcp {
                verdict: Verdict::Elsewhere,
                ..
            }
        ),
        "{:?}",
        fixed.confirmation
    );
}
