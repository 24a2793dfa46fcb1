//! Postfix: which domains the server treats as local, relay or neither,
//! exactly as Postfix reads main.cf, match lists and lookup tables.
//!
//! Address classes (ADDRESS_CLASS_README), in Postfix's order of
//! precedence: `mydestination` (local), `virtual_alias_domains`,
//! `virtual_mailbox_domains` (both delivered or rewritten here, so local
//! for mxdrift), `relay_domains` (relay). The first class that lists a
//! domain wins. Then `transport_maps` may route a local-class domain
//! elsewhere (see [`TransportMaps::route`] for the rule).
//!
//! `declared` points at the physical line where the name itself stands,
//! with the name's bytes there (its span) when it is written as one piece.
//! A name that only exists in a Postfix built-in default (`localhost` in
//! the default `mydestination`) is declared at line 0 of main.cf with
//! `via` `"<parameter> (default)"`: it is written nowhere, and line 0 says
//! so without inventing a place. A key of a compiled table is declared at
//! line 0 of the compiled file, which has no lines.

pub(crate) mod compiled;
pub(crate) mod expand;
pub(crate) mod lexer;
pub(crate) mod lists;
pub(crate) mod maincf;
pub mod tables;
pub(crate) mod transport;

use std::collections::{BTreeMap, HashSet};
use std::net::IpAddr;

pub use expand::Expanded;
pub use lists::{ListReader, MatchList, Member};
pub use maincf::{Definition, MainCf, Origin};
pub use tables::{Table, TableEntry, TableLoad, TableSpec};
pub use transport::{Route, TransportMaps, TransportMatch};

use crate::inventory::{
    BuiltIn, ByteSpan, Declared, Delivery, DomainName, Inventory, InventoryBuilder,
    InventoryWarning, Platform, PostfixParam, Via, WarningKind,
};
use crate::safe_fs;
use crate::sources::{ConfigRoot, SourceError, SourceOptions};

/// A place in a file under the root.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Location {
    /// Relative to the root, `/`-separated; empty for text written nowhere.
    pub file: String,
    /// 1-based physical line; 0 for a built-in default (in main.cf) and
    /// for a key of a compiled table (which has no lines).
    pub line: u32,
    /// What stands there.
    pub at: At,
}

/// What a [`Location`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum At {
    /// Text in the file, with the bytes of the name or pattern when they
    /// are written there as one piece (see [`Expanded::span_of`]).
    Text(Option<ByteSpan>),
    /// A key of a compiled table (line 0 of the compiled file).
    CompiledKey,
    /// A Postfix built-in default, written nowhere (line 0 of main.cf).
    BuiltinDefault,
}

impl Location {
    /// Text at `file:line`, the name's bytes at `span`.
    pub fn text(file: impl Into<String>, line: u32, span: Option<ByteSpan>) -> Self {
        Location {
            file: file.into(),
            line,
            at: At::Text(span),
        }
    }

    /// A built-in default of main.cf `file` (empty: of no file).
    pub fn builtin_default(file: impl Into<String>) -> Self {
        Location {
            file: file.into(),
            line: 0,
            at: At::BuiltinDefault,
        }
    }

    /// The bytes of the name, when known.
    pub fn span(&self) -> Option<ByteSpan> {
        match self.at {
            At::Text(span) => span,
            At::CompiledKey | At::BuiltinDefault => None,
        }
    }

    /// The declaration of a name found here through `param`.
    fn declared(&self, param: PostfixParam) -> Declared {
        let via = match self.at {
            At::Text(_) => Via::Parameter(param),
            At::CompiledKey => Via::CompiledTable(param),
            At::BuiltinDefault => Via::Default(BuiltIn::Postfix(param)),
        };
        Declared::new(self.file.clone(), self.line, via).with_span(self.span())
    }
}

/// Options of the Postfix reader.
#[derive(Debug, Clone)]
pub struct PostfixOptions {
    /// Server path of the configuration directory (`/etc/postfix`).
    pub config_dir: String,
    /// Host name for the `myhostname` default (Postfix uses the machine's
    /// name) when neither main.cf nor `<root>/etc/mailname` names one.
    pub hostname: Option<String>,
}

