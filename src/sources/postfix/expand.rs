//! `$name` expansion as Postfix 3.7's `mac_expand` does it (`mac_parse`,
//! `${name?value}`, `${name:value}`, `${{a} == {b}?...}`), over the
//! parameters of a [`MainCf`], with Postfix's nesting limit and mxdrift's
//! own limits against expansion bombs.
//!
//! Every expanded character remembers where it literally stands (file,
//! physical line, parameter), so a domain that reaches `mydestination`
//! through `$myhostname` is declared on the line of `myhostname`.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::ops::Range;

use super::lexer::is_postfix_space;
use super::maincf::{DEFAULT_MYDOMAIN, Definition, MainCf, Origin, builtin_default};
use crate::inventory::ByteSpan;
use crate::sources::SourceError;

impl MainCf {
    /// The fully expanded value, as `postconf -x -h NAME` prints it (what
    /// was expanded before a limit stopped it, see [`MainCf::expand_checked`]).
    pub fn expanded(&self, name: &str) -> String {
        self.expand_param(name).text
    }

    /// The fully expanded value with the origin of every character. When a
    /// limit stopped the expansion, [`Expanded::failure`] says which.
    pub fn expand_param(&self, name: &str) -> Expanded {
        let mut exp = Expander::new(self);
        let out = exp.expand_top(name);
        exp.finish(out)
    }

    /// [`MainCf::expand_param`], with an expansion that Postfix would refuse
    /// (nesting, a loop) or that exceeds mxdrift's limits as an error naming
    /// main.cf, the line and the parameter.
    pub fn expand_checked(&self, name: &str) -> Result<Expanded, SourceError> {
        let expanded = self.expand_param(name);
        match &expanded.failure {
            None => Ok(expanded),
            Some(failure) => Err(self.expansion_error(name, failure)),
        }
    }

    /// The error for a failed expansion of `param`: on the line of the
    /// outermost parameter of the chain that is written in main.cf.
    pub fn expansion_error(&self, param: &str, failure: &ExpansionFailure) -> SourceError {
        let line = std::iter::once(param)
            .chain(failure.chain.iter().map(String::as_str))
            .find_map(|p| self.get(p).map(|d| d.line))
            .unwrap_or(0);
        SourceError::Syntax {
            file: self.file().to_string(),
            line,
            message: format!("parameter {param}: {failure}"),
        }
    }
}

/// Postfix's `mac_expand` warns "unreasonable macro call nesting" and fails
/// (`postconf`: "fatal: macro processing error") when a macro call or a
/// piece of literal text is nested more than this deep.
pub const MAX_NESTING: usize = 100;

/// Postfix expands each operand of `{a} == {b}` with a fresh `mac_expand`,
/// whose nesting count starts again at 0, so its limit never stops operands
/// nested in operands. mxdrift bounds all nesting, operands included, here:
/// the expansion recurses on the stack.
pub const MAX_TOTAL_NESTING: usize = 250;

/// mxdrift's limit on one parameter's expanded value. Postfix has none: it
/// grows its buffer until memory runs out ("fatal: myrealloc: insufficient
/// memory"), as with `a = $b $b`, `b = $c $c`, ... a few dozen levels deep.
pub const MAX_EXPANDED_BYTES: usize = 64 << 20;

/// mxdrift's limit on the places one expanded value is made of (a run of
/// text copied byte after byte from one line of one parameter is one
/// place: `$a$a` makes two).
pub const MAX_EXPANDED_PIECES: usize = 4 << 20;

/// mxdrift's limit on `$name` and `${...}` calls in one parameter's
/// expansion: `a = $b$b`, `b = $c$c`, ... with empty values takes
/// Postfix 2^depth calls, which it makes (for hours) without a limit.
pub const MAX_MACRO_CALLS: usize = 1_000_000;

/// Which limit stopped an expansion.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExpansionLimit {
    /// More than [`MAX_NESTING`] nested calls: Postfix fails the same way.
    Nesting,
    /// A parameter that expands to itself: Postfix recurses until its
    /// nesting limit.
    Loop,
    /// More than [`MAX_TOTAL_NESTING`] nested calls, operands included.
    OperandNesting,
    /// More than [`MAX_EXPANDED_BYTES`] or [`MAX_EXPANDED_PIECES`].
    Size,
    /// More than [`MAX_MACRO_CALLS`] calls.
    Calls,
}

/// Why an expansion stopped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExpansionFailure {
    pub limit: ExpansionLimit,
    /// The parameters being expanded when it stopped, outermost first.
    pub chain: Vec<String>,
    /// Where it stopped: the call or text at the limit (shortened).
    pub at: String,
}

