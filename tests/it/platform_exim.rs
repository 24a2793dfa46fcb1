//! Exim and HestiaCP: inventories of testdata/exim/ and testdata/hestiacp/,
//! where each name is declared (file, line, the name's bytes), and the
//! cPanel and DirectAdmin readers' check of their `etc/exim.conf`.

use crate::common::fixture;
use crate::common::platform::*;
use mxdrift::inventory::Platform;
use mxdrift::sources::PlatformChoice;

#[test]
fn debian_update_exim4_conf_inventory() {
    let inventory = read_fixture("exim/debian", Platform::Exim);
    let conf = "etc/exim4/update-exim4.conf.conf";
    let rows = domain_rows(&inventory);
    for row in [
        format!("shop.test local {conf}:7(local_domains)"),
        format!("backup.test local {conf}:7(local_domains)"),
        format!("relayed.test relay {conf}:10(relay_to_domains)"),
        // `@` and `localhost` are update-exim4.conf's own: on no line.
        format!("mail1.hoster.test local {conf}:0(local_domains)"),
        format!("localhost local {conf}:0(local_domains)"),
    ] {
        assert!(rows.contains(&row), "{row} not in {rows:#?}");
    }
    assert_matches_expected(&inventory, "exim/debian");
    // Every name written in the file has its bytes recorded, for the diff.
    let text = std::fs::read(fixture("exim/debian").join(conf)).unwrap();
    for domain in &inventory.domains {
        for place in domain.declared.iter().filter(|p| p.line > 0) {
            let span = place
                .span
                .unwrap_or_else(|| panic!("{} has no span", domain.name));
            let written = String::from_utf8_lossy(&text[span.start..span.end]).to_ascii_lowercase();
            assert_eq!(written, domain.name.as_str());
        }
    }
}

#[test]
fn hestiacp_mail_domains_are_the_directories() {
    let inventory = read_fixture("hestiacp/basic", Platform::Hestiacp);
    let rows = domain_rows(&inventory);
    assert!(
        // The owner from HestiaCP's usr/local/hestia/data/users/alice/mail.conf.
        rows.contains(
            &"shop.test local etc/exim4/domains/:0(local_domains) owner=alice".to_string()
        ),
        "{rows:#?}"
    );
    // `Upper.test`: Exim looks the lower-case domain up; it never matches.
    assert!(
        !rows.iter().any(|r| r.starts_with("upper.test")),
        "{rows:#?}"
    );
    assert_matches_expected(&inventory, "hestiacp/basic");
}

#[test]
fn a_hand_written_config_with_macros_declares_at_the_macro() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("etc/exim")).unwrap();
    std::fs::write(
        dir.path().join("etc/exim/exim.conf"),
        "primary_hostname = mx.hoster.test\nLOCALS = shop.test : \\\n  other.test\ndomainlist local_domains = @ : LOCALS : lsearch;/etc/exim/more : !*.sub.test : ^.*\\.regex\\.test : after.test\n",
    )
    .unwrap();
    std::fs::write(dir.path().join("etc/exim/more"), "listed.test: x\n").unwrap();
    let inventory = read(dir.path(), PlatformChoice::Auto).unwrap();
    assert_eq!(inventory.platform, Platform::Exim);
    assert_eq!(
        domain_rows(&inventory),
        [
            "listed.test local etc/exim/more:1(local_domains)",
            // Declared where `@` stands.
            "mx.hoster.test local etc/exim/exim.conf:4(local_domains)",
            "other.test local etc/exim/exim.conf:3(local_domains)",
            "shop.test local etc/exim/exim.conf:2(local_domains)",
        ]
    );
    let warnings = warning_rows(&inventory);
    assert!(
        warnings
            .iter()
            .any(|w| w.starts_with("NotEnumerable etc/exim/exim.conf:4")),
        "{warnings:#?}"
    );
}

#[test]
fn cpanel_and_directadmin_check_their_exim_conf() {
    for (fixture_dir, list) in [
        ("cpanel/basic", "/etc/localdomains"),
        ("directadmin/basic", "/etc/virtual/domains"),
    ] {
        let dir = tempfile::tempdir().unwrap();
        copy_tree(&fixture(fixture_dir), dir.path());
        let conf = dir.path().join("etc/exim.conf");
        std::fs::write(
            &conf,
            format!("domainlist local_domains = lsearch;{list}\n"),
        )
        .unwrap();
        let inventory = read(dir.path(), PlatformChoice::Auto).unwrap();
        assert!(
            !warning_rows(&inventory)
                .iter()
                .any(|w| w.contains("etc/exim.conf")),
            "{fixture_dir}"
        );
        std::fs::write(&conf, "domainlist local_domains = lsearch;/etc/other\n").unwrap();
        let inventory = read(dir.path(), PlatformChoice::Auto).unwrap();
        let warnings = warning_rows(&inventory);
        assert!(
            warnings
                .iter()
                .any(|w| w.starts_with("Suspicious etc/exim.conf:1")),
            "{fixture_dir}: {warnings:#?}"
        );
    }
}

fn copy_tree(from: &std::path::Path, to: &std::path::Path) {
    for entry in walkdir::WalkDir::new(from) {
        let entry = entry.unwrap();
        let target = to.join(entry.path().strip_prefix(from).unwrap());
        if entry.file_type().is_dir() {
            std::fs::create_dir_all(&target).unwrap();
        } else if entry.file_type().is_file() {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

#[test]
fn debian_generated_config_declares_names_at_dc_other_hostnames() {
    let inventory = read_fixture("exim/debian-generated", Platform::Exim);
    let rows = domain_rows(&inventory);
    for row in [
        "moved.test local etc/exim4/update-exim4.conf.conf:7(local_domains)",
        // What update-exim4.conf adds itself stays at the generated macro.
        "localhost local var/lib/exim4/config.autogenerated:6(local_domains)",
        "relayed.test relay var/lib/exim4/config.autogenerated:7(relay_to_domains)",
    ] {
        assert!(rows.contains(&row.to_string()), "{row} not in {rows:#?}");
    }
    assert!(!rows.iter().any(|r| r.starts_with("new.test")), "{rows:#?}");
    assert_eq!(
        warning_rows(&inventory),
        ["StaleTable etc/exim4/update-exim4.conf.conf:7"]
    );
    assert_matches_expected(&inventory, "exim/debian-generated");
}
