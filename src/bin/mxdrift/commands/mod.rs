//! One module per subcommand. Each returns how its run ended, or a
//! [`CliError`](crate::error::CliError) that `main` reports.

pub mod audit;
pub mod fix;
pub mod fleet;
pub mod inventory;
pub mod rules;

/// Reports are written through a buffer of this size: standard output is
/// line-buffered, and a pretty-printed report would cost a write per line.
const OUTPUT_BUFFER: usize = 64 * 1024;
