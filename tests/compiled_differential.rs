//! Differential test of the compiled-table readers against the real
//! `postmap`: random tables (thousands of keys in some, keys and values
//! longer than a page, upper case, IDN, duplicates) are compiled into hash,
//! btree, lmdb and cdb, the text source is removed, and the keys and values
//! mxdrift reads must be exactly those `postmap -s` lists (cdb, whose
//! `postmap -s` this Postfix does not support: `postmap -q -` confirms every
//! key of the same source). Some hash and btree files are converted to big
//! endian with `db5.3_load -c db_lorder=4321` and must read the same.
//!
//! Then the source is edited after compiling (a key added, removed, renamed
//! or only its value, case, comments or order changed): mxdrift must report
//! a mismatch (rule `table-not-compiled`) exactly when the keys `postmap`
//! would compile from the edited source differ from the compiled ones.
//!
//! Every Postfix tool runs with `-c DIR` (a scratch main.cf with
//! `smtputf8_enable = yes`, so postmap folds keys fully, as mxdrift does).
//! Reproduce a failure with `MXDRIFT_COMPILED_SEED=<seed> cargo test --test
//! compiled_differential`; failing cases are kept on disk and printed.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use mxdrift::sources::ConfigRoot;
use mxdrift::sources::postfix::tables::{self, TableLoad, TableSpec};
use mxdrift::sources::postfix::{self as postfix_reader, Location, PostfixOptions};

const TABLES: usize = 210;
const DEFAULT_SEED: u64 = 0x6d78_6472_6966_7433;
/// LMDB refuses keys over 511 bytes (with postmap's NUL).
const LMDB_MAX_KEY: usize = 500;

/// Find a tool; skip visibly without it, except under CI=true.
fn tool(name: &str, package: &str) -> Option<PathBuf> {
    let found = [
        "/usr/sbin",
        "/usr/bin",
        "/sbin",
        "/bin",
        "/usr/local/sbin",
        "/usr/local/bin",
    ]
    .iter()
    .map(|d| Path::new(d).join(name))
    .find(|p| p.is_file());
    if found.is_none() {
        if std::env::var("CI").as_deref() == Ok("true") {
            panic!("{name} ({package}) is required under CI=true but was not found");
        }
        eprintln!(
            "SKIPPED: {name} ({package}) is not installed; the compiled-table differential needs it"
        );
    }
    found
}

/// xorshift64*: small, seeded, reproducible.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }
    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

/// One generated table source: its lines, in order.
struct Source {
    lines: Vec<(String, String)>,
    /// Keys longer than LMDB allows: not compiled into lmdb.
    long_keys: bool,
}

impl Source {
    fn generate(rng: &mut Rng) -> Source {
        let size = match rng.below(10) {
            0 => 1000 + rng.below(4000),
            1 | 2 => 100 + rng.below(400),
            _ => 1 + rng.below(40),
        };
        let long_keys = rng.chance(20);
        let labels = [
            "mail",
            "shop",
            "bücher",
            "münchen",
            "пример",
            "café",
            "straße",
            "ÜBER",
            "Example",
            "MiXeD",
        ];
        let mut lines: Vec<(String, String)> = Vec::with_capacity(size);
        for i in 0..size {
            let mut key = match rng.below(8) {
                0 => format!("user{i}@{}{}.test", rng.pick(&labels), rng.below(50)),
                1 => format!("@{}{}.test", rng.pick(&labels), rng.below(50)),
                _ => format!("{}{i}.{}.test", rng.pick(&labels), rng.below(7)),
            };
            if rng.chance(20) {
                key = key.to_uppercase();
            }
            if rng.chance(3) {
                let limit = if long_keys { 6000 } else { LMDB_MAX_KEY - 20 };
                let len = 300 + rng.below(limit - 300);
                key = format!("{}.test", "k".repeat(len));
            }
            // Duplicates: the same key again, or in another case.
            if !lines.is_empty() && rng.chance(5) {
                let (earlier, _) = lines[rng.below(lines.len())].clone();
                key = if rng.chance(50) {
                    earlier.to_uppercase()
                } else {
                    earlier
                };
            }
            let value = if rng.chance(3) {
                format!("v{i} {}", "x".repeat(4000 + rng.below(8000)))
            } else {
                format!(
                    "{} value {i}",
                    rng.pick(&["OK", "smtp:[relay.test]", "user/Maildir/", "ünïcode"])
                )
            };
            lines.push((key, value));
        }
        Source { lines, long_keys }
    }

