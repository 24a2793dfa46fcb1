//! The readers on real files built by `postmap` (testdata/compiled, see
//! its README), and on every kind of damage: truncation, flipped bytes,
//! page loops, unknown formats. Damage must give an error (or, for a
//! flipped byte in a key or value, other data), never a panic, and the
//! work stays linear in the file's size.

use std::collections::BTreeMap;
use std::ops::ControlFlow;
use std::path::Path;

use super::*;

fn fixture(name: &str) -> Vec<u8> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("testdata/compiled")
        .join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The entries of a postmap source (keys folded to lower case, the first
/// of duplicate keys kept, as postmap does), shortened for messages.
fn source_entries(name: &str) -> BTreeMap<String, String> {
    let text = String::from_utf8(fixture(name)).unwrap();
    let mut out = BTreeMap::new();
    for line in text.lines() {
        let (key, value) = line.split_once(' ').unwrap();
        out.entry(short(key.to_ascii_lowercase().as_bytes()))
            .or_insert_with(|| short(value.as_bytes()));
    }
    out
}

/// Long keys and values as their length and first bytes.
fn short(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    if text.len() > 40 {
        format!("{}...({} bytes)", &text[..20], bytes.len())
    } else {
        text.into_owned()
    }
}

type Pairs = Vec<(Vec<u8>, Vec<u8>)>;

fn entries(bytes: &[u8], format: CompiledFormat) -> Result<Pairs, ReadError> {
    let mut out = Vec::new();
    read_entries(bytes, format, |k, v| {
        out.push((k.to_vec(), v.to_vec()));
        ControlFlow::Continue(())
    })?;
    Ok(out)
}

/// Keys and values as Postfix looks them up.
fn looked_up(pairs: &[(Vec<u8>, Vec<u8>)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (short(lookup_key(k).unwrap()), short(lookup_value(v))))
        .collect()
}

/// Compare without printing hundreds of entries.
fn assert_same(got: &BTreeMap<String, String>, expected: &BTreeMap<String, String>, what: &str) {
    let missing: Vec<_> = expected
        .iter()
        .filter(|(k, v)| got.get(*k) != Some(v))
        .take(5)
        .collect();
    let extra: Vec<_> = got
        .iter()
        .filter(|(k, v)| expected.get(*k) != Some(v))
        .take(5)
        .collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "{what}: missing {missing:?}, unexpected {extra:?}"
    );
}

const FIXTURES: &[(&str, CompiledFormat, &str)] = &[
    ("hash-le.db", CompiledFormat::BerkeleyHash, "source"),
    ("hash-be.db", CompiledFormat::BerkeleyHash, "source"),
    ("btree-le.db", CompiledFormat::BerkeleyBtree, "source"),
    ("btree-be.db", CompiledFormat::BerkeleyBtree, "source"),
    ("table.lmdb", CompiledFormat::Lmdb, "lmdb-source"),
    ("table.cdb", CompiledFormat::Cdb, "source"),
];

#[test]
fn every_fixture_holds_exactly_its_source() {
    for (file, format, source) in FIXTURES {
        let bytes = fixture(file);
        let pairs = entries(&bytes, *format).unwrap_or_else(|e| panic!("{file}: {e}"));
        let expected = source_entries(source);
        assert_eq!(pairs.len(), expected.len(), "{file}");
        assert_same(&looked_up(&pairs), &expected, file);
        // hash, btree and lmdb keys carry Postfix's trailing NUL; cdb's not.
        let with_nul = pairs
            .iter()
            .all(|(k, v)| k.ends_with(&[0]) && v.ends_with(&[0]));
        assert_eq!(with_nul, *format != CompiledFormat::Cdb, "{file}");
        if *format != CompiledFormat::Cdb {
            assert_eq!(detect(bytes.as_slice()).unwrap(), Some(*format), "{file}");
        }
    }
}

#[test]
fn btree_and_lmdb_come_in_key_order_and_big_endian_equals_little() {
    for file in ["btree-le.db", "btree-be.db", "table.lmdb"] {
        let format = if file.ends_with(".lmdb") {
            CompiledFormat::Lmdb
        } else {
            CompiledFormat::BerkeleyBtree
        };
        let pairs = entries(&fixture(file), format).unwrap();
        assert!(pairs.windows(2).all(|w| w[0].0 < w[1].0), "{file}");
    }
    let le = entries(&fixture("hash-le.db"), CompiledFormat::BerkeleyHash).unwrap();
    let be = entries(&fixture("hash-be.db"), CompiledFormat::BerkeleyHash).unwrap();
    assert_same(&looked_up(&le), &looked_up(&be), "hash byte orders");
}

#[test]
fn a_visitor_can_stop_the_walk() {
    for (file, format, _) in FIXTURES {
        let mut seen = 0;
        read_entries(fixture(file).as_slice(), *format, |_, _| {
            seen += 1;
            if seen == 3 {
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            }
        })
        .unwrap();
        assert_eq!(seen, 3, "{file}");
    }
}

