//! `--format nagios`: a monitoring plugin per the Monitoring Plugins
//! development guidelines, usable unchanged from Nagios, Icinga 2 and
//! Checkmk (MRPE): one status line with performance data, long output one
//! finding per line, and the state as exit code 0/1/2/3.
//!
//! The plugin never says OK blindly: no locally delivered domain at all is
//! UNKNOWN (the wrong `--platform` or `--root` reads nothing), inconclusive
//! domains above `--max-inconclusive` and any configuration warning are at
//! least WARNING. `|` starts performance data in the plugin protocol, so it
//! never appears in the text.

use std::collections::BTreeMap;
use std::io::{self, Write};

use super::{
    AuditFormatter, NO_LOCAL_DOMAINS, Report, ignore_note, inconclusive_domains,
    local_domain_count, name_list, name_with_unicode, printable, warning_place,
};
use crate::audit::{Audit, AuditedDomain};
use crate::rules::{RuleId, Severity};

/// Plugin states and their exit codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum State {
    Ok = 0,
    Warning = 1,
    Critical = 2,
    Unknown = 3,
}

impl State {
    pub fn label(self) -> &'static str {
        match self {
            State::Ok => "OK",
            State::Warning => "WARNING",
            State::Critical => "CRITICAL",
            State::Unknown => "UNKNOWN",
        }
    }
}

/// A threshold range in the guidelines' syntax: `10` (alert outside 0..10),
/// `10:` (below 10), `~:10` (above 10), `10:20`, and `@10:20` (inside).
#[derive(Debug, Clone, PartialEq)]
pub struct Range {
    start: Option<f64>,
    end: Option<f64>,
    inside: bool,
    /// As given: performance data repeats it.
    text: String,
}

#[derive(Debug, thiserror::Error)]
#[error("invalid threshold range `{0}` (examples: 0, 5, 5:, ~:5, 2:5, @2:5)")]
pub struct RangeError(String);

impl Range {
    pub fn parse(text: &str) -> Result<Range, RangeError> {
        let err = || RangeError(text.to_string());
        // The text is repeated in the performance data: nothing that could
        // end a field or the line.
        if text
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || c == ';' || c == '|' || c == '\'')
        {
            return Err(err());
        }
        let (inside, body) = match text.strip_prefix('@') {
            Some(rest) => (true, rest),
            None => (false, text),
        };
        let number = |s: &str| s.trim().parse::<f64>().ok().filter(|n| n.is_finite());
        let (start, end) = match body.split_once(':') {
            None => (Some(0.0), Some(number(body).ok_or_else(err)?)),
            Some((a, b)) => {
                let start = match a.trim() {
                    "~" => None,
                    "" => Some(0.0),
                    s => Some(number(s).ok_or_else(err)?),
                };
                let end = if b.trim().is_empty() {
                    None
                } else {
                    Some(number(b).ok_or_else(err)?)
                };
                (start, end)
            }
        };
        if let (Some(s), Some(e)) = (start, end)
            && s > e
        {
            return Err(err());
        }
        Ok(Range {
            start,
            end,
            inside,
            text: text.to_string(),
        })
    }

    /// True when `value` must raise an alert.
    pub fn alerts(&self, value: f64) -> bool {
        let within = self.start.is_none_or(|s| value >= s) && self.end.is_none_or(|e| value <= e);
        if self.inside { within } else { !within }
    }

    /// The range as given, for performance data.
    pub fn as_str(&self) -> &str {
        &self.text
    }
}

/// `--max-inconclusive`: how many inconclusive domains are tolerated
/// before WARNING, as a count (`3`) or a share of the domains audited (`5%`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum InconclusiveLimit {
    Count(u64),
    Percent(f64),
}

impl Default for InconclusiveLimit {
    fn default() -> Self {
        InconclusiveLimit::Count(0)
    }
}

#[derive(Debug, thiserror::Error)]
#[error(
    "invalid --max-inconclusive `{0}`: a count (3) or a percentage of the domains audited (5%)"
)]
pub struct InconclusiveLimitError(String);

impl std::str::FromStr for InconclusiveLimit {
    type Err = InconclusiveLimitError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let err = || InconclusiveLimitError(text.to_string());
        match text.trim().strip_suffix('%') {
            Some(percent) => percent
                .trim()
                .parse::<f64>()
                .ok()
                .filter(|p| p.is_finite() && (0.0..=100.0).contains(p))
                .map(InconclusiveLimit::Percent)
                .ok_or_else(err),
            None => text
                .trim()
                .parse::<u64>()
                .map(InconclusiveLimit::Count)
                .map_err(|_| err()),
        }
    }
}

impl InconclusiveLimit {
    /// The most inconclusive domains tolerated among `domains`.
    pub fn tolerated(self, domains: usize) -> u64 {
        match self {
            InconclusiveLimit::Count(n) => n,
            // 10 % of 18 domains tolerates 1 (1.8 rounded down): "above
            // 10 %" is 2 or more.
            InconclusiveLimit::Percent(p) => (p * domains as f64 / 100.0).floor() as u64,
        }
    }
}

