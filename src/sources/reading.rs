//! Shared machinery of the panel readers: the line-per-entry files panels
//! write, the difference between a missing file (a warning: config
//! repositories hold partial trees) and an unreadable one (an error: the
//! audit would be wrong), and collecting domains with their warnings.
//!
//! The mail servers compare list keys with a domain byte for byte (ASCII
//! case aside), so a key is read exactly as the server reads it
//! ([`lsearch_lines`] is Exim's lsearch) and counts for a domain only when
//! it is that domain's own spelling ([`list_key`]): `shop.test.` or
//! `bücher.test` look like domains but never match any mail.

use std::borrow::Cow;
use std::collections::BTreeSet;
use std::ffi::OsString;
use std::io::ErrorKind;
use std::net::IpAddr;

use crate::inventory::{
    ByteSpan, Declared, Delivery, DomainName, Inventory, InventoryBuilder, InventoryWarning,
    KnownDomain, ListFile, Platform, TableMismatch, Via, WarningKind,
};
use crate::sources::{ConfigRoot, SourceError};

/// A physical line number as the inventory stores it (1-based).
pub(crate) fn line_number(index: usize) -> u32 {
    u32::try_from(index.saturating_add(1)).unwrap_or(u32::MAX)
}

/// The entries of a one-name-per-line file (qmail control files, plain
/// lists): the 1-based physical line, the span of the trimmed text in
/// `text`, and the trimmed text. Blank lines and lines whose first
/// non-blank character is `#` are skipped.
pub(crate) fn entry_lines(text: &str) -> impl Iterator<Item = (u32, ByteSpan, &str)> {
    text.split_inclusive('\n')
        .scan(0usize, |offset, raw| {
            let start = *offset;
            *offset += raw.len();
            Some((start, raw))
        })
        .enumerate()
        .filter_map(|(index, (start, raw))| {
            // `str::lines` ends: "\n", or "\r\n".
            let raw = raw.strip_suffix('\n').unwrap_or(raw);
            let raw = raw.strip_suffix('\r').unwrap_or(raw);
            let entry = raw.trim();
            if entry.is_empty() || entry.starts_with('#') {
                return None;
            }
            let lead = raw.len() - raw.trim_start().len();
            Some((
                line_number(index),
                ByteSpan::at(start + lead, entry.len()),
                entry,
            ))
        })
}

/// The span of `value`, the trimmed end of `entry` (the value of a
/// `KEY value` or `key=value` entry), where `entry` stands at `entry_span`.
pub(crate) fn tail_span(entry: &str, entry_span: ByteSpan, value: &str) -> Option<ByteSpan> {
    entry
        .ends_with(value)
        .then(|| ByteSpan::at(entry_span.end.saturating_sub(value.len()), value.len()))
}

/// C's `isspace()` in the C locale, which Exim uses on list files: unlike
/// Rust's `is_ascii_whitespace` it includes the vertical tab.
pub(crate) fn c_isspace(byte: u8) -> bool {
    matches!(byte, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')
}

/// The size of the buffer Exim's lsearch reads a file with (`fgets`): a
/// physical line longer than this minus one is read in pieces.
const EXIM_LINE_BUFFER: usize = 4096;

/// One physical line of an Exim `lsearch` file (`/etc/localdomains`,
/// `/etc/userdomains`, `/etc/virtual/domains`, ...) as Exim's lsearch
/// lookup reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum LsearchLine<'b> {
    /// `key`, `key: value` or `key value`: the key exactly as Exim compares
    /// it (bytes; a quoted key with its escapes interpreted), where an
    /// unquoted key stands in the file, and the data.
    Entry {
        line: u32,
        key: Cow<'b, [u8]>,
        span: Option<ByteSpan>,
        value: Cow<'b, str>,
    },
    /// A line starting with white space: Exim reads it as the continuation
    /// of the previous entry's value, never as a key of its own.
    Continuation { line: u32, text: Cow<'b, str> },
    /// A line Exim never reads as a key because of the line before it.
    Skipped { line: u32, why: SkipReason },
}

/// Why Exim skips a whole physical line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SkipReason {
    /// The line before holds a NUL byte: Exim takes the NUL for the end of
    /// the text it read and the newline behind it for part of this line.
    NulBefore,
}

/// One `fgets()` call's worth of a file: the bytes read, the physical line
/// they start on, and whether they start that line.
struct Segment<'b> {
    bytes: &'b [u8],
    /// Where `bytes` start in the file.
    offset: usize,
    line: u32,
    starts_line: bool,
}

