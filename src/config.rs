//! `mxdrift.yaml`: settings an admin keeps next to the server instead of on
//! the command line. Unknown keys are errors with file:line, so a typo never
//! silently disables an ignore or an override; an ignore that matches no
//! finding is a warning, so a typo in a domain (`split.tset`) is seen too.
//!
//! In YAML an unquoted `*` starts an alias (`*name` refers to `&name`), so a
//! glob such as `*.example.org` must be quoted; the parse error says so.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::path::Path;

use serde::{Deserialize, Deserializer};

use crate::civil_date::CivilDate;
use crate::inventory::{InventoryWarning, WarningKind};
use crate::rules::{Finding, IgnoreRule, RuleFilter, RuleId, RuleSet, Severity};
use crate::safe_fs;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{file}: {source}")]
    Io {
        file: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{file}:{line}: {message}")]
    Syntax {
        file: String,
        line: u64,
        message: String,
    },
    #[error("{file}: {message}")]
    Invalid { file: String, message: String },
}

/// The file as written; [`Config::parse`] checks it into a [`Config`].
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ConfigFile {
    #[serde(default)]
    server: ServerSection,
    #[serde(default)]
    trusted_mx: Vec<String>,
    #[serde(default, deserialize_with = "nameservers")]
    resolvers: Vec<SocketAddr>,
    #[serde(default)]
    dns: Option<crate::resolve::DnsMode>,
    #[serde(default)]
    severity: BTreeMap<String, Severity>,
    #[serde(default)]
    ignore: Vec<IgnoreAsWritten>,
    #[serde(default)]
    rdap: RdapSection,
}

/// The settings, checked: every rule named is a rule.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Config {
    pub server: ServerSection,
    /// MX host patterns (globs) of filtering gateways that deliver to this server.
    pub trusted_mx: Vec<String>,
    /// Resolvers to ask, `IP` or `IP:PORT` (command-line `--nameserver` wins),
    /// checked as they are read so that a bad one is named with its line.
    pub resolvers: Vec<SocketAddr>,
    /// `dns: resolver|authoritative` (command-line `--dns` wins).
    pub dns: Option<crate::resolve::DnsMode>,
    /// Severity overrides per rule.
    pub severity: BTreeMap<RuleId, Severity>,
    pub ignore: Vec<Ignore>,
    pub rdap: RdapSection,
}

/// `rdap:`: the registry lookups of `--rdap` (off unless `enabled: true`
/// or `--rdap`: they send the domain names to the registries).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RdapSection {
    #[serde(default)]
    pub enabled: bool,
    /// `domain-expiring` warns within this many days...
    #[serde(default = "default_warn_days")]
    pub warn_days: u32,
    /// ...and is critical within this many.
    #[serde(default = "default_critical_days")]
    pub critical_days: u32,
    /// An RFC 9224 `dns.json` instead of the built-in snapshot
    /// (`--rdap-bootstrap` wins).
    #[serde(default)]
    pub bootstrap: Option<std::path::PathBuf>,
    /// The cache directory (`--rdap-cache` wins).
    #[serde(default)]
    pub cache: Option<std::path::PathBuf>,
}

fn default_warn_days() -> u32 {
    crate::rdap::DEFAULT_WARN_DAYS
}

fn default_critical_days() -> u32 {
    crate::rdap::DEFAULT_CRITICAL_DAYS
}