    fn text(&self) -> String {
        let mut out = String::from("# generated by the compiled-table differential\n");
        for (key, value) in &self.lines {
            out.push_str(key);
            out.push('\t');
            out.push_str(value);
            out.push('\n');
        }
        out
    }
}

/// An edit of the source after compiling.
#[derive(Debug, Clone, Copy)]
enum Edit {
    AddKey,
    RemoveLine,
    RenameKey,
    ChangeValue,
    ChangeCase,
    CommentsAndOrder,
    Nothing,
}

const EDITS: [Edit; 7] = [
    Edit::AddKey,
    Edit::RemoveLine,
    Edit::RenameKey,
    Edit::ChangeValue,
    Edit::ChangeCase,
    Edit::CommentsAndOrder,
    Edit::Nothing,
];

fn edited(source: &Source, edit: Edit, rng: &mut Rng) -> String {
    let mut lines = source.lines.clone();
    let at = rng.below(lines.len());
    match edit {
        Edit::AddKey => lines.push((format!("added{}.test", rng.next()), "new".into())),
        Edit::RemoveLine => {
            lines.remove(at);
        }
        Edit::RenameKey => lines[at].0 = format!("renamed{}.test", rng.next()),
        Edit::ChangeValue => lines[at].1 = "changed value".into(),
        Edit::ChangeCase => lines[at].0 = lines[at].0.to_uppercase(),
        Edit::CommentsAndOrder => lines.reverse(),
        Edit::Nothing => {}
    }
    let mut text = Source {
        lines,
        long_keys: source.long_keys,
    }
    .text();
    if matches!(edit, Edit::CommentsAndOrder) {
        text.insert_str(0, "# a comment\n\n");
    }
    text
}

struct Tools {
    postmap: PathBuf,
    dump: Option<PathBuf>,
    load: Option<PathBuf>,
    config: PathBuf,
}

