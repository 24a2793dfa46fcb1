//! `mxdrift fix --format json`: the remediation plan as data, for
//! automation that reviews a plan before `--apply` (schema:
//! `docs/mxdrift.schema.json`, `$defs/fixPlan`).
//!
//! Every finding the plan considered is one action: an `edit` (files to
//! change), a `panel-command` (the command that is the fix), `left` (not
//! touched, with the reason) or `refused` (not touched because its evidence
//! or its files changed during the run). New kinds of action are new values
//! of [`ActionKind`]; consumers must treat unknown kinds as "not done".
//!
//! Each change says how its evidence was confirmed (`confirmed`): over TCP
//! (the domain resolved again without UDP: same verdict, same rule), or not
//! needed (zone files); `confirmation` says it for the whole plan.

use std::io::{self, Write};

use serde::Serialize;

use super::{JSON_SCHEMA_VERSION, unicode_form};
use crate::inventory::DomainName;
use crate::remediate::{Action, Confirmation, ConfirmedBy, Remediation};
use crate::rules::{RuleId, Severity};
use crate::verdict::Verdict;

/// What the plan does about one finding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ActionKind {
    /// mxdrift edits files (shown in `edits`; `--apply` writes them).
    Edit,
    /// A panel command is the fix (the panel owns the files).
    PanelCommand,
    /// Not touched: left for a human, with the reason.
    Left,
    /// Not touched: the evidence or a file changed during the run (see
    /// `refusal`); running `fix` again later may plan it.
    Refused,
}

/// How the evidence of the plan's changes was confirmed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
enum Via {
    /// Resolved again over TCP only.
    Tcp,
    /// Evidence from zone files: nothing to confirm.
    ZoneFiles,
}

/// The change made to the domain's delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Change {
    /// Local delivery off.
    TurnOff,
    /// Kept as a relay (backup MX).
    MakeRelay,
}

#[derive(Serialize)]
struct PlanDoc<'a> {
    version: u32,
    kind: &'static str,
    tool: Tool,
    platform: &'static str,
    actions: Vec<ActionView<'a>>,
    edits: Vec<EditView<'a>>,
    follow_ups: Vec<StepView>,
    cautions: &'a [String],
    rejected: &'a [String],
    confirmation: ConfirmationView,
    summary: Summary,
}

#[derive(Serialize)]
struct ConfirmationView {
    method: Via,
    note: &'static str,
}

#[derive(Serialize)]
struct ConfirmedView<'a> {
    via: Via,
    /// The verdict over TCP (the same as the audit's).
    #[serde(skip_serializing_if = "Option::is_none")]
    verdict: Option<Verdict>,
    /// The evidence over TCP.
    #[serde(skip_serializing_if = "Option::is_none")]
    evidence: Option<&'a str>,
}

#[derive(Serialize)]
struct Tool {
    name: &'static str,
    version: &'static str,
}

#[derive(Serialize)]
struct ActionView<'a> {
    domain: &'a DomainName,
    #[serde(skip_serializing_if = "Option::is_none")]
    unicode: Option<String>,
    rule: RuleId,
    kind: ActionKind,
    #[serde(skip_serializing_if = "Option::is_none")]
    severity: Option<Severity>,
    #[serde(skip_serializing_if = "Option::is_none")]
    change: Option<Change>,
    /// The finding's message: what is wrong and the evidence.
    #[serde(skip_serializing_if = "Option::is_none")]
    evidence: Option<&'a str>,
    /// Why it was left or refused (kinds `left`, `refused`).
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<&'a str>,
    /// What changed (kind `refused`): `evidence-changed`, `file-changed`.
    #[serde(skip_serializing_if = "Option::is_none")]
    refusal: Option<&'static str>,
    /// How the evidence was confirmed (kinds `edit`, `panel-command`).
    #[serde(skip_serializing_if = "Option::is_none")]
    confirmed: Option<ConfirmedView<'a>>,
    files: &'a [String],
    commands: Vec<&'a str>,
}

