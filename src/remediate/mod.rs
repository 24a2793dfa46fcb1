//! Remediation: turn an [`Audit`] into the exact change that fixes each
//! finding with conclusive evidence, and nothing else.
//!
//! - [`plan`] decides, per domain, what is fixed and how (a file edit on
//!   plain Postfix, qmail and domain lists; a panel command on Plesk,
//!   cPanel and DirectAdmin, whose files the panel would overwrite) and
//!   what is left for a human, with the reason.
//! - `select` decides which finding of a domain is acted on (an exhaustive
//!   `match` on the rule) and whether TCP confirms it; one module per way
//!   of changing a platform makes the change (`postfix`, `qmail`, `list`:
//!   file edits; `panel`: commands), and `follow_ups` says what to run
//!   after the files changed.
//! - [`diff`] edits text keeping its layout and renders unified diffs,
//!   [`commands`] renders the shell script, [`apply`] writes the files.
//!
//! Remediation never reads the configuration again: how each file is read
//! comes from the audit ([`Audit::postfix_files`]); the platform's paths
//! from its `sources` module. It reads only the files it edits, and those
//! a change rests on, to compare them with what the audit read.
//!
//! A change is planned only on evidence and files `fix` can trust:
//! - the evidence is confirmed first: every domain to change was resolved
//!   again over TCP ([`crate::audit::reconfirm`]) and must give the same
//!   verdict and the same rule, or it is refused ("evidence changed between
//!   UDP and TCP"); evidence from zone files needs no confirmation;
//! - every file a change rests on (where the domain is declared, what is
//!   edited, main.cf for Postfix) must still hold the bytes the audit read
//!   ([`Audit::files_read`]), or the domain is refused ("changed during the
//!   run"): the audit's line numbers and classes describe those bytes only.

pub mod apply;
pub mod commands;
pub(crate) mod diff;
mod exim;
mod follow_ups;
mod list;
mod panel;
mod postfix;
mod qmail;
mod select;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::audit::{Audit, Reconfirmed};
use crate::inventory::{Declared, DomainName, KnownDomain, Platform, PostfixParam, Via};
use crate::rules::{RuleId, Severity};
use crate::safe_fs;
use crate::sources::postfix::{MainCf, PostfixFiles};
use crate::sources::{ConfigRoot, FileKey, FilesRead, ReadCheck};
use crate::verdict::Verdict;
use commands::Step;
use diff::{EditOp, FileText, PlaceKind};
use follow_ups::follow_ups;
use select::{confirm, select};

/// What a fix does to a domain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Stop delivering the domain's mail on this server.
    TurnOff,
    /// Keep accepting it as a backup MX, relaying to the primary MX.
    MakeRelay,
}

/// Where the evidence of every change of a plan was confirmed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConfirmedBy {
    /// The evidence came from zone files: read from files, nothing to confirm.
    ZoneFiles,
    /// Every change was resolved again over TCP only.
    Tcp,
}

impl ConfirmedBy {
    /// One sentence for the plan's readers.
    pub fn note(self) -> &'static str {
        match self {
            ConfirmedBy::ZoneFiles => {
                "The DNS evidence was read from zone files (--zone-file): nothing a spoofer can forge, so no change needed confirming over TCP."
            }
            ConfirmedBy::Tcp => {
                "Before planning, every domain to change was resolved again over TCP only (no UDP, nothing kept from the audit): each change below got the same verdict and the same rule."
            }
        }
    }
}

/// How the evidence of one change was confirmed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Confirmation {
    /// Offline evidence (zone files): nothing to confirm.
    ZoneFiles,
    /// Asked again over TCP: the same verdict and rule, on this evidence.
    OverTcp { verdict: Verdict, evidence: String },
}

impl Confirmation {
    /// One line for comments and summaries.
    pub fn describe(&self) -> String {
        match self {
            Confirmation::ZoneFiles => {
                "evidence from zone files, no TCP confirmation needed".into()
            }
            Confirmation::OverTcp { verdict, evidence } => format!(
                "confirmed over TCP: verdict {}: {evidence}",
                verdict.as_str()
            ),
        }
    }
}

