//! Postfix lookup tables, read from what mxdrift can read without Postfix:
//! the *text source* of indexed tables (`hash:/etc/postfix/x` reads `x`, the
//! file `postmap` compiles into `x.db`), `texthash:` files, and `inline:{}`
//! tables written in main.cf. Tables that live elsewhere (regexp, pcre,
//! cidr, SQL, LDAP, ...) cannot be enumerated and say so.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use super::Location;
use super::maincf::is_postfix_space;
use crate::inventory::WarningKind;
use crate::safe_fs;
use crate::sources::{ConfigRoot, SourceError};

/// Table types whose keys live in a text source that `postmap` compiles,
/// with the suffix of the compiled file.
const INDEXED_TYPES: &[(&str, &str)] = &[
    ("hash", ".db"),
    ("btree", ".db"),
    ("lmdb", ".lmdb"),
    ("cdb", ".cdb"),
    ("dbm", ".pag"),
    ("sdbm", ".pag"),
];

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
    /// The file the entry is written in, relative to the root.
    pub file: &'t str,
    /// Its physical line (the first of a logical line).
    pub line: u32,
}

impl TableEntry<'_> {
    pub fn location(&self) -> Location {
        Location {
            file: self.file.to_string(),
            line: self.line,
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
    /// The text source, relative to the root (main.cf for `inline:`).
    pub file: String,
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
        TableEntry {
            key: self.span_text(slot.key),
            value: self.span_text(slot.value),
            file: &self.file,
            line: slot.line,
        }
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

    /// Add an entry (`key` already case-folded). `first_wins`: postmap
    /// keeps the first of duplicate keys; `inline:` keeps the last. False
    /// when the table is too large to hold it.
    fn insert(&mut self, key: &str, value: &str, line: u32, first_wins: bool) -> bool {
        if let Some(i) = self.find(key) {
            if !first_wins {
                let Some(value) = self.push_text(value) else {
                    return false;
                };
                if let Some(slot) = self.slots.get_mut(i as usize) {
                    slot.value = value;
                    slot.line = line;
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

/// Read a table with every key. `origin` is where the reference stands (for
/// `inline:`, whose keys are written there). `queue_dir` resolves relative
/// table names the way Postfix daemons do (they run in the queue directory).
pub fn load(
    root: &ConfigRoot,
    spec: &TableSpec,
    origin: &Location,
    queue_dir: &str,
) -> (TableLoad, Vec<TableProblem>) {
    load_keys(root, spec, origin, queue_dir, KeptKeys::All)
}

/// Read a table, keeping the keys `kept` says. Problems (lines without a
/// value, a stale index) are reported the same whichever keys are kept.
pub fn load_keys(
    root: &ConfigRoot,
    spec: &TableSpec,
    origin: &Location,
    queue_dir: &str,
    kept: KeptKeys,
) -> (TableLoad, Vec<TableProblem>) {
    let mut problems = Vec::new();
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
    } else if let Some((_, suffix)) = INDEXED_TYPES.iter().find(|(ty, _)| *ty == t) {
        let path = server_path(&spec.name, queue_dir);
        let compiled = format!("{path}{suffix}");
        if root.exists(&path) {
            check_stale(root, &path, &compiled, &mut problems);
            match read_source(root, spec, &path, kept, &mut problems) {
                Ok(table) => TableLoad::Loaded(table),
                Err(error) => TableLoad::Failed {
                    reason: format!("{}: cannot read {error}", spec.raw),
                },
            }
        } else if root.exists(&compiled) {
            TableLoad::NotEnumerable {
                reason: format!(
                    "{}: only the compiled {} exists; mxdrift lists keys from the text source {}, which is missing",
                    spec.raw,
                    root.display(&compiled),
                    root.display(&path)
                ),
            }
        } else {
            TableLoad::Failed {
                reason: format!(
                    "{}: neither {} nor {} exists",
                    spec.raw,
                    root.display(&path),
                    root.display(&compiled)
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
    (load, problems)
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

/// A compiled table older than its source means `postmap` was not run after
/// the last edit: Postfix still answers from the old keys.
fn check_stale(root: &ConfigRoot, source: &str, compiled: &str, problems: &mut Vec<TableProblem>) {
    let modified = |p: &str| root.modified(p);
    if let (Some(src), Some(db)) = (modified(source), modified(compiled))
        && db < src
    {
        problems.push(TableProblem {
            kind: WarningKind::StaleTable,
            file: Some(root.display(compiled)),
            line: None,
            message: format!(
                "{} is older than {}: Postfix still uses the keys from before the last edit (run postmap)",
                root.display(compiled),
                root.display(source)
            ),
        });
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
    for (line, joined) in SourceLines::new(&text) {
        let (key, value) = split_key_value(&joined);
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
        if !table.insert(&folded, value, line, true) {
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

/// The logical lines of a table source, one at a time, each with the number
/// of its first physical line: the rules of main.cf's `logical_lines`
/// (continuations start with white space, comment and blank lines are
/// skipped and do not end a logical line, a continuation with nothing to
/// continue is dropped), without holding a vector of every line of a
/// million-line table. A line without continuations is borrowed.
struct SourceLines<'t> {
    text: &'t str,
    /// Byte offset of the next physical line; past the end when done.
    pos: usize,
    /// Number of the physical line at `pos`.
    line: u32,
}

/// A physical line as the logical-line rules see it.
enum Physical<'t> {
    /// Blank or comment.
    Skip,
    /// Starts with white space: continues the open logical line.
    Continuation(&'t str),
    /// Starts a logical line.
    Start(&'t str),
}

impl<'t> SourceLines<'t> {
    fn new(text: &'t str) -> Self {
        SourceLines {
            text,
            pos: 0,
            line: 1,
        }
    }

    /// The physical line at `pos` (without its newline) and the offset
    /// after it, or `None` at the end.
    fn peek(&self) -> Option<(&'t str, usize)> {
        let rest = self.text.get(self.pos..)?;
        Some(match rest.as_bytes().iter().position(|&b| b == b'\n') {
            Some(newline) => (rest.get(..newline).unwrap_or(rest), self.pos + newline + 1),
            // The last line; the offset past the end ends the iteration.
            None => (rest, self.text.len() + 1),
        })
    }

    fn advance(&mut self, next: usize) {
        self.pos = next;
        self.line = self.line.saturating_add(1);
    }

    fn classify(raw: &'t str) -> Physical<'t> {
        // The white space Postfix trims is ASCII, so byte positions are
        // character boundaries.
        let bytes = raw.as_bytes();
        let end = bytes
            .iter()
            .rposition(|&b| !is_space_byte(b))
            .map_or(0, |last| last + 1);
        let trimmed_end = raw.get(..end).unwrap_or(raw);
        match bytes.iter().position(|&b| !is_space_byte(b)) {
            None => Physical::Skip,
            Some(_)
                if trimmed_end
                    .trim_start_matches(is_postfix_space)
                    .starts_with('#') =>
            {
                Physical::Skip
            }
            Some(0) => Physical::Start(trimmed_end),
            Some(_) => Physical::Continuation(trimmed_end),
        }
    }
}

impl<'t> Iterator for SourceLines<'t> {
    type Item = (u32, std::borrow::Cow<'t, str>);

    fn next(&mut self) -> Option<Self::Item> {
        let (line, first) = loop {
            let (raw, next) = self.peek()?;
            let line = self.line;
            self.advance(next);
            match Self::classify(raw) {
                Physical::Start(text) => break (line, text),
                // Nothing is open here: every continuation of a logical
                // line is taken below, so this one continues nothing.
                Physical::Skip | Physical::Continuation(_) => continue,
            }
        };
        let mut joined: Option<String> = None;
        while let Some((raw, next)) = self.peek() {
            match Self::classify(raw) {
                Physical::Skip => self.advance(next),
                Physical::Continuation(text) => {
                    joined
                        .get_or_insert_with(|| first.to_string())
                        .push_str(text);
                    self.advance(next);
                }
                Physical::Start(_) => break,
            }
        }
        Some((
            line,
            match joined {
                Some(text) => std::borrow::Cow::Owned(text),
                None => std::borrow::Cow::Borrowed(first),
            },
        ))
    }
}

/// [`is_postfix_space`] for a byte.
fn is_space_byte(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | b'\n' | 0x0b | 0x0c)
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

/// True when a file name has a compiled table beside it in the root; used by
/// tests and by readers that want to know whether `postmap` was ever run.
pub fn compiled_exists(root: &ConfigRoot, spec: &TableSpec) -> bool {
    INDEXED_TYPES
        .iter()
        .find(|(ty, _)| *ty == spec.table_type)
        .is_some_and(|(_, suffix)| root.exists(&format!("{}{suffix}", spec.name)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn origin() -> Location {
        Location {
            file: "etc/postfix/main.cf".into(),
            line: 7,
        }
    }

    fn root_with(files: &[(&str, &str)]) -> (tempfile::TempDir, ConfigRoot) {
        let dir = tempfile::tempdir().unwrap();
        for (path, text) in files {
            let p = dir.path().join(path.trim_start_matches('/'));
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, text).unwrap();
        }
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
        let (load, problems) = load(&root, &spec, &origin(), "/var/spool/postfix");
        let t = loaded(load);
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
    fn source_lines_follow_the_main_cf_logical_line_rules() {
        let text =
            "  orphan\n\tstill orphan\n# c\na 1\n\n  # inside\n  2\t \n\tthree\r\nb x\n#\n   \nc y";
        let streamed: Vec<(u32, String)> = SourceLines::new(text)
            .map(|(line, joined)| (line, joined.into_owned()))
            .collect();
        let (lines, orphans) = crate::sources::postfix::maincf::logical_lines(text);
        let whole: Vec<(u32, String)> = lines.iter().map(|l| (l.line, l.joined().0)).collect();
        assert_eq!(streamed, whole);
        assert_eq!(
            streamed,
            vec![
                (4, "a 1  2\tthree".to_string()),
                (9, "b x".to_string()),
                (12, "c y".to_string())
            ]
        );
        assert_eq!(orphans, vec![1, 2]);
        assert_eq!(SourceLines::new("").count(), 0);
        assert_eq!(SourceLines::new("\n\n").count(), 0);
    }

    #[test]
    fn domain_keys_skip_addresses_but_report_the_same_problems() {
        let (_d, root) = root_with(&[(
            "etc/postfix/vmailbox",
            "user@a.test a/user\n@b.test catchall\nC.test x\nnovalue@c.test\nd.test y\n",
        )]);
        let spec = TableSpec::parse("hash:/etc/postfix/vmailbox").unwrap();
        let (all, all_problems) = load(&root, &spec, &origin(), "/q");
        let (domains, domain_problems) =
            load_keys(&root, &spec, &origin(), "/q", KeptKeys::Domains);
        let all = loaded(all);
        let domains = loaded(domains);
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
            loaded(load(&root, &spec, &origin(), "/q").0)
                .get("a.test")
                .is_some()
        );
    }

    #[test]
    fn missing_table_is_a_lookup_failure_and_lone_index_is_not_enumerable() {
        let (_d, root) = root_with(&[("etc/postfix/only.db", "binary")]);
        let spec = TableSpec::parse("hash:/etc/postfix/none").unwrap();
        assert!(matches!(
            load(&root, &spec, &origin(), "/q").0,
            TableLoad::Failed { .. }
        ));
        let spec = TableSpec::parse("hash:/etc/postfix/only").unwrap();
        assert!(matches!(
            load(&root, &spec, &origin(), "/q").0,
            TableLoad::NotEnumerable { .. }
        ));
    }

    #[test]
    fn index_older_than_source_is_stale() {
        let (dir, root) = root_with(&[("etc/postfix/t.db", "x"), ("etc/postfix/t", "a.test x\n")]);
        let old = std::time::SystemTime::now() - std::time::Duration::from_secs(3600);
        let f = std::fs::File::options()
            .write(true)
            .open(dir.path().join("etc/postfix/t.db"))
            .unwrap();
        f.set_modified(old).unwrap();
        let spec = TableSpec::parse("hash:/etc/postfix/t").unwrap();
        let (_, problems) = load(&root, &spec, &origin(), "/q");
        assert!(problems.iter().any(|p| p.kind == WarningKind::StaleTable));
        assert!(compiled_exists(&root, &spec));
    }

    #[test]
    fn inline_table_forms_and_last_duplicate_wins() {
        let (_d, root) = root_with(&[]);
        let spec =
            TableSpec::parse("inline:{a.test=x, B.Test=y, { c.test = z w },a.test=2}").unwrap();
        let t = loaded(load(&root, &spec, &origin(), "/q").0);
        assert_eq!(t.get("b.test").unwrap().value, "y");
        assert_eq!(t.get("c.test").unwrap().value, "z w");
        assert_eq!(t.get("a.test").unwrap().value, "2");
        assert_eq!(t.get("c.test").unwrap().location(), origin());
        let spec = TableSpec::parse("inline:{e.test}").unwrap();
        assert!(matches!(
            load(&root, &spec, &origin(), "/q").0,
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
                    load(&root, &spec, &origin(), "/q").0,
                    TableLoad::NotEnumerable { .. }
                ),
                "{raw}"
            );
        }
        let spec = TableSpec::parse("static:OK").unwrap();
        assert!(matches!(
            load(&root, &spec, &origin(), "/q").0,
            TableLoad::MatchesEverything { .. }
        ));
    }

    #[test]
    fn relative_table_names_are_under_the_queue_directory() {
        let (_d, root) = root_with(&[("var/spool/postfix/rel", "a.test x\n")]);
        let spec = TableSpec::parse("texthash:rel").unwrap();
        let t = loaded(load(&root, &spec, &origin(), "/var/spool/postfix").0);
        assert_eq!(t.file, "var/spool/postfix/rel");
    }
}
