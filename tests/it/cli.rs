//! The binary as users and scripts see it: exit codes, error messages, and
//! the bundled demo server audited offline.

use std::fs;
use std::path::Path;

use predicates::prelude::*;

use crate::common::{DEMO, DEMO_ZONE, copy_fixture, mxdrift, mxdrift_path, text, write};

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
            DEMO,
            "--server-ip",
            "not-an-ip",
            "--zone-file",
            DEMO_ZONE,
        ])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("--server-ip"));
    mxdrift()
        .args(["audit", "--root", DEMO, "--nameserver", "nonsense:xx"])
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
            DEMO,
            "--zone-file",
            DEMO_ZONE,
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
                DEMO_ZONE,
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
        .args(["--root", DEMO, "--zone-file", DEMO_ZONE])
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
        .args(["inventory", "--format", "json", "--root", DEMO])
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
            DEMO,
            "--zone-file",
            DEMO_ZONE,
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
            DEMO,
            "--zone-file",
            DEMO_ZONE,
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
            DEMO,
            "--zone-file",
            DEMO_ZONE,
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
            DEMO,
            "--zone-file",
            DEMO_ZONE,
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
            DEMO,
            "--zone-file",
            DEMO_ZONE,
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
            DEMO,
            "--zone-file",
            DEMO_ZONE,
            "--format",
            "nagios",
            "-c",
            "5",
            "-w",
            "10",
            "--max-inconclusive",
            "2",
        ])
        .assert()
        .code(0)
        .stdout(predicate::str::starts_with("MXDRIFT OK - "));
    mxdrift()
        .args([
            "audit",
            "--root",
            DEMO,
            "--zone-file",
            DEMO_ZONE,
            "--format",
            "nagios",
            "-c",
            "5",
            "-w",
            "3",
            "--max-inconclusive",
            "2",
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
            DEMO,
            "--zone-file",
            DEMO_ZONE,
            "--format",
            "nagios",
            "-w",
            "nonsense",
        ])
        .assert()
        .code(3)
        .stdout(predicate::str::starts_with(
            "MXDRIFT UNKNOWN - usage: invalid value 'nonsense' for '--warning <RANGE>'",
        ))
        .stdout(predicate::str::contains("invalid threshold range"));
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
            DEMO,
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
    let mut child = std::process::Command::new(mxdrift_path())
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

// ---------------------------------------------------------------------
// Monitoring that never says OK blindly (issue 17 B), output people read
// (D), ignores that stay visible (E), fix for automation (F), and the
// documentation that ships (G).

/// A plain Postfix server with `domains` in a virtual mailbox list, plus
/// whatever `extra_main_cf` adds.
fn postfix_root(domains: &[&str], extra_main_cf: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "etc/postfix/main.cf",
        format!(
            "myhostname = web10.hoster.test\nmydestination =\nvirtual_mailbox_domains = /etc/postfix/vdomains\n{extra_main_cf}"
        ),
    );
    write(
        dir.path(),
        "etc/postfix/vdomains",
        &(domains.join("\n") + "\n"),
    );
    dir
}

#[test]
fn nagios_with_a_dead_resolver_is_warning_naming_the_domains() {
    // A resolver that never answers: every lookup is inconclusive, and the
    // plugin must not say OK.
    let silent = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let ns = silent.local_addr().unwrap().to_string();
    let root = postfix_root(&["a.test", "b.test"], "");
    let out = mxdrift()
        .args(["audit", "--format", "nagios", "--server-ip", "203.0.113.10"])
        .args(["--nameserver", &ns, "--timeout", "0.2", "--attempts", "1"])
        .arg("--root")
        .arg(root.path())
        .output()
        .unwrap();
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.starts_with("MXDRIFT WARNING - 2 domains inconclusive: a.test, b.test"),
        "{stdout}"
    );
    // --max-inconclusive tolerates them (a count or a share).
    for limit in ["2", "100%"] {
        let out = mxdrift()
            .args(["audit", "--format", "nagios", "--server-ip", "203.0.113.10"])
            .args(["--nameserver", &ns, "--timeout", "0.2", "--attempts", "1"])
            .args(["--max-inconclusive", limit, "--root"])
            .arg(root.path())
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0), "{limit}: {}", text(&out.stdout));
    }
    drop(silent);
}

