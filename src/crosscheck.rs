//! Cross-check: ask the installed MTA itself how it classes each domain of
//! the inventory, in batch and within a time limit: Exim evaluates
//! `match_domain` against its own named lists (`exim -be`, every domain in
//! one process), Postfix expands its class parameters (`postconf -x -h`)
//! and looks every domain up in each table they name (`postmap -q -`, one
//! process per table). The answers are the MTA's; mxdrift only compares.
//!
//! Facts a newcomer gets wrong: the tools read the live configuration, so
//! this makes sense only for `--root /` (or an explicit configuration
//! location given for tests, see [`Tools::from_env`]); a tool that fails,
//! or a time limit that passes, is an error of the cross-check, never "the
//! MTA disagrees". Exim refuses to evaluate a list its configuration does
//! not define, so the lists are first asked of Exim itself
//! ([`exim_defined_lists`]), not taken from the files mxdrift read.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::inventory::{Delivery, DomainName, Inventory, Platform};

/// Where the MTA's tools and their configuration are: the installed tools
/// and their own configuration, unless the environment points elsewhere
/// (the test seam: a scratch configuration read by the real tools).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tools {
    /// `postconf`; default the first of `/usr/sbin/postconf`, `/usr/bin/postconf`.
    pub postconf: Option<PathBuf>,
    /// `postmap`; default the first of `/usr/sbin/postmap`, `/usr/bin/postmap`.
    pub postmap: Option<PathBuf>,
    /// `postconf -c DIR`, `postmap -c DIR`.
    pub postfix_config_dir: Option<PathBuf>,
    /// `exim`; default the first of `/usr/sbin/exim4`, `/usr/sbin/exim`, `/usr/bin/exim`.
    pub exim: Option<PathBuf>,
    /// `exim -C FILE`.
    pub exim_config: Option<PathBuf>,
}

/// The environment variables of the test seam.
pub const ENV_POSTCONF: &str = "MXDRIFT_CROSSCHECK_POSTCONF";
pub const ENV_POSTMAP: &str = "MXDRIFT_CROSSCHECK_POSTMAP";
pub const ENV_POSTFIX_CONFIG_DIR: &str = "MXDRIFT_CROSSCHECK_POSTFIX_CONFIG_DIR";
pub const ENV_EXIM: &str = "MXDRIFT_CROSSCHECK_EXIM";
pub const ENV_EXIM_CONFIG: &str = "MXDRIFT_CROSSCHECK_EXIM_CONFIG";

const POSTCONF_PATHS: &[&str] = &["/usr/sbin/postconf", "/usr/bin/postconf"];
const POSTMAP_PATHS: &[&str] = &["/usr/sbin/postmap", "/usr/bin/postmap"];
const EXIM_PATHS: &[&str] = &["/usr/sbin/exim4", "/usr/sbin/exim", "/usr/bin/exim"];

impl Tools {
    /// The tools as the environment names them (each variable unset or
    /// empty: the default). Fixed paths by default, never `$PATH`: the run
    /// is root's, often under cron's short `PATH`.
    pub fn from_env() -> Tools {
        let var = |name: &str| {
            std::env::var_os(name)
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
        };
        Tools {
            postconf: var(ENV_POSTCONF),
            postmap: var(ENV_POSTMAP),
            postfix_config_dir: var(ENV_POSTFIX_CONFIG_DIR),
            exim: var(ENV_EXIM),
            exim_config: var(ENV_EXIM_CONFIG),
        }
    }

    /// The MTA's configuration is given explicitly (the test seam): the
    /// tools then do not read the live server's, and `--root` need not be `/`.
    pub fn configuration_given(&self) -> bool {
        self.postfix_config_dir.is_some() || self.exim_config.is_some()
    }

