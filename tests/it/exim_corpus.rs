//! The Exim reader on published configurations (../shared/corpus/exim:
//! Exim's own test-suite configurations, HestiaCP's, DirectAdmin's,
//! exim4u's, upstream's default and Debian's list macros), installed in a
//! scratch directory: every domain list they define is asked of the real
//! Exim (`exim4 -C FILE -be` with `match_domain`, one process per
//! configuration) for every name mxdrift sees in it and a few more, and
//! mxdrift's answer must be Exim's wherever mxdrift decides.
//!
//! Absolute paths of a configuration are moved under the scratch
//! directory, and the list and lookup files it names are created there
//! with sample names. The test suite's `DIR`, `TESTNUM` and `CALLER`
//! (which its runner passes with `-D`) are defined at the top. A
//! configuration keeps only its main section (the drivers and ACLs after
//! it need modules exim4-daemon-light lacks); main-section lines this Exim
//! refuses (`perl_startup`, `acl_smtp_mime`, `openssl_options` under
//! GnuTLS) are commented out with a visible message, in the copy both
//! read. Every source must run.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use crate::common::exim_oracle::Exim;
use crate::common::{require, skipped};
use mxdrift::sources::ConfigRoot;
use mxdrift::sources::exim::{self, Decision};

const CORPUS_IN_CI: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/corpus/exim");

/// The corpus: `$MXDRIFT_EXIM_CORPUS` (a worktree without `../shared`),
/// else where CI has it.
fn corpus() -> PathBuf {
    std::env::var_os("MXDRIFT_EXIM_CORPUS")
        .map_or_else(|| PathBuf::from(CORPUS_IN_CI), PathBuf::from)
}
const HOST: &str = "myhost.test.ex";
const SAMPLE: &[&str] = &["corpus-a.test", "corpus-b.test", "test.ex", "myhost.ex"];

