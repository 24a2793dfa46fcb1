//! Edits of configuration text that remove a domain from the place it is
//! declared (or add it to a relay list) and leave every other byte alone:
//! comments, order, separators and indentation of the rest of the file stay
//! as the admin wrote them, so the diff shows only the change that matters.
//! The result is rendered as a unified diff with `similar`.
//!
//! Facts a newcomer would get wrong:
//! - A removal splices exactly the bytes the reader recorded for the name
//!   ([`ByteSpan`]), never a name found again by searching the line. The
//!   line around it only says which separators go with it, and refuses a
//!   span that is not one whole item of the line as Postfix splits it.
//! - Spans are offsets into the file as the audit read it; remediation
//!   edits a file only when it still holds those bytes. Within one plan,
//!   every byte remembers where it stood, so later edits of a line an
//!   earlier edit changed still find their name (or refuse when its bytes
//!   were rewritten).
//! - Nothing here falls back to an empty string: a slice that is not there
//!   is an [`EditError`], because in a file editor a silent empty slice
//!   deletes text.

use std::collections::BTreeMap;
use std::ops::Range;

use similar::TextDiff;

use crate::inventory::{ByteSpan, DomainName, PostfixParam};
use crate::sources::postfix::lexer::Physical;
use crate::sources::postfix::maincf::MainCf;
use crate::sources::postfix::tables::split_tokens;

/// How a file declares domains; decides what removing one means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PlaceKind {
    /// A main.cf parameter value: the `name = ...` line or one of its
    /// continuation lines.
    MainCf,
    /// A Postfix `/file/name` list: names separated by commas and white
    /// space, `#` comments.
    ListFile,
    /// A Postfix lookup-table source: the whole entry (key line and its
    /// continuation lines) goes.
    TableSource,
    /// One name per line, maybe followed by a `#` comment: qmail control
    /// files, Exim and plain domain lists.
    LinePerName,
    /// qmail `virtualdomains`: `domain:prepend` lines.
    QmailVirtualDomains,
    /// A shell assignment of Debian's update-exim4.conf.conf,
    /// `dc_other_hostnames='a.test;b.test'`: names separated by `;` or `:`
    /// (and blanks) inside the quotes.
    DebianList,
}

/// One change to one file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EditOp {
    /// Remove `domain` from the 1-based physical `line`, where the reader
    /// recorded its bytes at `spans` (one per occurrence; none: it is not
    /// written there as one piece, and the removal is refused).
    Remove {
        line: u32,
        spans: Vec<ByteSpan>,
        kind: PlaceKind,
        domain: DomainName,
    },
    /// Add `domain` to the value of a main.cf parameter (defining it at
    /// the end of the file when it is not set).
    AppendToParam {
        param: PostfixParam,
        domain: DomainName,
    },
    /// Add a line holding `domain` at the end of a one-name-per-line file.
    AppendLine { domain: DomainName },
}

/// Why an edit cannot be made safely; the domain is then left for a human.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EditError {
    #[error("{file}:{line}: no such line (the file changed since it was read?)")]
    NoSuchLine { file: String, line: u32 },
    #[error(
        "{file}:{line}: {domain} is not written there as a plain name (it comes from an expansion, a pattern or a table reference); change it by hand"
    )]
    NotLiteral {
        file: String,
        line: u32,
        domain: DomainName,
    },
    #[error(
        "{file}:{line}: the value holds a `#`, which Postfix reads differently across versions; change it by hand"
    )]
    InlineComment { file: String, line: u32 },
    #[error("{file}: the edited main.cf would not parse: {message}")]
    Unparsable { file: String, message: String },
    #[error(
        "{file}:{line}: the bytes recorded for {domain} hold `{found}`, not that name: the file is not what was read; nothing changed"
    )]
    SpanMismatch {
        file: String,
        line: u32,
        domain: DomainName,
        found: String,
    },
    #[error(
        "{file}:{line}: the bytes recorded for {domain} lie outside line {line} of the file (the file changed since it was read?); nothing changed"
    )]
    SpanOutside {
        file: String,
        line: u32,
        domain: DomainName,
    },
    #[error(
        "{file}:{line}: another change of this plan already rewrote the bytes of {domain} (is it declared twice at the same place?); change it by hand"
    )]
    SpanEdited {
        file: String,
        line: u32,
        domain: DomainName,
    },
    #[error(
        "{file}:{line}: internal: byte offsets {start}..{end} do not fall on the line's characters; nothing changed"
    )]
    Offsets {
        file: String,
        line: u32,
        start: usize,
        end: usize,
    },
}

/// Where a byte of an edited line stood in the original line: mxdrift
/// wrote the bytes marked so.
const ADDED: u32 = u32::MAX;

/// A line an edit changed: its text (with its line ending), and for each
/// byte its column in the original line, or [`ADDED`].
#[derive(Debug, Clone, PartialEq, Eq)]
struct EditedLine {
    text: String,
    columns: Vec<u32>,
}

impl EditedLine {
    /// An unchanged line.
    fn original(text: &str) -> Option<EditedLine> {
        let len = u32::try_from(text.len()).ok()?;
        Some(EditedLine {
            text: text.to_string(),
            columns: (0..len).collect(),
        })
    }

