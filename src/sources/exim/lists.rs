//! Exim domain lists (`match.c`): the items of a named list, and which
//! domains it matches.
//!
//! Facts a newcomer gets wrong: the first item that matches decides (a
//! negated one says "no"); a list whose *last* item is negated matches
//! every domain no item matched; `<;` at the start changes the separator,
//! and a doubled separator is one literal separator; a file name is a list
//! of one item per line (`#` anywhere starts a comment), never split at
//! the separator; `+name` asks another named list; literal names compare
//! ASCII case-insensitively; a lookup (`lsearch;FILE`, `dsearch;DIR`) looks
//! the domain up as a key.

use std::collections::{BTreeMap, BTreeSet};

use crate::inventory::DomainName;
use crate::sources::exim::conf::{ListKind, Located, MainSection, Origin};
use crate::sources::reading::{LsearchLine, lsearch_lines};
use crate::sources::{ConfigRoot, SourceError};

/// How deep `+name` references may nest before mxdrift gives up.
const MAX_DEPTH: usize = 16;

/// Where an item or key stands: a place in the configuration, or a line of
/// a list or lookup file (indexes into [`DomainLists::files`]).
pub(crate) type Place = Origin;

/// What an item of a domain list is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Pattern {
    /// A literal name (lower case): compared ASCII case-insensitively.
    Name(String),
    /// `@`: the primary host name.
    PrimaryHostname,
    /// `*suffix`: every domain ending in `suffix` (`*` alone: every domain).
    Suffix(String),
    /// `+name`: another named domain list.
    Named(String),
    /// `lsearch;FILE` (and `partial-lsearch`): the keys of the file, as
    /// Exim compares them (lower case), each with where it stands; keys
    /// `*.x` of a partial lookup, which match `x` and every name below it.
    Lsearch {
        keys: BTreeMap<String, Place>,
        partial: Option<PartialKeys>,
    },
    /// `dsearch;DIR`: the names of the directory's entries, exactly.
    Dsearch { entries: BTreeMap<String, Place> },
    /// What mxdrift cannot decide without running Exim: a regular
    /// expression, an expansion, a query lookup, `@mx_any`, ...
    Opaque(Opaque),
}

/// The wildcard keys of a `partial[N]-lsearch` lookup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PartialKeys {
    /// The fewest labels a parent of the looked-up name must keep for
    /// `*.parent` to be tried (N, default 2); `*.name` itself is always
    /// tried.
    pub min_labels: usize,
    /// `*.x` keys: x (lower case) and where the key stands.
    pub wildcards: BTreeMap<String, Place>,
}

/// Why an item cannot be enumerated (the warning's words).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Opaque {
    Regex,
    Expansion,
    Lookup(String),
    MxOrIp(String),
    MissingList(String),
    UnreadableFile(String),
    TooDeep,
}

impl Opaque {
    pub fn describe(&self) -> String {
        match self {
            Opaque::Regex => "a regular expression".to_string(),
            Opaque::Expansion => "a `$` expansion".to_string(),
            Opaque::Lookup(kind) => format!("a {kind} lookup"),
            Opaque::MxOrIp(item) => format!("`{item}` (it depends on DNS or interfaces)"),
            Opaque::MissingList(name) => format!("+{name}, a list that is not defined"),
            Opaque::UnreadableFile(file) => format!("{file}, which could not be read"),
            Opaque::TooDeep => format!("lists nested deeper than {MAX_DEPTH}"),
        }
    }
}

/// One item of a list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Item {
    pub negated: bool,
    pub pattern: Pattern,
    pub place: Option<Place>,
}

/// Exim's answer for one domain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Matched by the item standing at this place (`None`: by the list
    /// ending in a negated item).
    Yes(Option<Origin>),
    No,
    /// Depends on something mxdrift cannot evaluate.
    Unknown,
}

/// The domain lists of a configuration, parsed.
#[derive(Debug, Default)]
pub(crate) struct DomainLists {
    pub lists: BTreeMap<String, Vec<Item>>,
    /// Files shown in places: the configuration's, then list and lookup files.
    pub files: Vec<String>,
    pub primary_hostname: Option<(String, Option<Origin>)>,
}

