//! The binary as users and scripts see it: exit codes, error messages, and
//! the bundled demo server audited offline.

use std::fs;
use std::path::Path;

use assert_cmd::Command;
use predicates::prelude::*;

fn mxdrift() -> Command {
    Command::cargo_bin("mxdrift").expect("binary built")
}

fn demo() -> &'static str {
    concat!(env!("CARGO_MANIFEST_DIR"), "/testdata/demo")
}

fn demo_zone() -> &'static str {
    concat!(env!("CARGO_MANIFEST_DIR"), "/testdata/demo/zones/test.zone")
}

fn write(root: &Path, rel: &str, text: &str) {
    let path = root.join(rel);
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(path, text).unwrap();
}

#[test]
fn empty_root_is_a_configuration_error() {
    let dir = tempfile::tempdir().unwrap();
    mxdrift()
        .args(["audit", "--root"])
        .arg(dir.path())
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "no mail server configuration found",
        ))
        .stderr(predicate::str::contains("etc/postfix/main.cf"));
}

#[test]
fn main_cf_line_without_equals_is_exit_2_with_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "etc/postfix/main.cf",
        "myhostname = a.test\n\nthis line has no equals sign\n",
    );
    mxdrift()
        .args(["inventory", "--root"])
        .arg(dir.path())
        .assert()
        .code(2)
        .stderr(predicate::str::contains("etc/postfix/main.cf:3:"));
}

#[test]
fn bad_options_are_exit_2() {
    mxdrift().args(["--fail-on", "sometimes"]).assert().code(2);
    mxdrift()
        .args([
            "audit",
            "--root",
            demo(),
            "--server-ip",
            "not-an-ip",
            "--zone-file",
            demo_zone(),
        ])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("--server-ip"));
    mxdrift()
        .args(["audit", "--root", demo(), "--nameserver", "nonsense:xx"])
        .assert()
        .code(2);
    mxdrift()
        .args(["rules", "no-such-rule"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("unknown rule"));
}

#[test]
fn rules_lists_every_contract_rule() {
    let out = mxdrift()
        .arg("rules")
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let out = String::from_utf8(out).unwrap();
    for id in [
        "mail-switch-on",
        "domain-not-found",
        "null-mx-delivered-locally",
        "backup-mx-delivers-locally",
        "split-delivery",
        "mx-host-unresolvable",
        "mx-points-here-not-local",
        "mx-target-cname",
        "lookup-inconclusive",
    ] {
        assert!(out.contains(id), "{id} missing from `mxdrift rules`");
    }
    mxdrift()
        .args(["rules", "mail-switch-on"])
        .assert()
        .success()
        .stdout(predicate::str::contains("critical"))
        .stdout(predicate::str::contains("What to do"));
}

#[test]
fn help_speaks_to_a_hosting_admin() {
    mxdrift()
        .arg("--help")
        .assert()
        .success()
        .stdout(predicate::str::contains("delivers locally"))
        .stdout(predicate::str::contains("inventory"))
        .stdout(predicate::str::contains("--zone-file"));
}

fn demo_json(extra: &[&str]) -> (i32, serde_json::Value) {
    let out = mxdrift()
        .args([
            "audit",
            "--root",
            demo(),
            "--zone-file",
            demo_zone(),
            "--format",
            "json",
        ])
        .args(extra)
        .output()
        .unwrap();
    let code = out.status.code().unwrap();
    let json = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)));
    (code, json)
}

