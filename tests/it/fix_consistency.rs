//! `fix` plans only from the bytes the audit read (issue 11 §E), and a
//! `--apply` that stops part way leaves the admin able to finish it.
//!
//! - main.cf edited while DNS is pending: a raw DNS responder edits the file
//!   (moving a domain to `relay_domains`, so that its line number now holds
//!   relay_domains) before it answers the audit's MX question. The change
//!   is refused and names the file; before, the plan re-read main.cf and
//!   emptied `relay_domains`.
//! - A file that declares a domain to fix, changed after the audit read it,
//!   refuses the domain on every platform (the audit's digests cover them).
//! - An `--apply` that writes one table and then stops prints the
//!   follow-ups (postmap, reload) of the table it wrote; a rerun knows the
//!   compiled table is older than its source and plans the postmap.

use std::fs;
use std::net::Ipv4Addr;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::common::fix::offline_audit_options;
use crate::common::mini_zone::MiniZone;
use crate::common::postfix_oracle::compile_table;
use crate::common::raw_dns::{Path as DnsPath, RawDns};
use crate::common::report::assert_schema;
use crate::common::{copy_fixture, require_tool, run_mxdrift, run_mxdrift_blocking, write};

const US: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 10);
const THEM: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 7);

const MAIN_CF_AUDITED: &str = "myhostname = mail.hoster.test\n\
mydestination =\n\
# customer domains\n\
virtual_mailbox_domains = moved.test\n";

/// What the admin makes of it while mxdrift waits for DNS: moved.test is
/// now a relay, and line 4 (where the audit found it) holds relay_domains.
const MAIN_CF_EDITED: &str = "myhostname = mail.hoster.test\n\
mydestination =\n\
virtual_mailbox_domains =\n\
relay_domains = moved.test\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn main_cf_edited_while_dns_is_pending_is_refused_not_edited() {
    let root = tempfile::tempdir().unwrap();
    let main_cf = root.path().join("etc/postfix/main.cf");
    let zone = MiniZone::new()
        .mx("moved.test", 10, "mx1.elsewhere.test")
        .a("mx1.elsewhere.test", THEM)
        .a("mail.hoster.test", US);
    // Armed before each run: the first MX question for moved.test edits
    // main.cf, then gets its answer (the audit's DNS wait).
    let armed = Arc::new(AtomicBool::new(false));
    let server = {
        let armed = armed.clone();
        let main_cf = main_cf.clone();
        RawDns::start(DnsPath::Fast, move |request| {
            let asks_moved = request.queries.first().is_some_and(|q| {
                q.query_type() == hickory_proto::rr::RecordType::MX
                    && q.name().to_ascii().eq_ignore_ascii_case("moved.test.")
            });
            if asks_moved && armed.swap(false, Ordering::SeqCst) {
                fs::write(&main_cf, MAIN_CF_EDITED).unwrap();
            }
            zone.answer(request)
        })
        .await
    };
    let ns = server.addr().to_string();
    let root_s = root.path().to_str().unwrap().to_string();
    let run = |extra: &[&str]| {
        write(root.path(), "etc/postfix/main.cf", MAIN_CF_AUDITED);
        armed.store(true, Ordering::SeqCst);
        let mut args: Vec<String> = ["fix", "--root", &root_s, "--nameserver", &ns]
            .iter()
            .map(|s| s.to_string())
            .collect();
        args.extend(
            [
                "--server-ip",
                "203.0.113.10",
                "--timeout",
                "1",
                "--attempts",
                "1",
            ]
            .iter()
            .map(|s| s.to_string()),
        );
        args.extend(extra.iter().map(|s| s.to_string()));
        run_mxdrift_blocking(args)
    };

    // The diff: nothing, and the refusal names main.cf.
    let out = run(&[]).await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !armed.load(Ordering::SeqCst),
        "the responder never edited main.cf"
    );
    assert_eq!(out.status.code(), Some(1), "{stdout}\n{stderr}");
    assert!(!stdout.contains("relay_domains"), "{stdout}");
    assert!(!stdout.contains("---"), "{stdout}");
    assert!(
        stderr.contains(
            "refused: moved.test (mail-switch-on): etc/postfix/main.cf changed during the run"
        ),
        "{stderr}"
    );
    assert_eq!(fs::read_to_string(&main_cf).unwrap(), MAIN_CF_EDITED);

    // --apply writes nothing, keeps no backup, and exits 1.
    let out = run(&["--apply"]).await;
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(fs::read_to_string(&main_cf).unwrap(), MAIN_CF_EDITED);
    let names: Vec<String> = fs::read_dir(root.path().join("etc/postfix"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, ["main.cf"]);

    // The plan as data says so too.
    let out = run(&["--format", "json"]).await;
    assert_eq!(out.status.code(), Some(1));
    let plan: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let action = &plan["actions"][0];
    assert_eq!(action["domain"], "moved.test");
    assert_eq!(action["kind"], "refused");
    assert_eq!(action["refusal"], "file-changed");
    assert!(plan["edits"].as_array().unwrap().is_empty());
    assert_eq!(plan["summary"]["refused"], 1);
    assert_schema(&plan);

    // Unchanged, the same configuration is fixed (over TCP-confirmed DNS).
    write(root.path(), "etc/postfix/main.cf", MAIN_CF_AUDITED);
    let args: Vec<String> = [
        "fix",
        "--root",
        &root_s,
        "--nameserver",
        &ns,
        "--server-ip",
        "203.0.113.10",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let out = run_mxdrift_blocking(args).await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("-virtual_mailbox_domains = moved.test\n+virtual_mailbox_domains =\n"));
    assert!(stdout.contains("# moved.test (mail-switch-on): confirmed over TCP"));
}

