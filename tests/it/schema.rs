//! Every JSON document mxdrift prints validates against the schema it ships,
//! `docs/mxdrift.schema.json` (JSON Schema 2020-12): audit reports (with and
//! without a baseline), inventories and fix plans, on every platform fixture.
//! The schema is strict (no undocumented field), so a field added to the
//! output without documenting it fails here: add it to the schema.

use std::path::{Path, PathBuf};

use crate::common::report::{assert_valid, validator};
use crate::common::{fixture, mxdrift, repo};

fn json_of(args: &[&std::ffi::OsStr]) -> serde_json::Value {
    let out = mxdrift().args(args).output().unwrap();
    assert!(
        matches!(out.status.code(), Some(0 | 1)),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{args:?}: {e}: {}", String::from_utf8_lossy(&out.stdout)))
}

/// (fixture, extra options) of every platform the repository has data for.
fn fixtures() -> Vec<(PathBuf, Vec<String>)> {
    let zone = |root: &str| {
        vec![
            "--zone-file".to_string(),
            fixture(&format!("{root}/zones/test.zone"))
                .display()
                .to_string(),
        ]
    };
    let mut list = zone("list/basic");
    list.extend([
        "--platform".into(),
        "list".into(),
        "--domains".into(),
        fixture("list/basic/domains.txt").display().to_string(),
    ]);
    vec![
        (fixture("demo"), zone("demo")),
        (fixture("fix/postfix"), zone("fix/postfix")),
        (fixture("plesk/postfix"), zone("plesk/postfix")),
        (fixture("plesk/qmail"), zone("plesk/qmail")),
        (fixture("cpanel/basic"), zone("cpanel/basic")),
        (fixture("directadmin/basic"), zone("directadmin/basic")),
        (fixture("qmail/basic"), zone("qmail/basic")),
        (fixture("list/basic"), list),
    ]
}

fn args<'a>(fixed: &'a [&'a str], root: &'a Path, extra: &'a [String]) -> Vec<&'a std::ffi::OsStr> {
    let mut all: Vec<&std::ffi::OsStr> = fixed.iter().map(std::ffi::OsStr::new).collect();
    all.push("--root".as_ref());
    all.push(root.as_os_str());
    all.extend(extra.iter().map(std::ffi::OsStr::new));
    all
}

#[test]
fn audit_inventory_and_fix_plan_outputs_match_the_schema() {
    let validator = validator();
    for (root, extra) in fixtures() {
        let name = root.display().to_string();
        let mut with_ip = extra.clone();
        with_ip.extend(["--server-ip".to_string(), "203.0.113.10".to_string()]);
        let audit = json_of(&args(&["audit", "--format", "json"], &root, &with_ip));
        assert_valid(&validator, &format!("audit of {name}"), &audit);
        assert!(!audit["domains"].as_array().unwrap().is_empty(), "{name}");
        // What `mxdrift fleet` keys and dates reports by.
        let audited_at = audit["server"]["audited_at"].as_str().unwrap_or_default();
        let when = mxdrift::timestamp::Timestamp::parse(audited_at)
            .unwrap_or_else(|| panic!("{name}: audited_at {audited_at:?}"));
        assert!(
            when.age_at(mxdrift::timestamp::Timestamp::now()).as_secs() < 3600,
            "{name}: {audited_at}"
        );
        if let Some(hostname) = audit["server"]["hostname"].as_str() {
            let names = audit["server"]["names"].as_array().unwrap();
            assert!(names.iter().any(|n| n == hostname), "{name}: {hostname}");
        } else {
            // Only a domain list names no server (and --root is not /).
            assert!(name.ends_with("list/basic"), "{name}: no hostname");
        }

        let inventory_extra: Vec<String> = extra
            .chunks(2)
            .filter(|pair| pair[0] != "--zone-file")
            .flatten()
            .cloned()
            .collect();
        let inventory = json_of(&args(
            &["inventory", "--format", "json"],
            &root,
            &inventory_extra,
        ));
        assert_valid(&validator, &format!("inventory of {name}"), &inventory);

        let plan = json_of(&args(&["fix", "--format", "json"], &root, &with_ip));
        assert_valid(&validator, &format!("fix plan of {name}"), &plan);
    }
}

#[test]
fn audit_with_ignores_warnings_and_a_baseline_matches_the_schema() {
    let validator = validator();
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("mxdrift.yaml");
    std::fs::write(
        &config,
        "ignore:\n  - domain: split.test\n    rule: split-delivery\n    reason: on purpose\n    until: 2999-12-31\n  - domain: typo.tset\n    rule: '*'\n    reason: matches nothing\n",
    )
    .unwrap();
    let baseline = dir.path().join("last.json");
    let demo = fixture("demo");
    let zone = fixture("demo/zones/test.zone");
    let base: Vec<&std::ffi::OsStr> = vec![
        "audit".as_ref(),
        "--format".as_ref(),
        "json".as_ref(),
        "--root".as_ref(),
        demo.as_os_str(),
        "--zone-file".as_ref(),
        zone.as_os_str(),
        "--config".as_ref(),
        config.as_os_str(),
        "--baseline".as_ref(),
        baseline.as_os_str(),
        "--update-baseline".as_ref(),
    ];
    // First run: no baseline yet; second: against the first.
    for _ in 0..2 {
        let doc = json_of(&base);
        assert_valid(&validator, "audit with a baseline", &doc);
        assert!(doc["baseline"].is_object());
        assert!(
            doc["warnings"]
                .as_array()
                .unwrap()
                .iter()
                .any(|w| w["kind"] == "unused-ignore")
        );
    }
    let written: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&baseline).unwrap()).unwrap();
    assert_valid(
        &validator,
        "the baseline file --update-baseline wrote",
        &written,
    );
}

