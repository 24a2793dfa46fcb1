//! `transport_maps` (transport(5)): per-domain routing that overrides the
//! address class. Admins move a domain's mail to another host with
//! `example.org smtp:[example-org.mail.protection.outlook.com]` while the
//! domain stays in `virtual_mailbox_domains`; this module finds such
//! entries and decides whether they send mail off this machine.

use std::collections::BTreeSet;
use std::net::IpAddr;
use std::rc::Rc;

use super::Location;
use super::expand::Expanded;
use super::lexer::{Lexer, is_postfix_space};
use super::lists::{ListReader, location_of};
use super::tables::{TableLoad, TableSpec, fold_case, split_tokens};
use crate::inventory::WarningKind;

/// Services that are SMTP/LMTP clients when master.cf cannot be read
/// (Postfix's stock master.cf).
const DEFAULT_CLIENT_SERVICES: &[&str] = &["smtp", "relay", "lmtp"];

/// The transport entry that applies to a domain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransportMatch {
    /// The key that matched (`example.org`, `.example.org`, `*`).
    pub key: String,
    /// `transport:nexthop` as written.
    pub value: String,
    /// Where the entry is written.
    pub location: Location,
    /// The table, as written in `transport_maps`.
    pub table: String,
}

/// Where a transport entry sends a domain's mail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// Delivered on this machine: a local delivery agent, a pipe, a content
    /// filter on loopback, LMTP over a UNIX socket, `error:`/`discard:`, or
    /// the class's default transport (empty transport field).
    Here,
    /// Handed to an SMTP/LMTP client with a nexthop that is not this machine.
    Elsewhere {
        transport: String,
        /// The nexthop as written; empty means the domain's own MX hosts.
        nexthop: String,
    },
}

/// The tables of `transport_maps` and what master.cf says about services.
#[derive(Debug, Clone)]
pub struct TransportMaps {
    tables: Vec<(TableSpec, Rc<TableLoad>)>,
    /// `transport_maps` is in `parent_domain_matches_subdomains`: a key
    /// `example.com` also matches subdomains (else only `.example.com` does).
    parent_matching: bool,
    /// master.cf services that run the `smtp` or `lmtp` client.
    client_services: BTreeSet<String>,
    lmtp_services: BTreeSet<String>,
}

impl TransportMaps {
    /// Read the tables of the expanded `transport_maps` value. `master_cf`
    /// is the text of master.cf when it could be read.
    pub fn read(
        reader: &mut ListReader<'_>,
        value: &Expanded,
        parent_matching: bool,
        master_cf: Option<&str>,
    ) -> TransportMaps {
        let mut tables = Vec::new();
        for (offset, token) in split_tokens(&value.text) {
            let location = location_of(value, offset..offset + token.len());
            let Some(spec) = TableSpec::parse(token) else {
                reader.warn(
                    WarningKind::Suspicious,
                    "transport_maps",
                    &location,
                    format!("`{token}` is not a type:table lookup table; Postfix refuses to start"),
                );
                continue;
            };
            let load = reader.table(&spec, &location);
            match load.as_ref() {
                TableLoad::Loaded(_) => {}
                TableLoad::MatchesEverything { value } => reader.warn(
                    WarningKind::Suspicious,
                    "transport_maps",
                    &location,
                    format!("`{}` sends every domain to `{value}`", spec.raw),
                ),
                TableLoad::NotEnumerable { reason } => {
                    let reason = format!(
                        "{reason}; transport overrides in it are not seen, so a domain shown as local may be routed elsewhere"
                    );
                    reader.warn(
                        WarningKind::NotEnumerable,
                        "transport_maps",
                        &location,
                        reason,
                    );
                }
                TableLoad::Failed { reason } => {
                    let reason = format!("{reason}: Postfix defers mail that needs this lookup");
                    reader.warn(
                        WarningKind::LookupFailure,
                        "transport_maps",
                        &location,
                        reason,
                    );
                }
            }
            tables.push((spec, load));
        }
        let (client_services, lmtp_services) = match master_cf {
            Some(text) => client_services_from_master_cf(text),
            None => (
                DEFAULT_CLIENT_SERVICES
                    .iter()
                    .map(|s| s.to_string())
                    .collect(),
                BTreeSet::from(["lmtp".to_string()]),
            ),
        };
        TransportMaps {
            tables,
            parent_matching,
            client_services,
            lmtp_services,
        }
    }

