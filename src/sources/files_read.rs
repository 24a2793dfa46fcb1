//! What a run read: a keyed digest of every file's bytes, by the name it
//! was read under, so that a later stage (remediation) can tell that a file
//! still holds exactly what the audit judged, without keeping every table
//! in memory.
//!
//! Facts a newcomer would get wrong:
//! - The digest is SipHash under random keys drawn once per process (std's
//!   `RandomState`). Nobody outside the process knows the keys, so nobody can
//!   write other bytes with the same digest on purpose; the digests are never
//!   shown or stored, and digests of two processes never compare.
//! - The first read of a file is the reference. A later read with other
//!   bytes (the audit reading a table twice, or remediation reading it
//!   again) marks the file changed for good: the audit's picture of it no
//!   longer holds, and nothing may be edited on it.
//! - The record is shared by clones (the `ConfigRoot` that reads and the
//!   `Audit` that keeps it), like `ConfigRoot`'s record of unreadable files,
//!   and holds no file names, only keyed hashes of them: a Plesk server
//!   with 100,000 domains reads some 400,000 web configurations.

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::fmt;
use std::hash::{BuildHasher, Hasher, RandomState};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};

/// Where a file was read from.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum FileKey {
    /// A file under `--root`, by the path it was asked for, relative to the
    /// root as output shows it (the declarations' `file`).
    UnderRoot(String),
    /// A file given on the command line (`--domains`), as given.
    Given(String),
}

impl fmt::Display for FileKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FileKey::UnderRoot(path) | FileKey::Given(path) => f.write_str(path),
        }
    }
}

/// The process's two random hash keys.
fn keys() -> &'static (RandomState, RandomState) {
    static KEYS: OnceLock<(RandomState, RandomState)> = OnceLock::new();
    KEYS.get_or_init(|| (RandomState::new(), RandomState::new()))
}

/// A file's name, hashed (128 bits: two names never share one).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct NameHash(u64, u64);

impl NameHash {
    fn of(key: &FileKey) -> Self {
        let (tag, path) = match key {
            FileKey::UnderRoot(path) => (0u8, path),
            FileKey::Given(path) => (1u8, path),
        };
        let (first, second) = keys();
        let hash = |state: &RandomState| {
            let mut hasher = state.build_hasher();
            hasher.write_u8(tag);
            hasher.write(path.as_bytes());
            hasher.finish()
        };
        NameHash(hash(first), hash(second))
    }
}

/// A keyed digest of a file's bytes (see the module comment).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Digest {
    len: u64,
    hash: u64,
}

impl Digest {
    pub fn of(bytes: &[u8]) -> Digest {
        let mut hasher = keys().0.build_hasher();
        hasher.write(bytes);
        Digest {
            len: u64::try_from(bytes.len()).unwrap_or(u64::MAX),
            hash: hasher.finish(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Seen {
    /// The bytes of the first read.
    digest: Digest,
    /// A later read saw other bytes.
    changed: bool,
}

/// How bytes compare with what the record says was read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadCheck {
    /// The bytes are the ones read (and every read saw the same).
    Same,
    /// The file was read, but with other bytes (or changed between reads).
    Changed,
    /// The record has no read of that file.
    NotRead,
}

/// The files one run read, each with the digest of its bytes. Clones share
/// one record.
#[derive(Debug, Clone, Default)]
pub struct FilesRead {
    files: Arc<Mutex<HashMap<NameHash, Seen>>>,
}

impl FilesRead {
    fn files(&self) -> MutexGuard<'_, HashMap<NameHash, Seen>> {
        // The map stays consistent even if a holder panicked.
        self.files
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Record a read. The first read of a file stays the reference; a
    /// later read with other bytes marks the file changed.
    pub fn note(&self, key: &FileKey, digest: Digest) {
        match self.files().entry(NameHash::of(key)) {
            Entry::Vacant(slot) => {
                slot.insert(Seen {
                    digest,
                    changed: false,
                });
            }
            Entry::Occupied(mut slot) => {
                if slot.get().digest != digest {
                    slot.get_mut().changed = true;
                }
            }
        }
    }

    /// Do `bytes` match what was read at `key`?
    pub fn check(&self, key: &FileKey, bytes: &[u8]) -> ReadCheck {
        let seen = self.files().get(&NameHash::of(key)).copied();
        match seen {
            None => ReadCheck::NotRead,
            Some(seen) if !seen.changed && seen.digest == Digest::of(bytes) => ReadCheck::Same,
            Some(_) => ReadCheck::Changed,
        }
    }

    /// What the record alone says about `key`: `Changed` when two reads
    /// differed, `Same` when it was read (and nothing differed so far).
    pub fn state(&self, key: &FileKey) -> ReadCheck {
        match self.files().get(&NameHash::of(key)) {
            None => ReadCheck::NotRead,
            Some(seen) if seen.changed => ReadCheck::Changed,
            Some(_) => ReadCheck::Same,
        }
    }

    /// Files read so far.
    pub fn len(&self) -> usize {
        self.files().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(path: &str) -> FileKey {
        FileKey::UnderRoot(path.to_string())
    }

    #[test]
    fn the_first_read_is_the_reference_and_a_second_differing_read_marks_a_change() {
        let read = FilesRead::default();
        read.note(&key("etc/postfix/main.cf"), Digest::of(b"a = b\n"));
        assert_eq!(
            read.check(&key("etc/postfix/main.cf"), b"a = b\n"),
            ReadCheck::Same
        );
        assert_eq!(read.state(&key("etc/postfix/main.cf")), ReadCheck::Same);
        assert_eq!(
            read.check(&key("etc/postfix/main.cf"), b"a = c\n"),
            ReadCheck::Changed
        );
        assert_eq!(
            read.check(&key("etc/postfix/other"), b""),
            ReadCheck::NotRead
        );
        // Clones share the record.
        let audit = read.clone();
        read.note(&key("etc/postfix/main.cf"), Digest::of(b"a = c\n"));
        // Even the first bytes no longer count as the file's.
        assert_eq!(
            audit.check(&key("etc/postfix/main.cf"), b"a = b\n"),
            ReadCheck::Changed
        );
        assert_eq!(audit.state(&key("etc/postfix/main.cf")), ReadCheck::Changed);
        assert_eq!(audit.len(), 1);
    }

    #[test]
    fn names_and_bytes_are_told_apart() {
        let read = FilesRead::default();
        read.note(&key("a"), Digest::of(b"1"));
        read.note(&FileKey::Given("b".into()), Digest::of(b"2"));
        assert_eq!(
            read.check(&FileKey::Given("a".into()), b"1"),
            ReadCheck::NotRead
        );
        assert_eq!(read.check(&key("b"), b"2"), ReadCheck::NotRead);
        assert_eq!(
            read.check(&FileKey::Given("b".into()), b"2"),
            ReadCheck::Same
        );
        // Same length, other bytes.
        assert_ne!(Digest::of(b"ab"), Digest::of(b"ba"));
    }
}
