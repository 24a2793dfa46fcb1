//! `fleet --format prometheus`: a textfile for the central node_exporter.
//! Its own metric names (`mxdrift_fleet_*`): the controller may run an
//! audit of its own whose textfile holds `mxdrift_last_run_*`, and one
//! collector refuses a metric that two files define.
//!
//! `mxdrift_fleet_findings{rule,severity,server}` has a sample for every
//! fresh server and fleet rule, zeros included, so an alert can tell "no
//! finding" from "no report".

use std::fmt::Write as _;
use std::io::{self, Write};

use super::FleetFormatter;
use crate::fleet::Fleet;
use crate::report::prometheus::{family, label};

pub struct Prometheus;

/// The run-status metrics alone: what a failed `fleet` run writes.
pub fn write_run_status(
    success: bool,
    now: crate::timestamp::Timestamp,
    out: &mut dyn Write,
) -> io::Result<()> {
    let mut text = String::new();
    run_status(&mut text, success, now);
    out.write_all(text.as_bytes())
}

fn run_status(text: &mut String, success: bool, now: crate::timestamp::Timestamp) {
    family(
        text,
        "mxdrift_fleet_last_run_success",
        "1 if the last mxdrift fleet run completed, 0 if it failed (an unreadable report).",
    );
    let _ = writeln!(text, "mxdrift_fleet_last_run_success {}", u8::from(success));
    family(
        text,
        "mxdrift_fleet_last_run_timestamp_seconds",
        "Unix time of the last mxdrift fleet run, failed runs included.",
    );
    let _ = writeln!(text, "mxdrift_fleet_last_run_timestamp_seconds {}", now.0);
}

impl FleetFormatter for Prometheus {
    fn write_fleet(&self, fleet: &Fleet, out: &mut dyn Write) -> io::Result<()> {
        let mut text = String::new();
        run_status(&mut text, true, fleet.options.now);
        family(
            &mut text,
            "mxdrift_fleet_servers",
            "Servers with a report, by whether the newest report is fresh or older than --max-age.",
        );
        let _ = writeln!(
            text,
            "mxdrift_fleet_servers{{state=\"fresh\"}} {}",
            fleet.servers.len()
        );
        let _ = writeln!(
            text,
            "mxdrift_fleet_servers{{state=\"stale\"}} {}",
            fleet.stale.len()
        );
        family(
            &mut text,
            "mxdrift_fleet_report_stale",
            "1 if the server's newest report is older than --max-age (left out of the fleet rules).",
        );
        for (s, stale) in super::all_servers(fleet) {
            let _ = writeln!(
                text,
                "mxdrift_fleet_report_stale{{server=\"{}\"}} {}",
                label(&s.hostname),
                u8::from(stale)
            );
        }
        family(
            &mut text,
            "mxdrift_fleet_report_timestamp_seconds",
            "Unix time when the server's newest report was audited.",
        );
        for (s, _) in super::all_servers(fleet) {
            let _ = writeln!(
                text,
                "mxdrift_fleet_report_timestamp_seconds{{server=\"{}\"}} {}",
                label(&s.hostname),
                s.audited_at.0
            );
        }
        family(
            &mut text,
            "mxdrift_fleet_superseded_reports",
            "Reports that lost to a newer report of the same server in this run.",
        );
        let _ = writeln!(
            text,
            "mxdrift_fleet_superseded_reports {}",
            fleet.superseded.len()
        );
        family(
            &mut text,
            "mxdrift_fleet_findings",
            "Cross-server findings per rule, filed under the server to act on (fresh servers only).",
        );
        for s in &fleet.servers {
            for rule in Fleet::fleet_rules() {
                let _ = writeln!(
                    text,
                    "mxdrift_fleet_findings{{rule=\"{}\",severity=\"{}\",server=\"{}\"}} {}",
                    rule.as_str(),
                    fleet.rules.rule(rule).severity.as_str(),
                    label(&s.hostname),
                    fleet.count_of(&s.hostname, rule)
                );
            }
        }
        out.write_all(text.as_bytes())
    }
}
