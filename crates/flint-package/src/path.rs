//! Turning an untrusted entry name into a safe relative path.
//!
//! Zip entry names are free-form strings. We accept only names that, read as `/`-separated
//! relative paths, stay inside the package root, and we hand the rest of the crate the
//! *normalised* components (no `.`, no `..`, no empty components), so nothing downstream ever
//! passes an attacker-chosen path to the OS: `a/../b` is written as `b` without touching `a`.
//! The rules are deliberately stricter than what Linux would tolerate (backslashes, drive
//! letters) because such names are either an attack or a package built wrongly on Windows, and
//! Lambda's own runtime would not find the files under those names anyway.

/// Linux `NAME_MAX`: longer components fail at `open(2)` anyway; refusing them up front keeps
/// [`inspect_zip`](crate::inspect_zip) and [`extract_zip`](crate::extract_zip) in agreement.
pub(crate) const MAX_COMPONENT_LEN: usize = 255;
/// Linux `PATH_MAX - 1`: the longest symlink target we accept.
pub(crate) const MAX_PATH_LEN: usize = 4095;
/// Longest accepted entry name. Below `PATH_MAX` on purpose: the name is joined to the
/// destination directory before it reaches the kernel, and the joined path must still fit.
/// Real packages, deep `node_modules` trees included, stay far below this.
pub(crate) const MAX_NAME_LEN: usize = 1024;

/// A validated entry name: normalised components plus whether the name ended in `/`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct EntryPath {
    pub(crate) components: Vec<String>,
    pub(crate) trailing_slash: bool,
}

impl EntryPath {
    /// True for names such as `./` that denote the package root itself.
    pub(crate) fn is_root(&self) -> bool {
        self.components.is_empty()
    }

    /// The normalised path joined with `/`, relative to the package root.
    pub(crate) fn relative(&self) -> std::path::PathBuf {
        self.components.iter().collect()
    }
}

/// Validates and normalises one entry name; the error is the rule that was broken.
pub(crate) fn normalize_entry_name(name: &str) -> Result<EntryPath, &'static str> {
    if name.is_empty() {
        return Err("empty name");
    }
    if name.len() > MAX_NAME_LEN {
        return Err("name longer than 1024 bytes");
    }
    if name.contains('\0') {
        return Err("contains a NUL byte");
    }
    // Windows separators: `..\..\x` is harmless on Linux but means escape to any tool that
    // treats `\` as a separator, and Lambda would not find `dir\file` under `dir/file`.
    if name.contains('\\') {
        return Err("contains a backslash");
    }
    if name.starts_with('/') {
        return Err("absolute path");
    }
    if has_drive_prefix(name) {
        return Err("starts with a drive letter");
    }

    let mut components: Vec<String> = Vec::new();
    for component in name.split('/') {
        match component {
            "" | "." => {}
            ".." => {
                if components.pop().is_none() {
                    return Err("`..` escapes the package root");
                }
            }
            normal => {
                if normal.len() > MAX_COMPONENT_LEN {
                    return Err("path component longer than 255 bytes");
                }
                components.push(normal.to_owned());
            }
        }
    }
    Ok(EntryPath {
        components,
        trailing_slash: name.ends_with('/'),
    })
}

/// `C:` or `c:foo`: a DOS drive prefix.
fn has_drive_prefix(name: &str) -> bool {
    let bytes = name.as_bytes();
    bytes.len() >= 2 && bytes[0].is_ascii_alphabetic() && bytes[1] == b':'
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(name: &str) -> Vec<String> {
        normalize_entry_name(name)
            .unwrap_or_else(|e| panic!("{name:?} refused: {e}"))
            .components
    }

    #[test]
    fn accepts_and_normalises_relative_names() {
        assert_eq!(ok("bootstrap"), ["bootstrap"]);
        assert_eq!(ok("a/b/c.js"), ["a", "b", "c.js"]);
        assert_eq!(ok("./a//b/"), ["a", "b"]);
        assert_eq!(ok("a/../b"), ["b"]);
        assert_eq!(ok("node_modules/.bin/tsc"), ["node_modules", ".bin", "tsc"]);
        assert_eq!(ok("weird:name"), ["weird:name"]);
        assert!(ok("./").is_empty());
        assert!(normalize_entry_name("dir/").unwrap().trailing_slash);
    }

    #[test]
    fn refuses_escaping_and_platform_tricks() {
        for bad in [
            "",
            "../evil",
            "a/../../evil",
            "./..",
            "/abs",
            "//abs",
            "C:/windows",
            "c:evil",
            "..\\evil",
            "a\\b",
            "nul\0byte",
        ] {
            assert!(normalize_entry_name(bad).is_err(), "{bad:?} accepted");
        }
        assert!(normalize_entry_name(&"a".repeat(256)).is_err());
        assert!(normalize_entry_name(&"a/".repeat(513)).is_err());
        assert!(normalize_entry_name(&"a/".repeat(512)).is_ok());
    }
}