/// Split a file the way `fgets(buffer, 4096, f)` returns it: up to and
/// including a newline, at most 4095 bytes at a time.
fn fgets_segments(bytes: &[u8]) -> Vec<Segment<'_>> {
    let mut segments = Vec::new();
    let mut rest = bytes;
    let mut offset = 0;
    let mut line: u32 = 1;
    let mut starts_line = true;
    while !rest.is_empty() {
        let limit = rest.len().min(EXIM_LINE_BUFFER - 1);
        let end = rest[..limit]
            .iter()
            .position(|&b| b == b'\n')
            .map_or(limit, |newline| newline + 1);
        let (piece, tail) = rest.split_at(end);
        segments.push(Segment {
            bytes: piece,
            offset,
            line,
            starts_line,
        });
        offset += piece.len();
        starts_line = piece.last() == Some(&b'\n');
        if starts_line {
            line = line.saturating_add(1);
        }
        rest = tail;
    }
    segments
}

/// A segment as Exim's code sees it: up to the first NUL (C strings end
/// there), and whether it ends a physical line.
fn c_view(segment: &[u8]) -> (&[u8], bool) {
    let len = segment
        .iter()
        .position(|&b| b == 0)
        .unwrap_or(segment.len());
    let text = &segment[..len];
    (text, text.last() == Some(&b'\n'))
}

fn trim_c_space_end(mut text: &[u8]) -> &[u8] {
    while let [rest @ .., last] = text {
        if !c_isspace(*last) {
            break;
        }
        text = rest;
    }
    text
}

fn trim_c_space_start(mut text: &[u8]) -> &[u8] {
    while let [first, rest @ ..] = text {
        if !c_isspace(*first) {
            break;
        }
        text = rest;
    }
    text
}

/// Exim's `string_interpret_escape()`: `text[0]` is the character after a
/// backslash. Returns the byte it stands for and how many bytes it used.
fn exim_escape(text: &[u8]) -> (u8, usize) {
    let octal = |b: u8| (b'0'..=b'7').contains(&b);
    match text.first().copied() {
        // A backslash at the end stays a backslash.
        None => (b'\\', 0),
        Some(first) if octal(first) => {
            let mut value = u32::from(first - b'0');
            let mut used = 1;
            while used < 3 && text.get(used).copied().is_some_and(octal) {
                value = value * 8 + u32::from(text[used] - b'0');
                used += 1;
            }
            // C stores the int in an unsigned char.
            ((value & 0xff) as u8, used)
        }
        Some(b'b') => (0x08, 1),
        Some(b'f') => (0x0c, 1),
        Some(b'n') => (b'\n', 1),
        Some(b'r') => (b'\r', 1),
        Some(b't') => (b'\t', 1),
        Some(b'v') => (0x0b, 1),
        Some(b'x') => {
            let hex = |b: Option<&u8>| b.and_then(|b| (*b as char).to_digit(16));
            match hex(text.get(1)) {
                None => (0, 1),
                Some(high) => match hex(text.get(2)) {
                    Some(low) => ((high * 16 + low) as u8, 3),
                    None => (high as u8, 2),
                },
            }
        }
        Some(other) => (other, 1),
    }
}

/// The key at the start of a line (`text[0]` is neither blank nor `#`) and
/// the rest of the line after it.
fn lsearch_key(text: &[u8]) -> (Cow<'_, [u8]>, &[u8]) {
    if let Some(quoted) = text.strip_prefix(b"\"") {
        let mut key = Vec::new();
        let mut at = 0;
        while at < quoted.len() && quoted[at] != b'"' {
            if quoted[at] == b'\\' {
                let (byte, used) = exim_escape(&quoted[at + 1..]);
                key.push(byte);
                at += used;
            } else {
                key.push(quoted[at]);
            }
            at += 1;
        }
        // Past the closing quote, when there is one.
        let rest = quoted.get(at + 1..).unwrap_or_default();
        (Cow::Owned(key), rest)
    } else {
        let end = text
            .iter()
            .position(|&b| b == b':' || c_isspace(b))
            .unwrap_or(text.len());
        (Cow::Borrowed(&text[..end]), &text[end..])
    }
}

