//! Readers for the compiled lookup tables Postfix opens: Berkeley DB
//! `hash` and `btree` (`FILE.db`), LMDB (`FILE.lmdb`) and CDB (`FILE.cdb`).
//! Each reader enumerates every key with its value, the way `postmap -s`
//! walks the table with a cursor.
//!
//! These files may be written by anyone who can write the directory, so
//! nothing in them is trusted: every size, offset and page number is checked
//! against the file before it is used, each page is read at most once (a
//! page reached twice is a loop, and an error), and the work is bounded by
//! the file's size. Pages are read one at a time into a reused buffer, so
//! a table of hundreds of MiB is read in a few pages of memory plus what
//! the caller keeps. A truncated, corrupt or unknown file is a [`ReadError`],
//! never a panic and never a partial guess.
//!
//! Two facts a newcomer gets wrong:
//! - Postfix writes keys and values of `hash`, `btree` and `lmdb` tables with
//!   a trailing NUL byte, and those of `cdb` tables without; on lookup it
//!   tries both. The readers hand out the bytes as stored; [`lookup_key`]
//!   and [`lookup_value`] apply Postfix's conventions.
//! - A CDB file has no magic number: only the configured type says that a
//!   file is CDB. Berkeley DB and LMDB files are recognised by their magic.
//!
//! Fuzzing: [`read_entries`] over a `&[u8]` ([`ReadAt`] is implemented for
//! byte slices) is the entry point; whatever the bytes, it returns `Ok` or
//! a [`ReadError`] in time linear in their length.

mod bdb;
mod cdb;
mod lmdb;

use std::io;
use std::ops::ControlFlow;

/// The longest key or value read from overflow pages. Real keys and values
/// are domain names, addresses and transports; a larger item is not a
/// table `postmap` wrote from a text source anyone edits.
pub const MAX_ITEM_LEN: usize = 16 << 20;

/// What the readers call with each stored key and value.
type Visit<'v> = dyn FnMut(&[u8], &[u8]) -> ControlFlow<()> + 'v;

/// A source of bytes read at offsets: a file, or a byte slice (tests and
/// fuzzing).
pub trait ReadAt {
    /// The length in bytes.
    fn size(&self) -> u64;
    /// Fill `buf` from `offset`; an error when fewer bytes exist.
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()>;
}

impl ReadAt for [u8] {
    fn size(&self) -> u64 {
        self.len() as u64
    }

    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        let start = usize::try_from(offset).map_err(|_| io::ErrorKind::UnexpectedEof)?;
        let end = start
            .checked_add(buf.len())
            .ok_or(io::ErrorKind::UnexpectedEof)?;
        let bytes = self.get(start..end).ok_or(io::ErrorKind::UnexpectedEof)?;
        buf.copy_from_slice(bytes);
        Ok(())
    }
}

/// An open file and the length it had when opened. A file that shrinks
/// while it is read gives read errors, not wrong data.
#[derive(Debug)]
pub struct FileSource {
    file: std::fs::File,
    len: u64,
}

impl FileSource {
    pub fn new(file: std::fs::File) -> io::Result<Self> {
        let len = file.metadata()?.len();
        Ok(FileSource { file, len })
    }
}

impl ReadAt for FileSource {
    fn size(&self) -> u64 {
        self.len
    }

    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        std::os::unix::fs::FileExt::read_exact_at(&self.file, buf, offset)
    }
}

/// The on-disk format of a compiled table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CompiledFormat {
    /// Berkeley DB hash (`hash:`).
    BerkeleyHash,
    /// Berkeley DB btree (`btree:`).
    BerkeleyBtree,
    /// LMDB (`lmdb:`).
    Lmdb,
    /// CDB (`cdb:`).
    Cdb,
}

impl CompiledFormat {
    /// The Postfix table type that opens this format.
    pub fn table_type(self) -> &'static str {
        match self {
            CompiledFormat::BerkeleyHash => "hash",
            CompiledFormat::BerkeleyBtree => "btree",
            CompiledFormat::Lmdb => "lmdb",
            CompiledFormat::Cdb => "cdb",
        }
    }

    /// The format Postfix expects for a table type, and the suffix of the
    /// file it opens; `None` for types that are not compiled by `postmap`
    /// into one of these formats.
    pub fn for_table_type(table_type: &str) -> Option<(CompiledFormat, &'static str)> {
        match table_type {
            "hash" => Some((CompiledFormat::BerkeleyHash, ".db")),
            "btree" => Some((CompiledFormat::BerkeleyBtree, ".db")),
            "lmdb" => Some((CompiledFormat::Lmdb, ".lmdb")),
            "cdb" => Some((CompiledFormat::Cdb, ".cdb")),
            _ => None,
        }
    }
}