#[test]
fn every_truncation_is_an_error() {
    for (file, format, _) in FIXTURES {
        let bytes = fixture(file);
        let mut cuts: Vec<usize> = (0..bytes.len()).step_by(509).collect();
        cuts.extend([
            0,
            1,
            15,
            16,
            511,
            512,
            2047,
            2048,
            4095,
            4096,
            bytes.len() - 1,
        ]);
        for cut in cuts.into_iter().filter(|c| *c < bytes.len()) {
            let result = entries(&bytes[..cut], *format);
            assert!(
                result.is_err(),
                "{file} cut at {cut} read as {} entries",
                result.map(|p| p.len()).unwrap_or(0)
            );
        }
    }
}

/// xorshift64*: seeded, reproducible damage.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
}

#[test]
fn flipped_bytes_never_panic() {
    let mut rng = Rng(0x6d78_6472_6966_7432);
    for (file, format, _) in FIXTURES {
        let clean = fixture(file);
        for _ in 0..300 {
            let mut bytes = clean.clone();
            for _ in 0..1 + rng.next() % 4 {
                let at = (rng.next() % bytes.len() as u64) as usize;
                bytes[at] = rng.next() as u8;
            }
            // Any outcome but a panic (or a hang) is acceptable.
            let _ = entries(&bytes, *format);
        }
        // Damage confined to the headers' integers is caught.
        for at in (0..64).step_by(4) {
            let mut bytes = clean.clone();
            bytes[at..at + 4].copy_from_slice(&[0xff; 4]);
            let _ = entries(&bytes, *format);
        }
    }
}

/// Offset of Berkeley DB page `n`'s next-page field.
fn bdb_next_field(page: usize) -> usize {
    page * 4096 + 16
}

#[test]
fn page_loops_are_errors() {
    // btree: the first leaf's next pointer back to itself.
    let mut btree = fixture("btree-le.db");
    let root = u32::from_le_bytes(btree[88..92].try_into().unwrap()) as usize;
    let first_leaf_field = root * 4096 + 26;
    let first = u16::from_le_bytes(
        btree[first_leaf_field..first_leaf_field + 2]
            .try_into()
            .unwrap(),
    ) as usize;
    let leaf = u32::from_le_bytes(
        btree[root * 4096 + first + 4..root * 4096 + first + 8]
            .try_into()
            .unwrap(),
    );
    btree[bdb_next_field(leaf as usize)..bdb_next_field(leaf as usize) + 4]
        .copy_from_slice(&leaf.to_le_bytes());
    assert!(matches!(
        entries(&btree, CompiledFormat::BerkeleyBtree),
        Err(ReadError::Loop { .. })
    ));

    // hash: bucket 0's page (page 1) continues with itself.
    let mut hash = fixture("hash-le.db");
    hash[bdb_next_field(1)..bdb_next_field(1) + 4].copy_from_slice(&1u32.to_le_bytes());
    assert!(matches!(
        entries(&hash, CompiledFormat::BerkeleyHash),
        Err(ReadError::Loop { .. })
    ));

    // lmdb: the root (a branch) names itself as its first child.
    let mut lmdb = fixture("table.lmdb");
    let txn = |b: &[u8], page: usize| {
        u64::from_le_bytes(b[page * 4096 + 144..page * 4096 + 152].try_into().unwrap())
    };
    let meta = if txn(&lmdb, 1) > txn(&lmdb, 0) { 1 } else { 0 };
    let root_at = meta * 4096 + 16 + 24 + 48 + 40;
    let root = u64::from_le_bytes(lmdb[root_at..root_at + 8].try_into().unwrap()) as usize;
    let node =
        u16::from_le_bytes(lmdb[root * 4096 + 16..root * 4096 + 18].try_into().unwrap()) as usize;
    let at = root * 4096 + node;
    lmdb[at..at + 2].copy_from_slice(&(root as u16).to_le_bytes());
    lmdb[at + 2..at + 6].fill(0);
    assert!(matches!(
        entries(&lmdb, CompiledFormat::Lmdb),
        Err(ReadError::Loop { .. })
    ));
}

#[test]
fn unknown_and_wrong_formats_are_named() {
    let text = b"example.com OK\n".repeat(300);
    for format in [
        CompiledFormat::BerkeleyHash,
        CompiledFormat::BerkeleyBtree,
        CompiledFormat::Lmdb,
    ] {
        assert!(matches!(
            entries(&text, format),
            Err(ReadError::UnknownFormat { .. })
        ));
        assert!(entries(&[], format).is_err());
    }
    assert!(entries(&text, CompiledFormat::Cdb).is_err());
    assert!(matches!(
        entries(&fixture("hash-le.db"), CompiledFormat::BerkeleyBtree),
        Err(ReadError::WrongFormat {
            found: "hash",
            configured: "btree"
        })
    ));
    assert_eq!(detect(text.as_slice()).unwrap(), None);
}