/// Split an lsearch file exactly as Exim's lsearch lookup reads it
/// (`lookups/lsearch.c`): lines are read with `fgets` into a 4096-byte
/// buffer; only the first piece of a longer line counts; trailing white
/// space (CR included) is removed; blank lines and lines starting with `#`
/// are skipped; a line starting with white space is a continuation; a key
/// ends at a colon or white space, or is double-quoted with backslash
/// escapes; an optional colon separates it from the data.
pub(crate) fn lsearch_lines(bytes: &[u8]) -> Vec<LsearchLine<'_>> {
    let segments = fgets_segments(bytes);
    let mut lines = Vec::new();
    let mut last_was_eol = true;
    let mut index = 0;
    while index < segments.len() {
        let segment = &segments[index];
        index += 1;
        let (text, this_is_eol) = c_view(segment.bytes);
        if !last_was_eol {
            last_was_eol = this_is_eol;
            // The rest of a long line is no key; a line that only looks
            // new because a NUL hid the newline before it is lost.
            if segment.starts_line {
                lines.push(LsearchLine::Skipped {
                    line: segment.line,
                    why: SkipReason::NulBefore,
                });
            }
            continue;
        }
        last_was_eol = this_is_eol;
        let text = if this_is_eol {
            trim_c_space_end(text)
        } else {
            text
        };
        match text.first() {
            None | Some(b'#') => continue,
            Some(&first) if c_isspace(first) => {
                lines.push(LsearchLine::Continuation {
                    line: segment.line,
                    text: String::from_utf8_lossy(trim_c_space_start(text)),
                });
                continue;
            }
            Some(_) => {}
        }
        let (key, rest) = lsearch_key(text);
        // An unquoted key is the text at the start of the segment.
        let span = match &key {
            Cow::Borrowed(key) => Some(ByteSpan::at(segment.offset, key.len())),
            Cow::Owned(_) => None,
        };
        let rest = trim_c_space_start(rest);
        let rest = trim_c_space_start(rest.strip_prefix(b":").unwrap_or(rest));
        let mut value = Cow::Borrowed(rest);
        // The data continues on pieces of the same long line and on
        // indented lines. After a blank or comment line Exim reads on to
        // the end of the file but takes nothing more, so stop there.
        let mut continuation_eol = this_is_eol;
        for next in &segments[index..] {
            let (piece, piece_eol) = c_view(next.bytes);
            let piece = if piece_eol {
                trim_c_space_end(piece)
            } else {
                piece
            };
            if continuation_eol {
                match piece.first() {
                    Some(&first) if c_isspace(first) => {
                        let value = value.to_mut();
                        value.push(b' ');
                        value.extend_from_slice(trim_c_space_start(piece));
                    }
                    _ => break,
                }
            } else {
                value.to_mut().extend_from_slice(piece);
            }
            continuation_eol = piece_eol;
        }
        lines.push(LsearchLine::Entry {
            line: segment.line,
            key,
            span,
            value: match value {
                Cow::Borrowed(bytes) => String::from_utf8_lossy(bytes),
                Cow::Owned(bytes) => Cow::Owned(String::from_utf8_lossy(&bytes).into_owned()),
            },
        });
    }
    lines
}

/// Which mail server compares a list's keys (it names the server in
/// warnings; both compare bytes, ASCII letters case-insensitively).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ListReader {
    Exim,
    Qmail,
}

impl ListReader {
    fn name(self) -> &'static str {
        match self {
            ListReader::Exim => "Exim",
            ListReader::Qmail => "qmail",
        }
    }
}

/// How a key that looks like a domain differs from it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Spelling {
    TrailingDot,
    /// UTF-8 (a U-label): senders address the A-label.
    Utf8,
    /// Blanks before or after the name (qmail keeps them in the key).
    Blank,
    /// A carriage return at the end (a file saved with Windows line ends).
    CarriageReturn,
    /// Any other difference (IDNA mapping of look-alike characters).
    Other,
}

/// What a list key means for the domain names mxdrift audits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ListKey {
    /// The key is the domain's own spelling (ASCII case aside): it matches.
    Domain(DomainName),
    /// The key reads as `name` but is spelt differently: a byte comparison
    /// never matches `name`, so the entry does nothing for it.
    NeverMatches {
        name: DomainName,
        spelling: Spelling,
    },
    /// Not a domain name at all.
    Invalid(String),
}

/// Decide what a key stands for. Exim and qmail compare keys with the
/// domain of an address byte for byte, ASCII letters case-insensitively,
/// and mail carries the A-label without a trailing dot; anything else in
/// a key is part of it.
pub(crate) fn list_key(key: &[u8]) -> ListKey {
    let Ok(text) = std::str::from_utf8(key) else {
        return ListKey::Invalid("it is not UTF-8".to_string());
    };
    match DomainName::parse(text) {
        Ok(name) if name.as_str() == text.to_ascii_lowercase() => ListKey::Domain(name),
        Ok(name) => {
            let spelling = if text.ends_with('.') {
                Spelling::TrailingDot
            } else if !text.is_ascii() {
                Spelling::Utf8
            } else {
                Spelling::Other
            };
            ListKey::NeverMatches { name, spelling }
        }
        Err(error) => {
            let stripped = text.trim_matches(|c: char| c == ' ' || c == '\t');
            let spelling = if text.ends_with('\r') {
                Some(Spelling::CarriageReturn)
            } else if stripped.len() != text.len() {
                Some(Spelling::Blank)
            } else {
                None
            };
            let close = stripped.trim_end_matches('\r');
            match (spelling, DomainName::parse(close)) {
                (Some(spelling), Ok(name)) if name.as_str() == close.to_ascii_lowercase() => {
                    ListKey::NeverMatches { name, spelling }
                }
                _ => ListKey::Invalid(error.to_string()),
            }
        }
    }
}

