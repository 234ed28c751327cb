//! The AWS SDKs of the managed runtimes: boto3/botocore for `python3.*`, the AWS SDK for
//! JavaScript v3 for `nodejs*.x`, as Lambda ships them.
//!
//! flint does not carry them: [`install`] fetches the pinned versions from PyPI (pip) and
//! npm into an SDK directory (`flint runtime-sdk install`; default `<data dir>/runtime-sdk`),
//! and at start [`place`] links them into the runtime dir, where a function finds them
//! *after* its own package and its layers: Python at `/var/runtime/sdk/python` (the client
//! puts it on `sys.path` after `/var/task` and `/opt/python`), Node.js at
//! `/var/runtime/node_modules` (the last `NODE_PATH` entry before the runtime dir, as on
//! Lambda; a package's own `node_modules` is found first by Node's resolution). A function
//! that ships its own boto3 gets its own. Without them the runtimes still work and
//! [`SdkVersions::describe`] says so.

use crate::error::SdkError;
use crate::host::HostRuntimes;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The Python SDK, pinned (the versions Lambda's Python runtimes carried in 2025; both still
/// support Python 3.9).
pub const PYTHON_SDK: &[&str] = &["boto3==1.40.4", "botocore==1.40.4"];
/// The JavaScript SDK v3 clients, pinned (one release: they share their core packages).
pub const NODE_SDK: &[&str] = &[
    "@aws-sdk/client-lambda@3.1178.0",
    "@aws-sdk/client-s3@3.1178.0",
    "@aws-sdk/client-dynamodb@3.1178.0",
];

/// Where the Python SDK goes inside the runtime dir (`/var/runtime/sdk/python`).
pub const PYTHON_SDK_SUBDIR: &str = "sdk/python";
/// Where the JavaScript SDK goes inside the runtime dir (`/var/runtime/node_modules`).
pub const NODE_SDK_SUBDIR: &str = "node_modules";

/// The SDK versions found in an SDK or runtime directory.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SdkVersions {
    /// `boto3 1.40.4`, `botocore 1.40.4`, ... (Python distributions, by name).
    pub python: Vec<(String, String)>,
    /// `@aws-sdk/client-lambda 3.1178.0`, ... (the `@aws-sdk/client-*` packages).
    pub node: Vec<(String, String)>,
}

impl SdkVersions {
    /// One line for the start-up log.
    pub fn describe(&self) -> String {
        let list = |v: &[(String, String)]| {
            v.iter()
                .map(|(n, ver)| format!("{n} {ver}"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let python = if self.python.is_empty() {
            "python3.* without boto3 (not installed: `flint runtime-sdk install`)".to_owned()
        } else {
            format!("python3.* with {}", list(&self.python))
        };
        let node = if self.node.is_empty() {
            "nodejs*.x without the AWS SDK for JavaScript (not installed: `flint runtime-sdk install`)"
                .to_owned()
        } else {
            format!("nodejs*.x with {}", list(&self.node))
        };
        format!("{python}; {node}")
    }
}

/// Whether `installed` is exactly the pinned set ([`PYTHON_SDK`], [`NODE_SDK`]).
pub fn is_current(installed: &SdkVersions) -> bool {
    let pinned = |pins: &[&str], sep: &str, have: &[(String, String)]| {
        pins.iter().all(|pin| {
            pin.rsplit_once(sep)
                .is_some_and(|(n, v)| have.iter().any(|(hn, hv)| hn == n && hv == v))
        })
    };
    pinned(PYTHON_SDK, "==", &installed.python) && pinned(NODE_SDK, "@", &installed.node)
}

/// The versions installed in `sdk_dir` (laid out by [`install`]: `python/`, `nodejs/`).
pub fn installed(sdk_dir: &Path) -> SdkVersions {
    SdkVersions {
        python: python_versions(&sdk_dir.join("python")),
        node: node_versions(&sdk_dir.join("nodejs/node_modules")),
    }
}

/// Python distributions in a `pip --target` directory, from their `*.dist-info` names
/// (`boto3-1.40.4.dist-info`); only the SDK's own (boto3, botocore, s3transfer).
fn python_versions(dir: &Path) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().into_string().ok()?;
            let stem = name.strip_suffix(".dist-info")?;
            let (dist, version) = stem.split_once('-')?;
            ["boto3", "botocore", "s3transfer"]
                .contains(&dist)
                .then(|| (dist.to_owned(), version.to_owned()))
        })
        .collect();
    out.sort();
    out
}