impl Default for RdapSection {
    fn default() -> Self {
        RdapSection {
            enabled: false,
            warn_days: default_warn_days(),
            critical_days: default_critical_days(),
            bootstrap: None,
            cache: None,
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerSection {
    #[serde(default)]
    pub addresses: Vec<IpAddr>,
    #[serde(default, deserialize_with = "host_names")]
    pub names: Vec<String>,
}

/// One entry of `server.names`, checked as `--server-name` is; an error is
/// raised at the entry, so the message names its line.
struct HostName(String);

impl<'de> Deserialize<'de> for HostName {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        checked_host_name(&text)
            .map(HostName)
            .map_err(serde::de::Error::custom)
    }
}

/// A name of this server as the admin writes it (`server.names`,
/// `--server-name`): kept as written when it is a valid host name (the
/// identity normalises it), else the message both places show.
pub(crate) fn checked_host_name(text: &str) -> Result<String, String> {
    crate::inventory::DomainName::parse(text)
        .map(|_| text.to_string())
        .map_err(|e| format!("`{text}` is not a host name: {e}"))
}

fn host_names<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<String>, D::Error> {
    let written = Vec::<HostName>::deserialize(deserializer)?;
    Ok(written.into_iter().map(|n| n.0).collect())
}

/// One entry of `resolvers:`, parsed as `--nameserver` parses it; an error
/// is raised at the entry, so the message names its line.
struct Nameserver(SocketAddr);

impl<'de> Deserialize<'de> for Nameserver {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        crate::resolve::parse_nameserver(&text)
            .map(Nameserver)
            .map_err(serde::de::Error::custom)
    }
}

fn nameservers<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<SocketAddr>, D::Error> {
    let written = Vec::<Nameserver>::deserialize(deserializer)?;
    Ok(written.into_iter().map(|n| n.0).collect())
}

/// "Do not report RULE for DOMAIN, because REASON (until DATE)."
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ignore {
    /// A domain name or glob (`*.example.org`).
    pub domain: String,
    /// One rule, or `*` for every rule.
    pub rule: RuleFilter,
    pub reason: String,
    /// `YYYY-MM-DD`: the ignore applies up to and including this day.
    pub until: Option<String>,
    /// The line of its `domain:` in the file (0 when unknown), for warnings.
    pub line: u64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct IgnoreAsWritten {
    domain: serde_saphyr::Spanned<String>,
    rule: String,
    reason: String,
    #[serde(default)]
    until: Option<String>,
}

impl Ignore {
    /// The ignore as the rules stage applies it (`until` was validated by [`Config::parse`]).
    pub fn to_rule(&self) -> IgnoreRule {
        IgnoreRule {
            domain: self.domain.clone(),
            rule: self.rule,
            reason: self.reason.clone(),
            until: self.until.as_deref().and_then(CivilDate::parse),
        }
    }
}

impl Config {
    /// Read and validate a config file. `shown` is the name used in messages;
    /// rule ids are checked against `rules`.
    /// The file is read like every other (a regular file, at most
    /// [`safe_fs::SETTINGS_LIMIT`]): a FIFO or `/dev/zero` given as
    /// `--config` is refused, never waited for.
    pub fn load(path: &Path, shown: &str, rules: &RuleSet) -> Result<Config, ConfigError> {
        let bytes =
            safe_fs::read_path(path, safe_fs::SETTINGS_LIMIT).map_err(|error| ConfigError::Io {
                file: shown.to_string(),
                source: error.into(),
            })?;
        Self::parse_bytes(&bytes, shown, rules)
    }

    /// `<root>/etc/mxdrift.yaml`, read inside the root like the server's
    /// own files; `None` when there is none.
    pub fn load_under_root(root: &Path, rules: &RuleSet) -> Result<Option<Config>, ConfigError> {
        const PATH: &str = "/etc/mxdrift.yaml";
        let shown = PATH.trim_start_matches('/');
        let read = safe_fs::Root::open(root).and_then(|r| r.read(PATH, safe_fs::SETTINGS_LIMIT));
        match read {
            Ok((bytes, _)) => Self::parse_bytes(&bytes, shown, rules).map(Some),
            Err(error) if error.is_not_found() => Ok(None),
            Err(error) => Err(ConfigError::Io {
                file: shown.to_string(),
                source: error.into(),
            }),
        }
    }

    fn parse_bytes(bytes: &[u8], shown: &str, rules: &RuleSet) -> Result<Config, ConfigError> {
        let text = std::str::from_utf8(bytes).map_err(|e| ConfigError::Invalid {
            file: shown.to_string(),
            message: format!("not UTF-8 text ({e})"),
        })?;
        Self::parse(text, shown, rules)
    }

    /// Parse and validate the text of a config file: rule ids in `severity`
    /// and `ignore` must be rules of `rules` (the run's rule set, parsed
    /// once by the caller).
    pub fn parse(text: &str, shown: &str, rules: &RuleSet) -> Result<Config, ConfigError> {
        if text.trim().is_empty() {
            return Ok(Config::default());
        }
        let file: ConfigFile =
            serde_saphyr::from_str(text).map_err(|e| syntax_error(&e, text, shown))?;
        let invalid = |message: String| ConfigError::Invalid {
            file: shown.to_string(),
            message,
        };
        let rule_named = |name: &str| rules.get(name).map(|rule| rule.id);
        let mut severity = BTreeMap::new();
        for (name, level) in &file.severity {
            let id = rule_named(name)
                .ok_or_else(|| invalid(format!("severity: unknown rule `{name}`")))?;
            severity.insert(id, *level);
        }
        let mut ignores = Vec::with_capacity(file.ignore.len());
        for ignore in file.ignore {
            let domain = ignore.domain.value;
            let rule = match ignore.rule.as_str() {
                "*" => Some(RuleFilter::Every),
                name => rule_named(name).map(RuleFilter::Only),
            };
            let rule = rule.ok_or_else(|| {
                invalid(format!(
                    "ignore: unknown rule `{}` for {domain}",
                    ignore.rule
                ))
            })?;
            if ignore.reason.trim().is_empty() {
                return Err(invalid(format!(
                    "ignore of {domain} / {rule} needs a reason"
                )));
            }
            if let Some(until) = &ignore.until
                && CivilDate::parse(until).is_none()
            {
                return Err(invalid(format!(
                    "ignore of {domain} / {rule}: `until: {until}` is not a date (YYYY-MM-DD)"
                )));
            }
            ignores.push(Ignore {
                line: ignore.domain.referenced.line(),
                domain,
                rule,
                reason: ignore.reason,
                until: ignore.until,
            });
        }
        if file.rdap.critical_days > file.rdap.warn_days {
            return Err(invalid(format!(
                "rdap: critical_days ({}) is more than warn_days ({}): the critical window lies \
                 within the warning window",
                file.rdap.critical_days, file.rdap.warn_days
            )));
        }
        Ok(Config {
            server: file.server,
            trusted_mx: file.trusted_mx,
            resolvers: file.resolvers,
            dns: file.dns,
            severity,
            ignore: ignores,
            rdap: file.rdap,
        })
    }

    /// One warning per ignore that matches none of `findings` (expired
    /// ignores included: a matching expired ignore is reported as a note by
    /// the rules stage instead). `shown` names the file.
    pub fn unused_ignores<'a>(
        &self,
        findings: impl Iterator<Item = &'a Finding>,
        shown: &str,
    ) -> Vec<InventoryWarning> {
        let rules: Vec<IgnoreRule> = self.ignore.iter().map(Ignore::to_rule).collect();
        let mut used = vec![false; rules.len()];
        for finding in findings {
            for (i, rule) in rules.iter().enumerate() {
                used[i] |= rule.matches(finding);
            }
            if used.iter().all(|u| *u) {
                break;
            }
        }
        self.ignore
            .iter()
            .zip(used)
            .filter(|(_, used)| !used)
            .map(|(ignore, _)| InventoryWarning {
                kind: WarningKind::UnusedIgnore,
                file: Some(shown.to_string()),
                line: (ignore.line > 0).then(|| u32::try_from(ignore.line).unwrap_or(u32::MAX)),
                parameter: Some("ignore".into()),
                message: format!(
                    "the ignore of {} for {} matches no finding: check the domain and the rule for a typo, or remove it if the problem was fixed",
                    match ignore.rule {
                        RuleFilter::Every => "every rule",
                        RuleFilter::Only(id) => id.as_str(),
                    },
                    ignore.domain
                ),
            })
            .collect()
    }

    /// Apply the severity overrides to a rule set.
    pub fn apply_severities(&self, rules: &mut RuleSet) {
        for (id, severity) in &self.severity {
            rules.set_severity(*id, *severity);
        }
    }
}

/// A YAML syntax or type error, named after the file (the parser would say
/// `<input>`), with the parser's excerpt of the lines concerned and, when
/// the error stands on a `*` or `&`, what those characters mean in YAML.
fn syntax_error(error: &serde_saphyr::Error, text: &str, shown: &str) -> ConfigError {
    let location = error.location();
    let mut message = error.render_with_options(serde_saphyr::render_options! {
        source_name: Some(shown),
    });
    let at = location.and_then(|l| {
        let line = text
            .lines()
            .nth(usize::try_from(l.line()).ok()?.checked_sub(1)?)?;
        line.chars()
            .nth(usize::try_from(l.column()).ok()?.checked_sub(1)?)
    });
    match at {
        Some('*') => message.push_str(
            "\nhint: in YAML an unquoted `*` starts an alias (a reference to an `&anchor`): quote a glob or the rule `*`, e.g. domain: '*.example.org' and rule: '*'",
        ),
        Some('&') => message.push_str(
            "\nhint: in YAML an unquoted `&` starts an anchor: quote the value",
        ),
        _ => {}
    }
    ConfigError::Syntax {
        file: shown.to_string(),
        line: location.map_or(0, |l| l.line()),
        message,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules() -> RuleSet {
        RuleSet::embedded().unwrap()
    }

    #[test]
    fn full_config_parses() {
        let text = "\
server:
  addresses: [203.0.113.10, 2001:db8::10]
  names: [web10.hoster.test]
trusted_mx: ['*.filter.test']
resolvers: ['9.9.9.9', '127.0.0.1:5353']
severity:
  split-delivery: info
ignore:
  - domain: '*.example.org'
    rule: split-delivery
    reason: split delivery on purpose (ticket 4711)
    until: 2027-01-31
";
        let c = Config::parse(text, "etc/mxdrift.yaml", &rules()).unwrap();
        assert_eq!(c.server.addresses.len(), 2);
        assert_eq!(
            c.resolvers,
            [
                "9.9.9.9:53".parse::<SocketAddr>().unwrap(),
                "127.0.0.1:5353".parse().unwrap()
            ]
        );
        assert_eq!(c.severity[&RuleId::SplitDelivery], Severity::Info);
        assert_eq!(c.ignore[0].until.as_deref(), Some("2027-01-31"));
    }

    #[test]
    fn unknown_key_is_an_error_with_line() {
        let text = "server:\n  addresses: [203.0.113.10]\n  adresses: [1.2.3.4]\n";
        let e = Config::parse(text, "etc/mxdrift.yaml", &rules())
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("etc/mxdrift.yaml:3:"), "{e}");
    }

    #[test]
    fn a_server_name_that_is_no_host_name_is_an_error_at_its_line() {
        let text = "server:\n  names:\n    - web10.hoster.test\n    - bad name!\n";
        let e = Config::parse(text, "m.yaml", &rules())
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("m.yaml:4:"), "{e}");
        assert!(e.contains("`bad name!` is not a host name"), "{e}");
    }

