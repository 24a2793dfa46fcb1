//! NSD, the real authoritative server, serving zone files on a loopback
//! port for the end-to-end tests.
//!
//! NSD cannot be handed a bound socket, so the port is one that was free a
//! moment before; another test's server may take it in between. So the
//! readiness probe asks for a zone that only this NSD serves (its name
//! carries the port and this process's id) and checks the answer, and a
//! start that fails moves to another port.

use std::net::{SocketAddr, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use hickory_proto::op::{Message, Query, ResponseCode};
use hickory_proto::rr::{Name, RData, RecordType};

use super::{find_tool, require_tool};

/// A running NSD; stopped when dropped, however the test ends.
pub struct Nsd {
    // Dropped first: NSD stops before its directory goes.
    _process: Process,
    addr: SocketAddr,
    _dir: tempfile::TempDir,
}

/// The NSD process, stopped on drop.
struct Process(Child);

impl Nsd {
    /// NSD serving each `(zone name, zone file)`; `None` after a visible
    /// skip when NSD is not installed (a failure under CI=true).
    pub fn start(zones: &[(&str, PathBuf)]) -> Option<Nsd> {
        Self::launch(&[], zones)
    }

    /// NSD serving each `(zone name, zone file)` on port 53 of each of
    /// `addresses` (loopback addresses of 127/8 that no other test uses:
    /// the authoritative-mode trees, whose root hints and referrals carry
    /// addresses, never ports). Needs root, as CI runs.
    pub fn start_on(addresses: &[std::net::Ipv4Addr], zones: &[(&str, PathBuf)]) -> Option<Nsd> {
        assert!(!addresses.is_empty());
        Self::launch(addresses, zones)
    }

    fn launch(addresses: &[std::net::Ipv4Addr], zones: &[(&str, PathBuf)]) -> Option<Nsd> {
        let nsd = require_tool("nsd")?;
        let checkconf = find_tool("nsd-checkconf");
        let dir = tempfile::tempdir().expect("temp dir");
        let mut zone_config = String::new();
        for (i, (zone, file)) in zones.iter().enumerate() {
            let copy = format!("zone{i}.zone");
            std::fs::copy(file, dir.path().join(&copy))
                .unwrap_or_else(|e| panic!("copy {}: {e}", file.display()));
            zone_config.push_str(&format!(
                "zone:\n    name: \"{zone}\"\n    zonefile: \"{copy}\"\n"
            ));
        }
        let mut last_log = String::new();
        // A fixed address and port either works or does not: one try.
        let tries = if addresses.is_empty() { 5 } else { 1 };
        for _ in 0..tries {
            let (port, bind) = match addresses.first() {
                Some(first) => (53, *first),
                None => (free_port(), std::net::Ipv4Addr::LOCALHOST),
            };
            let probe = probe_zone(port, bind);
            std::fs::write(dir.path().join("probe.zone"), probe_zone_text(&probe))
                .expect("write the probe zone");
            let listen: Vec<std::net::Ipv4Addr> = if addresses.is_empty() {
                vec![bind]
            } else {
                addresses.to_vec()
            };
            let config = write_config(dir.path(), &listen, port, &zone_config, &probe);
            if let Some(checkconf) = &checkconf {
                let status = Command::new(checkconf)
                    .arg(&config)
                    .status()
                    .expect("run nsd-checkconf");
                assert!(status.success(), "nsd-checkconf rejects the test config");
            }
            let stderr = std::fs::File::create(dir.path().join("nsd.stderr")).expect("create log");
            let child = Command::new(&nsd)
                .arg("-d")
                .arg("-c")
                .arg(&config)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(stderr)
                .spawn()
                .expect("start nsd");
            let mut process = Process(child);
            let addr = SocketAddr::from((bind, port));
            // Readiness: poll until it answers, bounded (about 10 s).
            for _ in 0..50 {
                if answers_probe(addr, &probe) {
                    return Some(Nsd {
                        _process: process,
                        addr,
                        _dir: dir,
                    });
                }
                if let Ok(Some(_exited)) = process.0.try_wait() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(200));
            }
            last_log = format!(
                "{}\n{}",
                std::fs::read_to_string(dir.path().join("nsd.stderr")).unwrap_or_default(),
                std::fs::read_to_string(dir.path().join("nsd.log")).unwrap_or_default()
            );
            // Dropping `process` stops this NSD; the port may have been
            // taken in between: try another one.
        }
        panic!("nsd did not start:\n{last_log}");
    }

    /// The address to give as `--nameserver` (UDP and TCP).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        // SIGTERM first: NSD then stops its own server and xfrd children,
        // which a SIGKILL would leave orphaned. SIGKILL only as a fallback.
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.0.id().to_string())
            .status();
        for _ in 0..50 {
            if let Ok(Some(_)) = self.0.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
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

/// The zone only the NSD on `port` of `bind` in this process serves.
fn probe_zone(port: u16, bind: std::net::Ipv4Addr) -> Name {
    let [a, b, c, d] = bind.octets();
    Name::from_ascii(format!(
        "p{port}-{a}-{b}-{c}-{d}-{}.nsd-probe.invalid.",
        std::process::id()
    ))
    .expect("probe zone name")
}

fn probe_zone_text(zone: &Name) -> String {
    format!(
        "$ORIGIN {zone}\n$TTL 60\n@ IN SOA ns.{zone} hostmaster.{zone} 1 3600 600 86400 60\n@ IN NS ns.{zone}\nns IN A 127.0.0.1\n"
    )
}

fn write_config(
    dir: &Path,
    listen: &[std::net::Ipv4Addr],
    port: u16,
    zones: &str,
    probe: &Name,
) -> PathBuf {
    let d = dir.display();
    let ip_addresses: String = listen
        .iter()
        .map(|ip| format!("    ip-address: {ip}\n"))
        .collect();
    let config = format!(
        "server:\n\
         {ip_addresses}\
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
         \x20   rrl-ratelimit: 0\n\
         remote-control:\n\
         \x20   control-enable: no\n\
         {zones}\
         zone:\n\
         \x20   name: \"{probe}\"\n\
         \x20   zonefile: \"probe.zone\"\n"
    );
    let path = dir.join("nsd.conf");
    std::fs::write(&path, config).expect("write nsd.conf");
    path
}

/// True once the server at `addr` answers the probe zone's SOA.
fn answers_probe(addr: SocketAddr, probe: &Name) -> bool {
    let Ok(socket) = UdpSocket::bind("0.0.0.0:0") else {
        return false;
    };
    let _ = socket.set_read_timeout(Some(Duration::from_millis(200)));
    let mut query = Message::query();
    query.add_query(Query::query(probe.clone(), RecordType::SOA));
    let Ok(bytes) = query.to_vec() else {
        return false;
    };
    if socket.send_to(&bytes, addr).is_err() {
        return false;
    }
    let mut buf = [0u8; 4096];
    let Ok(len) = socket.recv(&mut buf) else {
        return false;
    };
    let Ok(answer) = Message::from_vec(&buf[..len]) else {
        return false;
    };
    answer.metadata.response_code == ResponseCode::NoError
        && answer
            .answers
            .iter()
            .any(|r| r.name == *probe && matches!(r.data, RData::SOA(_)))
}
