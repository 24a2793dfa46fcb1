//! cPanel (Exim). cPanel's Exim reads
//! `local_domains = $primary_hostname : lsearch;/etc/localdomains` and
//! `relay_domains = +local_domains : lsearch;/etc/secondarymx`; Exim checks
//! `local_domains` first, so a name in both is local. Exim's lsearch
//! compares keys byte for byte (ASCII case aside): a key with a trailing
//! dot or in UTF-8 matches no mail at all (see `reading::lsearch_lines`).
//!
//! - `etc/localdomains`: `local`.
//! - The primary host name: `local` as well. Exim's `$primary_hostname`
//!   defaults to the kernel's node name, which systemd sets from
//!   `etc/hostname`; that file is read first. cPanel's own record,
//!   `etc/wwwacct.conf` (`HOST name`), is the fallback, and a disagreement
//!   is a warning. cPanel also writes the host name into `localdomains`.
//! - `etc/secondarymx`: `relay` (cPanel's "Backup Mail Exchanger" writes the
//!   domain to both `secondarymx` and `remotedomains`; Exim relays it).
//! - `etc/remotedomains`: otherwise `not-local` (cPanel's record of "remote"
//!   routing; Exim does not read it).
//! - `etc/manualmx` (`domain: host`, written by `whmapi1
//!   set_manual_mx_redirects`): cPanel's `manualmx` router sends the
//!   domain's mail to that host and runs before every local router, so a
//!   local domain listed there is `relay`, declared at its manualmx line.
//! - `etc/userdomains` (`domain: user`): the owner of each domain; an owned
//!   domain in none of the lists above is hosted with mail off: `not-local`.
//!   Owner `nobody` marks a system domain (`var/cpanel/users/system`) that
//!   has no account `uapi` could act as.
//! - `etc/userdatadomains` (`domain: user==owner==type==parent==...`): an
//!   addon domain's line names the subdomain cPanel created for it
//!   (`addon.main.test`), which is never published in DNS.
//! - `var/cpanel/users/<user>` (`KEY=value`): `MXCHECK-<domain>` is the
//!   domain's Email Routing; `0` or `local` forces local delivery (cPanel
//!   stores "local" as `0`), and `fix` then leaves the domain alone.
//! - `var/cpanel/cpnat` (`private_ip public_ip`): the public addresses of a
//!   server behind NAT, added to the server's addresses (see `read_cpnat`).

use std::collections::BTreeMap;
use std::net::IpAddr;

use crate::inventory::{
    ByteSpan, Declared, Delivery, DomainName, HandsOff, Inventory, ListFile, Platform, Via,
    WarningKind,
};
use crate::sources::reading::{
    EntryKind, ListKey, LsearchLine, Reading, entry_lines, line_number, list_dir, list_key,
    lsearch_lines, tail_span,
};
use crate::sources::{Marker, Source, SourceError, SourceOptions};

const LOCALDOMAINS: &str = "etc/localdomains";
const SECONDARYMX: &str = "etc/secondarymx";
const REMOTEDOMAINS: &str = "etc/remotedomains";
const MANUALMX: &str = "etc/manualmx";
const USERDOMAINS: &str = "etc/userdomains";
const USERDATADOMAINS: &str = "etc/userdatadomains";
const CPANEL_USERS: &str = "var/cpanel/users";
const HOSTNAME: &str = "etc/hostname";
const WWWACCT: &str = "etc/wwwacct.conf";
const CPNAT: &str = "var/cpanel/cpnat";

/// The owner cPanel gives system domains (`/var/cpanel/users/system`).
const NOBODY: &str = "nobody";
/// The cpuser file of the system domains.
const SYSTEM_USER_FILE: &str = "system";

/// Files cPanel writes itself (Email Routing, account changes): an edit of
/// one is undone by cPanel's next rebuild, so a change is a cPanel
/// command, never an edit.
pub(crate) fn panel_writes(file: &str) -> bool {
    matches!(
        file,
        LOCALDOMAINS | REMOTEDOMAINS | SECONDARYMX | USERDOMAINS
    )
}

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
        let localdomains = reading.read_exim_local_domains(LOCALDOMAINS)?;
        crate::sources::exim::confirm_local_domains_file(
            &mut reading,
            "etc/exim.conf",
            LOCALDOMAINS,
        )?;
        read_primary_hostname(&mut reading)?;
        read_secondarymx(&mut reading)?;
        read_remotedomains(&mut reading)?;
        read_manualmx(&mut reading)?;
        read_userdomains(&mut reading)?;
        read_userdatadomains(&mut reading)?;
        read_cpanel_users(&mut reading)?;
        if let Some(bytes) = localdomains {
            mark_lines_cpanel_cannot_remove(&mut reading, &bytes);
        }
        read_cpnat(&mut reading)?;
        Ok(reading.finish(Platform::Cpanel))
    }
}

