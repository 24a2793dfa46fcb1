//! cPanel (Exim). cPanel's Exim reads
//! `local_domains = $primary_hostname : lsearch;/etc/localdomains` and
//! `relay_domains = +local_domains : lsearch;/etc/secondarymx`; Exim checks
//! `local_domains` first, so a name in both is local.
//!
//! - `etc/localdomains`: `local`.
//! - The primary host name: `local` as well. Exim's `$primary_hostname`
//!   defaults to the kernel's node name, which systemd sets from
//!   `etc/hostname`; that file is read first. cPanel's own record,
//!   `etc/wwwacct.conf` (`HOST name`), is the fallback, and a disagreement
//!   is a warning.
//! - `etc/secondarymx`: `relay` (cPanel's "Backup Mail Exchanger" writes the
//!   domain to both `secondarymx` and `remotedomains`; Exim relays it).
//! - `etc/remotedomains`: otherwise `not-local` (cPanel's record of "remote"
//!   routing; Exim does not read it).
//! - `etc/userdomains` (`domain: user`): the owner of each domain; an owned
//!   domain in none of the lists above is hosted with mail off: `not-local`.
//! - `var/cpanel/cpnat` (`private_ip public_ip`): the public addresses of a
//!   server behind NAT, added to the server's addresses.

use std::collections::BTreeSet;
use std::net::IpAddr;

use crate::inventory::{Delivery, DomainName, Inventory, Platform, WarningKind};
use crate::sources::reading::{Reading, entry_lines};
use crate::sources::{Marker, Source, SourceError, SourceOptions};

const LOCALDOMAINS: &str = "etc/localdomains";
const SECONDARYMX: &str = "etc/secondarymx";
const REMOTEDOMAINS: &str = "etc/remotedomains";
const USERDOMAINS: &str = "etc/userdomains";
const HOSTNAME: &str = "etc/hostname";
const WWWACCT: &str = "etc/wwwacct.conf";
const CPNAT: &str = "var/cpanel/cpnat";

/// The cPanel reader.
#[derive(Debug, Clone, Copy, Default)]
pub struct Cpanel;

impl Source for Cpanel {
    fn platform(&self) -> Platform {
        Platform::Cpanel
    }

    fn markers(&self) -> &'static [Marker] {
        &[
            Marker(&["usr/local/cpanel/"]),
            Marker(&[LOCALDOMAINS, USERDOMAINS]),
        ]
    }

    fn read(&self, opts: &SourceOptions) -> Result<Inventory, SourceError> {
        let mut reading = Reading::new(&opts.root);
        reading.read_exim_local_domains(LOCALDOMAINS)?;
        read_primary_hostname(&mut reading)?;
        read_secondarymx(&mut reading)?;
        read_remotedomains(&mut reading)?;
        read_userdomains(&mut reading)?;
        read_cpnat(&mut reading)?;
        Ok(reading.finish(Platform::Cpanel))
    }
}

fn read_primary_hostname(reading: &mut Reading<'_>) -> Result<(), SourceError> {
    let from_hostname = match reading.read_optional(HOSTNAME)? {
        Some(text) => first_entry(&text).map(|(line, raw)| (HOSTNAME, line, raw.to_string())),
        None => None,
    };
    let from_wwwacct = match reading.read_optional(WWWACCT)? {
        Some(text) => wwwacct_host(&text).map(|(line, raw)| (WWWACCT, line, raw.to_string())),
        None => None,
    };
    if let (Some((_, _, system)), Some((_, line, cpanel))) = (&from_hostname, &from_wwwacct)
        && !system.eq_ignore_ascii_case(cpanel)
    {
        let file = reading.root.display(WWWACCT);
        reading.warn(
            WarningKind::Suspicious,
            &file,
            Some(*line),
            format!("cPanel's HOST {cpanel} differs from etc/hostname ({system}); Exim uses the system host name"),
        );
    }
    let Some((path, line, raw)) = from_hostname.or(from_wwwacct) else {
        let file = reading.root.display(HOSTNAME);
        reading.warn(
            WarningKind::MissingFile,
            &file,
            None,
            format!("neither {file} nor {WWWACCT} (HOST) found under the root: the primary host name, which Exim always delivers locally, is unknown"),
        );
        return Ok(());
    };
    reading.declare_primary_hostname(path, line, &raw);
    Ok(())
}

