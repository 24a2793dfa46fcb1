//! Golden-output tests for every report format, on one hand-built audit that
//! has every verdict, an ignored finding and a configuration warning.
//! Regenerate with `UPDATE_GOLDEN=1 cargo test report_formats` and review
//! the diff (see common/golden.rs).

use std::time::{Duration, UNIX_EPOCH};

use mxdrift::audit::{self, Audit, RunStats};
use mxdrift::civil_date::CivilDate;
use mxdrift::identity::ServerIdentity;
use mxdrift::inventory::{
    Delivery, DomainName, InventoryWarning, KnownDomain, Platform, WarningKind,
};
use mxdrift::report::baseline::Baseline;
use mxdrift::report::nagios::{InconclusiveLimit, Nagios, Range, State};
use mxdrift::report::{AuditFormatter, Report, json, prometheus, sarif, table, text};
use mxdrift::resolve::{DnsStatus, MxEvidence, MxHost};
use mxdrift::rules::{IgnoreRule, RuleFilter, RuleId, RuleSet};

use crate::common::golden::assert_golden;
use crate::common::{self, declared, host, known_domain, with_ttl};

const US: &str = "203.0.113.10";

/// The shared builders' evidence at the TTL the golden files show.
fn evidence(status: DnsStatus, mx: Vec<MxHost>) -> MxEvidence {
    with_ttl(common::evidence(status, mx), 3600)
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
        (
            "xn--bcher-kva.test",
            Delivery::Local,
            9,
            evidence(
                DnsStatus::Ok,
                vec![host(10, "mx1.elsewhere.test", &["198.51.100.7"])],
            ),
        ),
    ];
    let ignores = [IgnoreRule {
        domain: "*.example.org".into(),
        rule: RuleFilter::Only(RuleId::SplitDelivery),
        reason: "sales@ stays here on purpose".into(),
        until: CivilDate::parse("2027-03-31"),
    }];
    let domains = cases
        .into_iter()
        .map(|(name, delivery, line, evidence)| {
            let file = if line == 0 {
                format!("var/www/vhosts/system/{name}")
            } else {
                "etc/postfix/vdomains".into()
            };
            let domain = known_domain(
                name,
                delivery,
                declared(&file, line, "virtual_mailbox_domains"),
            );
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
        hostname: Some("web10.hoster.test".into()),
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
            rdap_requests_sent: 0,
        },
        files_read: Default::default(),
        postfix_files: None,
        rdap_soonest: None,
        cross_check: None,
    }
}

fn render(formatter: &dyn AuditFormatter) -> String {
    let mut out = Vec::new();
    formatter.write_audit(&sample_audit(), &mut out).unwrap();
    String::from_utf8(out).unwrap()
}

fn nagios() -> Nagios {
    plugin("0", "0")
}

fn plugin(warning: &str, critical: &str) -> Nagios {
    Nagios {
        warning: Range::parse(warning).unwrap(),
        critical: Range::parse(critical).unwrap(),
        max_inconclusive: InconclusiveLimit::default(),
    }
}

#[test]
fn table_golden() {
    assert_golden("audit.table.txt", &render(&table::Table::default()));
}

#[test]
fn text_golden() {
    assert_golden("audit.text.txt", &render(&text::Text));
}

#[test]
fn json_golden() {
    assert_golden("audit.json", &render(&json::Json));
}

#[test]
fn sarif_golden() {
    assert_golden("audit.sarif", &render(&sarif::Sarif::default()));
}

#[test]
fn nagios_golden() {
    assert_golden("audit.nagios.txt", &render(&nagios()));
}

#[test]
fn prometheus_golden() {
    assert_golden("audit.prom", &render(&prometheus::Prometheus));
}