#[test]
fn nagios_wrong_platform_is_unknown() {
    mxdrift()
        .args(["audit", "--root", DEMO, "--zone-file", DEMO_ZONE])
        .args(["--platform", "cpanel", "--format", "nagios"])
        .assert()
        .code(3)
        .stdout(predicate::str::starts_with(
            "MXDRIFT UNKNOWN - no mail domains found: wrong --platform or --root?",
        ));
}

#[test]
fn nagios_configuration_warnings_reach_the_status_line() {
    // relay_domains names a list file that is missing: Postfix defers mail.
    let root = postfix_root(&["stays.test"], "relay_domains = /etc/postfix/relays\n");
    let out = mxdrift()
        .args(["audit", "--format", "nagios", "--server-ip", "203.0.113.10"])
        .args(["--zone-file", DEMO_ZONE, "--root"])
        .arg(root.path())
        .output()
        .unwrap();
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    let first = stdout.lines().next().unwrap();
    assert!(
        first.starts_with("MXDRIFT WARNING - configuration warning: etc/postfix/main.cf:4: "),
        "{first}"
    );
    assert!(
        stdout.contains("\nCONFIG: etc/postfix/main.cf:4: "),
        "{stdout}"
    );
    assert!(first.contains("'config_warnings'=1;0;;0;"), "{first}");
}

#[test]
fn nagios_perfdata_carries_w_and_c() {
    let out = mxdrift()
        .args(["audit", "--root", DEMO, "--zone-file", DEMO_ZONE])
        .args(["--format", "nagios", "-w", "5", "-c", "5"])
        .output()
        .unwrap();
    let stdout = text(&out.stdout);
    assert!(stdout.contains("| 'critical'=3;5;5;0; "), "{stdout}");
    assert!(stdout.contains(" 'warning_or_worse'=7;5;;0; "), "{stdout}");
}

#[test]
fn nagios_usage_errors_are_unknown_on_stdout() {
    for bad in [
        &["--bogus-option"][..],
        &["--timeout", "1e30"],
        &["--deadline", "1e300"],
        &["--timeout", "nan"],
        &["--max-inconclusive", "lots"],
        &["-w", "nonsense"],
        &["--baseline", "/nonexistent/last.json"],
        &["--server-ip", "not-an-ip"],
    ] {
        let out = mxdrift()
            .args([
                "audit",
                "--root",
                DEMO,
                "--zone-file",
                DEMO_ZONE,
                "--format",
                "nagios",
            ])
            .args(bad)
            .output()
            .unwrap();
        let stdout = text(&out.stdout);
        assert_eq!(out.status.code(), Some(3), "{bad:?}: {stdout}");
        assert!(
            stdout.starts_with("MXDRIFT UNKNOWN - "),
            "{bad:?}: {stdout}"
        );
        assert!(
            stdout.lines().next().unwrap().len() > 30,
            "{bad:?}: the message: {stdout}"
        );
    }
    // `--format=nagios` as one word, and nagios given before the error.
    mxdrift()
        .args(["--format=nagios", "--root", DEMO, "--no-such-thing"])
        .assert()
        .code(3)
        .stdout(predicate::str::starts_with(
            "MXDRIFT UNKNOWN - usage: unexpected argument",
        ));
}

#[test]
fn huge_timeouts_and_deadlines_are_usage_errors_not_panics() {
    for bad in [
        ["--timeout", "1e30"],
        ["--deadline", "1e300"],
        ["--timeout", "-1"],
        ["--deadline", "inf"],
    ] {
        // `--timeout=-1`: a value, not an option.
        let bad = [format!("{}={}", bad[0], bad[1])];
        mxdrift()
            .args(["audit", "--root", DEMO, "--zone-file", DEMO_ZONE])
            .args(&bad)
            .assert()
            .code(2)
            .stderr(predicate::str::contains(bad[0].split('=').next().unwrap()));
        mxdrift()
            .args(["fix", "--root", DEMO, "--zone-file", DEMO_ZONE])
            .args(&bad)
            .assert()
            .code(2);
    }
}