/// A domain that is fixed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fix {
    pub domain: DomainName,
    pub rule: RuleId,
    pub severity: Severity,
    pub action: Action,
    /// The finding's message: what is wrong and the DNS evidence.
    pub evidence: String,
    /// The files this fix edits, relative to the root (none for a panel command).
    pub files: Vec<String>,
    /// The panel command that is this fix, as one shell line (none for an edit).
    pub command: Option<String>,
    /// How the evidence was confirmed before the fix was planned.
    pub confirmation: Confirmation,
}

impl Fix {
    /// A file edit whose evidence was confirmed over TCP (panel commands
    /// carry their confirmation in their own comments).
    fn is_edit_over_tcp(&self) -> bool {
        self.command.is_none() && matches!(self.confirmation, Confirmation::OverTcp { .. })
    }
}

/// A table source whose keys differ from the compiled file Postfix reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StaleTable {
    /// The text source, relative to the root.
    pub source: String,
    /// The type postmap compiles it as (from the compiled file).
    pub postmap: String,
}

/// Why a change the audit's evidence called for was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefusalCause {
    /// Asked again over TCP, the evidence gave another verdict or rule.
    EvidenceChanged,
    /// A file the change rests on holds other bytes than the audit read.
    FileChanged,
}

impl RefusalCause {
    pub fn as_str(self) -> &'static str {
        match self {
            RefusalCause::EvidenceChanged => "evidence-changed",
            RefusalCause::FileChanged => "file-changed",
        }
    }
}

/// A change refused because its evidence or its files changed during the
/// run. Unlike [`Left`], it is no decision for a human: running `fix` again
/// later may plan it. It makes the run exit non-zero.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused {
    pub domain: DomainName,
    pub rule: RuleId,
    pub cause: RefusalCause,
    pub reason: String,
}

impl Refused {
    pub fn line(&self) -> String {
        format!("{} ({}): {}", self.domain, self.rule, self.reason)
    }
}

/// Why a domain's change is not planned.
#[derive(Debug)]
enum NotPlanned {
    /// Left for a human (see [`Left`]).
    ForAHuman(String),
    /// Refused (see [`Refused`]).
    Refused(RefusalCause, String),
}

impl From<String> for NotPlanned {
    fn from(reason: String) -> Self {
        NotPlanned::ForAHuman(reason)
    }
}

/// A finding that is not fixed, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Left {
    pub domain: DomainName,
    pub rule: RuleId,
    pub reason: String,
}

impl Left {
    pub fn line(&self) -> String {
        format!("{} ({}): {}", self.domain, self.rule, self.reason)
    }
}

/// The new content of one file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileEdit {
    /// Relative to the root, `/`-separated, as declared.
    pub rel: String,
    /// Where the file really is, relative to the root: symbolic links
    /// followed inside the root, no `..` (the diff's `a/TARGET`). The same
    /// as `rel` unless the configured path goes through a link.
    pub target: String,
    /// The file to write (the root joined with `target`; for messages).
    pub path: PathBuf,
    /// The bytes the plan was computed from (the bytes the audit read);
    /// apply refuses the file when they changed.
    pub original: Vec<u8>,
    pub updated: String,
    /// A Postfix table source: the type `postmap` compiles it as after the
    /// edit (`None`: nothing to compile).
    pub postmap: Option<String>,
}

impl FileEdit {
    /// The unified diff of this edit.
    pub fn diff(&self) -> String {
        diff::unified(
            &self.target,
            &String::from_utf8_lossy(&self.original),
            &self.updated,
        )
    }
}

