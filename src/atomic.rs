//! Writing a file so that readers (Postfix, the node_exporter textfile
//! collector) see the old or the new file, never a half-written one, and so
//! that no other user can redirect what root writes.
//!
//! What a newcomer gets wrong:
//! - Every step after the directory is opened uses its descriptor, never a
//!   path: the temporary file is created there with `O_CREAT|O_EXCL|
//!   O_NOFOLLOW` under an unpredictable name, its owner and mode are set
//!   on the open descriptor (`fchown`, `fchmod`), it is `fsync`ed, renamed
//!   over the target with `renameat` in the same directory, and the
//!   directory is `fsync`ed. A `chmod` or `chown` by path would follow a
//!   link a user swapped in, onto any file of the machine.
//! - That only helps where no one else can create or rename files. A
//!   directory that a group or every user can write is refused. One that
//!   belongs to another user (not root, not the user running mxdrift) is
//!   accepted only for that user's own file, which keeps its owner: that
//!   user could replace it anyway (and still can, even between the last
//!   check and the rename; the check after the rename reports it). The
//!   caller tells the admin so.
//! - The target name is never followed: a symbolic link there is refused
//!   (`fix --apply` resolves a configuration file's link inside the root
//!   first, and edits the file it leads to).

use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::io::{self, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};

use rustix::fs::{AtFlags, Gid, Mode, OFlags, Stat, Uid};
use rustix::io::Errno;

use crate::safe_fs::{self, FileKind, FsError, Limit};

/// Who besides root and the user running mxdrift can create, rename or
/// delete entries in a directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DirectoryWriters {
    /// Only root and this process's user.
    Trusted,
    /// Its owner, another user.
    Owner(u32),
    /// The members of its group.
    Group(u32),
    /// Every user.
    Everyone,
}

impl DirectoryWriters {
    /// From the directory's owner, group and mode, for a process running as
    /// `euid`. Group write counts whatever the group (root's group may have
    /// members, and an ACL's mask shows there too).
    pub fn of(uid: u32, gid: u32, mode: u32, euid: u32) -> DirectoryWriters {
        if mode & 0o002 != 0 {
            DirectoryWriters::Everyone
        } else if mode & 0o020 != 0 {
            DirectoryWriters::Group(gid)
        } else if mode & 0o200 != 0 && uid != 0 && uid != euid {
            DirectoryWriters::Owner(uid)
        } else {
            DirectoryWriters::Trusted
        }
    }
}

/// Owner and group to give a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Owner {
    pub uid: u32,
    pub gid: u32,
}

impl Owner {
    pub fn of(stat: &Stat) -> Owner {
        Owner {
            uid: stat.st_uid,
            gid: stat.st_gid,
        }
    }
}

/// Writing in a directory is allowed; what to tell the admin about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Permit {
    /// A new file must belong to the directory's owner (see the module
    /// comment).
    pub new_file_owner: Option<Owner>,
    pub note: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    #[error("{0}: refused, because another user could swap the file mxdrift writes there")]
    UnsafeDirectory(String),
    #[error(
        "is a symbolic link: refused (mxdrift does not write through links; give the path of the file itself)"
    )]
    Symlink,
    #[error("is {}, not a regular file: refused", .0.describe())]
    NotRegular(FileKind),
    #[error("is {}, not a directory: refused", .0.describe())]
    NotADirectory(FileKind),
    #[error("was replaced by someone who can write its directory while mxdrift wrote it; check it")]
    Replaced,
    #[error("{0}")]
    Read(FsError),
    #[error("{0}")]
    Io(#[from] io::Error),
    /// The caller's last check before the rename failed.
    #[error("{0}")]
    Refused(String),
}

impl From<Errno> for WriteError {
    fn from(errno: Errno) -> Self {
        WriteError::Io(errno.into())
    }
}

/// What a write did besides writing, for the admin.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Written {
    pub note: Option<String>,
}

/// A directory held open; every write in it goes through its descriptor.
#[derive(Debug)]
pub struct Directory {
    fd: OwnedFd,
    /// For messages.
    shown: PathBuf,
}

