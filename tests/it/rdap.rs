//! `--rdap` against a real HTTP server on loopback that answers like
//! Verisign's .com and AFNIC's .fr services (common/rdap_server.rs): the
//! verdicts, the rules, the cache and the per-service limit, counted at
//! the server.

use std::path::PathBuf;
use std::time::Duration;

use mxdrift::audit::{self, AuditOptions};
use mxdrift::civil_date::CivilDate;
use mxdrift::inventory::DomainName;
use mxdrift::rdap::{RdapOptions, RdapStatus};
use mxdrift::rules::{RuleId, RuleSet, Severity};

use crate::common::fix::offline_audit_options;
use crate::common::rdap_server::{Answer, RdapServer};
use crate::common::report::{assert_valid, validator};
use crate::common::{mxdrift, stdout_json, text};

/// A zone none of the test's domains is in: DNS answers offline and
/// inconclusively, and nothing leaves the machine.
const ZONE: &str = "$ORIGIN zone.test.\n$TTL 300\n@ IN SOA ns.zone.test. hostmaster.zone.test. 1 3600 600 86400 300\n@ IN NS ns.zone.test.\nns IN A 192.0.2.1\n";

struct Setup {
    dir: tempfile::TempDir,
}

impl Setup {
    fn new(server: &RdapServer, domains: &[&str]) -> Setup {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("root")).unwrap();
        std::fs::write(dir.path().join("domains.txt"), domains.join("\n") + "\n").unwrap();
        std::fs::write(dir.path().join("zone.test.zone"), ZONE).unwrap();
        std::fs::write(dir.path().join("dns.json"), server.bootstrap()).unwrap();
        Setup { dir }
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    fn options(&self, today: CivilDate) -> AuditOptions {
        // The offline audit of the fix tests, over this setup's domain list
        // and zone file, with RDAP on.
        let mut opts = offline_audit_options(&self.path("root"));
        opts.sources.domains_file = Some(self.path("domains.txt"));
        opts.resolve.zone_files = vec![self.path("zone.test.zone")];
        opts.today = today;
        opts.rdap = RdapOptions {
            enabled: true,
            bootstrap: Some(self.path("dns.json")),
            cache_dir: Some(self.path("cache")),
            budget: Some(Duration::from_secs(60)),
            ..RdapOptions::default()
        };
        opts
    }

    /// The command line of an audit of this setup.
    fn args(&self) -> Vec<String> {
        let p = |rel: &str| self.path(rel).display().to_string();
        vec![
            "audit".into(),
            "--root".into(),
            p("root"),
            "--platform".into(),
            "list".into(),
            "--domains".into(),
            p("domains.txt"),
            "--zone-file".into(),
            p("zone.test.zone"),
            "--rdap-bootstrap".into(),
            p("dns.json"),
            "--rdap-cache".into(),
            p("cache"),
        ]
    }
}

