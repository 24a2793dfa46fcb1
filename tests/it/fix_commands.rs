//! `mxdrift fix --commands` on the panel fixtures (exact scripts, golden
//! files) and shell safety: hostile names in the configuration never reach
//! the script unquoted. Scripts are checked with `sh -n` and run against
//! stub `plesk`, `uapi`, `curl`, `postmap` and `postfix` programs that
//! record their argv, one line per argument.

use std::fs;
use std::path::Path;
use std::process::Command;

use crate::common::fix::install_program;
use crate::common::golden::assert_golden;
use crate::common::{fixture, mxdrift, require_tool};

fn commands_for(root: &Path, extra: &[&str]) -> String {
    let out = mxdrift()
        .args(["fix", "--commands", "--root"])
        .arg(root)
        .arg("--zone-file")
        .arg(root.join("zones/test.zone"))
        .args(["--server-ip", "203.0.113.10"])
        .args(extra)
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn sh_syntax_ok(test: &str, script: &str) -> bool {
    let Some(sh) = require_tool("sh") else {
        return false;
    };
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("fix.sh");
    fs::write(&file, script).unwrap();
    let status = Command::new(sh).arg("-n").arg(&file).status().unwrap();
    assert!(status.success(), "{test}: sh -n rejects the script");
    true
}

const STUB: &str = r#"#!/bin/sh
{
    printf '== %s\n' "${0##*/}"
    for arg in "$@"; do printf '%s\n' "$arg"; done
    if [ "${0##*/}" = curl ]; then printf -- '-- stdin\n'; cat; fi
} >> "$STUB_LOG"
"#;

/// Run a script with stub programs first on PATH; the recorded calls.
fn run_with_stubs(script: &str, env: &[(&str, &str)]) -> String {
    let dir = tempfile::tempdir().unwrap();
    let bin = dir.path().join("bin");
    fs::create_dir(&bin).unwrap();
    for tool in [
        "plesk",
        "uapi",
        "curl",
        "postmap",
        "postfix",
        "qmail-newmrh",
    ] {
        install_program(&bin.join(tool), STUB);
    }
    let log = dir.path().join("calls.log");
    fs::write(&log, "").unwrap();
    let file = dir.path().join("fix.sh");
    fs::write(&file, script).unwrap();
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let out = Command::new("sh")
        .arg(&file)
        .env("PATH", path)
        .env("STUB_LOG", &log)
        .envs(env.iter().copied())
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "script failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    fs::read_to_string(&log).unwrap()
}

fn calls(lines: &[&[&str]]) -> String {
    lines
        .iter()
        .flat_map(|call| call.iter())
        .map(|l| format!("{l}\n"))
        .collect()
}

#[test]
fn plesk_script_is_exact_and_runs_the_panel_commands() {
    let script = commands_for(&fixture("plesk/postfix"), &[]);
    assert_golden("fix/plesk-postfix.sh", &script);
    if !sh_syntax_ok("plesk_script", &script) {
        return;
    }
    let recorded = run_with_stubs(&script, &[]);
    assert_eq!(
        recorded,
        calls(&[
            // A domain alias: Plesk's alias command, never `site`, which
            // fails on an alias and stops the `set -eu` script.
            &[
                "== plesk",
                "bin",
                "domalias",
                "--update",
                "alias.test",
                "-mail",
                "false"
            ],
            &[
                "== plesk",
                "bin",
                "site",
                "--update",
                "expired.test",
                "-mail_service",
                "false"
            ],
            &[
                "== plesk",
                "bin",
                "subscription",
                "--update",
                "moved.test",
                "-mail_service",
                "false"
            ],
            &[
                "== plesk",
                "bin",
                "site",
                "--update",
                "nomail.test",
                "-mail_service",
                "false"
            ],
        ])
    );
}

#[test]
fn plesk_on_qmail_script_is_exact() {
    let script = commands_for(&fixture("plesk/qmail"), &[]);
    assert_golden("fix/plesk-qmail.sh", &script);
    // Plesk manages the qmail control files: the fix is the panel command,
    // never a diff.
    let out = mxdrift()
        .args(["fix", "--root"])
        .arg(fixture("plesk/qmail"))
        .arg("--zone-file")
        .arg(fixture("plesk/qmail/zones/test.zone"))
        .args(["--server-ip", "203.0.113.10"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert!(out.stdout.is_empty());
    assert!(String::from_utf8_lossy(&out.stderr).contains("plesk bin"));
}

#[test]
fn cpanel_script_is_exact_and_runs_uapi() {
    let script = commands_for(&fixture("cpanel/basic"), &[]);
    assert_golden("fix/cpanel-basic.sh", &script);
    if !sh_syntax_ok("cpanel_script", &script) {
        return;
    }
    let recorded = run_with_stubs(&script, &[]);
    let uapi = |user: &str, domain: &str, mode: &str| -> Vec<String> {
        vec![
            "== uapi".into(),
            format!("--user={user}"),
            "Email".into(),
            "set_always_accept".into(),
            format!("domain={domain}"),
            format!("alwaysaccept={mode}"),
        ]
    };
    let expected: String = [
        uapi("shopuser", "backup.test", "secondary"),
        uapi("movedco", "conflict.test", "remote"),
        uapi("oldclient", "expired.test", "remote"),
        uapi("movedco", "moved.test", "remote"),
        uapi("shopuser", "nomail.test", "remote"),
    ]
    .concat()
    .iter()
    .map(|l| format!("{l}\n"))
    .collect();
    assert_eq!(recorded, expected);
}

/// cPanel's routing settings decide what `fix` may touch: a manual MX
/// redirect is a relay, forced-local routing and system domains are left
/// for a human, and `uapi` never runs as `nobody`.
#[test]
fn cpanel_routing_script_leaves_what_cpanel_says_to_leave() {
    let script = commands_for(&fixture("cpanel/routing"), &[]);
    assert_golden("fix/cpanel-routing.sh", &script);
    assert!(!script.contains("--user=nobody"), "{script}");
    for (domain, reason) in [
        (
            "forced.test",
            "forced local in cPanel: cPanel Email Routing is forced to Local (MXCHECK-forced.test=0 at var/cpanel/users/forceduser:11)",
        ),
        (
            "system-dom.test",
            "owned by nobody, a cPanel system domain without an account",
        ),
        (
            "addon.main.test",
            "the finding is at info level; never remediated",
        ),
        // Exim reads `crlf.test\r`, but cPanel's remlinefile cannot remove
        // it: uapi would leave the domain local.
        (
            "crlf.test",
            "etc/localdomains:10 is written so that cPanel's own tools cannot remove it",
        ),
    ] {
        assert!(
            script.contains(&format!("#   - {domain} (")) && script.contains(reason),
            "{domain} not left for a human with its reason:\n{script}"
        );
    }
    for untouched in [
        "relayed-manual.test",
        "trailing-dot.test'",
        "secondary.test",
    ] {
        assert!(
            !script.contains(&format!("domain={untouched}")),
            "{untouched} must not be remediated:\n{script}"
        );
    }
    if !sh_syntax_ok("cpanel_routing_script", &script) {
        return;
    }
    let recorded = run_with_stubs(&script, &[]);
    let uapi = |domain: &str| -> String {
        calls(&[&[
            "== uapi",
            "--user=mainuser",
            "Email",
            "set_always_accept",
            &format!("domain={domain}"),
            "alwaysaccept=remote",
        ]])
    };
    assert_eq!(recorded, uapi("moved.test"));
}

/// `uapi` never acts as a system account, whatever the owner file says.
#[test]
fn domains_owned_by_nobody_or_root_get_no_uapi() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    for (rel, text) in [
        ("usr/local/cpanel/version", "11.120.0.15\n"),
        ("etc/localdomains", "nobody.test\nroot.test\nmoved.test\n"),
        (
            "etc/userdomains",
            "*: nobody\nmoved.test: movedco\nnobody.test: nobody\nroot.test: root\n",
        ),
        (
            "zones/test.zone",
            "$ORIGIN test.\n$TTL 3600\n@ IN SOA ns1.hoster.test. h.hoster.test. 1 7200 3600 1209600 300\n\
             @ IN NS ns1.hoster.test.\nns1.hoster IN A 203.0.113.53\nmx1.elsewhere IN A 198.51.100.7\n\
             moved IN MX 10 mx1.elsewhere\nnobody IN MX 10 mx1.elsewhere\nroot IN MX 10 mx1.elsewhere\n",
        ),
    ] {
        let path = root.join(rel);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, text).unwrap();
    }
    let script = commands_for(root, &["--platform", "cpanel"]);
    assert_eq!(script.matches("\nuapi ").count(), 1, "{script}");
    assert!(script.contains("uapi '--user=movedco' "), "{script}");
    assert!(script.contains("#   - nobody.test (mail-switch-on): owned by nobody, a cPanel system domain without an account (etc/userdomains:3)"), "{script}");
    assert!(
        script.contains("#   - root.test (mail-switch-on): owned by root, a system account"),
        "{script}"
    );
}

#[test]
fn directadmin_script_keeps_credentials_out_of_argv() {
    let script = commands_for(&fixture("directadmin/basic"), &[]);
    assert_golden("fix/directadmin-basic.sh", &script);
    if !sh_syntax_ok("directadmin_script", &script) {
        return;
    }
    let recorded = run_with_stubs(
        &script,
        &[
            ("DA_URL", "https://da1.hoster.test:2222"),
            ("DA_ADMIN", "admin"),
            ("DA_LOGIN_KEY", "SECRETKEY"),
        ],
    );
    let call = |owner: &str, domain: &str| -> String {
        calls(&[&[
            "== curl",
            "--config",
            "-",
            "--fail",
            "--silent",
            "--show-error",
            "--data-urlencode",
            "action=internal",
            "--data-urlencode",
            &format!("domain={domain}"),
            "--data-urlencode",
            "internal=no",
            "https://da1.hoster.test:2222/CMD_API_DNS_MX",
            "-- stdin",
            &format!("user = \"admin|{owner}:SECRETKEY\""),
        ]])
    };
    // `bücher.test` in etc/virtual/domains never matched the A-label:
    // xn--bcher-kva.test is not local, so nothing switches it off.
    let expected = [
        call("bob", "crlf.test"),
        call("dave", "expired.test"),
        call("bob", "moved.test"),
        call("alice", "nomail.test"),
    ]
    .concat();
    assert_eq!(recorded, expected);
}

#[test]
fn postfix_script_has_the_follow_ups() {
    let script = commands_for(&fixture("demo"), &[]);
    assert!(script.starts_with("#!/bin/sh\nset -eu\n"));
    if !sh_syntax_ok("postfix_script", &script) {
        return;
    }
    let recorded = run_with_stubs(&script, &[]);
    assert_eq!(
        recorded,
        calls(&[
            &["== postmap", "hash:/etc/postfix/vdomains"],
            &["== postfix", "reload"]
        ])
    );
}

/// A cPanel server whose owner file holds shell injection attempts.
fn hostile_cpanel(marker: &Path) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let m = marker.display();
    let files = [
        (
            "etc/localdomains",
            "moved.test\nevil.test\ntick.test\nquote.test\nspace.test\nsemi.test\n\
             x$(touch {m}).test\n`touch {m}`.test\na'b.test\nsp ace.test\nsemi;colon.test\n"
                .replace("{m}", &m.to_string()),
        ),
        (
            "etc/userdomains",
            "moved.test: movedco\nevil.test: $(touch {m})\ntick.test: `touch {m}`\n\
             quote.test: it's'; touch {m}; '\nspace.test: bad user\nsemi.test: a;touch {m}\n"
                .replace("{m}", &m.to_string()),
        ),
        (
            "zones/test.zone",
            "$ORIGIN test.\n$TTL 3600\n@ IN SOA ns1.hoster.test. h.hoster.test. 1 7200 3600 1209600 300\n\
             @ IN NS ns1.hoster.test.\nns1.hoster IN A 203.0.113.53\nmx1.elsewhere IN A 198.51.100.7\n\
             moved IN MX 10 mx1.elsewhere\nevil IN MX 10 mx1.elsewhere\ntick IN MX 10 mx1.elsewhere\n\
             quote IN MX 10 mx1.elsewhere\nspace IN MX 10 mx1.elsewhere\nsemi IN MX 10 mx1.elsewhere\n"
                .to_string(),
        ),
    ];
    for (rel, text) in files {
        let path = root.join(rel);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, text).unwrap();
    }
    dir
}