    /// The MTA that delivers for `platform`, with its tools found.
    pub fn mta_for(&self, platform: Platform) -> Result<Mta, CrossCheckError> {
        match mta_kind(platform) {
            None => Err(CrossCheckError::Unavailable { platform }),
            Some(MtaKind::Postfix) => Ok(Mta::Postfix {
                postconf: found(self.postconf.as_ref(), "postconf", POSTCONF_PATHS)?,
                postmap: found(self.postmap.as_ref(), "postmap", POSTMAP_PATHS)?,
                config_dir: self.postfix_config_dir.clone(),
            }),
            Some(MtaKind::Exim) => Ok(Mta::Exim {
                binary: found(self.exim.as_ref(), "exim", EXIM_PATHS)?,
                config: self.exim_config.clone(),
            }),
        }
    }
}

/// The given tool, or the first of `defaults` that exists.
fn found(
    given: Option<&PathBuf>,
    tool: &'static str,
    defaults: &[&str],
) -> Result<PathBuf, CrossCheckError> {
    if let Some(path) = given {
        return Ok(path.clone());
    }
    defaults
        .iter()
        .map(PathBuf::from)
        .find(|p| p.is_file())
        .ok_or_else(|| CrossCheckError::ToolMissing {
            tool,
            looked: defaults.join(", "),
        })
}

/// Which MTA a platform's mail server is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MtaKind {
    Postfix,
    Exim,
}

impl MtaKind {
    pub fn as_str(self) -> &'static str {
        match self {
            MtaKind::Postfix => "postfix",
            MtaKind::Exim => "exim",
        }
    }
}

/// The MTA of a platform; `None` where there is none to ask (qmail has no
/// tool that classes a domain; a plain domain list is no MTA).
pub fn mta_kind(platform: Platform) -> Option<MtaKind> {
    match platform {
        Platform::Postfix | Platform::Plesk => Some(MtaKind::Postfix),
        Platform::Exim | Platform::Cpanel | Platform::Directadmin | Platform::Hestiacp => {
            Some(MtaKind::Exim)
        }
        Platform::Qmail | Platform::List => None,
    }
}

impl Mta {
    pub fn kind(&self) -> MtaKind {
        match self {
            Mta::Exim { .. } => MtaKind::Exim,
            Mta::Postfix { .. } => MtaKind::Postfix,
        }
    }
}

/// The named domain lists Exim's configuration defines, of the two that
/// class a domain (`local_domains`, `relay_to_domains`), as Exim itself
/// reports them (`exim -bP +local_domains +relay_to_domains`).
pub fn exim_defined_lists(
    binary: &Path,
    config: Option<&Path>,
    limit: Duration,
) -> Result<Vec<&'static str>, CrossCheckError> {
    let mut args: Vec<String> = Vec::new();
    if let Some(config) = config {
        args.push("-C".into());
        args.push(config.display().to_string());
    }
    args.extend(["-bP", "+local_domains", "+relay_to_domains"].map(String::from));
    // Exim exits 1 when the last list is not defined, and says so on
    // standard output: the answer is in the lines it prints.
    let out = run(&binary.to_path_buf(), &args, "", limit)?;
    Ok(["local_domains", "relay_to_domains"]
        .into_iter()
        .filter(|list| {
            out.lines().any(|line| {
                line.strip_prefix("domainlist ")
                    .and_then(|rest| rest.strip_prefix(list))
                    .is_some_and(|rest| rest.trim_start().starts_with('='))
            })
        })
        .collect())
}

/// Ask `mta` about each of `domains` within `limit`, Exim's defined lists
/// first: the whole cross-check of a run. The classes are in order.
pub fn ask_mta(
    mta: &Mta,
    domains: &[DomainName],
    limit: Duration,
) -> Result<Vec<MtaClass>, CrossCheckError> {
    let started = Instant::now();
    let lists = match mta {
        Mta::Exim { binary, config } => exim_defined_lists(binary, config.as_deref(), limit)?,
        Mta::Postfix { .. } => Vec::new(),
    };
    ask(
        mta,
        domains,
        &lists,
        limit.saturating_sub(started.elapsed()),
    )
}

