//! Entry points for the `cargo fuzz` targets in `fuzz/`. Each takes the
//! fuzzer's bytes, runs one reader as mxdrift runs it, and asserts what
//! that reader promises beyond "no panic" (a broken promise panics, which
//! is what libFuzzer reports). Not part of mxdrift's interface: hidden from
//! the documentation, and nothing else calls it.

use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use hickory_proto::op::{Message, Query, ResponseCode};
use hickory_proto::rr::{Name, RecordType};

use crate::config::Config;
use crate::resolve::answer::{self, Answer, MAX_CNAME_LINKS};
use crate::resolve::{classify, offline, validate};
use crate::rules::RuleSet;
use crate::sources::ConfigRoot;
use crate::sources::postfix::compiled::{self, CompiledFormat};
use crate::sources::postfix::expand::MAX_EXPANDED_BYTES;
use crate::sources::postfix::lists::ListReader;
use crate::sources::postfix::maincf::MainCf;
use crate::sources::postfix::tables::{self, KeptKeys, TableLoad, TableSpec};
use crate::sources::postfix::{CLASSES, Location};

/// A directory of this process for the readers that need files.
fn scratch() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("mxdrift-fuzz-{}", std::process::id()));
        let _ = std::fs::create_dir_all(dir.join("etc/postfix"));
        dir
    })
}

/// main.cf: logical lines, `name = value`, `$` expansion, match lists.
/// Every expanded character has an origin on a line of the file (or in a
/// built-in default, line 0); nothing exceeds the expansion limit; a value
/// without `$` expands to itself; the checked expansion fails exactly when
/// a limit stopped it; a match list's index answers as the walk over it;
/// the bytes recorded for a listed name are that name.
pub fn main_cf(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let lines = text.split('\n').count();
    let Ok(mut cf) = MainCf::parse("etc/postfix/main.cf", &text) else {
        return;
    };
    // A dotless machine name: `myhostname` then depends on `mydomain`.
    cf.set_hostname("host", None);
    let mut params: Vec<String> = CLASSES.iter().map(|(p, _)| p.to_string()).collect();
    params.extend(["myhostname", "mydomain", "transport_maps"].map(String::from));
    params.extend(cf.definitions().take(16).map(|d| d.name.clone()));
    let root = ConfigRoot::new(scratch());
    let mut reader = ListReader::new(&root, "/var/spool/postfix");
    for param in &params {
        let expanded = cf.expand_param(param);
        assert!(expanded.text.len() <= MAX_EXPANDED_BYTES);
        for (offset, _) in expanded.text.char_indices().take(4096) {
            let origin = expanded
                .origin_at(offset)
                .unwrap_or_else(|| panic!("{param}: no origin at {offset}"));
            assert_eq!(origin.file, "etc/postfix/main.cf");
            assert!(
                origin.line as usize <= lines,
                "{param}: line {}",
                origin.line
            );
        }
        if let Some(def) = cf.get(param)
            && !def.value.contains('$')
            && expanded.failure.is_none()
        {
            assert_eq!(expanded.text, def.value);
        }
        assert_eq!(
            cf.expand_checked(param).is_err(),
            expanded.failure.is_some()
        );
        assert_eq!(cf.expanded(param), expanded.text, "not deterministic");
        if expanded.failure.is_some() {
            continue;
        }
        let Ok(list) = reader.read_list(param, &expanded, param.len() % 2 == 0) else {
            continue;
        };
        let (members, _) = list.members();
        for member in &members {
            assert_eq!(list.first_match(&member.raw), Some(true), "{}", member.raw);
            if let Some(span) = member.location.span()
                && member.location.file == "etc/postfix/main.cf"
            {
                let written = text.get(span.start..span.end).map(tables::fold_case);
                assert_eq!(written.as_deref(), Some(member.raw.as_str()), "{span:?}");
            }
        }
        let names: Vec<&str> = tables::split_tokens(&expanded.text)
            .into_iter()
            .map(|(_, t)| t.trim_start_matches(['!', '.']))
            .take(64)
            .collect();
        for name in names {
            for candidate in [name, &format!("x.{name}")] {
                assert_eq!(
                    list.first_match_indexed(candidate),
                    list.first_match(candidate),
                    "{param}: {candidate}"
                );
            }
        }
    }
}

