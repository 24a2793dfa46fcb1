//! Settings: the checked command line and `mxdrift.yaml` turned into the
//! options of one run. clap has checked every single value (`cli`); what is
//! left here is reading the config file, merging it with the command line,
//! and the combinations of values clap cannot express.
//!
//! What a newcomer would get wrong:
//! - "The command line wins" holds where one value is chosen: `--nameserver`
//!   replaces `resolvers:`, which replaces the system's resolv.conf. The
//!   server's addresses and names and the trusted MX hosts are *added up*
//!   from both: each names more of the same server.
//! - The rule set is parsed once per run, here, and the config file is
//!   checked against it (`severity:` and `ignore:` name rules), then its
//!   severity overrides are applied to it.

use std::path::{Path, PathBuf};

use crate::audit::{AuditOptions, CrossCheckOptions, IdentityOptions};
use crate::civil_date::CivilDate;
use crate::cli::{
    AuditArgs, AuditFormat, DnsArgs, FixArgs, FixFormat, IdentityArgs, PlatformArg, RdapArgs,
    SourceArgs,
};
use crate::config::{Config, ConfigError};
use crate::crosscheck::Tools;
use crate::inventory::Platform;
use crate::rdap::RdapOptions;
use crate::resolve::ResolveOptions;
use crate::rules::{RuleError, RuleSet};
use crate::sources::{ConfigRoot, PlatformChoice, SourceOptions};

/// Where the config file is when `--config` does not say, under `--root`.
pub const DEFAULT_CONFIG: &str = "etc/mxdrift.yaml";

/// What `audit` and `fix` share: where the configuration is, who the server
/// is, how to ask DNS, and the config file. Owned, so that the run can move
/// to the thread `--deadline` watches, reading of the config file included.
#[derive(Debug, Clone)]
pub struct PipelineArgs {
    pub source: SourceArgs,
    pub identity: IdentityArgs,
    pub dns: DnsArgs,
    pub config: Option<PathBuf>,
    /// `None`: this command never asks the registries (`fix`: nothing it
    /// could do with the answer).
    pub rdap: Option<RdapArgs>,
    /// `--deadline`: the RDAP stage keeps within it.
    pub deadline: Option<std::time::Duration>,
    /// `--cross-check`.
    pub cross_check: bool,
}

impl From<&AuditArgs> for PipelineArgs {
    fn from(a: &AuditArgs) -> Self {
        PipelineArgs {
            source: a.source.clone(),
            identity: a.identity.clone(),
            dns: a.dns.clone(),
            config: a.config.clone(),
            rdap: Some(a.rdap.clone()),
            deadline: a.deadline,
            cross_check: a.cross_check,
        }
    }
}

impl From<&FixArgs> for PipelineArgs {
    fn from(a: &FixArgs) -> Self {
        PipelineArgs {
            source: a.source.clone(),
            identity: a.identity.clone(),
            dns: a.dns.clone(),
            config: a.config.clone(),
            rdap: None,
            deadline: a.deadline,
            cross_check: a.cross_check,
        }
    }
}

/// The config file as read, with the name messages use for it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConfigFile {
    pub config: Config,
    /// `--config` as given, or [`DEFAULT_CONFIG`].
    pub shown: String,
}

/// Everything a run of the pipeline needs, checked.
#[derive(Debug, Clone)]
pub struct RunSettings {
    pub opts: AuditOptions,
    /// The embedded rules with the config file's severity overrides.
    pub rules: RuleSet,
    pub config: ConfigFile,
}

#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Rules(#[from] RuleError),
}

