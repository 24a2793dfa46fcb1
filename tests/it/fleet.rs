//! `mxdrift fleet` end to end: three real audits of the fixture servers in
//! `testdata/fleet-rules/` (web1, web2, web3 on plain Postfix, one zone
//! file for the world's DNS), then the fleet over their reports. Each case
//! of the fixture is named in its zone file; the expected findings are:
//!
//! - `moved-in.test`: local on web1 and web2, MX web2 (by address):
//!   fleet-moved-internally on web1, fleet-local-on-several on both;
//! - `relayed.test`: local on web1, MX web3 which relays it:
//!   fleet-moved-internally on web1;
//! - `lost.test`: local on web1, MX web3 which does not know it:
//!   fleet-not-accepted on web3;
//! - `backup-mx.test`: local on web3, backup MX web2 which does not know it:
//!   fleet-not-accepted on web2;
//! - `shared.test`: local on web1 and web3 at the same preference:
//!   fleet-local-on-several on both.
//!
//! `localhost.fleet.test` is in every server's mydestination and is never a
//! finding. The html report is checked in a real headless Chromium.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Output;

use mxdrift::timestamp::Timestamp;

use crate::common::report::{assert_valid, validator};
use crate::common::{copy_fixture, fixture, mxdrift, require_tool, text};

const SERVERS: [&str; 3] = ["web1", "web2", "web3"];

fn zone() -> PathBuf {
    fixture("fleet-rules/zones/test.zone")
}

/// `mxdrift audit --format json` of a server root, written to `dir/NAME.json`.
fn audit_to(root: &Path, dir: &Path, name: &str) -> PathBuf {
    let out = mxdrift()
        .args(["audit", "--format", "json", "--fail-on", "never", "--root"])
        .arg(root)
        .arg("--zone-file")
        .arg(zone())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "audit of {name}: {}",
        text(&out.stderr)
    );
    let path = dir.join(format!("{name}.json"));
    std::fs::write(&path, &out.stdout).unwrap();
    path
}

/// The three fixture servers' reports in a fresh directory.
fn reports() -> (tempfile::TempDir, Vec<PathBuf>) {
    let dir = tempfile::tempdir().unwrap();
    let paths = SERVERS
        .iter()
        .map(|s| audit_to(&fixture(&format!("fleet-rules/{s}")), dir.path(), s))
        .collect();
    (dir, paths)
}

fn fleet(args: &[&str], reports: &[PathBuf]) -> Output {
    mxdrift()
        .arg("fleet")
        .args(args)
        .args(reports)
        .output()
        .unwrap()
}

fn fleet_json(args: &[&str], reports: &[PathBuf]) -> (serde_json::Value, Option<i32>) {
    let out = fleet(&[&["--format", "json"], args].concat(), reports);
    let doc = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", text(&out.stderr)));
    assert_valid(&validator(), "the fleet report", &doc);
    (doc, out.status.code())
}

