//! Plesk: inventory of the fixtures in testdata/plesk/ (on qmail and on
//! Postfix).

mod platform_support;

use mxdrift::inventory::{Delivery, Platform};
use mxdrift::sources::PlatformChoice;
use platform_support::*;

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
