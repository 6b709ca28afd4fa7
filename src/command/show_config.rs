//! `cdnquota config`: check the config and print the effective one.

use std::path::Path;
use std::process::ExitCode;

/// Prints the effective config with secrets redacted; exit 1 when invalid.
pub fn show_config(path: &Path) -> ExitCode {
    crate::logging::init();
    let Some(config) = super::load_config(path) else {
        return ExitCode::from(1);
    };
    match toml::to_string(&config) {
        Ok(text) => {
            let shown = format!(
                "# effective configuration from {} (secrets redacted)\n{text}\n",
                path.display()
            );
            match super::output::print(&shown) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("cdnquota: {e}");
                    ExitCode::from(1)
                }
            }
        }
        Err(e) => {
            eprintln!("cdnquota: cannot print the config: {e}");
            ExitCode::from(1)
        }
    }
}
