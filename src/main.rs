//! The `mxdrift` binary: parse the command line, run the pipeline, print,
//! and turn the outcome into an exit code. No audit logic lives here.
//!
//! A monitoring plugin must answer even when it cannot work: with
//! `--format nagios` every error, a command line clap rejects included, is
//! UNKNOWN (3) with the message on standard output; with `--format
//! prometheus` a failed run still writes its textfile (`mxdrift_last_run_success 0`).
#![forbid(unsafe_code)]

use std::ffi::OsString;
use std::io::{self, IsTerminal, Write};
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use clap::Parser;
use clap::error::{ContextKind, ContextValue, ErrorKind};

use mxdrift::atomic;
use mxdrift::audit::{self, Audit, AuditError, AuditOptions, IdentityOptions};
use mxdrift::civil_date::CivilDate;
use mxdrift::cli::{
    AuditArgs, AuditFormat, Cli, Command, DnsArgs, FailOn, FixArgs, FixFormat, IdentityArgs,
    InventoryArgs, InventoryFormat, PlatformArg, RulesArgs, SourceArgs,
};
use mxdrift::config::{Config, ConfigError};
use mxdrift::deadline;
use mxdrift::identity::Confirmation;
use mxdrift::inventory::{Delivery, Platform};
use mxdrift::remediate::{self, ChangeLimit, RemediateError, TooManyChanges};
use mxdrift::report::baseline::{Baseline, BaselineError};
use mxdrift::report::nagios::{self, Nagios, Range, RangeError, State};
use mxdrift::report::prometheus::{self, RunErrorKind};
use mxdrift::report::{
    AuditFormatter, Report, fix_plan, json, printable_lines, sarif, table, terminal_width, text,
};
use mxdrift::resolve::{self, ResolveError, ResolveOptions, ResolveProgress};
use mxdrift::rules::{Confidence, RuleError, RuleSet, Severity};
use mxdrift::sources::{ConfigRoot, PlatformChoice, SourceOptions};

/// mimalloc instead of glibc's malloc: an audit of 100,000 domains makes
/// millions of small allocations across threads (hickory's per-query
/// messages, evidence, findings), and glibc's consolidation and per-thread
/// arenas cost a fifth of the CPU and tens of MiB of fragmentation
/// (measured in scripts/bench: 3.9 s -> 3.1 s, 228 -> 200 MiB).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// The bar on standard error while the domains are resolved (only when
/// standard error is a terminal).
#[derive(Debug, Default)]
struct TerminalProgress {
    bar: Mutex<Option<indicatif::ProgressBar>>,
}

impl TerminalProgress {
    fn bar(&self) -> Option<indicatif::ProgressBar> {
        self.bar
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }
}

impl ResolveProgress for TerminalProgress {
    fn started(&self, domains: u64) {
        let bar = indicatif::ProgressBar::with_draw_target(
            Some(domains),
            indicatif::ProgressDrawTarget::stderr(),
        );
        if let Ok(style) = indicatif::ProgressStyle::with_template(
            "resolving {bar:40} {pos}/{len} domains ({eta} left)",
        ) {
            bar.set_style(style);
        }
        *self
            .bar
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = Some(bar);
    }

    fn resolved(&self) {
        if let Some(bar) = self.bar() {
            bar.inc(1);
        }
    }

    fn finished(&self) {
        if let Some(bar) = self.bar() {
            bar.finish_and_clear();
        }
    }
}

/// How a run ended (the contract's exit codes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    /// Nothing at or above `--fail-on`; Nagios OK.
    Clean,
    /// Findings at or above `--fail-on`; Nagios WARNING.
    Findings,
    /// Usage or configuration error.
    Error,
    /// Nagios CRITICAL.
    Critical,
    /// Nagios UNKNOWN: the plugin could not determine the state.
    Unknown,
}

impl Outcome {
    fn code(self) -> u8 {
        match self {
            Outcome::Clean => 0,
            Outcome::Findings => 1,
            Outcome::Error | Outcome::Critical => 2,
            Outcome::Unknown => 3,
        }
    }
}