impl DomainLists {
    pub fn parse(
        root: &ConfigRoot,
        main: &MainSection,
        hostname: Option<&str>,
    ) -> Result<DomainLists, SourceError> {
        let mut out = DomainLists {
            files: main.files.clone(),
            ..DomainLists::default()
        };
        out.primary_hostname = match &main.primary_hostname {
            Some((value, _, _)) => {
                let text = value.text.trim().to_ascii_lowercase();
                Some((text.clone(), value.origin(0, value.text.len())))
            }
            None => hostname.map(|h| (h.to_ascii_lowercase(), None)),
        };
        for (name, list) in &main.lists {
            if list.kind != ListKind::Domain {
                continue;
            }
            let items = out.items(root, &list.value)?;
            out.lists.insert(name.clone(), items);
        }
        Ok(out)
    }

    fn items(&mut self, root: &ConfigRoot, value: &Located) -> Result<Vec<Item>, SourceError> {
        if value.text.contains('$') {
            return Ok(vec![Item {
                negated: false,
                pattern: Pattern::Opaque(Opaque::Expansion),
                place: value.origin(0, value.text.len()),
            }]);
        }
        let mut items = Vec::new();
        let (sep, ranges) = split_list_with_separator(&value.text);
        for (start, end) in ranges {
            let raw = &value.text[start..end];
            let (negated, at) = negation(raw);
            let doubled = format!("{sep}{sep}");
            let undoubled = raw[at..].replace(&doubled, &sep.to_string());
            let body = undoubled.as_str();
            let mut place = value.origin(start + at, end);
            if body.len() != end - start - at
                && let Some(place) = place.as_mut()
            {
                place.span = None;
            }
            if body.starts_with('/') {
                self.file_items(root, body, negated, &mut items)?;
                continue;
            }
            let blank_after_bang = negated && at > 1;
            let pattern = match body.split_once(';') {
                // Exim reads the blank into the lookup's type and fails.
                Some((kind, _)) if blank_after_bang => {
                    Pattern::Opaque(Opaque::Lookup(format!("! {kind}")))
                }
                _ => self.pattern(root, body)?,
            };
            items.push(Item {
                negated,
                pattern,
                place,
            });
        }
        Ok(items)
    }

    /// The items of a list file: one per line, `#` anywhere starts a
    /// comment, white space around is dropped, `!` negates.
    fn file_items(
        &mut self,
        root: &ConfigRoot,
        path: &str,
        negated: bool,
        items: &mut Vec<Item>,
    ) -> Result<(), SourceError> {
        let text = match root.read_to_string(path) {
            Ok(text) => text,
            // Exim defers on it; a file that stops the run is remembered
            // by the root all the same.
            Err(SourceError::Io { .. } | SourceError::File { .. }) => {
                items.push(Item {
                    negated,
                    pattern: Pattern::Opaque(Opaque::UnreadableFile(root.display(path))),
                    place: None,
                });
                return Ok(());
            }
            Err(error) => return Err(error),
        };
        let file = self.add_file(root.display(path));
        let mut offset = 0;
        for (index, raw) in text.split_inclusive('\n').enumerate() {
            let at = offset;
            offset += raw.len();
            let content = raw.split('#').next().unwrap_or("");
            let trimmed = content.trim();
            if trimmed.is_empty() {
                continue;
            }
            let lead = content.len() - content.trim_start().len();
            let (inner_negated, bang) = negation(trimmed);
            let body = &trimmed[bang..];
            let place = Origin {
                file,
                line: crate::sources::reading::line_number(index),
                span: Some(crate::inventory::ByteSpan::at(at + lead + bang, body.len())),
            };
            let pattern = if body.starts_with('/') {
                Pattern::Opaque(Opaque::Lookup("nested file".to_string()))
            } else {
                self.pattern(root, body)?
            };
            items.push(Item {
                negated: negated != inner_negated,
                pattern,
                place: Some(place),
            });
        }
        Ok(())
    }

    fn add_file(&mut self, shown: String) -> usize {
        self.files.push(shown);
        self.files.len() - 1
    }

