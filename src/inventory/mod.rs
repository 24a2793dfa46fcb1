//! The inventory: every domain the mail server knows, how it treats mail for
//! it, and where in the configuration that was declared. Produced by
//! `sources`, consumed by every later stage.

mod declared;
mod domain_name;

use std::collections::hash_map::Entry;
use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;

use serde::{Deserialize, Serialize};

pub use declared::{
    BuiltIn, ByteSpan, Declared, DomainDirectory, ListFile, MAX_REPEATS, PostfixParam, UnknownVia,
    Via,
};
pub use domain_name::{DomainName, DomainNameError};

/// Which kind of server configuration the inventory was read from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Platform {
    Postfix,
    Plesk,
    Cpanel,
    Directadmin,
    Qmail,
    List,
    Exim,
    Hestiacp,
}

impl Platform {
    pub fn as_str(self) -> &'static str {
        match self {
            Platform::Postfix => "postfix",
            Platform::Plesk => "plesk",
            Platform::Cpanel => "cpanel",
            Platform::Directadmin => "directadmin",
            Platform::Qmail => "qmail",
            Platform::List => "list",
            Platform::Exim => "exim",
            Platform::Hestiacp => "hestiacp",
        }
    }
}

/// How the server treats mail for a domain (the contract's `delivery`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Delivery {
    /// Delivered on this machine (mydestination, virtual mailbox or alias domain, ...).
    Local,
    /// Accepted and forwarded elsewhere (relay_domains, transport override, backup MX).
    Relay,
    /// Known to the server (hosted, listed as remote) but mail is not accepted here.
    NotLocal,
}

impl Delivery {
    pub fn as_str(self) -> &'static str {
        match self {
            Delivery::Local => "local",
            Delivery::Relay => "relay",
            Delivery::NotLocal => "not-local",
        }
    }
}

/// A domain the server knows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct KnownDomain {
    #[serde(rename = "domain")]
    pub name: DomainName,
    pub delivery: Delivery,
    pub declared: Vec<Declared>,
    /// Extra platform facts a remediation needs (cPanel owner, Plesk
    /// subscription, table that must be rebuilt), never decisions; read
    /// with [`KnownDomain::facts`]. Boxed and only where a panel has any:
    /// inline they were 136 of the 192 bytes of every domain, and plain
    /// Postfix has none (14 MiB of the 100,000-domain inventory).
    #[serde(skip)]
    pub facts: Option<Box<DomainFacts>>,
}

/// The facts of a domain nothing is known about.
static NO_FACTS: DomainFacts = DomainFacts {
    owner: None,
    subscription: false,
    hosted: false,
    alias_of: None,
    addon_of: None,
    hands_off: None,
};

impl KnownDomain {
    /// What the platform's panel knows about the domain.
    pub fn facts(&self) -> &DomainFacts {
        self.facts.as_deref().unwrap_or(&NO_FACTS)
    }

    /// The domain's facts, to add one.
    pub fn facts_mut(&mut self) -> &mut DomainFacts {
        self.facts.get_or_insert_with(Box::default)
    }
}

/// Facts that sources know and remediation needs; opaque to the verdict.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DomainFacts {
    /// The panel account owning the domain (cPanel, DirectAdmin).
    pub owner: Option<String>,
    /// Plesk: the domain is a subscription's main domain.
    pub subscription: bool,
    /// Plesk: the domain has a hosting directory (`var/www/vhosts/system/<domain>/`),
    /// so it is a site, subdomain or subscription that `plesk bin site` and
    /// `plesk bin subscription` know.
    pub hosted: bool,
    /// Plesk: a domain alias of this domain (`plesk bin domalias`, not `site`).
    pub alias_of: Option<DomainName>,
    /// cPanel: the internal subdomain cPanel creates for this addon domain;
    /// it is never published in DNS.
    pub addon_of: Option<DomainName>,
    /// A panel setting that forbids an automatic fix (rare: boxed).
    pub hands_off: Option<Box<HandsOff>>,
}

