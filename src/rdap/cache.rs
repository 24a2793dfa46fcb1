//! The on-disk cache of RDAP answers (`--rdap-cache DIR`): one file per
//! registrable domain, kept [`MAX_AGE`]. An expiry date changes rarely, and
//! registries limit how often a client may ask.
//!
//! What a newcomer gets wrong:
//! - mxdrift runs as root, so the cache is written the way every file is
//!   (`crate::atomic`): through the directory's descriptor, to a temporary
//!   file renamed over the entry, never through a link, and not at all in
//!   a directory that another user could write (it is refused and the run
//!   goes on uncached, with a note).
//! - Only conclusive answers are kept (found, or not registered): a
//!   failure is asked again next time.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use crate::atomic::{Directory, WriteError};
use crate::safe_fs::Limit;

/// How long an entry is used.
pub const MAX_AGE: Duration = Duration::from_secs(24 * 3600);

/// The largest entry read back (an entry is a few hundred bytes).
const ENTRY_LIMIT: Limit = Limit {
    bytes: 64 * 1024,
    what: "an RDAP cache entry",
};

/// What is kept of one answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// Unix seconds of the answer.
    pub fetched: u64,
    /// The URL asked.
    pub source: String,
    /// `false`: the registry answered 404 (not registered there).
    pub found: bool,
    /// The expiration date as the registry wrote it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expiration: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub status: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub registrar: Option<String>,
}

#[derive(Debug)]
pub struct Cache {
    dir: Directory,
}

#[derive(Debug, thiserror::Error)]
pub enum CacheError {
    #[error("RDAP cache {dir}: {source}")]
    Open {
        dir: String,
        #[source]
        source: std::io::Error,
    },
    #[error("RDAP cache {dir}: {source}")]
    Write {
        dir: String,
        #[source]
        source: WriteError,
    },
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

impl Cache {
    /// Open `dir`, creating it (mode 0700, and its missing parents) when it
    /// does not exist.
    pub fn open(dir: &Path) -> Result<Cache, CacheError> {
        let shown = dir.display().to_string();
        let open = |source| CacheError::Open {
            dir: shown.clone(),
            source,
        };
        if !dir.exists() {
            use std::os::unix::fs::DirBuilderExt;
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(dir)
                .map_err(open)?;
        }
        let dir = Directory::open_path(dir).map_err(open)?;
        // Another user who can write the directory could plant entries
        // (a far expiry date that hides a lapse) or swap them: such a
        // directory is neither read nor written.
        match dir.permit(std::ffi::OsStr::new("rdap-probe.json"), None) {
            Ok(permit) if permit.new_file_owner.is_none() && permit.note.is_none() => {}
            Ok(_) => {
                return Err(CacheError::Write {
                    dir: shown.clone(),
                    source: WriteError::UnsafeDirectory(format!(
                        "{shown} belongs to another user, who could plant or replace entries"
                    )),
                });
            }
            Err(source) => return Err(CacheError::Write { dir: shown, source }),
        }
        Ok(Cache { dir })
    }

    fn file_name(domain: &str) -> OsString {
        // A checked A-label name: letters, digits, `-` and `.` only.
        OsString::from(format!("rdap-{domain}.json"))
    }

    pub fn path(&self) -> PathBuf {
        self.dir.shown().to_path_buf()
    }

    /// The fresh entry of `domain`, if any. An unreadable or broken entry
    /// is no entry.
    pub fn get(&self, domain: &str) -> Option<Entry> {
        let bytes = self.dir.read(&Self::file_name(domain), ENTRY_LIMIT).ok()?;
        let entry: Entry = serde_json::from_slice(&bytes).ok()?;
        let now = now_secs();
        (entry.fetched <= now && now - entry.fetched < MAX_AGE.as_secs()).then_some(entry)
    }

    /// Keep `entry` for `domain`.
    pub fn put(&self, domain: &str, entry: &Entry) -> Result<(), CacheError> {
        let write = |source| CacheError::Write {
            dir: self.dir.shown().display().to_string(),
            source,
        };
        let name = Self::file_name(domain);
        let bytes =
            serde_json::to_vec(entry).map_err(|e| write(WriteError::Refused(e.to_string())))?;
        let existing = self.dir.entry(&name).map_err(|e| write(e.into()))?;
        let permit = self.dir.permit(&name, existing.as_ref()).map_err(write)?;
        self.dir
            .replace(&name, &bytes, 0o600, permit.new_file_owner, || Ok(()))
            .map_err(write)
    }

    /// An entry fetched now.
    pub fn stamp() -> u64 {
        now_secs()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(fetched: u64) -> Entry {
        Entry {
            fetched,
            source: "https://rdap.example/domain/a.com".into(),
            found: true,
            expiration: Some("2027-01-01T00:00:00Z".into()),
            status: vec!["active".into()],
            registrar: Some("R".into()),
        }
    }

    #[test]
    fn an_entry_is_kept_for_a_day() {
        let tmp = tempfile::tempdir().unwrap();
        let cache = Cache::open(&tmp.path().join("a/b")).unwrap();
        assert_eq!(cache.get("a.com"), None);
        let fresh = entry(Cache::stamp());
        cache.put("a.com", &fresh).unwrap();
        assert_eq!(cache.get("a.com"), Some(fresh));
        cache
            .put("old.com", &entry(Cache::stamp() - MAX_AGE.as_secs() - 1))
            .unwrap();
        assert_eq!(cache.get("old.com"), None, "older than a day");
        cache
            .put("future.com", &entry(Cache::stamp() + 3600))
            .unwrap();
        assert_eq!(cache.get("future.com"), None, "from the future");
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(tmp.path().join("a/b/rdap-a.com.json"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    #[test]
    fn a_directory_others_can_write_is_neither_read_nor_written() {
        use std::os::unix::fs::PermissionsExt;
        let tmp = tempfile::tempdir().unwrap();
        let cache = Cache::open(tmp.path()).unwrap();
        cache.put("a.com", &entry(Cache::stamp())).unwrap();
        std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
        let e = Cache::open(tmp.path()).unwrap_err().to_string();
        assert!(e.contains("writable by every user"), "{e}");
        std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o770)).unwrap();
        assert!(Cache::open(tmp.path()).is_err(), "group-writable");
    }

    #[test]
    fn a_link_planted_as_an_entry_is_not_followed() {
        let tmp = tempfile::tempdir().unwrap();
        let target = tmp.path().join("target");
        std::fs::write(&target, "keep").unwrap();
        let dir = tmp.path().join("cache");
        std::fs::create_dir(&dir).unwrap();
        std::os::unix::fs::symlink(&target, dir.join("rdap-a.com.json")).unwrap();
        let cache = Cache::open(&dir).unwrap();
        assert_eq!(cache.get("a.com"), None);
        let _ = cache.put("a.com", &entry(Cache::stamp()));
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "keep");
    }
}