/// Kinds of directory entries [`list_dir`] returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum EntryKind {
    Dirs,
    Files,
}

/// The names of the directories (or files) in a directory under the root,
/// sorted; `None` when the directory does not exist. Symbolic links count
/// as what they point to (inside the root). The entry's type comes with the
/// directory listing: only a symbolic link costs a lookup (100,000 domains
/// are 100,000 entries).
pub(crate) fn list_dir(
    root: &ConfigRoot,
    server_path: &str,
    kind: EntryKind,
) -> Result<Option<Vec<OsString>>, SourceError> {
    let Some(entries) = root.entries(server_path)? else {
        return Ok(None);
    };
    let mut names: Vec<OsString> = entries
        .into_iter()
        .filter(|entry| match kind {
            EntryKind::Dirs => entry.is_dir(),
            EntryKind::Files => entry.is_file(),
        })
        .map(|entry| entry.name)
        .collect();
    names.sort();
    Ok(Some(names))
}

/// The state of one platform read: the domains found so far and everything
/// worth telling the admin about them.
pub(crate) struct Reading<'r> {
    pub root: &'r ConfigRoot,
    /// Every domain so far, sorted by name, one entry per name.
    domains: InventoryBuilder,
    pub warnings: Vec<InventoryWarning>,
    pub server_names: Vec<DomainName>,
    pub server_addresses: Vec<IpAddr>,
    pub table_mismatches: Vec<TableMismatch>,
}

impl<'r> Reading<'r> {
    pub fn new(root: &'r ConfigRoot) -> Self {
        Reading {
            root,
            domains: InventoryBuilder::new(),
            warnings: Vec::new(),
            server_names: Vec::new(),
            server_addresses: Vec::new(),
            table_mismatches: Vec::new(),
        }
    }

    /// Continue from an inventory another reader produced (Plesk on top of
    /// Postfix or qmail), keeping its domains, facts and warnings.
    pub fn from_inventory(root: &'r ConfigRoot, inventory: Inventory) -> Self {
        let mut reading = Reading::new(root);
        reading.warnings = inventory.warnings;
        reading.server_names = inventory.server_names;
        reading.server_addresses = inventory.server_addresses;
        reading.table_mismatches = inventory.table_mismatches;
        reading.domains = InventoryBuilder::from_domains(inventory.domains);
        reading
    }

    /// Read a file the platform normally has. Absent: a `MissingFile`
    /// warning saying what is lost, and `None`. Present but unreadable (a
    /// directory, no permission): an error, because reading on would
    /// report a wrong inventory.
    pub fn read_expected(
        &mut self,
        server_path: &str,
        without_it: &str,
    ) -> Result<Option<String>, SourceError> {
        let text = self.read_optional(server_path)?;
        if text.is_none() {
            self.warn_missing(server_path, without_it);
        }
        Ok(text)
    }

    /// [`Reading::read_expected`] for files whose bytes matter: list files
    /// the mail server compares byte for byte.
    pub fn read_expected_bytes(
        &mut self,
        server_path: &str,
        without_it: &str,
    ) -> Result<Option<Vec<u8>>, SourceError> {
        let bytes = self.read_optional_bytes(server_path)?;
        if bytes.is_none() {
            self.warn_missing(server_path, without_it);
        }
        Ok(bytes)
    }

    fn warn_missing(&mut self, server_path: &str, without_it: &str) {
        let file = self.root.display(server_path);
        self.warn(
            WarningKind::MissingFile,
            &file,
            None,
            format!("{file} not found under the root: {without_it}"),
        );
    }

    /// Read a file only some servers have (cPanel's NAT map): absent is
    /// silently `None`; present but unreadable is an error.
    pub fn read_optional(&self, server_path: &str) -> Result<Option<String>, SourceError> {
        match self.root.read_to_string(server_path) {
            Ok(text) => Ok(Some(text)),
            Err(SourceError::Io { source, .. }) if source.kind() == ErrorKind::NotFound => Ok(None),
            Err(other) => Err(other),
        }
    }

    /// [`Reading::read_optional`], as bytes: no decoding, so that a key is
    /// compared exactly as the mail server compares it.
    pub fn read_optional_bytes(&self, server_path: &str) -> Result<Option<Vec<u8>>, SourceError> {
        match self
            .root
            .read_bytes(server_path, crate::safe_fs::TABLE_LIMIT)
        {
            Ok(bytes) => Ok(Some(bytes)),
            Err(SourceError::Io { source, .. }) if source.kind() == ErrorKind::NotFound => Ok(None),
            Err(other) => Err(other),
        }
    }

