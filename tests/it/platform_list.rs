//! Plain domain list (`--domains FILE`): inventory of testdata/list/.

use std::path::PathBuf;

use crate::common::platform::*;
use mxdrift::inventory::Platform;
use mxdrift::sources::{PlatformChoice, SourceError, SourceOptions, read_inventory};

/// The list as a user would pass it: a relative path (tests run in the
/// package directory), with a root that holds nothing.
fn list_options(file: &str, platform: PlatformChoice) -> (tempfile::TempDir, SourceOptions) {
    let empty_root = tempfile::tempdir().unwrap();
    let mut opts = options(empty_root.path(), platform);
    opts.domains_file = Some(PathBuf::from(file));
    (empty_root, opts)
}

const LIST: &str = "testdata/list/basic/domains.txt";

#[test]
fn basic_inventory_declared_at_the_file_as_given() {
    let (_root, opts) = list_options(LIST, PlatformChoice::Auto);
    let inventory = read_inventory(&opts).unwrap();
    assert_eq!(inventory.platform, Platform::List);
    let rows: Vec<String> = domain_rows(&inventory)
        .into_iter()
        .map(|row| row.replace(LIST, "L"))
        .collect();
    assert_eq!(
        rows,
        vec![
            "backup.test local L:6(domains file)",
            "brokenmx.test local L:10(domains file)",
            "expired.test local L:9(domains file)",
            "legacy.invalid local L:11(domains file)",
            "moved.test local L:5(domains file)",
            "nomail.test local L:8(domains file)",
            "shop.test local L:4(domains file) + L:13(domains file)",
            "split.test local L:7(domains file)",
            "xn--bcher-kva.test local L:12(domains file)",
        ]
    );
    assert_eq!(
        warning_rows(&inventory),
        vec![
            format!("DuplicateDomain {LIST}:13"),
            format!("InvalidDomain {LIST}:14"),
        ]
    );
    assert_matches_expected(&inventory, "list/basic");
}

#[test]
fn explicit_platform_list_reads_the_same() {
    let (_root, opts) = list_options(LIST, PlatformChoice::Exactly(Platform::List));
    let inventory = read_inventory(&opts).unwrap();
    assert_eq!(inventory.domains.len(), 9);
}

#[test]
fn missing_list_is_an_error_naming_it() {
    let (_root, opts) = list_options("testdata/list/basic/absent.txt", PlatformChoice::Auto);
    match read_inventory(&opts) {
        Err(SourceError::Io { file, .. }) => assert_eq!(file, "testdata/list/basic/absent.txt"),
        other => panic!("expected an Io error, got {other:?}"),
    }
}

#[test]
fn domains_with_another_platform_is_a_usage_error() {
    let (_root, opts) = list_options(LIST, PlatformChoice::Exactly(Platform::Cpanel));
    let error = read_inventory(&opts).unwrap_err();
    assert!(matches!(error, SourceError::Usage(_)), "{error:?}");
    assert!(error.to_string().contains("--domains"), "{error}");
}

#[test]
fn platform_list_without_domains_is_a_usage_error() {
    let root = tempfile::tempdir().unwrap();
    let error = read(root.path(), PlatformChoice::Exactly(Platform::List)).unwrap_err();
    assert!(matches!(error, SourceError::Usage(_)), "{error:?}");
}
