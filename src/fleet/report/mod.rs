//! Rendering a [`Fleet`]: one file per format behind [`FleetFormatter`].
//!
//! Not `report::AuditFormatter`: that trait renders one server's
//! [`Audit`](crate::audit::Audit) (with its baseline); a fleet is many
//! reports read back from JSON, their staleness and the cross-server
//! findings, a different value with nothing of an `Audit` in it. Like the
//! audit's formatters, none of these decides anything, and every text that
//! came from a report (file names, host names, messages) is escaped for its
//! medium: [`printable`](crate::report::printable) on a terminal, HTML
//! escaping in the page, label escaping in Prometheus.

pub mod html;
pub mod json;
pub mod prometheus;
pub mod table;
pub mod text;

use std::io::{self, Write};

use super::{Fleet, ServerReport};
use crate::timestamp::human_age;

/// A way of printing a fleet.
pub trait FleetFormatter {
    fn write_fleet(&self, fleet: &Fleet, out: &mut dyn Write) -> io::Result<()>;
}

/// Fresh servers, then stale ones: (report, is stale), by host name in each.
pub fn all_servers(fleet: &Fleet) -> impl Iterator<Item = (&ServerReport, bool)> {
    fleet
        .servers
        .iter()
        .map(|s| (s, false))
        .chain(fleet.stale.iter().map(|s| (s, true)))
}

/// `3 h 2 min` since the report's audit.
pub fn age_of(fleet: &Fleet, server: &ServerReport) -> String {
    human_age(server.audited_at.age_at(fleet.options.now))
}

/// One line: `3 servers (1 stale): 2 critical, 1 warning fleet findings`.
pub fn headline(fleet: &Fleet) -> String {
    use crate::rules::Severity;
    let servers = fleet.servers.len() + fleet.stale.len();
    let stale = if fleet.stale.is_empty() {
        String::new()
    } else {
        format!(", {} stale and left out", fleet.stale.len())
    };
    format!(
        "{servers} server(s){stale}: {} critical, {} warning, {} info fleet finding(s)",
        fleet.count(Severity::Critical),
        fleet.count(Severity::Warning),
        fleet.count(Severity::Info)
    )
}
