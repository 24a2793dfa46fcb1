//! Berkeley DB `hash` and `btree` files (libdb 4.6 to 5.x on-disk format,
//! versions 8 and 9: what `postmap` writes on Debian, Ubuntu, EL8 and EL9).
//!
//! - Page 0 is the metadata page; its magic number (at byte 12) says hash
//!   or btree, and its byte order says the order of every integer in the
//!   file: libdb writes the machine's order and reads both.
//! - A hash table is walked bucket by bucket, each bucket a chain of pages,
//!   as a cursor does. Every key must hash to the bucket it is in (libdb's
//!   default hash function, checked against the metadata's `h_charkey`):
//!   a key elsewhere is invisible to lookups, so the file is corrupt.
//! - A btree is walked from the root down the leftmost branch, then along
//!   the chain of leaf pages. Keys must be strictly increasing.
//! - Items longer than about a quarter page live on chains of overflow
//!   pages. Duplicate data items, sub-databases, checksums and encryption
//!   are never written by `postmap` and are refused.

use super::{
    ByteOrder, CompiledFormat, MAX_ITEM_LEN, Pages, ReadAt, ReadError, View, Visit, read_checked,
};

const FORMAT: &str = "Berkeley DB";
const HASH_MAGIC: u32 = 0x0006_1561;
const BTREE_MAGIC: u32 = 0x0005_3162;
/// Metadata versions of libdb 4.6 to 5.3 (6.x writes 10, with blobs).
const VERSIONS: [u32; 2] = [8, 9];

const P_HASH_UNSORTED: u8 = 2;
const P_IBTREE: u8 = 3;
const P_LBTREE: u8 = 5;
const P_OVERFLOW: u8 = 7;
const P_HASHMETA: u8 = 8;
const P_BTREEMETA: u8 = 9;
const P_HASH: u8 = 13;

/// The page header: lsn, pgno, prev, next, entries, hf_offset, level, type.
const PAGE_HEADER: usize = 26;
const OFF_PGNO: usize = 8;
const OFF_NEXT: usize = 16;
const OFF_ENTRIES: usize = 20;
const OFF_HF_OFFSET: usize = 22;
const OFF_LEVEL: usize = 24;
const OFF_TYPE: usize = 25;

/// Hash item types (first byte of an item on a hash page).
const H_KEYDATA: u8 = 1;
const H_OFFPAGE: u8 = 3;
/// Btree item types (third byte of an item on a leaf page).
const B_KEYDATA: u8 = 1;
const B_OVERFLOW: u8 = 3;
const B_DELETE: u8 = 0x80;

/// The key whose hash libdb stores in `h_charkey` to recognise its hash
/// function (with its terminating NUL).
const CHARKEY: &[u8] = b"%$sniglet^&\0";

/// Metadata flags postmap never sets: duplicates, sub-databases, record
/// numbers as keys, compression.
const HASH_REFUSED_FLAGS: u32 = 0x01 | 0x02 | 0x04;
const BTREE_REFUSED_FLAGS: u32 = 0x01 | 0x08 | 0x20 | 0x40 | 0x80;

/// The Berkeley DB format of the file, from its metadata page.
pub(super) fn detect<R: ReadAt + ?Sized>(src: &R) -> Result<Option<CompiledFormat>, ReadError> {
    if src.size() < 16 {
        return Ok(None);
    }
    let head = read_checked(src, "metadata", 0, 16)?;
    let view = View::new(&head, ByteOrder::Little, FORMAT);
    let magic_le = view.u32(12)?;
    let magic_be = View::new(&head, ByteOrder::Big, FORMAT).u32(12)?;
    Ok(
        match (
            magic_le == HASH_MAGIC || magic_be == HASH_MAGIC,
            magic_le == BTREE_MAGIC || magic_be == BTREE_MAGIC,
        ) {
            (true, _) => Some(CompiledFormat::BerkeleyHash),
            (_, true) => Some(CompiledFormat::BerkeleyBtree),
            _ => None,
        },
    )
}

