//! The `[http]` section: how the endpoints are served beyond `listen`.

use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// What the endpoints are served with.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct HttpConfig {
    /// The exporter-toolkit web config (TLS, basic auth, headers), if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub web_config_file: Option<PathBuf>,
}

/// `[http]` as written.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawHttp {
    web_config_file: Option<PathBuf>,
}

impl RawHttp {
    /// A relative `web_config_file` is read beside the config file.
    pub(super) fn resolve(self, config_file: &Path) -> Result<HttpConfig, String> {
        let web_config_file = match self.web_config_file {
            None => None,
            Some(p) if p.as_os_str().is_empty() => {
                return Err(
                    "an empty path names no file: give the web config's path, e.g. \"/etc/cdnquota/web.yml\", or remove the key"
                        .into(),
                );
            }
            Some(p) => Some(config_file.parent().unwrap_or(Path::new(".")).join(p)),
        };
        Ok(HttpConfig { web_config_file })
    }
}
