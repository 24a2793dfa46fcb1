//! qmail (plain, or under Plesk): the control files in `/var/qmail/control/`.
//!
//! qmail's semantics (qmail-send(8), qmail-smtpd(8)):
//! - `locals`: domains delivered to local users. When the file is absent,
//!   qmail uses the contents of `me`.
//! - `virtualdomains`: `domain:prepend` lines, delivered locally after a
//!   rewrite; checked after `locals`. `user@domain:prepend` concerns one
//!   address, `.domain:prepend` every subdomain, `:prepend` everything, and
//!   an empty prepend is an exception (the domain is *not* virtual).
//! - `rcpthosts` (and its overflow `morercpthosts`): domains qmail-smtpd
//!   accepts from outside. A domain accepted but neither in `locals` nor in
//!   `virtualdomains` is sent on to its MX: `relay`.
//!
//! Control files are read one entry per line; blank lines and `#` lines are
//! skipped, surrounding white space is ignored.

use std::collections::BTreeSet;

use crate::inventory::{Delivery, DomainName, Inventory, Platform, WarningKind};
use crate::sources::reading::{Reading, entry_lines};
use crate::sources::{Marker, Source, SourceError, SourceOptions};

pub const CONTROL_DIR: &str = "var/qmail/control/";
const ME: &str = "var/qmail/control/me";
const LOCALS: &str = "var/qmail/control/locals";
const VIRTUALDOMAINS: &str = "var/qmail/control/virtualdomains";
const RCPTHOSTS: &str = "var/qmail/control/rcpthosts";
const MORERCPTHOSTS: &str = "var/qmail/control/morercpthosts";

/// The plain qmail reader.
#[derive(Debug, Clone, Copy, Default)]
pub struct Qmail;

impl Source for Qmail {
    fn platform(&self) -> Platform {
        Platform::Qmail
    }

    fn markers(&self) -> &'static [Marker] {
        &[Marker(&[CONTROL_DIR])]
    }

    fn read(&self, opts: &SourceOptions) -> Result<Inventory, SourceError> {
        let mut reading = Reading::new(&opts.root);
        read_control(&mut reading)?;
        Ok(reading.finish(Platform::Qmail))
    }
}

/// Read qmail's control files into `reading` (shared with Plesk on qmail).
pub(crate) fn read_control(reading: &mut Reading<'_>) -> Result<(), SourceError> {
    let me = read_me(reading)?;
    read_locals(reading, me)?;
    read_virtualdomains(reading)?;
    read_rcpthosts(reading)
}

/// `me`: the host's own name; also the default of `locals`.
fn read_me(reading: &mut Reading<'_>) -> Result<Option<(DomainName, u32)>, SourceError> {
    let Some(text) = reading.read_expected(ME, "the server's own name is unknown")? else {
        return Ok(None);
    };
    let file = reading.root.display(ME);
    let Some((line, raw)) = entry_lines(&text).next() else {
        return Ok(None);
    };
    let Some(name) = reading.domain(raw, &file, line) else {
        return Ok(None);
    };
    reading.add_server_name(name.clone());
    Ok(Some((name, line)))
}

fn read_locals(
    reading: &mut Reading<'_>,
    me: Option<(DomainName, u32)>,
) -> Result<(), SourceError> {
    let Some(text) = reading.read_optional(LOCALS)? else {
        // qmail-send's documented default: `locals` is `me`.
        let file = reading.root.display(LOCALS);
        let consequence = match &me {
            Some((name, _)) => format!("qmail delivers only {name} (from `me`) locally"),
            None => "and `me` is missing too: qmail-send refuses to run".to_string(),
        };
        reading.warn(
            WarningKind::MissingFile,
            &file,
            None,
            format!("{file} not found under the root: {consequence}"),
        );
        if let Some((name, line)) = me {
            let me_file = reading.root.display(ME);
            reading.declare_listed(
                &name,
                Delivery::Local,
                &me_file,
                line,
                "locals (default: me)",
            );
        }
        return Ok(());
    };
    let file = reading.root.display(LOCALS);
    for (line, raw) in entry_lines(&text) {
        if let Some(name) = reading.domain(raw, &file, line) {
            reading.declare_listed(&name, Delivery::Local, &file, line, "locals");
        }
    }
    Ok(())
}

fn read_virtualdomains(reading: &mut Reading<'_>) -> Result<(), SourceError> {
    let Some(text) = reading.read_expected(
        VIRTUALDOMAINS,
        "no virtual domains are known (qmail delivers only `locals`)",
    )?
    else {
        return Ok(());
    };
    let file = reading.root.display(VIRTUALDOMAINS);
    for (line, entry) in entry_lines(&text) {
        let Some((target, prepend)) = entry.split_once(':') else {
            reading.warn(
                WarningKind::Suspicious,
                &file,
                Some(line),
                format!("`{entry}` has no `:prepend`; qmail-send ignores the line"),
            );
            continue;
        };
        if prepend.is_empty() {
            // An exception: the domain is explicitly not virtual.
            continue;
        }
        if target.is_empty() {
            reading.warn(
                WarningKind::NotEnumerable,
                &file,
                Some(line),
                format!("`{entry}` makes every domain not listed elsewhere a virtual domain delivered here; those names cannot be listed"),
            );
            continue;
        }
        if let Some(parent) = target.strip_prefix('.') {
            reading.warn(
                WarningKind::NotEnumerable,
                &file,
                Some(line),
                format!("`{entry}` delivers every subdomain of {parent} here; subdomains cannot be listed"),
            );
            continue;
        }
        if target.contains('@') {
            reading.warn(
                WarningKind::Suspicious,
                &file,
                Some(line),
                format!("`{entry}` delivers only the address {target} here, not its whole domain; not audited"),
            );
            continue;
        }
        if let Some(name) = reading.domain(target, &file, line) {
            reading.declare_listed(&name, Delivery::Local, &file, line, "virtualdomains");
        }
    }
    Ok(())
}