/// Reports are written through a buffer of this size: standard output is
/// line-buffered, and a pretty-printed report would cost a write per line.
const OUTPUT_BUFFER: usize = 64 * 1024;

/// What kind of error ended a run (the Prometheus `kind` label).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FailureKind {
    /// The reader of standard output went away: stop quietly.
    Quiet,
    Usage,
    Configuration,
    Dns,
    Deadline,
    Internal,
}

/// An error already phrased for the user.
struct Failure {
    kind: FailureKind,
    message: String,
}

impl Failure {
    fn usage(message: impl Into<String>) -> Self {
        Failure {
            kind: FailureKind::Usage,
            message: message.into(),
        }
    }

    fn internal(message: impl Into<String>) -> Self {
        Failure {
            kind: FailureKind::Internal,
            message: message.into(),
        }
    }

    fn run_error_kind(&self) -> RunErrorKind {
        match self.kind {
            FailureKind::Usage => RunErrorKind::Usage,
            FailureKind::Configuration => RunErrorKind::Configuration,
            FailureKind::Dns => RunErrorKind::Dns,
            FailureKind::Deadline => RunErrorKind::Deadline,
            FailureKind::Quiet | FailureKind::Internal => RunErrorKind::Internal,
        }
    }
}

/// The kind of a library error, by its type.
fn kind_of(err: &(dyn std::error::Error + 'static)) -> FailureKind {
    if let Some(e) = err.downcast_ref::<AuditError>() {
        return match e {
            AuditError::Source(_) | AuditError::Rules(_) => FailureKind::Configuration,
            AuditError::Resolve(_) => FailureKind::Dns,
            AuditError::Interfaces(_) => FailureKind::Internal,
        };
    }
    if err.is::<ConfigError>()
        || err.is::<RuleError>()
        || err.is::<RemediateError>()
        || err.is::<TooManyChanges>()
    {
        FailureKind::Configuration
    } else if err.is::<ResolveError>() {
        FailureKind::Dns
    } else if err.is::<RangeError>() || err.is::<BaselineError>() {
        FailureKind::Usage
    } else {
        FailureKind::Internal
    }
}

impl<E: std::error::Error + 'static> From<E> for Failure {
    fn from(e: E) -> Self {
        // A reader that closed our stdout (`mxdrift rules | grep -q`) is not
        // an error to report: stop quietly, as ripgrep does.
        let mut source: Option<&(dyn std::error::Error + 'static)> = Some(&e);
        while let Some(err) = source {
            if err
                .downcast_ref::<io::Error>()
                .is_some_and(|io| io.kind() == io::ErrorKind::BrokenPipe)
            {
                return Failure {
                    kind: FailureKind::Quiet,
                    message: String::new(),
                };
            }
            source = err.source();
        }
        Failure {
            kind: kind_of(&e),
            message: e.to_string(),
        }
    }
}

fn main() -> ExitCode {
    let args: Vec<OsString> = std::env::args_os().collect();
    let cli = match Cli::try_parse_from(&args) {
        Ok(cli) => cli,
        Err(err) => return ExitCode::from(command_line_error(err, &args)),
    };
    let result = match cli.command {
        None => run_audit(&cli.audit),
        Some(Command::Audit(ref args)) => run_audit(args),
        Some(Command::Inventory(ref args)) => run_inventory(args),
        Some(Command::Fix(ref args)) => run_fix(args),
        Some(Command::Rules(ref args)) => run_rules(args),
    };
    let outcome = result.unwrap_or_else(|failure| {
        if failure.kind == FailureKind::Quiet {
            return Outcome::Clean;
        }
        // The message may quote a configuration file (a YAML excerpt).
        eprintln!("mxdrift: {}", printable_lines(&failure.message));
        Outcome::Error
    });
    ExitCode::from(outcome.code())
}

/// The value of `--NAME VALUE` or `--NAME=VALUE` in a command line that clap
/// rejected, read without clap (which gave up on it).
fn raw_option<'a>(args: &'a [OsString], name: &str) -> Option<&'a str> {
    let long = format!("--{name}");
    let with_value = format!("--{name}=");
    let mut words = args.iter().skip(1).map(|a| a.to_str());
    while let Some(word) = words.next() {
        let word = word?;
        if word == "--" {
            return None;
        }
        if word == long {
            return words.next().flatten();
        }
        if let Some(value) = word.strip_prefix(&with_value) {
            return Some(value);
        }
    }
    None
}