#[test]
fn nagios_states_follow_thresholds() {
    let audit = sample_audit();
    assert_eq!(nagios().state(&audit), State::Critical);
    let mut lenient = plugin("6", "4");
    lenient.max_inconclusive = InconclusiveLimit::Count(1);
    let mut clean = audit.clone();
    clean.warnings.clear();
    assert_eq!(
        lenient.state(&clean),
        State::Ok,
        "4 critical + 2 warning, thresholds -w 6 -c 4, one inconclusive tolerated"
    );
    let warn_only = plugin("1", "10");
    assert_eq!(warn_only.state(&audit), State::Warning);
    let text = render(&nagios());
    let first = text.lines().next().unwrap();
    assert!(
        first.starts_with("MXDRIFT CRITICAL - 2 domains "),
        "{first}"
    );
    assert!(
        first.contains("2 domains delivered locally but their MX is elsewhere"),
        "{first}"
    );
    let body = text.lines().skip(1).collect::<Vec<_>>();
    assert!(body.contains(&"IGNORED: shop.example.org split-delivery: mail is split between this server and other hosts: MX 10 web10.hoster.test [203.0.113.10], 10 mx2.elsewhere.test [198.51.100.8] (TTL 3600); declared at etc/postfix/vdomains:7 [ignored until 2027-03-31: sales@ stays here on purpose]"), "{body:#?}");
    assert!(first.contains("| 'critical'=4;0;0;0; "), "{first}");
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
        2.0
    );
    assert_eq!(value("mxdrift_last_run_success", &[]), 1.0);
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
        2.0
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
    // Every rule an audit can raise, whoever adds one (the fleet's are
    // `mxdrift fleet`'s alone).
    assert_eq!(
        rules.len(),
        mxdrift::rules::RuleSet::embedded()
            .unwrap()
            .audit_rules()
            .count()
    );
    assert!(
        rules
            .iter()
            .all(|r| !r["id"].as_str().unwrap().starts_with("fleet-"))
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
    // Ignored findings are decisions: suppressed results, with the reason.
    let ignored: Vec<_> = results
        .iter()
        .filter(|r| r["ruleId"] == "split-delivery")
        .collect();
    assert_eq!(ignored.len(), 1);
    assert_eq!(ignored[0]["suppressions"][0]["kind"], "external");
    assert_eq!(
        ignored[0]["suppressions"][0]["justification"],
        "sales@ stays here on purpose (ignored until 2027-03-31)"
    );
    assert!(
        results
            .iter()
            .filter(|r| r["ruleId"] != "split-delivery")
            .all(|r| r.get("suppressions").is_none())
    );
}

/// A finding about the server, not a domain, reaches every format and counts
/// like any other.
#[test]
fn run_level_findings_reach_every_format_and_count() {
    let rules = RuleSet::embedded().unwrap();
    let title = rules.rule(RuleId::ResolverUntrustworthy).title.clone();
    let finding = rules
        .run_finding(
            RuleId::ResolverUntrustworthy,
            "something about the whole run",
        )
        .at("etc/postfix/main.cf", 12)
        .with_evidence(vec!["asked X, got Y".into()]);
    let mut audit = sample_audit();
    audit.rules = rules;
    // Keep a local domain without findings (none at all would be UNKNOWN).
    audit.domains.retain(|d| d.findings.is_empty());
    audit.warnings.clear();
    audit.run_findings = vec![finding];
    let out = |f: &dyn AuditFormatter| {
        let mut buf = Vec::new();
        f.write_audit(&audit, &mut buf).unwrap();
        String::from_utf8(buf).unwrap()
    };

    assert_eq!(audit.summary().count(mxdrift::rules::Severity::Critical), 1);
    assert_eq!(audit.worst(), Some(mxdrift::rules::Severity::Critical));

    let text = out(&table::Table::default());
    assert!(text.contains("SERVER AND RUN (1)"), "{text}");
    assert!(
        text.contains(
            "CRITICAL resolver-untrustworthy (etc/postfix/main.cf:12): something about the whole run"
        ),
        "{text}"
    );
    assert!(text.contains("asked X, got Y"), "{text}");

    let json: serde_json::Value = serde_json::from_str(&out(&json::Json)).unwrap();
    assert_eq!(json["run_findings"][0]["rule"], "resolver-untrustworthy");
    assert_eq!(json["run_findings"][0]["line"], 12);
    assert_eq!(json["run_findings"][0]["evidence"][0], "asked X, got Y");
    assert_eq!(json["summary"]["findings"]["critical"], 1);

    assert_eq!(nagios().state(&audit), State::Critical);
    let plugin = out(&nagios());
    assert!(
        plugin.starts_with(&format!("MXDRIFT CRITICAL - {title} |")),
        "{plugin}"
    );
    assert!(
        plugin.contains("\nCRITICAL: resolver-untrustworthy (etc/postfix/main.cf:12): something")
    );

    let prom = out(&prometheus::Prometheus);
    assert!(
        prom.contains("mxdrift_findings{rule=\"resolver-untrustworthy\",severity=\"critical\"} 1"),
        "{prom}"
    );

    let sarif: serde_json::Value = serde_json::from_str(&out(&sarif::Sarif::default())).unwrap();
    let result = &sarif["runs"][0]["results"][0];
    assert_eq!(result["ruleId"], "resolver-untrustworthy");
    assert_eq!(
        result["locations"][0]["physicalLocation"]["artifactLocation"]["uri"],
        "etc/postfix/main.cf"
    );
    assert_eq!(
        result["locations"][0]["physicalLocation"]["region"]["startLine"],
        12
    );
}