/// Does the MTA's class confirm mxdrift's?
pub fn agrees(ours: Delivery, theirs: MtaClass) -> bool {
    matches!(
        (ours, theirs),
        (Delivery::Local, MtaClass::Local)
            | (Delivery::Relay, MtaClass::Relay)
            | (Delivery::NotLocal, MtaClass::Neither)
    )
}

/// Which MTA to ask, and where its tools and configuration are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mta {
    Exim {
        /// `exim4` or `exim`.
        binary: PathBuf,
        /// `-C FILE`; `None`: the MTA's own configuration.
        config: Option<PathBuf>,
    },
    Postfix {
        postconf: PathBuf,
        postmap: PathBuf,
        /// `-c DIR`; `None`: the MTA's own configuration.
        config_dir: Option<PathBuf>,
    },
}

/// How the MTA classes a domain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MtaClass {
    Local,
    Relay,
    Neither,
}

impl MtaClass {
    pub fn as_str(self) -> &'static str {
        match self {
            MtaClass::Local => "local",
            MtaClass::Relay => "relay",
            MtaClass::Neither => "neither local nor relayed",
        }
    }
}

/// Why the MTA could not be asked.
#[derive(Debug, thiserror::Error)]
pub enum CrossCheckError {
    #[error("running {tool}: {source}")]
    Spawn {
        tool: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{tool} failed ({status}): {stderr}")]
    Failed {
        tool: String,
        status: String,
        stderr: String,
    },
    #[error("{tool} did not finish within {} s", .limit.as_secs_f64())]
    TimedOut { tool: String, limit: Duration },
    #[error("{tool}: {message}")]
    Output { tool: String, message: String },
    #[error(
        "--cross-check: no {tool} found (looked at {looked}); is the mail server installed here?"
    )]
    ToolMissing { tool: &'static str, looked: String },
    #[error(
        "--cross-check is not available for platform {}: it has no tool that says how it classes a domain",
        .platform.as_str()
    )]
    Unavailable { platform: Platform },
}

/// A domain where mxdrift and the MTA disagree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Disagreement {
    pub domain: DomainName,
    pub ours: Delivery,
    pub theirs: MtaClass,
}

/// The outcome: how many domains the MTA confirmed, and the others.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CrossCheck {
    pub confirmed: usize,
    pub disagreements: Vec<Disagreement>,
}

/// Ask the MTA about every domain of the inventory and compare. `exim_lists`
/// are the named domain lists the Exim configuration defines (asking for
/// an undefined one is an error in Exim).
pub fn check(
    inventory: &Inventory,
    mta: &Mta,
    exim_lists: &[&str],
    limit: Duration,
) -> Result<CrossCheck, CrossCheckError> {
    let domains: Vec<DomainName> = inventory.domains.iter().map(|d| d.name.clone()).collect();
    let classes = ask(mta, &domains, exim_lists, limit)?;
    let mut out = CrossCheck::default();
    for (known, theirs) in inventory.domains.iter().zip(classes) {
        if agrees(known.delivery, theirs) {
            out.confirmed += 1;
        } else {
            out.disagreements.push(Disagreement {
                domain: known.name.clone(),
                ours: known.delivery,
                theirs,
            });
        }
    }
    Ok(out)
}

