//! Postfix match lists (`match_list.c`, `domain_list`): the value of
//! `mydestination`, `virtual_*_domains` and `relay_domains` after `$`
//! expansion, split into patterns. A pattern is a name, `/file/name`
//! (replaced by the file's patterns, not `$`-expanded), or `type:table`
//! (the domain matches when it is a key); `!` negates, and the first
//! pattern that matches decides.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::rc::Rc;

use super::expand::Expanded;
use super::tables::{self, KeptKeys, TableLoad, TableSpec, fold_case, split_tokens};
use super::{At, Location};
use crate::inventory::{ByteSpan, DomainName, InventoryWarning, TableMismatch, WarningKind};
use crate::safe_fs;
use crate::sources::{ConfigRoot, SourceError};

/// Nested `/file` lists deeper than this are treated as a loop.
const MAX_FILE_DEPTH: usize = 20;

/// mxdrift's limit on the patterns of one parameter's match list, `/file`
/// contents included (five times the largest lists seen on shared servers).
/// Postfix has none: files that name other files several times ("fan-out")
/// multiply until Postfix runs out of memory.
pub const MAX_LIST_PATTERNS: usize = 2_000_000;

/// mxdrift's limit on `/file` inclusions in one parameter's match list
/// (the same file named twice counts twice).
pub const MAX_FILE_INCLUSIONS: usize = 100_000;

/// Parent domains longer than this are not looked up in tables: a domain
/// name has at most 253 bytes, and a longer key matches no domain.
const MAX_SUFFIX_LOOKUP: usize = 1024;

/// One pattern of a match list.
#[derive(Debug, Clone)]
pub struct ListItem {
    /// `!pattern` (also every pattern of a `!/file`).
    pub negated: bool,
    pub pattern: Pattern,
    /// Where the pattern is written.
    pub location: Location,
}

/// What a pattern matches.
#[derive(Debug, Clone)]
pub enum Pattern {
    /// A host name (case-folded) or `.domain` (every name below it).
    Name(String),
    /// A lookup table: the domain matches when it is a key.
    Table {
        spec: TableSpec,
        load: Rc<TableLoad>,
    },
}

/// A domain listed by a match list, and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    /// As written (case-folded), before IDNA conversion.
    pub raw: String,
    pub name: DomainName,
    pub location: Location,
}

/// A parsed match list.
#[derive(Debug, Clone)]
pub struct MatchList {
    /// The parameter the list is the value of.
    pub param: String,
    pub items: Vec<ListItem>,
    /// Whether `example.com` also matches its subdomains (the parameter is
    /// named in `parent_domain_matches_subdomains`).
    pub parent_matching: bool,
}

impl MatchList {
    /// The decision of the first pattern that matches `name` (Postfix's
    /// `match_list_match`): `Some(true)` listed, `Some(false)` excluded by a
    /// negation, `None` when no pattern matches. Patterns whose keys are
    /// unknown (pcre, SQL, missing files) are taken not to match; the reader
    /// has warned about each of them. One question walks the whole list;
    /// [`MatchList::members`] asks through an index instead.
    pub fn first_match(&self, name: &str) -> Option<bool> {
        let name = fold_case(name);
        self.items
            .iter()
            .find(|item| self.item_matches(item, &name))
            .map(|item| !item.negated)
    }

    /// [`MatchList::first_match`] through the index that
    /// [`MatchList::members`] uses (for the fuzz target that compares them).
    pub(crate) fn first_match_indexed(&self, name: &str) -> Option<bool> {
        FirstMatch::new(self).first_match(self, name)
    }

    fn item_matches(&self, item: &ListItem, name: &str) -> bool {
        match &item.pattern {
            Pattern::Name(pattern) => {
                if name == pattern {
                    return true;
                }
                if self.parent_matching {
                    name.len() > pattern.len()
                        && name.ends_with(pattern.as_str())
                        && name.as_bytes().get(name.len() - pattern.len() - 1) == Some(&b'.')
                } else {
                    pattern.starts_with('.')
                        && name.len() > pattern.len()
                        && name.ends_with(pattern.as_str())
                }
            }
            Pattern::Table { load, .. } => match load.as_ref() {
                TableLoad::Loaded(table) => {
                    if table.get(name).is_some() {
                        return true;
                    }
                    // match_hostname: with parent matching, look up each
                    // parent domain; without it, `.parent` keys.
                    name.rmatch_indices('.')
                        .map(|(i, _)| {
                            if self.parent_matching {
                                name.get(i + 1..)
                            } else {
                                name.get(i..)
                            }
                        })
                        .take_while(|key| key.is_some_and(|k| k.len() <= MAX_SUFFIX_LOOKUP))
                        .any(|key| key.is_some_and(|k| !k.is_empty() && table.get(k).is_some()))
                }
                TableLoad::MatchesEverything { .. } => true,
                TableLoad::NotEnumerable { .. } | TableLoad::Failed { .. } => false,
            },
        }
    }

