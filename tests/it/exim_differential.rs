//! Differential test: generated Exim configurations with every form a
//! domain list takes (literal names in any case, `!`, `*.wildcard`,
//! `^regex`, `@`, `+name`, list files, `lsearch;`, `partial-lsearch;`,
//! `dsearch;`, `<;` separators, doubled separators, `\` continuations,
//! macros, `.include`, `.ifdef`/`.else`/`.endif`), read by mxdrift's Exim
//! reader and by the real Exim. For every candidate domain, mxdrift's
//! answer must be Exim's `${if match_domain{D}{+local_domains}...}`
//! (all expressions of one configuration on one `exim4 -C FILE -be`'s
//! stdin), except where mxdrift says it cannot decide (a regex reached
//! first); the inventory's local domains must all be Exim's `yes`, and all
//! of them when the list is enumerable. `-bt` spot-checks the routing.
//!
//! Needs `scripts/fetch-exim`. Reproduce a failure with
//! `MXDRIFT_EXIM_SEED=<seed> cargo test exim_differential`; the failing
//! tree is kept and printed.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::path::Path;

use crate::common::exim_oracle::Exim;
use crate::common::rng::{Rng, seed};
use mxdrift::inventory::{Delivery, Platform};
use mxdrift::sources::exim::{self, Decision};
use mxdrift::sources::{ConfigRoot, PlatformChoice, SourceOptions, read_inventory};

const CONFIGS: usize = 220;
const DEFAULT_SEED: u64 = 0x6578_696d_6469_6666;
const HOST: &str = "host.test";

const POOL: &[&str] = &[
    "a.test",
    "b.test",
    "c.test",
    "shop.example",
    "mail.shop.example",
    "deep.mail.shop.example",
    "p.wild",
    "q.p.wild",
    "xp.wild",
    "host.test",
    "localhost",
    "z.example",
];

struct Gen<'a> {
    rng: &'a mut Rng,
    /// The configuration's directory on the real file system; under the
    /// root, the same absolute path leads back to it (see [`root_for`]).
    dir: &'a Path,
    files: usize,
    named: Vec<String>,
    macros: Vec<String>,
    uses_regex: bool,
}