/// Everything `mxdrift fix` does or says.
#[derive(Debug, Clone)]
pub struct Remediation {
    pub platform: Platform,
    pub fixes: Vec<Fix>,
    pub left: Vec<Left>,
    /// File changes, in the order to write them (main.cf first: a domain
    /// moved to relay_domains is added there before it leaves its local
    /// list, so a failure in between leaves it delivered, never lost).
    pub edits: Vec<FileEdit>,
    /// Panel commands that are the fix themselves.
    pub panel: Vec<Step>,
    /// What to run after the files changed (postmap, reloads).
    pub follow_ups: Vec<Step>,
    /// What the admin must know before applying it.
    pub cautions: Vec<String>,
    /// Configuration values rejected as unsafe for a command (hostile owners).
    pub rejected: Vec<String>,
    /// Changes refused because their evidence or files changed during the run.
    pub refused: Vec<Refused>,
    /// Postfix table sources whose keys differ from their compiled file
    /// (`table-not-compiled`) and that this plan does not edit: a change
    /// never compiled (an earlier `--apply` that stopped before its
    /// postmap, an edit without postmap). Their postmap is among the
    /// follow-ups.
    pub stale_tables: Vec<StaleTable>,
    /// How the evidence of the changes was confirmed.
    pub confirmed_by: ConfirmedBy,
}

impl Remediation {
    pub fn is_empty(&self) -> bool {
        self.edits.is_empty() && self.panel.is_empty()
    }

    /// Every edit as one unified diff.
    pub fn diff(&self) -> String {
        self.edits.iter().map(FileEdit::diff).collect()
    }

    /// The `--commands` script: panel commands and follow-ups, with the
    /// cautions and what was left as comments.
    pub fn script(&self) -> String {
        self.render_script(Files::Pending, &self.follow_ups)
    }

    /// The script for after `--apply` wrote the files: the same without
    /// the note that file changes are still to be applied.
    pub fn script_after_apply(&self) -> String {
        self.render_script(Files::Written, &self.follow_ups)
    }

    /// The script for after `--apply` stopped part way: the follow-ups
    /// (postmap, reload) of the files in `written` only, which are in
    /// place, complete, and not yet in effect until these run.
    pub fn script_after_partial_apply(&self, written: &[String]) -> String {
        let steps = self.follow_ups_for(written);
        self.render_script(Files::PartlyWritten(written), &steps)
    }

    /// The follow-ups of the edits of `written` files alone.
    pub fn follow_ups_for(&self, written: &[String]) -> Vec<Step> {
        let edits: Vec<&FileEdit> = self
            .edits
            .iter()
            .filter(|e| written.contains(&e.rel))
            .collect();
        follow_ups(self.platform, &edits, &self.stale_tables)
    }

    fn render_script(&self, files: Files<'_>, follow_ups: &[Step]) -> String {
        let mut header = vec![format!(
            "mxdrift fix --commands: remediation for a {} server. Review it, then run it as root on the server.",
            self.platform.as_str()
        )];
        match files {
            Files::Pending if !self.edits.is_empty() => {
                let files: Vec<&str> = self.edits.iter().map(|e| e.rel.as_str()).collect();
                header.push(format!(
                    "File changes are not in this script: apply the diff of `mxdrift fix` (or run `mxdrift fix --apply`) first. Files: {}",
                    files.join(", ")
                ));
            }
            Files::PartlyWritten(written) => header.push(format!(
                "mxdrift fix --apply stopped before it wrote every file. These files were written, complete, and need the follow-ups below to take effect: {}",
                written.join(", ")
            )),
            Files::Pending | Files::Written => {}
        }
        if !self.fixes.is_empty() {
            header.push(self.confirmed_by.note().to_string());
            for fix in self.fixes.iter().filter(|f| f.is_edit_over_tcp()) {
                header.push(format!(
                    "{} ({}): {}",
                    fix.domain,
                    fix.rule,
                    fix.confirmation.describe()
                ));
            }
        }
        let prelude = (self.platform == Platform::Directadmin && !self.panel.is_empty())
            .then_some(commands::DIRECTADMIN_PRELUDE);
        commands::Script {
            header,
            cautions: &self.cautions,
            prelude,
            fixes: &self.panel,
            follow_ups,
            left: self.left.iter().map(Left::line).collect(),
            refused: self.refused.iter().map(Refused::line).collect(),
        }
        .render()
    }

    /// Comment lines printed before the diff: how each change was
    /// confirmed. `patch` skips text before the first file header.
    pub fn diff_preamble(&self) -> String {
        let mut out = format!("# mxdrift fix. {}\n", self.confirmed_by.note());
        for fix in self.fixes.iter().filter(|f| f.is_edit_over_tcp()) {
            out.push_str(&format!(
                "# {} ({}): {}\n",
                fix.domain,
                fix.rule,
                commands::comment(&fix.confirmation.describe())
            ));
        }
        out
    }

