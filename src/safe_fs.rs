//! Opening files the way a tool that runs as root must, among files that
//! customers and other users control. Every file mxdrift reads (main.cf,
//! tables, list files, panel files, zone files, `mxdrift.yaml`, the
//! `--domains` list) is opened here; writing is `atomic`'s (which builds on this module).
//!
//! What a newcomer gets wrong:
//! - Resolving a path and then opening it by name is a race: a user who
//!   controls a directory on the way swaps a component for a symbolic link
//!   in between. So the kernel never follows a link below the root for us.
//!   Each component is opened relative to its parent's descriptor with
//!   `O_NOFOLLOW`; a link is read with `readlinkat` and resolved here, like
//!   a chroot: `..` at the root stays at the root, an absolute target starts
//!   again at the root, a relative one at the link's directory, and at most
//!   [`MAX_SYMLINK_HOPS`] links are followed. Nothing outside the root is
//!   opened, whatever the files say. With `--root /` this is exactly what
//!   the kernel does for Postfix.
//! - `open()` of a FIFO waits for a writer, and a device can be endless. A
//!   file is checked with `fstatat` before it is opened, opened
//!   `O_NONBLOCK`, and checked again with `fstat` on the descriptor: only a
//!   regular file outside the kernel's pseudo file systems (`/proc`, `/sys`)
//!   is read, and every read is bounded by a [`Limit`], whatever `st_size`
//!   says.

use std::ffi::OsString;
use std::fmt;
use std::fs::File;
use std::io::{self, Read};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStringExt;
use std::path::Path;

use rustix::fs::{AtFlags, FileType, Mode, OFlags, Stat};
use rustix::io::Errno;

/// Symbolic links followed while resolving one path, as Linux's own limit
/// (`MAXSYMLINKS`): more is a loop or an attack.
pub const MAX_SYMLINK_HOPS: u32 = 40;

/// An upper bound on the bytes read from one file, far above what real
/// servers hold: a file above it is refused, never read in part.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit {
    pub bytes: u64,
    /// What the limit is for, as shown in the error.
    pub what: &'static str,
}

impl fmt::Display for Limit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (value, unit) = if self.bytes.is_multiple_of(1 << 30) {
            (self.bytes >> 30, "GiB")
        } else if self.bytes.is_multiple_of(1 << 20) {
            (self.bytes >> 20, "MiB")
        } else {
            (self.bytes, "bytes")
        };
        write!(f, "{value} {unit}, the limit for {}", self.what)
    }
}

/// Postfix lookup tables and `/file` lists, panel domain lists, the
/// `--domains` list: the largest real ones hold a few million lines.
pub const TABLE_LIMIT: Limit = Limit {
    bytes: 1 << 30,
    what: "a lookup table, list or panel file",
};
/// main.cf and master.cf.
pub const MAIN_CF_LIMIT: Limit = Limit {
    bytes: 16 << 20,
    what: "main.cf and master.cf",
};
/// `mxdrift.yaml`.
pub const SETTINGS_LIMIT: Limit = Limit {
    bytes: 1 << 20,
    what: "mxdrift.yaml",
};
/// `--zone-file` master files.
pub const ZONE_LIMIT: Limit = Limit {
    bytes: 1 << 30,
    what: "a zone file",
};
/// One-line system files: `/etc/mailname`, `/etc/resolv.conf`.
pub const SMALL_FILE_LIMIT: Limit = Limit {
    bytes: 1 << 20,
    what: "mailname and resolv.conf",
};

/// What a directory entry is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileKind {
    Regular,
    Directory,
    Symlink,
    Fifo,
    Socket,
    CharDevice,
    BlockDevice,
    Unknown,
}

impl FileKind {
    pub fn of_stat(stat: &Stat) -> FileKind {
        FileKind::of_mode(stat.st_mode)
    }

    fn of_mode(mode: rustix::fs::RawMode) -> FileKind {
        FileKind::of(FileType::from_raw_mode(mode))
    }

    fn of(kind: FileType) -> FileKind {
        match kind {
            FileType::RegularFile => FileKind::Regular,
            FileType::Directory => FileKind::Directory,
            FileType::Symlink => FileKind::Symlink,
            FileType::Fifo => FileKind::Fifo,
            FileType::Socket => FileKind::Socket,
            FileType::CharacterDevice => FileKind::CharDevice,
            FileType::BlockDevice => FileKind::BlockDevice,
            _ => FileKind::Unknown,
        }
    }