/// Report a command line that clap rejected, and return the exit code:
/// help and version as clap prints them; a positional directory gets the
/// hint to use `--root`; `--format nagios` gets UNKNOWN on standard output,
/// `--format prometheus --output FILE` a failed run's textfile.
fn command_line_error(mut err: clap::Error, args: &[OsString]) -> u8 {
    if matches!(
        err.kind(),
        ErrorKind::DisplayHelp | ErrorKind::DisplayVersion
    ) {
        let _ = err.print();
        return 0;
    }
    let stray = match (
        err.get(ContextKind::InvalidArg),
        err.get(ContextKind::InvalidSubcommand),
    ) {
        (Some(ContextValue::String(arg)), _) | (_, Some(ContextValue::String(arg))) => {
            Some(arg.clone())
        }
        _ => None,
    };
    if let Some(arg) = stray.filter(|a| !a.starts_with('-') && Path::new(a).is_dir()) {
        let mut tips = match err.get(ContextKind::Suggested) {
            Some(ContextValue::StyledStrs(tips)) => tips.clone(),
            _ => Vec::new(),
        };
        tips.insert(
            0,
            format!("to audit the configuration under '{arg}', use '--root {arg}'").into(),
        );
        err.insert(ContextKind::Suggested, ContextValue::StyledStrs(tips));
    }
    let rendered = err.render().to_string();
    let message = rendered.trim_start_matches("error: ");
    match raw_option(args, "format") {
        Some("nagios") => {
            eprint!("{rendered}");
            let mut out = io::stdout().lock();
            let _ = nagios::write_unknown(&format!("usage: {message}"), &mut out);
            let _ = out.flush();
            3
        }
        Some("prometheus") => {
            eprint!("{rendered}");
            if let Some(output) = raw_option(args, "output") {
                let failure = Failure::usage(message.lines().next().unwrap_or(""));
                write_failed_textfile(&failure, Some(Path::new(output)), SystemTime::now());
            }
            2
        }
        _ => {
            let _ = err.print();
            2
        }
    }
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

/// What `audit` and `fix` share: where the configuration is, who the
/// server is, how to ask DNS, the config file and the deadline.
struct PipelineArgs<'a> {
    source: &'a SourceArgs,
    identity: &'a IdentityArgs,
    dns: &'a DnsArgs,
    config: Option<&'a PathBuf>,
    deadline: Option<f64>,
}

impl<'a> From<&'a AuditArgs> for PipelineArgs<'a> {
    fn from(a: &'a AuditArgs) -> Self {
        PipelineArgs {
            source: &a.source,
            identity: &a.identity,
            dns: &a.dns,
            config: a.config.as_ref(),
            deadline: a.deadline,
        }
    }
}

impl<'a> From<&'a FixArgs> for PipelineArgs<'a> {
    fn from(a: &'a FixArgs) -> Self {
        PipelineArgs {
            source: &a.source,
            identity: &a.identity,
            dns: &a.dns,
            config: a.config.as_ref(),
            deadline: a.deadline,
        }
    }
}

/// The config file: `--config FILE`, else `<root>/etc/mxdrift.yaml` when
/// present; with the name messages use for it.
fn load_config(args: &PipelineArgs<'_>, rules: &RuleSet) -> Result<(Config, String), Failure> {
    match args.config {
        Some(path) => {
            let shown = path.display().to_string();
            Ok((Config::load(path, &shown, rules)?, shown))
        }
        None => Ok((
            Config::load_under_root(&args.source.root, rules)?.unwrap_or_default(),
            "etc/mxdrift.yaml".to_string(),
        )),
    }
}

