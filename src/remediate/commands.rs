//! Shell commands of a remediation and the POSIX shell script that holds
//! them. Safety lives in three places only: [`Word`] (a value from the
//! configuration is always quoted, by [`quote`], the one quoting function),
//! [`comment`] (text from DNS or the configuration cannot leave its comment
//! line) and [`validate_user`] (panel account names are checked before they
//! become arguments; [`is_system_account`] keeps `nobody` and `root` out).

use std::fmt::Write as _;

/// One word of a command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Word {
    /// Written by mxdrift itself (`plesk`, `--update`, `-mail_service`):
    /// printed as it is. Only compile-time constants go here.
    Fixed(&'static str),
    /// Derived from the configuration or DNS: always quoted.
    Value(String),
    /// A shell expansion written by mxdrift (`"${DA_URL}/CMD_API_DNS_MX"`),
    /// printed as it is. Only compile-time constants go here.
    Expansion(&'static str),
}

/// A command with the comment lines that explain it. A step without a
/// command is advice that mxdrift cannot phrase as one safe command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    pub comments: Vec<String>,
    pub command: Option<Vec<Word>>,
}

impl Step {
    pub fn command(comments: Vec<String>, words: Vec<Word>) -> Self {
        Step {
            comments,
            command: Some(words),
        }
    }

    pub fn advice(comments: Vec<String>) -> Self {
        Step {
            comments,
            command: None,
        }
    }

    /// The command as one shell line, if there is one.
    pub fn line(&self) -> Option<String> {
        self.command.as_ref().map(|words| command_line(words))
    }
}

/// Quote a value for a POSIX shell: single quotes, each embedded `'`
/// written as `'\''`. Nothing inside single quotes is special to the shell.
pub fn quote(value: &str) -> String {
    format!("'{}'", value.replace('\'', r"'\''"))
}

/// Text for a `#` comment line: control characters (newlines above all)
/// become spaces, so the text cannot end the comment and start a command.
pub fn comment(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect::<String>()
        .trim_end()
        .to_string()
}

/// A panel account name as cPanel and DirectAdmin allow them:
/// `[a-z0-9_][a-z0-9_.-]*`, at most 64 characters. Anything else is
/// rejected, never quoted into a command.
pub fn validate_user(user: &str) -> Result<&str, String> {
    let mut chars = user.chars();
    let first_ok = chars
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    let rest_ok =
        chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '_' | '.' | '-'));
    if first_ok && rest_ok && user.len() <= 64 {
        Ok(user)
    } else {
        Err(format!(
            "the account name {} is not a valid user name ([a-z0-9_][a-z0-9_.-]*); rejected",
            comment(&format!("{user:?}"))
        ))
    }
}

/// System accounts that own domains on panels without being panel
/// accounts (cPanel gives its system domains to `nobody`): a panel command
/// must never act as them.
pub fn is_system_account(user: &str) -> bool {
    matches!(user, "nobody" | "root")
}