/// `@aws-sdk/client-*` packages in a `node_modules` directory, from their `package.json`.
fn node_versions(node_modules: &Path) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = fs::read_dir(node_modules.join("@aws-sdk"))
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().into_string().ok()?;
            if !name.starts_with("client-") {
                return None;
            }
            let manifest = fs::read_to_string(e.path().join("package.json")).ok()?;
            Some((
                format!("@aws-sdk/{name}"),
                json_string_field(&manifest, "version")?,
            ))
        })
        .collect();
    out.sort();
    out
}

/// The first `"field": "value"` of a JSON text (package.json's top-level `version` comes
/// before any nested one in npm's manifests; no JSON parser needed for that).
fn json_string_field(json: &str, field: &str) -> Option<String> {
    let key = format!("\"{field}\"");
    let rest = &json[json.find(&key)? + key.len()..];
    let rest = rest.trim_start().strip_prefix(':')?.trim_start();
    let rest = rest.strip_prefix('"')?;
    Some(rest[..rest.find('"')?].to_owned())
}

/// Fetches the pinned SDKs into `sdk_dir` (`python/` with pip, `nodejs/` with npm), each
/// built in a temporary directory and renamed into place, so a failed install leaves the
/// previous one. The Python SDK is compiled to bytecode by every host Python (the runtime
/// dir is read-only inside the sandbox: nothing could cache it there). Returns what is
/// installed afterwards, or the first failure (the other language is still attempted).
pub fn install(sdk_dir: &Path, host: &HostRuntimes) -> Result<SdkVersions, SdkError> {
    fs::create_dir_all(sdk_dir).map_err(|e| SdkError::Io(sdk_dir.to_path_buf(), e))?;
    let python = host
        .python
        .as_ref()
        .ok_or(SdkError::MissingTool("python3"))
        .and_then(|py| {
            install_into(sdk_dir, "python", |tmp| {
                let mut pip = Command::new(&py.executable);
                pip.args(["-I", "-m", "pip", "install", "--quiet", "--no-compile"])
                    .args(["--disable-pip-version-check", "--no-warn-script-location"])
                    .arg("--target")
                    .arg(tmp)
                    .args(PYTHON_SDK);
                run(pip, "pip install")?;
                for py in host.pythons() {
                    let mut compile = Command::new(&py.executable);
                    compile
                        .args(["-I", "-m", "compileall", "-q", "-j0"])
                        .arg(tmp);
                    run(compile, "python -m compileall")?;
                }
                Ok(())
            })
        });
    let node = install_into(sdk_dir, "nodejs", |tmp| {
        let mut npm = Command::new("npm");
        npm.args(["install", "--silent", "--no-audit", "--no-fund"])
            .args(["--no-package-lock", "--omit=dev", "--prefix"])
            .arg(tmp)
            .args(NODE_SDK);
        run(npm, "npm install")
    });
    python.and(node)?;
    Ok(installed(sdk_dir))
}

fn install_into(
    sdk_dir: &Path,
    name: &str,
    fill: impl FnOnce(&Path) -> Result<(), SdkError>,
) -> Result<(), SdkError> {
    let tmp = sdk_dir.join(format!(".{name}-{}", std::process::id()));
    let _ = fs::remove_dir_all(&tmp);
    fs::create_dir_all(&tmp).map_err(|e| SdkError::Io(tmp.clone(), e))?;
    if let Err(e) = fill(&tmp) {
        let _ = fs::remove_dir_all(&tmp);
        return Err(e);
    }
    replace_dir(&tmp, &sdk_dir.join(name)).map_err(|e| SdkError::Io(sdk_dir.join(name), e))
}

fn run(mut command: Command, what: &'static str) -> Result<(), SdkError> {
    let out = command.output().map_err(|e| match e.kind() {
        io::ErrorKind::NotFound => SdkError::MissingTool(what),
        _ => SdkError::Io(PathBuf::from(what), e),
    })?;
    if out.status.success() {
        return Ok(());
    }
    let stderr = String::from_utf8_lossy(&out.stderr);
    Err(SdkError::Failed {
        what,
        status: out.status.to_string(),
        output: stderr.lines().rev().take(5).collect::<Vec<_>>().join(" / "),
    })
}