fn parse_ips(values: &[String]) -> Result<Vec<IpAddr>, Failure> {
    values
        .iter()
        .map(|s| {
            s.parse::<IpAddr>()
                .map_err(|_| Failure::usage(format!("--server-ip {s:?} is not an IP address")))
        })
        .collect()
}

fn audit_options(args: &PipelineArgs<'_>, config: &Config) -> Result<AuditOptions, Failure> {
    let mut server_ips = config.server.addresses.clone();
    server_ips.extend(parse_ips(&args.identity.server_ip)?);
    // The command line wins over the config file for resolvers.
    let resolvers = if args.dns.nameserver.is_empty() {
        &config.resolvers
    } else {
        &args.dns.nameserver
    };
    let nameservers = resolvers
        .iter()
        .map(|s| resolve::parse_nameserver(s))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| Failure::usage(e.to_string()))?;
    // clap's value parser bounds --timeout; this keeps Duration safe for
    // any caller.
    let timeout = Duration::try_from_secs_f64(args.dns.timeout)
        .ok()
        .filter(|t| !t.is_zero())
        .ok_or_else(|| Failure::usage("--timeout must be a positive number of seconds"))?;
    if args.dns.attempts == 0 || args.dns.concurrency == 0 || args.dns.max_qps == Some(0) {
        return Err(Failure::usage(
            "--attempts, --concurrency and --max-qps must be at least 1",
        ));
    }
    let mut server_names = config.server.names.clone();
    server_names.extend(args.identity.server_name.iter().cloned());
    let mut trusted_mx = config.trusted_mx.clone();
    trusted_mx.extend(args.identity.trusted_mx.iter().cloned());
    Ok(AuditOptions {
        sources: source_options(args.source),
        identity: IdentityOptions {
            server_ips,
            server_names,
            trusted_mx,
            interfaces: args.source.root == Path::new("/"),
        },
        resolve: ResolveOptions {
            nameservers,
            zone_files: args.dns.zone_file.clone(),
            timeout,
            attempts: args.dns.attempts,
            concurrency: args.dns.concurrency,
            progress: io::stderr()
                .is_terminal()
                .then(|| Arc::new(TerminalProgress::default()) as Arc<dyn ResolveProgress>),
            max_qps: args.dns.max_qps,
        },
        ignores: config.ignore.iter().map(|i| i.to_rule()).collect(),
        today: CivilDate::today(),
    })
}

/// Run the audit as a task on the runtime's worker threads, not on the
/// thread that blocks on the runtime: the resolve stage spawns a task per
/// domain and collects each, and from the blocking thread every spawn and
/// every completion is a cross-thread wake-up (measured at 100,000 domains:
/// the DNS stage ~1.6 s -> ~1.35 s, a fifth less CPU).
async fn run_on_workers(opts: &AuditOptions, rules: RuleSet) -> Result<audit::Audit, Failure> {
    let opts = opts.clone();
    tokio::spawn(async move { audit::run(&opts, rules).await })
        .await
        .map_err(|err| Failure::internal(format!("internal error: the audit task failed: {err}")))?
        .map_err(Failure::from)
}

/// The outcome of the shared pipeline.
struct Pipeline {
    audit: Audit,
    opts: AuditOptions,
}