fn render_report(formatter: &dyn AuditFormatter, audit: &Audit) -> String {
    let mut out = Vec::new();
    formatter.write_audit(audit, &mut out).unwrap();
    String::from_utf8(out).unwrap()
}

/// The sample without configuration warnings and with every lookup
/// conclusive: what a healthy server with only findings looks like.
fn conclusive_audit() -> Audit {
    let mut audit = sample_audit();
    audit.warnings.clear();
    audit
        .domains
        .retain(|d| d.verdict != mxdrift::verdict::Verdict::Inconclusive);
    audit
}

#[test]
fn nagios_zero_local_domains_is_unknown() {
    // The wrong --platform or --root reads nothing: never "OK - 0 domains".
    let mut audit = conclusive_audit();
    audit.domains.clear();
    assert_eq!(nagios().state(&audit), State::Unknown);
    let out = render_report(&nagios(), &audit);
    assert!(
        out.starts_with("MXDRIFT UNKNOWN - no mail domains found: wrong --platform or --root? | "),
        "{out}"
    );
    // Known domains, none of them local (a relay-only reading): still UNKNOWN.
    let mut audit = conclusive_audit();
    audit
        .domains
        .retain(|d| d.domain.delivery != Delivery::Local);
    assert_eq!(nagios().state(&audit), State::Unknown);
    assert!(render_report(&nagios(), &audit).contains("(1 domains known, none delivered locally)"));
}

#[test]
fn nagios_inconclusive_domains_above_the_limit_are_a_warning_naming_them() {
    // A dead resolver: every lookup inconclusive, only info findings.
    let mut audit = conclusive_audit();
    audit.domains.clear();
    let rules = RuleSet::embedded().unwrap();
    let identity = audit.identity.clone();
    for name in ["a.test", "b.test"] {
        let domain = KnownDomain {
            name: DomainName::parse(name).unwrap(),
            delivery: Delivery::Local,
            declared: vec![],
            facts: None,
        };
        let (audited, _) = audit::judge(
            domain,
            MxEvidence::inconclusive("timeout"),
            &identity,
            &rules,
            &[],
            CivilDate::parse("2026-11-23").unwrap(),
        );
        audit.domains.push(audited);
    }
    assert_eq!(nagios().state(&audit), State::Warning);
    let out = render_report(&nagios(), &audit);
    let first = out.lines().next().unwrap();
    assert!(
        first.starts_with("MXDRIFT WARNING - 2 domains inconclusive: a.test, b.test | "),
        "{first}"
    );
    assert!(first.contains("'inconclusive'=2;0;;0;"), "{first}");
    // Within --max-inconclusive: OK, and the status line says why.
    let mut tolerant = nagios();
    tolerant.max_inconclusive = "2".parse().unwrap();
    assert_eq!(tolerant.state(&audit), State::Ok);
    let out = render_report(&tolerant, &audit);
    assert!(
        out.starts_with(
            "MXDRIFT OK - 2 domains checked, no problems (2 inconclusive, within --max-inconclusive) | "
        ),
        "{out}"
    );
    // A percentage of the domains audited: 50 % of 2 tolerates 1.
    let mut share = nagios();
    share.max_inconclusive = "50%".parse().unwrap();
    assert_eq!(share.state(&audit), State::Warning);
}

