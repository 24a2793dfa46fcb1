//! The oracle shared by the Postfix differential and corpus tests: splits
//! and matches the class lists that `postconf -x` prints, following
//! Postfix's rules, and lists table keys with `postmap -s`. It uses none of
//! mxdrift's parser (only `DomainName` to normalise names).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use mxdrift::inventory::DomainName;

use super::require_tool;

pub struct Tools {
    pub postconf: PathBuf,
    pub postmap: PathBuf,
}

impl Tools {
    /// `postconf` and `postmap`, or `None` after a visible skip for each
    /// one missing (a failure under CI=true).
    pub fn find() -> Option<Tools> {
        let (postconf, postmap) = (require_tool("postconf"), require_tool("postmap"));
        Some(Tools {
            postconf: postconf?,
            postmap: postmap?,
        })
    }
}

/// Postfix's mystrtokq(" ,\t\r\n", "{}").
pub fn split(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut level = 0usize;
    for c in text.chars() {
        if c == '{' {
            level += 1;
        } else if c == '}' && level > 0 {
            level -= 1;
        } else if level == 0 && " ,\t\r\n".contains(c) {
            if !cur.is_empty() {
                out.push(std::mem::take(&mut cur));
            }
            continue;
        }
        cur.push(c);
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

enum OracleItem {
    Name(String),
    Keys(BTreeSet<String>),
}

pub struct Oracle<'a> {
    tools: &'a Tools,
    config_dir: PathBuf,
    /// When set, absolute paths in the configuration are read below this
    /// directory instead of the real file system.
    root: Option<PathBuf>,
    cache: BTreeMap<String, BTreeSet<String>>,
}

impl<'a> Oracle<'a> {
    pub fn new(tools: &'a Tools, config_dir: &Path, root: Option<&Path>) -> Self {
        Oracle {
            tools,
            config_dir: config_dir.to_path_buf(),
            root: root.map(Path::to_path_buf),
            cache: BTreeMap::new(),
        }
    }

    fn real(&self, path: &str) -> PathBuf {
        match &self.root {
            Some(root) => root.join(path.trim_start_matches('/')),
            None => PathBuf::from(path),
        }
    }

    /// `type:/path` with the path mapped below the root.
    fn real_table(&self, table: &str) -> String {
        match table.split_once(':') {
            Some((ty, name)) if name.starts_with('/') => {
                format!("{ty}:{}", self.real(name).display())
            }
            _ => table.to_string(),
        }
    }

    fn keys(&mut self, table: &str) -> BTreeSet<String> {
        if let Some(k) = self.cache.get(table) {
            return k.clone();
        }
        let out = Command::new(&self.tools.postmap)
            .arg("-c")
            .arg(&self.config_dir)
            .arg("-s")
            .arg(self.real_table(table))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "postmap -s {table} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let keys: BTreeSet<String> = String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| l.split('\t').next().map(str::to_string))
            .collect();
        self.cache.insert(table.to_string(), keys.clone());
        keys
    }

    fn items(&mut self, text: &str, negated: bool, out: &mut Vec<(bool, OracleItem)>) {
        for token in split(text) {
            let mut neg = negated;
            let mut t = token.as_str();
            while let Some(rest) = t.strip_prefix('!') {
                neg = !neg;
                t = rest;
            }
            if t.starts_with('/') {
                let content = std::fs::read_to_string(self.real(t)).unwrap();
                for line in content.lines().filter(|l| !l.starts_with('#')) {
                    self.items(line, neg, out);
                }
            } else if !t.starts_with('[') && t.contains(':') {
                let keys = self.keys(t);
                out.push((neg, OracleItem::Keys(keys)));
            } else {
                out.push((neg, OracleItem::Name(t.to_ascii_lowercase())));
            }
        }
    }

    /// The set of domains a list value accepts, by first match.
    pub fn members(&mut self, value: &str, parent: bool) -> BTreeSet<String> {
        let mut items = Vec::new();
        self.items(value, false, &mut items);
        let mut candidates = Vec::new();
        for (neg, item) in &items {
            if *neg {
                continue;
            }
            match item {
                OracleItem::Name(n) => candidates.push(n.clone()),
                OracleItem::Keys(keys) => {
                    candidates.extend(keys.iter().filter(|k| !k.contains('@')).cloned())
                }
            }
        }
        let matches = |pattern: &str, name: &str| {
            name == pattern || (parent && name.ends_with(&format!(".{pattern}")))
        };
        let mut out = BTreeSet::new();
        for c in candidates {
            let decision = items.iter().find_map(|(neg, item)| {
                let hit = match item {
                    OracleItem::Name(p) => matches(p, &c),
                    OracleItem::Keys(keys) => keys.iter().any(|k| matches(k, &c)),
                };
                hit.then_some(!neg)
            });
            if decision == Some(true)
                && let Ok(d) = DomainName::parse(&c)
            {
                out.insert(d.to_string());
            }
        }
        out
    }
}

/// Compile `table` (`type:/path`) with the real `postmap`, which must
/// succeed. `-c`: a fresh Postfix install has no /etc/postfix/main.cf.
pub fn compile_table(postmap: &Path, config_dir: &Path, table: &str) {
    let out = Command::new(postmap)
        .arg("-c")
        .arg(config_dir)
        .arg(table)
        .output()
        .expect("run postmap");
    assert!(
        out.status.success(),
        "postmap {table}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}
