//! main.cf as a parameter store: `name = value` definitions as Postfix
//! reads them (`split_nameval` on each logical line, see [`super::lexer`]),
//! the last definition winning, and the Postfix 3.7 defaults of the
//! parameters mxdrift expands. Expanding `$name` is [`super::expand`]'s job.
//!
//! Facts a newcomer would get wrong:
//! - Parameter names are case-sensitive, and a line without `=` stops
//!   Postfix: [`MainCf::parse`] fails with the file and line.
//! - `myhostname` and `mydomain` have no fixed default: Postfix computes them
//!   from the machine's name ([`MainCf::set_hostname`]).

use std::collections::BTreeMap;

use super::lexer::{Lexed, Lexer, is_postfix_space};
use crate::sources::SourceError;

/// The built-in defaults of Postfix 3.7 (`postconf -d` on Debian 12) for the
/// parameters whose expansion decides which domains are local. `myhostname`
/// and `mydomain` are computed (see [`MainCf::set_hostname`]).
const DEFAULTS: &[(&str, &str)] = &[
    (
        "mydestination",
        "$myhostname, localhost.$mydomain, localhost",
    ),
    ("virtual_alias_domains", "$virtual_alias_maps"),
    ("virtual_mailbox_domains", "$virtual_mailbox_maps"),
    // Since 3.0 the default depends on compatibility_level; Debian's
    // compiled-in level is 0, so an unset relay_domains is $mydestination
    // unless main.cf raises compatibility_level to 2 or more.
    (
        "relay_domains",
        "${{$compatibility_level} <level {2} ? {$mydestination} : {}}",
    ),
    ("compatibility_level", "0"),
    ("virtual_alias_maps", "$virtual_maps"),
    ("virtual_maps", ""),
    ("virtual_mailbox_maps", ""),
    ("transport_maps", ""),
    ("proxy_interfaces", ""),
    (
        "parent_domain_matches_subdomains",
        "debug_peer_list,fast_flush_domains,mynetworks,permit_mx_backup_networks,\
         qmqpd_authorized_clients,relay_domains,smtpd_access_maps",
    ),
    ("myorigin", "$myhostname"),
    ("mail_name", "Postfix"),
    ("inet_interfaces", "all"),
    ("local_transport", "local:$myhostname"),
    ("virtual_transport", "virtual"),
    ("relay_transport", "relay"),
    ("default_transport", "smtp"),
    ("relayhost", ""),
    ("queue_directory", "/var/spool/postfix"),
    ("alias_maps", "hash:/etc/aliases, nis:mail.aliases"),
];

/// The value `mydomain` takes when `myhostname` has no dot (`DEF_MYDOMAIN`).
pub(super) const DEFAULT_MYDOMAIN: &str = "localdomain";

/// Where a piece of configuration text literally stands.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Origin {
    /// File relative to the root (`etc/postfix/main.cf`).
    pub file: String,
    /// 1-based physical line; 0 for a built-in default written nowhere.
    pub line: u32,
    /// The parameter whose value holds the text.
    pub param: String,
}

impl Origin {
    /// True for text of a Postfix built-in default (written in no file).
    pub fn is_builtin_default(&self) -> bool {
        self.line == 0
    }
}

/// One `name = value` definition as written in main.cf.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Definition {
    pub name: String,
    /// The logical value: physical pieces joined, leading and trailing
    /// whitespace removed, not expanded.
    pub value: String,
    /// Physical line of `name =`.
    pub line: u32,
    /// Physical lines of the continuation lines, in order (comment and blank
    /// lines inside the value are not listed: Postfix skips them).
    pub continuation_lines: Vec<u32>,
    /// Where each physical line's part of `value` starts, sorted by offset.
    pieces: Vec<ValuePiece>,
}

/// The part of a definition's value that one physical line holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct ValuePiece {
    /// Byte offset in [`Definition::value`] where the part starts.
    pub start: usize,
    /// Its physical line.
    pub line: u32,
    /// Byte offset in main.cf of the value's byte at `start`.
    pub written: usize,
}

impl Definition {
    /// Physical line on which the byte at `offset` of [`Definition::value`]
    /// stands.
    pub fn line_at(&self, offset: usize) -> u32 {
        let idx = self.pieces.partition_point(|piece| piece.start <= offset);
        idx.checked_sub(1)
            .and_then(|i| self.pieces.get(i))
            .map_or(self.line, |piece| piece.line)
    }

    /// Where each physical line's part of the value starts, sorted by offset.
    pub(super) fn pieces(&self) -> &[ValuePiece] {
        &self.pieces
    }
}

