//! Edits of configuration text that remove a domain from the place it is
//! declared (or add it to a relay list) and leave every other byte alone:
//! comments, order, separators and indentation of the rest of the file stay
//! as the admin wrote them, so the diff shows only the change that matters.
//! The result is rendered as a unified diff with `similar`.

use similar::TextDiff;

use crate::sources::postfix::tables::split_tokens;

use crate::inventory::DomainName;
use crate::sources::postfix::maincf::MainCf;

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
}

/// One change to one file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EditOp {
    /// Remove `domain` from the 1-based physical `line`.
    Remove {
        line: u32,
        kind: PlaceKind,
        domain: DomainName,
    },
    /// Add `domain` to the value of a main.cf parameter (defining it at
    /// the end of the file when it is not set).
    AppendToParam { param: String, domain: DomainName },
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
}

/// A file's text as physical lines (each with its own line ending), so that
/// line numbers from the inventory stay valid while lines are removed.
/// Lines mxdrift adds end as the file's lines do (CRLF in a CRLF file).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileText {
    /// `None` marks a removed line.
    lines: Vec<Option<String>>,
    /// Lines added at the end.
    appended: Vec<String>,
    /// The original text, for main.cf definitions (continuation lines).
    original: String,
    /// The file's line ending: that of its first line (`\n` without one).
    newline: &'static str,
}

impl FileText {
    pub fn new(text: &str) -> Self {
        let newline = match text.split_inclusive('\n').next() {
            Some(first) if first.ends_with("\r\n") => "\r\n",
            _ => "\n",
        };
        FileText {
            lines: text
                .split_inclusive('\n')
                .map(|l| Some(l.to_string()))
                .collect(),
            appended: Vec::new(),
            original: text.to_string(),
            newline,
        }
    }