impl std::fmt::Display for ExpansionFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let chain = if self.chain.is_empty() {
            String::new()
        } else {
            format!(" (expanding {})", self.chain.join(" -> "))
        };
        match self.limit {
            ExpansionLimit::Nesting => write!(
                f,
                "unreasonable macro call nesting: more than {MAX_NESTING} levels at \"{}\"{chain}; Postfix stops with \"fatal: macro processing error\"",
                self.at
            ),
            ExpansionLimit::Loop => write!(
                f,
                "parameter expansion loop at ${}{chain}; Postfix stops with \"unreasonable macro call nesting\"",
                self.at
            ),
            ExpansionLimit::OperandNesting => write!(
                f,
                "macro calls nested more than {MAX_TOTAL_NESTING} levels deep through {{...}} operands at \"{}\"{chain}; mxdrift does not expand deeper",
                self.at
            ),
            ExpansionLimit::Size => write!(
                f,
                "the expanded value exceeds mxdrift's limit of {} MiB (or {MAX_EXPANDED_PIECES} pieces) at \"{}\"{chain}; Postfix would run out of memory or close to it (an expansion bomb)",
                MAX_EXPANDED_BYTES >> 20,
                self.at
            ),
            ExpansionLimit::Calls => write!(
                f,
                "the expansion needs more than {MAX_MACRO_CALLS} macro calls at \"{}\"{chain}; mxdrift stops there (an expansion bomb)",
                self.at
            ),
        }
    }
}

/// Index of an [`Origin`] in one expansion's table.
type OriginId = u32;

/// [`Run::written`] of text written in no file.
const NOT_WRITTEN: u32 = u32::MAX;

/// A run of text from one place: the origin of its bytes, and where its
/// first byte is written in the origin's file when it is copied from a
/// file (main.cf is at most 16 MiB: a `u32` keeps runs small).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Run {
    /// Byte offset in the text where the run starts.
    start: usize,
    origin: OriginId,
    /// Byte offset in the origin's file, or [`NOT_WRITTEN`].
    written: u32,
}

impl Run {
    /// Whether text of `origin` written at `written`, placed at `at`, goes
    /// on with this run: the same place, and the very next bytes.
    fn goes_on(&self, at: usize, origin: OriginId, written: u32) -> bool {
        if self.origin != origin {
            return false;
        }
        if self.written == NOT_WRITTEN || written == NOT_WRITTEN {
            return self.written == written;
        }
        u32::try_from(at - self.start)
            .ok()
            .and_then(|len| self.written.checked_add(len))
            == Some(written)
    }
}

/// A file offset as a run keeps it.
fn written_at(offset: Option<usize>) -> u32 {
    offset
        .and_then(|o| u32::try_from(o).ok())
        .filter(|o| *o != NOT_WRITTEN)
        .unwrap_or(NOT_WRITTEN)
}

/// Text and where each run of it stands: a [`Run`] for every place the
/// origin changes or the text stops being one piece of its file, sorted by
/// offset. One entry per run, not per character: a 4 MB `mydestination` is
/// a few thousand runs.
#[derive(Debug, Clone, Default)]
struct OText {
    text: String,
    runs: Vec<Run>,
}

impl OText {
    fn len(&self) -> usize {
        self.text.len()
    }

    /// Start a run of `origin` at byte `at` (the current end of the text or
    /// a place just past it, before that text is appended), its first byte
    /// written at `written` in the origin's file.
    fn mark_at(&mut self, at: usize, origin: OriginId, written: u32) {
        let run = Run {
            start: at,
            origin,
            written,
        };
        match self.runs.last_mut() {
            Some(last) if last.start == at => *last = run,
            Some(last) if last.goes_on(at, origin, written) => {}
            _ => self.runs.push(run),
        }
    }

    fn push_str(&mut self, text: &str, origin: OriginId, written: u32) {
        if text.is_empty() {
            return;
        }
        self.mark_at(self.text.len(), origin, written);
        self.text.push_str(text);
    }

    /// Append `src.text[range]` with its origins.
    fn push_slice(&mut self, src: &OText, range: Range<usize>) {
        let Some(piece) = src.text.get(range.clone()) else {
            return;
        };
        if piece.is_empty() {
            return;
        }
        let first = src
            .runs
            .partition_point(|run| run.start <= range.start)
            .saturating_sub(1);
        let base = self.text.len();
        for run in src
            .runs
            .iter()
            .skip(first)
            .take_while(|run| run.start < range.end)
        {
            // A run that starts before the range starts, for this text,
            // at the range's first byte.
            let skipped = range.start.saturating_sub(run.start);
            let written = if run.written == NOT_WRITTEN {
                NOT_WRITTEN
            } else {
                written_at(usize::try_from(run.written).ok().map(|w| w + skipped))
            };
            self.mark_at(
                base + run.start.saturating_sub(range.start),
                run.origin,
                written,
            );
        }
        self.text.push_str(piece);
    }