    /// Every name the list explicitly lists and does not exclude, each with
    /// the place it is written (a name listed twice appears twice). Names
    /// that are not valid domain names are warnings.
    pub fn members(&self) -> (Vec<Member>, Vec<InventoryWarning>) {
        let mut members = Vec::new();
        let mut warnings = Vec::new();
        let mut subdomain_patterns = BTreeSet::new();
        let index = FirstMatch::new(self);
        for item in self.items.iter().filter(|i| !i.negated) {
            match &item.pattern {
                Pattern::Name(name) => self.consider(
                    &index,
                    name,
                    || item.location.clone(),
                    &mut subdomain_patterns,
                    &mut members,
                    &mut warnings,
                ),
                Pattern::Table { load, .. } => {
                    if let TableLoad::Loaded(table) = load.as_ref() {
                        for entry in table.entries() {
                            // Address keys (user@domain, @domain) of alias
                            // and mailbox maps never match a domain lookup.
                            if entry.key.contains('@') {
                                continue;
                            }
                            self.consider(
                                &index,
                                entry.key,
                                || entry.location(),
                                &mut subdomain_patterns,
                                &mut members,
                                &mut warnings,
                            );
                        }
                    }
                }
            }
        }
        (members, warnings)
    }

    /// One listed name: a member, a warning, or nothing (excluded by an
    /// earlier negation). The location is only built when needed: a
    /// mailbox table has a million keys.
    fn consider(
        &self,
        index: &FirstMatch<'_>,
        raw: &str,
        location: impl Fn() -> Location,
        subdomain_patterns: &mut BTreeSet<String>,
        members: &mut Vec<Member>,
        warnings: &mut Vec<InventoryWarning>,
    ) {
        if raw.starts_with('.') && raw.len() > 1 {
            if subdomain_patterns.insert(raw.to_string()) {
                warnings.push(self.warning(
                    WarningKind::NotEnumerable,
                    &location(),
                    format!(
                        "`{raw}` matches every name below {}; subdomains cannot be listed",
                        raw.trim_start_matches('.')
                    ),
                ));
            }
            return;
        }
        if index.first_match(self, raw) != Some(true) {
            return;
        }
        match DomainName::parse(raw) {
            Ok(name) => members.push(Member {
                raw: raw.to_string(),
                name,
                location: location(),
            }),
            Err(e) => warnings.push(self.warning(
                WarningKind::InvalidDomain,
                &location(),
                format!("`{raw}` is not a valid domain name: {e}"),
            )),
        }
    }

    fn warning(&self, kind: WarningKind, location: &Location, message: String) -> InventoryWarning {
        InventoryWarning {
            kind,
            file: Some(location.file.clone()),
            line: Some(location.line),
            parameter: Some(self.param.clone()),
            message,
        }
    }
}

/// [`MatchList::first_match`] for many names: the first position of each
/// name pattern by its text, so that a name costs a lookup per parent
/// domain instead of a walk over a list of 400,000 names.
struct FirstMatch<'l> {
    /// The first item of each name pattern (negated or not): a later item
    /// with the same pattern never decides.
    names: HashMap<&'l str, usize>,
    /// The longest name pattern: longer parent domains cannot match one.
    longest: usize,
    /// The first item of each table whose keys can match, in list order.
    tables: Vec<usize>,
}

impl<'l> FirstMatch<'l> {
    fn new(list: &'l MatchList) -> Self {
        let mut names = HashMap::new();
        let mut longest = 0;
        let mut tables = Vec::new();
        let mut tables_seen = HashSet::new();
        for (i, item) in list.items.iter().enumerate() {
            match &item.pattern {
                Pattern::Name(pattern) => {
                    longest = longest.max(pattern.len());
                    names.entry(pattern.as_str()).or_insert(i);
                }
                Pattern::Table { spec, load } => {
                    let can_match = matches!(
                        load.as_ref(),
                        TableLoad::Loaded(_) | TableLoad::MatchesEverything { .. }
                    );
                    if can_match && tables_seen.insert(spec.raw.as_str()) {
                        tables.push(i);
                    }
                }
            }
        }
        FirstMatch {
            names,
            longest,
            tables,
        }
    }