    /// The current text.
    pub fn render(&self) -> String {
        let mut out: String = self.lines.iter().flatten().map(String::as_str).collect();
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
            EditOp::Remove { line, kind, domain } => self.remove(file, *line, *kind, domain),
            EditOp::AppendToParam { param, domain } => self.append_to_param(file, param, domain),
            EditOp::AppendLine { domain } => {
                self.appended.push(format!("{domain}{}", self.newline));
                Ok(())
            }
        }
    }

    fn slot(&mut self, file: &str, line: u32) -> Result<(usize, String), EditError> {
        let no_line = || EditError::NoSuchLine {
            file: file.to_string(),
            line,
        };
        let index = usize::try_from(line)
            .ok()
            .and_then(|l| l.checked_sub(1))
            .ok_or_else(no_line)?;
        let text = self
            .lines
            .get(index)
            .and_then(|l| l.clone())
            .ok_or_else(no_line)?;
        Ok((index, text))
    }

    fn set(&mut self, index: usize, text: Option<String>) {
        if let Some(slot) = self.lines.get_mut(index) {
            *slot = text;
        }
    }

    fn remove(
        &mut self,
        file: &str,
        line: u32,
        kind: PlaceKind,
        domain: &DomainName,
    ) -> Result<(), EditError> {
        let (index, text) = self.slot(file, line)?;
        let not_literal = || EditError::NotLiteral {
            file: file.to_string(),
            line,
            domain: domain.clone(),
        };
        let (body, ending) = split_ending(&text);
        match kind {
            PlaceKind::MainCf | PlaceKind::ListFile => {
                let first_line = kind == PlaceKind::MainCf && !starts_with_space(body);
                if body.trim_start().starts_with('#') {
                    return Err(not_literal());
                }
                let region = if first_line {
                    body.find('=').map(|i| i + 1).ok_or_else(not_literal)?
                } else {
                    0
                };
                let (tokens, comment) = value_tokens(body, region);
                if kind == PlaceKind::MainCf && comment.is_some() {
                    return Err(EditError::InlineComment {
                        file: file.to_string(),
                        line,
                    });
                }
                let at = tokens
                    .iter()
                    .position(|&(s, e)| names(body.get(s..e).unwrap_or_default(), domain))
                    .ok_or_else(not_literal)?;
                let (start, end) = tokens.get(at).copied().ok_or_else(not_literal)?;
                let cut = match (
                    tokens.get(at + 1),
                    at.checked_sub(1).and_then(|p| tokens.get(p)),
                ) {
                    // Take the separators after the name with it, so the
                    // next name moves into its place.
                    (Some(&(next, _)), _) => (start, next),
                    // The last name: take the separators before it.
                    (None, Some(&(_, prev_end))) => (prev_end, end),
                    // The only name on the line.
                    (None, None) => (region, comment.unwrap_or(body.len())),
                };
                let mut kept = String::new();
                kept.push_str(body.get(..cut.0).unwrap_or_default());
                kept.push_str(body.get(cut.1..).unwrap_or_default());
                let only_separators = kept
                    .get(region..)
                    .unwrap_or_default()
                    .chars()
                    .all(|c| matches!(c, ' ' | '\t' | ',' | '\r'));
                if first_line {
                    // `param =` stays: the parameter is now explicitly empty,
                    // not back at its default.
                    let head = kept.get(..region).unwrap_or_default().to_string();
                    let new = if only_separators {
                        head
                    } else {
                        kept.trim_end().to_string()
                    };
                    self.set(index, Some(format!("{new}{ending}")));
                } else if only_separators {
                    self.set(index, None);
                } else if kept.trim_start().starts_with('#') {
                    // A trailing comment of a list file outlives its name.
                    self.set(index, Some(format!("{}{ending}", kept.trim_start())));
                } else {
                    self.set(index, Some(format!("{}{ending}", kept.trim_end())));
                }
                Ok(())
            }
            PlaceKind::TableSource => {
                let key = body.split([' ', '\t']).next().unwrap_or_default();
                let key = key
                    .strip_prefix('"')
                    .and_then(|k| k.strip_suffix('"'))
                    .unwrap_or(key);
                if starts_with_space(body) || !names(key, domain) {
                    return Err(not_literal());
                }
                self.set(index, None);
                // Indented lines after the key line continue the entry;
                // blank and comment lines in between do not end it.
                for next in index + 1..self.lines.len() {
                    let Some(Some(text)) = self.lines.get(next) else {
                        continue;
                    };
                    let trimmed = text.trim();
                    if trimmed.is_empty() || trimmed.starts_with('#') {
                        continue;
                    }
                    if !starts_with_space(text) {
                        break;
                    }
                    self.set(next, None);
                }
                Ok(())
            }
            PlaceKind::LinePerName => {
                let (entry, comment) = match body.find('#') {
                    Some(i) => (body.get(..i).unwrap_or_default(), body.get(i..)),
                    None => (body, None),
                };
                if !names(entry.trim(), domain) {
                    return Err(not_literal());
                }
                match comment {
                    Some(c) => self.set(index, Some(format!("{c}{ending}"))),
                    None => self.set(index, None),
                }
                Ok(())
            }
            PlaceKind::QmailVirtualDomains => {
                let target = body.split(':').next().unwrap_or_default();
                if !body.contains(':') || !names(target.trim(), domain) {
                    return Err(not_literal());
                }
                self.set(index, None);
                Ok(())
            }
        }
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
                index.is_some_and(|i| matches!(self.lines.get(i), Some(Some(_))))
            })
            .copied()
            .ok_or_else(|| EditError::NoSuchLine {
                file: file.to_string(),
                line: definition.line,
            })?;
        let (index, text) = self.slot(file, last)?;
        let (body, ending) = split_ending(&text);
        let region = if last == definition.line {
            body.find('=').map_or(0, |i| i + 1)
        } else {
            0
        };
        if value_tokens(body, region).1.is_some() {
            return Err(EditError::InlineComment {
                file: file.to_string(),
                line: last,
            });
        }
        let body = body.trim_end();
        let joiner = if body.ends_with('=') || body.ends_with(',') {
            " "
        } else {
            ", "
        };
        // A file that lacked its final newline gets one with the new name.
        let ending = if ending.is_empty() {
            self.newline
        } else {
            ending
        };
        self.set(index, Some(format!("{body}{joiner}{domain}{ending}")));
        Ok(())
    }
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