    pub fn warn(&mut self, kind: WarningKind, file: &str, line: Option<u32>, message: String) {
        self.warnings.push(InventoryWarning {
            kind,
            file: Some(file.to_string()),
            line,
            parameter: None,
            message,
        });
    }

    /// Validate a name as configured; an invalid one is a warning naming
    /// the file and line, never an error.
    pub fn domain(&mut self, raw: &str, file: &str, line: u32) -> Option<DomainName> {
        match DomainName::parse(raw) {
            Ok(name) => Some(name),
            Err(error) => {
                self.warn(
                    WarningKind::InvalidDomain,
                    file,
                    Some(line),
                    format!("`{raw}` is not a valid domain name ({error}); ignored"),
                );
                None
            }
        }
    }

    /// The domain a key of a list file matches, compared the way `reader`
    /// compares it. A key that only looks like a domain (a trailing dot, a
    /// U-label, a blank or CR kept in the key) matches nothing: a warning
    /// naming the file and line says so, and `None`.
    pub fn list_domain(
        &mut self,
        key: &[u8],
        file: &str,
        line: u32,
        reader: ListReader,
    ) -> Option<DomainName> {
        let shown = || String::from_utf8_lossy(key).escape_debug().to_string();
        match list_key(key) {
            ListKey::Domain(name) => Some(name),
            ListKey::NeverMatches { name, spelling } => {
                let mta = reader.name();
                let advice = match spelling {
                    Spelling::TrailingDot => format!(
                        "{mta} compares the name byte for byte and mail never carries the dot; remove the trailing dot"
                    ),
                    Spelling::Utf8 => format!(
                        "{mta} compares bytes and senders use the A-label (only mail addressed in UTF-8 over SMTPUTF8 would match); write {name}"
                    ),
                    Spelling::Blank => {
                        format!("{mta} keeps the blank as part of the name; remove it")
                    }
                    Spelling::CarriageReturn => format!(
                        "the line ends in a carriage return (a file saved with Windows line ends) and {mta} keeps it as part of the name; remove it"
                    ),
                    Spelling::Other => {
                        format!("{mta} compares the name byte for byte; write {name}")
                    }
                };
                self.warn(
                    WarningKind::InvalidDomain,
                    file,
                    Some(line),
                    format!("`{}`: this entry never matches {name}: {advice}", shown()),
                );
                None
            }
            ListKey::Invalid(error) => {
                self.warn(
                    WarningKind::InvalidDomain,
                    file,
                    Some(line),
                    format!(
                        "`{}` is not a valid domain name ({error}); ignored",
                        shown()
                    ),
                );
                None
            }
        }
    }

    /// Call `each` with every domain an Exim lsearch file matches, its line
    /// and value, in file order. Keys that match no domain, indented lines
    /// (which Exim reads as continuations, not as keys) and lines Exim
    /// skips are warnings.
    pub fn each_lsearch_domain(
        &mut self,
        bytes: &[u8],
        file: &str,
        mut each: impl FnMut(&mut Self, DomainName, u32, Option<ByteSpan>, &str),
    ) {
        for entry in lsearch_lines(bytes) {
            match entry {
                // `*` is the default entry of a `*lsearch` lookup
                // (cPanel's /etc/userdomains has `*: nobody`).
                LsearchLine::Entry { key, .. } if *key == *b"*" => {}
                LsearchLine::Entry {
                    line,
                    key,
                    span,
                    value,
                } => {
                    if let Some(name) = self.list_domain(&key, file, line, ListReader::Exim) {
                        each(self, name, line, span, &value);
                    }
                }
                LsearchLine::Continuation { line, text } => {
                    if !text.starts_with('#') {
                        self.warn(
                            WarningKind::Suspicious,
                            file,
                            Some(line),
                            format!("`{text}` is indented: Exim reads it as the continuation of the previous entry, not as a domain"),
                        );
                    }
                }
                LsearchLine::Skipped {
                    line,
                    why: SkipReason::NulBefore,
                } => self.warn(
                    WarningKind::Suspicious,
                    file,
                    Some(line),
                    "Exim never reads this line: the line before it contains a NUL byte; remove the NUL".to_string(),
                ),
            }
        }
    }

    /// The server's primary host name, found at `server_path:line` (its
    /// bytes at `span`): a name of this server, and a domain Exim always
    /// delivers locally. cPanel also writes it into `/etc/localdomains`;
    /// that is no duplicate.
    pub fn declare_primary_hostname(
        &mut self,
        server_path: &str,
        line: u32,
        span: Option<ByteSpan>,
        raw: &str,
    ) {
        let file = self.root.display(server_path);
        let via = Via::ListFile(ListFile::EximPrimaryHostname);
        if let Some(name) = self.domain(raw, &file, line) {
            self.add_server_name(name.clone());
            match self.get(&name).map(|known| known.delivery) {
                Some(Delivery::Local) => {
                    self.declare(&name, Delivery::Local, &file, line, span, via);
                }
                _ => self.declare_listed(&name, Delivery::Local, &file, line, span, via),
            }
        }
    }

