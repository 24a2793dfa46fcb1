//! cPanel: inventory of the fixtures in testdata/cpanel/.

mod platform_support;

use std::net::IpAddr;

use mxdrift::inventory::Platform;
use mxdrift::sources::{PlatformChoice, SourceError};
use platform_support::*;

#[test]
fn basic_inventory() {
    let inventory = read_fixture("cpanel/basic", Platform::Cpanel);
    assert_eq!(
        domain_rows(&inventory),
        vec![
            "backup.test local etc/localdomains:5(local_domains) owner=shopuser",
            "backupmx.test relay etc/secondarymx:1(relay_domains) + etc/remotedomains:3(remotedomains) owner=partner",
            "brokenmx.test local etc/localdomains:10(local_domains) owner=oldclient",
            "conflict.test local etc/localdomains:13(local_domains) + etc/remotedomains:4(remotedomains) owner=movedco",
            "expired.test local etc/localdomains:9(local_domains) owner=oldclient",
            "legacy.invalid local etc/localdomains:11(local_domains) owner=oldclient",
            "moved.test local etc/localdomains:4(local_domains) owner=movedco",
            "nomail.test local etc/localdomains:8(local_domains) owner=shopuser",
            "parked-off.test not-local etc/userdomains:14(userdomains) owner=oldclient",
            "remote365.test not-local etc/remotedomains:1(remotedomains) owner=remoteco",
            "shop.test local etc/localdomains:3(local_domains) + etc/localdomains:12(local_domains) owner=shopuser",
            "split.test local etc/localdomains:6(local_domains) owner=splitco",
            "stale-remote.test not-local etc/remotedomains:2(remotedomains) owner=remoteco",
            "web12.hoster.test local etc/hostname:1(primary_hostname)",
            "xn--bcher-kva.test local etc/localdomains:14(local_domains) owner=buchhandel",
        ]
    );
    assert_eq!(
        warning_rows(&inventory),
        vec![
            "DuplicateDomain etc/localdomains:12",
            "InvalidDomain etc/localdomains:15",
            "DuplicateDomain etc/remotedomains:4",
            "DuplicateDomain etc/userdomains:15",
        ]
    );
    let nat: IpAddr = "203.0.113.10".parse().unwrap();
    assert_eq!(inventory.server_addresses, vec![nat]);
    let names: Vec<&str> = inventory.server_names.iter().map(|n| n.as_str()).collect();
    assert_eq!(names, vec!["web12.hoster.test"]);
    assert_matches_expected(&inventory, "cpanel/basic");
}

#[test]
fn partial_config_repository_reads_what_is_there_and_says_what_is_missing() {
    let inventory = read_fixture("cpanel/partial", Platform::Cpanel);
    assert_eq!(
        domain_rows(&inventory),
        vec![
            "expired.test local etc/localdomains:4(local_domains) owner=oldclient",
            "moved.test local etc/localdomains:3(local_domains) owner=movedco",
            "shop.test local etc/localdomains:2(local_domains) owner=shopuser",
            "webonly.test not-local etc/userdomains:4(userdomains) owner=shopuser",
        ]
    );
    assert_eq!(
        warning_rows(&inventory),
        vec![
            "MissingFile etc/hostname:-",
            "MissingFile etc/secondarymx:-",
            "MissingFile etc/remotedomains:-",
        ]
    );
    assert!(inventory.server_addresses.is_empty());
    assert_matches_expected(&inventory, "cpanel/partial");
}

#[test]
fn wwwacct_host_is_the_fallback_and_a_disagreement_is_a_warning() {
    let dir = tempfile::tempdir().unwrap();
    let etc = dir.path().join("etc");
    std::fs::create_dir_all(dir.path().join("usr/local/cpanel")).unwrap();
    std::fs::create_dir_all(&etc).unwrap();
    for file in [
        "localdomains",
        "remotedomains",
        "secondarymx",
        "userdomains",
    ] {
        std::fs::write(etc.join(file), "").unwrap();
    }
    std::fs::write(
        etc.join("wwwacct.conf"),
        "ADDR 10.0.0.1\nHOST Cp1.Hoster.test\n",
    )
    .unwrap();
    let inventory = read(dir.path(), PlatformChoice::Auto).unwrap();
    assert_eq!(
        domain_rows(&inventory),
        vec!["cp1.hoster.test local etc/wwwacct.conf:2(primary_hostname)"]
    );
    assert!(inventory.warnings.is_empty(), "{:?}", inventory.warnings);

    std::fs::write(etc.join("hostname"), "cp2.hoster.test\n").unwrap();
    let inventory = read(dir.path(), PlatformChoice::Auto).unwrap();
    assert_eq!(
        domain_rows(&inventory),
        vec!["cp2.hoster.test local etc/hostname:1(primary_hostname)"]
    );
    assert_eq!(
        warning_rows(&inventory),
        vec!["Suspicious etc/wwwacct.conf:2"]
    );
}

#[test]
fn indented_line_and_bad_nat_line_are_warnings() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    std::fs::create_dir_all(root.join("etc")).unwrap();
    std::fs::create_dir_all(root.join("var/cpanel")).unwrap();
    std::fs::write(root.join("etc/localdomains"), "a.test\n  b.test\n").unwrap();
    std::fs::write(root.join("etc/userdomains"), "a.test: alice\n").unwrap();
    std::fs::write(root.join("etc/remotedomains"), "").unwrap();
    std::fs::write(root.join("etc/secondarymx"), "").unwrap();
    std::fs::write(root.join("etc/hostname"), "cp.hoster.test\n").unwrap();
    std::fs::write(
        root.join("var/cpanel/cpnat"),
        "10.0.0.5 not-an-ip\nfd00::5 2001:db8::5\n",
    )
    .unwrap();
    let inventory = read(root, PlatformChoice::Exactly(Platform::Cpanel)).unwrap();
    assert_eq!(
        warning_rows(&inventory),
        vec![
            "Suspicious etc/localdomains:2",
            "Suspicious var/cpanel/cpnat:1"
        ]
    );
    let v6: IpAddr = "2001:db8::5".parse().unwrap();
    assert_eq!(inventory.server_addresses, vec![v6]);
}

#[test]
fn unreadable_localdomains_is_an_error_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("usr/local/cpanel")).unwrap();
    // A directory where the file should be: reading it fails even as root.
    std::fs::create_dir_all(dir.path().join("etc/localdomains")).unwrap();
    match read(dir.path(), PlatformChoice::Auto) {
        Err(SourceError::File { file, .. }) => assert_eq!(file, "etc/localdomains"),
        other => panic!("expected a refused file for etc/localdomains, got {other:?}"),
    }
}