#[test]
fn demo_audit_gives_the_contract_verdicts_and_rules() {
    let (code, doc) = demo_json(&[]);
    assert_eq!(
        code, 1,
        "critical findings fail the default --fail-on warning"
    );
    assert_eq!(doc["version"], 1);
    assert_eq!(doc["tool"]["name"], "mxdrift");
    assert_eq!(doc["server"]["platform"], "postfix");
    assert!(
        doc["server"]["addresses"]
            .as_array()
            .unwrap()
            .contains(&"203.0.113.10".into())
    );
    let expected: &[(&str, &str, &str, &[&str])] = &[
        ("backup-for-customer.test", "relay", "backup", &[]),
        (
            "backup.test",
            "local",
            "backup",
            &["backup-mx-delivers-locally"],
        ),
        ("cname-mx.test", "local", "here", &["mx-target-cname"]),
        (
            "deadmx.test",
            "local",
            "no-mail-host",
            &["mx-host-unresolvable"],
        ),
        ("expired.test", "local", "nxdomain", &["domain-not-found"]),
        (
            "flaky.invalid",
            "local",
            "inconclusive",
            &["lookup-inconclusive"],
        ),
        ("forward-only.test", "local", "here", &[]),
        ("implicit.test", "local", "here", &[]),
        ("legacy-shop.test", "local", "here", &[]),
        ("localhost", "local", "here", &[]),
        ("localhost.hoster.test", "local", "here", &[]),
        ("migrated.test", "relay", "elsewhere", &[]),
        ("moved.test", "local", "elsewhere", &["mail-switch-on"]),
        (
            "nullmx.test",
            "local",
            "null-mx",
            &["null-mx-delivered-locally"],
        ),
        ("split.test", "local", "mixed", &["split-delivery"]),
        ("stays.test", "local", "here", &[]),
        ("web10.hoster.test", "local", "here", &[]),
        (
            "xn--bcher-kva.test",
            "local",
            "elsewhere",
            &["mail-switch-on"],
        ),
    ];
    let domains = doc["domains"].as_array().unwrap();
    let got: Vec<(String, String, String, Vec<String>)> = domains
        .iter()
        .map(|d| {
            (
                d["domain"].as_str().unwrap().to_string(),
                d["delivery"].as_str().unwrap().to_string(),
                d["verdict"].as_str().unwrap().to_string(),
                d["findings"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|f| f["rule"].as_str().unwrap().to_string())
                    .collect(),
            )
        })
        .collect();
    let want: Vec<(String, String, String, Vec<String>)> = expected
        .iter()
        .map(|(d, del, v, r)| {
            (
                d.to_string(),
                del.to_string(),
                v.to_string(),
                r.iter().map(|s| s.to_string()).collect(),
            )
        })
        .collect();
    assert_eq!(got, want);

    let moved = domains
        .iter()
        .find(|d| d["domain"] == "moved.test")
        .unwrap();
    assert_eq!(moved["declared"][0]["file"], "etc/postfix/vdomains");
    assert_eq!(moved["declared"][0]["line"], 3);
    assert_eq!(moved["declared"][0]["via"], "virtual_mailbox_domains");
    assert_eq!(moved["dns"]["status"], "ok");
    assert_eq!(
        moved["dns"]["mx"][0]["host"],
        "moved-test.mail.protection.outlook.test"
    );
    assert_eq!(moved["dns"]["mx"][0]["addresses"][0], "198.51.100.25");
    assert_eq!(moved["dns"]["mx"][0]["this_server"], false);
    assert_eq!(moved["findings"][0]["severity"], "critical");
    let implicit = domains
        .iter()
        .find(|d| d["domain"] == "implicit.test")
        .unwrap();
    assert_eq!(implicit["dns"]["implicit_mx"], true);
    assert_eq!(implicit["dns"]["mx"][0]["this_server"], true);

    assert_eq!(doc["summary"]["domains"], 18);
    assert_eq!(doc["summary"]["findings"]["critical"], 3);
    assert_eq!(doc["summary"]["findings"]["warning"], 4);
    assert_eq!(doc["summary"]["findings"]["info"], 2);
    // flaky.invalid; localhost is this machine (here), no longer inconclusive.
    assert_eq!(doc["summary"]["inconclusive"], 1);
}

#[test]
fn fail_on_sets_the_exit_code() {
    assert_eq!(demo_json(&["--fail-on", "never"]).0, 0);
    assert_eq!(demo_json(&["--fail-on", "critical"]).0, 1);
    assert_eq!(demo_json(&["--fail-on", "info"]).0, 1);
}

