//! `fix --apply`: write the planned file changes. Each file is replaced
//! atomically (a temporary file in its directory, renamed over it), a
//! timestamped backup of the original is kept beside it, and a file whose
//! content is no longer what the plan was computed from is refused: the
//! admin (or the panel) changed it meanwhile, and writing would lose that.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

#[cfg(unix)]
use std::os::unix::fs::{MetadataExt, PermissionsExt};

use super::FileEdit;
use crate::atomic;
use crate::config::CivilDate;

/// One file written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Written {
    /// Relative to the root.
    pub rel: String,
    pub backup: PathBuf,
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
pub fn apply(edits: &[FileEdit], now: SystemTime) -> Result<Vec<Written>, ApplyError> {
    apply_to(edits, now, Backups::Beside)
}

/// [`apply`] with the backups where `backups` says.
pub fn apply_to(
    edits: &[FileEdit],
    now: SystemTime,
    backups: Backups<'_>,
) -> Result<Vec<Written>, ApplyError> {
    apply_inner(edits, now, backups, &mut |_| {})
}

/// [`apply`] with a hook called for each file after its new content is
/// complete in the temporary file and before the last check that the file
/// is unchanged: tests change the file there to prove the check holds.
pub fn apply_with(
    edits: &[FileEdit],
    now: SystemTime,
    before_check: &mut dyn FnMut(&Path),
) -> Result<Vec<Written>, ApplyError> {
    apply_inner(edits, now, Backups::Beside, before_check)
}

