//! The Plesk fixture as a Plesk server holds it: `var/spool/postfix/plesk/`
//! has only the maps compiled by the real `postmap` (virtual_domains.db,
//! vmailbox.db, virtual.db, transport.db), no text sources. Audited offline
//! (zone file) and live (NSD serving the same zone on loopback), every
//! domain must get the same delivery, verdict and findings as from the text
//! sources, and `fix --commands` the same panel commands.

use std::collections::BTreeMap;
use std::net::{SocketAddr, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

const MAPS: [&str; 4] = ["virtual_domains", "vmailbox", "virtual", "transport"];
const SERVER_IP: &str = "203.0.113.10";

fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/plesk/postfix")
}

/// Find a tool; skip visibly without it, except under CI=true.
fn tool(name: &str) -> Option<PathBuf> {
    let found = ["/usr/sbin", "/usr/bin", "/sbin", "/bin", "/usr/local/sbin"]
        .iter()
        .map(|d| Path::new(d).join(name))
        .find(|p| p.is_file());
    if found.is_none() {
        if std::env::var("CI").as_deref() == Ok("true") {
            panic!("{name} is required under CI=true but was not found");
        }
        eprintln!("SKIPPED: {name} is not installed; the compiled Plesk test needs it");
    }
    found
}

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

/// A copy of the fixture with the maps compiled by postmap and the text
/// sources removed.
fn compiled_copy(postmap: &Path) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    copy_tree(&fixture(), dir.path());
    let config = dir.path().join("postmap-config");
    std::fs::create_dir_all(&config).unwrap();
    std::fs::write(config.join("main.cf"), "").unwrap();
    let maps = dir.path().join("var/spool/postfix/plesk");
    for map in MAPS {
        let status = Command::new(postmap)
            .arg("-c")
            .arg(&config)
            .arg(format!("hash:{}", maps.join(map).display()))
            .status()
            .unwrap();
        assert!(status.success(), "postmap {map}");
        std::fs::remove_file(maps.join(map)).unwrap();
        assert!(maps.join(format!("{map}.db")).is_file());
    }
    std::fs::remove_dir_all(&config).unwrap();
    dir
}

fn mxdrift(root: &Path, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_mxdrift"))
        .args(args)
        .arg("--root")
        .arg(root)
        .args(["--server-ip", SERVER_IP])
        .output()
        .unwrap()
}

/// domain -> (delivery, verdict, rules) and the JSON document.
fn audit(root: &Path, dns: &[&str]) -> (BTreeMap<String, String>, serde_json::Value) {
    let mut args = vec!["audit", "--format", "json", "--fail-on", "never"];
    args.extend_from_slice(dns);
    let out = mxdrift(root, &args);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let verdicts = doc["domains"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            let rules: Vec<&str> = d["findings"]
                .as_array()
                .unwrap()
                .iter()
                .map(|f| f["rule"].as_str().unwrap())
                .collect();
            (
                d["domain"].as_str().unwrap().to_string(),
                format!(
                    "{} {} {}",
                    d["delivery"].as_str().unwrap(),
                    d["verdict"].as_str().unwrap(),
                    rules.join(",")
                ),
            )
        })
        .collect();
    (verdicts, doc)
}

fn declared_files(doc: &serde_json::Value, domain: &str) -> Vec<(String, u64)> {
    doc["domains"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["domain"] == domain)
        .unwrap()["declared"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            (
                d["file"].as_str().unwrap().to_string(),
                d["line"].as_u64().unwrap(),
            )
        })
        .collect()
}

fn expected_count() -> usize {
    std::fs::read_to_string(fixture().join("expected.txt"))
        .unwrap()
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .count()
}