const ZONE: &str = "$ORIGIN test.\n$TTL 300\n\
@ IN SOA ns1.test. hostmaster.test. 1 3600 600 86400 300\n\
@ IN NS ns1.test.\n\
ns1 IN A 192.0.2.1\n\
moved IN MX 10 mx1.elsewhere.test.\n\
alias-moved IN MX 10 mx1.elsewhere.test.\n\
stays IN MX 10 mail.hoster.test.\n\
mx1.elsewhere IN A 198.51.100.7\n\
mail.hoster IN A 203.0.113.10\n";

/// A Postfix root with two hashed tables; the second's real file lies in
/// a directory its group can write, which `--apply` refuses after it wrote
/// the first.
fn partial_root(postmap: &Path) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    write(
        root,
        "etc/postfix/main.cf",
        "myhostname = mail.hoster.test\nmydestination =\n\
         virtual_alias_domains = hash:/etc/postfix/alias_domains\n\
         virtual_mailbox_domains = hash:/etc/postfix/mailbox_domains\n",
    );
    write(root, "etc/postfix/alias_domains", "alias-moved.test OK\n");
    write(
        root,
        "srv/shared/mailbox_domains",
        "stays.test OK\nmoved.test OK\n",
    );
    write(root, "zones/test.zone", ZONE);
    write(root, "postmap-etc/main.cf", "compatibility_level = 3.6\n");
    write(root, "postmap-etc/master.cf", "");
    // Sources a minute old, so the compiled files are clearly newer.
    let past = std::time::SystemTime::now() - std::time::Duration::from_secs(60);
    for rel in ["etc/postfix/alias_domains", "srv/shared/mailbox_domains"] {
        fs::File::options()
            .write(true)
            .open(root.join(rel))
            .unwrap()
            .set_modified(past)
            .unwrap();
        compile_table(
            postmap,
            &root.join("postmap-etc"),
            &format!("hash:{}", root.join(rel).display()),
        );
    }
    for name in ["mailbox_domains", "mailbox_domains.db"] {
        std::os::unix::fs::symlink(
            format!("/srv/shared/{name}"),
            root.join("etc/postfix").join(name),
        )
        .unwrap();
    }
    fs::set_permissions(root.join("srv/shared"), fs::Permissions::from_mode(0o775)).unwrap();
    dir
}