fn read_primary_hostname(reading: &mut Reading<'_>) -> Result<(), SourceError> {
    let from_hostname = match reading.read_optional(HOSTNAME)? {
        Some(text) => {
            first_entry(&text).map(|(line, span, raw)| (HOSTNAME, line, span, raw.to_string()))
        }
        None => None,
    };
    let from_wwwacct = match reading.read_optional(WWWACCT)? {
        Some(text) => {
            wwwacct_host(&text).map(|(line, span, raw)| (WWWACCT, line, span, raw.to_string()))
        }
        None => None,
    };
    if let (Some((_, _, _, system)), Some((_, line, _, cpanel))) = (&from_hostname, &from_wwwacct)
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
    let Some((path, line, span, raw)) = from_hostname.or(from_wwwacct) else {
        let file = reading.root.display(HOSTNAME);
        reading.warn(
            WarningKind::MissingFile,
            &file,
            None,
            format!("neither {file} nor {WWWACCT} (HOST) found under the root: the primary host name, which Exim always delivers locally, is unknown"),
        );
        return Ok(());
    };
    reading.declare_primary_hostname(path, line, span, &raw);
    Ok(())
}

/// The first entry of a one-value file such as `etc/hostname`.
fn first_entry(text: &str) -> Option<(u32, Option<ByteSpan>, &str)> {
    entry_lines(text)
        .next()
        .map(|(line, span, entry)| (line, Some(span), entry))
}

/// The `HOST` line of `etc/wwwacct.conf` (`KEY value` lines).
fn wwwacct_host(text: &str) -> Option<(u32, Option<ByteSpan>, &str)> {
    entry_lines(text).find_map(|(line, span, entry)| {
        let (key, value) = entry.split_once(char::is_whitespace)?;
        let value = value.trim();
        (key == "HOST").then(|| (line, tail_span(entry, span, value), value))
    })
}

fn read_secondarymx(reading: &mut Reading<'_>) -> Result<(), SourceError> {
    let Some(bytes) =
        reading.read_expected_bytes(SECONDARYMX, "backup-MX (relay) domains are unknown")?
    else {
        return Ok(());
    };
    let file = reading.root.display(SECONDARYMX);
    reading.each_lsearch_domain(&bytes, &file, |reading, name, line, span, _| {
        // A local domain listed here stays local: Exim checks
        // local_domains first. declare_listed says so.
        let via = Via::ListFile(ListFile::EximRelayDomains);
        reading.declare_listed(&name, Delivery::Relay, &file, line, span, via);
    });
    Ok(())
}

fn read_remotedomains(reading: &mut Reading<'_>) -> Result<(), SourceError> {
    let Some(bytes) = reading.read_expected_bytes(
        REMOTEDOMAINS,
        "domains routed to a remote mail server are only known from etc/userdomains",
    )?
    else {
        return Ok(());
    };
    let file = reading.root.display(REMOTEDOMAINS);
    let mut seen = std::collections::BTreeSet::new();
    let via = Via::ListFile(ListFile::CpanelRemoteDomains);
    reading.each_lsearch_domain(&bytes, &file, |reading, name, line, span, _| {
        let first_here = seen.insert(name.clone());
        match reading.get(&name).map(|known| known.delivery) {
            // cPanel records a backup MX in both files: it stays a relay.
            Some(Delivery::Relay) if first_here => {
                reading.declare(&name, Delivery::Relay, &file, line, span, via);
            }
            Some(Delivery::Local) if first_here => {
                reading.declare(&name, Delivery::Local, &file, line, span, via);
                reading.warn(
                    WarningKind::DuplicateDomain,
                    &file,
                    Some(line),
                    format!("{name} is in etc/localdomains and etc/remotedomains: Exim delivers it here while cPanel records its mail as remote"),
                );
            }
            _ => reading.declare_listed(&name, Delivery::NotLocal, &file, line, span, via),
        }
    });
    Ok(())
}

/// Whether cPanel's own tools can remove `domain` from the physical line
/// `line` (without its newline; `terminated` when a newline follows).
/// `Cpanel::StringFunc::File::remlinefile` (used by `uapi Email
/// set_always_accept`) removes `\n[ \t]*DOMAIN(?=[:\n])`: the name as
/// given, case-sensitive, after optional blanks, followed by a colon or a
/// newline.
fn cpanel_can_remove(line: &[u8], terminated: bool, domain: &DomainName) -> bool {
    let rest = match line.iter().position(|&b| b != b' ' && b != b'\t') {
        Some(start) => &line[start..],
        None => return false,
    };
    let Some(after) = rest.strip_prefix(domain.as_str().as_bytes()) else {
        return false;
    };
    match after.first() {
        Some(b':') => true,
        None => terminated,
        Some(_) => false,
    }
}

