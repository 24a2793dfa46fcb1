//! What a run read: a keyed digest of every file's bytes, by the name it
//! was read under, so that a later stage (remediation) can tell that a file
//! still holds exactly what the audit judged, without keeping every table
//! in memory.
//!
//! Two facts a newcomer would get wrong:
//! - The digest is SipHash under random keys drawn once per process (std's
//!   `RandomState`). Nobody outside the process knows the keys, so nobody can
//!   write other bytes with the same digest on purpose; the digests are never
//!   shown or stored, and digests of two processes never compare.
//! - A file the audit itself read twice (a table used as a list and as a
//!   map) with different bytes in between is marked changed: the audit's
//!   picture of it is already inconsistent, and nothing may be edited on it.

use std::collections::BTreeMap;
use std::collections::btree_map::Entry;
use std::fmt;
use std::hash::{BuildHasher, Hasher, RandomState};
use std::sync::OnceLock;

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

/// A keyed digest of a file's bytes (see the module comment).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Digest {
    len: u64,
    hash: u64,
}

impl Digest {
    pub fn of(bytes: &[u8]) -> Digest {
        static KEYS: OnceLock<RandomState> = OnceLock::new();
        let mut hasher = KEYS.get_or_init(RandomState::new).build_hasher();
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
    /// A later read in the same record saw other bytes.
    changed: bool,
}

/// How bytes compare with what a record says was read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadCheck {
    /// The bytes are the ones read (and every read saw the same).
    Same,
    /// The file was read, but with other bytes (or changed between reads).
    Changed,
    /// The record has no read of that file.
    NotRead,
}

/// The files one run read, each with the digest of its bytes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FilesRead {
    files: BTreeMap<FileKey, Seen>,
}

impl FilesRead {
    /// Record a read. The first read of a file stays the reference; a
    /// later read with other bytes marks the file changed.
    pub fn note(&mut self, key: FileKey, digest: Digest) {
        match self.files.entry(key) {
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
        match self.files.get(key) {
            None => ReadCheck::NotRead,
            Some(seen) if !seen.changed && seen.digest == Digest::of(bytes) => ReadCheck::Same,
            Some(_) => ReadCheck::Changed,
        }
    }

    /// Files this record and a `later` one both read that hold other bytes
    /// in `later` (or changed between reads within either record).
    pub fn changed_in(&self, later: &FilesRead) -> Vec<FileKey> {
        later
            .files
            .iter()
            .filter(|(key, now)| {
                self.files
                    .get(*key)
                    .is_some_and(|first| first.changed || now.changed || first.digest != now.digest)
            })
            .map(|(key, _)| key.clone())
            .collect()
    }

    pub fn contains(&self, key: &FileKey) -> bool {
        self.files.contains_key(key)
    }

    pub fn len(&self) -> usize {
        self.files.len()
    }

    pub fn is_empty(&self) -> bool {
        self.files.is_empty()
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
        let mut read = FilesRead::default();
        read.note(key("etc/postfix/main.cf"), Digest::of(b"a = b\n"));
        assert_eq!(
            read.check(&key("etc/postfix/main.cf"), b"a = b\n"),
            ReadCheck::Same
        );
        assert_eq!(
            read.check(&key("etc/postfix/main.cf"), b"a = c\n"),
            ReadCheck::Changed
        );
        assert_eq!(
            read.check(&key("etc/postfix/other"), b""),
            ReadCheck::NotRead
        );
        let snapshot = read.clone();
        read.note(key("etc/postfix/main.cf"), Digest::of(b"a = c\n"));
        // Even the first bytes no longer count as the file's.
        assert_eq!(
            read.check(&key("etc/postfix/main.cf"), b"a = b\n"),
            ReadCheck::Changed
        );
        assert_eq!(snapshot.changed_in(&read), vec![key("etc/postfix/main.cf")]);
    }

    #[test]
    fn later_reads_are_compared_file_by_file() {
        let mut audit = FilesRead::default();
        audit.note(key("a"), Digest::of(b"1"));
        audit.note(key("b"), Digest::of(b"2"));
        let mut later = FilesRead::default();
        later.note(key("a"), Digest::of(b"1"));
        later.note(key("b"), Digest::of(b"2 and more"));
        later.note(key("c"), Digest::of(b"new"));
        assert_eq!(audit.changed_in(&later), vec![key("b")]);
        // Same length, other bytes.
        assert_ne!(Digest::of(b"ab"), Digest::of(b"ba"));
    }
}
