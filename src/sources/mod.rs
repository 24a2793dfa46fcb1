//! Sources: read a server's configuration files (never the network) and
//! produce an [`Inventory`]. One module per platform; nothing outside this
//! module knows which panel a server runs.

pub(crate) mod cpanel;
pub(crate) mod directadmin;
pub mod exim;
pub(crate) mod list;
pub(crate) mod plesk;
pub mod postfix;
pub(crate) mod qmail;

mod files_read;
mod reading;

pub use files_read::{Digest, FileKey, FilesRead, ReadCheck};

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use crate::inventory::{Inventory, Platform};
use crate::safe_fs::{self, FsError};

/// Errors that stop reading a configuration. Problems Postfix itself would
/// survive (a missing list file, an invalid name) are inventory warnings
/// instead.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error("{file}: {source}")]
    Io {
        file: String,
        #[source]
        source: std::io::Error,
    },
    /// A file refused by the safe-open rules (not a regular file, a
    /// kernel file, a link loop, too large, permission denied).
    #[error("{file}: {error}")]
    File {
        file: String,
        #[source]
        error: FsError,
    },
    /// Files the MTA reads that mxdrift could not (see
    /// [`ConfigRoot::unreadable`]).
    #[error("{file}: {error}{}", also(.others))]
    Unreadable {
        file: String,
        #[source]
        error: FsError,
        others: Vec<String>,
    },
    #[error("{file}:{line}: {message}")]
    Syntax {
        file: String,
        line: u32,
        message: String,
    },
    #[error("no mail server configuration found under {root}; looked for: {looked_for}")]
    NothingDetected { root: String, looked_for: String },
    #[error(
        "{root} holds configuration of several platforms ({found}); choose one with --platform"
    )]
    Ambiguous { root: String, found: String },
    /// Options that contradict each other or lack a required companion
    /// (`--platform list` without `--domains`).
    #[error("{0}")]
    Usage(String),
}

/// Which platform to read, as chosen on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PlatformChoice {
    Auto,
    Exactly(Platform),
}

/// Everything a source needs to know besides the files themselves.
#[derive(Debug, Clone)]
pub struct SourceOptions {
    pub root: ConfigRoot,
    pub platform: PlatformChoice,
    /// `--domains FILE` (platform `list`).
    pub domains_file: Option<PathBuf>,
    /// The machine's host name, used for Postfix's `myhostname` default when
    /// neither main.cf nor `<root>/etc/mailname` says otherwise.
    pub hostname: Option<String>,
}

/// The directory configuration paths are read under (`--root`). Absolute
/// server paths such as `/etc/postfix/main.cf` are mapped below it, and every
/// path shown to the user is relative to it.
///
/// Every file under the root is opened through its methods, which resolve
/// paths like a chroot and read only regular files, boundedly (see
/// [`safe_fs`]). A file that could not be read for lack of permission, or
/// that is too large, is also remembered here, whatever the reader made of
/// the error: [`ConfigRoot::unreadable`] then fails the run. One rule for
/// every reader: such a file is never taken as empty.
///
/// Every whole file read is also recorded with a digest of its bytes
/// ([`ConfigRoot::files_read`]), so that remediation edits only files that
/// still hold what the audit read.
#[derive(Debug, Clone)]
pub struct ConfigRoot {
    dir: PathBuf,
    /// Files that stop the run (shared by clones: one run, one record).
    unreadable: Arc<Mutex<Vec<(String, FsError)>>>,
    /// Every file read, with its digest (shared by clones, like `unreadable`).
    read: FilesRead,
}

impl PartialEq for ConfigRoot {
    fn eq(&self, other: &Self) -> bool {
        self.dir == other.dir
    }
}

impl Eq for ConfigRoot {}

impl ConfigRoot {
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        ConfigRoot {
            dir: dir.into(),
            unreadable: Arc::default(),
            read: FilesRead::default(),
        }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// True when the root is the real file system root (`--root /`).
    pub fn is_system_root(&self) -> bool {
        self.dir == Path::new("/")
    }

    /// A server path joined to the root, for messages and tests. Never open
    /// it: `..` and symbolic links in it may lead outside the root. The
    /// methods below open files safely.
    pub fn path(&self, server_path: &str) -> PathBuf {
        self.dir.join(server_path.trim_start_matches('/'))
    }

    /// The path as shown in output: relative to the root, `/`-separated.
    pub fn display(&self, server_path: &str) -> String {
        let mut rel = server_path.trim_start_matches('/').to_string();
        while rel.contains("//") {
            rel = rel.replace("//", "/");
        }
        rel
    }

    fn open_root(&self) -> Result<safe_fs::Root, FsError> {
        safe_fs::Root::open(&self.dir)
    }