    pub fn describe(self) -> &'static str {
        match self {
            FileKind::Regular => "a regular file",
            FileKind::Directory => "a directory",
            FileKind::Symlink => "a symbolic link",
            FileKind::Fifo => "a named pipe (FIFO)",
            FileKind::Socket => "a socket",
            FileKind::CharDevice => "a character device",
            FileKind::BlockDevice => "a block device",
            FileKind::Unknown => "a file of unknown type",
        }
    }
}

/// Why a file was not read. The messages complete "FILE: ...".
#[derive(Debug, thiserror::Error)]
pub enum FsError {
    #[error("not found")]
    NotFound,
    #[error("permission denied: run as root or grant read access")]
    PermissionDenied,
    #[error("{}, not a regular file: refused", .0.describe())]
    NotRegular(FileKind),
    /// A directory was expected (a listing), or a path component on the
    /// way is a file.
    #[error("not a directory")]
    NotADirectory,
    #[error("on the kernel's {0} file system, not a configuration file: refused")]
    KernelFileSystem(&'static str),
    #[error("under /{0}, the kernel's own files, not a configuration file: refused")]
    KernelPath(&'static str),
    #[error("more than {MAX_SYMLINK_HOPS} symbolic links on the way (a loop?): refused")]
    TooManyLinks,
    #[error("larger than {0}: refused")]
    TooLarge(Limit),
    #[error("{0}")]
    Io(io::Error),
}

impl FsError {
    fn from_errno(errno: Errno) -> FsError {
        match errno {
            Errno::NOENT => FsError::NotFound,
            Errno::ACCESS | Errno::PERM => FsError::PermissionDenied,
            Errno::NOTDIR => FsError::NotADirectory,
            other => FsError::Io(other.into()),
        }
    }

    pub fn is_not_found(&self) -> bool {
        matches!(self, FsError::NotFound)
    }

    /// Errors that make the run fail wherever they happen: a file the MTA
    /// can read and mxdrift cannot (taken as empty, it would make every
    /// domain in it look unknown), or one too large to read whole. Every
    /// other refusal (missing, a FIFO, a loop) is what Postfix meets too: a
    /// lookup failure, reported as a warning where the file is used.
    pub fn stops_the_run(&self) -> Option<FsError> {
        match self {
            FsError::PermissionDenied => Some(FsError::PermissionDenied),
            FsError::TooLarge(limit) => Some(FsError::TooLarge(*limit)),
            _ => None,
        }
    }
}

impl From<FsError> for io::Error {
    fn from(error: FsError) -> io::Error {
        match error {
            FsError::NotFound => Errno::NOENT.into(),
            FsError::Io(e) => e,
            FsError::PermissionDenied => io::Error::new(io::ErrorKind::PermissionDenied, error),
            other => io::Error::new(io::ErrorKind::InvalidInput, other),
        }
    }
}

/// Directories on the way are opened only to be searched: `O_PATH` needs
/// no read permission (a `0711` home directory), like a path lookup.
#[cfg(any(target_os = "linux", target_os = "android"))]
const DIR_SEARCH: OFlags = OFlags::PATH;
#[cfg(not(any(target_os = "linux", target_os = "android")))]
const DIR_SEARCH: OFlags = OFlags::RDONLY;

/// A root directory held open. Paths below it are resolved by its methods,
/// never by the kernel.
#[derive(Debug)]
pub struct Root {
    fd: OwnedFd,
    /// The root is the machine's own `/`: `/proc`, `/sys` and `/dev` under
    /// it are the kernel's.
    system: bool,
}

/// A regular file opened for reading.
#[derive(Debug)]
pub struct Opened {
    pub file: File,
    /// Where the file really is, relative to the root: symbolic links
    /// resolved, no `..`.
    pub rel: String,
    pub stat: Stat,
}

/// An entry of a directory listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirEntry {
    pub name: OsString,
    /// What it is; for a symbolic link, what the link resolves to inside
    /// the root (`Symlink` when it resolves to nothing: dangling, a loop).
    pub kind: FileKind,
}

impl DirEntry {
    pub fn is_dir(&self) -> bool {
        self.kind == FileKind::Directory
    }

