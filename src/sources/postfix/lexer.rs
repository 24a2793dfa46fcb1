//! Postfix's logical lines (`readllines()`, `util/readlline.c`), the one
//! lexer for every Postfix text file mxdrift reads line by line: main.cf,
//! master.cf and `postmap` table sources.
//!
//! Facts a newcomer would get wrong:
//! - A physical line that starts with white space continues the logical
//!   line before it, whatever that line was: `= value` on its own indented
//!   line is part of the previous value.
//! - Comment lines (`#` as the first non-blank) and blank lines are skipped
//!   everywhere, also between the pieces of one logical line: they do not
//!   end it. A `#` after text is no comment.
//! - A continuation with nothing before it to continue is dropped (Postfix
//!   warns): it is an [`Lexed::Orphan`], never a logical line of its own.
//!
//! The lexer streams (a table source has a million lines) and borrows the
//! text; each piece keeps its physical line number and its byte offset, so
//! that a name can be traced back to the exact bytes it was read from.

use std::borrow::Cow;

/// Postfix's ISSPACE: the C locale's white space.
pub(crate) fn is_postfix_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\r' | '\n' | '\x0b' | '\x0c')
}

/// [`is_postfix_space`] for a byte.
pub(crate) fn is_space_byte(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | b'\n' | 0x0b | 0x0c)
}

/// A physical line as the logical-line rules see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Physical<'t> {
    /// Blank, or a comment.
    Skip,
    /// Starts with white space: continues the open logical line. The text
    /// keeps its leading white space (readlline keeps it), not its trailing.
    Continuation(&'t str),
    /// Starts a logical line; the text without its trailing white space.
    Start(&'t str),
}

impl<'t> Physical<'t> {
    /// Classify one physical line (without its newline).
    pub(crate) fn of(raw: &'t str) -> Physical<'t> {
        // The white space Postfix trims is ASCII, so byte positions are
        // character boundaries.
        let bytes = raw.as_bytes();
        let Some(first) = bytes.iter().position(|&b| !is_space_byte(b)) else {
            return Physical::Skip;
        };
        if bytes.get(first) == Some(&b'#') {
            return Physical::Skip;
        }
        let end = bytes
            .iter()
            .rposition(|&b| !is_space_byte(b))
            .map_or(0, |last| last + 1);
        let text = raw.get(..end).unwrap_or(raw);
        if first == 0 {
            Physical::Start(text)
        } else {
            Physical::Continuation(text)
        }
    }
}

/// One physical line's part of a logical line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Piece<'t> {
    /// 1-based physical line number.
    pub line: u32,
    /// Byte offset of `text` (the start of its physical line) in the text
    /// the lexer was given.
    pub offset: usize,
    /// See [`Physical`]: trailing white space removed; a continuation keeps
    /// its leading white space.
    pub text: &'t str,
}

/// One logical line: its first physical piece and its continuations.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct LogicalLine<'t> {
    pub first: Piece<'t>,
    /// Continuation pieces, in order (empty, without allocating, for the
    /// usual one-line entry).
    pub rest: Vec<Piece<'t>>,
}

impl<'t> LogicalLine<'t> {
    /// The physical line where it starts.
    pub fn line(&self) -> u32 {
        self.first.line
    }

    /// Every piece, in order.
    pub fn pieces(&self) -> impl Iterator<Item = &Piece<'t>> {
        std::iter::once(&self.first).chain(&self.rest)
    }

    /// The pieces joined, as Postfix sees the logical line: borrowed when
    /// there is one piece.
    pub fn joined(&self) -> Cow<'t, str> {
        if self.rest.is_empty() {
            return Cow::Borrowed(self.first.text);
        }
        let mut text = String::with_capacity(self.pieces().map(|p| p.text.len()).sum());
        for piece in self.pieces() {
            text.push_str(piece.text);
        }
        Cow::Owned(text)
    }

    /// Each piece with the offset where it starts in [`LogicalLine::joined`].
    pub fn joined_starts(&self) -> impl Iterator<Item = (usize, &Piece<'t>)> {
        self.pieces().scan(0usize, |at, piece| {
            let start = *at;
            *at += piece.text.len();
            Some((start, piece))
        })
    }
}

/// What the lexer yields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Lexed<'t> {
    Line(LogicalLine<'t>),
    /// A continuation line with nothing to continue, which Postfix drops
    /// with a warning: its physical line number.
    Orphan(u32),
}

/// The logical lines of a text, one at a time.
#[derive(Debug, Clone)]
pub(crate) struct Lexer<'t> {
    text: &'t str,
    /// Byte offset of the next physical line; past the end when done.
    pos: usize,
    /// Number of the physical line at `pos`.
    line: u32,
}

