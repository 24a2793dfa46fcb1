//! LMDB data files (format version 1, LMDB 0.9), as Postfix writes them
//! with `MDB_NOSUBDIR`: one file, `FILE.lmdb`.
//!
//! - Pages 0 and 1 are metadata pages; the one with the higher transaction
//!   id is current (both must be valid, as LMDB requires). The page size is
//!   stored in the free-list database's `md_pad` field.
//! - LMDB files are in the writing machine's byte order and word size and
//!   are not portable: mxdrift reads those of 64-bit little-endian
//!   machines (x86-64, arm64) and names any other.
//! - The main database is a B+tree without sibling links: it is walked
//!   depth first, in key order, as a cursor does. Keys must be strictly
//!   increasing. Values larger than a page live on consecutive overflow
//!   pages.

use std::ops::ControlFlow;

use super::{ByteOrder, MAX_ITEM_LEN, Pages, ReadAt, ReadError, View, Visit, read_checked};

const FORMAT: &str = "LMDB";
const MAGIC: u32 = 0xBEEF_C0DE;
const DATA_VERSION: u32 = 1;

/// Page header: pgno (8), pad (2), flags (2), lower (2), upper (2).
const PAGE_HEADER: usize = 16;
const P_BRANCH: u16 = 0x01;
const P_LEAF: u16 = 0x02;
const P_OVERFLOW: u16 = 0x04;
const P_META: u16 = 0x08;
const P_LEAF2: u16 = 0x20;
const P_SUBP: u16 = 0x40;

/// Node header: lo, hi, flags, ksize (2 bytes each).
const NODE_HEADER: usize = 8;
const F_BIGDATA: u16 = 0x01;
const F_SUBDATA: u16 = 0x02;
const F_DUPDATA: u16 = 0x04;

/// Offsets in a metadata page: the meta follows the page header.
const META_MAGIC: usize = PAGE_HEADER;
const META_VERSION: usize = PAGE_HEADER + 4;
/// `mm_dbs[FREE_DBI].md_pad`: the page size.
const META_PAGE_SIZE: usize = PAGE_HEADER + 24;
/// `mm_dbs[MAIN_DBI]`.
const META_MAIN_DB: usize = PAGE_HEADER + 24 + 48;
const META_LAST_PAGE: usize = PAGE_HEADER + 24 + 96;
const META_TXNID: usize = PAGE_HEADER + 24 + 96 + 8;
const META_LEN: usize = META_TXNID + 8;

/// Database flags postmap never sets (sorted duplicates and their
/// variants, integer or reversed keys).
const REFUSED_DB_FLAGS: u16 = 0x02 | 0x04 | 0x08 | 0x10 | 0x20 | 0x40;
/// LMDB's cursor stack depth: no valid tree is deeper.
const MAX_DEPTH: usize = 32;
const INVALID_PAGE: u64 = u64::MAX;

/// True when the file starts with an LMDB metadata page.
pub(super) fn detect<R: ReadAt + ?Sized>(src: &R) -> Result<bool, ReadError> {
    if src.size() < (META_MAGIC + 4) as u64 {
        return Ok(false);
    }
    let head = read_checked(src, "metadata", 0, META_MAGIC + 4)?;
    let view = View::new(&head, ByteOrder::Little, FORMAT);
    let le = view.u32(META_MAGIC)?;
    let be = View::new(&head, ByteOrder::Big, FORMAT).u32(META_MAGIC)?;
    Ok(le == MAGIC || be == MAGIC)
}

struct Meta {
    page_size: usize,
    last_page: u64,
    txnid: u64,
    main_flags: u16,
    main_depth: u16,
    main_root: u64,
}

fn read_meta(bytes: &[u8]) -> Result<Meta, ReadError> {
    let view = View::new(bytes, ByteOrder::Little, FORMAT);
    let magic = view.u32(META_MAGIC)?;
    if magic != MAGIC {
        let big = View::new(bytes, ByteOrder::Big, FORMAT).u32(META_MAGIC)?;
        return Err(if big == MAGIC {
            ReadError::Unsupported {
                format: FORMAT,
                what: "written on a big-endian machine (LMDB files are not portable; rebuild it here with postmap)".into(),
            }
        } else {
            ReadError::UnknownFormat { expected: FORMAT }
        });
    }
    if view.u16(10)? & P_META == 0 {
        return Err(view.corrupt("a metadata page is not marked as one"));
    }
    let version = view.u32(META_VERSION)?;
    if version != DATA_VERSION {
        return Err(ReadError::Unsupported {
            format: FORMAT,
            what: format!("data format version {version} (mxdrift reads version 1: LMDB 0.9)"),
        });
    }
    let page_size = view.u32(META_PAGE_SIZE)?;
    if !(512..=65536).contains(&page_size) || !page_size.is_power_of_two() {
        return Err(ReadError::Unsupported {
            format: FORMAT,
            what: format!(
                "page size {page_size} (a 32-bit machine's file, or corrupt; mxdrift reads LMDB files of 64-bit machines)"
            ),
        });
    }
    Ok(Meta {
        page_size: page_size as usize,
        last_page: view.u64(META_LAST_PAGE)?,
        txnid: view.u64(META_TXNID)?,
        main_flags: view.u16(META_MAIN_DB + 4)?,
        main_depth: view.u16(META_MAIN_DB + 6)?,
        main_root: view.u64(META_MAIN_DB + 40)?,
    })
}