/// Options that are each valid but do not go together, or an `--output`
/// that cannot be written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UsageError {
    #[error(
        "--baseline shows what changed; --format {0} reports the current state for monitoring: use one or the other"
    )]
    BaselineWithMonitoring(&'static str),
    #[error(
        "--format json prints the plan for review; --commands prints a script and --apply writes the files: choose one"
    )]
    PlanWithAction,
    #[error(
        "--output {path}: that is a directory; give the file to write, e.g. --output {example}"
    )]
    OutputIsDirectory { path: String, example: String },
    #[error("--output {path}: the directory {dir} does not exist")]
    OutputDirectoryMissing { path: String, dir: String },
    #[error(
        "--cross-check asks the MTA installed on this machine, which reads its own configuration, not the one under --root {root}: use it with --root / (tests: see {} and {} in the README)",
        crate::crosscheck::ENV_POSTFIX_CONFIG_DIR,
        crate::crosscheck::ENV_EXIM_CONFIG
    )]
    CrossCheckNeedsSystemRoot { root: String },
}

/// Read the rules, the config file and the command line into the options of
/// one run. `today` is the day ignores expire against.
pub fn load(args: &PipelineArgs, today: CivilDate) -> Result<RunSettings, SettingsError> {
    let mut rules = RuleSet::embedded()?;
    let config = load_config(args, &rules)?;
    config.config.apply_severities(&mut rules);
    let opts = audit_options(args, &config.config, today);
    Ok(RunSettings {
        opts,
        rules,
        config,
    })
}

/// The config file: `--config FILE`, else `<root>/etc/mxdrift.yaml` when
/// present (read inside the root), else the defaults. Its rule ids are
/// checked against `rules`.
pub fn load_config(args: &PipelineArgs, rules: &RuleSet) -> Result<ConfigFile, ConfigError> {
    match &args.config {
        Some(path) => {
            let shown = path.display().to_string();
            let config = Config::load(path, &shown, rules)?;
            Ok(ConfigFile { config, shown })
        }
        None => Ok(ConfigFile {
            config: Config::load_under_root(&args.source.root, rules)?.unwrap_or_default(),
            shown: DEFAULT_CONFIG.to_string(),
        }),
    }
}

/// The command line and the config file merged (see the module's notes on
/// which wins). Infallible: both were checked when they were read.
pub fn audit_options(args: &PipelineArgs, config: &Config, today: CivilDate) -> AuditOptions {
    let mut server_ips = config.server.addresses.clone();
    server_ips.extend(args.identity.server.server_ip.iter().copied());
    let mut server_names = config.server.names.clone();
    server_names.extend(args.identity.server.server_name.iter().cloned());
    let mut trusted_mx = config.trusted_mx.clone();
    trusted_mx.extend(args.identity.trusted_mx.iter().cloned());
    let nameservers = if args.dns.nameserver.is_empty() {
        config.resolvers.clone()
    } else {
        args.dns.nameserver.clone()
    };
    AuditOptions {
        sources: source_options(&args.source),
        identity: IdentityOptions {
            server_ips,
            server_names,
            trusted_mx,
            // The interfaces are this machine's: only the configuration
            // under `/` is this machine's own.
            interfaces: args.source.root == Path::new("/"),
        },
        resolve: ResolveOptions {
            nameservers,
            zone_files: args.dns.zone_file.clone(),
            timeout: args.dns.timeout,
            attempts: args.dns.attempts,
            concurrency: args.dns.concurrency,
            progress: None,
            max_qps: args.dns.max_qps,
            // Zone files answer offline: `dns:` in the config file does
            // not send such a run to the network (`--dns` with
            // `--zone-file` is a usage error).
            mode: if args.dns.zone_file.is_empty() {
                args.dns.dns.or(config.dns).unwrap_or_default()
            } else {
                crate::resolve::DnsMode::Resolver
            },
            root_hints: args.dns.root_hints.clone(),
        },
        ignores: config.ignore.iter().map(|i| i.to_rule()).collect(),
        today,
        rdap: rdap_options(args, config),
        cross_check: args.cross_check.then(|| CrossCheckOptions {
            tools: Tools::from_env(),
            deadline: args
                .deadline
                .and_then(|d| std::time::Instant::now().checked_add(d)),
        }),
    }
}

