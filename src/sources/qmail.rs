//! qmail (plain, or under Plesk): the control files in `/var/qmail/control/`.
//!
//! qmail's semantics (qmail-send(8), qmail-smtpd(8)):
//! - `locals`: domains delivered to local users. When the file is absent,
//!   qmail uses the contents of `me`.
//! - `virtualdomains`: `domain:prepend` lines, delivered locally after a
//!   rewrite; checked after `locals`. `user@domain:prepend` concerns one
//!   address, `.domain:prepend` every subdomain, `:prepend` everything, and
//!   an empty prepend is an exception (the domain is *not* virtual). Of two
//!   lines with the same domain the *last* one counts (qmail's `constmap`
//!   puts later entries in front).
//! - `rcpthosts` (and its overflow `morercpthosts`, compiled by
//!   `qmail-newmrh`): domains qmail-smtpd accepts from outside. A domain
//!   accepted but neither in `locals` nor in `virtualdomains` is sent on to
//!   its MX: `relay`.
//!
//! qmail reads control files byte for byte (`control.c`): it removes only
//! trailing blanks, tabs and the newline, skips empty lines and lines
//! starting with `#`, and compares the rest with a domain ASCII
//! case-insensitively. A carriage return at the end of a line or a blank
//! at its start is part of the name, so the entry never matches; a NUL
//! byte splits a line into two entries.

use std::collections::{BTreeMap, BTreeSet};

use crate::inventory::{
    BuiltIn, ByteSpan, Delivery, DomainName, Inventory, ListFile, Platform, Via, WarningKind,
};
use crate::sources::reading::{ListReader, Reading, line_number};
use crate::sources::{Marker, Source, SourceError, SourceOptions};

pub const CONTROL_DIR: &str = "var/qmail/control/";
const ME: &str = "var/qmail/control/me";
pub(crate) const LOCALS: &str = "var/qmail/control/locals";
pub(crate) const VIRTUALDOMAINS: &str = "var/qmail/control/virtualdomains";
pub(crate) const RCPTHOSTS: &str = "var/qmail/control/rcpthosts";
/// The overflow of `rcpthosts`; qmail reads it compiled, as
/// `morercpthosts.cdb`, which `qmail-newmrh` builds from it.
pub(crate) const MORERCPTHOSTS: &str = "var/qmail/control/morercpthosts";

/// The plain qmail reader.
#[derive(Debug, Clone, Copy, Default)]
pub struct Qmail;

impl Source for Qmail {
    fn platform(&self) -> Platform {
        Platform::Qmail
    }

    fn markers(&self) -> &'static [Marker] {
        &[Marker(&[CONTROL_DIR])]
    }

    fn programs(&self) -> &'static [Marker] {
        &[Marker(&["var/qmail/bin/qmail-send"])]
    }

    fn read(&self, opts: &SourceOptions) -> Result<Inventory, SourceError> {
        let mut reading = Reading::new(&opts.root);
        read_control(&mut reading)?;
        Ok(reading.finish(Platform::Qmail))
    }
}

/// Read qmail's control files into `reading` (shared with Plesk on qmail).
pub(crate) fn read_control(reading: &mut Reading<'_>) -> Result<(), SourceError> {
    let me = read_me(reading)?;
    read_locals(reading, me)?;
    read_virtualdomains(reading)?;
    read_rcpthosts(reading)
}

/// One entry of a control file as qmail stores it: its physical line, its
/// bytes, and where they stand in the file.
#[derive(Debug, Clone, PartialEq, Eq)]
struct ControlEntry<'b> {
    line: u32,
    bytes: &'b [u8],
    span: ByteSpan,
}

/// One physical line of a file without its newline.
struct PhysicalLine<'b> {
    line: u32,
    /// Where the line starts in the file.
    offset: usize,
    bytes: &'b [u8],
}