    fn pattern(&mut self, root: &ConfigRoot, body: &str) -> Result<Pattern, SourceError> {
        if let Some(name) = body.strip_prefix('+') {
            return Ok(Pattern::Named(name.to_string()));
        }
        if body == "@" {
            return Ok(Pattern::PrimaryHostname);
        }
        if body.starts_with('@') {
            return Ok(Pattern::Opaque(Opaque::MxOrIp(body.to_string())));
        }
        if body.starts_with('^') {
            return Ok(Pattern::Opaque(Opaque::Regex));
        }
        if body.contains('\\') {
            return Ok(Pattern::Opaque(Opaque::Expansion));
        }
        if let Some(suffix) = body.strip_prefix('*') {
            return Ok(Pattern::Suffix(suffix.to_ascii_lowercase()));
        }
        // Any `;` makes the item a lookup (an unknown type fails in Exim).
        if let Some((kind, data)) = body.split_once(';') {
            return self.lookup(root, kind.trim(), data.trim());
        }
        Ok(Pattern::Name(body.to_ascii_lowercase()))
    }

    fn lookup(
        &mut self,
        root: &ConfigRoot,
        kind: &str,
        data: &str,
    ) -> Result<Pattern, SourceError> {
        let (partial, base) = match kind.strip_prefix("partial") {
            Some(rest) => {
                let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
                let after = &rest[digits.len()..];
                match after.strip_prefix('-') {
                    Some(base) => (Some(digits.parse::<usize>().unwrap_or(2)), base),
                    None => return Ok(Pattern::Opaque(Opaque::Lookup(kind.to_string()))),
                }
            }
            None => (None, kind),
        };
        let opaque = || Ok(Pattern::Opaque(Opaque::Lookup(kind.to_string())));
        if !data.starts_with('/') {
            return opaque();
        }
        match (base, partial) {
            ("lsearch", partial) => {
                let bytes = match root.read_bytes(data, crate::safe_fs::TABLE_LIMIT) {
                    Ok(bytes) => bytes,
                    Err(SourceError::Io { .. } | SourceError::File { .. }) => {
                        return Ok(Pattern::Opaque(Opaque::UnreadableFile(root.display(data))));
                    }
                    Err(error) => return Err(error),
                };
                let file = self.add_file(root.display(data));
                let mut keys = BTreeMap::new();
                let mut wildcards = BTreeMap::new();
                for line in lsearch_lines(&bytes) {
                    let LsearchLine::Entry {
                        line, key, span, ..
                    } = line
                    else {
                        continue;
                    };
                    let Ok(key) = std::str::from_utf8(&key) else {
                        continue;
                    };
                    let key = key.to_ascii_lowercase();
                    let place = Origin { file, line, span };
                    match (partial, key.strip_prefix("*.")) {
                        (Some(_), Some(parent)) => {
                            wildcards.entry(parent.to_string()).or_insert(place);
                        }
                        _ => {
                            keys.entry(key).or_insert(place);
                        }
                    }
                }
                Ok(Pattern::Lsearch {
                    keys,
                    partial: partial.map(|min_labels| PartialKeys {
                        min_labels,
                        wildcards,
                    }),
                })
            }
            ("dsearch", None) => {
                let Ok(Some(entries)) = root.entries(data) else {
                    return Ok(Pattern::Opaque(Opaque::UnreadableFile(root.display(data))));
                };
                let shown = root.display(data);
                let file = self.add_file(shown);
                let entries = entries
                    .into_iter()
                    .filter_map(|entry| entry.name.into_string().ok())
                    .map(|name| {
                        (
                            name,
                            Origin {
                                file,
                                line: 0,
                                span: None,
                            },
                        )
                    })
                    .collect();
                Ok(Pattern::Dsearch { entries })
            }
            _ => opaque(),
        }
    }

    /// Exim's answer for `domain` (lower case) in the named list.
    pub fn decide(&self, list: &str, domain: &str) -> Decision {
        self.decide_at(list, domain, 0)
    }