impl Directory {
    /// Open a directory by its path (the directory of `--output FILE`: the
    /// admin's path, links in it followed).
    pub fn open_path(path: &Path) -> io::Result<Directory> {
        let fd = rustix::fs::open(
            path,
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )?;
        Ok(Directory {
            fd,
            shown: path.to_path_buf(),
        })
    }

    /// A directory already opened (for reading) by [`safe_fs`].
    pub fn from_fd(fd: OwnedFd, shown: PathBuf) -> Directory {
        Directory { fd, shown }
    }

    pub fn shown(&self) -> &Path {
        &self.shown
    }

    /// The entry `name` as it is now, links not followed.
    pub fn entry(&self, name: &OsStr) -> io::Result<Option<Stat>> {
        match rustix::fs::statat(&self.fd, name, AtFlags::SYMLINK_NOFOLLOW) {
            Ok(stat) => Ok(Some(stat)),
            Err(Errno::NOENT) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// Read the regular file `name` (never through a link), at most
    /// `limit` bytes.
    pub fn read(&self, name: &OsStr, limit: Limit) -> Result<Vec<u8>, FsError> {
        let (mut file, stat) = safe_fs::open_in(self.fd.as_fd(), name)?;
        safe_fs::read_bounded(&mut file, &stat, limit)
    }

    /// May a file be written here? `existing` is the file as it is now
    /// (`None` for a new file), `name` its name, for messages.
    pub fn permit(&self, name: &OsStr, existing: Option<&Stat>) -> Result<Permit, WriteError> {
        let dir = rustix::fs::fstat(&self.fd)?;
        let euid = rustix::process::geteuid().as_raw();
        let shown = self.shown.display();
        let name = name.to_string_lossy();
        match DirectoryWriters::of(dir.st_uid, dir.st_gid, dir.st_mode, euid) {
            DirectoryWriters::Trusted => Ok(Permit {
                new_file_owner: None,
                note: None,
            }),
            DirectoryWriters::Everyone => Err(WriteError::UnsafeDirectory(format!(
                "{shown} is writable by every user (chmod o-w it, or write elsewhere)"
            ))),
            DirectoryWriters::Group(gid) => Err(WriteError::UnsafeDirectory(format!(
                "{shown} is writable by group {gid} (chmod g-w it, or write elsewhere)"
            ))),
            DirectoryWriters::Owner(uid) => match existing {
                Some(file) if file.st_uid == uid => Ok(Permit {
                    new_file_owner: None,
                    note: Some(format!(
                        "{shown} belongs to uid {uid}, who can replace files in it; {name} is theirs too, so mxdrift wrote it keeping it theirs"
                    )),
                }),
                Some(file) => Err(WriteError::UnsafeDirectory(format!(
                    "{shown} belongs to uid {uid}, who can replace files in it, and {name} belongs to uid {}",
                    file.st_uid
                ))),
                None => Ok(Permit {
                    new_file_owner: Some(Owner {
                        uid,
                        gid: dir.st_gid,
                    }),
                    note: Some(format!(
                        "{shown} belongs to uid {uid}, who can replace files in it; the new {name} was given to them"
                    )),
                }),
            },
        }
    }

    /// Create `name`, which must not exist, with `contents`, `mode` and
    /// `owner` (backups: an earlier one is never overwritten).
    pub fn create_new(
        &self,
        name: &OsStr,
        contents: &[u8],
        mode: u32,
        owner: Option<Owner>,
    ) -> Result<(), WriteError> {
        let fd = self.create_exclusive(name)?;
        let result = (|| {
            let mut file = File::from(fd);
            file.write_all(contents)?;
            set_owner_and_mode(&file, mode, owner)?;
            file.sync_all()?;
            rustix::fs::fsync(&self.fd)?;
            Ok(())
        })();
        if result.is_err() {
            let _ = rustix::fs::unlinkat(&self.fd, name, AtFlags::empty());
        }
        result
    }

    /// Replace `name` atomically with `contents`, `mode` and `owner`.
    /// `before_rename` runs when the new file is complete, just before the
    /// rename: its error abandons the write (the temporary file is removed
    /// and `name` is left as it was).
    pub fn replace(
        &self,
        name: &OsStr,
        contents: &[u8],
        mode: u32,
        owner: Option<Owner>,
        before_rename: impl FnOnce() -> Result<(), WriteError>,
    ) -> Result<(), WriteError> {
        let (tmp, fd) = self.create_temp(name)?;
        let mut renamed = false;
        let result = (|| {
            let mut file = File::from(fd);
            file.write_all(contents)?;
            set_owner_and_mode(&file, mode, owner)?;
            file.sync_all()?;
            let ours = rustix::fs::fstat(&file)?;
            before_rename()?;
            // Last, right before the rename: the temporary name is still
            // this file. Only the directory's owner could swap it after
            // this check (see the module comment); the check after the
            // rename then reports it.
            if !self.holds(&tmp, &ours) {
                return Err(WriteError::Replaced);
            }
            rustix::fs::renameat(&self.fd, &tmp, &self.fd, name)?;
            renamed = true;
            rustix::fs::fsync(&self.fd)?;
            if !self.holds(name, &ours) {
                return Err(WriteError::Replaced);
            }
            Ok(())
        })();
        if result.is_err() && !renamed {
            let _ = rustix::fs::unlinkat(&self.fd, &tmp, AtFlags::empty());
        }
        result
    }

    /// The subdirectory `name`, made (mode 0700) when it does not exist,
    /// entered without following a link (a link there is refused).
    pub fn subdirectory(&self, name: &OsStr) -> Result<Directory, WriteError> {
        match rustix::fs::mkdirat(&self.fd, name, Mode::from_raw_mode(0o700)) {
            Ok(()) | Err(Errno::EXIST) => {}
            Err(e) => return Err(e.into()),
        }
        let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
        match rustix::fs::openat(&self.fd, name, flags, Mode::empty()) {
            Ok(fd) => Ok(Directory {
                fd,
                shown: self.shown.join(name),
            }),
            Err(Errno::LOOP | Errno::NOTDIR) => Err(WriteError::NotADirectory(
                self.entry(name)?
                    .map_or(FileKind::Unknown, |stat| FileKind::of_stat(&stat)),
            )),
            Err(e) => Err(e.into()),
        }
    }

    /// Remove `name` (a backup that turned out useless).
    pub fn remove(&self, name: &OsStr) -> io::Result<()> {
        Ok(rustix::fs::unlinkat(&self.fd, name, AtFlags::empty())?)
    }

    /// True when `name` is the file `ours` (not a link or file put there
    /// by someone else).
    fn holds(&self, name: &OsStr, ours: &Stat) -> bool {
        rustix::fs::statat(&self.fd, name, AtFlags::SYMLINK_NOFOLLOW)
            .is_ok_and(|now| now.st_dev == ours.st_dev && now.st_ino == ours.st_ino)
    }

    fn create_exclusive(&self, name: &OsStr) -> Result<OwnedFd, WriteError> {
        // Only this process's user can read it until it is complete.
        let flags =
            OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC;
        Ok(rustix::fs::openat(
            &self.fd,
            name,
            flags,
            Mode::from_raw_mode(0o600),
        )?)
    }

    fn create_temp(&self, name: &OsStr) -> Result<(OsString, OwnedFd), WriteError> {
        let mut last = None;
        for _ in 0..8 {
            let mut tmp = OsString::from(".");
            tmp.push(name);
            tmp.push(format!(
                ".mxdrift-{}-{:016x}.tmp",
                std::process::id(),
                unpredictable()
            ));
            match self.create_exclusive(&tmp) {
                Ok(fd) => return Ok((tmp, fd)),
                Err(WriteError::Io(e)) if e.kind() == io::ErrorKind::AlreadyExists => {
                    last = Some(e);
                }
                Err(e) => return Err(e),
            }
        }
        Err(WriteError::Io(last.unwrap_or_else(|| {
            io::Error::new(
                io::ErrorKind::AlreadyExists,
                "cannot create a temporary file",
            )
        })))
    }
}

/// A value others cannot predict, for temporary names: std's hasher keys
/// come from the operating system's random source.
fn unpredictable() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u32(std::process::id());
    if let Ok(now) = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH) {
        hasher.write_u128(now.as_nanos());
    }
    hasher.finish()
}