    /// An Exim domain list in lsearch format whose every name is delivered
    /// locally (cPanel `etc/localdomains`, DirectAdmin `etc/virtual/domains`).
    /// A missing list is a warning: only the primary host name is then known.
    /// Returns the file's bytes, for panels that check how its lines are
    /// written.
    pub fn read_exim_local_domains(
        &mut self,
        server_path: &str,
    ) -> Result<Option<Vec<u8>>, SourceError> {
        let Some(bytes) = self.read_expected_bytes(
            server_path,
            "no locally delivered domains are known besides the primary host name",
        )?
        else {
            return Ok(None);
        };
        let file = self.root.display(server_path);
        self.each_lsearch_domain(&bytes, &file, |reading, name, line, span, _| {
            let via = Via::ListFile(ListFile::EximLocalDomains);
            reading.declare_listed(&name, Delivery::Local, &file, line, span, via);
        });
        Ok(Some(bytes))
    }

    /// Owners from a panel's `domain: user` file (cPanel's
    /// `etc/userdomains`, DirectAdmin's `etc/virtual/domainowners`) into
    /// `facts.owner`. An owned domain that no mail list named is hosted with
    /// its mail off: `not-local`, declared here.
    pub fn owners(&mut self, bytes: &[u8], file: &str, via: ListFile) {
        let mut seen: BTreeSet<DomainName> = BTreeSet::new();
        self.each_lsearch_domain(bytes, file, |reading, name, line, span, owner| {
            if !seen.insert(name.clone()) {
                reading.warn(
                    WarningKind::DuplicateDomain,
                    file,
                    Some(line),
                    format!("{name} is listed again; the first owner is kept"),
                );
                return;
            }
            if reading.get(&name).is_none() {
                reading.declare(
                    &name,
                    Delivery::NotLocal,
                    file,
                    line,
                    span,
                    Via::ListFile(via),
                );
            }
            if let Some(known) = reading.get_mut(&name)
                && !owner.is_empty()
            {
                known.facts_mut().owner = Some(owner.to_string());
            }
        });
    }

    /// Record a declaration: `name` at `file:line`, its bytes at `span`.
    /// When the domain was declared before, returns its delivery and first
    /// declaration so the caller can say what the repetition means on its
    /// platform.
    pub fn declare(
        &mut self,
        name: &DomainName,
        delivery: Delivery,
        file: &str,
        line: u32,
        span: Option<ByteSpan>,
        via: Via,
    ) -> Option<(Delivery, Declared)> {
        let place = Declared::new(file, line, via).with_span(span);
        self.domains.declare(name.clone(), delivery, place)
    }

    /// Declare a name from a plain list of one delivery class, warning when
    /// the same file or an earlier file already listed it.
    pub fn declare_listed(
        &mut self,
        name: &DomainName,
        delivery: Delivery,
        file: &str,
        line: u32,
        span: Option<ByteSpan>,
        via: Via,
    ) {
        if let Some((earlier_delivery, first)) = self.declare(name, delivery, file, line, span, via)
        {
            let consequence = if earlier_delivery == delivery {
                String::new()
            } else {
                format!("; it stays {}", earlier_delivery.as_str())
            };
            self.warn(
                WarningKind::DuplicateDomain,
                file,
                Some(line),
                format!(
                    "{name} is listed again (first at {}:{}){consequence}",
                    first.file, first.line
                ),
            );
        }
    }

    pub fn get(&self, name: &DomainName) -> Option<&KnownDomain> {
        self.domains.get(name)
    }

    pub fn get_mut(&mut self, name: &DomainName) -> Option<&mut KnownDomain> {
        self.domains.get_mut(name)
    }

    /// The domains declared so far that are delivered here.
    pub fn local_domains(&self) -> impl Iterator<Item = &KnownDomain> {
        self.domains
            .domains()
            .filter(|known| known.delivery == Delivery::Local)
    }

    /// Every domain declared so far, sorted.
    pub fn names(&self) -> Vec<DomainName> {
        self.domains
            .domains()
            .map(|known| known.name.clone())
            .collect()
    }

    pub fn add_server_name(&mut self, name: DomainName) {
        if !self.server_names.contains(&name) {
            self.server_names.push(name);
        }
    }

    pub fn add_server_address(&mut self, address: IpAddr) {
        if !self.server_addresses.contains(&address) {
            self.server_addresses.push(address);
        }
    }

