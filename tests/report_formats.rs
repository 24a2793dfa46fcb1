//! Golden-output tests for every report format, on one hand-built audit that
//! has every verdict, an ignored finding and a configuration warning.
//! Regenerate with `UPDATE_GOLDEN=1 cargo test --test report_formats` and
//! review the diff.

use std::net::IpAddr;
use std::time::{Duration, UNIX_EPOCH};

use mxdrift::audit::{self, Audit, RunStats};
use mxdrift::config::CivilDate;
use mxdrift::identity::ServerIdentity;
use mxdrift::inventory::{
    Declared, Delivery, DomainFacts, DomainName, InventoryWarning, KnownDomain, Platform,
    WarningKind,
};
use mxdrift::report::nagios::{Nagios, Range, State};
use mxdrift::report::{AuditFormatter, json, prometheus, sarif, table};
use mxdrift::resolve::{DnsStatus, HostLookup, MxEvidence, MxHost};
use mxdrift::rules::{IgnoreRule, RuleSet};

const US: &str = "203.0.113.10";

fn host(pref: u16, name: &str, addrs: &[&str]) -> MxHost {
    MxHost {
        preference: pref,
        host: name.to_string(),
        addresses: addrs.iter().map(|a| a.parse::<IpAddr>().unwrap()).collect(),
        lookup: if addrs.is_empty() {
            HostLookup::NoAddress
        } else {
            HostLookup::Complete
        },
        cname: None,
        ip_literal: false,
        ttl: Some(3600),
        problem: None,
    }
}

fn evidence(status: DnsStatus, mx: Vec<MxHost>) -> MxEvidence {
    MxEvidence {
        status,
        implicit_mx: false,
        mx,
        ttl: Some(3600),
        dangling_cname: None,
        problem: None,
    }
}

fn sample_audit() -> Audit {
    let mut identity = ServerIdentity::default();
    identity.add_address(US.parse().unwrap());
    identity.add_name("web10.hoster.test");
    let rules = RuleSet::embedded().unwrap();
    let cases: Vec<(&str, Delivery, u32, MxEvidence)> = vec![
        (
            "backup.test",
            Delivery::Local,
            2,
            evidence(
                DnsStatus::Ok,
                vec![
                    host(10, "mx1.elsewhere.test", &["198.51.100.7"]),
                    host(20, "web10.hoster.test", &[US]),
                ],
            ),
        ),
        (
            "expired.test",
            Delivery::Local,
            3,
            evidence(DnsStatus::Nxdomain, vec![]),
        ),
        (
            "flaky.test",
            Delivery::Local,
            4,
            MxEvidence::inconclusive("SERVFAIL from 127.0.0.1:53"),
        ),
        (
            "hosted.test",
            Delivery::NotLocal,
            0,
            evidence(DnsStatus::Ok, vec![host(10, "web10.hoster.test", &[US])]),
        ),
        (
            "moved.test",
            Delivery::Local,
            5,
            evidence(
                DnsStatus::Ok,
                vec![host(
                    0,
                    "moved-test.mail.protection.outlook.test",
                    &["198.51.100.25"],
                )],
            ),
        ),
        (
            "nullmx.test",
            Delivery::Local,
            6,
            evidence(DnsStatus::NullMx, vec![]),
        ),
        (
            "shop.example.org",
            Delivery::Local,
            7,
            evidence(
                DnsStatus::Ok,
                vec![
                    host(10, "web10.hoster.test", &[US]),
                    host(10, "mx2.elsewhere.test", &["198.51.100.8"]),
                ],
            ),
        ),
        (
            "stays.test",
            Delivery::Local,
            8,
            evidence(DnsStatus::Ok, vec![host(10, "web10.hoster.test", &[US])]),
        ),
    ];
    let ignores = [IgnoreRule {
        domain: "*.example.org".into(),
        rule: "split-delivery".into(),
        reason: "sales@ stays here on purpose".into(),
        until: None,
    }];
    let domains = cases
        .into_iter()
        .map(|(name, delivery, line, evidence)| {
            let domain = KnownDomain {
                name: DomainName::parse(name).unwrap(),
                delivery,
                declared: vec![Declared {
                    file: if line == 0 {
                        format!("var/www/vhosts/system/{name}")
                    } else {
                        "etc/postfix/vdomains".into()
                    },
                    line,
                    via: "virtual_mailbox_domains".into(),
                }],
                facts: DomainFacts::default(),
            };
            audit::judge(
                domain,
                evidence,
                &identity,
                &rules,
                &ignores,
                CivilDate::parse("2026-11-23").unwrap(),
            )
            .0
        })
        .collect();
    Audit {
        platform: Platform::Postfix,
        identity,
        domains,
        run_findings: vec![],
        warnings: vec![InventoryWarning {
            kind: WarningKind::NotEnumerable,
            file: Some("etc/postfix/main.cf".into()),
            line: Some(12),
            parameter: Some("relay_domains".into()),
            message: "relay_domains: pcre:/etc/postfix/relay.pcre cannot be enumerated".into(),
        }],
        notes: vec![],
        rules,
        stats: RunStats {
            started: UNIX_EPOCH + Duration::from_secs(1_795_398_400),
            duration: Duration::from_millis(1234),
            queries_sent: 21,
            lookups_failed: 1,
        },
    }
}