/// Config, options, rules, runtime, audit: what `audit` and `fix` share.
/// Ignores in the config file that match no finding become configuration
/// warnings of the audit. `--deadline` bounds all of it, reading the
/// configuration included: the run happens on a thread of its own, which is
/// abandoned when the time is up (a read can hang where nothing can
/// interrupt it).
fn run_pipeline(args: &PipelineArgs<'_>) -> Result<Pipeline, Failure> {
    let deadline = args
        .deadline
        .map(|secs| {
            Duration::try_from_secs_f64(secs)
                .map_err(|_| Failure::usage("--deadline must be a positive number of seconds"))
        })
        .transpose()?;
    let Some(limit) = deadline else {
        return pipeline(args);
    };
    let (source, identity, dns) = (args.source.clone(), args.identity.clone(), args.dns.clone());
    let config = args.config.cloned();
    deadline::run_within(limit, move || {
        pipeline(&PipelineArgs {
            source: &source,
            identity: &identity,
            dns: &dns,
            config: config.as_ref(),
            deadline: None,
        })
    })
    .unwrap_or_else(|_| {
        Err(Failure {
            kind: FailureKind::Deadline,
            message: format!(
                "the audit did not finish within its --deadline of {} s",
                limit.as_secs_f64()
            ),
        })
    })
}

fn pipeline(args: &PipelineArgs<'_>) -> Result<Pipeline, Failure> {
    let mut rules = RuleSet::embedded()?;
    let (config, config_shown) = load_config(args, &rules)?;
    let opts = audit_options(args, &config)?;
    config.apply_severities(&mut rules)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let audit = runtime.block_on(run_on_workers(&opts, rules));
    // Never wait for tasks left behind.
    runtime.shutdown_background();
    let mut audit = audit?;
    let unused = config.unused_ignores(audit.findings().map(|(_, f)| f), &config_shown);
    audit.warnings.extend(unused);
    Ok(Pipeline { audit, opts })
}

