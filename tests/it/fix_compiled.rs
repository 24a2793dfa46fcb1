//! `mxdrift fix` on plain Postfix whose domain table is compiled by the
//! real `postmap`: a domain declared only in the compiled file is never
//! "fixed" by writing the binary file; it is left for a human with the
//! reason and the `postmap -d` command. With the text source beside it,
//! the source is edited and `postmap` follows, as before.

use std::path::Path;

use crate::common::postfix_oracle::compile_table;
use crate::common::{mxdrift, require_tool};

const ZONE: &str = "$ORIGIN test.\n$TTL 300\n@ IN SOA ns.test. h.test. 1 3600 900 604800 300\n@ IN NS ns.test.\nns IN A 192.0.2.53\nmx1.elsewhere IN A 198.51.100.7\nmail IN A 203.0.113.10\nmoved IN MX 10 mx1.elsewhere.test.\nstays IN MX 10 mail.test.\n";

/// A plain Postfix root whose `vdomains` table is compiled into `vdomains.db`.
fn root(postmap: &Path) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let etc = dir.path().join("etc/postfix");
    std::fs::create_dir_all(&etc).unwrap();
    std::fs::write(
        etc.join("main.cf"),
        "myhostname = mail.test\nmydestination =\nvirtual_mailbox_domains = hash:/etc/postfix/vdomains\n",
    )
    .unwrap();
    std::fs::write(etc.join("vdomains"), "moved.test ok\nstays.test ok\n").unwrap();
    compile_table(
        postmap,
        &etc,
        &format!("hash:{}", etc.join("vdomains").display()),
    );
    std::fs::write(dir.path().join("test.zone"), ZONE).unwrap();
    dir
}

fn fix(root: &Path, extra: &[&str]) -> (String, String) {
    let out = mxdrift()
        .args(["fix", "--root"])
        .arg(root)
        .arg("--zone-file")
        .arg(root.join("test.zone"))
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
    (
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

#[test]
fn a_domain_only_in_a_compiled_table_is_left_for_a_human() {
    let Some(postmap) = require_tool("postmap") else {
        return;
    };
    let dir = root(&postmap);
    std::fs::remove_file(dir.path().join("etc/postfix/vdomains")).unwrap();
    let db = std::fs::read(dir.path().join("etc/postfix/vdomains.db")).unwrap();

    let (diff, summary) = fix(dir.path(), &[]);
    assert!(diff.is_empty(), "a diff of a compiled table: {diff}");
    assert!(
        summary.contains("left for a human: moved.test (mail-switch-on): declared only in the compiled table etc/postfix/vdomains.db"),
        "{summary}"
    );
    assert!(
        summary.contains("postmap -d 'moved.test' hash:/etc/postfix/vdomains"),
        "{summary}"
    );
    let (script, _) = fix(dir.path(), &["--commands"]);
    assert!(
        !script.lines().any(|l| l.starts_with("postmap")),
        "{script}"
    );
    assert!(
        script.contains("# ") && script.contains("moved.test"),
        "{script}"
    );
    let (_, applied) = fix(dir.path(), &["--apply"]);
    assert!(
        applied.contains("left for a human: moved.test"),
        "{applied}"
    );
    assert_eq!(
        std::fs::read(dir.path().join("etc/postfix/vdomains.db")).unwrap(),
        db,
        "the compiled table was written"
    );
}

#[test]
fn with_its_source_the_source_is_edited_and_postmap_follows() {
    let Some(postmap) = require_tool("postmap") else {
        return;
    };
    let dir = root(&postmap);
    let (diff, _) = fix(dir.path(), &[]);
    assert!(diff.contains("-moved.test ok"), "{diff}");
    let (script, _) = fix(dir.path(), &["--commands"]);
    assert!(
        script.contains("postmap 'hash:/etc/postfix/vdomains'"),
        "{script}"
    );
}