    /// Check the number of domains this plan takes off local delivery
    /// against `limit` (see [`ChangeLimit`]).
    pub fn check_limit(&self, limit: ChangeLimit) -> Result<(), TooManyChanges> {
        if self.fixes.len() <= limit.max {
            return Ok(());
        }
        Err(TooManyChanges {
            count: self.fixes.len(),
            limit,
            domains: self.fixes.iter().map(|f| f.domain.clone()).collect(),
        })
    }

    /// Human-readable summary for standard error (diff and apply modes).
    pub fn summary(&self) -> String {
        let mut out = String::new();
        for f in &self.fixes {
            let what = match f.action {
                Action::TurnOff => "local delivery off",
                Action::MakeRelay => "relay (backup MX)",
            };
            out.push_str(&format!(
                "fixed: {} ({}): {what} ({})\n",
                f.domain,
                f.rule,
                commands::comment(&f.confirmation.describe())
            ));
        }
        for c in &self.cautions {
            out.push_str(&format!("caution: {}\n", commands::comment(c)));
        }
        for r in &self.rejected {
            out.push_str(&format!("rejected: {}\n", commands::comment(r)));
        }
        for l in &self.left {
            out.push_str(&format!(
                "left for a human: {}\n",
                commands::comment(&l.line())
            ));
        }
        for refused in &self.refused {
            out.push_str(&format!(
                "refused: {}\n",
                commands::comment(&refused.line())
            ));
        }
        if self.fixes.is_empty() {
            out.push_str("nothing to fix\n");
        }
        if !self.refused.is_empty() {
            out.push_str(&format!(
                "{} refused: the evidence or a file changed during the run; nothing was planned for {}; run mxdrift fix again later\n",
                plural(self.refused.len(), "change was", "changes were"),
                if self.refused.len() == 1 { "it" } else { "them" },
            ));
        }
        out
    }
}

fn plural(n: usize, one: &str, many: &str) -> String {
    if n == 1 {
        format!("1 {one}")
    } else {
        format!("{n} {many}")
    }
}

/// Which files a script comes after.
#[derive(Debug, Clone, Copy)]
enum Files<'a> {
    /// Not written yet (`--commands`).
    Pending,
    /// All written (`--apply`).
    Written,
    /// `--apply` stopped after writing these.
    PartlyWritten(&'a [String]),
}

/// `--max-changes`: how many domains one run may take off local delivery.
///
/// Both kinds of change count: turning local delivery off and making the
/// domain a relay (backup MX) each stop delivery into the local mailboxes.
/// Domains left for a human or refused do not count. Many at once is more
/// often a resolver that lies, a wrong `--server-ip` or a wrong `--root`
/// than real moves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChangeLimit {
    pub max: usize,
    /// `Some(local domains)` for the default, `None` when given.
    pub default_for: Option<usize>,
}

/// The default limit's floor (and a fifth of the local domains above it).
pub const DEFAULT_MAX_CHANGES: usize = 10;

impl ChangeLimit {
    /// The default: 10, or 20 % of the local domains (rounded down),
    /// whichever is larger.
    pub fn default_for(local_domains: usize) -> Self {
        ChangeLimit {
            max: DEFAULT_MAX_CHANGES.max(local_domains / 5),
            default_for: Some(local_domains),
        }
    }

    /// `--max-changes N`.
    pub fn given(max: usize) -> Self {
        ChangeLimit {
            max,
            default_for: None,
        }
    }
}

/// A plan that would take more domains off local delivery than allowed.
#[derive(Debug, Clone, thiserror::Error)]
#[error(
    "refusing to take {count} domains off local delivery in one run: more than --max-changes allows ({}). Domains: {}. So many at once is more often a resolver that lies, a wrong --server-ip or a wrong --root than real moves: check the evidence (`mxdrift audit`), then run again with --max-changes {count}",
    describe_limit(.limit),
    .domains.iter().map(DomainName::as_str).collect::<Vec<_>>().join(", ")
)]
pub struct TooManyChanges {
    pub count: usize,
    pub limit: ChangeLimit,
    pub domains: Vec<DomainName>,
}

