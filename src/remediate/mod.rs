//! Remediation: turn an [`Audit`] into the exact change that fixes each
//! finding with conclusive evidence, and nothing else.
//!
//! - [`plan`] decides, per domain, what is fixed and how (a file edit on
//!   plain Postfix, qmail and domain lists; a panel command on Plesk,
//!   cPanel and DirectAdmin, whose files the panel would overwrite) and
//!   what is left for a human, with the reason.
//! - [`diff`] edits text keeping its layout and renders unified diffs,
//!   [`commands`] renders the shell script, [`apply`] writes the files.

pub mod apply;
pub mod commands;
pub mod diff;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::audit::{Audit, AuditedDomain};
use crate::inventory::{Declared, Delivery, DomainName, KnownDomain, Platform};
use crate::rules::{Finding, Severity};
use crate::safe_fs;
use crate::sources::postfix::lists::Pattern;
use crate::sources::postfix::{self, TableLoad};
use crate::sources::{ConfigRoot, SourceError, SourceOptions};
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
    /// The bytes the plan was computed from; apply refuses the file when
    /// they changed.
    pub original: Vec<u8>,
    pub updated: String,
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
        self.render_script(true)
    }

    /// The script for after `--apply` wrote the files: the same without
    /// the note that file changes are still to be applied.
    pub fn script_after_apply(&self) -> String {
        self.render_script(false)
    }

    fn render_script(&self, files_pending: bool) -> String {
        let mut header = vec![format!(
            "mxdrift fix --commands: remediation for a {} server. Review it, then run it as root on the server.",
            self.platform.as_str()
        )];
        if files_pending && !self.edits.is_empty() {
            let files: Vec<&str> = self.edits.iter().map(|e| e.rel.as_str()).collect();
            header.push(format!(
                "File changes are not in this script: apply the diff of `mxdrift fix` (or run `mxdrift fix --apply`) first. Files: {}",
                files.join(", ")
            ));
        }
        let prelude = (self.platform == Platform::Directadmin && !self.panel.is_empty())
            .then_some(commands::DIRECTADMIN_PRELUDE);
        commands::Script {
            header,
            cautions: &self.cautions,
            prelude,
            fixes: &self.panel,
            follow_ups: &self.follow_ups,
            left: self.left.iter().map(Left::line).collect(),
        }
        .render()
    }

    /// Human-readable summary for standard error (diff and apply modes).
    pub fn summary(&self) -> String {
        let mut out = String::new();
        for f in &self.fixes {
            let what = match f.action {
                Action::TurnOff => "local delivery off",
                Action::MakeRelay => "relay (backup MX)",
            };
            out.push_str(&format!("fixed: {} ({}): {what}\n", f.domain, f.rule));
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
        if self.fixes.is_empty() {
            out.push_str("nothing to fix\n");
        }
        out
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

/// Plan the remediation of `audit`, reading the files under `sources.root`.
pub fn plan(audit: &Audit, sources: &SourceOptions) -> Result<Remediation, RemediateError> {
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
    };
    let (kinds, main_cf) = match audit.platform {
        Platform::Postfix => {
            let config = postfix::read_config(root, &postfix::PostfixOptions::from(sources))?;
            (
                postfix_kinds(&config),
                Some(config.main_cf.file().to_string()),
            )
        }
        _ => (Kinds::new(), None),
    };
    let mut files: BTreeMap<String, Working> = BTreeMap::new();
    let mut any_turn_off = false;
    let mut any_alias_domain = false;
    let mut any_relay = false;

    for audited in &audit.domains {
        let Some((finding, action)) = select(audited, &mut r.left) else {
            continue;
        };
        let known = &audited.domain;
        // The files edited, or the panel command.
        let outcome = match audit.platform {
            Platform::Postfix => postfix_ops(known, action, &kinds, main_cf.as_deref())
                .and_then(|ops| edit_files(root, &mut files, &kinds, ops))
                .map(|edited| (edited, None)),
            Platform::Qmail => qmail_ops(known, action)
                .and_then(|ops| edit_files(root, &mut files, &qmail_kinds(), ops))
                .map(|edited| (edited, None)),
            Platform::List => list_ops(known, action, root)
                .and_then(|(kinds, ops)| edit_files(root, &mut files, &kinds, ops))
                .map(|edited| (edited, None)),
            Platform::Plesk | Platform::Cpanel | Platform::Directadmin => {
                panel_step(audit.platform, known, finding, action, &mut r.rejected).map(|step| {
                    let line = step.line();
                    r.panel.push(step);
                    (Vec::new(), line)
                })
            }
        };
        match outcome {
            Ok((edited, command)) => {
                any_turn_off |= action == Action::TurnOff;
                any_relay |= action == Action::MakeRelay;
                any_alias_domain |= action == Action::TurnOff
                    && known
                        .declared
                        .iter()
                        .any(|d| d.via == "virtual_alias_domains");
                r.fixes.push(Fix {
                    domain: known.name.clone(),
                    rule: finding.rule.clone(),
                    severity: finding.severity,
                    action,
                    evidence: finding.message.clone(),
                    files: edited,
                    command,
                });
            }
            Err(reason) => r.left.push(Left {
                domain: known.name.clone(),
                rule: finding.rule.clone(),
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
        r.edits.push(FileEdit {
            rel: rel.clone(),
            target: work.target.clone(),
            path: work.path.clone(),
            original: work.original.clone(),
            updated,
        });
    }
    r.follow_ups = follow_ups(audit.platform, root, &r.edits, &files);
    Ok(r)
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

/// Postfix: how each file named by the class lists is read.
fn postfix_kinds(config: &postfix::PostfixConfig) -> Kinds {
    let main = config.main_cf.file().to_string();
    let mut kinds = Kinds::new();
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
                    if let TableLoad::Loaded(table) = load.as_ref()
                        && table.file != main
                    {
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
    kinds
}

const LOCAL_CLASSES: &[&str] = &[
    "mydestination",
    "virtual_alias_domains",
    "virtual_mailbox_domains",
];

fn postfix_ops(
    known: &KnownDomain,
    action: Action,
    kinds: &Kinds,
    main_cf: Option<&str>,
) -> Result<Vec<(String, EditOp)>, String> {
    let mut ops = Vec::new();
    let mut in_relay = false;
    for place in &known.declared {
        let relay = place.via == "relay_domains";
        in_relay |= relay;
        // Transport entries route mail; they do not make it local.
        if place.via == "transport_maps" || (action == Action::MakeRelay && relay) {
            continue;
        }
        if !LOCAL_CLASSES.contains(&place.via.as_str()) && !relay {
            return Err(format!(
                "declared at {}:{} through {}, which mxdrift does not edit",
                place.file, place.line, place.via
            ));
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
    if place.line == 0 {
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
        if !kinds.contains_key(&place.file) || place.via.contains("default") {
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
) -> Result<(Kinds, Vec<(String, EditOp)>), String> {
    if action == Action::MakeRelay {
        return Err(
            "a plain domain list has no relay list; make the domain a relay (backup MX) on the mail server itself".into(),
        );
    }
    let mut kinds = Kinds::new();
    let mut ops = Vec::new();
    for place in &known.declared {
        let rel = relative_to_root(Path::new(&place.file), root).ok_or_else(|| {
            format!(
                "the domains file {} is not under --root, so the diff cannot name it relative to the root",
                place.file
            )
        })?;
        kinds.insert(rel.clone(), (PlaceKind::LinePerName, None));
        ops.push((
            rel,
            EditOp::Remove {
                line: place.line,
                kind: PlaceKind::LinePerName,
                domain: known.name.clone(),
            },
        ));
    }
    Ok((kinds, ops))
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
/// Returns the files edited.
fn edit_files(
    root: &ConfigRoot,
    files: &mut BTreeMap<String, Working>,
    kinds: &Kinds,
    ops: Vec<(String, EditOp)>,
) -> Result<Vec<String>, String> {
    let mut touched: BTreeMap<String, Working> = BTreeMap::new();
    for (rel, op) in ops {
        if !touched.contains_key(&rel) {
            let work = match files.get(&rel) {
                Some(w) => w.clone(),
                None => load(root, &rel, kinds)?,
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
            return Err(format!("{rel}: the edited file would not parse: {e}"));
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
fn follow_ups(
    platform: Platform,
    root: &ConfigRoot,
    edits: &[FileEdit],
    files: &BTreeMap<String, Working>,
) -> Vec<Step> {
    let mut steps = Vec::new();
    match platform {
        Platform::Postfix if !edits.is_empty() => {
            for edit in edits {
                let Some(table_type) = files.get(&edit.rel).and_then(|w| w.table_type.as_deref())
                else {
                    continue;
                };
                if let Some(compiled) = compiled_type(root, &edit.rel, table_type) {
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
/// (`hash:` may have been redirected to lmdb, a `.db` may be a btree);
/// `None` for types read directly from text (texthash).
fn compiled_type(root: &ConfigRoot, rel: &str, configured: &str) -> Option<String> {
    if configured == "texthash" || configured == "inline" {
        return None;
    }
    let with = |suffix: &str| format!("{rel}{suffix}");
    let db = with(".db");
    if root.exists(&db) {
        return Some(berkeley_db_type(root, &db).unwrap_or("hash").to_string());
    }
    if root.exists(&with(".lmdb")) {
        return Some("lmdb".into());
    }
    if root.exists(&with(".cdb")) {
        return Some("cdb".into());
    }
    Some(configured.to_string())
}

/// `hash` or `btree` from a Berkeley DB file's metadata page (the magic
/// number at byte 12, in either byte order).
fn berkeley_db_type(root: &ConfigRoot, rel: &str) -> Option<&'static str> {
    use std::io::Read;
    let mut head = [0u8; 16];
    root.open(rel).ok()?.read_exact(&mut head).ok()?;
    let magic: [u8; 4] = head.get(12..16)?.try_into().ok()?;
    let values = [u32::from_le_bytes(magic), u32::from_be_bytes(magic)];
    if values.contains(&0x0005_3162) {
        Some("btree")
    } else if values.contains(&0x0006_1561) {
        Some("hash")
    } else {
        None
    }
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
        assert_eq!(berkeley_db_type(&root, "t.db"), Some("btree"));
        page[12..16].copy_from_slice(&0x0006_1561u32.to_be_bytes());
        std::fs::write(dir.path().join("t.db"), &page).unwrap();
        assert_eq!(berkeley_db_type(&root, "t.db"), Some("hash"));
        assert_eq!(compiled_type(&root, "t", "btree").as_deref(), Some("hash"));
        std::fs::write(dir.path().join("u.lmdb"), b"").unwrap();
        assert_eq!(compiled_type(&root, "u", "hash").as_deref(), Some("lmdb"));
        assert_eq!(compiled_type(&root, "v", "cdb").as_deref(), Some("cdb"));
        assert_eq!(compiled_type(&root, "v", "texthash"), None);
    }
}