/// Why a compiled table cannot be read. Postfix would fail to open it or
/// fail its lookups the same way (it defers the mail), so none of these is
/// fatal to a run.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("{0}")]
    Io(#[from] io::Error),
    #[error("truncated: {what} at byte {offset} runs past the end of the file ({len} bytes)")]
    Truncated {
        what: &'static str,
        offset: u64,
        len: u64,
    },
    #[error("not a {expected} file (unknown format)")]
    UnknownFormat { expected: &'static str },
    #[error(
        "a {found} file, but the table is configured as {configured}: Postfix cannot open it (run postmap {configured}:FILE, or change the table type)"
    )]
    WrongFormat {
        found: &'static str,
        configured: &'static str,
    },
    #[error("unsupported {format} file: {what}")]
    Unsupported { format: &'static str, what: String },
    #[error("corrupt {format} file: {what}")]
    Corrupt { format: &'static str, what: String },
    #[error("corrupt {format} file: page {page} is reached twice (a loop or a shared page)")]
    Loop { format: &'static str, page: u64 },
}

/// A compiled table that could not be read, naming the file.
#[derive(Debug, thiserror::Error)]
#[error("{file}: {error}")]
pub struct CompiledTableError {
    /// Relative to the root.
    pub file: String,
    #[source]
    pub error: ReadError,
}

/// Recognise Berkeley DB and LMDB files by their magic numbers. CDB has
/// none, so it is never recognised here.
pub fn detect<R: ReadAt + ?Sized>(src: &R) -> Result<Option<CompiledFormat>, ReadError> {
    if let Some(format) = bdb::detect(src)? {
        return Ok(Some(format));
    }
    if lmdb::detect(src)? {
        return Ok(Some(CompiledFormat::Lmdb));
    }
    Ok(None)
}

/// Call `visit` with every key and value of the table in `src`, as stored
/// (see [`lookup_key`]), in the order of Postfix's cursor. `expected` is
/// the format of the configured table type: a Berkeley DB file of the other
/// kind is [`ReadError::WrongFormat`], as it is for Postfix. `visit` may
/// stop the walk early with `ControlFlow::Break`.
pub fn read_entries<R: ReadAt + ?Sized>(
    src: &R,
    expected: CompiledFormat,
    mut visit: impl FnMut(&[u8], &[u8]) -> ControlFlow<()>,
) -> Result<(), ReadError> {
    match expected {
        CompiledFormat::BerkeleyHash | CompiledFormat::BerkeleyBtree => {
            let found = bdb::detect(src)?.ok_or(ReadError::UnknownFormat {
                expected: "Berkeley DB",
            })?;
            if found != expected {
                return Err(ReadError::WrongFormat {
                    found: found.table_type(),
                    configured: expected.table_type(),
                });
            }
            bdb::read(src, &mut visit)
        }
        CompiledFormat::Lmdb => lmdb::read(src, &mut visit),
        CompiledFormat::Cdb => cdb::read(src, &mut visit),
    }
}

/// The key Postfix matches for a stored key: without its one trailing NUL
/// (Postfix looks a key up with and without it). `None` when a NUL remains
/// inside: no lookup of a C string can match it.
pub fn lookup_key(stored: &[u8]) -> Option<&[u8]> {
    let key = stored.strip_suffix(&[0]).unwrap_or(stored);
    (!key.contains(&0)).then_some(key)
}

/// The value a lookup returns: Postfix copies it as a C string, so it ends
/// at the first NUL.
pub fn lookup_value(stored: &[u8]) -> &[u8] {
    match stored.iter().position(|&b| b == 0) {
        Some(nul) => stored.get(..nul).unwrap_or(stored),
        None => stored,
    }
}

/// Integers in the byte order of the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ByteOrder {
    Little,
    Big,
}

impl ByteOrder {
    fn u16(self, bytes: [u8; 2]) -> u16 {
        match self {
            ByteOrder::Little => u16::from_le_bytes(bytes),
            ByteOrder::Big => u16::from_be_bytes(bytes),
        }
    }

    fn u32(self, bytes: [u8; 4]) -> u32 {
        match self {
            ByteOrder::Little => u32::from_le_bytes(bytes),
            ByteOrder::Big => u32::from_be_bytes(bytes),
        }
    }

    fn u64(self, bytes: [u8; 8]) -> u64 {
        match self {
            ByteOrder::Little => u64::from_le_bytes(bytes),
            ByteOrder::Big => u64::from_be_bytes(bytes),
        }
    }
}

/// A bounds-checked view of one page (or header) in a given byte order.
/// Every accessor fails instead of reading past the end.
#[derive(Clone, Copy)]
struct View<'b> {
    bytes: &'b [u8],
    order: ByteOrder,
    format: &'static str,
}

