//! Round trip of `mxdrift fix` on every fixture where the fix is a diff:
//! audit, fix, apply the diff with the real `patch -p1 -d ROOT`, audit again.
//! Each fixed domain must no longer be `local` (gone, or `relay` for a
//! backup MX); every other domain keeps its delivery and declarations; the
//! comment lines of the configuration are all still there.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

use crate::common::fix::comment_lines;
use crate::common::golden::assert_golden;
use crate::common::report::{audit_json, states};
use crate::common::{copy_fixture, fixture, mxdrift, require_tool};

/// Fixed domains and how they must end up: `None` gone, `Some("relay")`.
type Expected<'a> = &'a [(&'a str, Option<&'a str>)];

fn round_trip(test: &str, fixture_rel: &str, extra: &[&str], expected: Expected<'_>) {
    round_trip_in(test, copy_fixture(fixture_rel), extra, expected);
}

/// [`round_trip`] on a copy of a fixture, prepared by the caller; returns
/// the fixed copy (`None` when `patch` is missing).
fn round_trip_in(
    test: &str,
    dir: tempfile::TempDir,
    extra: &[&str],
    expected: Expected<'_>,
) -> Option<tempfile::TempDir> {
    let patch = require_tool("patch")?;
    let root = dir.path();
    let zone = root.join("zones/test.zone");
    let root_s = root.to_str().unwrap();
    let zone_s = zone.to_str().unwrap();
    let extra: Vec<String> = extra.iter().map(|a| a.replace("{root}", root_s)).collect();
    let mut args = vec!["--root", root_s, "--zone-file", zone_s];
    args.extend(extra.iter().map(String::as_str));

    let before = states(&audit_json(&args));
    let comments_before = comment_lines(root);

    let out = mxdrift().arg("fix").args(&args).output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let diff = out.stdout;
    assert!(!diff.is_empty(), "{test}: the fix produced no diff");

    let mut child = Command::new(patch)
        .args(["-p1", "--forward", "--batch", "-d"])
        .arg(root)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(&diff).unwrap();
    let applied = child.wait_with_output().unwrap();
    assert!(
        applied.status.success(),
        "{test}: patch failed: {}{}",
        String::from_utf8_lossy(&applied.stdout),
        String::from_utf8_lossy(&applied.stderr)
    );
    // patch leaves no .orig/.rej files on a clean apply.
    for entry in walkdir::WalkDir::new(root) {
        let name = entry.unwrap().file_name().to_string_lossy().into_owned();
        assert!(
            !name.ends_with(".rej") && !name.ends_with(".orig"),
            "{test}: {name}"
        );
    }

    let after = states(&audit_json(&args));
    for (domain, end) in expected {
        assert_eq!(
            before.get(*domain).map(|(d, _)| d.as_str()),
            Some("local"),
            "{test}: {domain} was local before"
        );
        let now = after.get(*domain).map(|(d, _)| d.as_str());
        assert_eq!(now, *end, "{test}: {domain} after the fix");
    }
    for (domain, state) in &before {
        if expected.iter().any(|(d, _)| d == domain) {
            continue;
        }
        assert_eq!(after.get(domain), Some(state), "{test}: {domain} changed");
    }
    let comments_after = comment_lines(root);
    for (file, lines) in &comments_before {
        let now = comments_after.get(file).cloned().unwrap_or_default();
        for line in lines {
            assert!(
                now.contains(line),
                "{test}: comment {line:?} of {file} is gone"
            );
        }
    }

    // The fix of the fixed configuration has nothing left to change.
    let again = mxdrift().arg("fix").args(&args).output().unwrap();
    assert_eq!(again.status.code(), Some(0));
    assert!(
        again.stdout.is_empty(),
        "{test}: second fix still changes files:\n{}",
        String::from_utf8_lossy(&again.stdout)
    );
    Some(dir)
}

#[test]
fn demo_round_trip() {
    round_trip(
        "demo_round_trip",
        "demo",
        &[],
        &[
            ("moved.test", None),
            ("expired.test", None),
            ("nullmx.test", None),
            ("xn--bcher-kva.test", None),
            ("backup.test", Some("relay")),
        ],
    );
}

