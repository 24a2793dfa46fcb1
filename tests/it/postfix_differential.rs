//! Differential test: random but valid Postfix configurations, read by
//! mxdrift and by real Postfix (`postconf -x` for the expanded class lists,
//! `postmap -s` for table keys). The oracle side splits and matches lists
//! itself, following Postfix's documented rules, without mxdrift's parser.
//!
//! Reproduce a failure with `MXDRIFT_DIFF_SEED=<seed> cargo test
//! postfix_differential`; the failing configuration directory is kept and
//! printed.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::common::postfix_oracle::{Oracle, Tools, compile_table, split};
use crate::common::rng::{Rng, seed};
use mxdrift::inventory::Delivery;
use mxdrift::sources::ConfigRoot;
use mxdrift::sources::postfix::{self, PostfixOptions};

const CONFIGS: usize = 220;
const DEFAULT_SEED: u64 = 0x6d78_6472_6966_7431;
const CLASSES: [&str; 4] = [
    "mydestination",
    "virtual_alias_domains",
    "virtual_mailbox_domains",
    "relay_domains",
];

/// One generated configuration under a temporary root.
struct Gen<'a> {
    rng: &'a mut Rng,
    /// Absolute path of the root (files are referenced by absolute paths
    /// that resolve both on the real file system and under the root).
    base: PathBuf,
    files: usize,
    /// Tables to compile with postmap: (type, path).
    compile: Vec<(String, PathBuf)>,
    /// Domain names of this config (collisions make negation and
    /// duplicates interesting).
    pool: Vec<String>,
    user_params: Vec<String>,
    /// `$$` only in the class parameters themselves: Postfix daemons
    /// (postmap -c) re-expand a user parameter's `$$` result and die on it.
    allow_double_dollar: bool,
}