/// A default value and where its text stands.
#[derive(Debug, Clone)]
pub(super) struct DefaultValue {
    pub value: String,
    pub origin: Origin,
    /// Byte offset of `value` in `origin.file`, when it is written there.
    pub written: Option<usize>,
}

/// main.cf, parsed, with the defaults that apply to it.
#[derive(Debug, Clone)]
pub struct MainCf {
    file: String,
    definitions: BTreeMap<String, Definition>,
    /// The machine's name for the `myhostname` default, with where it came
    /// from (`etc/mailname` line 1, or a built-in default).
    hostname: Option<DefaultValue>,
    /// Lines Postfix ignores with a warning (continuations with nothing to
    /// continue).
    orphan_lines: Vec<u32>,
}

impl MainCf {
    /// Parse main.cf text. `file` is the path shown to the user.
    pub fn parse(file: &str, text: &str) -> Result<MainCf, SourceError> {
        let mut definitions = BTreeMap::new();
        let mut orphan_lines = Vec::new();
        for lexed in Lexer::new(text) {
            let logical = match lexed {
                Lexed::Line(logical) => logical,
                Lexed::Orphan(line) => {
                    orphan_lines.push(line);
                    continue;
                }
            };
            let joined = logical.joined();
            let syntax = |message: &str| SourceError::Syntax {
                file: file.to_string(),
                line: logical.line(),
                message: message.to_string(),
            };
            // split_nameval: the name runs up to white space or '=', then
            // only white space may come before the '='.
            let name_end = joined
                .find(|c: char| c == '=' || is_postfix_space(c))
                .unwrap_or(joined.len());
            let (name, rest) = joined.split_at(name_end);
            let rest = rest.trim_start_matches(is_postfix_space);
            if name.is_empty() {
                return Err(syntax("missing parameter name before '='"));
            }
            let Some(after_eq) = rest.strip_prefix('=') else {
                return Err(syntax("missing '=' after parameter name"));
            };
            let value_trimmed_start = after_eq.trim_start_matches(is_postfix_space);
            let value_start = joined.len() - value_trimmed_start.len();
            let value = value_trimmed_start
                .trim_end_matches(is_postfix_space)
                .to_string();
            // A piece that starts before the value (the `name =` line, or a
            // line holding only the start of the white space before it)
            // starts the value at 0; the last such piece is the one that
            // holds the value's first byte.
            let pieces = logical
                .joined_starts()
                .map(|(joined_at, piece)| {
                    let start = joined_at.saturating_sub(value_start);
                    ValuePiece {
                        start,
                        line: piece.line,
                        written: piece.offset + (start + value_start - joined_at),
                    }
                })
                .collect();
            let continuation_lines = logical.rest.iter().map(|piece| piece.line).collect();
            definitions.insert(
                name.to_string(),
                Definition {
                    name: name.to_string(),
                    value,
                    line: logical.line(),
                    continuation_lines,
                    pieces,
                },
            );
        }
        Ok(MainCf {
            file: file.to_string(),
            definitions,
            hostname: None,
            orphan_lines,
        })
    }

    /// The file main.cf was read from, relative to the root.
    pub fn file(&self) -> &str {
        &self.file
    }

    /// Set the machine's host name used when main.cf has no `myhostname`
    /// (Postfix uses `gethostname()`). `found` says where the name was
    /// found, and at which byte offset of that file; `None` means a
    /// built-in default (line 0).
    pub fn set_hostname(&mut self, name: &str, found: Option<(Origin, usize)>) {
        let (origin, written) = match found {
            Some((origin, offset)) => (origin, Some(offset)),
            None => (self.default_origin("myhostname"), None),
        };
        self.hostname = Some(DefaultValue {
            value: name.to_string(),
            origin,
            written,
        });
    }

    /// The definition written in main.cf (the last one), if any.
    pub fn get(&self, name: &str) -> Option<&Definition> {
        self.definitions.get(name)
    }

    /// Every definition written in main.cf, by name.
    pub fn definitions(&self) -> impl Iterator<Item = &Definition> {
        self.definitions.values()
    }

    /// Continuation lines that Postfix ignores because nothing precedes them.
    pub fn orphan_lines(&self) -> &[u32] {
        &self.orphan_lines
    }

    /// The machine's name for the `myhostname` default, when known.
    pub(super) fn hostname(&self) -> Option<&DefaultValue> {
        self.hostname.as_ref()
    }

    /// Where the text of `param`'s built-in default stands: main.cf, line 0.
    pub(super) fn default_origin(&self, param: &str) -> Origin {
        Origin {
            file: self.file.clone(),
            line: 0,
            param: param.to_string(),
        }
    }
}