#[test]
fn nagios_configuration_warnings_are_at_least_warning() {
    let mut audit = conclusive_audit();
    // Only findings below the thresholds: OK without the warnings.
    let lenient = plugin("10", "10");
    assert_eq!(lenient.state(&audit), State::Ok);
    audit.warnings = sample_audit().warnings;
    audit.warnings.push(InventoryWarning {
        kind: WarningKind::LookupFailure,
        file: Some("etc/postfix/main.cf".into()),
        line: Some(3),
        parameter: Some("virtual_mailbox_domains".into()),
        message: "/etc/postfix/vdomains: cannot be read | permission denied".into(),
    });
    assert_eq!(lenient.state(&audit), State::Warning);
    let out = render_report(&lenient, &audit);
    let mut lines = out.lines();
    let first = lines.next().unwrap();
    assert!(
        first.contains(
            "configuration warning: etc/postfix/main.cf:12: relay_domains: pcre:/etc/postfix/relay.pcre cannot be enumerated (and 1 more)"
        ),
        "{first}"
    );
    assert!(first.starts_with("MXDRIFT WARNING - "), "{first}");
    let rest: Vec<&str> = lines.collect();
    assert!(rest.contains(&"CONFIG: etc/postfix/main.cf:12: relay_domains: pcre:/etc/postfix/relay.pcre cannot be enumerated"));
    // `|` would start performance data in the long output.
    assert!(rest.contains(
        &"CONFIG: etc/postfix/main.cf:3: /etc/postfix/vdomains: cannot be read / permission denied"
    ));
    // Critical findings stay CRITICAL.
    assert_eq!(nagios().state(&audit), State::Critical);
}

#[test]
fn nagios_perfdata_carries_the_thresholds() {
    let out = render_report(&plugin("5", "5"), &conclusive_audit());
    let perfdata = out.lines().next().unwrap().split_once(" | ").unwrap().1;
    assert_eq!(
        perfdata,
        "'critical'=4;5;5;0; 'warning'=2;;;0; 'info'=0;;;0; 'warning_or_worse'=6;5;;0; 'inconclusive'=0;0;;0; 'ignored'=1;;;0; 'config_warnings'=0;0;;0; 'domains'=8;;;0;"
    );
    let out = render_report(&plugin("~:5", "@1:3"), &conclusive_audit());
    assert!(out.contains("'critical'=4;~:5;@1:3;0; "), "{out}");
}

#[test]
fn ignores_show_their_until_everywhere() {
    let table = render(&table::Table::default());
    assert!(
        table.contains(
            "shop.example.org split-delivery (until 2027-03-31): sales@ stays here on purpose"
        ),
        "{table}"
    );
    let doc: serde_json::Value = serde_json::from_str(&render(&json::Json)).unwrap();
    let shop = doc["domains"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["domain"] == "shop.example.org")
        .unwrap();
    assert_eq!(
        shop["findings"][0]["ignored"],
        "sales@ stays here on purpose"
    );
    assert_eq!(shop["findings"][0]["ignored_until"], "2027-03-31");
    let text = render(&text::Text);
    assert!(text.contains(
        "IGNORED split-delivery shop.example.org: mail is split between this server and other hosts: MX 10 web10.hoster.test [203.0.113.10], 10 mx2.elsewhere.test [198.51.100.8] (TTL 3600); declared at etc/postfix/vdomains:7 [ignored until 2027-03-31: sales@ stays here on purpose]"
    ), "{text}");
}

#[test]
fn idn_domains_show_their_unicode_form() {
    let table = render(&table::Table::default());
    assert!(table.contains("(bücher.test)"), "{table}");
    let doc: serde_json::Value = serde_json::from_str(&render(&json::Json)).unwrap();
    let idn = doc["domains"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["domain"] == "xn--bcher-kva.test")
        .unwrap();
    assert_eq!(idn["unicode"], "bücher.test");
    assert!(
        doc["domains"][0].get("unicode").is_none(),
        "only IDNs carry it"
    );
    assert!(
        render(&nagios()).contains("CRITICAL: xn--bcher-kva.test (bücher.test) mail-switch-on")
    );
    // The text format stays ASCII: the A-label alone.
    assert!(render(&text::Text).is_ascii());
}

#[test]
fn control_characters_from_config_files_are_escaped() {
    // A customer-controlled file name or list entry with ESC and BEL.
    let mut audit = sample_audit();
    audit.warnings[0].message = "bad \u{1b}[2J\u{7}entry \u{202e}txt.lave".into();
    audit.domains[0].domain.declared[0].file = "etc/postfix/v\u{1b}]0;owned\u{7}".into();
    audit.notes.push("note with \u{1b}[31m colour".into());
    for (name, out) in [
        ("table", render_report(&table::Table::default(), &audit)),
        ("text", render_report(&text::Text, &audit)),
        ("nagios", render_report(&nagios(), &audit)),
        (
            "table, narrow",
            render_report(&table::Table { width: Some(80) }, &audit),
        ),
    ] {
        assert!(
            !out.chars()
                .any(|c| (c.is_control() && c != '\n') || c == '\u{202e}'),
            "{name}: raw control character in {out:?}"
        );
        assert!(
            out.contains("\\u{1b}[2J\\u{7}entry \\u{202e}txt.lave"),
            "{name}: {out}"
        );
    }
}

