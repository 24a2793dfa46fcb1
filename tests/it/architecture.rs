//! The pipeline's shape, checked: the library's top-level modules import
//! each other only down the pipeline (ARCHITECTURE.md), so there are no
//! cycles and a later stage never reaches back into an earlier one.
//!
//! A module's imports are the `crate::NAME` paths written anywhere in its
//! files (a `use` or a full path in code or a doc link alike): a link is a
//! dependency a reader follows too.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use crate::common::repo;

/// The pipeline's stages in order, and the helpers every stage may use. A
/// stage may import the stages before it and any helper; a helper imports
/// only helpers listed before it.
const LAYERS: &[&str] = &[
    // helpers
    "deadline",
    "civil_date",
    "timestamp",
    "safe_fs",
    "atomic",
    "parallel",
    // the pipeline
    "inventory",
    "sources",
    "crosscheck",
    "resolve",
    "rdap",
    "identity",
    "verdict",
    "rules",
    "config",
    "audit",
    "remediate",
    "report",
    "fleet",
    // the command line's settings, and the fuzz targets' entry points
    "cli",
    "settings",
    "fuzzing",
];

/// Modules left out: the unit tests' builders (compiled for tests only).
const IGNORED: &[&str] = &["test_support"];

fn module_files(src: &Path, module: &str) -> Vec<std::path::PathBuf> {
    let dir = src.join(module);
    if dir.is_dir() {
        walkdir::WalkDir::new(dir)
            .into_iter()
            .map(|e| e.expect("walk src"))
            .filter(|e| e.path().extension().is_some_and(|x| x == "rs"))
            .map(|e| e.into_path())
            .collect()
    } else {
        vec![src.join(format!("{module}.rs"))]
    }
}

/// `crate::NAME` paths in a file, NAME a top-level module.
fn imports(text: &str, modules: &BTreeSet<&str>) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    let mut rest = text;
    while let Some(at) = rest.find("crate::") {
        rest = &rest[at + "crate::".len()..];
        let name: String = rest
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        if modules.contains(name.as_str()) {
            found.insert(name);
        }
    }
    found
}

/// The top-level modules that lib.rs declares.
fn declared_modules(lib: &str) -> Vec<String> {
    lib.lines()
        .filter_map(|line| {
            let line = line.trim();
            let rest = line
                .strip_prefix("pub mod ")
                .or_else(|| line.strip_prefix("pub(crate) mod "))
                .or_else(|| line.strip_prefix("mod "))?;
            Some(rest.trim_end_matches(';').to_string())
        })
        .collect()
}

#[test]
fn modules_import_only_down_the_pipeline() {
    let src = repo("src");
    let lib = std::fs::read_to_string(src.join("lib.rs")).expect("read src/lib.rs");
    let declared = declared_modules(&lib);
    let rank: BTreeMap<&str, usize> = LAYERS.iter().enumerate().map(|(i, m)| (*m, i)).collect();
    for module in &declared {
        assert!(
            rank.contains_key(module.as_str()) || IGNORED.contains(&module.as_str()),
            "src/lib.rs declares `{module}`, which has no place in LAYERS (tests/it/architecture.rs) \
             and ARCHITECTURE.md: add it where it belongs in the pipeline"
        );
    }
    let modules: BTreeSet<&str> = declared.iter().map(String::as_str).collect();
    let mut wrong = Vec::new();
    for module in declared.iter().filter(|m| rank.contains_key(m.as_str())) {
        for file in module_files(&src, module) {
            let text = std::fs::read_to_string(&file).expect("read a module file");
            for import in imports(&text, &modules) {
                if import == *module || IGNORED.contains(&import.as_str()) {
                    continue;
                }
                if rank[import.as_str()] > rank[module.as_str()] {
                    wrong.push(format!(
                        "{}: `{module}` imports `{import}`, a later stage",
                        file.strip_prefix(repo("")).unwrap_or(&file).display()
                    ));
                }
            }
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn the_import_scan_sees_paths_and_links() {
    let modules: BTreeSet<&str> = ["audit", "verdict"].into_iter().collect();
    let text =
        "use crate::verdict::{Verdict};\n/// see [`crate::audit::Audit`]\nlet x = crate::verdicts;";
    let found = imports(text, &modules);
    assert_eq!(
        found,
        ["audit", "verdict"].map(String::from).into_iter().collect()
    );
}