impl Default for PostfixOptions {
    fn default() -> Self {
        PostfixOptions {
            config_dir: "/etc/postfix".to_string(),
            hostname: None,
        }
    }
}

impl From<&SourceOptions> for PostfixOptions {
    fn from(opts: &SourceOptions) -> Self {
        PostfixOptions {
            config_dir: "/etc/postfix".to_string(),
            hostname: opts.hostname.clone(),
        }
    }
}

/// The address classes in Postfix's order of precedence.
pub const CLASSES: &[(PostfixParam, Delivery)] = &[
    (PostfixParam::Mydestination, Delivery::Local),
    (PostfixParam::VirtualAliasDomains, Delivery::Local),
    (PostfixParam::VirtualMailboxDomains, Delivery::Local),
    (PostfixParam::RelayDomains, Delivery::Relay),
];

/// Everything the reader learned, for readers built on top of Postfix
/// (Plesk) and for remediation: the inventory plus the parsed main.cf, the
/// class lists and the transport tables.
#[derive(Debug)]
pub struct PostfixConfig {
    pub inventory: Inventory,
    pub main_cf: MainCf,
    /// The four class lists, in precedence order.
    pub classes: Vec<MatchList>,
    pub transport: TransportMaps,
}

/// How Postfix reads each file that names domains of its classes: what a
/// fix must know to edit them. The audit keeps it, so remediation never
/// reads the configuration a second time (a second read may see another
/// configuration than the one the audit judged).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PostfixFiles {
    /// main.cf, relative to the root.
    pub main_cf: String,
    /// The text files, main.cf included, by path relative to the root.
    pub files: BTreeMap<String, PostfixFile>,
    /// The compiled tables keys were read from, by compiled file relative
    /// to the root.
    pub compiled: BTreeMap<String, CompiledTable>,
}

/// How Postfix reads a text file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PostfixFile {
    MainCf,
    /// A match-list file (`/etc/postfix/domains` in a class list): names
    /// separated by white space or commas.
    List,
    /// The text source of a lookup table, compiled by `postmap` as this
    /// type (`hash`, `lmdb`, ... or `texthash`, read as text).
    TableSource {
        table_type: String,
    },
}

/// A compiled table Postfix reads keys from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompiledTable {
    /// `TYPE:/server/path`, as postmap takes it.
    pub postmap_table: String,
    /// The text source, when it exists (relative to the root).
    pub source: Option<String>,
}

impl PostfixConfig {
    /// How each file named by the class lists is read, and the compiled
    /// tables among them.
    pub fn files(&self) -> PostfixFiles {
        let main = self.main_cf.file().to_string();
        let mut files = BTreeMap::new();
        let mut compiled = BTreeMap::new();
        files.insert(main.clone(), PostfixFile::MainCf);
        for list in &self.classes {
            for item in &list.items {
                match &item.pattern {
                    lists::Pattern::Name(_) if item.location.file != main => {
                        files
                            .entry(item.location.file.clone())
                            .or_insert(PostfixFile::List);
                    }
                    lists::Pattern::Table { spec, load } => {
                        let TableLoad::Loaded(table) = load.as_ref() else {
                            continue;
                        };
                        if let Some(file) = &table.compiled {
                            let source = (!table.is_compiled_only()).then(|| table.file.clone());
                            let suffix = compiled::CompiledFormat::for_table_type(&spec.table_type)
                                .map_or("", |(_, suffix)| suffix);
                            let path = file.strip_suffix(suffix).unwrap_or(file);
                            compiled.insert(
                                file.clone(),
                                CompiledTable {
                                    postmap_table: format!("{}:/{path}", spec.table_type),
                                    source,
                                },
                            );
                        }
                        if table.file != main && !table.is_compiled_only() {
                            files.insert(
                                table.file.clone(),
                                PostfixFile::TableSource {
                                    table_type: spec.table_type.clone(),
                                },
                            );
                        }
                    }
                    lists::Pattern::Name(_) => {}
                }
            }
        }
        PostfixFiles {
            main_cf: main,
            files,
            compiled,
        }
    }
}

