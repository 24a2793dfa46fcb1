//! Postfix lookup tables, read from the file Postfix itself opens.
//!
//! - `hash:`/`btree:` open `FILE.db`, `lmdb:` `FILE.lmdb`, `cdb:` `FILE.cdb`
//!   (read by [`compiled`]); never the text source `FILE`. When only the
//!   source exists (a configuration repository), it is read instead. When
//!   both exist, the compiled keys decide and a difference in keys is a
//!   [`TableMismatch`] (rule `table-not-compiled`).
//! - `texthash:` files and `inline:{}` tables are text.
//! - `dbm:`/`sdbm:` files (`FILE.dir`, `FILE.pag`) are not read: their
//!   format depends on the library that wrote them, and Debian's Postfix
//!   does not even support them. Tables that live elsewhere (regexp, pcre,
//!   cidr, SQL, LDAP, ...) cannot be enumerated either, and say so.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::ops::ControlFlow;
#[cfg(test)]
use std::path::Path;

use super::compiled::{self, CompiledFormat, CompiledTableError, FileSource};
use super::lexer::{Lexer, is_postfix_space};
use super::{At, Location};
use crate::inventory::{ByteSpan, MISMATCH_KEYS_SHOWN, TableMismatch, WarningKind};
use crate::safe_fs;
use crate::sources::{ConfigRoot, SourceError};

/// Table types `postmap` compiles into files mxdrift does not read, with
/// the suffixes of those files.
const UNREAD_INDEXED_TYPES: &[(&str, &[&str])] =
    &[("dbm", &[".dir", ".pag"]), ("sdbm", &[".dir", ".pag"])];

/// Table types that match by pattern or live in a server: their keys
/// cannot be listed from files.
const PATTERN_OR_SERVER_TYPES: &[&str] = &[
    "regexp",
    "pcre",
    "cidr",
    "mysql",
    "pgsql",
    "ldap",
    "sqlite",
    "socketmap",
    "tcp",
    "memcache",
    "mongodb",
    "nis",
    "nisplus",
    "netinfo",
    "environ",
    "internal",
    "unix",
    "randmap",
    "pipemap",
    "unionmap",
];

/// Which keys of a table mxdrift keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeptKeys {
    /// Every key with its value: tables whose values matter
    /// (`transport_maps`).
    All,
    /// Only keys that can be domain names. A table used in a match list
    /// (`virtual_mailbox_domains = hash:vmailbox`) is only ever asked for
    /// domain names, which never contain `@`, so its address keys
    /// (`user@example.com`, `@example.com`) can never match and are not
    /// kept: Plesk's vmailbox has a line per mailbox, a million lines on a
    /// large server, of which not one is a domain.
    Domains,
}

/// A `type:name` table reference, with `proxy:` wrappers removed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableSpec {
    /// As written (`proxy:hash:/etc/postfix/virtual`).
    pub raw: String,
    /// The table type after unwrapping `proxy:` (`hash`).
    pub table_type: String,
    /// Everything after the type (`/etc/postfix/virtual`, `{a=b}`).
    pub name: String,
}

impl TableSpec {
    /// Parse `type:name`; `None` when there is no `:`.
    pub fn parse(raw: &str) -> Option<TableSpec> {
        let mut rest = raw;
        loop {
            let (table_type, name) = rest.split_once(':')?;
            if table_type == "proxy" {
                rest = name;
                continue;
            }
            return Some(TableSpec {
                raw: raw.to_string(),
                table_type: table_type.to_ascii_lowercase(),
                name: name.to_string(),
            });
        }
    }
}

/// One key of a table and where it is written: a view into the [`Table`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TableEntry<'t> {
    /// The key as Postfix looks it up (case-folded).
    pub key: &'t str,
    pub value: &'t str,
    /// The file the entry is written in, relative to the root: its text
    /// source, or the compiled file when the source lacks it.
    pub file: &'t str,
    /// Its physical line (the first of a logical line); 0 in a compiled
    /// file, which has no lines.
    pub line: u32,
    /// What stands there: the key's bytes in the text source, or a key of
    /// the compiled file.
    pub at: At,
}

impl TableEntry<'_> {
    pub fn location(&self) -> Location {
        Location {
            file: self.file.to_string(),
            line: self.line,
            at: self.at,
        }
    }
}

/// A piece of [`Table::text`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Span {
    start: u32,
    len: u32,
}

/// One entry, stored as spans of the table's text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Slot {
    key: Span,
    value: Span,
    line: u32,
    /// Where the key is written in the text source (not a span of the
    /// table's text): none for a compiled key or an `inline:` table.
    written: Option<Span>,
}

impl Span {
    /// `len` bytes at `start` of a file, when they fit a span.
    fn of_file(start: usize, len: usize) -> Option<Span> {
        let start = u32::try_from(start).ok()?;
        let len = u32::try_from(len).ok()?;
        start.checked_add(len)?;
        Some(Span { start, len })
    }

    fn bytes(self) -> ByteSpan {
        ByteSpan::at(self.start as usize, self.len as usize)
    }
}

/// A table whose keys are known.
///
/// Plesk writes a `vmailbox` line per mailbox: a server with 100,000
/// domains has tables of a million lines. Keys and values therefore live in
/// one string per table, entries are spans of it, and the index maps a
/// key's hash to its entry instead of holding a second copy of every key:
/// three allocations per table instead of five per line. A table read for a
/// match list holds only its domain keys (see [`KeptKeys`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Table {
    pub spec: TableSpec,
    /// The text source, relative to the root (main.cf for `inline:`); the
    /// compiled file when it is read without a source.
    pub file: String,
    /// The compiled file the keys were read from, relative to the root.
    pub compiled: Option<String>,
    /// Every key and value, one after the other.
    text: String,
    slots: Vec<Slot>,
    /// Key hash to entry. Two different keys with the same 64-bit hash are
    /// possible in principle: the later one goes to `collisions`.
    index: HashMap<u64, u32, BuildHasherDefault<IdentityHasher>>,
    collisions: HashMap<String, u32>,
}