    /// The entry transport(5) applies to mail for `domain`: the domain
    /// itself, then its parents (`.parent` keys, or plain parent keys when
    /// `transport_maps` is in `parent_domain_matches_subdomains`), then `*`.
    /// Each key is tried in every table before the next key.
    pub fn lookup_domain(&self, domain: &str) -> Option<TransportMatch> {
        let domain = fold_case(domain);
        let mut keys = vec![domain.clone()];
        for (i, _) in domain.char_indices().filter(|(_, c)| *c == '.') {
            let key = if self.parent_matching {
                domain.get(i + 1..)
            } else {
                domain.get(i..)
            };
            if let Some(k) = key.filter(|k| !k.is_empty() && *k != ".") {
                keys.push(k.to_string());
            }
        }
        keys.push("*".to_string());
        keys.iter().find_map(|key| {
            self.tables
                .iter()
                .find_map(|(spec, load)| match load.as_ref() {
                    TableLoad::Loaded(table) => table.get(key).map(|e| TransportMatch {
                        key: key.clone(),
                        value: e.value.to_string(),
                        location: e.location(),
                        table: spec.raw.clone(),
                    }),
                    _ => None,
                })
        })
    }

    /// Decide where a `transport:nexthop` value sends mail. `this_host`
    /// holds names of this machine (`myhostname`).
    ///
    /// The rule: only an SMTP or LMTP client (`smtp`, `relay`, `lmtp`, or a
    /// master.cf service running one) sends mail away, and only when its
    /// nexthop is not this machine. Loopback addresses, `localhost` and this
    /// machine's names are here (content filters such as
    /// `amavis:[127.0.0.1]:10024`, `relay:[127.0.0.1]:2525`); LMTP over a
    /// UNIX socket is here. An SMTP client with an empty nexthop looks up
    /// the domain's MX, which is elsewhere as far as local delivery goes.
    pub fn route(&self, value: &str, this_host: &[String]) -> Route {
        let (transport, nexthop) = value.split_once(':').unwrap_or((value, ""));
        let transport = transport.trim_matches(is_postfix_space);
        let nexthop = nexthop.trim_matches(is_postfix_space);
        if transport.is_empty() || !self.client_services.contains(transport) {
            return Route::Here;
        }
        let is_lmtp = self.lmtp_services.contains(transport);
        if nexthop.starts_with("unix:") {
            return Route::Here;
        }
        let target = nexthop.strip_prefix("inet:").unwrap_or(nexthop);
        if target.is_empty() {
            return if is_lmtp {
                Route::Here
            } else {
                Route::Elsewhere {
                    transport: transport.to_string(),
                    nexthop: String::new(),
                }
            };
        }
        let host = match target.strip_prefix('[') {
            Some(rest) => rest.split(']').next().unwrap_or(rest),
            None => target.split(':').next().unwrap_or(target),
        };
        let host = host.strip_prefix("ipv6:").unwrap_or(host);
        let host_folded = fold_case(host.trim_end_matches('.'));
        let loopback = host.parse::<IpAddr>().is_ok_and(|ip| match ip {
            IpAddr::V4(v4) => v4.is_loopback(),
            IpAddr::V6(v6) => {
                v6.is_loopback() || v6.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback())
            }
        });
        let this_machine = loopback
            || host_folded == "localhost"
            || host_folded.starts_with("localhost.")
            || this_host.iter().any(|h| fold_case(h) == host_folded);
        if this_machine {
            Route::Here
        } else {
            Route::Elsewhere {
                transport: transport.to_string(),
                nexthop: nexthop.to_string(),
            }
        }
    }
}