#[test]
fn table_fits_the_terminal_width() {
    let audit = sample_audit();
    let widest = |out: &str| out.lines().map(|l| l.chars().count()).max().unwrap();
    let unbounded = render_report(&table::Table::default(), &audit);
    assert!(widest(&unbounded) > 150, "the sample is wide");
    for width in [80, 100, 120, 160] {
        let out = render_report(&table::Table { width: Some(width) }, &audit);
        assert!(widest(&out) <= width, "COLUMNS={width}:\n{out}");
        // Nothing is lost by wrapping: every domain and rule is still there.
        for (d, f) in audit.findings().filter(|(_, f)| f.ignored.is_none()) {
            assert!(
                out.contains(d.domain.name.as_str()),
                "{width}: {}",
                d.domain.name
            );
            let rule_start = f.rule.as_str().split('-').next().unwrap();
            assert!(out.contains(rule_start), "{width}: {}", f.rule);
        }
    }
}

#[test]
fn summaries_name_the_server_address_and_every_inconclusive_domain() {
    let mut audit = sample_audit();
    // An own name that is inconclusive has no finding; it is still named.
    let rules = RuleSet::embedded().unwrap();
    let domain = KnownDomain {
        name: DomainName::parse("web10.hoster.test").unwrap(),
        delivery: Delivery::Local,
        declared: vec![],
        facts: None,
    };
    let (audited, _) = audit::judge(
        domain,
        MxEvidence::inconclusive("not in any loaded zone"),
        &audit.identity,
        &rules,
        &[],
        CivilDate::parse("2026-11-23").unwrap(),
    );
    assert!(audited.findings.is_empty());
    audit.domains.push(audited);
    let table = render_report(&table::Table::default(), &audit);
    assert!(table.contains("(server address 203.0.113.10)"), "{table}");
    assert!(
        table.contains("Inconclusive (2): flaky.test, web10.hoster.test."),
        "{table}"
    );
    let text = render_report(&text::Text, &audit);
    assert!(
        text.contains("2 inconclusive (flaky.test, web10.hoster.test)"),
        "{text}"
    );
    let plugin = render_report(&nagios(), &audit);
    assert!(
        plugin.contains("2 domains inconclusive: flaky.test, web10.hoster.test"),
        "{plugin}"
    );
    assert!(
        plugin.contains("\nINCONCLUSIVE: web10.hoster.test: lookup inconclusive"),
        "{plugin}"
    );
}

#[test]
fn table_ends_with_the_next_step() {
    let table = render(&table::Table::default());
    let last = table.trim_end().lines().last().unwrap();
    assert!(
        table.contains("Next: `mxdrift rules domain-not-found` explains a rule; `mxdrift fix`"),
        "{table}"
    );
    assert!(last.contains("conclusive evidence"), "{last}");
    // Nothing to explain: no next step.
    let mut audit = sample_audit();
    for d in &mut audit.domains {
        d.findings.clear();
    }
    assert!(!render_report(&table::Table::default(), &audit).contains("Next:"));
}

fn baseline_of(audit: &Audit) -> Baseline {
    let mut json_text = Vec::new();
    json::Json.write_audit(audit, &mut json_text).unwrap();
    Baseline::parse(&json_text, "last.json").unwrap()
}