#[test]
fn compiled_maps_only_audit_offline_like_the_text_sources() {
    let Some(postmap) = tool("postmap") else {
        return;
    };
    let compiled = compiled_copy(&postmap);
    let zone = fixture().join("zones/test.zone");
    let zone = zone.to_str().unwrap();
    let (from_text, _) = audit(&fixture(), &["--zone-file", zone]);
    let (from_compiled, doc) = audit(compiled.path(), &["--zone-file", zone]);
    assert_eq!(from_text.len(), expected_count());
    assert_eq!(from_compiled, from_text);
    // Declared where Postfix reads it: the compiled map, line 0.
    assert_eq!(
        declared_files(&doc, "moved.test"),
        [("var/spool/postfix/plesk/virtual_domains.db".to_string(), 0)]
    );
    // No warning about the maps: nothing is missing, stale or unreadable.
    let warnings = doc["warnings"].as_array().cloned().unwrap_or_default();
    assert!(
        warnings
            .iter()
            .all(|w| !w["message"].as_str().unwrap_or("").contains("plesk/")),
        "{warnings:?}"
    );

    // The fix is the panel's command, never a write to a compiled map.
    let fix = |root: &Path| {
        let out = mxdrift(root, &["fix", "--commands", "--zone-file", zone]);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let script = String::from_utf8(out.stdout).unwrap();
        script
            .lines()
            .filter(|l| l.starts_with("plesk "))
            .map(str::to_string)
            .collect::<Vec<_>>()
    };
    let commands = fix(compiled.path());
    assert!(
        commands
            .iter()
            .any(|c| c.contains("'moved.test'") && c.contains("-mail_service false")),
        "{commands:?}"
    );
    assert_eq!(commands, fix(&fixture()));
    let diff = mxdrift(compiled.path(), &["fix", "--zone-file", zone]);
    assert!(
        diff.stdout.is_empty(),
        "a diff on Plesk: {}",
        String::from_utf8_lossy(&diff.stdout)
    );
}

/// Kills NSD when the test ends, however it ends.
struct Nsd(Child);

impl Drop for Nsd {
    fn drop(&mut self) {
        // SIGTERM lets NSD stop its own children; SIGKILL only as a fallback.
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

fn free_port() -> u16 {
    for _ in 0..50 {
        let udp = UdpSocket::bind("127.0.0.1:0").unwrap();
        let port = udp.local_addr().unwrap().port();
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no free loopback port");
}

fn answers(addr: SocketAddr) -> bool {
    let Ok(socket) = UdpSocket::bind("127.0.0.1:0") else {
        return false;
    };
    let _ = socket.set_read_timeout(Some(Duration::from_millis(200)));
    // A minimal query: id 1, RD, one question `test. SOA IN`.
    let query = [
        0, 1, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 4, b't', b'e', b's', b't', 0, 0, 6, 0, 1,
    ];
    if socket.send_to(&query, addr).is_err() {
        return false;
    }
    let mut buf = [0u8; 512];
    socket.recv(&mut buf).is_ok()
}

/// NSD serving the fixture's zone `test.` on a loopback port.
fn start_nsd(nsd: &Path, dir: &Path) -> (Nsd, SocketAddr) {
    std::fs::copy(fixture().join("zones/test.zone"), dir.join("test.zone")).unwrap();
    for _ in 0..3 {
        let port = free_port();
        let d = dir.display();
        let config = format!(
            "server:\n    ip-address: 127.0.0.1\n    port: {port}\n    username: \"\"\n    chroot: \"\"\n    zonesdir: \"{d}\"\n    pidfile: \"{d}/nsd.pid\"\n    database: \"\"\n    zonelistfile: \"{d}/zone.list\"\n    xfrdfile: \"{d}/xfrd.state\"\n    xfrdir: \"{d}\"\n    logfile: \"{d}/nsd.log\"\n    do-ip6: no\n    server-count: 1\n    verbosity: 1\n    rrl-ratelimit: 0\nremote-control:\n    control-enable: no\nzone:\n    name: \"test\"\n    zonefile: \"test.zone\"\n"
        );
        std::fs::write(dir.join("nsd.conf"), config).unwrap();
        let child = Command::new(nsd)
            .arg("-d")
            .arg("-c")
            .arg(dir.join("nsd.conf"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut guard = Nsd(child);
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        for _ in 0..50 {
            if answers(addr) {
                return (guard, addr);
            }
            if let Ok(Some(_)) = guard.0.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }
    panic!(
        "nsd did not start: {}",
        std::fs::read_to_string(dir.join("nsd.log")).unwrap_or_default()
    );
}

#[test]
fn compiled_maps_only_audit_live_against_nsd_like_the_text_sources() {
    let (Some(postmap), Some(nsd)) = (tool("postmap"), tool("nsd")) else {
        return;
    };
    let compiled = compiled_copy(&postmap);
    let nsd_dir = tempfile::tempdir().unwrap();
    let (_nsd, addr) = start_nsd(&nsd, nsd_dir.path());
    let ns = addr.to_string();
    let dns = ["--nameserver", ns.as_str(), "--timeout", "2"];
    let (from_text, _) = audit(&fixture(), &dns);
    let (from_compiled, _) = audit(compiled.path(), &dns);
    assert_eq!(from_text.len(), expected_count());
    assert_eq!(from_compiled, from_text);
    // The live answers are real ones: the moved domain is found elsewhere.
    assert_eq!(
        from_compiled.get("moved.test").map(String::as_str),
        Some("local elsewhere mail-switch-on")
    );
}