fn apply_inner(
    edits: &[FileEdit],
    now: SystemTime,
    backups: Backups<'_>,
    before_check: &mut dyn FnMut(&Path),
) -> Result<Vec<Written>, ApplyError> {
    let stamp = timestamp(now);
    let mut written = Vec::new();
    for edit in edits {
        match write_one(edit, &stamp, backups, before_check) {
            Ok(backup) => written.push(Written {
                rel: edit.rel.clone(),
                backup,
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

fn unchanged(edit: &FileEdit) -> Result<(), String> {
    match fs::read(&edit.path) {
        Ok(now) if now == edit.original => Ok(()),
        Ok(_) => Err(
            "changed since mxdrift read it; refused, nothing written for it (run `mxdrift fix` again)"
                .to_string(),
        ),
        Err(e) => Err(format!("cannot read it again before writing: {e}")),
    }
}

/// The backup's path: beside the file, or under the backup directory at
/// the file's path relative to the root (subdirectories created mode 0700).
fn backup_path(edit: &FileEdit, stamp: &str, backups: Backups<'_>) -> Result<PathBuf, String> {
    let mut name = edit
        .path
        .file_name()
        .ok_or_else(|| "not a file path".to_string())?
        .to_os_string();
    name.push(format!(".mxdrift-{stamp}.bak"));
    let dir = match backups {
        Backups::Beside => return Ok(edit.path.with_file_name(name)),
        Backups::In(dir) => dir,
    };
    if !dir.is_dir() {
        let mut builder = fs::DirBuilder::new();
        builder.recursive(true);
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
        builder
            .create(dir)
            .map_err(|e| format!("cannot create the backup directory {}: {e}", dir.display()))?;
    }
    let rel = Path::new(&edit.rel);
    let mut target = dir.to_path_buf();
    let parents: Vec<_> = rel
        .parent()
        .map(|p| p.components().collect())
        .unwrap_or_default();
    for part in parents {
        let std::path::Component::Normal(part) = part else {
            return Err(format!("{}: not a plain relative path", edit.rel));
        };
        target.push(part);
        match fs::symlink_metadata(&target) {
            Ok(meta) if meta.is_dir() => {}
            Ok(_) => {
                return Err(format!(
                    "the backup directory {} is not a directory (a symbolic link is refused)",
                    target.display()
                ));
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                let mut builder = fs::DirBuilder::new();
                #[cfg(unix)]
                std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
                builder.create(&target).map_err(|e| {
                    format!(
                        "cannot create the backup directory {}: {e}",
                        target.display()
                    )
                })?;
            }
            Err(e) => return Err(format!("{}: {e}", target.display())),
        }
    }
    Ok(target.join(name))
}

fn write_one(
    edit: &FileEdit,
    stamp: &str,
    backups: Backups<'_>,
    before_check: &mut dyn FnMut(&Path),
) -> Result<PathBuf, String> {
    unchanged(edit)?;
    let meta = fs::metadata(&edit.path).map_err(|e| format!("cannot stat it: {e}"))?;
    #[cfg(unix)]
    let (mode, owner) = (meta.permissions().mode() & 0o7777, (meta.uid(), meta.gid()));
    #[cfg(not(unix))]
    let (mode, owner) = (0o644u32, ());
    let _ = (&meta, owner);

    let backup = backup_path(edit, stamp, backups)?;
    #[cfg(unix)]
    let keep = (mode, owner);
    #[cfg(not(unix))]
    let keep = mode;
    write_backup(&backup, &edit.original, keep)
        .map_err(|e| format!("cannot write the backup {}: {e}", backup.display()))?;

    let result = atomic::write_atomic_with(&edit.path, edit.updated.as_bytes(), mode, |tmp| {
        #[cfg(unix)]
        keep_owner(tmp, owner)?;
        #[cfg(not(unix))]
        let _ = tmp;
        before_check(&edit.path);
        unchanged(edit).map_err(io::Error::other)
    });
    match result {
        Ok(()) => Ok(backup),
        Err(e) => {
            // Nothing was written: a backup of it would only mislead.
            let _ = fs::remove_file(&backup);
            Err(e.to_string())
        }
    }
}

/// Write a backup with the original's mode (and, on Unix, owner and
/// group), set on the open file: `create_new` refuses any existing path,
/// a symbolic link included, so nothing else is ever chmod-ed or chown-ed.
#[cfg(unix)]
type Keep = (u32, (u32, u32));
#[cfg(not(unix))]
type Keep = u32;

fn write_backup(backup: &Path, contents: &[u8], keep: Keep) -> io::Result<()> {
    let mut options = fs::OpenOptions::new();
    // Never overwrite an earlier backup.
    options.write(true).create_new(true);
    #[cfg(unix)]
    let (mode, (uid, gid)) = keep;
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, mode & 0o777);
    #[cfg(not(unix))]
    let _ = keep;
    let result = (|| {
        use std::io::Write;
        let mut file = options.open(backup)?;
        #[cfg(unix)]
        {
            match std::os::unix::fs::fchown(&file, Some(uid), Some(gid)) {
                Ok(()) => {}
                // Only root may give a file away; anyone else keeps their own.
                Err(e) if e.kind() == io::ErrorKind::PermissionDenied => {}
                Err(e) => return Err(e),
            }
            // After the chown, which clears set-id bits; the umask may
            // have narrowed the mode given at creation.
            file.set_permissions(fs::Permissions::from_mode(mode))?;
        }
        file.write_all(contents)?;
        file.sync_all()
    })();
    if let Err(e) = result {
        if e.kind() != io::ErrorKind::AlreadyExists {
            let _ = fs::remove_file(backup);
        }
        return Err(e);
    }
    Ok(())
}

/// Give the new file the original's owner. Only root may; anyone else can
/// only have written into the directory as the owner anyway, so a refusal
/// that leaves the owner unchanged is fine.
#[cfg(unix)]
fn keep_owner(tmp: &Path, (uid, gid): (u32, u32)) -> io::Result<()> {
    let meta = fs::metadata(tmp)?;
    if meta.uid() == uid && meta.gid() == gid {
        return Ok(());
    }
    match std::os::unix::fs::chown(tmp, Some(uid), Some(gid)) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::PermissionDenied => Ok(()),
        Err(e) => Err(e),
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