    pub fn finish(self, platform: Platform) -> Inventory {
        Inventory {
            platform,
            server_names: self.server_names,
            server_addresses: self.server_addresses,
            domains: self.domains.into_domains(),
            warnings: self.warnings,
            table_mismatches: self.table_mismatches,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entry_lines_skip_blank_and_comment_lines_and_keep_physical_numbers() {
        let text = "# header\n\n  Example.test  \n\t# indented comment\nother.test\n";
        let entries: Vec<_> = entry_lines(text).collect();
        assert_eq!(
            entries,
            vec![
                (3, ByteSpan::at(12, 12), "Example.test"),
                (5, ByteSpan::at(47, 10), "other.test")
            ]
        );
        for (_, span, entry) in entries {
            assert_eq!(&text[span.start..span.end], entry);
        }
        let crlf: Vec<_> = entry_lines("a.test\r\n b.test \r\n").collect();
        assert_eq!(
            crlf,
            vec![
                (1, ByteSpan::at(0, 6), "a.test"),
                (2, ByteSpan::at(9, 6), "b.test")
            ]
        );
    }

    fn entry(line: u32, key: &[u8], value: &str) -> LsearchLine<'static> {
        LsearchLine::Entry {
            line,
            key: Cow::Owned(key.to_vec()),
            span: None,
            value: Cow::Owned(value.to_string()),
        }
    }

    /// The lines with their spans left out (see the span test).
    fn lsearch_keys(bytes: &[u8]) -> Vec<LsearchLine<'_>> {
        lsearch_lines(bytes)
            .into_iter()
            .map(|line| match line {
                LsearchLine::Entry {
                    line, key, value, ..
                } => LsearchLine::Entry {
                    line,
                    key,
                    span: None,
                    value,
                },
                other => other,
            })
            .collect()
    }

    #[test]
    fn lsearch_unquoted_keys_keep_where_they_stand() {
        let text = b"a.test: x\r\n\"q.test\"\nlong.test\n";
        let spans: Vec<(Vec<u8>, Option<ByteSpan>)> = lsearch_lines(text)
            .into_iter()
            .filter_map(|l| match l {
                LsearchLine::Entry { key, span, .. } => Some((key.into_owned(), span)),
                _ => None,
            })
            .collect();
        assert_eq!(
            spans,
            vec![
                (b"a.test".to_vec(), Some(ByteSpan::at(0, 6))),
                (b"q.test".to_vec(), None),
                (b"long.test".to_vec(), Some(ByteSpan::at(20, 9))),
            ]
        );
    }

    #[test]
    fn lsearch_keys_end_at_colon_or_space_and_may_be_quoted() {
        let text = b"a.test: alice\nb.test bob\n\"c.test\": carol\n  continued\nd.test\n#x\n";
        assert_eq!(
            lsearch_keys(text),
            vec![
                entry(1, b"a.test", "alice"),
                entry(2, b"b.test", "bob"),
                entry(3, b"c.test", "carol continued"),
                LsearchLine::Continuation {
                    line: 4,
                    text: "continued".into()
                },
                entry(5, b"d.test", ""),
            ]
        );
    }

    #[test]
    fn lsearch_keeps_what_exim_keeps_in_a_key() {
        // Trailing white space (a CR included) goes; a trailing dot stays;
        // the last line needs no newline; `#` after a key is part of it.
        let text = b"crlf.test\r\ndot.test.\nMiXed.Test\t: v\nhash.test#c\nlast.test";
        let keys: Vec<Vec<u8>> = lsearch_lines(text)
            .into_iter()
            .filter_map(|l| match l {
                LsearchLine::Entry { key, .. } => Some(key.into_owned()),
                _ => None,
            })
            .collect();
        assert_eq!(
            keys,
            vec![
                b"crlf.test".to_vec(),
                b"dot.test.".to_vec(),
                b"MiXed.Test".to_vec(),
                b"hash.test#c".to_vec(),
                b"last.test".to_vec(),
            ]
        );
    }

    #[test]
    fn lsearch_quoted_keys_interpret_exim_escapes() {
        let text =
            b"\"a\\x2etest\"\n\"b\\056test\":v\n\"sp ace.test\"\n\"unterminated.test\n\"end\\\n";
        assert_eq!(
            lsearch_keys(text),
            vec![
                entry(1, b"a.test", ""),
                entry(2, b"b.test", "v"),
                entry(3, b"sp ace.test", ""),
                entry(4, b"unterminated.test", ""),
                entry(5, b"end\\", ""),
            ]
        );
        assert_eq!(exim_escape(b"x"), (0, 1));
        assert_eq!(exim_escape(b"777"), (0xff, 3));
        assert_eq!(exim_escape(b"9"), (b'9', 1));
    }

