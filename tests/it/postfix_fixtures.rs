//! The Postfix reader on realistic fixture trees (testdata/postfix/<case>):
//! exact `declared` places, deliveries, warnings and the syntax error.

use mxdrift::inventory::{Declared, Delivery, Inventory, WarningKind};
use mxdrift::sources::ConfigRoot;
use mxdrift::sources::postfix::{self, PostfixOptions};

fn fixture(case: &str) -> ConfigRoot {
    ConfigRoot::new(
        concat!(env!("CARGO_MANIFEST_DIR"), "/testdata/postfix").to_string() + "/" + case,
    )
}

fn read(case: &str) -> Inventory {
    let opts = PostfixOptions {
        hostname: Some("fallback.example".into()),
        ..PostfixOptions::default()
    };
    postfix::read(&fixture(case), &opts).unwrap()
}

fn declared(file: &str, line: u32, via: &str) -> Declared {
    Declared::new(file, line, via.parse().unwrap())
}

fn domain<'a>(inv: &'a Inventory, name: &str) -> &'a mxdrift::inventory::KnownDomain {
    inv.domains
        .iter()
        .find(|d| d.name.as_str() == name)
        .unwrap_or_else(|| panic!("{name} not in inventory: {:#?}", inv.domains))
}

#[test]
fn hosting_fixture_domains_deliveries_and_declared_places() {
    let inv = read("hosting");
    let names: Vec<&str> = inv.domains.iter().map(|d| d.name.as_str()).collect();
    assert_eq!(
        names,
        vec![
            "alias.test",
            "backup-mx.test",
            "filtered.test",
            "localhost",
            "localhost.hoster.test",
            "moved.test",
            "oldname.test",
            "stays.test",
            "web10.hoster.test",
            "xn--bcher-kva.test",
        ]
    );
    let main = "etc/postfix/main.cf";
    let vdomains = "var/spool/postfix/plesk/virtual_domains";
    assert_eq!(
        domain(&inv, "web10.hoster.test").declared,
        vec![declared(main, 3, "mydestination")]
    );
    // `localhost.$mydomain`: the name starts on line 6, in main.cf itself.
    assert_eq!(
        domain(&inv, "localhost.hoster.test").declared,
        vec![declared(main, 6, "mydestination")]
    );
    // A continuation line after a comment line.
    let old = domain(&inv, "oldname.test");
    assert_eq!(old.delivery, Delivery::Local);
    assert_eq!(
        old.declared,
        vec![
            declared(main, 9, "mydestination"),
            declared(vdomains, 6, "virtual_mailbox_domains")
        ]
    );
    assert_eq!(
        domain(&inv, "localhost").declared,
        vec![declared(main, 7, "mydestination")]
    );
    assert_eq!(
        domain(&inv, "stays.test").declared,
        vec![declared(vdomains, 3, "virtual_mailbox_domains")]
    );
    assert_eq!(domain(&inv, "stays.test").delivery, Delivery::Local);
    let moved = domain(&inv, "moved.test");
    assert_eq!(moved.delivery, Delivery::Relay);
    assert_eq!(
        moved.declared,
        vec![
            declared(vdomains, 2, "virtual_mailbox_domains"),
            declared("var/spool/postfix/plesk/transport", 2, "transport_maps"),
        ]
    );
    // A content filter on loopback keeps the domain local.
    assert_eq!(domain(&inv, "filtered.test").delivery, Delivery::Local);
    assert_eq!(domain(&inv, "xn--bcher-kva.test").declared[0].line, 4);
    let alias = domain(&inv, "alias.test");
    assert_eq!(alias.delivery, Delivery::Local);
    assert_eq!(
        alias.declared,
        vec![declared(
            "var/spool/postfix/plesk/virtual",
            1,
            "virtual_alias_domains"
        )]
    );
    let backup = domain(&inv, "backup-mx.test");
    assert_eq!(backup.delivery, Delivery::Relay);
    assert_eq!(
        backup.declared,
        vec![declared("etc/postfix/relay_domains", 1, "relay_domains")]
    );
}

