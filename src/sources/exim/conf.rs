//! The main section of an Exim configuration, read the way Exim's
//! `readconf.c` reads it: physical lines with leading and trailing white
//! space dropped, `#` lines skipped, a trailing `\` joining the next line
//! (its leading white space dropped), `.include`/`.include_if_exists`,
//! `.ifdef`/`.ifndef`/`.elifdef`/`.elifndef`/`.else`/`.endif`, and macros
//! (`NAME = value` on a line starting with an upper-case letter,
//! substituted into every later line in the order they were defined).
//!
//! Every byte of a setting's value remembers where in which file it was
//! written ([`Located`]), also through a continuation or a macro, so a
//! domain in `domainlist local_domains = MAIN_LOCAL_DOMAINS` is declared at
//! the macro's definition, where an edit must happen.

use std::collections::BTreeMap;

use crate::inventory::ByteSpan;
use crate::sources::{ConfigRoot, SourceError};

/// How deep `.include` may nest (Exim's own limit is similar; it stops a
/// file that includes itself).
const MAX_INCLUDE_DEPTH: usize = 16;

/// A run of text copied from one place of one file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Segment {
    /// Where the run starts in [`Located::text`].
    at: usize,
    len: usize,
    file: usize,
    offset: usize,
    line: u32,
}

/// Text that remembers, byte run by byte run, where it was written.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Located {
    pub text: String,
    segments: Vec<Segment>,
}

/// Where a piece of [`Located`] text was written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Origin {
    pub file: usize,
    pub line: u32,
    /// Its bytes in the file, when the piece was copied as one run.
    pub span: Option<ByteSpan>,
}

impl Located {
    /// Text written nowhere in a file (a default the tool adds).
    pub fn push_unplaced(&mut self, text: &str) {
        self.text.push_str(text);
    }

    pub fn push(&mut self, text: &str, file: usize, offset: usize, line: u32) {
        if text.is_empty() {
            return;
        }
        self.segments.push(Segment {
            at: self.text.len(),
            len: text.len(),
            file,
            offset,
            line,
        });
        self.text.push_str(text);
    }

    fn append(&mut self, other: &Located) {
        let base = self.text.len();
        self.text.push_str(&other.text);
        self.segments.extend(other.segments.iter().map(|s| Segment {
            at: s.at + base,
            ..*s
        }));
    }

    /// The part `range` of the text, with its origins.
    pub fn slice(&self, start: usize, end: usize) -> Located {
        let mut out = Located::default();
        let Some(text) = self.text.get(start..end) else {
            return out;
        };
        out.text = text.to_string();
        for s in &self.segments {
            let (from, to) = (s.at.max(start), (s.at + s.len).min(end));
            if from < to {
                out.segments.push(Segment {
                    at: from - start,
                    len: to - from,
                    file: s.file,
                    offset: s.offset + (from - s.at),
                    line: s.line,
                });
            }
        }
        out
    }

    /// Where the bytes `start..end` of the text were written: the first
    /// byte's file and line, and the span when all of them are one run.
    pub fn origin(&self, start: usize, end: usize) -> Option<Origin> {
        let first = self
            .segments
            .iter()
            .find(|s| s.at <= start && start < s.at + s.len.max(1))?;
        let span = (end <= first.at + first.len)
            .then(|| ByteSpan::at(first.offset + (start - first.at), end - start));
        Some(Origin {
            file: first.file,
            line: first.line,
            span,
        })
    }
}

/// A `domainlist` (or other named list) of the main section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct NamedList {
    pub kind: ListKind,
    pub value: Located,
    pub file: usize,
    pub line: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ListKind {
    Domain,
    Host,
    Address,
    LocalPart,
}

/// What the main section says, as far as mxdrift needs it.
#[derive(Debug, Default)]
pub(crate) struct MainSection {
    /// Files read, as shown (relative to the root); `Origin::file` indexes it.
    pub files: Vec<String>,
    /// The server paths of `files`, as written in the configuration.
    pub paths: Vec<String>,
    pub lists: BTreeMap<String, NamedList>,
    pub primary_hostname: Option<(Located, u32, usize)>,
    /// `.include` files that do not exist (`.include_if_exists` aside).
    pub problems: Vec<(usize, u32, String)>,
}

