//! main.cf as Postfix reads it: logical lines (`readlline.c`), `name = value`
//! (`split_nameval`), last definition wins, and `$name` expansion
//! (`mac_expand.c`) with Postfix 3.7's defaults for unset parameters.
//!
//! Every expanded character remembers where it literally stands (file,
//! physical line, parameter), so a domain that reaches `mydestination`
//! through `$myhostname` is declared on the line of `myhostname`.

use std::collections::{BTreeMap, BTreeSet};

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
const DEFAULT_MYDOMAIN: &str = "localdomain";

/// Postfix gives up beyond this nesting depth ("unreasonable macro call
/// nesting"); we stop there too instead of risking the stack.
const MAX_EXPANSION_DEPTH: usize = 100;

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
    /// `(byte offset in value, physical line)`: the line each part of
    /// `value` comes from, sorted by offset.
    line_starts: Vec<(usize, u32)>,
}

impl Definition {
    /// Physical line on which the byte at `offset` of [`Definition::value`]
    /// stands.
    pub fn line_at(&self, offset: usize) -> u32 {
        let idx = self
            .line_starts
            .partition_point(|(start, _)| *start <= offset);
        idx.checked_sub(1)
            .and_then(|i| self.line_starts.get(i))
            .map_or(self.line, |(_, line)| *line)
    }
}

/// One logical line of a Postfix text file (main.cf, postmap source).
/// The pieces borrow the file's text: lookup tables have a million lines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct LogicalLine<'t> {
    /// Physical line where it starts.
    pub line: u32,
    /// The physical pieces: the first line with trailing whitespace removed,
    /// then each continuation line as is (leading whitespace kept, as
    /// readlline keeps it) minus trailing whitespace.
    pub pieces: Vec<(u32, &'t str)>,
}

impl<'t> LogicalLine<'t> {
    /// The joined text and the offset where each physical piece starts.
    pub fn joined(&self) -> (String, Vec<(usize, u32)>) {
        let mut text = String::new();
        let mut starts = Vec::with_capacity(self.pieces.len());
        for (line, piece) in &self.pieces {
            starts.push((text.len(), *line));
            text.push_str(piece);
        }
        (text, starts)
    }
}

/// Split text into logical lines as Postfix's `readllines()` does: a line
/// that starts with whitespace continues the previous one; comment lines (`#`
/// as first non-blank) and blank lines are skipped everywhere and do not end
/// a logical line. A logical line that would start with whitespace (a
/// continuation with nothing before it) is dropped, as Postfix drops it with
/// a warning; its first physical line is returned in the second vector.
pub(crate) fn logical_lines(text: &str) -> (Vec<LogicalLine<'_>>, Vec<u32>) {
    let mut lines: Vec<LogicalLine> = Vec::new();
    let mut orphans = Vec::new();
    // Whether the most recent non-comment, non-blank line belongs to a
    // logical line that a continuation may extend.
    let mut open = false;
    for (idx, raw) in text.split('\n').enumerate() {
        let line_no = u32::try_from(idx + 1).unwrap_or(u32::MAX);
        let trimmed_end = raw.trim_end_matches(is_postfix_space);
        let first_non_blank = trimmed_end.trim_start_matches(is_postfix_space);
        if first_non_blank.is_empty() || first_non_blank.starts_with('#') {
            continue;
        }
        let continues = raw.starts_with(is_postfix_space);
        if continues {
            match lines.last_mut() {
                Some(last) if open => last.pieces.push((line_no, trimmed_end)),
                _ => {
                    orphans.push(line_no);
                    open = false;
                }
            }
        } else {
            lines.push(LogicalLine {
                line: line_no,
                pieces: vec![(line_no, trimmed_end)],
            });
            open = true;
        }
    }
    (lines, orphans)
}

/// Postfix's ISSPACE: the C locale's white space.
pub(crate) fn is_postfix_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\r' | '\n' | '\x0b' | '\x0c')
}