fn today() -> CivilDate {
    CivilDate::parse("2026-11-23").unwrap()
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

fn name(s: &str) -> DomainName {
    DomainName::parse(s).unwrap()
}

fn verisign(expiration: &str, status: Vec<&'static str>) -> Answer {
    Answer::Verisign {
        expiration: expiration.to_string(),
        status,
        registrar: "Example Registrar, Inc.",
    }
}

/// Every case of the issue, on two registries.
fn registries() -> Vec<(&'static str, Answer)> {
    vec![
        (
            "renew-soon.com",
            verisign("2026-12-10T04:00:00Z", vec!["client transfer prohibited"]),
        ),
        (
            "last-week.com",
            verisign("2026-11-27T04:00:00Z", vec!["client transfer prohibited"]),
        ),
        (
            "held.com",
            verisign(
                "2027-09-15T04:00:00Z",
                vec!["client hold", "client transfer prohibited"],
            ),
        ),
        (
            "fine.com",
            verisign(
                "2028-09-14T04:00:00Z",
                vec![
                    "client delete prohibited",
                    "client transfer prohibited",
                    "client update prohibited",
                ],
            ),
        ),
        (
            "fine.fr",
            Answer::Afnic {
                expiration: Some("2027-06-09T22:08:09Z".into()),
                status: vec!["active"],
                registrar: "NAMESHIELD",
            },
        ),
        (
            "redeem.fr",
            Answer::Afnic {
                expiration: Some("2026-11-01T10:00:00Z".into()),
                status: vec!["redemption period"],
                registrar: "NAMESHIELD",
            },
        ),
        ("missing.com", Answer::NotFound),
        ("garbled.fr", Answer::Malformed),
        (
            "busy.com",
            Answer::TooMany {
                retry_after: "1",
                times: 1,
                then: Box::new(verisign("2029-01-01T00:00:00Z", vec!["active"])),
            },
        ),
        (
            "moved.com",
            Answer::Redirect("http://rdap.registry.invalid/domain/moved.com".into()),
        ),
        (
            "throttled.com",
            Answer::TooMany {
                retry_after: "3600",
                times: usize::MAX,
                then: Box::new(Answer::NotFound),
            },
        ),
    ]
}

const DOMAINS: &[&str] = &[
    "renew-soon.com",
    "mail.renew-soon.com",
    "www.renew-soon.com",
    "last-week.com",
    "held.com",
    "fine.com",
    "fine.fr",
    "redeem.fr",
    "missing.com",
    "garbled.fr",
    "busy.com",
    "throttled.com",
    "moved.com",
    "nowhere.test",
];

fn findings_of(audit: &audit::Audit, domain: &str) -> Vec<(RuleId, Severity)> {
    audit
        .domains
        .iter()
        .find(|d| d.domain.name.as_str() == domain)
        .unwrap()
        .findings
        .iter()
        .filter(|f| matches!(f.rule, RuleId::DomainExpiring | RuleId::DomainOnHold))
        .map(|f| (f.rule, f.severity))
        .collect()
}

fn rdap_status(audit: &audit::Audit, domain: &str) -> RdapStatus {
    audit
        .domains
        .iter()
        .find(|d| d.domain.name.as_str() == domain)
        .unwrap()
        .rdap
        .as_ref()
        .unwrap_or_else(|| panic!("{domain} has no rdap record"))
        .status
}

#[test]
fn verdicts_rules_and_the_cache_counted_at_the_server() {
    let server = RdapServer::start(registries(), Duration::from_millis(20));
    let setup = Setup::new(&server, DOMAINS);
    let opts = setup.options(today());
    let rt = rt();
    let started = std::time::Instant::now();
    let audit = rt
        .block_on(audit::run(&opts, RuleSet::embedded().unwrap()))
        .unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "a 3600 s Retry-After is not waited for"
    );

    // Expiring: warning within 30 days, critical within 7; once per
    // registration, on the registrable domain, not on its subdomains.
    assert_eq!(
        findings_of(&audit, "renew-soon.com"),
        [(RuleId::DomainExpiring, Severity::Warning)]
    );
    assert!(findings_of(&audit, "www.renew-soon.com").is_empty());
    assert!(findings_of(&audit, "mail.renew-soon.com").is_empty());
    assert_eq!(
        findings_of(&audit, "last-week.com"),
        [(RuleId::DomainExpiring, Severity::Critical)]
    );
    // On hold (client hold; redemption period after the expiry date).
    assert_eq!(
        findings_of(&audit, "held.com"),
        [(RuleId::DomainOnHold, Severity::Critical)]
    );
    assert_eq!(
        findings_of(&audit, "redeem.fr"),
        [
            (RuleId::DomainExpiring, Severity::Critical),
            (RuleId::DomainOnHold, Severity::Critical)
        ]
    );
    // Fine, not found, malformed, rate limited, no service: no finding.
    for quiet in [
        "fine.com",
        "fine.fr",
        "missing.com",
        "garbled.fr",
        "busy.com",
        "throttled.com",
        "nowhere.test",
    ] {
        assert!(findings_of(&audit, quiet).is_empty(), "{quiet}");
    }
    assert_eq!(rdap_status(&audit, "fine.com"), RdapStatus::Found);
    assert_eq!(rdap_status(&audit, "fine.fr"), RdapStatus::Found);
    assert_eq!(rdap_status(&audit, "www.renew-soon.com"), RdapStatus::Found);
    assert_eq!(rdap_status(&audit, "missing.com"), RdapStatus::NotFound);
    assert_eq!(rdap_status(&audit, "garbled.fr"), RdapStatus::Inconclusive);
    assert_eq!(
        rdap_status(&audit, "throttled.com"),
        RdapStatus::Inconclusive
    );
    assert_eq!(rdap_status(&audit, "nowhere.test"), RdapStatus::NoService);
    // A redirect to plain HTTP on another host is not followed.
    assert_eq!(rdap_status(&audit, "moved.com"), RdapStatus::Inconclusive);
    // A 429 with Retry-After: 1 is waited for, then answered.
    assert_eq!(rdap_status(&audit, "busy.com"), RdapStatus::Found);
    let arrivals = server.arrivals("busy.com");
    assert_eq!(arrivals.len(), 2, "{arrivals:?}");
    assert!(
        arrivals[1] - arrivals[0] >= Duration::from_millis(950),
        "{arrivals:?}"
    );
    assert_eq!(
        server.requests("throttled.com"),
        1,
        "a Retry-After past the deadline is not retried"
    );

    // The evidence: expiry date, registrar, source.
    let message = &audit
        .domains
        .iter()
        .find(|d| d.domain.name.as_str() == "renew-soon.com")
        .unwrap()
        .findings
        .iter()
        .find(|f| f.rule == RuleId::DomainExpiring)
        .unwrap()
        .message;
    for part in [
        "2026-12-10",
        "in 17 days",
        "Example Registrar, Inc.",
        "/com/v1/domain/renew-soon.com",
    ] {
        assert!(message.contains(part), "{part}: {message}");
    }
    let problem = audit
        .domains
        .iter()
        .find(|d| d.domain.name.as_str() == "garbled.fr")
        .unwrap()
        .rdap
        .as_ref()
        .unwrap()
        .problem
        .clone()
        .unwrap();
    assert!(problem.contains("not JSON"), "{problem}");
    let note = audit
        .notes
        .iter()
        .find(|n| n.contains("is inconclusive"))
        .unwrap();
    assert!(
        note.contains("3 registrable domain(s) is inconclusive"),
        "{note}"
    );
    assert!(note.contains("moved.com (HTTP status 302)"), "{note}");
    let no_service = audit
        .notes
        .iter()
        .find(|n| n.contains("names no service"))
        .unwrap();
    assert!(
        no_service.ends_with(
            "names no service for .test: the expiry and status of their domains are not checked"
        ),
        "{no_service}"
    );
    assert!(
        note.contains("garbled.fr (unreadable answer")
            && note.contains("throttled.com (rate limited"),
        "{note}"
    );

    // One query per registrable domain: three names, one request.
    assert_eq!(server.requests("renew-soon.com"), 1);
    for once in [
        "last-week.com",
        "held.com",
        "fine.com",
        "fine.fr",
        "redeem.fr",
        "missing.com",
        "garbled.fr",
    ] {
        assert_eq!(server.requests(once), 1, "{once}");
    }
    assert_eq!(
        audit.stats.rdap_requests_sent as usize,
        server.total_requests()
    );
    let soonest = audit.rdap_soonest.clone().unwrap();
    assert_eq!(
        (soonest.registrable, soonest.days),
        (name("redeem.fr"), -22)
    );

    // A second run: the conclusive answers come from the cache, only the
    // failures are asked again.
    let before = server.total_requests();
    let again = rt
        .block_on(audit::run(&opts, RuleSet::embedded().unwrap()))
        .unwrap();
    let asked_again: usize = server.total_requests() - before;
    assert_eq!(server.requests("renew-soon.com"), 1, "cached");
    assert_eq!(server.requests("missing.com"), 1, "a 404 is cached too");
    assert_eq!(server.requests("garbled.fr"), 2, "a failure is asked again");
    assert_eq!(
        server.requests("throttled.com"),
        2,
        "a failure is asked again"
    );
    assert_eq!(server.requests("moved.com"), 2, "a failure is asked again");
    assert_eq!(asked_again, 3);
    assert_eq!(
        findings_of(&again, "renew-soon.com"),
        [(RuleId::DomainExpiring, Severity::Warning)]
    );
    assert_eq!(
        findings_of(&again, "held.com"),
        [(RuleId::DomainOnHold, Severity::Critical)]
    );
    assert!(
        again
            .domains
            .iter()
            .find(|d| d.domain.name.as_str() == "fine.fr")
            .unwrap()
            .rdap
            .as_ref()
            .unwrap()
            .cached
    );
}

