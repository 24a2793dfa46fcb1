//! The cross-check against the real MTAs: Debian's Exim (`exim4 -C FILE
//! -be`) and Postfix (`postconf -c DIR`, `postmap -q -`), on configuration
//! installed in a scratch directory. The inventory is read by mxdrift from
//! one configuration; the MTA is then asked with a changed one, so the
//! planted disagreement is the change.

use std::path::Path;
use std::time::Duration;

use crate::common::exim_oracle::Exim;
use crate::common::require_tool;
use mxdrift::crosscheck::{self, Mta, MtaClass};
use mxdrift::inventory::{Delivery, Platform};
use mxdrift::sources::{ConfigRoot, PlatformChoice, SourceOptions, read_inventory};

fn inventory(root: &Path, platform: Platform) -> mxdrift::inventory::Inventory {
    read_inventory(&SourceOptions {
        root: ConfigRoot::new(root),
        platform: PlatformChoice::Exactly(platform),
        domains_file: None,
        hostname: Some("mx.hoster.test".into()),
    })
    .unwrap()
}

#[test]
fn exim_confirms_and_finds_the_planted_disagreement() {
    let Some(exim) = Exim::find() else {
        return;
    };
    let scratch = tempfile::tempdir().unwrap();
    let dir = scratch.path();
    let lists = "primary_hostname = mx.hoster.test\ndomainlist local_domains = @ : shop.test : moved.test\ndomainlist relay_to_domains = relayed.test\n";
    std::fs::create_dir_all(dir.join("etc")).unwrap();
    std::fs::write(dir.join("etc/exim.conf"), lists).unwrap();
    let inv = inventory(dir, Platform::Exim);
    // The MTA's configuration: moved.test is gone from local_domains.
    let mta_config = exim.write_config(&dir.join("mta"), &lists.replace(" : moved.test", ""));
    // A wrapper, so the unpacked Exim finds its libraries.
    let wrapper = dir.join("exim-wrapper");
    std::fs::write(
        &wrapper,
        format!(
            "#!/bin/sh\nLD_LIBRARY_PATH='{}' exec '{}' \"$@\"\n",
            exim.library_path,
            exim.binary.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(
        &wrapper,
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    let mta = Mta::Exim {
        binary: wrapper,
        config: Some(mta_config),
    };
    let result = crosscheck::check(
        &inv,
        &mta,
        &["local_domains", "relay_to_domains"],
        Duration::from_secs(30),
    )
    .unwrap();
    assert_eq!(result.confirmed, 3, "{result:?}");
    assert_eq!(result.disagreements.len(), 1, "{result:?}");
    let d = &result.disagreements[0];
    assert_eq!(
        (d.domain.as_str(), d.ours, d.theirs),
        ("moved.test", Delivery::Local, MtaClass::Neither)
    );
}

#[test]
fn postfix_confirms_and_finds_the_planted_disagreement() {
    let (Some(postconf), Some(postmap)) = (require_tool("postconf"), require_tool("postmap"))
    else {
        return;
    };
    let scratch = tempfile::tempdir().unwrap();
    let dir = scratch.path().canonicalize().unwrap();
    let etc = dir.join("etc/postfix");
    std::fs::create_dir_all(&etc).unwrap();
    let table = etc.join("vmailbox");
    std::fs::write(&table, "shop.test x\nmoved.test x\n").unwrap();
    let main_cf = format!(
        "compatibility_level = 3.6\nmyhostname = mx.hoster.test\nmydestination = $myhostname, localhost\nvirtual_mailbox_domains = hash:{}\nrelay_domains = relayed.test\n",
        table.display()
    );
    std::fs::write(etc.join("main.cf"), &main_cf).unwrap();
    let built = std::process::Command::new(&postmap)
        .arg("-c")
        .arg(&etc)
        .arg(format!("hash:{}", table.display()))
        .status()
        .unwrap();
    assert!(built.success());
    // mxdrift reads the root: the table's absolute path leads back into it.
    let link = dir.join(dir.strip_prefix("/").unwrap());
    std::fs::create_dir_all(link.parent().unwrap()).unwrap();
    std::os::unix::fs::symlink("/", &link).unwrap();
    let inv = inventory(&dir, Platform::Postfix);
    // Then the table loses moved.test, as a panel would change it.
    std::fs::write(&table, "shop.test x\n").unwrap();
    let rebuilt = std::process::Command::new(&postmap)
        .arg("-c")
        .arg(&etc)
        .arg(format!("hash:{}", table.display()))
        .status()
        .unwrap();
    assert!(rebuilt.success());
    let mta = Mta::Postfix {
        postconf,
        postmap,
        config_dir: Some(etc.clone()),
    };
    let result = crosscheck::check(&inv, &mta, &[], Duration::from_secs(30)).unwrap();
    let wrong: Vec<(String, MtaClass)> = result
        .disagreements
        .iter()
        .map(|d| (d.domain.to_string(), d.theirs))
        .collect();
    assert_eq!(
        wrong,
        [("moved.test".to_string(), MtaClass::Neither)],
        "{result:?}"
    );
    assert_eq!(result.confirmed, inv.domains.len() - 1);
}

#[test]
fn a_tool_that_never_ends_is_stopped_at_the_limit() {
    let scratch = tempfile::tempdir().unwrap();
    let tool = scratch.path().join("slow-exim");
    std::fs::write(&tool, "#!/bin/sh\nexec sleep 30\n").unwrap();
    std::fs::set_permissions(&tool, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let started = std::time::Instant::now();
    let error = crosscheck::ask(
        &Mta::Exim {
            binary: tool,
            config: None,
        },
        &[mxdrift::inventory::DomainName::parse("a.test").unwrap()],
        &["local_domains"],
        Duration::from_millis(300),
    )
    .unwrap_err();
    assert!(
        matches!(error, crosscheck::CrossCheckError::TimedOut { .. }),
        "{error}"
    );
    assert!(started.elapsed() < Duration::from_secs(10));
}