/// Walk every key and value of a hash or btree file.
pub(super) fn read<R: ReadAt + ?Sized>(src: &R, visit: &mut Visit<'_>) -> Result<(), ReadError> {
    let meta = Meta::read(src)?;
    let mut pages = Pages::new(src, meta.page_size, FORMAT);
    // The metadata page is no data page: reaching it again is a loop.
    pages.visit(0)?;
    match meta.format {
        CompiledFormat::BerkeleyHash => read_hash(&meta, &mut pages, visit),
        _ => read_btree(&meta, &mut pages, visit),
    }
}

struct Meta {
    format: CompiledFormat,
    order: ByteOrder,
    page_size: usize,
    /// The metadata page itself (at most 512 bytes are used).
    page: Vec<u8>,
}

impl Meta {
    fn read<R: ReadAt + ?Sized>(src: &R) -> Result<Meta, ReadError> {
        let unsupported = |what: String| ReadError::Unsupported {
            format: FORMAT,
            what,
        };
        let page = read_checked(src, "metadata page", 0, 512)?;
        let (format, order) = {
            let le = View::new(&page, ByteOrder::Little, FORMAT).u32(12)?;
            let be = View::new(&page, ByteOrder::Big, FORMAT).u32(12)?;
            match (le, be) {
                (HASH_MAGIC, _) => (CompiledFormat::BerkeleyHash, ByteOrder::Little),
                (_, HASH_MAGIC) => (CompiledFormat::BerkeleyHash, ByteOrder::Big),
                (BTREE_MAGIC, _) => (CompiledFormat::BerkeleyBtree, ByteOrder::Little),
                (_, BTREE_MAGIC) => (CompiledFormat::BerkeleyBtree, ByteOrder::Big),
                _ => {
                    return Err(ReadError::UnknownFormat {
                        expected: "Berkeley DB",
                    });
                }
            }
        };
        let view = View::new(&page, order, FORMAT);
        let version = view.u32(16)?;
        if !VERSIONS.contains(&version) {
            return Err(unsupported(format!(
                "metadata version {version} (mxdrift reads versions 8 and 9: libdb 4.6 to 5.3)"
            )));
        }
        let page_size = view.u32(20)?;
        if !(512..=65536).contains(&page_size) || !page_size.is_power_of_two() {
            return Err(view.corrupt(format!("page size {page_size}")));
        }
        if view.u8(24)? != 0 {
            return Err(unsupported("encrypted".into()));
        }
        let expected_type = match format {
            CompiledFormat::BerkeleyHash => P_HASHMETA,
            _ => P_BTREEMETA,
        };
        if view.u8(OFF_TYPE)? != expected_type {
            return Err(view.corrupt("the metadata page has the wrong page type"));
        }
        if view.u8(26)? & 0x01 != 0 {
            return Err(unsupported("page checksums".into()));
        }
        if view.u32(36)? > 1 {
            return Err(unsupported("partitioned".into()));
        }
        let flags = view.u32(48)?;
        let refused = match format {
            CompiledFormat::BerkeleyHash => HASH_REFUSED_FLAGS,
            _ => BTREE_REFUSED_FLAGS,
        };
        if flags & refused != 0 {
            return Err(unsupported(format!(
                "flags {flags:#x} (duplicates, sub-databases, record numbers or compression; postmap writes none of them)"
            )));
        }
        Ok(Meta {
            format,
            order,
            page_size: page_size as usize,
            page,
        })
    }

    fn view(&self) -> View<'_> {
        View::new(&self.page, self.order, FORMAT)
    }
}

/// libdb's default hash function (`__ham_func5`, a variant of FNV-1).
fn hash_func5(key: &[u8]) -> u32 {
    key.iter()
        .fold(0u32, |h, &b| h.wrapping_mul(16_777_619) ^ u32::from(b))
}

/// libdb's `__db_log2`: the smallest `i` with `2^i >= n`.
fn log2_ceil(n: u64) -> usize {
    let mut i = 0;
    let mut limit = 1u64;
    while limit < n {
        limit <<= 1;
        i += 1;
    }
    i
}