    /// The same answer as [`MatchList::first_match`].
    fn first_match(&self, list: &MatchList, name: &str) -> Option<bool> {
        let name = fold_case(name);
        let mut first = self.names.get(name.as_str()).copied();
        // match_hostname on name patterns: with parent matching `p`
        // matches `x.p`; without it only a pattern `.p` matches `x.p`.
        for (dot, _) in name.rmatch_indices('.') {
            let parent = if list.parent_matching {
                name.get(dot + 1..)
            } else if dot > 0 {
                name.get(dot..)
            } else {
                None
            };
            let Some(parent) = parent else { continue };
            if parent.len() > self.longest {
                break;
            }
            if let Some(&i) = self.names.get(parent) {
                first = Some(first.map_or(i, |f| f.min(i)));
            }
        }
        for &i in &self.tables {
            if first.is_some_and(|f| f < i) {
                break;
            }
            if let Some(item) = list.items.get(i)
                && list.item_matches(item, &name)
            {
                first = Some(i);
                break;
            }
        }
        first
            .and_then(|i| list.items.get(i))
            .map(|item| !item.negated)
    }
}

/// Reads match lists and the files and tables they name, caching tables
/// (a table named by several parameters is read once) and collecting
/// warnings.
#[derive(Debug)]
pub struct ListReader<'a> {
    root: &'a ConfigRoot,
    queue_dir: String,
    /// Tables read so far, by reference as written and the keys kept.
    tables: HashMap<(String, KeptKeys), Rc<TableLoad>>,
    /// Tables whose problems were reported (each once, whatever its use).
    tables_reported: HashSet<String>,
    /// `/file` lists read so far (a file named twice is read once), or why
    /// it could not be read.
    files: HashMap<String, Result<Rc<str>, String>>,
    warnings: Vec<InventoryWarning>,
    warnings_seen: HashSet<InventoryWarning>,
    /// The list being read: patterns and `/file` inclusions so far.
    patterns: usize,
    inclusions: usize,
    /// The limit the list being read exceeded, with where.
    overflow: Option<(Location, String)>,
    mismatches: Vec<TableMismatch>,
}

impl<'a> ListReader<'a> {
    pub fn new(root: &'a ConfigRoot, queue_dir: &str) -> Self {
        ListReader {
            root,
            queue_dir: queue_dir.to_string(),
            tables: HashMap::new(),
            tables_reported: HashSet::new(),
            files: HashMap::new(),
            warnings: Vec::new(),
            warnings_seen: HashSet::new(),
            patterns: 0,
            inclusions: 0,
            overflow: None,
            mismatches: Vec::new(),
        }
    }

    /// Tables whose text source and compiled file differ, found so far.
    pub fn take_mismatches(&mut self) -> Vec<TableMismatch> {
        std::mem::take(&mut self.mismatches)
    }

    /// Warnings collected so far (missing files, unreadable tables, ...).
    pub fn take_warnings(&mut self) -> Vec<InventoryWarning> {
        self.warnings_seen.clear();
        std::mem::take(&mut self.warnings)
    }

    /// Read (once) the table `spec` with every key, whose reference stands
    /// at `origin`: for tables whose values are used.
    pub fn table(&mut self, spec: &TableSpec, origin: &Location) -> Rc<TableLoad> {
        self.table_keys(spec, origin, KeptKeys::All)
    }

    /// Read (once) the table `spec`, keeping the keys `kept` says. A table
    /// already read with every key serves for domain keys too. A table
    /// named both in a list and in `transport_maps` is read twice, once
    /// for each use; its problems are reported once.
    pub fn table_keys(
        &mut self,
        spec: &TableSpec,
        origin: &Location,
        kept: KeptKeys,
    ) -> Rc<TableLoad> {
        for key in [(spec.raw.clone(), kept), (spec.raw.clone(), KeptKeys::All)] {
            if let Some(load) = self.tables.get(&key) {
                return Rc::clone(load);
            }
        }
        let read = tables::load_keys(self.root, spec, origin, &self.queue_dir, kept);
        let (load, problems) = (read.load, read.problems);
        // The same file read for the other use has reported its problems.
        let read_before = !self.tables_reported.insert(spec.raw.clone());
        // The audit turns each into a `table-not-compiled` finding.
        if let Some(mismatch) = read.mismatch.filter(|_| !read_before) {
            self.mismatches.push(mismatch);
        }
        for p in problems.into_iter().filter(|_| !read_before) {
            self.warnings.push(InventoryWarning {
                kind: p.kind,
                file: p.file,
                line: p.line,
                parameter: None,
                message: p.message,
            });
        }
        let load = Rc::new(load);
        self.tables
            .insert((spec.raw.clone(), kept), Rc::clone(&load));
        load
    }