/// Read main.cf under `root` and build the inventory.
pub fn read(root: &ConfigRoot, opts: &PostfixOptions) -> Result<Inventory, SourceError> {
    read_config(root, opts).map(|c| c.inventory)
}

/// Read main.cf under `root`: the inventory and the parsed configuration.
pub fn read_config(root: &ConfigRoot, opts: &PostfixOptions) -> Result<PostfixConfig, SourceError> {
    let config_dir = opts.config_dir.trim_end_matches('/');
    let main_cf_path = format!("{config_dir}/main.cf");
    let text = root.read_text(&main_cf_path, safe_fs::MAIN_CF_LIMIT)?;
    let mut main_cf = MainCf::parse(&root.display(&main_cf_path), &text)?;
    let mut warnings = Vec::new();
    let main_file = main_cf.file().to_string();
    for line in main_cf.orphan_lines() {
        warnings.push(InventoryWarning {
            kind: WarningKind::Suspicious,
            file: Some(main_file.clone()),
            line: Some(*line),
            parameter: None,
            message: "line starts with white space but continues nothing: Postfix ignores it"
                .into(),
        });
    }
    set_hostname_default(root, opts, &mut main_cf, &mut warnings);

    // Postfix fails on a value it cannot expand (nesting, a loop); mxdrift
    // fails too, and on values beyond its own limits (expansion bombs).
    let queue_dir = main_cf.expand_checked("queue_directory")?.text;
    let pdms = main_cf
        .expand_checked("parent_domain_matches_subdomains")?
        .text;
    let parent_matching = |param: PostfixParam| {
        tables::split_tokens(&pdms)
            .iter()
            .any(|(_, t)| *t == param.as_str())
    };
    let mut reader = ListReader::new(root, &queue_dir);
    let mut builder = InventoryBuilder::new();
    // Every place each domain was declared, with its class, to report
    // duplicates.
    let mut places: BTreeMap<DomainName, Vec<(PostfixParam, Location)>> = BTreeMap::new();
    let mut classes = Vec::new();
    let mut relay_includes_mydestination = false;
    for &(param, delivery) in CLASSES {
        let value = main_cf.expand_checked(param.as_str())?;
        report_expansion_problems(param.as_str(), &value, &main_file, &mut warnings);
        if param == PostfixParam::RelayDomains {
            relay_includes_mydestination = value
                .referenced
                .contains(PostfixParam::Mydestination.as_str());
        }
        let list = reader.read_list(param.as_str(), &value, parent_matching(param))?;
        let (members, member_warnings) = list.members();
        warnings.extend(member_warnings);
        for member in members {
            // Below compatibility level 2 relay_domains defaults to
            // $mydestination: those entries repeat mydestination, which
            // wins, so they add nothing and are not a mistake.
            // mydestination is the first class: a name in it has it first.
            let repeats_mydestination = relay_includes_mydestination
                && param == PostfixParam::RelayDomains
                && places
                    .get(&member.name)
                    .and_then(|p| p.first())
                    .is_some_and(|(c, _)| *c == PostfixParam::Mydestination);
            if repeats_mydestination {
                continue;
            }
            let declared = member.location.declared(param);
            builder.declare(member.name.clone(), delivery, declared);
            places
                .entry(member.name)
                .or_default()
                .push((param, member.location));
        }
        classes.push(list);
    }
    warnings.extend(duplicate_warnings(&places));

    let transport_value = main_cf.expand_checked("transport_maps")?;
    report_expansion_problems(
        "transport_maps",
        &transport_value,
        &main_file,
        &mut warnings,
    );
    let master_cf = root
        .read_text(&format!("{config_dir}/master.cf"), safe_fs::MAIN_CF_LIMIT)
        .ok();
    let transport = TransportMaps::read(
        &mut reader,
        &transport_value,
        parent_matching(PostfixParam::TransportMaps),
        master_cf.as_deref(),
    );
    warnings.extend(reader.take_warnings());
    let table_mismatches = reader.take_mismatches();

    let myhostname = main_cf.expand_checked("myhostname")?.text;
    let this_host = vec![myhostname.clone()];
    // Transport overrides apply to the local and virtual mailbox classes;
    // virtual alias domains are rewritten before any transport is chosen.
    for (name, declared) in &places {
        let Some((first_class, _)) = declared.first() else {
            continue;
        };
        if !matches!(
            *first_class,
            PostfixParam::Mydestination | PostfixParam::VirtualMailboxDomains
        ) {
            continue;
        }
        let Some(m) = transport.lookup_domain(name.as_str()) else {
            continue;
        };
        if let Route::Elsewhere { .. } = transport.route(&m.value, &this_host) {
            builder.set_delivery(name, Delivery::Relay);
            builder.declare(
                name.clone(),
                Delivery::Relay,
                m.location.declared(PostfixParam::TransportMaps),
            );
        }
    }

    let mut inventory = Inventory::new(Platform::Postfix);
    match DomainName::parse(&myhostname) {
        Ok(name) => inventory.server_names.push(name),
        Err(e) if !myhostname.is_empty() => warnings.push(param_warning(
            WarningKind::InvalidDomain,
            &main_cf,
            "myhostname",
            format!("myhostname `{myhostname}` is not a valid domain name: {e}"),
        )),
        Err(_) => {}
    }
    let proxy = main_cf.expand_checked("proxy_interfaces")?;
    let mut proxy_seen = HashSet::new();
    for (_, token) in tables::split_tokens(&proxy.text) {
        let literal = token
            .strip_prefix('[')
            .and_then(|t| t.strip_suffix(']'))
            .unwrap_or(token);
        match literal.parse::<IpAddr>() {
            Ok(ip) => {
                if proxy_seen.insert(ip) {
                    inventory.server_addresses.push(ip);
                }
            }
            Err(_) => warnings.push(param_warning(
                WarningKind::Suspicious,
                &main_cf,
                "proxy_interfaces",
                format!(
                    "proxy_interfaces names `{token}`, not an address; mxdrift does not resolve it (give the address with --server-ip)"
                ),
            )),
        }
    }
    inventory.domains = builder.into_domains();
    inventory.table_mismatches = table_mismatches;
    let mut seen = HashSet::new();
    warnings.retain(|w| seen.insert(w.clone()));
    inventory.warnings = warnings;
    // A list or table that could not be read for lack of permission is a
    // failure, never an empty list (see `ConfigRoot::unreadable`).
    root.unreadable()?;
    Ok(PostfixConfig {
        inventory,
        main_cf,
        classes,
        transport,
    })
}