impl<'b> PhysicalLine<'b> {
    /// An entry made of `piece`, a part of this line.
    fn entry(&self, piece: &'b [u8], at: usize) -> ControlEntry<'b> {
        ControlEntry {
            line: self.line,
            bytes: piece,
            span: ByteSpan::at(self.offset + at, piece.len()),
        }
    }
}

/// The physical lines of a file without their newlines, numbered; a last
/// line without a newline counts, an empty one does not.
fn physical_lines(bytes: &[u8]) -> impl Iterator<Item = PhysicalLine<'_>> {
    let ends_with_newline = bytes.last() == Some(&b'\n');
    let mut lines: Vec<&[u8]> = bytes.split(|&b| b == b'\n').collect();
    if ends_with_newline || bytes.is_empty() {
        lines.pop();
    }
    lines
        .into_iter()
        .enumerate()
        .scan(0usize, |offset, (index, line)| {
            let start = *offset;
            *offset += line.len() + 1;
            Some(PhysicalLine {
                line: line_number(index),
                offset: start,
                bytes: line,
            })
        })
}

/// qmail's `striptrailingwhitespace()`: blanks, tabs and newlines only.
fn strip_trailing_blanks(mut line: &[u8]) -> &[u8] {
    while let [rest @ .., b' ' | b'\t' | b'\n'] = line {
        line = rest;
    }
    line
}

/// The entries of a control file as `control_readfile()` reads it: empty
/// lines and lines starting with `#` are skipped; every entry ends at a NUL
/// byte (qmail stores entries NUL-terminated, so a NUL in a line splits it).
fn control_entries(bytes: &[u8]) -> Vec<ControlEntry<'_>> {
    let mut entries = Vec::new();
    for physical in physical_lines(bytes) {
        let text = strip_trailing_blanks(physical.bytes);
        match text.first() {
            None | Some(b'#') | Some(0) => continue,
            Some(_) => {}
        }
        let mut at = 0;
        for piece in text.split(|&b| b == 0) {
            if !piece.is_empty() {
                entries.push(physical.entry(piece, at));
            }
            at += piece.len() + 1;
        }
    }
    entries
}

/// The entries of `morercpthosts` as `qmail-newmrh` compiles them: the same
/// trailing blanks go, but a NUL stays part of the key.
fn newmrh_entries(bytes: &[u8]) -> Vec<ControlEntry<'_>> {
    physical_lines(bytes)
        .filter_map(|physical| {
            let text = strip_trailing_blanks(physical.bytes);
            (!text.is_empty() && text[0] != b'#').then(|| physical.entry(text, 0))
        })
        .collect()
}

/// The first line of `me`, kept for the default of `locals`.
struct MeLine {
    line: u32,
    bytes: Vec<u8>,
    span: ByteSpan,
}

/// `me`: the host's own name (its first line, as `control_readline()`
/// reads it); also the default of `locals`. Returns the name's bytes and
/// line for that default.
fn read_me(reading: &mut Reading<'_>) -> Result<Option<MeLine>, SourceError> {
    let Some(bytes) = reading.read_expected_bytes(ME, "the server's own name is unknown")? else {
        return Ok(None);
    };
    let file = reading.root.display(ME);
    let first = physical_lines(&bytes).next().map(|physical| {
        let name = strip_trailing_blanks(physical.bytes);
        MeLine {
            line: physical.line,
            bytes: name.to_vec(),
            span: ByteSpan::at(physical.offset, name.len()),
        }
    });
    let Some(me) = first.filter(|me| !me.bytes.is_empty()) else {
        reading.warn(
            WarningKind::Suspicious,
            &file,
            Some(1),
            "the first line of `me` is empty: qmail has no name for this host".to_string(),
        );
        return Ok(None);
    };
    if let Some(name) = reading.list_domain(&me.bytes, &file, me.line, ListReader::Qmail) {
        reading.add_server_name(name);
    }
    Ok(Some(me))
}

fn read_locals(reading: &mut Reading<'_>, me: Option<MeLine>) -> Result<(), SourceError> {
    let Some(bytes) = reading.read_optional_bytes(LOCALS)? else {
        // qmail-send's documented default: `locals` is `me`.
        let file = reading.root.display(LOCALS);
        let consequence = match &me {
            Some(me) => format!(
                "qmail delivers only {} (from `me`) locally",
                String::from_utf8_lossy(&me.bytes).escape_debug()
            ),
            None => "and `me` is missing too: qmail-send refuses to run".to_string(),
        };
        reading.warn(
            WarningKind::MissingFile,
            &file,
            None,
            format!("{file} not found under the root: {consequence}"),
        );
        if let Some(me) = me {
            let me_file = reading.root.display(ME);
            // The server name was already checked (and warned about).
            if let Ok(text) = std::str::from_utf8(&me.bytes)
                && let Ok(name) = DomainName::parse(text)
                && name.as_str() == text.to_ascii_lowercase()
            {
                reading.declare_listed(
                    &name,
                    Delivery::Local,
                    &me_file,
                    me.line,
                    Some(me.span),
                    Via::Default(BuiltIn::QmailLocalsIsMe),
                );
            }
        }
        return Ok(());
    };
    let file = reading.root.display(LOCALS);
    for entry in control_entries(&bytes) {
        if let Some(name) = reading.list_domain(entry.bytes, &file, entry.line, ListReader::Qmail) {
            let via = Via::ListFile(ListFile::QmailLocals);
            reading.declare_listed(
                &name,
                Delivery::Local,
                &file,
                entry.line,
                Some(entry.span),
                via,
            );
        }
    }
    Ok(())
}

