//! Changes rest on evidence a spoofer cannot forge (issue 19). A real
//! server on loopback answers over UDP what a spoofer would inject (the MX
//! is elsewhere; the domain does not exist) and over TCP the truth (the MX
//! is this server). The audit, which may rest on UDP, reports the lie;
//! `fix` (diff, `--commands`, `--format json`, `--apply`) confirms over TCP,
//! changes nothing, names the disagreement and exits 1. A domain that
//! really moved is still fixed, with its TCP confirmation shown.

use std::fs;
use std::net::Ipv4Addr;
use std::path::Path;
use std::process::Output;

use crate::common::dns_server::Transport;
use crate::common::mini_zone::MiniZone;
use crate::common::raw_dns::{RawDns, mx, question, reply_to, soa, with_rcode};
use crate::common::report::assert_schema;
use crate::common::{run_mxdrift_blocking, snapshot, text, write};
use hickory_proto::op::ResponseCode;
use hickory_proto::rr::RecordType;

const US: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 10);
const THEM: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 7);

/// The truth: both spoofed domains are this server's.
fn truth() -> MiniZone {
    MiniZone::new()
        .mx("spoofed.test", 10, "mail.hoster.test")
        .mx("gone.test", 10, "mail.hoster.test")
        .mx("moved.test", 10, "mx1.elsewhere.test")
        .a("mail.hoster.test", US)
        .a("mx1.elsewhere.test", THEM)
}

/// What the spoofer injects over UDP, in the case asked: spoofed.test's MX
/// is elsewhere, gone.test does not exist.
fn lies(request: &hickory_proto::op::Message) -> Option<hickory_proto::op::Message> {
    let (qname, qtype) = question(request)?;
    let name = qname.to_ascii();
    match (name.as_str(), qtype) {
        ("spoofed.test.", RecordType::MX) => {
            let mut m = reply_to(request);
            m.answers.push(mx(&name, 10, "mx1.elsewhere.test."));
            Some(m)
        }
        ("gone.test.", RecordType::MX) => {
            let mut m = with_rcode(reply_to(request), ResponseCode::NXDomain);
            m.authorities.push(soa("test.", "ns1.test."));
            Some(m)
        }
        _ => truth().answer(request),
    }
}

async fn mxdrift(root: &Path, ns: &str, extra: &[&str]) -> Output {
    let mut args: Vec<String> = vec![
        extra[0].to_string(),
        "--root".into(),
        root.to_str().unwrap().into(),
        "--nameserver".into(),
        ns.into(),
        "--server-ip".into(),
        "203.0.113.10".into(),
        "--timeout".into(),
        "1".into(),
    ];
    args.extend(extra[1..].iter().map(|s| s.to_string()));
    run_mxdrift_blocking(args).await
}