#[test]
fn huge_counts_are_usage_errors_not_panics() {
    // 2^64 - 1 queries in flight panicked in the query limiter once.
    for (option, bad) in [
        ("--concurrency", "18446744073709551615"),
        ("--concurrency", "0"),
        ("--attempts", "0"),
        ("--max-qps", "4294967296"),
    ] {
        mxdrift()
            .args(["audit", "--root", DEMO, "--zone-file", DEMO_ZONE])
            .args([option, bad])
            .assert()
            .code(2)
            .stderr(predicate::str::contains(option))
            .stderr(predicate::str::contains(bad))
            .stderr(predicate::str::contains("panicked").not());
        mxdrift()
            .args(["fix", "--root", DEMO, "--zone-file", DEMO_ZONE])
            .args([option, bad])
            .assert()
            .code(2);
    }
}

#[test]
fn a_server_name_that_is_no_host_name_is_a_usage_error_for_every_command() {
    for command in ["audit", "fix", "inventory"] {
        let mut cmd = mxdrift();
        cmd.args([command, "--root", DEMO]);
        if command != "inventory" {
            cmd.args(["--zone-file", DEMO_ZONE]);
        }
        cmd.args(["--server-name", "bad name!"])
            .assert()
            .code(2)
            .stdout(predicate::str::is_empty())
            .stderr(predicate::str::contains("--server-name"))
            .stderr(predicate::str::contains("`bad name!` is not a host name"));
    }
}

#[test]
fn a_bad_resolver_in_the_config_file_names_its_line() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("mxdrift.yaml");
    fs::write(&config, "resolvers:\n  - 9.9.9.9\n  - dns.example\n").unwrap();
    // Also when --nameserver replaces the file's resolvers for this run.
    for nameserver in [&[][..], &["--nameserver", "192.0.2.53"]] {
        mxdrift()
            .args(["audit", "--root", DEMO, "--zone-file", DEMO_ZONE])
            .args(nameserver)
            .arg("--config")
            .arg(&config)
            .assert()
            .code(2)
            .stderr(predicate::str::contains("mxdrift.yaml:3:"))
            .stderr(predicate::str::contains("dns.example"));
    }
}

#[test]
fn prometheus_failed_run_still_writes_its_textfile() {
    let dir = tempfile::tempdir().unwrap();
    let prom = dir.path().join("mxdrift.prom");
    let empty = tempfile::tempdir().unwrap();
    // A configuration error: exit 2, and the collector learns it at once.
    mxdrift()
        .args(["audit", "--format", "prometheus", "--output"])
        .arg(&prom)
        .arg("--root")
        .arg(empty.path())
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "no mail server configuration found",
        ));
    let text = fs::read_to_string(&prom).unwrap();
    assert!(text.contains("\nmxdrift_last_run_success 0\n"), "{text}");
    assert!(
        text.contains("mxdrift_last_run_error{kind=\"configuration\"} 1"),
        "{text}"
    );
    assert!(
        text.contains("\nmxdrift_last_run_timestamp_seconds "),
        "{text}"
    );
    assert_eq!(
        fs::read_dir(dir.path()).unwrap().count(),
        1,
        "no temporary file left"
    );
    // A usage error that clap rejects, with --output: kind "usage".
    mxdrift()
        .args([
            "audit",
            "--format",
            "prometheus",
            "--timeout",
            "1e30",
            "--output",
        ])
        .arg(&prom)
        .assert()
        .code(2);
    let text = fs::read_to_string(&prom).unwrap();
    assert!(
        text.contains("mxdrift_last_run_error{kind=\"usage\"} 1"),
        "{text}"
    );
    // A run that succeeds says so.
    mxdrift()
        .args(["audit", "--root", DEMO, "--zone-file", DEMO_ZONE])
        .args(["--format", "prometheus", "--fail-on", "never", "--output"])
        .arg(&prom)
        .assert()
        .code(0);
    let text = fs::read_to_string(&prom).unwrap();
    assert!(text.contains("\nmxdrift_last_run_success 1\n"), "{text}");
    assert!(!text.contains("mxdrift_last_run_error{"), "{text}");
}

