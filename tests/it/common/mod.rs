//! What the integration tests share: paths of the repository and its
//! fixtures, the binary under test, outside tools, golden files, builders,
//! and DNS servers on loopback.
//!
//! Every test runs in this one process beside others (see `main.rs`), so
//! helpers here keep their state to themselves: servers bind port 0 and
//! stop when dropped, children are killed by their guards, and nothing
//! here changes the environment or the current directory of the process.

// Included from the library, which uses it for its unit tests (see there);
// the unit tests use what these tests leave.
#[allow(dead_code)]
#[path = "../../../src/test_support/builders.rs"]
mod builders;

pub mod dns;
pub mod dns_server;
pub mod exim_oracle;
pub mod fix;
pub mod golden;
pub mod mini_zone;
pub mod nsd;
pub mod platform;
pub mod postfix_oracle;
pub mod raw_dns;
pub mod rdap_server;
pub mod report;
pub mod rng;

use std::collections::BTreeMap;
use std::ffi::{OsStr, OsString};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::Output;

pub use builders::{declared, evidence, host, known_domain, with_ttl, write};

/// The demo server (plain Postfix) and the zone file that answers for it.
pub const DEMO: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/testdata/demo");
pub const DEMO_ZONE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/testdata/demo/zones/test.zone");

/// A path in the repository.
pub fn repo(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)
}

/// A path under `testdata/`.
pub fn fixture(rel: &str) -> PathBuf {
    repo("testdata").join(rel)
}

/// The mxdrift binary, ready for arguments.
pub fn mxdrift() -> assert_cmd::Command {
    assert_cmd::cargo::cargo_bin_cmd!("mxdrift")
}

/// The binary's path, where a test needs `std::process::Command` (to
/// spawn it and watch it) or a copy of it.
pub fn mxdrift_path() -> &'static Path {
    assert_cmd::cargo::cargo_bin!("mxdrift")
}

/// `mxdrift ARGS`, its output.
pub fn run_mxdrift<S: AsRef<OsStr>>(args: impl IntoIterator<Item = S>) -> Output {
    mxdrift().args(args).output().expect("run mxdrift")
}

/// `mxdrift ARGS` on a blocking thread: a DNS server that the test runs
/// on its own async runtime keeps answering meanwhile.
pub async fn run_mxdrift_blocking<S: Into<OsString>>(args: impl IntoIterator<Item = S>) -> Output {
    let args: Vec<OsString> = args.into_iter().map(Into::into).collect();
    tokio::task::spawn_blocking(move || run_mxdrift(args))
        .await
        .expect("blocking task")
}

/// The JSON document a run printed; its stderr when there is none.
pub fn stdout_json(out: &Output) -> serde_json::Value {
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: stderr: {}", text(&out.stderr)))
}

/// Output as text, invalid UTF-8 shown as replacement characters.
pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Copy a directory tree (files and directories; symbolic links as links,
/// as HestiaCP's domain links are, whatever they point to).
pub fn copy_tree(from: &Path, to: &Path) {
    for entry in walkdir::WalkDir::new(from) {
        let entry = entry.expect("walk the fixture");
        let rel = entry.path().strip_prefix(from).expect("below the fixture");
        let target = to.join(rel);
        if entry.file_type().is_symlink() {
            let link = std::fs::read_link(entry.path()).expect("read a fixture link");
            std::os::unix::fs::symlink(link, &target).expect("copy a fixture link");
        } else if entry.file_type().is_dir() {
            std::fs::create_dir_all(&target).expect("create a directory of the copy");
        } else {
            std::fs::copy(entry.path(), &target).expect("copy a fixture file");
        }
    }
}

/// A copy of a fixture (a directory under `testdata/`) in a temporary
/// directory: for tests that change it.
pub fn copy_fixture(rel: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("create a temporary directory");
    copy_tree(&fixture(rel), dir.path());
    dir
}

/// Every file under `root` with its bytes: what a refused or failed change
/// must leave as it was.
pub fn snapshot(root: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    walkdir::WalkDir::new(root)
        .into_iter()
        .map(|e| e.expect("walk the tree"))
        .filter(|e| e.file_type().is_file())
        .map(|e| {
            let bytes = std::fs::read(e.path()).expect("read a file of the tree");
            (e.path().to_path_buf(), bytes)
        })
        .collect()
}

/// Where an outside tool is installed: on `PATH`, else in the system
/// directories a non-root `PATH` may lack.
pub fn find_tool(tool: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(
            [
                "/usr/sbin",
                "/usr/bin",
                "/sbin",
                "/bin",
                "/usr/local/sbin",
                "/usr/local/bin",
            ]
            .map(PathBuf::from),
        )
        .map(|dir| dir.join(tool))
        .find(|candidate| candidate.is_file())
}

/// An outside tool the test needs: its path, or `None` after a visible
/// `SKIPPED:` line; under `CI=true` a missing tool fails the test.
pub fn require_tool(tool: &str) -> Option<PathBuf> {
    require(find_tool(tool), &format!("`{tool}` is not installed"))
}

/// Root, for tests that create files of other users or run mxdrift as
/// another user; `false` after a visible `SKIPPED:` line, a failure under
/// `CI=true`.
pub fn require_root() -> bool {
    let root = rustix::process::geteuid().is_root().then_some(());
    require(root, "needs root (files and runs of another user)").is_some()
}

/// What the test needs, or `None` after a visible `SKIPPED: <test>:
/// <missing>` line. Under `CI=true` (where `.ci/run` installs everything)
/// a missing requirement fails the test instead.
pub fn require<T>(found: Option<T>, missing: &str) -> Option<T> {
    if found.is_none() {
        if std::env::var("CI").as_deref() == Ok("true") {
            panic!("{}{missing}, and CI=true requires it", test_name());
        }
        skipped(missing);
    }
    found
}

/// A visible `SKIPPED:` line. Written to the process's stderr directly:
/// the test harness captures `eprintln!` of passing tests, and a skip must
/// show in every run.
pub fn skipped(why: &str) {
    let line = format!("SKIPPED: {}{why}\n", test_name());
    let _ = std::io::stderr().lock().write_all(line.as_bytes());
}

/// `<test>: ` for the running test: the harness names each test's thread
/// after it (one thread for all with `--test-threads=1`: then nothing).
fn test_name() -> String {
    match std::thread::current().name() {
        Some(name) if name != "main" => format!("{name}: "),
        _ => String::new(),
    }
}