#[test]
fn partial_apply_prints_the_follow_ups_of_what_it_wrote_and_a_rerun_plans_the_postmap() {
    let Some(postmap) = require_tool("postmap") else {
        return;
    };
    let dir = partial_root(&postmap);
    let root = dir.path().to_str().unwrap().to_string();
    let zone = dir.path().join("zones/test.zone");
    let zone = zone.to_str().unwrap();
    let args = |extra: &[&'static str]| -> Vec<String> {
        let mut args = vec![
            "--root",
            &root,
            "--zone-file",
            zone,
            "--server-ip",
            "203.0.113.10",
        ];
        args.extend(extra);
        args.iter().map(|s| s.to_string()).collect()
    };
    let run = |args: Vec<String>| run_mxdrift(args);

    let mut apply = vec!["fix".to_string(), "--apply".to_string()];
    apply.extend(args(&[]));
    let out = run(apply);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stdout}\n{stderr}");
    assert!(
        stderr.contains("wrote etc/postfix/alias_domains (backup "),
        "{stderr}"
    );
    assert!(
        stderr.contains("fix --apply stopped at etc/postfix/mailbox_domains: "),
        "{stderr}"
    );
    assert!(
        stderr.contains("already written: etc/postfix/alias_domains"),
        "{stderr}"
    );
    // Standard output: the follow-ups of the file written, not of the other.
    assert!(stdout.starts_with("#!/bin/sh\nset -eu\n"), "{stdout}");
    assert!(
        stdout.contains("stopped before it wrote every file"),
        "{stdout}"
    );
    assert!(
        stdout.contains("\npostmap 'hash:/etc/postfix/alias_domains'\n"),
        "{stdout}"
    );
    assert!(stdout.contains("\npostfix reload\n"), "{stdout}");
    assert!(!stdout.contains("mailbox_domains'"), "{stdout}");
    assert_eq!(
        fs::read_to_string(dir.path().join("etc/postfix/alias_domains")).unwrap(),
        ""
    );
    assert_eq!(
        fs::read_to_string(dir.path().join("srv/shared/mailbox_domains")).unwrap(),
        "stays.test OK\nmoved.test OK\n"
    );

    // A rerun knows the compiled table is older than its source...
    let mut audit = vec![
        "audit".to_string(),
        "--format".to_string(),
        "json".to_string(),
        "--fail-on".to_string(),
        "never".to_string(),
    ];
    audit.extend(args(&[]));
    let out = run(audit);
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)));
    // (Postfix reads the compiled file, which still has the key.)
    let stale = doc["run_findings"]
        .as_array()
        .unwrap()
        .iter()
        .any(|f| f["rule"] == "table-not-compiled" && f["file"] == "etc/postfix/alias_domains");
    assert!(stale, "{}", doc["run_findings"]);
    // ...and plans its postmap.
    let mut plan = vec![
        "fix".to_string(),
        "--format".to_string(),
        "json".to_string(),
    ];
    plan.extend(args(&[]));
    let out = run(plan);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let plan: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let follow_ups = plan["follow_ups"].as_array().unwrap();
    let rebuild = follow_ups
        .iter()
        .find(|s| s["command"] == "postmap 'hash:/etc/postfix/alias_domains'")
        .unwrap_or_else(|| panic!("{follow_ups:?}"));
    assert!(
        rebuild["comments"][0]
            .as_str()
            .unwrap()
            .contains("never compiled"),
        "{rebuild}"
    );
    assert!(follow_ups.iter().any(|s| s["command"] == "postfix reload"));
    // The domain still in the compiled table is left for a human, who runs
    // that postmap after a look at the source.
    let left = plan["actions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["domain"] == "alias-moved.test")
        .unwrap();
    assert_eq!(left["kind"], "left", "{left}");
    assert!(
        left["reason"]
            .as_str()
            .unwrap()
            .contains("postmap hash:/etc/postfix/alias_domains"),
        "{left}"
    );
}

/// The audit of a fixture copy (zone files: no confirmation needed).
fn audit_copy(
    root: &Path,
    domains_file: Option<&str>,
) -> (mxdrift::audit::Audit, mxdrift::audit::AuditOptions) {
    let mut opts = offline_audit_options(root);
    opts.sources.domains_file = domains_file.map(|f| root.join(f));
    opts.identity.server_ips = vec![US.into()];
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let audit = runtime
        .block_on(mxdrift::audit::run(
            &opts,
            mxdrift::rules::RuleSet::embedded().unwrap(),
        ))
        .unwrap();
    (audit, opts)
}