/// The location of one item on a page: `[start, end)`.
struct Item {
    start: usize,
    end: usize,
}

/// The bytes of the pages of a hash or btree file that describe items.
struct DataPage<'b> {
    view: View<'b>,
    entries: usize,
    page_size: usize,
}

impl<'b> DataPage<'b> {
    /// Check the page header of `pgno` (number, type) and its index.
    fn new(
        buf: &'b [u8],
        order: ByteOrder,
        pgno: u64,
        types: &[u8],
    ) -> Result<DataPage<'b>, ReadError> {
        let view = View::new(buf, order, FORMAT);
        let stored = u64::from(view.u32(OFF_PGNO)?);
        if stored != pgno {
            return Err(view.corrupt(format!("page {pgno} says it is page {stored}")));
        }
        let page_type = view.u8(OFF_TYPE)?;
        if !types.contains(&page_type) {
            return Err(view.corrupt(format!(
                "page {pgno} has type {page_type}, expected one of {types:?}"
            )));
        }
        let entries = usize::from(view.u16(OFF_ENTRIES)?);
        if PAGE_HEADER + 2 * entries > buf.len() {
            return Err(view.corrupt(format!("page {pgno} claims {entries} items, more than fit")));
        }
        Ok(DataPage {
            view,
            entries,
            page_size: buf.len(),
        })
    }

    fn offset(&self, index: usize) -> Result<usize, ReadError> {
        let offset = usize::from(self.view.u16(PAGE_HEADER + 2 * index)?);
        if offset < PAGE_HEADER + 2 * self.entries || offset >= self.page_size {
            return Err(self.view.corrupt(format!(
                "item {index} at offset {offset} overlaps the page header"
            )));
        }
        Ok(offset)
    }

    /// A hash page stores its items back to back from the end of the page
    /// in index order: an item ends where the one before it starts.
    fn hash_item(&self, index: usize) -> Result<Item, ReadError> {
        let start = self.offset(index)?;
        let end = match index.checked_sub(1) {
            None => self.page_size,
            Some(before) => self.offset(before)?,
        };
        if start >= end {
            return Err(self.view.corrupt(format!(
                "hash item {index} has no bytes or overlaps another"
            )));
        }
        Ok(Item { start, end })
    }

    fn next(&self) -> Result<u64, ReadError> {
        Ok(u64::from(self.view.u32(OFF_NEXT)?))
    }
}

/// Where an item's bytes are: on the page, or on overflow pages.
enum ItemBytes<'b> {
    OnPage(&'b [u8]),
    Overflow { first: u64, len: u32 },
}

/// Read an item's bytes: the slice on the page, or a chain of overflow
/// pages (each read once, the total length checked against the file).
fn fetch<'b, R: ReadAt + ?Sized>(
    item: ItemBytes<'b>,
    pages: &mut Pages<'_, R>,
    order: ByteOrder,
    scratch: &mut Vec<u8>,
    out: &'b mut Vec<u8>,
) -> Result<&'b [u8], ReadError> {
    let (first, len) = match item {
        ItemBytes::OnPage(bytes) => return Ok(bytes),
        ItemBytes::Overflow { first, len } => (first, len as usize),
    };
    if len > MAX_ITEM_LEN || len as u64 > pages.src.size() {
        return Err(ReadError::Unsupported {
            format: FORMAT,
            what: format!("an item of {len} bytes (the limit is {MAX_ITEM_LEN})"),
        });
    }
    out.clear();
    out.reserve(len);
    let mut pgno = first;
    while out.len() < len {
        if pgno == 0 {
            return Err(ReadError::Corrupt {
                format: FORMAT,
                what: format!(
                    "an overflow chain ends after {} of its {len} bytes",
                    out.len()
                ),
            });
        }
        pages.read(pgno, scratch)?;
        let page = DataPage::new(scratch, order, pgno, &[P_OVERFLOW])?;
        let here = usize::from(page.view.u16(OFF_HF_OFFSET)?);
        let bytes = page.view.slice(PAGE_HEADER, here)?;
        if out.len() + bytes.len() > len {
            return Err(page
                .view
                .corrupt(format!("an overflow chain holds more than its {len} bytes")));
        }
        out.extend_from_slice(bytes);
        pgno = page.next()?;
    }
    Ok(out.as_slice())
}