/// Postfix takes `myhostname` from the machine when main.cf does not set
/// it. Under a config root we cannot ask the machine, so: Debian's
/// `<root>/etc/mailname`, else the name given in the options, else the
/// running system's name when the root is `/`.
fn set_hostname_default(
    root: &ConfigRoot,
    opts: &PostfixOptions,
    main_cf: &mut MainCf,
    warnings: &mut Vec<InventoryWarning>,
) {
    if main_cf.get("myhostname").is_some() {
        return;
    }
    let mailname = root
        .read_text("/etc/mailname", safe_fs::SMALL_FILE_LIMIT)
        .ok()
        .and_then(|t| {
            let first = t.lines().next()?;
            let name = first.trim();
            let offset = first.len() - first.trim_start().len();
            Some((name.to_string(), offset))
        })
        .filter(|(name, _)| !name.is_empty());
    if let Some((name, offset)) = mailname {
        let origin = Origin {
            file: root.display("/etc/mailname"),
            line: 1,
            param: "myhostname".into(),
        };
        main_cf.set_hostname(&name, Some((origin, offset)));
        return;
    }
    if let Some(name) = opts.hostname.as_deref().filter(|n| !n.is_empty()) {
        main_cf.set_hostname(name, None);
        return;
    }
    if root.is_system_root() {
        // The kernel's host name, as Postfix asks it (gethostname).
        let system = Some(
            rustix::system::uname()
                .nodename()
                .to_string_lossy()
                .trim()
                .to_string(),
        )
        .filter(|t| !t.is_empty());
        if let Some(name) = system {
            main_cf.set_hostname(&name, None);
            return;
        }
    }
    warnings.push(InventoryWarning {
        kind: WarningKind::Suspicious,
        file: Some(main_cf.file().to_string()),
        line: None,
        parameter: Some("myhostname".into()),
        message: "myhostname is not set and the machine's name is unknown: $myhostname expands to nothing (give it with --server-name)".into(),
    });
}