#[test]
fn output_to_a_directory_says_what_is_wrong() {
    let dir = tempfile::tempdir().unwrap();
    let mut as_dir = dir.path().as_os_str().to_owned();
    as_dir.push("/");
    for target in [as_dir.clone(), dir.path().as_os_str().to_owned()] {
        mxdrift()
            .args([
                "audit",
                "--root",
                DEMO,
                "--zone-file",
                DEMO_ZONE,
                "--format",
                "prometheus",
                "--output",
            ])
            .arg(&target)
            .assert()
            .code(2)
            .stderr(predicate::str::contains(
                "that is a directory; give the file to write, e.g. --output",
            ))
            .stderr(predicate::str::contains("mxdrift.prom"));
    }
    mxdrift()
        .args([
            "audit",
            "--root",
            DEMO,
            "--zone-file",
            DEMO_ZONE,
            "--output",
        ])
        .arg(dir.path().join("missing/report.txt"))
        .assert()
        .code(2)
        .stderr(predicate::str::contains("does not exist"));
}

#[test]
fn a_positional_directory_suggests_root() {
    let dir = tempfile::tempdir().unwrap();
    fs::create_dir(dir.path().join("demo")).unwrap();
    for args in [&["audit", "demo"][..], &["demo"]] {
        mxdrift()
            .current_dir(dir.path())
            .args(args)
            .assert()
            .code(2)
            .stderr(predicate::str::contains(
                "tip: to audit the configuration under 'demo', use '--root demo'",
            ));
    }
}

