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
//!
//! Plesk on qmail is recognised by `var/qmail/control/` when neither
//! `var/spool/postfix/plesk/` nor `etc/postfix/main.cf` exists: Plesk keeps
//! `/var/qmail/` (mailboxes live in `/var/qmail/mailnames`) after a switch
//! to Postfix, so Postfix evidence wins.

use std::collections::BTreeSet;

use crate::inventory::{Delivery, DomainName, Inventory, Platform, WarningKind};
use crate::sources::reading::Reading;
use crate::sources::{ConfigRoot, Marker, Source, SourceError, SourceOptions, postfix, qmail};

const PSA_DIR: &str = "usr/local/psa/";
const POSTFIX_MAPS_DIR: &str = "var/spool/postfix/plesk/";
const MAIN_CF: &str = "etc/postfix/main.cf";
const VHOSTS: &str = "var/www/vhosts";
const VHOSTS_SYSTEM: &str = "var/www/vhosts/system";

/// How declarations of hosted domains are labelled.
pub const HOSTING_VIA: &str = "plesk hosting";

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
        add_hosted_domains(&mut reading)?;
        mark_subscriptions(&mut reading)?;
        Ok(reading.finish(Platform::Plesk))
    }
}

/// The entries of a directory under the root that are directories
/// themselves, sorted by name; `None` when the directory does not exist. A
/// symbolic link counts when it leads to a directory (inside the root), as
/// Plesk's own tools follow it.
fn subdirectories(
    root: &ConfigRoot,
    server_path: &str,
) -> Result<Option<Vec<std::ffi::OsString>>, SourceError> {
    root.subdirectories(server_path)
}

/// Add every hosted domain the mail server does not know as `not-local`.
fn add_hosted_domains(reading: &mut Reading<'_>) -> Result<(), SourceError> {
    let Some(hosted) = subdirectories(reading.root, VHOSTS_SYSTEM)? else {
        let file = reading.root.display(VHOSTS_SYSTEM);
        reading.warn(
            WarningKind::MissingFile,
            &file,
            None,
            format!("{file}/ not found under the root: hosted domains whose mail service is off are unknown"),
        );
        return Ok(());
    };
    for dir_name in hosted {
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
            reading.declare(&name, Delivery::NotLocal, &file, 0, HOSTING_VIA);
        }
    }
    Ok(())
}

/// Set `facts.subscription` on every known domain with a home directory
/// `var/www/vhosts/<domain>/`.
fn mark_subscriptions(reading: &mut Reading<'_>) -> Result<(), SourceError> {
    let Some(homes) = subdirectories(reading.root, VHOSTS)? else {
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
            known.facts.subscription = true;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

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
        reading.declare(&on, Delivery::Local, "x", 1, "virtual_mailbox_domains");
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
                    d.facts.subscription,
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
        assert_eq!(off.via, HOSTING_VIA);
        assert_eq!(inventory.warnings.len(), 1);
        assert_eq!(inventory.warnings[0].kind, WarningKind::InvalidDomain);
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