impl Tools {
    fn postmap(&self, args: &[&str], stdin: Option<&str>) -> String {
        let mut child = Command::new(&self.postmap)
            .arg("-c")
            .arg(&self.config)
            .args(args)
            .stdin(if stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // Feed standard input from another thread: postmap answers while
        // it reads, and a full output pipe would block both sides.
        let feeder = stdin.map(|input| {
            let mut pipe = child.stdin.take().unwrap();
            let input = input.to_string();
            std::thread::spawn(move || pipe.write_all(input.as_bytes()))
        });
        let out = child.wait_with_output().unwrap();
        if let Some(feeder) = feeder {
            feeder.join().unwrap().unwrap();
        }
        // `postmap -q -` exits 1 when a key is not found.
        let query = args.first() == Some(&"-q");
        assert!(
            out.status.success() || query,
            "postmap {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    /// `postmap -s`: every key and value.
    fn dump(&self, table: &str) -> BTreeMap<String, String> {
        parse_pairs(&self.postmap(&["-s", table], None))
    }
}

fn parse_pairs(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .map(|l| {
            let (k, v) = l.split_once('\t').unwrap_or((l, ""));
            (k.to_string(), v.to_string())
        })
        .collect()
}

/// A table's entries, and the counts of keys only in its source and only in
/// its compiled file when they differ.
type Read = (BTreeMap<String, String>, Option<(usize, usize)>);

/// What mxdrift reads from `TYPE:/abs/path`.
fn mxdrift_read(table: &str) -> Result<Read, String> {
    let spec = TableSpec::parse(table).unwrap();
    let origin = Location {
        file: "etc/postfix/main.cf".into(),
        line: 1,
    };
    let read = tables::load(&ConfigRoot::new("/"), &spec, &origin, "/var/spool/postfix");
    match read.load {
        TableLoad::Loaded(t) => Ok((
            t.entries()
                .map(|e| (e.key.to_string(), e.value.to_string()))
                .collect(),
            read.mismatch
                .map(|m| (m.only_in_source_count, m.only_in_compiled_count)),
        )),
        other => Err(format!("{other:?}")),
    }
}

fn short(map: &BTreeMap<String, String>, other: &BTreeMap<String, String>) -> String {
    let missing: Vec<String> = other
        .iter()
        .filter(|(k, v)| map.get(*k) != Some(v))
        .take(3)
        .map(|(k, v)| format!("{:.60}={:.40}", k, v))
        .collect();
    format!("{} entries, lacking {missing:?}", map.len())
}

#[test]
fn compiled_readers_agree_with_postmap() {
    let Some(postmap) = tool("postmap", "postfix") else {
        return;
    };
    let dump = tool("db5.3_dump", "db5.3-util");
    let load = tool("db5.3_load", "db5.3-util");
    let seed = std::env::var("MXDRIFT_COMPILED_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(DEFAULT_SEED);
    eprintln!("compiled differential seed: {seed} (set MXDRIFT_COMPILED_SEED to reproduce)");
    let scratch = tempfile::tempdir().unwrap();
    let config = scratch.path().join("config");
    std::fs::create_dir_all(&config).unwrap();
    std::fs::write(config.join("main.cf"), "smtputf8_enable = yes\n").unwrap();
    let tools = Tools {
        postmap,
        dump,
        load,
        config,
    };
    let mut rng = Rng(seed | 1);
    let mut failures: Vec<String> = Vec::new();
    let (mut compared, mut keys_compared, mut big_endian, mut edits_checked) = (0, 0, 0, 0);
    let mut mismatches_expected = 0;
    for case in 0..TABLES {
        if failures.len() >= 3 {
            break;
        }
        let dir = scratch.path().join(format!("case{case}"));
        std::fs::create_dir_all(&dir).unwrap();
        let source = Source::generate(&mut rng);
        let text = source.text();
        let mut fail = |what: String| {
            failures.push(format!(
                "case {case} (seed {seed}, files in {}): {what}",
                dir.display()
            ))
        };
        let formats: &[&str] = if source.long_keys {
            &["hash", "btree", "cdb"]
        } else {
            &["hash", "btree", "lmdb", "cdb"]
        };
        let mut reference: Option<BTreeMap<String, String>> = None;
        for format in formats {
            let path = dir.join(format!("t-{format}"));
            std::fs::write(&path, &text).unwrap();
            let table = format!("{format}:{}", path.display());
            tools.postmap(&[&table], None);
            let expected = if *format == "cdb" {
                // This Postfix cannot list cdb tables: ask for every key of
                // the same source (as hash lists them) and every key mxdrift
                // found; what postmap finds is the table.
                let hash = reference.clone().unwrap_or_default();
                let mut keys: BTreeSet<String> = hash.keys().cloned().collect();
                std::fs::rename(&path, dir.join("t-cdb.source")).unwrap();
                if let Ok((read, _)) = mxdrift_read(&table) {
                    keys.extend(read.into_keys());
                }
                let query: String = keys.iter().map(|k| format!("{k}\n")).collect();
                let found = parse_pairs(&tools.postmap(&["-q", "-", &table], Some(&query)));
                if found != hash {
                    fail(format!(
                        "cdb and hash of one source differ: cdb {}",
                        short(&found, &hash)
                    ));
                }
                found
            } else {
                let listed = tools.dump(&table);
                std::fs::rename(&path, dir.join(format!("t-{format}.source"))).unwrap();
                listed
            };
            if *format == "hash" {
                reference = Some(expected.clone());
            }
            // The text source is gone: mxdrift reads the compiled file.
            match mxdrift_read(&table) {
                Ok((got, mismatch)) => {
                    if got != expected {
                        fail(format!(
                            "{format}: mxdrift {}; postmap {}",
                            short(&got, &expected),
                            short(&expected, &got)
                        ));
                    }
                    if mismatch.is_some() {
                        fail(format!("{format}: a mismatch without a source"));
                    }
                    keys_compared += got.len();
                }
                Err(e) => fail(format!("{format}: mxdrift failed: {e}")),
            }
            compared += 1;

            // Big endian, converted by libdb's own tools.
            if let (Some(dump), Some(load)) = (&tools.dump, &tools.load)
                && matches!(*format, "hash" | "btree")
                && case % 4 == 0
            {
                let be = dir.join(format!("be-{format}"));
                let dumped = Command::new(dump)
                    .arg(dir.join(format!("t-{format}.db")))
                    .output()
                    .unwrap();
                assert!(dumped.status.success(), "db5.3_dump failed");
                let mut child = Command::new(load)
                    .args(["-c", "db_lorder=4321"])
                    .arg(be.with_extension("db"))
                    .stdin(Stdio::piped())
                    .spawn()
                    .unwrap();
                child
                    .stdin
                    .take()
                    .unwrap()
                    .write_all(&dumped.stdout)
                    .unwrap();
                assert!(child.wait().unwrap().success(), "db5.3_load failed");
                let bytes = std::fs::read(be.with_extension("db")).unwrap();
                let magic = u32::from_be_bytes(bytes[12..16].try_into().unwrap());
                assert!(matches!(magic, 0x0006_1561 | 0x0005_3162), "not big-endian");
                match mxdrift_read(&format!("{format}:{}", be.display())) {
                    Ok((got, _)) if got == expected => big_endian += 1,
                    Ok((got, _)) => fail(format!(
                        "big-endian {format}: mxdrift {}",
                        short(&got, &expected)
                    )),
                    Err(e) => fail(format!("big-endian {format}: {e}")),
                }
            }

            // The source edited after compiling.
            let edit = *rng.pick(&EDITS);
            let new_text = edited(&source, edit, &mut rng);
            std::fs::write(&path, &new_text).unwrap();
            // What postmap would compile now (hash of a copy: the key sets
            // of all four formats are the same for one source).
            let copy = dir.join(format!("edited-{format}"));
            std::fs::write(&copy, &new_text).unwrap();
            let copy_table = format!("hash:{}", copy.display());
            tools.postmap(&[&copy_table], None);
            let now: BTreeSet<String> = tools.dump(&copy_table).into_keys().collect();
            let compiled: BTreeSet<String> = expected.keys().cloned().collect();
            let only_source = now.difference(&compiled).count();
            let only_compiled = compiled.difference(&now).count();
            let want = (only_source + only_compiled > 0).then_some((only_source, only_compiled));
            mismatches_expected += usize::from(want.is_some());
            match mxdrift_read(&table) {
                Ok((got, mismatch)) => {
                    if mismatch != want {
                        fail(format!(
                            "{format} after {edit:?}: mismatch {mismatch:?}, expected {want:?}"
                        ));
                    }
                    if got != expected {
                        fail(format!(
                            "{format} after {edit:?}: keys not from the compiled file: {}",
                            short(&got, &expected)
                        ));
                    }
                }
                Err(e) => fail(format!("{format} after {edit:?}: {e}")),
            }
            edits_checked += 1;
        }
        if failures.is_empty() {
            std::fs::remove_dir_all(&dir).unwrap();
        }
    }
    if !failures.is_empty() {
        // Keep the files for the reproduction.
        let kept = scratch.keep();
        panic!(
            "{} failures (files under {}):\n{}",
            failures.len(),
            kept.display(),
            failures.join("\n")
        );
    }
    eprintln!(
        "compared {compared} compiled tables ({keys_compared} keys), {big_endian} big-endian files, {edits_checked} edited sources ({mismatches_expected} with other keys)"
    );
    assert!(
        compared >= 4 * TABLES - TABLES / 2,
        "only {compared} tables"
    );
    if tools.dump.is_some() {
        assert!(
            big_endian >= TABLES / 4,
            "only {big_endian} big-endian files"
        );
    }
    assert!(
        mismatches_expected > edits_checked / 5 && mismatches_expected < edits_checked,
        "edits: {mismatches_expected} of {edits_checked} changed the keys"
    );
}

/// The locations of the `table-not-compiled` findings of an offline audit.
fn table_findings(root: &Path) -> Vec<String> {
    let zone = root.join("test.zone");
    std::fs::write(
        &zone,
        "$ORIGIN test.\n$TTL 300\n@ IN SOA ns.test. h.test. 1 3600 900 604800 300\n@ IN NS ns.test.\nns IN A 192.0.2.53\n",
    )
    .unwrap();
    let run = |format: &str| {
        let out = Command::new(env!("CARGO_BIN_EXE_mxdrift"))
            .args(["audit", "--format", format, "--fail-on", "never", "--root"])
            .arg(root)
            .arg("--zone-file")
            .arg(&zone)
            .output()
            .unwrap();
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    let doc: serde_json::Value = serde_json::from_str(&run("json")).unwrap();
    let found: Vec<String> = doc["run_findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["rule"] == "table-not-compiled")
        .map(|f| format!("{}:{}", f["file"].as_str().unwrap(), f["line"]))
        .collect();
    assert_eq!(
        run("text").contains("table-not-compiled"),
        !found.is_empty()
    );
    found
}

/// End to end: main.cf names a compiled table whose source was edited; the
/// inventory carries the mismatch and the compiled keys decide delivery.
#[test]
fn an_uncompiled_source_is_a_mismatch_in_the_inventory() {
    let Some(postmap) = tool("postmap", "postfix") else {
        return;
    };
    let root = tempfile::tempdir().unwrap();
    let etc = root.path().join("etc/postfix");
    std::fs::create_dir_all(&etc).unwrap();
    std::fs::write(
        etc.join("main.cf"),
        "myhostname = mail.host.test\nmydestination =\nvirtual_mailbox_domains = hash:/etc/postfix/vdomains\n",
    )
    .unwrap();
    std::fs::write(etc.join("vdomains"), "a.test ok\nb.test ok\n").unwrap();
    let status = Command::new(&postmap)
        .arg("-c")
        .arg(&etc)
        .arg(format!("hash:{}", etc.join("vdomains").display()))
        .status()
        .unwrap();
    assert!(status.success());
    let read = |root: &Path| {
        postfix_reader::read(&ConfigRoot::new(root), &PostfixOptions::default()).unwrap()
    };
    let inventory = read(root.path());
    assert!(inventory.table_mismatches.is_empty());
    let declared = &inventory.domains[0].declared[0];
    assert_eq!(
        (declared.file.as_str(), declared.line),
        ("etc/postfix/vdomains", 1)
    );

    // b.test removed and c.test added without postmap: Postfix still has b.
    std::fs::write(etc.join("vdomains"), "a.test ok\nc.test ok\n").unwrap();
    let inventory = read(root.path());
    let names: Vec<&str> = inventory.domains.iter().map(|d| d.name.as_str()).collect();
    assert_eq!(names, ["a.test", "b.test"]);
    let b = &inventory.domains[1].declared[0];
    assert_eq!(
        (b.file.as_str(), b.line, b.via.as_str()),
        ("etc/postfix/vdomains.db", 0, "virtual_mailbox_domains")
    );
    let m = &inventory.table_mismatches[0];
    assert_eq!(m.only_in_source, vec![("c.test".to_string(), 2)]);
    assert_eq!(m.only_in_compiled, vec!["b.test".to_string()]);
    assert_eq!(m.postmap, "postmap hash:/etc/postfix/vdomains");
    // The audit reports it as the run-level finding table-not-compiled, in
    // every format; without a difference there is none.
    assert_eq!(table_findings(root.path()), ["etc/postfix/vdomains:2"]);
    std::fs::write(etc.join("vdomains"), "# same keys\nb.test x\na.test y\n").unwrap();
    assert!(table_findings(root.path()).is_empty());

    // Only the compiled file: declared there, at line 0, no mismatch.
    std::fs::remove_file(etc.join("vdomains")).unwrap();
    let inventory = read(root.path());
    assert!(inventory.table_mismatches.is_empty());
    let a = &inventory.domains[0].declared[0];
    assert_eq!((a.file.as_str(), a.line), ("etc/postfix/vdomains.db", 0));
    assert_eq!(inventory.domains.len(), 2);
}
