//! How a run ends: the contract's exit codes, and every error the binary
//! reports, as a type. The one place where errors become exit codes and
//! the Prometheus `kind` label.
//!
//! A closed standard output is no error (`mxdrift rules | grep -q x`): it
//! is its own case, [`CliError::BrokenPipe`], which `main` ends quietly
//! with exit 0. Every write to standard output converts its `io::Error`
//! through `From`, which is where a broken pipe is recognised.

use std::io;
use std::path::PathBuf;
use std::time::Duration;

use mxdrift::atomic::WriteError;
use mxdrift::audit::{AuditError, BadServerName, FixRefusal};
use mxdrift::crosscheck::CrossCheckError;
use mxdrift::fleet::FleetError;
use mxdrift::rdap::RdapError;
use mxdrift::remediate::apply::ApplyError;
use mxdrift::remediate::{RemediateError, TooManyChanges};
use mxdrift::report::baseline::BaselineError;
use mxdrift::report::prometheus::RunErrorKind;
use mxdrift::rules::RuleError;
use mxdrift::settings::{SettingsError, UsageError};

/// How a run ended (the contract's exit codes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Nothing at or above `--fail-on`; Nagios OK.
    Clean,
    /// Findings at or above `--fail-on`; Nagios WARNING.
    Findings,
    /// Usage or configuration error.
    Error,
    /// Nagios CRITICAL.
    Critical,
    /// Nagios UNKNOWN: the plugin could not determine the state.
    Unknown,
}

impl Outcome {
    pub fn code(self) -> u8 {
        match self {
            Outcome::Clean => 0,
            Outcome::Findings => 1,
            Outcome::Error | Outcome::Critical => 2,
            Outcome::Unknown => 3,
        }
    }
}