#[test]
fn a_declaring_file_changed_after_the_audit_refuses_its_domains_on_every_platform() {
    use mxdrift::audit::Reconfirmed;
    use mxdrift::remediate::{self, RefusalCause};
    for (fixture, domains_file) in [
        ("demo", None),
        ("plesk/postfix", None),
        ("plesk/qmail", None),
        ("cpanel/basic", None),
        ("directadmin/basic", None),
        ("qmail/basic", None),
        ("list/basic", Some("domains.txt")),
    ] {
        let dir = copy_fixture(fixture);
        let root = dir.path();
        let (audit, opts) = audit_copy(root, domains_file);
        let before = remediate::plan(&audit, &opts.sources.root, &Reconfirmed::ZoneFiles).unwrap();
        assert!(!before.fixes.is_empty(), "{fixture}: nothing to fix");
        assert!(before.refused.is_empty(), "{fixture}: {:?}", before.refused);
        // Another writer adds a comment line to every file that declares a
        // domain to fix, after the audit read it.
        let mut touched = std::collections::BTreeSet::new();
        for fix in &before.fixes {
            let known = audit
                .domains
                .iter()
                .find(|d| d.domain.name == fix.domain)
                .unwrap();
            for place in &known.domain.declared {
                // The list file is declared as given (absolute); the
                // others relative to the root.
                let path = if Path::new(&place.file).is_absolute() {
                    Path::new(&place.file).to_path_buf()
                } else {
                    root.join(&place.file)
                };
                if path.is_file() && touched.insert(path.clone()) {
                    let mut bytes = fs::read(&path).unwrap();
                    bytes.extend_from_slice(b"# added meanwhile\n");
                    fs::write(&path, bytes).unwrap();
                }
            }
        }
        assert!(!touched.is_empty(), "{fixture}");
        let after = remediate::plan(&audit, &opts.sources.root, &Reconfirmed::ZoneFiles).unwrap();
        assert!(
            after.fixes.is_empty() && after.edits.is_empty() && after.panel.is_empty(),
            "{fixture}: planned on changed files: {:?}",
            after.fixes
        );
        for fix in &before.fixes {
            let refused = after
                .refused
                .iter()
                .find(|r| r.domain == fix.domain)
                .unwrap_or_else(|| panic!("{fixture}: {} not refused", fix.domain));
            assert_eq!(refused.cause, RefusalCause::FileChanged, "{fixture}");
            assert!(
                refused.reason.contains("changed during the run"),
                "{fixture}: {}",
                refused.reason
            );
        }
    }
}

/// Plain Postfix is edited by how the audit read its files: the plan never
/// parses main.cf again. A main.cf broken after the audit is a changed
/// file, and every change is refused; an audit that kept no record of the
/// Postfix files plans nothing.
#[test]
fn postfix_plans_from_the_audit_and_never_parses_main_cf_again() {
    use mxdrift::audit::Reconfirmed;
    use mxdrift::remediate::{self, RefusalCause, RemediateError};
    let dir = copy_fixture("fix/postfix");
    let root = dir.path();
    let (audit, opts) = audit_copy(root, None);
    let plan = || remediate::plan(&audit, &opts.sources.root, &Reconfirmed::ZoneFiles);
    let before = plan().unwrap();
    assert!(before.edits.len() > 1, "{:?}", before.edits);
    fs::write(
        root.join("etc/postfix/main.cf"),
        "mydestination = moved.test\nnot a parameter\n",
    )
    .unwrap();
    let after = plan().unwrap();
    assert!(
        after.fixes.is_empty() && after.edits.is_empty(),
        "{:?}",
        after.fixes
    );
    assert_eq!(after.refused.len(), before.fixes.len());
    for refused in &after.refused {
        assert_eq!(refused.cause, RefusalCause::FileChanged);
        assert!(
            refused
                .reason
                .starts_with("etc/postfix/main.cf changed during the run"),
            "{}",
            refused.reason
        );
    }

    let mut kept_nothing = audit.clone();
    kept_nothing.postfix_files = None;
    let err =
        remediate::plan(&kept_nothing, &opts.sources.root, &Reconfirmed::ZoneFiles).unwrap_err();
    assert!(matches!(err, RemediateError::NoPostfixFiles), "{err}");
}