    /// The text without its line ending, and the ending.
    fn split(&self) -> (&str, &str) {
        split_ending(&self.text)
    }

    /// Delete `range` of the current text.
    fn delete(&mut self, range: Range<usize>) -> Option<()> {
        if range.start > range.end || !self.text.is_char_boundary(range.start) {
            return None;
        }
        self.text.get(range.clone())?;
        self.text.replace_range(range.clone(), "");
        self.columns.drain(range);
        Some(())
    }

    /// Insert text mxdrift writes at `at` of the current text.
    fn insert(&mut self, at: usize, text: &str) -> Option<()> {
        if !self.text.is_char_boundary(at) {
            return None;
        }
        self.text.insert_str(at, text);
        let added = std::iter::repeat_n(ADDED, text.len());
        self.columns.splice(at..at, added);
        Some(())
    }

    /// Where the original columns `start..end` are now, when all of those
    /// bytes are still there, in order and side by side.
    fn find(&self, start: u32, end: u32) -> Option<Range<usize>> {
        // Added text only ever goes before the line ending, after every
        // column a name can have: before `start` the columns ascend.
        let at = self.columns.partition_point(|&c| c != ADDED && c < start);
        let len = usize::try_from(end.checked_sub(start)?).ok()?;
        let here = self.columns.get(at..at + len)?;
        let whole = here.iter().zip(start..end).all(|(c, want)| *c == want);
        whole.then_some(at..at + len)
    }
}

/// A file's text being edited. Line numbers and spans keep meaning what
/// they meant in the text the audit read while lines change and go.
/// Lines mxdrift adds end as the file's lines do (CRLF in a CRLF file).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileText {
    /// The text as read.
    original: String,
    /// Where each physical line starts in `original` (a line includes its
    /// ending).
    starts: Vec<usize>,
    /// The lines changed so far, by index; `None` marks a removed line.
    changed: BTreeMap<usize, Option<EditedLine>>,
    /// Lines added at the end.
    appended: Vec<String>,
    /// The file's line ending: that of its first line (`\n` without one).
    newline: &'static str,
}

impl FileText {
    pub fn new(text: &str) -> Self {
        let newline = match text.split_inclusive('\n').next() {
            Some(first) if first.ends_with("\r\n") => "\r\n",
            _ => "\n",
        };
        let mut starts = Vec::new();
        let mut at = 0;
        for line in text.split_inclusive('\n') {
            starts.push(at);
            at += line.len();
        }
        FileText {
            original: text.to_string(),
            starts,
            changed: BTreeMap::new(),
            appended: Vec::new(),
            newline,
        }
    }

    /// The current text.
    pub fn render(&self) -> String {
        let mut out = String::with_capacity(self.original.len());
        for (index, line) in self.original.split_inclusive('\n').enumerate() {
            match self.changed.get(&index) {
                None => out.push_str(line),
                Some(Some(edited)) => out.push_str(&edited.text),
                Some(None) => {}
            }
        }
        if !self.appended.is_empty() && !out.is_empty() && !out.ends_with('\n') {
            out.push_str(self.newline);
        }
        for line in &self.appended {
            out.push_str(line);
        }
        out
    }

    /// Apply one operation; on error the text is unchanged.
    pub fn apply(&mut self, file: &str, op: &EditOp) -> Result<(), EditError> {
        match op {
            EditOp::Remove {
                line,
                spans,
                kind,
                domain,
            } => {
                let at = Place { file, line: *line };
                if spans.is_empty() {
                    return Err(at.not_literal(domain));
                }
                // Every occurrence goes, or none.
                let before = self.changed.clone();
                for span in spans {
                    if let Err(error) = self.remove(at, *span, *kind, domain) {
                        self.changed = before;
                        return Err(error);
                    }
                }
                Ok(())
            }
            EditOp::AppendToParam { param, domain } => {
                self.append_to_param(file, param.as_str(), domain)
            }
            EditOp::AppendLine { domain } => {
                self.appended.push(format!("{domain}{}", self.newline));
                Ok(())
            }
        }
    }

    /// The bytes of line `index` in the original text, ending included.
    fn original_range(&self, index: usize) -> Option<Range<usize>> {
        let start = *self.starts.get(index)?;
        let end = self
            .starts
            .get(index + 1)
            .copied()
            .unwrap_or(self.original.len());
        Some(start..end)
    }

    /// The text of line `index` now, ending included; `None` when it was
    /// removed or does not exist.
    fn text_of(&self, index: usize) -> Option<&str> {
        match self.changed.get(&index) {
            Some(line) => line.as_ref().map(|line| line.text.as_str()),
            None => self.original.get(self.original_range(index)?),
        }
    }

    /// Line `index` as it is now, to edit; `None` when it was removed or
    /// does not exist.
    fn current(&self, index: usize) -> Option<EditedLine> {
        match self.changed.get(&index) {
            Some(line) => line.clone(),
            None => EditedLine::original(self.text_of(index)?),
        }
    }

    /// The index of the 1-based `line` and that line now.
    fn slot(&self, file: &str, line: u32) -> Result<(usize, EditedLine), EditError> {
        let no_line = || EditError::NoSuchLine {
            file: file.to_string(),
            line,
        };
        let index = usize::try_from(line)
            .ok()
            .and_then(|l| l.checked_sub(1))
            .ok_or_else(no_line)?;
        let text = self.current(index).ok_or_else(no_line)?;
        Ok((index, text))
    }

