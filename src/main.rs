//! The `mxdrift` binary: parse the command line, run the pipeline, print,
//! and turn the outcome into an exit code. No audit logic lives here.
#![forbid(unsafe_code)]

use std::io::{self, IsTerminal, Write};
use std::net::IpAddr;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;

use mxdrift::audit::{self, AuditOptions, IdentityOptions};
use mxdrift::cli::{
    AuditArgs, AuditFormat, Cli, Command, FailOn, FixArgs, InventoryArgs, InventoryFormat,
    PlatformArg, RulesArgs, SourceArgs,
};
use mxdrift::inventory::Platform;
use mxdrift::report::{AuditFormatter, json, table};
use mxdrift::resolve::{self, ResolveOptions};
use mxdrift::rules::{RuleSet, Severity};
use mxdrift::sources::{ConfigRoot, PlatformChoice, SourceOptions};

/// How a run ended (the contract's exit codes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    /// Nothing at or above `--fail-on`.
    Clean = 0,
    /// Findings at or above `--fail-on`.
    Findings = 1,
    /// Usage or configuration error.
    Error = 2,
}

/// An error already phrased for the user.
struct Failure(String);

impl<E: std::fmt::Display> From<E> for Failure {
    fn from(e: E) -> Self {
        Failure(e.to_string())
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        None => run_audit(&cli.audit),
        Some(Command::Audit(ref args)) => run_audit(args),
        Some(Command::Inventory(ref args)) => run_inventory(args),
        Some(Command::Fix(ref args)) => run_fix(args),
        Some(Command::Rules(ref args)) => run_rules(args),
    };
    let outcome = result.unwrap_or_else(|Failure(message)| {
        eprintln!("mxdrift: {message}");
        Outcome::Error
    });
    ExitCode::from(outcome as u8)
}

fn not_yet(what: &str) -> Failure {
    Failure(format!("{what} is not yet supported"))
}

fn source_options(args: &SourceArgs) -> SourceOptions {
    let platform = match args.platform {
        PlatformArg::Auto => PlatformChoice::Auto,
        PlatformArg::Postfix => PlatformChoice::Exactly(Platform::Postfix),
        PlatformArg::Plesk => PlatformChoice::Exactly(Platform::Plesk),
        PlatformArg::Cpanel => PlatformChoice::Exactly(Platform::Cpanel),
        PlatformArg::Directadmin => PlatformChoice::Exactly(Platform::Directadmin),
        PlatformArg::Qmail => PlatformChoice::Exactly(Platform::Qmail),
        PlatformArg::List => PlatformChoice::Exactly(Platform::List),
    };
    SourceOptions {
        root: ConfigRoot::new(&args.root),
        platform,
        domains_file: args.domains.clone(),
        hostname: None,
    }
}

fn audit_options(args: &AuditArgs) -> Result<AuditOptions, Failure> {
    if let Some(config) = &args.config {
        return Err(not_yet(&format!("--config {}", config.display())));
    }
    let default_config = args.source.root.join("etc/mxdrift.yaml");
    if default_config.exists() {
        return Err(not_yet(&format!(
            "the configuration file {}",
            default_config.display()
        )));
    }
    if args.output.is_some() {
        return Err(not_yet("--output"));
    }
    let server_ips = args
        .identity
        .server_ip
        .iter()
        .map(|s| {
            s.parse::<IpAddr>()
                .map_err(|_| Failure(format!("--server-ip {s:?} is not an IP address")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let nameservers = args
        .dns
        .nameserver
        .iter()
        .map(|s| resolve::parse_nameserver(s))
        .collect::<Result<Vec<_>, _>>()?;
    if !(args.dns.timeout.is_finite() && args.dns.timeout > 0.0) {
        return Err(Failure(
            "--timeout must be a positive number of seconds".into(),
        ));
    }
    if args.dns.attempts == 0 || args.dns.concurrency == 0 {
        return Err(Failure(
            "--attempts and --concurrency must be at least 1".into(),
        ));
    }
    Ok(AuditOptions {
        sources: source_options(&args.source),
        identity: IdentityOptions {
            server_ips,
            server_names: args.identity.server_name.clone(),
            trusted_mx: args.identity.trusted_mx.clone(),
            interfaces: args.source.root == std::path::Path::new("/"),
        },
        resolve: ResolveOptions {
            nameservers,
            zone_files: args.dns.zone_file.clone(),
            timeout: Duration::from_secs_f64(args.dns.timeout),
            attempts: args.dns.attempts,
            concurrency: args.dns.concurrency,
            progress: io::stderr().is_terminal(),
        },
    })
}

fn run_audit(args: &AuditArgs) -> Result<Outcome, Failure> {
    let formatter: &dyn AuditFormatter = match args.format {
        AuditFormat::Table => &table::Table,
        AuditFormat::Json => &json::Json,
        AuditFormat::Sarif => return Err(not_yet("--format sarif")),
        AuditFormat::Nagios => return Err(not_yet("--format nagios")),
        AuditFormat::Prometheus => return Err(not_yet("--format prometheus")),
    };
    let opts = audit_options(args)?;
    let rules = RuleSet::embedded()?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let audit = runtime.block_on(audit::run(&opts, rules))?;
    let mut out = io::stdout().lock();
    formatter.write_audit(&audit, &mut out)?;
    out.flush()?;
    let threshold = match args.fail_on {
        FailOn::Critical => Some(Severity::Critical),
        FailOn::Warning => Some(Severity::Warning),
        FailOn::Info => Some(Severity::Info),
        FailOn::Never => None,
    };
    Ok(match (threshold, audit.worst()) {
        (Some(threshold), Some(worst)) if worst >= threshold => Outcome::Findings,
        _ => Outcome::Clean,
    })
}

fn run_inventory(args: &InventoryArgs) -> Result<Outcome, Failure> {
    let inventory = audit::inventory(&source_options(&args.source))?;
    let mut out = io::stdout().lock();
    match args.format {
        InventoryFormat::Table => table::write_inventory(&inventory, &mut out)?,
        InventoryFormat::Json => {
            json::write_inventory(&inventory, &inventory.server_addresses, &mut out)?
        }
    }
    out.flush()?;
    Ok(Outcome::Clean)
}

fn run_fix(args: &FixArgs) -> Result<Outcome, Failure> {
    let _ = args;
    Err(not_yet("`mxdrift fix`"))
}

fn run_rules(args: &RulesArgs) -> Result<Outcome, Failure> {
    let rules = RuleSet::embedded()?;
    let mut out = io::stdout().lock();
    match &args.id {
        None => {
            for rule in rules.iter() {
                writeln!(
                    out,
                    "{:<28} {:<9} {}",
                    rule.id,
                    rule.severity.as_str(),
                    rule.title
                )?;
            }
        }
        Some(id) => {
            let rule = rules
                .get(id)
                .ok_or_else(|| Failure(format!("unknown rule `{id}` (see `mxdrift rules`)")))?;
            writeln!(out, "{}: {}\n", rule.id, rule.title)?;
            writeln!(
                out,
                "Severity:   {} (confidence {:?})",
                rule.severity, rule.confidence
            )?;
            writeln!(out, "Fires when: {}\n", rule.when)?;
            writeln!(out, "Why it matters:\n  {}\n", rule.rationale)?;
            writeln!(out, "What to do:\n  {}", rule.remediation)?;
        }
    }
    out.flush()?;
    Ok(Outcome::Clean)
}