/// One level of the walk: a branch page's children and the next to visit.
struct Level {
    children: Vec<u64>,
    next: usize,
}

/// Walk every key and value of the main database.
pub(super) fn read<R: ReadAt + ?Sized>(src: &R, visit: &mut Visit<'_>) -> Result<(), ReadError> {
    let first = read_meta(&read_checked(src, "metadata page", 0, META_LEN)?)?;
    let second = read_meta(&read_checked(
        src,
        "second metadata page",
        first.page_size as u64,
        META_LEN,
    )?)?;
    if second.page_size != first.page_size {
        return Err(ReadError::Corrupt {
            format: FORMAT,
            what: "the two metadata pages disagree on the page size".into(),
        });
    }
    let meta = if second.txnid > first.txnid {
        second
    } else {
        first
    };
    if meta.main_flags & REFUSED_DB_FLAGS != 0 {
        return Err(ReadError::Unsupported {
            format: FORMAT,
            what: format!(
                "database flags {:#x} (duplicates or integer keys; postmap writes none)",
                meta.main_flags
            ),
        });
    }
    if meta.main_root == INVALID_PAGE {
        return Ok(());
    }
    if usize::from(meta.main_depth) > MAX_DEPTH {
        return Err(ReadError::Corrupt {
            format: FORMAT,
            what: format!("tree depth {}", meta.main_depth),
        });
    }
    let mut pages = Pages::new(src, meta.page_size, FORMAT);
    pages.visit(0)?;
    pages.visit(1)?;
    let mut walk = Walk {
        meta: &meta,
        previous: None,
        value: Vec::new(),
        visit,
    };
    let mut buf = Vec::new();
    let mut stack: Vec<Level> = Vec::new();
    let mut pending = Some(meta.main_root);
    loop {
        let pgno = match pending.take() {
            Some(pgno) => pgno,
            None => {
                let Some(level) = stack.last_mut() else {
                    return Ok(());
                };
                match level.children.get(level.next) {
                    Some(&child) => {
                        level.next += 1;
                        child
                    }
                    None => {
                        stack.pop();
                        continue;
                    }
                }
            }
        };
        if pgno > meta.last_page {
            return Err(ReadError::Corrupt {
                format: FORMAT,
                what: format!("page {pgno} lies beyond the last page {}", meta.last_page),
            });
        }
        pages.read(pgno, &mut buf)?;
        let page = NodePage::new(&buf, pgno)?;
        if page.flags & P_BRANCH != 0 {
            // A tree of depth d has d - 1 levels of branch pages.
            if stack.len() + 2 > usize::from(meta.main_depth) {
                return Err(page.view.corrupt(format!(
                    "branch page {pgno} is deeper than the tree ({} levels)",
                    meta.main_depth
                )));
            }
            let mut children = Vec::with_capacity(page.keys);
            for index in 0..page.keys {
                let node = page.node(index)?;
                let lo = u64::from(page.view.u16(node)?);
                let hi = u64::from(page.view.u16(node + 2)?);
                let top = u64::from(page.view.u16(node + 4)?);
                children.push(lo | hi << 16 | top << 32);
            }
            stack.push(Level { children, next: 0 });
        } else if page.flags & P_LEAF != 0 {
            if walk.leaf(&page, &mut pages)?.is_break() {
                return Ok(());
            }
        } else {
            return Err(page.view.corrupt(format!(
                "page {pgno} in the tree is neither a branch nor a leaf"
            )));
        }
    }
}

/// A branch or leaf page with its node index checked.
struct NodePage<'b> {
    view: View<'b>,
    flags: u16,
    keys: usize,
    upper: usize,
    pgno: u64,
}