    pub fn is_file(&self) -> bool {
        self.kind == FileKind::Regular
    }
}

/// Where a file under the root would be written: the directory it really
/// is in, held open, and its name there.
#[derive(Debug)]
pub struct WritePlace {
    /// Opened for reading, so it can be `fsync`ed after a rename.
    pub dir: OwnedFd,
    pub name: OsString,
    /// The file, relative to the root (links resolved).
    pub rel: String,
    /// The directory, relative to the root (empty for the root itself).
    pub dir_rel: String,
    /// The file as it is now (never a symbolic link); `None` when absent.
    pub existing: Option<Stat>,
}

impl Root {
    /// Open `dir`. Links in `dir` itself are followed: the root is the
    /// admin's choice, what lies below it is not.
    pub fn open(dir: &Path) -> Result<Root, FsError> {
        let fd = rustix::fs::open(
            dir,
            DIR_SEARCH | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(FsError::from_errno)?;
        let system = match (rustix::fs::fstat(&fd), rustix::fs::stat("/")) {
            (Ok(here), Ok(slash)) => here.st_dev == slash.st_dev && here.st_ino == slash.st_ino,
            _ => true,
        };
        Ok(Root { fd, system })
    }

    /// Open a regular file for reading.
    pub fn open_file(&self, path: &str) -> Result<Opened, FsError> {
        Walk::new(self, path.as_bytes()).run(|walk, name| {
            let rel = walk.rel(name);
            if self.system
                && let Some(top) = kernel_path(&rel)
            {
                return Err(FsError::KernelPath(top));
            }
            let before = rustix::fs::statat(walk.dir(), name, AtFlags::SYMLINK_NOFOLLOW)
                .map_err(FsError::from_errno)?;
            match FileKind::of_mode(before.st_mode) {
                FileKind::Symlink => return Ok(Last::Link),
                FileKind::Regular => {}
                // Refused before it is opened: opening a device can have
                // effects of its own.
                other => return Err(FsError::NotRegular(other)),
            }
            let flags = OFlags::RDONLY
                | OFlags::NOFOLLOW
                | OFlags::NONBLOCK
                | OFlags::NOCTTY
                | OFlags::CLOEXEC;
            let fd = match rustix::fs::openat(walk.dir(), name, flags, Mode::empty()) {
                Ok(fd) => fd,
                // Replaced by a link since the fstatat: resolve that.
                Err(Errno::LOOP) => return Ok(Last::Link),
                Err(e) => return Err(FsError::from_errno(e)),
            };
            let stat = regular_file(&fd)?;
            Ok(Last::Done(Opened {
                file: File::from(fd),
                rel,
                stat,
            }))
        })
    }

    /// Read a whole regular file, at most `limit` bytes.
    pub fn read(&self, path: &str, limit: Limit) -> Result<(Vec<u8>, String), FsError> {
        let mut opened = self.open_file(path)?;
        let bytes = read_bounded(&mut opened.file, &opened.stat, limit)?;
        Ok((bytes, opened.rel))
    }

    /// What `path` is, links inside the root followed.
    pub fn stat(&self, path: &str) -> Result<Stat, FsError> {
        Walk::new(self, path.as_bytes()).run(|walk, name| {
            let stat = rustix::fs::statat(walk.dir(), name, AtFlags::SYMLINK_NOFOLLOW)
                .map_err(FsError::from_errno)?;
            Ok(match FileKind::of_mode(stat.st_mode) {
                FileKind::Symlink => Last::Link,
                _ => Last::Done(stat),
            })
        })
    }

    fn stat_bytes(&self, path: &[u8]) -> Result<Stat, FsError> {
        Walk::new(self, path).run(|walk, name| {
            let stat = rustix::fs::statat(walk.dir(), name, AtFlags::SYMLINK_NOFOLLOW)
                .map_err(FsError::from_errno)?;
            Ok(match FileKind::of_mode(stat.st_mode) {
                FileKind::Symlink => Last::Link,
                _ => Last::Done(stat),
            })
        })
    }

    /// The entries of a directory (without `.` and `..`). An entry that is
    /// a symbolic link is what it resolves to inside the root.
    pub fn list_dir(&self, path: &str) -> Result<Vec<DirEntry>, FsError> {
        let (fd, rel) = Walk::new(self, path.as_bytes()).run(|walk, name| {
            let stat = rustix::fs::statat(walk.dir(), name, AtFlags::SYMLINK_NOFOLLOW)
                .map_err(FsError::from_errno)?;
            match FileKind::of_mode(stat.st_mode) {
                FileKind::Symlink => return Ok(Last::Link),
                FileKind::Directory => {}
                _ => return Err(FsError::NotADirectory),
            }
            let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
            match rustix::fs::openat(walk.dir(), name, flags, Mode::empty()) {
                Ok(fd) => Ok(Last::Done((fd, walk.rel_bytes(name)))),
                Err(Errno::LOOP | Errno::NOTDIR) => Ok(Last::Link),
                Err(e) => Err(FsError::from_errno(e)),
            }
        })?;
        let listing = rustix::fs::Dir::read_from(&fd).map_err(FsError::from_errno)?;
        let mut entries = Vec::new();
        for entry in listing {
            let entry = entry.map_err(FsError::from_errno)?;
            let name = entry.file_name().to_bytes();
            if name == b"." || name == b".." {
                continue;
            }
            let mut kind = FileKind::of(entry.file_type());
            if kind == FileKind::Unknown {
                kind = rustix::fs::statat(&fd, name, AtFlags::SYMLINK_NOFOLLOW)
                    .map_or(FileKind::Unknown, |s| FileKind::of_mode(s.st_mode));
            }
            if kind == FileKind::Symlink {
                let mut full = rel.clone();
                full.push(b'/');
                full.extend_from_slice(name);
                if let Ok(target) = self.stat_bytes(&full) {
                    kind = FileKind::of_mode(target.st_mode);
                }
            }
            entries.push(DirEntry {
                name: OsString::from_vec(name.to_vec()),
                kind,
            });
        }
        Ok(entries)
    }

    /// Where the file at `path` would be written: a final symbolic link is
    /// followed inside the root, so the file is edited at its target and
    /// the link stays.
    pub fn place_for_write(&self, path: &str) -> Result<WritePlace, FsError> {
        Walk::new(self, path.as_bytes()).run(|walk, name| {
            if name == b"." {
                return Err(FsError::NotRegular(FileKind::Directory));
            }
            let existing = match rustix::fs::statat(walk.dir(), name, AtFlags::SYMLINK_NOFOLLOW) {
                Ok(stat) if FileKind::of_mode(stat.st_mode) == FileKind::Symlink => {
                    return Ok(Last::Link);
                }
                Ok(stat) => Some(stat),
                Err(Errno::NOENT) => None,
                Err(e) => return Err(FsError::from_errno(e)),
            };
            let dir = rustix::fs::openat(
                walk.dir(),
                ".",
                OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
                Mode::empty(),
            )
            .map_err(FsError::from_errno)?;
            Ok(Last::Done(WritePlace {
                dir,
                name: OsString::from_vec(name.to_vec()),
                rel: walk.rel(name),
                dir_rel: walk.rel(b"."),
                existing,
            }))
        })
    }
}

/// What the last component of a path turned out to be.
enum Last<T> {
    Done(T),
    /// A symbolic link: resolve its target and go on.
    Link,
}

/// One path being resolved below a [`Root`].
struct Walk<'r> {
    root: &'r Root,
    /// The directories entered below the root, with their names.
    dirs: Vec<(OwnedFd, Vec<u8>)>,
    /// Components still to resolve, the next one last.
    todo: Vec<Vec<u8>>,
    hops: u32,
}

impl<'r> Walk<'r> {
    fn new(root: &'r Root, path: &[u8]) -> Self {
        let mut walk = Walk {
            root,
            dirs: Vec::new(),
            todo: Vec::new(),
            hops: 0,
        };
        walk.push_path(path);
        walk
    }