fn read_hash<R: ReadAt + ?Sized>(
    meta: &Meta,
    pages: &mut Pages<'_, R>,
    visit: &mut Visit<'_>,
) -> Result<(), ReadError> {
    let view = meta.view();
    let max_bucket = view.u32(72)?;
    let high_mask = view.u32(76)?;
    let low_mask = view.u32(80)?;
    if view.u32(92)? != hash_func5(CHARKEY) {
        return Err(ReadError::Unsupported {
            format: FORMAT,
            what: "a hash function other than libdb's default".into(),
        });
    }
    if u64::from(max_bucket) >= pages.count {
        return Err(ReadError::Truncated {
            what: "bucket pages",
            offset: u64::from(max_bucket) * meta.page_size as u64,
            len: pages.src.size(),
        });
    }
    let mut buf = Vec::new();
    let mut scratch = Vec::new();
    let (mut key_out, mut value_out) = (Vec::new(), Vec::new());
    for bucket in 0..=max_bucket {
        let spare_index = log2_ceil(u64::from(bucket) + 1);
        if spare_index >= 32 {
            return Err(view.corrupt("bucket numbers beyond the spare table"));
        }
        let spare = view.u32(96 + 4 * spare_index)?;
        let mut pgno = u64::from(bucket) + u64::from(spare);
        let mut first = true;
        loop {
            pages.read(pgno, &mut buf)?;
            let raw = View::new(&buf, meta.order, FORMAT);
            // libdb allocates bucket pages in batches and initialises a page
            // only when it first writes it: a page of zeros is an empty bucket.
            if first && raw.u32(OFF_PGNO)? == 0 && raw.u8(OFF_TYPE)? == 0 {
                break;
            }
            first = false;
            let page = DataPage::new(&buf, meta.order, pgno, &[P_HASH, P_HASH_UNSORTED])?;
            if page.entries % 2 != 0 {
                return Err(page
                    .view
                    .corrupt(format!("hash page {pgno} has an odd number of items")));
            }
            for pair in 0..page.entries / 2 {
                let key = hash_item_bytes(&page, 2 * pair)?;
                let value = hash_item_bytes(&page, 2 * pair + 1)?;
                let key = fetch(key, pages, meta.order, &mut scratch, &mut key_out)?;
                let h = hash_func5(key);
                let mut home = h & high_mask;
                if home > max_bucket {
                    home = h & low_mask;
                }
                if home != bucket {
                    return Err(page.view.corrupt(format!(
                        "a key in bucket {bucket} belongs to bucket {home}: lookups cannot find it"
                    )));
                }
                let value = fetch(value, pages, meta.order, &mut scratch, &mut value_out)?;
                if visit(key, value).is_break() {
                    return Ok(());
                }
            }
            pgno = page.next()?;
            if pgno == 0 {
                break;
            }
        }
    }
    Ok(())
}

fn hash_item_bytes<'b>(page: &DataPage<'b>, index: usize) -> Result<ItemBytes<'b>, ReadError> {
    let item = page.hash_item(index)?;
    match page.view.u8(item.start)? {
        H_KEYDATA => Ok(ItemBytes::OnPage(
            page.view.slice(item.start + 1, item.end - item.start - 1)?,
        )),
        H_OFFPAGE => Ok(ItemBytes::Overflow {
            first: u64::from(page.view.u32(item.start + 4)?),
            len: page.view.u32(item.start + 8)?,
        }),
        other => Err(ReadError::Unsupported {
            format: FORMAT,
            what: format!("hash item type {other} (duplicate data items; postmap writes none)"),
        }),
    }
}