/// A local domain whose `etc/localdomains` line Exim reads but cPanel
/// cannot remove: the panel command would leave it local, so `fix` must
/// leave it for a human (`HandsOff::CpanelLineNotEditable`).
fn mark_lines_cpanel_cannot_remove(reading: &mut Reading<'_>, bytes: &[u8]) {
    let file = reading.root.display(LOCALDOMAINS);
    let lines: Vec<&[u8]> = bytes.split(|&b| b == b'\n').collect();
    let terminated = |index: usize| index + 1 < lines.len();
    for name in reading.names() {
        let Some(known) = reading.get_mut(&name) else {
            continue;
        };
        if known.delivery != Delivery::Local || known.facts().hands_off.is_some() {
            continue;
        }
        let stuck = known.declared.iter().find(|place| {
            place.file == file && {
                let index = (place.line as usize).saturating_sub(1);
                lines
                    .get(index)
                    .is_some_and(|line| !cpanel_can_remove(line, terminated(index), &name))
            }
        });
        if let Some(place) = stuck {
            known.facts_mut().hands_off = Some(Box::new(HandsOff::CpanelLineNotEditable {
                file: file.clone(),
                line: place.line,
            }));
        }
    }
}

/// `etc/manualmx`: only servers with manual MX redirects have it (cPanel's
/// Exim configuration checks that it exists), so its absence says nothing.
fn read_manualmx(reading: &mut Reading<'_>) -> Result<(), SourceError> {
    let Some(bytes) = reading.read_optional_bytes(MANUALMX)? else {
        return Ok(());
    };
    let file = reading.root.display(MANUALMX);
    let mut first_line: BTreeMap<DomainName, u32> = BTreeMap::new();
    reading.each_lsearch_domain(&bytes, &file, |reading, name, line, span, host| {
        if let Some(first) = first_line.get(&name) {
            // lsearch returns the first entry with the key.
            reading.warn(
                WarningKind::DuplicateDomain,
                &file,
                Some(line),
                format!("{name} is listed again (first at {file}:{first}); Exim uses the first line"),
            );
            return;
        }
        first_line.insert(name.clone(), line);
        if host.is_empty() {
            reading.warn(
                WarningKind::Suspicious,
                &file,
                Some(line),
                format!("{name} has no host: Exim's manualmx router declines it and routes the domain as if the line were not there"),
            );
            return;
        }
        // Redirects of domains this server does not host only route
        // outgoing mail; they change nothing this audit looks at.
        let Some(known) = reading.get_mut(&name) else {
            return;
        };
        if known.delivery == Delivery::Local {
            known.delivery = Delivery::Relay;
        }
        // The manualmx line decides where the mail goes: it comes first.
        known.declared.insert(
            0,
            Declared::new(file.clone(), line, Via::ListFile(ListFile::CpanelManualMx))
                .with_span(span),
        );
    });
    Ok(())
}

fn read_userdomains(reading: &mut Reading<'_>) -> Result<(), SourceError> {
    let Some(bytes) = reading.read_expected_bytes(USERDOMAINS, "domain owners are unknown")? else {
        return Ok(());
    };
    let file = reading.root.display(USERDOMAINS);
    reading.owners(&bytes, &file, ListFile::CpanelUserDomains);
    // `domain: nobody` is a system domain: no account to run uapi as.
    let system: Vec<DomainName> = reading
        .names()
        .into_iter()
        .filter(|name| {
            reading
                .get(name)
                .is_some_and(|known| known.facts().owner.as_deref() == Some(NOBODY))
        })
        .collect();
    if system.is_empty() {
        return Ok(());
    }
    let lines = owner_lines(&bytes);
    for name in system {
        if let Some(known) = reading.get_mut(&name)
            && known.facts().hands_off.is_none()
        {
            known.facts_mut().hands_off = Some(Box::new(HandsOff::CpanelNoAccount {
                file: file.clone(),
                line: lines.get(&name).copied().unwrap_or(0),
            }));
        }
    }
    Ok(())
}