    fn push_path(&mut self, path: &[u8]) {
        self.todo.extend(
            path.split(|b| *b == b'/')
                .filter(|c| !c.is_empty())
                .rev()
                .map(<[u8]>::to_vec),
        );
    }

    /// The directory the next component is looked up in.
    fn dir(&self) -> BorrowedFd<'_> {
        self.dirs
            .last()
            .map_or(self.root.fd.as_fd(), |(fd, _)| fd.as_fd())
    }

    /// `name` in the current directory, relative to the root.
    fn rel_bytes(&self, name: &[u8]) -> Vec<u8> {
        let mut rel = Vec::new();
        for (_, dir) in &self.dirs {
            rel.extend_from_slice(dir);
            rel.push(b'/');
        }
        if name == b"." {
            rel.pop();
        } else {
            rel.extend_from_slice(name);
        }
        rel
    }

    fn rel(&self, name: &[u8]) -> String {
        String::from_utf8_lossy(&self.rel_bytes(name)).into_owned()
    }

    /// If `name` is a symbolic link, continue with its target. False when
    /// it is not a link.
    fn follow(&mut self, name: &[u8]) -> Result<bool, FsError> {
        let target = match rustix::fs::readlinkat(self.dir(), name, Vec::new()) {
            Ok(target) => target.into_bytes(),
            Err(Errno::INVAL) => return Ok(false),
            Err(e) => return Err(FsError::from_errno(e)),
        };
        self.hops += 1;
        if self.hops > MAX_SYMLINK_HOPS {
            return Err(FsError::TooManyLinks);
        }
        if target.first() == Some(&b'/') {
            self.dirs.clear();
        }
        self.push_path(&target);
        Ok(true)
    }

