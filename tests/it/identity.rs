//! Who "here" is (issue 10, part 2), end to end through the binary, offline
//! (zone files) and live (the in-process DNS server serving the same zone):
//! - the fix and DirectAdmin fixtures without `proxy_interfaces` or
//!   `--server-ip` judge an MX that is the server's own name "here", and
//!   the fix is the same as with the address given;
//! - a cPanel server behind NAT is known by its `var/cpanel/cpnat`;
//! - where nothing is known, the audit reports `identity-unconfirmed` with
//!   what it tried, and `fix` refuses: exit 2, nothing printed, nothing
//!   written, until the server is named.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Output;

use crate::common::dns_server::DnsServer;
use crate::common::report::{Rows, expected_rows, rows};
use crate::common::{copy_fixture, fixture, run_mxdrift, run_mxdrift_blocking, snapshot};
use hickory_proto::rr::RecordType;

fn strings(args: &[&str]) -> Vec<String> {
    args.iter().map(|a| a.to_string()).collect()
}

/// How DNS is answered: the fixture's zone file, or a live server.
#[derive(Clone)]
enum Dns {
    Offline(PathBuf),
    Live(String),
}

impl Dns {
    fn args(&self) -> Vec<String> {
        match self {
            Dns::Offline(zone) => strings(&["--zone-file", zone.to_str().unwrap()]),
            Dns::Live(ns) => strings(&["--nameserver", ns, "--timeout", "2"]),
        }
    }
}

async fn audit(root: &Path, dns: &Dns, extra: &[&str]) -> serde_json::Value {
    let mut args = strings(&["audit", "--format", "json", "--fail-on", "never", "--root"]);
    args.push(root.to_str().unwrap().to_string());
    args.extend(dns.args());
    args.extend(strings(extra));
    let out = run_mxdrift_blocking(args).await;
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

async fn fix(root: &Path, dns: &Dns, extra: &[&str]) -> Output {
    let mut args = strings(&["fix", "--root"]);
    args.push(root.to_str().unwrap().to_string());
    args.extend(dns.args());
    args.extend(strings(extra));
    run_mxdrift_blocking(args).await
}

fn verdict<'a>(t: &'a Rows, domain: &str) -> &'a str {
    &t.get(domain)
        .unwrap_or_else(|| panic!("{domain} missing: {t:?}"))
        .1
}

fn run_findings<'a>(doc: &'a serde_json::Value, rule: &str) -> Vec<&'a serde_json::Value> {
    doc["run_findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["rule"] == rule)
        .collect()
}

fn addresses(doc: &serde_json::Value) -> Vec<&str> {
    doc["server"]["addresses"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect()
}

/// Edit a file of a fixture copy.
fn edit(root: &Path, rel: &str, change: impl Fn(&str) -> String) {
    let path = root.join(rel);
    let text = fs::read_to_string(&path).unwrap();
    fs::write(&path, change(&text)).unwrap();
}

fn without_lines(text: &str, starting: &str) -> String {
    text.lines()
        .filter(|l| !l.starts_with(starting))
        .map(|l| format!("{l}\n"))
        .collect()
}

/// Each test runs its scenario offline and then live.
async fn both_ways<F, Fut>(zone: &Path, scenario: F)
where
    F: Fn(Dns) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    scenario(Dns::Offline(zone.to_path_buf())).await;
    let server = DnsServer::start(&fs::read_to_string(zone).unwrap()).await;
    scenario(Dns::Live(server.addr().to_string())).await;
}

/// The fix fixture as a server behind NAT holds it: no `proxy_interfaces`
/// (commented out, so that the lines keep their numbers).
fn fix_fixture_behind_nat() -> tempfile::TempDir {
    let dir = copy_fixture("fix/postfix");
    edit(dir.path(), "etc/postfix/main.cf", |t| {
        t.replace(
            "proxy_interfaces = 203.0.113.10",
            "#proxy_interfaces = (not set)",
        )
    });
    dir
}

