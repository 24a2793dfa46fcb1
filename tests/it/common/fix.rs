//! Helpers of the `fix` tests: the plan made in process, the comments a fix
//! must keep, and panel programs stubbed out.

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use mxdrift::audit::{self, AuditOptions, IdentityOptions};
use mxdrift::civil_date::CivilDate;
use mxdrift::remediate::{self, Remediation};
use mxdrift::resolve::ResolveOptions;
use mxdrift::rules::RuleSet;
use mxdrift::sources::PlatformChoice;

use super::platform;

/// Options to audit a fixture copy in process, answered by its own zone
/// file (`zones/test.zone`), with no identity given.
pub fn offline_audit_options(root: &Path) -> AuditOptions {
    AuditOptions {
        sources: platform::options(root, PlatformChoice::Auto),
        identity: IdentityOptions::default(),
        resolve: ResolveOptions {
            nameservers: Vec::new(),
            zone_files: vec![root.join("zones/test.zone")],
            timeout: Duration::from_millis(500),
            attempts: 1,
            concurrency: 4,
            progress: None,
            max_qps: None,
            mode: mxdrift::resolve::DnsMode::Resolver,
            root_hints: None,
        },
        ignores: Vec::new(),
        today: CivilDate::today(),
        rdap: Default::default(),
        cross_check: None,
    }
}

/// The plan `mxdrift fix` makes for a fixture copy, audited offline.
pub fn plan_offline(root: &Path) -> Remediation {
    let opts = offline_audit_options(root);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    let audit = runtime
        .block_on(audit::run(&opts, RuleSet::embedded().expect("rules")))
        .expect("the audit runs");
    let wanted = remediate::candidates(&audit);
    let reconfirmed = runtime
        .block_on(audit::reconfirm(&audit, &opts, &wanted))
        .expect("the reconfirmation runs");
    remediate::plan(&audit, &opts.sources.root, &reconfirmed).expect("a plan")
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

/// An executable program at `path` with `script` as its text.
///
/// Written by a separate `install` process: a test thread that forks
/// while this process holds a new file open for writing hands the write
/// descriptor to its child until that child execs, and executing the file
/// then fails with "Text file busy". The text goes through a file that
/// nobody executes.
pub fn install_program(path: &Path, script: &str) {
    let source = tempfile::NamedTempFile::new().expect("a temporary file");
    fs::write(source.path(), script).expect("write the program text");
    let status = Command::new("install")
        .args(["-m", "0755"])
        .arg(source.path())
        .arg(path)
        .status()
        .expect("run install");
    assert!(status.success(), "install {}: {status}", path.display());
}