#[test]
fn baseline_reports_only_new_and_resolved_findings() {
    let before = sample_audit();
    let baseline = baseline_of(&before);
    // Unchanged: nothing new, nothing resolved, and text prints nothing.
    let delta = baseline.compare(&before);
    assert!(delta.is_empty(), "{delta:?}");
    let mut out = Vec::new();
    text::Text
        .write_report(
            &Report {
                audit: &before,
                baseline: Some(&delta),
            },
            &mut out,
        )
        .unwrap();
    assert!(out.is_empty(), "{}", String::from_utf8_lossy(&out));

    // moved.test was fixed, nullmx.test's finding is now ignored, and a
    // new domain moved away.
    let mut after = sample_audit();
    after
        .domains
        .retain(|d| d.domain.name.as_str() != "moved.test");
    for d in &mut after.domains {
        if d.domain.name.as_str() == "nullmx.test" {
            d.findings[0].ignored = Some("customer asked".into());
        }
        if d.domain.name.as_str() == "stays.test" {
            d.findings = after_findings_for_stays();
        }
    }
    let delta = baseline.compare(&after);
    let new: Vec<(&str, &str)> = delta
        .new
        .iter()
        .map(|c| (c.subject(), c.rule.as_str()))
        .collect();
    assert_eq!(new, [("stays.test", "mail-switch-on")]);
    let resolved: Vec<(&str, &str, Option<&str>)> = delta
        .resolved
        .iter()
        .map(|c| (c.subject(), c.rule.as_str(), c.now_ignored.as_deref()))
        .collect();
    assert_eq!(
        resolved,
        [
            ("moved.test", "mail-switch-on", None),
            (
                "nullmx.test",
                "null-mx-delivered-locally",
                Some("customer asked")
            ),
        ]
    );
    let report = Report {
        audit: &after,
        baseline: Some(&delta),
    };
    let mut out = Vec::new();
    text::Text.write_report(&report, &mut out).unwrap();
    let out = String::from_utf8(out).unwrap();
    let lines: Vec<&str> = out.lines().collect();
    assert!(
        lines[0].starts_with("NEW CRITICAL mail-switch-on stays.test: "),
        "{out}"
    );
    assert!(
        lines[1].starts_with("RESOLVED CRITICAL mail-switch-on moved.test: "),
        "{out}"
    );
    assert!(lines[2].ends_with("[now ignored: customer asked]"), "{out}");
    assert!(
        lines[3].starts_with("SUMMARY ")
            && lines[3].ends_with("since the baseline last.json: 1 new, 2 resolved"),
        "{out}"
    );
    assert_eq!(lines.len(), 4, "{out}");

    let mut out = Vec::new();
    table::Table::default()
        .write_report(&report, &mut out)
        .unwrap();
    let table = String::from_utf8(out).unwrap();
    assert!(table.contains("CRITICAL (NEW) (1)"), "{table}");
    assert!(table.contains("stays.test"), "{table}");
    assert!(
        !table.contains("expired.test"),
        "unchanged findings are not shown:\n{table}"
    );
    assert!(table.contains("RESOLVED (2)"), "{table}");
    assert!(
        table.contains("since the baseline last.json: 1 new, 2 resolved."),
        "{table}"
    );

    let mut out = Vec::new();
    json::Json.write_report(&report, &mut out).unwrap();
    let doc: serde_json::Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(doc["baseline"]["new"][0]["domain"], "stays.test");
    assert_eq!(doc["baseline"]["resolved"].as_array().unwrap().len(), 2);
    assert_eq!(
        doc["domains"].as_array().unwrap().len(),
        after.domains.len(),
        "JSON keeps the full report: it is the next baseline"
    );

    let mut out = Vec::new();
    sarif::Sarif::default()
        .write_report(&report, &mut out)
        .unwrap();
    let log: serde_json::Value = serde_json::from_slice(&out).unwrap();
    let results = log["runs"][0]["results"].as_array().unwrap();
    let state = |domain: &str, rule: &str| {
        results
            .iter()
            .find(|r| {
                r["ruleId"] == rule && r["message"]["text"].as_str().unwrap().starts_with(domain)
            })
            .map(|r| r["baselineState"].clone())
    };
    assert_eq!(state("stays.test", "mail-switch-on"), Some("new".into()));
    assert_eq!(
        state("expired.test", "domain-not-found"),
        Some("unchanged".into())
    );
    assert_eq!(state("moved.test", "mail-switch-on"), Some("absent".into()));
}

fn after_findings_for_stays() -> Vec<mxdrift::rules::Finding> {
    let audit = sample_audit();
    let moved = audit
        .domains
        .iter()
        .find(|d| d.domain.name.as_str() == "moved.test")
        .unwrap();
    let mut f = moved.findings.clone();
    for finding in &mut f {
        finding.domain = DomainName::parse("stays.test").unwrap();
    }
    f
}

