//! mxdrift: find the domains a shared-hosting mail server still delivers
//! locally although public DNS sends their mail elsewhere.
//!
//! The crate is a one-way pipeline; each module is one stage and owns its
//! types:
//!
//! ```text
//! sources ─▶ inventory ─▶ resolve ─▶ verdict ─▶ rules ─▶ report | remediate
//! ```
//!
//! `fleet` comes after report: it reads many servers' JSON reports back
//! and finds what only a view across servers shows.
#![forbid(unsafe_code)]

pub mod atomic;
pub mod audit;
pub mod civil_date;
pub mod cli;
pub(crate) mod config;
pub mod crosscheck;
pub mod deadline;
pub mod fleet;
#[doc(hidden)]
pub mod fuzzing;
pub mod identity;
pub mod inventory;
pub mod parallel;
pub mod rdap;
pub mod remediate;
pub mod report;
pub mod resolve;
pub mod rules;
pub(crate) mod safe_fs;
pub mod settings;
pub mod sources;
pub mod timestamp;
pub mod verdict;

#[cfg(test)]
pub(crate) mod test_support;