#[test]
fn table_fits_columns_and_text_is_ascii() {
    let out = mxdrift()
        .env("COLUMNS", "100")
        .args(["audit", "--root", DEMO, "--zone-file", DEMO_ZONE])
        .output()
        .unwrap();
    let table = text(&out.stdout);
    let widest = table.lines().map(|l| l.chars().count()).max().unwrap();
    assert!(widest <= 100, "{widest} columns:\n{table}");
    assert!(table.contains("(bücher.test)"), "{table}");
    assert!(
        table.contains("Inconclusive (1): flaky.invalid."),
        "{table}"
    );
    assert!(table.contains("Next: `mxdrift rules"), "{table}");
    let out = mxdrift()
        .args([
            "audit",
            "--root",
            DEMO,
            "--zone-file",
            DEMO_ZONE,
            "--format",
            "text",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let text = text(&out.stdout);
    assert!(text.is_ascii(), "{text}");
    assert_eq!(
        text.lines().filter(|l| l.starts_with("CRITICAL ")).count(),
        3,
        "{text}"
    );
    assert!(
        text.lines()
            .last()
            .unwrap()
            .starts_with("SUMMARY 18 domains audited on postfix (server address 203.0.113.10)")
    );
}

#[test]
fn baseline_reports_changes_only_and_mails_only_on_change() {
    let dir = tempfile::tempdir().unwrap();
    let last = dir.path().join("last.json");
    let root = postfix_root(&["moved.test", "stays.test"], "");
    let run = |root: &Path, extra: &[&str]| {
        mxdrift()
            .args([
                "audit",
                "--server-ip",
                "203.0.113.10",
                "--zone-file",
                DEMO_ZONE,
            ])
            .args(["--format", "text", "--baseline"])
            .arg(&last)
            .args(extra)
            .arg("--root")
            .arg(root)
            .output()
            .unwrap()
    };
    // Without --update-baseline a missing baseline is an error.
    let out = run(root.path(), &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("--baseline"),
        "{out:?}"
    );
    // The first run creates it: everything is new.
    let out = run(root.path(), &["--update-baseline"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stdout));
    assert!(text(&out.stdout).starts_with("NEW CRITICAL mail-switch-on moved.test: "));
    assert!(text(&out.stdout).contains("no baseline yet"));
    assert!(last.is_file());
    // Nothing changed: no output at all, exit 0 (cron sends no mail).
    let out = run(root.path(), &["--update-baseline"]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(text(&out.stdout), "");
    // A new finding: exit 1 and only it is shown.
    write(
        root.path(),
        "etc/postfix/vdomains",
        "moved.test\nstays.test\nexpired.test\n",
    );
    let out = run(root.path(), &["--update-baseline"]);
    assert_eq!(out.status.code(), Some(1));
    let shown = text(&out.stdout);
    assert!(
        shown.starts_with("NEW CRITICAL domain-not-found expired.test: "),
        "{shown}"
    );
    assert!(!shown.contains("moved.test"), "{shown}");
    // Resolved only: shown, exit 0 (nothing new at or above --fail-on).
    write(
        root.path(),
        "etc/postfix/vdomains",
        "stays.test\nexpired.test\n",
    );
    let out = run(root.path(), &["--update-baseline"]);
    assert_eq!(out.status.code(), Some(0));
    assert!(text(&out.stdout).starts_with("RESOLVED CRITICAL mail-switch-on moved.test: "));
    // An inventory report is not a baseline.
    let inventory = dir.path().join("inventory.json");
    let out = mxdrift()
        .args(["inventory", "--format", "json", "--root", DEMO])
        .output()
        .unwrap();
    fs::write(&inventory, out.stdout).unwrap();
    mxdrift()
        .args([
            "audit",
            "--root",
            DEMO,
            "--zone-file",
            DEMO_ZONE,
            "--baseline",
        ])
        .arg(&inventory)
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "not a JSON report of `mxdrift audit --format json`",
        ));
    // Monitoring formats report the current state.
    mxdrift()
        .args([
            "audit",
            "--root",
            DEMO,
            "--zone-file",
            DEMO_ZONE,
            "--format",
            "prometheus",
            "--baseline",
        ])
        .arg(&last)
        .assert()
        .code(2)
        .stderr(predicate::str::contains("--baseline shows what changed"));
}

#[test]
fn an_ignore_that_matches_nothing_is_a_warning() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("mxdrift.yaml");
    fs::write(
        &config,
        "ignore:\n  - domain: split.test\n    rule: split-delivery\n    reason: on purpose\n    until: 2999-01-31\n  - domain: split.tset\n    rule: split-delivery\n    reason: typo\n",
    )
    .unwrap();
    let out = mxdrift()
        .args([
            "audit",
            "--root",
            DEMO,
            "--zone-file",
            DEMO_ZONE,
            "--format",
            "json",
            "--config",
        ])
        .arg(&config)
        .output()
        .unwrap();
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let warnings = doc["warnings"].as_array().unwrap();
    let unused: Vec<_> = warnings
        .iter()
        .filter(|w| w["kind"] == "unused-ignore")
        .collect();
    assert_eq!(unused.len(), 1, "{warnings:?}");
    assert_eq!(unused[0]["line"], 6);
    assert!(
        unused[0]["message"]
            .as_str()
            .unwrap()
            .contains("split.tset")
    );
    let split = doc["domains"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["domain"] == "split.test")
        .unwrap();
    assert_eq!(split["findings"][0]["ignored_until"], "2999-01-31");
    // In the table: the warning, and the ignore with its date.
    let out = mxdrift()
        .args([
            "audit",
            "--root",
            DEMO,
            "--zone-file",
            DEMO_ZONE,
            "--config",
        ])
        .arg(&config)
        .output()
        .unwrap();
    let table = text(&out.stdout);
    assert!(table.contains("matches no finding"), "{table}");
    assert!(
        table.contains("split.test split-delivery (until 2999-01-31): on purpose"),
        "{table}"
    );
    // In Nagios: the reason and the date of the ignore, and the warning.
    let out = mxdrift()
        .args([
            "audit",
            "--root",
            DEMO,
            "--zone-file",
            DEMO_ZONE,
            "--format",
            "nagios",
            "--config",
        ])
        .arg(&config)
        .output()
        .unwrap();
    let plugin = text(&out.stdout);
    assert!(
        plugin.contains("IGNORED: split.test split-delivery: ")
            && plugin.contains("[ignored until 2999-01-31: on purpose]"),
        "{plugin}"
    );
    assert!(plugin.contains("CONFIG: "), "{plugin}");
}