#[test]
fn fail_on_threshold_ignores_lesser_findings() {
    // Only an info finding (an alias MX target): below `warning`, above `info`.
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "etc/postfix/main.cf",
        "myhostname = web10.hoster.test\nmydestination = cname-mx.test\n",
    );
    let run = |fail_on: &str| {
        mxdrift()
            .args([
                "audit",
                "--server-ip",
                "203.0.113.10",
                "--zone-file",
                demo_zone(),
                "--fail-on",
                fail_on,
                "--root",
            ])
            .arg(dir.path())
            .output()
            .unwrap()
            .status
            .code()
    };
    assert_eq!(run("warning"), Some(0));
    assert_eq!(run("info"), Some(1));
}

#[test]
fn demo_table_groups_by_severity_with_a_summary() {
    mxdrift()
        .args(["--root", demo(), "--zone-file", demo_zone()])
        .assert()
        .code(1)
        .stdout(predicate::str::contains("CRITICAL (3)"))
        .stdout(predicate::str::contains("WARNING (4)"))
        .stdout(predicate::str::contains("moved.test"))
        .stdout(predicate::str::contains("18 domains audited"));
}

#[test]
fn inventory_json_has_no_dns() {
    let out = mxdrift()
        .args(["inventory", "--format", "json", "--root", demo()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let first = &doc["domains"][0];
    assert!(
        first.get("dns").is_none()
            && first.get("verdict").is_none()
            && first.get("findings").is_none()
    );
    assert_eq!(doc["domains"].as_array().unwrap().len(), 18);
}

#[test]
fn config_file_errors_name_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("mxdrift.yaml");
    fs::write(
        &config,
        "server:\n  addresses: [203.0.113.10]\nignores:\n  - domain: a.test\n",
    )
    .unwrap();
    mxdrift()
        .args([
            "audit",
            "--root",
            demo(),
            "--zone-file",
            demo_zone(),
            "--config",
        ])
        .arg(&config)
        .assert()
        .code(2)
        .stderr(predicate::str::contains("mxdrift.yaml:3:"))
        .stderr(predicate::str::contains("ignores"));
    fs::write(&config, "severity:\n  mail-switch-on: [\n").unwrap();
    mxdrift()
        .args([
            "audit",
            "--root",
            demo(),
            "--zone-file",
            demo_zone(),
            "--config",
        ])
        .arg(&config)
        .assert()
        .code(2)
        .stderr(predicate::str::contains("mxdrift.yaml:"));
}

#[test]
fn config_ignores_count_expire_and_override_severity() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("mxdrift.yaml");
    fs::write(
        &config,
        concat!(
            "severity:\n",
            "  split-delivery: info\n",
            "  mx-host-unresolvable: info\n",
            "  null-mx-delivered-locally: info\n",
            "  backup-mx-delivers-locally: info\n",
            "ignore:\n",
            "  - domain: '*.test'\n",
            "    rule: mail-switch-on\n",
            "    reason: customers move this week\n",
            "    until: 2999-12-31\n",
            "  - domain: expired.test\n",
            "    rule: domain-not-found\n",
            "    reason: was renewed\n",
            "    until: 2000-01-01\n",
        ),
    )
    .unwrap();
    let out = mxdrift()
        .args([
            "audit",
            "--root",
            demo(),
            "--zone-file",
            demo_zone(),
            "--format",
            "json",
            "--config",
        ])
        .arg(&config)
        .output()
        .unwrap();
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    // Two mail-switch-on findings ignored, counted, not hidden.
    assert_eq!(doc["summary"]["ignored"], 2);
    assert_eq!(
        doc["summary"]["findings"]["critical"], 1,
        "the expired ignore no longer applies"
    );
    assert_eq!(
        doc["summary"]["findings"]["warning"], 0,
        "severity overrides"
    );
    let moved = doc["domains"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["domain"] == "moved.test")
        .unwrap();
    assert_eq!(moved["findings"][0]["ignored"], "customers move this week");
    let notes = doc["notes"].as_array().unwrap();
    assert!(
        notes
            .iter()
            .any(|n| n.as_str().unwrap().contains("expired on 2000-01-01")),
        "{notes:?}"
    );
    // The remaining critical finding (expired.test) still fails the run.
    assert_eq!(out.status.code(), Some(1));
}