fn describe_limit(limit: &ChangeLimit) -> String {
    match limit.default_for {
        Some(local) => format!(
            "{}, the default: {DEFAULT_MAX_CHANGES} or 20 % of the {local} local domains, whichever is larger",
            limit.max
        ),
        None => format!("{}, as given", limit.max),
    }
}

#[derive(Debug, thiserror::Error)]
pub enum RemediateError {
    /// An audit of plain Postfix keeps how Postfix reads its files
    /// (`sources::read`); one assembled by hand may lack it.
    #[error(
        "the audit of this Postfix server kept no record of how Postfix reads its files; nothing planned"
    )]
    NoPostfixFiles,
    #[error("{file}: {source}")]
    Io {
        file: String,
        #[source]
        source: std::io::Error,
    },
}

/// One file being edited: its text so far.
#[derive(Debug, Clone)]
struct Working {
    target: String,
    path: PathBuf,
    original: Vec<u8>,
    text: FileText,
    /// Postfix table source: the `type:` it is read as (for postmap).
    table_type: Option<String>,
}

/// How each file is edited, and the `type:` postmap compiles a Postfix
/// table source as, by path relative to the root.
type Kinds = BTreeMap<String, (PlaceKind, Option<String>)>;

/// How the audited platform's changes are made.
enum Editor<'a> {
    /// Plain Postfix: file edits, by how Postfix reads each file.
    Postfix {
        files: &'a PostfixFiles,
        kinds: Kinds,
    },
    /// qmail's control files.
    Qmail,
    /// A domain list given with `--domains`.
    List,
    /// Debian's exim4: update-exim4.conf.conf.
    Exim,
    /// Plesk, cPanel, DirectAdmin: panel commands (HestiaCP: left for a
    /// human, see `panel`).
    Panel,
}

impl<'a> Editor<'a> {
    fn of(audit: &'a Audit) -> Result<Self, RemediateError> {
        Ok(match audit.platform {
            Platform::Postfix => {
                let files = audit
                    .postfix_files
                    .as_ref()
                    .ok_or(RemediateError::NoPostfixFiles)?;
                Editor::Postfix {
                    files,
                    kinds: postfix::kinds(files),
                }
            }
            Platform::Qmail => Editor::Qmail,
            Platform::List => Editor::List,
            Platform::Exim => Editor::Exim,
            Platform::Plesk | Platform::Cpanel | Platform::Directadmin | Platform::Hestiacp => {
                Editor::Panel
            }
        })
    }

    /// main.cf, which says what every other Postfix file means.
    fn main_cf(&self) -> Option<&'a str> {
        match self {
            Editor::Postfix { files, .. } => Some(files.main_cf.as_str()),
            Editor::Qmail | Editor::List | Editor::Exim | Editor::Panel => None,
        }
    }
}

/// The domains `plan` would change, from the audit's evidence alone: the
/// domains whose evidence must be confirmed (see [`crate::audit::reconfirm`])
/// before [`plan`] runs.
pub fn candidates(audit: &Audit) -> Vec<DomainName> {
    let mut ignored = Vec::new();
    audit
        .domains
        .iter()
        .filter(|audited| select(audited, &mut ignored).is_some())
        .map(|audited| audited.domain.name.clone())
        .collect()
}