    fn origin_at(&self, offset: usize) -> Option<OriginId> {
        let idx = self.runs.partition_point(|run| run.start <= offset);
        idx.checked_sub(1)
            .and_then(|i| self.runs.get(i))
            .map(|run| run.origin)
    }
}

/// The result of expanding a parameter.
#[derive(Debug, Clone)]
pub struct Expanded {
    /// The expanded text.
    pub text: String,
    /// Where each run of `text` starts, comes from and is written.
    runs: Vec<Run>,
    origins: Vec<Origin>,
    /// Every parameter whose value was used on the way.
    pub referenced: BTreeSet<String>,
    /// Problems Postfix would report (most of them fatally) that do not
    /// stop mxdrift: syntax errors in `${...}`.
    pub problems: Vec<String>,
    /// The limit that stopped the expansion; `text` is then incomplete.
    pub failure: Option<ExpansionFailure>,
}

impl Expanded {
    /// Origin of the character that starts at byte `offset` of `text`.
    pub fn origin_at(&self, offset: usize) -> Option<&Origin> {
        let run = self.run_at(offset)?;
        self.origins.get(usize::try_from(run.origin).ok()?)
    }

    /// Where `text[range]` is written in its origin's file, when all of it
    /// is one piece of that file: copied from one place, byte after byte
    /// (not put together by expansion, not a default, not `true` computed
    /// by a `${{a} == {b}}`).
    pub fn span_of(&self, range: Range<usize>) -> Option<ByteSpan> {
        if range.is_empty() || range.end > self.text.len() {
            return None;
        }
        let idx = self.runs.partition_point(|run| run.start <= range.start);
        let run = self.runs.get(idx.checked_sub(1)?)?;
        let run_end = self
            .runs
            .get(idx)
            .map_or(self.text.len(), |next| next.start);
        if range.end > run_end || run.written == NOT_WRITTEN {
            return None;
        }
        let start = usize::try_from(run.written).ok()? + (range.start - run.start);
        Some(ByteSpan::at(start, range.len()))
    }

    fn run_at(&self, offset: usize) -> Option<&Run> {
        if offset >= self.text.len() {
            return None;
        }
        let idx = self.runs.partition_point(|run| run.start <= offset);
        self.runs.get(idx.checked_sub(1)?)
    }
}

/// At most this many distinct problems are kept for one expansion.
const MAX_PROBLEMS: usize = 100;

/// Text quoted in a message: at most this many characters of it.
const EXCERPT_CHARS: usize = 60;

fn excerpt(text: &str) -> String {
    let mut chars = text.chars();
    let head: String = chars.by_ref().take(EXCERPT_CHARS).collect();
    if chars.next().is_some() {
        format!("{head}...")
    } else {
        head
    }
}

/// The expansion engine: `mac_parse`/`mac_expand` with Postfix's nesting
/// count (`level`: calls enclosing the current one; operands of `{a} == {b}`
/// start again at 0) and mxdrift's own limits. Once a limit is hit nothing
/// more is expanded, as Postfix stops at its first error.
struct Expander<'a> {
    cf: &'a MainCf,
    origins: Vec<Origin>,
    origin_ids: HashMap<Origin, OriginId>,
    /// Parameters being expanded, innermost last: a name already here is a loop.
    stack: Vec<String>,
    referenced: BTreeSet<String>,
    problems: Vec<String>,
    problems_seen: HashSet<String>,
    level: usize,
    /// Every enclosing call, operands included: bounds the recursion.
    depth: usize,
    calls: usize,
    failure: Option<ExpansionFailure>,
    /// Computing the machine-name default of `myhostname` (or the default
    /// of `mydomain`): Postfix computes it before the parameter has a
    /// value, so a `$myhostname` (`$mydomain`) met on the way is empty.
    computing_myhostname: bool,
    computing_mydomain: bool,
}

impl<'a> Expander<'a> {
    fn new(cf: &'a MainCf) -> Self {
        Expander {
            cf,
            origins: Vec::new(),
            origin_ids: HashMap::new(),
            stack: Vec::new(),
            referenced: BTreeSet::new(),
            problems: Vec::new(),
            problems_seen: HashSet::new(),
            level: 0,
            depth: 0,
            calls: 0,
            failure: None,
            computing_myhostname: false,
            computing_mydomain: false,
        }
    }

    fn finish(self, out: OText) -> Expanded {
        Expanded {
            text: out.text,
            runs: out.runs,
            origins: self.origins,
            referenced: self.referenced,
            problems: self.problems,
            failure: self.failure,
        }
    }

    fn intern(&mut self, origin: Origin) -> OriginId {
        if let Some(id) = self.origin_ids.get(&origin) {
            return *id;
        }
        let id = OriginId::try_from(self.origins.len()).unwrap_or(OriginId::MAX);
        self.origins.push(origin.clone());
        self.origin_ids.insert(origin, id);
        id
    }

