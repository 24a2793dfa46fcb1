//! `--cross-check` end to end: the real `mxdrift` binary asks the real
//! Postfix (`postconf -c DIR`, `postmap -c DIR -q -`) and the real Exim
//! (`exim4 -C FILE -be`) through the documented test seam
//! (`MXDRIFT_CROSSCHECK_*`), with DNS offline from a zone file.
//!
//! What is planted, honestly: mxdrift reads the configuration under
//! `--root`; the MTA is pointed at a second configuration that differs in
//! one domain (`moved.test` is gone from it). That is exactly what a live
//! server looks like when the files mxdrift reads are not the ones the MTA
//! uses (a panel's stale copy, a table rebuilt elsewhere).

use std::path::{Path, PathBuf};
use std::process::Output;

use crate::common::exim_oracle::Exim;
use crate::common::fix::install_program;
use crate::common::{mxdrift, require_tool, stdout_json, text};

const SERVER_IP: &str = "192.0.2.10";

/// Public DNS: shop.test and mx.hoster.test are here; moved.test moved.
const ZONE: &str = "\
$ORIGIN test.
$TTL 3600
@            IN SOA ns1.hoster.test. hostmaster.hoster.test. 1 7200 3600 1209600 300
@            IN NS  ns1.hoster.test.
ns1.hoster   IN A   192.0.2.53
mx.hoster    IN A   192.0.2.10
mx.hoster    IN MX  10 mx.hoster.test.
shop         IN MX  10 mx.hoster.test.
moved        IN MX  10 mx1.elsewhere.test.
mx1.elsewhere IN A  198.51.100.7
relayed      IN MX  10 mx1.elsewhere.test.
";

/// The seam's variables, none set: each test sets what it uses.
const SEAM: &[&str] = &[
    "MXDRIFT_CROSSCHECK_POSTCONF",
    "MXDRIFT_CROSSCHECK_POSTMAP",
    "MXDRIFT_CROSSCHECK_POSTFIX_CONFIG_DIR",
    "MXDRIFT_CROSSCHECK_EXIM",
    "MXDRIFT_CROSSCHECK_EXIM_CONFIG",
];

/// `mxdrift COMMAND --root ROOT --zone-file ... ARGS` with the seam `env`.
fn run(command: &str, root: &Path, env: &[(&str, &Path)], args: &[&str]) -> Output {
    let zone = root.parent().unwrap().join("test.zone");
    std::fs::write(&zone, ZONE).unwrap();
    let mut cmd = mxdrift();
    for var in SEAM {
        cmd.env_remove(var);
    }
    for (var, value) in env {
        cmd.env(var, value);
    }
    cmd.arg(command)
        .arg("--root")
        .arg(root)
        .arg("--zone-file")
        .arg(&zone)
        .args(["--server-ip", SERVER_IP])
        .args(args)
        .output()
        .unwrap()
}

/// Each domain's rules, from a JSON report.
fn rules_of(report: &serde_json::Value) -> Vec<(String, Vec<String>)> {
    report["domains"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            let rules = d["findings"]
                .as_array()
                .unwrap()
                .iter()
                .map(|f| f["rule"].as_str().unwrap().to_string())
                .collect();
            (d["domain"].as_str().unwrap().to_string(), rules)
        })
        .collect()
}

fn disagreement_message(report: &serde_json::Value, domain: &str) -> String {
    report["domains"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["domain"] == domain)
        .and_then(|d| {
            d["findings"]
                .as_array()
                .unwrap()
                .iter()
                .find(|f| f["rule"] == "inventory-disagrees-with-mta")
        })
        .map(|f| {
            assert_eq!(f["severity"], "warning");
            f["message"].as_str().unwrap().to_string()
        })
        .unwrap_or_else(|| panic!("no disagreement on {domain}: {report:#}"))
}

/// The domains that carry the rule.
fn disagreeing(report: &serde_json::Value) -> Vec<String> {
    rules_of(report)
        .into_iter()
        .filter(|(_, rules)| rules.iter().any(|r| r == "inventory-disagrees-with-mta"))
        .map(|(d, _)| d)
        .collect()
}

/// A scratch Postfix: the root mxdrift reads (literal domains in main.cf)
/// and the MTA's own configuration directory, whose mailbox domains are a
/// hash: table compiled by the real `postmap -c DIR`, without moved.test.
struct PostfixSetup {
    _scratch: tempfile::TempDir,
    root: PathBuf,
    mta: PathBuf,
    postconf: PathBuf,
    postmap: PathBuf,
}