impl<'b> View<'b> {
    fn new(bytes: &'b [u8], order: ByteOrder, format: &'static str) -> Self {
        View {
            bytes,
            order,
            format,
        }
    }

    fn corrupt(&self, what: impl Into<String>) -> ReadError {
        ReadError::Corrupt {
            format: self.format,
            what: what.into(),
        }
    }

    fn slice(&self, offset: usize, len: usize) -> Result<&'b [u8], ReadError> {
        offset
            .checked_add(len)
            .and_then(|end| self.bytes.get(offset..end))
            .ok_or_else(|| {
                self.corrupt(format!(
                    "{len} bytes at offset {offset} lie outside the page ({} bytes)",
                    self.bytes.len()
                ))
            })
    }

    fn array<const N: usize>(&self, offset: usize) -> Result<[u8; N], ReadError> {
        let bytes = self.slice(offset, N)?;
        let mut out = [0u8; N];
        out.copy_from_slice(bytes);
        Ok(out)
    }

    fn u8(&self, offset: usize) -> Result<u8, ReadError> {
        Ok(self.array::<1>(offset)?[0])
    }

    fn u16(&self, offset: usize) -> Result<u16, ReadError> {
        Ok(self.order.u16(self.array(offset)?))
    }

    fn u32(&self, offset: usize) -> Result<u32, ReadError> {
        Ok(self.order.u32(self.array(offset)?))
    }

    fn u64(&self, offset: usize) -> Result<u64, ReadError> {
        Ok(self.order.u64(self.array(offset)?))
    }
}

/// Fixed-size pages of a file, each read at most once.
struct Pages<'s, R: ReadAt + ?Sized> {
    src: &'s R,
    page_size: usize,
    /// Whole pages in the file.
    count: u64,
    visited: Vec<u64>,
    format: &'static str,
}

impl<'s, R: ReadAt + ?Sized> Pages<'s, R> {
    fn new(src: &'s R, page_size: usize, format: &'static str) -> Self {
        let count = src.size() / page_size as u64;
        let words = usize::try_from(count.div_ceil(64)).unwrap_or(usize::MAX);
        Pages {
            src,
            page_size,
            count,
            visited: vec![0; words],
            format,
        }
    }

    /// Mark a page as visited; a page visited before is a loop.
    fn visit(&mut self, page: u64) -> Result<(), ReadError> {
        let truncated = || ReadError::Truncated {
            what: "page",
            offset: page.saturating_mul(self.page_size as u64),
            len: self.src.size(),
        };
        if page >= self.count {
            return Err(truncated());
        }
        let word = usize::try_from(page / 64).map_err(|_| truncated())?;
        let bit = 1u64 << (page % 64);
        let slot = self.visited.get_mut(word).ok_or_else(truncated)?;
        if *slot & bit != 0 {
            return Err(ReadError::Loop {
                format: self.format,
                page,
            });
        }
        *slot |= bit;
        Ok(())
    }

    /// Read a page not read before into `buf`.
    fn read(&mut self, page: u64, buf: &mut Vec<u8>) -> Result<(), ReadError> {
        self.visit(page)?;
        buf.resize(self.page_size, 0);
        self.src
            .read_exact_at(buf, page * self.page_size as u64)
            .map_err(ReadError::Io)
    }
}

/// Read `len` bytes at `offset`, checked against the file's length first.
fn read_checked<R: ReadAt + ?Sized>(
    src: &R,
    what: &'static str,
    offset: u64,
    len: usize,
) -> Result<Vec<u8>, ReadError> {
    let end = offset.checked_add(len as u64);
    if end.is_none_or(|end| end > src.size()) {
        return Err(ReadError::Truncated {
            what,
            offset,
            len: src.size(),
        });
    }
    let mut buf = vec![0u8; len];
    src.read_exact_at(&mut buf, offset)?;
    Ok(buf)
}

#[cfg(test)]
mod tests;
