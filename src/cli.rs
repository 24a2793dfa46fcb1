//! Command-line definitions (clap derive). Every value is checked here, by
//! its value parser, so that a bad one is a usage error clap reports with
//! the option's name; `settings` turns the checked values and mxdrift.yaml
//! into the pipeline's options.
//!
//! Each command has only the options it uses: `fix` has none of the audit's
//! report options and `inventory` no DNS options, so a meaningless option
//! is rejected, never silently ignored.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::report::nagios::Range;

const ABOUT: &str =
    "Find domains your mail server still delivers locally although their MX points elsewhere";

const LONG_ABOUT: &str = "\
mxdrift audits a shared-hosting mail server (plain Postfix, Plesk, cPanel, DirectAdmin, qmail).

It reads the server's own configuration to find every domain the server delivers locally, asks
public DNS where mail for each of those domains really goes, and reports every mismatch: a domain
whose MX moved to Microsoft 365 or Google while this server still delivers mail sent from the same
machine (contact forms, other customers, cron) into an abandoned local mailbox; a domain that
expired (NXDOMAIN); a backup MX that delivers locally. Each finding names the file and line where
the domain is declared and the DNS evidence. A timeout or SERVFAIL is reported as inconclusive and
never acted upon.

Examples:
  mxdrift                                   audit this server (same as `mxdrift audit`)
  mxdrift inventory                         list the domains the configuration knows, no DNS
  mxdrift audit --format json > audit.json  machine-readable report
  mxdrift audit --root ./server-config --zone-file zones/example.test.zone
                                            audit a configuration checkout offline
  mxdrift fleet reports/*.json --format html --output fleet.html
                                            cross-server findings over many servers' reports";

const AFTER_HELP: &str = "\
Exit codes: 0 no finding at or above --fail-on; 1 findings at or above it; 2 usage or configuration
error (the message names the file and line). With --format nagios: 0 OK, 1 WARNING, 2 CRITICAL,
3 UNKNOWN (usage errors included).

Settings may also live in /etc/mxdrift.yaml (see --config and mxdrift.yaml(5)). `mxdrift rules ID`
explains a finding. The JSON report's schema: /usr/share/doc/mxdrift/mxdrift.schema.json.";

/// `mxdrift --version`: the version and the git commit `scripts/dist` built
/// it from ("unknown" in any other build; see build.rs).
const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (commit ",
    env!("MXDRIFT_COMMIT"),
    ")"
);

#[derive(Debug, Parser)]
#[command(
    name = "mxdrift",
    version = VERSION,
    about = ABOUT,
    long_about = LONG_ABOUT,
    after_long_help = AFTER_HELP,
    args_conflicts_with_subcommands = true,
    subcommand_precedence_over_arg = true
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,

    /// Options of the default command (`audit`).
    #[command(flatten)]
    pub audit: AuditArgs,
}

// Parsed once per run: boxing the largest variant buys nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Read the configuration, look up DNS and report findings (the default command).
    #[command(long_about = AUDIT_ABOUT, after_long_help = AUDIT_AFTER)]
    Audit(AuditArgs),
    /// Read the configuration only: every domain the server knows, how it treats it, where declared.
    Inventory(InventoryArgs),
    /// Audit, then print the remediation (a unified diff, panel commands, or the plan as JSON).
    #[command(long_about = FIX_ABOUT, after_long_help = FIX_AFTER)]
    Fix(FixArgs),
    /// List the rules, or explain one: `mxdrift rules mail-switch-on`.
    Rules(RulesArgs),
    /// Merge per-server audit reports (JSON) into cross-server findings.
    #[command(long_about = FLEET_ABOUT, after_long_help = FLEET_AFTER)]
    Fleet(FleetArgs),
}

const FLEET_ABOUT: &str = "\
Read the reports that `mxdrift audit --format json` wrote on each server of a fleet and report what
no single server can see: a domain delivered locally on server A while its best MX is our own
server B (fleet-moved-internally: switch A off), an MX that points at a fleet server which neither
delivers nor relays the domain (fleet-not-accepted), and a domain delivered locally on two or more
servers (fleet-local-on-several).

A report older than --max-age is stale: it is named and left out, never mixed with fresh ones.
Of two reports of one server (by server.hostname) the newest wins, and the report says so.

Formats: `table` (a terminal), `text` (one finding per line, ASCII), `json`, `prometheus` (a textfile for the central node_exporter:
mxdrift_fleet_findings{rule,severity,server}), `html` (one self-contained page for a support team).";

const FLEET_AFTER: &str = "\
Exit codes: 0 nothing at or above --fail-on; 1 cross-server findings at or above it (a stale report
counts as a warning); 2 usage error or a report that cannot be read (the message names the file).";

const AUDIT_ABOUT: &str = "\
Read the mail server's configuration, look up DNS for every domain it knows, and report each
domain whose mail does not go where the server thinks: delivered locally although the MX is
elsewhere, not found in DNS, a backup MX that delivers locally, and more (`mxdrift rules`).

Formats: `table` (for a terminal; fits its width), `text` (one finding per line, ASCII, for cron
mail and logs), `json` (schema: /usr/share/doc/mxdrift/mxdrift.schema.json), `sarif` (code
scanning), `nagios` (a monitoring plugin), `prometheus` (node_exporter's textfile collector).

With --baseline FILE (a previous `--format json` report) only the findings that are new or
resolved since then are shown, and only new findings count for the exit code: a nightly cron job
that mails its output mails only on change. --update-baseline then replaces FILE with this run's
report.";

const AUDIT_AFTER: &str = "\
Exit codes: 0 no finding at or above --fail-on (under --baseline: no new one); 1 findings at or
above it; 2 usage or configuration error. With --format nagios: 0 OK, 1 WARNING, 2 CRITICAL, 3
UNKNOWN; -w and -c decide, --fail-on is not used. No locally delivered domain at all is UNKNOWN;
inconclusive domains above --max-inconclusive and any configuration warning are at least WARNING;
every error, a bad option included, is UNKNOWN with the message on standard output. With --format
prometheus a run that fails still writes its metrics (mxdrift_last_run_success 0).";

const FIX_ABOUT: &str = "\
Run the audit, then print the change that fixes every finding with conclusive evidence, and
nothing else: a unified diff of the files to change (apply it with `patch -p1 -d ROOT`), with
--commands a POSIX shell script of panel commands and follow-ups, with --format json the plan as
data for review, or with --apply the files written (atomically, with a backup, refusing a file
that changed since it was read). Inconclusive and ignored findings are never touched.";

const FIX_AFTER: &str = "\
Before anything is planned, every domain to change is resolved again over TCP only; a change
whose verdict or rule differs over TCP (possible spoofing, or a zone in flux) is refused, and so
is a change that rests on a file that changed during the run. Evidence from --zone-file needs
no confirmation.

Exit codes: 0 the remediation was printed or applied, or there was nothing to do; 1 the rest was
printed or applied, but some changes were refused because their evidence or their files changed
during the run (run fix again later); 2 usage, configuration or apply error (the files already
written by a stopped --apply are named, each complete, and their follow-up commands printed),
more changes than --max-changes allows, or nothing confirms who this server is
(identity-unconfirmed) and neither --server-ip, --server-name nor `server:` in mxdrift.yaml
names it: then nothing is printed or written.";

/// Where the configuration is and how to read it.
#[derive(Debug, Clone, Args)]
pub struct SourceArgs {
    /// Read every configuration path under DIR instead of `/` (a config repository, a test tree).
    /// Paths in the output are relative to DIR.
    #[arg(long, value_name = "DIR", default_value = "/")]
    pub root: PathBuf,

    /// The mail server's platform; `auto` detects it from the files under the root.
    #[arg(long, value_enum, default_value_t = PlatformArg::Auto)]
    pub platform: PlatformArg,

    /// A plain list of local domains, one per line, `#` comments (platform `list`).
    #[arg(long, value_name = "FILE")]
    pub domains: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum PlatformArg {
    Auto,
    Postfix,
    Plesk,
    Cpanel,
    Directadmin,
    Qmail,
    List,
    Exim,
    Hestiacp,
}

/// The server's addresses and names as the admin gives them (`audit`, `fix`
/// and `inventory`).
#[derive(Debug, Clone, Args)]
pub struct ServerArgs {
    /// An address of this server (repeatable); added to the interface addresses and the
    /// configuration's (`proxy_interfaces`, cPanel's cpnat). Use it for NAT and for audits of a
    /// config checkout.
    #[arg(long = "server-ip", value_name = "IP", value_parser = ip_address)]
    pub server_ip: Vec<IpAddr>,

    /// A name of this server (repeatable); added to `myhostname` and the panel's host name. An
    /// MX host of this name is this server, whatever its addresses.
    #[arg(long = "server-name", value_name = "HOST", value_parser = crate::config::checked_host_name)]
    pub server_name: Vec<String>,
}

/// Who "this server" is, and which MX hosts deliver to it (`audit`, `fix`).
#[derive(Debug, Clone, Args)]
pub struct IdentityArgs {
    #[command(flatten)]
    pub server: ServerArgs,

    /// MX host names that deliver to this server, such as a spam-filter cluster in front of it
    /// (repeatable, glob: `*.filter.example`).
    #[arg(long = "trusted-mx", value_name = "PATTERN")]
    pub trusted_mx: Vec<String>,
}

/// How to ask DNS.
#[derive(Debug, Clone, Args)]
pub struct DnsArgs {
    /// A resolver to ask (repeatable), `IP` or `IP:PORT`; default: `resolvers` in mxdrift.yaml,
    /// else the system's resolv.conf.
    #[arg(long, value_name = "IP[:PORT]", value_parser = nameserver)]
    pub nameserver: Vec<SocketAddr>,

    /// Answer DNS offline from an RFC 1035 master file (repeatable). Names outside every
    /// loaded zone are inconclusive.
    #[arg(long = "zone-file", value_name = "FILE")]
    pub zone_file: Vec<PathBuf>,

    /// Seconds to wait for one DNS answer (at most 3600).
    #[arg(long, value_name = "SECS", default_value = "5", value_parser = timeout_seconds)]
    pub timeout: Duration,

    /// How many times to send a query before calling it inconclusive.
    #[arg(long, value_name = "N", default_value = "2", value_parser = attempts)]
    pub attempts: usize,

    /// How many DNS queries may be in flight at once (1 to 10000).
    #[arg(long, value_name = "N", default_value = "64", value_parser = concurrency)]
    pub concurrency: usize,

    /// Send at most N DNS queries per second (default: no limit beyond --concurrency).
    /// Public resolvers limit clients to about 1,000 per second; use e.g. 500 for a large audit.
    #[arg(long = "max-qps", value_name = "N", value_parser = queries_per_second)]
    pub max_qps: Option<u32>,

    /// How to ask DNS: `resolver` (default) asks the resolvers; `authoritative` follows the
    /// delegation from the root servers, asks every authoritative server of each domain and
    /// compares with the resolver's view (--max-qps is then per server address). Default:
    /// `dns` in mxdrift.yaml, else `resolver`.
    #[arg(long, value_name = "MODE", value_parser = dns_mode, conflicts_with = "zone_file")]
    pub dns: Option<crate::resolve::DnsMode>,

    /// Root hints in named.root format for `--dns authoritative` (default: IANA's root servers,
    /// built in): for private DNS trees and tests.
    #[arg(long = "root-hints", value_name = "FILE", conflicts_with = "zone_file")]
    pub root_hints: Option<PathBuf>,
}

/// `--dns resolver|authoritative`.
fn dns_mode(text: &str) -> Result<crate::resolve::DnsMode, String> {
    match text {
        "resolver" => Ok(crate::resolve::DnsMode::Resolver),
        "authoritative" => Ok(crate::resolve::DnsMode::Authoritative),
        other => Err(format!(
            "`{other}` is not a DNS mode: use `resolver` or `authoritative`"
        )),
    }
}

/// The registry lookups (`audit --rdap`).
#[derive(Debug, Clone, Default, Args)]
pub struct RdapArgs {
    /// Ask each registrable domain's registry (RDAP, the successor of WHOIS) for its expiry date
    /// and status: rules domain-expiring and domain-on-hold. Sends the domain names to the
    /// registries; off unless given (or `rdap: enabled: true` in mxdrift.yaml).
    #[arg(long)]
    pub rdap: bool,

    /// IANA's RDAP bootstrap file for DNS (RFC 9224 `dns.json`) instead of the built-in snapshot.
    #[arg(long = "rdap-bootstrap", value_name = "FILE")]
    pub rdap_bootstrap: Option<PathBuf>,

    /// Where RDAP answers are kept for 24 hours (default /var/cache/mxdrift).
    #[arg(long = "rdap-cache", value_name = "DIR")]
    pub rdap_cache: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum AuditFormat {
    /// For people at a terminal; fits the terminal's width.
    Table,
    /// One finding per line, ASCII only: cron mail and logs.
    Text,
    /// The report as data (schema: docs/mxdrift.schema.json).
    Json,
    /// SARIF 2.1.0 for code scanning (GitHub).
    Sarif,
    /// A monitoring plugin: status line, performance data, exit code 0-3.
    Nagios,
    /// node_exporter's textfile collector.
    Prometheus,
}

impl AuditFormat {
    pub fn as_str(self) -> &'static str {
        match self {
            AuditFormat::Table => "table",
            AuditFormat::Text => "text",
            AuditFormat::Json => "json",
            AuditFormat::Sarif => "sarif",
            AuditFormat::Nagios => "nagios",
            AuditFormat::Prometheus => "prometheus",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FailOn {
    Critical,
    Warning,
    Info,
    Never,
}

/// The longest `--timeout` accepted: an hour per DNS answer is already far
/// beyond any resolver's patience.
pub const MAX_TIMEOUT_SECS: f64 = 3600.0;
/// The longest `--deadline` accepted: a week.
pub const MAX_DEADLINE_SECS: f64 = 7.0 * 86400.0;

/// The most DNS queries in flight that `--concurrency` accepts: far more
/// than any resolver serves one client (64 is the default; 256 was already
/// slower in scripts/bench), and far below what the query limiter can hold.
pub const MAX_CONCURRENCY: usize = 10_000;

/// A number of seconds as a [`Duration`]: a decimal number (`5`, `0.5`),
/// positive, finite and at most `max`. Never a panic: the bound is checked
/// before the conversion, and a value too small for a nanosecond is refused
/// like zero.
fn seconds(text: &str, max: f64) -> Result<Duration, String> {
    let secs: f64 = text
        .trim()
        .parse()
        .map_err(|_| format!("`{text}` is not a number of seconds"))?;
    if !(secs.is_finite() && secs > 0.0) {
        return Err(format!("`{text}`: give a positive number of seconds"));
    }
    if secs > max {
        return Err(format!("`{text}`: at most {max} seconds"));
    }
    Duration::try_from_secs_f64(secs)
        .ok()
        .filter(|d| !d.is_zero())
        .ok_or_else(|| format!("`{text}`: give a positive number of seconds"))
}

/// `--timeout`: positive, finite, at most [`MAX_TIMEOUT_SECS`].
pub fn timeout_seconds(text: &str) -> Result<Duration, String> {
    seconds(text, MAX_TIMEOUT_SECS)
}

/// `--deadline`: positive, finite, at most [`MAX_DEADLINE_SECS`].
pub fn deadline_seconds(text: &str) -> Result<Duration, String> {
    seconds(text, MAX_DEADLINE_SECS)
}

/// A whole number from `min` to `max` (`None`: as large as the type holds).
fn whole_number<T>(text: &str, min: T, max: Option<T>) -> Result<T, String>
where
    T: std::str::FromStr + PartialOrd + std::fmt::Display + Copy,
{
    let digits = text.trim();
    let n: T = digits.parse().map_err(|_| {
        if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
            format!("`{text}` is too large")
        } else {
            format!("`{text}` is not a whole number")
        }
    })?;
    match max {
        Some(max) if n < min || n > max => {
            Err(format!("`{text}`: give a whole number from {min} to {max}"))
        }
        None if n < min => Err(format!("`{text}`: give a whole number of at least {min}")),
        _ => Ok(n),
    }
}

/// `--attempts`: at least one.
fn attempts(text: &str) -> Result<usize, String> {
    whole_number(text, 1, None)
}

/// `--concurrency`: 1 to [`MAX_CONCURRENCY`].
fn concurrency(text: &str) -> Result<usize, String> {
    whole_number(text, 1, Some(MAX_CONCURRENCY))
}

/// `--max-qps`: at least one.
fn queries_per_second(text: &str) -> Result<u32, String> {
    whole_number(text, 1, None)
}

/// `--server-ip`: an IPv4 or IPv6 address, nothing else (no name, no port).
fn ip_address(text: &str) -> Result<IpAddr, String> {
    text.trim()
        .parse()
        .map_err(|_| format!("`{text}` is not an IP address"))
}

/// `--nameserver`: `IP`, `IPv4:PORT` or `[IPv6]:PORT`.
fn nameserver(text: &str) -> Result<SocketAddr, String> {
    crate::resolve::parse_nameserver(text).map_err(|e| e.to_string())
}

#[derive(Debug, Clone, Args)]
pub struct AuditArgs {
    #[command(flatten)]
    pub source: SourceArgs,
    #[command(flatten)]
    pub identity: IdentityArgs,
    #[command(flatten)]
    pub dns: DnsArgs,
    #[command(flatten)]
    pub rdap: RdapArgs,

    /// Output format.
    #[arg(long, value_enum, default_value_t = AuditFormat::Table)]
    pub format: AuditFormat,

    /// Exit with 1 when a finding of this severity or worse is reported (under --baseline: a
    /// new finding). Not used by --format nagios, whose state comes from -w and -c.
    #[arg(long = "fail-on", value_enum, default_value_t = FailOn::Warning)]
    pub fail_on: FailOn,

    /// YAML settings (identity, trusted MX, ignores, severity overrides);
    /// default `<root>/etc/mxdrift.yaml` when present.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// Write the report to FILE (atomically: a temporary file in the same directory, mode 0644,
    /// renamed over FILE) instead of standard output. For node_exporter's textfile collector.
    #[arg(long, value_name = "FILE")]
    pub output: Option<PathBuf>,

    /// Stop the whole run after SECS seconds, reading included: exit 2, or UNKNOWN (3) with
    /// `--format nagios`. (`--timeout` is the limit for one DNS answer.)
    #[arg(long, value_name = "SECS", value_parser = deadline_seconds)]
    pub deadline: Option<Duration>,

    /// `--format nagios`: WARNING when the number of warning-or-worse findings is outside RANGE
    /// (Monitoring Plugins range syntax: `0`, `5`, `5:`, `~:5`, `@2:5`).
    #[arg(
        short = 'w',
        long = "warning",
        value_name = "RANGE",
        default_value = "0",
        value_parser = Range::parse
    )]
    pub warning_range: Range,

    /// `--format nagios`: CRITICAL when the number of critical findings is outside RANGE.
    #[arg(
        short = 'c',
        long = "critical",
        value_name = "RANGE",
        default_value = "0",
        value_parser = Range::parse
    )]
    pub critical_range: Range,

    /// `--format nagios`: WARNING when more domains than this are inconclusive: a count, or a
    /// percentage of the domains audited (`5%`).
    #[arg(long = "max-inconclusive", value_name = "N[%]", default_value = "0")]
    pub max_inconclusive: crate::report::nagios::InconclusiveLimit,

    /// A previous `--format json` report: show only the findings that are new or resolved since
    /// then; the exit code counts only new findings. Not with nagios or prometheus, which
    /// report the current state.
    #[arg(long, value_name = "FILE")]
    pub baseline: Option<PathBuf>,

    /// With --baseline: after a successful run, replace FILE with this run's JSON report
    /// (atomically). A FILE that does not exist yet counts as an empty baseline.
    #[arg(long = "update-baseline", requires = "baseline")]
    pub update_baseline: bool,

    /// With --root / only: ask the installed MTA's own tools (postconf and postmap, exim -be)
    /// how they class every domain, and report each domain where they disagree with mxdrift
    /// (inventory-disagrees-with-mta). A tool that fails or times out ends the run (exit 2).
    #[arg(long = "cross-check")]
    pub cross_check: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum InventoryFormat {
    Table,
    Json,
}

/// `inventory` reads the configuration only: no DNS options, and no
/// `--trusted-mx` (MX hosts are judged by `audit` and `fix`).
#[derive(Debug, Clone, Args)]
pub struct InventoryArgs {
    #[command(flatten)]
    pub source: SourceArgs,
    #[command(flatten)]
    pub server: ServerArgs,

    /// Output format.
    #[arg(long, value_enum, default_value_t = InventoryFormat::Table)]
    pub format: InventoryFormat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FixFormat {
    /// A unified diff on standard output (`patch -p1 -d ROOT`), the summary on standard error.
    Diff,
    /// The plan as data: every action with its domain, rule, kind, files and commands.
    Json,
}

/// `fix` shares how the configuration is read, who the server is and how
/// DNS is asked with `audit`; it has none of the audit's report options.
#[derive(Debug, Clone, Args)]
pub struct FixArgs {
    #[command(flatten)]
    pub source: SourceArgs,
    #[command(flatten)]
    pub identity: IdentityArgs,
    #[command(flatten)]
    pub dns: DnsArgs,

    /// YAML settings (identity, trusted MX, ignores, severity overrides);
    /// default `<root>/etc/mxdrift.yaml` when present.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// Stop after SECS seconds, reading and DNS included (exit 2). With --apply, no file is
    /// written once the deadline has passed.
    #[arg(long, value_name = "SECS", value_parser = deadline_seconds)]
    pub deadline: Option<Duration>,

    /// How to print the plan: a diff, or the plan as JSON for review before --apply.
    #[arg(long, value_enum, default_value_t = FixFormat::Diff)]
    pub format: FixFormat,

    /// Print a POSIX shell script of panel commands and follow-ups instead of a diff.
    #[arg(long, conflicts_with = "apply")]
    pub commands: bool,

    /// Write the file changes (atomically, with a backup) instead of printing a diff.
    #[arg(long)]
    pub apply: bool,

    /// With --apply: keep the backups in DIR (mirroring the paths under the root) instead of
    /// beside each file. Created mode 0700 when missing; backups keep owner, group and mode.
    #[arg(long = "backup-dir", value_name = "DIR", requires = "apply")]
    pub backup_dir: Option<PathBuf>,

    /// With --root / only: ask the installed MTA's own tools how they class every domain; a
    /// domain where they disagree with mxdrift is left for a human, never changed.
    #[arg(long = "cross-check")]
    pub cross_check: bool,

    /// Refuse (exit 2, changing nothing) to take more than N domains off local delivery in one
    /// run; switching a domain off and making it a relay both count. Default: 10, or 20 % of
    /// the local domains, whichever is larger.
    #[arg(long = "max-changes", value_name = "N")]
    pub max_changes: Option<usize>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FleetFormat {
    /// For people at a terminal.
    Table,
    /// One finding per line, ASCII only: cron mail and logs.
    Text,
    /// The fleet as data (schema: docs/mxdrift.schema.json).
    Json,
    /// A textfile for node_exporter's textfile collector.
    Prometheus,
    /// One self-contained HTML page for a support team.
    Html,
}

/// The longest `--max-age` accepted: a year.
pub const MAX_REPORT_AGE_SECS: u64 = 366 * 86_400;

/// `--max-age`: a whole number with a unit, `2d`, `36h`, `90m`, `600s`.
pub fn report_age(text: &str) -> Result<Duration, String> {
    let t = text.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (digits, unit) = t.split_at(split);
    let unit_secs = match unit {
        "d" => 86_400,
        "h" => 3600,
        "m" => 60,
        "s" => 1,
        _ => {
            return Err(format!(
                "`{text}`: give a number and a unit: 2d, 36h, 90m or 600s"
            ));
        }
    };
    let n: u64 = whole_number(digits, 1, Some(MAX_REPORT_AGE_SECS))?;
    n.checked_mul(unit_secs)
        .filter(|secs| *secs <= MAX_REPORT_AGE_SECS)
        .map(Duration::from_secs)
        .ok_or_else(|| format!("`{text}`: at most 366d"))
}

#[derive(Debug, Clone, Args)]
pub struct FleetArgs {
    /// Reports written by `mxdrift audit --format json`, one or more per server.
    #[arg(value_name = "REPORT.json", required = true)]
    pub reports: Vec<PathBuf>,

    /// Output format.
    #[arg(long, value_enum, default_value_t = FleetFormat::Table)]
    pub format: FleetFormat,

    /// Reports audited longer ago than this are stale: named, and left out of the fleet rules.
    #[arg(long = "max-age", value_name = "AGE", default_value = "2d", value_parser = report_age)]
    pub max_age: Duration,

    /// Exit with 1 when a cross-server finding of this severity or worse is reported (a stale
    /// report counts as a warning).
    #[arg(long = "fail-on", value_enum, default_value_t = FailOn::Warning)]
    pub fail_on: FailOn,

    /// Write the report to FILE atomically (mode 0644) instead of standard output.
    #[arg(long, value_name = "FILE")]
    pub output: Option<PathBuf>,
}

#[derive(Debug, Clone, Args)]
pub struct RulesArgs {
    /// Explain this rule instead of listing all of them.
    pub id: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;
    use std::net::{IpAddr, SocketAddr};

    #[test]
    fn cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn bare_options_mean_audit() {
        let cli = Cli::try_parse_from(["mxdrift", "--root", "/tmp/x", "--format", "json"]).unwrap();
        assert!(cli.command.is_none());
        assert_eq!(cli.audit.format, AuditFormat::Json);
    }

    fn rejected(words: &[&str]) -> String {
        match Cli::try_parse_from(words) {
            Ok(cli) => panic!("{words:?} accepted: {cli:?}"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn durations_are_bounded_and_never_panic() {
        assert_eq!(timeout_seconds("0.5"), Ok(Duration::from_millis(500)));
        assert_eq!(deadline_seconds("600"), Ok(Duration::from_secs(600)));
        for bad in [
            "0", "-1", "nan", "inf", "1e30", "1e-300", "3600.5", "five", "",
        ] {
            assert!(timeout_seconds(bad).is_err(), "--timeout {bad}");
        }
        for bad in ["1e300", "inf", "604801", "-0"] {
            assert!(deadline_seconds(bad).is_err(), "--deadline {bad}");
        }
        let e = rejected(&["mxdrift", "--timeout", "1e30"]);
        assert!(e.contains("--timeout") && e.contains("1e30"), "{e}");
        let e = rejected(&["mxdrift", "fix", "--deadline=inf"]);
        assert!(e.contains("--deadline") && e.contains("inf"), "{e}");
    }

    #[test]
    fn dns_mode_is_resolver_or_authoritative() {
        let e = rejected(&["mxdrift", "--dns", "recursive"]);
        assert!(
            e.contains("--dns") && e.contains("`recursive` is not a DNS mode"),
            "{e}"
        );
        assert_eq!(
            dns_mode("authoritative"),
            Ok(crate::resolve::DnsMode::Authoritative)
        );
        // Zone files answer offline: no network to follow delegations in.
        let e = rejected(&["mxdrift", "--dns", "authoritative", "--zone-file", "z"]);
        assert!(e.contains("cannot be used with"), "{e}");
    }

    #[test]
    fn counts_are_bounded() {
        for (option, bad) in [
            ("--attempts", "0"),
            ("--concurrency", "0"),
            ("--concurrency", "10001"),
            ("--concurrency", "18446744073709551615"),
            ("--max-qps", "0"),
            ("--max-qps", "4294967296"),
            ("--attempts", "-1"),
        ] {
            // `--attempts=-1`: a value, not an option.
            let e = rejected(&["mxdrift", "audit", &format!("{option}={bad}")]);
            assert!(e.contains(option) && e.contains(bad), "{option} {bad}: {e}");
        }
        let cli =
            Cli::try_parse_from(["mxdrift", "--concurrency", "10000", "--max-qps", "1"]).unwrap();
        assert_eq!(cli.audit.dns.concurrency, MAX_CONCURRENCY);
        assert_eq!(cli.audit.dns.max_qps, Some(1));
    }

    #[test]
    fn addresses_and_nameservers_are_parsed_by_clap() {
        let cli = Cli::try_parse_from([
            "mxdrift",
            "--server-ip",
            "2001:db8::10",
            "--nameserver",
            "127.0.0.1:5353",
        ])
        .unwrap();
        assert_eq!(
            cli.audit.identity.server.server_ip,
            ["2001:db8::10".parse::<IpAddr>().unwrap()]
        );
        assert_eq!(
            cli.audit.dns.nameserver,
            ["127.0.0.1:5353".parse::<SocketAddr>().unwrap()]
        );
        let e = rejected(&["mxdrift", "inventory", "--server-ip", "mail.hoster.test"]);
        assert!(
            e.contains("--server-ip") && e.contains("`mail.hoster.test` is not an IP address"),
            "{e}"
        );
        let e = rejected(&["mxdrift", "--nameserver", "dns.example"]);
        assert!(
            e.contains("--nameserver") && e.contains("bad name server `dns.example`"),
            "{e}"
        );
    }

    #[test]
    fn nagios_ranges_are_parsed_by_clap() {
        let cli = Cli::try_parse_from(["mxdrift", "-w", "5:", "-c", "@2:5"]).unwrap();
        assert_eq!(cli.audit.warning_range.as_str(), "5:");
        assert_eq!(cli.audit.critical_range.as_str(), "@2:5");
        let e = rejected(&["mxdrift", "-w", "nonsense"]);
        assert!(e.contains("--warning") && e.contains("nonsense"), "{e}");
    }

    #[test]
    fn each_command_has_only_its_options() {
        for (command, option, value) in [
            ("fix", "--output", "/tmp/x"),
            ("fix", "--fail-on", "never"),
            ("fix", "-w", "5"),
            ("fix", "--baseline", "b.json"),
            ("inventory", "--trusted-mx", "*.filter.test"),
            ("inventory", "--nameserver", "192.0.2.1"),
            ("inventory", "--deadline", "5"),
        ] {
            let e = rejected(&["mxdrift", command, option, value]);
            assert!(e.contains(option), "{command} {option}: {e}");
        }
        let e = rejected(&["mxdrift", "fix", "--commands", "--apply"]);
        assert!(e.contains("--commands") && e.contains("--apply"), "{e}");
        let e = rejected(&["mxdrift", "fix", "--backup-dir", "/b"]);
        assert!(e.contains("--apply"), "{e}");
    }

    #[test]
    fn subcommand_parses() {
        let cli = Cli::try_parse_from(["mxdrift", "inventory", "--root", "/tmp/x"]).unwrap();
        assert!(matches!(cli.command, Some(Command::Inventory(_))));
    }
}
