//! `--format sarif`: a hand-written minimal SARIF 2.1.0 log, the subset
//! GitHub code scanning reads: rules with descriptions and help, results
//! located at the file and line where the domain is declared, and a stable
//! `partialFingerprints` value so an alert survives unrelated edits.
//!
//! Ignored findings are results with an `external` suppression (the reason
//! from mxdrift.yaml as its justification), so code scanning shows them as
//! suppressed rather than not at all. Under `--baseline` every result has a
//! `baselineState` (`new` or `unchanged`), and each resolved finding is a
//! result with the state `absent`.

use std::io::{self, Write};

use serde::Serialize;

use super::{AuditFormatter, Report};
use crate::rules::{Rule, Severity};

/// The SARIF formatter. `uri_prefix` is the path from the repository root
/// to `--root` (`servers/web10/`), so that GitHub finds the declared files
/// when one repository holds several servers' configurations.
#[derive(Debug, Clone, Default)]
pub struct Sarif {
    pub uri_prefix: String,
}

impl Sarif {
    /// The prefix for a `--root` given on the command line: the root's path
    /// relative to the working directory when it lies inside it, else none.
    pub fn for_root(root: &std::path::Path, cwd: &std::path::Path) -> Sarif {
        let relative = if root.is_absolute() {
            root.strip_prefix(cwd).ok()
        } else {
            Some(root)
        };
        let uri_prefix = relative
            .map(|r| {
                r.components()
                    .filter_map(|c| match c {
                        std::path::Component::Normal(part) => {
                            Some(part.to_string_lossy().into_owned())
                        }
                        _ => None,
                    })
                    .map(|part| part + "/")
                    .collect::<String>()
            })
            .unwrap_or_default();
        Sarif { uri_prefix }
    }
}

#[derive(Serialize)]
struct Log<'a> {
    #[serde(rename = "$schema")]
    schema: &'static str,
    version: &'static str,
    runs: [Run<'a>; 1],
}

#[derive(Serialize)]
struct Run<'a> {
    tool: Tool<'a>,
    results: Vec<ResultItem>,
}

#[derive(Serialize)]
struct Tool<'a> {
    driver: Driver<'a>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Driver<'a> {
    name: &'static str,
    version: &'static str,
    semantic_version: &'static str,
    rules: Vec<RuleDescriptor<'a>>,
}

#[derive(Serialize)]
struct Text<'a> {
    text: &'a str,
}

#[derive(Serialize)]
struct Help {
    text: String,
    markdown: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct RuleDescriptor<'a> {
    id: &'a str,
    name: String,
    short_description: Text<'a>,
    full_description: Text<'a>,
    help: Help,
    default_configuration: Level,
    properties: Properties,
}

#[derive(Serialize)]
struct Level {
    level: &'static str,
}

#[derive(Serialize)]
#[serde(rename_all = "kebab-case")]
struct Properties {
    tags: [&'static str; 2],
    precision: &'static str,
    problem_severity: &'static str,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ResultItem {
    rule_id: String,
    rule_index: usize,
    level: &'static str,
    message: Message,
    locations: Vec<Location>,
    partial_fingerprints: Fingerprints,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    suppressions: Vec<Suppression>,
    #[serde(skip_serializing_if = "Option::is_none")]
    baseline_state: Option<&'static str>,
}

#[derive(Serialize)]
struct Suppression {
    /// `external`: recorded outside the scanned files (in mxdrift.yaml).
    kind: &'static str,
    justification: String,
}

fn baseline_state(new: bool) -> &'static str {
    if new { "new" } else { "unchanged" }
}