/// The MTA's class of each domain, in order.
pub fn ask(
    mta: &Mta,
    domains: &[DomainName],
    exim_lists: &[&str],
    limit: Duration,
) -> Result<Vec<MtaClass>, CrossCheckError> {
    let started = Instant::now();
    match mta {
        Mta::Exim { binary, config } => {
            let has = |list: &str| exim_lists.contains(&list);
            let mut input = String::new();
            for domain in domains {
                for list in ["local_domains", "relay_to_domains"] {
                    if has(list) {
                        input.push_str(&format!(
                            "${{if match_domain{{{}}}{{+{list}}}{{yes}}{{no}}}}\n",
                            domain.as_str()
                        ));
                    }
                }
            }
            let mut args: Vec<String> = Vec::new();
            if let Some(config) = config {
                args.push("-C".into());
                args.push(config.display().to_string());
            }
            args.push("-be".into());
            let out = run(binary, &args, &input, limit)?;
            let tool = binary.display().to_string();
            let answers: Vec<&str> = out
                .lines()
                .map(|l| l.strip_prefix("> ").unwrap_or(l))
                .collect();
            let per = usize::from(has("local_domains")) + usize::from(has("relay_to_domains"));
            let mut classes = Vec::with_capacity(domains.len());
            for (index, domain) in domains.iter().enumerate() {
                let mut yes = Vec::new();
                for k in 0..per {
                    match answers.get(index * per + k) {
                        Some(&"yes") => yes.push(true),
                        Some(&"no") => yes.push(false),
                        other => {
                            return Err(CrossCheckError::Output {
                                tool,
                                message: format!("answered {other:?} for {}", domain.as_str()),
                            });
                        }
                    }
                }
                let local = has("local_domains") && yes.first() == Some(&true);
                let relay = has("relay_to_domains") && yes.last() == Some(&true);
                classes.push(if local {
                    MtaClass::Local
                } else if relay {
                    MtaClass::Relay
                } else {
                    MtaClass::Neither
                });
            }
            Ok(classes)
        }
        Mta::Postfix {
            postconf,
            postmap,
            config_dir,
        } => {
            let mut base: Vec<String> = Vec::new();
            if let Some(dir) = config_dir {
                base.push("-c".into());
                base.push(dir.display().to_string());
            }
            let mut args = base.clone();
            args.extend(
                [
                    "-x",
                    "-h",
                    "mydestination",
                    "virtual_alias_domains",
                    "virtual_mailbox_domains",
                    "relay_domains",
                ]
                .map(String::from),
            );
            let values = run(postconf, &args, "", limit)?;
            let lines: Vec<&str> = values.lines().collect();
            if lines.len() != 4 {
                return Err(CrossCheckError::Output {
                    tool: postconf.display().to_string(),
                    message: format!("{} lines for 4 parameters", lines.len()),
                });
            }
            let mut local = vec![false; domains.len()];
            let mut relay = vec![false; domains.len()];
            let input: String = domains
                .iter()
                .map(|d| format!("{}\n", d.as_str()))
                .collect();
            for (class, value) in lines.iter().enumerate() {
                let found = if class == 3 { &mut relay } else { &mut local };
                for token in value
                    .split(|c: char| c == ',' || c.is_ascii_whitespace())
                    .filter(|t| !t.is_empty())
                {
                    if token.starts_with(['/', '!']) {
                        // Postfix's tools cannot be asked about a pattern
                        // file or a negation: no half answer.
                        return Err(CrossCheckError::Output {
                            tool: postconf.display().to_string(),
                            message: format!(
                                "`{token}` in a class parameter cannot be looked up with postmap; cross-check not done"
                            ),
                        });
                    }
                    if token.contains(':') {
                        let remaining = limit.saturating_sub(started.elapsed());
                        let mut args = base.clone();
                        args.extend(["-q".to_string(), "-".to_string(), token.to_string()]);
                        let out = run(postmap, &args, &input, remaining)?;
                        for line in out.lines() {
                            let key = line.split_whitespace().next().unwrap_or("");
                            for (index, domain) in domains.iter().enumerate() {
                                if domain.as_str().eq_ignore_ascii_case(key) {
                                    found[index] = true;
                                }
                            }
                        }
                    } else {
                        for (index, domain) in domains.iter().enumerate() {
                            if domain.as_str().eq_ignore_ascii_case(token) {
                                found[index] = true;
                            }
                        }
                    }
                }
            }
            Ok(local
                .iter()
                .zip(&relay)
                .map(|(&l, &r)| {
                    if l {
                        MtaClass::Local
                    } else if r {
                        MtaClass::Relay
                    } else {
                        MtaClass::Neither
                    }
                })
                .collect())
        }
    }
}