    #[test]
    fn bad_yaml_and_bad_values_name_the_line() {
        let e = Config::parse(
            "ignore:\n  - domain: a.test\n    rule: [\n",
            "m.yaml",
            &rules(),
        )
        .unwrap_err()
        .to_string();
        assert!(e.starts_with("m.yaml:"), "{e}");
        let e = Config::parse("server:\n  addresses: [not-an-ip]\n", "m.yaml", &rules())
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("m.yaml:2:"), "{e}");
        let e = Config::parse("severity:\n  mail-switch-on: fatal\n", "m.yaml", &rules())
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("m.yaml:2:"), "{e}");
        let e = Config::parse(
            "server:\n  names: [a.test]\nresolvers:\n  - 9.9.9.9\n  - dns.example\n",
            "m.yaml",
            &rules(),
        )
        .unwrap_err()
        .to_string();
        assert!(e.starts_with("m.yaml:5:"), "{e}");
        assert!(e.contains("bad name server `dns.example`"), "{e}");
    }

    #[test]
    fn unknown_rules_and_bad_dates_are_rejected() {
        let e = Config::parse("severity:\n  no-such-rule: info\n", "m.yaml", &rules()).unwrap_err();
        assert_eq!(
            e.to_string(),
            "m.yaml: severity: unknown rule `no-such-rule`"
        );
        let ignore = |rule: &str, until: &str| {
            format!(
                "ignore:\n  - domain: a.test\n    rule: '{rule}'\n    reason: r\n    until: '{until}'\n"
            )
        };
        let e = Config::parse(&ignore("nope", "2027-01-01"), "m.yaml", &rules()).unwrap_err();
        assert_eq!(
            e.to_string(),
            "m.yaml: ignore: unknown rule `nope` for a.test"
        );
        assert!(
            Config::parse(&ignore("mail-switch-on", "2027-02-30"), "m.yaml", &rules()).is_err()
        );
        assert!(Config::parse(&ignore("*", "2027-02-28"), "m.yaml", &rules()).is_ok());
        let no_reason = "ignore:\n  - domain: a.test\n    rule: '*'\n    reason: ' '\n";
        assert!(Config::parse(no_reason, "m.yaml", &rules()).is_err());
    }

    #[test]
    fn yaml_errors_name_the_file_and_explain_aliases() {
        let e = Config::parse(
            "ignore:\n  - domain: *.example.org\n    rule: '*'\n    reason: r\n",
            "etc/mxdrift.yaml",
            &rules(),
        )
        .unwrap_err()
        .to_string();
        assert!(e.starts_with("etc/mxdrift.yaml:2:"), "{e}");
        assert!(e.contains("--> etc/mxdrift.yaml:2:13"), "{e}");
        assert!(!e.contains("<input>"), "{e}");
        assert!(e.contains("quote a glob"), "{e}");
        // Other errors get no alias hint.
        let e = Config::parse("server:\n  adresses: []\n", "m.yaml", &rules())
            .unwrap_err()
            .to_string();
        assert!(!e.contains("alias"), "{e}");
    }

    #[test]
    fn ignores_that_match_nothing_are_warnings_with_their_line() {
        use crate::inventory::{Declared, Delivery, DomainName, KnownDomain};
        use crate::resolve::MxEvidence;
        use crate::rules::{Subject, evaluate};
        use crate::verdict::Verdict;
        let text = "\
ignore:
  - domain: split.test
    rule: split-delivery
    reason: on purpose
  - domain: split.tset
    rule: split-delivery
    reason: typo
  - domain: '*.test'
    rule: '*'
    reason: everything
";
        let config = Config::parse(text, "etc/mxdrift.yaml", &rules()).unwrap();
        assert_eq!(config.ignore[1].line, 5);
        let rules = RuleSet::embedded().unwrap();
        let domain = KnownDomain {
            name: DomainName::parse("split.test").unwrap(),
            delivery: Delivery::Local,
            declared: vec![Declared::new(
                "etc/postfix/vdomains",
                1,
                crate::inventory::Via::Parameter(
                    crate::inventory::PostfixParam::VirtualMailboxDomains,
                ),
            )],
            facts: None,
        };
        let evidence = MxEvidence::inconclusive("timeout");
        let findings = evaluate(
            &rules,
            &Subject {
                domain: &domain,
                evidence: &evidence,
                verdict: Verdict::Inconclusive,
            },
            &crate::identity::ServerIdentity::default(),
        );
        assert_eq!(findings[0].rule, RuleId::LookupInconclusive);
        let warnings = config.unused_ignores(findings.iter(), "etc/mxdrift.yaml");
        let lines: Vec<Option<u32>> = warnings.iter().map(|w| w.line).collect();
        // split-delivery does not fire for split.test here; split.tset never matches.
        assert_eq!(lines, [Some(2), Some(5)]);
        assert_eq!(warnings[1].kind, WarningKind::UnusedIgnore);
        assert!(
            warnings[1].message.contains("split.tset"),
            "{}",
            warnings[1].message
        );
        assert!(config.unused_ignores(std::iter::empty(), "x").len() == 3);
    }

    #[test]
    fn packaged_example_config_is_valid() {
        let c = Config::parse(
            include_str!("../packaging/mxdrift.yaml"),
            "packaging/mxdrift.yaml",
            &rules(),
        )
        .unwrap();
        assert_eq!(c, Config::default());
    }

    #[test]
    fn the_rdap_section_is_read_and_checked() {
        let config = Config::parse(
            "rdap:\n  enabled: true\n  warn_days: 45\n  critical_days: 10\n  bootstrap: /etc/mxdrift/dns.json\n  cache: /var/tmp/rdap\n",
            "f.yaml",
            &rules(),
        )
        .unwrap();
        assert!(config.rdap.enabled);
        assert_eq!((config.rdap.warn_days, config.rdap.critical_days), (45, 10));
        assert_eq!(
            config.rdap.bootstrap.as_deref(),
            Some(Path::new("/etc/mxdrift/dns.json"))
        );
        assert_eq!(
            config.rdap.cache.as_deref(),
            Some(Path::new("/var/tmp/rdap"))
        );
        let defaults = Config::parse("rdap: {}\n", "f.yaml", &rules()).unwrap();
        assert_eq!(defaults.rdap, RdapSection::default());
        assert!(!defaults.rdap.enabled, "off unless asked");
        let e = Config::parse(
            "rdap:\n  warn_days: 5\n  critical_days: 7\n",
            "f.yaml",
            &rules(),
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.starts_with("f.yaml: rdap: critical_days (7) is more than warn_days (5)"),
            "{e}"
        );
        let e = Config::parse("rdap:\n  enable: true\n", "f.yaml", &rules())
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("f.yaml:2:"), "{e}");
    }
}
