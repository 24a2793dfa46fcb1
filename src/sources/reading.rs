//! Shared machinery of the panel readers: the line-per-entry files panels
//! write, the difference between a missing file (a warning: config
//! repositories hold partial trees) and an unreadable one (an error: the
//! audit would be wrong), and collecting domains with their warnings.

use std::collections::BTreeSet;
use std::io::ErrorKind;
use std::net::IpAddr;

use crate::inventory::{
    Declared, Delivery, DomainName, Inventory, InventoryBuilder, InventoryWarning, KnownDomain,
    Platform, TableMismatch, WarningKind,
};
use crate::sources::{ConfigRoot, SourceError};

/// A physical line number as the inventory stores it (1-based).
pub(crate) fn line_number(index: usize) -> u32 {
    u32::try_from(index.saturating_add(1)).unwrap_or(u32::MAX)
}

/// The entries of a one-name-per-line file (qmail control files, plain
/// lists): the 1-based physical line and the trimmed text. Blank lines and
/// lines whose first non-blank character is `#` are skipped.
pub(crate) fn entry_lines(text: &str) -> impl Iterator<Item = (u32, &str)> {
    text.lines().enumerate().filter_map(|(index, raw)| {
        let entry = raw.trim();
        if entry.is_empty() || entry.starts_with('#') {
            None
        } else {
            Some((line_number(index), entry))
        }
    })
}

/// One entry of an Exim `lsearch` file (`/etc/localdomains`,
/// `/etc/userdomains`, `/etc/virtual/domains`, ...).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum LsearchLine<'t> {
    /// `key`, `key: value` or `key value`; the key may be double-quoted.
    Entry {
        line: u32,
        key: &'t str,
        value: &'t str,
    },
    /// A line starting with white space: Exim reads it as the continuation
    /// of the previous entry's value, never as a key of its own.
    Continuation { line: u32, text: &'t str },
}

/// Split an lsearch file the way Exim does: blank and `#` lines are
/// ignored, an indented line continues the previous entry, the key ends at
/// a colon or white space.
pub(crate) fn lsearch_lines(text: &str) -> impl Iterator<Item = LsearchLine<'_>> {
    text.lines().enumerate().filter_map(|(index, raw)| {
        let line = line_number(index);
        let trimmed = raw.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            return None;
        }
        if raw.starts_with([' ', '\t']) {
            return Some(LsearchLine::Continuation {
                line,
                text: trimmed,
            });
        }
        let (key, rest) = match trimmed.strip_prefix('"') {
            Some(quoted) => match quoted.find('"') {
                Some(end) => (&quoted[..end], &quoted[end + 1..]),
                // An unterminated quote: keep the text so that validation
                // reports it rather than dropping the line.
                None => (trimmed, ""),
            },
            None => {
                let end = trimmed
                    .find(|c: char| c == ':' || c.is_whitespace())
                    .unwrap_or(trimmed.len());
                trimmed.split_at(end)
            }
        };
        let value = rest.trim_start();
        let value = value.strip_prefix(':').unwrap_or(value).trim();
        Some(LsearchLine::Entry { line, key, value })
    })
}

/// The state of one platform read: the domains found so far and everything
/// worth telling the admin about them.
pub(crate) struct Reading<'r> {
    pub root: &'r ConfigRoot,
    /// Every domain so far, sorted by name, one entry per name.
    domains: InventoryBuilder,
    pub warnings: Vec<InventoryWarning>,
    pub server_names: Vec<DomainName>,
    pub server_addresses: Vec<IpAddr>,
    pub table_mismatches: Vec<TableMismatch>,
}

impl<'r> Reading<'r> {
    pub fn new(root: &'r ConfigRoot) -> Self {
        Reading {
            root,
            domains: InventoryBuilder::new(),
            warnings: Vec::new(),
            server_names: Vec::new(),
            server_addresses: Vec::new(),
            table_mismatches: Vec::new(),
        }
    }

    /// Continue from an inventory another reader produced (Plesk on top of
    /// Postfix or qmail), keeping its domains, facts and warnings.
    pub fn from_inventory(root: &'r ConfigRoot, inventory: Inventory) -> Self {
        let mut reading = Reading::new(root);
        reading.warnings = inventory.warnings;
        reading.server_names = inventory.server_names;
        reading.server_addresses = inventory.server_addresses;
        reading.table_mismatches = inventory.table_mismatches;
        reading.domains = InventoryBuilder::from_domains(inventory.domains);
        reading
    }

    /// Read a file the platform normally has. Absent: a `MissingFile`
    /// warning saying what is lost, and `None`. Present but unreadable (a
    /// directory, no permission): an error, because reading on would
    /// report a wrong inventory.
    pub fn read_expected(
        &mut self,
        server_path: &str,
        without_it: &str,
    ) -> Result<Option<String>, SourceError> {
        let text = self.read_optional(server_path)?;
        if text.is_none() {
            let file = self.root.display(server_path);
            self.warn(
                WarningKind::MissingFile,
                &file,
                None,
                format!("{file} not found under the root: {without_it}"),
            );
        }
        Ok(text)
    }

