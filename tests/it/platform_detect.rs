//! `--platform auto`: which platform the files under the root say.

use std::path::Path;

use crate::common::fixture;
use crate::common::platform::*;
use mxdrift::inventory::Platform;
use mxdrift::sources::{PlatformChoice, SourceError, detect};

fn detect_at(root: &Path) -> Result<Platform, SourceError> {
    detect(&options(root, PlatformChoice::Auto))
}

/// A temporary root holding the given paths: a trailing `/` makes a
/// directory, anything else an empty file.
fn tree(paths: &[&str]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for path in paths {
        let full = dir.path().join(path);
        if path.ends_with('/') {
            std::fs::create_dir_all(&full).unwrap();
        } else {
            std::fs::create_dir_all(full.parent().unwrap()).unwrap();
            std::fs::write(&full, "").unwrap();
        }
    }
    dir
}

#[test]
fn every_fixture_is_detected_as_its_platform() {
    for (fixture_dir, platform) in [
        ("plesk/postfix", Platform::Plesk),
        ("plesk/qmail", Platform::Plesk),
        ("cpanel/basic", Platform::Cpanel),
        ("cpanel/partial", Platform::Cpanel),
        ("cpanel/routing", Platform::Cpanel),
        ("directadmin/basic", Platform::Directadmin),
        ("directadmin/partial", Platform::Directadmin),
        ("qmail/basic", Platform::Qmail),
    ] {
        assert_eq!(
            detect_at(&fixture(fixture_dir)).unwrap(),
            platform,
            "{fixture_dir}"
        );
    }
}

#[test]
fn each_marker_alone_decides() {
    for (paths, platform) in [
        (&["usr/local/psa/"][..], Platform::Plesk),
        (&["var/spool/postfix/plesk/"][..], Platform::Plesk),
        (&["usr/local/cpanel/"][..], Platform::Cpanel),
        (
            &["etc/localdomains", "etc/userdomains"][..],
            Platform::Cpanel,
        ),
        (&["usr/local/directadmin/"][..], Platform::Directadmin),
        (&["etc/virtual/domains"][..], Platform::Directadmin),
        (&["var/qmail/control/"][..], Platform::Qmail),
        (&["etc/postfix/main.cf"][..], Platform::Postfix),
    ] {
        let root = tree(paths);
        assert_eq!(detect_at(root.path()).unwrap(), platform, "{paths:?}");
    }
}

#[test]
fn a_panel_wins_over_the_mail_server_it_runs() {
    for (paths, platform) in [
        (
            &["usr/local/psa/", "etc/postfix/main.cf"][..],
            Platform::Plesk,
        ),
        (
            &["usr/local/psa/", "var/qmail/control/"][..],
            Platform::Plesk,
        ),
        (
            &["usr/local/cpanel/", "etc/postfix/main.cf"][..],
            Platform::Cpanel,
        ),
        (
            &["etc/virtual/domains", "etc/postfix/main.cf"][..],
            Platform::Directadmin,
        ),
    ] {
        let root = tree(paths);
        assert_eq!(detect_at(root.path()).unwrap(), platform, "{paths:?}");
    }
}

#[test]
fn half_a_marker_is_no_marker() {
    // etc/localdomains alone appears on other Exim servers too.
    let root = tree(&["etc/localdomains"]);
    assert!(matches!(
        detect_at(root.path()),
        Err(SourceError::NothingDetected { .. })
    ));
    // A directory marker must be a directory.
    let root = tree(&["usr/local/psa"]);
    assert!(matches!(
        detect_at(root.path()),
        Err(SourceError::NothingDetected { .. })
    ));
}

#[test]
fn two_panels_are_ambiguous_and_the_error_says_what_was_found() {
    let root = tree(&[
        "usr/local/cpanel/",
        "etc/virtual/domains",
        "etc/postfix/main.cf",
    ]);
    let error = detect_at(root.path()).unwrap_err();
    match &error {
        SourceError::Ambiguous { found, .. } => assert_eq!(
            found,
            "cpanel: usr/local/cpanel/; directadmin: etc/virtual/domains"
        ),
        other => panic!("expected Ambiguous, got {other:?}"),
    }
    assert!(error.to_string().contains("--platform"), "{error}");
}