    /// Resolve every component; `last` handles the final one (`.` when the
    /// path names a directory, such as `/` or `a/..`).
    fn run<T>(
        mut self,
        mut last: impl FnMut(&Self, &[u8]) -> Result<Last<T>, FsError>,
    ) -> Result<T, FsError> {
        loop {
            let Some(component) = self.todo.pop() else {
                return match last(&self, b".")? {
                    Last::Done(found) => Ok(found),
                    Last::Link => Err(FsError::Io(Errno::LOOP.into())),
                };
            };
            match component.as_slice() {
                b"." => continue,
                // Like a chroot: `..` of the root is the root.
                b".." => {
                    self.dirs.pop();
                    continue;
                }
                _ => {}
            }
            if self.todo.is_empty() {
                match last(&self, &component)? {
                    Last::Done(found) => return Ok(found),
                    Last::Link => {
                        if !self.follow(&component)? {
                            return Err(FsError::Io(Errno::LOOP.into()));
                        }
                        continue;
                    }
                }
            }
            let flags = DIR_SEARCH | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
            match rustix::fs::openat(self.dir(), component.as_slice(), flags, Mode::empty()) {
                Ok(fd) => self.dirs.push((fd, component)),
                Err(Errno::LOOP | Errno::NOTDIR) => {
                    if !self.follow(&component)? {
                        return Err(FsError::NotADirectory);
                    }
                }
                Err(e) => return Err(FsError::from_errno(e)),
            }
        }
    }
}

/// `proc`, `sys` or `dev` when `rel` (relative to the machine's `/`) is
/// under them.
fn kernel_path(rel: &str) -> Option<&'static str> {
    let top = rel.split('/').next()?;
    ["proc", "sys", "dev"].into_iter().find(|k| *k == top)
}

/// The kernel's pseudo file systems, by `statfs` magic number: their files
/// look regular, but they are process state or devices, not configuration.
#[cfg(any(target_os = "linux", target_os = "android"))]
const KERNEL_FILE_SYSTEMS: &[(u32, &str)] = &[
    (0x0000_9fa0, "proc"),
    (0x6265_6572, "sysfs"),
    (0x6462_6720, "debugfs"),
    (0x7472_6163, "tracefs"),
    (0x7363_6673, "securityfs"),
    (0x0027_e0eb, "cgroup"),
    (0x6367_7270, "cgroup2"),
    (0xcafe_4a11, "bpf"),
    (0x0000_1cd1, "devpts"),
    (0x6265_6570, "configfs"),
    (0xde5e_81e4, "efivarfs"),
    (0x6165_676c, "pstore"),
    (0xf97c_ff8c, "selinuxfs"),
    (0x4249_4e4d, "binfmt_misc"),
    (0x6573_5543, "fusectl"),
    (0x1980_0202, "mqueue"),
];