/// Table text (postmap's source format), read for a match list and for
/// its values: never more keys than lines, every key found by a lookup at
/// its first line, a list's keys a subset without addresses, the bytes
/// recorded for a key that key.
pub fn table_text(data: &[u8]) {
    let dir = scratch();
    let path = dir.join("etc/postfix/table");
    if std::fs::write(&path, data).is_err() {
        return;
    }
    let root = ConfigRoot::new(dir);
    let here = Location::text("etc/postfix/main.cf", 1, None);
    let Some(spec) = TableSpec::parse("texthash:/etc/postfix/table") else {
        panic!("the spec parses");
    };
    let lines = data.split(|b| *b == b'\n').count();
    let all = tables::load_keys(&root, &spec, &here, "/var/spool/postfix", KeptKeys::All).load;
    let domains =
        tables::load_keys(&root, &spec, &here, "/var/spool/postfix", KeptKeys::Domains).load;
    let (TableLoad::Loaded(all), TableLoad::Loaded(domains)) = (all, domains) else {
        return;
    };
    assert!(all.len() <= lines, "{} keys from {lines} lines", all.len());
    let text = String::from_utf8_lossy(data);
    for entry in all.entries() {
        assert!(!entry.key.is_empty());
        assert!(entry.line as usize >= 1 && entry.line as usize <= lines);
        let Some(found) = all.get(entry.key) else {
            panic!("key {:?} is not found", entry.key);
        };
        assert_eq!(found.line, entry.line, "the first of duplicate keys wins");
        if let Some(span) = entry.location().span() {
            let written = text.get(span.start..span.end).map(tables::fold_case);
            assert_eq!(written.as_deref(), Some(entry.key), "{span:?}");
        }
    }
    assert!(domains.len() <= all.len());
    for entry in domains.entries() {
        assert!(!entry.key.contains('@'));
        assert!(all.get(entry.key).is_some());
    }
}

/// A compiled table (`FILE.db`, `.lmdb`, `.cdb`) as mxdrift reads the one
/// Postfix opens: whatever the bytes, `Ok` or an error, never more entries
/// or more key and value bytes than the file holds (each page is read at
/// most once), the same entries on a second read, and a walk that stops
/// when asked to.
fn compiled_table(data: &[u8], format: CompiledFormat) {
    let mut entries = 0usize;
    let mut bytes = 0usize;
    let mut first: Vec<(Vec<u8>, Vec<u8>)> = Vec::new();
    let read = compiled::read_entries(data, format, |key, value| {
        entries += 1;
        bytes += key.len() + value.len();
        if first.len() < 64 {
            first.push((key.to_vec(), value.to_vec()));
        }
        ControlFlow::Continue(())
    });
    // Every stored item has a header of several bytes besides its bytes.
    assert!(
        entries.saturating_mul(4) <= data.len(),
        "{format:?}: {entries} entries from {} bytes",
        data.len()
    );
    assert!(
        bytes <= data.len(),
        "{format:?}: {bytes} key and value bytes from {} bytes",
        data.len()
    );
    let mut again = Vec::new();
    let read_again = compiled::read_entries(data, format, |key, value| {
        if again.len() < 64 {
            again.push((key.to_vec(), value.to_vec()));
        }
        ControlFlow::Continue(())
    });
    assert_eq!(read.is_ok(), read_again.is_ok());
    assert_eq!(first, again, "{format:?}: a second read differs");
    let mut visited = 0usize;
    let _ = compiled::read_entries(data, format, |_, _| {
        visited += 1;
        ControlFlow::Break(())
    });
    assert!(visited <= 1, "{format:?}: the walk went on after Break");
    if let Ok(Some(found)) = compiled::detect(data) {
        assert_ne!(found, CompiledFormat::Cdb, "CDB has no magic number");
    }
}

/// Berkeley DB `hash` and `btree` files (`postmap hash:FILE`, `btree:FILE`).
pub fn compiled_berkeley_db(data: &[u8]) {
    compiled_table(data, CompiledFormat::BerkeleyHash);
    compiled_table(data, CompiledFormat::BerkeleyBtree);
}

/// LMDB files (`postmap lmdb:FILE`).
pub fn compiled_lmdb(data: &[u8]) {
    compiled_table(data, CompiledFormat::Lmdb);
}

/// CDB files (`postmap cdb:FILE`).
pub fn compiled_cdb(data: &[u8]) {
    compiled_table(data, CompiledFormat::Cdb);
}

