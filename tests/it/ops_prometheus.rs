//! packaging/prometheus/: the alert rules under the real `promtool` (their
//! unit tests, and the alerts fed the textfile mxdrift really writes), and
//! the rules, their tests and the Grafana dashboard checked against the
//! metrics mxdrift writes.
//!
//! The metric names, labels and label values come from running mxdrift
//! (`audit --format prometheus` on the demo server, and a failed run), never
//! from a list kept here. The exception is the fleet textfile, which
//! `mxdrift fleet` does not write yet: [`FLEET_METRICS`] defines it.

use std::collections::{BTreeMap, BTreeSet};
use std::process::{Command, Output};

use serde_json::Value;

use crate::common::{DEMO, DEMO_ZONE, repo, require_tool, run_mxdrift, text};

/// The fleet textfile (`mxdrift fleet --format prometheus`, issue 14): the
/// number of domains of each cross-server rule at the server that has to act.
/// The alerts and the dashboard use it; `mxdrift fleet` must write exactly
/// this name and these labels.
const FLEET_METRICS: &[(&str, &[&str])] =
    &[("mxdrift_fleet_findings", &["rule", "severity", "server"])];

/// Labels the scrape adds to every series.
const SCRAPE_LABELS: &[&str] = &["instance", "job"];

const ALERTS: &str = "packaging/prometheus/mxdrift-alerts.yml";
const ALERT_TESTS: &str = "packaging/prometheus/tests/mxdrift-alerts.test.yml";
const DASHBOARD: &str = "packaging/prometheus/grafana-dashboard.json";

/// One sample of a textfile: name, labels, value.
type Sample = (String, BTreeMap<String, String>, f64);

/// Metric name -> label -> the values mxdrift writes (empty: any value).
type Metrics = BTreeMap<String, BTreeMap<String, BTreeSet<String>>>;