/// (rule, domain, server) of every finding.
fn findings(doc: &serde_json::Value) -> BTreeSet<(String, String, String)> {
    doc["fleet"]["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["rule"].as_str().unwrap().to_string(),
                f["domain"].as_str().unwrap().to_string(),
                f["server"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn set(rows: &[(&str, &str, &str)]) -> BTreeSet<(String, String, String)> {
    rows.iter()
        .map(|(r, d, s)| (r.to_string(), d.to_string(), s.to_string()))
        .collect()
}

const ALL_FINDINGS: &[(&str, &str, &str)] = &[
    ("fleet-moved-internally", "moved-in.test", "web1.fleet.test"),
    ("fleet-moved-internally", "relayed.test", "web1.fleet.test"),
    ("fleet-not-accepted", "lost.test", "web3.fleet.test"),
    ("fleet-not-accepted", "backup-mx.test", "web2.fleet.test"),
    ("fleet-local-on-several", "moved-in.test", "web1.fleet.test"),
    ("fleet-local-on-several", "moved-in.test", "web2.fleet.test"),
    ("fleet-local-on-several", "shared.test", "web1.fleet.test"),
    ("fleet-local-on-several", "shared.test", "web3.fleet.test"),
];

/// Set a report's `server.audited_at` (as if it had been written then).
fn set_audited_at(path: &Path, when: Timestamp) {
    let mut doc: serde_json::Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    doc["server"]["audited_at"] = serde_json::Value::String(when.to_string());
    std::fs::write(path, serde_json::to_vec_pretty(&doc).unwrap()).unwrap();
}

fn hours_ago(hours: u64) -> Timestamp {
    Timestamp(Timestamp::now().0 - hours * 3600)
}

#[test]
fn the_audit_report_names_its_server_and_time() {
    let (_dir, paths) = reports();
    for (server, path) in SERVERS.iter().zip(&paths) {
        let doc: serde_json::Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
        assert_valid(&validator(), server, &doc);
        assert_eq!(doc["server"]["hostname"], format!("{server}.fleet.test"));
        let when = Timestamp::parse(doc["server"]["audited_at"].as_str().unwrap()).unwrap();
        assert!(when.age_at(Timestamp::now()).as_secs() < 600);
    }
}

#[test]
fn all_three_fleet_rules_fire_with_their_evidence() {
    let (_dir, paths) = reports();
    let (doc, code) = fleet_json(&[], &paths);
    assert_eq!(
        code,
        Some(1),
        "critical findings fail the default --fail-on"
    );
    assert_eq!(findings(&doc), set(ALL_FINDINGS));
    assert_eq!(doc["fleet"]["summary"]["findings"]["critical"], 4);
    assert_eq!(doc["fleet"]["summary"]["findings"]["warning"], 4);
    assert_eq!(doc["fleet"]["summary"]["stale"], 0);
    assert!(doc["fleet"]["superseded"].as_array().unwrap().is_empty());

    let find = |rule: &str, domain: &str| {
        doc["fleet"]["findings"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["rule"] == rule && f["domain"] == domain)
            .unwrap_or_else(|| panic!("{rule} {domain}"))
            .clone()
    };
    let moved = find("fleet-moved-internally", "moved-in.test");
    assert_eq!(moved["severity"], "critical");
    assert_eq!(
        moved["servers"],
        serde_json::json!(["web1.fleet.test", "web2.fleet.test"])
    );
    let evidence = moved["evidence"].to_string();
    // Both servers, each with its declaration, and the MX that links them.
    for expected in [
        "web1.fleet.test delivers it locally: etc/postfix/vdomains:4 (virtual_mailbox_domains)",
        "web2.fleet.test delivers it locally: etc/postfix/vdomains:3 (virtual_mailbox_domains)",
        "MX 10 mx.web2.fleet.test [203.0.113.12] is web2.fleet.test",
    ] {
        assert!(evidence.contains(expected), "{expected}\n{evidence}");
    }
    let relayed = find("fleet-moved-internally", "relayed.test")["evidence"].to_string();
    assert!(
        relayed.contains("web3.fleet.test relays it: etc/postfix/main.cf:"),
        "{relayed}"
    );

    let lost = find("fleet-not-accepted", "lost.test");
    assert_eq!(lost["severity"], "critical");
    let message = lost["message"].as_str().unwrap();
    assert!(
        message.contains("web1.fleet.test still delivers it locally")
            && message.contains("before switching web1.fleet.test off"),
        "{message}"
    );
    assert!(
        lost["evidence"]
            .to_string()
            .contains("web3.fleet.test: not in its inventory")
    );
    assert!(
        find("fleet-not-accepted", "backup-mx.test")["message"]
            .as_str()
            .unwrap()
            .starts_with("a backup MX of it points at fleet server web2.fleet.test")
    );
    assert_eq!(
        find("fleet-local-on-several", "shared.test")["severity"],
        "warning"
    );

    // Each server's own findings and its fleet findings, per rule.
    let web1 = &doc["fleet"]["servers"][0];
    assert_eq!(web1["hostname"], "web1.fleet.test");
    assert_eq!(web1["rules"]["mail-switch-on"], 3);
    assert_eq!(web1["rules"]["fleet-moved-internally"], 2);
    assert_eq!(web1["findings"]["critical"], 3);

    for (fail_on, expected) in [("critical", 1), ("never", 0)] {
        let out = fleet(&["--fail-on", fail_on], &paths);
        assert_eq!(out.status.code(), Some(expected), "--fail-on {fail_on}");
    }
}

#[test]
fn a_stale_report_is_named_and_left_out() {
    let (_dir, paths) = reports();
    set_audited_at(&paths[2], hours_ago(3 * 24));
    let (doc, code) = fleet_json(&[], &paths);
    assert_eq!(code, Some(1));
    let web3 = &doc["fleet"]["servers"][2];
    assert_eq!(web3["hostname"], "web3.fleet.test");
    assert_eq!(web3["stale"], true);
    assert_eq!(doc["fleet"]["summary"]["stale"], 1);
    let notes = doc["fleet"]["notes"].to_string();
    assert!(
        notes.contains("web3.fleet.test: stale")
            && notes.contains(&paths[2].display().to_string())
            && notes.contains("--max-age 2 d"),
        "{notes}"
    );
    // Nothing rests on web3's report: neither its domains nor web3 as an MX.
    assert_eq!(
        findings(&doc),
        set(&[
            ("fleet-moved-internally", "moved-in.test", "web1.fleet.test"),
            ("fleet-local-on-several", "moved-in.test", "web1.fleet.test"),
            ("fleet-local-on-several", "moved-in.test", "web2.fleet.test"),
        ])
    );

    // A longer --max-age takes it in again.
    let (doc, _) = fleet_json(&["--max-age", "4d"], &paths);
    assert_eq!(findings(&doc), set(ALL_FINDINGS));
    assert_eq!(doc["fleet"]["max_age_seconds"], 4 * 86_400);

    // A stale report alone counts as a warning for the exit code.
    let only = [paths[1].clone(), paths[2].clone()];
    let (doc, code) = fleet_json(&[], &only);
    assert!(findings(&doc).is_empty());
    assert_eq!(code, Some(1));
    let (_, code) = fleet_json(&["--fail-on", "critical"], &only);
    assert_eq!(code, Some(0));

    let lines = text(&fleet(&["--format", "text"], &paths).stdout);
    assert!(
        lines.contains("\nSTALE web3.fleet.test ") && lines.is_ascii(),
        "{lines}"
    );
    assert!(
        lines.starts_with(
            "CRITICAL fleet-moved-internally moved-in.test web1.fleet.test: delivered locally"
        ),
        "{lines}"
    );
    let table = text(&fleet(&[], &paths).stdout);
    assert!(table.contains("STALE"), "{table}");
    assert!(table.contains("note: web3.fleet.test: stale"), "{table}");
}

#[test]
fn the_newest_report_of_a_server_wins_and_says_so() {
    let (dir, paths) = reports();
    // web2 an hour ago, before the customer of moved-in.test moved in: a
    // real audit of web2's configuration as it was then.
    let before = copy_fixture("fleet-rules/web2");
    let vdomains = before.path().join("etc/postfix/vdomains");
    let text_now = std::fs::read_to_string(&vdomains).unwrap();
    std::fs::write(&vdomains, text_now.replace("moved-in.test\n", "")).unwrap();
    let old = audit_to(before.path(), dir.path(), "web2-old");
    set_audited_at(&old, hours_ago(1));

    // Alone, the old report makes web2 look as if it did not accept it.
    let (doc, _) = fleet_json(&[], &[paths[0].clone(), old.clone(), paths[2].clone()]);
    assert!(findings(&doc).contains(&(
        "fleet-not-accepted".to_string(),
        "moved-in.test".to_string(),
        "web2.fleet.test".to_string()
    )));

    // With both, in either order, the newest wins and the report says so.
    for order in [
        vec![
            paths[0].clone(),
            paths[1].clone(),
            old.clone(),
            paths[2].clone(),
        ],
        vec![
            old.clone(),
            paths[0].clone(),
            paths[1].clone(),
            paths[2].clone(),
        ],
    ] {
        let (doc, _) = fleet_json(&[], &order);
        assert_eq!(findings(&doc), set(ALL_FINDINGS));
        let superseded = &doc["fleet"]["superseded"];
        assert_eq!(superseded.as_array().unwrap().len(), 1, "{superseded}");
        assert_eq!(superseded[0]["hostname"], "web2.fleet.test");
        assert_eq!(superseded[0]["file"], old.display().to_string());
        assert_eq!(superseded[0]["newer_file"], paths[1].display().to_string());
        assert_eq!(doc["fleet"]["servers"].as_array().unwrap().len(), 3);
        let table = text(&fleet(&[], &order).stdout);
        assert!(
            table.contains(&format!(
                "superseded: web2.fleet.test: two reports; {} (audited",
                paths[1].display()
            )) && table.contains(&format!("wins over {}", old.display())),
            "{table}"
        );
    }
}

#[test]
fn prometheus_has_every_server_and_fleet_rule() {
    let (_dir, paths) = reports();
    let out = fleet(&["--format", "prometheus"], &paths);
    assert_eq!(out.status.code(), Some(1));
    let body = text(&out.stdout);
    let scrape = prometheus_parse::Scrape::parse(body.lines().map(|l| Ok(l.to_string())))
        .expect("valid exposition format");
    let value = |name: &str, labels: &[(&str, &str)]| -> f64 {
        let sample = scrape
            .samples
            .iter()
            .find(|s| s.metric == name && labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v)))
            .unwrap_or_else(|| panic!("{name} {labels:?} missing:\n{body}"));
        match sample.value {
            prometheus_parse::Value::Gauge(v) | prometheus_parse::Value::Untyped(v) => v,
            ref other => panic!("{name}: unexpected {other:?}"),
        }
    };
    let findings = |rule: &str, severity: &str, server: &str| {
        value(
            "mxdrift_fleet_findings",
            &[("rule", rule), ("severity", severity), ("server", server)],
        )
    };
    assert_eq!(
        findings("fleet-moved-internally", "critical", "web1.fleet.test"),
        2.0
    );
    assert_eq!(
        findings("fleet-not-accepted", "critical", "web3.fleet.test"),
        1.0
    );
    assert_eq!(
        findings("fleet-local-on-several", "warning", "web2.fleet.test"),
        1.0
    );
    // Zeros are samples too: "no finding" is not "no report".
    assert_eq!(
        findings("fleet-moved-internally", "critical", "web3.fleet.test"),
        0.0
    );
    let series = scrape
        .samples
        .iter()
        .filter(|s| s.metric == "mxdrift_fleet_findings")
        .count();
    assert_eq!(series, 9, "3 servers x 3 rules");
    assert_eq!(value("mxdrift_fleet_last_run_success", &[]), 1.0);
    assert_eq!(value("mxdrift_fleet_servers", &[("state", "fresh")]), 3.0);
    assert_eq!(
        value(
            "mxdrift_fleet_report_stale",
            &[("server", "web2.fleet.test")]
        ),
        0.0
    );
    assert!(
        !body.contains("mxdrift_last_run"),
        "the audit's own metric names stay the audit's"
    );

    // A report that cannot be read: exit 2, the file named, and the
    // textfile still says the run failed.
    let dir = tempfile::tempdir().unwrap();
    let broken = dir.path().join("broken.json");
    std::fs::write(&broken, "{\"version\": 1,").unwrap();
    let textfile = dir.path().join("fleet.prom");
    let out = mxdrift()
        .args(["fleet", "--format", "prometheus", "--output"])
        .arg(&textfile)
        .arg(&paths[0])
        .arg(&broken)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains(&format!(
            "{}: not a report of `mxdrift audit --format json`",
            broken.display()
        )),
        "{stderr}"
    );
    let written = std::fs::read_to_string(&textfile).unwrap();
    assert!(
        written.contains("mxdrift_fleet_last_run_success 0"),
        "{written}"
    );
}

