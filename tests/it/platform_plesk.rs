//! Plesk: inventory of the fixtures in testdata/plesk/ (on qmail and on
//! Postfix).

use crate::common::fixture;
use crate::common::platform::*;
use mxdrift::inventory::{Delivery, Platform};
use mxdrift::sources::PlatformChoice;

const C: &str = "var/qmail/control";

#[test]
fn plesk_on_qmail_inventory() {
    let inventory = read_fixture("plesk/qmail", Platform::Plesk);
    let rows: Vec<String> = domain_rows(&inventory)
        .into_iter()
        .map(|row| row.replace(&format!("{C}/"), ""))
        .collect();
    assert_eq!(
        rows,
        vec![
            "backup.test local virtualdomains:3(virtualdomains) + rcpthosts:4(rcpthosts)",
            "brokenmx.test local virtualdomains:7(virtualdomains) + rcpthosts:8(rcpthosts)",
            "expired.test local virtualdomains:6(virtualdomains) + rcpthosts:7(rcpthosts)",
            "gmailonly.test not-local var/www/vhosts/system/gmailonly.test:0(plesk hosting)",
            "legacy.invalid local virtualdomains:8(virtualdomains) + rcpthosts:9(rcpthosts)",
            "moved.test local virtualdomains:2(virtualdomains) + rcpthosts:3(rcpthosts) subscription",
            "nomail.test local virtualdomains:5(virtualdomains) + rcpthosts:6(rcpthosts)",
            "relayed.test relay rcpthosts:11(rcpthosts)",
            "shop.test local virtualdomains:1(virtualdomains) + rcpthosts:2(rcpthosts) subscription",
            "split.test local virtualdomains:4(virtualdomains) + virtualdomains:11(virtualdomains) + rcpthosts:5(rcpthosts)",
            "web11.hoster.test local locals:1(locals) + rcpthosts:1(rcpthosts)",
            "webonly.test not-local var/www/vhosts/system/webonly.test:0(plesk hosting) subscription",
            "xn--bcher-kva.test local virtualdomains:9(virtualdomains) + rcpthosts:10(rcpthosts)",
        ]
    );
    assert_eq!(
        warning_rows(&inventory),
        vec![format!("DuplicateDomain {C}/virtualdomains:11")]
    );
    assert_matches_expected(&inventory, "plesk/qmail");
}

#[test]
fn plesk_without_vhosts_says_hosted_domains_are_unknown() {
    let dir = tempfile::tempdir().unwrap();
    let control = dir.path().join(C);
    std::fs::create_dir_all(dir.path().join("usr/local/psa")).unwrap();
    std::fs::create_dir_all(&control).unwrap();
    std::fs::write(control.join("me"), "p.hoster.test\n").unwrap();
    std::fs::write(control.join("locals"), "p.hoster.test\n").unwrap();
    std::fs::write(control.join("virtualdomains"), "").unwrap();
    std::fs::write(control.join("rcpthosts"), "p.hoster.test\n").unwrap();
    let inventory = read(dir.path(), PlatformChoice::Auto).unwrap();
    assert_eq!(inventory.platform, Platform::Plesk);
    assert_eq!(
        warning_rows(&inventory),
        vec!["MissingFile var/www/vhosts/system:-"]
    );
    assert_eq!(inventory.domains.len(), 1);
    assert_eq!(inventory.domains[0].delivery, Delivery::Local);
}

/// Plesk on Postfix: local domains and the transport override come from
/// the Postfix reader; Plesk adds the hosted domains with mail off and the
/// subscription flags.
#[test]
fn plesk_on_postfix_inventory() {
    let inventory = read_fixture("plesk/postfix", Platform::Plesk);
    let maps = "var/spool/postfix/plesk";
    let rows: Vec<String> = domain_rows(&inventory)
        .into_iter()
        .map(|row| {
            row.replace(&format!("{maps}/"), "")
                .replace("(virtual_mailbox_domains)", "")
        })
        .collect();
    assert_eq!(
        rows,
        vec![
            "alias.test local virtual_domains:15",
            "backup.test local virtual_domains:4",
            "blog.shop.test not-local var/www/vhosts/system/blog.shop.test:0(plesk hosting)",
            "brokenmx.test local virtual_domains:9",
            "cnamemx.test local virtual_domains:11",
            "expired.test local virtual_domains:8",
            "gmailonly.test not-local var/www/vhosts/system/gmailonly.test:0(plesk hosting)",
            "legacy.invalid local virtual_domains:10",
            "mailonly-alias.test local virtual_domains:16",
            "moved.test local virtual_domains:3 subscription",
            "nomail.test local virtual_domains:7",
            "o365.test relay virtual_domains:12 + transport:2(transport_maps) subscription",
            "shop.test local virtual_domains:2 subscription",
            "split.test local virtual_domains:5",
            "web10.hoster.test local etc/postfix/main.cf:9(mydestination)",
            "webonly.test not-local var/www/vhosts/system/webonly.test:0(plesk hosting) subscription",
            "xn--bcher-kva.test local virtual_domains:13",
        ]
    );
    // Domain aliases have no hosting directory: `alias.test` is named by
    // shop.test's web configuration, `mailonly-alias.test` by none.
    let facts = fact_rows(&inventory);
    assert!(
        facts.contains(&"alias.test alias_of=shop.test".to_string()),
        "{facts:?}"
    );
    assert!(facts.contains(&"shop.test hosted".to_string()), "{facts:?}");
    assert!(
        facts.contains(&"blog.shop.test hosted".to_string()),
        "{facts:?}"
    );
    assert!(
        !facts.iter().any(|f| f.starts_with("mailonly-alias.test")),
        "{facts:?}"
    );
    // Plesk adds no warnings of its own for this tree.
    let plesk_warnings: Vec<String> = warning_rows(&inventory)
        .into_iter()
        .filter(|w| w.contains("var/www/"))
        .collect();
    assert!(plesk_warnings.is_empty(), "{plesk_warnings:?}");
    let names: Vec<&str> = inventory.server_names.iter().map(|n| n.as_str()).collect();
    assert!(names.contains(&"web10.hoster.test"), "{names:?}");
    assert_matches_expected(&inventory, "plesk/postfix");
}

#[test]
fn plesk_chosen_explicitly_reads_the_same_tree() {
    let inventory = read(
        &fixture("plesk/postfix"),
        PlatformChoice::Exactly(Platform::Plesk),
    )
    .unwrap();
    assert_eq!(inventory.platform, Platform::Plesk);
    let o365 = inventory
        .domains
        .iter()
        .find(|d| d.name.as_str() == "o365.test")
        .unwrap();
    assert_eq!(o365.delivery, Delivery::Relay);
}
