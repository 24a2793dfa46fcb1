//! Remediation: turn an [`Audit`] into the exact change that fixes each
//! finding with conclusive evidence, and nothing else.
//!
//! - [`plan`] decides, per domain, what is fixed and how (a file edit on
//!   plain Postfix, qmail and domain lists; a panel command on Plesk,
//!   cPanel and DirectAdmin, whose files the panel would overwrite) and
//!   what is left for a human, with the reason.
//! - [`diff`] edits text keeping its layout and renders unified diffs,
//!   [`commands`] renders the shell script, [`apply`] writes the files.
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
pub mod diff;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::audit::{Audit, AuditedDomain, Reconfirmed};
use crate::inventory::{
    Declared, Delivery, DomainName, KnownDomain, ListFile, Platform, PostfixParam, Via,
};
use crate::rules::{Finding, Severity, evidence_summary};
use crate::safe_fs;
use crate::sources::postfix::compiled::{self, CompiledFormat, FileSource};
use crate::sources::postfix::lists::Pattern;
use crate::sources::postfix::{self, TableLoad};
use crate::sources::{ConfigRoot, FileKey, FilesRead, ReadCheck, SourceError, SourceOptions};
use crate::verdict::Verdict;
use commands::{Step, Word};
use diff::{EditOp, FileText, PlaceKind};

/// Rules whose fix turns local delivery off.
const TURN_OFF_RULES: &[&str] = &[
    "mail-switch-on",
    "domain-not-found",
    "null-mx-delivered-locally",
];
/// The rule whose fix makes the domain a relay (backup MX).
const MAKE_RELAY_RULE: &str = "backup-mx-delivers-locally";