#[test]
fn what_is_not_an_audit_report_is_a_usage_error_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let inventory = dir.path().join("inventory.json");
    let out = mxdrift()
        .args(["inventory", "--format", "json", "--root"])
        .arg(fixture("fleet-rules/web1"))
        .output()
        .unwrap();
    std::fs::write(&inventory, &out.stdout).unwrap();
    let out = fleet(&[], std::slice::from_ref(&inventory));
    assert_eq!(out.status.code(), Some(2));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains(&inventory.display().to_string()),
        "{stderr}"
    );
    assert!(stderr.contains("an inventory, not an audit"), "{stderr}");

    let missing = dir.path().join("missing.json");
    let out = fleet(&[], std::slice::from_ref(&missing));
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains(&missing.display().to_string()));

    for bad in ["2", "0d", "2 days", "400d", "-1h"] {
        let out = mxdrift()
            .arg("fleet")
            .arg(format!("--max-age={bad}"))
            .arg(&inventory)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "--max-age {bad}");
        assert!(text(&out.stderr).contains("--max-age"), "{bad}");
    }
}

/// Chromium, headless, with a profile of its own in `dir`: its exit status
/// and standard output. Killed after two minutes: a browser that hangs
/// fails the test instead of the whole run.
fn chromium(chromium: &Path, dir: &Path, args: &[&str], page: &Path) -> (bool, String) {
    let stdout = dir.join("chromium.out");
    let stderr = dir.join("chromium.err");
    let mut child = std::process::Command::new(chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-extensions",
            "--hide-scrollbars",
        ])
        .arg(format!("--user-data-dir={}", dir.join("profile").display()))
        .args(args)
        .arg(format!("file://{}", page.display()))
        .stdin(std::process::Stdio::null())
        .stdout(std::fs::File::create(&stdout).unwrap())
        .stderr(std::fs::File::create(&stderr).unwrap())
        .spawn()
        .expect("run chromium");
    let started = std::time::Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > std::time::Duration::from_secs(120) {
            let _ = child.kill();
            let _ = child.wait();
            panic!("chromium {args:?} did not finish in 120 s");
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    };
    if !status.success() {
        eprintln!(
            "chromium {args:?}: {}",
            std::fs::read_to_string(&stderr).unwrap_or_default()
        );
    }
    (status.success(), text(&std::fs::read(&stdout).unwrap()))
}