/// `--cross-check` asks the MTA of this machine: only with `--root /`,
/// unless the MTA's configuration is given explicitly (the test seam:
/// [`Tools::from_env`]).
pub fn check_cross_check(enabled: bool, root: &Path, tools: &Tools) -> Result<(), UsageError> {
    if enabled && root != Path::new("/") && !tools.configuration_given() {
        return Err(UsageError::CrossCheckNeedsSystemRoot {
            root: root.display().to_string(),
        });
    }
    Ok(())
}

/// The RDAP stage: on with `--rdap` or `rdap: enabled`, never for a
/// command without RDAP options; the command line's paths win over the
/// config file's. The stage keeps to nine tenths of `--deadline`, leaving
/// the rest for judging and the report.
pub fn rdap_options(args: &PipelineArgs, config: &Config) -> RdapOptions {
    let section = &config.rdap;
    let Some(rdap) = &args.rdap else {
        return RdapOptions::default();
    };
    RdapOptions {
        enabled: rdap.rdap || section.enabled,
        bootstrap: rdap
            .rdap_bootstrap
            .clone()
            .or_else(|| section.bootstrap.clone()),
        cache_dir: Some(
            rdap.rdap_cache
                .clone()
                .or_else(|| section.cache.clone())
                .unwrap_or_else(|| PathBuf::from(crate::rdap::DEFAULT_CACHE_DIR)),
        ),
        warn_days: section.warn_days,
        critical_days: section.critical_days,
        budget: args.deadline.map(|d| d.mul_f64(0.9)),
        ..RdapOptions::default()
    }
}

/// Where to read the configuration, and which platform's it is.
pub fn source_options(args: &SourceArgs) -> SourceOptions {
    let platform = match args.platform {
        PlatformArg::Auto => PlatformChoice::Auto,
        PlatformArg::Postfix => PlatformChoice::Exactly(Platform::Postfix),
        PlatformArg::Plesk => PlatformChoice::Exactly(Platform::Plesk),
        PlatformArg::Cpanel => PlatformChoice::Exactly(Platform::Cpanel),
        PlatformArg::Directadmin => PlatformChoice::Exactly(Platform::Directadmin),
        PlatformArg::Qmail => PlatformChoice::Exactly(Platform::Qmail),
        PlatformArg::List => PlatformChoice::Exactly(Platform::List),
        PlatformArg::Exim => PlatformChoice::Exactly(Platform::Exim),
        PlatformArg::Hestiacp => PlatformChoice::Exactly(Platform::Hestiacp),
    };
    SourceOptions {
        root: ConfigRoot::new(&args.root),
        platform,
        domains_file: args.domains.clone(),
        hostname: None,
    }
}

/// `audit`'s combinations clap cannot check, before anything is read:
/// `--baseline` with a monitoring format, and an `--output` that cannot be
/// written.
pub fn check_audit(args: &AuditArgs) -> Result<(), UsageError> {
    check_cross_check(args.cross_check, &args.source.root, &Tools::from_env())?;
    if args.baseline.is_some() {
        match args.format {
            AuditFormat::Nagios | AuditFormat::Prometheus => {
                return Err(UsageError::BaselineWithMonitoring(args.format.as_str()));
            }
            AuditFormat::Table | AuditFormat::Text | AuditFormat::Json | AuditFormat::Sarif => {}
        }
    }
    match &args.output {
        Some(path) => check_output_path(path, args.format),
        None => Ok(()),
    }
}

/// `fix`: the plan as JSON is for review, not with a script or an apply.
/// (`--commands` with `--apply` is clap's `conflicts_with`.)
pub fn check_fix(args: &FixArgs) -> Result<(), UsageError> {
    check_cross_check(args.cross_check, &args.source.root, &Tools::from_env())?;
    match args.format {
        FixFormat::Json if args.commands || args.apply => Err(UsageError::PlanWithAction),
        FixFormat::Json | FixFormat::Diff => Ok(()),
    }
}