/// Everything that ends a run early. The messages are the user's: each
/// names the option, file or domain concerned.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// Whoever read standard output went away: stop quietly.
    #[error("standard output was closed")]
    BrokenPipe,
    #[error(transparent)]
    Usage(#[from] UsageError),
    #[error(transparent)]
    Settings(#[from] SettingsError),
    #[error(transparent)]
    Rules(#[from] RuleError),
    #[error(transparent)]
    Audit(#[from] AuditError),
    #[error(transparent)]
    Baseline(#[from] BaselineError),
    #[error(transparent)]
    Fleet(#[from] FleetError),
    #[error(transparent)]
    ServerName(#[from] BadServerName),
    #[error("unknown rule `{id}` ({hint}see `mxdrift rules`)")]
    UnknownRule {
        /// Already made printable.
        id: String,
        /// `did you mean ...? `, or nothing.
        hint: String,
    },
    #[error(transparent)]
    FixRefused(#[from] FixRefusal),
    #[error(transparent)]
    Remediate(#[from] RemediateError),
    #[error(transparent)]
    TooManyChanges(#[from] TooManyChanges),
    #[error("fix --apply stopped at {0}")]
    ApplyStopped(#[source] ApplyError),
    #[error("the audit did not finish within its --deadline of {} s", .0.as_secs_f64())]
    AuditDeadline(Duration),
    #[error(
        "the --deadline of {} s passed before the changes were confirmed over TCP; nothing planned",
        .0.as_secs_f64()
    )]
    ConfirmDeadline(Duration),
    #[error(
        "the --deadline of {} s passed before any file was written; nothing applied",
        .0.as_secs_f64()
    )]
    ApplyDeadline(Duration),
    #[error("{}: {source}", path.display())]
    Output {
        path: PathBuf,
        #[source]
        source: WriteError,
    },
    #[error("--update-baseline {}: {source}", path.display())]
    UpdateBaseline {
        path: PathBuf,
        #[source]
        source: WriteError,
    },
    #[error("cannot start the runtime for DNS: {0}")]
    Runtime(#[source] io::Error),
    #[error("internal error: the audit task failed: {0}")]
    TaskFailed(#[source] tokio::task::JoinError),
    #[error("cannot read the current directory: {0}")]
    CurrentDir(#[source] io::Error),
    /// Writing the output failed (a full disk; not a closed pipe).
    #[error("cannot write the output: {0}")]
    Write(#[source] io::Error),
}

impl From<io::Error> for CliError {
    fn from(error: io::Error) -> Self {
        if is_broken_pipe(&error) {
            CliError::BrokenPipe
        } else {
            CliError::Write(error)
        }
    }
}

/// A broken pipe, also when a writer wrapped it in an error of its own.
/// (`io::Error::source` skips the error it wraps, hence `get_ref`.)
fn is_broken_pipe(error: &io::Error) -> bool {
    if error.kind() == io::ErrorKind::BrokenPipe {
        return true;
    }
    let mut inner: Option<&(dyn std::error::Error + 'static)> = error
        .get_ref()
        .map(|e| e as &(dyn std::error::Error + 'static));
    while let Some(err) = inner {
        if err.downcast_ref::<io::Error>().is_some_and(is_broken_pipe) {
            return true;
        }
        inner = err.source();
    }
    false
}

impl CliError {
    /// What kind of error ended the run (the Prometheus `kind` label).
    pub fn run_error_kind(&self) -> RunErrorKind {
        match self {
            CliError::Usage(_)
            | CliError::Baseline(_)
            | CliError::ServerName(_)
            | CliError::UnknownRule { .. } => RunErrorKind::Usage,
            CliError::Settings(_)
            | CliError::Rules(_)
            | CliError::Fleet(_)
            | CliError::FixRefused(_)
            | CliError::Remediate(_)
            | CliError::TooManyChanges(_) => RunErrorKind::Configuration,
            CliError::Audit(error) => match error {
                AuditError::Source(_) | AuditError::Rules(_) => RunErrorKind::Configuration,
                AuditError::Resolve(_) => RunErrorKind::Dns,
                AuditError::Interfaces(_) | AuditError::CrossCheckTask(_) => RunErrorKind::Internal,
                // The MTA's tools ran out of the run's time.
                AuditError::CrossCheck(CrossCheckError::TimedOut { .. }) => RunErrorKind::Deadline,
                // Its tools are missing, refuse or answer nonsense: the
                // mail server's setup, as an unreadable main.cf would be.
                AuditError::CrossCheck(
                    CrossCheckError::Spawn { .. }
                    | CrossCheckError::Failed { .. }
                    | CrossCheckError::Output { .. }
                    | CrossCheckError::ToolMissing { .. }
                    | CrossCheckError::Unavailable { .. },
                ) => RunErrorKind::Configuration,
                AuditError::Rdap(RdapError::Client(_)) => RunErrorKind::Internal,
                AuditError::Rdap(RdapError::Bootstrap(_) | RdapError::ReadBootstrap { .. }) => {
                    RunErrorKind::Configuration
                }
            },
            CliError::AuditDeadline(_)
            | CliError::ConfirmDeadline(_)
            | CliError::ApplyDeadline(_) => RunErrorKind::Deadline,
            CliError::BrokenPipe
            | CliError::ApplyStopped(_)
            | CliError::Output { .. }
            | CliError::UpdateBaseline { .. }
            | CliError::Runtime(_)
            | CliError::TaskFailed(_)
            | CliError::CurrentDir(_)
            | CliError::Write(_) => RunErrorKind::Internal,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_broken_pipe_is_its_own_case_even_when_wrapped() {
        let pipe = io::Error::from(io::ErrorKind::BrokenPipe);
        assert!(matches!(CliError::from(pipe), CliError::BrokenPipe));
        let wrapped = io::Error::other(io::Error::from(io::ErrorKind::BrokenPipe));
        assert!(matches!(CliError::from(wrapped), CliError::BrokenPipe));
        let full = io::Error::from(io::ErrorKind::StorageFull);
        assert!(matches!(CliError::from(full), CliError::Write(_)));
    }

    #[test]
    fn deadlines_name_the_seconds_given() {
        assert_eq!(
            CliError::AuditDeadline(Duration::from_secs(1)).to_string(),
            "the audit did not finish within its --deadline of 1 s"
        );
        assert_eq!(
            CliError::ApplyDeadline(Duration::from_millis(2500)).run_error_kind(),
            RunErrorKind::Deadline
        );
    }
}