    #[test]
    fn lsearch_reads_long_lines_and_nul_bytes_as_fgets_does() {
        // A line of more than 4095 bytes: only its first piece holds a key.
        let mut text = b"long.test".to_vec();
        text.extend(std::iter::repeat_n(b' ', 5000));
        text.extend_from_slice(b"tail.test\nnext.test\n");
        // The rest of the line is data, its blanks included.
        let data = format!("{}tail.test", " ".repeat(5000 - (4095 - 9)));
        assert_eq!(
            lsearch_keys(&text),
            vec![entry(1, b"long.test", &data), entry(2, b"next.test", "")]
        );
        // A NUL ends what Exim sees of a line and hides its newline: the
        // line after it is lost.
        let text = b"nul.test\0junk\nlost.test\nfound.test\n";
        assert_eq!(
            lsearch_keys(text),
            vec![
                entry(1, b"nul.test", "lost.test"),
                LsearchLine::Skipped {
                    line: 2,
                    why: SkipReason::NulBefore
                },
                entry(3, b"found.test", ""),
            ]
        );
    }

    #[test]
    fn list_keys_match_only_their_own_spelling() {
        let name = |s: &str| DomainName::parse(s).unwrap();
        assert_eq!(list_key(b"Shop.TEST"), ListKey::Domain(name("shop.test")));
        assert_eq!(
            list_key(b"dot.test."),
            ListKey::NeverMatches {
                name: name("dot.test"),
                spelling: Spelling::TrailingDot
            }
        );
        assert_eq!(
            list_key("bücher.test".as_bytes()),
            ListKey::NeverMatches {
                name: name("xn--bcher-kva.test"),
                spelling: Spelling::Utf8
            }
        );
        assert_eq!(
            list_key(b" lead.test"),
            ListKey::NeverMatches {
                name: name("lead.test"),
                spelling: Spelling::Blank
            }
        );
        assert_eq!(
            list_key(b"cr.test\r"),
            ListKey::NeverMatches {
                name: name("cr.test"),
                spelling: Spelling::CarriageReturn
            }
        );
        assert!(matches!(list_key(b"bad_dom!.test"), ListKey::Invalid(_)));
        assert!(matches!(list_key(b"\xff.test"), ListKey::Invalid(_)));
    }

    #[test]
    fn primary_hostname_in_the_local_list_is_no_duplicate() {
        let root = ConfigRoot::new("/nonexistent");
        let mut reading = Reading::new(&root);
        let name = DomainName::parse("cp.hoster.test").unwrap();
        reading.declare_listed(
            &name,
            Delivery::Local,
            "etc/localdomains",
            1,
            None,
            Via::ListFile(ListFile::EximLocalDomains),
        );
        reading.declare_primary_hostname("etc/hostname", 1, None, "cp.hoster.test");
        let inventory = reading.finish(Platform::Cpanel);
        assert!(inventory.warnings.is_empty(), "{:?}", inventory.warnings);
        assert_eq!(inventory.domains[0].declared.len(), 2);
    }

    #[test]
    fn missing_expected_file_is_a_warning_and_a_directory_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("etc/localdomains")).unwrap();
        let root = ConfigRoot::new(dir.path());
        let mut reading = Reading::new(&root);
        assert!(
            reading
                .read_expected("/etc/absent", "nothing")
                .unwrap()
                .is_none()
        );
        assert_eq!(reading.warnings.len(), 1);
        assert_eq!(reading.warnings[0].kind, WarningKind::MissingFile);
        assert_eq!(reading.warnings[0].file.as_deref(), Some("etc/absent"));
        match reading.read_expected("/etc/localdomains", "nothing") {
            Err(SourceError::File { file, .. }) => assert_eq!(file, "etc/localdomains"),
            other => panic!("expected a refused file, got {other:?}"),
        }
    }

    #[test]
    fn repeated_names_warn_and_keep_the_first_delivery() {
        let root = ConfigRoot::new("/nonexistent");
        let mut reading = Reading::new(&root);
        let name = DomainName::parse("dup.test").unwrap();
        let (v, w) = (
            Via::ListFile(ListFile::DomainsFile),
            Via::ListFile(ListFile::QmailLocals),
        );
        reading.declare_listed(&name, Delivery::Local, "f", 1, None, v);
        reading.declare_listed(&name, Delivery::Relay, "g", 7, None, w);
        let inventory = reading.finish(Platform::List);
        assert_eq!(inventory.domains.len(), 1);
        assert_eq!(inventory.domains[0].delivery, Delivery::Local);
        assert_eq!(inventory.domains[0].declared.len(), 2);
        assert_eq!(inventory.warnings.len(), 1);
        assert_eq!(inventory.warnings[0].kind, WarningKind::DuplicateDomain);
        assert_eq!(inventory.warnings[0].line, Some(7));
        assert!(inventory.warnings[0].message.contains("first at f:1"));
        assert!(inventory.warnings[0].message.contains("stays local"));
    }
}