#[test]
fn the_html_report_reads_right_in_a_real_browser() {
    let Some(browser) = require_tool("chromium") else {
        return;
    };
    let (dir, mut paths) = reports();
    // A stale server, and a host name with markup in it: shown as text.
    set_audited_at(&paths[2], hours_ago(3 * 24));
    let mut doc: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&paths[1]).unwrap()).unwrap();
    doc["server"]["hostname"] = "<b id=\"injected\">web2</b>".into();
    let marked = dir.path().join("marked.json");
    std::fs::write(&marked, serde_json::to_vec(&doc).unwrap()).unwrap();
    paths[1] = marked;

    let page = dir.path().join("fleet.html");
    let out = mxdrift()
        .args(["fleet", "--format", "html", "--output"])
        .arg(&page)
        .args(&paths)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let html = std::fs::read_to_string(&page).unwrap();
    // Self-contained: nothing is fetched, nothing runs.
    for external in [
        "http://", "https://", "<script", "<link", "src=", "@import", "url(",
    ] {
        assert!(!html.contains(external), "{external} in the page");
    }

    let (ok, dom) = chromium(&browser, dir.path(), &["--dump-dom"], &page);
    assert!(ok, "chromium --dump-dom failed");
    for expected in [
        "<title>mxdrift fleet report</title>",
        "Cross-server findings (3)",
        "fleet-moved-internally",
        "moved-in.test",
        "Servers × rules",
        "STALE: left out",
        "web3.fleet.test: stale",
        "web1.fleet.test delivers it locally: etc/postfix/vdomains:4 (virtual_mailbox_domains)",
        "What the cross-server rules mean",
        "&lt;b id=\"injected\"&gt;web2&lt;/b&gt;",
    ] {
        assert!(dom.contains(expected), "{expected} not in the page:\n{dom}");
    }
    assert!(
        !dom.contains("<b id=\"injected\">"),
        "markup from a report rendered"
    );

    let shot = dir.path().join("fleet.png");
    let (ok, _) = chromium(
        &browser,
        dir.path(),
        &[
            "--window-size=1400,1700",
            &format!("--screenshot={}", shot.display()),
        ],
        &page,
    );
    assert!(ok, "chromium --screenshot failed");
    let png = std::fs::read(&shot).unwrap();
    assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"), "a PNG");
    // 1400 x 1700 pixels, as asked (IHDR width and height, big-endian).
    assert_eq!(&png[16..24], &[0, 0, 5, 120, 0, 0, 6, 164]);
    // A blank page compresses to a few kB; this one has tables and text.
    assert!(png.len() > 50_000, "{} bytes", png.len());
}