impl Gen<'_> {
    fn name(&mut self) -> String {
        let base = self.rng.pick(POOL).to_string();
        if self.rng.chance(20) {
            base.chars()
                .map(|c| {
                    if self.rng.chance(50) {
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

    fn path(&mut self, stem: &str) -> String {
        self.files += 1;
        format!("{}/{stem}{}", self.dir.display(), self.files)
    }

    fn write(&self, path: &str, text: &str) {
        std::fs::write(path, text).unwrap();
    }

    /// A list file: one item per line, comments, blanks, `!`.
    fn list_file(&mut self) -> String {
        let path = self.path("list");
        let mut text = String::from("# generated\n\n");
        for _ in 0..1 + self.rng.below(4) {
            let bang = if self.rng.chance(20) { "!" } else { "" };
            let item = if self.rng.chance(15) {
                format!("*.{}", self.rng.pick(&["wild", "example"]))
            } else {
                self.name()
            };
            let comment = if self.rng.chance(20) { "  # note" } else { "" };
            let _ = writeln!(text, "  {bang}{item}{comment}");
        }
        self.write(&path, &text);
        path
    }

    fn lsearch_file(&mut self, partial: bool) -> String {
        let path = self.path("lsearch");
        let mut text = String::from("# generated\n");
        for _ in 0..1 + self.rng.below(4) {
            let key = if partial && self.rng.chance(35) {
                format!("*.{}", self.rng.pick(&["p.wild", "shop.example", "wild"]))
            } else {
                self.name()
            };
            match self.rng.below(3) {
                0 => {
                    let _ = writeln!(text, "{key}");
                }
                1 => {
                    let _ = writeln!(text, "{key}: value");
                }
                _ => {
                    let _ = writeln!(text, "{key} value");
                }
            }
        }
        self.write(&path, &text);
        path
    }

    fn dsearch_dir(&mut self) -> String {
        let path = self.path("dir");
        std::fs::create_dir_all(&path).unwrap();
        for _ in 0..1 + self.rng.below(3) {
            let name = self.name();
            let entry = Path::new(&path).join(&name);
            if entry.exists() {
                continue;
            }
            if self.rng.chance(50) {
                let _ = std::fs::create_dir(&entry);
            } else {
                std::fs::write(&entry, "").unwrap();
            }
        }
        path
    }

    fn item(&mut self, sep: char, depth: usize) -> String {
        // A macro's value is never negated (`! MAC` of `!x` is `! !x`,
        // which Exim reads as the literal `!x`, and as a failing lookup
        // type when x is a lookup).
        let mut bang = if depth < 2 && self.rng.chance(15) {
            "! "
        } else {
            ""
        };
        let body = match self.rng.below(14) {
            0 => "@".to_string(),
            1 => format!("*.{}", self.rng.pick(&["wild", "example", "p.wild"])),
            2 => format!("*{}", self.rng.pick(&["p.wild", "example"])),
            3 if self.rng.chance(40) => {
                self.uses_regex = true;
                "^q\\.".to_string()
            }
            4 => self.list_file(),
            5 => format!("lsearch;{}", self.lsearch_file(false)),
            6 => format!("partial-lsearch;{}", self.lsearch_file(true)),
            7 => format!("dsearch;{}", self.dsearch_dir()),
            8 if !self.named.is_empty() && depth == 0 => {
                format!("+{}", self.rng.pick(&self.named).clone())
            }
            9 if !self.macros.is_empty() => self.rng.pick(&self.macros).clone(),
            _ => self.name(),
        };
        // Exim reads `! lsearch;...` as the lookup type `! lsearch` and
        // fails: no blank after a lookup's `!`.
        if body.contains(';') {
            bang = bang.trim_end();
        }
        // A separator inside an item is doubled (`<;` lists: `dsearch;;/d`).
        let body = body.replace(sep, &format!("{sep}{sep}"));
        format!("{bang}{body}")
    }

    /// A list value: `<;` or `<,` sometimes, items joined by the separator
    /// with white space around, now and then over a continuation.
    fn list(&mut self, depth: usize) -> String {
        let sep = *self.rng.pick(&[':', ':', ':', ';', ',']);
        let mut out = String::new();
        if sep != ':' {
            let _ = write!(out, "<{sep} ");
        }
        let count = 1 + self.rng.below(5);
        for i in 0..count {
            if i > 0 {
                out.push(' ');
                out.push(sep);
                if self.rng.chance(15) {
                    out.push_str(" \\\n     ");
                } else {
                    out.push(' ');
                }
            }
            let item = self.item(sep, depth);
            out.push_str(&item);
        }
        out
    }

    fn config(&mut self) -> String {
        let mut text = format!("primary_hostname = {HOST}\n");
        for m in 0..self.rng.below(3) {
            let name = format!("MAC{m}X");
            // One item: its text lands in lists of any separator.
            let value = self.item(':', 2);
            let _ = writeln!(text, "{name} = {value}");
            self.macros.push(name);
        }
        for n in 0..self.rng.below(3) {
            let name = format!("named{n}");
            let value = self.list(1);
            if self.rng.chance(30) {
                let path = self.path("include");
                self.write(&path, &format!("domainlist {name} = {value}\n"));
                let _ = writeln!(text, ".include {path}");
            } else {
                let _ = writeln!(text, "domainlist {name} = {value}");
            }
            self.named.push(name);
        }
        let value = self.list(0);
        if self.rng.chance(25) {
            let other = self.list(0);
            let test = if self.rng.chance(50) && !self.macros.is_empty() {
                self.macros[0].clone()
            } else {
                "UNDEFINED_MACRO".to_string()
            };
            let _ = writeln!(
                text,
                ".ifdef {test}\ndomainlist local_domains = {value}\n.else\n# other branch\ndomainlist local_domains = {other}\n.endif"
            );
        } else {
            let _ = writeln!(text, "domainlist local_domains = {value}");
        }
        text.push_str(ROUTERS);
        text
    }
}

const ROUTERS: &str = "begin routers\nlocal_user:\n  driver = accept\n  domains = +local_domains\n  transport = t\nbegin transports\nt:\n  driver = appendfile\n  file = /dev/null\n";

/// A root under which the configuration's absolute paths (inside `dir`)
/// resolve to the same files: `root/<dir>` is a link to `/`, which under
/// the root is the root itself, and the root is `dir`.
fn root_for(dir: &Path) -> ConfigRoot {
    let rel = dir.strip_prefix("/").unwrap();
    let link = dir.join(rel);
    std::fs::create_dir_all(link.parent().unwrap()).unwrap();
    match std::fs::symlink_metadata(&link) {
        Ok(meta) if meta.file_type().is_symlink() => {}
        Ok(_) => panic!("{} is in the way of the root's link", link.display()),
        Err(_) => std::os::unix::fs::symlink("/", &link).unwrap(),
    }
    ConfigRoot::new(dir)
}

/// Compare mxdrift and Exim on one configuration file under `dir`.
/// Returns how many candidates were compared and how many mxdrift could
/// not decide.
pub(crate) fn compare(
    exim_bin: &Exim,
    dir: &Path,
    config_file: &Path,
    candidates: &BTreeSet<String>,
    check_inventory: bool,
) -> Result<(usize, usize), String> {
    let root = root_for(dir);
    let server_path = config_file.to_str().unwrap();
    let config =
        exim::read_config(&root, server_path, Some(HOST)).map_err(|e| format!("mxdrift: {e}"))?;
    let domains: Vec<String> = candidates.iter().cloned().collect();
    let answers = exim_bin.match_domains(config_file, exim::LOCAL_DOMAINS, &domains);
    let mut compared = 0;
    let mut unknown = 0;
    let mut exim_yes = BTreeSet::new();
    for (domain, answer) in domains.iter().zip(&answers) {
        let exim_says = match answer.as_str() {
            "yes" => true,
            "no" => false,
            other => return Err(format!("exim answered {other:?} for {domain}")),
        };
        if exim_says {
            exim_yes.insert(domain.clone());
        }
        match config.decide(exim::LOCAL_DOMAINS, domain) {
            Decision::Unknown => unknown += 1,
            Decision::Yes(_) if exim_says => compared += 1,
            Decision::No if !exim_says => compared += 1,
            mine => {
                return Err(format!("{domain}: mxdrift {mine:?}, exim {answer}"));
            }
        }
    }
    if check_inventory {
        let local: BTreeSet<String> = inventory_of(&root, server_path)?;
        for domain in &local {
            if candidates.contains(domain) && !exim_yes.contains(domain) {
                return Err(format!(
                    "{domain} is local in the inventory but exim says no"
                ));
            }
        }
        if config.enumerable(exim::LOCAL_DOMAINS) {
            for domain in &exim_yes {
                if !local.contains(domain) {
                    return Err(format!(
                        "{domain}: exim says yes, the (enumerable) inventory misses it"
                    ));
                }
            }
        }
    }
    Ok((compared, unknown))
}

/// The local domains of the inventory read from `server_path`, through
/// the `exim` platform (the configuration is linked to etc/exim.conf).
fn inventory_of(root: &ConfigRoot, server_path: &str) -> Result<BTreeSet<String>, String> {
    let etc = root.dir().join("etc");
    std::fs::create_dir_all(&etc).unwrap();
    let link = etc.join("exim.conf");
    let _ = std::fs::remove_file(&link);
    std::os::unix::fs::symlink(server_path, &link).unwrap();
    let opts = SourceOptions {
        root: root.clone(),
        platform: PlatformChoice::Exactly(Platform::Exim),
        domains_file: None,
        hostname: Some(HOST.to_string()),
    };
    let inventory = read_inventory(&opts).map_err(|e| format!("inventory: {e}"))?;
    Ok(inventory
        .domains
        .iter()
        .filter(|d| d.delivery == Delivery::Local)
        .map(|d| d.name.to_string())
        .collect())
}

#[test]
fn exim_differential() {
    let Some(exim_bin) = Exim::find() else {
        return;
    };
    let base_seed = seed("MXDRIFT_EXIM_SEED", DEFAULT_SEED);
    let mut rng = Rng(base_seed);
    let mut totals = (0, 0);
    let mut routed = 0;
    for index in 0..CONFIGS {
        let scratch = tempfile::tempdir().unwrap();
        let dir = scratch.path().canonicalize().unwrap();
        let mut generator = Gen {
            rng: &mut rng,
            dir: &dir,
            files: 0,
            named: Vec::new(),
            macros: Vec::new(),
            uses_regex: false,
        };
        let config = generator.config();
        let config_file = exim_bin.write_config(&dir, &config);
        let mut candidates: BTreeSet<String> = POOL.iter().map(|s| s.to_string()).collect();
        candidates.extend(["other.test", "x.q.p.wild", "wild", "example"].map(String::from));
        match compare(&exim_bin, &dir, &config_file, &candidates, true) {
            Ok((compared, unknown)) => {
                totals.0 += compared;
                totals.1 += unknown;
            }
            Err(message) => {
                let kept = scratch.keep();
                panic!(
                    "config {index} (seed {base_seed:#x}): {message}\nkept: {}\n{config}",
                    kept.display()
                );
            }
        }
        // Routing, now and then: the router that accepts +local_domains
        // takes exactly the domains match_domain says yes to.
        if index % 20 == 0 {
            let root = root_for(&dir);
            let parsed =
                exim::read_config(&root, config_file.to_str().unwrap(), Some(HOST)).unwrap();
            for domain in ["a.test", "shop.example", "q.p.wild"] {
                let routes = exim_bin.route(&config_file, &format!("user@{domain}"));
                match parsed.decide(exim::LOCAL_DOMAINS, domain) {
                    Decision::Yes(_) => assert!(
                        routes.contains("router = local_user"),
                        "{domain} in config {index}: {routes}\n{config}"
                    ),
                    Decision::No => assert!(
                        routes.contains("Unrouteable"),
                        "{domain} in config {index}: {routes}\n{config}"
                    ),
                    Decision::Unknown => {}
                }
                routed += 1;
            }
        }
    }
    assert!(totals.0 > CONFIGS * 10, "too few comparisons: {totals:?}");
    eprintln!(
        "exim_differential: {CONFIGS} configurations, {} answers agree, {} undecidable by mxdrift (a regex first), {routed} routed with -bt",
        totals.0, totals.1
    );
}
