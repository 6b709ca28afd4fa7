//! `cdnquota config`: check the config and print the effective one.

use std::path::Path;
use std::process::ExitCode;

/// Prints the effective config with secrets redacted; exit 1 when it, or
/// the web config it names (or `web_config` names), is invalid.
pub fn show_config(path: &Path, web_config: Option<&Path>) -> ExitCode {
    crate::logging::init();
    let Some(config) = super::load_config_with(path, web_config) else {
        return ExitCode::from(1);
    };
    // Loaded as the daemon loads it: certificates, key and CA read and
    // matched, hashes checked. What it holds is never printed.
    let web = match &config.http.web_config_file {
        None => String::new(),
        Some(file) => match crate::http::web_guard::load(file) {
            Ok(active) => format!("# web config {}: {}\n", file.display(), active.summary),
            Err(e) => {
                eprintln!("cdnquota: invalid web config: {e}");
                return ExitCode::from(1);
            }
        },
    };
    match toml::to_string(&config) {
        Ok(text) => {
            let shown = format!(
                "# effective configuration from {} (secrets redacted)\n{web}{text}\n",
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