/// Two services (`.com`, `.fr`) on one server: at most two requests in
/// flight at that server, for both together.
#[test]
fn at_most_two_requests_in_flight_per_server() {
    let mut names: Vec<String> = (0..9).map(|i| format!("load{i}.com")).collect();
    names.extend((0..5).map(|i| format!("load{i}.fr")));
    let answers = names
        .iter()
        .map(|n| {
            let answer = if n.ends_with(".fr") {
                Answer::Afnic {
                    expiration: None,
                    status: vec!["active"],
                    registrar: "NAMESHIELD",
                }
            } else {
                verisign("2030-01-01T00:00:00Z", vec!["active"])
            };
            (n.as_str(), answer)
        })
        .collect();
    let server = RdapServer::start(answers, Duration::from_millis(150));
    let domains: Vec<&str> = names.iter().map(String::as_str).collect();
    let setup = Setup::new(&server, &domains);
    let opts = setup.options(today());
    let audit = rt()
        .block_on(audit::run(&opts, RuleSet::embedded().unwrap()))
        .unwrap();
    assert_eq!(server.total_requests(), 14);
    for n in &names {
        assert_eq!(server.requests(n), 1, "{n}");
        assert_eq!(rdap_status(&audit, n), RdapStatus::Found);
    }
    let most = server.most_in_flight();
    assert!(
        (1..=2).contains(&most),
        "the server held {most} requests at once"
    );
    assert_eq!(server.in_flight(), 0);
}