    /// The line holding `span`, that line now, and where the span's bytes
    /// are in it now.
    fn locate(
        &self,
        at: Place<'_>,
        span: ByteSpan,
        domain: &DomainName,
    ) -> Result<(usize, EditedLine, Range<usize>), EditError> {
        let outside = || EditError::SpanOutside {
            file: at.file.to_string(),
            line: at.line,
            domain: domain.clone(),
        };
        let index = self
            .starts
            .partition_point(|&start| start <= span.start)
            .checked_sub(1)
            .ok_or_else(outside)?;
        let line = self.original_range(index).ok_or_else(outside)?;
        let written = self
            .original
            .get(span.start..span.end)
            .filter(|text| !text.is_empty() && !text.contains('\n'))
            .ok_or_else(outside)?;
        // The declaration's line is where the span is, or the span is not
        // the one the reader recorded for this line.
        if span.end > line.end || usize::try_from(at.line).ok() != Some(index + 1) {
            return Err(outside());
        }
        let start = u32::try_from(span.start - line.start).map_err(|_| outside())?;
        let end = u32::try_from(span.end - line.start).map_err(|_| outside())?;
        let edited = || EditError::SpanEdited {
            file: at.file.to_string(),
            line: at.line,
            domain: domain.clone(),
        };
        let now = self.current(index).ok_or_else(edited)?;
        let range = now.find(start, end).ok_or_else(edited)?;
        debug_assert_eq!(now.text.get(range.clone()), Some(written));
        Ok((index, now, range))
    }

    fn set(&mut self, index: usize, line: Option<EditedLine>) {
        self.changed.insert(index, line);
    }

    fn remove(
        &mut self,
        at: Place<'_>,
        span: ByteSpan,
        kind: PlaceKind,
        domain: &DomainName,
    ) -> Result<(), EditError> {
        let (index, mut now, name) = self.locate(at, span, domain)?;
        let (body, _) = now.split();
        let found = at.part(body, name.clone())?;
        // The recorded bytes must be the name; then they must be written
        // as a plain name (no pattern, no `$`).
        if DomainName::parse(found).ok().as_ref() != Some(domain) {
            return Err(EditError::SpanMismatch {
                file: at.file.to_string(),
                line: at.line,
                domain: domain.clone(),
                found: found.to_string(),
            });
        }
        if !names(found, domain) {
            return Err(at.not_literal(domain));
        }
        match kind {
            PlaceKind::MainCf | PlaceKind::ListFile => {
                let line = self.remove_item(at, &mut now, name, kind, domain)?;
                self.set(index, line);
            }
            PlaceKind::TableSource => {
                let after = at.part(body, name.end..body.len())?;
                // The key starts the line and ends where the name does.
                if name.start != 0 || after.starts_with(|c: char| !is_space(c)) {
                    return Err(at.not_literal(domain));
                }
                self.set(index, None);
                // The physical lines after it that continue the entry go
                // too; blank and comment lines in between do not end it.
                for next in index + 1..self.starts.len() {
                    let Some(line) = self.text_of(next) else {
                        continue;
                    };
                    match Physical::of(split_ending(line).0) {
                        Physical::Skip => {}
                        Physical::Continuation(_) => self.set(next, None),
                        Physical::Start(_) => break,
                    }
                }
            }
            PlaceKind::LinePerName => {
                let before = at.part(body, 0..name.start)?;
                let after = at.part(body, name.end..body.len())?;
                let comment = after.find('#').map(|i| name.end + i);
                let between = at.part(body, name.end..comment.unwrap_or(body.len()))?;
                if !before.trim().is_empty() || !between.trim().is_empty() {
                    return Err(at.not_literal(domain));
                }
                match comment {
                    // A trailing comment outlives its name.
                    Some(comment) => {
                        now.delete(0..comment)
                            .ok_or_else(|| at.offsets(0..comment))?;
                        self.set(index, Some(now));
                    }
                    None => self.set(index, None),
                }
            }
            PlaceKind::DebianList => {
                let line = debian_remove(at, &mut now, name, domain)?;
                self.set(index, Some(line));
            }
            PlaceKind::QmailVirtualDomains => {
                let before = at.part(body, 0..name.start)?;
                let after = at.part(body, name.end..body.len())?;
                if !before.trim().is_empty() || !after.trim_start().starts_with(':') {
                    return Err(at.not_literal(domain));
                }
                self.set(index, None);
            }
        }
        Ok(())
    }