#[test]
fn golden_report_with_run_findings_matches_the_schema() {
    let validator = validator();
    let golden: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(repo("tests/golden/audit.json")).unwrap())
            .unwrap();
    assert_valid(&validator, "tests/golden/audit.json", &golden);
    // A run-level finding as the JSON formatter writes it.
    let mut with_run = golden.clone();
    with_run["run_findings"] = serde_json::json!([{
        "rule": "resolver-untrustworthy",
        "severity": "critical",
        "message": "the resolver denies names that must exist",
        "file": "etc/resolv.conf",
        "line": 1,
        "evidence": [". SOA: NXDOMAIN"]
    }]);
    assert_valid(&validator, "a report with a run-level finding", &with_run);
}

#[test]
fn the_schema_rejects_what_it_does_not_document() {
    let validator = validator();
    let golden: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(repo("tests/golden/audit.json")).unwrap())
            .unwrap();
    let mut extra = golden.clone();
    extra["domains"][0]["surprise"] = true.into();
    assert!(!validator.is_valid(&extra), "an undocumented field passes");
    let mut bad_verdict = golden.clone();
    bad_verdict["domains"][0]["verdict"] = "somewhere".into();
    assert!(!validator.is_valid(&bad_verdict));
    let mut bad_ip = golden.clone();
    bad_ip["server"]["addresses"][0] = "203.0.113.999".into();
    assert!(!validator.is_valid(&bad_ip), "formats are checked");
    // An inventory document cannot carry DNS data.
    let mut inventory_with_dns = golden;
    inventory_with_dns
        .as_object_mut()
        .unwrap()
        .remove("run_findings");
    assert!(!validator.is_valid(&inventory_with_dns));
}

#[test]
fn the_rdap_object_is_documented_and_checked() {
    let validator = validator();
    let golden: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(repo("tests/golden/audit.json")).unwrap())
            .unwrap();
    let mut with_rdap = golden.clone();
    with_rdap["domains"][0]["rdap"] = serde_json::json!({
        "status": "ok",
        "registrable": "example.com",
        "expiration": "2027-08-13T04:00:00Z",
        "registrar": "Example Registrar, Inc.",
        "states": ["client transfer prohibited"],
        "source": "https://rdap.verisign.com/com/v1/domain/example.com",
        "cached": false
    });
    assert_valid(&validator, "a report with an rdap object", &with_rdap);
    let mut failed = golden.clone();
    failed["domains"][0]["rdap"] = serde_json::json!({
        "status": "inconclusive",
        "registrable": "example.fr",
        "states": [],
        "source": "https://rdap.nic.fr/domain/example.fr",
        "problem": "no answer within 15 s",
        "cached": false
    });
    assert_valid(&validator, "an inconclusive rdap object", &failed);
    let mut fine = with_rdap.clone();
    fine["domains"][0]["rdap"]["status"] = "fine".into();
    assert!(
        !validator.is_valid(&fine),
        "an undocumented rdap status passes"
    );
    let mut extra = with_rdap;
    extra["domains"][0]["rdap"]["surprise"] = true.into();
    assert!(
        !validator.is_valid(&extra),
        "an undocumented rdap field passes"
    );
}