    fn decide_at(&self, list: &str, domain: &str, depth: usize) -> Decision {
        let Some(items) = self.lists.get(list) else {
            return Decision::Unknown;
        };
        if depth > MAX_DEPTH {
            return Decision::Unknown;
        }
        let mut last_negated = false;
        for item in items {
            match self.item_matches(item, domain, depth) {
                Match::Unknown => return Decision::Unknown,
                Match::Yes(place) => {
                    return if item.negated {
                        Decision::No
                    } else {
                        Decision::Yes(place)
                    };
                }
                Match::No => last_negated = item.negated,
            }
        }
        if last_negated {
            Decision::Yes(None)
        } else {
            Decision::No
        }
    }

    fn item_matches(&self, item: &Item, domain: &str, depth: usize) -> Match {
        let here = || Match::Yes(item.place);
        match &item.pattern {
            Pattern::Name(name) if name == domain => here(),
            Pattern::Name(_) => Match::No,
            Pattern::PrimaryHostname => match &self.primary_hostname {
                Some((name, _)) if name == domain => here(),
                Some(_) => Match::No,
                None => Match::Unknown,
            },
            Pattern::Suffix(suffix) if domain.ends_with(suffix.as_str()) => here(),
            Pattern::Suffix(_) => Match::No,
            Pattern::Named(name) => match self.decide_at(name, domain, depth + 1) {
                Decision::Yes(place) => Match::Yes(place.or(item.place)),
                Decision::No => Match::No,
                Decision::Unknown => Match::Unknown,
            },
            Pattern::Lsearch { keys, partial } => {
                if let Some(place) = keys.get(domain) {
                    return Match::Yes(Some(*place));
                }
                let Some(partial) = partial else {
                    return Match::No;
                };
                let labels: Vec<&str> = domain.split('.').collect();
                for skip in 0..labels.len() {
                    // `*.` before the whole name is always tried; before
                    // a parent only while it keeps N labels.
                    if skip > 0 && labels.len() - skip < partial.min_labels {
                        break;
                    }
                    let parent = labels[skip..].join(".");
                    if let Some(place) = partial.wildcards.get(&parent) {
                        return Match::Yes(Some(*place));
                    }
                }
                Match::No
            }
            Pattern::Dsearch { entries } => match entries.get(domain) {
                Some(place) => Match::Yes(Some(*place)),
                None => Match::No,
            },
            Pattern::Opaque(_) => Match::Unknown,
        }
    }

    /// Every name a list may match that mxdrift can name: literal names,
    /// the primary host name, lookup keys, directory entries, and the
    /// parents of partial lookups' wildcard keys.
    pub fn candidates(&self, list: &str) -> BTreeSet<String> {
        let mut out = BTreeSet::new();
        self.collect_candidates(list, 0, &mut out);
        out
    }

    fn collect_candidates(&self, list: &str, depth: usize, out: &mut BTreeSet<String>) {
        let Some(items) = self.lists.get(list) else {
            return;
        };
        if depth > MAX_DEPTH {
            return;
        }
        for item in items {
            match &item.pattern {
                Pattern::Name(name) => {
                    out.insert(name.clone());
                }
                Pattern::PrimaryHostname => {
                    if let Some((name, _)) = &self.primary_hostname {
                        out.insert(name.clone());
                    }
                }
                Pattern::Named(name) => self.collect_candidates(name, depth + 1, out),
                Pattern::Lsearch { keys, partial } => {
                    out.extend(keys.keys().cloned());
                    if let Some(partial) = partial {
                        out.extend(partial.wildcards.keys().cloned());
                    }
                }
                Pattern::Dsearch { entries } => out.extend(entries.keys().cloned()),
                Pattern::Suffix(_) | Pattern::Opaque(_) => {}
            }
        }
    }

    /// The reasons a list may match names mxdrift cannot list: positive
    /// items that match open-ended sets, items it cannot evaluate, and a
    /// last item that is negated. Each with where it stands.
    pub fn open_ends(&self, list: &str) -> Vec<(String, Option<Origin>)> {
        let mut out = Vec::new();
        self.collect_open_ends(list, 0, &mut out);
        out
    }