#[test]
fn two_mail_servers_without_a_panel_are_ambiguous() {
    let root = tree(&["var/qmail/control/", "etc/postfix/main.cf"]);
    match detect_at(root.path()) {
        Err(SourceError::Ambiguous { found, .. }) => assert_eq!(
            found,
            "qmail: var/qmail/control/; postfix: etc/postfix/main.cf"
        ),
        other => panic!("expected Ambiguous, got {other:?}"),
    }
}

/// Debian's default MTA is Exim; installing Postfix removes Exim's
/// programs but keeps `/etc/exim4`. The installed programs decide.
#[test]
fn the_mail_server_whose_programs_are_installed_wins_over_leftover_configuration() {
    let debian_postfix = tree(&[
        "etc/postfix/main.cf",
        "etc/exim4/update-exim4.conf.conf",
        "usr/sbin/postfix",
    ]);
    assert_eq!(detect_at(debian_postfix.path()).unwrap(), Platform::Postfix);
    let debian_exim = tree(&[
        "etc/postfix/main.cf",
        "etc/exim4/update-exim4.conf.conf",
        "usr/sbin/exim4",
    ]);
    assert_eq!(detect_at(debian_exim.path()).unwrap(), Platform::Exim);
    // A configuration checkout (no programs) or both installed: the admin
    // must say which with --platform.
    for programs in [&[][..], &["usr/sbin/postfix", "usr/sbin/exim4"][..]] {
        let mut paths = vec!["etc/postfix/main.cf", "etc/exim4/update-exim4.conf.conf"];
        paths.extend_from_slice(programs);
        let root = tree(&paths);
        assert!(
            matches!(detect_at(root.path()), Err(SourceError::Ambiguous { .. })),
            "{programs:?}"
        );
    }
}

#[test]
fn exim_and_hestiacp_are_detected() {
    let root = tree(&["etc/exim4/update-exim4.conf.conf"]);
    assert_eq!(detect_at(root.path()).unwrap(), Platform::Exim);
    let root = tree(&["var/lib/exim4/config.autogenerated"]);
    assert_eq!(detect_at(root.path()).unwrap(), Platform::Exim);
    // HestiaCP runs Debian's exim4: the panel wins.
    let root = tree(&["usr/local/hestia/", "etc/exim4/update-exim4.conf.conf"]);
    assert_eq!(detect_at(root.path()).unwrap(), Platform::Hestiacp);
}

#[test]
fn an_empty_root_lists_everything_looked_for() {
    let root = tempfile::tempdir().unwrap();
    let error = detect_at(root.path()).unwrap_err();
    let SourceError::NothingDetected { looked_for, .. } = &error else {
        panic!("expected NothingDetected, got {error:?}");
    };
    assert_eq!(
        looked_for,
        "plesk: usr/local/psa/ or var/spool/postfix/plesk/; \
         cpanel: usr/local/cpanel/ or etc/localdomains + etc/userdomains; \
         directadmin: usr/local/directadmin/ or etc/virtual/domains; \
         hestiacp: usr/local/hestia/; \
         qmail: var/qmail/control/; \
         postfix: etc/postfix/main.cf; \
         exim: etc/exim4/update-exim4.conf.conf or etc/exim4/exim4.conf or \
         var/lib/exim4/config.autogenerated or etc/exim/exim.conf or etc/exim/configure or \
         usr/exim/configure or etc/exim.conf; \
         list: --domains FILE"
    );
}

#[test]
fn a_missing_root_is_an_io_error() {
    let root = tempfile::tempdir().unwrap();
    let missing = root.path().join("not-there");
    assert!(matches!(detect_at(&missing), Err(SourceError::Io { .. })));
}

#[test]
fn a_domains_file_means_platform_list_whatever_the_root_holds() {
    let root = tree(&["usr/local/cpanel/"]);
    let mut opts = options(root.path(), PlatformChoice::Auto);
    opts.domains_file = Some(fixture("list/basic/domains.txt"));
    assert_eq!(detect(&opts).unwrap(), Platform::List);
}
