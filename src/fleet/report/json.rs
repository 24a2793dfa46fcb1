//! `fleet --format json`: the fleet as data (schema: docs/mxdrift.schema.json,
//! `fleet`). Stale servers are listed with `"stale": true` and their
//! findings are not in `findings`.

use std::collections::BTreeMap;
use std::io::{self, Write};
use std::net::IpAddr;

use serde::Serialize;

use super::{FleetFormatter, all_servers};
use crate::fleet::{Fleet, FleetFinding, ServerReport, Superseded};
use crate::report::JSON_SCHEMA_VERSION;
use crate::rules::Severity;
use crate::timestamp::Timestamp;

pub struct Json;

#[derive(Serialize)]
struct Document<'a> {
    version: u32,
    tool: Tool,
    fleet: FleetView<'a>,
}

#[derive(Serialize)]
struct Tool {
    name: &'static str,
    version: &'static str,
}

#[derive(Serialize)]
struct FleetView<'a> {
    generated_at: Timestamp,
    max_age_seconds: u64,
    servers: Vec<Server<'a>>,
    superseded: &'a [Superseded],
    findings: &'a [FleetFinding],
    summary: Summary,
    notes: &'a [String],
}

#[derive(Serialize)]
struct Server<'a> {
    hostname: &'a str,
    file: &'a str,
    platform: &'a str,
    audited_at: Timestamp,
    age_seconds: u64,
    stale: bool,
    addresses: &'a [IpAddr],
    names: &'a [String],
    domains: usize,
    local: usize,
    inconclusive: usize,
    /// The server's own findings that count, per severity.
    findings: BTreeMap<&'static str, usize>,
    /// The server's own findings per rule, and its fleet findings per rule.
    rules: BTreeMap<String, usize>,
}

#[derive(Serialize)]
struct Summary {
    servers: usize,
    stale: usize,
    findings: BTreeMap<&'static str, usize>,
}

fn server<'a>(fleet: &Fleet, s: &'a ServerReport, stale: bool) -> Server<'a> {
    let mut rules = s.rule_counts.clone();
    if !stale {
        for rule in Fleet::fleet_rules() {
            let n = fleet.count_of(&s.hostname, rule);
            if n > 0 {
                rules.insert(rule.as_str().to_string(), n);
            }
        }
    }
    Server {
        hostname: &s.hostname,
        file: &s.file,
        platform: &s.platform,
        audited_at: s.audited_at,
        age_seconds: s.audited_at.age_at(fleet.options.now).as_secs(),
        stale,
        addresses: &s.addresses,
        names: &s.names,
        domains: s.summary.domains,
        local: s.summary.local,
        inconclusive: s.summary.inconclusive,
        findings: Severity::ALL
            .iter()
            .map(|sev| (sev.as_str(), s.summary.count(*sev)))
            .collect(),
        rules,
    }
}

impl FleetFormatter for Json {
    fn write_fleet(&self, fleet: &Fleet, out: &mut dyn Write) -> io::Result<()> {
        let doc = Document {
            version: JSON_SCHEMA_VERSION,
            tool: Tool {
                name: "mxdrift",
                version: env!("CARGO_PKG_VERSION"),
            },
            fleet: FleetView {
                generated_at: fleet.options.now,
                max_age_seconds: fleet.options.max_age.as_secs(),
                servers: all_servers(fleet)
                    .map(|(s, stale)| server(fleet, s, stale))
                    .collect(),
                superseded: &fleet.superseded,
                findings: &fleet.findings,
                summary: Summary {
                    servers: fleet.servers.len() + fleet.stale.len(),
                    stale: fleet.stale.len(),
                    findings: Severity::ALL
                        .iter()
                        .map(|sev| (sev.as_str(), fleet.count(*sev)))
                        .collect(),
                },
                notes: &fleet.notes,
            },
        };
        serde_json::to_writer_pretty(&mut *out, &doc)?;
        writeln!(out)
    }
}