/// Plan the remediation of `audit`, with the evidence of each change
/// confirmed by `reconfirmed`, editing the files under `root` (and
/// refusing every file that no longer holds what the audit read).
pub fn plan(
    audit: &Audit,
    root: &ConfigRoot,
    reconfirmed: &Reconfirmed,
) -> Result<Remediation, RemediateError> {
    let mut r = Remediation {
        platform: audit.platform,
        fixes: Vec::new(),
        left: Vec::new(),
        edits: Vec::new(),
        panel: Vec::new(),
        follow_ups: Vec::new(),
        cautions: Vec::new(),
        rejected: Vec::new(),
        refused: Vec::new(),
        stale_tables: Vec::new(),
        confirmed_by: match reconfirmed {
            Reconfirmed::ZoneFiles => ConfirmedBy::ZoneFiles,
            Reconfirmed::OverTcp(_) => ConfirmedBy::Tcp,
        },
    };
    let editor = Editor::of(audit)?;
    let main_cf = editor.main_cf();
    let trust = Trust::new(root, &audit.files_read, audit.platform);
    let mut files: BTreeMap<String, Working> = BTreeMap::new();
    let mut any_turn_off = false;
    let mut any_alias_domain = false;
    let mut any_relay = false;

    for audited in &audit.domains {
        let Some((finding, action)) = select(audited, &mut r.left) else {
            continue;
        };
        let known = &audited.domain;
        let outcome = confirm(audited, finding, action, reconfirmed)
            .map_err(|reason| NotPlanned::Refused(RefusalCause::EvidenceChanged, reason))
            .and_then(|confirmation| {
                // main.cf says what every other Postfix file means.
                trust.declarations(known, main_cf)?;
                Ok(confirmation)
            })
            .and_then(|confirmation| {
                // The files edited, or the panel command.
                let (edited, command) = match &editor {
                    Editor::Postfix {
                        files: postfix_files,
                        kinds,
                    } => {
                        let ops = postfix::ops(known, action, kinds, postfix_files)?;
                        let edited =
                            edit_files(root, &trust, &mut files, kinds, ops, &Given::new())?;
                        (edited, None)
                    }
                    Editor::Qmail => {
                        let ops = qmail::ops(known, action)?;
                        let edited = edit_files(
                            root,
                            &trust,
                            &mut files,
                            &qmail::kinds(),
                            ops,
                            &Given::new(),
                        )?;
                        (edited, None)
                    }
                    Editor::Exim => {
                        let ops = exim::ops(known, action)?;
                        let edited = edit_files(
                            root,
                            &trust,
                            &mut files,
                            &exim::kinds(),
                            ops,
                            &Given::new(),
                        )?;
                        (edited, None)
                    }
                    Editor::List => {
                        let (kinds, ops, given) = list::ops(known, action, root)?;
                        let edited = edit_files(root, &trust, &mut files, &kinds, ops, &given)?;
                        (edited, None)
                    }
                    Editor::Panel => {
                        let step = panel::step(
                            audit.platform,
                            known,
                            finding,
                            action,
                            &confirmation,
                            &mut r.rejected,
                        )?;
                        let line = step.line();
                        r.panel.push(step);
                        (Vec::new(), line)
                    }
                };
                Ok((edited, command, confirmation))
            });
        match outcome {
            Ok((edited, command, confirmation)) => {
                any_turn_off |= action == Action::TurnOff;
                any_relay |= action == Action::MakeRelay;
                any_alias_domain |= action == Action::TurnOff
                    && known.declared.iter().any(|d| {
                        matches!(
                            d.via,
                            Via::Parameter(PostfixParam::VirtualAliasDomains)
                                | Via::CompiledTable(PostfixParam::VirtualAliasDomains)
                        )
                    });
                r.fixes.push(Fix {
                    domain: known.name.clone(),
                    rule: finding.rule,
                    severity: finding.severity,
                    action,
                    evidence: finding.message.clone(),
                    files: edited,
                    command,
                    confirmation,
                });
            }
            Err(NotPlanned::ForAHuman(reason)) => r.left.push(Left {
                domain: known.name.clone(),
                rule: finding.rule,
                reason,
            }),
            Err(NotPlanned::Refused(cause, reason)) => r.refused.push(Refused {
                domain: known.name.clone(),
                rule: finding.rule,
                cause,
                reason,
            }),
        }
    }

    if any_turn_off {
        r.cautions.push(
            "turning local delivery off loses nothing, but the mail already delivered stays in the local mailboxes: tell the customers, or move it to their new provider".into(),
        );
        r.cautions.push(
            "aliases and forwarders of those domains on this server stop working (mail sent on this server goes to the domain's real MX instead)".into(),
        );
    }
    if any_alias_domain {
        r.cautions.push(
            "a virtual alias domain is removed: its forwarding addresses stop working here".into(),
        );
    }
    if any_relay && audit.platform == Platform::Postfix {
        r.cautions.push(
            "a relay domain accepts every recipient unless relay_recipient_maps lists the valid ones; set it to avoid backscatter".into(),
        );
    }
    if audit.platform == Platform::List && !r.fixes.is_empty() {
        r.cautions.push(
            "the domains file is an export: make the same change in the system it came from (the panel's database), or the next export brings the domains back".into(),
        );
    }

    // main.cf first (see `Remediation::edits`), then by path.
    let mut order: Vec<&String> = files.keys().collect();
    order.sort_by_key(|rel| (Some(rel.as_str()) != main_cf, rel.as_str()));
    for rel in order {
        let Some(work) = files.get(rel) else { continue };
        let updated = work.text.render();
        if updated.as_bytes() == work.original.as_slice() {
            continue;
        }
        let postmap = work
            .table_type
            .as_deref()
            .and_then(|configured| postfix::compiled_type(root, rel, configured));
        r.edits.push(FileEdit {
            rel: rel.clone(),
            target: work.target.clone(),
            path: work.path.clone(),
            original: work.original.clone(),
            updated,
            postmap,
        });
    }
    if let Editor::Postfix { kinds, .. } = &editor {
        r.stale_tables = postfix::stale_tables(audit, root, kinds, &r.edits);
    }
    let edits: Vec<&FileEdit> = r.edits.iter().collect();
    r.follow_ups = follow_ups(audit.platform, &edits, &r.stale_tables);
    Ok(r)
}

