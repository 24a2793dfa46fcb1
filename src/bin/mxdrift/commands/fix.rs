//! `mxdrift fix`: audit, confirm over TCP what would change, plan, and
//! print the plan (a diff, a script, JSON) or apply it.

use std::io::{self, Write};
use std::time::{Duration, Instant, SystemTime};

use mxdrift::audit::{self, Audit, AuditOptions};
use mxdrift::cli::{FixArgs, FixFormat};
use mxdrift::identity::Confirmation;
use mxdrift::inventory::Delivery;
use mxdrift::remediate::{self, ChangeLimit, Remediation};
use mxdrift::report::fix_plan;
use mxdrift::settings::{self, PipelineArgs};

use super::OUTPUT_BUFFER;
use crate::error::{CliError, Outcome};
use crate::pipeline::{self, Pipeline};

pub fn run(args: &FixArgs) -> Result<Outcome, CliError> {
    settings::check_fix(args)?;
    let started = Instant::now();
    let Pipeline { audit, opts } = pipeline::run(PipelineArgs::from(args), args.deadline)?;
    // Before anything is planned or printed: a run that does not know who
    // "here" is must not switch anything off.
    if let Some(refusal) = audit.fix_refusal() {
        return Err(refusal.into());
    }
    if let Confirmation::Unconfirmed { elsewhere } = audit.identity.confirmation {
        eprintln!(
            "mxdrift: warning: nothing confirms who this server is (identity-unconfirmed: no MX \
             record of a local domain names it, {elsewhere} look elsewhere); going on because \
             --server-ip or --server-name names it: check them before applying"
        );
    }
    let reconfirmed = reconfirm_changes(&audit, &opts, args.deadline, started)?;
    let plan = remediate::plan(&audit, &opts.sources.root, &reconfirmed)?;
    let local = audit
        .domains
        .iter()
        .filter(|d| d.domain.delivery == Delivery::Local)
        .count();
    let limit = args
        .max_changes
        .map_or_else(|| ChangeLimit::default_for(local), ChangeLimit::given);
    plan.check_limit(limit)?;

    let mut out = io::stdout().lock();
    if args.format == FixFormat::Json {
        let mut buffered = io::BufWriter::with_capacity(OUTPUT_BUFFER, &mut out);
        fix_plan::write_plan(&plan, &mut buffered)?;
        buffered.flush()?;
    } else if args.commands {
        out.write_all(plan.script().as_bytes())?;
    } else if args.apply {
        apply(&plan, args, &opts, started, &mut out)?;
    } else {
        print_diff(&plan, &mut out)?;
    }
    out.flush()?;
    // A change refused because its evidence or files changed is no error,
    // but the run did not do everything the audit called for.
    Ok(if plan.refused.is_empty() {
        Outcome::Clean
    } else {
        Outcome::Findings
    })
}

/// `--apply`: write the files (unless the deadline passed), name each one
/// written, and print the script of what mxdrift does not run itself.
fn apply(
    plan: &Remediation,
    args: &FixArgs,
    opts: &AuditOptions,
    started: Instant,
    out: &mut impl Write,
) -> Result<(), CliError> {
    eprint!("{}", plan.summary());
    // Planning is quick; the deadline bounds the audit. Past it, write
    // nothing rather than start late.
    if let Some(limit) = args.deadline
        && started.elapsed() > limit
    {
        return Err(CliError::ApplyDeadline(limit));
    }
    let backups = match &args.backup_dir {
        Some(dir) => remediate::apply::Backups::In(dir),
        None => remediate::apply::Backups::Beside,
    };
    let applied =
        remediate::apply::apply_to(&opts.sources.root, &plan.edits, SystemTime::now(), backups);
    let written = match &applied {
        Ok(written) => written.as_slice(),
        Err(stopped) => stopped.written.as_slice(),
    };
    for w in written {
        eprintln!("wrote {} (backup {})", w.rel, w.backup.display());
        if let Some(note) = &w.note {
            eprintln!("  note: {note}");
        }
    }
    if let Err(stopped) = applied {
        // What was written is complete and in place, but not in effect
        // until its postmap and reload run: say so, as a script.
        if !stopped.written.is_empty() {
            let rels: Vec<String> = stopped.written.iter().map(|w| w.rel.clone()).collect();
            eprintln!(
                "fix --apply stopped part way: run the commands printed on standard output for the files already written"
            );
            out.write_all(plan.script_after_partial_apply(&rels).as_bytes())?;
            out.flush()?;
        }
        return Err(CliError::ApplyStopped(stopped));
    }
    // Standard output stays a runnable script of what mxdrift did not run.
    if !plan.panel.is_empty() || !plan.follow_ups.is_empty() {
        eprintln!("not run by mxdrift; run the commands printed on standard output yourself");
        out.write_all(plan.script_after_apply().as_bytes())?;
    }
    Ok(())
}

/// The default: the diff on standard output, the summary and the commands
/// to run after it on standard error.
fn print_diff(plan: &Remediation, out: &mut impl Write) -> Result<(), CliError> {
    let diff = plan.diff();
    if !diff.is_empty() {
        out.write_all(plan.diff_preamble().as_bytes())?;
        out.write_all(diff.as_bytes())?;
    }
    eprint!("{}", plan.summary());
    // Advice without a command (qmail's HUP) is shown as a comment.
    let commands: Vec<String> = plan
        .panel
        .iter()
        .chain(&plan.follow_ups)
        .map(|s| {
            s.line().unwrap_or_else(|| {
                format!("# {}", remediate::commands::comment(&s.comments.join(" ")))
            })
        })
        .collect();
    if !commands.is_empty() {
        let when = if plan.edits.is_empty() {
            "run (see `mxdrift fix --commands` for the full script)"
        } else {
            "after applying the diff (`patch -p1 -d ROOT`), run"
        };
        eprintln!("{when}:");
        for c in commands {
            eprintln!("  {c}");
        }
    }
    Ok(())
}

/// Resolve the domains `fix` would change again over TCP (none for zone
/// files), within what is left of `--deadline`.
fn reconfirm_changes(
    audit: &Audit,
    opts: &AuditOptions,
    deadline: Option<Duration>,
    started: Instant,
) -> Result<audit::Reconfirmed, CliError> {
    let wanted = remediate::candidates(audit);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(CliError::Runtime)?;
    let confirm = audit::reconfirm(audit, opts, &wanted);
    let result = runtime.block_on(async {
        match deadline {
            Some(limit) => tokio::time::timeout(limit.saturating_sub(started.elapsed()), confirm)
                .await
                .map_err(|_| CliError::ConfirmDeadline(limit)),
            None => Ok(confirm.await),
        }
    });
    // Never wait for tasks left behind.
    runtime.shutdown_background();
    Ok(result??)
}
