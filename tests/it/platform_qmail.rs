//! qmail: inventory of the fixture in testdata/qmail/.

use crate::common::platform::*;
use mxdrift::inventory::Platform;
use mxdrift::sources::PlatformChoice;

const C: &str = "var/qmail/control";

#[test]
fn basic_inventory() {
    let inventory = read_fixture("qmail/basic", Platform::Qmail);
    let rows: Vec<String> = domain_rows(&inventory)
        .into_iter()
        .map(|row| row.replace(&format!("{C}/"), ""))
        .collect();
    assert_eq!(
        rows,
        vec![
            "backup.test local virtualdomains:3(virtualdomains) + rcpthosts:4(rcpthosts)",
            "brokenmx.test local virtualdomains:7(virtualdomains) + rcpthosts:8(rcpthosts)",
            // `crlf.test\r` in locals never matches: accepted, not local.
            "crlf.test relay rcpthosts:13(rcpthosts)",
            "excluded.test relay rcpthosts:12(rcpthosts)",
            "expired.test local virtualdomains:6(virtualdomains) + rcpthosts:7(rcpthosts)",
            "gateway.test relay morercpthosts:2(morercpthosts)",
            // ` lead.test:lead.test` in virtualdomains never matches.
            "lead.test relay rcpthosts:14(rcpthosts)",
            "legacy.invalid local virtualdomains:8(virtualdomains) + rcpthosts:9(rcpthosts)",
            "moved.test local virtualdomains:2(virtualdomains) + rcpthosts:3(rcpthosts)",
            "mx3.hoster.test local locals:2(locals) + rcpthosts:1(rcpthosts)",
            "nomail.test local virtualdomains:5(virtualdomains) + rcpthosts:6(rcpthosts)",
            "relayed.test relay rcpthosts:11(rcpthosts) + morercpthosts:3(morercpthosts)",
            "shop.test local locals:3(locals) + virtualdomains:10(virtualdomains) + rcpthosts:2(rcpthosts)",
            "split.test local virtualdomains:4(virtualdomains) + rcpthosts:5(rcpthosts)",
            // `bücher.test:...` never matches the A-label mail carries.
            "xn--bcher-kva.test relay rcpthosts:10(rcpthosts)",
        ]
    );
    assert_eq!(
        warning_rows(&inventory),
        vec![
            format!("InvalidDomain {C}/locals:4"),
            format!("InvalidDomain {C}/virtualdomains:11"),
            format!("NotEnumerable {C}/virtualdomains:12"),
            format!("Suspicious {C}/virtualdomains:13"),
            format!("InvalidDomain {C}/virtualdomains:15"),
            // Duplicates are known once the whole file is read (the last
            // line of a domain decides).
            format!("DuplicateDomain {C}/virtualdomains:10"),
            format!("DuplicateDomain {C}/morercpthosts:3"),
        ]
    );
    let never: Vec<&str> = inventory
        .warnings
        .iter()
        .filter(|w| w.message.contains("never matches"))
        .map(|w| w.message.as_str())
        .collect();
    assert_eq!(never.len(), 3, "{never:?}");
    assert!(never[0].contains("carriage return"), "{}", never[0]);
    assert!(
        never[1].contains("write xn--bcher-kva.test"),
        "{}",
        never[1]
    );
    assert!(never[2].contains("keeps the blank"), "{}", never[2]);
    let names: Vec<&str> = inventory.server_names.iter().map(|n| n.as_str()).collect();
    assert_eq!(names, vec!["mx3.hoster.test"]);
    assert_matches_expected(&inventory, "qmail/basic");
}

#[test]
fn local_domain_missing_from_rcpthosts_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    let control = dir.path().join(C);
    std::fs::create_dir_all(&control).unwrap();
    std::fs::write(control.join("me"), "q.hoster.test\n").unwrap();
    std::fs::write(control.join("locals"), "localhost\nq.hoster.test\n").unwrap();
    std::fs::write(control.join("virtualdomains"), "inner.test:inner\n").unwrap();
    std::fs::write(control.join("rcpthosts"), "q.hoster.test\n.wild.test\n").unwrap();
    let inventory = read(dir.path(), PlatformChoice::Auto).unwrap();
    assert_eq!(inventory.platform, Platform::Qmail);
    // localhost is never accepted from outside and that is fine.
    assert_eq!(
        warning_rows(&inventory),
        vec![
            format!("NotEnumerable {C}/rcpthosts:2"),
            format!("Suspicious {C}/virtualdomains:1"),
        ]
    );
}

#[test]
fn missing_control_files_are_warnings() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join(C)).unwrap();
    let inventory = read(dir.path(), PlatformChoice::Auto).unwrap();
    assert_eq!(inventory.platform, Platform::Qmail);
    assert!(inventory.domains.is_empty());
    assert_eq!(
        warning_rows(&inventory),
        vec![
            format!("MissingFile {C}/me:-"),
            format!("MissingFile {C}/locals:-"),
            format!("MissingFile {C}/virtualdomains:-"),
            format!("MissingFile {C}/rcpthosts:-"),
        ]
    );
}

#[test]
fn unreadable_locals_is_an_error_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    // A directory where the file should be: reading it fails even as root.
    std::fs::create_dir_all(dir.path().join(C).join("locals")).unwrap();
    match read(dir.path(), PlatformChoice::Auto) {
        Err(mxdrift::sources::SourceError::File { file, .. }) => {
            assert_eq!(file, format!("{C}/locals"))
        }
        other => panic!("expected a refused file, got {other:?}"),
    }
}
