//! `mxdrift fleet REPORT.json...`: read the servers' audit reports, run the
//! cross-server rules, write the report, and turn the findings into the
//! exit code as `audit` does.

use std::io::{self, IsTerminal};

use mxdrift::cli::{FailOn, FleetArgs, FleetFormat};
use mxdrift::fleet::report::{FleetFormatter, html, json, prometheus, table, text};
use mxdrift::fleet::{self, Fleet, FleetOptions};
use mxdrift::report::terminal_width;
use mxdrift::rules::{RuleSet, Severity};
use mxdrift::settings;
use mxdrift::timestamp::Timestamp;

use crate::error::{CliError, Outcome};

fn extension(format: FleetFormat) -> &'static str {
    match format {
        FleetFormat::Table | FleetFormat::Text => "txt",
        FleetFormat::Json => "json",
        FleetFormat::Prometheus => "prom",
        FleetFormat::Html => "html",
    }
}

pub fn run(args: &FleetArgs) -> Result<Outcome, CliError> {
    let now = Timestamp::now();
    match fleet_and_report(args, now) {
        // A failed run still tells the collector that it failed.
        Err(error @ (CliError::Fleet(_) | CliError::Rules(_)))
            if args.format == FleetFormat::Prometheus =>
        {
            let mut text = Vec::new();
            if prometheus::write_run_status(false, now, &mut text).is_ok() {
                let _ = super::write_report(args.output.as_deref(), |out| out.write_all(&text));
            }
            Err(error)
        }
        other => other,
    }
}

fn fleet_and_report(args: &FleetArgs, now: Timestamp) -> Result<Outcome, CliError> {
    if let Some(path) = &args.output {
        settings::check_output_file(path, extension(args.format))?;
    }
    let rules = RuleSet::embedded()?;
    let reports = fleet::read_reports(&args.reports)?;
    let fleet = Fleet::build(
        reports,
        FleetOptions {
            now,
            max_age: args.max_age,
        },
        rules,
    );
    let table = table::Table {
        width: terminal_width(args.output.is_none() && io::stdout().is_terminal()),
    };
    let formatter: &dyn FleetFormatter = match args.format {
        FleetFormat::Table => &table,
        FleetFormat::Text => &text::Text,
        FleetFormat::Json => &json::Json,
        FleetFormat::Prometheus => &prometheus::Prometheus,
        FleetFormat::Html => &html::Html,
    };
    // Streamed to standard output: a fleet's report can be far larger than
    // any one audit's.
    super::write_report(args.output.as_deref(), |out| {
        formatter.write_fleet(&fleet, out)
    })?;
    let threshold = match args.fail_on {
        FailOn::Critical => Some(Severity::Critical),
        FailOn::Warning => Some(Severity::Warning),
        FailOn::Info => Some(Severity::Info),
        FailOn::Never => None,
    };
    Ok(match (threshold, fleet.worst()) {
        (Some(threshold), Some(worst)) if worst >= threshold => Outcome::Findings,
        _ => Outcome::Clean,
    })
}