/// Puts the SDKs of `sdk_dir` into `runtime_dir` (hard links, or copies across file
/// systems), replacing what an earlier start put there, or removes them when `sdk_dir` has
/// none. Returns the versions the runtimes now have. A restart with the same install (the
/// same SDK directories, which `install` replaces whole) links nothing again.
pub fn place(sdk_dir: &Path, runtime_dir: &Path) -> io::Result<SdkVersions> {
    let stamp_path = runtime_dir.join(".sdk-stamp");
    let stamp = placement_stamp(sdk_dir);
    if fs::read_to_string(&stamp_path).is_ok_and(|s| s == stamp) {
        return Ok(placed(runtime_dir));
    }
    // Gone first: a placement cut short is redone at the next start.
    match fs::remove_file(&stamp_path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
        _ => {}
    }
    for (from, to) in [
        (sdk_dir.join("python"), runtime_dir.join(PYTHON_SDK_SUBDIR)),
        (
            sdk_dir.join("nodejs/node_modules"),
            runtime_dir.join(NODE_SDK_SUBDIR),
        ),
    ] {
        if from.is_dir() {
            let parent = to.parent().unwrap_or(runtime_dir);
            fs::create_dir_all(parent)?;
            let tmp = parent.join(format!(".sdk-{}", std::process::id()));
            let _ = fs::remove_dir_all(&tmp);
            link_tree(&from, &tmp)?;
            replace_dir(&tmp, &to)?;
        } else if to.exists() {
            fs::remove_dir_all(&to)?;
        }
    }
    fs::write(&stamp_path, stamp)?;
    Ok(placed(runtime_dir))
}

/// What identifies an install: the SDK directory and its two trees (inode and change time;
/// an install renames new trees into place).
fn placement_stamp(sdk_dir: &Path) -> String {
    use std::os::unix::fs::MetadataExt;
    let id = |p: PathBuf| match fs::metadata(p) {
        Ok(m) => format!("{}.{}.{}", m.ino(), m.ctime(), m.ctime_nsec()),
        Err(_) => "none".to_owned(),
    };
    format!(
        "{}\n{}\n{}\n",
        sdk_dir.display(),
        id(sdk_dir.join("python")),
        id(sdk_dir.join("nodejs/node_modules"))
    )
}

/// The versions in the runtime dir.
fn placed(runtime_dir: &Path) -> SdkVersions {
    SdkVersions {
        python: python_versions(&runtime_dir.join(PYTHON_SDK_SUBDIR)),
        node: node_versions(&runtime_dir.join(NODE_SDK_SUBDIR)),
    }
}

/// Replaces `to` by `from` (a directory in the same parent file system).
fn replace_dir(from: &Path, to: &Path) -> io::Result<()> {
    if to.exists() {
        let old = to.with_extension(format!("old-{}", std::process::id()));
        fs::rename(to, &old)?;
        fs::rename(from, to)?;
        fs::remove_dir_all(&old)
    } else {
        fs::rename(from, to)
    }
}

