//! `mxdrift audit` (and `mxdrift` alone): run the pipeline, write the report
//! in the chosen format, and turn the findings into the exit code.

use std::io::{self, IsTerminal, Write};
use std::path::Path;
use std::time::SystemTime;

use mxdrift::atomic;
use mxdrift::cli::{AuditArgs, AuditFormat, FailOn};
use mxdrift::report::baseline::Baseline;
use mxdrift::report::nagios::{self, Nagios, State};
use mxdrift::report::prometheus::{self, RunErrorKind};
use mxdrift::report::{
    AuditFormatter, Report, json, printable_lines, sarif, table, terminal_width, text,
};
use mxdrift::rules::Severity;
use mxdrift::settings::{self, PipelineArgs};

use crate::error::{CliError, Outcome};
use crate::pipeline::{self, Pipeline};

pub fn run(args: &AuditArgs) -> Result<Outcome, CliError> {
    let started = SystemTime::now();
    match audit_and_report(args) {
        Err(CliError::BrokenPipe) => Err(CliError::BrokenPipe),
        // A monitoring plugin that cannot do its job says UNKNOWN on stdout.
        Err(error) if args.format == AuditFormat::Nagios => {
            let message = error.to_string();
            eprintln!("mxdrift: {}", printable_lines(&message));
            nagios::write_unknown(&message, &mut io::stdout().lock())?;
            Ok(Outcome::Unknown)
        }
        // A failed run still tells the collector that it failed, and why.
        Err(error) if args.format == AuditFormat::Prometheus => {
            write_failed_textfile(error.run_error_kind(), args.output.as_deref(), started);
            Err(error)
        }
        other => other,
    }
}

/// Write a failed run's Prometheus textfile to `output` (atomically) or to
/// standard output. A failure to write it is reported, not fatal: the run
/// has failed already. (Nothing is written when `--output` itself is what
/// is wrong: that error says so.)
pub fn write_failed_textfile(kind: RunErrorKind, output: Option<&Path>, started: SystemTime) {
    if output
        .is_some_and(|path| settings::check_output_path(path, AuditFormat::Prometheus).is_err())
    {
        return;
    }
    let mut text = Vec::new();
    if prometheus::write_failure(kind, started, &mut text).is_err() {
        return;
    }
    match output {
        Some(path) => {
            if let Err(e) = atomic::write_atomic(path, &text, 0o644) {
                eprintln!(
                    "mxdrift: cannot write the failed run's metrics to {}: {e}",
                    path.display()
                );
            }
        }
        None => {
            let mut out = io::stdout().lock();
            let _ = out.write_all(&text).and_then(|()| out.flush());
        }
    }
}

fn audit_and_report(args: &AuditArgs) -> Result<Outcome, CliError> {
    settings::check_audit(args)?;
    let baseline = args
        .baseline
        .as_deref()
        .map(|path| Baseline::load(path, args.update_baseline))
        .transpose()?;
    let Pipeline { audit, .. } = pipeline::run(PipelineArgs::from(args), args.deadline)?;
    // Never freed: the process ends after the report, and freeing 100,000
    // domains one allocation at a time took a tenth of a second that the
    // kernel does at once (a tenth of the time over dnsperf's in the bench).
    let audit = std::mem::ManuallyDrop::new(audit);
    let delta = baseline.as_ref().map(|b| b.compare(&audit));

    let current_dir = std::env::current_dir().map_err(CliError::CurrentDir)?;
    let sarif = sarif::Sarif::for_root(&args.source.root, &current_dir);
    let table = table::Table {
        width: terminal_width(args.output.is_none() && io::stdout().is_terminal()),
    };
    let plugin = Nagios {
        warning: args.warning_range.clone(),
        critical: args.critical_range.clone(),
        max_inconclusive: args.max_inconclusive,
    };
    let formatter: &dyn AuditFormatter = match args.format {
        AuditFormat::Table => &table,
        AuditFormat::Text => &text::Text,
        AuditFormat::Json => &json::Json,
        AuditFormat::Sarif => &sarif,
        AuditFormat::Prometheus => &prometheus::Prometheus,
        AuditFormat::Nagios => &plugin,
    };
    let report = Report {
        audit: &audit,
        baseline: delta.as_ref(),
    };
    super::write_report(args.output.as_deref(), |out| {
        formatter.write_report(&report, out)
    })?;
    if let (Some(path), true) = (&args.baseline, args.update_baseline) {
        let mut buffer = Vec::new();
        json::Json.write_audit(&audit, &mut buffer)?;
        atomic::write_atomic(path, &buffer, 0o644).map_err(|source| CliError::UpdateBaseline {
            path: path.clone(),
            source,
        })?;
    }
    if args.format == AuditFormat::Nagios {
        return Ok(match plugin.state(&audit) {
            State::Ok => Outcome::Clean,
            State::Warning => Outcome::Findings,
            State::Critical => Outcome::Critical,
            State::Unknown => Outcome::Unknown,
        });
    }
    let threshold = match args.fail_on {
        FailOn::Critical => Some(Severity::Critical),
        FailOn::Warning => Some(Severity::Warning),
        FailOn::Info => Some(Severity::Info),
        FailOn::Never => None,
    };
    // Under a baseline only what is new counts: known findings were
    // reported before.
    let worst = match &delta {
        Some(d) => d.new.iter().map(|c| c.severity).max(),
        None => audit.worst(),
    };
    Ok(match (threshold, worst) {
        (Some(threshold), Some(worst)) if worst >= threshold => Outcome::Findings,
        _ => Outcome::Clean,
    })
}