/// Edits of one domain: the file (relative to the root) and the operation.
type Ops = Vec<(String, EditOp)>;

/// List files given on the command line, by their path relative to the
/// root: the name the audit read them under.
type Given = BTreeMap<String, String>;

/// The files changes rest on, checked against what the audit read.
struct Trust<'a> {
    root: &'a ConfigRoot,
    audit: &'a FilesRead,
    platform: Platform,
    /// Declaration files read again, and what they held.
    checked: std::cell::RefCell<BTreeMap<FileKey, ReadCheck>>,
}

impl<'a> Trust<'a> {
    fn new(root: &'a ConfigRoot, audit: &'a FilesRead, platform: Platform) -> Self {
        Trust {
            root,
            audit,
            platform,
            checked: std::cell::RefCell::default(),
        }
    }

    fn changed(key: &FileKey) -> NotPlanned {
        NotPlanned::Refused(
            RefusalCause::FileChanged,
            format!(
                "{key} changed during the run: it holds other bytes than when the audit read it, so the audit's findings and line numbers no longer describe it; nothing planned (run mxdrift fix again)"
            ),
        )
    }

    /// The bytes a change is computed from must be the audit's.
    fn bytes(&self, key: &FileKey, bytes: &[u8]) -> Result<(), NotPlanned> {
        match self.audit.check(key, bytes) {
            ReadCheck::Same => Ok(()),
            ReadCheck::Changed => Err(Self::changed(key)),
            ReadCheck::NotRead => Err(NotPlanned::Refused(
                RefusalCause::FileChanged,
                format!(
                    "{key} was not read by the audit, so nothing shows that it holds what the audit judged; nothing planned"
                ),
            )),
        }
    }

    /// Every file the domain is declared in, and `also` (main.cf), still
    /// holds what the audit read. Files the audit did not read whole (a
    /// hosting directory, a compiled table) are not checked here.
    fn declarations(&self, known: &KnownDomain, also: Option<&str>) -> Result<(), NotPlanned> {
        let key_of = |file: &str| match self.platform {
            Platform::List => FileKey::Given(file.to_string()),
            _ => FileKey::UnderRoot(file.to_string()),
        };
        let keys = known
            .declared
            .iter()
            .map(|d| key_of(&d.file))
            .chain(also.map(|f| FileKey::UnderRoot(f.to_string())));
        for key in keys {
            if self.check_again(&key) == ReadCheck::Changed {
                return Err(Self::changed(&key));
            }
        }
        Ok(())
    }

