//! `mxdrift inventory`: the configuration only, no DNS.

use std::io::{self, Write};

use mxdrift::audit;
use mxdrift::cli::{InventoryArgs, InventoryFormat};
use mxdrift::report::{json, table};
use mxdrift::settings;

use super::OUTPUT_BUFFER;
use crate::error::{CliError, Outcome};

pub fn run(args: &InventoryArgs) -> Result<Outcome, CliError> {
    // Never freed: the process ends after the report (see `audit`).
    let mut inventory =
        std::mem::ManuallyDrop::new(audit::inventory(&settings::source_options(&args.source))?);
    // The server as the audit would start from it: what the configuration
    // states, plus what the admin gives.
    audit::add_admin_identity(
        &mut inventory,
        &args.server.server_ip,
        &args.server.server_name,
    )?;
    let mut out = io::BufWriter::with_capacity(OUTPUT_BUFFER, io::stdout().lock());
    match args.format {
        InventoryFormat::Table => table::write_inventory(&inventory, &mut out)?,
        InventoryFormat::Json => {
            json::write_inventory(&inventory, &inventory.server_addresses, &mut out)?
        }
    }
    out.flush()?;
    Ok(Outcome::Clean)
}
