//! `--dns authoritative` against a real DNS tree on loopback: NSD serving a
//! root zone, a TLD with delegations and glue, a new DNS provider, an old
//! provider still serving stale copies (of a zone no longer delegated to
//! it, too) and an address that refuses a delegated zone, each on its own
//! 127.53.x.y address at port 53 (root hints and referrals carry addresses,
//! never ports; CI runs as root).
//!
//! The story the mode exists for: this server's resolver (here, the old
//! provider) still says "MX = this server" for a domain that moved, and
//! resolver mode believes it.
//!
//! Each test uses its own 127.53.N.0/24 so that tests running at once do
//! not collide, and none uses 127.0.0.1, where the other tests' servers
//! bind port 0.

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::common::nsd::Nsd;
use crate::common::report::{assert_valid, validator};
use crate::common::{require_root, run_mxdrift_blocking, stdout_json};

/// This server: MX hosts resolving here deliver to it.
const THIS_SERVER: &str = "192.0.2.10";

/// The addresses of one tree: 127.53.`net`.1 to .9.
fn addr(net: u8, host: u8) -> Ipv4Addr {
    Ipv4Addr::new(127, 53, net, host)
}

fn soa(origin: &str) -> String {
    format!(
        "$ORIGIN {origin}\n$TTL 300\n@ IN SOA ns.hostmaster.invalid. hostmaster.invalid. 1 3600 600 86400 300\n"
    )
}

/// A zone file: SOA, the given NS names, then `body`.
fn zone(origin: &str, ns: &[&str], body: &str) -> String {
    let mut text = soa(origin);
    for name in ns {
        text.push_str(&format!("@ IN NS {name}\n"));
    }
    text.push_str(body);
    text
}

/// The tree: who serves what, at which address.
struct Tree {
    _servers: Vec<Nsd>,
    hints: PathBuf,
    domains: PathBuf,
    _dir: tempfile::TempDir,
}