/// A `virtualdomains` line for one whole domain.
struct VirtualDomain {
    name: DomainName,
    line: u32,
    /// The domain's bytes (before the colon).
    span: ByteSpan,
    /// An empty prepend: the domain is an exception, not virtual.
    exception: bool,
}

fn read_virtualdomains(reading: &mut Reading<'_>) -> Result<(), SourceError> {
    let Some(bytes) = reading.read_expected_bytes(
        VIRTUALDOMAINS,
        "no virtual domains are known (qmail delivers only `locals`)",
    )?
    else {
        return Ok(());
    };
    let file = reading.root.display(VIRTUALDOMAINS);
    let mut domains: Vec<VirtualDomain> = Vec::new();
    for entry in control_entries(&bytes) {
        let line = entry.line;
        let shown = String::from_utf8_lossy(entry.bytes)
            .escape_debug()
            .to_string();
        // constmap's key ends at the first colon; an entry without one is
        // not in the map at all.
        let Some(colon) = entry.bytes.iter().position(|&b| b == b':') else {
            reading.warn(
                WarningKind::Suspicious,
                &file,
                Some(line),
                format!("`{shown}` has no `:prepend`; qmail-send ignores the line"),
            );
            continue;
        };
        let (key, prepend) = (&entry.bytes[..colon], &entry.bytes[colon + 1..]);
        let exception = prepend.is_empty();
        if key.is_empty() {
            if !exception {
                reading.warn(
                    WarningKind::NotEnumerable,
                    &file,
                    Some(line),
                    format!("`{shown}` makes every domain not listed elsewhere a virtual domain delivered here; those names cannot be listed"),
                );
            }
            continue;
        }
        if let Some(parent) = key.strip_prefix(b".") {
            if !exception {
                reading.warn(
                    WarningKind::NotEnumerable,
                    &file,
                    Some(line),
                    format!(
                        "`{shown}` delivers every subdomain of {} here; subdomains cannot be listed",
                        String::from_utf8_lossy(parent)
                    ),
                );
            }
            continue;
        }
        if key.contains(&b'@') {
            if !exception {
                reading.warn(
                    WarningKind::Suspicious,
                    &file,
                    Some(line),
                    format!(
                        "`{shown}` delivers only the address {} here, not its whole domain; not audited",
                        String::from_utf8_lossy(key)
                    ),
                );
            }
            continue;
        }
        if let Some(name) = reading.list_domain(key, &file, line, ListReader::Qmail) {
            domains.push(VirtualDomain {
                name,
                line,
                span: ByteSpan::at(entry.span.start, key.len()),
                exception,
            });
        }
    }
    // The last line of a domain decides (qmail's constmap finds the entry
    // added last); every line that delivers it is declared, so that a fix
    // removes them all.
    let last_is_exception: BTreeMap<&DomainName, bool> = domains
        .iter()
        .map(|domain| (&domain.name, domain.exception))
        .collect();
    let mut delivered: Vec<(DomainName, u32, ByteSpan)> = Vec::new();
    for domain in &domains {
        if domain.exception || last_is_exception.get(&domain.name) == Some(&true) {
            continue;
        }
        delivered.push((domain.name.clone(), domain.line, domain.span));
    }
    let via = Via::ListFile(ListFile::QmailVirtualDomains);
    for (name, line, span) in delivered {
        reading.declare_listed(&name, Delivery::Local, &file, line, Some(span), via);
    }
    Ok(())
}

