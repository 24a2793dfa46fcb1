//! `--baseline FILE`: compare this audit with a previous `--format json`
//! report and keep only what changed, so a nightly cron job mails only on
//! change.
//!
//! A finding is the same finding when its rule and domain are the same (for
//! a run-level finding: its rule and file), whatever its message: DNS
//! evidence such as a TTL changes from day to day without anything new
//! happening. Only findings that count are compared: one that is ignored in
//! mxdrift.yaml today, but counted in the baseline, is *resolved* (and says
//! it is now ignored); one ignored in the baseline but counted today is *new*.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::Read;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::audit::Audit;
use crate::civil_date::CivilDate;
use crate::inventory::InventoryWarning;
use crate::rules::{RuleId, Severity};

/// Baselines larger than this are refused: a report of 100,000 domains is
/// about 120 MB, and the file may not be what it claims to be.
pub const MAX_BASELINE_BYTES: u64 = 1 << 30;

#[derive(Debug, thiserror::Error)]
pub enum BaselineError {
    #[error("--baseline {file}: {source}")]
    Io {
        file: String,
        #[source]
        source: std::io::Error,
    },
    #[error("--baseline {file}: not a JSON report of `mxdrift audit --format json`: {message}")]
    NotAReport { file: String, message: String },
}

/// A finding as the baseline recorded it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Change {
    /// `None` for a finding about the server or the run.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub domain: Option<String>,
    pub rule: String,
    pub severity: Severity,
    pub message: String,
    /// The file of a run-level finding.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    /// For a resolved finding that is still found but now ignored: the reason.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub now_ignored: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub now_ignored_until: Option<CivilDate>,
}

impl Change {
    /// `moved.test` or `(server)`.
    pub fn subject(&self) -> &str {
        self.domain.as_deref().unwrap_or("(server)")
    }
}

/// Identity of a finding across runs.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
struct Key {
    domain: Option<String>,
    rule: String,
    file: Option<String>,
}

/// A previous report, reduced to what is compared.
#[derive(Debug, Clone, Default)]
pub struct Baseline {
    /// The file as named on the command line.
    pub file: String,
    /// False when the file did not exist yet (`--update-baseline` creates it).
    pub existed: bool,
    findings: Vec<(Key, Change)>,
    /// Identity -> `file: message`.
    warnings: BTreeMap<String, String>,
    notes: BTreeSet<String>,
}

/// What changed since the baseline.
#[derive(Debug, Clone, Default)]
pub struct Delta {
    pub file: String,
    /// False when there was no baseline yet: every finding is new.
    pub existed: bool,
    /// Counted findings of this audit that the baseline did not count.
    pub new: Vec<Change>,
    /// Findings the baseline counted that this audit does not.
    pub resolved: Vec<Change>,
    /// Indices into `audit.warnings` of the warnings the baseline did not have.
    pub new_warnings: Vec<usize>,
    /// Warnings of the baseline gone now, as `file:line: message`.
    pub resolved_warnings: Vec<String>,
    /// Indices into `audit.notes` of the notes the baseline did not have.
    pub new_notes: Vec<usize>,
    new_keys: BTreeSet<Key>,
}

impl Delta {
    /// Is this per-domain finding (rule, domain) new?
    pub fn is_new(&self, domain: &str, rule: RuleId) -> bool {
        self.new_keys.contains(&Key {
            domain: Some(domain.to_string()),
            rule: rule.as_str().to_string(),
            file: None,
        })
    }

    /// Is this run-level finding new?
    pub fn is_new_run_finding(&self, rule: RuleId, file: Option<&str>) -> bool {
        self.new_keys.contains(&Key {
            domain: None,
            rule: rule.as_str().to_string(),
            file: file.map(str::to_string),
        })
    }

    /// Nothing new, nothing resolved.
    pub fn is_empty(&self) -> bool {
        self.new.is_empty()
            && self.resolved.is_empty()
            && self.new_warnings.is_empty()
            && self.resolved_warnings.is_empty()
            && self.new_notes.is_empty()
    }

    /// `since the baseline FILE: 2 new, 1 resolved`.
    pub fn headline(&self) -> String {
        if !self.existed {
            return format!(
                "no baseline yet ({} is created): every finding is new",
                self.file
            );
        }
        format!(
            "since the baseline {}: {} new, {} resolved",
            self.file,
            self.new.len(),
            self.resolved.len()
        )
    }
}