/// The zones of the tree on 127.53.`net`.0/24. `new_provider_extra` is
/// added to the new provider's zone list (fault tests replace a server).
fn start_tree(net: u8) -> Option<Tree> {
    if !require_root() {
        return None;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let a = |host: u8| addr(net, host).to_string();
    let write = |name: &str, text: String| -> PathBuf {
        let path = dir.path().join(name);
        std::fs::write(&path, text).expect("write zone");
        path
    };
    let root = write(
        "root.zone",
        zone(
            ".",
            &["a.root.test."],
            &format!(
                "test. IN NS ns1.nic.test.\nexample. IN NS ns1.nic.test.\n\
                 ns1.nic.test. IN A {}\na.root.test. IN A {}\n",
                a(2),
                a(1)
            ),
        ),
    );
    let tld_test = write(
        "test.zone",
        zone(
            "test.",
            &["ns1.nic.test."],
            &format!(
                "ns1.nic IN A {two}\n\
                 newdns IN NS ns1.newdns\nnewdns IN NS ns2.newdns\n\
                 ns1.newdns IN A {three}\nns2.newdns IN A {four}\n\
                 olddns IN NS ns.olddns\nns.olddns IN A {five}\n\
                 refuser IN NS ns.refuser\nns.refuser IN A {six}\n\
                 hoster IN NS ns1.newdns\nhoster IN NS ns2.newdns\n\
                 elsewhere IN NS ns1.newdns\nelsewhere IN NS ns2.newdns\n\
                 moved IN NS ns1.newdns\nmoved IN NS ns2.newdns\n\
                 stable IN NS ns1.newdns\nstable IN NS ns2.newdns\n\
                 disagree IN NS ns1.newdns\ndisagree IN NS ns.olddns\n\
                 lame IN NS ns1.newdns\nlame IN NS ns.refuser\n\
                 cname IN NS ns1.newdns\ncname IN NS ns2.newdns\n\
                 mailhost IN NS ns.olddns\n\
                 oob IN NS ns.provider.example.\n\
                 faulty IN NS ns1.newdns\nfaulty IN NS ns.broken\nns.broken IN A {seven}\n\
                 cycle1 IN NS ns.cycle2\ncycle2 IN NS ns.cycle1\n\
                 back IN NS ns1.newdns\nback IN NS ns2.newdns\n",
                two = a(2),
                three = a(3),
                four = a(4),
                five = a(5),
                six = a(6),
                seven = a(7)
            ),
        ),
    );
    let tld_example = write(
        "example.zone",
        zone(
            "example.",
            &["ns1.nic.test."],
            "provider IN NS ns1.newdns.test.\n",
        ),
    );
    let new_ns = ["ns1.newdns.test.", "ns2.newdns.test."];
    let mx = |host: &str| format!("@ IN MX 10 {host}\n");
    let newdns = write(
        "newdns.zone",
        zone(
            "newdns.test.",
            &new_ns,
            &format!("ns1 IN A {}\nns2 IN A {}\n", a(3), a(4)),
        ),
    );
    let hoster = write(
        "hoster.zone",
        zone(
            "hoster.test.",
            &new_ns,
            &format!("mail IN A {THIS_SERVER}\n"),
        ),
    );
    let elsewhere = write(
        "elsewhere.zone",
        zone("elsewhere.test.", &new_ns, "mx IN A 198.51.100.7\n"),
    );
    let moved_new = write(
        "moved-new.zone",
        zone("moved.test.", &new_ns, &mx("mx.elsewhere.test.")),
    );
    let stable = write(
        "stable.zone",
        zone("stable.test.", &new_ns, &mx("mail.hoster.test.")),
    );
    let disagree_new = write(
        "disagree-new.zone",
        zone(
            "disagree.test.",
            &["ns1.newdns.test.", "ns.olddns.test."],
            &mx("mx.elsewhere.test."),
        ),
    );
    let lame = write(
        "lame.zone",
        zone(
            "lame.test.",
            &["ns1.newdns.test.", "ns.refuser.test."],
            &mx("mx.elsewhere.test."),
        ),
    );
    let cname = write(
        "cname.zone",
        zone(
            "cname.test.",
            &new_ns,
            &format!("{}mx IN CNAME mx.mailhost.test.\n", mx("mx.cname.test.")),
        ),
    );
    // Moved here: the old provider still has the old MX.
    let back_new = write(
        "back-new.zone",
        zone("back.test.", &new_ns, &mx("mail.hoster.test.")),
    );
    let faulty = write(
        "faulty.zone",
        zone(
            "faulty.test.",
            &["ns1.newdns.test.", "ns.broken.test."],
            &mx("mx.elsewhere.test."),
        ),
    );
    let oob = write(
        "oob.zone",
        zone(
            "oob.test.",
            &["ns.provider.example."],
            &mx("mail.hoster.test."),
        ),
    );
    let provider = write(
        "provider.zone",
        zone(
            "provider.example.",
            &["ns1.newdns.test."],
            &format!("ns IN A {}\n", a(3)),
        ),
    );
    // The old provider's stale copies: moved.test is no longer delegated
    // to it, and says "here".
    let old_ns = ["ns.olddns.test."];
    let olddns = write(
        "olddns.zone",
        zone("olddns.test.", &old_ns, &format!("ns IN A {}\n", a(5))),
    );
    let moved_old = write(
        "moved-old.zone",
        zone("moved.test.", &old_ns, &mx("mail.hoster.test.")),
    );
    let disagree_old = write(
        "disagree-old.zone",
        zone(
            "disagree.test.",
            &["ns1.newdns.test.", "ns.olddns.test."],
            &mx("mail.hoster.test."),
        ),
    );
    let back_old = write(
        "back-old.zone",
        zone("back.test.", &old_ns, &mx("mx.elsewhere.test.")),
    );
    let mailhost = write(
        "mailhost.zone",
        zone("mailhost.test.", &old_ns, "mx IN A 198.51.100.20\n"),
    );
    let refuser = write(
        "refuser.zone",
        zone(
            "refuser.test.",
            &["ns.refuser.test."],
            &format!("ns IN A {}\n", a(6)),
        ),
    );

    let servers = vec![
        Nsd::start_on(&[addr(net, 1)], &[(".", root)])?,
        Nsd::start_on(
            &[addr(net, 2)],
            &[("test", tld_test), ("example", tld_example)],
        )?,
        Nsd::start_on(
            &[addr(net, 3), addr(net, 4)],
            &[
                ("newdns.test", newdns),
                ("hoster.test", hoster.clone()),
                ("elsewhere.test", elsewhere.clone()),
                ("moved.test", moved_new),
                ("stable.test", stable.clone()),
                ("disagree.test", disagree_new),
                ("lame.test", lame),
                ("cname.test", cname),
                ("oob.test", oob),
                ("faulty.test", faulty),
                ("back.test", back_new),
                ("provider.example", provider),
            ],
        )?,
        Nsd::start_on(
            &[addr(net, 5)],
            &[
                ("olddns.test", olddns),
                ("moved.test", moved_old),
                ("disagree.test", disagree_old),
                ("mailhost.test", mailhost),
                ("back.test", back_old),
                ("hoster.test", hoster),
                ("elsewhere.test", elsewhere),
                ("stable.test", stable),
            ],
        )?,
        Nsd::start_on(&[addr(net, 6)], &[("refuser.test", refuser)])?,
    ];
    let hints = write(
        "named.root",
        format!(
            ". 3600000 NS a.root.test.\na.root.test. 3600000 A {}\n",
            a(1)
        ),
    );
    let domains = write(
        "domains.txt",
        "moved.test\nstable.test\ndisagree.test\nlame.test\ncname.test\noob.test\ncycle1.test\nback.test\n"
            .to_string(),
    );
    Some(Tree {
        _servers: servers,
        hints,
        domains,
        _dir: dir,
    })
}

/// `mxdrift audit` of the tree's domains as JSON, this server's resolver
/// being the old provider.
async fn audit(tree: &Tree, net: u8, extra: &[&str]) -> Value {
    run(tree, "audit", &tree.domains, net, extra).await
}

/// `mxdrift COMMAND` on the domains of `list`, as JSON.
async fn run(tree: &Tree, command: &str, list: &Path, net: u8, extra: &[&str]) -> Value {
    let out = run_raw(tree, command, list, net, "json", extra).await;
    stdout_json(&out)
}

/// `mxdrift COMMAND` on the domains of `list` in `format`.
async fn run_raw(
    tree: &Tree,
    command: &str,
    list: &Path,
    net: u8,
    format: &str,
    extra: &[&str],
) -> std::process::Output {
    let mut args: Vec<String> = vec![
        command.into(),
        "--root".into(),
        tree.domains
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_default()
            .display()
            .to_string(),
        "--platform".into(),
        "list".into(),
        "--domains".into(),
        list.display().to_string(),
        "--server-ip".into(),
        THIS_SERVER.into(),
        "--nameserver".into(),
        addr(net, 5).to_string(),
        "--timeout".into(),
        "1".into(),
        "--attempts".into(),
        "1".into(),
        "--format".into(),
        format.into(),
    ];
    if command == "audit" {
        args.extend(["--fail-on".into(), "never".into()]);
    }
    args.extend(extra.iter().map(|s| s.to_string()));
    run_mxdrift_blocking(args).await
}

fn domain<'a>(doc: &'a Value, name: &str) -> &'a Value {
    doc["domains"]
        .as_array()
        .expect("domains")
        .iter()
        .find(|d| d["domain"] == name)
        .unwrap_or_else(|| panic!("{name} missing: {doc:#}"))
}