    /// Turn a refusal into the reader's error, remembering it when it
    /// stops the run. A missing file stays an I/O "not found", which every
    /// reader already tells apart.
    fn refused(&self, server_path: &str, error: FsError) -> SourceError {
        let file = self.display(server_path);
        if let Some(fatal) = error.stops_the_run()
            && let Ok(mut unreadable) = self.unreadable.lock()
            && !unreadable.iter().any(|(f, _)| *f == file)
        {
            unreadable.push((file.clone(), fatal));
        }
        match error {
            FsError::NotFound | FsError::Io(_) => SourceError::Io {
                file,
                source: error.into(),
            },
            error => SourceError::File { file, error },
        }
    }

    /// Read a whole file (at most `limit` bytes) and where it really is,
    /// relative to the root (links resolved).
    pub fn read_resolved(
        &self,
        server_path: &str,
        limit: safe_fs::Limit,
    ) -> Result<(String, Vec<u8>), SourceError> {
        let (bytes, rel) = self
            .open_root()
            .and_then(|root| root.read(server_path, limit))
            .map_err(|e| self.refused(server_path, e))?;
        self.note_read(FileKey::UnderRoot(self.display(server_path)), &bytes);
        Ok((rel, bytes))
    }

    fn note_read(&self, key: FileKey, bytes: &[u8]) {
        self.read.note(&key, Digest::of(bytes));
    }

    /// Record a file given on the command line (`--domains`) that a
    /// source read itself, under the name it was given.
    pub fn note_given_file(&self, shown: &str, bytes: &[u8]) {
        self.note_read(FileKey::Given(shown.to_string()), bytes);
    }

    /// The record of the files read through this root (and its clones),
    /// each with the digest of its bytes; shared, so it goes on recording.
    pub fn files_read(&self) -> FilesRead {
        self.read.clone()
    }

    /// Read a whole file, at most `limit` bytes.
    pub fn read_bytes(
        &self,
        server_path: &str,
        limit: safe_fs::Limit,
    ) -> Result<Vec<u8>, SourceError> {
        self.read_resolved(server_path, limit)
            .map(|(_, bytes)| bytes)
    }

    /// Read a whole file as text, at most `limit` bytes.
    pub fn read_text(
        &self,
        server_path: &str,
        limit: safe_fs::Limit,
    ) -> Result<String, SourceError> {
        let bytes = self.read_bytes(server_path, limit)?;
        // Configuration files are bytes; a stray Latin-1 byte must not stop
        // the audit, so decode lossily (names with U+FFFD fail validation).
        Ok(match String::from_utf8(bytes) {
            Ok(text) => text,
            Err(error) => String::from_utf8_lossy(error.as_bytes()).into_owned(),
        })
    }

    /// Read a whole file as text (tables, lists and panel files: at most
    /// [`safe_fs::TABLE_LIMIT`]); errors name the file relative to the root.
    pub fn read_to_string(&self, server_path: &str) -> Result<String, SourceError> {
        self.read_text(server_path, safe_fs::TABLE_LIMIT)
    }

    /// Open a regular file for reading; errors name the file relative to
    /// the root. Every reader that needs a file handle (compiled tables are
    /// read page by page, never whole) opens it here, so the rules for what
    /// may be opened under the root live in one place.
    pub fn open(&self, server_path: &str) -> Result<std::fs::File, SourceError> {
        self.open_root()
            .and_then(|root| root.open_file(server_path))
            .map(|opened| opened.file)
            .map_err(|e| self.refused(server_path, e))
    }

    /// True when something is at the path (links inside the root
    /// followed). A path mxdrift may not look into counts as present: the
    /// read that follows then says why it failed, instead of a guess.
    pub fn exists(&self, server_path: &str) -> bool {
        match self.open_root().and_then(|root| root.stat(server_path)) {
            Ok(_) | Err(FsError::PermissionDenied) => true,
            Err(_) => false,
        }
    }

    /// True when the path is a directory (links inside the root followed);
    /// like [`ConfigRoot::exists`], one mxdrift may not look into counts.
    pub fn is_dir(&self, server_path: &str) -> bool {
        match self.open_root().and_then(|root| root.stat(server_path)) {
            Ok(stat) => rustix::fs::FileType::from_raw_mode(stat.st_mode).is_dir(),
            Err(FsError::PermissionDenied) => true,
            Err(_) => false,
        }
    }

    /// When the file was last modified (links inside the root followed;
    /// no read permission needed); `None` when it cannot be found.
    pub fn modified(&self, server_path: &str) -> Option<SystemTime> {
        let stat = self
            .open_root()
            .and_then(|root| root.stat(server_path))
            .ok()?;
        safe_fs::modified(&stat)
    }