    fn default_origin(&mut self, param: &str) -> OriginId {
        let origin = self.cf.default_origin(param);
        self.intern(origin)
    }

    fn problem(&mut self, message: String) {
        if self.problems.len() < MAX_PROBLEMS && self.problems_seen.insert(message.clone()) {
            self.problems.push(message);
        }
    }

    fn fail(&mut self, limit: ExpansionLimit, at: &str) {
        if self.failure.is_none() {
            self.failure = Some(ExpansionFailure {
                limit,
                chain: self.stack.clone(),
                at: excerpt(at),
            });
        }
    }

    /// One `mac_expand_callback`: counts the call and checks the nesting.
    /// False when the expansion must stop.
    fn call(&mut self, what: &str) -> bool {
        if self.failure.is_some() {
            return false;
        }
        self.calls += 1;
        if self.calls > MAX_MACRO_CALLS {
            self.fail(ExpansionLimit::Calls, what);
        } else if self.level > MAX_NESTING {
            self.fail(ExpansionLimit::Nesting, what);
        } else if self.depth >= MAX_TOTAL_NESTING {
            self.fail(ExpansionLimit::OperandNesting, what);
        }
        self.failure.is_none()
    }

    /// Append to the output, within the size limits.
    fn emit_slice(&mut self, src: &OText, range: Range<usize>, out: &mut OText) {
        if range.is_empty() || self.failure.is_some() {
            return;
        }
        // Literal text is a callback of its own in Postfix (its nesting is
        // checked too), but not a call that counts toward MAX_MACRO_CALLS.
        if self.level > MAX_NESTING {
            let text = src.text.get(range).unwrap_or_default().to_string();
            self.fail(ExpansionLimit::Nesting, &text);
            return;
        }
        if out.len() + range.len() > MAX_EXPANDED_BYTES {
            let text = src.text.get(range).unwrap_or_default().to_string();
            self.fail(ExpansionLimit::Size, &text);
            return;
        }
        out.push_slice(src, range);
        self.check_pieces(out);
    }

    /// Append text mxdrift computed (`true`), written in no file.
    fn emit_str(&mut self, text: &str, origin: OriginId, out: &mut OText) {
        if self.failure.is_some() {
            return;
        }
        if out.len() + text.len() > MAX_EXPANDED_BYTES {
            self.fail(ExpansionLimit::Size, text);
            return;
        }
        out.push_str(text, origin, NOT_WRITTEN);
        self.check_pieces(out);
    }

    fn check_pieces(&mut self, out: &OText) {
        if out.runs.len() > MAX_EXPANDED_PIECES {
            let tail = out
                .text
                .get(out.text.len().saturating_sub(EXCERPT_CHARS)..)
                .unwrap_or_default()
                .to_string();
            self.fail(ExpansionLimit::Size, &tail);
        }
    }

    /// The value `postconf -x NAME` expands: parsed at nesting level 0.
    fn expand_top(&mut self, name: &str) -> OText {
        let mut out = OText::default();
        self.referenced.insert(name.to_string());
        if let Some(value) = self.lookup(name) {
            self.stack.push(name.to_string());
            self.expand_text(&value, 0..value.len(), &mut out);
            self.stack.pop();
        }
        out
    }

    /// Expand `$name`: the value of `name`, itself expanded (Postfix expands
    /// main.cf values recursively); undefined is empty.
    fn expand_name(&mut self, name: &str, out: &mut OText) {
        if !self.call(name) {
            return;
        }
        if self.stack.iter().any(|n| n == name) {
            self.fail(ExpansionLimit::Loop, name);
            return;
        }
        self.referenced.insert(name.to_string());
        let Some(value) = self.lookup(name) else {
            return;
        };
        self.stack.push(name.to_string());
        self.level += 1;
        self.depth += 1;
        self.expand_text(&value, 0..value.len(), out);
        self.depth -= 1;
        self.level -= 1;
        self.stack.pop();
    }

    /// The text a `$name` lookup returns (unexpanded), with origins.
    fn lookup(&mut self, name: &str) -> Option<OText> {
        if (name == "myhostname" && self.computing_myhostname)
            || (name == "mydomain" && self.computing_mydomain)
        {
            return None;
        }
        if let Some(def) = self.cf.get(name) {
            return Some(self.definition_text(def));
        }
        match name {
            "myhostname" => self.hostname_default(),
            "mydomain" => Some(self.mydomain_default()),
            _ => {
                let value = builtin_default(name)?;
                let origin = self.default_origin(name);
                let mut text = OText::default();
                text.push_str(value, origin, NOT_WRITTEN);
                Some(text)
            }
        }
    }

