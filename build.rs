//! Embeds every `rules/*.yaml` file in the binary so the installed tool needs
//! no data files. The files are parsed (and their errors reported with
//! file:line) by `rules::RuleSet::embedded` and its tests.
//!
//! Also passes `MXDRIFT_GIT_COMMIT` (set by `scripts/dist`) on to
//! `mxdrift --version`. The script asks git, not this build script: a build
//! script that watched `.git/HEAD` would rebuild the crate and every test
//! binary after each commit.
// A build script reports a broken checkout by panicking.
#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::fmt::Write as _;
use std::path::PathBuf;

fn main() {
    println!("cargo:rerun-if-env-changed=MXDRIFT_GIT_COMMIT");
    let commit = std::env::var("MXDRIFT_GIT_COMMIT").unwrap_or_else(|_| "unknown".to_string());
    assert!(
        !commit.is_empty()
            && commit
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.'),
        "MXDRIFT_GIT_COMMIT must be a commit id such as 0123456789ab or 0123456789ab-dirty, not {commit:?}"
    );
    println!("cargo:rustc-env=MXDRIFT_COMMIT={commit}");
    let dir =
        PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"))
            .join("rules");
    println!("cargo:rerun-if-changed={}", dir.display());
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("rules/ directory")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .collect();
    files.sort();
    let mut out = String::from(
        "/// (file name, contents) of every rule file, sorted by name.\npub(crate) const EMBEDDED_RULES: &[(&str, &str)] = &[\n",
    );
    for f in &files {
        println!("cargo:rerun-if-changed={}", f.display());
        let name = f
            .file_name()
            .and_then(|n| n.to_str())
            .expect("UTF-8 rule file name");
        writeln!(
            out,
            "    (\"rules/{name}\", include_str!({:?})),",
            f.display().to_string()
        )
        .expect("write to String");
    }
    out.push_str("];\n");
    let dest = PathBuf::from(std::env::var("OUT_DIR").expect("cargo sets OUT_DIR"))
        .join("embedded_rules.rs");
    std::fs::write(dest, out).expect("write embedded_rules.rs");
}