    /// The entries of a directory (links inside the root resolved to what
    /// they lead to); `None` when the directory does not exist.
    pub fn entries(
        &self,
        server_path: &str,
    ) -> Result<Option<Vec<safe_fs::DirEntry>>, SourceError> {
        match self.open_root().and_then(|root| root.list_dir(server_path)) {
            Ok(entries) => Ok(Some(entries)),
            Err(FsError::NotFound) => Ok(None),
            Err(error) => Err(self.refused(server_path, error)),
        }
    }

    /// Fail when a file could not be read for lack of permission, or was
    /// too large, anywhere in this run's reading (see the type's comment).
    pub fn unreadable(&self) -> Result<(), SourceError> {
        let Ok(unreadable) = self.unreadable.lock() else {
            return Ok(());
        };
        let Some((file, error)) = unreadable.first() else {
            return Ok(());
        };
        let error = error.stops_the_run().unwrap_or(FsError::PermissionDenied);
        Err(SourceError::Unreadable {
            file: file.clone(),
            error,
            others: unreadable[1..].iter().map(|(f, _)| f.clone()).collect(),
        })
    }
}

fn also(others: &[String]) -> String {
    if others.is_empty() {
        String::new()
    } else {
        format!(" (also: {})", others.join(", "))
    }
}

/// Evidence that a root holds a platform's configuration: every path must
/// exist under the root; a path ending in `/` must be a directory. Most
/// markers are one path; cPanel's file pair needs both files, because
/// either alone also appears on other servers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Marker(pub &'static [&'static str]);

impl Marker {
    /// True when every path of the marker exists under the root.
    pub fn present(&self, root: &ConfigRoot) -> bool {
        self.0.iter().all(|server_path| {
            if server_path.ends_with('/') {
                root.is_dir(server_path)
            } else {
                root.exists(server_path)
            }
        })
    }

    /// The marker as shown in messages: `etc/localdomains + etc/userdomains`.
    pub fn describe(&self) -> String {
        self.0
            .iter()
            .map(|p| p.trim_start_matches('/'))
            .collect::<Vec<_>>()
            .join(" + ")
    }
}

/// What reading a configuration yields: the inventory, and what
/// remediation needs to know about the files read. The audit keeps both,
/// so that `fix` never reads the configuration a second time.
#[derive(Debug)]
pub struct Read {
    pub inventory: Inventory,
    /// How plain Postfix reads each of its files; `None` on the other
    /// platforms, whose file formats are fixed (qmail's control files, a
    /// domain list) or whose changes are panel commands.
    pub postfix_files: Option<postfix::PostfixFiles>,
}

/// One platform's reader. Every platform module implements it; nothing
/// outside `sources` needs to know which one ran.
pub trait Source: Sync {
    /// The platform this reader produces inventories for.
    fn platform(&self) -> Platform;

    /// What `--platform auto` looks for under the root. Empty for a source
    /// that is only chosen by an option (the plain list).
    fn markers(&self) -> &'static [Marker];

    /// The MTA's own programs: when a root holds the configuration of
    /// several mail servers, the one whose programs are installed is the
    /// one that runs. (Debian keeps `/etc/exim4` after Postfix replaces
    /// Exim, its default MTA: the leftover configuration is not a second
    /// server.) Empty for a panel or a list.
    fn programs(&self) -> &'static [Marker] {
        &[]
    }

    /// Read the configuration into an inventory.
    fn read(&self, opts: &SourceOptions) -> Result<Inventory, SourceError>;

    /// Read the configuration: the inventory and what remediation needs
    /// to know about the files (see [`Read`]).
    fn read_all(&self, opts: &SourceOptions) -> Result<Read, SourceError> {
        Ok(Read {
            inventory: self.read(opts)?,
            postfix_files: None,
        })
    }

    /// The markers of this platform present under the root.
    fn detect(&self, root: &ConfigRoot) -> Vec<Marker> {
        self.markers()
            .iter()
            .filter(|marker| marker.present(root))
            .copied()
            .collect()
    }
}

/// Plain Postfix: the reader lives in [`postfix`]; this adapter only puts it
/// behind the [`Source`] trait.
#[derive(Debug, Clone, Copy, Default)]
pub struct PostfixSource;

impl Source for PostfixSource {
    fn platform(&self) -> Platform {
        Platform::Postfix
    }

    fn markers(&self) -> &'static [Marker] {
        &[Marker(&["etc/postfix/main.cf"])]
    }

    fn programs(&self) -> &'static [Marker] {
        &[Marker(&["usr/sbin/postfix"])]
    }

    fn read(&self, opts: &SourceOptions) -> Result<Inventory, SourceError> {
        postfix::read(&opts.root, &postfix::PostfixOptions::from(opts))
    }

    fn read_all(&self, opts: &SourceOptions) -> Result<Read, SourceError> {
        let config = postfix::read_config(&opts.root, &postfix::PostfixOptions::from(opts))?;
        let postfix_files = Some(config.files());
        Ok(Read {
            inventory: config.inventory,
            postfix_files,
        })
    }
}