    /// The text of a definition with the origin of each physical line.
    fn definition_text(&mut self, def: &Definition) -> OText {
        let mut text = OText {
            text: def.value.clone(),
            runs: Vec::with_capacity(def.pieces().len()),
        };
        for piece in def.pieces() {
            let origin = self.intern(Origin {
                file: self.cf.file().to_string(),
                line: piece.line,
                param: def.name.clone(),
            });
            text.mark_at(piece.start, origin, written_at(Some(piece.written)));
        }
        if text.runs.is_empty() {
            let origin = self.intern(Origin {
                file: self.cf.file().to_string(),
                line: def.line,
                param: def.name.clone(),
            });
            text.mark_at(0, origin, NOT_WRITTEN);
        }
        text
    }

    /// Expand a parameter as Postfix does when it computes a default at
    /// startup: on its own (nesting level 0, no enclosing expansion), with
    /// the parameter being computed still unset.
    fn expand_detached(&mut self, name: &str, out: &mut OText) {
        let saved_level = std::mem::replace(&mut self.level, 0);
        let saved_stack = std::mem::take(&mut self.stack);
        if let Some(value) = self.lookup(name) {
            self.stack.push(name.to_string());
            self.depth += 1;
            self.expand_text(&value, 0..value.len(), out);
            self.depth -= 1;
        }
        self.stack = saved_stack;
        self.level = saved_level;
    }

    /// Postfix's check_myhostname(): the machine's name, with `.$mydomain`
    /// (or `.localdomain`) appended when it has no dot.
    fn hostname_default(&mut self) -> Option<OText> {
        let host = self.cf.hostname()?;
        let origin = self.intern(host.origin.clone());
        let mut text = OText::default();
        text.push_str(&host.value, origin, written_at(host.written));
        if !host.value.contains('.') {
            let origin = self.default_origin("myhostname");
            text.push_str(".", origin, NOT_WRITTEN);
            if self.cf.get("mydomain").is_some() {
                let saved = std::mem::replace(&mut self.computing_myhostname, true);
                self.expand_detached("mydomain", &mut text);
                self.computing_myhostname = saved;
            } else {
                text.push_str(DEFAULT_MYDOMAIN, origin, NOT_WRITTEN);
            }
        }
        Some(text)
    }

    /// Postfix's check_mydomain(): `myhostname` minus its first label, or
    /// `localdomain` when it has no dot. The characters keep the origin of
    /// `myhostname`, since that is where the name literally stands.
    fn mydomain_default(&mut self) -> OText {
        let mut host = OText::default();
        let saved = std::mem::replace(&mut self.computing_mydomain, true);
        self.expand_detached("myhostname", &mut host);
        self.computing_mydomain = saved;
        match host.text.find('.') {
            Some(dot) => {
                let mut text = OText::default();
                text.push_slice(&host, dot + 1..host.len());
                text
            }
            None => {
                let origin = self.default_origin("mydomain");
                let mut text = OText::default();
                text.push_str(DEFAULT_MYDOMAIN, origin, NOT_WRITTEN);
                text
            }
        }
    }

    /// mac_parse: copy `src.text[range]`, expanding `$name`, `${...}`,
    /// `$(...)` and `$$`.
    fn expand_text(&mut self, src: &OText, range: Range<usize>, out: &mut OText) {
        let bytes = src.text.as_bytes();
        let end = range.end.min(bytes.len());
        let mut i = range.start;
        let mut literal = i;
        while i < end {
            if self.failure.is_some() {
                return;
            }
            if bytes.get(i) != Some(&b'$') {
                i += 1;
                continue;
            }
            let next = if i + 1 < end {
                bytes.get(i + 1).copied()
            } else {
                None
            };
            match next {
                Some(b'$') => {
                    // `$$` is a literal `$`.
                    self.emit_slice(src, literal..i + 1, out);
                    i += 2;
                    literal = i;
                }
                Some(open @ (b'{' | b'(')) => {
                    self.emit_slice(src, literal..i, out);
                    let close = if open == b'{' { b'}' } else { b')' };
                    let mut level = 0usize;
                    let mut found = None;
                    for (j, b) in bytes.iter().enumerate().take(end).skip(i + 1) {
                        if *b == open {
                            level += 1;
                        } else if *b == close {
                            level = level.saturating_sub(1);
                            if level == 0 {
                                found = Some(j);
                                break;
                            }
                        }
                    }
                    let Some(close_at) = found else {
                        let rest = src.text.get(i..end).unwrap_or_default();
                        self.problem(format!(
                            "unbalanced {}{} in \"{}\"",
                            char::from(open),
                            char::from(close),
                            excerpt(rest)
                        ));
                        return;
                    };
                    self.expand_expression(src, i + 2..close_at, out);
                    i = close_at + 1;
                    literal = i;
                }
                Some(c) if c.is_ascii_alphanumeric() || c == b'_' => {
                    self.emit_slice(src, literal..i, out);
                    let mut j = i + 1;
                    while j < end
                        && bytes
                            .get(j)
                            .is_some_and(|b| b.is_ascii_alphanumeric() || *b == b'_')
                    {
                        j += 1;
                    }
                    let name = src.text.get(i + 1..j).unwrap_or_default().to_string();
                    self.expand_name(&name, out);
                    i = j;
                    literal = i;
                }
                _ => {
                    // Postfix: "empty macro name", a fatal error. Keep the
                    // '$' as text so the value stays readable.
                    let around = src.text.get(range.start..end).unwrap_or_default();
                    self.problem(format!("empty macro name in \"{}\"", excerpt(around)));
                    i += 1;
                }
            }
        }
        self.emit_slice(src, literal..end, out);
    }

