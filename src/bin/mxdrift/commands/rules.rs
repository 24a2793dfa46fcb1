//! `mxdrift rules`: list the rules, or explain one.

use std::io::{self, IsTerminal, Write};

use mxdrift::cli::RulesArgs;
use mxdrift::report::{printable, terminal_width, wrap_words};
use mxdrift::rules::{Confidence, RuleSet};

use crate::error::{CliError, Outcome};

/// What a rule's confidence says about its findings.
const CONFIDENCE: &str = "Confidence is how sure the rule is that a finding is real: high, the evidence decides it (a conclusive DNS answer against the configuration as read); medium, the evidence points to it but a setup mxdrift cannot see may explain it (check before acting); low, a hint that is often intended. Severity is how bad it is if real.";

fn confidence_name(confidence: Confidence) -> &'static str {
    match confidence {
        Confidence::High => "high",
        Confidence::Medium => "medium",
        Confidence::Low => "low",
    }
}

/// The id closest to `typo` by edit distance, if close enough to be a
/// plausible typo (at most a third of its length).
fn nearest_rule<'a>(typo: &str, ids: impl Iterator<Item = &'a str>) -> Option<&'a str> {
    fn distance(a: &str, b: &str) -> usize {
        let b: Vec<char> = b.chars().collect();
        let mut row: Vec<usize> = (0..=b.len()).collect();
        for (i, ca) in a.chars().enumerate() {
            let mut diagonal = row[0];
            row[0] = i + 1;
            for (j, cb) in b.iter().enumerate() {
                let above = row[j + 1];
                row[j + 1] = (diagonal + usize::from(ca != *cb))
                    .min(row[j] + 1)
                    .min(above + 1);
                diagonal = above;
            }
        }
        row[b.len()]
    }
    ids.map(|id| {
        // A prefix (`mail-switch` for `mail-switch-on`) is as good as a typo.
        let d = if id.starts_with(typo) && typo.len() >= 4 {
            1
        } else {
            distance(typo, id)
        };
        (d, id)
    })
    .filter(|(d, id)| *d <= id.chars().count().max(3) / 3)
    .min()
    .map(|(_, id)| id)
}

pub fn run(args: &RulesArgs) -> Result<Outcome, CliError> {
    let rules = RuleSet::embedded()?;
    let width = terminal_width(io::stdout().is_terminal())
        .unwrap_or(80)
        .clamp(40, 100);
    let wrap = |text: &str, indent: usize| -> String {
        let body = wrap_words(&printable(text.trim()), width - indent);
        body.lines()
            .map(|l| format!("{}{}", " ".repeat(indent), l.trim_end()))
            .collect::<Vec<_>>()
            .join("\n")
    };
    let mut out = io::stdout().lock();
    match &args.id {
        None => {
            const TITLE_AT: usize = 28 + 1 + 9 + 1 + 10 + 1;
            writeln!(
                out,
                "{:<28} {:<9} {:<10} title",
                "rule", "severity", "confidence"
            )?;
            for rule in rules.iter() {
                let title = wrap_words(&rule.title, width.saturating_sub(TITLE_AT).max(20))
                    .replace('\n', &format!("\n{}", " ".repeat(TITLE_AT)));
                writeln!(
                    out,
                    "{:<28} {:<9} {:<10} {title}",
                    rule.id,
                    rule.severity.as_str(),
                    confidence_name(rule.confidence),
                )?;
            }
            writeln!(out, "\n{}", wrap(CONFIDENCE, 0))?;
            writeln!(out, "\n`mxdrift rules ID` explains one rule.")?;
        }
        Some(id) => {
            let rule = rules.get(id).ok_or_else(|| {
                let hint = nearest_rule(id, rules.iter().map(|r| r.id.as_str()))
                    .map(|near| format!("did you mean `{near}`? "))
                    .unwrap_or_default();
                CliError::UnknownRule {
                    id: printable(id).into_owned(),
                    hint,
                }
            })?;
            writeln!(
                out,
                "{}\n",
                wrap(&format!("{}: {}", rule.id, rule.title), 0)
            )?;
            writeln!(out, "Severity:   {}", rule.severity)?;
            writeln!(out, "Confidence: {}", confidence_name(rule.confidence))?;
            writeln!(out, "{}\n", wrap(CONFIDENCE, 2))?;
            writeln!(out, "Fires when:\n{}\n", wrap(&rule.when, 2))?;
            writeln!(out, "Why it matters:\n{}\n", wrap(&rule.rationale, 2))?;
            writeln!(out, "What to do:\n{}", wrap(&rule.remediation, 2))?;
        }
    }
    out.flush()?;
    Ok(Outcome::Clean)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typos_suggest_the_nearest_rule() {
        let ids = ["mail-switch-on", "domain-not-found", "split-delivery"];
        assert_eq!(
            nearest_rule("mail-switch", ids.into_iter()),
            Some("mail-switch-on")
        );
        assert_eq!(
            nearest_rule("mail-swich-on", ids.into_iter()),
            Some("mail-switch-on")
        );
        assert_eq!(
            nearest_rule("split-delivry", ids.into_iter()),
            Some("split-delivery")
        );
        assert_eq!(nearest_rule("something-else", ids.into_iter()), None);
    }
}