fn split_ending(line: &str) -> (&str, &str) {
    if let Some(body) = line.strip_suffix("\r\n") {
        (body, "\r\n")
    } else if let Some(body) = line.strip_suffix('\n') {
        (body, "\n")
    } else {
        (line, "")
    }
}

/// Byte ranges of the list items in `body` from `region` on (Postfix
/// separators: commas and white space; `{...}` is one item), and where a
/// `#` comment starts, if one does. Splits with the reader's own tokenizer,
/// so an edit removes exactly the item the inventory found.
fn value_tokens(body: &str, region: usize) -> (Vec<(usize, usize)>, Option<usize>) {
    let mut tokens = Vec::new();
    let Some(tail) = body.get(region..) else {
        return (tokens, None);
    };
    for (offset, token) in split_tokens(tail) {
        let start = region + offset;
        if token.starts_with('#') {
            return (tokens, Some(start));
        }
        tokens.push((start, start + token.len()));
    }
    (tokens, None)
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

    fn remove(text: &str, line: u32, kind: PlaceKind, name: &str) -> Result<String, EditError> {
        let mut file = FileText::new(text);
        file.apply(
            "f",
            &EditOp::Remove {
                line,
                kind,
                domain: d(name),
            },
        )?;
        Ok(file.render())
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
            remove("relay_domains = B.test   \n", 1, k, "b.test").unwrap(),
            "relay_domains =\n"
        );
    }

    #[test]
    fn main_cf_continuation_line_goes_when_empty_and_comments_stay() {
        let text = "mydestination = $myhostname, localhost,\n    # legacy\n    Legacy-Shop.test\nbiff = no\n";
        assert_eq!(
            remove(text, 3, PlaceKind::MainCf, "legacy-shop.test").unwrap(),
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
        assert!(matches!(
            remove(text, 1, k, "localhost.hoster.test"),
            Err(EditError::NotLiteral { .. })
        ));
        assert!(matches!(
            remove("relay_domains = a.test # x\n", 1, k, "a.test"),
            Err(EditError::InlineComment { .. })
        ));
        assert!(remove("# a.test\n", 1, k, "a.test").is_err());
        assert!(remove("a = b\n", 7, k, "a.test").is_err());
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
    }

    #[test]
    fn table_entry_goes_with_its_continuation_lines() {
        let text = "# domain OK\nstays.test OK\nmoved.test\n  OK\n# note\nbücher.test OK\n";
        assert_eq!(
            remove(text, 3, PlaceKind::TableSource, "moved.test").unwrap(),
            "# domain OK\nstays.test OK\n# note\nbücher.test OK\n"
        );
        assert_eq!(
            remove(text, 6, PlaceKind::TableSource, "xn--bcher-kva.test").unwrap(),
            "# domain OK\nstays.test OK\nmoved.test\n  OK\n# note\n"
        );
        assert!(remove(text, 2, PlaceKind::TableSource, "moved.test").is_err());
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
            remove(text, 2, PlaceKind::QmailVirtualDomains, "shop.test").unwrap(),
            "moved.test:moved.test\n"
        );
    }

    #[test]
    fn relay_domains_gets_the_name_or_is_defined() {
        let append = |text: &str| {
            let mut file = FileText::new(text);
            file.apply(
                "main.cf",
                &EditOp::AppendToParam {
                    param: "relay_domains".into(),
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
            param: "relay_domains".into(),
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
    }

    #[test]
    fn unified_diff_has_a_and_b_paths() {
        let diff = unified("etc/postfix/vdomains", "a\nb\n", "a\n");
        assert!(diff.starts_with("--- a/etc/postfix/vdomains\n+++ b/etc/postfix/vdomains\n"));
        assert!(diff.contains("\n-b\n"));
        assert_eq!(unified("x", "same\n", "same\n"), "");
    }
}