    /// The inside of `${...}`: a named parameter with optional `?`/`:`
    /// branches, or a logical expression `{a} op {b}` with optional branches.
    fn expand_expression(&mut self, src: &OText, body: Range<usize>, out: &mut OText) {
        let body_text = src.text.get(body.clone()).unwrap_or_default();
        let plain = body_text.trim_matches(is_postfix_space);
        if !plain.starts_with('{')
            && !plain.is_empty()
            && plain.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        {
            // `${name}` is `$name`: one call.
            let name = plain.to_string();
            self.expand_name(&name, out);
            return;
        }
        if !self.call(body_text) {
            return;
        }
        self.level += 1;
        self.depth += 1;
        self.expression(src, body, out);
        self.depth -= 1;
        self.level -= 1;
    }

    fn expression(&mut self, src: &OText, body: Range<usize>, out: &mut OText) {
        let text = src.text.as_str();
        let body_text = excerpt(text.get(body.clone()).unwrap_or_default());
        let end = body.end;
        let mut pos = skip_ws(text, body.start, end);
        let non_empty: bool;
        let op: Option<u8>;
        let value_start = pos;
        if text.as_bytes().get(pos) == Some(&b'{') && pos < end {
            let Some(result) = self.logical(src, &mut pos, end) else {
                if self.failure.is_none() {
                    self.problem(format!("bad logical expression in \"${{{body_text}}}\""));
                }
                return;
            };
            non_empty = result;
            match (pos < end).then(|| text.as_bytes().get(pos)).flatten() {
                None => {
                    if result {
                        let origin = match src.origin_at(value_start) {
                            Some(origin) => origin,
                            None => self.default_origin(""),
                        };
                        self.emit_str("true", origin, out);
                    }
                    return;
                }
                Some(c @ (b'?' | b':')) => {
                    op = Some(*c);
                    pos += 1;
                }
                Some(_) => {
                    self.problem(format!("\"?\" or \":\" expected in \"${{{body_text}}}\""));
                    return;
                }
            }
        } else {
            let name_end = text
                .get(body.clone())
                .and_then(|b| b.find(['?', ':']))
                .map_or(end, |p| body.start + p);
            let name = text
                .get(body.start..name_end)
                .unwrap_or_default()
                .trim_matches(is_postfix_space);
            if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                self.problem(format!(
                    "attribute name syntax error in \"${{{body_text}}}\""
                ));
                return;
            }
            op = text.as_bytes().get(name_end).copied();
            pos = name_end + 1;
            // MAC_EXP_MODE_TEST: the raw (unexpanded) value decides.
            self.referenced.insert(name.to_string());
            non_empty = self.raw_non_empty(name);
        }
        if op == Some(b'?') {
            let (if_true, after) = branch(text, pos, end);
            if non_empty {
                self.expand_text(src, if_true, out);
            }
            match (after < end).then(|| text.as_bytes().get(after)).flatten() {
                None => return,
                Some(b':') => pos = after + 1,
                Some(_) => {
                    self.problem(format!("\":\" expected in \"${{{body_text}}}\""));
                    return;
                }
            }
        }
        let (if_false, after) = branch(text, pos, end);
        if !non_empty {
            self.expand_text(src, if_false, out);
        }
        if after < end {
            self.problem(format!("unexpected input in \"${{{body_text}}}\""));
        }
    }

    /// Whether a `${name?...}` test finds a non-empty raw value.
    fn raw_non_empty(&mut self, name: &str) -> bool {
        if let Some(def) = self.cf.get(name) {
            return !def.value.is_empty();
        }
        self.lookup(name).is_some_and(|t| !t.text.is_empty())
    }

    /// `{left} op {right}`; `pos` starts at the first `{` and ends after the
    /// right operand and following white space. Each operand is expanded as
    /// Postfix does, by a fresh expansion whose nesting level starts at 0.
    fn logical(&mut self, src: &OText, pos: &mut usize, end: usize) -> Option<bool> {
        let text = src.text.as_str();
        let (left, after_left) = curly_payload(text, *pos, end)?;
        let mut p = after_left;
        let op_start = p;
        while p < end
            && text
                .as_bytes()
                .get(p)
                .is_some_and(|b| b"<>!=?+-*/~&|%".contains(b))
        {
            p += 1;
        }
        let mut op = text.get(op_start..p)?.to_string();
        if text
            .get(p..end)
            .is_some_and(|rest| rest.starts_with("level"))
        {
            op.push_str("level");
            p += "level".len();
        }
        p = skip_ws(text, p, end);
        if p >= end || text.as_bytes().get(p) != Some(&b'{') {
            return None;
        }
        let (right, after_right) = curly_payload(text, p, end)?;
        let saved = std::mem::replace(&mut self.level, 0);
        let mut left_out = OText::default();
        self.expand_text(src, left, &mut left_out);
        let mut right_out = OText::default();
        self.expand_text(src, right, &mut right_out);
        self.level = saved;
        if self.failure.is_some() {
            return None;
        }
        *pos = after_right;
        compare(&left_out.text, &op, &right_out.text)
    }
}

