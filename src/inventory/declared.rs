//! Where a domain is declared, and through what the mail server reads it.
//!
//! Facts a newcomer would get wrong:
//! - [`Via`] is a type because remediation decides on it (a relay list is
//!   edited differently from a local class; a built-in default or a
//!   compiled table is never edited). Its JSON form is the contract's
//!   `via` string ([`Via::as_str`]), unchanged since it was a `String`.
//! - A [`Declared`] is one *place*: file, line and via. The byte span of the
//!   name is how to edit that place, not part of which place it is, so it
//!   takes no part in equality, ordering or hashing, and it is never
//!   serialized. A name written twice on one line is one place with two
//!   spans ([`Declared::spans`]): a fix must remove both.

use std::cmp::Ordering;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::str::FromStr;

use serde::{Serialize, Serializer};

/// The bytes of a name in the file it was read from: `start..end`, byte
/// offsets into the file as the audit read it.
///
/// A span is only meaningful for those bytes: remediation edits a file only
/// when it still holds exactly what the audit read (its digest), and never
/// a file that is not UTF-8 (whose text the readers decoded lossily, so
/// that offsets past a bad byte are not the file's).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ByteSpan {
    pub start: usize,
    pub end: usize,
}

impl ByteSpan {
    /// The span of `len` bytes at `start`.
    pub fn at(start: usize, len: usize) -> ByteSpan {
        ByteSpan {
            start,
            end: start.saturating_add(len),
        }
    }

    pub fn len(&self) -> usize {
        self.end.saturating_sub(self.start)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A Postfix parameter through which domains are declared: the four
/// address classes, and `transport_maps`, which routes a domain elsewhere.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum PostfixParam {
    Mydestination,
    VirtualAliasDomains,
    VirtualMailboxDomains,
    RelayDomains,
    TransportMaps,
}

impl PostfixParam {
    pub const ALL: [PostfixParam; 5] = [
        PostfixParam::Mydestination,
        PostfixParam::VirtualAliasDomains,
        PostfixParam::VirtualMailboxDomains,
        PostfixParam::RelayDomains,
        PostfixParam::TransportMaps,
    ];

    /// The parameter's name in main.cf.
    pub fn as_str(self) -> &'static str {
        match self {
            PostfixParam::Mydestination => "mydestination",
            PostfixParam::VirtualAliasDomains => "virtual_alias_domains",
            PostfixParam::VirtualMailboxDomains => "virtual_mailbox_domains",
            PostfixParam::RelayDomains => "relay_domains",
            PostfixParam::TransportMaps => "transport_maps",
        }
    }
}

