//! Plesk, on Postfix (the default) or on qmail.
//!
//! - Which domains get mail here comes from the mail server's own rules:
//!   Plesk's maps under `var/spool/postfix/plesk/` are referenced from
//!   main.cf, so the Postfix reader reads them exactly as Postfix does,
//!   transport overrides (`relay`) included. On qmail, the control files.
//! - Every hosted domain has `var/www/vhosts/system/<domain>/`. A hosted
//!   domain the mail server does not know has Plesk's mail service off:
//!   `not-local`, declared at that directory with line 0 and via
//!   `plesk hosting` (a directory has no lines; 0 says "not a line"). An MX
//!   that still points here for it bounces mail.
//! - A subscription's main domain also has its home at
//!   `var/www/vhosts/<domain>/`; additional domains live inside the
//!   subscription's home. Remediation needs the difference (`plesk bin
//!   subscription` vs `plesk bin site`), so it is `facts.subscription`.
//! - A domain alias has no hosting directory of its own: Plesk writes it
//!   into its domain's web server configuration
//!   (`var/www/vhosts/system/<domain>/conf/{last_,}nginx.conf` as
//!   `server_name <alias>;`, `{last_,}httpd.conf` as `ServerAlias
//!   "<alias>"`), which is where mxdrift finds it (`facts.alias_of`).
//!   `plesk bin site --update` fails on an alias; `plesk bin domalias`
//!   is its command. An alias whose web service is off appears in no web
//!   configuration: a mail domain without a hosting directory that no
//!   configuration names is left for a human.
//!
//! Plesk on qmail is recognised by `var/qmail/control/` when neither
//! `var/spool/postfix/plesk/` nor `etc/postfix/main.cf` exists: Plesk keeps
//! `/var/qmail/` (mailboxes live in `/var/qmail/mailnames`) after a switch
//! to Postfix, so Postfix evidence wins.

use std::collections::{BTreeMap, BTreeSet};

use crate::inventory::{
    Delivery, DomainDirectory, DomainName, Inventory, Platform, Via, WarningKind,
};
use crate::sources::reading::{EntryKind, Reading, list_dir};
use crate::sources::{ConfigRoot, Marker, Source, SourceError, SourceOptions, postfix, qmail};

const PSA_DIR: &str = "usr/local/psa/";
/// The Postfix maps Plesk writes (and rewrites from its database).
const POSTFIX_MAPS_DIR: &str = "var/spool/postfix/plesk/";
const MAIN_CF: &str = "etc/postfix/main.cf";
const VHOSTS: &str = "var/www/vhosts";
/// One directory per hosted domain (site or subscription).
pub(crate) const VHOSTS_SYSTEM: &str = "var/www/vhosts/system";

/// Files Plesk writes itself, from its database: an edit of one is undone
/// by Plesk's next rebuild, so a change is a Plesk command, never an edit.
pub(crate) fn panel_writes(file: &str) -> bool {
    file.starts_with(POSTFIX_MAPS_DIR) || file.starts_with(qmail::CONTROL_DIR)
}

/// The Plesk reader.
#[derive(Debug, Clone, Copy, Default)]
pub struct Plesk;

/// The mail server Plesk drives on this root.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PleskMailServer {
    Postfix,
    Qmail,
}

impl PleskMailServer {
    /// Decide from the files under the root (see the module comment).
    pub fn detect(root: &ConfigRoot) -> Self {
        let postfix = root.is_dir(POSTFIX_MAPS_DIR) || root.exists(MAIN_CF);
        if !postfix && root.is_dir(qmail::CONTROL_DIR) {
            PleskMailServer::Qmail
        } else {
            // Also without any evidence: the Postfix reader's error then
            // names the main.cf it could not read.
            PleskMailServer::Postfix
        }
    }
}

impl Source for Plesk {
    fn platform(&self) -> Platform {
        Platform::Plesk
    }