fn read_rcpthosts(reading: &mut Reading<'_>) -> Result<(), SourceError> {
    let rcpthosts = reading.read_expected_bytes(
        RCPTHOSTS,
        "qmail-smtpd then accepts mail for every domain (an open relay)",
    )?;
    let more = reading.read_optional_bytes(MORERCPTHOSTS)?;
    let mut accepted: BTreeSet<DomainName> = BTreeSet::new();
    let files = [
        (
            RCPTHOSTS,
            ListFile::QmailRcptHosts,
            rcpthosts.as_deref().map(control_entries),
        ),
        (
            MORERCPTHOSTS,
            ListFile::QmailMoreRcptHosts,
            more.as_deref().map(newmrh_entries),
        ),
    ];
    for (path, list, entries) in files {
        let via = Via::ListFile(list);
        let Some(entries) = entries else { continue };
        let file = reading.root.display(path);
        for entry in entries {
            let line = entry.line;
            if let Some(parent) = entry.bytes.strip_prefix(b".") {
                reading.warn(
                    WarningKind::NotEnumerable,
                    &file,
                    Some(line),
                    format!(
                        "`{}` accepts mail for every subdomain of {}; subdomains cannot be listed",
                        String::from_utf8_lossy(entry.bytes),
                        String::from_utf8_lossy(parent)
                    ),
                );
                continue;
            }
            let Some(name) = reading.list_domain(entry.bytes, &file, line, ListReader::Qmail)
            else {
                continue;
            };
            if accepted.contains(&name) {
                reading.declare_listed(&name, Delivery::Relay, &file, line, Some(entry.span), via);
                continue;
            }
            accepted.insert(name.clone());
            // Accepted and delivered here is the normal case for a local
            // domain; accepted only is a relay.
            reading.declare(&name, Delivery::Relay, &file, line, Some(entry.span), via);
        }
    }
    if rcpthosts.is_none() {
        return Ok(());
    }
    let refused: Vec<(DomainName, String, u32)> = reading_local_names(reading)
        .into_iter()
        .filter(|(name, _, _)| !accepted.contains(name) && !name.is_localhost())
        .collect();
    let rcpthosts_file = reading.root.display(RCPTHOSTS);
    for (name, file, line) in refused {
        reading.warn(
            WarningKind::Suspicious,
            &file,
            Some(line),
            format!("{name} is delivered here but not in {rcpthosts_file}: qmail-smtpd refuses mail for it from outside, only mail sent on this server arrives"),
        );
    }
    Ok(())
}