    /// Parse the expanded value of `param` into a match list. A list whose
    /// `/file` lists hold more than [`MAX_LIST_PATTERNS`] patterns or name
    /// files more than [`MAX_FILE_INCLUSIONS`] times is an error naming the
    /// parameter and where the pattern that crossed the limit stands.
    pub fn read_list(
        &mut self,
        param: &str,
        value: &Expanded,
        parent_matching: bool,
    ) -> Result<MatchList, SourceError> {
        let mut items = Vec::new();
        self.patterns = 0;
        self.inclusions = 0;
        self.overflow = None;
        for (offset, token) in split_tokens(&value.text) {
            let location = location_of(value, offset..offset + token.len());
            self.add_token(param, token, &location, false, &mut items, &mut Vec::new());
            if let Some((at, what)) = self.overflow.take() {
                let main = location;
                return Err(SourceError::Syntax {
                    file: main.file,
                    line: main.line,
                    message: format!(
                        "parameter {param}: {what} (at {}:{}); Postfix has no limit here and runs out of memory (a /file list bomb)",
                        at.file, at.line
                    ),
                });
            }
        }
        Ok(MatchList {
            param: param.to_string(),
            items,
            parent_matching,
        })
    }

    pub(crate) fn warn(
        &mut self,
        kind: WarningKind,
        param: &str,
        location: &Location,
        message: String,
    ) {
        let warning = InventoryWarning {
            kind,
            file: Some(location.file.clone()).filter(|f| !f.is_empty()),
            line: Some(location.line).filter(|l| *l > 0),
            parameter: Some(param.to_string()),
            message,
        };
        if self.warnings_seen.insert(warning.clone()) {
            self.warnings.push(warning);
        }
    }

    fn add_token(
        &mut self,
        param: &str,
        token: &str,
        location: &Location,
        negated: bool,
        items: &mut Vec<ListItem>,
        file_stack: &mut Vec<String>,
    ) {
        if self.overflow.is_some() {
            return;
        }
        self.patterns += 1;
        if self.patterns > MAX_LIST_PATTERNS {
            self.overflow = Some((
                location.clone(),
                format!("the list holds more than {MAX_LIST_PATTERNS} patterns"),
            ));
            return;
        }
        let mut negated = negated;
        let mut pattern = token;
        while let Some(rest) = pattern.strip_prefix('!') {
            negated = !negated;
            pattern = rest;
        }
        // The pattern's own bytes: the token's, after its `!`s.
        let location = &location.narrowed(token.len() - pattern.len());
        if pattern.is_empty() {
            self.warn(
                WarningKind::Suspicious,
                param,
                location,
                format!("no pattern after '!' in `{token}`: Postfix refuses to start"),
            );
            return;
        }
        if pattern.starts_with('#') {
            self.warn(
                WarningKind::Suspicious,
                param,
                location,
                format!(
                    "`{token}` looks like a comment but is not one: Postfix 3.7 reads it and what follows as list items; Postfix 3.10 and later ignore the rest of the line"
                ),
            );
            return;
        }
        if pattern.starts_with('/') {
            self.add_file(param, pattern, location, negated, items, file_stack);
        } else if !pattern.starts_with('[') && pattern.contains(':') {
            let Some(spec) = TableSpec::parse(pattern) else {
                return;
            };
            // A match list only ever looks up domain names.
            let load = self.table_keys(&spec, location, KeptKeys::Domains);
            match load.as_ref() {
                TableLoad::Loaded(_) => {}
                TableLoad::MatchesEverything { value } => self.warn(
                    WarningKind::NotEnumerable,
                    param,
                    location,
                    format!(
                        "`{}` (static:{value}) matches every domain: Postfix treats every domain as listed in {param}",
                        spec.raw
                    ),
                ),
                TableLoad::NotEnumerable { reason } => {
                    let reason = reason.clone();
                    self.warn(WarningKind::NotEnumerable, param, location, reason);
                }
                TableLoad::Failed { reason } => {
                    let reason = reason.clone();
                    self.warn(
                        WarningKind::LookupFailure,
                        param,
                        location,
                        format!("{reason}: Postfix defers mail that needs this lookup"),
                    );
                }
            }
            items.push(ListItem {
                negated,
                pattern: Pattern::Table { spec, load },
                location: location.clone(),
            });
        } else {
            items.push(ListItem {
                negated,
                pattern: Pattern::Name(fold_case(pattern)),
                location: location.clone(),
            });
        }
    }