impl PostfixSetup {
    fn new() -> Option<PostfixSetup> {
        let postconf = require_tool("postconf")?;
        let postmap = require_tool("postmap")?;
        let scratch = tempfile::tempdir().unwrap();
        let base = scratch.path().canonicalize().unwrap();
        let root = base.join("root");
        std::fs::create_dir_all(root.join("etc/postfix")).unwrap();
        std::fs::write(
            root.join("etc/postfix/main.cf"),
            "compatibility_level = 3.6\nmyhostname = mx.hoster.test\nmydestination = $myhostname, localhost\nvirtual_mailbox_domains = shop.test, moved.test\nrelay_domains = relayed.test\n",
        )
        .unwrap();
        let mta = base.join("mta");
        std::fs::create_dir_all(&mta).unwrap();
        let table = mta.join("vmailbox");
        std::fs::write(&table, "shop.test ok\n").unwrap();
        std::fs::write(
            mta.join("main.cf"),
            format!(
                "compatibility_level = 3.6\nmyhostname = mx.hoster.test\nmydestination = $myhostname, localhost\nvirtual_mailbox_domains = hash:{}\nrelay_domains = relayed.test\n",
                table.display()
            ),
        )
        .unwrap();
        let built = std::process::Command::new(&postmap)
            .arg("-c")
            .arg(&mta)
            .arg(format!("hash:{}", table.display()))
            .output()
            .unwrap();
        assert!(built.status.success(), "postmap: {}", text(&built.stderr));
        Some(PostfixSetup {
            _scratch: scratch,
            root,
            mta,
            postconf,
            postmap,
        })
    }

    fn env(&self) -> Vec<(&'static str, &Path)> {
        vec![
            ("MXDRIFT_CROSSCHECK_POSTCONF", &self.postconf),
            ("MXDRIFT_CROSSCHECK_POSTMAP", &self.postmap),
            ("MXDRIFT_CROSSCHECK_POSTFIX_CONFIG_DIR", &self.mta),
        ]
    }

    fn run(&self, command: &str, args: &[&str]) -> Output {
        run(command, &self.root, &self.env(), args)
    }
}

