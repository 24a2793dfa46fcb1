//! Audits of every platform fixture, offline (zone file) and live (the
//! in-process DNS server serving the same zone): every domain gets the
//! delivery, verdict and rule its `expected.txt` states, and
//! `server.platform` names the platform.

use crate::common::dns_server::DnsServer;
use crate::common::fixture;
use crate::common::report::{Rows, audit_json, expected_rows as expected, rows};

/// (fixture dir, platform, extra args)
const FIXTURES: &[(&str, &str)] = &[
    ("plesk/postfix", "plesk"),
    ("plesk/qmail", "plesk"),
    ("cpanel/basic", "cpanel"),
    ("cpanel/partial", "cpanel"),
    ("cpanel/routing", "cpanel"),
    ("directadmin/basic", "directadmin"),
    ("directadmin/partial", "directadmin"),
    ("qmail/basic", "qmail"),
    ("list/basic", "list"),
    ("exim/debian", "exim"),
    ("exim/debian-generated", "exim"),
    ("hestiacp/basic", "hestiacp"),
];

fn root_args(dir: &str) -> Vec<String> {
    let root = fixture(dir);
    if dir.starts_with("list/") {
        // The list fixture is a --domains file; the root holds nothing else.
        vec![
            "--root".into(),
            root.display().to_string(),
            "--domains".into(),
            root.join("domains.txt").display().to_string(),
        ]
    } else {
        vec!["--root".into(), root.display().to_string()]
    }
}

fn audit(dir: &str, dns: &[String]) -> (String, Rows) {
    let mut args = root_args(dir);
    args.extend_from_slice(dns);
    args.extend(["--server-ip".into(), "203.0.113.10".into()]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let doc = audit_json(&args);
    (
        doc["server"]["platform"].as_str().unwrap().to_string(),
        rows(&doc),
    )
}

#[test]
fn offline_audit_of_every_fixture_matches_expected() {
    for (dir, platform) in FIXTURES {
        let zone = fixture(dir).join("zones/test.zone").display().to_string();
        let (got_platform, got) = audit(dir, &["--zone-file".into(), zone]);
        assert_eq!(&got_platform, platform, "{dir}");
        assert_eq!(got, expected(dir), "{dir}");
    }
}

#[test]
fn the_fixtures_cover_every_verdict() {
    let mut verdicts: Vec<String> = FIXTURES
        .iter()
        .flat_map(|(d, _)| expected(d).into_values().map(|v| v.1))
        .collect();
    verdicts.sort();
    verdicts.dedup();
    assert_eq!(
        verdicts,
        [
            "backup",
            "elsewhere",
            "here",
            "inconclusive",
            "mixed",
            "no-mail-host",
            "null-mx",
            "nxdomain"
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_audit_of_every_fixture_matches_expected() {
    for (dir, platform) in FIXTURES {
        let zone = std::fs::read_to_string(fixture(dir).join("zones/test.zone")).unwrap();
        let server = DnsServer::start(&zone).await;
        let ns = server.addr().to_string();
        let dir_owned = dir.to_string();
        let (got_platform, mut got) = tokio::task::spawn_blocking(move || {
            audit(
                &dir_owned,
                &["--nameserver".into(), ns, "--timeout".into(), "2".into()],
            )
        })
        .await
        .unwrap();
        assert_eq!(&got_platform, platform, "{dir}");
        let mut want = expected(dir);
        // hickory answers RFC 6761 special-use names (`.invalid`) itself,
        // without asking the server; offline they are outside every zone.
        got.retain(|d, _| !d.ends_with(".invalid"));
        want.retain(|d, _| !d.ends_with(".invalid"));
        assert_eq!(got, want, "{dir}");
    }
}

/// The Exim fixtures audited live against NSD, the real authoritative
/// server, serving their zone on loopback.
#[test]
fn exim_fixtures_audited_live_against_nsd() {
    for (dir, platform) in [("exim/debian", "exim"), ("hestiacp/basic", "hestiacp")] {
        let Some(nsd) =
            crate::common::nsd::Nsd::start(&[("test", fixture(dir).join("zones/test.zone"))])
        else {
            return;
        };
        let (got_platform, mut got) = audit(
            dir,
            &[
                "--nameserver".into(),
                nsd.addr().to_string(),
                "--timeout".into(),
                "2".into(),
            ],
        );
        assert_eq!(got_platform, platform, "{dir}");
        let mut want = expected(dir);
        // `legacy.invalid` is under no zone NSD serves: REFUSED, inconclusive
        // as offline; hickory may answer `.invalid` itself.
        got.retain(|d, _| !d.ends_with(".invalid"));
        want.retain(|d, _| !d.ends_with(".invalid"));
        assert_eq!(got, want, "{dir}");
    }
}
