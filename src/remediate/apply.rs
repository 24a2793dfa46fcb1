//! `fix --apply`: write the planned file changes. Each file is replaced
//! atomically (a temporary file in its directory, renamed over it), a
//! timestamped backup of the original is kept beside it (or under
//! `--backup-dir`), and a file whose
//! content is no longer what the plan was computed from is refused: the
//! admin (or the panel) changed it meanwhile, and writing would lose that.
//!
//! Every file is found again inside the root the way it was read (links
//! followed inside the root, `..` stopping at it): a configuration file
//! that is a symbolic link is edited at its target, and the link stays. All
//! writing goes through [`atomic::Directory`], which never follows a link
//! and never changes a mode or owner by path.

use std::ffi::{OsStr, OsString};
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use super::FileEdit;
use crate::atomic::{self, Owner, WriteError};
use crate::civil_date::CivilDate;
use crate::safe_fs::{self, FileKind};
use crate::sources::ConfigRoot;

/// One file written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Written {
    /// Relative to the root.
    pub rel: String,
    pub backup: PathBuf,
    /// What the admin should know about how it was written (a directory
    /// that belongs to another user).
    pub note: Option<String>,
}

/// Why applying stopped. Files in `written` were replaced completely (each
/// one atomically); the failed file and every file after it are untouched.
#[derive(Debug, thiserror::Error)]
#[error("{rel}: {reason}; {}", written_list(.written))]
pub struct ApplyError {
    pub rel: String,
    pub reason: String,
    pub written: Vec<Written>,
}

fn written_list(written: &[Written]) -> String {
    if written.is_empty() {
        "no file was written".to_string()
    } else {
        let names: Vec<String> = written
            .iter()
            .map(|w| format!("{} (backup {})", w.rel, w.backup.display()))
            .collect();
        format!("already written: {}", names.join(", "))
    }
}

/// `YYYYMMDDTHHMMSSZ` in UTC, for backup names.
pub fn timestamp(now: SystemTime) -> String {
    let secs = now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let date = CivilDate::from_unix(secs);
    let of_day = secs % 86_400;
    format!(
        "{:04}{:02}{:02}T{:02}{:02}{:02}Z",
        date.year,
        date.month,
        date.day,
        of_day / 3600,
        of_day % 3600 / 60,
        of_day % 60
    )
}

/// Where the backups of the original files go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backups<'a> {
    /// Beside each file: `FILE.mxdrift-STAMP.bak`.
    Beside,
    /// Under this directory, at the file's path relative to the root
    /// (`DIR/etc/postfix/main.cf.mxdrift-STAMP.bak`), so that backups stay
    /// out of `/etc/postfix` and out of a configuration repository.
    In(&'a Path),
}

/// Write every edit, in order, stopping at the first failure.
pub fn apply(
    root: &ConfigRoot,
    edits: &[FileEdit],
    now: SystemTime,
) -> Result<Vec<Written>, ApplyError> {
    apply_to(root, edits, now, Backups::Beside)
}

/// [`apply`] with the backups where `backups` says.
pub fn apply_to(
    root: &ConfigRoot,
    edits: &[FileEdit],
    now: SystemTime,
    backups: Backups<'_>,
) -> Result<Vec<Written>, ApplyError> {
    apply_inner(root, edits, now, backups, &mut |_| {})
}

/// [`apply`] with a hook called for each file after its new content is
/// complete in the temporary file and before the last check that the file
/// is unchanged: tests change the file there to prove the check holds.
pub fn apply_with(
    root: &ConfigRoot,
    edits: &[FileEdit],
    now: SystemTime,
    before_check: &mut dyn FnMut(&Path),
) -> Result<Vec<Written>, ApplyError> {
    apply_inner(root, edits, now, Backups::Beside, before_check)
}

fn apply_inner(
    root: &ConfigRoot,
    edits: &[FileEdit],
    now: SystemTime,
    backups: Backups<'_>,
    before_check: &mut dyn FnMut(&Path),
) -> Result<Vec<Written>, ApplyError> {
    let stamp = timestamp(now);
    let mut written = Vec::new();
    for edit in edits {
        match write_one(root, edit, &stamp, backups, before_check) {
            Ok((backup, note)) => written.push(Written {
                rel: edit.rel.clone(),
                backup,
                note,
            }),
            Err(reason) => {
                return Err(ApplyError {
                    rel: edit.rel.clone(),
                    reason,
                    written,
                });
            }
        }
    }
    Ok(written)
}