fn render(formatter: &dyn AuditFormatter) -> String {
    let mut out = Vec::new();
    formatter.write_audit(&sample_audit(), &mut out).unwrap();
    String::from_utf8(out).unwrap()
}

fn golden(name: &str, actual: &str) {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(name);
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&path, actual).unwrap();
    }
    let expected = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (UPDATE_GOLDEN=1 creates it)", path.display()));
    assert_eq!(actual, expected, "output differs from {}", path.display());
}

fn nagios() -> Nagios {
    Nagios {
        warning: Range::parse("0").unwrap(),
        critical: Range::parse("0").unwrap(),
    }
}

#[test]
fn table_golden() {
    golden("audit.table.txt", &render(&table::Table));
}

#[test]
fn json_golden() {
    golden("audit.json", &render(&json::Json));
}

#[test]
fn sarif_golden() {
    golden("audit.sarif", &render(&sarif::Sarif::default()));
}

#[test]
fn nagios_golden() {
    golden("audit.nagios.txt", &render(&nagios()));
}

#[test]
fn prometheus_golden() {
    golden("audit.prom", &render(&prometheus::Prometheus));
}

#[test]
fn nagios_states_follow_thresholds() {
    let audit = sample_audit();
    assert_eq!(nagios().state(&audit), State::Critical);
    let lenient = Nagios {
        warning: Range::parse("5").unwrap(),
        critical: Range::parse("3").unwrap(),
    };
    assert_eq!(
        lenient.state(&audit),
        State::Ok,
        "2 critical + 2 warning, thresholds 5 and 3"
    );
    let warn_only = Nagios {
        warning: Range::parse("1").unwrap(),
        critical: Range::parse("10").unwrap(),
    };
    assert_eq!(warn_only.state(&audit), State::Warning);
    let text = render(&nagios());
    let first = text.lines().next().unwrap();
    assert!(first.starts_with("MXDRIFT CRITICAL - 1 domain "), "{first}");
    assert!(
        first.contains("1 domain delivered locally but their MX is elsewhere"),
        "{first}"
    );
    let body = text.lines().skip(1).collect::<Vec<_>>();
    assert!(body.contains(&"IGNORED: shop.example.org split-delivery: mail is split between this server and other hosts: MX 10 web10.hoster.test [203.0.113.10], 10 mx2.elsewhere.test [198.51.100.8] (TTL 3600); declared at etc/postfix/vdomains:7"), "{body:#?}");
    assert!(first.contains("| 'critical'=3;;;0"), "{first}");
}

#[test]
fn prometheus_output_parses_with_a_real_exposition_parser() {
    let text = render(&prometheus::Prometheus);
    let lines = text.lines().map(|l| Ok(l.to_string()));
    let scrape = prometheus_parse::Scrape::parse(lines).expect("valid exposition format");
    let value = |name: &str, labels: &[(&str, &str)]| -> f64 {
        let sample = scrape
            .samples
            .iter()
            .find(|s| s.metric == name && labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v)))
            .unwrap_or_else(|| panic!("{name} {labels:?} missing"));
        match sample.value {
            prometheus_parse::Value::Gauge(v) | prometheus_parse::Value::Untyped(v) => v,
            ref other => panic!("{name}: unexpected {other:?}"),
        }
    };
    assert_eq!(
        value(
            "mxdrift_findings",
            &[("rule", "mail-switch-on"), ("severity", "critical")]
        ),
        1.0
    );
    assert_eq!(
        value("mxdrift_findings", &[("rule", "split-delivery")]),
        0.0,
        "ignored findings are not alerts"
    );
    assert_eq!(
        value("mxdrift_findings_ignored", &[("rule", "split-delivery")]),
        1.0
    );
    assert_eq!(
        value(
            "mxdrift_domains",
            &[("delivery", "local"), ("verdict", "elsewhere")]
        ),
        1.0
    );
    assert_eq!(value("mxdrift_dns_lookups_failed", &[]), 1.0);
    assert_eq!(
        value("mxdrift_last_run_timestamp_seconds", &[]),
        1_795_398_400.0
    );
    assert!(scrape.docs.contains_key("mxdrift_findings"));
    // No per-domain labels: series count does not grow with the domains.
    assert!(!text.contains("moved.test"));
}

