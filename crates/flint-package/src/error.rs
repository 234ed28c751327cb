//! The one error type of this crate, and how each variant surfaces through the Lambda API.
//!
//! The API crate owns the total mapping from domain errors to AWS error shapes; to keep that
//! mapping a one-liner, [`PackageError`] knows the AWS error code, HTTP status and exact message
//! Lambda uses for the situation ([`PackageError::aws_error_code`],
//! [`PackageError::http_status`], [`PackageError::aws_message`]).
//!
//! | variant | AWS code | status | message |
//! | --- | --- | --- | --- |
//! | [`ZippedTooLarge`](PackageError::ZippedTooLarge) | `RequestEntityTooLargeException` | 413 | `Zipped size must be smaller than 52428800 bytes` |
//! | [`UnzippedTooLarge`](PackageError::UnzippedTooLarge) | `InvalidParameterValueException` | 400 | `Unzipped size must be smaller than 262144000 bytes` |
//! | every other archive problem (not a zip, corrupt data, unsafe paths or links, unsupported entry types, conflicting entries, too many entries) | `InvalidParameterValueException` | 400 | `Could not unzip uploaded file. Please check your file, then try to upload again.` |
//! | [`DestinationNotEmpty`](PackageError::DestinationNotEmpty), [`Io`](PackageError::Io) | `ServiceException` | 500 | `An internal error occurred.` (our fault, not the caller's) |
//!
//! The limits in the two size messages are the ones from the [`PackageLimits`](crate::PackageLimits)
//! in force, so with the defaults they are byte-for-byte Lambda's. The `Display` text of each
//! variant is meant for logs: it names the offending entry, which the AWS message deliberately
//! does not (Lambda never says which entry was wrong).

use std::io;
use std::path::PathBuf;

/// Lambda's message for any deployment package it cannot unpack.
pub const COULD_NOT_UNZIP_MESSAGE: &str =
    "Could not unzip uploaded file. Please check your file, then try to upload again.";

/// Why a deployment package was refused, or why extracting it failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PackageError {
    /// The zip itself is larger than allowed; checked before anything is parsed.
    #[error("zipped size {size} exceeds the limit of {limit} bytes")]
    ZippedTooLarge {
        /// Length of the uploaded zip in bytes.
        size: u64,
        /// The limit in force.
        limit: u64,
    },

    /// The bytes are not a zip we can read: no central directory, truncated or corrupt entry
    /// data, a CRC mismatch, a size that differs from the one the archive declares, an
    /// encrypted entry or an unsupported compression method.
    #[error("not a readable zip archive: {reason}")]
    NotAZip {
        /// What exactly was wrong, for logs.
        reason: String,
    },

    /// An entry name that could land outside the package root or is otherwise unusable as a
    /// relative path (absolute, escaping `..`, NUL, backslash, drive letter, too long, a parent
    /// that is a file or symlink in the same archive).
    #[error("unsafe entry path {name:?}: {reason}")]
    UnsafePath {
        /// The entry name as stored in the archive.
        name: String,
        /// Which rule it broke.
        reason: &'static str,
    },

    /// A symlink whose target leaves the package root (directly, through `..`, through other
    /// symlinks of the archive, or by being absolute), or that loops.
    #[error("unsafe symlink {name:?} -> {target:?}: {reason}")]
    UnsafeLink {
        /// The link's entry name.
        name: String,
        /// The link target as stored (lossily decoded if it was not UTF-8).
        target: String,
        /// Which rule it broke.
        reason: &'static str,
    },

    /// An entry that is neither a regular file, a directory nor a symlink (device, FIFO,
    /// socket, unknown type bits). Zip has no hardlinks, so those cannot occur.
    #[error("entry {name:?} has an unsupported file type (unix mode {mode:#o})")]
    UnsupportedEntryType {
        /// The entry name.
        name: String,
        /// The full unix mode from the external attributes.
        mode: u32,
    },

    /// Two entries name the same path after normalisation (`a` and `./a`), or one path is both
    /// a directory and a file/symlink. Exact byte-for-byte duplicate names never get here: the
    /// zip reader keeps the last central-directory record for a name.
    #[error("entry {name:?} conflicts with another entry for the same path")]
    ConflictingEntry {
        /// The later of the two entry names.
        name: String,
    },

    /// The real decompressed size passed the limit; decompression stopped there.
    #[error("unzipped size exceeds the limit of {limit} bytes")]
    UnzippedTooLarge {
        /// The limit in force.
        limit: u64,
    },

    /// More entries than [`PackageLimits::max_entries`](crate::PackageLimits::max_entries).
    #[error("archive has more than {limit} entries")]
    TooManyEntries {
        /// The limit in force.
        limit: usize,
    },

    /// [`extract_zip`](crate::extract_zip) was given a destination that exists and is not an
    /// empty directory (or is a symlink). A caller bug, never the uploader's.
    #[error("extraction destination {path} is not a new or empty directory")]
    DestinationNotEmpty {
        /// The destination given.
        path: PathBuf,
    },

    /// Writing the extracted package failed (disk full, permissions, ...).
    #[error("i/o error at {path}: {source}")]
    Io {
        /// The path being written or inspected.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
}

