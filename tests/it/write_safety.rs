//! Issue 11 §C: writes that an unprivileged user cannot redirect. A user who
//! can write the directory swaps mxdrift's temporary file for a symbolic
//! link, as fast as a thread can: root must never chmod or chown the file
//! the link points to, and a file mxdrift reports as written is never a
//! link. Directories other users can write are refused; a configuration
//! file that is a link is edited at its target; backups keep owner, group
//! and mode.

use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt, symlink};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread;
use std::time::{Duration, SystemTime};

use mxdrift::remediate::apply;
use mxdrift::sources::ConfigRoot;

use crate::common::fix::plan_offline as plan_for;
use crate::common::{copy_fixture, fixture, mxdrift, require_root};

const USER: u32 = 65534;

fn chown(path: &Path, uid: u32) {
    std::os::unix::fs::chown(path, Some(uid), Some(uid)).unwrap();
}

fn mode(path: &Path) -> u32 {
    fs::symlink_metadata(path).unwrap().permissions().mode() & 0o7777
}

/// A root-only file outside the root that the attacker wants.
struct Victim {
    _dir: tempfile::TempDir,
    path: PathBuf,
}

impl Victim {
    fn new() -> Victim {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("shadow");
        fs::write(&path, "root:secret\n").unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).unwrap();
        Victim { _dir: dir, path }
    }

    fn assert_untouched(&self, when: &str) {
        let meta = fs::symlink_metadata(&self.path).unwrap();
        assert_eq!(
            (meta.uid(), meta.gid(), meta.permissions().mode() & 0o7777),
            (0, 0, 0o600),
            "{when}: root changed the owner or mode of a file the attacker chose"
        );
        assert_eq!(fs::read_to_string(&self.path).unwrap(), "root:secret\n");
    }
}

/// A thread that replaces every temporary file mxdrift creates in `dir`
/// with a link to `victim`, until stopped.
struct Attacker {
    stop: Arc<AtomicBool>,
    swaps: Arc<AtomicUsize>,
    thread: Option<thread::JoinHandle<()>>,
}