#[test]
fn sarif_has_what_github_code_scanning_requires() {
    let log: serde_json::Value = serde_json::from_str(&render(&sarif::Sarif::default())).unwrap();
    assert_eq!(log["version"], "2.1.0");
    assert!(log["$schema"].as_str().unwrap().contains("sarif-2.1.0"));
    let run = &log["runs"][0];
    let driver = &run["tool"]["driver"];
    assert_eq!(driver["name"], "mxdrift");
    let rules = driver["rules"].as_array().unwrap();
    // Every rule of the binary, whoever adds one.
    assert_eq!(
        rules.len(),
        mxdrift::rules::RuleSet::embedded().unwrap().iter().count()
    );
    for rule in rules {
        assert!(rule["id"].is_string());
        assert!(rule["shortDescription"]["text"].is_string());
        assert!(rule["fullDescription"]["text"].is_string());
        assert!(rule["help"]["text"].is_string() && rule["help"]["markdown"].is_string());
        assert!(
            ["error", "warning", "note"]
                .contains(&rule["defaultConfiguration"]["level"].as_str().unwrap())
        );
    }
    let results = run["results"].as_array().unwrap();
    assert!(!results.is_empty());
    for r in results {
        let index = r["ruleIndex"].as_u64().unwrap() as usize;
        assert_eq!(
            rules[index]["id"], r["ruleId"],
            "ruleIndex points at the rule"
        );
        assert!(r["message"]["text"].as_str().unwrap().len() > 10);
        let loc = &r["locations"][0]["physicalLocation"];
        let uri = loc["artifactLocation"]["uri"].as_str().unwrap();
        assert!(
            !uri.starts_with('/'),
            "relative to the repository root: {uri}"
        );
        if let Some(line) = loc["region"]["startLine"].as_u64() {
            assert!(line >= 1);
        }
        assert_eq!(
            r["partialFingerprints"]["mxdrift/v1"]
                .as_str()
                .unwrap()
                .len(),
            16
        );
    }
    // Fingerprints depend on rule and domain only: stable across runs.
    assert_eq!(
        render(&sarif::Sarif::default()),
        render(&sarif::Sarif::default())
    );
    // Ignored findings are decisions, not alerts.
    assert!(!results.iter().any(|r| r["ruleId"] == "split-delivery"));
}

/// A finding about the server, not a domain, reaches every format and counts
/// like any other (the rule here is made up for the test: the formatters
/// know no rule by name).
#[test]
fn run_level_findings_reach_every_format_and_count() {
    let yaml = "id: test-server-rule\nseverity: critical\nconfidence: high\nheadline: h\n\
                title: The server as a whole is wrong\nwhen: w\nrationale: r\nremediation: r\n";
    let rules = RuleSet::parse(&[("rules/test-server-rule.yaml", yaml)]).unwrap();
    let finding = rules
        .run_finding("test-server-rule", "something about the whole run")
        .unwrap()
        .at("etc/postfix/main.cf", 12)
        .with_evidence(vec!["asked X, got Y".into()]);
    let mut audit = sample_audit();
    audit.rules = rules;
    audit.domains.clear();
    audit.run_findings = vec![finding];
    let out = |f: &dyn AuditFormatter| {
        let mut buf = Vec::new();
        f.write_audit(&audit, &mut buf).unwrap();
        String::from_utf8(buf).unwrap()
    };

    assert_eq!(audit.summary().count(mxdrift::rules::Severity::Critical), 1);
    assert_eq!(audit.worst(), Some(mxdrift::rules::Severity::Critical));

    let text = out(&table::Table);
    assert!(text.contains("SERVER AND RUN (1)"), "{text}");
    assert!(
        text.contains(
            "CRITICAL test-server-rule (etc/postfix/main.cf:12): something about the whole run"
        ),
        "{text}"
    );
    assert!(text.contains("asked X, got Y"), "{text}");

    let json: serde_json::Value = serde_json::from_str(&out(&json::Json)).unwrap();
    assert_eq!(json["run_findings"][0]["rule"], "test-server-rule");
    assert_eq!(json["run_findings"][0]["line"], 12);
    assert_eq!(json["run_findings"][0]["evidence"][0], "asked X, got Y");
    assert_eq!(json["summary"]["findings"]["critical"], 1);

    assert_eq!(nagios().state(&audit), State::Critical);
    let plugin = out(&nagios());
    assert!(
        plugin.starts_with("MXDRIFT CRITICAL - The server as a whole is wrong |"),
        "{plugin}"
    );
    assert!(plugin.contains("\nCRITICAL: test-server-rule (etc/postfix/main.cf:12): something"));

    let prom = out(&prometheus::Prometheus);
    assert!(
        prom.contains("mxdrift_findings{rule=\"test-server-rule\",severity=\"critical\"} 1"),
        "{prom}"
    );

    let sarif: serde_json::Value = serde_json::from_str(&out(&sarif::Sarif::default())).unwrap();
    let result = &sarif["runs"][0]["results"][0];
    assert_eq!(result["ruleId"], "test-server-rule");
    assert_eq!(
        result["locations"][0]["physicalLocation"]["artifactLocation"]["uri"],
        "etc/postfix/main.cf"
    );
    assert_eq!(
        result["locations"][0]["physicalLocation"]["region"]["startLine"],
        12
    );
}