#[derive(Debug, Clone)]
struct Macro {
    name: String,
    value: Located,
}

/// One `.if` level: whether its lines are read, and whether a branch was
/// already taken.
#[derive(Debug, Clone, Copy)]
struct Conditional {
    reading: bool,
    taken: bool,
    outer_reading: bool,
}

struct Reader<'a> {
    root: &'a ConfigRoot,
    main: MainSection,
    macros: Vec<Macro>,
    /// Names Exim defines itself (`_HAVE_*`, ...) that `.ifdef` may test,
    /// and macros given as if on the command line (`-D`).
    predefined: Vec<String>,
    conditionals: Vec<Conditional>,
    done: bool,
}

/// Read the main section of `server_path` and everything it includes.
/// `predefined` are macro names taken as defined (with an empty value).
pub(crate) fn read_main(
    root: &ConfigRoot,
    server_path: &str,
    predefined: &[(&str, &str)],
) -> Result<MainSection, SourceError> {
    let mut reader = Reader {
        root,
        main: MainSection::default(),
        macros: Vec::new(),
        predefined: Vec::new(),
        conditionals: Vec::new(),
        done: false,
    };
    for (name, value) in predefined {
        let mut located = Located::default();
        located.push_unplaced(value);
        reader.macros.push(Macro {
            name: (*name).to_string(),
            value: located,
        });
        reader.predefined.push((*name).to_string());
    }
    reader.file(server_path, 0, false)?;
    Ok(reader.main)
}

