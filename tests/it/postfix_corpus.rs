//! The Postfix reader on real-world configurations (../shared/corpus/postfix):
//! every class list that postconf accepts and that can be enumerated must
//! list the same domains in mxdrift; templates that postconf rejects for a
//! line without '=' must be a Syntax error in mxdrift on the same line.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::common::postfix_oracle::{Oracle, Tools, compile_table, split};
use crate::common::require;
use mxdrift::inventory::DomainName;
use mxdrift::sources::postfix::{self, PostfixOptions};
use mxdrift::sources::{ConfigRoot, SourceError};

const CORPUS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/corpus/postfix");
const CLASSES: [&str; 4] = [
    "mydestination",
    "virtual_alias_domains",
    "virtual_mailbox_domains",
    "relay_domains",
];
const TEXT_TABLES: &[&str] = &["hash", "btree", "lmdb", "cdb", "texthash"];

/// Files of a corpus case that are main.cf or a template of it.
fn main_cf_candidates(case: &Path) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(case)
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
            name.starts_with("main.cf")
                || name.ends_with("main.cf")
                || name.ends_with("postfix.conf.master")
        })
        .collect();
    out.sort();
    out
}

/// Absolute paths named in a configuration (`/etc/x`, `hash:/etc/x`).
fn absolute_paths(text: &str) -> BTreeSet<String> {
    text.split(|c: char| c.is_whitespace() || c == ',' || c == '=' || c == '{' || c == '}')
        .map(|t| t.trim_start_matches('!'))
        .map(|t| t.rsplit_once(':').map_or(t, |(_, p)| p))
        .filter(|t| t.starts_with('/') && t.len() > 1)
        .map(str::to_string)
        .collect()
}

/// Whether the oracle can enumerate a class value under `root`.
fn enumerable(value: &str, root: &Path) -> Result<(), String> {
    for token in split(value) {
        let t = token.trim_start_matches('!');
        if t.starts_with('/') {
            let path = root.join(t.trim_start_matches('/'));
            let text = std::fs::read_to_string(&path)
                .map_err(|_| format!("list file {t} not available"))?;
            for line in text.lines().filter(|l| !l.starts_with('#')) {
                enumerable(line, root)?;
            }
        } else if !t.starts_with('[') && t.contains(':') {
            let (ty, name) = t.split_once(':').unwrap_or((t, ""));
            let (ty, name) = if ty == "proxy" {
                name.split_once(':').unwrap_or((name, ""))
            } else {
                (ty, name)
            };
            if ty == "inline" {
                continue;
            }
            if !TEXT_TABLES.contains(&ty) {
                return Err(format!("{t} is not enumerable"));
            }
            if !root.join(name.trim_start_matches('/')).exists() {
                return Err(format!("{t}: source not available"));
            }
        }
    }
    Ok(())
}

fn backdate(dir: &Path) {
    // Postfix waits until a freshly written file is over a second old.
    let past = std::time::SystemTime::now() - std::time::Duration::from_secs(30);
    for entry in walk(dir) {
        if let Ok(f) = std::fs::File::options().write(true).open(&entry) {
            let _ = f.set_modified(past);
        }
    }
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                out.extend(walk(&p));
            } else {
                out.push(p);
            }
        }
    }
    out
}