/// Check an open descriptor: a regular file outside the kernel's pseudo
/// file systems; then make reads blocking again (`O_NONBLOCK` was only for
/// the open).
fn regular_file(fd: &OwnedFd) -> Result<Stat, FsError> {
    let stat = rustix::fs::fstat(fd).map_err(FsError::from_errno)?;
    let kind = FileKind::of_mode(stat.st_mode);
    if kind != FileKind::Regular {
        return Err(FsError::NotRegular(kind));
    }
    #[cfg(any(target_os = "linux", target_os = "android"))]
    {
        let fs = rustix::fs::fstatfs(fd).map_err(FsError::from_errno)?;
        // The magic numbers are 32 bits; `f_type` is a C long.
        #[allow(clippy::unnecessary_cast, clippy::cast_possible_truncation)]
        let magic = fs.f_type as u32;
        if let Some((_, name)) = KERNEL_FILE_SYSTEMS.iter().find(|(m, _)| *m == magic) {
            return Err(FsError::KernelFileSystem(name));
        }
    }
    let flags = rustix::fs::fcntl_getfl(fd).map_err(FsError::from_errno)?;
    rustix::fs::fcntl_setfl(fd, flags - OFlags::NONBLOCK).map_err(FsError::from_errno)?;
    Ok(stat)
}

/// Read a whole file, at most `limit` bytes. `st_size` only sizes the
/// buffer and refuses early; a file that grows, or lies about its size, is
/// still cut off at the limit.
pub fn read_bounded(file: &mut File, stat: &Stat, limit: Limit) -> Result<Vec<u8>, FsError> {
    let size = u64::try_from(stat.st_size).unwrap_or(0);
    if size > limit.bytes {
        return Err(FsError::TooLarge(limit));
    }
    let mut bytes = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
    file.take(limit.bytes.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(FsError::Io)?;
    if u64::try_from(bytes.len()).unwrap_or(u64::MAX) > limit.bytes {
        return Err(FsError::TooLarge(limit));
    }
    Ok(bytes)
}

/// When a file was last modified, from its `stat`.
pub fn modified(stat: &Stat) -> Option<std::time::SystemTime> {
    let secs = u64::try_from(stat.st_mtime).ok()?;
    let nanos = u32::try_from(stat.st_mtime_nsec).ok()?;
    std::time::UNIX_EPOCH.checked_add(std::time::Duration::new(secs, nanos))
}

/// Open the regular file `name` in a directory held open, never following
/// a link (a link there is refused): what a writer reads back before it
/// replaces a file.
pub fn open_in(dir: BorrowedFd<'_>, name: &std::ffi::OsStr) -> Result<(File, Stat), FsError> {
    let before =
        rustix::fs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW).map_err(FsError::from_errno)?;
    match FileKind::of_mode(before.st_mode) {
        FileKind::Regular => {}
        other => return Err(FsError::NotRegular(other)),
    }
    let flags =
        OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::NOCTTY | OFlags::CLOEXEC;
    let fd = match rustix::fs::openat(dir, name, flags, Mode::empty()) {
        Ok(fd) => fd,
        Err(Errno::LOOP) => return Err(FsError::NotRegular(FileKind::Symlink)),
        Err(e) => return Err(FsError::from_errno(e)),
    };
    let stat = regular_file(&fd)?;
    Ok((File::from(fd), stat))
}

/// Open a file the admin named on the command line (`--config`,
/// `--domains`, `--zone-file`), or a fixed system file. Links in the path
/// are followed (it is the admin's path), but the file must be a regular
/// file outside the kernel's pseudo file systems, and the open never blocks.
pub fn open_path(path: &Path) -> Result<(File, Stat), FsError> {
    let before = rustix::fs::stat(path).map_err(FsError::from_errno)?;
    match FileKind::of_mode(before.st_mode) {
        FileKind::Regular => {}
        other => return Err(FsError::NotRegular(other)),
    }
    let flags = OFlags::RDONLY | OFlags::NONBLOCK | OFlags::NOCTTY | OFlags::CLOEXEC;
    let fd = rustix::fs::open(path, flags, Mode::empty()).map_err(FsError::from_errno)?;
    let stat = regular_file(&fd)?;
    Ok((File::from(fd), stat))
}

