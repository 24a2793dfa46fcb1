//! `fleet --format table`: the servers, then the cross-server findings with
//! their evidence, then what was left out and why.

use std::io::{self, Write};

use tabled::builder::Builder;
use tabled::settings::Style;

use super::{FleetFormatter, age_of, all_servers, headline};
use crate::fleet::Fleet;
use crate::report::{printable, wrap_words};
use crate::rules::Severity;

/// The table formatter; `width` as for the audit's table (`None`: no wrap).
#[derive(Debug, Default)]
pub struct Table {
    pub width: Option<usize>,
}

impl FleetFormatter for Table {
    fn write_fleet(&self, fleet: &Fleet, out: &mut dyn Write) -> io::Result<()> {
        let mut servers = Builder::default();
        servers.push_record([
            "server", "platform", "audited", "age", "status", "domains", "local", "critical",
            "warning", "info",
        ]);
        for (s, stale) in all_servers(fleet) {
            servers.push_record([
                printable(&s.hostname).into_owned(),
                printable(&s.platform).into_owned(),
                s.audited_at.to_string(),
                age_of(fleet, s),
                if stale { "STALE" } else { "fresh" }.to_string(),
                s.summary.domains.to_string(),
                s.summary.local.to_string(),
                s.summary.count(Severity::Critical).to_string(),
                s.summary.count(Severity::Warning).to_string(),
                s.summary.count(Severity::Info).to_string(),
            ]);
        }
        let mut table = servers.build();
        table.with(Style::sharp());
        writeln!(out, "SERVERS\n{table}")?;

        if fleet.findings.is_empty() {
            writeln!(out, "\nNo cross-server findings.")?;
        } else {
            let evidence_width = self.width.map(|w| w.saturating_sub(60).max(30));
            let mut rows = Builder::default();
            rows.push_record([
                "severity",
                "rule",
                "domain",
                "server",
                "finding and evidence",
            ]);
            for f in &fleet.findings {
                let text = std::iter::once(f.message.as_str())
                    .chain(f.evidence.iter().map(String::as_str))
                    .map(|line| {
                        let line = printable(line);
                        match evidence_width {
                            Some(width) => wrap_words(&line, width),
                            None => line.into_owned(),
                        }
                    })
                    .collect::<Vec<_>>()
                    .join("\n");
                rows.push_record([
                    f.severity.as_str().to_uppercase(),
                    f.rule.as_str().to_string(),
                    f.domain.to_string(),
                    printable(&f.server).into_owned(),
                    text,
                ]);
            }
            let mut table = rows.build();
            table.with(Style::sharp());
            writeln!(
                out,
                "\nCROSS-SERVER FINDINGS ({})\n{table}",
                fleet.findings.len()
            )?;
        }
        for s in &fleet.superseded {
            writeln!(out, "superseded: {}", printable(&s.describe()))?;
        }
        for note in &fleet.notes {
            writeln!(out, "note: {}", printable(note))?;
        }
        writeln!(out, "\n{}.", headline(fleet))?;
        writeln!(
            out,
            "`mxdrift rules fleet-moved-internally` explains a rule; the html format is for a support team."
        )
    }
}