    /// Remove the item at `name` from a main.cf value line or a `/file`
    /// list line, with the separators that go with it. Returns the line as
    /// it is then, `None` when nothing but separators is left of a line
    /// that is not a parameter's first.
    fn remove_item(
        &self,
        at: Place<'_>,
        now: &mut EditedLine,
        name: Range<usize>,
        kind: PlaceKind,
        domain: &DomainName,
    ) -> Result<Option<EditedLine>, EditError> {
        let (body, _) = now.split();
        let body_len = body.len();
        let first_line = kind == PlaceKind::MainCf && !starts_with_space(body);
        if body.trim_start().starts_with('#') {
            return Err(at.not_literal(domain));
        }
        let region = if first_line {
            body.find('=')
                .map(|i| i + 1)
                .ok_or_else(|| at.not_literal(domain))?
        } else {
            0
        };
        let Items { items, comment } =
            value_tokens(body, region).ok_or_else(|| at.offsets(region..body_len))?;
        if kind == PlaceKind::MainCf && comment.is_some() {
            return Err(EditError::InlineComment {
                file: at.file.to_string(),
                line: at.line,
            });
        }
        // The span must be one whole item of the line, as Postfix splits it.
        let item = items
            .iter()
            .position(|&(s, e)| s == name.start && e == name.end)
            .ok_or_else(|| at.not_literal(domain))?;
        let cut = match (
            items.get(item + 1),
            item.checked_sub(1).and_then(|p| items.get(p)),
        ) {
            // Take the separators after the name with it, so the next name
            // moves into its place.
            (Some(&(next, _)), _) => name.start..next,
            // The last name: take the separators before it.
            (None, Some(&(_, prev_end))) => prev_end..name.end,
            // The only name on the line.
            (None, None) => region..comment.unwrap_or(body_len),
        };
        let cut_len = cut.len();
        now.delete(cut.clone()).ok_or_else(|| at.offsets(cut))?;
        let kept_len = body_len - cut_len;
        let kept = at.part(&now.text, 0..kept_len)?;
        let only_separators = at
            .part(kept, region..kept_len)?
            .chars()
            .all(|c| matches!(c, ' ' | '\t' | ',' | '\r'));
        let trimmed_end = kept.trim_end().len();
        let leading = kept.len() - kept.trim_start().len();
        let comment_left = kept.trim_start().starts_with('#');
        let drop = if first_line {
            // `param =` stays: the parameter is now explicitly empty, not
            // back at its default.
            if only_separators {
                region..kept_len
            } else {
                trimmed_end..kept_len
            }
        } else if only_separators {
            return Ok(None);
        } else if comment_left {
            // A trailing comment of a list file outlives its name.
            0..leading
        } else {
            trimmed_end..kept_len
        };
        now.delete(drop.clone()).ok_or_else(|| at.offsets(drop))?;
        Ok(Some(now.clone()))
    }

    fn append_to_param(
        &mut self,
        file: &str,
        param: &str,
        domain: &DomainName,
    ) -> Result<(), EditError> {
        let parsed = MainCf::parse(file, &self.original).map_err(|e| EditError::Unparsable {
            file: file.to_string(),
            message: e.to_string(),
        })?;
        let Some(definition) = parsed.get(param) else {
            self.appended
                .push(format!("{param} = {domain}{}", self.newline));
            return Ok(());
        };
        // The last physical line of the definition that is still there.
        let mut candidates: Vec<u32> = definition.continuation_lines.clone();
        candidates.push(definition.line);
        candidates.sort_unstable();
        let last = candidates
            .iter()
            .rev()
            .find(|&&l| {
                let index = usize::try_from(l).ok().and_then(|l| l.checked_sub(1));
                index.is_some_and(|i| self.text_of(i).is_some())
            })
            .copied()
            .ok_or_else(|| EditError::NoSuchLine {
                file: file.to_string(),
                line: definition.line,
            })?;
        let at = Place { file, line: last };
        let (index, mut now) = self.slot(file, last)?;
        let (body, ending) = now.split();
        let region = if last == definition.line {
            body.find('=').map_or(0, |i| i + 1)
        } else {
            0
        };
        let items = value_tokens(body, region).ok_or_else(|| at.offsets(region..body.len()))?;
        if items.comment.is_some() {
            return Err(EditError::InlineComment {
                file: file.to_string(),
                line: last,
            });
        }
        let body_len = body.len();
        let trimmed = body.trim_end();
        let trimmed_len = trimmed.len();
        let joiner = if trimmed.ends_with('=') || trimmed.ends_with(',') {
            " "
        } else {
            ", "
        };
        // A file that lacked its final newline gets one with the new name.
        let needs_ending = ending.is_empty();
        now.delete(trimmed_len..body_len)
            .ok_or_else(|| at.offsets(trimmed_len..body_len))?;
        now.insert(trimmed_len, &format!("{joiner}{domain}"))
            .ok_or_else(|| at.offsets(trimmed_len..trimmed_len))?;
        if needs_ending {
            let end = now.text.len();
            now.insert(end, self.newline)
                .ok_or_else(|| at.offsets(end..end))?;
        }
        self.set(index, Some(now));
        Ok(())
    }
}

/// The file and line an edit is about, for its errors.
#[derive(Debug, Clone, Copy)]
struct Place<'a> {
    file: &'a str,
    line: u32,
}

impl Place<'_> {
    fn not_literal(self, domain: &DomainName) -> EditError {
        EditError::NotLiteral {
            file: self.file.to_string(),
            line: self.line,
            domain: domain.clone(),
        }
    }

    fn offsets(self, range: Range<usize>) -> EditError {
        EditError::Offsets {
            file: self.file.to_string(),
            line: self.line,
            start: range.start,
            end: range.end,
        }
    }

    /// `text[range]`, or the error that says it is not there.
    fn part(self, text: &str, range: Range<usize>) -> Result<&str, EditError> {
        text.get(range.clone()).ok_or_else(|| self.offsets(range))
    }
}