/// The line of each owner entry in `etc/userdomains` (first wins, as in
/// [`Reading::owners`]).
fn owner_lines(bytes: &[u8]) -> BTreeMap<DomainName, u32> {
    let mut lines = BTreeMap::new();
    for entry in lsearch_lines(bytes) {
        if let LsearchLine::Entry { line, key, .. } = entry
            && let ListKey::Domain(name) = list_key(&key)
        {
            lines.entry(name).or_insert(line);
        }
    }
    lines
}

/// Mark each addon domain's internal subdomain (`facts.addon_of`).
fn read_userdatadomains(reading: &mut Reading<'_>) -> Result<(), SourceError> {
    let Some(text) = reading.read_expected(
        USERDATADOMAINS,
        "the subdomains cPanel creates for addon domains are not recognised",
    )?
    else {
        return Ok(());
    };
    for (_, _, entry) in entry_lines(&text) {
        let Some((addon, fields)) = entry.split_once(':') else {
            continue;
        };
        let fields: Vec<&str> = fields.trim().split("==").collect();
        let (Some(&"addon"), Some(subdomain)) = (fields.get(2), fields.get(3)) else {
            continue;
        };
        let (Ok(addon), Ok(subdomain)) = (DomainName::parse(addon), DomainName::parse(subdomain))
        else {
            continue;
        };
        if let Some(known) = reading.get_mut(&subdomain) {
            known.facts_mut().addon_of = Some(addon);
        }
    }
    Ok(())
}

/// One `KEY=value` line of a cpuser file.
struct CpuserLine<'t> {
    line: u32,
    key: &'t str,
    value: &'t str,
}

/// Split a cpuser file as cPanel does (`Cpanel::Config::LoadCpUserFile`):
/// lines end at `\n` only; a line whose first non-blank is `#` is a
/// comment; the key ends at the first `=` (blanks before it are dropped)
/// and the value is everything after it, unchanged.
fn cpuser_lines(text: &str) -> impl Iterator<Item = CpuserLine<'_>> {
    text.split('\n').enumerate().filter_map(|(index, raw)| {
        if raw.trim_start().starts_with('#') {
            return None;
        }
        let (key, value) = raw.split_once('=')?;
        Some(CpuserLine {
            line: line_number(index),
            key: key.trim_end(),
            value,
        })
    })
}

/// cPanel's Email Routing values (`Whostmgr::DNS::Constants`); `0` is the
/// stored form of "local".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum MxCheck {
    Local,
    Auto,
    Secondary,
    Remote,
}

impl MxCheck {
    fn parse(value: &str) -> Option<Self> {
        match value {
            "0" | "local" => Some(MxCheck::Local),
            "auto" => Some(MxCheck::Auto),
            "secondary" => Some(MxCheck::Secondary),
            "remote" => Some(MxCheck::Remote),
            _ => None,
        }
    }
}

/// Read every cpuser file: `MXCHECK-<domain>` settings of the domain's
/// owner, and the system domains of `system`.
fn read_cpanel_users(reading: &mut Reading<'_>) -> Result<(), SourceError> {
    let Some(users) = list_dir(reading.root, CPANEL_USERS, EntryKind::Files)? else {
        let file = reading.root.display(CPANEL_USERS);
        reading.warn(
            WarningKind::MissingFile,
            &file,
            None,
            format!("{file}/ not found under the root: Email Routing settings (MXCHECK) and system domains are unknown"),
        );
        return Ok(());
    };
    for user in users {
        // cPanel account names are ASCII; anything else is not a cpuser file.
        let Some(user) = user.to_str().filter(|u| {
            !u.starts_with('.')
                && u.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
        }) else {
            continue;
        };
        let path = format!("{CPANEL_USERS}/{user}");
        let Some(text) = reading.read_optional(&path)? else {
            continue;
        };
        let file = reading.root.display(&path);
        for entry in cpuser_lines(&text) {
            if user == SYSTEM_USER_FILE {
                system_domain(reading, &entry, &file);
            } else if let Some(domain) = entry.key.strip_prefix("MXCHECK-") {
                mxcheck(reading, user, domain, &entry, &file);
            }
        }
    }
    Ok(())
}

/// `DNS=` and `DNSn=` of `var/cpanel/users/system`: a domain owned by no
/// account, unless an account owns it too (cPanel lets the account win).
fn system_domain(reading: &mut Reading<'_>, entry: &CpuserLine<'_>, file: &str) {
    let is_domain_key = entry.key == "DNS"
        || entry
            .key
            .strip_prefix("DNS")
            .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()));
    if !is_domain_key {
        return;
    }
    let Ok(name) = DomainName::parse(entry.value.trim()) else {
        return;
    };
    let Some(known) = reading.get_mut(&name) else {
        return;
    };
    let owner = known.facts().owner.as_deref();
    if owner.is_none() || owner == Some(NOBODY) {
        known.facts_mut().owner = Some(NOBODY.to_string());
        known.facts_mut().hands_off = Some(Box::new(HandsOff::CpanelNoAccount {
            file: file.to_string(),
            line: entry.line,
        }));
    }
}

