//! Helpers shared by the platform tests: fixture paths, reading an
//! inventory, and compact one-line renderings that make exact comparisons
//! readable.

use std::path::Path;

use mxdrift::inventory::{Inventory, Platform};
use mxdrift::sources::{ConfigRoot, PlatformChoice, SourceError, SourceOptions, read_inventory};

use super::fixture;

pub fn options(root: &Path, platform: PlatformChoice) -> SourceOptions {
    SourceOptions {
        root: ConfigRoot::new(root),
        platform,
        domains_file: None,
        // Never the test machine's name: fixtures must not depend on it.
        hostname: None,
    }
}

pub fn read(root: &Path, platform: PlatformChoice) -> Result<Inventory, SourceError> {
    read_inventory(&options(root, platform))
}

/// Read a fixture with `--platform auto` and check what was detected.
pub fn read_fixture(rel: &str, platform: Platform) -> Inventory {
    let inventory = read(&fixture(rel), PlatformChoice::Auto)
        .unwrap_or_else(|e| panic!("reading fixture {rel}: {e}"));
    assert_eq!(inventory.platform, platform, "platform of {rel}");
    inventory
}

/// `name delivery file:line(via) [+ file:line(via)...] [owner=..] [subscription]`
pub fn domain_rows(inventory: &Inventory) -> Vec<String> {
    inventory
        .domains
        .iter()
        .map(|d| {
            let declared: Vec<String> = d
                .declared
                .iter()
                .map(|p| format!("{}:{}({})", p.file, p.line, p.via))
                .collect();
            let mut row = format!(
                "{} {} {}",
                d.name,
                d.delivery.as_str(),
                declared.join(" + ")
            );
            if let Some(owner) = &d.facts().owner {
                row.push_str(&format!(" owner={owner}"));
            }
            if d.facts().subscription {
                row.push_str(" subscription");
            }
            row
        })
        .collect()
}

/// `name key=value ...` for every domain with a panel fact beyond the
/// owner: `hosted`, `alias_of=`, `addon_of=`, `hands_off=` (the evidence).
pub fn fact_rows(inventory: &Inventory) -> Vec<String> {
    inventory
        .domains
        .iter()
        .filter_map(|d| {
            let f = d.facts();
            let mut parts = Vec::new();
            if f.hosted {
                parts.push("hosted".to_string());
            }
            if let Some(main) = &f.alias_of {
                parts.push(format!("alias_of={main}"));
            }
            if let Some(addon) = &f.addon_of {
                parts.push(format!("addon_of={addon}"));
            }
            if let Some(setting) = &f.hands_off {
                parts.push(format!("hands_off=[{}]", setting.evidence()));
            }
            (!parts.is_empty()).then(|| format!("{} {}", d.name, parts.join(" ")))
        })
        .collect()
}

/// `Kind file:line` (line `-` when there is none).
pub fn warning_rows(inventory: &Inventory) -> Vec<String> {
    inventory
        .warnings
        .iter()
        .map(|w| {
            format!(
                "{:?} {}:{}",
                w.kind,
                w.file.as_deref().unwrap_or("-"),
                w.line.map_or("-".to_string(), |l| l.to_string())
            )
        })
        .collect()
}

/// One line of an `expected.txt`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expected {
    pub domain: String,
    pub delivery: String,
    pub verdict: String,
    pub rule: String,
}

pub fn expected(fixture_dir: &str) -> Vec<Expected> {
    let path = fixture(fixture_dir).join("expected.txt");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| {
            let fields: Vec<&str> = l.split_whitespace().collect();
            assert_eq!(fields.len(), 4, "{}: bad line `{l}`", path.display());
            Expected {
                domain: fields[0].to_string(),
                delivery: fields[1].to_string(),
                verdict: fields[2].to_string(),
                rule: fields[3].to_string(),
            }
        })
        .collect()
}

/// The inventory's (domain, delivery) pairs equal expected.txt's.
pub fn assert_matches_expected(inventory: &Inventory, fixture_dir: &str) {
    let from_inventory: Vec<(String, String)> = inventory
        .domains
        .iter()
        .map(|d| (d.name.to_string(), d.delivery.as_str().to_string()))
        .collect();
    let from_file: Vec<(String, String)> = expected(fixture_dir)
        .into_iter()
        .map(|e| (e.domain, e.delivery))
        .collect();
    assert_eq!(from_inventory, from_file, "{fixture_dir}/expected.txt");
}