fn read_rcpthosts(reading: &mut Reading<'_>) -> Result<(), SourceError> {
    let rcpthosts = reading.read_expected(
        RCPTHOSTS,
        "qmail-smtpd then accepts mail for every domain (an open relay)",
    )?;
    let more = reading.read_optional(MORERCPTHOSTS)?;
    let mut accepted: BTreeSet<DomainName> = BTreeSet::new();
    for (path, via, text) in [
        (RCPTHOSTS, "rcpthosts", &rcpthosts),
        (MORERCPTHOSTS, "morercpthosts", &more),
    ] {
        let Some(text) = text else { continue };
        let file = reading.root.display(path);
        for (line, raw) in entry_lines(text) {
            if let Some(parent) = raw.strip_prefix('.') {
                reading.warn(
                    WarningKind::NotEnumerable,
                    &file,
                    Some(line),
                    format!("`{raw}` accepts mail for every subdomain of {parent}; subdomains cannot be listed"),
                );
                continue;
            }
            let Some(name) = reading.domain(raw, &file, line) else {
                continue;
            };
            if accepted.contains(&name) {
                reading.declare_listed(&name, Delivery::Relay, &file, line, via);
                continue;
            }
            accepted.insert(name.clone());
            // Accepted and delivered here is the normal case for a local
            // domain; accepted only is a relay.
            reading.declare(&name, Delivery::Relay, &file, line, via);
        }
    }
    if rcpthosts.is_none() {
        return Ok(());
    }
    let refused: Vec<(DomainName, String, u32)> = reading_local_names(reading)
        .into_iter()
        .filter(|(name, _, _)| !accepted.contains(name) && !name.is_localhost())
        .collect();
    let rcpthosts_file = reading.root.display(RCPTHOSTS);
    for (name, file, line) in refused {
        reading.warn(
            WarningKind::Suspicious,
            &file,
            Some(line),
            format!("{name} is delivered here but not in {rcpthosts_file}: qmail-smtpd refuses mail for it from outside, only mail sent on this server arrives"),
        );
    }
    Ok(())
}

/// The local domains read so far, with their first declaration.
fn reading_local_names(reading: &Reading<'_>) -> Vec<(DomainName, String, u32)> {
    reading
        .local_domains()
        .filter_map(|known| {
            let first = known.declared.first()?;
            Some((known.name.clone(), first.file.clone(), first.line))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sources::ConfigRoot;

    fn tree(files: &[(&str, &str)]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        for (path, text) in files {
            let path = dir.path().join(path);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, text).unwrap();
        }
        dir
    }

    fn read(dir: &tempfile::TempDir) -> Inventory {
        let root = ConfigRoot::new(dir.path());
        let mut reading = Reading::new(&root);
        read_control(&mut reading).unwrap();
        reading.finish(Platform::Qmail)
    }

    #[test]
    fn locals_defaults_to_me() {
        let dir = tree(&[
            (ME, "mail.hoster.test\n"),
            (VIRTUALDOMAINS, ""),
            (RCPTHOSTS, "mail.hoster.test\n"),
        ]);
        let inventory = read(&dir);
        assert_eq!(inventory.domains.len(), 1);
        assert_eq!(inventory.domains[0].name.as_str(), "mail.hoster.test");
        assert_eq!(inventory.domains[0].delivery, Delivery::Local);
        assert_eq!(inventory.domains[0].declared[0].file, ME);
        assert_eq!(inventory.domains[0].declared[0].via, "locals (default: me)");
        assert_eq!(inventory.warnings.len(), 1);
        assert_eq!(inventory.warnings[0].kind, WarningKind::MissingFile);
    }

    #[test]
    fn virtualdomains_forms() {
        let dir = tree(&[
            (ME, "mail.hoster.test\n"),
            (LOCALS, "localhost\n"),
            (
                VIRTUALDOMAINS,
                "shop.test:shop\nnot-virtual.test:\n.wild.test:w\nbob@one.test:bob\n:catchall\nnocolon.test\n",
            ),
            (RCPTHOSTS, "shop.test\nnot-virtual.test\n"),
        ]);
        let inventory = read(&dir);
        let domains: Vec<_> = inventory
            .domains
            .iter()
            .map(|d| (d.name.as_str(), d.delivery))
            .collect();
        assert_eq!(
            domains,
            vec![
                ("localhost", Delivery::Local),
                ("not-virtual.test", Delivery::Relay),
                ("shop.test", Delivery::Local),
            ]
        );
        let kinds: Vec<_> = inventory
            .warnings
            .iter()
            .map(|w| (w.kind, w.line))
            .collect();
        assert_eq!(
            kinds,
            vec![
                (WarningKind::NotEnumerable, Some(3)),
                (WarningKind::Suspicious, Some(4)),
                (WarningKind::NotEnumerable, Some(5)),
                (WarningKind::Suspicious, Some(6)),
            ]
        );
    }
}
