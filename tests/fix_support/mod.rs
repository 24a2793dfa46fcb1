//! Helpers of the `fix` tests: fixture copies, the binary, outside tools.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use assert_cmd::Command;

pub fn mxdrift() -> Command {
    Command::cargo_bin("mxdrift").expect("binary built")
}

pub fn fixture(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("testdata")
        .join(rel)
}

/// Copy a directory tree (files and directories only).
pub fn copy_tree(from: &Path, to: &Path) {
    for entry in walkdir::WalkDir::new(from) {
        let entry = entry.unwrap();
        let rel = entry.path().strip_prefix(from).unwrap();
        let target = to.join(rel);
        if entry.file_type().is_dir() {
            fs::create_dir_all(&target).unwrap();
        } else {
            fs::copy(entry.path(), &target).unwrap();
        }
    }
}

/// A copy of a fixture in a temporary directory.
pub fn copy_fixture(rel: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    copy_tree(&fixture(rel), dir.path());
    dir
}

/// A tool the test needs: its path, or `None` after a visible SKIPPED
/// message. Under CI=true a missing tool fails the test.
pub fn need_tool(tool: &str, test: &str) -> Option<PathBuf> {
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join(tool))
            .find(|p| p.is_file())
    });
    if found.is_none() {
        if std::env::var("CI").as_deref() == Ok("true") {
            panic!("{test}: `{tool}` is not installed, and CI=true requires it");
        }
        eprintln!("SKIPPED: {test}: `{tool}` is not installed");
    }
    found
}

/// (delivery, declared places without line numbers) of every domain, from `audit --format json`.
pub type DomainState = BTreeMap<String, (String, serde_json::Value)>;

pub fn audit_json(extra: &[&str]) -> serde_json::Value {
    let out = mxdrift()
        .args(["audit", "--format", "json", "--fail-on", "never"])
        .args(extra)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "audit failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

pub fn states(audit: &serde_json::Value) -> DomainState {
    audit["domains"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            (
                d["domain"].as_str().unwrap().to_string(),
                (
                    d["delivery"].as_str().unwrap().to_string(),
                    // Lines move when lines above them go: compare
                    // file and parameter only.
                    serde_json::Value::Array(
                        d["declared"]
                            .as_array()
                            .unwrap()
                            .iter()
                            .map(|p| serde_json::json!([p["file"], p["via"]]))
                            .collect(),
                    ),
                ),
            )
        })
        .collect()
}

/// Comment lines (`#` first non-blank) of every file under a directory.
pub fn comment_lines(dir: &Path) -> BTreeMap<String, Vec<String>> {
    let mut all = BTreeMap::new();
    for entry in walkdir::WalkDir::new(dir) {
        let entry = entry.unwrap();
        if !entry.file_type().is_file() {
            continue;
        }
        let Ok(text) = fs::read_to_string(entry.path()) else {
            continue;
        };
        let rel = entry
            .path()
            .strip_prefix(dir)
            .unwrap()
            .display()
            .to_string();
        let comments: Vec<String> = text
            .lines()
            .filter(|l| l.trim_start().starts_with('#'))
            .map(|l| l.trim().to_string())
            .collect();
        all.insert(rel, comments);
    }
    all
}

/// The plan validates against the schema mxdrift ships (strict: refused
/// actions and confirmations must be documented there).
pub fn assert_schema(plan: &serde_json::Value) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/mxdrift.schema.json");
    let schema: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(path).unwrap()).unwrap();
    let validator = jsonschema::draft202012::options().build(&schema).unwrap();
    let errors: Vec<String> = validator
        .iter_errors(plan)
        .map(|e| format!("{e} at {}", e.instance_path()))
        .collect();
    assert!(errors.is_empty(), "{}\n{plan}", errors.join("\n"));
}
