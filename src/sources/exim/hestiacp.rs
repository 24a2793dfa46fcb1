//! HestiaCP's own record of who owns each mail domain: its panel command
//! (`v-suspend-mail-domain USER DOMAIN`) needs the user.
//!
//! `v-add-mail-domain` appends one line per mail domain to
//! `usr/local/hestia/data/users/<user>/mail.conf`, shell assignments in
//! single quotes: `DOMAIN='example.test' ANTIVIRUS='yes' ... SUSPENDED='no'
//! TIME='..' DATE='..'`. The domain is written as the admin typed it
//! (Unicode for an IDN), the link under `/etc/exim4/domains/` in ASCII.

use std::collections::BTreeMap;

use crate::inventory::{DomainName, WarningKind};
use crate::sources::SourceError;
use crate::sources::reading::{EntryKind, Reading, line_number, list_dir};

/// HestiaCP's per-user data directories.
pub(crate) const USERS: &str = "usr/local/hestia/data/users";

/// Whose each mail domain is, from every user's `mail.conf`, into
/// `facts.owner` of the domains read. A domain two users claim gets no
/// owner (a warning says why): the command would act as the wrong one.
pub(crate) fn read_mail_owners(reading: &mut Reading<'_>) -> Result<(), SourceError> {
    let Some(users) = list_dir(reading.root, USERS, EntryKind::Dirs)? else {
        return Ok(());
    };
    // The owner per domain; `None` once two users claim it.
    let mut owners: BTreeMap<DomainName, Option<String>> = BTreeMap::new();
    for user in users {
        let Some(user) = user.to_str() else {
            continue;
        };
        let path = format!("{USERS}/{user}/mail.conf");
        let Some(text) = reading.read_optional(&path)? else {
            continue;
        };
        let file = reading.root.display(&path);
        for (index, line) in text.lines().enumerate() {
            let Some(raw) = quoted_value(line, "DOMAIN") else {
                continue;
            };
            let line = line_number(index);
            let Some(name) = reading.domain(raw, &file, line) else {
                continue;
            };
            match owners.get_mut(&name) {
                None => {
                    owners.insert(name, Some(user.to_string()));
                }
                Some(Some(first)) if first != user => {
                    reading.warn(
                        WarningKind::DuplicateDomain,
                        &file,
                        Some(line),
                        format!(
                            "{name} is a mail domain of HestiaCP users {first} and {user}: mxdrift cannot tell whose it is, and leaves it for a human"
                        ),
                    );
                    owners.insert(name, None);
                }
                Some(_) => {}
            }
        }
    }
    for (name, owner) in owners {
        if let (Some(owner), Some(known)) = (owner, reading.get_mut(&name)) {
            known.facts_mut().owner = Some(owner);
        }
    }
    Ok(())
}

/// `value` of a line that starts `KEY='value'`, as HestiaCP writes its data
/// files.
fn quoted_value<'a>(line: &'a str, key: &str) -> Option<&'a str> {
    let rest = line.strip_prefix(key)?.strip_prefix("='")?;
    rest.split_once('\'').map(|(value, _)| value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_domain_as_hestiacp_writes_it() {
        let line = "DOMAIN='shop.test' ANTIVIRUS='yes' ANTISPAM='yes' DKIM='yes' WEBMAIL='roundcube' SSL='no' LETSENCRYPT='no' CATCHALL='' ACCOUNTS='2' U_DISK='1' SUSPENDED='no' TIME='10:00:00' DATE='2026-01-05'";
        assert_eq!(quoted_value(line, "DOMAIN"), Some("shop.test"));
        assert_eq!(quoted_value("DOMAINS='x'", "DOMAIN"), None);
        assert_eq!(quoted_value(" DOMAIN='x'", "DOMAIN"), None);
        assert_eq!(quoted_value("DOMAIN='unterminated", "DOMAIN"), None);
    }
}