#[test]
fn hostile_owners_are_rejected_and_nothing_else_runs() {
    let outside = tempfile::tempdir().unwrap();
    let marker = outside.path().join("INJECTED");
    let dir = hostile_cpanel(&marker);
    let script = commands_for(dir.path(), &["--platform", "cpanel"]);
    // Only the valid owner became a command; the others are rejected.
    assert_eq!(script.matches("\nuapi ").count(), 1, "{script}");
    assert!(script.contains(
        "uapi '--user=movedco' Email set_always_accept 'domain=moved.test' alwaysaccept=remote\n"
    ));
    for domain in [
        "evil.test",
        "tick.test",
        "quote.test",
        "space.test",
        "semi.test",
    ] {
        assert!(
            script.contains(&format!(
                "#   - {domain} (mail-switch-on): {domain}: the account name"
            )),
            "{domain} not reported as rejected:\n{script}"
        );
    }
    // Every line is a comment, blank, or mxdrift's own shell code.
    for line in script.lines() {
        assert!(
            line.is_empty()
                || line.starts_with('#')
                || line == "set -eu"
                || line.starts_with("uapi '--user=movedco' "),
            "unexpected line: {line:?}"
        );
    }
    if !sh_syntax_ok("hostile_owners", &script) {
        return;
    }
    let recorded = run_with_stubs(&script, &[]);
    assert_eq!(
        recorded,
        calls(&[&[
            "== uapi",
            "--user=movedco",
            "Email",
            "set_always_accept",
            "domain=moved.test",
            "alwaysaccept=remote"
        ]])
    );
    assert!(!marker.exists(), "an injection ran");

    // The diff mode says the same on stderr and runs nothing either.
    let out = mxdrift()
        .args([
            "fix",
            "--platform",
            "cpanel",
            "--server-ip",
            "203.0.113.10",
            "--root",
        ])
        .arg(dir.path())
        .arg("--zone-file")
        .arg(dir.path().join("zones/test.zone"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(stderr.contains("rejected: evil.test: the account name"));
    assert!(!marker.exists());
}

#[test]
fn hostile_owner_in_directadmin_is_rejected() {
    let outside = tempfile::tempdir().unwrap();
    let marker = outside.path().join("INJECTED");
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    fs::create_dir_all(root.join("etc/virtual")).unwrap();
    fs::create_dir_all(root.join("zones")).unwrap();
    fs::write(root.join("etc/virtual/domains"), "moved.test\nevil.test\n").unwrap();
    fs::write(
        root.join("etc/virtual/domainowners"),
        format!(
            "moved.test: bob\nevil.test: x\"; touch {}; \"\n",
            marker.display()
        ),
    )
    .unwrap();
    fs::write(
        root.join("zones/test.zone"),
        "$ORIGIN test.\n$TTL 3600\n@ IN SOA ns1.hoster.test. h.hoster.test. 1 7200 3600 1209600 300\n\
         @ IN NS ns1.hoster.test.\nns1.hoster IN A 203.0.113.53\nmx1.elsewhere IN A 198.51.100.7\n\
         moved IN MX 10 mx1.elsewhere\nevil IN MX 10 mx1.elsewhere\n",
    )
    .unwrap();
    let script = commands_for(root, &["--platform", "directadmin"]);
    assert_eq!(script.matches("\nda_api '").count(), 1, "{script}");
    assert!(script.contains("evil.test (mail-switch-on): evil.test: the account name"));
    if !sh_syntax_ok("hostile_directadmin", &script) {
        return;
    }
    let recorded = run_with_stubs(
        &script,
        &[
            ("DA_URL", "https://h:2222"),
            ("DA_ADMIN", "admin"),
            ("DA_LOGIN_KEY", "K"),
        ],
    );
    assert_eq!(recorded.matches("== curl").count(), 1);
    assert!(recorded.contains("domain=moved.test\n"));
    assert!(!marker.exists());
}