impl fmt::Display for PostfixParam {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A panel's or a mail server's list file that names domains (one name per
/// line, an Exim lsearch file, a qmail control file), or the file naming
/// the server's own host name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ListFile {
    /// Exim's `local_domains`: cPanel's `etc/localdomains`, DirectAdmin's
    /// `etc/virtual/domains`.
    EximLocalDomains,
    /// Exim's `relay_domains`: cPanel's `etc/secondarymx`.
    EximRelayDomains,
    /// Exim's `domainlist relay_to_domains` (Debian's `dc_relay_domains`).
    EximRelayToDomains,
    /// The file that names Exim's `$primary_hostname` (`etc/hostname`,
    /// DirectAdmin's `servername=`, cPanel's `HOST`).
    EximPrimaryHostname,
    /// cPanel's `etc/remotedomains`.
    CpanelRemoteDomains,
    /// cPanel's `etc/manualmx`.
    CpanelManualMx,
    /// cPanel's `etc/userdomains` (a domain's owner).
    CpanelUserDomains,
    /// DirectAdmin's `etc/virtual/domainowners` (a domain's owner).
    DirectadminDomainOwners,
    /// qmail's `control/locals`.
    QmailLocals,
    /// qmail's `control/virtualdomains`.
    QmailVirtualDomains,
    /// qmail's `control/rcpthosts`.
    QmailRcptHosts,
    /// qmail's `control/morercpthosts`.
    QmailMoreRcptHosts,
    /// The `--domains FILE` list (platform `list`).
    DomainsFile,
}

impl ListFile {
    pub const ALL: [ListFile; 13] = [
        ListFile::EximLocalDomains,
        ListFile::EximRelayDomains,
        ListFile::EximRelayToDomains,
        ListFile::EximPrimaryHostname,
        ListFile::CpanelRemoteDomains,
        ListFile::CpanelManualMx,
        ListFile::CpanelUserDomains,
        ListFile::DirectadminDomainOwners,
        ListFile::QmailLocals,
        ListFile::QmailVirtualDomains,
        ListFile::QmailRcptHosts,
        ListFile::QmailMoreRcptHosts,
        ListFile::DomainsFile,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ListFile::EximLocalDomains => "local_domains",
            ListFile::EximRelayDomains => "relay_domains",
            ListFile::EximRelayToDomains => "relay_to_domains",
            ListFile::EximPrimaryHostname => "primary_hostname",
            ListFile::CpanelRemoteDomains => "remotedomains",
            ListFile::CpanelManualMx => "manualmx",
            ListFile::CpanelUserDomains => "userdomains",
            ListFile::DirectadminDomainOwners => "domainowners",
            ListFile::QmailLocals => "locals",
            ListFile::QmailVirtualDomains => "virtualdomains",
            ListFile::QmailRcptHosts => "rcpthosts",
            ListFile::QmailMoreRcptHosts => "morercpthosts",
            ListFile::DomainsFile => "domains file",
        }
    }
}

/// A directory whose name is a domain.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum DomainDirectory {
    /// Plesk's `var/www/vhosts/system/<domain>/`: a hosted domain.
    PleskHosting,
}

impl DomainDirectory {
    pub const ALL: [DomainDirectory; 1] = [DomainDirectory::PleskHosting];

    pub fn as_str(self) -> &'static str {
        match self {
            DomainDirectory::PleskHosting => "plesk hosting",
        }
    }
}

/// A name the mail server uses although no file names it: a built-in
/// default, or a default that copies another file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum BuiltIn {
    /// The Postfix default of the parameter (`localhost` in the default
    /// `mydestination`); declared at line 0 of main.cf.
    Postfix(PostfixParam),
    /// qmail without `control/locals` delivers the name in `control/me`
    /// locally; declared at that line of `me`.
    QmailLocalsIsMe,
}

impl BuiltIn {
    pub fn as_str(self) -> &'static str {
        match self {
            BuiltIn::Postfix(PostfixParam::Mydestination) => "mydestination (default)",
            BuiltIn::Postfix(PostfixParam::VirtualAliasDomains) => {
                "virtual_alias_domains (default)"
            }
            BuiltIn::Postfix(PostfixParam::VirtualMailboxDomains) => {
                "virtual_mailbox_domains (default)"
            }
            BuiltIn::Postfix(PostfixParam::RelayDomains) => "relay_domains (default)",
            BuiltIn::Postfix(PostfixParam::TransportMaps) => "transport_maps (default)",
            BuiltIn::QmailLocalsIsMe => "locals (default: me)",
        }
    }
}

/// Through what the mail server reads a declaration (the contract's `via`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Via {
    /// A Postfix parameter, where the name is written in main.cf or in a
    /// text file the parameter names (a `/file` list, a table source).
    Parameter(PostfixParam),
    /// A key of a compiled Postfix table (`.db`, `.lmdb`, `.cdb`) that the
    /// parameter names, read from the compiled file: it has no lines.
    CompiledTable(PostfixParam),
    /// A panel's or mail server's list file.
    ListFile(ListFile),
    /// A directory named after the domain.
    Directory(DomainDirectory),
    /// Written nowhere the server reads: a built-in default.
    Default(BuiltIn),
}