impl Gen<'_> {
    fn name(&mut self) -> String {
        let base = self.rng.pick(&self.pool).clone();
        // Upper case on ASCII letters only (see the report: UTF-8 case
        // folding depends on smtputf8_enable).
        if self.rng.chance(25) {
            base.chars()
                .map(|c| {
                    if c.is_ascii() && self.rng.chance(50) {
                        c.to_ascii_uppercase()
                    } else {
                        c
                    }
                })
                .collect()
        } else {
            base
        }
    }

    fn path(&mut self, stem: &str) -> PathBuf {
        self.files += 1;
        self.base
            .join("etc/postfix")
            .join(format!("{stem}{}", self.files))
    }

    /// Text in postmap source syntax with domain keys (and address keys).
    fn table_source(&mut self) -> String {
        let mut text = String::from("# generated table\n");
        for _ in 0..1 + self.rng.below(4) {
            let key = if self.rng.chance(15) {
                format!("user@{}", self.name())
            } else {
                self.name()
            };
            let sep = *self.rng.pick(&[" ", "\t", "   "]);
            text.push_str(&format!("{key}{sep}ok"));
            if self.rng.chance(20) {
                text.push_str("\n# comment inside\n  continued");
            }
            text.push('\n');
            if self.rng.chance(20) {
                text.push('\n');
            }
        }
        text
    }

    fn table(&mut self) -> String {
        match self.rng.below(4) {
            0 | 1 => {
                let ty = if self.rng.chance(50) { "hash" } else { "lmdb" };
                let path = self.path("tbl");
                let src = self.table_source();
                std::fs::write(&path, src).unwrap();
                self.compile.push((ty.to_string(), path.clone()));
                format!("{ty}:{}", path.display())
            }
            2 => {
                let path = self.path("txt");
                let src = self.table_source();
                std::fs::write(&path, src).unwrap();
                format!("texthash:{}", path.display())
            }
            _ => {
                let n = 1 + self.rng.below(3);
                let entries: Vec<String> = (0..n).map(|_| format!("{}=ok", self.name())).collect();
                format!("inline:{{{}}}", entries.join(", "))
            }
        }
    }

    /// A `/file` list, possibly nesting another one.
    fn file_list(&mut self, depth: usize) -> String {
        let path = self.path("list");
        let mut text = String::new();
        for _ in 0..1 + self.rng.below(4) {
            match self.rng.below(10) {
                0 => text.push_str("# comment line\n"),
                1 if depth < 2 => {
                    let nested = self.file_list(depth + 1);
                    text.push_str(&format!("{nested}\n"));
                }
                2 => text.push_str(&format!("!{}, {}\n", self.name(), self.name())),
                _ => {
                    let a = self.name();
                    let b = self.name();
                    let sep = *self.rng.pick(&[", ", " ", ",", "\t"]);
                    text.push_str(&format!("{a}{sep}{b}\n"));
                }
            }
        }
        std::fs::write(&path, text).unwrap();
        path.display().to_string()
    }

    fn item(&mut self, depth: usize, allow_params: &[String]) -> String {
        let choice = self.rng.below(20);
        match choice {
            0..=6 => self.name(),
            7 => format!("!{}", self.name()),
            8 => self.file_list(0),
            9 => format!("!{}", self.file_list(1)),
            10 | 11 => self.table(),
            12 => format!("!{}", self.table()),
            13..=16 if !allow_params.is_empty() => {
                let p = self.rng.pick(allow_params).clone();
                match self.rng.below(4) {
                    0 => format!("${p}"),
                    1 => format!("${{{p}}}"),
                    2 => format!("$({p})"),
                    _ => format!("${{{p}}}"),
                }
            }
            17 => {
                let p = if allow_params.is_empty() || self.rng.chance(30) {
                    "undefined_param".to_string()
                } else {
                    self.rng.pick(allow_params).clone()
                };
                let a = self.name();
                let b = self.name();
                match self.rng.below(4) {
                    0 => format!("${{{p}?{a}}}"),
                    1 => format!("${{{p}:{a}}}"),
                    2 => format!("${{{p}?{{{a}}}:{{{b}}}}}"),
                    _ => format!("${{{p} ? {{{a}}} : {{{b}}}}}"),
                }
            }
            18 => {
                // `$$` and a `#` in the middle of a value (both part of the
                // value in Postfix 3.7).
                if self.allow_double_dollar && self.rng.chance(50) {
                    format!("x$${}", self.name())
                } else {
                    format!("# {}", self.name())
                }
            }
            _ if depth == 0 && self.rng.chance(50) => "$myhostname".to_string(),
            _ => self.name(),
        }
    }

    /// A value with random separators, continuation lines, and comment and
    /// blank lines inside it.
    fn value(&mut self, allow_params: &[String]) -> String {
        let n = self.rng.below(5);
        let mut out = String::new();
        for i in 0..n {
            if i > 0 {
                out.push_str(match self.rng.below(8) {
                    0 => ",\n  ",
                    1 => "\n\t",
                    2 => ",\n# a comment inside the value\n    ",
                    3 => "\n\n   \n  ",
                    4 => ", ",
                    5 => ",",
                    6 => " ,, ",
                    _ => " ",
                });
            }
            let item = self.item(0, allow_params);
            out.push_str(&item);
        }
        if self.rng.chance(10) {
            out.push_str("  \t");
        }
        out
    }
}