/// [`open_path`], then read the whole file, at most `limit` bytes.
pub fn read_path(path: &Path, limit: Limit) -> Result<Vec<u8>, FsError> {
    let (mut file, stat) = open_path(path)?;
    read_bounded(&mut file, &stat, limit)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::tree;
    use std::os::unix::fs::symlink;

    fn read(root: &Root, path: &str) -> Result<String, FsError> {
        root.read(path, TABLE_LIMIT)
            .map(|(b, _)| String::from_utf8(b).unwrap())
    }

    #[test]
    fn dot_dot_stops_at_the_root() {
        // The root sits in a directory that holds a secret beside it.
        let outer = tree(&[
            ("secret", "outside"),
            ("root/tmp/x", "inside"),
            ("root/etc/postfix/main.cf", ""),
        ]);
        let root = Root::open(&outer.path().join("root")).unwrap();
        let (text, rel) = root
            .read("/etc/postfix/../../../../tmp/x", TABLE_LIMIT)
            .unwrap();
        assert_eq!((text.as_slice(), rel.as_str()), (&b"inside"[..], "tmp/x"));
        assert!(read(&root, "../secret").unwrap_err().is_not_found());
        assert!(read(&root, "/../../secret").unwrap_err().is_not_found());
        // As for the kernel, a missing directory before `..` is not found.
        assert!(read(&root, "/nope/../tmp/x").unwrap_err().is_not_found());
    }

    #[test]
    fn absolute_links_start_again_at_the_root_and_relative_ones_at_their_directory() {
        let outer = tree(&[
            ("secret", "outside"),
            ("root/srv/real/main.cf", "real"),
            ("root/secret", "decoy inside"),
        ]);
        let base = outer.path().join("root");
        std::fs::create_dir_all(base.join("etc/postfix")).unwrap();
        symlink("/srv/real/main.cf", base.join("etc/postfix/main.cf")).unwrap();
        symlink("../../secret", base.join("etc/postfix/up")).unwrap();
        symlink(outer.path().join("secret"), base.join("etc/abs")).unwrap();
        symlink("/srv/real", base.join("etc/confdir")).unwrap();
        let root = Root::open(&base).unwrap();
        let (text, rel) = root.read("/etc/postfix/main.cf", TABLE_LIMIT).unwrap();
        assert_eq!(
            (text.as_slice(), rel.as_str()),
            (&b"real"[..], "srv/real/main.cf")
        );
        assert_eq!(read(&root, "/etc/postfix/up").unwrap(), "decoy inside");
        // An absolute link to the real file outside is read inside the root.
        assert!(read(&root, "/etc/abs").unwrap_err().is_not_found());
        // A link as a directory on the way.
        assert_eq!(read(&root, "etc/confdir/main.cf").unwrap(), "real");
        assert_eq!(read(&root, "etc/confdir/../real/main.cf").unwrap(), "real");
    }

    #[test]
    fn link_loops_are_refused() {
        let dir = tree(&[]);
        symlink("b", dir.path().join("a")).unwrap();
        symlink("a", dir.path().join("b")).unwrap();
        let root = Root::open(dir.path()).unwrap();
        assert!(matches!(read(&root, "a"), Err(FsError::TooManyLinks)));
        assert!(matches!(root.stat("a/x"), Err(FsError::TooManyLinks)));
    }

    #[test]
    fn only_regular_files_are_read() {
        let dir = tree(&[("etc/postfix/main.cf", "x")]);
        let fifo = dir.path().join("etc/postfix/pipe");
        rustix::fs::mknodat(
            rustix::fs::CWD,
            &fifo,
            FileType::Fifo,
            Mode::from_raw_mode(0o644),
            0,
        )
        .unwrap();
        let root = Root::open(dir.path()).unwrap();
        assert!(matches!(
            read(&root, "etc/postfix/pipe"),
            Err(FsError::NotRegular(FileKind::Fifo))
        ));
        assert!(matches!(
            read(&root, "etc/postfix"),
            Err(FsError::NotRegular(FileKind::Directory))
        ));
        assert!(matches!(
            read(&root, "/"),
            Err(FsError::NotRegular(FileKind::Directory))
        ));
        assert!(matches!(
            read(&root, "etc/postfix/main.cf/x"),
            Err(FsError::NotADirectory)
        ));
        // A path given on the command line: the same rule.
        assert!(matches!(
            read_path(&fifo, SETTINGS_LIMIT),
            Err(FsError::NotRegular(FileKind::Fifo))
        ));
        assert!(matches!(
            read_path(Path::new("/dev/zero"), SETTINGS_LIMIT),
            Err(FsError::NotRegular(FileKind::CharDevice))
        ));
    }

    #[test]
    fn the_kernels_files_are_refused_on_the_system_root() {
        let root = Root::open(Path::new("/")).unwrap();
        assert!(matches!(
            read(&root, "/proc/self/environ"),
            Err(FsError::KernelPath("proc"))
        ));
        assert!(matches!(
            read(&root, "/etc/../proc/self/status"),
            Err(FsError::KernelPath("proc"))
        ));
        // By file system too, whatever the path (here: outside any root).
        assert!(matches!(
            read_path(Path::new("/proc/self/environ"), TABLE_LIMIT),
            Err(FsError::KernelFileSystem("proc"))
        ));
    }

    #[test]
    fn reads_stop_at_the_limit() {
        let dir = tree(&[("big", "0123456789"), ("fits", "0123")]);
        let root = Root::open(dir.path()).unwrap();
        let limit = Limit {
            bytes: 4,
            what: "tests",
        };
        assert!(matches!(
            root.read("big", limit),
            Err(FsError::TooLarge(l)) if l == limit
        ));
        assert_eq!(root.read("fits", limit).unwrap().0, b"0123");
        // st_size is not trusted: a lying size is cut off by the reader.
        let mut file = File::open(dir.path().join("big")).unwrap();
        let mut stat = rustix::fs::fstat(&file).unwrap();
        stat.st_size = 2;
        assert!(matches!(
            read_bounded(&mut file, &stat, limit),
            Err(FsError::TooLarge(_))
        ));
        assert_eq!(
            TABLE_LIMIT.to_string(),
            "1 GiB, the limit for a lookup table, list or panel file"
        );
        assert_eq!(
            MAIN_CF_LIMIT.to_string(),
            "16 MiB, the limit for main.cf and master.cf"
        );
    }

    #[test]
    fn listing_follows_links_to_directories_inside_the_root() {
        let dir = tree(&[("www/system/a.test/x", ""), ("www/system/file", "")]);
        let base = dir.path();
        std::fs::create_dir_all(base.join("elsewhere/b.test")).unwrap();
        symlink("/elsewhere/b.test", base.join("www/system/b.test")).unwrap();
        symlink("/nowhere", base.join("www/system/dangling")).unwrap();
        let root = Root::open(base).unwrap();
        let mut entries = root.list_dir("/www/system").unwrap();
        entries.sort_by(|a, b| a.name.cmp(&b.name));
        let seen: Vec<(String, bool)> = entries
            .iter()
            .map(|e| (e.name.to_string_lossy().into_owned(), e.is_dir()))
            .collect();
        assert_eq!(
            seen,
            [
                ("a.test".to_string(), true),
                ("b.test".to_string(), true),
                ("dangling".to_string(), false),
                ("file".to_string(), false)
            ]
        );
        assert!(matches!(
            root.list_dir("/www/system/file"),
            Err(FsError::NotADirectory)
        ));
    }

    #[test]
    fn write_place_is_the_link_target_inside_the_root() {
        let dir = tree(&[("srv/main.cf", "x")]);
        let base = dir.path();
        std::fs::create_dir_all(base.join("etc/postfix")).unwrap();
        symlink("../../srv/main.cf", base.join("etc/postfix/main.cf")).unwrap();
        let root = Root::open(base).unwrap();
        let place = root.place_for_write("/etc/postfix/main.cf").unwrap();
        assert_eq!(place.rel, "srv/main.cf");
        assert_eq!(place.dir_rel, "srv");
        assert_eq!(place.name, OsString::from("main.cf"));
        assert!(place.existing.is_some());
        let absent = root.place_for_write("/etc/postfix/new").unwrap();
        assert!(absent.existing.is_none());
        assert_eq!(absent.rel, "etc/postfix/new");
    }
}