    /// `/file/name`: each line not starting with `#` is split into patterns
    /// (no `$` expansion); `!/file` negates each of them.
    fn add_file(
        &mut self,
        param: &str,
        path: &str,
        location: &Location,
        negated: bool,
        items: &mut Vec<ListItem>,
        file_stack: &mut Vec<String>,
    ) {
        if file_stack.iter().any(|f| f == path) || file_stack.len() >= MAX_FILE_DEPTH {
            self.warn(
                WarningKind::Suspicious,
                param,
                location,
                format!("{path} includes itself (file lists nest in a loop); Postfix does not terminate here"),
            );
            return;
        }
        self.inclusions += 1;
        if self.inclusions > MAX_FILE_INCLUSIONS {
            self.overflow = Some((
                location.clone(),
                format!("the list names /file lists more than {MAX_FILE_INCLUSIONS} times"),
            ));
            return;
        }
        let text = match self.list_file(path) {
            Ok(text) => text,
            Err(reason) => {
                self.warn(
                    WarningKind::LookupFailure,
                    param,
                    location,
                    format!(
                        "cannot read list file {reason}: Postfix defers mail that needs this lookup"
                    ),
                );
                return;
            }
        };
        let file = self.root.display(path);
        file_stack.push(path.to_string());
        let mut line_start = 0;
        for (idx, line) in text.split('\n').enumerate() {
            let offset = line_start;
            line_start += line.len() + 1;
            if self.overflow.is_some() {
                break;
            }
            if line.starts_with('#') {
                continue;
            }
            let line_no = u32::try_from(idx + 1).unwrap_or(u32::MAX);
            for (at, token) in split_tokens(line) {
                let span = ByteSpan::at(offset + at, token.len());
                let here = Location::text(file.clone(), line_no, Some(span));
                self.add_token(param, token, &here, negated, items, file_stack);
            }
        }
        file_stack.pop();
    }

    /// The text of a `/file` list, read once per run.
    fn list_file(&mut self, path: &str) -> Result<Rc<str>, String> {
        if let Some(read) = self.files.get(path) {
            return read.clone();
        }
        let read = self
            .root
            .read_bytes(path, safe_fs::TABLE_LIMIT)
            .map(|bytes| Rc::from(String::from_utf8_lossy(&bytes)))
            .map_err(|e| e.to_string());
        self.files.insert(path.to_string(), read.clone());
        read
    }
}

/// Where `value.text[range]` (a token) was written: the file and physical
/// line of its first byte, with its bytes when the whole token is one piece
/// of that file; or nowhere, for a built-in default.
pub fn location_of(value: &Expanded, range: std::ops::Range<usize>) -> Location {
    match value.origin_at(range.start) {
        None => Location::builtin_default(""),
        Some(o) if o.is_builtin_default() => Location::builtin_default(o.file.clone()),
        Some(o) => Location::text(o.file.clone(), o.line, value.span_of(range)),
    }
}