fn param_warning(
    kind: WarningKind,
    main_cf: &MainCf,
    param: &str,
    message: String,
) -> InventoryWarning {
    InventoryWarning {
        kind,
        file: Some(main_cf.file().to_string()),
        line: main_cf.get(param).map(|d| d.line),
        parameter: Some(param.to_string()),
        message,
    }
}

fn report_expansion_problems(
    param: &str,
    value: &Expanded,
    main_file: &str,
    warnings: &mut Vec<InventoryWarning>,
) {
    for problem in &value.problems {
        warnings.push(InventoryWarning {
            kind: WarningKind::Suspicious,
            file: Some(main_file.to_string()),
            line: None,
            parameter: Some(param.to_string()),
            message: format!("{problem} (Postfix refuses to start with this)"),
        });
    }
}

/// A domain in two classes or twice in one list.
fn duplicate_warnings(
    places: &BTreeMap<DomainName, Vec<(PostfixParam, Location)>>,
) -> Vec<InventoryWarning> {
    let mut warnings = Vec::new();
    for (name, declared) in places {
        let Some(((first_class, first), rest)) = declared.split_first() else {
            continue;
        };
        for (class, loc) in rest {
            let message = if class == first_class {
                format!(
                    "{name} is listed twice in {class}: {} and {}",
                    show(first),
                    show(loc)
                )
            } else {
                format!(
                    "{name} is in both {first_class} ({}) and {class} ({}); Postfix uses {first_class}",
                    show(first),
                    show(loc)
                )
            };
            warnings.push(InventoryWarning {
                kind: WarningKind::DuplicateDomain,
                file: Some(loc.file.clone()),
                line: Some(loc.line),
                parameter: Some(class.as_str().to_string()),
                message,
            });
        }
    }
    warnings
}

fn show(location: &Location) -> String {
    match location.at {
        At::BuiltinDefault => format!("{} (built-in default)", location.file),
        At::CompiledKey => location.file.clone(),
        At::Text(_) => format!("{}:{}", location.file, location.line),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_say_how_each_file_of_the_classes_is_read() {
        let dir = tempfile::tempdir().unwrap();
        let etc = dir.path().join("etc/postfix");
        std::fs::create_dir_all(&etc).unwrap();
        std::fs::write(
            etc.join("main.cf"),
            "myhostname = mail.hoster.test\n\
             mydestination = $myhostname, /etc/postfix/local_domains\n\
             virtual_mailbox_domains = texthash:/etc/postfix/vdomains, hash:/etc/postfix/built\n",
        )
        .unwrap();
        std::fs::write(etc.join("local_domains"), "shop.test\n").unwrap();
        std::fs::write(etc.join("vdomains"), "moved.test OK\n").unwrap();
        // Only the compiled file, as postmap wrote it: no text source.
        std::fs::copy(
            concat!(env!("CARGO_MANIFEST_DIR"), "/testdata/compiled/hash-le.db"),
            etc.join("built.db"),
        )
        .unwrap();
        let config = read_config(&ConfigRoot::new(dir.path()), &PostfixOptions::default()).unwrap();
        let files = config.files();
        assert_eq!(files.main_cf, "etc/postfix/main.cf");
        assert_eq!(
            files.files.into_iter().collect::<Vec<_>>(),
            [
                ("etc/postfix/local_domains".to_string(), PostfixFile::List),
                ("etc/postfix/main.cf".to_string(), PostfixFile::MainCf),
                (
                    "etc/postfix/vdomains".to_string(),
                    PostfixFile::TableSource {
                        table_type: "texthash".into()
                    }
                ),
            ]
        );
        assert_eq!(
            files.compiled.into_iter().collect::<Vec<_>>(),
            [(
                "etc/postfix/built.db".to_string(),
                CompiledTable {
                    postmap_table: "hash:/etc/postfix/built".into(),
                    source: None,
                }
            )]
        );
    }
}