impl<'t> Lexer<'t> {
    pub fn new(text: &'t str) -> Self {
        Lexer {
            text,
            pos: 0,
            line: 1,
        }
    }

    /// Only the logical lines (table sources and master.cf ignore orphans,
    /// as postmap and master do after their warning).
    pub fn lines(self) -> impl Iterator<Item = LogicalLine<'t>> {
        self.filter_map(|lexed| match lexed {
            Lexed::Line(line) => Some(line),
            Lexed::Orphan(_) => None,
        })
    }

    /// The physical line at `pos` (without its newline), its offset, and
    /// the offset after it; `None` at the end.
    fn peek(&self) -> Option<(&'t str, usize, usize)> {
        let rest = self.text.get(self.pos..)?;
        Some(match rest.as_bytes().iter().position(|&b| b == b'\n') {
            Some(newline) => (
                rest.get(..newline).unwrap_or(rest),
                self.pos,
                self.pos + newline + 1,
            ),
            // The last line; the offset past the end ends the iteration.
            None => (rest, self.pos, self.text.len() + 1),
        })
    }

    fn advance(&mut self, next: usize) {
        self.pos = next;
        self.line = self.line.saturating_add(1);
    }
}

impl<'t> Iterator for Lexer<'t> {
    type Item = Lexed<'t>;

    fn next(&mut self) -> Option<Self::Item> {
        let first = loop {
            let (raw, offset, next) = self.peek()?;
            let line = self.line;
            self.advance(next);
            match Physical::of(raw) {
                Physical::Start(text) => break Piece { line, offset, text },
                Physical::Skip => continue,
                // Every continuation of a started logical line is taken
                // below: this one has nothing before it.
                Physical::Continuation(_) => return Some(Lexed::Orphan(line)),
            }
        };
        let mut rest = Vec::new();
        while let Some((raw, offset, next)) = self.peek() {
            match Physical::of(raw) {
                Physical::Skip => {}
                Physical::Continuation(text) => rest.push(Piece {
                    line: self.line,
                    offset,
                    text,
                }),
                Physical::Start(_) => break,
            }
            self.advance(next);
        }
        Some(Lexed::Line(LogicalLine { first, rest }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lex(text: &str) -> (Vec<(u32, String)>, Vec<u32>) {
        let mut lines = Vec::new();
        let mut orphans = Vec::new();
        for lexed in Lexer::new(text) {
            match lexed {
                Lexed::Line(l) => lines.push((l.line(), l.joined().into_owned())),
                Lexed::Orphan(line) => orphans.push(line),
            }
        }
        (lines, orphans)
    }

    #[test]
    fn continuations_join_and_comments_and_blanks_inside_do_not_end_a_line() {
        let text =
            "  orphan\n\tstill orphan\n# c\na 1\n\n  # inside\n  2\t \n\tthree\r\nb x\n#\n   \nc y";
        let (lines, orphans) = lex(text);
        assert_eq!(
            lines,
            vec![
                (4, "a 1  2\tthree".to_string()),
                (9, "b x".to_string()),
                (12, "c y".to_string())
            ]
        );
        assert_eq!(orphans, vec![1, 2]);
        assert_eq!(lex("").0.len(), 0);
        assert_eq!(lex("\n\n").0.len(), 0);
    }

    #[test]
    fn pieces_keep_their_physical_lines_and_byte_offsets() {
        let text = "# head\nmydestination = a.test,\r\n  # note\n\tb.test \nx = y";
        let lines: Vec<LogicalLine<'_>> = Lexer::new(text).lines().collect();
        assert_eq!(lines.len(), 2);
        for piece in lines.iter().flat_map(|l| l.pieces()) {
            assert_eq!(
                &text[piece.offset..piece.offset + piece.text.len()],
                piece.text
            );
        }
        let pieces: Vec<(u32, usize, &str)> = lines[0]
            .pieces()
            .map(|p| (p.line, p.offset, p.text))
            .collect();
        assert_eq!(
            pieces,
            vec![(2, 7, "mydestination = a.test,"), (4, 41, "\tb.test")]
        );
        let starts: Vec<usize> = lines[0].joined_starts().map(|(s, _)| s).collect();
        assert_eq!(starts, vec![0, 23]);
        assert!(matches!(lines[1].joined(), Cow::Borrowed("x = y")));
    }

    #[test]
    fn postfix_white_space_is_the_c_locale_s() {
        // A vertical tab or form feed starts a continuation; a no-break
        // space (not ASCII) does not.
        let (lines, _) = lex("a = 1\n\x0b2\n\x0c3\n\u{a0}b = 4\n");
        assert_eq!(
            lines,
            vec![
                (1, "a = 1\x0b2\x0c3".to_string()),
                (4, "\u{a0}b = 4".to_string())
            ]
        );
    }
}