impl Via {
    /// The contract's `via` string. A compiled table shows its parameter,
    /// as its text source would.
    pub fn as_str(self) -> &'static str {
        match self {
            Via::Parameter(param) | Via::CompiledTable(param) => param.as_str(),
            Via::ListFile(file) => file.as_str(),
            Via::Directory(directory) => directory.as_str(),
            Via::Default(builtin) => builtin.as_str(),
        }
    }

    /// Every value, for parsing and for tests.
    pub fn all() -> impl Iterator<Item = Via> {
        let params = PostfixParam::ALL.into_iter();
        params
            .clone()
            .map(Via::Parameter)
            .chain(params.clone().map(Via::CompiledTable))
            .chain(ListFile::ALL.into_iter().map(Via::ListFile))
            .chain(DomainDirectory::ALL.into_iter().map(Via::Directory))
            .chain(params.map(|p| Via::Default(BuiltIn::Postfix(p))))
            .chain(std::iter::once(Via::Default(BuiltIn::QmailLocalsIsMe)))
    }
}

impl fmt::Display for Via {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for Via {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

/// Ordered as the contract's strings are, as when `via` was a `String`.
impl Ord for Via {
    fn cmp(&self, other: &Self) -> Ordering {
        self.as_str()
            .cmp(other.as_str())
            .then_with(|| self.kind_rank().cmp(&other.kind_rank()))
    }
}

impl PartialOrd for Via {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Via {
    /// Separates values that show the same string (a parameter and its
    /// compiled table; cPanel's and Postfix's `relay_domains`) in [`Ord`].
    fn kind_rank(self) -> u8 {
        match self {
            Via::Parameter(_) => 0,
            Via::CompiledTable(_) => 1,
            Via::ListFile(_) => 2,
            Via::Directory(_) => 3,
            Via::Default(_) => 4,
        }
    }
}

/// A `via` string that names nothing mxdrift declares.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not a via mxdrift writes")]
pub struct UnknownVia(pub String);

/// The contract's string back to a value. Two values share a string (a
/// parameter and its compiled table; cPanel's `relay_domains` and
/// Postfix's): the first of [`Via::all`] is taken, the text-file one.
impl FromStr for Via {
    type Err = UnknownVia;

    fn from_str(text: &str) -> Result<Via, UnknownVia> {
        Via::all()
            .find(|via| via.as_str() == text)
            .ok_or_else(|| UnknownVia(text.to_string()))
    }
}

/// One place in the configuration where a domain is named.
#[derive(Debug, Clone, Serialize)]
pub struct Declared {
    /// Path relative to `--root`, with `/` separators.
    pub file: String,
    /// 1-based physical line where the name itself stands; 0 where there
    /// is no line (a compiled table, a directory, a built-in default).
    pub line: u32,
    /// The parameter or list through which the server reads it.
    pub via: Via,
    /// The name's bytes in `file`, when it is written there as one literal
    /// piece of text (not for a compiled table's key, a directory, a
    /// default, or a name put together by `$` expansion). See [`ByteSpan`].
    /// `None` also when one of its occurrences at this place has no span.
    #[serde(skip)]
    pub span: Option<ByteSpan>,
    /// The bytes of the name's further occurrences at this place (written
    /// twice on one line), in the order they were read.
    #[serde(skip)]
    pub repeats: Vec<ByteSpan>,
}

/// More occurrences of one name on one line than a fix edits: such a line
/// is left for a human (and a line repeating a name a million times costs
/// no quadratic time).
pub const MAX_REPEATS: usize = 64;

impl Declared {
    /// A place without a recorded span.
    pub fn new(file: impl Into<String>, line: u32, via: Via) -> Declared {
        Declared {
            file: file.into(),
            line,
            via,
            span: None,
            repeats: Vec::new(),
        }
    }

    /// The same place with the name's bytes.
    pub fn with_span(mut self, span: Option<ByteSpan>) -> Declared {
        self.span = span;
        self
    }