    fn markers(&self) -> &'static [Marker] {
        &[Marker(&[PSA_DIR]), Marker(&[POSTFIX_MAPS_DIR])]
    }

    fn read(&self, opts: &SourceOptions) -> Result<Inventory, SourceError> {
        let root = &opts.root;
        let mut reading = match PleskMailServer::detect(root) {
            PleskMailServer::Postfix => {
                let inventory = postfix::read(root, &postfix::PostfixOptions::from(opts))?;
                Reading::from_inventory(root, inventory)
            }
            PleskMailServer::Qmail => {
                let mut reading = Reading::new(root);
                qmail::read_control(&mut reading)?;
                reading
            }
        };
        let hosted = add_hosted_domains(&mut reading)?;
        mark_subscriptions(&mut reading)?;
        find_aliases(&mut reading, &hosted)?;
        Ok(reading.finish(Platform::Plesk))
    }
}

/// Add every hosted domain the mail server does not know as `not-local`,
/// and mark every hosted domain (`facts.hosted`). Returns the hosted
/// domains with their directory names.
fn add_hosted_domains(
    reading: &mut Reading<'_>,
) -> Result<BTreeMap<DomainName, String>, SourceError> {
    let mut hosted = BTreeMap::new();
    let Some(dirs) = list_dir(reading.root, VHOSTS_SYSTEM, EntryKind::Dirs)? else {
        let file = reading.root.display(VHOSTS_SYSTEM);
        reading.warn(
            WarningKind::MissingFile,
            &file,
            None,
            format!("{file}/ not found under the root: hosted domains whose mail service is off are unknown"),
        );
        return Ok(hosted);
    };
    for dir_name in dirs {
        let shown = dir_name.to_string_lossy();
        let file = format!("{}/{shown}", reading.root.display(VHOSTS_SYSTEM));
        let name = match dir_name.to_str().map(DomainName::parse) {
            Some(Ok(name)) => name,
            Some(Err(error)) => {
                reading.warn(
                    WarningKind::InvalidDomain,
                    &file,
                    None,
                    format!(
                        "hosting directory `{shown}` is not a valid domain name ({error}); ignored"
                    ),
                );
                continue;
            }
            None => {
                reading.warn(
                    WarningKind::InvalidDomain,
                    &file,
                    None,
                    format!("hosting directory `{shown}` is not UTF-8; ignored"),
                );
                continue;
            }
        };
        if reading.get(&name).is_none() {
            let via = Via::Directory(DomainDirectory::PleskHosting);
            reading.declare(&name, Delivery::NotLocal, &file, 0, None, via);
        }
        if let Some(known) = reading.get_mut(&name) {
            known.facts_mut().hosted = true;
        }
        hosted.insert(name, shown.into_owned());
    }
    Ok(hosted)
}

/// The web server configurations Plesk generates for a hosted domain, in
/// `var/www/vhosts/system/<domain>/conf/`: the one in use and the last one
/// generated (they differ only while a new one is being tried).
const WEB_CONFIGS: [&str; 4] = [
    "last_nginx.conf",
    "nginx.conf",
    "last_httpd.conf",
    "httpd.conf",
];

/// Find the domain of every alias: a local domain without a hosting
/// directory that a hosted domain's web configuration names. Only read
/// when there is such a domain (aliases are rare; configurations are a
/// file per domain).
fn find_aliases(
    reading: &mut Reading<'_>,
    hosted: &BTreeMap<DomainName, String>,
) -> Result<(), SourceError> {
    // Only names Plesk put into the mail server's files: the server's own
    // names (main.cf's mydestination, qmail's `me`) are no aliases.
    let candidates: BTreeSet<DomainName> = reading
        .local_domains()
        .filter(|known| {
            !known.facts().hosted
                && !reading.server_names.contains(&known.name)
                && known.declared.iter().any(|place| {
                    place.file.starts_with(POSTFIX_MAPS_DIR) || place.file == qmail::VIRTUALDOMAINS
                })
        })
        .map(|known| known.name.clone())
        .collect();
    if candidates.is_empty() {
        return Ok(());
    }
    for (domain, dir_name) in hosted {
        for config in WEB_CONFIGS {
            let path = format!("{VHOSTS_SYSTEM}/{dir_name}/conf/{config}");
            let Some(text) = reading.read_optional(&path)? else {
                continue;
            };
            for name in web_server_names(&text) {
                if &name == domain || !candidates.contains(&name) {
                    continue;
                }
                if let Some(known) = reading.get_mut(&name)
                    && known.facts().alias_of.is_none()
                {
                    known.facts_mut().alias_of = Some(domain.clone());
                }
            }
        }
    }
    Ok(())
}

