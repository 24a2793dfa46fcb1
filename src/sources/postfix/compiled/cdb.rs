//! CDB files (D. J. Bernstein's constant database, as tinycdb writes it
//! for Postfix's `cdb:` tables).
//!
//! - A 2048-byte header of 256 (position, slot count) pairs, little-endian;
//!   then the records (key length, value length, key, value) back to back;
//!   then the 256 hash tables, one after the other to the end of the file.
//!   The first table's position is the end of the records.
//! - The records are enumerated in file order, as tinycdb's sequential
//!   walk (and `postmap -s`) does. A lookup only finds a record through a
//!   hash table slot, so every record must have a slot in its table with
//!   its hash: a record that has none is invisible to Postfix, and the file
//!   is corrupt.

use super::{ByteOrder, MAX_ITEM_LEN, ReadAt, ReadError, View, Visit, read_checked};

const FORMAT: &str = "CDB";
const HEADER_LEN: u64 = 2048;
/// Bytes read at once from the record and table areas.
const CHUNK: usize = 256 << 10;

/// The hash function of CDB.
fn cdb_hash(key: &[u8]) -> u32 {
    key.iter().fold(5381u32, |h, &b| {
        (h.wrapping_shl(5).wrapping_add(h)) ^ u32::from(b)
    })
}

fn corrupt(what: String) -> ReadError {
    ReadError::Corrupt {
        format: FORMAT,
        what,
    }
}

/// Reads a region of the file through a buffer of [`CHUNK`] bytes.
struct Chunked<'s, R: ReadAt + ?Sized> {
    src: &'s R,
    /// The end of the region: nothing at or past it is read.
    end: u64,
    buf: Vec<u8>,
    /// File offset of `buf[0]`.
    start: u64,
}

impl<'s, R: ReadAt + ?Sized> Chunked<'s, R> {
    fn new(src: &'s R, end: u64) -> Self {
        Chunked {
            src,
            end,
            buf: Vec::new(),
            start: 0,
        }
    }

    /// `len` bytes at `offset`, which must lie before the region's end.
    fn bytes(&mut self, offset: u64, len: usize, what: &'static str) -> Result<&[u8], ReadError> {
        let wanted_end = offset.checked_add(len as u64);
        if wanted_end.is_none_or(|e| e > self.end) {
            return Err(ReadError::Truncated {
                what,
                offset,
                len: self.end,
            });
        }
        let buffered_end = self.start + self.buf.len() as u64;
        if offset < self.start || offset + len as u64 > buffered_end {
            let fill = (self.end - offset).min(CHUNK.max(len) as u64) as usize;
            self.buf.resize(fill, 0);
            self.src.read_exact_at(&mut self.buf, offset)?;
            self.start = offset;
        }
        let at = (offset - self.start) as usize;
        self.buf
            .get(at..at + len)
            .ok_or_else(|| corrupt(format!("internal: {len} bytes at {offset} not buffered")))
    }
}

/// Walk every record of a CDB file.
pub(super) fn read<R: ReadAt + ?Sized>(src: &R, visit: &mut Visit<'_>) -> Result<(), ReadError> {
    let len = src.size();
    let header = read_checked(src, "header", 0, HEADER_LEN as usize)?;
    let view = View::new(&header, ByteOrder::Little, FORMAT);
    let records_end = u64::from(view.u32(0)?);
    if records_end < HEADER_LEN {
        return Err(corrupt(format!(
            "the records end at byte {records_end}, inside the header"
        )));
    }
    // The tables follow each other from the end of the records to the end
    // of the file: that bounds the work by the file's size.
    let mut expected = records_end;
    let mut tables = Vec::with_capacity(256);
    for table in 0..256 {
        let position = u64::from(view.u32(8 * table)?);
        let slots = u64::from(view.u32(8 * table + 4)?);
        if position != expected {
            return Err(corrupt(format!(
                "hash table {table} starts at byte {position}, expected {expected}"
            )));
        }
        expected = position + 8 * slots;
        tables.push((position, slots));
    }
    if expected != len {
        return Err(if expected > len {
            ReadError::Truncated {
                what: "hash tables",
                offset: records_end,
                len,
            }
        } else {
            corrupt(format!(
                "{} bytes follow the last hash table",
                len - expected
            ))
        });
    }

    // Every slot in use: (record position, hash), sorted by position.
    let mut index: Vec<(u32, u32)> = Vec::new();
    let mut table_area = Chunked::new(src, len);
    for (table, &(position, slots)) in tables.iter().enumerate() {
        for slot in 0..slots {
            let bytes = table_area.bytes(position + 8 * slot, 8, "hash table slot")?;
            let slot_view = View::new(bytes, ByteOrder::Little, FORMAT);
            let hash = slot_view.u32(0)?;
            let record = slot_view.u32(4)?;
            if record == 0 {
                continue;
            }
            if (hash & 0xff) as usize != table {
                return Err(corrupt(format!(
                    "a slot of hash table {table} holds a hash of table {}",
                    hash & 0xff
                )));
            }
            index.push((record, hash));
        }
    }
    drop(table_area);
    index.sort_unstable();
    let mut slots = index.iter().peekable();

    let mut records = Chunked::new(src, records_end);
    let mut position = HEADER_LEN;
    while position < records_end {
        let head = records.bytes(position, 8, "record header")?;
        let head_view = View::new(head, ByteOrder::Little, FORMAT);
        let key_len = head_view.u32(0)? as usize;
        let value_len = head_view.u32(4)? as usize;
        if key_len > MAX_ITEM_LEN || value_len > MAX_ITEM_LEN {
            return Err(ReadError::Unsupported {
                format: FORMAT,
                what: format!(
                    "a record of {key_len} + {value_len} bytes at byte {position} (the limit is {MAX_ITEM_LEN} each)"
                ),
            });
        }
        let record = records.bytes(position + 8, key_len + value_len, "record")?;
        let (key, value) = record.split_at(key_len);
        let hash = cdb_hash(key);
        while slots.next_if(|(at, _)| u64::from(*at) < position).is_some() {}
        let mut indexed = false;
        while let Some((_, slot_hash)) = slots.next_if(|(at, _)| u64::from(*at) == position) {
            indexed |= *slot_hash == hash;
        }
        if !indexed {
            return Err(corrupt(format!(
                "the record at byte {position} is in no hash table: lookups cannot find it"
            )));
        }
        if visit(key, value).is_break() {
            return Ok(());
        }
        position += 8 + (key_len + value_len) as u64;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_is_djbs() {
        assert_eq!(cdb_hash(b""), 5381);
        assert_eq!(cdb_hash(b"a"), (5381u32 * 33) ^ 0x61);
    }
}