#[test]
fn output_file_is_written_atomically_with_mode_0644() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("mxdrift.prom");
    mxdrift()
        .args([
            "audit",
            "--root",
            demo(),
            "--zone-file",
            demo_zone(),
            "--format",
            "prometheus",
            "--fail-on",
            "never",
            "--output",
        ])
        .arg(&path)
        .assert()
        .code(0)
        .stdout("");
    let text = fs::read_to_string(&path).unwrap();
    assert!(
        text.contains("mxdrift_findings{rule=\"mail-switch-on\",severity=\"critical\"} 2"),
        "{text}"
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o644
        );
    }
    assert_eq!(
        fs::read_dir(dir.path()).unwrap().count(),
        1,
        "no temporary file left behind"
    );
}

#[test]
fn nagios_exit_codes_and_unknown() {
    mxdrift()
        .args([
            "audit",
            "--root",
            demo(),
            "--zone-file",
            demo_zone(),
            "--format",
            "nagios",
        ])
        .assert()
        .code(2)
        .stdout(predicate::str::starts_with("MXDRIFT CRITICAL - "));
    mxdrift()
        .args([
            "audit",
            "--root",
            demo(),
            "--zone-file",
            demo_zone(),
            "--format",
            "nagios",
            "-c",
            "5",
            "-w",
            "10",
        ])
        .assert()
        .code(0)
        .stdout(predicate::str::starts_with("MXDRIFT OK - "));
    mxdrift()
        .args([
            "audit",
            "--root",
            demo(),
            "--zone-file",
            demo_zone(),
            "--format",
            "nagios",
            "-c",
            "5",
            "-w",
            "3",
        ])
        .assert()
        .code(1)
        .stdout(predicate::str::starts_with("MXDRIFT WARNING - "));
    let dir = tempfile::tempdir().unwrap();
    mxdrift()
        .args(["audit", "--format", "nagios", "--root"])
        .arg(dir.path())
        .assert()
        .code(3)
        .stdout(predicate::str::starts_with(
            "MXDRIFT UNKNOWN - no mail server configuration found",
        ));
    mxdrift()
        .args([
            "audit",
            "--root",
            demo(),
            "--zone-file",
            demo_zone(),
            "--format",
            "nagios",
            "-w",
            "nonsense",
        ])
        .assert()
        .code(3)
        .stdout(predicate::str::starts_with(
            "MXDRIFT UNKNOWN - invalid threshold range",
        ));
}

#[test]
fn nagios_deadline_exceeded_is_unknown() {
    // A name server that never answers: the run would take --timeout ×
    // --attempts; the plugin's budget (--deadline) ends it first.
    let silent = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let ns = silent.local_addr().unwrap().to_string();
    let started = std::time::Instant::now();
    mxdrift()
        .args([
            "audit",
            "--root",
            demo(),
            "--format",
            "nagios",
            "--nameserver",
            &ns,
            "--timeout",
            "20",
            "--deadline",
            "1",
        ])
        .assert()
        .code(3)
        .stdout(predicate::str::starts_with(
            "MXDRIFT UNKNOWN - the audit did not finish within its --deadline of 1 s",
        ));
    assert!(
        started.elapsed() < std::time::Duration::from_secs(15),
        "{:?}",
        started.elapsed()
    );
    drop(silent);
}

#[test]
fn a_closed_stdout_is_not_an_error() {
    // `mxdrift rules | grep -q x`: the reader goes away before mxdrift writes.
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_mxdrift"))
        .args(["rules", "mail-switch-on"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(String::from_utf8_lossy(&out.stderr), "");
}
