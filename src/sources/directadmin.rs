//! DirectAdmin (Exim).
//!
//! - `etc/virtual/domains`: one domain per line (an Exim lsearch file),
//!   the domains whose mail this server handles: `local`. DirectAdmin's
//!   per-domain switch "Use this server to handle my e-mails" removes a
//!   domain from this file. Exim compares its keys byte for byte (ASCII
//!   case aside): `domain.test.` or a UTF-8 name never matches any mail.
//! - `etc/virtual/domainowners` (`domain: user`): the owner of each domain;
//!   an owned domain missing from `domains` is hosted with mail off:
//!   `not-local`.
//! - The primary host name, which DirectAdmin's Exim configuration also
//!   treats as local (`@` in `local_domains`; *unverified* across
//!   DirectAdmin versions, hence one function): `servername=` in
//!   `usr/local/directadmin/conf/directadmin.conf`, else `etc/hostname`.

use crate::inventory::{ByteSpan, Inventory, ListFile, Platform, WarningKind};
use crate::sources::reading::{Reading, entry_lines, tail_span};
use crate::sources::{Marker, Source, SourceError, SourceOptions};

const DOMAINS: &str = "etc/virtual/domains";
const DOMAINOWNERS: &str = "etc/virtual/domainowners";
const DIRECTADMIN_CONF: &str = "usr/local/directadmin/conf/directadmin.conf";
const HOSTNAME: &str = "etc/hostname";

/// Files DirectAdmin writes itself: an edit of one is undone by
/// DirectAdmin, so a change is a DirectAdmin API call, never an edit.
pub(crate) fn panel_writes(file: &str) -> bool {
    file == DOMAINS
}

/// The DirectAdmin reader.
#[derive(Debug, Clone, Copy, Default)]
pub struct DirectAdmin;

impl Source for DirectAdmin {
    fn platform(&self) -> Platform {
        Platform::Directadmin
    }

    fn markers(&self) -> &'static [Marker] {
        &[Marker(&["usr/local/directadmin/"]), Marker(&[DOMAINS])]
    }

    fn read(&self, opts: &SourceOptions) -> Result<Inventory, SourceError> {
        let mut reading = Reading::new(&opts.root);
        reading.read_exim_local_domains(DOMAINS)?;
        crate::sources::exim::confirm_local_domains_file(&mut reading, "etc/exim.conf", DOMAINS)?;
        read_primary_hostname(&mut reading)?;
        read_domainowners(&mut reading)?;
        Ok(reading.finish(Platform::Directadmin))
    }
}

/// The primary host name and where it was found.
fn read_primary_hostname(reading: &mut Reading<'_>) -> Result<(), SourceError> {
    let from_conf = match reading.read_optional(DIRECTADMIN_CONF)? {
        Some(text) => servername(&text)
            .map(|(line, span, raw)| (DIRECTADMIN_CONF, line, span, raw.to_string())),
        None => None,
    };
    let found = match from_conf {
        Some(found) => Some(found),
        None => match reading.read_optional(HOSTNAME)? {
            Some(text) => entry_lines(&text)
                .next()
                .map(|(line, span, raw)| (HOSTNAME, line, Some(span), raw.to_string())),
            None => None,
        },
    };
    let Some((path, line, span, raw)) = found else {
        let file = reading.root.display(DIRECTADMIN_CONF);
        reading.warn(
            WarningKind::MissingFile,
            &file,
            None,
            format!("neither {file} (servername=) nor {HOSTNAME} found under the root: the primary host name is unknown"),
        );
        return Ok(());
    };
    reading.declare_primary_hostname(path, line, span, &raw);
    Ok(())
}

/// `servername=host` in directadmin.conf (`key=value` lines).
fn servername(text: &str) -> Option<(u32, Option<ByteSpan>, &str)> {
    entry_lines(text).find_map(|(line, span, entry)| {
        let (key, value) = entry.split_once('=')?;
        let value = value.trim();
        (key.trim() == "servername").then(|| (line, tail_span(entry, span, value), value))
    })
}

fn read_domainowners(reading: &mut Reading<'_>) -> Result<(), SourceError> {
    let Some(bytes) = reading.read_expected_bytes(DOMAINOWNERS, "domain owners are unknown")?
    else {
        return Ok(());
    };
    let file = reading.root.display(DOMAINOWNERS);
    reading.owners(&bytes, &file, ListFile::DirectadminDomainOwners);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn servername_line() {
        let text = "# comment\nport=2222\nservername = da1.hoster.test\n";
        let (line, span, host) = servername(text).unwrap();
        assert_eq!((line, host), (3, "da1.hoster.test"));
        let span = span.unwrap();
        assert_eq!(&text[span.start..span.end], host);
        assert_eq!(servername("servernamex=1\n"), None);
    }
}