/// Owner first (`fchown` clears set-id bits), then mode, both on the open
/// file. Only root may give a file away: a run as another user writes its
/// files as itself.
fn set_owner_and_mode(file: &File, mode: u32, owner: Option<Owner>) -> Result<(), WriteError> {
    if let Some(owner) = owner {
        let now = rustix::fs::fstat(file)?;
        if now.st_uid != owner.uid || now.st_gid != owner.gid {
            match rustix::fs::fchown(
                file,
                Some(Uid::from_raw(owner.uid)),
                Some(Gid::from_raw(owner.gid)),
            ) {
                Ok(()) => {}
                Err(Errno::PERM) if !rustix::process::geteuid().is_root() => {}
                Err(e) => return Err(e.into()),
            }
        }
    }
    // Never a set-id or sticky bit on a file mxdrift writes.
    rustix::fs::fchmod(file, Mode::from_raw_mode(mode & 0o777))?;
    Ok(())
}

/// Replace the file at `path` (a path the admin gave, `--output`) with
/// `contents` and `mode`. An existing file keeps its owner and group; a
/// symbolic link or anything but a regular file at `path` is refused.
pub fn write_atomic(path: &Path, contents: &[u8], mode: u32) -> Result<Written, WriteError> {
    let name = path
        .file_name()
        .ok_or(WriteError::NotRegular(FileKind::Directory))?;
    let dir_path = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let dir = Directory::open_path(dir_path)?;
    let existing = dir.entry(name)?;
    if let Some(stat) = &existing {
        match FileKind::of_stat(stat) {
            FileKind::Regular => {}
            FileKind::Symlink => return Err(WriteError::Symlink),
            other => return Err(WriteError::NotRegular(other)),
        }
    }
    let permit = dir.permit(name, existing.as_ref())?;
    let owner = existing.as_ref().map(Owner::of).or(permit.new_file_owner);
    dir.replace(name, contents, mode, owner, || Ok(()))?;
    Ok(Written { note: permit.note })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;
    use std::os::unix::fs::{MetadataExt, PermissionsExt, symlink};

    fn is_root() -> bool {
        rustix::process::geteuid().is_root()
    }

    #[test]
    fn replaces_file_with_mode_and_leaves_no_temp() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("mxdrift.prom");
        fs::write(&path, "old").unwrap();
        write_atomic(&path, b"new", 0o644).unwrap();
        assert_eq!(fs::read_to_string(&path).unwrap(), "new");
        assert_eq!(
            fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o644
        );
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn hook_error_abandons_the_write_and_removes_the_temp() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("main.cf");
        fs::write(&path, "old").unwrap();
        let directory = Directory::open_path(dir.path()).unwrap();
        let result = directory.replace(OsStr::new("main.cf"), b"new", 0o644, None, || {
            Err(WriteError::Refused("changed underneath".into()))
        });
        assert!(result.is_err());
        assert_eq!(fs::read_to_string(&path).unwrap(), "old");
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn missing_directory_is_an_error_and_nothing_is_written() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nope/out.json");
        assert!(write_atomic(&path, b"x", 0o644).is_err());
        assert!(!path.exists());
    }

    #[test]
    fn a_link_or_a_directory_at_the_target_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let victim = dir.path().join("victim");
        fs::write(&victim, "keep").unwrap();
        let link = dir.path().join("out.prom");
        symlink(&victim, &link).unwrap();
        assert!(matches!(
            write_atomic(&link, b"x", 0o644),
            Err(WriteError::Symlink)
        ));
        assert_eq!(fs::read_to_string(&victim).unwrap(), "keep");
        assert!(
            fs::symlink_metadata(&link)
                .unwrap()
                .file_type()
                .is_symlink()
        );
        fs::create_dir(dir.path().join("tf")).unwrap();
        let error = write_atomic(&dir.path().join("tf/"), b"x", 0o644).unwrap_err();
        assert_eq!(
            error.to_string(),
            "is a directory, not a regular file: refused"
        );
    }

    #[test]
    fn who_can_write_a_directory() {
        use DirectoryWriters::*;
        assert_eq!(DirectoryWriters::of(0, 0, 0o40755, 0), Trusted);
        assert_eq!(DirectoryWriters::of(0, 0, 0o41777, 0), Everyone);
        assert_eq!(DirectoryWriters::of(0, 4, 0o40775, 0), Group(4));
        assert_eq!(DirectoryWriters::of(0, 0, 0o40775, 0), Group(0));
        assert_eq!(DirectoryWriters::of(65534, 0, 0o40755, 0), Owner(65534));
        // The user running mxdrift writing in their own directory.
        assert_eq!(DirectoryWriters::of(1000, 1000, 0o40755, 1000), Trusted);
        // An owner without write permission cannot create files there.
        assert_eq!(DirectoryWriters::of(65534, 0, 0o40555, 0), Trusted);
    }

    #[test]
    fn directories_others_can_write_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        for mode in [0o777, 0o1777, 0o775] {
            fs::set_permissions(dir.path(), fs::Permissions::from_mode(mode)).unwrap();
            let error = write_atomic(&dir.path().join("out.json"), b"x", 0o644).unwrap_err();
            assert!(
                matches!(error, WriteError::UnsafeDirectory(_)),
                "{mode:o}: {error}"
            );
            assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 0);
        }
    }

    #[test]
    fn another_users_directory_only_for_their_own_file() {
        if !is_root() {
            eprintln!(
                "SKIPPED: another_users_directory_only_for_their_own_file: needs root to create files of another user"
            );
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let theirs = dir.path().join("theirs");
        fs::create_dir(&theirs).unwrap();
        std::os::unix::fs::chown(&theirs, Some(65534), Some(65534)).unwrap();
        // Root's file in their directory: refused.
        let roots = theirs.join("root.prom");
        fs::write(&roots, "old").unwrap();
        let error = write_atomic(&roots, b"new", 0o644).unwrap_err();
        assert!(matches!(error, WriteError::UnsafeDirectory(_)), "{error}");
        assert_eq!(fs::read_to_string(&roots).unwrap(), "old");
        // Their own file: written, still theirs, and the admin is told.
        let own = theirs.join("own.prom");
        fs::write(&own, "old").unwrap();
        std::os::unix::fs::chown(&own, Some(65534), Some(65534)).unwrap();
        let written = write_atomic(&own, b"new", 0o644).unwrap();
        assert!(written.note.unwrap().contains("belongs to uid 65534"));
        let meta = fs::metadata(&own).unwrap();
        assert_eq!((meta.uid(), meta.gid()), (65534, 65534));
        assert_eq!(fs::read_to_string(&own).unwrap(), "new");
        // A new file there becomes theirs.
        let new = theirs.join("new.prom");
        let written = write_atomic(&new, b"x", 0o644).unwrap();
        assert!(written.note.unwrap().contains("given to them"));
        assert_eq!(fs::metadata(&new).unwrap().uid(), 65534);
    }

    #[test]
    fn backups_are_never_overwritten_and_keep_owner_and_mode() {
        let dir = tempfile::tempdir().unwrap();
        let directory = Directory::open_path(dir.path()).unwrap();
        let owner = if is_root() {
            Owner {
                uid: 65534,
                gid: 65534,
            }
        } else {
            Owner::of(&rustix::fs::stat(dir.path()).unwrap())
        };
        directory
            .create_new(OsStr::new("b.bak"), b"one", 0o640, Some(owner))
            .unwrap();
        let meta = fs::metadata(dir.path().join("b.bak")).unwrap();
        assert_eq!(meta.permissions().mode() & 0o7777, 0o640);
        assert_eq!((meta.uid(), meta.gid()), (owner.uid, owner.gid));
        assert!(
            directory
                .create_new(OsStr::new("b.bak"), b"two", 0o640, None)
                .is_err()
        );
        assert_eq!(fs::read(dir.path().join("b.bak")).unwrap(), b"one");
        // Never through a link either.
        symlink("/etc/passwd", dir.path().join("l.bak")).unwrap();
        assert!(
            directory
                .create_new(OsStr::new("l.bak"), b"x", 0o644, None)
                .is_err()
        );
    }
}
