//! mxdrift's JSON output read back: the audit of a fixture as rows, the
//! rows a fixture's `expected.txt` states, and the schema every document
//! must match.

use std::collections::BTreeMap;

use super::{mxdrift, platform, repo, text};

/// `mxdrift audit --format json --fail-on never ARGS`, which must succeed.
pub fn audit_json(args: &[&str]) -> serde_json::Value {
    let out = mxdrift()
        .args(["audit", "--format", "json", "--fail-on", "never"])
        .args(args)
        .output()
        .unwrap();
    assert!(out.status.success(), "audit failed: {}", text(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

/// domain -> (delivery, verdict, rules joined by `,` or `-` for none): the
/// columns of an `expected.txt`.
pub type Rows = BTreeMap<String, (String, String, String)>;

/// The rows of an audit report.
pub fn rows(doc: &serde_json::Value) -> Rows {
    doc["domains"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            let rules: Vec<&str> = d["findings"]
                .as_array()
                .unwrap()
                .iter()
                .map(|f| f["rule"].as_str().unwrap())
                .collect();
            (
                d["domain"].as_str().unwrap().to_string(),
                (
                    d["delivery"].as_str().unwrap().to_string(),
                    d["verdict"].as_str().unwrap().to_string(),
                    if rules.is_empty() {
                        "-".to_string()
                    } else {
                        rules.join(",")
                    },
                ),
            )
        })
        .collect()
}

/// The rows `testdata/<dir>/expected.txt` states.
pub fn expected_rows(dir: &str) -> Rows {
    platform::expected(dir)
        .into_iter()
        .map(|e| (e.domain, (e.delivery, e.verdict, e.rule)))
        .collect()
}

/// (delivery, declared places without line numbers) of every domain.
pub type DomainState = BTreeMap<String, (String, serde_json::Value)>;

pub fn states(audit: &serde_json::Value) -> DomainState {
    audit["domains"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            (
                d["domain"].as_str().unwrap().to_string(),
                (
                    d["delivery"].as_str().unwrap().to_string(),
                    // Lines move when lines above them go: compare
                    // file and parameter only.
                    serde_json::Value::Array(
                        d["declared"]
                            .as_array()
                            .unwrap()
                            .iter()
                            .map(|p| serde_json::json!([p["file"], p["via"]]))
                            .collect(),
                    ),
                ),
            )
        })
        .collect()
}

/// The schema mxdrift ships, `docs/mxdrift.schema.json`, formats checked.
pub fn validator() -> jsonschema::Validator {
    let text = std::fs::read_to_string(repo("docs/mxdrift.schema.json")).unwrap();
    let schema: serde_json::Value = serde_json::from_str(&text).expect("the schema is JSON");
    assert_eq!(
        schema["$schema"],
        "https://json-schema.org/draft/2020-12/schema"
    );
    jsonschema::draft202012::options()
        .should_validate_formats(true)
        .build(&schema)
        .expect("the schema is a valid 2020-12 schema")
}

pub fn assert_valid(validator: &jsonschema::Validator, what: &str, doc: &serde_json::Value) {
    let errors: Vec<String> = validator
        .iter_errors(doc)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(
        errors.is_empty(),
        "{what} does not match docs/mxdrift.schema.json (document new fields there):\n{}",
        errors.join("\n")
    );
}

/// A plan validates against the schema (strict: refused actions and
/// confirmations must be documented there).
pub fn assert_schema(plan: &serde_json::Value) {
    assert_valid(&validator(), &format!("the plan {plan}"), plan);
}