/// The textfile of an audit of the demo server (it has findings: exit 1).
fn demo_textfile() -> String {
    let out = run_mxdrift([
        "audit",
        "--root",
        DEMO,
        "--zone-file",
        DEMO_ZONE,
        "--format",
        "prometheus",
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    text(&out.stdout)
}

/// The textfile of a run that failed: a root with no mail server in it.
fn failed_textfile() -> String {
    let empty = tempfile::tempdir().unwrap();
    let root = empty.path().to_str().unwrap();
    let out = run_mxdrift(["audit", "--root", root, "--format", "prometheus"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    text(&out.stdout)
}

fn samples(textfile: &str) -> Vec<Sample> {
    let scrape = prometheus_parse::Scrape::parse(textfile.lines().map(|l| Ok(l.to_string())))
        .expect("valid exposition format");
    scrape
        .samples
        .into_iter()
        .map(|s| {
            let value = match s.value {
                prometheus_parse::Value::Gauge(v) | prometheus_parse::Value::Untyped(v) => v,
                other => panic!("{}: not a gauge: {other:?}", s.metric),
            };
            let labels = s
                .labels
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            (s.metric, labels, value)
        })
        .collect()
}

/// Every metric mxdrift writes, with its labels and their values, plus the
/// fleet's.
fn known_metrics() -> Metrics {
    let mut known = Metrics::new();
    for (name, labels, _) in samples(&demo_textfile())
        .into_iter()
        .chain(samples(&failed_textfile()))
    {
        let metric = known.entry(name).or_default();
        for (label, value) in labels {
            metric.entry(label).or_default().insert(value);
        }
    }
    for (name, labels) in FLEET_METRICS {
        let metric = known.entry((*name).to_string()).or_default();
        for label in *labels {
            metric.entry((*label).to_string()).or_default();
        }
    }
    known
}

fn is_ident(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == ':'
}

/// The PromQL text with every string literal blanked (same length), so that
/// nothing inside quotes is taken for a name.
fn blank_strings(expr: &str) -> String {
    let mut out = String::with_capacity(expr.len());
    let mut quote: Option<char> = None;
    let mut escaped = false;
    for c in expr.chars() {
        match quote {
            Some(q) => {
                if escaped {
                    escaped = false;
                } else if c == '\\' {
                    escaped = true;
                } else if c == q {
                    quote = None;
                    out.push(c);
                    continue;
                }
                out.push(if c.is_ascii() { ' ' } else { '_' });
            }
            None => {
                if matches!(c, '"' | '\'' | '`') {
                    quote = Some(c);
                }
                out.push(c);
            }
        }
    }
    out
}

/// `label op "value"` pairs of a selector's braces (the text between them).
fn matchers(inside: &str) -> Vec<(String, String, String)> {
    let mut found = Vec::new();
    let mut rest = inside.trim();
    while !rest.is_empty() {
        let name_end = rest.find(|c: char| !is_ident(c)).unwrap_or(rest.len());
        let name = rest[..name_end].to_string();
        rest = rest[name_end..].trim_start();
        let op_len = rest.find('"').unwrap_or(rest.len());
        let op = rest[..op_len].trim().to_string();
        rest = &rest[op_len..];
        let mut value = String::new();
        let mut chars = rest.char_indices().skip(1);
        let mut end = rest.len();
        while let Some((i, c)) = chars.next() {
            match c {
                '\\' => {
                    if let Some((_, next)) = chars.next() {
                        value.push(next);
                    }
                }
                '"' => {
                    end = i + 1;
                    break;
                }
                _ => value.push(c),
            }
        }
        found.push((name, op, value));
        rest = rest[end..]
            .trim_start()
            .trim_start_matches(',')
            .trim_start();
    }
    found
}

/// What is wrong with the mxdrift metrics an expression uses: a name mxdrift
/// does not write, a label the metric does not have, an `=` value it never
/// takes, a grouping label (`by`, `without`, `on`, `ignoring`, `group_left`,
/// `group_right`, `label_values`) that none of the expression's metrics has,
/// or no mxdrift metric at all.
fn check_expr(expr: &str, known: &Metrics) -> Vec<String> {
    let blank = blank_strings(expr);
    let chars: Vec<(usize, char)> = blank.char_indices().collect();
    let mut problems = Vec::new();
    let mut used: Vec<&str> = Vec::new();
    let mut grouping: Vec<String> = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let (start, c) = chars[i];
        let preceded = i > 0 && is_ident(chars[i - 1].1);
        if !(c.is_ascii_alphabetic() || c == '_') || preceded {
            i += 1;
            continue;
        }
        let mut j = i;
        while j < chars.len() && is_ident(chars[j].1) {
            j += 1;
        }
        let end = chars.get(j).map_or(blank.len(), |&(p, _)| p);
        let word = &blank[start..end];
        let after = blank[end..].trim_start();
        if word.starts_with("mxdrift_") {
            match known.get_key_value(word) {
                None => problems.push(format!("{word}: mxdrift writes no such metric")),
                Some((name, labels)) => {
                    used.push(name.as_str());
                    if let Some(open) = after.strip_prefix('{') {
                        let offset = blank.len() - open.len();
                        let close = open.find('}').expect("a selector's braces close");
                        for (label, op, value) in matchers(&expr[offset..offset + close]) {
                            if SCRAPE_LABELS.contains(&label.as_str()) {
                                continue;
                            }
                            match labels.get(&label) {
                                None => problems.push(format!("{word}: no label {label}")),
                                Some(values) if op == "=" && !values.is_empty() && !values.contains(&value) => {
                                    problems.push(format!("{word}: {label} is never {value:?} (it is one of {values:?})"))
                                }
                                Some(_) => {}
                            }
                        }
                    }
                }
            }
        } else if matches!(
            word,
            "by" | "without" | "on" | "ignoring" | "group_left" | "group_right" | "label_values"
        ) && after.starts_with('(')
        {
            let open = blank.len() - after.len() + 1;
            let close = open + blank[open..].find(')').expect("a grouping list closes");
            let list = &blank[open..close];
            let labels = if word == "label_values" {
                list.rsplit(',').next().into_iter().collect::<Vec<_>>()
            } else {
                list.split(',').collect()
            };
            grouping.extend(
                labels
                    .iter()
                    .map(|l| l.trim().to_string())
                    .filter(|l| !l.is_empty()),
            );
        }
        i = j;
    }
    if used.is_empty() && problems.is_empty() {
        problems.push("uses no mxdrift metric".to_string());
    }
    for label in grouping {
        let has = SCRAPE_LABELS.contains(&label.as_str())
            || used.iter().any(|m| known[*m].contains_key(&label));
        if !has {
            problems.push(format!("groups by {label}, a label of none of {used:?}"));
        }
    }
    problems
}

fn yaml(path: &str) -> Value {
    let text = std::fs::read_to_string(repo(path)).unwrap();
    serde_saphyr::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn dashboard() -> Value {
    let text = std::fs::read_to_string(repo(DASHBOARD)).unwrap();
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{DASHBOARD}: not valid JSON: {e}"))
}

/// (where, expression) of every query of the dashboard: panel targets and
/// template variables.
fn dashboard_queries(dash: &Value) -> Vec<(String, String)> {
    let mut queries = Vec::new();
    for panel in dash["panels"].as_array().unwrap() {
        for target in panel["targets"].as_array().into_iter().flatten() {
            let expr = target["expr"]
                .as_str()
                .unwrap_or_else(|| panic!("{target}: no expr"));
            queries.push((
                format!("panel {} target {}", panel["title"], target["refId"]),
                expr.to_string(),
            ));
        }
    }
    for var in dash["templating"]["list"].as_array().unwrap() {
        if var["type"] == "query" {
            let query = var["query"]["query"]
                .as_str()
                .or(var["query"].as_str())
                .unwrap();
            queries.push((format!("variable {}", var["name"]), query.to_string()));
        }
    }
    queries
}

fn alert_exprs(rules: &Value) -> Vec<(String, String)> {
    let mut exprs = Vec::new();
    for group in rules["groups"].as_array().unwrap() {
        for rule in group["rules"].as_array().unwrap() {
            exprs.push((
                format!("alert {}", rule["alert"]),
                rule["expr"].as_str().unwrap().to_string(),
            ));
        }
    }
    exprs
}

fn run(cmd: &mut Command) -> Output {
    cmd.output().unwrap_or_else(|e| panic!("run {cmd:?}: {e}"))
}

fn assert_success(out: &Output, what: &str) {
    assert!(
        out.status.success(),
        "{what} failed ({}):\n{}\n{}",
        out.status,
        text(&out.stdout),
        text(&out.stderr)
    );
}

/// A YAML scalar: JSON's string syntax is YAML's double-quoted scalar.
fn scalar(s: &str) -> String {
    serde_json::to_string(s).unwrap()
}

fn series(name: &str, labels: &BTreeMap<String, String>) -> String {
    let labels: Vec<String> = labels
        .iter()
        .map(|(k, v)| format!("{k}={}", scalar(v)))
        .collect();
    format!("{name}{{{}}}", labels.join(","))
}

#[test]
fn the_reference_check_catches_wrong_names_labels_and_values() {
    let known = known_metrics();
    assert!(
        check_expr(
            r#"sum by (instance, rule) (mxdrift_findings{severity="critical"}) > 0"#,
            &known
        )
        .is_empty()
    );
    assert!(
        check_expr(
            r#"label_values(mxdrift_last_run_timestamp_seconds, instance)"#,
            &known
        )
        .is_empty()
    );
    assert!(
        check_expr(
            r#"sum by (rule, severity, server) (mxdrift_fleet_findings) > 0"#,
            &known
        )
        .is_empty()
    );
    for (expr, problem) in [
        ("mxdrift_finding", "no such metric"),
        (r#"mxdrift_findings{verdict="here"}"#, "no label verdict"),
        (r#"mxdrift_findings{severity="page"}"#, "is never \"page\""),
        (r#"mxdrift_domains{verdict="moved"}"#, "is never \"moved\""),
        ("sum by (verdict) (mxdrift_findings)", "groups by verdict"),
        ("label_values(mxdrift_info, rule)", "groups by rule"),
        (r#"up{job="node"}"#, "uses no mxdrift metric"),
    ] {
        let problems = check_expr(expr, &known);
        assert!(
            problems.iter().any(|p| p.contains(problem)),
            "{expr}: expected {problem:?}, got {problems:?}"
        );
    }
    // Names in strings are not names: the template query of an annotation.
    assert!(blank_strings(r#"x{a="mxdrift_nope"}"#).contains("x{a=\""));
}

#[test]
fn alerts_rule_tests_and_dashboard_use_only_metrics_mxdrift_writes() {
    let known = known_metrics();
    let mut problems = Vec::new();
    for (place, expr) in alert_exprs(&yaml(ALERTS)) {
        problems.extend(
            check_expr(&expr, &known)
                .into_iter()
                .map(|p| format!("{ALERTS}: {place}: {p}")),
        );
    }
    for (place, expr) in dashboard_queries(&dashboard()) {
        problems.extend(
            check_expr(&expr, &known)
                .into_iter()
                .map(|p| format!("{DASHBOARD}: {place}: {p}")),
        );
    }
    // The unit tests' input series: a test of a series mxdrift never writes
    // would prove nothing.
    for test in yaml(ALERT_TESTS)["tests"].as_array().unwrap() {
        for input in test["input_series"].as_array().unwrap() {
            let s = input["series"].as_str().unwrap();
            problems.extend(
                check_expr(s, &known)
                    .into_iter()
                    .map(|p| format!("{ALERT_TESTS}: {s}: {p}")),
            );
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn dashboard_is_a_grafana_dashboard_with_the_views_issue_14_asks_for() {
    let dash = dashboard();
    assert_eq!(dash["uid"], "mxdrift-fleet");
    assert!(dash["title"].as_str().is_some_and(|t| !t.is_empty()));
    assert!(dash["schemaVersion"].as_u64().is_some_and(|v| v >= 36));
    let panels = dash["panels"].as_array().unwrap();
    let mut ids = BTreeSet::new();
    for panel in panels {
        let id = panel["id"]
            .as_u64()
            .unwrap_or_else(|| panic!("{}: no id", panel["title"]));
        assert!(ids.insert(id), "panel id {id} twice");
        for key in ["x", "y", "w", "h"] {
            assert!(
                panel["gridPos"][key].is_u64(),
                "{}: gridPos.{key}",
                panel["title"]
            );
        }
        let x = panel["gridPos"]["x"].as_u64().unwrap();
        let w = panel["gridPos"]["w"].as_u64().unwrap();
        assert!(x + w <= 24, "{}: wider than the grid", panel["title"]);
        if panel["type"] != "row" {
            assert_eq!(
                panel["datasource"]["uid"], "${datasource}",
                "{}",
                panel["title"]
            );
            assert!(
                !panel["targets"].as_array().unwrap().is_empty(),
                "{}",
                panel["title"]
            );
        }
    }
    let vars: Vec<&str> = dash["templating"]["list"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["name"].as_str().unwrap())
        .collect();
    assert_eq!(vars, ["datasource", "instance"]);
    // Per-server findings, the verdict mix and the run age.
    let queries = dashboard_queries(&dash);
    let has = |what: &str, needles: &[&str]| {
        assert!(
            queries
                .iter()
                .any(|(_, q)| needles.iter().all(|n| q.contains(n))),
            "no query for {what}: {queries:#?}"
        );
    };
    has(
        "findings per server",
        &["by (instance)", "mxdrift_findings_by_severity"],
    );
    has("the verdict mix", &["by (verdict)", "mxdrift_domains"]);
    has(
        "the run age",
        &["time() - ", "mxdrift_last_run_timestamp_seconds"],
    );
    has("fleet findings", &["mxdrift_fleet_findings"]);
}

#[test]
fn textfiles_pass_promtool_check_metrics() {
    let Some(promtool) = require_tool("promtool") else {
        return;
    };
    for textfile in [demo_textfile(), failed_textfile()] {
        let mut child = Command::new(&promtool)
            .args(["check", "metrics"])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        std::io::Write::write_all(&mut child.stdin.take().unwrap(), textfile.as_bytes()).unwrap();
        let out = child.wait_with_output().unwrap();
        assert_success(&out, "promtool check metrics");
        assert!(
            out.stdout.is_empty() && out.stderr.is_empty(),
            "lint: {}{}",
            text(&out.stdout),
            text(&out.stderr)
        );
    }
}

#[test]
fn alert_rules_pass_promtool_check_and_their_unit_tests() {
    let Some(promtool) = require_tool("promtool") else {
        return;
    };
    let out = run(Command::new(&promtool)
        .args(["check", "rules"])
        .arg(repo(ALERTS)));
    assert_success(&out, "promtool check rules");
    assert!(
        text(&out.stdout).contains("SUCCESS: 6 rules found"),
        "{}",
        text(&out.stdout)
    );
    let out = run(Command::new(&promtool)
        .args(["test", "rules", "tests/mxdrift-alerts.test.yml"])
        .current_dir(repo("packaging/prometheus")));
    assert_success(&out, "promtool test rules");
    assert!(
        text(&out.stdout).contains("SUCCESS"),
        "{}",
        text(&out.stdout)
    );
}

#[test]
fn dashboard_queries_are_promql_that_promtool_accepts() {
    let Some(promtool) = require_tool("promtool") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let mut rules = String::from("groups:\n  - name: dashboard\n    rules:\n");
    for (n, (_, expr)) in dashboard_queries(&dashboard()).iter().enumerate() {
        if expr.starts_with("label_values(") {
            continue; // Grafana's, not PromQL
        }
        rules.push_str(&format!(
            "      - record: dashboard:query_{n}\n        expr: {}\n",
            scalar(expr)
        ));
    }
    let file = dir.path().join("dashboard.rules.yml");
    std::fs::write(&file, rules).unwrap();
    let out = run(Command::new(&promtool).args(["check", "rules"]).arg(&file));
    assert_success(&out, "promtool check rules (the dashboard's queries)");
}

/// The alerts and two dashboard queries, fed the textfiles mxdrift really
/// writes (scraped every minute for 25 hours): the demo's critical findings
/// alert after a day, one alert per rule with findings and none for a rule
/// at 0; the demo's one inconclusive domain of 18 does not; the failed run
/// alerts at once with the kind of its error.
#[test]
fn alerts_fire_on_the_textfiles_mxdrift_writes() {
    let Some(promtool) = require_tool("promtool") else {
        return;
    };
    let mut input = String::new();
    let mut demo: Vec<Sample> = Vec::new();
    for (instance, textfile) in [
        ("demo:9100", demo_textfile()),
        ("broken:9100", failed_textfile()),
    ] {
        for (name, mut labels, value) in samples(&textfile) {
            labels.insert("instance".into(), instance.into());
            labels.insert("job".into(), "node".into());
            input.push_str(&format!(
                "      - series: {}\n        values: '{value}x1500'\n",
                scalar(&series(&name, &labels))
            ));
            if instance == "demo:9100" {
                demo.push((name, labels, value));
            }
        }
    }
    let value_of = |name: &str, want: &[(&str, &str)]| -> Vec<(BTreeMap<String, String>, f64)> {
        demo.iter()
            .filter(|(n, l, _)| {
                n == name
                    && want
                        .iter()
                        .all(|(k, v)| l.get(*k).map(String::as_str) == Some(*v))
            })
            .map(|(_, l, v)| (l.clone(), *v))
            .collect()
    };
    let exp = |samples: &[(String, f64)]| -> String {
        if samples.is_empty() {
            return "        exp_samples: []\n".to_string();
        }
        let mut s = String::from("        exp_samples:\n");
        for (labels, value) in samples {
            s.push_str(&format!(
                "          - labels: {}\n            value: {value}\n",
                scalar(labels)
            ));
        }
        s
    };
    let alert_labels = |alert: &str, instance: &str, extra: &[(&str, &str)], severity: &str| {
        let l: BTreeMap<String, String> = [
            ("alertname", alert),
            ("alertstate", "firing"),
            ("instance", instance),
            ("job", "node"),
            ("severity", severity),
        ]
        .iter()
        .chain(extra)
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        series("ALERTS", &l)
    };

    let mut checks = String::new();
    let mut check = |expr: &str, at: &str, samples: Vec<(String, f64)>| {
        checks.push_str(&format!(
            "      - expr: {}\n        eval_time: {at}\n{}",
            scalar(expr),
            exp(&samples)
        ));
    };
    // Critical findings: one alert per rule with findings, after a day.
    let critical: Vec<(String, f64)> = value_of("mxdrift_findings", &[("severity", "critical")])
        .into_iter()
        .filter(|(_, v)| *v > 0.0)
        .map(|(l, _)| {
            (
                alert_labels(
                    "MxdriftCriticalFindings",
                    "demo:9100",
                    &[("rule", &l["rule"])],
                    "critical",
                ),
                1.0,
            )
        })
        .collect();
    assert!(
        critical.len() >= 2,
        "the demo has critical findings of two rules: {critical:?}"
    );
    let firing = |name: &str| format!("ALERTS{{alertname=\"{name}\",alertstate=\"firing\"}}");
    check(&firing("MxdriftCriticalFindings"), "23h", vec![]);
    check(&firing("MxdriftCriticalFindings"), "24h1m", critical);
    check(&firing("MxdriftDnsInconclusive"), "1h", vec![]);
    check(
        &firing("MxdriftRunFailed"),
        "2m",
        vec![(
            alert_labels("MxdriftRunFailed", "broken:9100", &[], "warning"),
            1.0,
        )],
    );
    // What the failed-run alert's summary names.
    check(
        r#"mxdrift_last_run_error{instance="broken:9100",job="node"} == 1"#,
        "2m",
        vec![(
            r#"mxdrift_last_run_error{instance="broken:9100",job="node",kind="configuration"}"#
                .to_string(),
            1.0,
        )],
    );
    // The dashboard's verdict mix and per-server critical findings, with
    // "All" servers selected.
    let dash = dashboard();
    let queries = dashboard_queries(&dash);
    let query = |panel: &str, target: &str| -> String {
        let place = format!("panel {} target {}", scalar(panel), scalar(target));
        let (_, q) = queries
            .iter()
            .find(|(p, _)| *p == place)
            .unwrap_or_else(|| panic!("no {place}"));
        q.replace("$instance", ".*")
    };
    let verdicts: Vec<(String, f64)> = value_of("mxdrift_domains", &[("delivery", "local")])
        .into_iter()
        .filter(|(_, v)| *v > 0.0)
        .map(|(l, v)| (format!("{{verdict={}}}", scalar(&l["verdict"])), v))
        .collect();
    assert!(verdicts.len() >= 5, "{verdicts:?}");
    check(&query("Verdict mix (local domains)", "A"), "1h", verdicts);
    let critical_count = value_of("mxdrift_findings_by_severity", &[("severity", "critical")])[0].1;
    check(
        &query("Findings per server", "A"),
        "1h",
        vec![(r#"{instance="demo:9100"}"#.to_string(), critical_count)],
    );

    let dir = tempfile::tempdir().unwrap();
    let test = format!(
        "rule_files:\n  - {}\nevaluation_interval: 1m\ntests:\n  - interval: 1m\n    input_series:\n{input}    promql_expr_test:\n{checks}",
        scalar(repo(ALERTS).to_str().unwrap())
    );
    let file = dir.path().join("real-textfiles.test.yml");
    std::fs::write(&file, &test).unwrap();
    let out = run(Command::new(&promtool).args(["test", "rules"]).arg(&file));
    assert_success(
        &out,
        &format!("promtool test rules {}:\n{test}", file.display()),
    );
}
