//! Issue 11 §B: `--root` is a boundary. Configured paths resolve inside the
//! root like a chroot (`/..` stays `/`, absolute link targets start again at
//! the root), nothing outside it is read or written, and anything but a
//! regular file is refused with a warning naming the parameter.

use std::fs;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::common::{fixture, mxdrift};
use mxdrift::inventory::WarningKind;
use mxdrift::sources::ConfigRoot;
use mxdrift::sources::postfix::{self, PostfixOptions};

/// A root with a Postfix main.cf, and a directory outside it whose `list`
/// holds `moved.test` and `leaked.test`. The same absolute path exists
/// inside the root too, holding `moved.test` and `shop.test`.
struct Boundary {
    root: tempfile::TempDir,
    outside: tempfile::TempDir,
}

const OUTSIDE_LIST: &str = "moved.test\nleaked.test\n";
const INSIDE_LIST: &str = "moved.test\nshop.test\n";

impl Boundary {
    fn new(alias_domains: impl Fn(&Path) -> String) -> Boundary {
        let root = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        fs::write(outside.path().join("list"), OUTSIDE_LIST).unwrap();
        let mirror = root.path().join(outside.path().strip_prefix("/").unwrap());
        fs::create_dir_all(&mirror).unwrap();
        fs::write(mirror.join("list"), INSIDE_LIST).unwrap();
        fs::create_dir_all(root.path().join("etc/postfix")).unwrap();
        fs::create_dir_all(root.path().join("zones")).unwrap();
        fs::copy(
            fixture("fix/postfix/zones/test.zone"),
            root.path().join("zones/test.zone"),
        )
        .unwrap();
        let main_cf = format!(
            "myhostname = mail.hoster.test\nproxy_interfaces = 203.0.113.10\ncompatibility_level = 3.6\nmydestination = localhost\nvirtual_alias_domains = {}\n",
            alias_domains(outside.path())
        );
        fs::write(root.path().join("etc/postfix/main.cf"), main_cf).unwrap();
        Boundary { root, outside }
    }

    fn outside_list(&self) -> PathBuf {
        self.outside.path().join("list")
    }

    fn inside_list(&self) -> PathBuf {
        self.root
            .path()
            .join(self.outside.path().strip_prefix("/").unwrap())
            .join("list")
    }

    fn inventory_json(&self) -> String {
        let out = mxdrift()
            .args(["inventory", "--format", "json", "--root"])
            .arg(self.root.path())
            .timeout(Duration::from_secs(30))
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
}

/// `/etc/postfix/../../../..<outside>/list`: enough `..` to climb out of
/// any temporary root.
fn climbing(outside: &Path) -> String {
    format!(
        "/etc/postfix/{}{}/list",
        "../".repeat(16),
        outside.strip_prefix("/").unwrap().display()
    )
}

#[test]
fn dot_dot_stays_inside_the_root() {
    let b = Boundary::new(climbing);
    let json = b.inventory_json();
    assert!(
        !json.contains("leaked.test"),
        "read outside the root: {json}"
    );
    assert!(json.contains("shop.test"), "{json}");
}

#[test]
fn absolute_symlink_targets_are_taken_inside_the_root() {
    let b = Boundary::new(|_| "/etc/postfix/alias_domains".to_string());
    symlink(
        b.outside_list(),
        b.root.path().join("etc/postfix/alias_domains"),
    )
    .unwrap();
    let json = b.inventory_json();
    assert!(
        !json.contains("leaked.test"),
        "read outside the root: {json}"
    );
    assert!(json.contains("shop.test"), "{json}");
}

#[test]
fn fix_apply_never_writes_outside_the_root() {
    let b = Boundary::new(climbing);
    let out = mxdrift()
        .args(["fix", "--apply", "--root"])
        .arg(b.root.path())
        .arg("--zone-file")
        .arg(b.root.path().join("zones/test.zone"))
        .timeout(Duration::from_secs(60))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert_eq!(
        fs::read_to_string(b.outside_list()).unwrap(),
        OUTSIDE_LIST,
        "a file outside the root was rewritten"
    );
    assert_eq!(
        fs::read_dir(b.outside.path()).unwrap().count(),
        1,
        "a file appeared outside the root"
    );
    // The file inside the root that the path leads to was fixed instead.
    assert_eq!(
        fs::read_to_string(b.inside_list()).unwrap(),
        "shop.test\n",
        "{stderr}"
    );
}

#[test]
fn the_diff_names_the_file_inside_the_root() {
    let b = Boundary::new(climbing);
    let out = mxdrift()
        .args(["fix", "--root"])
        .arg(b.root.path())
        .arg("--zone-file")
        .arg(b.root.path().join("zones/test.zone"))
        .output()
        .unwrap();
    let printed = String::from_utf8(out.stdout).unwrap();
    // After the comment lines on the evidence, which `patch` skips.
    let diff: String = printed
        .split_inclusive('\n')
        .skip_while(|line| line.starts_with("# "))
        .collect();
    let rel = b.outside.path().strip_prefix("/").unwrap().join("list");
    assert!(
        diff.starts_with(&format!("--- a/{}\n", rel.display())),
        "{diff}"
    );
    assert!(!diff.contains(".."), "{diff}");
}

#[test]
fn process_files_are_refused_on_the_system_root() {
    // `--root /` as on a live server: a list file in /proc would put the
    // process's environment into the report.
    let dir = tempfile::tempdir().unwrap();
    let etc = dir.path().join("etc/postfix");
    fs::create_dir_all(&etc).unwrap();
    fs::write(
        etc.join("main.cf"),
        "myhostname = mail.hoster.test\nmydestination =\nvirtual_alias_domains = /proc/self/environ\nrelay_domains = /etc/postfix/../../../../../../../proc/self/environ\n",
    )
    .unwrap();
    let opts = PostfixOptions {
        config_dir: etc.display().to_string(),
        hostname: None,
    };
    let inventory = postfix::read(&ConfigRoot::new("/"), &opts).unwrap();
    let leaked = |text: &str| text.contains("CARGO_") || text.contains("PATH=");
    for w in &inventory.warnings {
        assert!(!leaked(&w.message), "environment leaked: {}", w.message);
    }
    for d in &inventory.domains {
        assert!(!leaked(d.name.as_str()), "{}", d.name);
    }
    for param in ["virtual_alias_domains", "relay_domains"] {
        assert!(
            inventory
                .warnings
                .iter()
                .any(|w| w.kind == WarningKind::LookupFailure
                    && w.parameter.as_deref() == Some(param)
                    && w.message.contains("refused")),
            "{param}: {:?}",
            inventory.warnings
        );
    }
}

#[test]
fn domains_list_in_proc_is_refused() {
    let out = mxdrift()
        .args([
            "inventory",
            "--format",
            "json",
            "--domains",
            "/proc/self/environ",
        ])
        .env("MXDRIFT_CANARY", "leak.canary.test")
        .timeout(Duration::from_secs(30))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stdout.contains("canary"), "{stdout}");
    assert!(!stderr.contains("canary"), "{stderr}");
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("/proc/self/environ"), "{stderr}");
    assert!(stderr.contains("refused"), "{stderr}");
}