// The subset of the JSON report that a baseline needs. Unknown fields are
// allowed: later versions of mxdrift add fields.
#[derive(Deserialize)]
struct Document {
    version: u32,
    domains: Vec<DomainDoc>,
    #[serde(default)]
    run_findings: Option<Vec<RunFindingDoc>>,
    #[serde(default)]
    warnings: Vec<InventoryWarningDoc>,
    #[serde(default)]
    notes: Vec<String>,
}

#[derive(Deserialize)]
struct DomainDoc {
    domain: String,
    #[serde(default)]
    findings: Option<Vec<FindingDoc>>,
}

#[derive(Deserialize)]
struct FindingDoc {
    rule: String,
    severity: Severity,
    message: String,
    #[serde(default)]
    ignored: Option<String>,
}

#[derive(Deserialize)]
struct RunFindingDoc {
    rule: String,
    severity: Severity,
    message: String,
    #[serde(default)]
    file: Option<String>,
}

#[derive(Deserialize)]
struct InventoryWarningDoc {
    kind: String,
    #[serde(default)]
    file: Option<String>,
    #[serde(default)]
    parameter: Option<String>,
    message: String,
}

/// Warnings are the same warning when kind, file, parameter and message
/// are: line numbers move when a file is edited above them.
fn warning_identity(
    kind: &str,
    file: Option<&str>,
    parameter: Option<&str>,
    message: &str,
) -> String {
    format!(
        "{kind}\u{0}{}\u{0}{}\u{0}{message}",
        file.unwrap_or(""),
        parameter.unwrap_or("")
    )
}

fn current_warning_identity(w: &InventoryWarning) -> String {
    let kind = serde_json::to_value(w.kind)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default();
    warning_identity(&kind, w.file.as_deref(), w.parameter.as_deref(), &w.message)
}

impl Baseline {
    /// Read a previous JSON report. `missing_ok`: a file that does not exist
    /// is an empty baseline (for `--update-baseline`'s first run).
    pub fn load(path: &Path, missing_ok: bool) -> Result<Baseline, BaselineError> {
        let file = path.display().to_string();
        let io = |source| BaselineError::Io {
            file: file.clone(),
            source,
        };
        // A regular file only, opened without blocking (a FIFO is refused).
        let handle = match crate::safe_fs::open_path(path) {
            Ok((h, _)) => h,
            Err(e) if missing_ok && e.is_not_found() => {
                return Ok(Baseline {
                    file,
                    existed: false,
                    ..Baseline::default()
                });
            }
            Err(e) => return Err(io(e.into())),
        };
        let mut bytes = Vec::new();
        handle
            .take(MAX_BASELINE_BYTES + 1)
            .read_to_end(&mut bytes)
            .map_err(io)?;
        if bytes.len() as u64 > MAX_BASELINE_BYTES {
            return Err(BaselineError::NotAReport {
                file,
                message: format!("larger than {} bytes", MAX_BASELINE_BYTES),
            });
        }
        Self::parse(&bytes, &file)
    }