/// Remove the name at `name` from a `dc_...='a;b'` assignment of
/// update-exim4.conf.conf, with the separators that go with it: those
/// after it, or before it when it is the last name. The quotes stay (an
/// empty value when it was the only name).
fn debian_remove(
    at: Place<'_>,
    now: &mut EditedLine,
    name: Range<usize>,
    domain: &DomainName,
) -> Result<EditedLine, EditError> {
    let (body, _) = now.split();
    let open = body
        .find('=')
        .map(|i| i + 1)
        .filter(|&i| i <= name.start)
        .ok_or_else(|| at.not_literal(domain))?;
    let quote = body[open..]
        .chars()
        .next()
        .filter(|c| matches!(c, '\'' | '"'));
    let region_start = open + quote.map_or(0, char::len_utf8);
    let region_end = match quote {
        Some(q) => body[region_start..]
            .find(q)
            .map(|i| region_start + i)
            .ok_or_else(|| at.not_literal(domain))?,
        None => body[region_start..]
            .find(char::is_whitespace)
            .map_or(body.len(), |i| region_start + i),
    };
    if name.start < region_start || name.end > region_end {
        return Err(at.not_literal(domain));
    }
    let is_sep = |c: char| matches!(c, ';' | ':' | ' ' | '\t');
    let region = at.part(body, region_start..region_end)?;
    // The name must be one whole item.
    let before = &region[..name.start - region_start];
    let after = &region[name.end - region_start..];
    if !before.chars().next_back().is_none_or(is_sep) || !after.chars().next().is_none_or(is_sep) {
        return Err(at.not_literal(domain));
    }
    let next_item = after.find(|c: char| !is_sep(c)).map(|i| name.end + i);
    let prev_end = before
        .rfind(|c: char| !is_sep(c))
        .map(|i| region_start + i + 1);
    let cut = match (next_item, prev_end) {
        (Some(next), _) => name.start..next,
        (None, Some(prev)) => prev..region_end,
        (None, None) => region_start..region_end,
    };
    now.delete(cut.clone()).ok_or_else(|| at.offsets(cut))?;
    Ok(now.clone())
}

/// True when `raw`, as written in a configuration, is exactly the name
/// `domain` (any case, U-label or A-label) and not a pattern.
fn names(raw: &str, domain: &DomainName) -> bool {
    let plain = !raw.is_empty()
        && !raw
            .chars()
            .any(|c| matches!(c, '$' | ':' | '/' | '!' | '{' | '}' | '@' | '[' | '*'))
        && !raw.starts_with('.');
    plain && DomainName::parse(raw).is_ok_and(|n| &n == domain)
}

fn starts_with_space(text: &str) -> bool {
    text.starts_with([' ', '\t'])
}

/// Postfix's white space (the end of a table key).
fn is_space(c: char) -> bool {
    crate::sources::postfix::lexer::is_postfix_space(c)
}

fn split_ending(line: &str) -> (&str, &str) {
    if let Some(body) = line.strip_suffix("\r\n") {
        (body, "\r\n")
    } else if let Some(body) = line.strip_suffix('\n') {
        (body, "\n")
    } else {
        (line, "")
    }
}

/// The list items of a line of a value.
struct Items {
    /// Byte ranges of the items.
    items: Vec<(usize, usize)>,
    /// Where a `#` comment starts, if one does.
    comment: Option<usize>,
}

/// The list items of `body` from `region` on (Postfix separators: commas
/// and white space; `{...}` is one item); `None` when `region` is not in
/// `body`. Splits with the reader's own tokenizer, so that a span is
/// checked against the items the reader saw.
fn value_tokens(body: &str, region: usize) -> Option<Items> {
    let mut items = Vec::new();
    for (offset, token) in split_tokens(body.get(region..)?) {
        let start = region + offset;
        if token.starts_with('#') {
            return Some(Items {
                items,
                comment: Some(start),
            });
        }
        items.push((start, start + token.len()));
    }
    Some(Items {
        items,
        comment: None,
    })
}