/// A default value and where its text stands.
#[derive(Debug, Clone)]
struct DefaultValue {
    value: String,
    origin: Origin,
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
        let (lines, orphan_lines) = logical_lines(text);
        let mut definitions = BTreeMap::new();
        for logical in lines {
            let (joined, starts) = logical.joined();
            let syntax = |message: &str| SourceError::Syntax {
                file: file.to_string(),
                line: logical.line,
                message: message.to_string(),
            };
            // split_nameval: the name runs up to white space or '=', then
            // only white space may come before the '='.
            let name_end = joined
                .find(|c: char| c == '=' || is_postfix_space(c))
                .unwrap_or(joined.len());
            let name = &joined[..name_end];
            let rest = joined[name_end..].trim_start_matches(is_postfix_space);
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
            let line_starts = starts
                .iter()
                .map(|(start, line)| (start.saturating_sub(value_start), *line))
                .collect();
            let continuation_lines = logical.pieces.iter().skip(1).map(|(l, _)| *l).collect();
            definitions.insert(
                name.to_string(),
                Definition {
                    name: name.to_string(),
                    value,
                    line: logical.line,
                    continuation_lines,
                    line_starts,
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
    /// (Postfix uses `gethostname()`). `origin` says where the name was
    /// found; `None` means a built-in default (line 0).
    pub fn set_hostname(&mut self, name: &str, origin: Option<Origin>) {
        let origin = origin.unwrap_or_else(|| self.default_origin("myhostname"));
        self.hostname = Some(DefaultValue {
            value: name.to_string(),
            origin,
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

    /// The value as written in main.cf, else the default (unexpanded);
    /// `None` when the parameter is unknown to both.
    pub fn raw(&self, name: &str) -> Option<String> {
        if let Some(def) = self.definitions.get(name) {
            return Some(def.value.clone());
        }
        self.default_text(name).map(|t| t.text())
    }

    /// The fully expanded value, as `postconf -x -h NAME` prints it.
    pub fn expanded(&self, name: &str) -> String {
        self.expand_param(name).text
    }

    /// The fully expanded value with the origin of every character.
    pub fn expand_param(&self, name: &str) -> Expanded {
        let mut exp = Expander::new(self);
        let mut out = Vec::new();
        exp.expand_name(name, &mut out);
        exp.finish(out)
    }

    fn default_origin(&self, param: &str) -> Origin {
        Origin {
            file: self.file.clone(),
            line: 0,
            param: param.to_string(),
        }
    }

    /// The text of a definition with the origin of each character.
    fn definition_text(&self, def: &Definition) -> OText {
        let mut chars = Vec::with_capacity(def.value.len());
        let mut origins: BTreeMap<u32, Origin> = BTreeMap::new();
        for (offset, c) in def.value.char_indices() {
            let line = def.line_at(offset);
            let origin = origins
                .entry(line)
                .or_insert_with(|| Origin {
                    file: self.file.clone(),
                    line,
                    param: def.name.clone(),
                })
                .clone();
            chars.push(OChar { c, origin });
        }
        OText(chars)
    }

    /// The default text of a parameter not written in main.cf.
    fn default_text(&self, name: &str) -> Option<OText> {
        match name {
            "myhostname" => self.hostname_default(),
            "mydomain" => Some(self.mydomain_default()),
            _ => DEFAULTS
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| OText::uniform(v, &self.default_origin(name))),
        }
    }

    /// Postfix's check_myhostname(): the machine's name, with `.$mydomain`
    /// (or `.localdomain`) appended when it has no dot.
    fn hostname_default(&self) -> Option<OText> {
        let host = self.hostname.as_ref()?;
        let mut text = OText::uniform(&host.value, &host.origin);
        if !host.value.contains('.') {
            let origin = self.default_origin("myhostname");
            text.0.push(OChar {
                c: '.',
                origin: origin.clone(),
            });
            if self.definitions.contains_key("mydomain") {
                let domain = self.expand_param("mydomain");
                text.0.extend(domain.chars);
            } else {
                text.0.extend(OText::uniform(DEFAULT_MYDOMAIN, &origin).0);
            }
        }
        Some(text)
    }

    /// Postfix's check_mydomain(): `myhostname` minus its first label, or
    /// `localdomain` when it has no dot. The characters keep the origin of
    /// `myhostname`, since that is where the name literally stands.
    fn mydomain_default(&self) -> OText {
        let host = self.expand_param("myhostname");
        match host.chars.iter().position(|oc| oc.c == '.') {
            Some(dot) => OText(host.chars.into_iter().skip(dot + 1).collect()),
            None => OText::uniform(DEFAULT_MYDOMAIN, &self.default_origin("mydomain")),
        }
    }

    /// The text a `$name` lookup returns, with origins.
    fn lookup(&self, name: &str) -> Option<OText> {
        match self.definitions.get(name) {
            Some(def) => Some(self.definition_text(def)),
            None => self.default_text(name),
        }
    }
}

/// A character of configuration text and where it stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OChar {
    pub c: char,
    pub origin: Origin,
}

#[derive(Debug, Clone, Default)]
struct OText(Vec<OChar>);

impl OText {
    fn uniform(text: &str, origin: &Origin) -> OText {
        OText(
            text.chars()
                .map(|c| OChar {
                    c,
                    origin: origin.clone(),
                })
                .collect(),
        )
    }

    fn text(&self) -> String {
        self.0.iter().map(|oc| oc.c).collect()
    }
}

/// The result of expanding a parameter.
#[derive(Debug, Clone)]
pub struct Expanded {
    /// The expanded text.
    pub text: String,
    /// One entry per character of `text`.
    pub chars: Vec<OChar>,
    /// Every parameter whose value was used on the way.
    pub referenced: BTreeSet<String>,
    /// Problems Postfix would report (most of them fatally): loops, syntax
    /// errors in `${...}`.
    pub problems: Vec<String>,
}

impl Expanded {
    /// Origin of the character that starts at byte `offset` of `text`.
    pub fn origin_at(&self, offset: usize) -> Option<&Origin> {
        let idx = self.text.get(..offset)?.chars().count();
        self.chars.get(idx).map(|oc| &oc.origin)
    }
}

/// The expansion engine: mac_parse/mac_expand semantics with loop and depth
/// protection (Postfix stops with "unreasonable macro call nesting"; we
/// report a problem and expand the offending reference to nothing).
struct Expander<'a> {
    cf: &'a MainCf,
    /// Parameters being expanded, innermost last: a name already here is a loop.
    stack: Vec<String>,
    referenced: BTreeSet<String>,
    problems: Vec<String>,
    depth: usize,
}

impl<'a> Expander<'a> {
    fn new(cf: &'a MainCf) -> Self {
        Expander {
            cf,
            stack: Vec::new(),
            referenced: BTreeSet::new(),
            problems: Vec::new(),
            depth: 0,
        }
    }

    fn finish(self, chars: Vec<OChar>) -> Expanded {
        Expanded {
            text: chars.iter().map(|oc| oc.c).collect(),
            chars,
            referenced: self.referenced,
            problems: self.problems,
        }
    }

    fn problem(&mut self, message: String) {
        if !self.problems.contains(&message) {
            self.problems.push(message);
        }
    }

    /// Expand `$name`: the value of `name`, itself expanded (Postfix expands
    /// main.cf values recursively); undefined is empty.
    fn expand_name(&mut self, name: &str, out: &mut Vec<OChar>) {
        if self.stack.iter().any(|n| n == name) {
            let chain = self.stack.join(" -> ");
            self.problem(format!(
                "parameter expansion loop: {chain} -> {name}; Postfix stops with \"unreasonable macro call nesting\""
            ));
            return;
        }
        if self.depth >= MAX_EXPANSION_DEPTH {
            self.problem(format!("unreasonable macro call nesting at ${name}"));
            return;
        }
        self.referenced.insert(name.to_string());
        let Some(value) = self.cf.lookup(name) else {
            return;
        };
        self.stack.push(name.to_string());
        self.depth += 1;
        self.expand_text(&value.0, out);
        self.depth -= 1;
        self.stack.pop();
    }

    /// mac_parse: copy text, expanding `$name`, `${...}`, `$(...)`, `$$`.
    fn expand_text(&mut self, input: &[OChar], out: &mut Vec<OChar>) {
        let mut i = 0;
        while let Some(oc) = input.get(i) {
            if oc.c != '$' {
                out.push(oc.clone());
                i += 1;
                continue;
            }
            match input.get(i + 1).map(|n| n.c) {
                Some('$') => {
                    out.push(oc.clone());
                    i += 2;
                }
                Some(open @ ('{' | '(')) => {
                    let close = if open == '{' { '}' } else { ')' };
                    let mut level = 0usize;
                    let mut end = None;
                    for (j, inner) in input.iter().enumerate().skip(i + 1) {
                        if inner.c == open {
                            level += 1;
                        } else if inner.c == close {
                            level = level.saturating_sub(1);
                            if level == 0 {
                                end = Some(j);
                                break;
                            }
                        }
                    }
                    let Some(end) = end else {
                        let rest: String = input.iter().skip(i).map(|o| o.c).collect();
                        self.problem(format!("unbalanced {open}{close} in \"{rest}\""));
                        return;
                    };
                    let body = input.get(i + 2..end).unwrap_or(&[]);
                    self.expand_expression(body, out);
                    i = end + 1;
                }
                Some(c) if c.is_ascii_alphanumeric() || c == '_' => {
                    let mut j = i + 1;
                    while input
                        .get(j)
                        .is_some_and(|n| n.c.is_ascii_alphanumeric() || n.c == '_')
                    {
                        j += 1;
                    }
                    let name: String = input
                        .get(i + 1..j)
                        .unwrap_or(&[])
                        .iter()
                        .map(|o| o.c)
                        .collect();
                    self.expand_name(&name, out);
                    i = j;
                }
                _ => {
                    // Postfix: "empty macro name", a fatal error. Keep the
                    // '$' as text so the value stays readable.
                    let text: String = input.iter().map(|o| o.c).collect();
                    self.problem(format!("empty macro name in \"{text}\""));
                    out.push(oc.clone());
                    i += 1;
                }
            }
        }
    }

    /// The inside of `${...}`: a named parameter with optional `?`/`:`
    /// branches, or a logical expression `{a} op {b}` with optional branches.
    fn expand_expression(&mut self, body: &[OChar], out: &mut Vec<OChar>) {
        let body_text: String = body.iter().map(|o| o.c).collect();
        let mut pos = skip_ws(body, 0);
        // `lookup`: the value the branches test; None = undefined.
        let lookup: Option<String>;
        let op: Option<char>;
        let value_start = pos;
        if body.get(pos).is_some_and(|o| o.c == '{') {
            let Some(result) = self.logical(body, &mut pos) else {
                self.problem(format!("bad logical expression in \"${{{body_text}}}\""));
                return;
            };
            lookup = Some(if result { "true".into() } else { String::new() });
            match body.get(pos).map(|o| o.c) {
                None => {
                    if result {
                        let origin = body
                            .get(value_start)
                            .map(|o| o.origin.clone())
                            .unwrap_or_else(|| self.cf.default_origin(""));
                        out.extend(OText::uniform("true", &origin).0);
                    }
                    return;
                }
                Some(c @ ('?' | ':')) => {
                    op = Some(c);
                    pos += 1;
                }
                Some(_) => {
                    self.problem(format!("\"?\" or \":\" expected in \"${{{body_text}}}\""));
                    return;
                }
            }
        } else {
            let name_end = body
                .iter()
                .position(|o| o.c == '?' || o.c == ':')
                .unwrap_or(body.len());
            let name: String = body
                .get(..name_end)
                .unwrap_or(&[])
                .iter()
                .map(|o| o.c)
                .collect();
            let name = name.trim_matches(is_postfix_space);
            if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                self.problem(format!(
                    "attribute name syntax error in \"${{{body_text}}}\""
                ));
                return;
            }
            match body.get(name_end).map(|o| o.c) {
                None => {
                    self.expand_name(name, out);
                    return;
                }
                Some(c) => {
                    op = Some(c);
                    pos = name_end + 1;
                    // MAC_EXP_MODE_TEST: the raw (unexpanded) value decides.
                    self.referenced.insert(name.to_string());
                    lookup = self.cf.raw(name);
                }
            }
        }
        let non_empty = lookup.as_deref().is_some_and(|v| !v.is_empty());
        if op == Some('?') {
            let (if_true, after) = branch(body, pos);
            if non_empty {
                self.expand_text(if_true, out);
            }
            match body.get(after).map(|o| o.c) {
                None => return,
                Some(':') => pos = after + 1,
                Some(_) => {
                    self.problem(format!("\":\" expected in \"${{{body_text}}}\""));
                    return;
                }
            }
        }
        let (if_false, after) = branch(body, pos);
        if !non_empty {
            self.expand_text(if_false, out);
        }
        if after < body.len() {
            self.problem(format!("unexpected input in \"${{{body_text}}}\""));
        }
    }

    /// `{left} op {right}`; `pos` starts at the first `{` and ends after the
    /// right operand and following white space.
    fn logical(&mut self, body: &[OChar], pos: &mut usize) -> Option<bool> {
        let (left, after_left) = curly_payload(body, *pos)?;
        let mut p = after_left;
        let op_start = p;
        while body.get(p).is_some_and(|o| "<>!=?+-*/~&|%".contains(o.c)) {
            p += 1;
        }
        let mut op: String = body.get(op_start..p)?.iter().map(|o| o.c).collect();
        let level_word: Vec<char> = "level".chars().collect();
        let is_level = body
            .get(p..p + level_word.len())
            .is_some_and(|w| w.iter().map(|o| o.c).eq(level_word.iter().copied()));
        if is_level {
            op.push_str("level");
            p += level_word.len();
        }
        p = skip_ws(body, p);
        if body.get(p).map(|o| o.c) != Some('{') {
            return None;
        }
        let (right, after_right) = curly_payload(body, p)?;
        let mut left_out = Vec::new();
        self.expand_text(left, &mut left_out);
        let mut right_out = Vec::new();
        self.expand_text(right, &mut right_out);
        let l: String = left_out.iter().map(|o| o.c).collect();
        let r: String = right_out.iter().map(|o| o.c).collect();
        *pos = after_right;
        compare(&l, &op, &r)
    }
}

/// Evaluate a relational operator as Postfix 3.7 does: `==`/`!=` compare
/// text; `<` and friends compare numbers (text when either is not a
/// number); the `level` forms compare compatibility levels (`3.6` > `2`).
fn compare(left: &str, op: &str, right: &str) -> Option<bool> {
    if let Some(base) = op.strip_suffix("level") {
        return ordering_matches(compat_level(left)?.cmp(&compat_level(right)?), base);
    }
    match op {
        "==" => Some(left == right),
        "!=" => Some(left != right),
        _ => {
            let ordering = match (left.trim().parse::<i64>(), right.trim().parse::<i64>()) {
                (Ok(l), Ok(r)) => l.cmp(&r),
                _ => left.cmp(right),
            };
            ordering_matches(ordering, op)
        }
    }
}

fn ordering_matches(ordering: std::cmp::Ordering, op: &str) -> Option<bool> {
    use std::cmp::Ordering::{Equal, Greater, Less};
    Some(match op {
        "==" => ordering == Equal,
        "!=" => ordering != Equal,
        "<" => ordering == Less,
        "<=" => ordering != Greater,
        ">" => ordering == Greater,
        ">=" => ordering != Less,
        _ => return None,
    })
}

/// A compatibility level `major[.minor[.patch]]`; empty is level 0.
fn compat_level(text: &str) -> Option<(u64, u64, u64)> {
    let text = text.trim();
    if text.is_empty() {
        return Some((0, 0, 0));
    }
    let mut parts = text.split('.').map(|p| p.parse::<u64>());
    let major = parts.next()?.ok()?;
    let minor = parts.next().transpose().ok()?.unwrap_or(0);
    let patch = parts.next().transpose().ok()?.unwrap_or(0);
    if parts.next().is_some() {
        return None;
    }
    Some((major, minor, patch))
}

fn skip_ws(body: &[OChar], mut pos: usize) -> usize {
    while body.get(pos).is_some_and(|o| is_postfix_space(o.c)) {
        pos += 1;
    }
    pos
}

/// A balanced `{...}` starting at `pos`: its payload and the position after
/// the closing brace and any white space.
fn curly_payload(body: &[OChar], pos: usize) -> Option<(&[OChar], usize)> {
    let mut level = 0usize;
    for (j, o) in body.iter().enumerate().skip(pos) {
        match o.c {
            '{' => level += 1,
            '}' => {
                level = level.saturating_sub(1);
                if level == 0 {
                    return Some((body.get(pos + 1..j)?, skip_ws(body, j + 1)));
                }
            }
            _ => {}
        }
    }
    None
}

/// A `?`/`:` branch starting at `pos`: `{text}` (then the position after
/// it), or the rest of the body as plain text.
fn branch(body: &[OChar], pos: usize) -> (&[OChar], usize) {
    let start = skip_ws(body, pos);
    if body.get(start).is_some_and(|o| o.c == '{')
        && let Some((payload, after)) = curly_payload(body, start)
    {
        return (payload, after);
    }
    (body.get(pos..).unwrap_or(&[]), body.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cf(text: &str) -> MainCf {
        let mut cf = MainCf::parse("etc/postfix/main.cf", text).unwrap();
        cf.set_hostname("vm.localdomain", None);
        cf
    }

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

    #[test]
    fn mac_expand_plain_braced_and_parenthesised_names() {
        let cf = cf("a = x\nmydestination = $a ${a}b $(a).c ${ a }\n");
        assert_eq!(cf.expanded("mydestination"), "x xb x.c x");
    }

    #[test]
    fn mac_expand_double_dollar_is_a_literal_dollar() {
        let cf = cf("a = x\nb = $$a\nmydestination = $$a $b\n");
        assert_eq!(cf.expanded("mydestination"), "$a $a");
    }

    #[test]
    fn mac_expand_conditionals_test_the_raw_value() {
        let cf = cf(
            "a = x\ne =\nr = $e\nmydestination = ${a?yes}|${e?no}|${a:no}|${e:yes}|${undef:u}|${r?raw}\n",
        );
        assert_eq!(cf.expanded("mydestination"), "yes|||yes|u|raw");
    }

    #[test]
    fn mac_expand_ternary_with_braces() {
        let cf = cf(
            "a = x\nb = y\nmydestination = ${a?{$b}:{n}} ${undef?{y}:{n2}} ${a ?{t} : {f}} ${a?{{nested}}}\n",
        );
        assert_eq!(cf.expanded("mydestination"), "y n2 t {nested}");
    }

    #[test]
    fn mac_expand_unbraced_branch_runs_to_the_end() {
        let cf = cf("a = x\nb = y\nmydestination = ${a?$b and c}\n");
        assert_eq!(cf.expanded("mydestination"), "y and c");
    }

    #[test]
    fn mac_expand_logical_expressions() {
        let cf = cf(concat!(
            "mydestination = ${{1} == {1} ? {eq} : {ne}}",
            " ${{3} < {10} ? {lt} : {ge}}",
            " ${{3.10} >level {3.9} ? {gt} : {le}}",
            " ${{1}=={2}}x ${{1} == {1}}\n"
        ));
        assert_eq!(cf.expanded("mydestination"), "eq lt gt x true");
    }

    #[test]
    fn relay_domains_default_follows_compatibility_level() {
        let cf0 = cf("mydestination = a.test\n");
        assert_eq!(cf0.expanded("relay_domains"), "a.test");
        let cf2 = cf("mydestination = a.test\ncompatibility_level = 3.6\n");
        assert_eq!(cf2.expanded("relay_domains"), "");
    }

    #[test]
    fn undefined_parameter_expands_to_nothing() {
        let cf = cf("mydestination = a$nothing b\n");
        assert_eq!(cf.expanded("mydestination"), "a b");
    }

    #[test]
    fn expansion_loop_is_a_problem_not_a_hang() {
        let cf = cf("a = $b\nb = x $a\nmydestination = $a, $mydestination\n");
        let e = cf.expand_param("mydestination");
        assert_eq!(e.text, "x , ");
        assert!(
            e.problems.iter().any(|p| p.contains("loop")),
            "{:?}",
            e.problems
        );
    }

    #[test]
    fn deep_but_finite_nesting_expands() {
        let mut text = String::new();
        for i in 0..60 {
            text.push_str(&format!("p{i} = $p{}\n", i + 1));
        }
        text.push_str("p60 = end.test\nmydestination = $p0\n");
        assert_eq!(cf(&text).expanded("mydestination"), "end.test");
    }

    #[test]
    fn empty_macro_name_is_a_problem() {
        let cf = cf("mydestination = a$ b\n");
        let e = cf.expand_param("mydestination");
        assert_eq!(e.text, "a$ b");
        assert_eq!(e.problems.len(), 1);
    }

    #[test]
    fn mydestination_default_uses_myhostname_and_mydomain() {
        let cf = cf("myhostname = mail.example.org\n");
        assert_eq!(
            cf.expanded("mydestination"),
            "mail.example.org, localhost.example.org, localhost"
        );
        let e = cf.expand_param("mydestination");
        // "mail.example.org" stands on line 1, "localhost" in the default.
        assert_eq!(e.origin_at(0).unwrap().line, 1);
        let lh = e.text.rfind("localhost").unwrap();
        assert_eq!(e.origin_at(lh).unwrap().line, 0);
    }

    #[test]
    fn explicit_dotless_myhostname_is_kept_and_mydomain_defaults_to_localdomain() {
        let cf = cf("myhostname = host\nmydestination = $myhostname $mydomain\n");
        assert_eq!(cf.expanded("mydestination"), "host localdomain");
    }

    #[test]
    fn machine_hostname_without_dot_gets_mydomain_appended() {
        let mut c = MainCf::parse("etc/postfix/main.cf", "mydomain = ex.test\n").unwrap();
        c.set_hostname("box", None);
        assert_eq!(c.expanded("myhostname"), "box.ex.test");
        let mut c = MainCf::parse("etc/postfix/main.cf", "").unwrap();
        c.set_hostname("box", None);
        assert_eq!(c.expanded("myhostname"), "box.localdomain");
        assert_eq!(c.expanded("mydomain"), "localdomain");
    }

    #[test]
    fn origins_point_at_continuation_lines() {
        let cf = cf("mydestination = a.test,\n# c\n  b.test\n");
        let e = cf.expand_param("mydestination");
        let b = e.text.find("b.test").unwrap();
        assert_eq!(e.origin_at(b).unwrap().line, 3);
        assert_eq!(e.origin_at(0).unwrap().line, 1);
    }
}
