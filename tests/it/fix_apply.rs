//! `fix --apply`: atomic writes with backups, and refusals that lose
//! nothing: a file changed between planning and writing (or at the last
//! moment before the rename), a directory that cannot be written.

use std::fs;
use std::path::{Path, PathBuf};

use mxdrift::remediate::apply;
use mxdrift::sources::ConfigRoot;

use crate::common::fix::plan_offline as plan_for;
use crate::common::{copy_fixture, fixture, mxdrift, snapshot};

fn backups_of(file: &Path) -> Vec<PathBuf> {
    let name = file.file_name().unwrap().to_string_lossy().into_owned();
    let mut found: Vec<PathBuf> = fs::read_dir(file.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            let n = p.file_name().unwrap().to_string_lossy();
            n.starts_with(&format!("{name}.mxdrift-")) && n.ends_with(".bak")
        })
        .collect();
    found.sort();
    found
}

fn is_backup_name(path: &Path, of: &str) -> bool {
    let n = path.file_name().unwrap().to_string_lossy().into_owned();
    let Some(stamp) = n
        .strip_prefix(&format!("{of}.mxdrift-"))
        .and_then(|s| s.strip_suffix(".bak"))
    else {
        return false;
    };
    let b = stamp.as_bytes();
    b.len() == 16
        && b[8] == b'T'
        && b[15] == b'Z'
        && b.iter()
            .enumerate()
            .all(|(i, c)| i == 8 || i == 15 || c.is_ascii_digit())
}

#[test]
fn apply_writes_files_keeps_backups_and_prints_the_commands_it_did_not_run() {
    let dir = copy_fixture("fix/postfix");
    let root = dir.path();
    let expected = plan_for(root);
    let originals = snapshot(root);
    let out = mxdrift()
        .args(["fix", "--apply", "--root"])
        .arg(root)
        .arg("--zone-file")
        .arg(root.join("zones/test.zone"))
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    let stderr = String::from_utf8(out.stderr).unwrap();
    for edit in &expected.edits {
        assert_eq!(fs::read_to_string(&edit.path).unwrap(), edit.updated);
        let backups = backups_of(&edit.path);
        assert_eq!(backups.len(), 1, "{}", edit.rel);
        let name = edit
            .path
            .file_name()
            .unwrap()
            .to_string_lossy()
            .into_owned();
        assert!(is_backup_name(&backups[0], &name), "{:?}", backups[0]);
        assert_eq!(fs::read(&backups[0]).unwrap(), edit.original);
        assert!(stderr.contains(&format!("wrote {} (backup ", edit.rel)));
    }
    // Files that were not edited are untouched.
    for (path, bytes) in &originals {
        if !expected.edits.iter().any(|e| &e.path == path) {
            assert_eq!(&fs::read(path).unwrap(), bytes, "{}", path.display());
        }
    }
    assert!(stdout.starts_with("#!/bin/sh\nset -eu\n"));
    assert!(stderr.contains("not run by mxdrift"));
    assert!(stdout.contains("\npostmap 'hash:/etc/postfix/vdomains'\n"));
    assert!(stdout.contains("\npostfix reload\n"));
    assert!(!stdout.contains("apply the diff"));
    assert!(stderr.contains("already delivered stays in the local mailboxes"));

    // The new audit agrees: nothing is left to fix.
    let again = plan_for(root);
    assert!(again.edits.is_empty(), "{:?}", again.edits);
    assert!(again.fixes.is_empty());
}

#[test]
fn file_changed_after_planning_is_refused_and_earlier_files_stay_written() {
    let dir = copy_fixture("demo");
    let root = dir.path();
    let plan = plan_for(root);
    let rels: Vec<&str> = plan.edits.iter().map(|e| e.rel.as_str()).collect();
    // main.cf first: backup.test joins relay_domains before it leaves
    // vdomains.
    assert_eq!(rels, ["etc/postfix/main.cf", "etc/postfix/vdomains"]);
    let vdomains = root.join("etc/postfix/vdomains");
    let mut changed = fs::read_to_string(&vdomains).unwrap();
    changed.push_str("new-customer.test  OK\n");
    fs::write(&vdomains, &changed).unwrap();

    let error = apply::apply(
        &ConfigRoot::new(root),
        &plan.edits,
        std::time::SystemTime::now(),
    )
    .unwrap_err();
    assert_eq!(error.rel, "etc/postfix/vdomains");
    assert_eq!(error.written.len(), 1);
    assert_eq!(error.written[0].rel, "etc/postfix/main.cf");
    let message = error.to_string();
    assert!(
        message.contains("changed since mxdrift read it"),
        "{message}"
    );
    assert!(
        message.contains("already written: etc/postfix/main.cf"),
        "{message}"
    );
    // The admin's change is intact and has no backup; main.cf is complete.
    assert_eq!(fs::read_to_string(&vdomains).unwrap(), changed);
    assert!(backups_of(&vdomains).is_empty());
    let main_cf = root.join("etc/postfix/main.cf");
    assert_eq!(fs::read_to_string(&main_cf).unwrap(), plan.edits[0].updated);
    assert_eq!(
        fs::read(&backups_of(&main_cf)[0]).unwrap(),
        plan.edits[0].original
    );
}