#[derive(Serialize)]
struct Message {
    text: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Location {
    physical_location: PhysicalLocation,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct PhysicalLocation {
    artifact_location: ArtifactLocation,
    #[serde(skip_serializing_if = "Option::is_none")]
    region: Option<Region>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ArtifactLocation {
    uri: String,
    uri_base_id: &'static str,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Region {
    start_line: u32,
}

#[derive(Serialize)]
struct Fingerprints {
    #[serde(rename = "mxdrift/v1")]
    v1: String,
}

fn level(severity: Severity) -> &'static str {
    match severity {
        Severity::Critical => "error",
        Severity::Warning => "warning",
        Severity::Info => "note",
    }
}

/// 64-bit FNV-1a: stable across Rust versions and platforms, unlike
/// `DefaultHasher`, so a fingerprint never changes for the same finding.
fn fnv1a(parts: &[&str]) -> String {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for part in parts {
        for byte in part.bytes().chain(std::iter::once(0)) {
            hash ^= u64::from(byte);
            hash = hash.wrapping_mul(0x0100_0000_01b3);
        }
    }
    format!("{hash:016x}")
}

fn descriptor(rule: &Rule) -> RuleDescriptor<'_> {
    RuleDescriptor {
        id: rule.id.as_str(),
        name: rule
            .id
            .as_str()
            .split('-')
            .map(|w| {
                let mut c = w.chars();
                c.next()
                    .map(|f| f.to_uppercase().collect::<String>() + c.as_str())
                    .unwrap_or_default()
            })
            .collect(),
        short_description: Text { text: &rule.title },
        full_description: Text {
            text: &rule.rationale,
        },
        help: Help {
            text: format!(
                "{}\n\nFires when: {}\n\nWhat to do: {}",
                rule.rationale, rule.when, rule.remediation
            ),
            markdown: format!(
                "**{}**\n\n{}\n\n**Fires when:** {}\n\n**What to do:** {}",
                rule.title, rule.rationale, rule.when, rule.remediation
            ),
        },
        default_configuration: Level {
            level: level(rule.severity),
        },
        properties: Properties {
            tags: ["mail", "dns"],
            precision: "high",
            problem_severity: match rule.severity {
                Severity::Critical => "error",
                Severity::Warning => "warning",
                Severity::Info => "recommendation",
            },
        },
    }
}

impl AuditFormatter for Sarif {
    fn write_report(&self, report: &Report<'_>, out: &mut dyn Write) -> io::Result<()> {
        let audit = report.audit;
        let delta = report.baseline;
        let rules: Vec<&Rule> = audit.rules.audit_rules().collect();
        let location = |file: &str, line: Option<u32>| Location {
            physical_location: PhysicalLocation {
                artifact_location: ArtifactLocation {
                    uri: format!("{}{file}", self.uri_prefix),
                    uri_base_id: "%SRCROOT%",
                },
                region: line
                    .filter(|l| *l > 0)
                    .map(|start_line| Region { start_line }),
            },
        };
        let rule_index = |id: &str| rules.iter().position(|r| r.id.as_str() == id).unwrap_or(0);
        // Run-level findings: located at their file when they have one.
        let mut results: Vec<ResultItem> = audit
            .run_findings
            .iter()
            .map(|f| ResultItem {
                rule_id: f.rule.as_str().to_string(),
                rule_index: rule_index(f.rule.as_str()),
                level: level(f.severity),
                message: Message {
                    text: if f.evidence.is_empty() {
                        f.message.clone()
                    } else {
                        format!("{}\n{}", f.message, f.evidence.join("\n"))
                    },
                },
                locations: f
                    .file
                    .as_deref()
                    .map(|file| location(file, f.line))
                    .into_iter()
                    .collect(),
                partial_fingerprints: Fingerprints {
                    v1: fnv1a(&[f.rule.as_str(), f.file.as_deref().unwrap_or("")]),
                },
                suppressions: Vec::new(),
                baseline_state: delta
                    .map(|d| baseline_state(d.is_new_run_finding(f.rule, f.file.as_deref()))),
            })
            .collect();
        let per_domain = audit.findings().map(|(d, f)| ResultItem {
            rule_id: f.rule.as_str().to_string(),
            rule_index: rule_index(f.rule.as_str()),
            level: level(f.severity),
            message: Message {
                text: format!("{}: {}", f.domain, f.message),
            },
            locations: d
                .domain
                .declared
                .iter()
                .take(1)
                .map(|decl| location(&decl.file, Some(decl.line)))
                .collect(),
            partial_fingerprints: Fingerprints {
                v1: fnv1a(&[f.rule.as_str(), f.domain.as_str()]),
            },
            // An ignored finding is a decision recorded in mxdrift.yaml:
            // a suppressed result, not an alert.
            suppressions: f
                .ignored
                .as_ref()
                .map(|reason| Suppression {
                    kind: "external",
                    justification: match f.ignored_until {
                        Some(until) => format!("{reason} (ignored until {until})"),
                        None => reason.clone(),
                    },
                })
                .into_iter()
                .collect(),
            baseline_state: delta
                .filter(|_| f.ignored.is_none())
                .map(|delta| baseline_state(delta.is_new(d.domain.name.as_str(), f.rule))),
        });
        results.extend(per_domain);
        // Resolved since the baseline: results that are gone.
        for r in delta.iter().flat_map(|d| d.resolved.iter()) {
            results.push(ResultItem {
                rule_id: r.rule.clone(),
                rule_index: rule_index(&r.rule),
                level: level(r.severity),
                message: Message {
                    text: format!("{}: {}", r.subject(), r.message),
                },
                locations: r
                    .file
                    .as_deref()
                    .map(|file| location(file, None))
                    .into_iter()
                    .collect(),
                partial_fingerprints: Fingerprints {
                    v1: fnv1a(&[
                        &r.rule,
                        r.domain.as_deref().or(r.file.as_deref()).unwrap_or(""),
                    ]),
                },
                suppressions: Vec::new(),
                baseline_state: Some("absent"),
            });
        }
        let log = Log {
            schema: "https://json.schemastore.org/sarif-2.1.0.json",
            version: "2.1.0",
            runs: [Run {
                tool: Tool {
                    driver: Driver {
                        name: "mxdrift",
                        version: env!("CARGO_PKG_VERSION"),
                        semantic_version: env!("CARGO_PKG_VERSION"),
                        rules: rules.iter().map(|r| descriptor(r)).collect(),
                    },
                },
                results,
            }],
        };
        serde_json::to_writer_pretty(&mut *out, &log)?;
        writeln!(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uri_prefix_is_the_root_inside_the_repository() {
        use std::path::Path;
        let cwd = Path::new("/repo");
        assert_eq!(
            Sarif::for_root(Path::new("servers/web10"), cwd).uri_prefix,
            "servers/web10/"
        );
        assert_eq!(
            Sarif::for_root(Path::new("./servers/web10/"), cwd).uri_prefix,
            "servers/web10/"
        );
        assert_eq!(
            Sarif::for_root(Path::new("/repo/servers/web10"), cwd).uri_prefix,
            "servers/web10/"
        );
        assert_eq!(Sarif::for_root(Path::new("/"), cwd).uri_prefix, "");
        assert_eq!(Sarif::for_root(Path::new("."), cwd).uri_prefix, "");
    }

    #[test]
    fn fingerprint_is_stable() {
        // Pinned: changing the hash would re-open every alert on GitHub.
        assert_eq!(
            fnv1a(&["mail-switch-on", "moved.test"]),
            fnv1a(&["mail-switch-on", "moved.test"])
        );
        assert_ne!(fnv1a(&["a", "bc"]), fnv1a(&["ab", "c"]));
        assert_eq!(fnv1a(&[]), "cbf29ce484222325");
    }
}