/// The plugin: `-w` applies to the number of warning-or-worse findings,
/// `-c` to the number of critical findings (ignored findings never count),
/// `--max-inconclusive` to the inconclusive domains.
pub struct Nagios {
    pub warning: Range,
    pub critical: Range,
    pub max_inconclusive: InconclusiveLimit,
}

/// Names in the status line before "and N more"; the long output has all.
const NAMED_IN_STATUS: usize = 5;

/// Text for the plugin protocol: control characters escaped, and `|`
/// (which starts performance data) replaced.
fn plugin_text(s: &str) -> String {
    printable(s).replace('|', "/")
}

impl Nagios {
    /// Inconclusive domains that count against `--max-inconclusive`: all of
    /// them except those whose lookup-inconclusive finding is ignored in
    /// mxdrift.yaml (a decision recorded by the admin).
    fn inconclusive<'a>(&self, audit: &'a Audit) -> Vec<&'a AuditedDomain> {
        inconclusive_domains(audit)
            .into_iter()
            .filter(|d| {
                !d.findings
                    .iter()
                    .any(|f| f.rule == RuleId::LookupInconclusive && f.ignored.is_some())
            })
            .collect()
    }

    fn too_many_inconclusive(&self, audit: &Audit) -> bool {
        self.inconclusive(audit).len() as u64 > self.max_inconclusive.tolerated(audit.domains.len())
    }

    pub fn state(&self, audit: &Audit) -> State {
        if local_domain_count(audit) == 0 {
            return State::Unknown;
        }
        let s = audit.summary();
        let critical = s.count(Severity::Critical) as f64;
        let warning = critical + s.count(Severity::Warning) as f64;
        if self.critical.alerts(critical) {
            State::Critical
        } else if self.warning.alerts(warning)
            || !audit.warnings.is_empty()
            || self.too_many_inconclusive(audit)
        {
            State::Warning
        } else {
            State::Ok
        }
    }

    fn perfdata(&self, audit: &Audit) -> String {
        let s = audit.summary();
        let critical = s.count(Severity::Critical);
        let warning = s.count(Severity::Warning);
        let (w, c) = (self.warning.as_str(), self.critical.as_str());
        let tolerated = self.max_inconclusive.tolerated(audit.domains.len());
        // -c bounds the critical count; -w bounds warning-or-worse, which
        // the critical count alone can already exceed.
        let mut data = format!(
            "'critical'={critical};{w};{c};0; 'warning'={warning};;;0; 'info'={};;;0; 'warning_or_worse'={};{w};;0; 'inconclusive'={};{tolerated};;0; 'ignored'={};;;0; 'config_warnings'={};0;;0; 'domains'={};;;0;",
            s.count(Severity::Info),
            critical + warning,
            s.inconclusive,
            s.ignored,
            audit.warnings.len(),
            s.domains,
        );
        // `--cross-check` only: a run without it has no such figure.
        if let Some(cross) = &audit.cross_check {
            data.push_str(&format!(
                " 'crosscheck_confirmed'={};;;0;{}",
                cross.confirmed, cross.asked
            ));
        }
        data
    }

    fn status_text(&self, audit: &Audit, state: State) -> String {
        let s = audit.summary();
        if state == State::Unknown {
            return if s.domains == 0 {
                NO_LOCAL_DOMAINS.to_string()
            } else {
                format!(
                    "{NO_LOCAL_DOMAINS} ({} domains known, none delivered locally)",
                    s.domains
                )
            };
        }
        // Domains per rule, most severe rule first.
        let mut per_rule: BTreeMap<(std::cmp::Reverse<Severity>, RuleId), usize> = BTreeMap::new();
        for (_, f) in audit
            .findings()
            .filter(|(_, f)| f.ignored.is_none() && f.severity >= Severity::Warning)
        {
            *per_rule
                .entry((std::cmp::Reverse(f.severity), f.rule))
                .or_default() += 1;
        }
        // Most severe first, then the most frequent.
        let mut per_rule: Vec<_> = per_rule.into_iter().collect();
        per_rule.sort_by_key(|((severity, _), n)| (*severity, std::cmp::Reverse(*n)));
        // Run-level findings lead the status line: they say how to read the rest.
        let mut parts: Vec<String> = audit
            .run_findings
            .iter()
            .filter(|f| f.severity >= Severity::Warning)
            .map(|f| audit.rules.rule(f.rule).title.clone())
            .collect();
        parts.extend(per_rule.iter().map(|((_, rule), n)| {
            let headline = &audit.rules.rule(*rule).headline;
            format!(
                "{n} {} {headline}",
                if *n == 1 { "domain" } else { "domains" }
            )
        }));
        let inconclusive = self.inconclusive(audit);
        if self.too_many_inconclusive(audit) {
            parts.push(format!(
                "{} {} inconclusive: {}",
                inconclusive.len(),
                if inconclusive.len() == 1 {
                    "domain"
                } else {
                    "domains"
                },
                name_list(inconclusive.iter().map(|d| &d.domain.name), NAMED_IN_STATUS)
            ));
        }
        if let Some(first) = audit.warnings.first() {
            let more = audit.warnings.len() - 1;
            parts.push(format!(
                "configuration warning: {}{}{}",
                warning_place(first),
                first.message,
                if more > 0 {
                    format!(" (and {more} more)")
                } else {
                    String::new()
                }
            ));
        }
        if parts.is_empty() {
            let within = if inconclusive.is_empty() {
                String::new()
            } else {
                format!(
                    " ({} inconclusive, within --max-inconclusive)",
                    inconclusive.len()
                )
            };
            format!("{} domains checked, no problems{within}", s.domains)
        } else {
            parts.join(", ")
        }
    }
}