/// A copy of the tree at `from` in `to`: files hard-linked (copied when that fails),
/// symbolic links re-created as they are.
fn link_tree(from: &Path, to: &Path) -> io::Result<()> {
    fs::create_dir_all(to)?;
    for entry in fs::read_dir(from)? {
        let entry = entry?;
        let (src, dst) = (entry.path(), to.join(entry.file_name()));
        let kind = entry.file_type()?;
        if kind.is_dir() {
            link_tree(&src, &dst)?;
        } else if kind.is_symlink() {
            std::os::unix::fs::symlink(fs::read_link(&src)?, &dst)?;
        } else if fs::hard_link(&src, &dst).is_err() {
            fs::copy(&src, &dst)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(path: &Path, text: &str) {
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, text).unwrap();
    }

    #[test]
    fn versions_come_from_dist_info_and_package_json() {
        let dir = tempfile::tempdir().unwrap();
        let sdk = dir.path();
        write(&sdk.join("python/boto3-1.40.4.dist-info/METADATA"), "");
        write(&sdk.join("python/botocore-1.40.4.dist-info/METADATA"), "");
        write(&sdk.join("python/six-1.17.0.dist-info/METADATA"), "");
        write(&sdk.join("python/boto3/__init__.py"), "");
        write(
            &sdk.join("nodejs/node_modules/@aws-sdk/client-lambda/package.json"),
            "{\n  \"name\": \"@aws-sdk/client-lambda\",\n  \"version\": \"3.1178.0\",\n  \"dependencies\": {\"x\": {\"version\": \"9\"}}\n}",
        );
        write(
            &sdk.join("nodejs/node_modules/@aws-sdk/core/package.json"),
            "{\"version\": \"3.1\"}",
        );
        let v = installed(sdk);
        assert_eq!(
            v.python,
            [
                ("boto3".to_owned(), "1.40.4".to_owned()),
                ("botocore".to_owned(), "1.40.4".to_owned())
            ]
        );
        assert_eq!(
            v.node,
            [("@aws-sdk/client-lambda".to_owned(), "3.1178.0".to_owned())]
        );
        assert_eq!(
            v.describe(),
            "python3.* with boto3 1.40.4, botocore 1.40.4; \
             nodejs*.x with @aws-sdk/client-lambda 3.1178.0"
        );
        assert!(SdkVersions::default().describe().contains("without boto3"));
        assert!(!is_current(&v), "not every pinned client is there");
        let pinned = SdkVersions {
            python: PYTHON_SDK
                .iter()
                .map(|p| p.split_once("==").unwrap())
                .map(|(n, v)| (n.to_owned(), v.to_owned()))
                .collect(),
            node: NODE_SDK
                .iter()
                .map(|p| p.rsplit_once('@').unwrap())
                .map(|(n, v)| (n.to_owned(), v.to_owned()))
                .collect(),
        };
        assert!(is_current(&pinned));
    }

    #[test]
    fn placing_links_the_sdks_in_and_takes_them_out_again() {
        let dir = tempfile::tempdir().unwrap();
        let (sdk, runtime) = (dir.path().join("sdk"), dir.path().join("runtime"));
        write(&sdk.join("python/boto3-1.40.4.dist-info/RECORD"), "");
        write(&sdk.join("python/boto3/__init__.py"), "x = 1\n");
        write(
            &sdk.join("nodejs/node_modules/@aws-sdk/client-s3/package.json"),
            "{\"version\": \"3.1178.0\"}",
        );
        std::os::unix::fs::symlink("../x", sdk.join("nodejs/node_modules/link")).unwrap();
        write(&runtime.join("bootstrap.py"), "client");
        let v = place(&sdk, &runtime).unwrap();
        assert_eq!(v.python.len(), 1);
        assert_eq!(v.node.len(), 1);
        assert_eq!(
            fs::read_to_string(runtime.join("sdk/python/boto3/__init__.py")).unwrap(),
            "x = 1\n"
        );
        assert_eq!(
            fs::read_link(runtime.join("node_modules/link")).unwrap(),
            Path::new("../x")
        );
        // Again (a restart): nothing linked again.
        use std::os::unix::fs::MetadataExt;
        let ino = |p: &Path| fs::metadata(p).unwrap().ino();
        let before = ino(&runtime.join("sdk/python"));
        assert_eq!(place(&sdk, &runtime).unwrap(), v);
        assert_eq!(ino(&runtime.join("sdk/python")), before);
        // A new install (its tree renamed into place): placed again, replaced, not nested.
        let fresh = dir.path().join("fresh");
        link_tree(&sdk.join("python"), &fresh).unwrap();
        replace_dir(&fresh, &sdk.join("python")).unwrap();
        assert_eq!(place(&sdk, &runtime).unwrap(), v);
        assert_ne!(ino(&runtime.join("sdk/python")), before);
        assert!(!runtime.join("sdk/python/python").exists());
        // Uninstalled: taken out; the client's files stay.
        fs::remove_dir_all(&sdk).unwrap();
        assert_eq!(place(&sdk, &runtime).unwrap(), SdkVersions::default());
        assert!(!runtime.join("node_modules").exists());
        assert!(runtime.join("bootstrap.py").exists());
    }

    #[test]
    fn reads_the_first_string_field() {
        assert_eq!(
            json_string_field("{\"version\" : \"1.2\"}", "version").as_deref(),
            Some("1.2")
        );
        assert_eq!(json_string_field("{}", "version"), None);
    }
}