/// The first entry of a one-value file such as `etc/hostname`.
fn first_entry(text: &str) -> Option<(u32, &str)> {
    entry_lines(text).next()
}

/// The `HOST` line of `etc/wwwacct.conf` (`KEY value` lines).
fn wwwacct_host(text: &str) -> Option<(u32, &str)> {
    entry_lines(text).find_map(|(line, entry)| {
        let (key, value) = entry.split_once(char::is_whitespace)?;
        (key == "HOST").then_some((line, value.trim()))
    })
}

fn read_secondarymx(reading: &mut Reading<'_>) -> Result<(), SourceError> {
    let Some(text) = reading.read_expected(SECONDARYMX, "backup-MX (relay) domains are unknown")?
    else {
        return Ok(());
    };
    let file = reading.root.display(SECONDARYMX);
    reading.each_lsearch_domain(&text, &file, |reading, name, line, _| {
        // A local domain listed here stays local: Exim checks
        // local_domains first. declare_listed says so.
        reading.declare_listed(&name, Delivery::Relay, &file, line, "relay_domains");
    });
    Ok(())
}

fn read_remotedomains(reading: &mut Reading<'_>) -> Result<(), SourceError> {
    let Some(text) = reading.read_expected(
        REMOTEDOMAINS,
        "domains routed to a remote mail server are only known from etc/userdomains",
    )?
    else {
        return Ok(());
    };
    let file = reading.root.display(REMOTEDOMAINS);
    let mut seen: BTreeSet<DomainName> = BTreeSet::new();
    reading.each_lsearch_domain(&text, &file, |reading, name, line, _| {
        let first_here = seen.insert(name.clone());
        match reading.get(&name).map(|known| known.delivery) {
            // cPanel records a backup MX in both files: it stays a relay.
            Some(Delivery::Relay) if first_here => {
                reading.declare(&name, Delivery::Relay, &file, line, "remotedomains");
            }
            Some(Delivery::Local) if first_here => {
                reading.declare(&name, Delivery::Local, &file, line, "remotedomains");
                reading.warn(
                    WarningKind::DuplicateDomain,
                    &file,
                    Some(line),
                    format!("{name} is in etc/localdomains and etc/remotedomains: Exim delivers it here while cPanel records its mail as remote"),
                );
            }
            _ => reading.declare_listed(&name, Delivery::NotLocal, &file, line, "remotedomains"),
        }
    });
    Ok(())
}

fn read_userdomains(reading: &mut Reading<'_>) -> Result<(), SourceError> {
    let Some(text) = reading.read_expected(USERDOMAINS, "domain owners are unknown")? else {
        return Ok(());
    };
    let file = reading.root.display(USERDOMAINS);
    reading.owners(&text, &file, "userdomains");
    Ok(())
}

fn read_cpnat(reading: &mut Reading<'_>) -> Result<(), SourceError> {
    // Only servers behind NAT have the file: its absence says nothing.
    let Some(text) = reading.read_optional(CPNAT)? else {
        return Ok(());
    };
    let file = reading.root.display(CPNAT);
    // Not an lsearch file: IPv6 addresses contain colons.
    for (line, entry) in entry_lines(&text) {
        let mut fields = entry.split_whitespace();
        let (Some(_private), Some(public)) = (fields.next(), fields.next()) else {
            // A line without a public address maps nothing.
            continue;
        };
        match public.parse::<IpAddr>() {
            Ok(address) => reading.add_server_address(address),
            Err(_) => reading.warn(
                WarningKind::Suspicious,
                &file,
                Some(line),
                format!("`{public}` is not an IP address; NAT line ignored"),
            ),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wwwacct_host_line() {
        let text = "ADDR 10.0.0.10\nHOST web10.hoster.test\nNS ns1.hoster.test\n";
        assert_eq!(wwwacct_host(text), Some((2, "web10.hoster.test")));
        assert_eq!(wwwacct_host("HOSTNAME x\n"), None);
    }
}