/// Services in master.cf whose command is the `smtp` or `lmtp` client
/// (field 8 of a service line), and those that speak LMTP.
fn client_services_from_master_cf(text: &str) -> (BTreeSet<String>, BTreeSet<String>) {
    let mut clients = BTreeSet::new();
    let mut lmtp = BTreeSet::new();
    for logical in Lexer::new(text).lines() {
        let joined = logical.joined();
        let fields: Vec<&str> = joined
            .split(is_postfix_space)
            .filter(|f| !f.is_empty())
            .collect();
        let (Some(service), Some(kind), Some(command)) =
            (fields.first(), fields.get(1), fields.get(7))
        else {
            continue;
        };
        if *kind != "unix" {
            continue;
        }
        match *command {
            "smtp" => {
                clients.insert(service.to_string());
            }
            "lmtp" => {
                clients.insert(service.to_string());
                lmtp.insert(service.to_string());
            }
            _ => {}
        }
    }
    (clients, lmtp)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sources::ConfigRoot;
    use crate::sources::postfix::maincf::MainCf;

    fn maps(
        transport: &str,
        main_cf: &str,
        master_cf: Option<&str>,
    ) -> (tempfile::TempDir, TransportMaps) {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("etc/postfix")).unwrap();
        std::fs::write(dir.path().join("etc/postfix/transport"), transport).unwrap();
        let root = ConfigRoot::new(dir.path());
        let mut cf = MainCf::parse("etc/postfix/main.cf", main_cf).unwrap();
        cf.set_hostname("mail.here.test", None);
        let mut reader = ListReader::new(&root, "/var/spool/postfix");
        let t = TransportMaps::read(
            &mut reader,
            &cf.expand_param("transport_maps"),
            false,
            master_cf,
        );
        (dir, t)
    }

    const MAIN: &str = "transport_maps = hash:/etc/postfix/transport\n";

    #[test]
    fn transport_exact_domain_then_dot_parent_then_wildcard() {
        let (_d, t) = maps(
            "a.test smtp:[x.test]\n.b.test relay:[y.test]\n* local:\n",
            MAIN,
            None,
        );
        let m = t.lookup_domain("A.test").unwrap();
        assert_eq!((m.key.as_str(), m.location.line), ("a.test", 1));
        assert_eq!(t.lookup_domain("sub.b.test").unwrap().key, ".b.test");
        // `.b.test` does not match b.test itself; the wildcard does.
        assert_eq!(t.lookup_domain("b.test").unwrap().key, "*");
    }

    #[test]
    fn transport_without_dot_matches_parent_only_with_parent_domain_matching() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("etc/postfix")).unwrap();
        std::fs::write(dir.path().join("etc/postfix/transport"), "b.test smtp:\n").unwrap();
        let root = ConfigRoot::new(dir.path());
        let mut cf = MainCf::parse("etc/postfix/main.cf", MAIN).unwrap();
        cf.set_hostname("h.test", None);
        let mut reader = ListReader::new(&root, "/q");
        let v = cf.expand_param("transport_maps");
        assert!(
            TransportMaps::read(&mut reader, &v, false, None)
                .lookup_domain("s.b.test")
                .is_none()
        );
        assert!(
            TransportMaps::read(&mut reader, &v, true, None)
                .lookup_domain("s.b.test")
                .is_some()
        );
    }

    #[test]
    fn transport_route_rule() {
        let (_d, t) = maps("", MAIN, None);
        let here = vec!["mail.here.test".to_string()];
        let elsewhere = |v: &str| matches!(t.route(v, &here), Route::Elsewhere { .. });
        assert!(elsewhere("smtp:[example-org.mail.protection.outlook.com]"));
        assert!(elsewhere("relay:[192.0.2.1]:25"));
        assert!(elsewhere("smtp:mx.example.net:587"));
        assert!(elsewhere("lmtp:inet:10.0.0.5:24"));
        assert!(elsewhere("smtp:"));
        assert!(!elsewhere("relay:[127.0.0.1]:2525"));
        assert!(!elsewhere("smtp:[::1]:10025"));
        assert!(!elsewhere("smtp:[ipv6:::1]"));
        assert!(!elsewhere("lmtp:unix:private/dovecot-lmtp"));
        assert!(!elsewhere("lmtp:inet:localhost:24"));
        assert!(!elsewhere("smtp:[mail.here.test]"));
        assert!(!elsewhere("local:"));
        assert!(!elsewhere("virtual:"));
        assert!(!elsewhere("error:5.1.1 gone"));
        assert!(!elsewhere(":[192.0.2.1]"));
        assert!(!elsewhere("dovecot"));
    }

    #[test]
    fn transport_services_come_from_master_cf() {
        let master = "smtp unix - - y - - smtp\nm365 unix - - y - -\n  smtp\namavis unix - - - - 2 smtp\nrelay unix - - - - - pipe\n";
        let (_d, t) = maps("", MAIN, Some(master));
        let here = vec![];
        assert!(matches!(
            t.route("m365:[o.test]", &here),
            Route::Elsewhere { .. }
        ));
        assert_eq!(t.route("amavis:[127.0.0.1]:10024", &here), Route::Here);
        assert_eq!(t.route("relay:[o.test]", &here), Route::Here);
    }
}
