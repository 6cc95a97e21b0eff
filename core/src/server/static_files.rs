//! Static files (the demo page) from `ServerConfig.static_dir`: `/` serves `index.html`, other paths
//! the file they name. No path traversal: every percent-decoded segment must be a plain name (no `..`,
//! `.`, hidden names, backslashes or NULs), and the resolved path, symlinks followed, must stay inside
//! the directory. Only regular files up to 16 MiB are served.

use super::web::{self, Resp};
use bytes::Bytes;
use http::StatusCode;
use std::path::{Path, PathBuf};

/// Largest file served.
const MAX_FILE: u64 = 16 << 20;

fn not_found() -> Resp {
    web::error(StatusCode::NOT_FOUND, "not_found", "no such file")
}

/// The content type of a file name's extension.
fn content_type(path: &Path) -> &'static str {
    match path.extension().and_then(|e| e.to_str()).unwrap_or("") {
        "html" | "htm" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "json" | "map" => "application/json",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "ico" => "image/x-icon",
        "wasm" => "application/wasm",
        "txt" => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}

/// The relative path named by a URL path, or `None` when a segment is not a plain name.
fn relative(url_path: &str) -> Option<PathBuf> {
    let trimmed = url_path.trim_start_matches('/');
    if trimmed.is_empty() {
        return Some(PathBuf::from("index.html"));
    }
    let mut rel = PathBuf::new();
    for raw in trimmed.split('/') {
        let seg = percent_encoding::percent_decode_str(raw)
            .decode_utf8()
            .ok()?;
        if seg.is_empty() || seg.starts_with('.') || seg.contains(['/', '\\', '\0', ':']) {
            return None;
        }
        rel.push(seg.as_ref());
    }
    Some(rel)
}

/// Serves `url_path` from `dir`.
pub(crate) async fn serve(dir: &Path, url_path: &str) -> Resp {
    let Some(rel) = relative(url_path) else {
        return not_found();
    };
    let Ok(root) = tokio::fs::canonicalize(dir).await else {
        return not_found();
    };
    let Ok(full) = tokio::fs::canonicalize(root.join(&rel)).await else {
        return not_found();
    };
    if !full.starts_with(&root) {
        return not_found();
    }
    match tokio::fs::metadata(&full).await {
        Ok(m) if m.is_file() && m.len() <= MAX_FILE => {}
        _ => return not_found(),
    }
    match tokio::fs::read(&full).await {
        Ok(data) => web::bytes(StatusCode::OK, content_type(&full), Bytes::from(data)),
        Err(_) => not_found(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_segments() {
        assert_eq!(relative("/"), Some(PathBuf::from("index.html")));
        assert_eq!(relative("/js/app.js"), Some(PathBuf::from("js/app.js")));
        for bad in [
            "/../etc/passwd",
            "/a/../../b",
            "/%2e%2e/secret",
            "/a%2fb",
            "/.env",
            "/a//b",
            "/a%5c..%5cb",
            "/%00",
        ] {
            assert_eq!(relative(bad), None, "{bad}");
        }
    }
}