/// The ops fixture `testdata/fleet/` (two Postfix servers and a cPanel one,
/// used by the Ansible playbook's test) states its cross-server findings in
/// `expected-fleet.txt`: `rule domain servers...`, with the server delivering
/// locally then the best MX for fleet-moved-internally, the server the MX
/// points at for fleet-not-accepted, and every server delivering it for
/// fleet-local-on-several. The real `mxdrift fleet` reports exactly those.
#[test]
fn the_ops_fixture_gets_its_expected_fleet_findings() {
    let dir = tempfile::tempdir().unwrap();
    let zone = fixture("fleet/zones/test.zone");
    let reports: Vec<PathBuf> = SERVERS
        .iter()
        .map(|s| {
            let out = mxdrift()
                .args(["audit", "--format", "json", "--fail-on", "never", "--root"])
                .arg(fixture(&format!("fleet/{s}")))
                .arg("--zone-file")
                .arg(&zone)
                .output()
                .unwrap();
            assert!(out.status.success(), "audit of {s}: {}", text(&out.stderr));
            let path = dir.path().join(format!("{s}.json"));
            std::fs::write(&path, &out.stdout).unwrap();
            path
        })
        .collect();
    let (doc, code) = fleet_json(&[], &reports);
    assert_eq!(code, Some(1));
    assert_eq!(fleet_lines(&doc), expected_fleet_lines());
}