fn generate(
    rng: &mut Rng,
    base: &Path,
    hostname_default: &str,
) -> (String, Vec<(String, PathBuf)>, bool) {
    let pool_size = 4 + rng.below(6);
    // No `ß` or upper-case non-ASCII: how Postfix folds those depends on
    // smtputf8_enable (see tables::fold_case).
    let idn = ["bücher", "münchen", "пример", "café"];
    let mut pool = Vec::new();
    for i in 0..pool_size {
        let name = match rng.below(6) {
            0 => format!("{}{i}.test", idn[rng.below(idn.len())]),
            1 => format!("sub{i}.d{}.example", rng.below(3)),
            _ => format!("d{i}.test"),
        };
        pool.push(name);
    }
    let mut g = Gen {
        rng,
        base: base.to_path_buf(),
        files: 0,
        compile: Vec::new(),
        pool,
        user_params: Vec::new(),
        allow_double_dollar: false,
    };
    let mut defs: Vec<(String, String)> = Vec::new();
    // User parameters p0..pn; p_i only refers to p_j with j > i (no loops).
    let nparams = g.rng.below(4);
    let names: Vec<String> = (0..nparams).map(|i| format!("p{i}")).collect();
    for i in (0..nparams).rev() {
        let later: Vec<String> = names[i + 1..].to_vec();
        let v = g.value(&later);
        defs.push((names[i].clone(), v));
    }
    g.user_params = names.clone();
    g.allow_double_dollar = true;
    let hostname_set = g.rng.chance(80);
    if hostname_set {
        // Postfix validates myhostname and mydomain as ASCII host names.
        let ascii: Vec<String> = g.pool.iter().filter(|n| n.is_ascii()).cloned().collect();
        let h = if ascii.is_empty() {
            "mail.host.test".to_string()
        } else {
            g.rng.pick(&ascii).clone()
        };
        defs.push(("myhostname".into(), h));
        if g.rng.chance(40) {
            let d = if ascii.is_empty() {
                "host.test".to_string()
            } else {
                g.rng.pick(&ascii).clone()
            };
            defs.push(("mydomain".into(), d));
        }
    }
    if g.rng.chance(40) {
        let lvl = *g.rng.pick(&["0", "1", "2", "3.6"]);
        defs.push(("compatibility_level".into(), lvl.into()));
    }
    for class in CLASSES {
        if g.rng.chance(70) {
            let v = g.value(&names);
            defs.push((class.into(), v));
        }
    }
    for maps in ["virtual_alias_maps", "virtual_mailbox_maps"] {
        if g.rng.chance(30) {
            let t = g.table();
            let lead = if g.rng.chance(30) { ", " } else { "" };
            defs.push((maps.into(), format!("{lead}{t}")));
        }
    }
    if g.rng.chance(15) {
        // Parameter names are case-sensitive: this is another parameter.
        let v = g.name();
        defs.push(("MyDestination".into(), v));
    }
    // Shuffle definition order, then add earlier definitions that a later
    // one overrides.
    for i in (1..defs.len()).rev() {
        let j = g.rng.below(i + 1);
        defs.swap(i, j);
    }
    let mut text = String::from("# generated by the mxdrift differential test\n");
    for (name, value) in &defs {
        let plain = !matches!(
            name.as_str(),
            "myhostname" | "mydomain" | "compatibility_level"
        );
        if plain && g.rng.chance(10) {
            text.push_str(&format!("{name} = overridden.test\n\n"));
        }
        let eq = *g.rng.pick(&[" = ", "=", " =\t", "\t= "]);
        text.push_str(&format!("{name}{eq}{value}\n"));
        if g.rng.chance(20) {
            text.push_str("# between parameters\n\n");
        }
    }
    let _ = hostname_default;
    (text, g.compile, hostname_set)
}

fn postconf(tools: &Tools, dir: &Path, params: &[&str]) -> Option<Vec<String>> {
    let out = Command::new(&tools.postconf)
        .arg("-c")
        .arg(dir)
        .arg("-x")
        .arg("-h")
        .args(params)
        .output()
        .unwrap();
    if !out.status.success() {
        return None;
    }
    Some(
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(str::to_string)
            .collect(),
    )
}