impl Location {
    /// The same place without the first `skip` bytes of its span (a
    /// pattern after the `!`s of its token).
    fn narrowed(&self, skip: usize) -> Location {
        let mut narrowed = self.clone();
        if let At::Text(Some(span)) = &mut narrowed.at {
            span.start = span.start.saturating_add(skip).min(span.end);
        }
        narrowed
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sources::postfix::maincf::MainCf;
    use crate::test_support::tree;

    struct Fixture {
        _dir: tempfile::TempDir,
        root: ConfigRoot,
    }

    fn fixture(files: &[(&str, &str)]) -> Fixture {
        let dir = tree(files);
        let root = ConfigRoot::new(dir.path());
        Fixture { _dir: dir, root }
    }

    fn list(
        fx: &Fixture,
        main_cf: &str,
        parent: bool,
    ) -> (Vec<(String, String, u32)>, Vec<InventoryWarning>) {
        let mut cf = MainCf::parse("etc/postfix/main.cf", main_cf).unwrap();
        cf.set_hostname("vm.localdomain", None);
        let mut reader = ListReader::new(&fx.root, "/var/spool/postfix");
        let value = cf.expand_param("mydestination");
        let ml = reader.read_list("mydestination", &value, parent).unwrap();
        let (members, mut warnings) = ml.members();
        warnings.extend(reader.take_warnings());
        let members = members
            .into_iter()
            .map(|m| (m.name.to_string(), m.location.file, m.location.line))
            .collect();
        (members, warnings)
    }

    fn names(members: &[(String, String, u32)]) -> Vec<&str> {
        members.iter().map(|(n, _, _)| n.as_str()).collect()
    }

    #[test]
    fn match_list_separators_never_make_empty_items() {
        let fx = fixture(&[]);
        let (m, w) = list(
            &fx,
            "mydestination = ,a.test,, b.test\t,\n  C.Test ,\n",
            false,
        );
        assert_eq!(names(&m), vec!["a.test", "b.test", "c.test"]);
        assert_eq!(m[2].2, 2);
        assert!(w.is_empty(), "{w:?}");
    }

    #[test]
    fn match_list_first_match_wins_with_negation() {
        let fx = fixture(&[]);
        let (m, _) = list(
            &fx,
            "mydestination = !a.test, a.test, b.test, !b.test\n",
            false,
        );
        assert_eq!(names(&m), vec!["b.test"]);
    }

    #[test]
    fn match_list_file_is_substituted_not_expanded_and_may_nest() {
        let fx = fixture(&[
            (
                "etc/postfix/local",
                "# comment\na.test, $x\n/etc/postfix/more\n  #not-a-comment\n",
            ),
            ("etc/postfix/more", "b.test\n"),
        ]);
        let (m, w) = list(&fx, "mydestination = /etc/postfix/local\n", false);
        assert_eq!(names(&m), vec!["a.test", "b.test"]);
        assert_eq!(m[0], ("a.test".into(), "etc/postfix/local".into(), 2));
        assert_eq!(m[1], ("b.test".into(), "etc/postfix/more".into(), 1));
        // `$x` is an invalid name, `# not a comment` is suspicious.
        assert!(
            w.iter()
                .any(|w| w.kind == WarningKind::InvalidDomain && w.line == Some(2))
        );
        assert!(
            w.iter()
                .any(|w| w.kind == WarningKind::Suspicious && w.line == Some(4))
        );
    }

    #[test]
    fn match_list_negated_file_negates_each_pattern() {
        let fx = fixture(&[("etc/postfix/no", "a.test\n")]);
        let (m, _) = list(
            &fx,
            "mydestination = !/etc/postfix/no a.test b.test\n",
            false,
        );
        assert_eq!(names(&m), vec!["b.test"]);
    }

    #[test]
    fn match_list_file_loop_is_a_warning() {
        let fx = fixture(&[
            ("etc/postfix/a", "x.test /etc/postfix/b\n"),
            ("etc/postfix/b", "/etc/postfix/a y.test\n"),
        ]);
        let (m, w) = list(&fx, "mydestination = /etc/postfix/a\n", false);
        assert_eq!(names(&m), vec!["x.test", "y.test"]);
        assert!(w.iter().any(|w| w.message.contains("includes itself")));
    }

    #[test]
    fn match_list_missing_file_is_a_lookup_failure() {
        let fx = fixture(&[]);
        let (m, w) = list(&fx, "mydestination = /etc/postfix/none, a.test\n", false);
        assert_eq!(names(&m), vec!["a.test"]);
        assert_eq!(w.len(), 1);
        assert_eq!(w[0].kind, WarningKind::LookupFailure);
        assert_eq!(w[0].parameter.as_deref(), Some("mydestination"));
    }

    #[test]
    fn match_list_table_keys_are_domains_and_addresses_are_skipped() {
        let fx = fixture(&[(
            "etc/postfix/virtual",
            "v.test x\nuser@v.test y\n@w.test z\n",
        )]);
        let (m, w) = list(&fx, "mydestination = hash:/etc/postfix/virtual\n", false);
        assert_eq!(m, vec![("v.test".into(), "etc/postfix/virtual".into(), 1)]);
        assert!(w.is_empty(), "{w:?}");
    }

    #[test]
    fn list_tables_keep_domain_keys_and_transport_reads_the_whole_table() {
        let fx = fixture(&[("etc/postfix/t", "a.test x\nuser@a.test y\nnovalue\n")]);
        let spec = TableSpec::parse("hash:/etc/postfix/t").unwrap();
        let here = Location::text("etc/postfix/main.cf", 1, None);
        let mut reader = ListReader::new(&fx.root, "/var/spool/postfix");
        let for_list = reader.table_keys(&spec, &here, KeptKeys::Domains);
        let for_values = reader.table(&spec, &here);
        let (TableLoad::Loaded(list_table), TableLoad::Loaded(full)) =
            (for_list.as_ref(), for_values.as_ref())
        else {
            panic!("not loaded: {for_list:?} {for_values:?}");
        };
        assert_eq!(list_table.len(), 1);
        assert_eq!(full.get("user@a.test").unwrap().value, "y");
        // Read twice, reported once.
        assert_eq!(reader.take_warnings().len(), 1);
        // Read with every key, the table serves a list too.
        assert!(Rc::ptr_eq(
            &reader.table_keys(&spec, &here, KeptKeys::Domains),
            &for_list
        ));
        let other = fx.root.clone();
        let mut reader = ListReader::new(&other, "/var/spool/postfix");
        let full = reader.table(&spec, &here);
        assert!(Rc::ptr_eq(
            &reader.table_keys(&spec, &here, KeptKeys::Domains),
            &full
        ));
    }

    #[test]
    fn match_list_inline_table_stays_one_token() {
        let fx = fixture(&[]);
        let (m, _) = list(
            &fx,
            "mydestination = inline:{a.test=x, b.test=y} c.test\n",
            false,
        );
        assert_eq!(names(&m), vec!["a.test", "b.test", "c.test"]);
    }

    #[test]
    fn match_list_negated_table_excludes_its_keys() {
        let fx = fixture(&[("etc/postfix/t", "a.test x\n")]);
        let (m, _) = list(
            &fx,
            "mydestination = !texthash:/etc/postfix/t a.test b.test\n",
            false,
        );
        assert_eq!(names(&m), vec!["b.test"]);
    }

    #[test]
    fn match_list_parent_matching_only_when_configured() {
        let fx = fixture(&[]);
        let (m, _) = list(&fx, "mydestination = !a.test sub.a.test\n", false);
        assert_eq!(names(&m), vec!["sub.a.test"]);
        let (m, _) = list(&fx, "mydestination = !a.test sub.a.test\n", true);
        assert!(m.is_empty());
        let (m, w) = list(&fx, "mydestination = !.a.test sub.a.test .b.test\n", false);
        assert!(m.is_empty());
        assert!(w.iter().any(|w| w.kind == WarningKind::NotEnumerable));
    }

    #[test]
    fn match_list_pcre_is_not_enumerable_and_static_matches_everything() {
        let fx = fixture(&[]);
        let (m, w) = list(&fx, "mydestination = pcre:/etc/postfix/x a.test\n", false);
        assert_eq!(names(&m), vec!["a.test"]);
        assert_eq!(w.len(), 1);
        assert_eq!(w[0].kind, WarningKind::NotEnumerable);
        assert!(w[0].message.contains("pcre:/etc/postfix/x"));
        let (_, w) = list(&fx, "mydestination = static:ok\n", false);
        assert!(w[0].message.contains("matches every domain"));
    }

    #[test]
    fn match_list_invalid_names_are_warnings_with_location() {
        let fx = fixture(&[]);
        let (m, w) = list(
            &fx,
            "mydestination = good.test\n  bad_-.test- [1.2.3.4]\n",
            false,
        );
        assert_eq!(names(&m), vec!["good.test"]);
        assert_eq!(w.len(), 2);
        assert!(
            w.iter()
                .all(|w| w.kind == WarningKind::InvalidDomain && w.line == Some(2))
        );
    }

    #[test]
    fn match_list_idn_names_become_a_labels() {
        let fx = fixture(&[]);
        let (m, _) = list(&fx, "mydestination = Bücher.test\n", false);
        assert_eq!(names(&m), vec!["xn--bcher-kva.test"]);
    }

    #[test]
    fn match_list_hash_token_is_suspicious_and_postfix_3_7_reads_on() {
        let fx = fixture(&[]);
        let (m, w) = list(&fx, "mydestination = a.test # b.test\n", false);
        assert_eq!(names(&m), vec!["a.test", "b.test"]);
        assert_eq!(w.len(), 1);
        assert_eq!(w[0].kind, WarningKind::Suspicious);
    }
    #[test]
    fn first_match_index_agrees_with_the_list_walk() {
        // A small alphabet, so that names, parents, negations and repeats
        // collide often; a fixed seed, so that a failure reproduces.
        let labels = ["a", "b", "c"];
        let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = |n: usize| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            usize::try_from(seed % n as u64).unwrap()
        };
        let fx = fixture(&[("etc/postfix/t", "b.c x\nc x\n")]);
        for round in 0..300 {
            let random_name = |next: &mut dyn FnMut(usize) -> usize| {
                let n = 1 + next(3);
                (0..n)
                    .map(|_| labels[next(3)])
                    .collect::<Vec<_>>()
                    .join(".")
            };
            let mut tokens = Vec::new();
            for _ in 0..1 + next(8) {
                let mut t = random_name(&mut next);
                match next(6) {
                    0 => t = format!(".{t}"),
                    1 => t = format!("!{t}"),
                    2 => t = format!("!.{t}"),
                    3 if round % 4 == 0 => t = "hash:/etc/postfix/t".into(),
                    _ => {}
                }
                tokens.push(t);
            }
            let parent = round % 2 == 0;
            let mut cf = MainCf::parse(
                "etc/postfix/main.cf",
                &format!("mydestination = {}\n", tokens.join(" ")),
            )
            .unwrap();
            cf.set_hostname("vm.localdomain", None);
            let mut reader = ListReader::new(&fx.root, "/var/spool/postfix");
            let ml = reader
                .read_list("mydestination", &cf.expand_param("mydestination"), parent)
                .unwrap();
            let index = FirstMatch::new(&ml);
            for _ in 0..20 {
                let name = random_name(&mut next);
                assert_eq!(
                    index.first_match(&ml, &name),
                    ml.first_match(&name),
                    "{tokens:?} parent={parent} name={name}"
                );
            }
        }
    }