/// The corpus's configuration files: (source, file, test number).
fn cases() -> Vec<(String, PathBuf, Option<String>)> {
    let mut out = Vec::new();
    let suite = corpus().join("exim-testsuite/confs");
    let mut confs: Vec<PathBuf> = std::fs::read_dir(&suite)
        .map(|d| d.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    confs.sort();
    for conf in confs {
        let number = conf.file_name().unwrap().to_string_lossy().to_string();
        out.push(("exim-testsuite".to_string(), conf, Some(number)));
    }
    for (source, file) in [
        ("hestiacp", "hestiacp/exim4.conf.template"),
        ("directadmin-portsbuild", "directadmin-portsbuild/exim.conf"),
        ("exim4u", "exim4u/exim.conf"),
        ("exim-upstream", "exim-upstream/configure.default"),
        (
            "debian-exim4",
            "debian-exim4/01_exim4-config_listmacrosdefs",
        ),
    ] {
        out.push((source.to_string(), corpus().join(file), None));
    }
    out
}

/// Absolute server paths moved under `dir` (not the scratch's own).
fn relocate(text: &str, dir: &Path) -> String {
    let mut out: Vec<u8> = Vec::with_capacity(text.len());
    let bytes = text.as_bytes();
    for (at, &c) in bytes.iter().enumerate() {
        let starts_path = c == b'/'
            && (at == 0
                || matches!(
                    bytes[at - 1],
                    b' ' | b'\t' | b';' | b'=' | b':' | b'\n' | b'{' | b'"'
                ))
            && bytes.get(at + 1).is_some_and(u8::is_ascii_alphabetic);
        if starts_path && !text[at..].starts_with("/dev/") {
            out.extend_from_slice(dir.display().to_string().as_bytes());
        }
        out.push(c);
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Create the files the lists name (`lsearch;PATH`, `dsearch;PATH`, a bare
/// file item) under the scratch directory, when missing, with sample names.
fn create_named_files(text: &str, dir: &Path) {
    let prefix = dir.display().to_string();
    let link = dir.join(dir.strip_prefix("/").unwrap());
    // Included files of the real server: empty.
    for line in text.lines() {
        let line = line.trim();
        let Some(path) = line
            .strip_prefix(".include_if_exists")
            .or_else(|| line.strip_prefix(".include"))
            .map(str::trim)
        else {
            continue;
        };
        let path = Path::new(path);
        if path.starts_with(&prefix) && !path.exists() && !link.starts_with(path) {
            let _ = std::fs::create_dir_all(path.parent().unwrap());
            let _ = std::fs::write(path, "");
        }
    }
    for token in text.split(|c: char| c.is_whitespace() || c == ':' || c == '"') {
        let (kind, path) = match token.split_once(';') {
            Some((kind, path)) => (kind.trim_start_matches('!'), path),
            None => ("", token.trim_start_matches('!')),
        };
        if !path.starts_with(&prefix) || path.contains('$') || path.contains('{') {
            continue;
        }
        let path = Path::new(path);
        if path.exists() || link.starts_with(path) || path.starts_with(&link) {
            continue;
        }
        if let Some(parent) = path.parent() {
            let _ = std::fs::create_dir_all(parent);
        }
        if kind.ends_with("dsearch") {
            let _ = std::fs::create_dir_all(path);
            for name in ["corpus-a.test", "corpus-b.test"] {
                let _ = std::fs::write(path.join(name), "");
            }
        } else if kind.is_empty() || kind.ends_with("lsearch") {
            let _ = std::fs::write(path, "corpus-a.test\ncorpus-b.test: x\n");
        }
    }
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap().flatten() {
        let target = to.join(entry.file_name());
        if entry.path().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

/// Comment out, one by one, the lines this Exim refuses in a sandbox (an
/// option or driver exim4-daemon-light is built without, a file of the
/// real server): what it said about each.
fn sandbox(exim_bin: &Exim, config_file: &Path) -> Vec<String> {
    let probe = ["${if eq{1}{1}{yes}{no}}".to_string()];
    let mut removed = Vec::new();
    for _ in 0..30 {
        let Err((_, why)) = exim_bin.try_evaluate(config_file, &probe) else {
            break;
        };
        let Some(rest) = why.split("error in line ").nth(1) else {
            // `X is set but ...`: comment out the lines that set X.
            let Some(option) = why
                .split(" is set")
                .next()
                .and_then(|head| head.split_whitespace().last())
                .filter(|_| why.contains(" is set"))
            else {
                break;
            };
            let text = std::fs::read_to_string(config_file).unwrap();
            let edited: String = text
                .lines()
                .map(|l| {
                    if l.trim_start().starts_with(option) {
                        format!("# {l}\n")
                    } else {
                        format!("{l}\n")
                    }
                })
                .collect();
            if edited == text {
                break;
            }
            removed.push(format!("{option} ({})", why.trim().replace('\n', " ")));
            std::fs::write(config_file, edited).unwrap();
            continue;
        };
        let Some(line) = rest
            .split(|c: char| !c.is_ascii_digit())
            .next()
            .and_then(|n| n.parse::<usize>().ok())
        else {
            break;
        };
        // The file the error names (an included one, perhaps).
        let file = rest
            .split_once(" of ")
            .and_then(|(_, f)| f.split(':').next())
            .map(PathBuf::from)
            .filter(|f| f.starts_with(config_file.parent().unwrap()))
            .unwrap_or_else(|| config_file.to_path_buf());
        let text = std::fs::read_to_string(&file).unwrap();
        let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
        let Some(target) = lines.get_mut(line - 1) else {
            break;
        };
        let reason = why.split(':').skip(3).collect::<Vec<_>>().join(":");
        removed.push(format!(
            "line {line} ({})",
            reason.trim().replace('\n', " ")
        ));
        *target = format!("# {target}");
        std::fs::write(&file, lines.join("\n") + "\n").unwrap();
    }
    removed
}

/// Under the scratch root, the absolute scratch path leads back to it.
fn root_for(dir: &Path) -> ConfigRoot {
    let link = dir.join(dir.strip_prefix("/").unwrap());
    std::fs::create_dir_all(link.parent().unwrap()).unwrap();
    match std::fs::symlink_metadata(&link) {
        Ok(meta) if meta.file_type().is_symlink() => {}
        Ok(_) => panic!("{} is in the way of the root's link", link.display()),
        Err(_) => std::os::unix::fs::symlink("/", &link).unwrap(),
    }
    ConfigRoot::new(dir)
}

#[test]
fn corpus_configs_agree_with_exim() {
    let found = corpus().is_dir().then_some(());
    if require(
        found,
        &format!("the corpus {} is absent", corpus().display()),
    )
    .is_none()
    {
        return;
    }
    let Some(exim_bin) = Exim::find() else {
        return;
    };
    let mut ran: BTreeSet<String> = BTreeSet::new();
    let mut refused: BTreeSet<String> = BTreeSet::new();
    let mut compared = 0;
    let mut undecided = 0;
    for (source, file, number) in cases() {
        let scratch = tempfile::tempdir().unwrap();
        let dir = scratch.path().canonicalize().unwrap();
        let original = std::fs::read_to_string(&file).unwrap();
        let mut text = String::new();
        if let Some(number) = &number {
            let suite = corpus().join("exim-testsuite");
            copy_dir(&suite.join("aux-fixed"), &dir.join("aux-fixed"));
            copy_dir(&suite.join("aux-var-src"), &dir.join("aux-var"));
            std::fs::create_dir_all(dir.join("spool/log")).unwrap();
            std::fs::create_dir_all(dir.join("test-mail")).unwrap();
            text.push_str(&format!(
                // Longer names first: Exim refuses a macro whose name
                // holds an earlier one.
                "DIR = {}\nTESTNUM = {number}\nCALLER_UID = 0\nCALLER_GID = 0\nCALLER_NAME = root\nCALLER = root\nV4NET = 224\n",
                dir.display()
            ));
            text.push_str(&original);
        } else {
            text.push_str(&format!("primary_hostname = {HOST}\n"));
            // Domain lists live in the main section; the drivers and ACLs
            // after it need modules exim4-daemon-light lacks.
            let main_section: String = original
                .lines()
                .take_while(|l| !l.trim_start().starts_with("begin "))
                .map(|l| format!("{l}\n"))
                .collect();
            let relocated = relocate(&main_section, &dir);
            create_named_files(&relocated, &dir);
            text.push_str(&relocated);
        }
        let root = root_for(&dir);
        let config_file = if number.is_some() {
            // The test suite sets its own spool and log (under DIR).
            let file = dir.join("exim.conf");
            std::fs::write(&file, &text).unwrap();
            file
        } else {
            exim_bin.write_config(&dir, &text)
        };
        create_named_files(&std::fs::read_to_string(&config_file).unwrap(), &dir);
        let shown = format!("{source}/{}", file.file_name().unwrap().to_string_lossy());
        let removed = sandbox(&exim_bin, &config_file);
        if !removed.is_empty() {
            skipped(&format!(
                "{shown}: lines Exim cannot read in a sandbox commented out: {}",
                removed.join("; ")
            ));
        }
        let config = match exim::read_config(&root, config_file.to_str().unwrap(), Some(HOST)) {
            Ok(config) => config,
            Err(error) => panic!("{shown}: mxdrift refused it: {error}"),
        };
        for list in config.list_names() {
            let mut candidates: BTreeSet<String> = config.candidates(&list).into_iter().collect();
            candidates.extend(SAMPLE.iter().map(|s| s.to_string()));
            candidates.insert(HOST.to_string());
            let candidates: Vec<String> = candidates
                .into_iter()
                .filter(|d| {
                    d.bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-')
                })
                .collect();
            let mut start = 0;
            let mut refused_here = false;
            while start < candidates.len() {
                let rest = &candidates[start..];
                let expressions: Vec<String> = rest
                    .iter()
                    .map(|d| format!("${{if match_domain{{{d}}}{{+{list}}}{{yes}}{{no}}}}"))
                    .collect();
                let (answers, failure) = match exim_bin.try_evaluate(&config_file, &expressions) {
                    Ok(answers) => (answers, None),
                    Err((answers, why)) => (answers, Some(why.replace('\n', " "))),
                };
                if let Some(why) = &failure
                    && why.contains("configuration error")
                {
                    skipped(&format!("{shown}: Exim refuses it in a sandbox: {why}"));
                    refused.insert(shown.clone());
                    refused_here = true;
                    break;
                }
                for (domain, answer) in rest.iter().zip(&answers) {
                    let mine = config.decide(&list, domain);
                    match (mine, answer.as_str()) {
                        (Decision::Unknown, _) => undecided += 1,
                        (Decision::Yes(_), "yes") | (Decision::No, "no") => compared += 1,
                        (mine, answer) => {
                            let kept = scratch.keep();
                            panic!(
                                "{shown}: list {list}, {domain}: mxdrift {mine:?}, exim {answer:?}; kept {}",
                                kept.display()
                            );
                        }
                    }
                }
                start += answers.len();
                if let Some(why) = failure {
                    // Exim failed on this name (a lookup it cannot do):
                    // mxdrift must not claim an answer either.
                    let domain = &candidates[start];
                    let mine = config.decide(&list, domain);
                    assert_eq!(
                        mine,
                        Decision::Unknown,
                        "{shown}: list {list}, {domain}: exim failed ({why}) but mxdrift says {mine:?}"
                    );
                    undecided += 1;
                    start += 1;
                }
            }
            if refused_here {
                break;
            }
            ran.insert(source.clone());
        }
    }
    eprintln!(
        "exim_corpus: {compared} answers agree, {undecided} undecidable by mxdrift, sources run: {ran:?}, configurations Exim refused in a sandbox: {refused:?}"
    );
    assert!(compared > 50, "too few comparisons: {compared}");
    for source in [
        "exim-testsuite",
        "hestiacp",
        "directadmin-portsbuild",
        "exim4u",
        "exim-upstream",
        "debian-exim4",
    ] {
        assert!(ran.contains(source), "no configuration of {source} ran");
    }
}