#[test]
fn baselines_that_are_not_audit_reports_are_refused() {
    assert!(
        Baseline::parse(b"not json", "x.json")
            .unwrap_err()
            .to_string()
            .starts_with("--baseline x.json: not a JSON report")
    );
    let inventory = br#"{"version":1,"domains":[{"domain":"a.test","delivery":"local","declared":[]}],"warnings":[]}"#;
    let err = Baseline::parse(inventory, "inv.json")
        .unwrap_err()
        .to_string();
    assert!(err.contains("inventory"), "{err}");
    let future = br#"{"version":2,"domains":[]}"#;
    assert!(
        Baseline::parse(future, "f.json")
            .unwrap_err()
            .to_string()
            .contains("version 2")
    );
}

#[test]
fn baseline_covers_run_level_findings_and_warnings() {
    let before = sample_audit();
    let baseline = baseline_of(&before);
    let mut after = sample_audit();
    after.run_findings = vec![
        after
            .rules
            .run_finding(RuleId::ResolverUntrustworthy, "the whole run is wrong")
            .at("etc/postfix/main.cf", 1),
    ];
    after.warnings.clear();
    let delta = baseline.compare(&after);
    assert_eq!(delta.new.len(), 1);
    assert_eq!(delta.new[0].rule, "resolver-untrustworthy");
    assert!(delta.is_new_run_finding(RuleId::ResolverUntrustworthy, Some("etc/postfix/main.cf")));
    assert_eq!(
        delta.resolved_warnings,
        ["etc/postfix/main.cf: relay_domains: pcre:/etc/postfix/relay.pcre cannot be enumerated"]
    );
    let mut out = Vec::new();
    text::Text
        .write_report(
            &Report {
                audit: &after,
                baseline: Some(&delta),
            },
            &mut out,
        )
        .unwrap();
    let out = String::from_utf8(out).unwrap();
    assert!(
        out.starts_with(
            "NEW CRITICAL resolver-untrustworthy (server) (etc/postfix/main.cf): the whole run is wrong\n"
        ),
        "{out}"
    );
    assert!(
        out.contains("\nRESOLVED CONFIG etc/postfix/main.cf: relay_domains"),
        "{out}"
    );
    // The baseline of the run-level finding makes it known the next time.
    let again = baseline_of(&after).compare(&after);
    assert!(again.is_empty(), "{again:?}");
}

#[test]
fn text_is_one_ascii_line_per_finding_with_run_findings_first() {
    let mut audit = sample_audit();
    audit.rules.set_severity(
        RuleId::ResolverUntrustworthy,
        mxdrift::rules::Severity::Warning,
    );
    audit.run_findings = vec![
        audit
            .rules
            .run_finding(RuleId::ResolverUntrustworthy, "résolveur menteur")
            .with_evidence(vec!["asked . SOA".into(), "got NXDOMAIN".into()]),
    ];
    let out = render_report(&text::Text, &audit);
    assert!(out.is_ascii());
    let first = out.lines().next().unwrap();
    assert_eq!(
        first,
        "WARNING resolver-untrustworthy (server): r\\u{e9}solveur menteur [asked . SOA; got NXDOMAIN]"
    );
    let findings = audit.findings().count();
    // One line per finding, plus run finding, warning and summary.
    assert_eq!(out.lines().count(), findings + 1 + 1 + 1, "{out}");
}

#[test]
fn prometheus_failed_run_says_so() {
    let mut out = Vec::new();
    prometheus::write_failure(
        prometheus::RunErrorKind::Configuration,
        UNIX_EPOCH + Duration::from_secs(1_795_398_400),
        &mut out,
    )
    .unwrap();
    let text = String::from_utf8(out).unwrap();
    let scrape = prometheus_parse::Scrape::parse(text.lines().map(|l| Ok(l.to_string()))).unwrap();
    let get = |name: &str| {
        scrape
            .samples
            .iter()
            .find(|s| s.metric == name)
            .unwrap_or_else(|| panic!("{name} missing: {text}"))
    };
    assert!(
        matches!(get("mxdrift_last_run_success").value, prometheus_parse::Value::Gauge(v) if v == 0.0)
    );
    assert!(
        matches!(get("mxdrift_last_run_timestamp_seconds").value, prometheus_parse::Value::Gauge(v) if v == 1_795_398_400.0)
    );
    assert_eq!(
        get("mxdrift_last_run_error").labels.get("kind"),
        Some("configuration")
    );
}

#[test]
fn table_golden_at_100_columns() {
    assert_golden(
        "audit.table-100.txt",
        &render(&table::Table { width: Some(100) }),
    );
}
