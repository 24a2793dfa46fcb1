//! `--format nagios`: a monitoring plugin per the Monitoring Plugins
//! development guidelines, usable unchanged from Nagios, Icinga 2 and
//! Checkmk (MRPE): one status line with performance data, long output one
//! finding per line, and the state as exit code 0/1/2/3.

use std::collections::BTreeMap;
use std::io::{self, Write};

use super::AuditFormatter;
use crate::audit::Audit;
use crate::rules::Severity;

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
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Range {
    start: Option<f64>,
    end: Option<f64>,
    inside: bool,
}

#[derive(Debug, thiserror::Error)]
#[error("invalid threshold range `{0}` (examples: 0, 5, 5:, ~:5, 2:5, @2:5)")]
pub struct RangeError(String);

impl Range {
    pub fn parse(text: &str) -> Result<Range, RangeError> {
        let err = || RangeError(text.to_string());
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
        Ok(Range { start, end, inside })
    }

    /// True when `value` must raise an alert.
    pub fn alerts(&self, value: f64) -> bool {
        let within = self.start.is_none_or(|s| value >= s) && self.end.is_none_or(|e| value <= e);
        if self.inside { within } else { !within }
    }
}

/// The plugin: `-w` applies to the number of warning-or-worse findings,
/// `-c` to the number of critical findings (ignored findings never count).
pub struct Nagios {
    pub warning: Range,
    pub critical: Range,
}

impl Nagios {
    pub fn state(&self, audit: &Audit) -> State {
        let s = audit.summary();
        let critical = s.count(Severity::Critical) as f64;
        let warning = critical + s.count(Severity::Warning) as f64;
        if self.critical.alerts(critical) {
            State::Critical
        } else if self.warning.alerts(warning) {
            State::Warning
        } else {
            State::Ok
        }
    }
}

impl AuditFormatter for Nagios {
    fn write_audit(&self, audit: &Audit, out: &mut dyn Write) -> io::Result<()> {
        let state = self.state(audit);
        let s = audit.summary();
        // Domains per rule, most severe rule first.
        let mut per_rule: BTreeMap<(std::cmp::Reverse<Severity>, &str), usize> = BTreeMap::new();
        for (_, f) in audit
            .findings()
            .filter(|(_, f)| f.ignored.is_none() && f.severity >= Severity::Warning)
        {
            *per_rule
                .entry((std::cmp::Reverse(f.severity), f.rule.as_str()))
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
            .map(|f| {
                audit
                    .rules
                    .get(&f.rule)
                    .map_or_else(|| f.rule.clone(), |r| r.title.clone())
            })
            .collect();
        parts.extend(per_rule.iter().map(|((_, rule), n)| {
            let headline = audit.rules.get(rule).map_or(*rule, |r| r.headline.as_str());
            format!(
                "{n} {} {headline}",
                if *n == 1 { "domain" } else { "domains" }
            )
        }));
        let text = if parts.is_empty() {
            format!("{} domains checked, no problems", s.domains)
        } else {
            parts.join(", ")
        };
        writeln!(
            out,
            "MXDRIFT {} - {text} | 'critical'={};;;0 'warning'={};;;0 'info'={};;;0 'inconclusive'={};;;0 'ignored'={};;;0 'domains'={};;;0",
            state.label(),
            s.count(Severity::Critical),
            s.count(Severity::Warning),
            s.count(Severity::Info),
            s.inconclusive,
            s.ignored,
            s.domains,
        )?;
        for f in &audit.run_findings {
            let place = f.location().map(|l| format!(" ({l})")).unwrap_or_default();
            writeln!(
                out,
                "{}: {}{place}: {}",
                f.severity.as_str().to_uppercase(),
                f.rule,
                f.message
            )?;
            for line in &f.evidence {
                writeln!(out, "  {line}")?;
            }
        }
        for severity in Severity::ALL {
            for (_, f) in audit.findings().filter(|(_, f)| f.severity == severity) {
                let tag = if f.ignored.is_some() {
                    "IGNORED"
                } else {
                    severity.as_str()
                };
                writeln!(
                    out,
                    "{}: {} {}: {}",
                    tag.to_uppercase(),
                    f.domain,
                    f.rule,
                    f.message
                )?;
            }
        }
        for note in &audit.notes {
            writeln!(out, "NOTE: {note}")?;
        }
        Ok(())
    }
}

/// The status line for a run that could not complete (exit 3).
pub fn write_unknown(message: &str, out: &mut dyn Write) -> io::Result<()> {
    writeln!(
        out,
        "MXDRIFT UNKNOWN - {}",
        message.replace('|', "/").replace('\n', " ")
    )
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
        for bad in ["", "x", "20:10", "1:x", "@"] {
            assert!(Range::parse(bad).is_err(), "{bad}");
        }
    }
}