#[test]
fn hosting_fixture_server_identity() {
    let inv = read("hosting");
    assert_eq!(inv.server_names.len(), 1);
    assert_eq!(inv.server_names[0].as_str(), "web10.hoster.test");
    let addrs: Vec<String> = inv.server_addresses.iter().map(|a| a.to_string()).collect();
    assert_eq!(addrs, vec!["203.0.113.10", "2001:db8::10"]);
}

#[test]
fn hosting_fixture_warnings() {
    let inv = read("hosting");
    let find = |kind: WarningKind| -> Vec<&mxdrift::inventory::InventoryWarning> {
        inv.warnings.iter().filter(|w| w.kind == kind).collect()
    };
    let pcre = find(WarningKind::NotEnumerable);
    assert_eq!(pcre.len(), 1, "{:#?}", inv.warnings);
    assert_eq!(pcre[0].parameter.as_deref(), Some("virtual_alias_domains"));
    assert!(pcre[0].message.contains("pcre:/etc/postfix/virtual_regexp"));
    assert_eq!(
        (pcre[0].file.as_deref(), pcre[0].line),
        (Some("etc/postfix/main.cf"), Some(16))
    );

    let missing = find(WarningKind::LookupFailure);
    assert_eq!(missing.len(), 1, "{:#?}", inv.warnings);
    assert_eq!(missing[0].parameter.as_deref(), Some("relay_domains"));
    assert!(missing[0].message.contains("etc/postfix/backup_domains"));

    let dup = find(WarningKind::DuplicateDomain);
    assert_eq!(dup.len(), 1, "{:#?}", inv.warnings);
    assert!(dup[0].message.contains("oldname.test"));
    assert!(dup[0].message.contains("etc/postfix/main.cf:9"));
    assert!(
        dup[0]
            .message
            .contains("var/spool/postfix/plesk/virtual_domains:6")
    );

    let invalid = find(WarningKind::InvalidDomain);
    assert_eq!(invalid.len(), 1, "{:#?}", inv.warnings);
    assert_eq!(
        (invalid[0].file.as_deref(), invalid[0].line),
        (Some("var/spool/postfix/plesk/virtual_domains"), Some(7))
    );
    assert_eq!(inv.warnings.len(), 4, "{:#?}", inv.warnings);
}

#[test]
fn syntax_error_names_file_and_line() {
    let err = postfix::read(&fixture("syntax-error"), &PostfixOptions::default()).unwrap_err();
    assert_eq!(
        err.to_string(),
        "etc/postfix/main.cf:5: missing '=' after parameter name"
    );
}

#[test]
fn missing_main_cf_is_an_io_error() {
    let dir = tempfile::tempdir().unwrap();
    let err = postfix::read(&ConfigRoot::new(dir.path()), &PostfixOptions::default()).unwrap_err();
    assert!(
        err.to_string().starts_with("etc/postfix/main.cf: "),
        "{err}"
    );
}

#[test]
fn mailname_supplies_myhostname_and_defaults_are_declared_at_line_zero() {
    let inv = read("mailname-default");
    assert_eq!(inv.server_names[0].as_str(), "box.mailname.test");
    assert_eq!(
        domain(&inv, "box.mailname.test").declared,
        vec![declared("etc/mailname", 1, "mydestination")]
    );
    // `localhost.$mydomain`: "localhost." is default text.
    assert_eq!(
        domain(&inv, "localhost.mailname.test").declared,
        vec![declared(
            "etc/postfix/main.cf",
            0,
            "mydestination (default)"
        )]
    );
    let dup: Vec<_> = inv
        .warnings
        .iter()
        .filter(|w| w.kind == WarningKind::DuplicateDomain)
        .collect();
    assert_eq!(dup.len(), 1, "{:#?}", inv.warnings);
    assert!(
        dup[0]
            .message
            .contains("listed twice in virtual_alias_domains")
    );
    // relay_domains defaults to $mydestination at compatibility level 0:
    // not a duplicate, and mydestination wins.
    assert!(inv.domains.iter().all(|d| d.delivery == Delivery::Local));
}