/// The host names a Plesk-generated web configuration answers to: nginx
/// `server_name NAME;` and Apache `ServerName`/`ServerAlias "NAME"`
/// (a `:port` suffix dropped). Regular expressions and wildcards are no
/// domain names and are skipped.
fn web_server_names(text: &str) -> Vec<DomainName> {
    let mut names = Vec::new();
    for line in text.lines() {
        let mut words = line.split_whitespace();
        let Some(directive) = words.next() else {
            continue;
        };
        if !matches!(directive, "server_name" | "ServerName" | "ServerAlias") {
            continue;
        }
        for word in words {
            let word = word.trim_end_matches(';').trim_matches('"');
            let host = word.rsplit_once(':').map_or(word, |(host, _port)| host);
            if host.starts_with('~') || host.contains('*') {
                continue;
            }
            if let Ok(name) = DomainName::parse(host) {
                names.push(name);
            }
        }
    }
    names
}

/// Set `facts.subscription` on every known domain with a home directory
/// `var/www/vhosts/<domain>/`.
fn mark_subscriptions(reading: &mut Reading<'_>) -> Result<(), SourceError> {
    let Some(homes) = list_dir(reading.root, VHOSTS, EntryKind::Dirs)? else {
        return Ok(());
    };
    // Other directories there (`system`, `default`, `chroot`, `fs`, ...)
    // are not domains of this server and match nothing.
    let homes: BTreeSet<DomainName> = homes
        .iter()
        .filter_map(|dir_name| DomainName::parse(dir_name.to_str()?).ok())
        .collect();
    for name in reading.names() {
        if homes.contains(&name)
            && let Some(known) = reading.get_mut(&name)
        {
            known.facts_mut().subscription = true;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inventory::PostfixParam;

    fn mkdirs(root: &std::path::Path, dirs: &[&str]) {
        for dir in dirs {
            std::fs::create_dir_all(root.join(dir)).unwrap();
        }
    }

    #[test]
    fn hosted_domains_not_known_to_mail_become_not_local() {
        let dir = tempfile::tempdir().unwrap();
        mkdirs(
            dir.path(),
            &[
                "var/www/vhosts/system/mail-on.test",
                "var/www/vhosts/system/Mail-Off.test",
                "var/www/vhosts/system/bad_dir!",
                "var/www/vhosts/mail-off.test",
                "var/www/vhosts/mail-on.test",
                "var/www/vhosts/default",
            ],
        );
        std::fs::write(dir.path().join("var/www/vhosts/system/stray-file"), "").unwrap();
        let root = ConfigRoot::new(dir.path());
        let mut reading = Reading::new(&root);
        let on = DomainName::parse("mail-on.test").unwrap();
        let via = Via::Parameter(PostfixParam::VirtualMailboxDomains);
        reading.declare(&on, Delivery::Local, "x", 1, None, via);
        add_hosted_domains(&mut reading).unwrap();
        mark_subscriptions(&mut reading).unwrap();
        let inventory = reading.finish(Platform::Plesk);
        let domains: Vec<_> = inventory
            .domains
            .iter()
            .map(|d| {
                (
                    d.name.as_str(),
                    d.delivery,
                    d.declared.len(),
                    d.facts().subscription,
                )
            })
            .collect();
        assert_eq!(
            domains,
            vec![
                ("mail-off.test", Delivery::NotLocal, 1, true),
                ("mail-on.test", Delivery::Local, 1, true),
            ]
        );
        let off = &inventory.domains[0].declared[0];
        assert_eq!(off.file, "var/www/vhosts/system/Mail-Off.test");
        assert_eq!(off.line, 0);
        assert_eq!(off.via, Via::Directory(DomainDirectory::PleskHosting));
        assert_eq!(inventory.warnings.len(), 1);
        assert_eq!(inventory.warnings[0].kind, WarningKind::InvalidDomain);
    }

    #[test]
    fn aliases_are_found_in_their_domains_web_configuration() {
        let dir = tempfile::tempdir().unwrap();
        let conf = dir.path().join("var/www/vhosts/system/main.test/conf");
        std::fs::create_dir_all(&conf).unwrap();
        std::fs::write(
            conf.join("last_nginx.conf"),
            "server {\n    listen 203.0.113.10:443 ssl;\n\n    server_name main.test;\n    server_name www.main.test;\n    server_name ipv4.main.test;\n    server_name alias.test;\n    server_name www.alias.test;\n    server_name web.hoster.test;\n}\n",
        )
        .unwrap();
        std::fs::write(
            conf.join("last_httpd.conf"),
            "<VirtualHost 203.0.113.10:7080 >\n    ServerName \"main.test:443\"\n    ServerAlias \"apache-alias.test\"\n</VirtualHost>\n",
        )
        .unwrap();
        let root = ConfigRoot::new(dir.path());
        let mut reading = Reading::new(&root);
        let maps = "var/spool/postfix/plesk/virtual_domains";
        for (line, name) in [
            (1, "main.test"),
            (2, "alias.test"),
            (3, "apache-alias.test"),
            (4, "orphan.test"),
        ] {
            let name = DomainName::parse(name).unwrap();
            let via = Via::Parameter(PostfixParam::VirtualMailboxDomains);
            reading.declare(&name, Delivery::Local, maps, line, None, via);
        }
        // The server's own name, declared in main.cf, is never an alias.
        let own = DomainName::parse("web.hoster.test").unwrap();
        reading.add_server_name(own.clone());
        let via = Via::Parameter(PostfixParam::Mydestination);
        reading.declare(&own, Delivery::Local, "etc/postfix/main.cf", 9, None, via);
        let hosted = add_hosted_domains(&mut reading).unwrap();
        find_aliases(&mut reading, &hosted).unwrap();
        let inventory = reading.finish(Platform::Plesk);
        let facts: Vec<_> = inventory
            .domains
            .iter()
            .map(|d| {
                (
                    d.name.as_str(),
                    d.facts().hosted,
                    d.facts().alias_of.as_ref().map(DomainName::as_str),
                )
            })
            .collect();
        assert_eq!(
            facts,
            vec![
                ("alias.test", false, Some("main.test")),
                ("apache-alias.test", false, Some("main.test")),
                ("main.test", true, None),
                ("orphan.test", false, None),
                ("web.hoster.test", false, None),
            ]
        );
    }

    #[test]
    fn web_server_names_skip_patterns_and_ports() {
        let text = "server_name ~^(?<sub>.+)\\.wild\\.test$;\nserver_name *.star.test;\nServerName \"a.test:443\"\nserver_name b.test;\nlisten 80;\n";
        let names: Vec<String> = web_server_names(text)
            .into_iter()
            .map(|n| n.to_string())
            .collect();
        assert_eq!(names, vec!["a.test", "b.test"]);
    }

    #[test]
    fn missing_vhosts_is_a_warning() {
        let dir = tempfile::tempdir().unwrap();
        let root = ConfigRoot::new(dir.path());
        let mut reading = Reading::new(&root);
        add_hosted_domains(&mut reading).unwrap();
        assert_eq!(reading.warnings.len(), 1);
        assert_eq!(reading.warnings[0].kind, WarningKind::MissingFile);
    }

    #[test]
    fn postfix_evidence_wins_over_qmail_control() {
        let dir = tempfile::tempdir().unwrap();
        mkdirs(dir.path(), &["var/qmail/control"]);
        let root = ConfigRoot::new(dir.path());
        assert_eq!(PleskMailServer::detect(&root), PleskMailServer::Qmail);
        mkdirs(dir.path(), &["var/spool/postfix/plesk"]);
        assert_eq!(PleskMailServer::detect(&root), PleskMailServer::Postfix);
    }
}