fn unchanged(dir: &atomic::Directory, name: &OsString, edit: &FileEdit) -> Result<(), String> {
    match dir.read(name, safe_fs::TABLE_LIMIT) {
        Ok(now) if now == edit.original => Ok(()),
        Ok(_) => Err(
            "changed since mxdrift read it; refused, nothing written for it (run `mxdrift fix` again)"
                .to_string(),
        ),
        Err(e) => Err(format!("cannot read it again before writing: {e}")),
    }
}

/// The directory a backup goes to, and the backup's path for messages:
/// beside the file, or under the backup directory at the file's path
/// relative to the root. Directories made there are mode 0700 and entered
/// without following links; one that other users can write is refused.
fn backup_directory(
    target: &str,
    backups: Backups<'_>,
) -> Result<Option<(atomic::Directory, PathBuf)>, String> {
    let dir = match backups {
        Backups::Beside => return Ok(None),
        Backups::In(dir) => dir,
    };
    let cannot = |e: &dyn std::fmt::Display| {
        format!("cannot use the backup directory {}: {e}", dir.display())
    };
    // The directory itself is the admin's path: made as given.
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|e| cannot(&e))?;
    let mut current = atomic::Directory::open_path(dir).map_err(|e| cannot(&e))?;
    let mut shown = dir.to_path_buf();
    let parents = Path::new(target).parent().map(Path::components);
    for part in parents.into_iter().flatten() {
        let std::path::Component::Normal(part) = part else {
            return Err(format!("{target}: not a plain relative path"));
        };
        shown.push(part);
        current = current
            .subdirectory(part)
            .map_err(|e| format!("cannot use the backup directory {}: {e}", shown.display()))?;
    }
    Ok(Some((current, shown)))
}

fn write_one(
    root: &ConfigRoot,
    edit: &FileEdit,
    stamp: &str,
    backups: Backups<'_>,
    before_check: &mut dyn FnMut(&Path),
) -> Result<(PathBuf, Option<String>), String> {
    let place = safe_fs::Root::open(root.dir())
        .and_then(|r| r.place_for_write(&edit.rel))
        .map_err(|e| format!("cannot open it: {e}"))?;
    if place.rel != edit.target {
        return Err(format!(
            "now leads to {} instead of {}, which mxdrift read (a link changed); refused, nothing written for it",
            place.rel, edit.target
        ));
    }
    let Some(stat) = place.existing else {
        return Err("no longer exists; refused, nothing written for it".to_string());
    };
    match FileKind::of_stat(&stat) {
        FileKind::Regular => {}
        other => {
            return Err(format!(
                "is {}, not a regular file: refused",
                other.describe()
            ));
        }
    }
    let dir_shown = root.dir().join(&place.dir_rel);
    let dir = atomic::Directory::from_fd(place.dir, dir_shown.clone());
    let name = place.name;
    unchanged(&dir, &name, edit)?;
    let permit = dir.permit(&name, Some(&stat)).map_err(|e| e.to_string())?;
    // The new file and the backup keep the original's owner, group and
    // mode (set-id bits never).
    let owner = Owner::of(&stat);
    let mode = stat.st_mode & 0o777;

    let mut backup_name = name.clone();
    backup_name.push(format!(".mxdrift-{stamp}.bak"));
    let elsewhere = backup_directory(&place.rel, backups)?;
    let (backup_dir, backup) = match &elsewhere {
        Some((other, shown)) => {
            other
                .permit(&backup_name, None)
                .map_err(|e| format!("cannot write the backup there: {e}"))?;
            (other, shown.join(&backup_name))
        }
        None => (&dir, dir_shown.join(&backup_name)),
    };
    backup_dir
        .create_new(&backup_name, &edit.original, mode, Some(owner))
        .map_err(|e| format!("cannot write the backup {}: {e}", backup.display()))?;

    let result = dir.replace(&name, edit.updated.as_bytes(), mode, Some(owner), || {
        before_check(&edit.path);
        unchanged(&dir, &name, edit).map_err(WriteError::Refused)
    });
    match result {
        Ok(()) => Ok((backup, permit.note)),
        Err(e) => {
            // Nothing was written: a backup of it would only mislead.
            let _ = backup_dir.remove(OsStr::new(&backup_name));
            Err(e.to_string())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn timestamps_are_utc_and_sortable() {
        let t = UNIX_EPOCH + Duration::from_secs(1_795_392_000 + 3 * 3600 + 4 * 60 + 5);
        assert_eq!(timestamp(t), "20261123T030405Z");
    }
}
