//! mxdrift's integration tests: one test binary, one module per subject.
//!
//! One binary instead of one per file: Cargo links it once (each binary
//! linked the whole library and its dependencies again). Run one subject
//! with a filter: `cargo test cli::`, `cargo test dns_` ...
//!
//! All tests share one process and run on parallel threads, so no test may
//! change what the process shares: no `std::env::set_var`, no
//! `set_current_dir` (give a child process `.env()`/`.current_dir()`
//! instead), no fixed ports or temporary paths, and every server or child
//! process a test starts is stopped when its guard drops. See `common`.
// Tests assert by panicking and may print what they saw.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stdout,
    clippy::print_stderr
)]

mod common;

// `crate::inventory` and `crate::resolve` as in the library: the builders
// shared with its unit tests (common/mod.rs) name its types that way.
use mxdrift::{inventory, resolve};

mod architecture;
mod audit_e2e;
mod cli;
mod compiled_differential;
mod crosscheck;
mod crosscheck_cli;
mod dist;
mod dns_authoritative;
mod dns_case;
mod dns_classify;
mod dns_dedup;
mod dns_faults;
mod dns_flood;
mod dns_garbage;
mod dns_mx_hosts;
mod dns_nsd;
mod dns_offline;
mod dns_rate;
mod dns_sanity;
mod exim_corpus;
mod exim_differential;
mod expansion_bombs;
mod fix_apply;
mod fix_commands;
mod fix_compiled;
mod fix_consistency;
mod fix_limit;
mod fix_panel_roundtrip;
mod fix_roundtrip;
mod fix_tcp_confirm;
mod fleet;
mod identity;
mod ops_ansible;
mod ops_prometheus;
mod platform_audit;
mod platform_cpanel;
mod platform_detect;
mod platform_directadmin;
mod platform_exim;
mod platform_exim_lsearch;
mod platform_fixtures;
mod platform_list;
mod platform_plesk;
mod platform_qmail;
mod plesk_compiled;
mod postfix_corpus;
mod postfix_differential;
mod postfix_fixtures;
mod postfix_limits;
mod rdap;
mod read_limits;
mod report_formats;
mod root_boundary;
mod schema;
mod unreadable_files;
mod write_safety;
