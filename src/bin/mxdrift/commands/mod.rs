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

/// Write a report to `--output` (atomically: the whole report, then one
/// rename; a note of the write on standard error) or stream it to standard
/// output.
fn write_report(
    output: Option<&std::path::Path>,
    render: impl FnOnce(&mut dyn std::io::Write) -> std::io::Result<()>,
) -> Result<(), crate::error::CliError> {
    use std::io::Write as _;
    match output {
        Some(path) => {
            let mut buffer = Vec::new();
            render(&mut buffer)?;
            let written =
                mxdrift::atomic::write_atomic(path, &buffer, 0o644).map_err(|source| {
                    crate::error::CliError::Output {
                        path: path.to_path_buf(),
                        source,
                    }
                })?;
            if let Some(note) = written.note {
                eprintln!("mxdrift: {note}");
            }
        }
        None => {
            let mut out =
                std::io::BufWriter::with_capacity(OUTPUT_BUFFER, std::io::stdout().lock());
            render(&mut out)?;
            out.flush()?;
        }
    }
    Ok(())
}