/// An `MXCHECK-<domain>` line of `user`'s file. cPanel reads the setting
/// from the owner's file only.
fn mxcheck(
    reading: &mut Reading<'_>,
    user: &str,
    domain: &str,
    entry: &CpuserLine<'_>,
    file: &str,
) {
    let Ok(name) = DomainName::parse(domain) else {
        return;
    };
    let Some(owner) = reading.get(&name).map(|known| known.facts().owner.clone()) else {
        return;
    };
    if owner.as_deref().is_some_and(|owner| owner != user) {
        return;
    }
    match MxCheck::parse(entry.value) {
        Some(MxCheck::Local) => {
            if let Some(known) = reading.get_mut(&name) {
                known.facts_mut().hands_off = Some(Box::new(HandsOff::CpanelForcedLocal {
                    setting: format!("{}={}", entry.key, entry.value),
                    file: file.to_string(),
                    line: entry.line,
                }));
            }
        }
        Some(MxCheck::Auto | MxCheck::Secondary | MxCheck::Remote) => {}
        None => reading.warn(
            WarningKind::Suspicious,
            file,
            Some(entry.line),
            format!(
                "{}={} is not an Email Routing cPanel knows (0, local, auto, secondary, remote); cPanel treats it as none of them",
                entry.key,
                entry.value.escape_debug()
            ),
        ),
    }
}

/// `var/cpanel/cpnat`, which cPanel's installer (and
/// `scripts/build_cpnat`) writes on a server behind 1:1 NAT: one line per
/// local address, `LOCAL PUBLIC`, the public address as
/// `myip.cpanel.net` saw the local one connect (cPanel knowledge base,
/// "1:1 NAT"). cPanel's own reader (`Cpanel::NAT::Object`) splits each line
/// at white space and takes the second field as the public address; a line
/// with a local address alone maps nothing, and a public address mapped
/// twice is kept for the first local one only. Its public addresses, the
/// values of that map, are this server's addresses as the world sees them.
/// The local ones are interface addresses, read from the interfaces with
/// `--root /`, and say nothing about the public identity.
fn read_cpnat(reading: &mut Reading<'_>) -> Result<(), SourceError> {
    // Only servers behind NAT have the file: its absence says nothing.
    let Some(text) = reading.read_optional(CPNAT)? else {
        return Ok(());
    };
    let file = reading.root.display(CPNAT);
    // Not an lsearch file: IPv6 addresses contain colons.
    for (line, _, entry) in entry_lines(&text) {
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
        let (line, span, host) = wwwacct_host(text).unwrap();
        assert_eq!((line, host), (2, "web10.hoster.test"));
        let span = span.unwrap();
        assert_eq!(&text[span.start..span.end], host);
        assert_eq!(wwwacct_host("HOSTNAME x\n"), None);
    }

    #[test]
    fn cpanel_removes_only_the_plain_lower_case_name() {
        let d = DomainName::parse("shop.test").unwrap();
        assert!(cpanel_can_remove(b"shop.test", true, &d));
        assert!(cpanel_can_remove(b"  shop.test: x", true, &d));
        assert!(!cpanel_can_remove(b"shop.test", false, &d));
        assert!(!cpanel_can_remove(b"shop.test\r", true, &d));
        assert!(!cpanel_can_remove(b"shop.test\t", true, &d));
        assert!(!cpanel_can_remove(b"Shop.TEST", true, &d));
        assert!(!cpanel_can_remove(b"\"shop.test\"", true, &d));
    }

    #[test]
    fn cpuser_lines_split_at_the_first_equals_sign() {
        let text = "# cPanel -- If you edit this file\nDNS=main.test\nMXCHECK-a.test =0\nX=a=b\nno equals\n  # indented comment\nMXCHECK-b.test=local\r\n";
        let lines: Vec<(u32, &str, &str)> = cpuser_lines(text)
            .map(|l| (l.line, l.key, l.value))
            .collect();
        assert_eq!(
            lines,
            vec![
                (2, "DNS", "main.test"),
                (3, "MXCHECK-a.test", "0"),
                (4, "X", "a=b"),
                (7, "MXCHECK-b.test", "local\r"),
            ]
        );
        assert_eq!(MxCheck::parse("0"), Some(MxCheck::Local));
        assert_eq!(MxCheck::parse("local\r"), None);
    }
}