    /// Read a file again (once per plan) and compare it with the audit's read.
    fn check_again(&self, key: &FileKey) -> ReadCheck {
        // Already different between two reads (the audit's, or an edit
        // loading the file through the same record), or never read whole.
        match self.audit.state(key) {
            ReadCheck::Same => {}
            other => return other,
        }
        if let Some(check) = self.checked.borrow().get(key) {
            return *check;
        }
        let bytes = match key {
            FileKey::UnderRoot(path) => self.root.read_bytes(path, safe_fs::TABLE_LIMIT).ok(),
            FileKey::Given(path) => safe_fs::read_path(Path::new(path), safe_fs::TABLE_LIMIT).ok(),
        };
        // Gone or unreadable now: not what the audit read.
        let check = bytes.map_or(ReadCheck::Changed, |b| self.audit.check(key, &b));
        self.checked.borrow_mut().insert(key.clone(), check);
        check
    }
}

fn remove_op(
    place: &Declared,
    known: &KnownDomain,
    kinds: &Kinds,
) -> Result<(String, EditOp), String> {
    if let Via::Default(_) = place.via {
        return Err(format!(
            "declared by a built-in default ({}); set the parameter by hand",
            place.via
        ));
    }
    let (kind, _) = kinds
        .get(&place.file)
        .ok_or_else(|| format!("{}: not a file mxdrift knows how to edit", place.file))?;
    Ok((
        place.file.clone(),
        EditOp::Remove {
            line: place.line,
            spans: place.spans().collect(),
            kind: *kind,
            domain: known.name.clone(),
        },
    ))
}

/// Apply one domain's operations to the working copies, all or nothing.
/// Returns the files edited. Each file is read once, and only when it
/// holds the bytes the audit read (`given` names list files as the audit
/// read them).
fn edit_files(
    root: &ConfigRoot,
    trust: &Trust<'_>,
    files: &mut BTreeMap<String, Working>,
    kinds: &Kinds,
    ops: Vec<(String, EditOp)>,
    given: &Given,
) -> Result<Vec<String>, NotPlanned> {
    let mut touched: BTreeMap<String, Working> = BTreeMap::new();
    for (rel, op) in ops {
        if !touched.contains_key(&rel) {
            let work = match files.get(&rel) {
                Some(w) => w.clone(),
                None => {
                    let work = load(root, &rel, kinds)?;
                    let key = match given.get(&rel) {
                        Some(shown) => FileKey::Given(shown.clone()),
                        None => FileKey::UnderRoot(rel.clone()),
                    };
                    trust.bytes(&key, &work.original)?;
                    work
                }
            };
            touched.insert(rel.clone(), work);
        }
        let work = touched
            .get_mut(&rel)
            .ok_or_else(|| format!("{rel}: internal: not loaded"))?;
        work.text.apply(&rel, &op).map_err(|e| e.to_string())?;
    }
    // A main.cf that no longer parses would stop Postfix: never offer it.
    for (rel, work) in &touched {
        if kinds.get(rel).is_some_and(|(k, _)| *k == PlaceKind::MainCf)
            && let Err(e) = MainCf::parse(rel, &work.text.render())
        {
            return Err(format!("{rel}: the edited file would not parse: {e}").into());
        }
    }
    let edited = touched.keys().cloned().collect();
    files.extend(touched);
    Ok(edited)
}

fn load(root: &ConfigRoot, rel: &str, kinds: &Kinds) -> Result<Working, String> {
    let limit = match kinds.get(rel) {
        Some((PlaceKind::MainCf, _)) => safe_fs::MAIN_CF_LIMIT,
        _ => safe_fs::TABLE_LIMIT,
    };
    let (target, original) = root.read_resolved(rel, limit).map_err(|e| e.to_string())?;
    let text = String::from_utf8(original.clone())
        .map_err(|_| format!("{rel} is not UTF-8 text; mxdrift does not rewrite it"))?;
    Ok(Working {
        path: root.dir().join(&target),
        target,
        original,
        text: FileText::new(&text),
        table_type: kinds.get(rel).and_then(|(_, t)| t.clone()),
    })
}
