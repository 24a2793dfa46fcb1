//! Golden files: output compared byte for byte with a file under
//! `tests/golden/`, the one place where expected output is kept.
//!
//! `UPDATE_GOLDEN=1 cargo test` writes what the tests produce into the
//! files instead; review the change with `git diff tests/golden` before
//! committing it. A mismatch fails with a unified diff (expected to actual).
//! Under `CI=true` the switch is refused: there it would pass any output.

use similar::TextDiff;

use super::repo;

const SWITCH: &str = "UPDATE_GOLDEN";

/// `actual` is what `tests/golden/<name>` holds.
pub fn assert_golden(name: &str, actual: &str) {
    let path = repo("tests/golden").join(name);
    if std::env::var(SWITCH).as_deref() == Ok("1") {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "{SWITCH}=1 under CI=true would accept any output"
        );
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).expect("create the golden directory");
        }
        std::fs::write(&path, actual).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    }
    let expected = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e} ({SWITCH}=1 creates it)", path.display()));
    if actual != expected {
        let diff = TextDiff::from_lines(&expected, actual)
            .unified_diff()
            .header(&format!("tests/golden/{name}"), "actual")
            .to_string();
        panic!("output differs from tests/golden/{name} ({SWITCH}=1 updates it):\n{diff}");
    }
}