#[test]
fn postfix_disagreement_is_found_reported_and_never_fixed() {
    let Some(setup) = PostfixSetup::new() else {
        return;
    };
    let out = setup.run(
        "audit",
        &["--platform", "postfix", "--cross-check", "--format", "json"],
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let report = stdout_json(&out);
    // mx.hoster.test, localhost, shop.test, relayed.test confirmed.
    assert_eq!(
        report["summary"]["cross_check"],
        serde_json::json!({"mta": "postfix", "asked": 5, "confirmed": 4, "disagreements": 1}),
        "{report:#}"
    );
    assert_eq!(disagreeing(&report), ["moved.test"]);
    let message = disagreement_message(&report, "moved.test");
    for part in [
        "mxdrift: local via virtual_mailbox_domains",
        "postfix: neither local nor relayed",
        "declared at etc/postfix/main.cf:4",
    ] {
        assert!(message.contains(part), "{part}: {message}");
    }
    // The DNS side finds the move too: a fix would switch it off.
    let moved_rules = rules_of(&report)
        .into_iter()
        .find(|(d, _)| d == "moved.test")
        .unwrap()
        .1;
    assert!(
        moved_rules.contains(&"mail-switch-on".to_string()),
        "{moved_rules:?}"
    );

    // The other formats say how many the MTA confirmed.
    let out = setup.run(
        "audit",
        &["--platform", "postfix", "--cross-check", "--format", "text"],
    );
    let summary = text(&out.stdout);
    assert!(
        summary.contains("cross-check: postfix confirmed 4 of 5 domains, 1 disagree"),
        "{summary}"
    );
    assert!(
        summary.contains("WARNING inventory-disagrees-with-mta moved.test:"),
        "{summary}"
    );
    let out = setup.run(
        "audit",
        &[
            "--platform",
            "postfix",
            "--cross-check",
            "--format",
            "prometheus",
        ],
    );
    let metrics = text(&out.stdout);
    assert!(
        metrics.contains("mxdrift_crosscheck_confirmed_domains{mta=\"postfix\"} 4\n"),
        "{metrics}"
    );
    let out = setup.run(
        "audit",
        &[
            "--platform",
            "postfix",
            "--cross-check",
            "--format",
            "nagios",
        ],
    );
    assert!(
        text(&out.stdout).contains("'crosscheck_confirmed'=4;;;0;5"),
        "{}",
        text(&out.stdout)
    );
    // Without --cross-check nothing of it shows.
    let out = setup.run("audit", &["--platform", "postfix", "--format", "json"]);
    let plain = stdout_json(&out);
    assert!(plain["summary"].get("cross_check").is_none(), "{plain:#}");
    assert!(disagreeing(&plain).is_empty());

    // fix: without the cross-check moved.test would be switched off; with
    // it the domain is left for a human and nothing is changed.
    let out = setup.run("fix", &["--platform", "postfix"]);
    assert!(
        text(&out.stdout).contains("moved.test"),
        "the plain fix changes moved.test: {}",
        text(&out.stderr)
    );
    let out = setup.run("fix", &["--platform", "postfix", "--cross-check"]);
    assert_left_for_a_human(&out);
}

/// `fix --cross-check` changed nothing for moved.test and said why.
fn assert_left_for_a_human(out: &std::process::Output) {
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(
        !text(&out.stdout).contains("moved.test"),
        "{}",
        text(&out.stdout)
    );
    let said = text(&out.stderr);
    assert!(
        said.contains("moved.test (inventory-disagrees-with-mta)"),
        "{said}"
    );
}

/// A runnable Exim: a wrapper that gives the unpacked binary its libraries.
fn exim_wrapper(exim: &Exim, dir: &Path) -> PathBuf {
    let wrapper = dir.join("exim-wrapper");
    install_program(
        &wrapper,
        &format!(
            "#!/bin/sh\nLD_LIBRARY_PATH='{}' exec '{}' \"$@\"\n",
            exim.library_path,
            exim.binary.display()
        ),
    );
    wrapper
}

/// A scratch Exim server: the root mxdrift reads (`etc/exim.conf`) and
/// the MTA's own configuration, the same lists without moved.test.
fn exim_setup(exim: &Exim, lists: &str) -> (tempfile::TempDir, PathBuf, PathBuf, PathBuf) {
    let scratch = tempfile::tempdir().unwrap();
    let base = scratch.path().canonicalize().unwrap();
    let root = base.join("root");
    std::fs::create_dir_all(root.join("etc")).unwrap();
    std::fs::write(root.join("etc/exim.conf"), lists).unwrap();
    let config = exim.write_config(&base.join("mta"), &lists.replace(" : moved.test", ""));
    let wrapper = exim_wrapper(exim, &base);
    (scratch, root, config, wrapper)
}

#[test]
fn exim_disagreement_is_found_with_and_without_a_relay_list() {
    let Some(exim) = Exim::find() else {
        return;
    };
    for (lists, asked, relay) in [
        // No relay_to_domains: Exim refuses to evaluate an undefined list,
        // so it must not be asked about it.
        (
            "primary_hostname = mx.hoster.test\ndomainlist local_domains = @ : shop.test : moved.test\n",
            3,
            false,
        ),
        (
            "primary_hostname = mx.hoster.test\ndomainlist local_domains = @ : shop.test : moved.test\ndomainlist relay_to_domains = relayed.test\n",
            4,
            true,
        ),
    ] {
        let (_scratch, root, config, wrapper) = exim_setup(&exim, lists);
        let env: Vec<(&str, &Path)> = vec![
            ("MXDRIFT_CROSSCHECK_EXIM", &wrapper),
            ("MXDRIFT_CROSSCHECK_EXIM_CONFIG", &config),
        ];
        let out = run(
            "audit",
            &root,
            &env,
            &["--platform", "exim", "--cross-check", "--format", "json"],
        );
        assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
        let report = stdout_json(&out);
        assert_eq!(
            report["summary"]["cross_check"],
            serde_json::json!({"mta": "exim", "asked": asked, "confirmed": asked - 1, "disagreements": 1}),
            "relay list {relay}: {report:#}"
        );
        assert_eq!(disagreeing(&report), ["moved.test"]);
        let message = disagreement_message(&report, "moved.test");
        assert!(
            message.contains("mxdrift: local via local_domains")
                && message.contains("exim: neither local nor relayed")
                && message.contains("declared at etc/exim.conf:2"),
            "{message}"
        );

        // mxdrift does not edit a hand-written exim.conf: what matters is
        // that the domain is left for the cross-check's reason.
        let out = run("fix", &root, &env, &["--platform", "exim", "--cross-check"]);
        assert_left_for_a_human(&out);
    }
}

/// A Postfix tool that is missing, fails, or never ends: the run stops
/// with a clear error (exit 2, UNKNOWN for nagios) and reports no
/// disagreement.
#[test]
fn a_tool_that_is_missing_fails_or_hangs_is_an_error_not_a_disagreement() {
    let Some(setup) = PostfixSetup::new() else {
        return;
    };
    let dir = setup.root.parent().unwrap().to_path_buf();
    let failing = dir.join("failing-postconf");
    install_program(
        &failing,
        "#!/bin/sh\necho 'postconf: fatal: open /etc/postfix/main.cf: boom' >&2\nexit 1\n",
    );
    let hanging = dir.join("hanging-postconf");
    install_program(&hanging, "#!/bin/sh\nexec sleep 30\n");
    let missing = dir.join("no-such-postconf");
    for (tool, expected, extra) in [
        (&missing, "running", &[][..]),
        (&failing, "boom", &[][..]),
        (&hanging, "did not finish within", &["--deadline", "3"][..]),
    ] {
        let mut env = setup.env();
        env[0] = ("MXDRIFT_CROSSCHECK_POSTCONF", tool.as_path());
        let mut args = vec!["--platform", "postfix", "--cross-check", "--format", "json"];
        args.extend_from_slice(extra);
        let started = std::time::Instant::now();
        let out = run("audit", &setup.root, &env, &args);
        assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
        assert!(started.elapsed().as_secs() < 20, "{:?}", started.elapsed());
        let said = text(&out.stderr);
        assert!(said.contains(expected), "{expected}: {said}");
        assert!(out.stdout.is_empty(), "{}", text(&out.stdout));
        // A monitoring plugin says UNKNOWN, and names no disagreement.
        args[4] = "nagios";
        let out = run("audit", &setup.root, &env, &args);
        assert_eq!(out.status.code(), Some(3), "{}", text(&out.stdout));
        let status = text(&out.stdout);
        assert!(
            status.starts_with("MXDRIFT UNKNOWN") || status.contains("UNKNOWN"),
            "{status}"
        );
        assert!(!status.contains("inventory-disagrees-with-mta"), "{status}");
        // fix plans nothing on it.
        let out = run(
            "fix",
            &setup.root,
            &env,
            &["--platform", "postfix", "--cross-check"],
        );
        assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
        assert!(out.stdout.is_empty(), "{}", text(&out.stdout));
    }
}

#[test]
fn cross_check_needs_root_slash_and_an_mta() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    std::fs::create_dir_all(root.join("etc/postfix")).unwrap();
    std::fs::write(
        root.join("etc/postfix/main.cf"),
        "myhostname = mx.hoster.test\nmydestination = shop.test\n",
    )
    .unwrap();
    for command in ["audit", "fix"] {
        let out = run(
            command,
            &root,
            &[],
            &["--platform", "postfix", "--cross-check"],
        );
        assert_eq!(out.status.code(), Some(2), "{command}");
        let said = text(&out.stderr);
        assert!(
            said.contains("--cross-check") && said.contains("--root /"),
            "{command}: {said}"
        );
    }
    let out = run(
        "audit",
        &root,
        &[],
        &[
            "--platform",
            "postfix",
            "--cross-check",
            "--format",
            "nagios",
        ],
    );
    assert_eq!(out.status.code(), Some(3));
    // A platform without an MTA to ask (here a plain list).
    let list = dir.path().join("domains.txt");
    std::fs::write(&list, "shop.test\n").unwrap();
    let seam: Vec<(&str, &Path)> = vec![("MXDRIFT_CROSSCHECK_POSTFIX_CONFIG_DIR", dir.path())];
    let out = run(
        "audit",
        &root,
        &seam,
        &[
            "--platform",
            "list",
            "--domains",
            list.to_str().unwrap(),
            "--cross-check",
        ],
    );
    assert_eq!(out.status.code(), Some(2));
    let said = text(&out.stderr);
    assert!(said.contains("not available for platform list"), "{said}");
}