/// A panel setting that says "leave this domain alone": `fix` leaves the
/// domain for a human with the reason, and findings show the setting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HandsOff {
    /// cPanel's Email Routing is forced to Local: `MXCHECK-<domain>` is `0`
    /// or `local` in the owner's `var/cpanel/users/<user>`. Often the
    /// customer's own filtering service sits in front of the server.
    CpanelForcedLocal {
        setting: String,
        file: String,
        line: u32,
    },
    /// Owned by cPanel's `nobody`: a system domain
    /// (`var/cpanel/users/system`) without a cPanel account to act as.
    CpanelNoAccount { file: String, line: u32 },
    /// A list line Exim reads as the domain but cPanel's own tools cannot
    /// remove (they match the lower-case name followed by a colon or a
    /// newline: a CR, a trailing blank, capitals or quotes defeat them), so
    /// the panel command would leave the domain local.
    CpanelLineNotEditable { file: String, line: u32 },
}

impl HandsOff {
    /// The setting, with where it is written, for a finding's evidence.
    pub fn evidence(&self) -> String {
        match self {
            HandsOff::CpanelForcedLocal {
                setting,
                file,
                line,
            } => format!("cPanel Email Routing is forced to Local ({setting} at {file}:{line})"),
            HandsOff::CpanelNoAccount { file, line } => {
                format!(
                    "owned by nobody, a cPanel system domain without an account ({file}:{line})"
                )
            }
            HandsOff::CpanelLineNotEditable { file, line } => {
                format!("{file}:{line} is written so that cPanel's own tools cannot remove it")
            }
        }
    }

    /// Why `fix` leaves the domain alone.
    pub fn reason(&self) -> String {
        match self {
            HandsOff::CpanelForcedLocal { .. } => format!(
                "forced local in cPanel: {}; the admin chose local delivery on purpose (often a filtering service in front of this server), so change the Email Routing by hand if it is really wrong",
                self.evidence()
            ),
            HandsOff::CpanelNoAccount { .. } => format!(
                "{}: uapi cannot act as nobody; change the domain's mail routing in WHM by hand",
                self.evidence()
            ),
            HandsOff::CpanelLineNotEditable { .. } => format!(
                "{} (cPanel removes a line only when it is the lower-case name followed by a colon or a newline), so uapi would leave the domain local; write the line as the plain name, then run mxdrift fix again",
                self.evidence()
            ),
        }
    }
}

/// What kind of problem a warning reports; lets reports group and count them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum WarningKind {
    /// A table whose keys cannot be listed (regexp, pcre, cidr, SQL, LDAP, ...).
    NotEnumerable,
    /// A list file or table that is missing or unreadable: Postfix defers mail.
    LookupFailure,
    /// A configured name that is not a valid domain name.
    InvalidDomain,
    /// A domain listed more than once, or in two address classes.
    DuplicateDomain,
    /// Configuration that Postfix reads but warns about (a `#` inside a value, ...).
    Suspicious,
    /// A file the platform usually has was not found under the root.
    MissingFile,
    /// A compiled table differs from its text source (`postmap` not run).
    StaleTable,
    /// An ignore in mxdrift.yaml that matches no finding (a typo, or a fixed problem).
    UnusedIgnore,
}

/// A problem found while reading the configuration that does not stop the run.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct InventoryWarning {
    pub kind: WarningKind,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<u32>,
    /// The parameter concerned, when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parameter: Option<String>,
    pub message: String,
}

/// How many differing keys a [`TableMismatch`] lists; the rest are counted.
pub const MISMATCH_KEYS_SHOWN: usize = 20;