#[test]
fn change_at_the_last_moment_before_the_rename_is_refused() {
    let dir = copy_fixture("demo");
    let root = dir.path();
    let plan = plan_for(root);
    let main_cf = root.join("etc/postfix/main.cf");
    let mut admin = fs::read_to_string(&main_cf).unwrap();
    admin.push_str("# edited by the admin meanwhile\n");
    let admin_text = admin.clone();
    let mut hook = |path: &Path| {
        if path.ends_with("main.cf") {
            fs::write(path, &admin).unwrap();
        }
    };
    let error = apply::apply_with(
        &ConfigRoot::new(root),
        &plan.edits,
        std::time::SystemTime::now(),
        &mut hook,
    )
    .unwrap_err();
    assert_eq!(error.rel, "etc/postfix/main.cf");
    assert!(error.written.is_empty());
    assert!(error.to_string().contains("no file was written"));
    assert_eq!(fs::read_to_string(&main_cf).unwrap(), admin_text);
    // No backup, no temporary file left behind.
    let names: Vec<String> = fs::read_dir(root.join("etc/postfix"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(names.iter().all(|n| !n.contains("mxdrift")), "{names:?}");
}

#[test]
fn unwritable_directory_loses_nothing() {
    let dir = copy_fixture("demo");
    let root = dir.path();
    let plan = plan_for(root);
    let before = snapshot(root);
    let config_dir = root.join("etc/postfix");
    use std::os::unix::fs::PermissionsExt;
    let root_user = rustix::process::geteuid().is_root();
    if root_user {
        // chmod does not stop root: give the directory to another user
        // instead, which apply refuses before it writes anything (that user
        // could swap the files root writes; see tests/write_safety.rs).
        std::os::unix::fs::chown(&config_dir, Some(65534), Some(65534)).unwrap();
    } else {
        fs::set_permissions(&config_dir, fs::Permissions::from_mode(0o555)).unwrap();
    }
    let result = apply::apply(
        &ConfigRoot::new(root),
        &plan.edits,
        std::time::SystemTime::now(),
    );
    fs::set_permissions(&config_dir, fs::Permissions::from_mode(0o755)).unwrap();
    if root_user {
        std::os::unix::fs::chown(&config_dir, Some(0), Some(0)).unwrap();
    }
    let error = result.unwrap_err();
    assert_eq!(error.rel, "etc/postfix/main.cf");
    assert!(error.written.is_empty());
    assert_eq!(snapshot(root), before, "a file changed or appeared");
}

#[test]
fn apply_failure_is_exit_2_naming_what_was_written() {
    // A file that cannot be read back (a directory in its place) stops
    // apply; the CLI exits 2 and says nothing was written.
    let dir = copy_fixture("demo");
    let root = dir.path();
    let out = mxdrift()
        .args(["fix", "--commands", "--apply", "--root"])
        .arg(root)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let plan = plan_for(root);
    let main_cf = root.join("etc/postfix/main.cf");
    fs::remove_file(&main_cf).unwrap();
    fs::create_dir(&main_cf).unwrap();
    let error = apply::apply(
        &ConfigRoot::new(root),
        &plan.edits,
        std::time::SystemTime::now(),
    )
    .unwrap_err();
    assert!(error.written.is_empty());
    assert!(error.to_string().starts_with("etc/postfix/main.cf: "));
    assert!(error.to_string().contains("no file was written"));
}

#[test]
fn audit_report_options_are_refused_by_fix() {
    // fix has its own --format (diff, json) and honours --deadline; the
    // audit's report options are not fix options.
    for extra in [
        ["--format", "sarif"],
        ["--output", "/tmp/x"],
        ["--fail-on", "never"],
    ] {
        mxdrift()
            .arg("fix")
            .args(extra)
            .arg("--root")
            .arg(fixture("demo"))
            .assert()
            .code(2);
    }
}