/// RFC 1035 zone files as `--zone-file` reads them, then queried: an
/// answer holds only the CNAME chain from the name asked and records of the
/// asked type at its end, and classifying it never panics.
pub fn zone_file(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let mut zones = offline::ZoneSet::default();
    if zones.add_text(&text, Path::new("fuzz.zone")).is_err() {
        return;
    }
    let mut names: Vec<Name> = text
        .split_whitespace()
        .filter_map(|t| Name::from_ascii(t).ok())
        .take(32)
        .collect();
    names.push(Name::root());
    for name in &names {
        let name = name
            .clone()
            .append_domain(&Name::root())
            .unwrap_or_else(|_| name.clone());
        for rtype in [RecordType::MX, RecordType::A, RecordType::AAAA] {
            let found = zones.query(&name, rtype);
            assert_chain_answer(&name, rtype, &found);
            if rtype == RecordType::MX {
                let _ = classify::mx_answer(&name, &found);
            }
        }
    }
}

/// A DNS response as the validator sees it: records come only from the
/// answer section, on the chain from the question; a response to another
/// question is never an answer; NXDOMAIN agrees with the rcode.
pub fn dns_answer(data: &[u8]) {
    let Ok(message) = Message::from_vec(data) else {
        return;
    };
    let asked = message.queries.first().cloned().unwrap_or_else(|| {
        Query::query(
            Name::from_ascii("d.test.").unwrap_or_else(|_| Name::root()),
            RecordType::MX,
        )
    });
    for query in [
        asked.clone(),
        Query::query(asked.name().clone(), RecordType::MX),
        Query::query(asked.name().clone(), RecordType::A),
    ] {
        let checked = validate::check(&query, &message);
        assert_sound(&query, &message, &checked);
    }
    // The same response for another name: never evidence.
    if let Ok(other) = Name::from_ascii("other-name.fuzz.test.")
        && *asked.name() != other
    {
        let query = Query::query(other, asked.query_type());
        let checked = validate::check(&query, &message);
        assert!(
            matches!(checked, validate::Checked::Answer(Answer::Failed(_))),
            "a response to another question was believed: {checked:?}"
        );
    }
}

/// mxdrift.yaml: never a panic; an error always names the file, never
/// `<input>`.
pub fn config_yaml(data: &[u8]) {
    static RULES: OnceLock<Option<RuleSet>> = OnceLock::new();
    let Some(rules) = RULES.get_or_init(|| RuleSet::embedded().ok()) else {
        panic!("the embedded rules do not parse");
    };
    let text = String::from_utf8_lossy(data);
    if let Err(error) = Config::parse(&text, "etc/mxdrift.yaml", rules) {
        let message = error.to_string();
        assert!(message.contains("etc/mxdrift.yaml"), "{message}");
        assert!(!message.contains("<input>"), "{message}");
    }
}

/// Records of an answer: the CNAME chain from `name`, then records of the
/// asked type at its end, and nothing else.
fn assert_chain_answer(name: &Name, rtype: RecordType, found: &Answer) {
    let Answer::Records(records) = found else {
        return;
    };
    let (wanted, _) = answer::follow_chain(name, rtype, records);
    let links = records
        .iter()
        .filter(|r| r.record_type() == RecordType::CNAME && rtype != RecordType::CNAME)
        .count();
    assert!(links <= MAX_CNAME_LINKS, "{links} CNAME links");
    assert!(
        !wanted.is_empty(),
        "an answer without {rtype} records: {records:?}"
    );
    assert_eq!(
        wanted.len() + links,
        records.len(),
        "records off the chain from {name}: {records:?}"
    );
}

/// What the validator believed must be in the response as it says.
fn assert_sound(query: &Query, message: &Message, checked: &validate::Checked) {
    let rcode = message.metadata.response_code;
    let validate::Checked::Answer(found) = checked else {
        return;
    };
    match found {
        Answer::Failed(_) => {}
        Answer::Records(records) => {
            assert_eq!(
                rcode,
                ResponseCode::NoError,
                "records believed with {rcode:?}"
            );
            for record in records {
                assert!(
                    message.answers.iter().any(|a| a.name == record.name
                        && a.record_type() == record.record_type()
                        && a.data == record.data),
                    "a record from outside the answer section: {record:?}"
                );
            }
            assert_chain_answer(query.name(), query.query_type(), found);
        }
        Answer::NoRecords { nxdomain, name, .. } => {
            assert_eq!(
                *nxdomain,
                rcode == ResponseCode::NXDomain,
                "NXDOMAIN believed with {rcode:?}"
            );
            assert!(
                !message
                    .answers
                    .iter()
                    .any(|a| a.record_type() == query.query_type() && a.name == *name),
                "\"no records\" with {} records in the answer section",
                query.query_type()
            );
        }
    }
}