const DISAGREEMENT: &str =
    "evidence changed between UDP and TCP: possible spoofing or a zone in flux";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn udp_lies_that_tcp_refutes_change_nothing_and_are_named() {
    let server = RawDns::start_split(lies, |request| truth().answer(request)).await;
    let ns = server.addr().to_string();
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    write(
        root,
        "etc/postfix/main.cf",
        "myhostname = mail.hoster.test\nmydestination =\nvirtual_mailbox_domains = spoofed.test, gone.test\n",
    );

    // The audit rests on UDP: it reports the lies.
    let audit = mxdrift(
        root,
        &ns,
        &["audit", "--format", "json", "--fail-on", "never"],
    )
    .await;
    let doc: serde_json::Value = serde_json::from_slice(&audit.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", text(&audit.stderr)));
    let verdict = |d: &str| {
        doc["domains"]
            .as_array()
            .unwrap()
            .iter()
            .find(|x| x["domain"] == d)
            .map(|x| x["verdict"].clone())
            .unwrap()
    };
    assert_eq!(verdict("spoofed.test"), "elsewhere");
    assert_eq!(verdict("gone.test"), "nxdomain");

    let before = snapshot(root);
    // The diff: none.
    let out = mxdrift(root, &ns, &["fix"]).await;
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert_eq!(text(&out.stdout), "");
    for (domain, rule) in [
        ("spoofed.test", "mail-switch-on"),
        ("gone.test", "domain-not-found"),
    ] {
        assert!(
            stderr.contains(&format!("refused: {domain} ({rule}): {DISAGREEMENT}")),
            "{stderr}"
        );
    }
    assert!(
        stderr.contains("UDP: verdict elsewhere (mail-switch-on)")
            && stderr
                .contains("TCP: verdict here (no finding), MX 10 mail.hoster.test [203.0.113.10]"),
        "{stderr}"
    );
    assert!(stderr.contains("nothing to fix"), "{stderr}");
    // The confirmation really went over TCP, MX and the MX host's address.
    for (name, rtype) in [
        ("spoofed.test", RecordType::MX),
        ("gone.test", RecordType::MX),
        ("mail.hoster.test", RecordType::A),
    ] {
        assert!(
            server.transports(name, rtype).contains(&Transport::Tcp),
            "{name} {rtype}"
        );
    }

    // The script: nothing to run, and the refusals as comments.
    let out = mxdrift(root, &ns, &["fix", "--commands"]).await;
    assert_eq!(out.status.code(), Some(1));
    let script = text(&out.stdout);
    assert!(script.contains("# Nothing to run."), "{script}");
    assert!(
        script.contains("# Refused (not changed): the evidence or a file changed during the run"),
        "{script}"
    );
    assert!(
        script.contains(&format!(
            "#   - spoofed.test (mail-switch-on): {DISAGREEMENT}"
        )),
        "{script}"
    );

    // The plan as data.
    let out = mxdrift(root, &ns, &["fix", "--format", "json"]).await;
    assert_eq!(out.status.code(), Some(1));
    let plan: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(plan["confirmation"]["method"], "tcp");
    assert_eq!(plan["summary"]["fixed"], 0);
    assert_eq!(plan["summary"]["refused"], 2);
    for action in plan["actions"].as_array().unwrap() {
        assert_eq!(action["kind"], "refused", "{action}");
        assert_eq!(action["refusal"], "evidence-changed", "{action}");
        assert!(
            action["reason"].as_str().unwrap().starts_with(DISAGREEMENT),
            "{action}"
        );
    }
    assert!(plan["edits"].as_array().unwrap().is_empty());
    assert_schema(&plan);

    // --apply: nothing written, no backup.
    let out = mxdrift(root, &ns, &["fix", "--apply"]).await;
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert_eq!(snapshot(root), before, "a file changed or appeared");

    // A domain that really moved is still fixed, confirmed over TCP; the
    // spoofed ones stay as they are.
    write(
        root,
        "etc/postfix/main.cf",
        "myhostname = mail.hoster.test\nmydestination =\nvirtual_mailbox_domains = spoofed.test, gone.test, moved.test\n",
    );
    let out = mxdrift(root, &ns, &["fix"]).await;
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let diff = text(&out.stdout);
    assert!(
        diff.starts_with("# mxdrift fix. Before planning, every domain to change was resolved again over TCP only"),
        "{diff}"
    );
    assert!(
        diff.contains("# moved.test (mail-switch-on): confirmed over TCP: verdict elsewhere: MX 10 mx1.elsewhere.test [198.51.100.7]"),
        "{diff}"
    );
    assert!(
        diff.contains("-virtual_mailbox_domains = spoofed.test, gone.test, moved.test\n+virtual_mailbox_domains = spoofed.test, gone.test\n"),
        "{diff}"
    );
    let out = mxdrift(root, &ns, &["fix", "--apply"]).await;
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert_eq!(
        fs::read_to_string(root.join("etc/postfix/main.cf")).unwrap(),
        "myhostname = mail.hoster.test\nmydestination =\nvirtual_mailbox_domains = spoofed.test, gone.test\n"
    );
    let out = mxdrift(root, &ns, &["fix", "--format", "json"]).await;
    let plan: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    // moved.test is gone from the configuration now; the refusals remain.
    assert_eq!(plan["summary"]["refused"], 2);
    assert_schema(&plan);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn confirmed_changes_show_their_tcp_evidence_in_json_and_the_script() {
    // An honest server: UDP and TCP agree.
    let server = RawDns::start_split(
        |request| truth().answer(request),
        |request| truth().answer(request),
    )
    .await;
    let ns = server.addr().to_string();
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    write(
        root,
        "etc/postfix/main.cf",
        "myhostname = mail.hoster.test\nmydestination =\nvirtual_mailbox_domains = moved.test, spoofed.test\n",
    );
    let out = mxdrift(root, &ns, &["fix", "--format", "json"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let plan: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let moved = &plan["actions"][0];
    assert_eq!(moved["domain"], "moved.test");
    assert_eq!(moved["kind"], "edit");
    assert_eq!(moved["confirmed"]["via"], "tcp");
    assert_eq!(moved["confirmed"]["verdict"], "elsewhere");
    assert_eq!(
        moved["confirmed"]["evidence"],
        "MX 10 mx1.elsewhere.test [198.51.100.7] (TTL 300)"
    );
    assert_eq!(plan["summary"]["refused"], 0);
    assert_schema(&plan);
    let out = mxdrift(root, &ns, &["fix", "--commands"]).await;
    let script = text(&out.stdout);
    assert!(
        script.contains("# moved.test (mail-switch-on): confirmed over TCP: verdict elsewhere: MX 10 mx1.elsewhere.test [198.51.100.7] (TTL 300)"),
        "{script}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn this_servers_own_addresses_are_asked_again_over_tcp() {
    // Over UDP the spoofer says this server's name has the address of a
    // foreign backup MX, which would make backup.test "backup" (relay);
    // over TCP the name has its real address, and backup.test is elsewhere.
    const FOREIGN_BACKUP: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 20);
    let zone = |ours: Ipv4Addr| {
        MiniZone::new()
            .mx("stays.test", 10, "mail.hoster.test")
            .mx("backup.test", 10, "mx1.elsewhere.test")
            .mx("backup.test", 20, "mx2.elsewhere.test")
            .a("mail.hoster.test", ours)
            .a("mx1.elsewhere.test", THEM)
            .a("mx2.elsewhere.test", FOREIGN_BACKUP)
    };
    let server = RawDns::start_split(
        move |request| zone(FOREIGN_BACKUP).answer(request),
        move |request| zone(US).answer(request),
    )
    .await;
    let ns = server.addr().to_string();
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    write(
        root,
        "etc/postfix/main.cf",
        "myhostname = mail.hoster.test\nmydestination =\nvirtual_mailbox_domains = stays.test, backup.test\n",
    );
    // Without --server-ip: the addresses of this server's name in DNS count.
    let run = |extra: &'static [&'static str]| {
        let root = root.to_path_buf();
        let ns = ns.clone();
        async move {
            let mut args: Vec<String> = vec![
                extra[0].into(),
                "--root".into(),
                root.to_str().unwrap().into(),
                "--nameserver".into(),
                ns,
            ];
            args.extend(extra[1..].iter().map(|s| s.to_string()));
            run_mxdrift_blocking(args).await
        }
    };
    let audit = run(&["audit", "--format", "json", "--fail-on", "never"]).await;
    let doc: serde_json::Value = serde_json::from_slice(&audit.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", text(&audit.stderr)));
    let backup = doc["domains"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["domain"] == "backup.test")
        .unwrap();
    assert_eq!(backup["verdict"], "backup", "{backup}");

    let out = run(&["fix", "--format", "json"]).await;
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let plan: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let action = plan["actions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["domain"] == "backup.test")
        .unwrap();
    assert_eq!(action["kind"], "refused", "{action}");
    assert_eq!(action["refusal"], "evidence-changed");
    let reason = action["reason"].as_str().unwrap();
    assert!(
        reason.contains("UDP: verdict backup (backup-mx-delivers-locally)")
            && reason.contains("TCP: verdict elsewhere (mail-switch-on)"),
        "{reason}"
    );
    assert!(
        server
            .transports("mail.hoster.test", RecordType::A)
            .contains(&Transport::Tcp)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resolver_silent_over_tcp_confirms_nothing() {
    let server = RawDns::start_split(|request| truth().answer(request), |_| None).await;
    let ns = server.addr().to_string();
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    write(
        root,
        "etc/postfix/main.cf",
        "myhostname = mail.hoster.test\nmydestination =\nvirtual_mailbox_domains = moved.test, spoofed.test\n",
    );
    let before = snapshot(root);
    let out = mxdrift(root, &ns, &["fix", "--apply", "--attempts", "1"]).await;
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "refused: moved.test (mail-switch-on): {DISAGREEMENT}"
        )),
        "{stderr}"
    );
    assert!(stderr.contains("TCP: verdict inconclusive"), "{stderr}");
    assert_eq!(snapshot(root), before);
}