    fn collect_open_ends(&self, list: &str, depth: usize, out: &mut Vec<(String, Option<Origin>)>) {
        let Some(items) = self.lists.get(list) else {
            out.push((Opaque::MissingList(list.to_string()).describe(), None));
            return;
        };
        if depth > MAX_DEPTH {
            out.push((Opaque::TooDeep.describe(), None));
            return;
        }
        for item in items {
            match &item.pattern {
                Pattern::Opaque(why) => out.push((why.describe(), item.place)),
                Pattern::Suffix(suffix) if !item.negated => {
                    out.push((format!("the wildcard `*{suffix}`"), item.place));
                }
                Pattern::Named(name) if !item.negated => {
                    self.collect_open_ends(name, depth + 1, out);
                }
                Pattern::Named(name) => {
                    // A negated list excludes what it matches; it adds
                    // nothing unless it cannot be evaluated.
                    let mut inner = Vec::new();
                    self.collect_open_ends(name, depth + 1, &mut inner);
                    out.extend(inner);
                }
                Pattern::Lsearch {
                    partial: Some(partial),
                    ..
                } if !item.negated && !partial.wildcards.is_empty() => {
                    for (parent, place) in &partial.wildcards {
                        out.push((
                            format!("the partial lookup's key `*.{parent}`"),
                            Some(*place),
                        ));
                    }
                }
                _ => {}
            }
        }
        if items.last().is_some_and(|item| item.negated) {
            out.push((
                "a last item that is negated (the list then matches every other domain)"
                    .to_string(),
                items.last().and_then(|item| item.place),
            ));
        }
    }

    /// The domains of a list, decided: every candidate that is a valid
    /// name, with Exim's answer.
    pub fn enumerate(&self, list: &str) -> Vec<(String, Decision)> {
        self.candidates(list)
            .into_iter()
            .filter(|name| DomainName::parse(name).is_ok_and(|d| d.as_str() == name))
            .map(|name| {
                let decision = self.decide(list, &name);
                (name, decision)
            })
            .collect()
    }
}

enum Match {
    Yes(Option<Origin>),
    No,
    Unknown,
}

/// `!` (and white space after it) at the start of an item. Exim takes one
/// `!`: in `! !a.test` the item is the literal `!a.test`, negated.
fn negation(raw: &str) -> (bool, usize) {
    match raw.strip_prefix('!') {
        Some(rest) => (true, raw.len() - rest.trim_start().len()),
        None => (false, 0),
    }
}

/// The items of a list as byte ranges of `text` (white space around each
/// dropped; a doubled separator stays in the item as written, see
/// [`item_text`]). `<X` at the start makes X the separator.
pub(crate) fn split_list(text: &str) -> Vec<(usize, usize)> {
    split_list_with_separator(text).1
}

/// [`split_list`], and the separator.
fn split_list_with_separator(text: &str) -> (char, Vec<(usize, usize)>) {
    let bytes = text.as_bytes();
    let mut at = 0;
    while at < bytes.len() && bytes[at].is_ascii_whitespace() {
        at += 1;
    }
    let mut sep = b':';
    if at + 1 < bytes.len()
        && bytes[at] == b'<'
        && (bytes[at + 1].is_ascii_punctuation() || bytes[at + 1].is_ascii_control())
    {
        sep = bytes[at + 1];
        at += 2;
    }
    let mut out = Vec::new();
    loop {
        while at < bytes.len() && bytes[at].is_ascii_whitespace() {
            at += 1;
        }
        if at >= bytes.len() {
            break;
        }
        let start = at;
        while at < bytes.len() {
            if bytes[at] == sep {
                if at + 1 < bytes.len() && bytes[at + 1] == sep {
                    at += 2;
                    continue;
                }
                break;
            }
            at += 1;
        }
        let mut end = at;
        while end > start && bytes[end - 1].is_ascii_whitespace() {
            end -= 1;
        }
        out.push((start, end));
        at += 1;
    }
    (char::from(sep), out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn separators_and_doubling() {
        let text = " a : b::c :d ";
        let items: Vec<&str> = split_list(text).iter().map(|&(s, e)| &text[s..e]).collect();
        assert_eq!(items, ["a", "b::c", "d"]);
        let text = "<; a ; b:c";
        let items: Vec<&str> = split_list(text).iter().map(|&(s, e)| &text[s..e]).collect();
        assert_eq!(items, ["a", "b:c"]);
    }
}