    /// Parse the text of a previous JSON report; `file` names it in errors.
    pub fn parse(bytes: &[u8], file: &str) -> Result<Baseline, BaselineError> {
        let not_a_report = |message: String| BaselineError::NotAReport {
            file: file.to_string(),
            message,
        };
        let doc: Document =
            serde_json::from_slice(bytes).map_err(|e| not_a_report(e.to_string()))?;
        if doc.version != super::JSON_SCHEMA_VERSION {
            return Err(not_a_report(format!(
                "version {} (this mxdrift reads version {})",
                doc.version,
                super::JSON_SCHEMA_VERSION
            )));
        }
        if doc.run_findings.is_none() && doc.domains.iter().all(|d| d.findings.is_none()) {
            return Err(not_a_report(
                "it has no findings (an `mxdrift inventory` report?)".into(),
            ));
        }
        let mut findings = Vec::new();
        for d in doc.domains {
            for f in d.findings.into_iter().flatten() {
                if f.ignored.is_some() {
                    continue;
                }
                let key = Key {
                    domain: Some(d.domain.clone()),
                    rule: f.rule.clone(),
                    file: None,
                };
                findings.push((
                    key,
                    Change {
                        domain: Some(d.domain.clone()),
                        rule: f.rule,
                        severity: f.severity,
                        message: f.message,
                        file: None,
                        now_ignored: None,
                        now_ignored_until: None,
                    },
                ));
            }
        }
        for f in doc.run_findings.into_iter().flatten() {
            let key = Key {
                domain: None,
                rule: f.rule.clone(),
                file: f.file.clone(),
            };
            findings.push((
                key,
                Change {
                    domain: None,
                    rule: f.rule,
                    severity: f.severity,
                    message: f.message,
                    file: f.file,
                    now_ignored: None,
                    now_ignored_until: None,
                },
            ));
        }
        Ok(Baseline {
            file: file.to_string(),
            existed: true,
            findings,
            warnings: doc
                .warnings
                .iter()
                .map(|w| {
                    let identity = warning_identity(
                        &w.kind,
                        w.file.as_deref(),
                        w.parameter.as_deref(),
                        &w.message,
                    );
                    let shown = match &w.file {
                        Some(file) => format!("{file}: {}", w.message),
                        None => w.message.clone(),
                    };
                    (identity, shown)
                })
                .collect(),
            notes: doc.notes.into_iter().collect(),
        })
    }

    /// What changed from the baseline to `audit`.
    pub fn compare(&self, audit: &Audit) -> Delta {
        let previous: HashMap<&Key, &Change> = self.findings.iter().map(|(k, c)| (k, c)).collect();
        let mut delta = Delta {
            file: self.file.clone(),
            existed: self.existed,
            ..Delta::default()
        };
        // Counted now, and ignored now (for "resolved: now ignored").
        let mut counted_now: BTreeSet<Key> = BTreeSet::new();
        let mut ignored_now: HashMap<Key, (String, Option<CivilDate>)> = HashMap::new();
        for f in &audit.run_findings {
            let key = Key {
                domain: None,
                rule: f.rule.as_str().to_string(),
                file: f.file.clone(),
            };
            if !previous.contains_key(&key) && !counted_now.contains(&key) {
                delta.new.push(Change {
                    domain: None,
                    rule: f.rule.as_str().to_string(),
                    severity: f.severity,
                    message: f.message.clone(),
                    file: f.file.clone(),
                    now_ignored: None,
                    now_ignored_until: None,
                });
                delta.new_keys.insert(key.clone());
            }
            counted_now.insert(key);
        }
        for (d, f) in audit.findings() {
            let key = Key {
                domain: Some(d.domain.name.to_string()),
                rule: f.rule.as_str().to_string(),
                file: None,
            };
            if let Some(reason) = &f.ignored {
                ignored_now.insert(key, (reason.clone(), f.ignored_until));
                continue;
            }
            if !previous.contains_key(&key) && !counted_now.contains(&key) {
                delta.new.push(Change {
                    domain: key.domain.clone(),
                    rule: f.rule.as_str().to_string(),
                    severity: f.severity,
                    message: f.message.clone(),
                    file: None,
                    now_ignored: None,
                    now_ignored_until: None,
                });
                delta.new_keys.insert(key.clone());
            }
            counted_now.insert(key);
        }
        let mut seen = BTreeSet::new();
        for (key, change) in &self.findings {
            if counted_now.contains(key) || !seen.insert(key) {
                continue;
            }
            let mut resolved = change.clone();
            if let Some((reason, until)) = ignored_now.get(key) {
                resolved.now_ignored = Some(reason.clone());
                resolved.now_ignored_until = *until;
            }
            delta.resolved.push(resolved);
        }
        let current_warnings: BTreeSet<String> = audit
            .warnings
            .iter()
            .map(current_warning_identity)
            .collect();
        for (i, w) in audit.warnings.iter().enumerate() {
            if !self.warnings.contains_key(&current_warning_identity(w)) {
                delta.new_warnings.push(i);
            }
        }
        delta.resolved_warnings = self
            .warnings
            .iter()
            .filter(|(identity, _)| !current_warnings.contains(*identity))
            .map(|(_, shown)| shown.clone())
            .collect();
        for (i, note) in audit.notes.iter().enumerate() {
            if !self.notes.contains(note) {
                delta.new_notes.push(i);
            }
        }
        delta
    }
}