    /// Read a file only some servers have (cPanel's NAT map): absent is
    /// silently `None`; present but unreadable is an error.
    pub fn read_optional(&self, server_path: &str) -> Result<Option<String>, SourceError> {
        match self.root.read_to_string(server_path) {
            Ok(text) => Ok(Some(text)),
            Err(SourceError::Io { source, .. }) if source.kind() == ErrorKind::NotFound => Ok(None),
            Err(other) => Err(other),
        }
    }

    pub fn warn(&mut self, kind: WarningKind, file: &str, line: Option<u32>, message: String) {
        self.warnings.push(InventoryWarning {
            kind,
            file: Some(file.to_string()),
            line,
            parameter: None,
            message,
        });
    }

    /// Validate a name as configured; an invalid one is a warning naming
    /// the file and line, never an error.
    pub fn domain(&mut self, raw: &str, file: &str, line: u32) -> Option<DomainName> {
        match DomainName::parse(raw) {
            Ok(name) => Some(name),
            Err(error) => {
                self.warn(
                    WarningKind::InvalidDomain,
                    file,
                    Some(line),
                    format!("`{raw}` is not a valid domain name ({error}); ignored"),
                );
                None
            }
        }
    }

    /// Call `each` with every valid key of an Exim lsearch file, its line
    /// and value, in file order. Invalid names and indented lines (which
    /// Exim reads as continuations, not as keys) are warnings.
    pub fn each_lsearch_domain(
        &mut self,
        text: &str,
        file: &str,
        mut each: impl FnMut(&mut Self, DomainName, u32, &str),
    ) {
        for entry in lsearch_lines(text) {
            match entry {
                // `*` is the default entry of a `*lsearch` lookup
                // (cPanel ends /etc/userdomains with `*: nobody`).
                LsearchLine::Entry { key: "*", .. } => {}
                LsearchLine::Entry { line, key, value } => {
                    if let Some(name) = self.domain(key, file, line) {
                        each(self, name, line, value);
                    }
                }
                LsearchLine::Continuation { line, text } => self.warn(
                    WarningKind::Suspicious,
                    file,
                    Some(line),
                    format!("`{text}` is indented: Exim reads it as the continuation of the previous entry, not as a domain"),
                ),
            }
        }
    }

    /// The server's primary host name, found at `server_path:line`: a name
    /// of this server, and a domain Exim always delivers locally.
    pub fn declare_primary_hostname(&mut self, server_path: &str, line: u32, raw: &str) {
        let file = self.root.display(server_path);
        if let Some(name) = self.domain(raw, &file, line) {
            self.add_server_name(name.clone());
            self.declare_listed(&name, Delivery::Local, &file, line, "primary_hostname");
        }
    }

    /// An Exim domain list in lsearch format whose every name is delivered
    /// locally (cPanel `etc/localdomains`, DirectAdmin `etc/virtual/domains`).
    /// A missing list is a warning: only the primary host name is then known.
    pub fn read_exim_local_domains(&mut self, server_path: &str) -> Result<(), SourceError> {
        let Some(text) = self.read_expected(
            server_path,
            "no locally delivered domains are known besides the primary host name",
        )?
        else {
            return Ok(());
        };
        let file = self.root.display(server_path);
        self.each_lsearch_domain(&text, &file, |reading, name, line, _| {
            reading.declare_listed(&name, Delivery::Local, &file, line, "local_domains");
        });
        Ok(())
    }

    /// Owners from a panel's `domain: user` file (cPanel's
    /// `etc/userdomains`, DirectAdmin's `etc/virtual/domainowners`) into
    /// `facts.owner`. An owned domain that no mail list named is hosted with
    /// its mail off: `not-local`, declared here.
    pub fn owners(&mut self, text: &str, file: &str, via: &str) {
        let mut seen: BTreeSet<DomainName> = BTreeSet::new();
        self.each_lsearch_domain(text, file, |reading, name, line, owner| {
            if !seen.insert(name.clone()) {
                reading.warn(
                    WarningKind::DuplicateDomain,
                    file,
                    Some(line),
                    format!("{name} is listed again; the first owner is kept"),
                );
                return;
            }
            if reading.get(&name).is_none() {
                reading.declare(&name, Delivery::NotLocal, file, line, via);
            }
            if let Some(known) = reading.get_mut(&name)
                && !owner.is_empty()
            {
                known.facts.owner = Some(owner.to_string());
            }
        });
    }

    /// Record a declaration. When the domain was declared before, returns
    /// its delivery and first declaration so the caller can say what the
    /// repetition means on its platform.
    pub fn declare(
        &mut self,
        name: &DomainName,
        delivery: Delivery,
        file: &str,
        line: u32,
        via: &str,
    ) -> Option<(Delivery, Declared)> {
        let place = Declared {
            file: file.to_string(),
            line,
            via: via.to_string(),
        };
        self.domains.declare(name.clone(), delivery, place)
    }