impl Reader<'_> {
    fn reading(&self) -> bool {
        self.conditionals.last().is_none_or(|c| c.reading)
    }

    fn defined(&self, name: &str) -> bool {
        self.macros.iter().any(|m| m.name == name) || self.predefined.iter().any(|p| p == name)
    }

    fn file(&mut self, server_path: &str, depth: usize, optional: bool) -> Result<(), SourceError> {
        let text = match self.root.read_to_string(server_path) {
            Ok(text) => text,
            Err(SourceError::Io { source, .. })
                if optional && source.kind() == std::io::ErrorKind::NotFound =>
            {
                return Ok(());
            }
            Err(error) => return Err(error),
        };
        let file = self.main.files.len();
        self.main.files.push(self.root.display(server_path));
        self.main.paths.push(server_path.to_string());
        let mut lines = physical_lines(&text).peekable();
        while let Some((number, offset, raw)) = lines.next() {
            if self.done {
                break;
            }
            let (start, line) = trim(raw);
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            if line.starts_with('.') {
                self.directive(line, file, number, depth)?;
                continue;
            }
            if !self.reading() {
                // A skipped line's continuation is skipped with it.
                let mut continued = line.ends_with('\\');
                while continued {
                    match lines.next() {
                        Some((_, _, next)) => continued = trim(next).1.ends_with('\\'),
                        None => break,
                    }
                }
                continue;
            }
            let mut logical = Located::default();
            let mut piece = (number, offset + start, line);
            loop {
                let (n, o, text) = piece;
                let (body, continued) = match text.strip_suffix('\\') {
                    Some(body) => (body, true),
                    None => (text, false),
                };
                let mut physical = Located::default();
                physical.push(body, file, o, n);
                // A definition's own name is never substituted (`A == x`
                // redefines A).
                let protect = if logical.text.is_empty() {
                    definition_name_len(body)
                } else {
                    0
                };
                let head = physical.slice(0, protect);
                let tail = physical.slice(protect, physical.text.len());
                logical.append(&head);
                let physical = self.substitute(tail);
                logical.append(&physical);
                if !continued {
                    break;
                }
                // Comment and blank lines inside a continuation are skipped.
                let next = loop {
                    match lines.next() {
                        Some((n, o, raw)) => {
                            let (s, t) = trim(raw);
                            if t.is_empty() || t.starts_with('#') {
                                continue;
                            }
                            break Some((n, o + s, t));
                        }
                        None => break None,
                    }
                };
                match next {
                    Some(next) => piece = next,
                    None => break,
                }
            }
            self.logical_line(logical, file, number)?;
        }
        Ok(())
    }

    fn directive(
        &mut self,
        line: &str,
        file: usize,
        number: u32,
        depth: usize,
    ) -> Result<(), SourceError> {
        let (word, rest) = line
            .split_once(|c: char| c.is_ascii_whitespace())
            .map_or((line, ""), |(w, r)| (w, r.trim()));
        match word {
            ".ifdef" | ".ifndef" => {
                let outer = self.reading();
                let test = self.defined(rest) == (word == ".ifdef");
                self.conditionals.push(Conditional {
                    reading: outer && test,
                    taken: test,
                    outer_reading: outer,
                });
            }
            ".elifdef" | ".elifndef" => {
                let defined = self.defined(rest);
                if let Some(c) = self.conditionals.last_mut() {
                    let test = defined == (word == ".elifdef");
                    c.reading = c.outer_reading && !c.taken && test;
                    c.taken |= test;
                }
            }
            ".else" => {
                if let Some(c) = self.conditionals.last_mut() {
                    c.reading = c.outer_reading && !c.taken;
                    c.taken = true;
                }
            }
            ".endif" => {
                self.conditionals.pop();
            }
            ".include" | ".include_if_exists" if self.reading() => {
                let path = unquote(rest);
                if depth >= MAX_INCLUDE_DEPTH {
                    self.main.problems.push((
                        file,
                        number,
                        format!(
                            ".include nests deeper than {MAX_INCLUDE_DEPTH} files; {path} not read"
                        ),
                    ));
                } else if let Err(error) = self.file(&path, depth + 1, word == ".include_if_exists")
                {
                    match error {
                        SourceError::Io { source, .. }
                            if source.kind() == std::io::ErrorKind::NotFound =>
                        {
                            self.main.problems.push((
                                file,
                                number,
                                format!("{path} is included but does not exist: Exim refuses this configuration"),
                            ));
                        }
                        error => return Err(error),
                    }
                }
            }
            _ => {}
        }
        Ok(())
    }

    /// Substitute every macro defined so far into a physical line, in the
    /// order they were defined, wherever its name stands (also inside a
    /// word: `xMAC` becomes `x` and the value, as Exim does).
    fn substitute(&self, mut line: Located) -> Located {
        for m in &self.macros {
            if !line.text.contains(m.name.as_str()) {
                continue;
            }
            let mut out = Located::default();
            let mut at = 0;
            let mut search = 0;
            while let Some(found) = line.text[search..].find(m.name.as_str()) {
                let pos = search + found;
                out.append(&line.slice(at, pos));
                out.append(&m.value);
                at = pos + m.name.len();
                search = at;
            }
            out.append(&line.slice(at, line.text.len()));
            line = out;
        }
        line
    }

    fn logical_line(&mut self, line: Located, file: usize, number: u32) -> Result<(), SourceError> {
        let text = line.text.as_str();
        if text.starts_with("begin") && text[5..].starts_with(|c: char| c.is_ascii_whitespace()) {
            // The end of the main section: lists live only there.
            self.done = true;
            return Ok(());
        }
        if text.starts_with(|c: char| c.is_ascii_uppercase()) {
            let name_end = text
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(text.len());
            let name = &text[..name_end];
            let rest = text[name_end..].trim_start();
            let (redefine, value_from) = if let Some(r) = rest.strip_prefix("==") {
                (true, r)
            } else if let Some(r) = rest.strip_prefix('=') {
                (false, r)
            } else {
                return Ok(());
            };
            if !redefine
                && let Some(earlier) = self
                    .macros
                    .iter()
                    .find(|m| m.name != name && name.contains(m.name.as_str()))
            {
                return Err(SourceError::Syntax {
                    file: self.main.files[file].clone(),
                    line: number,
                    message: format!(
                        "macro {name} holds the earlier macro {} in its name: Exim refuses this configuration",
                        earlier.name
                    ),
                });
            }
            let value_start = text.len() - value_from.trim_start().len();
            let value = line.slice(value_start, text.len());
            match self.macros.iter_mut().find(|m| m.name == name) {
                Some(existing) if redefine => existing.value = value,
                Some(_) => {}
                None => self.macros.push(Macro {
                    name: name.to_string(),
                    value,
                }),
            }
            return Ok(());
        }
        let (kind, after) = if let Some(r) = text.strip_prefix("domainlist") {
            (ListKind::Domain, r)
        } else if let Some(r) = text.strip_prefix("hostlist") {
            (ListKind::Host, r)
        } else if let Some(r) = text.strip_prefix("addresslist") {
            (ListKind::Address, r)
        } else if let Some(r) = text.strip_prefix("localpartlist") {
            (ListKind::LocalPart, r)
        } else {
            if let Some((name, value)) = text.split_once('=')
                && name.trim() == "primary_hostname"
            {
                let start = text.len() - value.trim_start().len();
                self.main.primary_hostname = Some((line.slice(start, text.len()), number, file));
            }
            return Ok(());
        };
        if !after.starts_with(|c: char| c.is_ascii_whitespace() || c == '_') {
            return Ok(());
        }
        // `domainlist_cache` is a modifier Exim accepts; the name follows.
        let after = after.trim_start_matches("_cache").trim_start();
        let Some((name, value)) = after.split_once('=') else {
            return Ok(());
        };
        let start = text.len() - value.trim_start().len();
        let value = line.slice(start, text.len());
        let (file, line_no) = value
            .origin(0, 0)
            .map_or((file, number), |o| (o.file, o.line));
        // Exim refuses a second definition; the first stands.
        self.main
            .lists
            .entry(name.trim().to_string())
            .or_insert(NamedList {
                kind,
                value,
                file,
                line: line_no,
            });
        Ok(())
    }
}