/// ...whose host name is nowhere in DNS: nothing tells who it is.
fn fix_fixture_unknown() -> tempfile::TempDir {
    let dir = fix_fixture_behind_nat();
    edit(dir.path(), "etc/postfix/main.cf", |t| {
        t.replace(
            "myhostname = mail.hoster.test",
            "myhostname = box1.internal.lan",
        )
    });
    dir
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fix_fixture_without_proxy_interfaces_is_here_by_its_own_name() {
    let original = fixture("fix/postfix");
    let nat = fix_fixture_behind_nat();
    let zone = original.join("zones/test.zone");
    both_ways(&zone, |dns| {
        let original = original.clone();
        let nat = nat.path().to_path_buf();
        async move {
            let doc = audit(&nat, &dns, &[]).await;
            let got = rows(&doc);
            for here in [
                "shop.test",
                "stays.test",
                "forward.test",
                "mail.hoster.test",
            ] {
                assert_eq!(verdict(&got, here), "here", "{here}: {got:?}");
            }
            assert_eq!(verdict(&got, "backup.test"), "backup");
            assert_eq!(verdict(&got, "split.test"), "mixed");
            assert_eq!(verdict(&got, "moved.test"), "elsewhere");
            assert!(run_findings(&doc, "identity-unconfirmed").is_empty());
            // Exactly what the audit with proxy_interfaces says.
            let with_proxy = rows(&audit(&original, &dns, &[]).await);
            assert_eq!(got, with_proxy);
            // And the same fix, shop.test and its like untouched.
            let fixed = fix(&nat, &dns, &[]).await;
            assert_eq!(
                fixed.status.code(),
                Some(0),
                "{}",
                String::from_utf8_lossy(&fixed.stderr)
            );
            let reference = fix(&original, &dns, &[]).await;
            assert_eq!(
                String::from_utf8_lossy(&fixed.stdout),
                String::from_utf8_lossy(&reference.stdout)
            );
            let diff = String::from_utf8_lossy(&fixed.stdout);
            assert!(diff.contains("-    shop.test, moved.test,"), "{diff}");
            assert!(diff.contains("+    shop.test,"), "{diff}");
            assert!(diff.contains("+forward.test\n"), "{diff}");
            assert!(
                !diff.lines().any(|l| l.starts_with("-stays.test")),
                "{diff}"
            );
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_own_name_wins_over_a_contradicting_address() {
    // The configuration states another public address (192.0.2.99): the
    // DNS address of mail.hoster.test contradicts it and is not counted,
    // but an MX host named mail.hoster.test is this server by its name.
    let dir = copy_fixture("fix/postfix");
    edit(dir.path(), "etc/postfix/main.cf", |t| {
        t.replace(
            "proxy_interfaces = 203.0.113.10",
            "proxy_interfaces = 192.0.2.99",
        )
    });
    let zone = dir.path().join("zones/test.zone");
    both_ways(&zone, |dns| {
        let root = dir.path().to_path_buf();
        async move {
            let doc = audit(&root, &dns, &[]).await;
            let got = rows(&doc);
            assert_eq!(verdict(&got, "shop.test"), "here");
            assert_eq!(verdict(&got, "backup.test"), "backup");
            assert_eq!(addresses(&doc), ["192.0.2.99"]);
            let notes: Vec<&str> = doc["notes"]
                .as_array()
                .unwrap()
                .iter()
                .map(|n| n.as_str().unwrap())
                .collect();
            assert!(
                notes.iter().any(|n| n.starts_with(
                    "mail.hoster.test (a name of this server) resolves to 203.0.113.10"
                ) && n.ends_with("pass --server-ip 203.0.113.10")),
                "{notes:?}"
            );
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn directadmin_fixture_without_server_ip_matches_expected() {
    let root = fixture("directadmin/basic");
    let zone = root.join("zones/test.zone");
    both_ways(&zone, |dns| {
        let root = root.clone();
        async move {
            let doc = audit(&root, &dns, &[]).await;
            let mut got = rows(&doc);
            let mut want = expected_rows("directadmin/basic");
            if matches!(dns, Dns::Live(_)) {
                // hickory answers `.invalid` itself (RFC 6761).
                got.retain(|d, _| !d.ends_with(".invalid"));
                want.retain(|d, _| !d.ends_with(".invalid"));
            }
            assert_eq!(got, want);
            // The public address was learned from DNS of da1.hoster.test.
            assert_eq!(addresses(&doc), ["203.0.113.10"]);
            assert!(run_findings(&doc, "identity-unconfirmed").is_empty());
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cpanel_behind_nat_is_known_by_its_cpnat() {
    let root = fixture("cpanel/nat");
    let zone = root.join("zones/test.zone");
    let without_cpnat = copy_fixture("cpanel/nat");
    fs::remove_file(without_cpnat.path().join("var/cpanel/cpnat")).unwrap();
    both_ways(&zone, |dns| {
        let root = root.clone();
        let without_cpnat = without_cpnat.path().to_path_buf();
        async move {
            let doc = audit(&root, &dns, &[]).await;
            assert_eq!(rows(&doc), expected_rows("cpanel/nat"));
            // 203.0.113.21 has no name: only cpnat knows it.
            assert_eq!(addresses(&doc), ["203.0.113.20", "203.0.113.21"]);
            // Without the NAT map the host name's DNS address still
            // confirms the identity, but the second public address is
            // unknown and blog.test looks moved.
            let doc = audit(&without_cpnat, &dns, &[]).await;
            let got = rows(&doc);
            assert_eq!(verdict(&got, "shop.test"), "here");
            assert_eq!(verdict(&got, "blog.test"), "elsewhere");
            assert_eq!(addresses(&doc), ["203.0.113.20"]);
        }
    })
    .await;
}

fn assert_refused(out: &Output, what: &str) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{what}: {stderr}");
    assert!(
        out.stdout.is_empty(),
        "{what}: printed a change:\n{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(
        stderr.contains("fix refuses to change anything")
            && stderr.contains("identity-unconfirmed")
            && stderr.contains("--server-ip")
            && stderr.contains("--server-name"),
        "{what}: {stderr}"
    );
    assert!(!stderr.contains("fixed:"), "{what}: {stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn where_nothing_is_known_the_audit_says_so_and_fix_refuses() {
    let unknown = fix_fixture_unknown();
    let zone = unknown.path().join("zones/test.zone");
    both_ways(&zone, |dns| {
        let root = unknown.path().to_path_buf();
        async move {
            let doc = audit(&root, &dns, &[]).await;
            let found = run_findings(&doc, "identity-unconfirmed");
            assert_eq!(found.len(), 1, "{}", doc["run_findings"]);
            assert_eq!(found[0]["severity"], "critical");
            let evidence: Vec<&str> = found[0]["evidence"]
                .as_array()
                .unwrap()
                .iter()
                .map(|l| l.as_str().unwrap())
                .collect();
            for wanted in [
                "interfaces: not read",
                "addresses in the configuration (proxy_interfaces, var/cpanel/cpnat): none",
                "names in the configuration (myhostname, the panel's host name, qmail's me): box1.internal.lan",
                "given by the admin (--server-ip, --server-name, server: in mxdrift.yaml): none",
                "DNS: box1.internal.lan A: ",
                "local domains elsewhere (7): backup.test, forward.test, moved.test, shop.test",
                "local domains that neither confirm nor contradict: 1 null-mx, 1 nxdomain",
            ] {
                assert!(
                    evidence.iter().any(|l| l.starts_with(wanted)),
                    "{wanted}: {evidence:#?}"
                );
            }
            assert!(addresses(&doc).is_empty());

            let before = snapshot(&root);
            for (what, extra) in [
                ("diff", vec![]),
                ("commands", vec!["--commands"]),
                ("json plan", vec!["--format", "json"]),
                ("apply", vec!["--apply"]),
            ] {
                assert_refused(&fix(&root, &dns, &extra).await, what);
                assert_eq!(snapshot(&root), before, "{what}: the tree changed");
            }

            // Named by the admin, on the command line or in mxdrift.yaml:
            // the domains at mail.hoster.test are here, and fix goes on.
            let named = fix(&root, &dns, &["--server-name", "mail.hoster.test"]).await;
            assert_eq!(named.status.code(), Some(0));
            let diff = String::from_utf8_lossy(&named.stdout);
            assert!(diff.contains("-    shop.test, moved.test,"), "{diff}");
            assert!(diff.contains("+    shop.test,"), "{diff}");
            let config = root.join("mxdrift-identity.yaml");
            fs::write(&config, "server:\n  addresses: [203.0.113.10]\n").unwrap();
            let by_config = fix(&root, &dns, &["--config", config.to_str().unwrap()]).await;
            fs::remove_file(&config).unwrap();
            assert_eq!(by_config.status.code(), Some(0));
            assert_eq!(by_config.stdout, named.stdout);
            assert_eq!(snapshot(&root), before);
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_name_given_by_the_admin_is_reported_but_not_refused() {
    // The admin named the server, wrongly: nothing in the MX data confirms
    // it. The audit still says so; fix goes on (the admin's word), warning.
    let unknown = fix_fixture_unknown();
    let zone = unknown.path().join("zones/test.zone");
    let root = unknown.path().to_path_buf();
    let dns = Dns::Offline(zone);
    let doc = audit(&root, &dns, &["--server-ip", "192.0.2.77"]).await;
    let found = run_findings(&doc, "identity-unconfirmed");
    assert_eq!(found.len(), 1);
    let message = found[0]["message"].as_str().unwrap();
    assert!(
        message.contains("although the admin named it (192.0.2.77)"),
        "{message}"
    );
    let out = fix(&root, &dns, &["--server-ip", "192.0.2.77"]).await;
    assert_eq!(out.status.code(), Some(0));
    assert!(!out.stdout.is_empty());
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("warning: nothing confirms who this server is"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn directadmin_with_nothing_known_refuses_its_panel_commands() {
    // The host name da1.hoster.test is not published: nothing names the
    // server's public address, and every local domain looks moved.
    let dir = copy_fixture("directadmin/basic");
    edit(dir.path(), "zones/test.zone", |t| {
        without_lines(t, "da1.hoster")
    });
    let zone = dir.path().join("zones/test.zone");
    both_ways(&zone, |dns| {
        let root = dir.path().to_path_buf();
        async move {
            let doc = audit(&root, &dns, &[]).await;
            assert_eq!(run_findings(&doc, "identity-unconfirmed").len(), 1);
            let got = rows(&doc);
            assert_eq!(verdict(&got, "shop.test"), "elsewhere");
            let before = snapshot(&root);
            assert_refused(&fix(&root, &dns, &["--commands"]).await, "commands");
            assert_refused(&fix(&root, &dns, &[]).await, "diff");
            assert_eq!(snapshot(&root), before);
            let out = fix(&root, &dns, &["--commands", "--server-ip", "203.0.113.10"]).await;
            assert_eq!(out.status.code(), Some(0));
            assert!(!out.stdout.is_empty());
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_names_are_asked_once_each() {
    // The sanity check asks A and AAAA of mail.hoster.test; the audit
    // reuses those answers for the MX host mail.hoster.test.
    let root = fix_fixture_behind_nat();
    let zone = fs::read_to_string(root.path().join("zones/test.zone")).unwrap();
    let server = DnsServer::start(&zone).await;
    let dns = Dns::Live(server.addr().to_string());
    let doc = audit(root.path(), &dns, &[]).await;
    assert_eq!(verdict(&rows(&doc), "shop.test"), "here");
    assert_eq!(server.count("mail.hoster.test.", RecordType::A), 1);
    assert_eq!(server.count("mail.hoster.test.", RecordType::AAAA), 1);
}

#[test]
fn inventory_shows_the_identity_the_admin_gives() {
    let root = fixture("fix/postfix");
    let out = run_mxdrift(strings(&[
        "inventory",
        "--format",
        "json",
        "--root",
        root.to_str().unwrap(),
        "--server-ip",
        "::ffff:198.51.100.200",
        "--server-name",
        "MX.Hoster.test.",
    ]));
    assert_eq!(out.status.code(), Some(0));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(addresses(&doc), ["203.0.113.10", "198.51.100.200"]);
    assert_eq!(
        doc["server"]["names"],
        serde_json::json!(["mail.hoster.test", "mx.hoster.test"])
    );
    let out = run_mxdrift(strings(&[
        "inventory",
        "--root",
        root.to_str().unwrap(),
        "--server-ip",
        "198.51.100.200",
    ]));
    assert_eq!(out.status.code(), Some(0));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains(
            "This server: names mail.hoster.test; addresses 203.0.113.10, 198.51.100.200."
        ),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    for (bad, says) in [
        (
            vec!["--server-ip", "mail.hoster.test"],
            "is not an IP address",
        ),
        (vec!["--server-name", "bad name!"], "is not a host name"),
        (
            vec!["--trusted-mx", "*.filter.test"],
            "--trusted-mx is used by audit and fix",
        ),
    ] {
        let mut args = strings(&["inventory", "--root", root.to_str().unwrap()]);
        args.extend(strings(&bad));
        let out = run_mxdrift(&args);
        assert_eq!(out.status.code(), Some(2), "{bad:?}");
        assert!(
            String::from_utf8_lossy(&out.stderr).contains(says),
            "{bad:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