/// A lookup table whose text source and compiled file (the one Postfix
/// opens) hold different keys: `postmap` was not run after the last edit,
/// or the compiled file came from elsewhere. Delivery follows the compiled
/// keys; this is the evidence of rule `table-not-compiled`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableMismatch {
    /// The table as written in the configuration (`hash:/etc/postfix/vdomains`).
    pub table: String,
    /// The command that compiles the source again (`postmap hash:/etc/postfix/vdomains`).
    pub postmap: String,
    /// The text source, relative to the root.
    pub source: String,
    /// The compiled file Postfix opens, relative to the root.
    pub compiled: String,
    /// Keys of the source the compiled file lacks (Postfix does not know
    /// them), with their line in the source: the first
    /// [`MISMATCH_KEYS_SHOWN`].
    pub only_in_source: Vec<(String, u32)>,
    pub only_in_source_count: usize,
    /// Keys of the compiled file the source lacks (Postfix still uses them).
    pub only_in_compiled: Vec<String>,
    pub only_in_compiled_count: usize,
}

/// Everything the configuration says, before DNS is asked anything.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Inventory {
    pub platform: Platform,
    /// Names of this server from its configuration (`myhostname`, primary hostname).
    pub server_names: Vec<DomainName>,
    /// Extra public addresses from the configuration (`proxy_interfaces`, cPanel NAT).
    pub server_addresses: Vec<IpAddr>,
    /// Every known domain, sorted by name, one entry per name.
    pub domains: Vec<KnownDomain>,
    pub warnings: Vec<InventoryWarning>,
    /// Tables whose compiled file and text source hold different keys.
    pub table_mismatches: Vec<TableMismatch>,
}

impl Inventory {
    pub fn new(platform: Platform) -> Self {
        Inventory {
            platform,
            server_names: Vec::new(),
            server_addresses: Vec::new(),
            domains: Vec::new(),
            warnings: Vec::new(),
            table_mismatches: Vec::new(),
        }
    }

    pub fn warn(&mut self, warning: InventoryWarning) {
        self.warnings.push(warning);
    }

    pub fn local_domains(&self) -> impl Iterator<Item = &KnownDomain> {
        self.domains
            .iter()
            .filter(|d| d.delivery == Delivery::Local)
    }
}

/// Collects domains as sources find them and merges repeated declarations
/// into one entry per name, in first-seen class order (callers add classes in
/// the platform's precedence order, so the first class seen wins).
#[derive(Debug, Default)]
pub struct InventoryBuilder {
    domains: BTreeMap<DomainName, KnownDomain>,
    /// The declarations of domains declared more than
    /// [`FEW_DECLARATIONS`] times, with their index in the domain's list,
    /// for the duplicate check: a name repeated 400,000 times in a list
    /// must not cost 400,000² comparisons.
    many: HashMap<DomainName, HashMap<Declared, usize>>,
}

/// Up to this many declarations a domain's list is searched directly.
const FEW_DECLARATIONS: usize = 16;

impl InventoryBuilder {
    pub fn new() -> Self {
        Self::default()
    }

    /// Continue from domains another reader produced, facts included.
    pub fn from_domains(domains: Vec<KnownDomain>) -> Self {
        InventoryBuilder {
            domains: domains.into_iter().map(|d| (d.name.clone(), d)).collect(),
            many: HashMap::new(),
        }
    }