#[derive(Serialize)]
struct EditView<'a> {
    file: &'a str,
    /// The unified diff (`a/FILE`, `b/FILE`; `patch -p1 -d ROOT`).
    diff: String,
}

#[derive(Serialize)]
struct StepView {
    /// The shell line, or none for advice that is no single safe command.
    command: Option<String>,
    /// What the step is for.
    comments: Vec<String>,
}

#[derive(Serialize)]
struct Summary {
    fixed: usize,
    left: usize,
    refused: usize,
    files: usize,
    commands: usize,
}

/// Print the plan as JSON.
pub fn write_plan(plan: &Remediation, out: &mut dyn Write) -> io::Result<()> {
    let mut actions: Vec<ActionView<'_>> = plan
        .fixes
        .iter()
        .map(|f| ActionView {
            domain: &f.domain,
            unicode: unicode_form(&f.domain),
            rule: f.rule,
            kind: if f.command.is_some() {
                ActionKind::PanelCommand
            } else {
                ActionKind::Edit
            },
            severity: Some(f.severity),
            change: Some(match f.action {
                Action::TurnOff => Change::TurnOff,
                Action::MakeRelay => Change::MakeRelay,
            }),
            evidence: Some(&f.evidence),
            reason: None,
            refusal: None,
            confirmed: Some(match &f.confirmation {
                Confirmation::ZoneFiles => ConfirmedView {
                    via: Via::ZoneFiles,
                    verdict: None,
                    evidence: None,
                },
                Confirmation::OverTcp { verdict, evidence } => ConfirmedView {
                    via: Via::Tcp,
                    verdict: Some(*verdict),
                    evidence: Some(evidence),
                },
            }),
            files: &f.files,
            commands: f.command.as_deref().into_iter().collect(),
        })
        .collect();
    actions.extend(plan.left.iter().map(|l| ActionView {
        domain: &l.domain,
        unicode: unicode_form(&l.domain),
        rule: l.rule,
        kind: ActionKind::Left,
        severity: None,
        change: None,
        evidence: None,
        reason: Some(&l.reason),
        refusal: None,
        confirmed: None,
        files: &[],
        commands: Vec::new(),
    }));
    actions.extend(plan.refused.iter().map(|r| ActionView {
        domain: &r.domain,
        unicode: unicode_form(&r.domain),
        rule: r.rule,
        kind: ActionKind::Refused,
        severity: None,
        change: None,
        evidence: None,
        reason: Some(&r.reason),
        refusal: Some(r.cause.as_str()),
        confirmed: None,
        files: &[],
        commands: Vec::new(),
    }));
    actions.sort_by(|a, b| (a.domain, a.rule).cmp(&(b.domain, b.rule)));
    let follow_ups: Vec<StepView> = plan
        .follow_ups
        .iter()
        .map(|s| StepView {
            command: s.line(),
            comments: s.comments.clone(),
        })
        .collect();
    let doc = PlanDoc {
        version: JSON_SCHEMA_VERSION,
        kind: "fix-plan",
        tool: Tool {
            name: "mxdrift",
            version: env!("CARGO_PKG_VERSION"),
        },
        platform: plan.platform.as_str(),
        summary: Summary {
            fixed: plan.fixes.len(),
            left: plan.left.len(),
            refused: plan.refused.len(),
            files: plan.edits.len(),
            commands: plan.panel.len() + follow_ups.iter().filter(|s| s.command.is_some()).count(),
        },
        actions,
        edits: plan
            .edits
            .iter()
            .map(|e| EditView {
                file: &e.rel,
                diff: e.diff(),
            })
            .collect(),
        follow_ups,
        cautions: &plan.cautions,
        rejected: &plan.rejected,
        confirmation: ConfirmationView {
            method: match plan.confirmed_by {
                ConfirmedBy::Tcp => Via::Tcp,
                ConfirmedBy::ZoneFiles => Via::ZoneFiles,
            },
            note: plan.confirmed_by.note(),
        },
    };
    serde_json::to_writer_pretty(&mut *out, &doc)?;
    writeln!(out)
}