impl<'b> NodePage<'b> {
    fn new(buf: &'b [u8], pgno: u64) -> Result<NodePage<'b>, ReadError> {
        let view = View::new(buf, ByteOrder::Little, FORMAT);
        let stored = view.u64(0)?;
        if stored != pgno {
            return Err(view.corrupt(format!("page {pgno} says it is page {stored}")));
        }
        let flags = view.u16(10)?;
        if flags & (P_LEAF2 | P_SUBP | P_OVERFLOW | P_META) != 0 {
            return Err(view.corrupt(format!("page {pgno} in the tree has flags {flags:#x}")));
        }
        let lower = usize::from(view.u16(12)?);
        let upper = usize::from(view.u16(14)?);
        if lower < PAGE_HEADER || lower > upper || upper > buf.len() || lower % 2 != 0 {
            return Err(view.corrupt(format!(
                "page {pgno} has a bad free-space range {lower}..{upper}"
            )));
        }
        Ok(NodePage {
            view,
            flags,
            keys: (lower - PAGE_HEADER) / 2,
            upper,
            pgno,
        })
    }

    /// The offset of node `index`, inside the node area.
    fn node(&self, index: usize) -> Result<usize, ReadError> {
        let offset = usize::from(self.view.u16(PAGE_HEADER + 2 * index)?);
        if offset < self.upper || offset + NODE_HEADER > self.view.bytes.len() {
            return Err(self.view.corrupt(format!(
                "node {index} of page {} lies outside the node area",
                self.pgno
            )));
        }
        Ok(offset)
    }
}

struct Walk<'m, 'v> {
    meta: &'m Meta,
    /// The last key, to check the order.
    previous: Option<Vec<u8>>,
    /// The last value read from overflow pages.
    value: Vec<u8>,
    visit: &'v mut Visit<'v>,
}

impl Walk<'_, '_> {
    fn leaf<R: ReadAt + ?Sized>(
        &mut self,
        page: &NodePage<'_>,
        pages: &mut Pages<'_, R>,
    ) -> Result<ControlFlow<()>, ReadError> {
        for index in 0..page.keys {
            let node = page.node(index)?;
            let lo = u32::from(page.view.u16(node)?);
            let hi = u32::from(page.view.u16(node + 2)?);
            let flags = page.view.u16(node + 4)?;
            let key_len = usize::from(page.view.u16(node + 6)?);
            let data_len = (lo | hi << 16) as usize;
            if flags & (F_SUBDATA | F_DUPDATA) != 0 {
                return Err(ReadError::Unsupported {
                    format: FORMAT,
                    what: "sub-databases or duplicate values (postmap writes none)".into(),
                });
            }
            let key = page.view.slice(node + NODE_HEADER, key_len)?;
            if self.previous.as_deref().is_some_and(|p| p >= key) {
                return Err(page.view.corrupt(format!(
                    "keys on page {} are out of order: lookups cannot find them",
                    page.pgno
                )));
            }
            match self.previous.as_mut() {
                Some(p) => {
                    p.clear();
                    p.extend_from_slice(key);
                }
                None => self.previous = Some(key.to_vec()),
            }
            let value: &[u8] = if flags & F_BIGDATA != 0 {
                let first = page.view.u64(node + NODE_HEADER + key_len)?;
                self.overflow(first, data_len, pages)?;
                &self.value
            } else {
                page.view.slice(node + NODE_HEADER + key_len, data_len)?
            };
            if (self.visit)(key, value).is_break() {
                return Ok(ControlFlow::Break(()));
            }
        }
        Ok(ControlFlow::Continue(()))
    }

    /// Read a value from its overflow pages (consecutive pages, the first
    /// with a header that says how many).
    fn overflow<R: ReadAt + ?Sized>(
        &mut self,
        first: u64,
        len: usize,
        pages: &mut Pages<'_, R>,
    ) -> Result<(), ReadError> {
        if len > MAX_ITEM_LEN {
            return Err(ReadError::Unsupported {
                format: FORMAT,
                what: format!("a value of {len} bytes (the limit is {MAX_ITEM_LEN})"),
            });
        }
        if first > self.meta.last_page {
            return Err(ReadError::Corrupt {
                format: FORMAT,
                what: format!("overflow page {first} lies beyond the last page"),
            });
        }
        let header = read_checked(
            pages.src,
            "overflow page",
            first.saturating_mul(self.meta.page_size as u64),
            PAGE_HEADER,
        )?;
        let view = View::new(&header, ByteOrder::Little, FORMAT);
        if view.u64(0)? != first || view.u16(10)? & P_OVERFLOW == 0 {
            return Err(view.corrupt(format!("page {first} is not an overflow page")));
        }
        let count = u64::from(view.u32(12)?);
        let room = count
            .saturating_mul(self.meta.page_size as u64)
            .saturating_sub(PAGE_HEADER as u64);
        if count == 0 || room < len as u64 || first.saturating_add(count - 1) > self.meta.last_page
        {
            return Err(view.corrupt(format!(
                "overflow page {first} claims {count} pages for {len} bytes"
            )));
        }
        for page in first..first + count {
            pages.visit(page)?;
        }
        self.value = read_checked(
            pages.src,
            "overflow value",
            first * self.meta.page_size as u64 + PAGE_HEADER as u64,
            len,
        )?;
        Ok(())
    }
}
