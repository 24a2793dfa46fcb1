//! A command line clap rejected: printed as clap prints it, with tips for
//! the mistakes people make, and, for monitoring, in the monitor's format:
//! `--format nagios` answers UNKNOWN on standard output, `--format
//! prometheus --output FILE` writes a failed run's textfile. clap gave up
//! on the command line, so those two options are read from the raw words.

use std::ffi::OsString;
use std::io::{self, Write};
use std::path::Path;
use std::time::SystemTime;

use clap::error::{ContextKind, ContextValue, ErrorKind};

use mxdrift::report::nagios;
use mxdrift::report::prometheus::RunErrorKind;

use crate::commands::audit::write_failed_textfile;

/// The value of `--NAME VALUE` or `--NAME=VALUE` in a command line that clap
/// rejected, read without clap (which gave up on it).
pub fn raw_option<'a>(args: &'a [OsString], name: &str) -> Option<&'a str> {
    let long = format!("--{name}");
    let with_value = format!("--{name}=");
    let mut words = args.iter().skip(1).map(|a| a.to_str());
    while let Some(word) = words.next() {
        let word = word?;
        if word == "--" {
            return None;
        }
        if word == long {
            return words.next().flatten();
        }
        if let Some(value) = word.strip_prefix(&with_value) {
            return Some(value);
        }
    }
    None
}

/// What to say beside clap's error about an argument it did not expect.
fn tip_for(stray: &str, args: &[OsString]) -> Option<String> {
    // A directory where an option was expected: the old `mxdrift DIR`.
    if !stray.starts_with('-') && Path::new(stray).is_dir() {
        return Some(format!(
            "to audit the configuration under '{stray}', use '--root {stray}'"
        ));
    }
    let command = args.get(1).and_then(|a| a.to_str());
    if command == Some("inventory")
        && (stray == "--trusted-mx" || stray.starts_with("--trusted-mx="))
    {
        return Some(
            "--trusted-mx is used by audit and fix, when MX hosts are judged; inventory reads the configuration only"
                .to_string(),
        );
    }
    None
}

/// Report a command line that clap rejected, and return the exit code:
/// help and version as clap prints them; a stray argument gets a tip (use
/// `--root` for a directory); `--format nagios` gets UNKNOWN on standard
/// output, `--format prometheus --output FILE` a failed run's textfile.
pub fn command_line_error(mut err: clap::Error, args: &[OsString]) -> u8 {
    if matches!(
        err.kind(),
        ErrorKind::DisplayHelp | ErrorKind::DisplayVersion
    ) {
        let _ = err.print();
        return 0;
    }
    let stray = match (
        err.get(ContextKind::InvalidArg),
        err.get(ContextKind::InvalidSubcommand),
    ) {
        (Some(ContextValue::String(arg)), _) | (_, Some(ContextValue::String(arg))) => {
            Some(arg.clone())
        }
        _ => None,
    };
    if let Some(tip) = stray.and_then(|arg| tip_for(&arg, args)) {
        let mut tips = match err.get(ContextKind::Suggested) {
            Some(ContextValue::StyledStrs(tips)) => tips.clone(),
            _ => Vec::new(),
        };
        tips.insert(0, tip.into());
        err.insert(ContextKind::Suggested, ContextValue::StyledStrs(tips));
    }
    let rendered = err.render().to_string();
    let message = rendered.trim_start_matches("error: ");
    match raw_option(args, "format") {
        Some("nagios") => {
            eprint!("{rendered}");
            let mut out = io::stdout().lock();
            let _ = nagios::write_unknown(&format!("usage: {message}"), &mut out);
            let _ = out.flush();
            3
        }
        Some("prometheus") => {
            eprint!("{rendered}");
            if let Some(output) = raw_option(args, "output") {
                write_failed_textfile(
                    RunErrorKind::Usage,
                    Some(Path::new(output)),
                    SystemTime::now(),
                );
            }
            2
        }
        _ => {
            let _ = err.print();
            2
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(w: &[&str]) -> Vec<OsString> {
        w.iter().map(OsString::from).collect()
    }

    #[test]
    fn raw_options_are_found_in_rejected_command_lines() {
        let args = words(&["mxdrift", "audit", "--format", "nagios", "--bogus"]);
        assert_eq!(raw_option(&args, "format"), Some("nagios"));
        let args = words(&["mxdrift", "--output=/x.prom", "--", "--format", "nagios"]);
        assert_eq!(raw_option(&args, "output"), Some("/x.prom"));
        assert_eq!(raw_option(&args, "format"), None);
    }

    #[test]
    fn tips_for_stray_arguments() {
        let inventory = words(&["mxdrift", "inventory", "--trusted-mx", "x"]);
        assert!(
            tip_for("--trusted-mx", &inventory)
                .is_some_and(|tip| tip.contains("--trusted-mx is used by audit and fix"))
        );
        let rules = words(&["mxdrift", "rules", "--trusted-mx", "x"]);
        assert_eq!(tip_for("--trusted-mx", &rules), None);
        assert_eq!(tip_for("--bogus", &inventory), None);
        let dir = tempfile::tempdir().unwrap();
        let dir = dir.path().to_str().unwrap();
        assert!(tip_for(dir, &words(&["mxdrift", dir])).is_some_and(|t| t.contains("--root")));
    }
}