/// The built-in default of an unset parameter (not `myhostname` and
/// `mydomain`, which are computed).
pub(super) fn builtin_default(name: &str) -> Option<&'static str> {
    DEFAULTS.iter().find(|(n, _)| *n == name).map(|(_, v)| *v)
}

/// A main.cf from `text`, on a host named `vm.localdomain` (the unit tests
/// of `maincf` and `expand`).
#[cfg(test)]
pub(super) fn test_main_cf(text: &str) -> MainCf {
    let mut cf = MainCf::parse("etc/postfix/main.cf", text).unwrap();
    cf.set_hostname("vm.localdomain", None);
    cf
}

#[cfg(test)]
mod tests {
    use super::test_main_cf as cf;
    use super::*;

    #[test]
    fn readlline_joins_lines_that_start_with_whitespace() {
        let cf = cf("mydestination = a,\n  b\n\tc\nx = y\n");
        let def = cf.get("mydestination").unwrap();
        assert_eq!(def.value, "a,  b\tc");
        assert_eq!(def.line, 1);
        assert_eq!(def.continuation_lines, vec![2, 3]);
        assert_eq!(cf.get("x").unwrap().line, 4);
    }

    #[test]
    fn readlline_skips_comment_and_blank_lines_inside_a_value() {
        let cf = cf("mydestination = a\n# comment\n\n   \n  \t# indented comment\n  d\n");
        let def = cf.get("mydestination").unwrap();
        assert_eq!(def.value, "a  d");
        assert_eq!(def.continuation_lines, vec![6]);
        assert_eq!(def.line_at(def.value.find('d').unwrap()), 6);
        assert_eq!(def.line_at(0), 1);
    }

    #[test]
    fn each_piece_of_a_value_knows_where_it_is_written() {
        let text = "# c\nmydestination=\ta.test,\r\n  # note\n\tb.test \nx =\n  y\n";
        let cf = cf(text);
        let def = cf.get("mydestination").unwrap();
        assert_eq!(def.value, "a.test,\tb.test");
        for piece in def.pieces() {
            let written = &text[piece.written..piece.written + 6];
            assert_eq!(
                written,
                &def.value[piece.start..piece.start + 6],
                "{piece:?}"
            );
        }
        let y = cf.get("x").unwrap();
        let first = y.pieces().iter().rfind(|p| p.start == 0).unwrap();
        assert_eq!(&text[first.written..first.written + 1], "y");
    }

    #[test]
    fn readlline_drops_a_continuation_with_nothing_before_it() {
        let cf = cf("# header\n  orphan = x\nmydestination = a\n");
        assert_eq!(cf.orphan_lines(), &[2]);
        assert!(cf.get("orphan").is_none());
        assert_eq!(cf.get("mydestination").unwrap().value, "a");
    }

    #[test]
    fn split_nameval_ignores_whitespace_around_equals_and_at_the_end() {
        let cf = cf("mydestination\t=\t a b \t\r\nrelay_domains==x\n");
        assert_eq!(cf.get("mydestination").unwrap().value, "a b");
        assert_eq!(cf.get("relay_domains").unwrap().value, "=x");
    }

    #[test]
    fn last_definition_wins() {
        let cf = cf("mydestination = a\nmydestination = b\n");
        let def = cf.get("mydestination").unwrap();
        assert_eq!(def.value, "b");
        assert_eq!(def.line, 2);
    }

    #[test]
    fn parameter_names_are_case_sensitive() {
        let cf = cf("MyDestination = a\n");
        assert_eq!(
            cf.expanded("mydestination"),
            "vm.localdomain, localhost.localdomain, localhost"
        );
    }

    #[test]
    fn line_without_equals_is_fatal_with_file_and_line() {
        let err = MainCf::parse("etc/postfix/main.cf", "a = b\n\nfoo\n").unwrap_err();
        assert_eq!(
            err.to_string(),
            "etc/postfix/main.cf:3: missing '=' after parameter name"
        );
        let err = MainCf::parse("etc/postfix/main.cf", "foo bar = b\n").unwrap_err();
        assert!(matches!(err, SourceError::Syntax { line: 1, .. }));
        let err = MainCf::parse("etc/postfix/main.cf", "= b\n").unwrap_err();
        assert_eq!(
            err.to_string(),
            "etc/postfix/main.cf:1: missing parameter name before '='"
        );
    }

    #[test]
    fn continued_equals_line_is_part_of_the_value() {
        let cf = cf("mydestination = a\n = b\n");
        assert_eq!(cf.get("mydestination").unwrap().value, "a = b");
    }

    #[test]
    fn hash_after_text_is_part_of_the_value_in_postfix_3_7() {
        let cf = cf("mydestination = a # b\n");
        assert_eq!(cf.expanded("mydestination"), "a # b");
    }
}