impl Attacker {
    fn start(dir: PathBuf, victim: PathBuf) -> Attacker {
        let stop = Arc::new(AtomicBool::new(false));
        let swaps = Arc::new(AtomicUsize::new(0));
        let (stop2, swaps2) = (stop.clone(), swaps.clone());
        let thread = thread::spawn(move || {
            let mut scans = 0u32;
            while !stop2.load(Ordering::Relaxed) {
                // Pause now and then, so that some writes complete and the
                // test sees both outcomes.
                scans = scans.wrapping_add(1);
                if scans.is_multiple_of(64) {
                    thread::sleep(Duration::from_micros(300));
                }
                let Ok(entries) = fs::read_dir(&dir) else {
                    continue;
                };
                for entry in entries.flatten() {
                    let name = entry.file_name().to_string_lossy().into_owned();
                    let planted = entry.file_type().is_ok_and(|t| t.is_symlink());
                    if !planted
                        && name.starts_with('.')
                        && name.contains(".mxdrift-")
                        && name.ends_with(".tmp")
                    {
                        let path = entry.path();
                        if fs::remove_file(&path).is_ok() && symlink(&victim, &path).is_ok() {
                            swaps2.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                }
            }
        });
        Attacker {
            stop,
            swaps,
            thread: Some(thread),
        }
    }

    fn swaps(&self) -> usize {
        self.swaps.load(Ordering::Relaxed)
    }
}

impl Drop for Attacker {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Put `text` at `path` as a fresh regular file of the user (never
/// through whatever is there now).
fn restore(path: &Path, text: &[u8]) {
    let _ = fs::remove_file(path);
    fs::write(path, text).unwrap();
    chown(path, USER);
    fs::set_permissions(path, fs::Permissions::from_mode(0o644)).unwrap();
}

/// Run `attempt` at least 50 times, and until the attacker swapped at
/// least 5 temporary files and one attempt succeeded (at most `max`
/// times), checking the victim after each. Returns (swaps, successes).
fn under_attack(
    dir: &Path,
    victim: &Victim,
    max: usize,
    mut attempt: impl FnMut(usize) -> bool,
    mut after: impl FnMut(bool),
) -> (usize, usize) {
    let attacker = Attacker::start(dir.to_path_buf(), victim.path.clone());
    let (mut i, mut succeeded) = (0, 0);
    while i < max && (i < 50 || attacker.swaps() < 5 || succeeded == 0) {
        let ok = attempt(i);
        victim.assert_untouched(&format!("attempt {i}"));
        after(ok);
        succeeded += usize::from(ok);
        i += 1;
    }
    let swaps = attacker.swaps();
    drop(attacker);
    victim.assert_untouched("after the attack");
    (swaps, succeeded)
}

#[test]
fn racing_attacker_cannot_redirect_fix_apply() {
    let test = "racing_attacker_cannot_redirect_fix_apply";
    if !require_root() {
        return;
    }
    let dir = copy_fixture("demo");
    let root = dir.path();
    let plan = plan_for(root);
    let config_dir = root.join("etc/postfix");
    // The directory and the files belong to the attacker, the one case
    // where mxdrift writes in a directory another user can write.
    chown(&config_dir, USER);
    for edit in &plan.edits {
        restore(&edit.path, &edit.original);
    }
    let victim = Victim::new();
    let config_root = ConfigRoot::new(root);
    let start = SystemTime::now();
    let (swaps, succeeded) = under_attack(
        &config_dir,
        &victim,
        2000,
        |i| {
            for edit in &plan.edits {
                restore(&edit.path, &edit.original);
            }
            let now = start + Duration::from_secs(i as u64);
            apply::apply(&config_root, &plan.edits, now).is_ok()
        },
        |ok| {
            if ok {
                for edit in &plan.edits {
                    let meta = fs::symlink_metadata(&edit.path).unwrap();
                    assert!(meta.is_file(), "{} is not a regular file", edit.rel);
                    assert_eq!(fs::read_to_string(&edit.path).unwrap(), edit.updated);
                    assert_eq!((meta.uid(), meta.gid()), (USER, USER), "{}", edit.rel);
                }
            }
        },
    );
    eprintln!("{test}: {swaps} temporary files swapped for links, {succeeded} applies completed");
    assert!(
        swaps > 0,
        "the attack never happened: the test proves nothing"
    );
}

#[test]
fn racing_attacker_cannot_redirect_audit_output() {
    let test = "racing_attacker_cannot_redirect_audit_output";
    if !require_root() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let out_dir = dir.path().join("node-exporter");
    fs::create_dir(&out_dir).unwrap();
    chown(&out_dir, USER);
    let prom = out_dir.join("mxdrift.prom");
    let victim = Victim::new();
    let (swaps, succeeded) = under_attack(
        &out_dir,
        &victim,
        2000,
        |i| {
            restore(&prom, b"old\n");
            mxdrift::atomic::write_atomic(&prom, format!("run {i}\n").as_bytes(), 0o644).is_ok()
        },
        |ok| {
            if ok {
                let meta = fs::symlink_metadata(&prom).unwrap();
                assert!(meta.is_file(), "the report is not a regular file");
                assert_eq!(meta.uid(), USER);
            }
        },
    );
    eprintln!("{test}: {swaps} temporary files swapped for links, {succeeded} writes completed");
    assert!(
        swaps > 0,
        "the attack never happened: the test proves nothing"
    );
}

fn snapshot(root: &Path) -> Vec<(PathBuf, Vec<u8>, u32)> {
    let mut files: Vec<_> = walkdir::WalkDir::new(root)
        .into_iter()
        .map(Result::unwrap)
        .filter(|e| !e.file_type().is_dir())
        .map(|e| {
            let bytes = fs::read(e.path()).unwrap_or_default();
            (e.path().to_path_buf(), bytes, mode(e.path()))
        })
        .collect();
    files.sort();
    files
}

fn fix_apply(root: &Path) -> (Option<i32>, String) {
    let out = mxdrift()
        .args(["fix", "--apply", "--root"])
        .arg(root)
        .arg("--zone-file")
        .arg(root.join("zones/test.zone"))
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn directories_other_users_can_write_are_refused() {
    for (setup, expected) in [
        ("every user", "is writable by every user"),
        ("group", "is writable by group"),
        ("another owner", "belongs to uid 65534"),
    ] {
        let dir = copy_fixture("demo");
        let config_dir = dir.path().join("etc/postfix");
        match setup {
            "every user" => {
                fs::set_permissions(&config_dir, fs::Permissions::from_mode(0o1777)).unwrap()
            }
            "group" => fs::set_permissions(&config_dir, fs::Permissions::from_mode(0o775)).unwrap(),
            _ => {
                if !require_root() {
                    continue;
                }
                // The directory is the user's, main.cf is root's.
                chown(&config_dir, USER);
            }
        }
        let before = snapshot(dir.path());
        let (code, stderr) = fix_apply(dir.path());
        assert_eq!(code, Some(2), "{setup}: {stderr}");
        assert!(stderr.contains(expected), "{setup}: {stderr}");
        assert!(
            stderr.contains("refused, because another user could swap"),
            "{setup}: {stderr}"
        );
        assert_eq!(
            snapshot(dir.path()),
            before,
            "{setup}: something was written"
        );
    }
}

#[test]
fn a_configuration_file_that_is_a_link_is_edited_at_its_target() {
    for target in ["../../srv/postfix/main.cf", "/srv/postfix/main.cf"] {
        let dir = copy_fixture("demo");
        let root = dir.path();
        let link = root.join("etc/postfix/main.cf");
        let real = root.join("srv/postfix/main.cf");
        fs::create_dir_all(real.parent().unwrap()).unwrap();
        fs::rename(&link, &real).unwrap();
        symlink(target, &link).unwrap();
        let original = fs::read_to_string(&real).unwrap();
        let (code, stderr) = fix_apply(root);
        assert_eq!(code, Some(0), "{target}: {stderr}");
        let meta = fs::symlink_metadata(&link).unwrap();
        assert!(
            meta.file_type().is_symlink(),
            "{target}: the link was replaced"
        );
        assert_eq!(fs::read_link(&link).unwrap(), Path::new(target), "{target}");
        let edited = fs::read_to_string(&real).unwrap();
        assert_ne!(edited, original, "{target}: the target was not edited");
        assert!(edited.contains("relay_domains"), "{target}");
        let backups: Vec<String> = fs::read_dir(real.parent().unwrap())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with("main.cf.mxdrift-") && n.ends_with(".bak"))
            .collect();
        assert_eq!(backups.len(), 1, "{target}: {backups:?}");
        assert_eq!(
            fs::read_to_string(real.parent().unwrap().join(&backups[0])).unwrap(),
            original
        );
    }
}

#[test]
fn backups_and_rewritten_files_keep_owner_group_and_mode() {
    if !require_root() {
        return;
    }
    let dir = copy_fixture("demo");
    let main_cf = dir.path().join("etc/postfix/main.cf");
    std::os::unix::fs::chown(&main_cf, Some(USER), Some(4)).unwrap();
    fs::set_permissions(&main_cf, fs::Permissions::from_mode(0o640)).unwrap();
    let (code, stderr) = fix_apply(dir.path());
    assert_eq!(code, Some(0), "{stderr}");
    let backup = fs::read_dir(dir.path().join("etc/postfix"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| {
            let n = p.file_name().unwrap().to_string_lossy();
            n.starts_with("main.cf.mxdrift-") && n.ends_with(".bak")
        })
        .expect("a backup of main.cf");
    for path in [&main_cf, &backup] {
        let meta = fs::symlink_metadata(path).unwrap();
        assert_eq!(
            (meta.uid(), meta.gid(), mode(path)),
            (USER, 4, 0o640),
            "{}",
            path.display()
        );
    }
}

#[test]
fn audit_output_refuses_a_link_and_a_directory_others_can_write() {
    let dir = tempfile::tempdir().unwrap();
    let victim = dir.path().join("victim");
    fs::write(&victim, "keep\n").unwrap();
    let link = dir.path().join("mxdrift.prom");
    symlink(&victim, &link).unwrap();
    let audit = |output: &Path| {
        mxdrift()
            .args(["audit", "--format", "prometheus", "--fail-on", "never"])
            .arg("--root")
            .arg(fixture("demo"))
            .arg("--zone-file")
            .arg(fixture("demo/zones/test.zone"))
            .arg("--output")
            .arg(output)
            .output()
            .unwrap()
    };
    let out = audit(&link);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("is a symbolic link: refused"), "{stderr}");
    assert!(
        fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink()
    );
    assert_eq!(fs::read_to_string(&victim).unwrap(), "keep\n");

    let shared = dir.path().join("shared");
    fs::create_dir(&shared).unwrap();
    fs::set_permissions(&shared, fs::Permissions::from_mode(0o1777)).unwrap();
    let out = audit(&shared.join("mxdrift.prom"));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("is writable by every user"), "{stderr}");
    assert_eq!(fs::read_dir(&shared).unwrap().count(), 0);
}

#[test]
fn a_link_inside_the_backup_directory_is_refused() {
    let dir = copy_fixture("demo");
    let backups = tempfile::tempdir().unwrap();
    let elsewhere = tempfile::tempdir().unwrap();
    symlink(elsewhere.path(), backups.path().join("etc")).unwrap();
    let before = snapshot(dir.path());
    let out = mxdrift()
        .args(["fix", "--apply", "--backup-dir"])
        .arg(backups.path())
        .arg("--root")
        .arg(dir.path())
        .arg("--zone-file")
        .arg(dir.path().join("zones/test.zone"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("is a symbolic link, not a directory: refused"),
        "{stderr}"
    );
    assert_eq!(fs::read_dir(elsewhere.path()).unwrap().count(), 0);
    assert_eq!(snapshot(dir.path()), before, "something was written");
}
