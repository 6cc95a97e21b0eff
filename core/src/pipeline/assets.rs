//! The demo page and the browser client (`web/` in the repository), compiled into the library.
//!
//! The server serves a directory, so [`write_to`] lays the files out as the page expects them
//! (`index.html`, `app.js`, `style.css`, `favicon.svg`, `favicon.ico`, `client/index.js`,
//! `client/index.d.ts`). `favicon.ico` is `favicon.svg` drawn at 32 px (a PNG in an ICO), for the
//! clients that ask for `/favicon.ico` without reading the page's `<link rel="icon">`.

use crate::error::Result;
use std::path::Path;

/// (relative path, contents) of every demo file.
pub const FILES: [(&str, &[u8]); 7] = [
    ("index.html", include_bytes!("../../../web/demo/index.html")),
    ("app.js", include_bytes!("../../../web/demo/app.js")),
    ("style.css", include_bytes!("../../../web/demo/style.css")),
    (
        "favicon.svg",
        include_bytes!("../../../web/demo/favicon.svg"),
    ),
    (
        "favicon.ico",
        include_bytes!("../../../web/demo/favicon.ico"),
    ),
    (
        "client/index.js",
        include_bytes!("../../../web/client/index.js"),
    ),
    (
        "client/index.d.ts",
        include_bytes!("../../../web/client/index.d.ts"),
    ),
];

/// Writes the demo files under `dir` (created if missing).
pub fn write_to(dir: &Path) -> Result<()> {
    for (rel, text) in FILES {
        let path = dir.join(rel);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(&path, text)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn files_are_written_where_the_page_expects_them() {
        let dir = std::env::temp_dir().join(format!("dashfeed-assets-test-{}", std::process::id()));
        super::write_to(&dir).unwrap();
        let index = std::fs::read_to_string(dir.join("index.html")).unwrap();
        assert!(index.contains("app.js"));
        assert!(dir.join("client/index.js").is_file());
        let ico = std::fs::read(dir.join("favicon.ico")).unwrap();
        assert_eq!(&ico[..4], &[0, 0, 1, 0], "an ICO header");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