/// A fleet JSON document's findings as the lines of
/// `testdata/fleet/expected-fleet.txt` (`rule domain server...`).
pub(crate) fn fleet_lines(doc: &serde_json::Value) -> BTreeSet<String> {
    let mut lines = BTreeSet::new();
    let mut several: std::collections::BTreeMap<String, BTreeSet<String>> = Default::default();
    for f in doc["fleet"]["findings"].as_array().unwrap() {
        let rule = f["rule"].as_str().unwrap();
        let domain = f["domain"].as_str().unwrap();
        let servers: Vec<&str> = f["servers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s.as_str().unwrap())
            .collect();
        match rule {
            "fleet-local-on-several" => several
                .entry(domain.to_string())
                .or_default()
                .extend(servers.iter().map(|s| s.to_string())),
            "fleet-moved-internally" => {
                lines.insert(format!("{rule} {domain} {}", servers.join(" ")));
            }
            _ => {
                lines.insert(format!("{rule} {domain} {}", f["server"].as_str().unwrap()));
            }
        }
    }
    for (domain, servers) in several {
        let servers: Vec<String> = servers.into_iter().collect();
        lines.insert(format!(
            "fleet-local-on-several {domain} {}",
            servers.join(" ")
        ));
    }
    lines
}

/// The lines of `testdata/fleet/expected-fleet.txt`, comments left out.
pub(crate) fn expected_fleet_lines() -> BTreeSet<String> {
    std::fs::read_to_string(fixture("fleet/expected-fleet.txt"))
        .unwrap()
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(str::to_string)
        .collect()
}