impl Table {
    fn new(spec: TableSpec, file: String) -> Self {
        Table {
            spec,
            file,
            compiled: None,
            text: String::new(),
            slots: Vec::new(),
            index: HashMap::default(),
            collisions: HashMap::new(),
        }
    }

    fn span_text(&self, span: Span) -> &str {
        let start = span.start as usize;
        self.text
            .get(start..start + span.len as usize)
            .unwrap_or_default()
    }

    fn entry(&self, slot: &Slot) -> TableEntry<'_> {
        let (file, at) = match (&self.compiled, slot.line) {
            (Some(compiled), 0) => (compiled, At::CompiledKey),
            // No line and no compiled file: an `inline:` table of a
            // built-in default.
            (None, 0) => (&self.file, At::BuiltinDefault),
            _ => (&self.file, At::Text(slot.written.map(Span::bytes))),
        };
        TableEntry {
            key: self.span_text(slot.key),
            value: self.span_text(slot.value),
            file,
            line: slot.line,
            at,
        }
    }

    /// True when the keys come from a compiled file without a text source:
    /// there is no text to edit.
    pub fn is_compiled_only(&self) -> bool {
        self.compiled.as_ref() == Some(&self.file)
    }

    /// Append to the text; `None` once the table's text would pass 4 GiB
    /// (spans are 32-bit to keep a million entries small).
    fn push_text(&mut self, piece: &str) -> Option<Span> {
        let start = u32::try_from(self.text.len()).ok()?;
        let len = u32::try_from(piece.len()).ok()?;
        start.checked_add(len)?;
        self.text.push_str(piece);
        Some(Span { start, len })
    }

    /// The entry index of a (case-folded) key.
    fn find(&self, key: &str) -> Option<u32> {
        let &i = self.index.get(&key_hash(key))?;
        let slot = self.slots.get(i as usize)?;
        if self.span_text(slot.key) == key {
            Some(i)
        } else {
            self.collisions.get(key).copied()
        }
    }

    /// Add an entry (`key` already case-folded) written on `line`, the
    /// key's bytes at `written`. `first_wins`: postmap keeps the first of
    /// duplicate keys; `inline:` keeps the last. False when the table is
    /// too large to hold it.
    fn insert(
        &mut self,
        key: &str,
        value: &str,
        line: u32,
        written: Option<Span>,
        first_wins: bool,
    ) -> bool {
        if let Some(i) = self.find(key) {
            if !first_wins {
                let Some(value) = self.push_text(value) else {
                    return false;
                };
                if let Some(slot) = self.slots.get_mut(i as usize) {
                    slot.value = value;
                    slot.line = line;
                    slot.written = written;
                }
            }
            return true;
        }
        let Ok(i) = u32::try_from(self.slots.len()) else {
            return false;
        };
        let (Some(key_span), Some(value_span)) = (self.push_text(key), self.push_text(value))
        else {
            return false;
        };
        self.slots.push(Slot {
            key: key_span,
            value: value_span,
            line,
            written,
        });
        match self.index.entry(key_hash(key)) {
            std::collections::hash_map::Entry::Vacant(v) => {
                v.insert(i);
            }
            std::collections::hash_map::Entry::Occupied(_) => {
                self.collisions.insert(key.to_string(), i);
            }
        }
        true
    }

    /// Put the entries in key order. A hash file holds its keys in hash
    /// order: later stages insert them into ordered maps, which is several
    /// times faster in order than at random (a million keys on Plesk).
    fn sort_by_key(&mut self) {
        let text = &self.text;
        let key = |slot: &Slot| {
            let start = slot.key.start as usize;
            text.get(start..start + slot.key.len as usize)
                .unwrap_or_default()
        };
        self.slots.sort_unstable_by(|a, b| key(a).cmp(key(b)));
        self.index.clear();
        self.collisions.clear();
        for (i, slot) in self.slots.iter().enumerate() {
            let (Ok(i), Some(k)) = (
                u32::try_from(i),
                text.get(slot.key.start as usize..(slot.key.start + slot.key.len) as usize),
            ) else {
                continue;
            };
            match self.index.entry(key_hash(k)) {
                std::collections::hash_map::Entry::Vacant(v) => {
                    v.insert(i);
                }
                std::collections::hash_map::Entry::Occupied(_) => {
                    self.collisions.insert(k.to_string(), i);
                }
            }
        }
    }

    /// Look a key up as Postfix does after case folding.
    pub fn get(&self, key: &str) -> Option<TableEntry<'_>> {
        let i = if key.bytes().any(|b| b.is_ascii_uppercase()) || !key.is_ascii() {
            self.find(&fold_case(key))?
        } else {
            self.find(key)?
        };
        self.slots.get(i as usize).map(|slot| self.entry(slot))
    }

    /// Every key, in file order.
    pub fn entries(&self) -> impl Iterator<Item = TableEntry<'_>> {
        self.slots.iter().map(|slot| self.entry(slot))
    }

    /// How many keys the table has.
    pub fn len(&self) -> usize {
        self.slots.len()
    }

    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }
}

/// FNV-1a over the key's bytes: fast on short keys, and (unlike a
/// per-process random SipHash key) deterministic, which an index that only
/// stores the hash does not mind.
fn key_hash(key: &str) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in key.bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    hash
}