impl PackageError {
    /// True when the uploaded package is at fault (a 4xx), false when we are (a 5xx).
    pub fn is_client_error(&self) -> bool {
        !matches!(self, Self::DestinationNotEmpty { .. } | Self::Io { .. })
    }

    /// The AWS error code (`x-amzn-ErrorType`) Lambda answers with for this error.
    ///
    /// Oversized zips are `RequestEntityTooLargeException`, the code Lambda really sends, not
    /// the modelled `RequestTooLargeException`.
    pub fn aws_error_code(&self) -> &'static str {
        match self {
            Self::ZippedTooLarge { .. } => "RequestEntityTooLargeException",
            Self::DestinationNotEmpty { .. } | Self::Io { .. } => "ServiceException",
            _ => "InvalidParameterValueException",
        }
    }

    /// The HTTP status that goes with [`aws_error_code`](Self::aws_error_code).
    pub fn http_status(&self) -> u16 {
        match self {
            Self::ZippedTooLarge { .. } => 413,
            Self::DestinationNotEmpty { .. } | Self::Io { .. } => 500,
            _ => 400,
        }
    }

    /// The client-facing message, exactly as Lambda words it. Never names entries or paths:
    /// Lambda doesn't, and host paths must not leak.
    pub fn aws_message(&self) -> String {
        match self {
            Self::ZippedTooLarge { limit, .. } => {
                format!("Zipped size must be smaller than {limit} bytes")
            }
            Self::UnzippedTooLarge { limit } => {
                format!("Unzipped size must be smaller than {limit} bytes")
            }
            Self::DestinationNotEmpty { .. } | Self::Io { .. } => {
                "An internal error occurred.".to_owned()
            }
            _ => COULD_NOT_UNZIP_MESSAGE.to_owned(),
        }
    }

    pub(crate) fn not_a_zip(reason: impl ToString) -> Self {
        Self::NotAZip {
            reason: reason.to_string(),
        }
    }

    pub(crate) fn io(path: impl Into<PathBuf>, source: io::Error) -> Self {
        Self::Io {
            path: path.into(),
            source,
        }
    }
}

impl From<zip::result::ZipError> for PackageError {
    /// Everything the zip reader can complain about is a property of the upload; a real I/O
    /// error cannot happen because it reads from memory.
    fn from(e: zip::result::ZipError) -> Self {
        Self::not_a_zip(e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_limits_give_lambdas_exact_messages() {
        let limits = crate::PackageLimits::default();
        let zipped = PackageError::ZippedTooLarge {
            size: limits.max_zipped_bytes + 1,
            limit: limits.max_zipped_bytes,
        };
        assert_eq!(
            zipped.aws_message(),
            "Zipped size must be smaller than 52428800 bytes"
        );
        assert_eq!(zipped.aws_error_code(), "RequestEntityTooLargeException");
        assert_eq!(zipped.http_status(), 413);

        let unzipped = PackageError::UnzippedTooLarge {
            limit: limits.max_unzipped_bytes,
        };
        assert_eq!(
            unzipped.aws_message(),
            "Unzipped size must be smaller than 262144000 bytes"
        );
        assert_eq!(unzipped.aws_error_code(), "InvalidParameterValueException");
        assert_eq!(unzipped.http_status(), 400);

        let bad = PackageError::UnsafePath {
            name: "../evil".into(),
            reason: "x",
        };
        assert_eq!(
            bad.aws_message(),
            "Could not unzip uploaded file. Please check your file, then try to upload again."
        );
        assert!(bad.is_client_error());

        let io = PackageError::io("/srv/flint/x", io::Error::other("disk full"));
        assert!(!io.is_client_error());
        assert_eq!(io.http_status(), 500);
        assert!(!io.aws_message().contains("/srv"));
    }
}
