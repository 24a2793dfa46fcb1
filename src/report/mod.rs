//! Report: render an [`Audit`] or an [`Inventory`](crate::inventory::Inventory).
//! One formatter per file behind one trait; none of them decides anything.
//!
//! Text from the configuration (file names, warnings, ignore reasons) and
//! from DNS reaches a terminal or a monitoring system through these
//! formatters: every human-readable format passes it through [`printable`]
//! (or [`ascii`]), so an ESC or a bidi override in a customer's file cannot
//! rewrite the admin's screen.

pub mod baseline;
pub mod fix_plan;
pub mod json;
pub mod nagios;
pub mod prometheus;
pub mod sarif;
pub mod table;
pub mod text;

use std::borrow::Cow;
use std::fmt::Write as _;
use std::io::{self, Write};

use crate::audit::{Audit, AuditedDomain};
use crate::inventory::{Delivery, DomainName, InventoryWarning};
use crate::rules::Finding;
use crate::verdict::Verdict;
use baseline::Delta;

/// What a formatter renders: the audit and, under `--baseline`, how it
/// differs from the previous report.
#[derive(Clone, Copy)]
pub struct Report<'a> {
    pub audit: &'a Audit,
    pub baseline: Option<&'a Delta>,
}

impl<'a> Report<'a> {
    pub fn new(audit: &'a Audit) -> Self {
        Report {
            audit,
            baseline: None,
        }
    }
}

/// A way of printing an audit.
pub trait AuditFormatter {
    fn write_report(&self, report: &Report<'_>, out: &mut dyn Write) -> io::Result<()>;

    /// The audit alone, without a baseline.
    fn write_audit(&self, audit: &Audit, out: &mut dyn Write) -> io::Result<()> {
        self.write_report(&Report::new(audit), out)
    }
}

/// Version of the JSON document (the contract's `version`).
pub const JSON_SCHEMA_VERSION: u32 = 1;

/// Characters that reorder text on a terminal (Unicode bidi controls): a
/// file name holding U+202E could make `evil.test` read as `tset.live`.
fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// `s` with control characters (ESC, BEL, newlines, DEL, C1) and bidi
/// controls written as `\u{1b}` escapes, for tables and monitoring output.
pub fn printable(s: &str) -> Cow<'_, str> {
    escape(s, |c| c.is_control() || is_bidi_control(c))
}

/// [`printable`] for multi-line messages (errors on standard error): line
/// breaks and tabs stay, every other control character is escaped.
pub fn printable_lines(s: &str) -> Cow<'_, str> {
    escape(s, |c| {
        (c.is_control() && c != '\n' && c != '\t') || is_bidi_control(c)
    })
}

/// `s` in printable ASCII: everything else as a `\u{..}` escape (`--format text`).
pub fn ascii(s: &str) -> Cow<'_, str> {
    escape(s, |c| !(c == ' ' || c.is_ascii_graphic()))
}

fn escape(s: &str, needs_escape: impl Fn(char) -> bool) -> Cow<'_, str> {
    if !s.chars().any(&needs_escape) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if needs_escape(c) {
            // Writing to a String cannot fail.
            let _ = write!(out, "\\u{{{:x}}}", u32::from(c));
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// The Unicode form of an internationalised name (`bücher.test` for
/// `xn--bcher-kva.test`), when it has one that differs and is valid.
pub fn unicode_form(name: &DomainName) -> Option<String> {
    if !name.has_a_label() {
        return None;
    }
    let (unicode, result) = idna::domain_to_unicode(name.as_str());
    (result.is_ok() && unicode != name.as_str()).then_some(unicode)
}

/// `xn--bcher-kva.test (bücher.test)`, or the name alone.
pub fn name_with_unicode(name: &DomainName) -> String {
    match unicode_form(name) {
        Some(unicode) => format!("{name} ({})", printable(&unicode)),
        None => name.to_string(),
    }
}

/// Every domain whose lookup was inconclusive, whatever its findings
/// (the server's own names have none): summaries list all of them.
pub fn inconclusive_domains(audit: &Audit) -> Vec<&AuditedDomain> {
    audit
        .domains
        .iter()
        .filter(|d| d.verdict == Verdict::Inconclusive)
        .collect()
}

/// Domains delivered locally: none means the wrong platform or root.
pub fn local_domain_count(audit: &Audit) -> usize {
    audit
        .domains
        .iter()
        .filter(|d| d.domain.delivery == Delivery::Local)
        .count()
}

/// The message shown when no domain is delivered locally.
pub const NO_LOCAL_DOMAINS: &str = "no mail domains found: wrong --platform or --root?";

/// Up to `limit` names joined with ", ", then "and N more".
pub fn name_list<'a>(names: impl ExactSizeIterator<Item = &'a DomainName>, limit: usize) -> String {
    let total = names.len();
    let mut shown: Vec<&str> = names.take(limit).map(DomainName::as_str).collect();
    let more = total - shown.len();
    let more_text = format!("and {more} more");
    if more > 0 {
        shown.push(&more_text);
    }
    shown.join(", ")
}

/// `--cross-check`: how many domains the installed MTA confirmed, as the
/// table and text summaries say it after `cross-check: ` (`None` without it).
pub fn cross_check_sentence(audit: &Audit) -> Option<String> {
    audit.cross_check.map(|c| {
        format!(
            "{} confirmed {} of {} domains, {} disagree",
            c.mta.as_str(),
            c.confirmed,
            c.asked,
            c.disagreements
        )
    })
}