#[test]
fn postfix_lists_tables_and_continuation_lines_round_trip() {
    round_trip(
        "postfix_lists_tables_and_continuation_lines_round_trip",
        "fix/postfix",
        &[],
        &[
            ("moved.test", None),
            ("expired.test", None),
            ("nomail.test", None),
            ("xn--bcher-kva.test", None),
            ("backup.test", Some("relay")),
        ],
    );
}

#[test]
fn postfix_crlf_files_round_trip() {
    // The same configuration saved with Windows line ends: every edit
    // splices the recorded bytes and keeps each line's CRLF.
    let dir = copy_fixture("fix/postfix");
    for entry in walkdir::WalkDir::new(dir.path().join("etc/postfix")) {
        let entry = entry.unwrap();
        if entry.file_type().is_file() {
            let text = std::fs::read_to_string(entry.path()).unwrap();
            std::fs::write(entry.path(), text.replace('\n', "\r\n")).unwrap();
        }
    }
    let Some(fixed) = round_trip_in(
        "postfix_crlf_files_round_trip",
        dir,
        &[],
        &[
            ("moved.test", None),
            ("expired.test", None),
            ("nomail.test", None),
            ("xn--bcher-kva.test", None),
            ("backup.test", Some("relay")),
        ],
    ) else {
        return;
    };
    for entry in walkdir::WalkDir::new(fixed.path().join("etc/postfix")) {
        let entry = entry.unwrap();
        if entry.file_type().is_file() {
            let text = std::fs::read_to_string(entry.path()).unwrap();
            assert_eq!(
                text.matches('\n').count(),
                text.matches("\r\n").count(),
                "{}: a line lost its CR:\n{text}",
                entry.path().display()
            );
        }
    }
}

#[test]
fn a_name_written_twice_on_a_line_goes_entirely() {
    let dir = copy_fixture("fix/postfix");
    let main_cf = dir.path().join("etc/postfix/main.cf");
    let text = std::fs::read_to_string(&main_cf).unwrap();
    assert!(text.contains("    shop.test, moved.test,\n"));
    let text = text.replace(
        "    shop.test, moved.test,\n",
        "    moved.test, shop.test, moved.test,\n",
    );
    std::fs::write(&main_cf, text).unwrap();
    round_trip_in(
        "a_name_written_twice_on_a_line_goes_entirely",
        dir,
        &[],
        &[
            ("moved.test", None),
            ("expired.test", None),
            ("nomail.test", None),
            ("xn--bcher-kva.test", None),
            ("backup.test", Some("relay")),
        ],
    );
}