impl AuditFormatter for Nagios {
    fn write_report(&self, report: &Report<'_>, out: &mut dyn Write) -> io::Result<()> {
        let audit = report.audit;
        let state = self.state(audit);
        writeln!(
            out,
            "MXDRIFT {} - {} | {}",
            state.label(),
            plugin_text(&self.status_text(audit, state)),
            self.perfdata(audit)
        )?;
        let mut line = |text: String| writeln!(out, "{}", plugin_text(&text));
        for f in &audit.run_findings {
            let place = f.location().map(|l| format!(" ({l})")).unwrap_or_default();
            line(format!(
                "{}: {}{place}: {}",
                f.severity.as_str().to_uppercase(),
                f.rule,
                f.message
            ))?;
            for evidence in &f.evidence {
                line(format!("  {evidence}"))?;
            }
        }
        for severity in Severity::ALL {
            for (d, f) in audit.findings().filter(|(_, f)| f.severity == severity) {
                let tag = if f.ignored.is_some() {
                    "IGNORED"
                } else {
                    severity.as_str()
                };
                line(format!(
                    "{}: {} {}: {}{}",
                    tag.to_uppercase(),
                    name_with_unicode(&d.domain.name),
                    f.rule,
                    f.message,
                    ignore_note(f)
                ))?;
            }
        }
        // Inconclusive domains that no finding names (the server's own names).
        for d in inconclusive_domains(audit)
            .into_iter()
            .filter(|d| d.findings.is_empty())
        {
            line(format!(
                "INCONCLUSIVE: {}: {}",
                name_with_unicode(&d.domain.name),
                crate::rules::evidence_summary(&d.evidence)
            ))?;
        }
        for w in &audit.warnings {
            line(format!("CONFIG: {}{}", warning_place(w), w.message))?;
        }
        for note in &audit.notes {
            line(format!("NOTE: {note}"))?;
        }
        Ok(())
    }
}

/// The status line for a run that could not complete (exit 3), with the
/// message's first line; the rest of it follows as long output.
pub fn write_unknown(message: &str, out: &mut dyn Write) -> io::Result<()> {
    let mut lines = message.lines().filter(|l| !l.trim().is_empty());
    writeln!(
        out,
        "MXDRIFT UNKNOWN - {}",
        plugin_text(lines.next().unwrap_or("the check could not run"))
    )?;
    for rest in lines {
        writeln!(out, "{}", plugin_text(rest))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_follow_the_guidelines() {
        let r = |t: &str| Range::parse(t).unwrap();
        assert!(
            !r("10").alerts(0.0)
                && !r("10").alerts(10.0)
                && r("10").alerts(11.0)
                && r("10").alerts(-1.0)
        );
        assert!(r("10:").alerts(9.0) && !r("10:").alerts(1e9));
        assert!(!r("~:10").alerts(-5.0) && r("~:10").alerts(11.0));
        assert!(r("10:20").alerts(9.0) && !r("10:20").alerts(15.0) && r("10:20").alerts(21.0));
        assert!(!r("@10:20").alerts(9.0) && r("@10:20").alerts(15.0));
        assert!(!r("0").alerts(0.0) && r("0").alerts(1.0));
        assert_eq!(r("@2:5").as_str(), "@2:5");
        for bad in ["", "x", "20:10", "1:x", "@", "5;6", "5|", "1 0"] {
            assert!(Range::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn inconclusive_limits_are_counts_or_shares() {
        let l = |t: &str| t.parse::<InconclusiveLimit>().unwrap();
        assert_eq!(l("0").tolerated(18), 0);
        assert_eq!(l("3").tolerated(18), 3);
        assert_eq!(l("10%").tolerated(18), 1);
        assert_eq!(l("50 %").tolerated(18), 9);
        assert_eq!(l("100%").tolerated(7), 7);
        for bad in ["", "-1", "x", "101%", "1.5", "nan%"] {
            assert!(bad.parse::<InconclusiveLimit>().is_err(), "{bad}");
        }
    }

    #[test]
    fn unknown_text_keeps_one_status_line() {
        let mut out = Vec::new();
        write_unknown("first | line\nsecond\u{1b}", &mut out).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "MXDRIFT UNKNOWN - first / line\nsecond\\u{1b}\n"
        );
    }
}
