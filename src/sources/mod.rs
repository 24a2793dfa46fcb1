//! Sources: read a server's configuration files (never the network) and
//! produce an [`Inventory`]. One module per platform; nothing outside this
//! module knows which panel a server runs.

pub mod postfix;

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
    #[error("platform `{0}` is not yet supported")]
    NotYetSupported(String),
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

    pub fn exists(&self, server_path: &str) -> bool {
        self.path(server_path).exists()
    }
}

/// Read the inventory of the server under `opts.root`.
pub fn read_inventory(opts: &SourceOptions) -> Result<Inventory, SourceError> {
    let platform = match opts.platform {
        PlatformChoice::Exactly(p) => p,
        PlatformChoice::Auto => detect(opts)?,
    };
    match platform {
        Platform::Postfix => postfix::read(&opts.root, &postfix::PostfixOptions::from(opts)),
        other => Err(SourceError::NotYetSupported(other.as_str().to_string())),
    }
}

/// Decide the platform from the files under the root.
pub fn detect(opts: &SourceOptions) -> Result<Platform, SourceError> {
    if opts.domains_file.is_some() {
        return Ok(Platform::List);
    }
    let root = &opts.root;
    if root.exists("/etc/postfix/main.cf") {
        return Ok(Platform::Postfix);
    }
    Err(SourceError::NothingDetected {
        root: root.dir().display().to_string(),
        looked_for: "etc/postfix/main.cf, --domains FILE".to_string(),
    })
}