fn skip_ws(text: &str, mut pos: usize, end: usize) -> usize {
    while pos < end
        && text
            .as_bytes()
            .get(pos)
            .is_some_and(|b| is_postfix_space(char::from(*b)))
    {
        pos += 1;
    }
    pos
}

/// A balanced `{...}` starting at `pos`: its payload and the position after
/// the closing brace and any white space.
fn curly_payload(text: &str, pos: usize, end: usize) -> Option<(Range<usize>, usize)> {
    let mut level = 0usize;
    for (j, b) in text.as_bytes().iter().enumerate().take(end).skip(pos) {
        match b {
            b'{' => level += 1,
            b'}' => {
                level = level.saturating_sub(1);
                if level == 0 {
                    return Some((pos + 1..j, skip_ws(text, j + 1, end)));
                }
            }
            _ => {}
        }
    }
    None
}

/// A `?`/`:` branch starting at `pos`: `{text}` (then the position after
/// it), or the rest of the body as plain text.
fn branch(text: &str, pos: usize, end: usize) -> (Range<usize>, usize) {
    let start = skip_ws(text, pos, end);
    if start < end
        && text.as_bytes().get(start) == Some(&b'{')
        && let Some((payload, after)) = curly_payload(text, start, end)
    {
        return (payload, after);
    }
    (pos.min(end)..end, end)
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

#[cfg(test)]
mod tests {
    use super::super::maincf::test_main_cf as cf;
    use super::*;

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
    fn expansion_loop_stops_the_expansion_like_postfix() {
        let cf = cf("a = $b\nb = x $a\nmydestination = $a, $mydestination\n");
        let e = cf.expand_param("mydestination");
        let failure = e.failure.expect("a loop is a failure");
        assert_eq!(failure.limit, ExpansionLimit::Loop);
        assert_eq!(failure.chain, vec!["mydestination", "a", "b"]);
        let err = cf.expand_checked("mydestination").unwrap_err();
        assert!(
            err.to_string().starts_with(
                "etc/postfix/main.cf:3: parameter mydestination: parameter expansion loop at $a"
            ),
            "{err}"
        );
    }

    fn chain(n: usize) -> String {
        let mut text = String::new();
        for i in 0..n {
            text.push_str(&format!("p{i} = $p{}\n", i + 1));
        }
        text.push_str(&format!("p{n} = end.test\nmydestination = $p0\n"));
        text
    }

    #[test]
    fn nesting_limit_is_postfix_s() {
        // postconf 3.7 -x: a chain of 99 references expands, 100 fail with
        // "unreasonable macro call nesting" (the literal is one level more).
        assert_eq!(cf(&chain(99)).expanded("mydestination"), "end.test");
        let e = cf(&chain(100)).expand_param("mydestination");
        assert_eq!(e.failure.unwrap().limit, ExpansionLimit::Nesting);
        let nested = |n: usize| {
            let v = format!("{}a.test{}", "${x?{".repeat(n), "}}".repeat(n));
            cf(&format!("x = 1\nmydestination = {v}\n")).expand_param("mydestination")
        };
        assert_eq!(nested(100).text, "a.test");
        assert_eq!(nested(101).failure.unwrap().limit, ExpansionLimit::Nesting);
        let deep = nested(100_000);
        assert_eq!(deep.failure.unwrap().limit, ExpansionLimit::Nesting);
    }

    #[test]
    fn exponential_expansion_is_stopped_at_the_size_limit() {
        let mut text = String::new();
        for i in 0..11 {
            let refs = vec![format!("$p{}", i + 1); 10].join(" ");
            text.push_str(&format!("p{i} = {refs}\n"));
        }
        text.push_str(&format!(
            "p11 = {}\nmydestination = $p0\n",
            "x".repeat(2000)
        ));
        let cf = cf(&text);
        let e = cf.expand_param("mydestination");
        let failure = e.failure.expect("a bomb is a failure");
        assert_eq!(failure.limit, ExpansionLimit::Size);
        assert!(e.text.len() <= MAX_EXPANDED_BYTES);
        let err = cf.expand_checked("mydestination").unwrap_err();
        assert!(
            err.to_string()
                .starts_with("etc/postfix/main.cf:13: parameter mydestination:"),
            "{err}"
        );
    }

    #[test]
    fn exponential_calls_without_output_are_stopped() {
        let mut text = String::new();
        for i in 0..40 {
            text.push_str(&format!("p{i} = $p{0}$p{0}\n", i + 1));
        }
        text.push_str("p40 =\nmydestination = $p0\n");
        let e = cf(&text).expand_param("mydestination");
        assert_eq!(e.failure.unwrap().limit, ExpansionLimit::Calls);
    }

    #[test]
    fn operands_nest_within_a_bound_on_a_small_stack() {
        // Postfix restarts its count in each {operand}: mxdrift's own
        // bound keeps the recursion off the end of a 2 MiB thread stack.
        let mut v = "x".to_string();
        for _ in 0..5000 {
            v = format!("${{{{{v}}} == {{x}}}}");
        }
        let text = format!("mydestination = {v}\n");
        let failure = std::thread::Builder::new()
            .stack_size(2 << 20)
            .spawn(move || cf(&text).expand_param("mydestination").failure)
            .unwrap()
            .join()
            .unwrap();
        assert_eq!(failure.unwrap().limit, ExpansionLimit::OperandNesting);
    }

    #[test]
    fn hostname_and_mydomain_defaults_that_refer_to_each_other() {
        // postconf 3.7 on a machine named `vm`.
        let mut c = MainCf::parse("etc/postfix/main.cf", "myhostname = $mydomain\n").unwrap();
        c.set_hostname("vm", None);
        assert_eq!(c.expanded("myhostname"), "localdomain");
        assert!(c.expand_param("mydestination").failure.is_none());
        let mut c = MainCf::parse("etc/postfix/main.cf", "mydomain = $myhostname\n").unwrap();
        c.set_hostname("vm", None);
        assert_eq!(c.expanded("myhostname"), "vm.");
        assert_eq!(c.expanded("mydomain"), "vm.");
    }

    #[test]
    fn a_long_value_keeps_every_line_and_expands_in_one_pass() {
        let mut text = String::from("mydestination = d0.test");
        for i in 1..200_000 {
            text.push_str(&format!(",\n  d{i}.test"));
        }
        text.push('\n');
        let cf = cf(&text);
        let e = cf.expand_param("mydestination");
        assert!(e.failure.is_none());
        let at = e.text.find("d123456.test").unwrap();
        assert_eq!(e.origin_at(at).unwrap().line, 123_457);
        assert_eq!(e.origin_at(0).unwrap().line, 1);
        assert!(e.origin_at(e.text.len()).is_none());
    }

    #[test]
    fn problem_messages_quote_a_short_excerpt() {
        let value = "a$ ".repeat(100_000);
        let e = cf(&format!("mydestination = {value}\n")).expand_param("mydestination");
        assert_eq!(e.problems.len(), 1);
        assert!(e.problems[0].len() < 200, "{}", e.problems[0]);
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
    fn a_piece_of_one_line_knows_its_bytes_in_the_file() {
        let text = "a = x.test\nb =\n  y.test\nmydestination = $a, $b, z.test,\r\n\tw.test $a$a ${{1} == {1}} $$q\n";
        let cf = cf(text);
        let e = cf.expand_param("mydestination");
        let span = |token: &str| {
            let at = e.text.find(token).unwrap();
            e.span_of(at..at + token.len())
                .map(|s| &text[s.start..s.end])
        };
        assert_eq!(span("x.test"), Some("x.test"));
        assert_eq!(span("y.test"), Some("y.test"));
        assert_eq!(span("z.test"), Some("z.test"));
        assert_eq!(span("w.test"), Some("w.test"));
        // Text put together by expansion, computed, or around a `$$`.
        assert_eq!(span("x.testx.test"), None);
        assert_eq!(span("true"), None);
        assert_eq!(span("$q"), None);
        // A built-in default is written nowhere; a name from the machine's
        // name file is written there.
        let mut c = MainCf::parse("etc/postfix/main.cf", "").unwrap();
        let mailname = Origin {
            file: "etc/mailname".into(),
            line: 1,
            param: "myhostname".into(),
        };
        c.set_hostname("mx.example.test", Some((mailname, 2)));
        let e = c.expand_param("mydestination");
        assert_eq!(e.span_of(0..15), Some(ByteSpan::at(2, 15)));
        let localhost = e.text.rfind("localhost").unwrap();
        assert_eq!(e.span_of(localhost..localhost + 9), None);
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