fn rules(d: &Value) -> Vec<String> {
    let mut ids: Vec<String> = d["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .map(|f| {
            format!(
                "{}:{}",
                f["rule"].as_str().unwrap(),
                f["severity"].as_str().unwrap()
            )
        })
        .collect();
    ids.sort();
    ids
}

/// The plan's actions about `name`.
fn actions<'a>(plan: &'a Value, name: &str) -> Vec<&'a Value> {
    plan["actions"]
        .as_array()
        .unwrap_or_else(|| panic!("no actions: {plan:#}"))
        .iter()
        .filter(|a| a["domain"] == name)
        .collect()
}

fn message<'a>(d: &'a Value, rule: &str) -> &'a str {
    d["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["rule"] == rule)
        .and_then(|f| f["message"].as_str())
        .unwrap_or_else(|| panic!("no {rule} finding: {d:#}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn authoritative_mode_sees_the_move_resolver_mode_misses() {
    const NET: u8 = 12;
    let Some(tree) = start_tree(NET) else {
        return;
    };
    let hints = tree.hints.display().to_string();

    // Resolver mode, asking the old provider: "moved" looks here.
    let resolver = audit(&tree, NET, &[]).await;
    let moved = domain(&resolver, "moved.test");
    assert_eq!(moved["verdict"], "here", "{moved:#}");
    assert_eq!(moved["dns"]["mode"], "resolver");
    assert!(rules(moved).is_empty(), "{moved:#}");

    let started = Instant::now();
    let doc = audit(
        &tree,
        NET,
        &["--dns", "authoritative", "--root-hints", &hints],
    )
    .await;
    assert!(started.elapsed() < Duration::from_secs(60));
    let validator = validator();
    assert_valid(&validator, "authoritative audit", &doc);
    assert_valid(&validator, "resolver audit", &resolver);

    let moved = domain(&doc, "moved.test");
    assert_eq!(moved["dns"]["mode"], "authoritative");
    assert_eq!(moved["verdict"], "elsewhere", "{moved:#}");
    assert_eq!(
        rules(moved),
        ["mail-switch-on:critical", "resolver-view-differs:critical"]
    );
    let differs = message(moved, "resolver-view-differs");
    assert!(
        differs.contains("this server's resolver says here")
            && differs.contains("mail.hoster.test")
            && differs.contains("the authoritative servers say elsewhere")
            && differs.contains("mx.elsewhere.test")
            // The old provider is on loopback and answers with AA: to
            // mxdrift it is a zone on this machine, as Plesk's BIND is.
            && differs.contains(&format!(
                "the resolver {}:53 answers authoritatively from this machine",
                addr(NET, 5)
            ))
            && differs.contains("never expires"),
        "{differs}"
    );
    let servers = moved["dns"]["servers"].as_array().expect("servers");
    assert_eq!(servers.len(), 2, "{servers:?}");
    for server in servers {
        assert_eq!(server["status"], "answer");
        assert_eq!(server["answer"], "MX 10 mx.elsewhere.test");
    }
    assert_eq!(moved["dns"]["resolver"]["verdict"], "here");

    let stable = domain(&doc, "stable.test");
    assert_eq!(stable["verdict"], "here");
    assert!(rules(stable).is_empty(), "{stable:#}");

    // Moved here, the resolver still says elsewhere: a warning.
    let back = domain(&doc, "back.test");
    assert_eq!(back["verdict"], "here", "{back:#}");
    assert_eq!(rules(back), ["resolver-view-differs:warning"]);
    assert_eq!(back["dns"]["resolver"]["verdict"], "elsewhere");

    // Two delegated servers with different MX, leading to different
    // verdicts: inconclusive, never remediated.
    let disagree = domain(&doc, "disagree.test");
    assert_eq!(disagree["verdict"], "inconclusive", "{disagree:#}");
    assert_eq!(
        rules(disagree),
        ["lookup-inconclusive:info", "nameservers-disagree:warning"]
    );
    let text = message(disagree, "nameservers-disagree");
    assert!(
        text.contains(&format!(
            "ns1.newdns.test ({}) says MX 10 mx.elsewhere.test",
            addr(NET, 3)
        )) && text.contains(&format!(
            "ns.olddns.test ({}) says MX 10 mail.hoster.test",
            addr(NET, 5)
        )),
        "{text}"
    );

    // A delegated address that refuses: lame; the other server decides.
    let lame = domain(&doc, "lame.test");
    assert_eq!(lame["verdict"], "elsewhere", "{lame:#}");
    assert_eq!(
        rules(lame),
        ["lame-delegation:warning", "mail-switch-on:critical"]
    );
    assert!(
        message(lame, "lame-delegation").contains(&format!(
            "ns.refuser.test ({}) refuses the domain",
            addr(NET, 6)
        )),
        "{lame:#}"
    );

    // The MX host is an alias into a zone of another provider.
    let cname = domain(&doc, "cname.test");
    assert_eq!(cname["verdict"], "elsewhere", "{cname:#}");
    assert_eq!(cname["dns"]["mx"][0]["cname"], "mx.mailhost.test");
    assert_eq!(cname["dns"]["mx"][0]["addresses"][0], "198.51.100.20");
    assert_eq!(
        rules(cname),
        ["mail-switch-on:critical", "mx-target-cname:info"]
    );

    // The name server's name is in another TLD, without glue.
    let oob = domain(&doc, "oob.test");
    assert_eq!(oob["verdict"], "here", "{oob:#}");
    assert_eq!(oob["dns"]["servers"][0]["name"], "ns.provider.example");
    assert_eq!(
        oob["dns"]["servers"][0]["address"],
        addr(NET, 3).to_string()
    );
    assert!(rules(oob).is_empty(), "{oob:#}");

    // Every output format shows the new rules; prometheus counts lame
    // delegations and disagreements.
    let extra = ["--dns", "authoritative", "--root-hints", hints.as_str()];
    for format in ["table", "text", "sarif", "nagios"] {
        let out = run_raw(&tree, "audit", &tree.domains, NET, format, &extra).await;
        let shown = String::from_utf8_lossy(&out.stdout);
        for rule in [
            "resolver-view-differs",
            "nameservers-disagree",
            "lame-delegation",
        ] {
            assert!(shown.contains(rule), "{format} lacks {rule}:\n{shown}");
        }
    }
    let out = run_raw(&tree, "audit", &tree.domains, NET, "prometheus", &extra).await;
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let scrape = prometheus_parse::Scrape::parse(text.lines().map(|l| Ok(l.to_string()))).unwrap();
    let value = |metric: &str, rule: Option<&str>| {
        scrape
            .samples
            .iter()
            .find(|s| s.metric == metric && rule.is_none_or(|r| s.labels.get("rule") == Some(r)))
            .map(|s| match s.value {
                prometheus_parse::Value::Gauge(v) | prometheus_parse::Value::Untyped(v) => v,
                _ => f64::NAN,
            })
            .unwrap_or_else(|| panic!("{metric} missing:\n{text}"))
    };
    assert_eq!(value("mxdrift_lame_delegations", None), 1.0, "{text}");
    assert_eq!(
        value("mxdrift_nameserver_disagreements", None),
        1.0,
        "{text}"
    );
    assert_eq!(
        value("mxdrift_findings", Some("resolver-view-differs")),
        2.0
    );
    assert_eq!(value("mxdrift_findings", Some("nameservers-disagree")), 1.0);
    assert_eq!(value("mxdrift_findings", Some("lame-delegation")), 1.0);

    // Without --nameserver, the resolver view is the one of the audited
    // root's etc/resolv.conf (here: the old provider).
    let root = tree.domains.parent().unwrap();
    std::fs::create_dir_all(root.join("etc")).unwrap();
    std::fs::write(
        root.join("etc/resolv.conf"),
        format!("# the server's own\nnameserver {}\n", addr(NET, 5)),
    )
    .unwrap();
    let out = run_mxdrift_blocking([
        "audit".to_string(),
        "--root".into(),
        root.display().to_string(),
        "--platform".into(),
        "list".into(),
        "--domains".into(),
        tree.domains.display().to_string(),
        "--server-ip".into(),
        THIS_SERVER.into(),
        "--timeout".into(),
        "1".into(),
        "--attempts".into(),
        "1".into(),
        "--format".into(),
        "json".into(),
        "--fail-on".into(),
        "never".into(),
        "--dns".into(),
        "authoritative".into(),
        "--root-hints".into(),
        hints.clone(),
    ])
    .await;
    std::fs::remove_file(root.join("etc/resolv.conf")).unwrap();
    let from_root = stdout_json(&out);
    assert_eq!(
        rules(domain(&from_root, "moved.test")),
        ["mail-switch-on:critical", "resolver-view-differs:critical"]
    );
    assert!(
        from_root["notes"].to_string().contains(&format!(
            "etc/resolv.conf under the root names {}:53",
            addr(NET, 5)
        )),
        "{}",
        from_root["notes"]
    );

    // Two zones whose name servers are only in each other, without glue:
    // a loop, found at once (not after the per-domain bound).
    let cycle = domain(&doc, "cycle1.test");
    assert_eq!(cycle["verdict"], "inconclusive", "{cycle:#}");
    assert!(
        cycle["dns"]["problem"].as_str().unwrap().contains("loop"),
        "{cycle:#}"
    );

    // fix: the moved domain is left to a human (the local zone first),
    // the lame one (conclusive over TCP too) is switched off, the
    // disagreeing one is not touched.
    let plan = run(
        &tree,
        "fix",
        &tree.domains,
        NET,
        &["--dns", "authoritative", "--root-hints", &hints],
    )
    .await;
    let moved = actions(&plan, "moved.test");
    assert!(!moved.is_empty(), "{plan:#}");
    assert!(moved.iter().all(|a| a["kind"] == "left"), "{plan:#}");
    assert!(
        moved.iter().any(|a| a["reason"]
            .as_str()
            .is_some_and(|r| r.contains("remove the local DNS zone first"))),
        "{plan:#}"
    );
    assert!(
        actions(&plan, "disagree.test")
            .iter()
            .all(|a| a["kind"] == "left"),
        "{plan:#}"
    );
    assert!(
        actions(&plan, "back.test")
            .iter()
            .all(|a| a["kind"] == "left"),
        "{plan:#}"
    );
    let lame = actions(&plan, "lame.test");
    assert!(
        lame.iter()
            .any(|a| a["kind"] == "edit" && a["confirmed"]["via"] == "tcp"),
        "{plan:#}"
    );
}

/// What the broken authoritative server of `faulty.test` does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fault {
    Silence,
    ServFail,
    /// An AA answer whose MX record belongs to another name.
    Garbage,
    /// An AA answer to another question (with the right id).
    WrongQuestion,
}

fn broken(
    mode: std::sync::Arc<std::sync::Mutex<Fault>>,
) -> impl Fn(&hickory_proto::op::Message) -> Option<hickory_proto::op::Message> {
    use crate::common::raw_dns::{mx, name, reply_to, with_rcode};
    use hickory_proto::op::{Query, ResponseCode};
    use hickory_proto::rr::RecordType;
    move |request| {
        let fault = *mode.lock().unwrap();
        let mut reply = reply_to(request);
        reply.metadata.recursion_available = false;
        reply.metadata.authoritative = true;
        match fault {
            Fault::Silence => None,
            Fault::ServFail => Some(with_rcode(reply, ResponseCode::ServFail)),
            Fault::Garbage => {
                reply
                    .answers
                    .push(mx("evil.test.", 10, "mail.hoster.test."));
                Some(reply)
            }
            Fault::WrongQuestion => {
                reply.queries = vec![Query::query(name("other.test."), RecordType::MX)];
                reply
                    .answers
                    .push(mx("other.test.", 10, "mail.hoster.test."));
                Some(reply)
            }
        }
    }
}

/// One of the two delegated servers of a domain that moved away fails in
/// each way in turn: the domain is inconclusive (never "elsewhere", which
/// `fix` would act on), the other domains are unaffected, `fix` plans
/// nothing for it, and each run ends within a bound.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_authoritative_server_makes_the_domain_inconclusive() {
    const NET: u8 = 13;
    let Some(tree) = start_tree(NET) else {
        return;
    };
    let hints = tree.hints.display().to_string();
    let list = tree.hints.with_file_name("faulty.txt");
    std::fs::write(&list, "faulty.test\nstable.test\n").unwrap();
    let mode = std::sync::Arc::new(std::sync::Mutex::new(Fault::Silence));
    let _server = crate::common::raw_dns::RawDns::start_on(
        std::net::SocketAddr::from((addr(NET, 7), 53)),
        broken(mode.clone()),
    )
    .await;
    for fault in [
        Fault::Silence,
        Fault::ServFail,
        Fault::Garbage,
        Fault::WrongQuestion,
    ] {
        *mode.lock().unwrap() = fault;
        let started = Instant::now();
        let doc = run(
            &tree,
            "audit",
            &list,
            NET,
            &["--dns", "authoritative", "--root-hints", &hints],
        )
        .await;
        // Two attempts of one second at most per question, a handful of
        // questions in a row.
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "{fault:?}: {:?}",
            started.elapsed()
        );
        let faulty = domain(&doc, "faulty.test");
        assert_eq!(faulty["verdict"], "inconclusive", "{fault:?}: {faulty:#}");
        let found = rules(faulty);
        assert!(
            found.contains(&"lookup-inconclusive:info".to_string())
                && !found.iter().any(|r| r.starts_with("mail-switch-on")),
            "{fault:?}: {found:?}"
        );
        assert_eq!(
            found.contains(&"lame-delegation:warning".to_string()),
            fault == Fault::Silence,
            "{fault:?}: {found:?}"
        );
        let problem = faulty["dns"]["problem"].as_str().unwrap();
        assert!(
            problem.contains(&format!("ns.broken.test ({})", addr(NET, 7))),
            "{fault:?}: {problem}"
        );
        let stable = domain(&doc, "stable.test");
        assert_eq!(stable["verdict"], "here", "{fault:?}: {stable:#}");

        let plan = run(
            &tree,
            "fix",
            &list,
            NET,
            &["--dns", "authoritative", "--root-hints", &hints],
        )
        .await;
        for action in actions(&plan, "faulty.test") {
            assert_eq!(action["kind"], "left", "{fault:?}: {plan:#}");
        }
        assert!(
            plan["edits"].as_array().unwrap().is_empty(),
            "{fault:?}: {plan:#}"
        );
    }
}
