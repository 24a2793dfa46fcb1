//! The real Exim as an oracle: Debian's exim4-daemon-light, unpacked by
//! `scripts/fetch-exim` (Debian will not install it beside Postfix), asked
//! to evaluate expansion strings with `exim4 -C CONFIG -be`.
//!
//! [`Exim::find`] looks in `$MXDRIFT_EXIM_DIR`, else `target/exim` in the
//! checkout (where `scripts/fetch-exim` unpacks it). Without it the test
//! is skipped with a visible `SKIPPED:` line, except under CI=true, where
//! it fails: `.ci/run` runs the script before the tests.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use super::{repo, require};

/// A runnable Exim and the library path its unpacked libraries need.
pub struct Exim {
    pub binary: PathBuf,
    pub library_path: String,
}

impl Exim {
    /// The unpacked Exim, or `None` after a visible SKIPPED message (a
    /// failure under CI=true).
    pub fn find() -> Option<Exim> {
        let dir = std::env::var_os("MXDRIFT_EXIM_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| repo("target/exim"));
        let root = dir.join("root");
        let binary = root.join("usr/sbin/exim4");
        let found = binary.is_file().then_some(());
        require(
            found,
            &format!("no Exim at {} (run scripts/fetch-exim)", binary.display()),
        )?;
        let library_path = ["usr/lib/x86_64-linux-gnu", "lib/x86_64-linux-gnu"]
            .iter()
            .map(|sub| root.join(sub).display().to_string())
            .collect::<Vec<_>>()
            .join(":");
        Some(Exim {
            binary,
            library_path,
        })
    }

    /// Evaluate each expression (one per line) with the configuration
    /// `config` (main-section settings; spool and log directories are
    /// added under `scratch`). Returns one answer per expression.
    pub fn expand(&self, scratch: &Path, config: &str, expressions: &[String]) -> Vec<String> {
        let config_file = self.write_config(scratch, config);
        self.evaluate(&config_file, expressions)
    }

    /// Write `config` (main-section settings and more) to
    /// `scratch/exim.conf`, after the spool and log directories under
    /// `scratch` that Exim needs to run; returns the file.
    pub fn write_config(&self, scratch: &Path, config: &str) -> PathBuf {
        let spool = scratch.join("spool");
        let log = scratch.join("log");
        std::fs::create_dir_all(&spool).unwrap();
        std::fs::create_dir_all(&log).unwrap();
        let config_file = scratch.join("exim.conf");
        std::fs::write(
            &config_file,
            format!(
                "spool_directory = {}\nlog_file_path = {}/%slog\n{config}",
                spool.display(),
                log.display()
            ),
        )
        .unwrap();
        config_file
    }

    /// Evaluate each expression (one per line) with the configuration file
    /// `config_file`, in one `exim4 -C FILE -be` process.
    pub fn evaluate(&self, config_file: &Path, expressions: &[String]) -> Vec<String> {
        self.try_evaluate(config_file, expressions)
            .unwrap_or_else(|(_, message)| panic!("{message}"))
    }

    /// [`Exim::evaluate`], or the answers Exim gave before it stopped
    /// (it refused the configuration, or an expression failed) and why.
    pub fn try_evaluate(
        &self,
        config_file: &Path,
        expressions: &[String],
    ) -> Result<Vec<String>, (Vec<String>, String)> {
        for expression in expressions {
            assert!(
                !expression.contains('\n'),
                "one expression per line: {expression:?}"
            );
        }
        let mut child = Command::new(&self.binary)
            .env("LD_LIBRARY_PATH", &self.library_path)
            .arg("-C")
            .arg(config_file)
            .arg("-be")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("running {}: {e}", self.binary.display()));
        {
            let mut stdin = child.stdin.take().unwrap();
            for expression in expressions {
                // Exim stops reading when it refuses the configuration.
                if writeln!(stdin, "{expression}").is_err() {
                    break;
                }
            }
        }
        let out = child.wait_with_output().unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        // Without a terminal, -be prints each answer on a line after a
        // "> " prompt, and one more prompt at the end of its input.
        let answers: Vec<String> = stdout
            .lines()
            .map(|line| line.strip_prefix("> ").unwrap_or(line).to_string())
            .take(expressions.len())
            .collect();
        if answers.len() != expressions.len() {
            // The last line is the prompt of the expression that failed.
            let count = answers.len();
            let mut given = answers;
            given.pop();
            return Err((
                given,
                format!(
                    "exim -be gave {} answers for {} expressions; stdout: {stdout}; stderr: {}",
                    count,
                    expressions.len(),
                    String::from_utf8_lossy(&out.stderr)
                ),
            ));
        }
        Ok(answers)
    }

    /// For each domain, whether the named domain list of `config_file`
    /// matches it (`${if match_domain{D}{+LIST}{yes}{no}}`), one process.
    pub fn match_domains(&self, config_file: &Path, list: &str, domains: &[String]) -> Vec<String> {
        let expressions: Vec<String> = domains
            .iter()
            .map(|d| {
                format!(
                    "${{if match_domain{{{}}}{{+{list}}}{{yes}}{{no}}}}",
                    escape(d)
                )
            })
            .collect();
        self.evaluate(config_file, &expressions)
    }

    /// The router `exim4 -C FILE -bt ADDRESS` names, or its other answer.
    pub fn route(&self, config_file: &Path, address: &str) -> String {
        let out = Command::new(&self.binary)
            .env("LD_LIBRARY_PATH", &self.library_path)
            .arg("-C")
            .arg(config_file)
            .arg("-bt")
            .arg(address)
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| panic!("running {}: {e}", self.binary.display()));
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    }

    /// For each domain, whether `domainlist local_domains = LIST` matches
    /// it, as `${if match_domain{D}{+local_domains}{yes}{no}}` says.
    pub fn local_domains(&self, scratch: &Path, list: &str, domains: &[String]) -> Vec<bool> {
        let expressions: Vec<String> = domains
            .iter()
            .map(|d| {
                format!(
                    "${{if match_domain{{{}}}{{+local_domains}}{{yes}}{{no}}}}",
                    escape(d)
                )
            })
            .collect();
        let answers = self.expand(
            scratch,
            &format!("domainlist local_domains = {list}\n"),
            &expressions,
        );
        answers
            .iter()
            .zip(domains)
            .map(|(answer, domain)| match answer.as_str() {
                "yes" => true,
                "no" => false,
                other => panic!("exim answered {other:?} for {domain}"),
            })
            .collect()
    }
}

/// Escape a string for an Exim expansion (backslash, braces, dollar).
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '\\' | '{' | '}' | '$') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}
