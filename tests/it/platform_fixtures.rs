//! The fixtures' DNS side: every zone file is valid, every expected.txt is
//! consistent with the contract's rule table and with its zone, and each
//! main fixture covers every verdict.

use std::collections::BTreeSet;
use std::process::Command;

use crate::common::platform::*;
use crate::common::{fixture, require_tool};

const FIXTURES: [&str; 13] = [
    "plesk/postfix",
    "plesk/qmail",
    "cpanel/basic",
    "cpanel/partial",
    "cpanel/routing",
    "cpanel/nat",
    "directadmin/basic",
    "directadmin/partial",
    "qmail/basic",
    "list/basic",
    "exim/debian",
    "exim/debian-generated",
    "hestiacp/basic",
];

/// Fixtures that each exercise every verdict of the contract.
const COMPLETE: [&str; 6] = [
    "plesk/postfix",
    "plesk/qmail",
    "cpanel/basic",
    "directadmin/basic",
    "qmail/basic",
    "list/basic",
];

const VERDICTS: [&str; 8] = [
    "here",
    "elsewhere",
    "backup",
    "mixed",
    "null-mx",
    "nxdomain",
    "no-mail-host",
    "inconclusive",
];

/// contract.md's rule table, for the (delivery, verdict) part.
fn rule_for(delivery: &str, verdict: &str) -> Option<&'static str> {
    match (delivery, verdict) {
        (_, "no-mail-host") => Some("mx-host-unresolvable"),
        (_, "inconclusive") => Some("lookup-inconclusive"),
        ("local", "elsewhere") => Some("mail-switch-on"),
        ("local", "nxdomain") => Some("domain-not-found"),
        ("local", "null-mx") => Some("null-mx-delivered-locally"),
        ("local", "backup") => Some("backup-mx-delivers-locally"),
        ("local", "mixed") => Some("split-delivery"),
        ("not-local", "here") => Some("mx-points-here-not-local"),
        _ => None,
    }
}

/// Owner names with data in a zone file for `test.` (as FQDNs without the
/// trailing dot). Good enough for the fixtures' simple layout: one record
/// per line, continuation lines indented.
fn zone_owners(text: &str) -> BTreeSet<String> {
    text.lines()
        .filter(|l| !l.starts_with([' ', '\t', ';', '$']) && !l.trim().is_empty())
        .filter_map(|l| l.split_whitespace().next())
        .map(|owner| match owner {
            "@" => "test".to_string(),
            o if o.ends_with('.') => o.trim_end_matches('.').to_string(),
            o => format!("{o}.test"),
        })
        .collect()
}

#[test]
fn expected_tables_follow_the_rule_table() {
    for fixture_dir in FIXTURES {
        for e in expected(fixture_dir) {
            let mut rules: Vec<&str> = rule_for(&e.delivery, &e.verdict).into_iter().collect();
            // The one rule that depends on more than (delivery, verdict).
            if e.domain == "cnamemx.test" {
                rules.push("mx-target-cname");
            }
            let want = if rules.is_empty() {
                "-".to_string()
            } else {
                rules.join(",")
            };
            assert_eq!(e.rule, want, "{fixture_dir}: {}", e.domain);
            assert!(
                VERDICTS.contains(&e.verdict.as_str()),
                "{fixture_dir}: {}",
                e.domain
            );
        }
    }
}

#[test]
fn main_fixtures_cover_every_verdict() {
    for fixture_dir in COMPLETE {
        let seen: BTreeSet<String> = expected(fixture_dir)
            .into_iter()
            .map(|e| e.verdict)
            .collect();
        let all: BTreeSet<String> = VERDICTS.iter().map(|v| v.to_string()).collect();
        assert_eq!(seen, all, "{fixture_dir}");
    }
}

#[test]
fn expected_verdicts_agree_with_the_zone() {
    for fixture_dir in FIXTURES {
        let zone = std::fs::read_to_string(fixture(fixture_dir).join("zones/test.zone")).unwrap();
        let owners = zone_owners(&zone);
        for e in expected(fixture_dir) {
            if e.domain == "localhost" {
                // Debian's exim4 lists it; the verdict needs no DNS for it.
                assert_eq!(e.verdict, "here", "{fixture_dir}");
                continue;
            }
            let in_zone = e.domain.ends_with(".test");
            let has_data = owners.contains(&e.domain);
            match e.verdict.as_str() {
                "inconclusive" => assert!(!in_zone, "{fixture_dir}: {}", e.domain),
                "nxdomain" => assert!(in_zone && !has_data, "{fixture_dir}: {}", e.domain),
                _ => assert!(in_zone && has_data, "{fixture_dir}: {}", e.domain),
            }
        }
    }
}

#[test]
fn zone_files_pass_nsd_checkzone() {
    let Some(checkzone) = require_tool("nsd-checkzone") else {
        return;
    };
    for fixture_dir in FIXTURES {
        let zone = fixture(fixture_dir).join("zones/test.zone");
        let output = Command::new(&checkzone)
            .arg("test")
            .arg(&zone)
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "{}: {}{}",
            zone.display(),
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }
}