/// Run a tool with `input` on its stdin and return its stdout, killing it
/// (the child we started, by its handle) when `limit` passes.
fn run(
    tool: &PathBuf,
    args: &[String],
    input: &str,
    limit: Duration,
) -> Result<String, CrossCheckError> {
    let name = tool.display().to_string();
    let mut child = Command::new(tool)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|source| CrossCheckError::Spawn {
            tool: name.clone(),
            source,
        })?;
    let stdin = child.stdin.take();
    let input = input.to_string();
    let writer = std::thread::spawn(move || {
        if let Some(mut stdin) = stdin {
            let _ = stdin.write_all(input.as_bytes());
        }
    });
    let mut stdout = child.stdout.take();
    let reader = std::thread::spawn(move || {
        let mut text = String::new();
        if let Some(out) = stdout.as_mut() {
            let _ = out.read_to_string(&mut text);
        }
        text
    });
    let mut stderr = child.stderr.take();
    let err_reader = std::thread::spawn(move || {
        let mut text = String::new();
        if let Some(err) = stderr.as_mut() {
            let _ = err.read_to_string(&mut text);
        }
        text
    });
    let started = Instant::now();
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if started.elapsed() >= limit => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(CrossCheckError::TimedOut { tool: name, limit });
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(5)),
            Err(source) => return Err(CrossCheckError::Spawn { tool: name, source }),
        }
    };
    let _ = writer.join();
    let out = reader.join().unwrap_or_default();
    let err = err_reader.join().unwrap_or_default();
    // postmap -q exits 1 when no key was found: that is an answer.
    let no_key = status.code() == Some(1) && err.trim().is_empty();
    if !status.success() && !no_key {
        return Err(CrossCheckError::Failed {
            tool: name,
            status: status.to_string(),
            stderr: err.trim().to_string(),
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_platform_asks_its_mta_or_none() {
        for (platform, kind) in [
            (Platform::Postfix, Some(MtaKind::Postfix)),
            (Platform::Plesk, Some(MtaKind::Postfix)),
            (Platform::Exim, Some(MtaKind::Exim)),
            (Platform::Cpanel, Some(MtaKind::Exim)),
            (Platform::Directadmin, Some(MtaKind::Exim)),
            (Platform::Hestiacp, Some(MtaKind::Exim)),
            (Platform::Qmail, None),
            (Platform::List, None),
        ] {
            assert_eq!(mta_kind(platform), kind, "{}", platform.as_str());
        }
        let error = Tools::default().mta_for(Platform::Qmail).unwrap_err();
        assert!(
            error
                .to_string()
                .contains("not available for platform qmail"),
            "{error}"
        );
    }

    #[test]
    fn given_tools_are_used_as_given() {
        let tools = Tools {
            exim: Some(PathBuf::from("/opt/exim/bin/exim")),
            exim_config: Some(PathBuf::from("/tmp/exim.conf")),
            ..Tools::default()
        };
        assert!(tools.configuration_given());
        assert_eq!(
            tools.mta_for(Platform::Cpanel).unwrap(),
            Mta::Exim {
                binary: PathBuf::from("/opt/exim/bin/exim"),
                config: Some(PathBuf::from("/tmp/exim.conf")),
            }
        );
        assert!(!Tools::default().configuration_given());
    }

    #[test]
    fn only_the_same_class_agrees() {
        assert!(agrees(Delivery::Local, MtaClass::Local));
        assert!(agrees(Delivery::Relay, MtaClass::Relay));
        assert!(agrees(Delivery::NotLocal, MtaClass::Neither));
        assert!(!agrees(Delivery::Local, MtaClass::Relay));
        assert!(!agrees(Delivery::Local, MtaClass::Neither));
        assert!(!agrees(Delivery::NotLocal, MtaClass::Local));
    }
}
