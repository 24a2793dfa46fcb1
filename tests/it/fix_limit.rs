//! `--max-changes` (issue 17 §A): `fix` refuses, with exit 2 and nothing
//! changed, to take more domains off local delivery in one run than the
//! limit: by default 10, or 20 % of the local domains, whichever is larger.
//! Switching a domain off and making it a relay both count.

use std::fs;
use std::path::Path;

use crate::common::{mxdrift, text, write};

/// A Postfix root with `staying` local domains whose MX is this server,
/// `moved` local domains whose MX is elsewhere and `backups` local domains
/// for which this server is only the backup MX.
fn root(staying: usize, moved: usize, backups: usize) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let mut domains = Vec::new();
    let mut zone = String::from(
        "$ORIGIN test.\n$TTL 300\n@ IN SOA ns1.test. hostmaster.test. 1 3600 600 86400 300\n\
         @ IN NS ns1.test.\nns1 IN A 192.0.2.1\nmail.hoster IN A 203.0.113.10\n\
         mx1.elsewhere IN A 198.51.100.7\n",
    );
    for i in 0..staying {
        domains.push(format!("stays{i:03}.test"));
        zone.push_str(&format!("stays{i:03} IN MX 10 mail.hoster.test.\n"));
    }
    for i in 0..moved {
        domains.push(format!("moved{i:03}.test"));
        zone.push_str(&format!("moved{i:03} IN MX 10 mx1.elsewhere.test.\n"));
    }
    for i in 0..backups {
        domains.push(format!("backup{i:03}.test"));
        zone.push_str(&format!(
            "backup{i:03} IN MX 10 mx1.elsewhere.test.\nbackup{i:03} IN MX 20 mail.hoster.test.\n"
        ));
    }
    write(
        dir.path(),
        "etc/postfix/main.cf",
        "myhostname = mail.hoster.test\nmydestination =\nvirtual_mailbox_domains = /etc/postfix/vdomains\n",
    );
    write(
        dir.path(),
        "etc/postfix/vdomains",
        domains.join("\n") + "\n",
    );
    write(dir.path(), "zones/test.zone", &zone);
    dir
}

fn fix(root: &Path, extra: &[&str]) -> std::process::Output {
    mxdrift()
        .arg("fix")
        .arg("--root")
        .arg(root)
        .arg("--zone-file")
        .arg(root.join("zones/test.zone"))
        .args(["--server-ip", "203.0.113.10"])
        .args(extra)
        .output()
        .unwrap()
}

#[test]
fn more_switch_offs_than_the_default_limit_are_refused_and_change_nothing() {
    // 12 of 12 local domains look moved: the default limit is 10.
    let dir = root(0, 12, 0);
    let vdomains = dir.path().join("etc/postfix/vdomains");
    let before = fs::read(&vdomains).unwrap();
    for extra in [
        &[][..],
        &["--apply"],
        &["--commands"],
        &["--format", "json"],
    ] {
        let out = fix(dir.path(), extra);
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{extra:?}: {stderr}");
        assert_eq!(text(&out.stdout), "", "{extra:?}");
        assert!(
            stderr.contains("refusing to take 12 domains off local delivery in one run: more than --max-changes allows (10, the default: 10 or 20 % of the 12 local domains, whichever is larger)"),
            "{stderr}"
        );
        assert!(stderr.contains("moved000.test, moved001.test"), "{stderr}");
        assert!(stderr.contains("moved011.test"), "{stderr}");
        assert!(stderr.contains("--max-changes 12"), "{stderr}");
        assert_eq!(fs::read(&vdomains).unwrap(), before, "{extra:?}");
    }
    let names: Vec<String> = fs::read_dir(dir.path().join("etc/postfix"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(names.iter().all(|n| !n.contains("mxdrift")), "{names:?}");

    // Raised, the same plan goes ahead.
    let out = fix(dir.path(), &["--max-changes", "12", "--apply"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(fs::read_to_string(&vdomains).unwrap(), "");
}

#[test]
fn the_default_grows_to_a_fifth_of_the_local_domains_and_relays_count() {
    // 80 local domains: the default is 16 (20 %).
    let dir = root(64, 16, 0);
    let out = fix(dir.path(), &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("-moved015.test"));
    // 17 changes, one of them a relay (backup MX): refused.
    let dir = root(63, 16, 1);
    let out = fix(dir.path(), &[]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("refusing to take 17 domains off local delivery in one run: more than --max-changes allows (16, the default: 10 or 20 % of the 80 local domains"),
        "{stderr}"
    );
    assert!(stderr.contains("backup000.test"), "{stderr}");
    // A smaller limit given on the command line wins over the default.
    let dir = root(64, 3, 0);
    let out = fix(dir.path(), &["--max-changes", "2"]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("refusing to take 3 domains off local delivery in one run: more than --max-changes allows (2, as given)"),
        "{stderr}"
    );
}