/// A unified diff from `a/REL` to `b/REL`, empty when nothing changed.
pub fn unified(rel: &str, before: &str, after: &str) -> String {
    if before == after {
        return String::new();
    }
    TextDiff::from_lines(before, after)
        .unified_diff()
        .context_radius(3)
        .header(&format!("a/{rel}"), &format!("b/{rel}"))
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(name: &str) -> DomainName {
        DomainName::parse(name).unwrap()
    }

    /// The span of the first `written` on the 1-based `line` of `text`.
    fn span_on(text: &str, line: u32, written: &str) -> ByteSpan {
        let start: usize = text
            .split_inclusive('\n')
            .take(line as usize - 1)
            .map(str::len)
            .sum();
        let physical = text.split_inclusive('\n').nth(line as usize - 1).unwrap();
        let at = physical.find(written).expect("written on that line");
        ByteSpan::at(start + at, written.len())
    }

    fn op(line: u32, span: Option<ByteSpan>, kind: PlaceKind, name: &str) -> EditOp {
        EditOp::Remove {
            line,
            spans: span.into_iter().collect(),
            kind,
            domain: d(name),
        }
    }

    /// Remove `name`, written as `written` on `line`.
    fn remove_written(
        text: &str,
        line: u32,
        written: &str,
        kind: PlaceKind,
        name: &str,
    ) -> Result<String, EditError> {
        let mut file = FileText::new(text);
        let span = span_on(text, line, written);
        file.apply("f", &op(line, Some(span), kind, name))?;
        Ok(file.render())
    }

    #[test]
    fn debian_assignments_lose_the_name_and_its_separator() {
        let k = PlaceKind::DebianList;
        let text = "x=1\ndc_other_hostnames='a.test;b.test; c.test'\n";
        let expect = |name: &str, want: &str| {
            assert_eq!(
                remove(text, 2, k, name).unwrap(),
                format!("x=1\n{want}\n"),
                "{name}"
            );
        };
        expect("a.test", "dc_other_hostnames='b.test; c.test'");
        expect("b.test", "dc_other_hostnames='a.test;c.test'");
        expect("c.test", "dc_other_hostnames='a.test;b.test'");
        assert_eq!(
            remove("dc_other_hostnames=\"a.test\"\n", 1, k, "a.test").unwrap(),
            "dc_other_hostnames=\"\"\n"
        );
        // A pattern holding the name is not the name.
        assert!(remove("dc_other_hostnames='*.a.test'\n", 1, k, "a.test").is_err());
    }

    fn remove(text: &str, line: u32, kind: PlaceKind, name: &str) -> Result<String, EditError> {
        remove_written(text, line, name, kind, name)
    }

    #[test]
    fn main_cf_first_middle_last_and_only_names() {
        let text = "# head\nmydestination = a.test, b.test,  c.test\nx = 1\n";
        let k = PlaceKind::MainCf;
        assert_eq!(
            remove(text, 2, k, "a.test").unwrap(),
            "# head\nmydestination = b.test,  c.test\nx = 1\n"
        );
        assert_eq!(
            remove(text, 2, k, "b.test").unwrap(),
            "# head\nmydestination = a.test, c.test\nx = 1\n"
        );
        assert_eq!(
            remove(text, 2, k, "c.test").unwrap(),
            "# head\nmydestination = a.test, b.test\nx = 1\n"
        );
        assert_eq!(
            remove_written("relay_domains = B.test   \n", 1, "B.test", k, "b.test").unwrap(),
            "relay_domains =\n"
        );
    }

    #[test]
    fn main_cf_continuation_line_goes_when_empty_and_comments_stay() {
        let text = "mydestination = $myhostname, localhost,\n    # legacy\n    Legacy-Shop.test\nbiff = no\n";
        assert_eq!(
            remove_written(
                text,
                3,
                "Legacy-Shop.test",
                PlaceKind::MainCf,
                "legacy-shop.test"
            )
            .unwrap(),
            "mydestination = $myhostname, localhost,\n    # legacy\nbiff = no\n"
        );
        let text = "mydestination = a.test,\n  b.test, c.test\n";
        assert_eq!(
            remove(text, 2, PlaceKind::MainCf, "b.test").unwrap(),
            "mydestination = a.test,\n  c.test\n"
        );
    }

    #[test]
    fn expansions_patterns_and_inline_comments_are_refused() {
        let k = PlaceKind::MainCf;
        let text = "mydestination = $myhostname, localhost.$mydomain\n";
        // No span: the name was put together by expansion.
        let mut file = FileText::new(text);
        assert!(matches!(
            file.apply("f", &op(1, None, k, "localhost.hoster.test")),
            Err(EditError::NotLiteral { .. })
        ));
        assert!(matches!(
            remove("relay_domains = a.test # x\n", 1, k, "a.test"),
            Err(EditError::InlineComment { .. })
        ));
        // Inside a conditional or a brace group, a name is no item.
        for text in [
            "mydestination = ${a?{x.test}}\n",
            "mydestination = { x.test }\n",
            "mydestination = ${a?{ x.test }}\n",
            "mydestination = !!x.test\n",
        ] {
            assert!(
                matches!(
                    remove(text, 1, k, "x.test"),
                    Err(EditError::NotLiteral { .. })
                ),
                "{text}"
            );
        }
    }

    #[test]
    fn a_span_that_does_not_hold_the_name_is_an_error_not_an_edit() {
        let text = "mydestination = a.test, b.test\n";
        let mut file = FileText::new(text);
        // The bytes of b.test, offered as a.test's.
        let wrong = span_on(text, 1, "b.test");
        assert!(matches!(
            file.apply("f", &op(1, Some(wrong), PlaceKind::MainCf, "a.test")),
            Err(EditError::SpanMismatch { found, .. }) if found == "b.test"
        ));
        // Part of a name, a span across the line end, past the file, on
        // another line than declared.
        for (line, span) in [
            (1, ByteSpan::at(16, 3)),
            (1, ByteSpan::at(28, 4)),
            (1, ByteSpan::at(100, 6)),
            (2, span_on(text, 1, "a.test")),
            (1, ByteSpan::at(16, 0)),
        ] {
            let result = file.apply("f", &op(line, Some(span), PlaceKind::MainCf, "a.test"));
            assert!(
                matches!(
                    result,
                    Err(EditError::SpanMismatch { .. } | EditError::SpanOutside { .. })
                ),
                "{span:?}: {result:?}"
            );
        }
        assert_eq!(file.render(), text);
        // A span on a key that only starts with the name.
        let table = "a.testing OK\n";
        let prefix = ByteSpan::at(0, 6);
        let mut file = FileText::new(table);
        assert!(matches!(
            file.apply("f", &op(1, Some(prefix), PlaceKind::TableSource, "a.test")),
            Err(EditError::NotLiteral { .. })
        ));
        let list = "a.testing\n";
        let mut file = FileText::new(list);
        assert!(matches!(
            file.apply("f", &op(1, Some(prefix), PlaceKind::LinePerName, "a.test")),
            Err(EditError::NotLiteral { .. })
        ));
        assert_eq!(file.render(), list);
    }

    #[test]
    fn edits_of_one_line_follow_each_other_and_never_reuse_removed_bytes() {
        let text = "mydestination = a.test, b.test, c.test\nrelay_domains = r.test\n";
        let mut file = FileText::new(text);
        for name in ["b.test", "a.test"] {
            let span = span_on(text, 1, name);
            file.apply("f", &op(1, Some(span), PlaceKind::MainCf, name))
                .unwrap();
        }
        assert_eq!(
            file.render(),
            "mydestination = c.test\nrelay_domains = r.test\n"
        );
        // The same bytes a second time: they are gone.
        let again = span_on(text, 1, "a.test");
        assert!(matches!(
            file.apply("f", &op(1, Some(again), PlaceKind::MainCf, "a.test")),
            Err(EditError::SpanEdited { .. })
        ));
        // An append to a line, then a removal from it.
        file.apply(
            "f",
            &EditOp::AppendToParam {
                param: PostfixParam::RelayDomains,
                domain: d("backup.test"),
            },
        )
        .unwrap();
        let r = span_on(text, 2, "r.test");
        file.apply("f", &op(2, Some(r), PlaceKind::MainCf, "r.test"))
            .unwrap();
        assert_eq!(
            file.render(),
            "mydestination = c.test\nrelay_domains = backup.test\n"
        );
        let c = span_on(text, 1, "c.test");
        file.apply("f", &op(1, Some(c), PlaceKind::MainCf, "c.test"))
            .unwrap();
        assert_eq!(
            file.render(),
            "mydestination =\nrelay_domains = backup.test\n"
        );
    }

    #[test]
    fn every_occurrence_of_a_name_on_its_line_goes_or_none_does() {
        let text = "mydestination = localhost, moved.test, moved.test\n";
        let first = span_on(text, 1, "moved.test");
        let second = ByteSpan::at(first.end + 2, first.len());
        let mut file = FileText::new(text);
        let both = EditOp::Remove {
            line: 1,
            spans: vec![first, second],
            kind: PlaceKind::MainCf,
            domain: d("moved.test"),
        };
        file.apply("f", &both).unwrap();
        assert_eq!(file.render(), "mydestination = localhost\n");
        // One occurrence that is no item: nothing changes.
        let text = "mydestination = moved.test, {moved.test}\n";
        let first = span_on(text, 1, "moved.test");
        let braced = ByteSpan::at(first.end + 3, first.len());
        let mut file = FileText::new(text);
        let both = EditOp::Remove {
            line: 1,
            spans: vec![first, braced],
            kind: PlaceKind::MainCf,
            domain: d("moved.test"),
        };
        assert!(matches!(
            file.apply("f", &both),
            Err(EditError::NotLiteral { .. })
        ));
        assert_eq!(file.render(), text);
    }

    #[test]
    fn list_file_keeps_other_names_and_comments() {
        let k = PlaceKind::ListFile;
        let text = "# forwarders\nforward-only.test\nx.test y.test\n";
        assert_eq!(
            remove(text, 2, k, "forward-only.test").unwrap(),
            "# forwarders\nx.test y.test\n"
        );
        assert_eq!(
            remove(text, 3, k, "x.test").unwrap(),
            "# forwarders\nforward-only.test\ny.test\n"
        );
        // A comment after the name outlives it; a name after `#` is no item
        // mxdrift removes (Postfix 3.10 ignores it).
        let text = "a.test # old\nb.test #c.test\n";
        assert_eq!(
            remove(text, 1, k, "a.test").unwrap(),
            "# old\nb.test #c.test\n"
        );
        assert!(matches!(
            remove(text, 2, k, "c.test"),
            Err(EditError::NotLiteral { .. })
        ));
    }

    #[test]
    fn table_entry_goes_with_its_continuation_lines() {
        let text = "# domain OK\nstays.test OK\nmoved.test\n  OK\n# note\nbücher.test OK\n";
        assert_eq!(
            remove(text, 3, PlaceKind::TableSource, "moved.test").unwrap(),
            "# domain OK\nstays.test OK\n# note\nbücher.test OK\n"
        );
        assert_eq!(
            remove_written(
                text,
                6,
                "bücher.test",
                PlaceKind::TableSource,
                "xn--bcher-kva.test"
            )
            .unwrap(),
            "# domain OK\nstays.test OK\nmoved.test\n  OK\n# note\n"
        );
        // The bytes of stays.test are not moved.test.
        assert!(matches!(
            remove_written(text, 2, "stays.test", PlaceKind::TableSource, "moved.test"),
            Err(EditError::SpanMismatch { .. })
        ));
        // A continuation after a comment and a blank line is the entry's;
        // a vertical tab starts a continuation as it does for Postfix.
        let text = "gone.test\r\n\r\n# c\r\n\tvalue\r\n\x0bmore\r\nnext.test x\r\n";
        assert_eq!(
            remove(text, 1, PlaceKind::TableSource, "gone.test").unwrap(),
            "\r\n# c\r\nnext.test x\r\n"
        );
    }

    #[test]
    fn line_per_name_keeps_a_trailing_comment_and_virtualdomains_lines_go() {
        let text = "shop.test\nmoved.test      # moved in March?\n";
        assert_eq!(
            remove(text, 2, PlaceKind::LinePerName, "moved.test").unwrap(),
            "shop.test\n# moved in March?\n"
        );
        let text = "moved.test:moved.test\nShop.test:shop.test\n";
        assert_eq!(
            remove_written(
                text,
                2,
                "Shop.test",
                PlaceKind::QmailVirtualDomains,
                "shop.test"
            )
            .unwrap(),
            "moved.test:moved.test\n"
        );
        // The prepend is no domain to remove.
        let prepend = ByteSpan::at(11, 10);
        let mut file = FileText::new(text);
        assert!(matches!(
            file.apply(
                "f",
                &op(
                    1,
                    Some(prepend),
                    PlaceKind::QmailVirtualDomains,
                    "moved.test"
                )
            ),
            Err(EditError::NotLiteral { .. })
        ));
    }

    #[test]
    fn relay_domains_gets_the_name_or_is_defined() {
        let append = |text: &str| {
            let mut file = FileText::new(text);
            file.apply(
                "main.cf",
                &EditOp::AppendToParam {
                    param: PostfixParam::RelayDomains,
                    domain: d("backup.test"),
                },
            )
            .unwrap();
            file.render()
        };
        assert_eq!(
            append("relay_domains = a.test\nx = y\n"),
            "relay_domains = a.test, backup.test\nx = y\n"
        );
        assert_eq!(
            append("relay_domains =\n  a.test,\n# c\nx = y\n"),
            "relay_domains =\n  a.test, backup.test\n# c\nx = y\n"
        );
        assert_eq!(append("relay_domains =\n"), "relay_domains = backup.test\n");
        assert_eq!(append("x = y"), "x = y\nrelay_domains = backup.test\n");
    }

    #[test]
    fn crlf_files_get_crlf_lines() {
        let append = |text: &str, op: EditOp| {
            let mut file = FileText::new(text);
            file.apply("f", &op).unwrap();
            file.render()
        };
        let relay = || EditOp::AppendToParam {
            param: PostfixParam::RelayDomains,
            domain: d("backup.test"),
        };
        let line = || EditOp::AppendLine {
            domain: d("backup.test"),
        };
        assert_eq!(
            append("x = y\r\n", relay()),
            "x = y\r\nrelay_domains = backup.test\r\n"
        );
        assert_eq!(
            append("x = y\r\nrelay_domains = a.test", relay()),
            "x = y\r\nrelay_domains = a.test, backup.test\r\n"
        );
        assert_eq!(
            append("relay_domains = a.test\r\nx = y\r\n", relay()),
            "relay_domains = a.test, backup.test\r\nx = y\r\n"
        );
        assert_eq!(
            append("a.test\r\nb.test", line()),
            "a.test\r\nb.test\r\nbackup.test\r\n"
        );
        assert_eq!(append("a.test\n", line()), "a.test\nbackup.test\n");
        // Removing keeps each remaining line's own ending.
        assert_eq!(
            remove("a.test\r\nb.test\r\n", 1, PlaceKind::LinePerName, "a.test").unwrap(),
            "b.test\r\n"
        );
        assert_eq!(
            remove(
                "mydestination = a.test, b.test\r\n",
                1,
                PlaceKind::MainCf,
                "b.test"
            )
            .unwrap(),
            "mydestination = a.test\r\n"
        );
        assert_eq!(
            remove(
                "mydestination = a.test,\r\n  b.test\r\nx = y\r\n",
                2,
                PlaceKind::MainCf,
                "b.test"
            )
            .unwrap(),
            "mydestination = a.test,\r\nx = y\r\n"
        );
        assert_eq!(
            remove("a.test b.test\r\n", 1, PlaceKind::ListFile, "b.test").unwrap(),
            "a.test\r\n"
        );
        assert_eq!(
            remove(
                "k.test OK\r\n  more\r\nz.test x\r\n",
                1,
                PlaceKind::TableSource,
                "k.test"
            )
            .unwrap(),
            "z.test x\r\n"
        );
    }

    #[test]
    fn unified_diff_has_a_and_b_paths() {
        let diff = unified("etc/postfix/vdomains", "a\nb\n", "a\n");
        assert!(diff.starts_with("--- a/etc/postfix/vdomains\n+++ b/etc/postfix/vdomains\n"));
        assert!(diff.contains("\n-b\n"));
        assert_eq!(unified("x", "same\n", "same\n"), "");
    }
}