#[test]
fn postfix_reader_agrees_with_postconf_and_postmap() {
    let Some(tools) = Tools::find() else {
        return;
    };
    let seed = seed("MXDRIFT_DIFF_SEED", DEFAULT_SEED);
    let hostname_default = {
        // An empty configuration directory: `postconf -d` must not depend on
        // this machine's /etc/postfix.
        let neutral = tempfile::tempdir().unwrap();
        std::fs::write(neutral.path().join("main.cf"), "").unwrap();
        let out = Command::new(&tools.postconf)
            .arg("-c")
            .arg(neutral.path())
            .args(["-d", "-h", "myhostname"])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    };
    let mut rng = Rng(seed | 1);
    let mut compared = 0;
    let mut domains_seen = 0;
    let mut spans_checked = 0;
    let mut failures = Vec::new();
    for case in 0..CONFIGS {
        let tmp = tempfile::tempdir().unwrap();
        let base = tmp.path().canonicalize().unwrap();
        // Make absolute paths (as Postfix reads them) also resolve under
        // the root (as mxdrift reads them): <root>/<root> -> <root>. The
        // link is relative: mxdrift resolves an absolute target inside the
        // root, like a chroot, where it would point at itself.
        let inside = base.strip_prefix("/").unwrap();
        let mirror = base.join(inside);
        std::fs::create_dir_all(mirror.parent().unwrap()).unwrap();
        let up = vec![".."; inside.components().count() - 1].join("/");
        std::os::unix::fs::symlink(&up, &mirror).unwrap();
        let etc = base.join("etc/postfix");
        std::fs::create_dir_all(&etc).unwrap();
        std::fs::write(etc.join("master.cf"), "").unwrap();
        let (main_cf, compile, hostname_set) = generate(&mut rng, &base, &hostname_default);
        std::fs::write(etc.join("main.cf"), &main_cf).unwrap();
        // Postfix waits until a just-written main.cf is over a second old
        // (dict_load_file guards against half-written files): backdate every
        // generated file before postmap compiles the tables.
        let past = std::time::SystemTime::now() - std::time::Duration::from_secs(30);
        for entry in std::fs::read_dir(&etc).unwrap() {
            let path = entry.unwrap().path();
            std::fs::File::options()
                .write(true)
                .open(&path)
                .unwrap()
                .set_modified(past)
                .unwrap();
        }
        for (ty, path) in &compile {
            compile_table(&tools.postmap, &etc, &format!("{ty}:{}", path.display()));
        }
        let mut params: Vec<&str> = CLASSES.to_vec();
        params.push("parent_domain_matches_subdomains");
        let Some(values) = postconf(&tools, &etc, &params) else {
            panic!(
                "case {case}: postconf rejected a generated config in {}",
                base.display()
            );
        };
        let pdms = values.get(4).cloned().unwrap_or_default();
        let mut oracle = Oracle::new(&tools, &etc, None);
        let mut sets = Vec::new();
        for (i, class) in CLASSES.iter().enumerate() {
            let parent = split(&pdms).iter().any(|p| p == class);
            sets.push(oracle.members(values.get(i).map(String::as_str).unwrap_or(""), parent));
        }
        let expected_local: BTreeSet<String> = sets[0]
            .iter()
            .chain(&sets[1])
            .chain(&sets[2])
            .cloned()
            .collect();
        let expected_relay: BTreeSet<String> =
            sets[3].difference(&expected_local).cloned().collect();

        let opts = PostfixOptions {
            hostname: (!hostname_set).then(|| hostname_default.clone()),
            ..PostfixOptions::default()
        };
        let inv = postfix::read(&ConfigRoot::new(&base), &opts)
            .unwrap_or_else(|e| panic!("case {case}: mxdrift failed on {}: {e}", base.display()));
        let got_local: BTreeSet<String> = inv
            .domains
            .iter()
            .filter(|d| d.delivery == Delivery::Local)
            .map(|d| d.name.to_string())
            .collect();
        let got_relay: BTreeSet<String> = inv
            .domains
            .iter()
            .filter(|d| d.delivery == Delivery::Relay)
            .map(|d| d.name.to_string())
            .collect();
        compared += 1;
        domains_seen += expected_local.len() + expected_relay.len();
        spans_checked += check_spans(&base, &inv, case);
        if got_local != expected_local || got_relay != expected_relay {
            let kept = tmp.keep();
            failures.push(format!(
                "case {case} (seed {seed}), config kept in {}:\n  postconf: {values:?}\n  local expected {expected_local:?}\n        got      {got_local:?}\n  relay expected {expected_relay:?}\n        got      {got_relay:?}\n--- main.cf ---\n{main_cf}",
                kept.display()
            ));
            if failures.len() >= 3 {
                break;
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} mismatches:\n{}",
        failures.len(),
        failures.join("\n\n")
    );
    assert_eq!(compared, CONFIGS);
    // The generator must produce real lists, not mostly empty ones.
    assert!(
        domains_seen > CONFIGS * 2,
        "only {domains_seen} domains in {CONFIGS} configs"
    );
    // Most names are written literally somewhere: their spans were checked.
    assert!(
        spans_checked > CONFIGS,
        "only {spans_checked} spans checked in {CONFIGS} configs"
    );
    eprintln!("compared {compared} configs, {domains_seen} domains, {spans_checked} spans");
}

/// Every recorded span holds its domain's name, on the declared line: the
/// bytes a fix would remove are the name that was read. Returns how many
/// spans were checked.
fn check_spans(base: &Path, inv: &mxdrift::inventory::Inventory, case: usize) -> usize {
    let mut checked = 0;
    for known in &inv.domains {
        for place in &known.declared {
            let Some(span) = place.span else { continue };
            let bytes = std::fs::read(base.join(&place.file))
                .unwrap_or_else(|e| panic!("case {case}: {}: {e}", place.file));
            let written = bytes
                .get(span.start..span.end)
                .and_then(|b| std::str::from_utf8(b).ok())
                .unwrap_or_else(|| panic!("case {case}: {place:?} lies outside the file"));
            let line = 1 + bytes[..span.start].iter().filter(|&&b| b == b'\n').count();
            assert_eq!(
                (
                    mxdrift::inventory::DomainName::parse(written).ok().as_ref(),
                    line
                ),
                (Some(&known.name), place.line as usize),
                "case {case}: {} at {place:?} holds `{written}`",
                known.name
            );
            checked += 1;
        }
    }
    checked
}