#[test]
fn a_key_in_the_wrong_bucket_or_order_is_corrupt() {
    // Swap two keys of equal length on btree leaves: out of order.
    let mut btree = fixture("btree-le.db");
    // A leaf item: length 9, type B_KEYDATA, the key. The last copy: the
    // root page still holds stale bytes of the leaf it was before a split.
    let a = rfind(&btree, b"\x09\x00\x01d10.test\0") + 3;
    let b = rfind(&btree, b"\x09\x00\x01d99.test\0") + 3;
    btree[a..a + 9].copy_from_slice(b"d99.test\0");
    btree[b..b + 9].copy_from_slice(b"d10.test\0");
    let result = entries(&btree, CompiledFormat::BerkeleyBtree);
    assert!(
        matches!(result, Err(ReadError::Corrupt { .. })),
        "{:?}",
        result.map(|p| p.len())
    );
    // A hash key renamed in place no longer hashes to its bucket (with
    // two buckets, one of these two names is in the wrong one).
    let hash = fixture("hash-le.db");
    let at = find(&hash, b"d10.test\0");
    let outcomes: Vec<bool> = [b"d1x.test\0", b"d1y.test\0", b"d1z.test\0"]
        .iter()
        .map(|name| {
            let mut bytes = hash.clone();
            bytes[at..at + 9].copy_from_slice(*name);
            entries(&bytes, CompiledFormat::BerkeleyHash).is_err()
        })
        .collect();
    assert!(outcomes.contains(&true), "{outcomes:?}");
}

fn rfind(haystack: &[u8], needle: &[u8]) -> usize {
    haystack
        .windows(needle.len())
        .rposition(|w| w == needle)
        .unwrap()
}

fn find(haystack: &[u8], needle: &[u8]) -> usize {
    haystack
        .windows(needle.len())
        .position(|w| w == needle)
        .unwrap()
}

#[test]
fn keys_and_values_as_postfix_looks_them_up() {
    assert_eq!(lookup_key(b"a.test\0"), Some(&b"a.test"[..]));
    assert_eq!(lookup_key(b"a.test"), Some(&b"a.test"[..]));
    assert_eq!(lookup_key(b"a\0b\0"), None);
    assert_eq!(lookup_value(b"ok\0"), b"ok");
    assert_eq!(lookup_value(b"ok\0junk"), b"ok");
}

#[test]
fn huge_counts_in_headers_fail_fast_without_allocating() {
    // A hash file claiming two billion buckets.
    let mut hash = fixture("hash-le.db");
    hash[72..76].copy_from_slice(&0x7fff_ffffu32.to_le_bytes());
    assert!(matches!(
        entries(&hash, CompiledFormat::BerkeleyHash),
        Err(ReadError::Truncated { .. })
    ));
    // An overflow item claiming 4 GiB.
    let mut btree = fixture("btree-le.db");
    let at = rfind(&btree, &[0, 0, 3, 0]);
    btree[at + 8..at + 12].copy_from_slice(&u32::MAX.to_le_bytes());
    assert!(entries(&btree, CompiledFormat::BerkeleyBtree).is_err());
    // A CDB header whose first table claims four billion slots.
    let mut cdb = fixture("table.cdb");
    cdb[4..8].copy_from_slice(&u32::MAX.to_le_bytes());
    assert!(matches!(
        entries(&cdb, CompiledFormat::Cdb),
        Err(ReadError::Corrupt { .. } | ReadError::Truncated { .. })
    ));
    // A CDB record claiming a 4 GiB key.
    let mut cdb = fixture("table.cdb");
    cdb[2048..2052].copy_from_slice(&u32::MAX.to_le_bytes());
    assert!(entries(&cdb, CompiledFormat::Cdb).is_err());
    // An LMDB main tree claiming depth 1000.
    let mut lmdb = fixture("table.lmdb");
    for page in [0, 4096] {
        let at = page + 16 + 24 + 48 + 6;
        lmdb[at..at + 2].copy_from_slice(&1000u16.to_le_bytes());
    }
    assert!(matches!(
        entries(&lmdb, CompiledFormat::Lmdb),
        Err(ReadError::Corrupt { .. })
    ));
}

#[test]
fn a_record_outside_the_cdb_hash_tables_is_corrupt() {
    // Point every slot of every table away from the records: a lookup
    // finds nothing, so the records are not what Postfix sees.
    let mut cdb = fixture("table.cdb");
    let records_end = u32::from_le_bytes(cdb[0..4].try_into().unwrap()) as usize;
    for slot in (records_end..cdb.len()).step_by(8) {
        cdb[slot + 4..slot + 8].fill(0);
    }
    assert!(matches!(
        entries(&cdb, CompiledFormat::Cdb),
        Err(ReadError::Corrupt { .. })
    ));
}