    /// The bytes of every occurrence of the name at this place; none when
    /// one of them is not written as one piece (then no fix may splice).
    pub fn spans(&self) -> impl Iterator<Item = ByteSpan> + '_ {
        self.span.into_iter().chain(self.repeats.iter().copied())
    }

    /// `other`, the same place read again, adds its occurrence: a span not
    /// seen yet, or the loss of every span when it has none (or when there
    /// are more than [`MAX_REPEATS`]).
    pub(crate) fn add_occurrence(&mut self, other: &Declared) {
        let Some(first) = self.span else {
            return;
        };
        match other.span {
            Some(span) if span == first || self.repeats.contains(&span) => {}
            Some(span) if self.repeats.len() < MAX_REPEATS => self.repeats.push(span),
            Some(_) | None => {
                self.span = None;
                self.repeats = Vec::new();
            }
        }
    }

    /// What makes two declarations the same place.
    fn place(&self) -> (&str, u32, Via) {
        (&self.file, self.line, self.via)
    }
}

impl PartialEq for Declared {
    fn eq(&self, other: &Self) -> bool {
        self.place() == other.place()
    }
}

impl Eq for Declared {}

impl Hash for Declared {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.place().hash(state);
    }
}

impl Ord for Declared {
    fn cmp(&self, other: &Self) -> Ordering {
        self.place().cmp(&other.place())
    }
}

impl PartialOrd for Declared {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn via_strings_are_the_contract_s_and_parse_back() {
        let shown: Vec<&str> = Via::all().map(Via::as_str).collect();
        for expected in [
            "mydestination",
            "virtual_alias_domains",
            "virtual_mailbox_domains",
            "relay_domains",
            "transport_maps",
            "mydestination (default)",
            "local_domains",
            "primary_hostname",
            "remotedomains",
            "manualmx",
            "userdomains",
            "domainowners",
            "locals",
            "locals (default: me)",
            "virtualdomains",
            "rcpthosts",
            "morercpthosts",
            "domains file",
            "plesk hosting",
        ] {
            assert!(shown.contains(&expected), "{expected}");
        }
        for via in Via::all() {
            let back: Via = via.as_str().parse().unwrap();
            assert_eq!(back.as_str(), via.as_str());
            assert_eq!(
                serde_json::to_string(&via).unwrap(),
                format!("\"{}\"", via.as_str())
            );
        }
        assert_eq!(
            "relay_domains".parse::<Via>(),
            Ok(Via::Parameter(PostfixParam::RelayDomains))
        );
        assert!("relay".parse::<Via>().is_err());
    }

    #[test]
    fn a_place_is_file_line_and_via_whatever_its_span() {
        let via = Via::Parameter(PostfixParam::Mydestination);
        let a = Declared::new("etc/postfix/main.cf", 3, via).with_span(Some(ByteSpan::at(40, 6)));
        let b = Declared::new("etc/postfix/main.cf", 3, via).with_span(Some(ByteSpan::at(48, 6)));
        assert_eq!(a, b);
        let json = serde_json::to_value(&a).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"file": "etc/postfix/main.cf", "line": 3, "via": "mydestination"})
        );
        let mut place = a.clone();
        place.add_occurrence(&b);
        place.add_occurrence(&b);
        place.add_occurrence(&a);
        let starts: Vec<usize> = place.spans().map(|s| s.start).collect();
        assert_eq!(starts, vec![40, 48]);
        // An occurrence without bytes: the place cannot be spliced.
        place.add_occurrence(&Declared::new("etc/postfix/main.cf", 3, via));
        assert_eq!(place.spans().count(), 0);
        let mut many = a.clone();
        for start in 0..=MAX_REPEATS {
            many.add_occurrence(&a.clone().with_span(Some(ByteSpan::at(100 + 10 * start, 6))));
        }
        assert_eq!(many.spans().count(), 0);
        let compiled = Declared::new(
            "etc/postfix/main.cf",
            3,
            Via::CompiledTable(PostfixParam::Mydestination),
        );
        assert_ne!(a, compiled);
    }
}