/// The index's keys are hashes already.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct IdentityHasher(u64);

impl Hasher for IdentityHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        // Only `write_u64` is used by `u64` keys; mix anything else in.
        for &byte in bytes {
            self.0 = (self.0 ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3);
        }
    }

    fn write_u64(&mut self, value: u64) {
        self.0 = value;
    }
}

/// What reading a table gave.
// A handful of these exist per run, each behind an `Rc`: the size of the
// loaded variant costs nothing worth a box.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TableLoad {
    /// Every key is known.
    Loaded(Table),
    /// `static:` answers every lookup with the same value.
    MatchesEverything { value: String },
    /// The table works in Postfix but its keys cannot be listed here.
    NotEnumerable { reason: String },
    /// Postfix cannot open it either: lookups fail and mail is deferred.
    Failed { reason: String },
}

/// A problem noticed while reading a table (stale index, ignored line).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableProblem {
    pub kind: WarningKind,
    pub file: Option<String>,
    pub line: Option<u32>,
    pub message: String,
}

/// Case folding as Postfix applies it to keys and patterns when UTF-8 is
/// enabled (`casefold()`, ICU full case folding): lower case, plus the
/// full foldings that change length or letters (`ß` -> `ss`, ligatures,
/// final sigma), which postmap applies when it builds a table.
///
/// Postfix folds only ASCII when `smtputf8_enable = no` (the default below
/// compatibility level 1); we always fold fully, which differs only for
/// names with upper-case or foldable non-ASCII letters in such configs.
pub fn fold_case(key: &str) -> String {
    if key.is_ascii() {
        return key.to_ascii_lowercase();
    }
    let mut out = String::with_capacity(key.len());
    for c in key.chars() {
        match c {
            'ß' | 'ẞ' => out.push_str("ss"),
            'ς' => out.push('σ'),
            'ﬀ' => out.push_str("ff"),
            'ﬁ' => out.push_str("fi"),
            'ﬂ' => out.push_str("fl"),
            'ﬃ' => out.push_str("ffi"),
            'ﬄ' => out.push_str("ffl"),
            'ﬅ' | 'ﬆ' => out.push_str("st"),
            _ => out.extend(c.to_lowercase()),
        }
    }
    out
}

/// What reading a table gave: the table, the problems noticed, and a
/// difference between its text source and its compiled file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableRead {
    pub load: TableLoad,
    pub problems: Vec<TableProblem>,
    pub mismatch: Option<TableMismatch>,
}

/// Read a table with every key. `origin` is where the reference stands (for
/// `inline:`, whose keys are written there). `queue_dir` resolves relative
/// table names the way Postfix daemons do (they run in the queue directory).
pub fn load(root: &ConfigRoot, spec: &TableSpec, origin: &Location, queue_dir: &str) -> TableRead {
    load_keys(root, spec, origin, queue_dir, KeptKeys::All)
}

/// Read a table, keeping the keys `kept` says. Problems (lines without a
/// value, a source that differs from its compiled file) are reported the
/// same whichever keys are kept.
pub fn load_keys(
    root: &ConfigRoot,
    spec: &TableSpec,
    origin: &Location,
    queue_dir: &str,
    kept: KeptKeys,
) -> TableRead {
    let mut problems = Vec::new();
    let mut mismatch = None;
    let t = spec.table_type.as_str();
    let load = if t == "inline" {
        load_inline(spec, origin)
    } else if t == "static" {
        TableLoad::MatchesEverything {
            value: spec.name.clone(),
        }
    } else if t == "fail" {
        TableLoad::Failed {
            reason: format!("{}: every lookup in a fail: table fails", spec.raw),
        }
    } else if t == "texthash" {
        let path = server_path(&spec.name, queue_dir);
        match read_source(root, spec, &path, kept, &mut problems) {
            Ok(table) => TableLoad::Loaded(table),
            Err(error) => TableLoad::Failed {
                reason: format!("{}: cannot read {error}", spec.raw),
            },
        }
    } else if let Some((format, suffix)) = CompiledFormat::for_table_type(t) {
        let path = server_path(&spec.name, queue_dir);
        let compiled = format!("{path}{suffix}");
        if root.exists(&compiled) {
            let source = root.exists(&path).then_some(path.as_str());
            let read = CompiledRead {
                root,
                spec,
                path: &path,
                compiled: &compiled,
                format,
            };
            match read.load(source, kept, &mut problems) {
                Ok((table, difference)) => {
                    mismatch = difference;
                    TableLoad::Loaded(table)
                }
                Err(reason) => TableLoad::Failed { reason },
            }
        } else if root.exists(&path) {
            // A configuration repository keeps sources only.
            match read_source(root, spec, &path, kept, &mut problems) {
                Ok(table) => TableLoad::Loaded(table),
                Err(error) => TableLoad::Failed {
                    reason: format!("{}: cannot read {error}", spec.raw),
                },
            }
        } else {
            TableLoad::Failed {
                reason: format!(
                    "{}: neither {} nor {} exists",
                    spec.raw,
                    root.display(&compiled),
                    root.display(&path)
                ),
            }
        }
    } else if let Some((_, suffixes)) = UNREAD_INDEXED_TYPES.iter().find(|(ty, _)| *ty == t) {
        let path = server_path(&spec.name, queue_dir);
        let compiled: Vec<String> = suffixes.iter().map(|s| format!("{path}{s}")).collect();
        if compiled.iter().any(|c| root.exists(c)) {
            TableLoad::NotEnumerable {
                reason: format!(
                    "{}: mxdrift does not read {t} files ({}): their format depends on the library that wrote them; its keys are not listed (many Postfix builds, Debian's among them, cannot open {t}: tables at all)",
                    spec.raw,
                    compiled
                        .iter()
                        .map(|c| root.display(c))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            }
        } else if root.exists(&path) {
            match read_source(root, spec, &path, kept, &mut problems) {
                Ok(table) => TableLoad::Loaded(table),
                Err(error) => TableLoad::Failed {
                    reason: format!("{}: cannot read {error}", spec.raw),
                },
            }
        } else {
            TableLoad::Failed {
                reason: format!(
                    "{}: neither {} nor {} exists",
                    spec.raw,
                    compiled.join(" nor "),
                    root.display(&path)
                ),
            }
        }
    } else if PATTERN_OR_SERVER_TYPES.contains(&t) {
        TableLoad::NotEnumerable {
            reason: format!(
                "{}: a {t}: table matches by pattern or asks a server; its keys cannot be listed",
                spec.raw
            ),
        }
    } else {
        TableLoad::NotEnumerable {
            reason: format!(
                "{}: unknown table type `{t}`; its keys cannot be listed",
                spec.raw
            ),
        }
    };
    TableRead {
        load,
        problems,
        mismatch,
    }
}

/// One compiled table to read: the file Postfix opens.
struct CompiledRead<'a> {
    root: &'a ConfigRoot,
    spec: &'a TableSpec,
    /// Server path of the text source (also what postmap is given).
    path: &'a str,
    /// Server path of the compiled file.
    compiled: &'a str,
    format: CompiledFormat,
}

