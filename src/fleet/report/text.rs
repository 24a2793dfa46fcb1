//! `fleet --format text`: one line per cross-server finding, ASCII only,
//! for cron mail and logs, as `audit --format text`: `SEVERITY rule domain
//! server: message [evidence; evidence]`. Then a line per stale or
//! superseded report and note, and the headline.

use std::io::{self, Write};

use super::{FleetFormatter, headline};
use crate::fleet::Fleet;
use crate::report::ascii;

pub struct Text;

impl FleetFormatter for Text {
    fn write_fleet(&self, fleet: &Fleet, out: &mut dyn Write) -> io::Result<()> {
        for f in &fleet.findings {
            writeln!(
                out,
                "{} {} {} {}: {} [{}]",
                f.severity.as_str().to_uppercase(),
                f.rule.as_str(),
                f.domain,
                ascii(&f.server),
                ascii(&f.message),
                ascii(&f.evidence.join("; "))
            )?;
        }
        for s in &fleet.stale {
            writeln!(
                out,
                "STALE {} {}: audited {}, left out",
                ascii(&s.hostname),
                ascii(&s.file),
                s.audited_at
            )?;
        }
        for s in &fleet.superseded {
            writeln!(out, "SUPERSEDED {}", ascii(&s.describe()))?;
        }
        for note in &fleet.notes {
            writeln!(out, "NOTE {}", ascii(note))?;
        }
        writeln!(out, "{}", ascii(&headline(fleet)))
    }
}
