//! cPanel: inventory of the fixtures in testdata/cpanel/.

use std::net::IpAddr;

use crate::common::platform::*;
use mxdrift::inventory::Platform;
use mxdrift::sources::{PlatformChoice, SourceError};

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
            // `bücher.test` in localdomains never matches the A-label
            // mail is addressed to: the owned domain has its mail off.
            "xn--bcher-kva.test not-local etc/userdomains:10(userdomains) owner=buchhandel",
        ]
    );
    assert_eq!(
        warning_rows(&inventory),
        vec![
            "DuplicateDomain etc/localdomains:12",
            "InvalidDomain etc/localdomains:14",
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
            "MissingFile etc/userdatadomains:-",
            "MissingFile var/cpanel/users:-",
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
        "userdatadomains",
    ] {
        std::fs::write(etc.join(file), "").unwrap();
    }
    std::fs::create_dir_all(dir.path().join("var/cpanel/users")).unwrap();
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
    std::fs::write(root.join("etc/userdatadomains"), "").unwrap();
    std::fs::create_dir_all(root.join("var/cpanel/users")).unwrap();
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

/// The routing fixture is written the way cPanel writes its files: manual
/// MX redirects, Email Routing settings in the cpuser files, a system
/// domain, an addon domain's internal subdomain, the host name cPanel
/// puts into localdomains, and two hand edits (a trailing dot, a CRLF).
#[test]
fn routing_inventory() {
    let inventory = read_fixture("cpanel/routing", Platform::Cpanel);
    assert_eq!(
        domain_rows(&inventory),
        vec![
            "addon.main.test local etc/localdomains:3(local_domains) owner=mainuser",
            "addon.test local etc/localdomains:4(local_domains) owner=mainuser",
            // In localdomains and the host name: no duplicate warning.
            "cp3.hoster.test local etc/localdomains:1(local_domains) + etc/hostname:1(primary_hostname)",
            // Exim removes the CR of a CRLF line: it matches.
            "crlf.test local etc/localdomains:10(local_domains) owner=mainuser",
            "forced.test local etc/localdomains:5(local_domains) owner=forceduser",
            "main.test local etc/localdomains:2(local_domains) owner=mainuser",
            "moved.test local etc/localdomains:6(local_domains) owner=mainuser",
            // manualmx runs before local delivery: relayed, declared there first.
            "relayed-manual.test relay etc/manualmx:1(manualmx) + etc/localdomains:8(local_domains) owner=mainuser",
            "remote.test not-local etc/remotedomains:1(remotedomains) owner=forceduser",
            "secondary.test relay etc/secondarymx:1(relay_domains) + etc/remotedomains:2(remotedomains) owner=forceduser",
            "system-dom.test local etc/localdomains:7(local_domains) owner=nobody",
            // `trailing-dot.test.` in localdomains never matches.
            "trailing-dot.test not-local etc/userdomains:12(userdomains) owner=mainuser",
        ]
    );
    assert_eq!(
        fact_rows(&inventory),
        vec![
            "addon.main.test addon_of=addon.test",
            // Exim reads `crlf.test\r`; cPanel's remlinefile cannot remove it.
            "crlf.test hands_off=[etc/localdomains:10 is written so that cPanel's own tools cannot remove it]",
            "forced.test hands_off=[cPanel Email Routing is forced to Local (MXCHECK-forced.test=0 at var/cpanel/users/forceduser:11)]",
            "system-dom.test hands_off=[owned by nobody, a cPanel system domain without an account (var/cpanel/users/system:3)]",
        ]
    );
    assert_eq!(
        warning_rows(&inventory),
        vec![
            "InvalidDomain etc/localdomains:9",
            "Suspicious var/cpanel/users/mainuser:17",
        ]
    );
    let trailing = &inventory.warnings[0];
    assert!(
        trailing.message.contains("never matches trailing-dot.test")
            && trailing.message.ends_with("remove the trailing dot"),
        "{}",
        trailing.message
    );
    assert_matches_expected(&inventory, "cpanel/routing");
}

/// A cPanel tree from a list of (path, bytes).
fn cpanel_tree(files: &[(&str, &[u8])]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("usr/local/cpanel")).unwrap();
    std::fs::create_dir_all(dir.path().join("var/cpanel/users")).unwrap();
    for (rel, bytes) in files {
        let path = dir.path().join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, bytes).unwrap();
    }
    for rel in [
        "etc/localdomains",
        "etc/remotedomains",
        "etc/secondarymx",
        "etc/userdomains",
        "etc/userdatadomains",
        "etc/hostname",
    ] {
        let path = dir.path().join(rel);
        if !path.exists() {
            let default = if rel == "etc/hostname" {
                "cp.hoster.test\n"
            } else {
                ""
            };
            std::fs::write(path, default).unwrap();
        }
    }
    dir
}

#[test]
fn manualmx_relays_local_domains_and_reads_like_exim() {
    let dir = cpanel_tree(&[
        (
            "etc/localdomains",
            b"one.test\ntwo.test\nthree.test\nfour.test\n",
        ),
        ("etc/remotedomains", b"off.test\n"),
        (
            "etc/manualmx",
            // Exim's lsearch: the first line of a key wins; an empty host
            // makes the manualmx router decline; a trailing dot never
            // matches; foreign domains only route outgoing mail.
            b"One.Test: mx.one.example\none.test: later.example\ntwo.test:\nthree.test.: mx.three.example\noff.test: 192.0.2.25\nforeign.example: smarthost.example\n",
        ),
    ]);
    let inventory = read(dir.path(), PlatformChoice::Auto).unwrap();
    assert_eq!(
        domain_rows(&inventory),
        vec![
            "cp.hoster.test local etc/hostname:1(primary_hostname)",
            "four.test local etc/localdomains:4(local_domains)",
            "off.test not-local etc/manualmx:5(manualmx) + etc/remotedomains:1(remotedomains)",
            "one.test relay etc/manualmx:1(manualmx) + etc/localdomains:1(local_domains)",
            "three.test local etc/localdomains:3(local_domains)",
            "two.test local etc/localdomains:2(local_domains)",
        ]
    );
    assert_eq!(
        warning_rows(&inventory),
        vec![
            "DuplicateDomain etc/manualmx:2",
            "Suspicious etc/manualmx:3",
            "InvalidDomain etc/manualmx:4",
        ]
    );
}

#[test]
fn mxcheck_is_read_from_the_owners_file_only() {
    let dir = cpanel_tree(&[
        ("etc/localdomains", b"a.test\nb.test\nc.test\n"),
        (
            "etc/userdomains",
            b"*: nobody\na.test: alice\nb.test: bob\nc.test: nobody\n",
        ),
        // Alice forces b.test local, but b.test is Bob's: cPanel ignores it.
        (
            "var/cpanel/users/alice",
            b"DNS=a.test\nMXCHECK-a.test=local\nMXCHECK-b.test=0\nUSER=alice\n",
        ),
        (
            "var/cpanel/users/bob",
            b"DNS=b.test\nMXCHECK-b.test=secondary\nUSER=bob\n",
        ),
    ]);
    let inventory = read(dir.path(), PlatformChoice::Auto).unwrap();
    assert_eq!(
        fact_rows(&inventory),
        vec![
            "a.test hands_off=[cPanel Email Routing is forced to Local (MXCHECK-a.test=local at var/cpanel/users/alice:2)]",
            "c.test hands_off=[owned by nobody, a cPanel system domain without an account (etc/userdomains:4)]",
        ]
    );
    assert!(inventory.warnings.is_empty(), "{:?}", inventory.warnings);
}