/// Keys of a compiled file that no lookup can match, counted per table.
#[derive(Default)]
struct Unmatchable {
    count: usize,
    example: Option<String>,
}

impl CompiledRead<'_> {
    /// Read the compiled keys (and, when the text `source` exists, compare
    /// it with them). The error is the reason lookups fail.
    fn load(
        &self,
        source: Option<&str>,
        kept: KeptKeys,
        problems: &mut Vec<TableProblem>,
    ) -> Result<(Table, Option<TableMismatch>), String> {
        let shown = self.root.display(self.compiled);
        let fail = |error: compiled::ReadError| {
            let rebuild = match source {
                Some(_) => format!(
                    " (rebuild it: postmap {}:{})",
                    self.spec.table_type, self.path
                ),
                None => String::new(),
            };
            format!(
                "{}: {}{rebuild}",
                self.spec.raw,
                CompiledTableError {
                    file: shown.clone(),
                    error,
                }
            )
        };
        let file = self
            .root
            .open(self.compiled)
            .map_err(|e| format!("{}: {e}", self.spec.raw))?;
        let src = FileSource::new(file).map_err(|e| fail(e.into()))?;
        // The source, with every key, to compare with.
        // Postfix never reads it: a source that cannot be read only means
        // there is nothing to compare with.
        let text = source.and_then(|path| {
            read_source(self.root, self.spec, path, KeptKeys::All, problems)
                .map_err(|error| {
                    problems.push(TableProblem {
                        kind: WarningKind::Suspicious,
                        file: Some(self.root.display(path)),
                        line: None,
                        message: format!(
                            "cannot read {error}; {shown} is read without comparing it with its source"
                        ),
                    });
                })
                .ok()
        });
        let mut table = Table::new(
            self.spec.clone(),
            text.as_ref()
                .map_or_else(|| shown.clone(), |t| t.file.clone()),
        );
        table.compiled = Some(shown.clone());
        let mut in_compiled = vec![false; text.as_ref().map_or(0, Table::len)];
        let mut only_in_compiled = Vec::new();
        let mut only_in_compiled_count = 0usize;
        let mut changed_values = Vec::new();
        let mut changed_count = 0usize;
        let mut unmatchable = Unmatchable::default();
        let mut full = false;
        compiled::read_entries(&src, self.format, |stored_key, stored_value| {
            let Some(key) = compiled::lookup_key(stored_key) else {
                unmatchable.note(stored_key);
                return ControlFlow::Continue(());
            };
            // Postfix folds every lookup key to lower case: a stored key
            // with an ASCII capital never matches.
            if key.iter().any(u8::is_ascii_uppercase) {
                unmatchable.note(stored_key);
                return ControlFlow::Continue(());
            }
            // Nothing to compare with: an address key of a table read for
            // its domain keys is done (`@` is never part of a multi-byte
            // UTF-8 sequence). Plesk's vmailbox is a million of them.
            if text.is_none() && kept == KeptKeys::Domains && key.contains(&b'@') {
                return ControlFlow::Continue(());
            }
            let key = String::from_utf8_lossy(key);
            let key = if key.is_ascii() {
                key
            } else {
                std::borrow::Cow::Owned(fold_case(&key))
            };
            let value = String::from_utf8_lossy(compiled::lookup_value(stored_value));
            let mut line = 0;
            let mut written = None;
            if let Some(text) = &text {
                match text.find(&key) {
                    Some(i) => {
                        if let Some(seen) = in_compiled.get_mut(i as usize) {
                            *seen = true;
                        }
                        if let Some(slot) = text.slots.get(i as usize) {
                            line = slot.line;
                            written = slot.written;
                            if text.span_text(slot.value) != value {
                                changed_count += 1;
                                if changed_values.len() < 3 {
                                    changed_values.push(format!("{key} (line {line})"));
                                }
                            }
                        }
                    }
                    None => {
                        only_in_compiled_count += 1;
                        if only_in_compiled.len() < MISMATCH_KEYS_SHOWN {
                            only_in_compiled.push(key.to_string());
                        }
                    }
                }
            }
            if kept == KeptKeys::Domains && key.contains('@') {
                return ControlFlow::Continue(());
            }
            if !full && !table.insert(&key, &value, line, written, true) {
                full = true;
                if text.is_none() {
                    return ControlFlow::Break(());
                }
            }
            ControlFlow::Continue(())
        })
        .map_err(fail)?;
        if full {
            problems.push(TableProblem {
                kind: WarningKind::NotEnumerable,
                file: Some(shown.clone()),
                line: None,
                message: format!(
                    "{shown} is larger than mxdrift can index (4 GiB of keys and values); the rest is not read"
                ),
            });
        }
        if unmatchable.count > 0 {
            problems.push(TableProblem {
                kind: WarningKind::Suspicious,
                file: Some(shown.clone()),
                line: None,
                message: format!(
                    "{shown} holds {} key(s) no lookup can match (upper case or a NUL byte inside, e.g. `{}`): postmap never writes such keys; the file was made by another tool",
                    unmatchable.count,
                    unmatchable.example.as_deref().unwrap_or("")
                ),
            });
        }
        if self.format == CompiledFormat::BerkeleyHash {
            table.sort_by_key();
        }
        table.text.shrink_to_fit();
        table.slots.shrink_to_fit();
        let Some(text) = text else {
            return Ok((table, None));
        };
        let postmap = format!("postmap {}:{}", self.spec.table_type, self.path);
        if changed_count > 0 {
            problems.push(TableProblem {
                kind: WarningKind::StaleTable,
                file: Some(text.file.clone()),
                line: None,
                message: format!(
                    "{changed_count} key(s) of {} have another value in {shown}, which Postfix uses: {}{} (run {postmap})",
                    text.file,
                    changed_values.join(", "),
                    if changed_count > changed_values.len() { ", ..." } else { "" }
                ),
            });
        }
        let mut only_in_source = Vec::new();
        let mut only_in_source_count = 0usize;
        for (slot, seen) in text.slots.iter().zip(&in_compiled) {
            if !seen {
                only_in_source_count += 1;
                if only_in_source.len() < MISMATCH_KEYS_SHOWN {
                    only_in_source.push((text.span_text(slot.key).to_string(), slot.line));
                }
            }
        }
        if only_in_source_count == 0 && only_in_compiled_count == 0 {
            return Ok((table, None));
        }
        Ok((
            table,
            Some(TableMismatch {
                table: self.spec.raw.clone(),
                postmap,
                source: text.file.clone(),
                compiled: shown,
                only_in_source,
                only_in_source_count,
                only_in_compiled,
                only_in_compiled_count,
            }),
        ))
    }
}

