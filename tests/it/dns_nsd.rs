//! End to end against a real authoritative server: NSD serving the test
//! zones on a loopback port. Its answers must give the expected evidence,
//! the same as the offline resolver loading the same files. NSD does not
//! recurse: below a delegation it answers with a referral, which is no
//! answer (inconclusive), as the offline resolver says too. It also serves
//! `idn.test`, whose MX host labels are valid DNS but not valid IDNA.

use std::net::{SocketAddr, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::common::dns::{
    ALL_CASES, ZONE_FILES, comparable, domain, find_tool, live_options, missing_tool,
    offline_options, run_bound, zone_path,
};
use hickory_proto::op::{Message, Query};
use hickory_proto::rr::{Name, RecordType};
use mxdrift::inventory::DomainName;
use mxdrift::resolve::{DnsStatus, HostLookup, gather};

/// The shared test zones, and one that hickory's own zone parser (and so
/// the in-process test server) cannot read.
const NSD_ZONE_FILES: [&str; 3] = [ZONE_FILES[0], ZONE_FILES[1], "idn.test.zone"];

/// Names of `idn.test`.
const IDN_CASES: [&str; 2] = ["xn--mller-recht-thb.idn.test", "under_score.idn.test"];

/// Kills NSD when the test ends, however it ends.
struct NsdGuard {
    child: Child,
    log: PathBuf,
}

impl Drop for NsdGuard {
    fn drop(&mut self) {
        // SIGTERM first: NSD then stops its own server and xfrd children,
        // which a SIGKILL would leave orphaned. SIGKILL only as a fallback.
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
        for _ in 0..50 {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl NsdGuard {
    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

/// A loopback port that is free for both UDP and TCP right now.
fn free_port() -> u16 {
    for _ in 0..50 {
        let udp = UdpSocket::bind("127.0.0.1:0").expect("bind UDP on loopback");
        let port = udp.local_addr().expect("bound").port();
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no free loopback port");
}

fn write_config(dir: &Path, port: u16) -> PathBuf {
    let d = dir.display();
    let mut config = format!(
        "server:\n\
         \x20   ip-address: 127.0.0.1\n\
         \x20   port: {port}\n\
         \x20   username: \"\"\n\
         \x20   chroot: \"\"\n\
         \x20   zonesdir: \"{d}\"\n\
         \x20   pidfile: \"{d}/nsd.pid\"\n\
         \x20   database: \"\"\n\
         \x20   zonelistfile: \"{d}/zone.list\"\n\
         \x20   xfrdfile: \"{d}/xfrd.state\"\n\
         \x20   xfrdir: \"{d}\"\n\
         \x20   logfile: \"{d}/nsd.log\"\n\
         \x20   do-ip6: no\n\
         \x20   server-count: 1\n\
         \x20   verbosity: 1\n\
         remote-control:\n\
         \x20   control-enable: no\n"
    );
    for file in NSD_ZONE_FILES {
        let zone = file.trim_end_matches(".zone");
        config.push_str(&format!(
            "zone:\n    name: \"{zone}\"\n    zonefile: \"{file}\"\n"
        ));
        std::fs::copy(zone_path(file), dir.join(file)).expect("copy zone file");
    }
    let path = dir.join("nsd.conf");
    std::fs::write(&path, config).expect("write nsd.conf");
    path
}

/// True once NSD answers an SOA query for the test zone.
fn answers(addr: SocketAddr) -> bool {
    let Ok(socket) = UdpSocket::bind("127.0.0.1:0") else {
        return false;
    };
    let _ = socket.set_read_timeout(Some(Duration::from_millis(200)));
    let mut query = Message::query();
    query.add_query(Query::query(
        Name::from_ascii("drift.test.").expect("name"),
        RecordType::SOA,
    ));
    let Ok(bytes) = query.to_vec() else {
        return false;
    };
    if socket.send_to(&bytes, addr).is_err() {
        return false;
    }
    let mut buf = [0u8; 4096];
    socket.recv(&mut buf).is_ok()
}

fn start_nsd(nsd: &Path, dir: &Path) -> (NsdGuard, SocketAddr) {
    let checkconf = find_tool("nsd-checkconf");
    let mut last_log = String::new();
    for _ in 0..3 {
        let port = free_port();
        let config = write_config(dir, port);
        if let Some(checkconf) = &checkconf {
            let status = Command::new(checkconf)
                .arg(&config)
                .status()
                .expect("run nsd-checkconf");
            assert!(status.success(), "nsd-checkconf rejects the test config");
        }
        let log = dir.join("nsd.stderr");
        let stderr = std::fs::File::create(&log).expect("create log");
        let child = Command::new(nsd)
            .arg("-d")
            .arg("-c")
            .arg(&config)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .expect("start nsd");
        let mut guard = NsdGuard { child, log };
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        // Readiness: poll until it answers, bounded (about 10 s).
        for _ in 0..50 {
            if answers(addr) {
                return (guard, addr);
            }
            if let Ok(Some(_exited)) = guard.child.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        last_log = format!(
            "{}\n{}",
            guard.log_text(),
            std::fs::read_to_string(dir.join("nsd.log")).unwrap_or_default()
        );
        // The port may have been taken in between: try another one.
    }
    panic!("nsd did not start:\n{last_log}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nsd_answers_classify_as_expected() {
    let Some(nsd) = find_tool("nsd") else {
        missing_tool("nsd");
        return;
    };
    let dir = tempfile::tempdir().expect("temp dir");
    let (_guard, addr) = start_nsd(&nsd, dir.path());

    let names: Vec<DomainName> = ALL_CASES
        .iter()
        .chain(&IDN_CASES)
        .map(|d| domain(d))
        .collect();
    let opts = live_options(&[addr]);
    let live = tokio::time::timeout(run_bound(&opts), gather(&names, &opts))
        .await
        .expect("no hang")
        .expect("resolver set up");
    let get = |d: &str| &live.evidence[&domain(d)];

    // Spot checks in NSD's own terms.
    assert_eq!(get("ok.drift.test").status, DnsStatus::Ok);
    assert_eq!(get("ok.drift.test").mx.len(), 2);
    assert_eq!(get("missing.drift.test").status, DnsStatus::Nxdomain);
    assert_eq!(
        get("dangling.drift.test").dangling_cname.as_deref(),
        Some("gone.drift.test")
    );
    assert_eq!(get("nodata-a.drift.test").status, DnsStatus::Nodata);
    assert!(get("nodata-a.drift.test").implicit_mx);
    assert_eq!(get("nullmix.drift.test").status, DnsStatus::NullMx);
    assert_eq!(
        get("cname-mx.drift.test").mx[0].cname.as_deref(),
        Some("mx1.drift.test")
    );
    assert!(get("literal.drift.test").mx[0].ip_literal);
    assert_eq!(
        get("unresolvable.drift.test").mx[0].lookup,
        HostLookup::NoAddress
    );
    assert_eq!(
        get("outside.drift.test").mx[0].lookup,
        HostLookup::Inconclusive
    );
    assert_eq!(get("not-served.example").status, DnsStatus::Inconclusive);
    // A referral is not an answer: NSD does not recurse.
    for delegated in ["delegated.drift.test", "x.delegated.drift.test"] {
        let evidence = get(delegated);
        assert_eq!(evidence.status, DnsStatus::Inconclusive, "{delegated}");
        let problem = evidence.problem.as_deref().unwrap_or_default();
        assert!(
            problem.contains("does not recurse"),
            "{delegated}: {problem}"
        );
    }
    // DNS labels that are not IDNA.
    let idn = get("xn--mller-recht-thb.idn.test");
    assert_eq!(idn.status, DnsStatus::Ok);
    assert_eq!(
        idn.mx[0].host,
        "xn--mller-recht-thb-test.mail.protection.idn.test"
    );
    assert_eq!(
        idn.mx[0].addresses,
        vec!["198.51.100.77".parse::<std::net::IpAddr>().unwrap()]
    );
    assert_eq!(get("under_score.idn.test").mx[0].host, "mail_host.idn.test");
    // NSD is authoritative for the zones, and says so.
    assert_eq!(live.authoritative_servers, vec![addr]);

    // And the offline resolver reads the same files the same way.
    let offline = gather(&names, &offline_options(&NSD_ZONE_FILES))
        .await
        .expect("zone files load");
    for name in &names {
        assert_eq!(
            comparable(&live.evidence[name]),
            comparable(&offline.evidence[name]),
            "{name}: NSD and offline differ"
        );
    }
}