#[test]
fn special_files_as_lists_are_refused_with_a_warning_naming_the_parameter() {
    let root = tempfile::tempdir().unwrap();
    let etc = root.path().join("etc/postfix");
    fs::create_dir_all(etc.join("a_directory")).unwrap();
    rustix::fs::mknodat(
        rustix::fs::CWD,
        etc.join("pipe"),
        rustix::fs::FileType::Fifo,
        rustix::fs::Mode::from_raw_mode(0o644),
        0,
    )
    .unwrap();
    let mut main_cf = String::from(
        "myhostname = mail.hoster.test\nmydestination = /etc/postfix/a_directory\nvirtual_alias_domains = /etc/postfix/pipe\nvirtual_mailbox_domains = hash:/etc/postfix/pipe\n",
    );
    // A device, where the test may create one (root, outside containers
    // that drop CAP_MKNOD): /dev/zero's numbers.
    let device = rustix::fs::mknodat(
        rustix::fs::CWD,
        etc.join("zero"),
        rustix::fs::FileType::CharacterDevice,
        rustix::fs::Mode::from_raw_mode(0o644),
        rustix::fs::makedev(1, 5),
    )
    .is_ok();
    if device {
        main_cf.push_str("relay_domains = /etc/postfix/zero\n");
    } else {
        eprintln!("special_files_as_lists: cannot create a device here; FIFO and directory only");
    }
    fs::write(etc.join("main.cf"), main_cf).unwrap();
    let out = mxdrift()
        .args(["inventory", "--format", "json", "--root"])
        .arg(root.path())
        .timeout(Duration::from_secs(30))
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let warnings = json["warnings"].as_array().cloned().unwrap_or_default();
    let refused = |param: &str, what: &str| {
        warnings.iter().any(|w| {
            w["parameter"] == param
                && w["kind"] == "lookup-failure"
                && w["message"]
                    .as_str()
                    .is_some_and(|m| m.contains(what) && m.contains("refused"))
        })
    };
    assert!(refused("mydestination", "a directory"), "{warnings:#?}");
    assert!(refused("virtual_alias_domains", "FIFO"), "{warnings:#?}");
    assert!(refused("virtual_mailbox_domains", "FIFO"), "{warnings:#?}");
    if device {
        assert!(
            refused("relay_domains", "character device"),
            "{warnings:#?}"
        );
    }
}