impl Unmatchable {
    fn note(&mut self, stored: &[u8]) {
        self.count += 1;
        if self.example.is_none() {
            let shown: String = String::from_utf8_lossy(stored)
                .chars()
                .take(60)
                .map(|c| if c.is_control() { '?' } else { c })
                .collect();
            self.example = Some(shown);
        }
    }
}

/// Relative table names are relative to the queue directory, where Postfix
/// daemons run.
fn server_path(name: &str, queue_dir: &str) -> String {
    if name.starts_with('/') {
        name.to_string()
    } else {
        format!("{}/{name}", queue_dir.trim_end_matches('/'))
    }
}

/// Read a postmap text source: `key whitespace value`, logical lines as in
/// main.cf, keys case-folded, the first of duplicate keys kept. A quoted
/// key (`"a b" value`) may contain white space; Postfix 3.7 keeps the quotes
/// as part of the key.
fn read_source(
    root: &ConfigRoot,
    spec: &TableSpec,
    path: &str,
    kept: KeptKeys,
    problems: &mut Vec<TableProblem>,
) -> Result<Table, SourceError> {
    let bytes = root.read_bytes(path, safe_fs::TABLE_LIMIT)?;
    // Valid UTF-8 (the norm) is used in place, without a lossy copy.
    let text = match String::from_utf8(bytes) {
        Ok(text) => text,
        Err(error) => String::from_utf8_lossy(error.as_bytes()).into_owned(),
    };
    let file = root.display(path);
    let mut table = Table::new(spec.clone(), file.clone());
    if kept == KeptKeys::All {
        // Keys and values take about the room of the file itself.
        table.text.reserve(text.len());
    }
    for logical in Lexer::new(&text).lines() {
        let line = logical.line();
        let joined = logical.joined();
        let (key, value) = split_key_value(&joined);
        // The key starts the logical line; a quoted key may run on into a
        // continuation, and then it is not one piece of the file.
        let written = (key.len() <= logical.first.text.len())
            .then(|| Span::of_file(logical.first.offset, key.len()))
            .flatten();
        if value.is_empty() {
            problems.push(TableProblem {
                kind: WarningKind::Suspicious,
                file: Some(file.clone()),
                line: Some(line),
                message: format!(
                    "`{key}` has no value: postmap ignores this line (expected format: key whitespace value)"
                ),
            });
            continue;
        }
        if kept == KeptKeys::Domains && key.as_bytes().contains(&b'@') {
            continue;
        }
        let folded = if key.bytes().any(|b| b.is_ascii_uppercase()) || !key.is_ascii() {
            std::borrow::Cow::Owned(fold_case(key))
        } else {
            std::borrow::Cow::Borrowed(key)
        };
        if !table.insert(&folded, value, line, written, true) {
            problems.push(TableProblem {
                kind: WarningKind::NotEnumerable,
                file: Some(file.clone()),
                line: Some(line),
                message: format!("{file} is larger than mxdrift can index (4 GiB of keys and values); the rest is not read"),
            });
            break;
        }
    }
    // A domain-keys table is a small part of its file; an all-keys one may
    // have skipped comments and duplicates.
    table.text.shrink_to_fit();
    table.slots.shrink_to_fit();
    Ok(table)
}