#[test]
fn a_name_also_inside_a_conditional_is_left_for_a_human() {
    let dir = copy_fixture("fix/postfix");
    let main_cf = dir.path().join("etc/postfix/main.cf");
    let text = std::fs::read_to_string(&main_cf).unwrap();
    let text = text.replace(
        "    shop.test, moved.test,\n",
        "    shop.test, moved.test, ${myhostname?{moved.test}},\n",
    );
    std::fs::write(&main_cf, text).unwrap();
    let root = dir.path();
    let out = mxdrift()
        .arg("fix")
        .arg("--root")
        .arg(root)
        .arg("--zone-file")
        .arg(root.join("zones/test.zone"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let diff = String::from_utf8(out.stdout).unwrap();
    let stderr = String::from_utf8(out.stderr).unwrap();
    let changed = |l: &&str| l.starts_with(['-', '+']) && !l.starts_with("---");
    assert!(
        !diff
            .lines()
            .filter(changed)
            .any(|l| l.contains("moved.test")),
        "{diff}"
    );
    assert!(
        stderr.contains("left for a human: moved.test (mail-switch-on): etc/postfix/main.cf:13: moved.test is not written there as a plain name"),
        "{stderr}"
    );
    assert!(diff.contains("-    expired.test"), "{diff}");
}

#[test]
fn qmail_round_trip() {
    round_trip(
        "qmail_round_trip",
        "qmail/basic",
        &["--server-ip", "203.0.113.10"],
        &[
            ("moved.test", None),
            ("expired.test", None),
            ("nomail.test", None),
            // Still in rcpthosts: accepted and relayed to the primary MX.
            ("backup.test", Some("relay")),
        ],
    );
}

#[test]
fn domain_list_round_trip() {
    round_trip(
        "domain_list_round_trip",
        "list/basic",
        &[
            "--domains",
            "{root}/domains.txt",
            "--server-ip",
            "203.0.113.10",
        ],
        &[
            ("moved.test", None),
            ("expired.test", None),
            ("nomail.test", None),
            ("xn--bcher-kva.test", None),
        ],
    );
}

#[test]
fn demo_diff_is_exact_and_names_follow_ups() {
    let root = fixture("demo");
    let zone = root.join("zones/test.zone");
    let out = mxdrift()
        .arg("fix")
        .arg("--root")
        .arg(&root)
        .arg("--zone-file")
        .arg(&zone)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let diff = String::from_utf8(out.stdout).unwrap();
    assert_golden("fix/demo.diff", &diff);
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(stderr.contains("  postmap 'hash:/etc/postfix/vdomains'\n  postfix reload\n"));
    assert!(stderr.contains("old mail") || stderr.contains("already delivered stays"));
    assert!(stderr.contains("aliases and forwarders"));
    assert!(stderr.contains("left for a human: split.test (split-delivery)"));
    assert!(stderr.contains("left for a human: flaky.invalid (lookup-inconclusive)"));
    assert!(stderr.contains("left for a human: deadmx.test (mx-host-unresolvable)"));
}

#[test]
fn ignored_and_inconclusive_domains_are_never_touched() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("mxdrift.yaml");
    std::fs::write(
        &config,
        "ignore:\n  - domain: moved.test\n    rule: mail-switch-on\n    reason: customer keeps a local copy\n",
    )
    .unwrap();
    let root = fixture("demo");
    let out = mxdrift()
        .arg("fix")
        .arg("--root")
        .arg(&root)
        .arg("--zone-file")
        .arg(root.join("zones/test.zone"))
        .arg("--config")
        .arg(&config)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let diff = String::from_utf8(out.stdout).unwrap();
    assert!(!diff.contains("-moved.test"), "{diff}");
    assert!(!diff.contains("-flaky.invalid"), "{diff}");
    assert!(diff.contains("-expired.test"));
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(stderr.contains(
        "left for a human: moved.test (mail-switch-on): ignored in the configuration (customer keeps a local copy)"
    ));
}

#[test]
fn debian_exim4_round_trip() {
    round_trip(
        "debian_exim4_round_trip",
        "exim/debian",
        &["--server-ip", "203.0.113.10"],
        &[
            ("moved.test", None),
            ("expired.test", None),
            ("nomail.test", None),
        ],
    );
}

#[test]
fn debian_exim4_fix_names_update_exim4_conf_and_a_reload() {
    let (code, script, stderr) = fix_fixture("exim/debian", &["fix", "--commands"], |_| {});
    assert_eq!(code, Some(0), "{stderr}");
    let update = script
        .find("\nupdate-exim4.conf\n")
        .unwrap_or_else(|| panic!("{script}"));
    let reload = script
        .find("invoke-rc.d exim4 reload")
        .unwrap_or_else(|| panic!("{script}"));
    assert!(update < reload, "{script}");
}

/// `mode` (`fix`, `fix --commands`, ...) on a copy of `fixture` after
/// `edit`, offline from its `zones/test.zone`, the server named by its
/// address: exit code, standard output, standard error.
fn fix_fixture(
    fixture_rel: &str,
    mode: &[&str],
    edit: impl Fn(&Path),
) -> (Option<i32>, String, String) {
    let dir = copy_fixture(fixture_rel);
    edit(dir.path());
    let zone = dir.path().join("zones/test.zone");
    let out = mxdrift()
        .args(mode)
        .arg("--root")
        .arg(dir.path())
        .arg("--zone-file")
        .arg(&zone)
        .args(["--server-ip", "203.0.113.10"])
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// [`fix_fixture`] on `hestiacp/basic`.
fn hestiacp_fix(mode: &[&str], edit: impl Fn(&Path)) -> (Option<i32>, String, String) {
    fix_fixture("hestiacp/basic", mode, edit)
}

#[test]
fn hestiacp_domains_are_suspended_as_their_user_never_deleted() {
    // HestiaCP's records (usr/local/hestia/data/users/alice/mail.conf) name
    // the user its documented command needs.
    let expected = [
        "/usr/local/hestia/bin/v-suspend-mail-domain 'alice' 'expired.test'",
        "/usr/local/hestia/bin/v-suspend-mail-domain 'alice' 'moved.test'",
        "/usr/local/hestia/bin/v-suspend-mail-domain 'alice' 'nomail.test'",
    ];
    let (code, stdout, stderr) = hestiacp_fix(&["fix", "--commands"], |_| {});
    assert_eq!(code, Some(0), "{stderr}");
    let commands: Vec<&str> = stdout
        .lines()
        .filter(|l| !l.trim_start().starts_with('#') && !l.trim().is_empty())
        .filter(|l| *l != "set -eu")
        .collect();
    assert_eq!(commands, expected, "{stdout}");
    assert!(!stdout.contains("v-delete-mail-domain '"), "{stdout}");
    assert!(stdout.contains("keeps the mailboxes"), "{stdout}");
    // The plan names the same commands.
    let (code, stdout, stderr) = hestiacp_fix(&["fix"], |_| {});
    assert_eq!(code, Some(0), "{stderr}");
    let all = format!("{stdout}{stderr}");
    for command in expected {
        assert!(all.contains(&format!("  {command}\n")), "{all}");
    }
}

#[test]
fn hestiacp_domain_without_a_known_user_is_left_for_a_human() {
    let unknown = |root: &Path| {
        std::fs::remove_dir_all(root.join("usr/local/hestia/data")).unwrap();
    };
    // Claimed by two users: whose it is cannot be told.
    let claimed_twice = |root: &Path| {
        let bob = root.join("usr/local/hestia/data/users/bob/mail.conf");
        let mut text = std::fs::read_to_string(&bob).unwrap();
        text.push_str("DOMAIN='moved.test' ANTIVIRUS='no' ANTISPAM='no' DKIM='no' WEBMAIL='' SSL='no' LETSENCRYPT='no' CATCHALL='' ACCOUNTS='0' U_DISK='0' SUSPENDED='no' TIME='08:00:00' DATE='2026-01-02'\n");
        std::fs::write(&bob, text).unwrap();
    };
    for (edit, why) in [
        (
            &unknown as &dyn Fn(&Path),
            "the panel account owning the domain is unknown; the panel command needs it",
        ),
        (
            &claimed_twice,
            "the panel account owning the domain is unknown; the panel command needs it",
        ),
    ] {
        let (code, stdout, stderr) = hestiacp_fix(&["fix", "--commands"], edit);
        assert_eq!(code, Some(0), "{stderr}");
        let all = format!("{stdout}{stderr}");
        assert!(
            all.contains(&format!(
                "moved.test (mail-switch-on): {why}; HestiaCP's `/usr/local/hestia/bin/v-suspend-mail-domain USER moved.test`"
            )),
            "{all}"
        );
        assert!(
            !stdout.contains("v-suspend-mail-domain 'alice' 'moved.test'"),
            "{stdout}"
        );
    }
    let dir = copy_fixture("hestiacp/basic");
    claimed_twice(dir.path());
    let out = mxdrift()
        .args(["inventory", "--format", "json", "--root"])
        .arg(dir.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("moved.test is a mail domain of HestiaCP users alice and bob"),
        "{stdout}"
    );
}

#[test]
fn debian_exim4_generated_config_is_fixed_in_update_exim4_conf() {
    let (code, diff, stderr) = fix_fixture("exim/debian-generated", &["fix"], |_| {});
    assert_eq!(code, Some(0), "{stderr}");
    assert!(
        diff.contains("+++ b/etc/exim4/update-exim4.conf.conf"),
        "{diff}"
    );
    assert!(!diff.contains("config.autogenerated"), "{diff}");
    assert!(
        diff.contains("+dc_other_hostnames='shop.test;backup.test; split.test;brokenmx.test;legacy.invalid;new.test'"),
        "{diff}"
    );
    assert!(
        stderr.contains("  update-exim4.conf\n  invoke-rc.d exim4 reload"),
        "{stderr}"
    );
}