#[test]
fn yaml_errors_name_the_file_and_explain_the_star() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("mxdrift.yaml");
    for (text, line) in [
        (
            "ignore:\n  - domain: *.example.org\n    rule: '*'\n    reason: x\n",
            2,
        ),
        (
            "ignore:\n  - domain: a.test\n    rule: *\n    reason: x\n",
            3,
        ),
    ] {
        fs::write(&config, text).unwrap();
        let out = mxdrift()
            .args([
                "audit",
                "--root",
                DEMO,
                "--zone-file",
                DEMO_ZONE,
                "--config",
            ])
            .arg(&config)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains(&format!("{}:{line}", config.display())),
            "{stderr}"
        );
        assert!(!stderr.contains("<input>"), "{stderr}");
        assert!(stderr.contains("quote a glob"), "{stderr}");
    }
}

#[test]
fn rules_explain_confidence_wrap_and_suggest() {
    let out = mxdrift()
        .env("COLUMNS", "60")
        .args(["rules", "split-delivery"])
        .output()
        .unwrap();
    let text = text(&out.stdout);
    assert!(text.contains("Confidence: medium"), "{text}");
    assert!(
        text.contains("Confidence is how sure the rule is"),
        "{text}"
    );
    assert!(text.lines().all(|l| l.chars().count() <= 60), "{text}");
    mxdrift()
        .args(["rules", "mail-switch"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("did you mean `mail-switch-on`?"));
    mxdrift()
        .arg("rules")
        .assert()
        .success()
        .stdout(predicate::str::contains("Confidence is how sure"));
}

#[test]
fn fix_help_lists_only_what_fix_accepts() {
    let help = mxdrift().args(["fix", "--help"]).output().unwrap();
    let help = text(&help.stdout);
    for absent in [
        "--output",
        "--fail-on",
        "--warning",
        "--critical",
        "--max-inconclusive",
        "--baseline",
        "sarif",
        "nagios",
    ] {
        assert!(
            !help.contains(absent),
            "fix --help mentions {absent}:\n{help}"
        );
    }
    for present in [
        "--deadline",
        "--backup-dir",
        "--format",
        "--apply",
        "--commands",
        "--root",
        "--nameserver",
    ] {
        assert!(
            help.contains(present),
            "fix --help lacks {present}:\n{help}"
        );
    }
    for refused in [
        &["-w", "5"][..],
        &["--fail-on", "never"],
        &["--output", "/tmp/x"],
        &["--format", "sarif"],
    ] {
        mxdrift()
            .args(["fix", "--root", DEMO, "--zone-file", DEMO_ZONE])
            .args(refused)
            .assert()
            .code(2);
    }
}

#[test]
fn fix_json_is_the_plan_as_data() {
    let root = copy_fixture("fix/postfix");
    let zone = root.path().join("zones/test.zone");
    let out = mxdrift()
        .args(["fix", "--format", "json", "--root"])
        .arg(root.path())
        .arg("--zone-file")
        .arg(&zone)
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let plan: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(plan["kind"], "fix-plan");
    let actions = plan["actions"].as_array().unwrap();
    let moved = actions
        .iter()
        .find(|a| a["domain"] == "moved.test")
        .unwrap();
    assert_eq!(moved["kind"], "edit");
    assert_eq!(moved["change"], "turn-off");
    assert_eq!(moved["rule"], "mail-switch-on");
    assert_eq!(moved["files"][0], "etc/postfix/main.cf");
    let split = actions
        .iter()
        .find(|a| a["domain"] == "split.test")
        .unwrap();
    assert_eq!(split["kind"], "left");
    assert!(split["reason"].as_str().unwrap().len() > 20);
    // The edits are the diff `fix` prints, file by file.
    let diff = mxdrift()
        .args(["fix", "--root"])
        .arg(root.path())
        .arg("--zone-file")
        .arg(&zone)
        .output()
        .unwrap();
    let joined: String = plan["edits"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["diff"].as_str().unwrap().to_string())
        .collect();
    // The diff says first, in comment lines `patch` skips, how the
    // evidence was confirmed.
    let printed = text(&diff.stdout);
    let body = printed
        .split_inclusive('\n')
        .skip_while(|line| line.starts_with("# "))
        .collect::<String>();
    assert!(printed.starts_with("# mxdrift fix. The DNS evidence was read from zone files"));
    assert_eq!(joined, body);
    assert_eq!(plan["confirmation"]["method"], "zone-files");
    assert_eq!(moved["confirmed"]["via"], "zone-files");
    assert!(
        plan["follow_ups"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s["command"] == "postfix reload")
    );
    // Reviewing the plan changes nothing; it cannot be combined with --apply.
    mxdrift()
        .args(["fix", "--format", "json", "--apply", "--root"])
        .arg(root.path())
        .assert()
        .code(2);
}

#[test]
fn fix_apply_backup_dir_keeps_backups_out_of_the_config() {
    let root = copy_fixture("fix/postfix");
    let backups = tempfile::tempdir().unwrap();
    let backup_dir = backups.path().join("mxdrift-backups");
    let vdomains = root.path().join("etc/postfix/vdomains");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(&vdomains, fs::Permissions::from_mode(0o640)).unwrap();
    }
    let original = fs::read(&vdomains).unwrap();
    let out = mxdrift()
        .args(["fix", "--apply", "--backup-dir"])
        .arg(&backup_dir)
        .arg("--root")
        .arg(root.path())
        .arg("--zone-file")
        .arg(root.path().join("zones/test.zone"))
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // No backup beside the files.
    for entry in walkdir::WalkDir::new(root.path()) {
        let name = entry.unwrap().file_name().to_string_lossy().into_owned();
        assert!(
            !name.ends_with(".bak"),
            "backup inside the configuration: {name}"
        );
    }
    let dir = backup_dir.join("etc/postfix");
    let backup = fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("vdomains.mxdrift-")
        })
        .expect("a backup of vdomains");
    assert_eq!(fs::read(&backup).unwrap(), original);
    #[cfg(unix)]
    {
        use std::os::unix::fs::{MetadataExt, PermissionsExt};
        let (file, copy) = (
            fs::metadata(&vdomains).unwrap(),
            fs::metadata(&backup).unwrap(),
        );
        assert_eq!(copy.permissions().mode() & 0o7777, 0o640, "mode kept");
        assert_eq!(
            (copy.uid(), copy.gid()),
            (file.uid(), file.gid()),
            "owner kept"
        );
        assert_eq!(
            fs::metadata(&dir).unwrap().permissions().mode() & 0o777,
            0o700
        );
    }
    // --backup-dir only makes sense with --apply.
    mxdrift()
        .args(["fix", "--backup-dir", "/tmp/x", "--root"])
        .arg(root.path())
        .assert()
        .code(2);
}

#[test]
fn fix_honours_the_deadline() {
    let silent = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let ns = silent.local_addr().unwrap().to_string();
    let started = std::time::Instant::now();
    mxdrift()
        .args([
            "fix",
            "--root",
            DEMO,
            "--nameserver",
            &ns,
            "--timeout",
            "20",
            "--deadline",
            "1",
        ])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("--deadline of 1 s"));
    assert!(started.elapsed() < std::time::Duration::from_secs(15));
    drop(silent);
}

#[test]
fn errors_quoting_a_config_file_escape_its_control_characters() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("mxdrift.yaml");
    fs::write(
        &config,
        "ignore:\n  - domain: a.test\n    rule: \"x\\e]0;owned\\ay\"\n    reason: r\n",
    )
    .unwrap();
    let out = mxdrift()
        .args([
            "audit",
            "--root",
            DEMO,
            "--zone-file",
            DEMO_ZONE,
            "--config",
        ])
        .arg(&config)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("unknown rule `x\\u{1b}]0;owned\\u{7}y`"),
        "{stderr}"
    );
    assert!(
        !stderr.contains('\u{1b}') && !stderr.contains('\u{7}'),
        "{stderr:?}"
    );
}