/// Split a source line into key and value.
fn split_key_value(line: &str) -> (&str, &str) {
    let key_end = if line.starts_with('"') {
        // A quoted key runs to the closing quote (kept, as postmap 3.7 does).
        line.get(1..)
            .and_then(|rest| rest.find('"'))
            .map(|q| q + 2)
            .unwrap_or_else(|| line.find(is_postfix_space).unwrap_or(line.len()))
    } else {
        line.find(is_postfix_space).unwrap_or(line.len())
    };
    let key = line.get(..key_end).unwrap_or(line);
    let value = line
        .get(key_end..)
        .unwrap_or("")
        .trim_matches(is_postfix_space);
    (key, value)
}

/// `inline:{key=value, {key = value with spaces}, ...}`.
fn load_inline(spec: &TableSpec, origin: &Location) -> TableLoad {
    let bad = |why: &str| TableLoad::Failed {
        reason: format!("{}: {why}; need \"inline:{{name=value...}}\"", spec.raw),
    };
    let Some(body) = spec
        .name
        .strip_prefix('{')
        .and_then(|b| b.strip_suffix('}'))
    else {
        return bad("bad syntax");
    };
    // A few entries of main.cf: every key is kept whatever the use (and an
    // inline table of addresses only must not look empty, which is an error).
    let mut table = Table::new(spec.clone(), origin.file.clone());
    for (_, item) in split_tokens(body) {
        let item = match item.strip_prefix('{').and_then(|i| i.strip_suffix('}')) {
            Some(inner) => inner.trim_matches(is_postfix_space),
            None => item,
        };
        let Some((key, value)) = item.split_once('=') else {
            return bad(&format!("missing '=' after attribute name: \"{item}\""));
        };
        let key = key.trim_matches(is_postfix_space);
        if key.is_empty() {
            return bad("missing attribute name");
        }
        // An inline table is a few entries of main.cf: it cannot reach the
        // size limit of `insert`.
        table.insert(
            &fold_case(key),
            value.trim_matches(is_postfix_space),
            origin.line,
            None,
            false,
        );
    }
    if table.is_empty() {
        return bad("bad syntax");
    }
    TableLoad::Loaded(table)
}