fn read_btree<R: ReadAt + ?Sized>(
    meta: &Meta,
    pages: &mut Pages<'_, R>,
    visit: &mut Visit<'_>,
) -> Result<(), ReadError> {
    let mut pgno = u64::from(meta.view().u32(88)?);
    let mut buf = Vec::new();
    let mut scratch = Vec::new();
    let (mut key_out, mut value_out) = (Vec::new(), Vec::new());
    // Down the leftmost branch to the first leaf.
    let mut level: Option<u8> = None;
    loop {
        pages.read(pgno, &mut buf)?;
        let page = DataPage::new(&buf, meta.order, pgno, &[P_IBTREE, P_LBTREE])?;
        let here = page.view.u8(OFF_LEVEL)?;
        if level.is_some_and(|above| above != here.wrapping_add(1)) || here == 0 {
            return Err(page
                .view
                .corrupt(format!("page {pgno} is at the wrong tree level {here}")));
        }
        if page.view.u8(OFF_TYPE)? == P_LBTREE {
            if here != 1 {
                return Err(page
                    .view
                    .corrupt(format!("leaf page {pgno} at level {here}")));
            }
            break;
        }
        if page.entries == 0 {
            return Err(page
                .view
                .corrupt(format!("internal page {pgno} has no children")));
        }
        let first = page.offset(0)?;
        level = Some(here);
        pgno = u64::from(page.view.u32(first + 4)?);
    }
    let mut previous: Option<Vec<u8>> = None;
    loop {
        let page = DataPage::new(&buf, meta.order, pgno, &[P_LBTREE])?;
        if page.entries % 2 != 0 {
            return Err(page
                .view
                .corrupt(format!("leaf page {pgno} has an odd number of items")));
        }
        for pair in 0..page.entries / 2 {
            let (key, key_deleted) = btree_item_bytes(&page, 2 * pair)?;
            let (value, value_deleted) = btree_item_bytes(&page, 2 * pair + 1)?;
            if key_deleted || value_deleted {
                continue;
            }
            let key = fetch(key, pages, meta.order, &mut scratch, &mut key_out)?;
            if previous.as_deref().is_some_and(|p| p >= key) {
                return Err(page.view.corrupt(format!(
                    "keys on leaf page {pgno} are out of order: lookups cannot find them"
                )));
            }
            match previous.as_mut() {
                Some(p) => {
                    p.clear();
                    p.extend_from_slice(key);
                }
                None => previous = Some(key.to_vec()),
            }
            let value = fetch(value, pages, meta.order, &mut scratch, &mut value_out)?;
            if visit(key, value).is_break() {
                return Ok(());
            }
        }
        let next = page.next()?;
        if next == 0 {
            return Ok(());
        }
        pgno = next;
        pages.read(pgno, &mut buf)?;
    }
}

/// A leaf item and whether it is marked deleted.
fn btree_item_bytes<'b>(
    page: &DataPage<'b>,
    index: usize,
) -> Result<(ItemBytes<'b>, bool), ReadError> {
    let start = page.offset(index)?;
    let kind = page.view.u8(start + 2)?;
    let deleted = kind & B_DELETE != 0;
    match kind & !B_DELETE {
        B_KEYDATA => {
            let len = usize::from(page.view.u16(start)?);
            Ok((ItemBytes::OnPage(page.view.slice(start + 3, len)?), deleted))
        }
        B_OVERFLOW => Ok((
            ItemBytes::Overflow {
                first: u64::from(page.view.u32(start + 4)?),
                len: page.view.u32(start + 8)?,
            },
            deleted,
        )),
        other => Err(ReadError::Unsupported {
            format: FORMAT,
            what: format!("btree item type {other} (duplicate data items; postmap writes none)"),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_arithmetic_is_libdbs() {
        assert_eq!([1, 2, 3, 4, 5, 8, 9].map(log2_ceil), [0, 1, 2, 2, 3, 3, 4]);
        assert_eq!(hash_func5(b""), 0);
        assert_eq!(hash_func5(b"a"), 0x61);
    }
}