/// Write a failed run's Prometheus textfile to `output` (atomically) or to
/// standard output. A failure to write it is reported, not fatal: the run
/// has failed already. (Nothing is written when `--output` itself is what
/// is wrong: that error says so.)
fn write_failed_textfile(failure: &Failure, output: Option<&Path>, started: SystemTime) {
    if output.is_some_and(|path| check_output_path(path, AuditFormat::Prometheus).is_err()) {
        return;
    }
    let mut text = Vec::new();
    if prometheus::write_failure(failure.run_error_kind(), started, &mut text).is_err() {
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

fn run_audit(args: &AuditArgs) -> Result<Outcome, Failure> {
    let started = SystemTime::now();
    match audit_and_report(args) {
        Err(failure) if failure.kind == FailureKind::Quiet => Err(failure),
        // A monitoring plugin that cannot do its job says UNKNOWN on stdout.
        Err(failure) if args.format == AuditFormat::Nagios => {
            eprintln!("mxdrift: {}", printable_lines(&failure.message));
            nagios::write_unknown(&failure.message, &mut io::stdout().lock())?;
            Ok(Outcome::Unknown)
        }
        // A failed run still tells the collector that it failed, and why.
        Err(failure) if args.format == AuditFormat::Prometheus => {
            write_failed_textfile(&failure, args.output.as_deref(), started);
            Err(failure)
        }
        other => other,
    }
}

/// `--output` must name a file in an existing directory: say so before
/// the audit runs, not with the operating system's words after it.
fn check_output_path(path: &Path, format: AuditFormat) -> Result<(), Failure> {
    let extension = match format {
        AuditFormat::Prometheus => "prom",
        AuditFormat::Json => "json",
        AuditFormat::Sarif => "sarif",
        _ => "txt",
    };
    let shown = path.display();
    if path.as_os_str().to_string_lossy().ends_with('/') || path.is_dir() {
        return Err(Failure::usage(format!(
            "--output {shown}: that is a directory; give the file to write, e.g. --output {}",
            path.join(format!("mxdrift.{extension}")).display()
        )));
    }
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    if !dir.is_dir() {
        return Err(Failure::usage(format!(
            "--output {shown}: the directory {} does not exist",
            dir.display()
        )));
    }
    Ok(())
}

fn audit_and_report(args: &AuditArgs) -> Result<Outcome, Failure> {
    if args.baseline.is_some()
        && matches!(args.format, AuditFormat::Nagios | AuditFormat::Prometheus)
    {
        return Err(Failure::usage(format!(
            "--baseline shows what changed; --format {} reports the current state for monitoring: use one or the other",
            args.format.as_str()
        )));
    }
    let nagios = match args.format {
        AuditFormat::Nagios => Some(Nagios {
            warning: Range::parse(&args.warning_range)?,
            critical: Range::parse(&args.critical_range)?,
            max_inconclusive: args.max_inconclusive,
        }),
        _ => None,
    };
    if let Some(path) = &args.output {
        check_output_path(path, args.format)?;
    }
    let baseline = args
        .baseline
        .as_deref()
        .map(|path| Baseline::load(path, args.update_baseline))
        .transpose()?;
    let Pipeline { audit, .. } = run_pipeline(&PipelineArgs::from(args))?;
    let delta = baseline.as_ref().map(|b| b.compare(&audit));

    let sarif = sarif::Sarif::for_root(&args.source.root, &std::env::current_dir()?);
    let table = table::Table {
        width: terminal_width(args.output.is_none() && io::stdout().is_terminal()),
    };
    let formatter: &dyn AuditFormatter = match (&args.format, &nagios) {
        (AuditFormat::Table, _) => &table,
        (AuditFormat::Text, _) => &text::Text,
        (AuditFormat::Json, _) => &json::Json,
        (AuditFormat::Sarif, _) => &sarif,
        (AuditFormat::Prometheus, _) => &prometheus::Prometheus,
        (AuditFormat::Nagios, Some(plugin)) => plugin,
        (AuditFormat::Nagios, None) => {
            return Err(Failure::internal("internal: nagios thresholds missing"));
        }
    };
    let report = Report {
        audit: &audit,
        baseline: delta.as_ref(),
    };
    match &args.output {
        Some(path) => {
            let mut buffer = Vec::new();
            formatter.write_report(&report, &mut buffer)?;
            let written = atomic::write_atomic(path, &buffer, 0o644)
                .map_err(|e| Failure::internal(format!("{}: {e}", path.display())))?;
            if let Some(note) = written.note {
                eprintln!("mxdrift: {note}");
            }
        }
        None => {
            let mut out = io::BufWriter::with_capacity(OUTPUT_BUFFER, io::stdout().lock());
            formatter.write_report(&report, &mut out)?;
            out.flush()?;
        }
    }
    if let (Some(path), true) = (&args.baseline, args.update_baseline) {
        let mut buffer = Vec::new();
        json::Json.write_audit(&audit, &mut buffer)?;
        atomic::write_atomic(path, &buffer, 0o644)
            .map_err(|e| Failure::internal(format!("--update-baseline {}: {e}", path.display())))?;
    }
    if let Some(plugin) = &nagios {
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

fn run_inventory(args: &InventoryArgs) -> Result<Outcome, Failure> {
    if !args.identity.trusted_mx.is_empty() {
        return Err(Failure::usage(
            "--trusted-mx is used by audit and fix, when MX hosts are judged; inventory reads the configuration only",
        ));
    }
    let server_ips = parse_ips(&args.identity.server_ip)?;
    let mut inventory = audit::inventory(&source_options(&args.source))?;
    // The server as the audit would start from it: what the configuration
    // states, plus what the admin gives.
    audit::add_admin_identity(&mut inventory, &server_ips, &args.identity.server_name)
        .map_err(|e| Failure::usage(e.to_string()))?;
    let mut out = io::BufWriter::with_capacity(OUTPUT_BUFFER, io::stdout().lock());
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
    if args.format == FixFormat::Json && (args.commands || args.apply) {
        return Err(Failure::usage(
            "--format json prints the plan for review; --commands prints a script and --apply writes the files: choose one",
        ));
    }
    let started = Instant::now();
    let Pipeline { audit, opts } = run_pipeline(&PipelineArgs::from(args))?;
    // Before anything is planned or printed: a run that does not know who
    // "here" is must not switch anything off.
    if let Some(refusal) = audit.fix_refusal() {
        return Err(Failure {
            kind: FailureKind::Configuration,
            message: refusal.to_string(),
        });
    }
    if let Confirmation::Unconfirmed { elsewhere } = audit.identity.confirmation {
        eprintln!(
            "mxdrift: warning: nothing confirms who this server is (identity-unconfirmed: no MX \
             record of a local domain names it, {elsewhere} look elsewhere); going on because \
             --server-ip or --server-name names it: check them before applying"
        );
    }
    let reconfirmed = reconfirm_changes(&audit, &opts, args.deadline, started)?;
    let plan = remediate::plan(&audit, &opts.sources, &reconfirmed)?;
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
        eprint!("{}", plan.summary());
        // Planning is quick; the deadline bounds the audit. Past it, write
        // nothing rather than start late.
        if let Some(secs) = args.deadline
            && started.elapsed().as_secs_f64() > secs
        {
            return Err(Failure {
                kind: FailureKind::Deadline,
                message: format!(
                    "the --deadline of {secs} s passed before any file was written; nothing applied"
                ),
            });
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
            return Err(Failure::internal(format!(
                "fix --apply stopped at {stopped}"
            )));
        }
        // Standard output stays a runnable script of what mxdrift did not run.
        if !plan.panel.is_empty() || !plan.follow_ups.is_empty() {
            eprintln!("not run by mxdrift; run the commands printed on standard output yourself");
            out.write_all(plan.script_after_apply().as_bytes())?;
        }
    } else {
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

/// Resolve the domains `fix` would change again over TCP (none for zone
/// files), within what is left of `--deadline`.
fn reconfirm_changes(
    audit: &Audit,
    opts: &AuditOptions,
    deadline: Option<f64>,
    started: Instant,
) -> Result<audit::Reconfirmed, Failure> {
    let wanted = remediate::candidates(audit);
    let left = deadline
        .and_then(|secs| Duration::try_from_secs_f64(secs).ok())
        .map(|limit| limit.saturating_sub(started.elapsed()));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let confirm = audit::reconfirm(audit, opts, &wanted);
    let result = runtime.block_on(async {
        match left {
            Some(left) => tokio::time::timeout(left, confirm).await.ok(),
            None => Some(confirm.await),
        }
    });
    // Never wait for tasks left behind.
    runtime.shutdown_background();
    match result {
        Some(reconfirmed) => Ok(reconfirmed?),
        None => Err(Failure {
            kind: FailureKind::Deadline,
            message: format!(
                "the --deadline of {} s passed before the changes were confirmed over TCP; nothing planned",
                deadline.unwrap_or_default()
            ),
        }),
    }
}

/// What a rule's confidence says about its findings.
const CONFIDENCE: &str = "Confidence is how sure the rule is that a finding is real: high, the evidence decides it (a conclusive DNS answer against the configuration as read); medium, the evidence points to it but a setup mxdrift cannot see may explain it (check before acting); low, a hint that is often intended. Severity is how bad it is if real.";

fn confidence_name(confidence: Confidence) -> &'static str {
    match confidence {
        Confidence::High => "high",
        Confidence::Medium => "medium",
        Confidence::Low => "low",
    }
}

/// The id closest to `typo` by edit distance, if close enough to be a
/// plausible typo (at most a third of its length).
fn nearest_rule<'a>(typo: &str, ids: impl Iterator<Item = &'a str>) -> Option<&'a str> {
    fn distance(a: &str, b: &str) -> usize {
        let b: Vec<char> = b.chars().collect();
        let mut row: Vec<usize> = (0..=b.len()).collect();
        for (i, ca) in a.chars().enumerate() {
            let mut diagonal = row[0];
            row[0] = i + 1;
            for (j, cb) in b.iter().enumerate() {
                let above = row[j + 1];
                row[j + 1] = (diagonal + usize::from(ca != *cb))
                    .min(row[j] + 1)
                    .min(above + 1);
                diagonal = above;
            }
        }
        row[b.len()]
    }
    ids.map(|id| {
        // A prefix (`mail-switch` for `mail-switch-on`) is as good as a typo.
        let d = if id.starts_with(typo) && typo.len() >= 4 {
            1
        } else {
            distance(typo, id)
        };
        (d, id)
    })
    .filter(|(d, id)| *d <= id.chars().count().max(3) / 3)
    .min()
    .map(|(_, id)| id)
}

fn run_rules(args: &RulesArgs) -> Result<Outcome, Failure> {
    let rules = RuleSet::embedded()?;
    let width = terminal_width(io::stdout().is_terminal())
        .unwrap_or(80)
        .clamp(40, 100);
    let wrap = |text: &str, indent: usize| -> String {
        let body =
            mxdrift::report::wrap_words(&mxdrift::report::printable(text.trim()), width - indent);
        body.lines()
            .map(|l| format!("{}{}", " ".repeat(indent), l.trim_end()))
            .collect::<Vec<_>>()
            .join("\n")
    };
    let mut out = io::stdout().lock();
    match &args.id {
        None => {
            const TITLE_AT: usize = 28 + 1 + 9 + 1 + 10 + 1;
            writeln!(
                out,
                "{:<28} {:<9} {:<10} title",
                "rule", "severity", "confidence"
            )?;
            for rule in rules.iter() {
                let title = mxdrift::report::wrap_words(
                    &rule.title,
                    width.saturating_sub(TITLE_AT).max(20),
                )
                .replace('\n', &format!("\n{}", " ".repeat(TITLE_AT)));
                writeln!(
                    out,
                    "{:<28} {:<9} {:<10} {title}",
                    rule.id,
                    rule.severity.as_str(),
                    confidence_name(rule.confidence),
                )?;
            }
            writeln!(out, "\n{}", wrap(CONFIDENCE, 0))?;
            writeln!(out, "\n`mxdrift rules ID` explains one rule.")?;
        }
        Some(id) => {
            let rule = rules.get(id).ok_or_else(|| {
                let hint = nearest_rule(id, rules.iter().map(|r| r.id.as_str()))
                    .map(|near| format!("did you mean `{near}`? "))
                    .unwrap_or_default();
                Failure::usage(format!(
                    "unknown rule `{}` ({hint}see `mxdrift rules`)",
                    mxdrift::report::printable(id)
                ))
            })?;
            writeln!(
                out,
                "{}\n",
                wrap(&format!("{}: {}", rule.id, rule.title), 0)
            )?;
            writeln!(out, "Severity:   {}", rule.severity)?;
            writeln!(out, "Confidence: {}", confidence_name(rule.confidence))?;
            writeln!(out, "{}\n", wrap(CONFIDENCE, 2))?;
            writeln!(out, "Fires when:\n{}\n", wrap(&rule.when, 2))?;
            writeln!(out, "Why it matters:\n{}\n", wrap(&rule.rationale, 2))?;
            writeln!(out, "What to do:\n{}", wrap(&rule.remediation, 2))?;
        }
    }
    out.flush()?;
    Ok(Outcome::Clean)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typos_suggest_the_nearest_rule() {
        let ids = ["mail-switch-on", "domain-not-found", "split-delivery"];
        assert_eq!(
            nearest_rule("mail-switch", ids.into_iter()),
            Some("mail-switch-on")
        );
        assert_eq!(
            nearest_rule("mail-swich-on", ids.into_iter()),
            Some("mail-switch-on")
        );
        assert_eq!(
            nearest_rule("split-delivry", ids.into_iter()),
            Some("split-delivery")
        );
        assert_eq!(nearest_rule("something-else", ids.into_iter()), None);
    }

    #[test]
    fn raw_options_are_found_in_rejected_command_lines() {
        let args: Vec<OsString> = ["mxdrift", "audit", "--format", "nagios", "--bogus"]
            .iter()
            .map(OsString::from)
            .collect();
        assert_eq!(raw_option(&args, "format"), Some("nagios"));
        let args: Vec<OsString> = ["mxdrift", "--output=/x.prom", "--", "--format", "nagios"]
            .iter()
            .map(OsString::from)
            .collect();
        assert_eq!(raw_option(&args, "output"), Some("/x.prom"));
        assert_eq!(raw_option(&args, "format"), None);
    }
}
