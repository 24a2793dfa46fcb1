//! Report: render an [`Audit`] or an [`Inventory`]. One formatter per file
//! behind one trait; none of them decides anything.

pub mod json;
pub mod nagios;
pub mod prometheus;
pub mod sarif;
pub mod table;

use std::io::{self, Write};

use crate::audit::Audit;

/// A way of printing an audit.
pub trait AuditFormatter {
    fn write_audit(&self, audit: &Audit, out: &mut dyn Write) -> io::Result<()>;
}

/// Version of the JSON document (the contract's `version`).
pub const JSON_SCHEMA_VERSION: u32 = 1;