/// One shell line.
pub fn command_line(words: &[Word]) -> String {
    words
        .iter()
        .map(|w| match w {
            Word::Fixed(s) | Word::Expansion(s) => (*s).to_string(),
            Word::Value(v) => quote(v),
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// DirectAdmin: a shell function that calls the API as the domain's owner
/// through the admin's login key. The credentials come from the
/// environment and reach curl on its standard input (`--config -`), never
/// its argument list, which other users can read in `ps`.
pub const DIRECTADMIN_PRELUDE: &str = r#"# DirectAdmin API access. Set these before running the script:
#   DA_URL        the panel, e.g. https://da1.hoster.test:2222 (TLS is verified)
#   DA_ADMIN      an admin account, e.g. admin
#   DA_LOGIN_KEY  a login key of that admin allowed to use CMD_API_DNS_MX
# Each call logs in as "DA_ADMIN|owner" (DirectAdmin's login-as) so that it
# acts on the domain's owner.
: "${DA_URL:?set DA_URL to the DirectAdmin panel URL}"
: "${DA_ADMIN:?set DA_ADMIN to a DirectAdmin admin account}"
: "${DA_LOGIN_KEY:?set DA_LOGIN_KEY to a login key of DA_ADMIN}"
da_api() {
    da_owner=$1
    shift
    printf 'user = "%s|%s:%s"\n' "$DA_ADMIN" "$da_owner" "$DA_LOGIN_KEY" |
        curl --config - --fail --silent --show-error "$@"
}"#;

/// Everything a script says.
#[derive(Debug, Clone, Default)]
pub struct Script<'a> {
    /// Header lines (what the script is for).
    pub header: Vec<String>,
    /// Warnings to read before running it.
    pub cautions: &'a [String],
    /// Shell code mxdrift wrote itself that must precede the steps.
    pub prelude: Option<&'static str>,
    /// The fixes (panel commands).
    pub fixes: &'a [Step],
    /// What to run after the files changed (postmap, reloads).
    pub follow_ups: &'a [Step],
    /// What was left for a human, one line each.
    pub left: Vec<String>,
    /// Changes refused because their evidence or files changed during the
    /// run, one line each.
    pub refused: Vec<String>,
}

impl Script<'_> {
    pub fn render(&self) -> String {
        let mut out = String::from("#!/bin/sh\nset -eu\n");
        for line in &self.header {
            let _ = writeln!(out, "# {}", comment(line));
        }
        if !self.cautions.is_empty() {
            out.push_str("#\n# Before you run it:\n");
            for caution in self.cautions {
                let _ = writeln!(out, "#   - {}", comment(caution));
            }
        }
        if let Some(prelude) = self.prelude {
            let _ = write!(out, "\n{prelude}\n");
        }
        for step in self.fixes.iter().chain(self.follow_ups) {
            out.push('\n');
            for line in &step.comments {
                let _ = writeln!(out, "# {}", comment(line));
            }
            if let Some(line) = step.line() {
                let _ = writeln!(out, "{line}");
            }
        }
        if self.fixes.is_empty() && self.follow_ups.is_empty() {
            out.push_str("\n# Nothing to run.\n");
        }
        if !self.left.is_empty() {
            out.push_str("\n# Left for a human (not changed):\n");
            for line in &self.left {
                let _ = writeln!(out, "#   - {}", comment(line));
            }
        }
        if !self.refused.is_empty() {
            out.push_str(
                "\n# Refused (not changed): the evidence or a file changed during the run; run mxdrift fix again later:\n",
            );
            for line in &self.refused {
                let _ = writeln!(out, "#   - {}", comment(line));
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting_keeps_everything_literal() {
        assert_eq!(quote("moved.test"), "'moved.test'");
        assert_eq!(quote("it's"), r"'it'\''s'");
        assert_eq!(quote("$(touch x) `y` ; z"), "'$(touch x) `y` ; z'");
        assert_eq!(quote(""), "''");
    }

    #[test]
    fn comments_cannot_break_out() {
        assert_eq!(comment("a\nrm -rf /\r\tb"), "a rm -rf /  b");
    }

    #[test]
    fn system_accounts_are_no_panel_accounts() {
        assert!(is_system_account("nobody"));
        assert!(is_system_account("root"));
        assert!(!is_system_account("shopuser"));
    }

    #[test]
    fn user_names_are_validated() {
        assert!(validate_user("shopuser").is_ok());
        assert!(validate_user("_a.b-c9").is_ok());
        for bad in [
            "",
            "Bob",
            "-x",
            ".x",
            "a b",
            "$(touch x)",
            "a'b",
            "a\nb",
            "a;b",
        ] {
            assert!(validate_user(bad).is_err(), "{bad:?}");
        }
        let message = validate_user("x\ny").unwrap_err();
        assert!(!message.contains('\n'));
    }

    #[test]
    fn script_starts_with_set_eu_and_quotes_values() {
        let fixes = [Step::command(
            vec!["moved.test: line one\nline two".into()],
            vec![Word::Fixed("echo"), Word::Value("a'b".into())],
        )];
        let script = Script {
            header: vec!["test".into()],
            fixes: &fixes,
            ..Script::default()
        }
        .render();
        assert!(script.starts_with("#!/bin/sh\nset -eu\n"));
        assert!(script.contains("# moved.test: line one line two\necho 'a'\\''b'\n"));
    }
}