/// The local domains read so far, with their first declaration.
fn reading_local_names(reading: &Reading<'_>) -> Vec<(DomainName, String, u32)> {
    reading
        .local_domains()
        .filter_map(|known| {
            let first = known.declared.first()?;
            Some((known.name.clone(), first.file.clone(), first.line))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sources::ConfigRoot;
    use crate::test_support::tree;

    fn read(dir: &tempfile::TempDir) -> Inventory {
        let root = ConfigRoot::new(dir.path());
        let mut reading = Reading::new(&root);
        read_control(&mut reading).unwrap();
        reading.finish(Platform::Qmail)
    }

    #[test]
    fn locals_defaults_to_me() {
        let dir = tree(&[
            (ME, "mail.hoster.test\n"),
            (VIRTUALDOMAINS, ""),
            (RCPTHOSTS, "mail.hoster.test\n"),
        ]);
        let inventory = read(&dir);
        assert_eq!(inventory.domains.len(), 1);
        assert_eq!(inventory.domains[0].name.as_str(), "mail.hoster.test");
        assert_eq!(inventory.domains[0].delivery, Delivery::Local);
        assert_eq!(inventory.domains[0].declared[0].file, ME);
        assert_eq!(
            inventory.domains[0].declared[0].via,
            Via::Default(BuiltIn::QmailLocalsIsMe)
        );
        assert_eq!(inventory.warnings.len(), 1);
        assert_eq!(inventory.warnings[0].kind, WarningKind::MissingFile);
    }

    #[test]
    fn virtualdomains_forms() {
        let dir = tree(&[
            (ME, "mail.hoster.test\n"),
            (LOCALS, "localhost\n"),
            (
                VIRTUALDOMAINS,
                "shop.test:shop\nnot-virtual.test:\n.wild.test:w\nbob@one.test:bob\n:catchall\nnocolon.test\n",
            ),
            (RCPTHOSTS, "shop.test\nnot-virtual.test\n"),
        ]);
        let inventory = read(&dir);
        let domains: Vec<_> = inventory
            .domains
            .iter()
            .map(|d| (d.name.as_str(), d.delivery))
            .collect();
        assert_eq!(
            domains,
            vec![
                ("localhost", Delivery::Local),
                ("not-virtual.test", Delivery::Relay),
                ("shop.test", Delivery::Local),
            ]
        );
        let kinds: Vec<_> = inventory
            .warnings
            .iter()
            .map(|w| (w.kind, w.line))
            .collect();
        assert_eq!(
            kinds,
            vec![
                (WarningKind::NotEnumerable, Some(3)),
                (WarningKind::Suspicious, Some(4)),
                (WarningKind::NotEnumerable, Some(5)),
                (WarningKind::Suspicious, Some(6)),
            ]
        );
    }

    #[test]
    fn control_entries_strip_only_trailing_blanks_tabs_and_newlines() {
        let text = b"# comment\n\nplain.test \t\n crlf-lead.test\ncr.test\r\nsplit.test\0two.test\n\0hidden.test\nlast.test";
        let entries: Vec<(u32, Vec<u8>)> = control_entries(text)
            .into_iter()
            .map(|e| (e.line, e.bytes.to_vec()))
            .collect();
        assert_eq!(
            entries,
            vec![
                (3, b"plain.test".to_vec()),
                (4, b" crlf-lead.test".to_vec()),
                (5, b"cr.test\r".to_vec()),
                (6, b"split.test".to_vec()),
                (6, b"two.test".to_vec()),
                (8, b"last.test".to_vec()),
            ]
        );
        for entry in control_entries(text) {
            assert_eq!(&text[entry.span.start..entry.span.end], entry.bytes);
        }
        for entry in newmrh_entries(text) {
            assert_eq!(&text[entry.span.start..entry.span.end], entry.bytes);
        }
    }

    #[test]
    fn a_cr_in_locals_and_a_blank_in_virtualdomains_never_match() {
        let dir = tree(&[
            (ME, "mail.hoster.test\n"),
            (LOCALS, "mail.hoster.test\r\ncr.test\r\n"),
            (VIRTUALDOMAINS, " lead.test:lead\ngood.test:good\n"),
            (RCPTHOSTS, "cr.test\nlead.test\ngood.test\n"),
        ]);
        let inventory = read(&dir);
        let domains: Vec<_> = inventory
            .domains
            .iter()
            .map(|d| (d.name.as_str(), d.delivery))
            .collect();
        assert_eq!(
            domains,
            vec![
                ("cr.test", Delivery::Relay),
                ("good.test", Delivery::Local),
                ("lead.test", Delivery::Relay),
            ]
        );
        let never: Vec<_> = inventory
            .warnings
            .iter()
            .filter(|w| w.message.contains("never matches"))
            .map(|w| (w.file.as_deref().unwrap_or_default(), w.line))
            .collect();
        assert_eq!(
            never,
            vec![
                (LOCALS, Some(1)),
                (LOCALS, Some(2)),
                (VIRTUALDOMAINS, Some(1))
            ]
        );
    }

    #[test]
    fn the_last_virtualdomains_line_of_a_domain_counts() {
        let dir = tree(&[
            (ME, "mail.hoster.test\n"),
            (LOCALS, "mail.hoster.test\n"),
            (
                VIRTUALDOMAINS,
                "on-then-off.test:a\nOn-Then-Off.TEST:\noff-then-on.test:\noff-then-on.test:b\ntwice.test:c\ntwice.test:d\n",
            ),
            (
                RCPTHOSTS,
                "mail.hoster.test\non-then-off.test\noff-then-on.test\ntwice.test\n",
            ),
        ]);
        let inventory = read(&dir);
        let domains: Vec<_> = inventory
            .domains
            .iter()
            .map(|d| {
                (
                    d.name.as_str(),
                    d.delivery,
                    d.declared.iter().map(|p| p.line).collect::<Vec<_>>(),
                )
            })
            .collect();
        assert_eq!(
            domains,
            vec![
                ("mail.hoster.test", Delivery::Local, vec![1, 1]),
                ("off-then-on.test", Delivery::Local, vec![4, 3]),
                ("on-then-off.test", Delivery::Relay, vec![2]),
                ("twice.test", Delivery::Local, vec![5, 6, 4]),
            ]
        );
    }
}