#[test]
fn the_deadline_bounds_the_stage_and_its_lookups_are_inconclusive() {
    let server = RdapServer::start(
        vec![("slow.com", verisign("2030-01-01T00:00:00Z", vec!["active"]))],
        Duration::from_secs(30),
    );
    let setup = Setup::new(&server, &["slow.com"]);
    let mut opts = setup.options(today());
    opts.rdap.budget = Some(Duration::from_millis(500));
    let started = std::time::Instant::now();
    let audit = rt()
        .block_on(audit::run(&opts, RuleSet::embedded().unwrap()))
        .unwrap();
    assert!(started.elapsed() < Duration::from_secs(10));
    assert_eq!(rdap_status(&audit, "slow.com"), RdapStatus::Inconclusive);
}

fn in_days(days: u64) -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    format!("{}T12:00:00Z", CivilDate::from_unix(secs + days * 86_400))
}

/// The command line: nothing is sent without `--rdap`; with it every
/// format shows the rules, JSON carries an `rdap` object per domain and
/// Prometheus the days until the soonest expiry; `fix` never asks.
#[test]
fn the_command_line_and_every_format() {
    let server = RdapServer::start(
        vec![
            (
                "renew-soon.com",
                verisign(&in_days(20), vec!["client transfer prohibited"]),
            ),
            ("held.com", verisign(&in_days(400), vec!["server hold"])),
            ("garbled.fr", Answer::Malformed),
        ],
        Duration::from_millis(10),
    );
    let setup = Setup::new(
        &server,
        &[
            "renew-soon.com",
            "www.renew-soon.com",
            "held.com",
            "garbled.fr",
        ],
    );
    let run = |extra: &[&str]| {
        let mut args = setup.args();
        args.extend(extra.iter().map(|s| s.to_string()));
        mxdrift().args(&args).output().unwrap()
    };

    // Without --rdap: no request, no rdap object.
    let out = run(&["--format", "json", "--fail-on", "never"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(server.total_requests(), 0, "nothing is sent without --rdap");
    let doc = stdout_json(&out);
    assert!(
        doc["domains"]
            .as_array()
            .unwrap()
            .iter()
            .all(|d| d.get("rdap").is_none())
    );

    // With it.
    let out = run(&["--rdap", "--format", "json", "--fail-on", "never"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let doc = stdout_json(&out);
    assert_valid(&validator(), "an audit with --rdap", &doc);
    let domain = |n: &str| {
        doc["domains"]
            .as_array()
            .unwrap()
            .iter()
            .find(|d| d["domain"] == n)
            .unwrap()
            .clone()
    };
    let renew = domain("renew-soon.com");
    assert_eq!(renew["rdap"]["status"], "ok");
    assert_eq!(renew["rdap"]["registrable"], "renew-soon.com");
    assert_eq!(renew["rdap"]["expiration"], in_days(20).as_str());
    assert_eq!(renew["rdap"]["registrar"], "Example Registrar, Inc.");
    assert_eq!(
        renew["rdap"]["source"],
        format!("{}domain/renew-soon.com", server.base("com/v1")).as_str()
    );
    assert!(
        renew["findings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["rule"] == "domain-expiring" && f["severity"] == "warning")
    );
    assert_eq!(
        domain("www.renew-soon.com")["rdap"]["registrable"],
        "renew-soon.com"
    );
    assert_eq!(domain("held.com")["rdap"]["states"][0], "server hold");
    assert_eq!(domain("garbled.fr")["rdap"]["status"], "inconclusive");
    assert!(
        domain("garbled.fr")["rdap"]["problem"]
            .as_str()
            .unwrap()
            .contains("unreadable answer")
    );
    let sent = server.total_requests();
    assert_eq!(sent, 3);

    // Every other format names the rules (from the cache: no new request
    // but the failed one).
    for format in ["table", "text", "sarif", "nagios"] {
        let out = run(&["--rdap", "--format", format, "--fail-on", "never"]);
        let shown = text(&out.stdout);
        for rule in ["domain-expiring", "domain-on-hold"] {
            let named = shown.contains(rule)
                || (format == "nagios" && shown.contains(&rule_headline(rule)));
            assert!(named, "--format {format} does not show {rule}:\n{shown}");
        }
    }
    assert_eq!(server.requests("renew-soon.com"), 1, "cached across runs");
    assert_eq!(server.requests("held.com"), 1, "cached across runs");

    let out = run(&["--rdap", "--format", "prometheus"]);
    let metrics = text(&out.stdout);
    let gauge = metrics
        .lines()
        .find(|l| l.starts_with("mxdrift_domain_expiry_soonest_days{"))
        .unwrap_or_else(|| panic!("no expiry gauge:\n{metrics}"));
    assert_eq!(
        gauge,
        "mxdrift_domain_expiry_soonest_days{domain=\"renew-soon.com\"} 20"
    );
    assert!(
        metrics.contains("mxdrift_findings{rule=\"domain-on-hold\",severity=\"critical\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("mxdrift_rdap_lookups{status=\"inconclusive\"} 1"),
        "{metrics}"
    );
    prometheus_parse::Scrape::parse(metrics.lines().map(|l| Ok(l.to_string()))).unwrap();

    // `rdap: enabled` in the config asks too; `fix` never asks, whatever
    // the config says.
    let config = setup.path("mxdrift.yaml");
    std::fs::write(
        &config,
        "rdap:\n  enabled: true\n  warn_days: 10\n  critical_days: 3\n",
    )
    .unwrap();
    let before = server.total_requests();
    let out = run(&[
        "--config",
        config.to_str().unwrap(),
        "--format",
        "json",
        "--fail-on",
        "never",
    ]);
    let doc = stdout_json(&out);
    assert!(server.total_requests() > before, "rdap: enabled asks");
    let renew = doc["domains"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["domain"] == "renew-soon.com")
        .unwrap()
        .clone();
    assert!(
        !renew["findings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["rule"] == "domain-expiring"),
        "20 days is outside warn_days: 10"
    );
    let before = server.total_requests();
    let p = |rel: &str| setup.path(rel).display().to_string();
    let fix = mxdrift()
        .args([
            "fix",
            "--root",
            &p("root"),
            "--platform",
            "list",
            "--domains",
            &p("domains.txt"),
            "--zone-file",
            &p("zone.test.zone"),
            "--config",
            &p("mxdrift.yaml"),
        ])
        .output()
        .unwrap();
    assert_eq!(
        server.total_requests(),
        before,
        "fix never asks the registries"
    );
    assert!(
        !text(&fix.stdout).contains("held.com"),
        "{}",
        text(&fix.stdout)
    );
}

fn rule_headline(rule: &str) -> String {
    RuleSet::embedded()
        .unwrap()
        .get(rule)
        .unwrap()
        .headline
        .clone()
}

#[test]
fn a_bad_bootstrap_file_is_a_configuration_error_naming_it() {
    let server = RdapServer::start(Vec::new(), Duration::ZERO);
    let setup = Setup::new(&server, &["a.com"]);
    std::fs::write(setup.path("dns.json"), "{\"services\": 3}").unwrap();
    let out = mxdrift().args(setup.args()).arg("--rdap").output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(
        err.contains("dns.json: not an RDAP bootstrap file"),
        "{err}"
    );
    assert_eq!(server.total_requests(), 0);
}