/// The length of `NAME` when the line defines a macro (`NAME = ...`).
fn definition_name_len(line: &str) -> usize {
    if !line.starts_with(|c: char| c.is_ascii_uppercase()) {
        return 0;
    }
    let end = line
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .unwrap_or(line.len());
    if line[end..].trim_start().starts_with('=') {
        end
    } else {
        0
    }
}

/// `"path"` or `path`.
fn unquote(text: &str) -> String {
    text.strip_prefix('"')
        .and_then(|t| t.strip_suffix('"'))
        .unwrap_or(text)
        .to_string()
}

/// Leading and trailing white space removed: where the rest starts.
fn trim(raw: &str) -> (usize, &str) {
    let start = raw.len() - raw.trim_start().len();
    (start, raw.trim())
}

/// Physical lines with their 1-based numbers and byte offsets.
fn physical_lines(text: &str) -> impl Iterator<Item = (u32, usize, &str)> {
    let mut offset = 0;
    text.split_inclusive('\n').enumerate().map(move |(i, raw)| {
        let at = offset;
        offset += raw.len();
        let line = raw.strip_suffix('\n').unwrap_or(raw);
        (crate::sources::reading::line_number(i), at, line)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(files: &[(&str, &str)]) -> MainSection {
        let dir = tempfile::tempdir().unwrap();
        for (path, text) in files {
            let p = dir.path().join(path);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, text).unwrap();
        }
        let root = ConfigRoot::new(dir.path());
        read_main(&root, files[0].0, &[]).unwrap()
    }

    #[test]
    fn a_macro_named_after_an_earlier_one_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("exim.conf"), "CALLER = a\nCALLER_UID = 0\n").unwrap();
        let root = ConfigRoot::new(dir.path());
        match read_main(&root, "exim.conf", &[]) {
            Err(SourceError::Syntax { line: 2, .. }) => {}
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn continuations_macros_includes_and_conditionals() {
        let conf = "# c\nLOCAL = a.test : \\\n   b.test\n.ifdef LOCAL\ndomainlist local_domains = @ : LOCAL\n.else\ndomainlist local_domains = never.test\n.endif\n.include /etc/more.conf\nbegin routers\ndomainlist x = y\n";
        let main = read(&[
            ("etc/exim.conf", conf),
            ("etc/more.conf", "domainlist relay_to_domains = r.test\n"),
        ]);
        let local = &main.lists["local_domains"];
        assert_eq!(local.value.text, "@ : a.test : b.test");
        let at = local.value.text.find("b.test").unwrap();
        let origin = local.value.origin(at, at + 6).unwrap();
        assert_eq!(origin.line, 3);
        let span = origin.span.unwrap();
        assert_eq!(&conf[span.start..span.end], "b.test");
        assert_eq!(main.lists["relay_to_domains"].value.text, "r.test");
        assert_eq!(
            main.files[main.lists["relay_to_domains"].file],
            "etc/more.conf"
        );
        assert!(!main.lists.contains_key("x"));
    }
}