/// Postfix's `mystrtokq(&bp, " ,\t\r\n", "{}")`: tokens separated by runs
/// of commas and white space, where `{...}` (balanced) stays one token.
/// Returns each token with its byte offset.
pub fn split_tokens(text: &str) -> Vec<(usize, &str)> {
    let is_sep = |c: char| matches!(c, ' ' | ',' | '\t' | '\r' | '\n');
    let mut tokens = Vec::new();
    let mut start: Option<usize> = None;
    let mut level = 0usize;
    for (i, c) in text.char_indices() {
        match start {
            None => {
                if is_sep(c) {
                    continue;
                }
                start = Some(i);
                level = usize::from(c == '{');
            }
            Some(s) => {
                if c == '{' {
                    level += 1;
                } else if level > 0 && c == '}' {
                    level -= 1;
                } else if level == 0 && is_sep(c) {
                    tokens.push((s, &text[s..i]));
                    start = None;
                }
            }
        }
    }
    if let Some(s) = start {
        tokens.push((s, &text[s..]));
    }
    tokens
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::tree;

    fn origin() -> Location {
        Location::text("etc/postfix/main.cf", 7, None)
    }

    fn root_with(files: &[(&str, &str)]) -> (tempfile::TempDir, ConfigRoot) {
        let dir = tree(files);
        let root = ConfigRoot::new(dir.path());
        (dir, root)
    }

    fn loaded(load: TableLoad) -> Table {
        match load {
            TableLoad::Loaded(t) => t,
            other => panic!("not loaded: {other:?}"),
        }
    }

    #[test]
    fn mystrtokq_splits_on_commas_and_whitespace_and_keeps_braces() {
        let toks: Vec<&str> = split_tokens(" a,,b \t c, inline:{x=1, y=2} ,{ d , e }")
            .into_iter()
            .map(|(_, t)| t)
            .collect();
        assert_eq!(toks, vec!["a", "b", "c", "inline:{x=1, y=2}", "{ d , e }"]);
        assert!(split_tokens(" , ,\t").is_empty());
    }

    #[test]
    fn proxy_wrapper_is_unwrapped() {
        let spec = TableSpec::parse("proxy:hash:/etc/postfix/x").unwrap();
        assert_eq!(spec.table_type, "hash");
        assert_eq!(spec.name, "/etc/postfix/x");
        assert!(TableSpec::parse("plainname").is_none());
    }

    #[test]
    fn postmap_source_syntax_continuations_comments_case_folding() {
        let (_d, root) = root_with(&[(
            "etc/postfix/vdomains",
            "# comment\nExample.COM  ok\n\nb.test\tv1\n# inside\n  v2\nnovalue\n\"quoted key\" v\nx.test first\nx.test second\n",
        )]);
        let spec = TableSpec::parse("hash:/etc/postfix/vdomains").unwrap();
        let read = load(&root, &spec, &origin(), "/var/spool/postfix");
        let (t, problems) = (loaded(read.load), read.problems);
        let keys: Vec<&str> = t.entries().map(|e| e.key).collect();
        assert_eq!(
            keys,
            vec!["example.com", "b.test", "\"quoted key\"", "x.test"]
        );
        assert_eq!(t.get("EXAMPLE.com").unwrap().line, 2);
        assert_eq!(t.get("b.test").unwrap().value, "v1  v2");
        assert_eq!(t.get("x.test").unwrap().value, "first");
        assert_eq!(t.file, "etc/postfix/vdomains");
        assert_eq!(problems.len(), 1);
        assert_eq!(problems[0].line, Some(7));
    }

    #[test]
    fn domain_keys_skip_addresses_but_report_the_same_problems() {
        let (_d, root) = root_with(&[(
            "etc/postfix/vmailbox",
            "user@a.test a/user\n@b.test catchall\nC.test x\nnovalue@c.test\nd.test y\n",
        )]);
        let spec = TableSpec::parse("hash:/etc/postfix/vmailbox").unwrap();
        let all = load(&root, &spec, &origin(), "/q");
        let domains = load_keys(&root, &spec, &origin(), "/q", KeptKeys::Domains);
        let (all, all_problems) = (loaded(all.load), all.problems);
        let (domains, domain_problems) = (loaded(domains.load), domains.problems);
        assert_eq!(all.len(), 4);
        let keys: Vec<(&str, u32)> = domains.entries().map(|e| (e.key, e.line)).collect();
        assert_eq!(keys, vec![("c.test", 3), ("d.test", 5)]);
        assert!(domains.get("user@a.test").is_none());
        assert_eq!(domains.get("C.TEST").unwrap().value, "x");
        assert_eq!(all_problems, domain_problems);
        assert_eq!(domain_problems.len(), 1);
        assert_eq!(domain_problems[0].line, Some(4));
    }

    #[test]
    fn keys_are_case_folded_like_postmap_with_utf8() {
        assert_eq!(fold_case("Faß.TEST"), "fass.test");
        assert_eq!(fold_case("ПРИМЕР.test"), "пример.test");
        assert_eq!(fold_case("ﬁx.test"), "fix.test");
        assert_eq!(fold_case("MiXeD.Test"), "mixed.test");
    }

    #[test]
    fn texthash_reads_the_file_itself() {
        let (_d, root) = root_with(&[("etc/postfix/t", "a.test x\n")]);
        let spec = TableSpec::parse("texthash:/etc/postfix/t").unwrap();
        assert!(
            loaded(load(&root, &spec, &origin(), "/q").load)
                .get("a.test")
                .is_some()
        );
    }

    #[test]
    fn missing_table_is_a_lookup_failure() {
        let (_d, root) = root_with(&[]);
        let spec = TableSpec::parse("hash:/etc/postfix/none").unwrap();
        match load(&root, &spec, &origin(), "/q").load {
            TableLoad::Failed { reason } => assert!(
                reason.contains("neither etc/postfix/none.db nor etc/postfix/none exists"),
                "{reason}"
            ),
            other => panic!("{other:?}"),
        }
    }

    fn fixture(name: &str) -> Vec<u8> {
        std::fs::read(
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("testdata/compiled")
                .join(name),
        )
        .unwrap()
    }

    /// A root holding a compiled fixture as `etc/postfix/t<suffix>` and,
    /// optionally, a text source `etc/postfix/t`.
    fn compiled_root(
        file: &str,
        suffix: &str,
        source: Option<&str>,
    ) -> (tempfile::TempDir, ConfigRoot) {
        let (dir, root) = root_with(&[]);
        std::fs::create_dir_all(dir.path().join("etc/postfix")).unwrap();
        std::fs::write(
            dir.path().join(format!("etc/postfix/t{suffix}")),
            fixture(file),
        )
        .unwrap();
        if let Some(text) = source {
            std::fs::write(dir.path().join("etc/postfix/t"), text).unwrap();
        }
        (dir, root)
    }

    #[test]
    fn the_compiled_file_is_read_and_declares_at_line_0() {
        for (file, table_type, suffix) in [
            ("hash-le.db", "hash", ".db"),
            ("hash-be.db", "hash", ".db"),
            ("btree-le.db", "btree", ".db"),
            ("btree-be.db", "btree", ".db"),
            ("table.lmdb", "lmdb", ".lmdb"),
            ("table.cdb", "cdb", ".cdb"),
        ] {
            let (_d, root) = compiled_root(file, suffix, None);
            let spec = TableSpec::parse(&format!("{table_type}:/etc/postfix/t")).unwrap();
            let read = load(&root, &spec, &origin(), "/q");
            assert!(
                read.problems.is_empty() && read.mismatch.is_none(),
                "{file}"
            );
            let t = loaded(read.load);
            assert_eq!(t.len(), 304, "{file}");
            assert!(t.is_compiled_only());
            let e = t.get("D7.TEST").unwrap();
            assert_eq!(
                (e.value, e.file, e.line),
                ("value7", format!("etc/postfix/t{suffix}").as_str(), 0)
            );
            assert!(t.get("bücher.test").is_some(), "{file}");
            let domains = loaded(load_keys(&root, &spec, &origin(), "/q", KeptKeys::Domains).load);
            assert_eq!(domains.len(), 303, "{file}");
        }
    }

    #[test]
    fn a_source_that_differs_from_its_compiled_file_is_a_mismatch() {
        let mut source = String::from_utf8(fixture("source")).unwrap();
        // d5 is gone from the source, new.test was never compiled, d6's
        // value changed: the compiled file decides.
        source = source
            .replace("d5.test value5\n", "")
            .replace("d6.test value6", "d6.test changed");
        source.push_str("new.test x\n");
        let (_d, root) = compiled_root("hash-le.db", ".db", Some(&source));
        let spec = TableSpec::parse("hash:/etc/postfix/t").unwrap();
        let read = load_keys(&root, &spec, &origin(), "/q", KeptKeys::Domains);
        let m = read.mismatch.expect("a mismatch");
        assert_eq!(m.only_in_source, vec![("new.test".to_string(), 304)]);
        assert_eq!(m.only_in_compiled, vec!["d5.test".to_string()]);
        assert_eq!(
            (m.source.as_str(), m.compiled.as_str()),
            ("etc/postfix/t", "etc/postfix/t.db")
        );
        assert_eq!(m.postmap, "postmap hash:/etc/postfix/t");
        let stale: Vec<_> = read
            .problems
            .iter()
            .filter(|p| p.kind == WarningKind::StaleTable)
            .collect();
        assert!(
            stale.len() == 1 && stale[0].message.contains("d6.test"),
            "{:?}",
            read.problems
        );
        let t = loaded(read.load);
        assert!(t.get("new.test").is_none());
        let d5 = t.get("d5.test").unwrap();
        assert_eq!((d5.file, d5.line), ("etc/postfix/t.db", 0));
        let d7 = t.get("d7.test").unwrap();
        assert_eq!((d7.file, d7.line), ("etc/postfix/t", 7));
        assert_eq!(t.get("d6.test").unwrap().value, "value6");
        assert!(!t.is_compiled_only());

        // The same keys in another order and with comments: no mismatch.
        let mut same = String::from("# comment\n");
        same.push_str(
            &String::from_utf8(fixture("source"))
                .unwrap()
                .lines()
                .rev()
                .collect::<Vec<_>>()
                .join("\n"),
        );
        let (_d, root) = compiled_root("hash-le.db", ".db", Some(&same));
        let read = load(&root, &spec, &origin(), "/q");
        assert!(
            read.mismatch.is_none() && read.problems.is_empty(),
            "{:?}",
            read.problems
        );
    }

    #[test]
    fn a_damaged_or_foreign_compiled_file_is_a_lookup_failure_naming_it() {
        let mut damaged = fixture("btree-le.db");
        damaged.truncate(8192);
        let (dir, root) = compiled_root("hash-le.db", ".db", Some("a.test x\n"));
        for (bytes, table_type, expected) in [
            (damaged, "btree", "truncated"),
            (
                fixture("hash-le.db"),
                "btree",
                "a hash file, but the table is configured as btree",
            ),
            (b"not a database".to_vec(), "hash", "unknown format"),
        ] {
            std::fs::write(dir.path().join("etc/postfix/t.db"), bytes).unwrap();
            let spec = TableSpec::parse(&format!("{table_type}:/etc/postfix/t")).unwrap();
            match load(&root, &spec, &origin(), "/q").load {
                TableLoad::Failed { reason } => {
                    assert!(
                        reason.contains("etc/postfix/t.db: ") && reason.contains(expected),
                        "{reason}"
                    );
                    assert!(
                        reason.contains(&format!("postmap {table_type}:/etc/postfix/t")),
                        "{reason}"
                    );
                }
                other => panic!("{other:?}"),
            }
        }
    }

    #[test]
    fn dbm_files_are_not_enumerable_but_a_lone_source_is_read() {
        let (_d, root) = root_with(&[
            ("etc/postfix/d.pag", "x"),
            ("etc/postfix/d.dir", "x"),
            ("etc/postfix/s", "a.test x\n"),
        ]);
        let spec = TableSpec::parse("dbm:/etc/postfix/d").unwrap();
        match load(&root, &spec, &origin(), "/q").load {
            TableLoad::NotEnumerable { reason } => {
                assert!(reason.contains("etc/postfix/d.pag"), "{reason}")
            }
            other => panic!("{other:?}"),
        }
        let spec = TableSpec::parse("sdbm:/etc/postfix/s").unwrap();
        assert!(
            loaded(load(&root, &spec, &origin(), "/q").load)
                .get("a.test")
                .is_some()
        );
    }

    #[test]
    fn inline_table_forms_and_last_duplicate_wins() {
        let (_d, root) = root_with(&[]);
        let spec =
            TableSpec::parse("inline:{a.test=x, B.Test=y, { c.test = z w },a.test=2}").unwrap();
        let t = loaded(load(&root, &spec, &origin(), "/q").load);
        assert_eq!(t.get("b.test").unwrap().value, "y");
        assert_eq!(t.get("c.test").unwrap().value, "z w");
        assert_eq!(t.get("a.test").unwrap().value, "2");
        assert_eq!(t.get("c.test").unwrap().location(), origin());
        let spec = TableSpec::parse("inline:{e.test}").unwrap();
        assert!(matches!(
            load(&root, &spec, &origin(), "/q").load,
            TableLoad::Failed { .. }
        ));
    }

    #[test]
    fn pattern_and_database_tables_are_not_enumerable() {
        let (_d, root) = root_with(&[]);
        for raw in [
            "pcre:/etc/postfix/x",
            "proxy:mysql:/etc/postfix/sql.cf",
            "regexp:/x",
            "cidr:/y",
        ] {
            let spec = TableSpec::parse(raw).unwrap();
            assert!(
                matches!(
                    load(&root, &spec, &origin(), "/q").load,
                    TableLoad::NotEnumerable { .. }
                ),
                "{raw}"
            );
        }
        let spec = TableSpec::parse("static:OK").unwrap();
        assert!(matches!(
            load(&root, &spec, &origin(), "/q").load,
            TableLoad::MatchesEverything { .. }
        ));
    }

    #[test]
    fn relative_table_names_are_under_the_queue_directory() {
        let (_d, root) = root_with(&[("var/spool/postfix/rel", "a.test x\n")]);
        let spec = TableSpec::parse("texthash:rel").unwrap();
        let t = loaded(load(&root, &spec, &origin(), "/var/spool/postfix").load);
        assert_eq!(t.file, "var/spool/postfix/rel");
    }
}