#[test]
fn corpus_configs_agree_with_postconf() {
    // ../shared sits beside the checkout in CI; a worktree elsewhere may
    // lack it (a visible skip there, a failure under CI=true).
    let corpus = Path::new(CORPUS).is_dir().then_some(());
    if require(corpus, &format!("the corpus {CORPUS} is absent")).is_none() {
        return;
    }
    let Some(tools) = Tools::find() else {
        return;
    };
    let mut cases: Vec<PathBuf> = std::fs::read_dir(CORPUS)
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_dir())
        .collect();
    cases.sort();
    let (mut compared_lists, mut syntax_errors, mut spans_checked) = (0, 0, 0);
    let mut failures = Vec::new();
    for case in &cases {
        let companions: Vec<PathBuf> = walk(case);
        for main in main_cf_candidates(case) {
            let label = main
                .strip_prefix(CORPUS)
                .unwrap_or(&main)
                .display()
                .to_string();
            let text = std::fs::read_to_string(&main).unwrap();
            let tmp = tempfile::tempdir().unwrap();
            let root = tmp.path();
            let etc = root.join("etc/postfix");
            std::fs::create_dir_all(&etc).unwrap();
            std::fs::write(etc.join("main.cf"), &text).unwrap();
            std::fs::write(etc.join("master.cf"), "").unwrap();
            // Put each companion file where main.cf refers to a file of the
            // same name.
            for path in absolute_paths(&text) {
                let base = Path::new(&path)
                    .file_name()
                    .and_then(|n| n.to_str())
                    .unwrap_or("");
                if let Some(c) = companions
                    .iter()
                    .find(|c| c.file_name().and_then(|n| n.to_str()) == Some(base))
                {
                    let dest = root.join(path.trim_start_matches('/'));
                    std::fs::create_dir_all(dest.parent().unwrap()).unwrap();
                    std::fs::copy(c, &dest).unwrap();
                }
            }
            backdate(root);
            let mut params: Vec<&str> = CLASSES.to_vec();
            params.extend(["myhostname", "parent_domain_matches_subdomains"]);
            let out = Command::new(&tools.postconf)
                .arg("-c")
                .arg(&etc)
                .args(["-x", "-h"])
                .args(&params)
                .output()
                .unwrap();
            let stderr = String::from_utf8_lossy(&out.stderr);
            let opts_hostname = |values: &[String]| -> Option<String> {
                let explicit = text.lines().any(|l| {
                    l.split('=')
                        .next()
                        .is_some_and(|n| n.trim() == "myhostname")
                });
                (!explicit).then(|| values.get(4).cloned().unwrap_or_default())
            };
            if !out.status.success() {
                let fatal_line = stderr
                    .lines()
                    .find(|l| l.contains("missing '='") || l.contains("missing attribute name"))
                    .and_then(|l| l.split(", line ").nth(1))
                    .and_then(|rest| rest.split(':').next())
                    .and_then(|n| n.parse::<u32>().ok());
                match fatal_line {
                    Some(line) => {
                        let err = postfix::read(&ConfigRoot::new(root), &PostfixOptions::default())
                            .unwrap_err();
                        match err {
                            SourceError::Syntax {
                                file, line: got, ..
                            } => {
                                assert_eq!(file, "etc/postfix/main.cf", "{label}");
                                assert_eq!(got, line, "{label}: postconf says line {line}");
                                syntax_errors += 1;
                            }
                            other => failures.push(format!(
                                "{label}: postconf rejects line {line}, mxdrift: {other}"
                            )),
                        }
                    }
                    None => {
                        eprintln!("NOTE: {label}: postconf refuses it for another reason: {stderr}")
                    }
                }
                continue;
            }
            let values: Vec<String> = String::from_utf8_lossy(&out.stdout)
                .lines()
                .map(str::to_string)
                .collect();
            // postmap runs with a neutral configuration: the corpus main.cf
            // may name server files (`myorigin = /etc/mailname`) that
            // postmap would open.
            let postmap_etc = root.join("postmap-etc");
            std::fs::create_dir_all(&postmap_etc).unwrap();
            std::fs::write(postmap_etc.join("main.cf"), "compatibility_level = 3.6\n").unwrap();
            std::fs::write(postmap_etc.join("master.cf"), "").unwrap();
            backdate(&postmap_etc);
            // Compile the indexed tables whose sources we placed, for postmap -s.
            for token in absolute_paths(&text) {
                for ty in ["hash", "btree", "lmdb", "cdb"] {
                    if text.contains(&format!("{ty}:{token}"))
                        && root.join(token.trim_start_matches('/')).exists()
                    {
                        let real = root.join(token.trim_start_matches('/'));
                        compile_table(
                            &tools.postmap,
                            &postmap_etc,
                            &format!("{ty}:{}", real.display()),
                        );
                    }
                }
            }
            let opts = PostfixOptions {
                hostname: opts_hostname(&values),
                ..PostfixOptions::default()
            };
            let config = postfix::read_config(&ConfigRoot::new(root), &opts)
                .unwrap_or_else(|e| panic!("{label}: postconf accepts it, mxdrift fails: {e}"));
            let pdms = values.get(5).cloned().unwrap_or_default();
            let mut oracle = Oracle::new(&tools, &postmap_etc, Some(root));
            for (i, class) in CLASSES.iter().enumerate() {
                let value = values.get(i).cloned().unwrap_or_default();
                if let Err(why) = enumerable(&value, root) {
                    eprintln!("NOTE: {label}: {class} not compared: {why}");
                    continue;
                }
                let parent = split(&pdms).iter().any(|p| p == class);
                let expected = oracle.members(&value, parent);
                let list = config.classes.iter().find(|l| l.param == *class).unwrap();
                let members = list.members().0;
                // Every recorded span holds its name: what a fix splices.
                for m in &members {
                    let Some(span) = m.location.span() else {
                        continue;
                    };
                    let bytes = std::fs::read(root.join(&m.location.file)).unwrap();
                    let written = bytes.get(span.start..span.end).map(String::from_utf8_lossy);
                    assert_eq!(
                        written.as_deref().map(DomainName::parse),
                        Some(Ok(m.name.clone())),
                        "{label}: {class}: {m:?}"
                    );
                    spans_checked += 1;
                }
                let got: BTreeSet<String> =
                    members.into_iter().map(|m| m.name.to_string()).collect();
                compared_lists += 1;
                if got != expected {
                    failures.push(format!("{label}: {class} = {value:?}\n  postconf/postmap: {expected:?}\n  mxdrift:          {got:?}"));
                }
            }
        }
    }
    eprintln!(
        "corpus: {compared_lists} class lists compared, {syntax_errors} syntax errors matched, {spans_checked} spans checked"
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert!(
        compared_lists >= 10,
        "too few lists compared: {compared_lists}"
    );
    assert!(
        syntax_errors >= 1,
        "no template with a line without '=' was checked"
    );
}