/// The server's addresses as a summary labels them.
pub fn server_label(audit: &Audit) -> String {
    let addresses: Vec<String> = audit
        .identity
        .addresses
        .iter()
        .map(ToString::to_string)
        .collect();
    match addresses.len() {
        0 => "no server address known: pass --server-ip".to_string(),
        1 => format!("server address {}", addresses[0]),
        _ => format!("server addresses {}", addresses.join(", ")),
    }
}

/// `file:line: `, `file: ` or nothing, for a configuration warning.
pub fn warning_place(w: &InventoryWarning) -> String {
    match (&w.file, w.line) {
        (Some(f), Some(l)) if l > 0 => format!("{f}:{l}: "),
        (Some(f), _) => format!("{f}: "),
        _ => String::new(),
    }
}

/// ` [ignored until 2027-03-31: reason]` for an ignored finding, else empty.
pub fn ignore_note(f: &Finding) -> String {
    match (&f.ignored, f.ignored_until) {
        (Some(reason), Some(until)) => format!(" [ignored until {until}: {reason}]"),
        (Some(reason), None) => format!(" [ignored: {reason}]"),
        _ => String::new(),
    }
}

/// Word-wrap `text` to `width` display columns: lines break at spaces, a
/// word longer than the width is split; existing line breaks stay.
pub fn wrap_words(text: &str, width: usize) -> String {
    let width = width.max(1);
    let mut out: Vec<String> = Vec::new();
    for line in text.split('\n') {
        let mut current = String::new();
        let mut current_width = 0;
        for word in line.split(' ').filter(|w| !w.is_empty()) {
            let word_width = text_width(word);
            if current_width > 0 && current_width + 1 + word_width <= width {
                current.push(' ');
                current.push_str(word);
                current_width += 1 + word_width;
                continue;
            }
            if current_width > 0 {
                out.push(std::mem::take(&mut current));
                current_width = 0;
            }
            // A word wider than the line: split it.
            for c in word.chars() {
                let w = text_width(c.encode_utf8(&mut [0; 4]));
                if current_width + w > width && current_width > 0 {
                    out.push(std::mem::take(&mut current));
                    current_width = 0;
                }
                current.push(c);
                current_width += w;
            }
        }
        out.push(current);
    }
    out.join("\n")
}

/// Display width of text (East Asian wide characters count twice).
pub fn text_width(text: &str) -> usize {
    tabled::grid::util::string::get_text_width(text)
}

/// The terminal width a table should fit: `COLUMNS` when set (as a shell
/// exports it, or given by hand), else the width of the terminal on
/// standard output; `None` when output goes to a file or pipe.
pub fn terminal_width(to_terminal: bool) -> Option<usize> {
    if let Some(columns) = std::env::var("COLUMNS")
        .ok()
        .and_then(|c| c.trim().parse::<usize>().ok())
        .filter(|c| *c > 0)
    {
        return Some(columns);
    }
    if !to_terminal {
        return None;
    }
    terminal_size::terminal_size_of(io::stdout()).map(|(w, _)| usize::from(w.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_and_bidi_characters_are_escaped() {
        assert_eq!(printable("plain.test"), "plain.test");
        assert_eq!(printable("a\u{1b}[2Jb\u{7}"), "a\\u{1b}[2Jb\\u{7}");
        assert_eq!(printable("x\u{202e}y\nz"), "x\\u{202e}y\\u{a}z");
        assert_eq!(printable("bücher"), "bücher");
        assert_eq!(ascii("bücher\t"), "b\\u{fc}cher\\u{9}");
    }

    #[test]
    fn idn_names_show_their_unicode_form() {
        let idn = DomainName::parse("bücher.test").unwrap();
        assert_eq!(unicode_form(&idn).as_deref(), Some("bücher.test"));
        assert_eq!(name_with_unicode(&idn), "xn--bcher-kva.test (bücher.test)");
        let plain = DomainName::parse("moved.test").unwrap();
        assert_eq!(unicode_form(&plain), None);
        // An invalid A-label is shown as it is, never as a guess.
        let bad = DomainName::parse("xn--zz.test").unwrap();
        assert_eq!(unicode_form(&bad), None);
    }

    #[test]
    fn words_wrap_and_long_words_split() {
        assert_eq!(
            wrap_words("MX 10 mx1.test [1.2.3.4] (TTL 3600)", 16),
            "MX 10 mx1.test\n[1.2.3.4] (TTL\n3600)"
        );
        assert_eq!(wrap_words("abcdefghij", 4), "abcd\nefgh\nij");
        assert_eq!(wrap_words("a b\nc", 10), "a b\nc");
        assert_eq!(wrap_words("", 10), "");
    }

    #[test]
    fn name_lists_are_capped() {
        let names: Vec<DomainName> = ["a.test", "b.test", "c.test"]
            .iter()
            .map(|n| DomainName::parse(n).unwrap())
            .collect();
        assert_eq!(name_list(names.iter(), 5), "a.test, b.test, c.test");
        assert_eq!(name_list(names.iter(), 2), "a.test, b.test, and 1 more");
    }
}