/// Control panels. A panel's markers win over the mail server it runs on
/// (a Plesk root also holds `etc/postfix/main.cf`, a cPanel root may hold a
/// distribution's unused one).
const PANELS: [&dyn Source; 4] = [
    &plesk::Plesk,
    &cpanel::Cpanel,
    &directadmin::DirectAdmin,
    &exim::Hestiacp,
];

/// Mail servers without a panel, tried when no panel marker is present.
const MAIL_SERVERS: [&dyn Source; 3] = [&qmail::Qmail, &PostfixSource, &exim::Exim];

/// The reader for a platform.
pub fn source_for(platform: Platform) -> &'static dyn Source {
    match platform {
        Platform::Postfix => &PostfixSource,
        Platform::Plesk => &plesk::Plesk,
        Platform::Cpanel => &cpanel::Cpanel,
        Platform::Directadmin => &directadmin::DirectAdmin,
        Platform::Qmail => &qmail::Qmail,
        Platform::List => &list::DomainList,
        Platform::Exim => &exim::Exim,
        Platform::Hestiacp => &exim::Hestiacp,
    }
}

/// Read the inventory of the server under `opts.root`.
pub fn read_inventory(opts: &SourceOptions) -> Result<Inventory, SourceError> {
    read(opts).map(|read| read.inventory)
}

/// Read the configuration of the server under `opts.root` (see [`Read`]).
pub fn read(opts: &SourceOptions) -> Result<Read, SourceError> {
    let platform = match opts.platform {
        PlatformChoice::Exactly(p) => p,
        PlatformChoice::Auto => detect(opts)?,
    };
    if opts.domains_file.is_some() && platform != Platform::List {
        // Silently ignoring the list would audit something else than the
        // user asked for.
        return Err(SourceError::Usage(format!(
            "--domains is a plain domain list (platform `list`) and cannot be combined with --platform {}",
            platform.as_str()
        )));
    }
    let read = source_for(platform).read_all(opts)?;
    opts.root.unreadable()?;
    Ok(read)
}

/// Decide the platform from the files under the root.
///
/// `--domains FILE` means platform `list`. Otherwise exactly one panel's
/// markers decide; without any panel, exactly one mail server's. Several
/// panels, or several mail servers without a panel, are ambiguous; nothing
/// at all is an error that lists what was looked for.
pub fn detect(opts: &SourceOptions) -> Result<Platform, SourceError> {
    if opts.domains_file.is_some() {
        return Ok(Platform::List);
    }
    let root = &opts.root;
    if let Err(error) = safe_fs::Root::open(root.dir()) {
        return Err(SourceError::Io {
            file: root.dir().display().to_string(),
            source: std::io::Error::new(
                std::io::ErrorKind::NotFound,
                format!("--root is not a directory ({error})"),
            ),
        });
    }
    for candidates in [&PANELS[..], &MAIL_SERVERS[..]] {
        let found: Vec<(Platform, Vec<Marker>)> = candidates
            .iter()
            .map(|source| (source.platform(), source.detect(root)))
            .filter(|(_, markers)| !markers.is_empty())
            .collect();
        // Configuration of several mail servers: the one whose programs
        // are installed runs (a leftover of a replaced MTA stays behind).
        let installed: Vec<Platform> = candidates
            .iter()
            .filter(|source| found.iter().any(|(p, _)| *p == source.platform()))
            .filter(|source| source.programs().iter().any(|m| m.present(root)))
            .map(|source| source.platform())
            .collect();
        match found.as_slice() {
            [] => continue,
            [(platform, _)] => return Ok(*platform),
            _ if installed.len() == 1 => return Ok(installed[0]),
            several => {
                return Err(SourceError::Ambiguous {
                    root: root.dir().display().to_string(),
                    found: several
                        .iter()
                        .map(|(platform, markers)| {
                            format!("{}: {}", platform.as_str(), describe_markers(markers))
                        })
                        .collect::<Vec<_>>()
                        .join("; "),
                });
            }
        }
    }
    let mut looked_for: Vec<String> = PANELS
        .iter()
        .chain(MAIL_SERVERS.iter())
        .map(|source| {
            format!(
                "{}: {}",
                source.platform().as_str(),
                describe_markers(source.markers())
            )
        })
        .collect();
    looked_for.push("list: --domains FILE".to_string());
    Err(SourceError::NothingDetected {
        root: root.dir().display().to_string(),
        looked_for: looked_for.join("; "),
    })
}

fn describe_markers(markers: &[Marker]) -> String {
    markers
        .iter()
        .map(Marker::describe)
        .collect::<Vec<_>>()
        .join(" or ")
}
