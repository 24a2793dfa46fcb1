//! The Plesk fixture as a Plesk server holds it: `var/spool/postfix/plesk/`
//! has only the maps compiled by the real `postmap` (virtual_domains.db,
//! vmailbox.db, virtual.db, transport.db), no text sources. Audited offline
//! (zone file) and live (NSD serving the same zone on loopback), every
//! domain must get the same delivery, verdict and findings as from the text
//! sources, and `fix --commands` the same panel commands.

use std::path::Path;
use std::process::Output;

use crate::common::nsd::Nsd;
use crate::common::platform::expected;
use crate::common::postfix_oracle::compile_table;
use crate::common::report::{Rows, audit_json, rows};
use crate::common::{copy_fixture, fixture, mxdrift, require_tool};

const FIXTURE: &str = "plesk/postfix";
const MAPS: [&str; 4] = ["virtual_domains", "vmailbox", "virtual", "transport"];
const SERVER_IP: &str = "203.0.113.10";

/// A copy of the fixture with the maps compiled by postmap and the text
/// sources removed.
fn compiled_copy(postmap: &Path) -> tempfile::TempDir {
    let dir = copy_fixture(FIXTURE);
    let config = dir.path().join("postmap-config");
    std::fs::create_dir_all(&config).unwrap();
    std::fs::write(config.join("main.cf"), "").unwrap();
    let maps = dir.path().join("var/spool/postfix/plesk");
    for map in MAPS {
        compile_table(
            postmap,
            &config,
            &format!("hash:{}", maps.join(map).display()),
        );
        std::fs::remove_file(maps.join(map)).unwrap();
        assert!(maps.join(format!("{map}.db")).is_file());
    }
    std::fs::remove_dir_all(&config).unwrap();
    dir
}

fn run(root: &Path, args: &[&str]) -> Output {
    mxdrift()
        .args(args)
        .arg("--root")
        .arg(root)
        .args(["--server-ip", SERVER_IP])
        .output()
        .unwrap()
}

/// The audit of `root` as rows, and the JSON document.
fn audit(root: &Path, dns: &[&str]) -> (Rows, serde_json::Value) {
    let root = root.to_str().unwrap();
    let mut args = vec!["--root", root, "--server-ip", SERVER_IP];
    args.extend_from_slice(dns);
    let doc = audit_json(&args);
    (rows(&doc), doc)
}

fn declared_files(doc: &serde_json::Value, domain: &str) -> Vec<(String, u64)> {
    doc["domains"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["domain"] == domain)
        .unwrap()["declared"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            (
                d["file"].as_str().unwrap().to_string(),
                d["line"].as_u64().unwrap(),
            )
        })
        .collect()
}

fn expected_count() -> usize {
    expected(FIXTURE).len()
}

#[test]
fn compiled_maps_only_audit_offline_like_the_text_sources() {
    let Some(postmap) = require_tool("postmap") else {
        return;
    };
    let compiled = compiled_copy(&postmap);
    let zone = fixture(FIXTURE).join("zones/test.zone");
    let zone = zone.to_str().unwrap();
    let (from_text, _) = audit(&fixture(FIXTURE), &["--zone-file", zone]);
    let (from_compiled, doc) = audit(compiled.path(), &["--zone-file", zone]);
    assert_eq!(from_text.len(), expected_count());
    assert_eq!(from_compiled, from_text);
    // Declared where Postfix reads it: the compiled map, line 0.
    assert_eq!(
        declared_files(&doc, "moved.test"),
        [("var/spool/postfix/plesk/virtual_domains.db".to_string(), 0)]
    );
    // No warning about the maps: nothing is missing, stale or unreadable.
    let warnings = doc["warnings"].as_array().cloned().unwrap_or_default();
    assert!(
        warnings
            .iter()
            .all(|w| !w["message"].as_str().unwrap_or("").contains("plesk/")),
        "{warnings:?}"
    );

    // The fix is the panel's command, never a write to a compiled map.
    let fix = |root: &Path| {
        let out = run(root, &["fix", "--commands", "--zone-file", zone]);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let script = String::from_utf8(out.stdout).unwrap();
        script
            .lines()
            .filter(|l| l.starts_with("plesk "))
            .map(str::to_string)
            .collect::<Vec<_>>()
    };
    let commands = fix(compiled.path());
    assert!(
        commands
            .iter()
            .any(|c| c.contains("'moved.test'") && c.contains("-mail_service false")),
        "{commands:?}"
    );
    assert_eq!(commands, fix(&fixture(FIXTURE)));
    let diff = run(compiled.path(), &["fix", "--zone-file", zone]);
    assert!(
        diff.stdout.is_empty(),
        "a diff on Plesk: {}",
        String::from_utf8_lossy(&diff.stdout)
    );
}

#[test]
fn compiled_maps_only_audit_live_against_nsd_like_the_text_sources() {
    let Some(postmap) = require_tool("postmap") else {
        return;
    };
    let Some(nsd) = Nsd::start(&[("test", fixture(FIXTURE).join("zones/test.zone"))]) else {
        return;
    };
    let compiled = compiled_copy(&postmap);
    let ns = nsd.addr().to_string();
    let dns = ["--nameserver", ns.as_str(), "--timeout", "2"];
    let (from_text, _) = audit(&fixture(FIXTURE), &dns);
    let (from_compiled, _) = audit(compiled.path(), &dns);
    assert_eq!(from_text.len(), expected_count());
    assert_eq!(from_compiled, from_text);
    // The live answers are real ones: the moved domain is found elsewhere.
    assert_eq!(
        from_compiled.get("moved.test"),
        Some(&(
            "local".to_string(),
            "elsewhere".to_string(),
            "mail-switch-on".to_string()
        ))
    );
}
