//! Issue 17 §C: a file the MTA reads that mxdrift cannot read (EACCES) makes
//! the run fail, on every platform: exit 2, Nagios UNKNOWN, a message that
//! names the file and says what to do. It is never taken as empty. The
//! binary really runs as an unprivileged user (uid 65534, with `setpriv`)
//! over fixture copies where one file is root's and mode 0600.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::common::{
    copy_fixture, copy_tree, fixture, mxdrift, mxdrift_path, require_root, require_tool, text,
};

const NOBODY: u32 = 65534;
const PERMISSION: &str = "permission denied: run as root or grant read access";

/// A fixture copy every user can read, with its own copy of the binary
/// (the build directory may not be reachable by other users).
struct SharedCopy {
    dir: tempfile::TempDir,
    setpriv: PathBuf,
}

impl SharedCopy {
    fn new(fixture_rel: &str) -> Option<SharedCopy> {
        if !require_root() {
            return None;
        }
        let setpriv = require_tool("setpriv")?;
        let dir = tempfile::Builder::new()
            .prefix("mxdrift-unreadable")
            .tempdir_in("/tmp")
            .unwrap();
        copy_tree(&fixture(fixture_rel), &dir.path().join("root"));
        for entry in walkdir::WalkDir::new(dir.path()) {
            let entry = entry.unwrap();
            let mode = if entry.file_type().is_dir() {
                0o755
            } else {
                0o644
            };
            fs::set_permissions(entry.path(), fs::Permissions::from_mode(mode)).unwrap();
        }
        // Copied by a separate `install` process, not fs::copy: a test
        // thread that forks while this process holds the copy open for
        // writing hands the write descriptor to its child until that child
        // execs, and executing the copy then fails with "Text file busy".
        let bin = dir.path().join("mxdrift");
        let status = Command::new("install")
            .args(["-m", "0755"])
            .arg(mxdrift_path())
            .arg(&bin)
            .status()
            .unwrap();
        assert!(status.success(), "install the binary copy: {status}");
        Some(SharedCopy { dir, setpriv })
    }

    fn root(&self) -> PathBuf {
        self.dir.path().join("root")
    }

    /// `mxdrift audit` of the copy as uid 65534, with extra arguments.
    fn audit_as_nobody(&self, extra: &[&str]) -> Output {
        let root = self.root();
        Command::new(&self.setpriv)
            .arg(format!("--reuid={NOBODY}"))
            .arg(format!("--regid={NOBODY}"))
            .arg("--clear-groups")
            .arg(self.dir.path().join("mxdrift"))
            .arg("audit")
            .arg("--root")
            .arg(&root)
            .arg("--zone-file")
            .arg(root.join("zones/test.zone"))
            .args(["--server-ip", "203.0.113.10"])
            .args(extra)
            .output()
            .unwrap()
    }

    fn make_private(&self, rel: &str) {
        let path = self.root().join(rel);
        assert!(path.exists(), "{}", path.display());
        fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).unwrap();
    }
}

/// The unprivileged run works on the readable copy (so a failure below is
/// the private file's), then fails loudly once `private` is mode 0600.
fn unreadable_file_fails_the_run(fixture_rel: &str, private: &str, test: &str) {
    let Some(copy) = SharedCopy::new(fixture_rel) else {
        return;
    };
    let readable = copy.audit_as_nobody(&["--format", "nagios"]);
    let status = text(&readable.stdout);
    assert!(
        status.starts_with("MXDRIFT CRITICAL - "),
        "{test}: readable copy as uid {NOBODY}: {status}\n{}",
        text(&readable.stderr)
    );

    copy.make_private(private);
    let expected = format!("{private}: {PERMISSION}");
    let nagios = copy.audit_as_nobody(&["--format", "nagios"]);
    let stdout = text(&nagios.stdout);
    assert_eq!(nagios.status.code(), Some(3), "{test}: {stdout}");
    assert!(
        stdout.starts_with("MXDRIFT UNKNOWN - ") && stdout.contains(&expected),
        "{test}: {stdout}"
    );

    let plain = copy.audit_as_nobody(&[]);
    let stderr = text(&plain.stderr);
    assert_eq!(plain.status.code(), Some(2), "{test}: {stderr}");
    assert!(stderr.contains(&expected), "{test}: {stderr}");
    assert!(plain.stdout.is_empty(), "{test}: a report was printed");
}

#[test]
fn postfix_table_unreadable_by_the_user_fails_the_run() {
    // Was: "MXDRIFT OK - 6 domains": the table taken as empty.
    unreadable_file_fails_the_run(
        "demo",
        "etc/postfix/vdomains",
        "postfix_table_unreadable_by_the_user_fails_the_run",
    );
}

#[test]
fn postfix_list_file_unreadable_by_the_user_fails_the_run() {
    unreadable_file_fails_the_run(
        "demo",
        "etc/postfix/alias_domains",
        "postfix_list_file_unreadable_by_the_user_fails_the_run",
    );
}

#[test]
fn plesk_map_unreadable_by_the_user_fails_the_run() {
    // Was: 4 false critical mx-points-here-not-local.
    unreadable_file_fails_the_run(
        "plesk/postfix",
        "var/spool/postfix/plesk/virtual_domains",
        "plesk_map_unreadable_by_the_user_fails_the_run",
    );
}

#[test]
fn cpanel_list_unreadable_by_the_user_fails_the_run() {
    unreadable_file_fails_the_run(
        "cpanel/basic",
        "etc/localdomains",
        "cpanel_list_unreadable_by_the_user_fails_the_run",
    );
}

#[test]
fn unsearchable_directory_fails_the_run_naming_the_file() {
    let Some(copy) = SharedCopy::new("plesk/postfix") else {
        return;
    };
    copy.make_private("var/spool/postfix/plesk");
    let out = copy.audit_as_nobody(&[]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains(PERMISSION), "{stderr}");
    assert!(stderr.contains("var/spool/postfix/plesk/"), "{stderr}");
}

#[test]
fn a_missing_table_is_still_a_lookup_failure_warning() {
    // Only permission errors became fatal: Postfix defers mail when a table
    // is missing, and mxdrift keeps reporting that as before.
    let dir = copy_fixture("demo");
    fs::remove_file(dir.path().join("etc/postfix/vdomains")).unwrap();
    let out = run(dir.path(), &["inventory", "--format", "json"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let warnings = json["warnings"].as_array().cloned().unwrap_or_default();
    assert!(
        warnings.iter().any(|w| w["kind"] == "lookup-failure"
            && w["message"]
                .as_str()
                .is_some_and(|m| m.contains("vdomains"))),
        "{warnings:?}"
    );
}

fn run(root: &Path, args: &[&str]) -> Output {
    mxdrift()
        .args(args)
        .arg("--root")
        .arg(root)
        .output()
        .unwrap()
}