    /// Declare a name from a plain list of one delivery class, warning when
    /// the same file or an earlier file already listed it.
    pub fn declare_listed(
        &mut self,
        name: &DomainName,
        delivery: Delivery,
        file: &str,
        line: u32,
        via: &str,
    ) {
        if let Some((earlier_delivery, first)) = self.declare(name, delivery, file, line, via) {
            let consequence = if earlier_delivery == delivery {
                String::new()
            } else {
                format!("; it stays {}", earlier_delivery.as_str())
            };
            self.warn(
                WarningKind::DuplicateDomain,
                file,
                Some(line),
                format!(
                    "{name} is listed again (first at {}:{}){consequence}",
                    first.file, first.line
                ),
            );
        }
    }

    pub fn get(&self, name: &DomainName) -> Option<&KnownDomain> {
        self.domains.get(name)
    }

    pub fn get_mut(&mut self, name: &DomainName) -> Option<&mut KnownDomain> {
        self.domains.get_mut(name)
    }

    /// The domains declared so far that are delivered here.
    pub fn local_domains(&self) -> impl Iterator<Item = &KnownDomain> {
        self.domains
            .domains()
            .filter(|known| known.delivery == Delivery::Local)
    }

    /// Every domain declared so far, sorted.
    pub fn names(&self) -> Vec<DomainName> {
        self.domains
            .domains()
            .map(|known| known.name.clone())
            .collect()
    }

    pub fn add_server_name(&mut self, name: DomainName) {
        if !self.server_names.contains(&name) {
            self.server_names.push(name);
        }
    }

    pub fn add_server_address(&mut self, address: IpAddr) {
        if !self.server_addresses.contains(&address) {
            self.server_addresses.push(address);
        }
    }

    pub fn finish(self, platform: Platform) -> Inventory {
        Inventory {
            platform,
            server_names: self.server_names,
            server_addresses: self.server_addresses,
            domains: self.domains.into_domains(),
            warnings: self.warnings,
            table_mismatches: self.table_mismatches,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entry_lines_skip_blank_and_comment_lines_and_keep_physical_numbers() {
        let text = "# header\n\n  Example.test  \n\t# indented comment\nother.test\n";
        let entries: Vec<_> = entry_lines(text).collect();
        assert_eq!(entries, vec![(3, "Example.test"), (5, "other.test")]);
    }

    #[test]
    fn lsearch_keys_end_at_colon_or_space_and_may_be_quoted() {
        let text = "a.test: alice\nb.test bob\n\"c.test\": carol\n  continued\nd.test\n#x\n";
        let lines: Vec<_> = lsearch_lines(text).collect();
        assert_eq!(
            lines,
            vec![
                LsearchLine::Entry {
                    line: 1,
                    key: "a.test",
                    value: "alice"
                },
                LsearchLine::Entry {
                    line: 2,
                    key: "b.test",
                    value: "bob"
                },
                LsearchLine::Entry {
                    line: 3,
                    key: "c.test",
                    value: "carol"
                },
                LsearchLine::Continuation {
                    line: 4,
                    text: "continued"
                },
                LsearchLine::Entry {
                    line: 5,
                    key: "d.test",
                    value: ""
                },
            ]
        );
    }

    #[test]
    fn lsearch_unterminated_quote_keeps_the_text_for_validation() {
        let lines: Vec<_> = lsearch_lines("\"broken.test\n").collect();
        assert_eq!(
            lines,
            vec![LsearchLine::Entry {
                line: 1,
                key: "\"broken.test",
                value: ""
            }]
        );
    }

    #[test]
    fn missing_expected_file_is_a_warning_and_a_directory_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("etc/localdomains")).unwrap();
        let root = ConfigRoot::new(dir.path());
        let mut reading = Reading::new(&root);
        assert!(
            reading
                .read_expected("/etc/absent", "nothing")
                .unwrap()
                .is_none()
        );
        assert_eq!(reading.warnings.len(), 1);
        assert_eq!(reading.warnings[0].kind, WarningKind::MissingFile);
        assert_eq!(reading.warnings[0].file.as_deref(), Some("etc/absent"));
        match reading.read_expected("/etc/localdomains", "nothing") {
            Err(SourceError::Io { file, .. }) => assert_eq!(file, "etc/localdomains"),
            other => panic!("expected an Io error, got {other:?}"),
        }
    }

    #[test]
    fn repeated_names_warn_and_keep_the_first_delivery() {
        let root = ConfigRoot::new("/nonexistent");
        let mut reading = Reading::new(&root);
        let name = DomainName::parse("dup.test").unwrap();
        reading.declare_listed(&name, Delivery::Local, "f", 1, "v");
        reading.declare_listed(&name, Delivery::Relay, "g", 7, "w");
        let inventory = reading.finish(Platform::List);
        assert_eq!(inventory.domains.len(), 1);
        assert_eq!(inventory.domains[0].delivery, Delivery::Local);
        assert_eq!(inventory.domains[0].declared.len(), 2);
        assert_eq!(inventory.warnings.len(), 1);
        assert_eq!(inventory.warnings[0].kind, WarningKind::DuplicateDomain);
        assert_eq!(inventory.warnings[0].line, Some(7));
        assert!(inventory.warnings[0].message.contains("first at f:1"));
        assert!(inventory.warnings[0].message.contains("stays local"));
    }
}