/// Rules that are never fixed automatically, and why.
const FOR_A_HUMAN: &[(&str, &str)] = &[
    (
        "split-delivery",
        "this server shares the best MX preference with foreign hosts; some setups split delivery on purpose, so decide which server should receive the mail",
    ),
    (
        "mx-host-unresolvable",
        "an MX host of the domain has no address: the DNS is broken, not this server; fix the DNS first",
    ),
    (
        "mx-points-here-not-local",
        "the MX points here but this server does not accept the domain's mail; turn mail on in the panel or change the MX (mxdrift never turns delivery on)",
    ),
];

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
    pub rule: String,
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
    pub rule: String,
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
    pub rule: String,
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
    #[error(transparent)]
    Source(#[from] SourceError),
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

/// How the platform reads each file (Postfix), by path relative to the root.
type Kinds = BTreeMap<String, (PlaceKind, Option<String>)>;

/// Postfix: the compiled tables keys were read from, by compiled file
/// relative to the root. mxdrift never writes a binary file: a domain
/// declared only there is left for a human, with the command to use.
type CompiledPlaces = BTreeMap<String, CompiledPlace>;

#[derive(Debug, Clone)]
struct CompiledPlace {
    /// `TYPE:/server/path`, as postmap takes it.
    postmap_table: String,
    /// The text source, when it exists (relative to the root).
    source: Option<String>,
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
/// confirmed by `reconfirmed`, reading the files under `sources.root` (and
/// refusing every file that no longer holds what the audit read).
pub fn plan(
    audit: &Audit,
    sources: &SourceOptions,
    reconfirmed: &Reconfirmed,
) -> Result<Remediation, RemediateError> {
    let root = &sources.root;
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
    let (kinds, compiled, main_cf) = match audit.platform {
        Platform::Postfix => {
            let config = postfix::read_config(root, &postfix::PostfixOptions::from(sources))?;
            let (kinds, compiled) = postfix_kinds(&config);
            (kinds, compiled, Some(config.main_cf.file().to_string()))
        }
        _ => (Kinds::new(), CompiledPlaces::new(), None),
    };
    // After read_config: what planning re-read must be what the audit read.
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
                trust.declarations(known, main_cf.as_deref())?;
                Ok(confirmation)
            })
            .and_then(|confirmation| {
                // The files edited, or the panel command.
                let (edited, command) = match audit.platform {
                    Platform::Postfix => {
                        let ops =
                            postfix_ops(known, action, &kinds, &compiled, main_cf.as_deref())?;
                        let edited =
                            edit_files(root, &trust, &mut files, &kinds, ops, &Given::new())?;
                        (edited, None)
                    }
                    Platform::Qmail => {
                        let ops = qmail_ops(known, action)?;
                        let edited = edit_files(
                            root,
                            &trust,
                            &mut files,
                            &qmail_kinds(),
                            ops,
                            &Given::new(),
                        )?;
                        (edited, None)
                    }
                    Platform::List => {
                        let (kinds, ops, given) = list_ops(known, action, root)?;
                        let edited = edit_files(root, &trust, &mut files, &kinds, ops, &given)?;
                        (edited, None)
                    }
                    Platform::Plesk | Platform::Cpanel | Platform::Directadmin => {
                        let step = panel_step(
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
                    rule: finding.rule.clone(),
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
                rule: finding.rule.clone(),
                reason,
            }),
            Err(NotPlanned::Refused(cause, reason)) => r.refused.push(Refused {
                domain: known.name.clone(),
                rule: finding.rule.clone(),
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
    order.sort_by_key(|rel| (Some(rel.as_str()) != main_cf.as_deref(), rel.as_str()));
    for rel in order {
        let Some(work) = files.get(rel) else { continue };
        let updated = work.text.render();
        if updated.as_bytes() == work.original.as_slice() {
            continue;
        }
        let postmap = work
            .table_type
            .as_deref()
            .and_then(|configured| compiled_type(root, rel, configured));
        r.edits.push(FileEdit {
            rel: rel.clone(),
            target: work.target.clone(),
            path: work.path.clone(),
            original: work.original.clone(),
            updated,
            postmap,
        });
    }
    r.stale_tables = stale_tables(audit, root, &kinds, &r.edits);
    let edits: Vec<&FileEdit> = r.edits.iter().collect();
    r.follow_ups = follow_ups(audit.platform, &edits, &r.stale_tables);
    Ok(r)
}

/// Postfix table sources, not edited now, whose keys differ from the
/// compiled file Postfix reads (the audit's `table-not-compiled`): a change
/// never compiled, so Postfix still answers from other keys.
fn stale_tables(
    audit: &Audit,
    root: &ConfigRoot,
    kinds: &Kinds,
    edits: &[FileEdit],
) -> Vec<StaleTable> {
    let differing: Vec<&str> = audit
        .run_findings
        .iter()
        .filter(|f| f.rule == crate::rules::ids::TABLE_NOT_COMPILED)
        .filter_map(|f| f.file.as_deref())
        .collect();
    kinds
        .iter()
        .filter(|(rel, _)| differing.contains(&rel.as_str()))
        .filter(|(rel, _)| !edits.iter().any(|e| &e.rel == *rel))
        .filter_map(|(rel, (kind, table_type))| {
            let table_type = table_type
                .as_deref()
                .filter(|_| *kind == PlaceKind::TableSource)?;
            Some(StaleTable {
                source: rel.clone(),
                postmap: compiled_type(root, rel, table_type)?,
            })
        })
        .collect()
}

/// The confirmation of a change, or why it is refused: asked again over
/// TCP, the evidence must give the same verdict, and on it [`select`] the
/// same rule and action. The comparison runs the same verdict and rules
/// code as the audit (`audit::reconfirm` judged the TCP evidence).
fn confirm(
    audited: &AuditedDomain,
    finding: &Finding,
    action: Action,
    reconfirmed: &Reconfirmed,
) -> Result<Confirmation, String> {
    let domains = match reconfirmed {
        Reconfirmed::ZoneFiles => return Ok(Confirmation::ZoneFiles),
        Reconfirmed::OverTcp(domains) => domains,
    };
    let Some(again) = domains.get(&audited.domain.name) else {
        return Err(
            "not resolved again over TCP, so the evidence is unconfirmed; nothing planned".into(),
        );
    };
    let mut ignored = Vec::new();
    let same = again.verdict == audited.verdict
        && select(again, &mut ignored).is_some_and(|(f, a)| f.rule == finding.rule && a == action);
    if same {
        return Ok(Confirmation::OverTcp {
            verdict: again.verdict,
            evidence: evidence_summary(&again.evidence),
        });
    }
    let rules = |d: &AuditedDomain| {
        let ids: Vec<&str> = d
            .findings
            .iter()
            .filter(|f| f.ignored.is_none())
            .map(|f| f.rule.as_str())
            .collect();
        if ids.is_empty() {
            "no finding".to_string()
        } else {
            ids.join(", ")
        }
    };
    Err(format!(
        "evidence changed between UDP and TCP: possible spoofing or a zone in flux; nothing planned. UDP: verdict {} ({}), {}; TCP: verdict {} ({}), {}",
        audited.verdict.as_str(),
        rules(audited),
        evidence_summary(&audited.evidence),
        again.verdict.as_str(),
        rules(again),
        evidence_summary(&again.evidence),
    ))
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
        // Already different between two reads (planning re-read main.cf and
        // its tables through the same record), or never read whole.
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

/// The finding of a domain to fix and how, or `None` (with the reasons
/// pushed to `left`) when nothing may be touched.
fn select<'a>(audited: &'a AuditedDomain, left: &mut Vec<Left>) -> Option<(&'a Finding, Action)> {
    let name = &audited.domain.name;
    let mut blocking = None;
    let mut candidate = None;
    for f in &audited.findings {
        let fixable = TURN_OFF_RULES.contains(&f.rule.as_str()) || f.rule == MAKE_RELAY_RULE;
        let human = FOR_A_HUMAN.iter().find(|(rule, _)| *rule == f.rule);
        let reason = if let Some(why) = &f.ignored {
            Some(format!(
                "ignored in the configuration ({why}); never remediated"
            ))
        } else if f.rule == "lookup-inconclusive" {
            Some("DNS did not answer conclusively; never remediated".to_string())
        } else if let Some((_, why)) = human {
            blocking = Some(f.rule.clone());
            if f.severity == Severity::Info {
                // A case the rule reports at info (a web-only name): the
                // finding says why; there is nothing to decide.
                Some("reported at info level; nothing to fix".to_string())
            } else {
                Some((*why).to_string())
            }
        } else if fixable && f.severity == Severity::Info {
            Some("the finding is at info level; never remediated".into())
        } else if fixable
            && (audited.verdict == Verdict::Inconclusive
                || audited.domain.delivery != Delivery::Local)
        {
            Some("the evidence is not conclusive; never remediated".into())
        } else {
            None
        };
        match reason {
            Some(reason) if fixable || human.is_some() || f.rule == "lookup-inconclusive" => {
                left.push(Left {
                    domain: name.clone(),
                    rule: f.rule.clone(),
                    reason,
                });
            }
            // An ignored info finding (mx-target-cname) needs no mention.
            Some(_) => {}
            None if fixable => {
                let action = if f.rule == MAKE_RELAY_RULE {
                    Action::MakeRelay
                } else {
                    Action::TurnOff
                };
                candidate = Some((f, action));
            }
            None => {}
        }
    }
    let (finding, action) = candidate?;
    if let Some(other) = blocking {
        left.push(Left {
            domain: name.clone(),
            rule: finding.rule.clone(),
            reason: format!("the domain also has {other}; decide by hand"),
        });
        return None;
    }
    Some((finding, action))
}

/// Postfix: how each file named by the class lists is read, and the
/// compiled tables among them.
fn postfix_kinds(config: &postfix::PostfixConfig) -> (Kinds, CompiledPlaces) {
    let main = config.main_cf.file().to_string();
    let mut kinds = Kinds::new();
    let mut compiled = CompiledPlaces::new();
    kinds.insert(main.clone(), (PlaceKind::MainCf, None));
    for list in &config.classes {
        for item in &list.items {
            match &item.pattern {
                Pattern::Name(_) if item.location.file != main => {
                    kinds
                        .entry(item.location.file.clone())
                        .or_insert((PlaceKind::ListFile, None));
                }
                Pattern::Table { spec, load } => {
                    let TableLoad::Loaded(table) = load.as_ref() else {
                        continue;
                    };
                    if let Some(file) = &table.compiled {
                        let source = (!table.is_compiled_only()).then(|| table.file.clone());
                        let path = file
                            .strip_suffix(compiled_suffix(&spec.table_type))
                            .unwrap_or(file);
                        compiled.insert(
                            file.clone(),
                            CompiledPlace {
                                postmap_table: format!("{}:/{path}", spec.table_type),
                                source,
                            },
                        );
                    }
                    if table.file != main && !table.is_compiled_only() {
                        kinds.insert(
                            table.file.clone(),
                            (PlaceKind::TableSource, Some(spec.table_type.clone())),
                        );
                    }
                }
                Pattern::Name(_) => {}
            }
        }
    }
    (kinds, compiled)
}

/// The suffix `postmap` gives the compiled file of a table type.
fn compiled_suffix(table_type: &str) -> &'static str {
    CompiledFormat::for_table_type(table_type).map_or("", |(_, suffix)| suffix)
}

/// Why a domain declared in a compiled file is left for a human.
fn compiled_reason(file: &str, place: &CompiledPlace, domain: &DomainName) -> String {
    match &place.source {
        None => format!(
            "declared only in the compiled table {file}, which has no text source: mxdrift never writes binary files. Find out what builds this table (a script or a panel would add the domain again), then remove the key there, or with `postmap -d '{domain}' {}` and `postfix reload`",
            place.postmap_table
        ),
        Some(source) => format!(
            "declared in the compiled table {file} but no longer in its source {source} (see table-not-compiled): review the source, then run `postmap {}` and `postfix reload`",
            place.postmap_table
        ),
    }
}

fn postfix_ops(
    known: &KnownDomain,
    action: Action,
    kinds: &Kinds,
    compiled: &CompiledPlaces,
    main_cf: Option<&str>,
) -> Result<Vec<(String, EditOp)>, String> {
    let mut ops = Vec::new();
    let mut in_relay = false;
    for place in &known.declared {
        if let Some(table) = compiled.get(&place.file) {
            return Err(compiled_reason(&place.file, table, &known.name));
        }
        // A compiled table of a class list was left above; a compiled
        // transport table only routes, as its text would.
        let param = match place.via {
            Via::Parameter(param) | Via::CompiledTable(param) => param,
            Via::Default(_) | Via::ListFile(_) | Via::Directory(_) => {
                return Err(format!(
                    "declared at {}:{} through {}, which mxdrift does not edit",
                    place.file, place.line, place.via
                ));
            }
        };
        match param {
            // Transport entries route mail; they do not make it local.
            PostfixParam::TransportMaps => continue,
            PostfixParam::RelayDomains => {
                in_relay = true;
                if action == Action::MakeRelay {
                    continue;
                }
            }
            PostfixParam::Mydestination
            | PostfixParam::VirtualAliasDomains
            | PostfixParam::VirtualMailboxDomains => {}
        }
        ops.push(remove_op(place, known, kinds)?);
    }
    if action == Action::MakeRelay && !in_relay {
        let main = main_cf.ok_or("main.cf is unknown")?;
        ops.push((
            main.to_string(),
            EditOp::AppendToParam {
                param: "relay_domains".into(),
                domain: known.name.clone(),
            },
        ));
    }
    Ok(ops)
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

const QMAIL_LOCALS: &str = "var/qmail/control/locals";
const QMAIL_VIRTUALDOMAINS: &str = "var/qmail/control/virtualdomains";
const QMAIL_RCPTHOSTS: &str = "var/qmail/control/rcpthosts";
const QMAIL_MORERCPTHOSTS: &str = "var/qmail/control/morercpthosts";

fn qmail_kinds() -> Kinds {
    let mut kinds = Kinds::new();
    for file in [QMAIL_LOCALS, QMAIL_RCPTHOSTS, QMAIL_MORERCPTHOSTS] {
        kinds.insert(file.to_string(), (PlaceKind::LinePerName, None));
    }
    kinds.insert(
        QMAIL_VIRTUALDOMAINS.to_string(),
        (PlaceKind::QmailVirtualDomains, None),
    );
    kinds
}

fn qmail_ops(known: &KnownDomain, action: Action) -> Result<Vec<(String, EditOp)>, String> {
    let kinds = qmail_kinds();
    let mut ops = Vec::new();
    let mut accepted = false;
    for place in &known.declared {
        let acceptance = place.file == QMAIL_RCPTHOSTS || place.file == QMAIL_MORERCPTHOSTS;
        accepted |= acceptance;
        if action == Action::MakeRelay && acceptance {
            continue;
        }
        // Only names written in qmail's control files are removed; `me`
        // standing in for a missing `locals` is a default.
        let in_control_file = match place.via {
            Via::ListFile(list) => matches!(
                list,
                ListFile::QmailLocals
                    | ListFile::QmailVirtualDomains
                    | ListFile::QmailRcptHosts
                    | ListFile::QmailMoreRcptHosts
            ),
            Via::Default(_) | Via::Parameter(_) | Via::CompiledTable(_) | Via::Directory(_) => {
                false
            }
        };
        if !kinds.contains_key(&place.file) || !in_control_file {
            return Err(format!(
                "declared at {}:{} ({}), which mxdrift does not edit",
                place.file, place.line, place.via
            ));
        }
        ops.push(remove_op(place, known, &kinds)?);
    }
    if action == Action::MakeRelay && !accepted {
        ops.push((
            QMAIL_RCPTHOSTS.to_string(),
            EditOp::AppendLine {
                domain: known.name.clone(),
            },
        ));
    }
    Ok(ops)
}

fn list_ops(
    known: &KnownDomain,
    action: Action,
    root: &ConfigRoot,
) -> Result<(Kinds, Ops, Given), String> {
    if action == Action::MakeRelay {
        return Err(
            "a plain domain list has no relay list; make the domain a relay (backup MX) on the mail server itself".into(),
        );
    }
    let mut kinds = Kinds::new();
    let mut ops = Vec::new();
    let mut given = Given::new();
    for place in &known.declared {
        let rel = relative_to_root(Path::new(&place.file), root).ok_or_else(|| {
            format!(
                "the domains file {} is not under --root, so the diff cannot name it relative to the root",
                place.file
            )
        })?;
        kinds.insert(rel.clone(), (PlaceKind::LinePerName, None));
        given.insert(rel.clone(), place.file.clone());
        ops.push((
            rel,
            EditOp::Remove {
                line: place.line,
                spans: place.spans().collect(),
                kind: PlaceKind::LinePerName,
                domain: known.name.clone(),
            },
        ));
    }
    Ok((kinds, ops, given))
}

/// A path given on the command line, relative to the root when it is
/// below it.
fn relative_to_root(path: &Path, root: &ConfigRoot) -> Option<String> {
    let file = path.canonicalize().ok()?;
    let dir = root.dir().canonicalize().ok()?;
    let rel = file.strip_prefix(dir).ok()?;
    let parts: Vec<String> = rel
        .components()
        .map(|c| c.as_os_str().to_str().map(str::to_string))
        .collect::<Option<_>>()?;
    (!parts.is_empty()).then(|| parts.join("/"))
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
            && let Err(e) = postfix::MainCf::parse(rel, &work.text.render())
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

/// The panel command that fixes a domain on Plesk, cPanel or DirectAdmin.
fn panel_step(
    platform: Platform,
    known: &KnownDomain,
    finding: &Finding,
    action: Action,
    confirmation: &Confirmation,
    rejected: &mut Vec<String>,
) -> Result<Step, String> {
    // A panel setting that says "leave it" wins over any evidence.
    if let Some(setting) = &known.facts.hands_off {
        return Err(setting.reason());
    }
    let managed: Vec<&Declared> = known
        .declared
        .iter()
        .filter(|d| panel_managed(platform, &d.file))
        .collect();
    if managed.is_empty() {
        return Err(
            "declared outside the panel's own domain lists; change it where it is declared".into(),
        );
    }
    let domain = Word::Value(known.name.as_str().to_string());
    let mut comments = vec![
        format!(
            "{}: {} ({})",
            known.name,
            finding.rule,
            finding.severity.as_str()
        ),
        format!("evidence: {}", finding.message),
    ];
    // Zone-file evidence is said once, in the header.
    if let Confirmation::OverTcp { .. } = confirmation {
        comments.push(confirmation.describe());
    }
    for d in &known.declared {
        let note = if panel_managed(platform, &d.file) {
            ""
        } else {
            " (not managed by the panel: check it by hand)"
        };
        comments.push(format!("declared: {}:{} ({}){note}", d.file, d.line, d.via));
    }
    let owner = |rejected: &mut Vec<String>| -> Result<String, String> {
        let raw = known.facts.owner.as_deref().ok_or_else(|| {
            "the panel account owning the domain is unknown; the panel command needs it".to_string()
        })?;
        if commands::is_system_account(raw) {
            return Err(format!(
                "owned by {raw}, a system account and no panel account: the panel command cannot act as it; change the domain's mail routing in the panel by hand"
            ));
        }
        commands::validate_user(raw)
            .map(str::to_string)
            .map_err(|message| {
                let message = format!("{}: {message}", known.name);
                rejected.push(message.clone());
                message
            })
    };
    let words = match (platform, action) {
        (Platform::Plesk, Action::TurnOff) => match &known.facts.alias_of {
            Some(main) => {
                comments.push(format!(
                    "{} is a domain alias of {main}: `plesk bin site` fails on an alias, `plesk bin domalias` switches the alias's mail off and leaves {main} as it is",
                    known.name
                ));
                vec![
                    Word::Fixed("plesk"),
                    Word::Fixed("bin"),
                    Word::Fixed("domalias"),
                    Word::Fixed("--update"),
                    domain,
                    Word::Fixed("-mail"),
                    Word::Fixed("false"),
                ]
            }
            None if !known.facts.hosted => {
                return Err(format!(
                    "not a Plesk site or subscription: var/www/vhosts/system/{0}/ does not exist and no web configuration names {0} as an alias, so `plesk bin site` would fail on it; it may be a domain alias with its web service off (then `plesk bin domalias --update {0} -mail false`) or a leftover in the mail server's files; check it in Plesk",
                    known.name
                ));
            }
            None => vec![
                Word::Fixed("plesk"),
                Word::Fixed("bin"),
                Word::Fixed(if known.facts.subscription {
                    "subscription"
                } else {
                    "site"
                }),
                Word::Fixed("--update"),
                domain,
                Word::Fixed("-mail_service"),
                Word::Fixed("false"),
            ],
        },
        (Platform::Cpanel, _) => vec![
            Word::Fixed("uapi"),
            Word::Value(format!("--user={}", owner(rejected)?)),
            Word::Fixed("Email"),
            Word::Fixed("set_always_accept"),
            Word::Value(format!("domain={}", known.name)),
            Word::Fixed(if action == Action::MakeRelay {
                "alwaysaccept=secondary"
            } else {
                "alwaysaccept=remote"
            }),
        ],
        (Platform::Directadmin, Action::TurnOff) => vec![
            Word::Fixed("da_api"),
            Word::Value(owner(rejected)?),
            Word::Fixed("--data-urlencode"),
            Word::Fixed("action=internal"),
            Word::Fixed("--data-urlencode"),
            Word::Value(format!("domain={}", known.name)),
            Word::Fixed("--data-urlencode"),
            Word::Fixed("internal=no"),
            Word::Expansion("\"${DA_URL}/CMD_API_DNS_MX\""),
        ],
        (_, Action::MakeRelay) => {
            return Err(format!(
                "{} has no per-domain backup-MX (relay) mode mxdrift can switch; make this server a relay for the domain by hand, or remove it from the domain's MX records",
                platform.as_str()
            ));
        }
        _ => return Err("no panel command for this platform".into()),
    };
    Ok(Step::command(comments, words))
}

/// Files the panel writes itself: editing them is undone by the panel's
/// next rebuild, so the panel command is the fix.
fn panel_managed(platform: Platform, file: &str) -> bool {
    match platform {
        Platform::Plesk => {
            file.starts_with("var/spool/postfix/plesk/") || file.starts_with("var/qmail/control/")
        }
        Platform::Cpanel => matches!(
            file,
            "etc/localdomains" | "etc/remotedomains" | "etc/secondarymx" | "etc/userdomains"
        ),
        Platform::Directadmin => file == "etc/virtual/domains",
        _ => false,
    }
}

/// postmap and reload commands after the file edits.
fn follow_ups(platform: Platform, edits: &[&FileEdit], stale: &[StaleTable]) -> Vec<Step> {
    let mut steps = Vec::new();
    match platform {
        Platform::Postfix if !edits.is_empty() || !stale.is_empty() => {
            for table in stale {
                steps.push(Step::command(
                    vec![format!(
                        "{} holds other keys than the table Postfix reads, compiled from it (table-not-compiled): a change that was never compiled (an earlier `mxdrift fix --apply` that stopped, or an edit without postmap); review it, then rebuild",
                        table.source
                    )],
                    vec![
                        Word::Fixed("postmap"),
                        Word::Value(format!("{}:/{}", table.postmap, table.source)),
                    ],
                ));
            }
            for edit in edits {
                if let Some(compiled) = &edit.postmap {
                    steps.push(Step::command(
                        vec![format!(
                            "rebuild the lookup table compiled from {}",
                            edit.rel
                        )],
                        vec![
                            Word::Fixed("postmap"),
                            Word::Value(format!("{compiled}:/{}", edit.rel)),
                        ],
                    ));
                }
            }
            steps.push(Step::command(
                vec!["make Postfix read the changed configuration".into()],
                vec![Word::Fixed("postfix"), Word::Fixed("reload")],
            ));
        }
        Platform::Qmail if !edits.is_empty() => {
            if edits.iter().any(|e| e.rel == QMAIL_MORERCPTHOSTS) {
                steps.push(Step::command(
                    vec!["rebuild morercpthosts.cdb from morercpthosts".into()],
                    vec![Word::Fixed("qmail-newmrh")],
                ));
            }
            if edits
                .iter()
                .any(|e| e.rel == QMAIL_LOCALS || e.rel == QMAIL_VIRTUALDOMAINS)
            {
                steps.push(Step::advice(vec![
                    "qmail-send reads locals and virtualdomains only at start and on SIGHUP: send it a HUP the way your installation runs it (daemontools: svc -h /service/qmail-send)".into(),
                ]));
            }
        }
        _ => {}
    }
    steps
}

/// The table type to give postmap, from the compiled file that exists
/// (`hash:` may have been redirected to lmdb, a `.db` may be a btree: the
/// compiled readers' format detection says which); `None` for types read
/// directly from text (texthash).
fn compiled_type(root: &ConfigRoot, rel: &str, configured: &str) -> Option<String> {
    if configured == "texthash" || configured == "inline" {
        return None;
    }
    let db = format!("{rel}.db");
    if root.exists(&db) {
        let detected = root
            .open(&db)
            .ok()
            .and_then(|file| FileSource::new(file).ok())
            .and_then(|src| compiled::detect(&src).ok().flatten());
        let table_type = match detected {
            Some(format @ (CompiledFormat::BerkeleyHash | CompiledFormat::BerkeleyBtree)) => {
                format.table_type()
            }
            _ => "hash",
        };
        return Some(table_type.to_string());
    }
    if root.exists(&format!("{rel}.lmdb")) {
        return Some("lmdb".into());
    }
    if root.exists(&format!("{rel}.cdb")) {
        return Some("cdb".into());
    }
    Some(configured.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn berkeley_magic_decides_hash_or_btree() {
        let dir = tempfile::tempdir().unwrap();
        let root = ConfigRoot::new(dir.path());
        let mut page = vec![0u8; 64];
        page[12..16].copy_from_slice(&0x0005_3162u32.to_le_bytes());
        std::fs::write(dir.path().join("t.db"), &page).unwrap();
        assert_eq!(compiled_type(&root, "t", "hash").as_deref(), Some("btree"));
        page[12..16].copy_from_slice(&0x0006_1561u32.to_be_bytes());
        std::fs::write(dir.path().join("t.db"), &page).unwrap();
        assert_eq!(compiled_type(&root, "t", "btree").as_deref(), Some("hash"));
        std::fs::write(dir.path().join("u.lmdb"), b"").unwrap();
        assert_eq!(compiled_type(&root, "u", "hash").as_deref(), Some("lmdb"));
        assert_eq!(compiled_type(&root, "v", "cdb").as_deref(), Some("cdb"));
        assert_eq!(compiled_type(&root, "v", "texthash"), None);
    }
}