/// `--output` must name a file in an existing directory: say so before the
/// audit runs, not with the operating system's words after it.
pub fn check_output_path(path: &Path, format: AuditFormat) -> Result<(), UsageError> {
    let extension = match format {
        AuditFormat::Prometheus => "prom",
        AuditFormat::Json => "json",
        AuditFormat::Sarif => "sarif",
        AuditFormat::Table | AuditFormat::Text | AuditFormat::Nagios => "txt",
    };
    check_output_file(path, extension)
}

/// `--output FILE` of any command: not a directory (the error suggests
/// `DIR/mxdrift.EXTENSION`), in a directory that exists.
pub fn check_output_file(path: &Path, extension: &str) -> Result<(), UsageError> {
    if path.as_os_str().to_string_lossy().ends_with('/') || path.is_dir() {
        return Err(UsageError::OutputIsDirectory {
            path: path.display().to_string(),
            example: path
                .join(format!("mxdrift.{extension}"))
                .display()
                .to_string(),
        });
    }
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    if !dir.is_dir() {
        return Err(UsageError::OutputDirectoryMissing {
            path: path.display().to_string(),
            dir: dir.display().to_string(),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn cross_check_needs_root_slash_unless_the_configuration_is_given() {
        let none = Tools::default();
        assert!(check_cross_check(true, Path::new("/"), &none).is_ok());
        assert!(check_cross_check(false, Path::new("/srv/copy"), &none).is_ok());
        let error = check_cross_check(true, Path::new("/srv/copy"), &none).unwrap_err();
        assert!(
            error.to_string().contains("--root /srv/copy")
                && error.to_string().contains("use it with --root /"),
            "{error}"
        );
        // The tools alone still read the live configuration.
        let tools_only = Tools {
            postconf: Some(PathBuf::from("/opt/postfix/postconf")),
            ..Tools::default()
        };
        assert!(check_cross_check(true, Path::new("/srv/copy"), &tools_only).is_err());
        let seam = Tools {
            postfix_config_dir: Some(PathBuf::from("/tmp/mta")),
            ..Tools::default()
        };
        assert!(check_cross_check(true, Path::new("/srv/copy"), &seam).is_ok());
    }

    use std::fs;
    use std::net::{IpAddr, SocketAddr};
    use std::time::Duration;

    use clap::Parser;

    use super::*;
    use crate::cli::{Cli, Command};
    use crate::rules::Severity;

    fn today() -> CivilDate {
        CivilDate {
            year: 2026,
            month: 11,
            day: 23,
        }
    }

    fn audit_args(words: &[&str]) -> AuditArgs {
        let cli = Cli::try_parse_from(["mxdrift", "audit"].iter().chain(words))
            .unwrap_or_else(|e| panic!("{words:?}: {e}"));
        match cli.command {
            Some(Command::Audit(args)) => args,
            other => panic!("not an audit: {other:?}"),
        }
    }

    fn fix_args(words: &[&str]) -> FixArgs {
        let cli = Cli::try_parse_from(["mxdrift", "fix"].iter().chain(words))
            .unwrap_or_else(|e| panic!("{words:?}: {e}"));
        match cli.command {
            Some(Command::Fix(args)) => args,
            other => panic!("not a fix: {other:?}"),
        }
    }

    /// A root with `etc/mxdrift.yaml` holding `yaml`.
    fn root_with_config(yaml: &str) -> tempfile::TempDir {
        let root = tempfile::tempdir().unwrap();
        fs::create_dir_all(root.path().join("etc")).unwrap();
        fs::write(root.path().join(DEFAULT_CONFIG), yaml).unwrap();
        root
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn addr(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    const CONFIG: &str = "\
server:
  addresses: [203.0.113.10]
  names: [web10.hoster.test]
trusted_mx: ['*.filter.test']
resolvers: ['9.9.9.9']
severity:
  split-delivery: info
ignore:
  - domain: a.test
    rule: split-delivery
    reason: on purpose
    until: 2027-01-31
";

    #[test]
    fn without_a_config_file_the_command_line_and_defaults_decide() {
        let root = tempfile::tempdir().unwrap();
        let args = PipelineArgs::from(&audit_args(&["--root", root.path().to_str().unwrap()]));
        let settings = load(&args, today()).unwrap();
        assert_eq!(
            settings.config,
            ConfigFile {
                config: Config::default(),
                shown: DEFAULT_CONFIG.to_string(),
            }
        );
        let opts = &settings.opts;
        assert!(opts.resolve.nameservers.is_empty(), "resolv.conf decides");
        assert_eq!(opts.resolve.timeout, Duration::from_secs(5));
        assert_eq!(opts.resolve.attempts, 2);
        assert_eq!(opts.resolve.concurrency, 64);
        assert_eq!(opts.resolve.max_qps, None);
        assert!(opts.resolve.progress.is_none());
        assert!(opts.identity.server_ips.is_empty());
        assert!(
            !opts.identity.interfaces,
            "a --root other than / is not this machine"
        );
        assert!(opts.ignores.is_empty());
        assert_eq!(opts.today, today());
        assert_eq!(
            settings.rules.get("split-delivery").unwrap().severity,
            RuleSet::embedded()
                .unwrap()
                .get("split-delivery")
                .unwrap()
                .severity
        );
    }

    #[test]
    fn the_config_file_under_the_root_is_read_and_applied() {
        let root = root_with_config(CONFIG);
        let args = PipelineArgs::from(&audit_args(&["--root", root.path().to_str().unwrap()]));
        let settings = load(&args, today()).unwrap();
        let opts = &settings.opts;
        assert_eq!(opts.identity.server_ips, [ip("203.0.113.10")]);
        assert_eq!(opts.identity.server_names, ["web10.hoster.test"]);
        assert_eq!(opts.identity.trusted_mx, ["*.filter.test"]);
        assert_eq!(opts.resolve.nameservers, [addr("9.9.9.9:53")]);
        assert_eq!(opts.ignores.len(), 1);
        assert_eq!(opts.ignores[0].until, CivilDate::parse("2027-01-31"));
        assert_eq!(
            settings.rules.get("split-delivery").unwrap().severity,
            Severity::Info
        );
    }

    #[test]
    fn the_command_line_replaces_resolvers_and_adds_to_the_identity() {
        let root = root_with_config(CONFIG);
        let args = PipelineArgs::from(&audit_args(&[
            "--root",
            root.path().to_str().unwrap(),
            "--nameserver",
            "127.0.0.1:5353",
            "--nameserver",
            "::1",
            "--server-ip",
            "198.51.100.7",
            "--server-name",
            "mx.hoster.test",
            "--trusted-mx",
            "gw.test",
            "--timeout",
            "0.5",
            "--attempts",
            "3",
            "--concurrency",
            "8",
            "--max-qps",
            "100",
        ]));
        let opts = load(&args, today()).unwrap().opts;
        assert_eq!(
            opts.resolve.nameservers,
            [addr("127.0.0.1:5353"), addr("[::1]:53")]
        );
        assert_eq!(
            opts.identity.server_ips,
            [ip("203.0.113.10"), ip("198.51.100.7")]
        );
        assert_eq!(
            opts.identity.server_names,
            ["web10.hoster.test", "mx.hoster.test"]
        );
        assert_eq!(opts.identity.trusted_mx, ["*.filter.test", "gw.test"]);
        assert_eq!(opts.resolve.timeout, Duration::from_millis(500));
        assert_eq!(opts.resolve.attempts, 3);
        assert_eq!(opts.resolve.concurrency, 8);
        assert_eq!(opts.resolve.max_qps, Some(100));
    }

    #[test]
    fn dns_mode_comes_from_the_command_line_over_the_config_file() {
        let root = root_with_config("dns: authoritative\n");
        let path = root.path().to_str().unwrap();
        let from_file = load(&PipelineArgs::from(&audit_args(&["--root", path])), today()).unwrap();
        assert_eq!(
            from_file.opts.resolve.mode,
            crate::resolve::DnsMode::Authoritative
        );
        assert_eq!(from_file.opts.resolve.root_hints, None);
        let args = audit_args(&[
            "--root",
            path,
            "--dns",
            "resolver",
            "--root-hints",
            "/srv/named.root",
        ]);
        let from_cli = load(&PipelineArgs::from(&args), today()).unwrap();
        assert_eq!(
            from_cli.opts.resolve.mode,
            crate::resolve::DnsMode::Resolver
        );
        assert_eq!(
            from_cli.opts.resolve.root_hints,
            Some(std::path::PathBuf::from("/srv/named.root"))
        );
        let bare = tempfile::tempdir().unwrap();
        let default = load(
            &PipelineArgs::from(&audit_args(&["--root", bare.path().to_str().unwrap()])),
            today(),
        )
        .unwrap();
        assert_eq!(default.opts.resolve.mode, crate::resolve::DnsMode::Resolver);
        let bad = root_with_config("dns: recursive\n");
        let e = load(
            &PipelineArgs::from(&audit_args(&["--root", bad.path().to_str().unwrap()])),
            today(),
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("mxdrift.yaml") && e.contains(":1"), "{e}");
    }

    #[test]
    fn config_given_explicitly_wins_over_the_one_under_the_root() {
        let root = root_with_config("resolvers: ['9.9.9.9']\n");
        let elsewhere = tempfile::tempdir().unwrap();
        let explicit = elsewhere.path().join("other.yaml");
        fs::write(&explicit, "resolvers: ['192.0.2.53:5300']\n").unwrap();
        let args = PipelineArgs::from(&fix_args(&[
            "--root",
            root.path().to_str().unwrap(),
            "--config",
            explicit.to_str().unwrap(),
        ]));
        let settings = load(&args, today()).unwrap();
        assert_eq!(settings.config.shown, explicit.display().to_string());
        assert_eq!(settings.opts.resolve.nameservers, [addr("192.0.2.53:5300")]);
    }

    #[test]
    fn config_errors_name_the_file_and_the_line() {
        let root = root_with_config("server:\n  addresses: [203.0.113.10]\n  adresses: []\n");
        let args = PipelineArgs::from(&audit_args(&["--root", root.path().to_str().unwrap()]));
        let e = load(&args, today()).unwrap_err().to_string();
        assert!(e.starts_with("etc/mxdrift.yaml:3:"), "{e}");

        let root = root_with_config("resolvers:\n  - 9.9.9.9\n  - resolver.example\n");
        let args = PipelineArgs::from(&audit_args(&["--root", root.path().to_str().unwrap()]));
        let e = load(&args, today()).unwrap_err().to_string();
        assert!(e.starts_with("etc/mxdrift.yaml:3:"), "{e}");
        assert!(e.contains("resolver.example"), "{e}");

        let dir = tempfile::tempdir().unwrap();
        let explicit = dir.path().join("m.yaml");
        fs::write(&explicit, "severity:\n  no-such-rule: info\n").unwrap();
        let args = PipelineArgs::from(&audit_args(&[
            "--root",
            dir.path().to_str().unwrap(),
            "--config",
            explicit.to_str().unwrap(),
        ]));
        let e = load(&args, today()).unwrap_err().to_string();
        assert!(e.starts_with(&explicit.display().to_string()), "{e}");
        assert!(e.contains("no-such-rule"), "{e}");

        let missing = dir.path().join("missing.yaml");
        let args = PipelineArgs::from(&audit_args(&["--config", missing.to_str().unwrap()]));
        let e = load(&args, today()).unwrap_err().to_string();
        assert!(e.starts_with(&missing.display().to_string()), "{e}");
    }

    #[test]
    fn the_root_of_this_machine_adds_its_interfaces() {
        let args = PipelineArgs::from(&audit_args(&["--root", "/", "--config", "/dev/null"]));
        let opts = audit_options(&args, &Config::default(), today());
        assert!(opts.identity.interfaces);
    }

    #[test]
    fn combinations_clap_cannot_check() {
        assert_eq!(
            check_audit(&audit_args(&["--baseline", "b.json", "--format", "nagios"])),
            Err(UsageError::BaselineWithMonitoring("nagios"))
        );
        assert_eq!(
            check_audit(&audit_args(&[
                "--baseline",
                "b.json",
                "--format",
                "prometheus"
            ])),
            Err(UsageError::BaselineWithMonitoring("prometheus"))
        );
        assert_eq!(
            check_audit(&audit_args(&["--baseline", "b.json", "--format", "json"])),
            Ok(())
        );
        assert_eq!(
            check_fix(&fix_args(&["--format", "json", "--apply"])),
            Err(UsageError::PlanWithAction)
        );
        assert_eq!(
            check_fix(&fix_args(&["--format", "json", "--commands"])),
            Err(UsageError::PlanWithAction)
        );
        assert_eq!(
            check_fix(&fix_args(&["--format", "diff", "--apply"])),
            Ok(())
        );
        assert_eq!(check_fix(&fix_args(&["--format", "json"])), Ok(()));
    }

    #[test]
    fn output_must_be_a_file_in_an_existing_directory() {
        let dir = tempfile::tempdir().unwrap();
        let e = check_output_path(dir.path(), AuditFormat::Prometheus).unwrap_err();
        assert!(
            e.to_string().contains(&format!(
                "e.g. --output {}",
                dir.path().join("mxdrift.prom").display()
            )),
            "{e}"
        );
        let missing = dir.path().join("missing/report.json");
        assert!(matches!(
            check_output_path(&missing, AuditFormat::Json),
            Err(UsageError::OutputDirectoryMissing { .. })
        ));
        assert_eq!(
            check_output_path(&dir.path().join("report.json"), AuditFormat::Json),
            Ok(())
        );
    }

    #[test]
    fn rdap_is_off_unless_asked_and_the_command_line_wins() {
        let root = tempfile::tempdir().unwrap();
        let r = root.path().to_str().unwrap();
        let opts = load(&PipelineArgs::from(&audit_args(&["--root", r])), today())
            .unwrap()
            .opts;
        assert!(!opts.rdap.enabled);
        assert_eq!(
            opts.rdap.cache_dir.as_deref(),
            Some(Path::new("/var/cache/mxdrift"))
        );
        assert_eq!(opts.rdap.budget, None);
        let opts = load(
            &PipelineArgs::from(&audit_args(&[
                "--root",
                r,
                "--rdap",
                "--rdap-cache",
                "/tmp/c",
                "--rdap-bootstrap",
                "/tmp/b.json",
                "--deadline",
                "100",
            ])),
            today(),
        )
        .unwrap()
        .opts;
        assert!(opts.rdap.enabled);
        assert_eq!(opts.rdap.cache_dir.as_deref(), Some(Path::new("/tmp/c")));
        assert_eq!(
            opts.rdap.bootstrap.as_deref(),
            Some(Path::new("/tmp/b.json"))
        );
        assert_eq!(opts.rdap.budget, Some(Duration::from_secs(90)));

        let root = root_with_config(
            "rdap:\n  enabled: true\n  warn_days: 60\n  critical_days: 14\n  cache: /srv/rdap\n",
        );
        let r = root.path().to_str().unwrap();
        let opts = load(&PipelineArgs::from(&audit_args(&["--root", r])), today())
            .unwrap()
            .opts;
        assert!(opts.rdap.enabled, "rdap: enabled");
        assert_eq!((opts.rdap.warn_days, opts.rdap.critical_days), (60, 14));
        assert_eq!(opts.rdap.cache_dir.as_deref(), Some(Path::new("/srv/rdap")));
        let opts = load(
            &PipelineArgs::from(&audit_args(&["--root", r, "--rdap-cache", "/tmp/c"])),
            today(),
        )
        .unwrap()
        .opts;
        assert_eq!(opts.rdap.cache_dir.as_deref(), Some(Path::new("/tmp/c")));
        // fix never asks the registries, whatever the config says.
        let opts = load(&PipelineArgs::from(&fix_args(&["--root", r])), today())
            .unwrap()
            .opts;
        assert!(!opts.rdap.enabled);
    }
}
