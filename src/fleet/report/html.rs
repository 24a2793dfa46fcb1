//! `fleet --format html`: one self-contained page for a support team: no
//! script, no external stylesheet, font or image, so it opens the same from
//! a mail attachment, a file share or an offline laptop. Three parts, in
//! the order a support engineer asks: which servers and how fresh their
//! reports are, what is wrong across servers (with what to do), and a
//! servers × rules matrix of every finding.
//!
//! Everything from a report is escaped: a customer controls domain names
//! and file names on their server, and the page must not run their markup.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::io::{self, Write};

use super::{FleetFormatter, age_of, all_servers, headline};
use crate::fleet::Fleet;
use crate::rules::{RuleId, Severity};
use crate::timestamp::human_age;

pub struct Html;

/// Text for an HTML element or a quoted attribute.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c if c.is_control() && c != '\n' && c != '\t' => {
                let _ = write!(out, "\\u{{{:x}}}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out
}

const STYLE: &str = "
body{font-family:system-ui,-apple-system,'Segoe UI',Roboto,'DejaVu Sans',sans-serif;margin:1.5rem;color:#1d2430;background:#fff}
h1{font-size:1.5rem;margin:0 0 .25rem}h2{font-size:1.15rem;margin:1.75rem 0 .5rem;border-bottom:2px solid #d7dce3;padding-bottom:.2rem}
p.meta{color:#4b5563;margin:.2rem 0}
table{border-collapse:collapse;margin:.25rem 0;font-size:.9rem}
th,td{border:1px solid #d7dce3;padding:.3rem .5rem;text-align:left;vertical-align:top}
th{background:#f1f4f8}
td.n{text-align:right;font-variant-numeric:tabular-nums}
.critical{background:#fde2e1;color:#8a1c14;font-weight:600}
.warning{background:#fff1cc;color:#7a4d00;font-weight:600}
.info{background:#e3efff;color:#1e4a8a}
.zero{color:#9aa3ae}
.stale{background:#eceff3;color:#5b6472}
.badge{display:inline-block;padding:.05rem .4rem;border-radius:.25rem;font-size:.8rem}
ul.evidence{margin:.3rem 0 0 1rem;padding:0;font-size:.85rem;color:#374151}
code{font-family:'DejaVu Sans Mono',monospace;font-size:.85rem}
.ok{color:#1f6f3a;font-weight:600}
.nw{white-space:nowrap}
";

fn severity_class(severity: Severity) -> &'static str {
    severity.as_str()
}

impl FleetFormatter for Html {
    fn write_fleet(&self, fleet: &Fleet, out: &mut dyn Write) -> io::Result<()> {
        let mut page = String::new();
        let _ = write!(
            page,
            "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
             <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
             <title>mxdrift fleet report</title>\n<style>{STYLE}</style>\n</head>\n<body>\n\
             <h1>mxdrift fleet report</h1>\n\
             <p class=\"meta\">Generated {} from {} report(s); reports older than {} are stale and left out.</p>\n\
             <p class=\"meta\" id=\"headline\">{}.</p>\n",
            fleet.options.now,
            fleet.servers.len() + fleet.stale.len() + fleet.superseded.len(),
            human_age(fleet.options.max_age),
            escape(&headline(fleet)),
        );
        servers(fleet, &mut page);
        findings(fleet, &mut page);
        matrix(fleet, &mut page);
        left_out(fleet, &mut page);
        rule_help(fleet, &mut page);
        page.push_str("</body>\n</html>\n");
        out.write_all(page.as_bytes())
    }
}

fn servers(fleet: &Fleet, page: &mut String) {
    page.push_str(
        "<h2 id=\"servers\">Servers</h2>\n<table>\n<tr><th>server</th><th>platform</th>\
         <th>audited (UTC)</th><th>age</th><th>report</th><th>domains</th><th>local</th>\
         <th>inconclusive</th><th>critical</th><th>warning</th><th>info</th></tr>\n",
    );
    for (s, stale) in all_servers(fleet) {
        let status = if stale {
            "<td class=\"stale\">STALE: left out</td>"
        } else {
            "<td class=\"ok\">fresh</td>"
        };
        let _ = write!(
            page,
            "<tr{}><td><strong>{}</strong><br><code>{}</code></td><td>{}</td><td>{}</td><td>{}</td>{status}\
             <td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td>",
            if stale { " class=\"stale\"" } else { "" },
            escape(&s.hostname),
            escape(&s.file),
            escape(&s.platform),
            s.audited_at,
            age_of(fleet, s),
            s.summary.domains,
            s.summary.local,
            s.summary.inconclusive,
        );
        for severity in Severity::ALL {
            count_cell(page, s.summary.count(severity), severity);
        }
        page.push_str("</tr>\n");
    }
    page.push_str("</table>\n");
}

fn count_cell(page: &mut String, n: usize, severity: Severity) {
    if n == 0 {
        page.push_str("<td class=\"n zero\">0</td>");
    } else {
        let _ = write!(
            page,
            "<td class=\"n {}\">{n}</td>",
            severity_class(severity)
        );
    }
}

fn findings(fleet: &Fleet, page: &mut String) {
    let _ = writeln!(
        page,
        "<h2 id=\"findings\">Cross-server findings ({})</h2>",
        fleet.findings.len()
    );
    if fleet.findings.is_empty() {
        page.push_str("<p class=\"ok\">No cross-server findings among the fresh reports.</p>\n");
        return;
    }
    page.push_str(
        "<table>\n<tr><th>severity</th><th>rule</th><th>domain</th><th>act on server</th>\
         <th>finding and evidence</th></tr>\n",
    );
    for f in &fleet.findings {
        let _ = write!(
            page,
            "<tr><td><span class=\"badge {}\">{}</span></td><td class=\"nw\"><code>{}</code></td>\
             <td class=\"nw\"><strong>{}</strong></td><td class=\"nw\">{}</td><td>{}<ul class=\"evidence\">",
            severity_class(f.severity),
            f.severity.as_str().to_uppercase(),
            f.rule.as_str(),
            escape(f.domain.as_str()),
            escape(&f.server),
            escape(&f.message),
        );
        for line in &f.evidence {
            let _ = write!(page, "<li>{}</li>", escape(line));
        }
        page.push_str("</ul></td></tr>\n");
    }
    page.push_str("</table>\n");
}

/// Servers × rules: the fleet rules, then every rule some server's own
/// report raised (ids as the reports wrote them).
fn matrix(fleet: &Fleet, page: &mut String) {
    let fleet_rules: Vec<RuleId> = Fleet::fleet_rules().collect();
    let own_rules: BTreeSet<&str> = all_servers(fleet)
        .flat_map(|(s, _)| s.rule_counts.keys().map(String::as_str))
        .collect();
    page.push_str(
        "<h2 id=\"matrix\">Servers × rules</h2>\n<p class=\"meta\">Findings per server and rule: \
         the cross-server rules first, then each server's own audit findings (ignored ones not \
         counted). A stale server's cross-server cells are empty: it was left out.</p>\n<table>\n<tr><th>server</th>",
    );
    for rule in &fleet_rules {
        let _ = write!(page, "<th><code>{}</code></th>", rule.as_str());
    }
    for rule in &own_rules {
        let _ = write!(page, "<th><code>{}</code></th>", escape(rule));
    }
    page.push_str("</tr>\n");
    for (s, stale) in all_servers(fleet) {
        let _ = write!(
            page,
            "<tr{}><td><strong>{}</strong></td>",
            if stale { " class=\"stale\"" } else { "" },
            escape(&s.hostname)
        );
        for rule in &fleet_rules {
            if stale {
                page.push_str("<td class=\"n stale\">–</td>");
            } else {
                count_cell(
                    page,
                    fleet.count_of(&s.hostname, *rule),
                    fleet.rules.rule(*rule).severity,
                );
            }
        }
        for rule in &own_rules {
            let n = s.rule_counts.get(*rule).copied().unwrap_or(0);
            let severity =
                RuleId::parse(rule).map_or(Severity::Info, |id| fleet.rules.rule(id).severity);
            count_cell(page, n, severity);
        }
        page.push_str("</tr>\n");
    }
    page.push_str("</table>\n");
}

fn left_out(fleet: &Fleet, page: &mut String) {
    if fleet.stale.is_empty() && fleet.superseded.is_empty() && fleet.notes.is_empty() {
        return;
    }
    page.push_str("<h2 id=\"notes\">Left out, and how the reports were combined</h2>\n<ul>\n");
    for s in &fleet.superseded {
        let _ = writeln!(page, "<li>Superseded: {}</li>", escape(&s.describe()));
    }
    for note in &fleet.notes {
        let _ = writeln!(page, "<li>{}</li>", escape(note));
    }
    page.push_str("</ul>\n");
}

fn rule_help(fleet: &Fleet, page: &mut String) {
    page.push_str("<h2 id=\"rules\">What the cross-server rules mean</h2>\n<dl>\n");
    for id in Fleet::fleet_rules() {
        let rule = fleet.rules.rule(id);
        let _ = writeln!(
            page,
            "<dt><code>{}</code> ({}): {}</dt><dd><p>{}</p><p><strong>What to do:</strong> {}</p></dd>",
            id.as_str(),
            rule.severity,
            escape(&rule.title),
            escape(rule.rationale.trim()),
            escape(rule.remediation.trim()),
        );
    }
    page.push_str("</dl>\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn report_text_cannot_become_markup() {
        assert_eq!(
            escape("<script>alert('x')</script> & \"q\""),
            "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &quot;q&quot;"
        );
        assert_eq!(escape("a\u{1b}b"), "a\\u{1b}b");
    }
}