    /// Record a declaration. When the domain was declared before, returns
    /// its delivery and its first declaration (so the caller can warn about
    /// the duplicate); the first class seen stays. A place declared again
    /// (the name twice on one line) stays one place, with the bytes of
    /// each occurrence: a fix removes them all.
    pub fn declare(
        &mut self,
        name: DomainName,
        delivery: Delivery,
        declared: Declared,
    ) -> Option<(Delivery, Declared)> {
        match self.domains.get_mut(&name) {
            Some(existing) => {
                let first = existing
                    .declared
                    .first()
                    .cloned()
                    .unwrap_or_else(|| declared.clone());
                let places = &mut existing.declared;
                let known = if places.len() < FEW_DECLARATIONS {
                    places.iter().position(|place| *place == declared)
                } else {
                    let index = self.many.entry(name).or_insert_with(|| {
                        places
                            .iter()
                            .enumerate()
                            .map(|(i, place)| (place.clone(), i))
                            .collect()
                    });
                    let next = places.len();
                    match index.entry(declared.clone()) {
                        Entry::Occupied(at) => Some(*at.get()),
                        Entry::Vacant(slot) => {
                            slot.insert(next);
                            None
                        }
                    }
                };
                match known.and_then(|i| places.get_mut(i)) {
                    Some(place) => place.add_occurrence(&declared),
                    None => places.push(declared),
                }
                Some((existing.delivery, first))
            }
            None => {
                self.domains.insert(
                    name.clone(),
                    KnownDomain {
                        name,
                        delivery,
                        declared: vec![declared],
                        facts: None,
                    },
                );
                None
            }
        }
    }

    /// Change the delivery of a domain already declared (transport override,
    /// panel routing), keeping where it was declared.
    pub fn set_delivery(&mut self, name: &DomainName, delivery: Delivery) {
        if let Some(d) = self.domains.get_mut(name) {
            d.delivery = delivery;
        }
    }

    pub fn get(&self, name: &DomainName) -> Option<&KnownDomain> {
        self.domains.get(name)
    }

    pub fn get_mut(&mut self, name: &DomainName) -> Option<&mut KnownDomain> {
        self.domains.get_mut(name)
    }

    pub fn contains(&self, name: &DomainName) -> bool {
        self.domains.contains_key(name)
    }

    /// The domains so far, sorted by name.
    pub fn domains(&self) -> impl Iterator<Item = &KnownDomain> {
        self.domains.values()
    }

    /// The collected domains, sorted by name.
    pub fn into_domains(self) -> Vec<KnownDomain> {
        self.domains.into_values().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_name_declared_many_times_keeps_each_place_once() {
        let name = DomainName::parse("a.test").unwrap();
        let mut builder = InventoryBuilder::new();
        let at = |line: u32| {
            Declared::new(
                "etc/postfix/local",
                line,
                Via::Parameter(PostfixParam::Mydestination),
            )
        };
        // Past the few declarations searched directly, the set takes over;
        // repeats on either side of that point are still dropped.
        for round in 0..2 {
            for line in 1..=40 {
                let earlier = builder.declare(name.clone(), Delivery::Local, at(line));
                assert_eq!(earlier.is_some(), round > 0 || line > 1);
            }
        }
        let domains = builder.into_domains();
        assert_eq!(domains.len(), 1);
        let lines: Vec<u32> = domains[0].declared.iter().map(|d| d.line).collect();
        assert_eq!(lines, (1..=40).collect::<Vec<_>>());
    }

    #[test]
    fn a_name_twice_on_one_line_is_one_place_with_both_spans() {
        let name = DomainName::parse("a.test").unwrap();
        let mut builder = InventoryBuilder::new();
        let via = Via::Parameter(PostfixParam::Mydestination);
        let at = |line: u32, start: usize| {
            Declared::new("etc/postfix/main.cf", line, via).with_span(Some(ByteSpan::at(start, 6)))
        };
        // Past the few declarations searched directly too.
        for line in 1..=20 {
            builder.declare(name.clone(), Delivery::Local, at(line, 100 * line as usize));
        }
        for (line, start) in [(3, 320), (3, 300), (3, 320), (18, 1810)] {
            builder.declare(name.clone(), Delivery::Local, at(line, start));
        }
        let domains = builder.into_domains();
        assert_eq!(domains[0].declared.len(), 20);
        let spans = |line: usize| -> Vec<usize> {
            domains[0].declared[line - 1]
                .spans()
                .map(|s| s.start)
                .collect()
        };
        assert_eq!(spans(3), vec![300, 320]);
        assert_eq!(spans(18), vec![1800, 1810]);
        assert_eq!(spans(4), vec![400]);
    }
}
