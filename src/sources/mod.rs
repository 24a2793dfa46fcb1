//! Sources: read a server's configuration files (never the network) and
//! produce an [`Inventory`]. One module per platform; nothing outside this
//! module knows which panel a server runs.

pub mod cpanel;
pub mod directadmin;
pub mod list;
pub mod plesk;
pub mod postfix;
pub mod qmail;

mod reading;

use std::path::{Path, PathBuf};

use crate::inventory::{Inventory, Platform};

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
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigRoot {
    dir: PathBuf,
}

impl ConfigRoot {
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        ConfigRoot { dir: dir.into() }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// True when the root is the real file system root (`--root /`).
    pub fn is_system_root(&self) -> bool {
        self.dir == Path::new("/")
    }

    /// Map a server path (`/etc/postfix/main.cf`, or relative to the root)
    /// to the file to open.
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

    /// Read a whole file as text; errors name the file relative to the root.
    pub fn read_to_string(&self, server_path: &str) -> Result<String, SourceError> {
        let path = self.path(server_path);
        let bytes = std::fs::read(&path).map_err(|source| SourceError::Io {
            file: self.display(server_path),
            source,
        })?;
        // Configuration files are bytes; a stray Latin-1 byte must not stop
        // the audit, so decode lossily (names with U+FFFD fail validation).
        Ok(String::from_utf8_lossy(&bytes).into_owned())
    }

    /// Open a file for reading; errors name the file relative to the root.
    /// Every reader that needs a file handle (compiled tables are read page
    /// by page, never whole) opens it here, so the rules for what may be
    /// opened under the root live in one place.
    pub fn open(&self, server_path: &str) -> Result<std::fs::File, SourceError> {
        std::fs::File::open(self.path(server_path)).map_err(|source| SourceError::Io {
            file: self.display(server_path),
            source,
        })
    }

    pub fn exists(&self, server_path: &str) -> bool {
        self.path(server_path).exists()
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
            let path = root.path(server_path);
            if server_path.ends_with('/') {
                path.is_dir()
            } else {
                path.exists()
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

/// One platform's reader. Every platform module implements it; nothing
/// outside `sources` needs to know which one ran.
pub trait Source: Sync {
    /// The platform this reader produces inventories for.
    fn platform(&self) -> Platform;

    /// What `--platform auto` looks for under the root. Empty for a source
    /// that is only chosen by an option (the plain list).
    fn markers(&self) -> &'static [Marker];

    /// Read the configuration into an inventory.
    fn read(&self, opts: &SourceOptions) -> Result<Inventory, SourceError>;

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

    fn read(&self, opts: &SourceOptions) -> Result<Inventory, SourceError> {
        postfix::read(&opts.root, &postfix::PostfixOptions::from(opts))
    }
}

/// Control panels. A panel's markers win over the mail server it runs on
/// (a Plesk root also holds `etc/postfix/main.cf`, a cPanel root may hold a
/// distribution's unused one).
const PANELS: [&dyn Source; 3] = [&plesk::Plesk, &cpanel::Cpanel, &directadmin::DirectAdmin];

/// Mail servers without a panel, tried when no panel marker is present.
const MAIL_SERVERS: [&dyn Source; 2] = [&qmail::Qmail, &PostfixSource];

/// The reader for a platform.
pub fn source_for(platform: Platform) -> &'static dyn Source {
    match platform {
        Platform::Postfix => &PostfixSource,
        Platform::Plesk => &plesk::Plesk,
        Platform::Cpanel => &cpanel::Cpanel,
        Platform::Directadmin => &directadmin::DirectAdmin,
        Platform::Qmail => &qmail::Qmail,
        Platform::List => &list::DomainList,
    }
}

/// Read the inventory of the server under `opts.root`.
pub fn read_inventory(opts: &SourceOptions) -> Result<Inventory, SourceError> {
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
    source_for(platform).read(opts)
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
    if !root.dir().is_dir() {
        return Err(SourceError::Io {
            file: root.dir().display().to_string(),
            source: std::io::Error::new(std::io::ErrorKind::NotFound, "--root is not a directory"),
        });
    }
    for candidates in [&PANELS[..], &MAIL_SERVERS[..]] {
        let found: Vec<(Platform, Vec<Marker>)> = candidates
            .iter()
            .map(|source| (source.platform(), source.detect(root)))
            .filter(|(_, markers)| !markers.is_empty())
            .collect();
        match found.as_slice() {
            [] => continue,
            [(platform, _)] => return Ok(*platform),
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