    #[test]
    fn a_long_file_list_is_read_once_per_name() {
        let listed: Vec<String> = (0..100_000).map(|i| format!("d{i}.test")).collect();
        let mut text = listed.join("\n");
        text.push_str("\nd5.test\n");
        let fx = fixture(&[("etc/postfix/local", &text)]);
        let (m, w) = list(&fx, "mydestination = !d7.test /etc/postfix/local\n", false);
        assert_eq!(m.len(), 100_000);
        assert!(!names(&m).contains(&"d7.test"));
        assert_eq!(
            m.last().unwrap(),
            &(
                "d5.test".to_string(),
                "etc/postfix/local".to_string(),
                100_001
            )
        );
        assert!(w.is_empty(), "{w:?}");
    }

    fn fan_out(depth: usize, width: usize) -> Vec<(String, String)> {
        let mut files = Vec::new();
        for i in 0..depth {
            let line = vec![format!("/etc/postfix/f{}", i + 1); width].join(" ");
            files.push((format!("etc/postfix/f{i}"), format!("{line}\n")));
        }
        files.push((
            format!("etc/postfix/f{depth}"),
            "a.test b.test\n".to_string(),
        ));
        files
    }

    fn read_err(files: &[(String, String)], main_cf: &str) -> SourceError {
        let files: Vec<(&str, &str)> = files
            .iter()
            .map(|(p, t)| (p.as_str(), t.as_str()))
            .collect();
        let fx = fixture(&files);
        let mut cf = MainCf::parse("etc/postfix/main.cf", main_cf).unwrap();
        cf.set_hostname("vm.localdomain", None);
        let mut reader = ListReader::new(&fx.root, "/var/spool/postfix");
        reader
            .read_list("mydestination", &cf.expand_param("mydestination"), false)
            .unwrap_err()
    }

    #[test]
    fn file_lists_fanning_out_are_an_error_naming_the_parameter() {
        // 10 inclusions per file, 20 deep: 10^20 patterns in Postfix.
        let err = read_err(
            &fan_out(19, 10),
            "x = 1\nmydestination = a.test, /etc/postfix/f0\n",
        );
        let message = err.to_string();
        assert!(
            message.starts_with("etc/postfix/main.cf:2: parameter mydestination: the list"),
            "{message}"
        );
        assert!(message.contains("etc/postfix/f"), "{message}");
        // Files that only name other files: no pattern, 2^20 inclusions.
        let mut files = fan_out(19, 2);
        files.last_mut().unwrap().1 = "# nothing\n".into();
        let message = read_err(&files, "mydestination = /etc/postfix/f0\n").to_string();
        assert!(message.contains("more than 100000 times"), "{message}");
    }
}
