//! DirectAdmin: inventory of the fixtures in testdata/directadmin/.

use crate::common::platform::*;
use mxdrift::inventory::Platform;
use mxdrift::sources::PlatformChoice;

#[test]
fn basic_inventory() {
    let inventory = read_fixture("directadmin/basic", Platform::Directadmin);
    assert_eq!(
        domain_rows(&inventory),
        vec![
            "backup.test local etc/virtual/domains:3(local_domains) owner=alice",
            "brokenmx.test local etc/virtual/domains:7(local_domains) owner=dave",
            // A CRLF line: Exim removes trailing white space, CR included.
            "crlf.test local etc/virtual/domains:15(local_domains) owner=bob",
            "da1.hoster.test local usr/local/directadmin/conf/directadmin.conf:3(primary_hostname)",
            "expired.test local etc/virtual/domains:6(local_domains) owner=dave",
            "gsuite.test not-local etc/virtual/domainowners:11(domainowners) owner=bob",
            "legacy.invalid local etc/virtual/domains:8(local_domains) owner=dave",
            "moved.test local etc/virtual/domains:2(local_domains) + etc/virtual/domains:10(local_domains) owner=bob",
            "nomail.test local etc/virtual/domains:5(local_domains) owner=alice",
            "shop.test local etc/virtual/domains:1(local_domains) owner=alice",
            "split.test local etc/virtual/domains:4(local_domains) owner=carol",
            // `trailing-dot.test.` and `bücher.test` never match the names
            // mail is addressed to: their owned domains have mail off.
            "trailing-dot.test not-local etc/virtual/domainowners:12(domainowners) owner=alice",
            "webonly.test not-local etc/virtual/domainowners:10(domainowners) owner=alice",
            "xn--bcher-kva.test not-local etc/virtual/domainowners:9(domainowners) owner=erika",
        ]
    );
    assert_eq!(
        warning_rows(&inventory),
        vec![
            "DuplicateDomain etc/virtual/domains:10",
            "Suspicious etc/virtual/domains:11",
            "InvalidDomain etc/virtual/domains:12",
            "InvalidDomain etc/virtual/domains:13",
            "InvalidDomain etc/virtual/domains:14",
        ]
    );
    let never: Vec<&str> = inventory
        .warnings
        .iter()
        .filter(|w| w.message.contains("never matches"))
        .map(|w| w.message.as_str())
        .collect();
    assert_eq!(never.len(), 2, "{never:?}");
    assert!(
        never[0].contains("write xn--bcher-kva.test"),
        "{}",
        never[0]
    );
    assert!(
        never[1].ends_with("remove the trailing dot"),
        "{}",
        never[1]
    );
    let names: Vec<&str> = inventory.server_names.iter().map(|n| n.as_str()).collect();
    assert_eq!(names, vec!["da1.hoster.test"]);
    assert_matches_expected(&inventory, "directadmin/basic");
}

#[test]
fn partial_tree_with_only_the_domains_file() {
    let inventory = read_fixture("directadmin/partial", Platform::Directadmin);
    assert_eq!(
        domain_rows(&inventory),
        vec![
            "nomail.test local etc/virtual/domains:3(local_domains)",
            "shop.test local etc/virtual/domains:2(local_domains)",
        ]
    );
    assert_eq!(
        warning_rows(&inventory),
        vec![
            "MissingFile usr/local/directadmin/conf/directadmin.conf:-",
            "MissingFile etc/virtual/domainowners:-",
        ]
    );
    assert_matches_expected(&inventory, "directadmin/partial");
}

#[test]
fn etc_hostname_is_the_fallback_primary_host_name() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    std::fs::create_dir_all(root.join("etc/virtual")).unwrap();
    std::fs::write(root.join("etc/virtual/domains"), "").unwrap();
    std::fs::write(root.join("etc/virtual/domainowners"), "").unwrap();
    std::fs::write(root.join("etc/hostname"), "\nda2.hoster.test\n").unwrap();
    let inventory = read(root, PlatformChoice::Auto).unwrap();
    assert_eq!(inventory.platform, Platform::Directadmin);
    assert_eq!(
        domain_rows(&inventory),
        vec!["da2.hoster.test local etc/hostname:2(primary_hostname)"]
    );
    assert!(inventory.warnings.is_empty(), "{:?}", inventory.warnings);
}

#[test]
fn unreadable_domainowners_is_an_error_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    std::fs::create_dir_all(root.join("etc/virtual/domainowners")).unwrap();
    std::fs::write(root.join("etc/virtual/domains"), "a.test\n").unwrap();
    match read(root, PlatformChoice::Auto) {
        Err(mxdrift::sources::SourceError::File { file, .. }) => {
            assert_eq!(file, "etc/virtual/domainowners")
        }
        other => panic!("expected a refused file, got {other:?}"),
    }
}
