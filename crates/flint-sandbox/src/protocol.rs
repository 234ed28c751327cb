//! What flint and a sandbox's init say to each other, with an explicit encoding.
//!
//! Three channels, all created by flint before `clone3` (close-on-exec):
//! - the **sync socket** (unix stream pair): flint → child one-byte [`ToChild`] messages (the
//!   claim of a pre-spawned environment is a [`ToChild::Specialize`] frame, see
//!   `specialization.rs`); child → flint one-byte [`ToParent`] messages, the listener travelling
//!   as `SCM_RIGHTS` with its byte;
//! - the **error pipe**: a failed set-up step writes one [`Failure`] record (12 bytes) before the
//!   child exits; end of file without a record means the function was `execve`d;
//! - the **status pipe**: init writes the function's wait status ([`encode_wait_status`], 4
//!   bytes) right before it exits with it.
//!
//! A pre-started runtime talks to init on [`PRESTART_FD`] ([`PRESTART_READY`], then the
//! function's cwd and environment; see `child/claim.rs`).
//!
//! Every tag is distinct across channels and directions, and decoding refuses anything else
//! ([`ProtocolError`]): a byte read from the wrong place is an error, never a message.
//! Decoding allocates nothing, so the child uses it too.

use std::io;
use std::os::fd::RawFd;

use crate::error::SandboxError;

/// The descriptor (a stream socket to init) through which a pre-started runtime gets its
/// function: it writes one byte [`PRESTART_READY`] once it is ready to run one, then reads
/// the cwd and each `KEY=value` of the environment, all NUL-terminated, up to EOF.
pub const PRESTART_FD: RawFd = 3;
/// What a pre-started runtime writes to [`PRESTART_FD`] when it is ready.
pub const PRESTART_READY: u8 = b'R';

/// A message that is not part of the protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub(crate) enum ProtocolError {
    /// A byte that is no tag of the channel it arrived on.
    #[error("unknown message {0:#04x}")]
    UnknownMessage(u8),
    /// An error record whose step the parent does not know.
    #[error("unknown set-up step {0} in the child's error record")]
    UnknownStep(u32),
}

/// A message enum with one wire byte per variant, decoded with an error on any other byte.
macro_rules! tagged_messages {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident = $tag:literal,)* }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub(crate) enum $name {
            $($(#[$vmeta])* $variant,)*
        }

        impl $name {
            #[cfg(test)]
            const ALL: &[Self] = &[$(Self::$variant),*];

            /// The wire byte.
            pub(crate) const fn byte(self) -> u8 {
                match self {
                    $(Self::$variant => $tag,)*
                }
            }

            /// The message `byte` stands for.
            pub(crate) fn decode(byte: u8) -> Result<Self, ProtocolError> {
                match byte {
                    $($tag => Ok(Self::$variant),)*
                    _ => Err(ProtocolError::UnknownMessage(byte)),
                }
            }
        }
    };
}

tagged_messages! {
    /// flint → child, on the sync socket.
    ToChild {
        /// `uid_map`/`gid_map` are written (only with a user namespace).
        UserNamespaceMapped = b'U',
        /// The cgroups are attached and flint holds the listener: go on (start the function,
        /// or wait for the claim when pre-spawned).
        Go = b'G',
        /// Tag of the frame that specialises a pre-spawned environment.
        Specialize = b'S',
    }
}

tagged_messages! {
    /// child → flint, on the sync socket.
    ToParent {
        /// Carries the Runtime API listener (`SCM_RIGHTS`).
        Listener = b'L',
        /// The pre-started runtime reported [`PRESTART_READY`].
        RuntimeReady = b'P',
    }
}

/// Set-up steps of the child, reported with the errno when one fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u32)]
pub(crate) enum Step {
    Fds = 1,
    WaitUserns,
    Mount,
    Pivot,
    RemountRoot,
    Hostname,
    LoopbackUp,
    Listen,
    SendListener,
    Rlimit,
    WaitGo,
    DropBounding,
    SetGroups,
    SetGid,
    SetUid,
    ClearCaps,
    NoNewPrivs,
    Seccomp,
    Fork,
    Chdir,
    Exec,
    JoinNetns,
    Specialize,
    AttachCode,
    Prestart,
    Handover,
}

impl Step {
    const ALL: [Self; 26] = [
        Self::Fds,
        Self::WaitUserns,
        Self::Mount,
        Self::Pivot,
        Self::RemountRoot,
        Self::Hostname,
        Self::LoopbackUp,
        Self::Listen,
        Self::SendListener,
        Self::Rlimit,
        Self::WaitGo,
        Self::DropBounding,
        Self::SetGroups,
        Self::SetGid,
        Self::SetUid,
        Self::ClearCaps,
        Self::NoNewPrivs,
        Self::Seccomp,
        Self::Fork,
        Self::Chdir,
        Self::Exec,
        Self::JoinNetns,
        Self::Specialize,
        Self::AttachCode,
        Self::Prestart,
        Self::Handover,
    ];

    fn from_u32(v: u32) -> Option<Self> {
        Self::ALL.into_iter().find(|s| *s as u32 == v)
    }

    /// How an error message names the step.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Step::Fds => "fd set-up",
            Step::WaitUserns => "waiting for user namespace maps",
            Step::Mount => "mount",
            Step::Pivot => "pivot_root",
            Step::RemountRoot => "read-only remount of /",
            Step::Hostname => "sethostname",
            Step::LoopbackUp => "bringing lo up",
            Step::Listen => "binding the Runtime API listener",
            Step::SendListener => "passing the listener to flint",
            Step::Rlimit => "setrlimit",
            Step::WaitGo => "waiting for flint",
            Step::DropBounding => "dropping the capability bounding set",
            Step::SetGroups => "setgroups",
            Step::SetGid => "setresgid",
            Step::SetUid => "setresuid",
            Step::ClearCaps => "capset",
            Step::NoNewPrivs => "PR_SET_NO_NEW_PRIVS",
            Step::Seccomp => "installing seccomp filter",
            Step::Fork => "forking the function",
            Step::Chdir => "chdir",
            Step::Exec => "execve",
            Step::JoinNetns => "joining the pooled network namespace",
            Step::Specialize => "receiving the function of a pre-spawned environment",
            Step::AttachCode => "attaching the function's code (move_mount)",
            Step::Prestart => "starting the runtime of a pre-spawned environment",
            Step::Handover => "handing the function to its pre-started runtime",
        }
    }
}

/// The error record: which step failed, an index within it (the mount number, the exec
/// candidate, ...; [`Failure::NO_INDEX`] for none) and the errno.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Failure {
    pub step: Step,
    pub index: u32,
    pub errno: i32,
}

impl Failure {
    /// Size of the record: step, index, errno (native endian u32/u32/i32).
    pub(crate) const LEN: usize = 12;
    /// `index` when a step failed as a whole (exec: no candidate was executable).
    pub(crate) const NO_INDEX: u32 = u32::MAX;

    pub(crate) const fn new(step: Step, index: u32, errno: i32) -> Self {
        Self { step, index, errno }
    }

    /// The wire form.
    pub(crate) fn encode(&self) -> [u8; Self::LEN] {
        let mut rec = [0u8; Self::LEN];
        rec[0..4].copy_from_slice(&(self.step as u32).to_ne_bytes());
        rec[4..8].copy_from_slice(&self.index.to_ne_bytes());
        rec[8..12].copy_from_slice(&self.errno.to_ne_bytes());
        rec
    }

    /// The record `rec` encodes.
    pub(crate) fn decode(rec: &[u8; Self::LEN]) -> Result<Self, ProtocolError> {
        let word = |i: usize| [rec[i], rec[i + 1], rec[i + 2], rec[i + 3]];
        let step = u32::from_ne_bytes(word(0));
        Ok(Self {
            step: Step::from_u32(step).ok_or(ProtocolError::UnknownStep(step))?,
            index: u32::from_ne_bytes(word(4)),
            errno: i32::from_ne_bytes(word(8)),
        })
    }
}

impl From<Failure> for SandboxError {
    fn from(f: Failure) -> Self {
        let detail = match f.step {
            Step::Mount => format!(" #{}", f.index),
            Step::Exec if f.index != Failure::NO_INDEX => format!(" candidate #{}", f.index),
            _ => String::new(),
        };
        SandboxError::ChildSetup {
            step: f.step.name(),
            detail,
            source: io::Error::from_raw_os_error(f.errno),
        }
    }
}

/// Size of the status frame init writes.
pub(crate) const WAIT_STATUS_LEN: usize = 4;

/// The status frame: the function's wait status, native endian.
pub(crate) fn encode_wait_status(status: i32) -> [u8; WAIT_STATUS_LEN] {
    status.to_ne_bytes()
}

/// The wait status a status frame carries.
pub(crate) fn decode_wait_status(frame: [u8; WAIT_STATUS_LEN]) -> i32 {
    i32::from_ne_bytes(frame)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_round_trip_and_unknown_bytes_are_refused() {
        for &m in ToChild::ALL {
            assert_eq!(ToChild::decode(m.byte()), Ok(m));
        }
        for &m in ToParent::ALL {
            assert_eq!(ToParent::decode(m.byte()), Ok(m));
        }
        let child: Vec<u8> = ToChild::ALL.iter().map(|m| m.byte()).collect();
        let parent: Vec<u8> = ToParent::ALL.iter().map(|m| m.byte()).collect();
        for b in 0..=u8::MAX {
            if !child.contains(&b) {
                assert_eq!(ToChild::decode(b), Err(ProtocolError::UnknownMessage(b)));
            }
            if !parent.contains(&b) {
                assert_eq!(ToParent::decode(b), Err(ProtocolError::UnknownMessage(b)));
            }
        }
    }

    #[test]
    fn every_tag_means_one_thing() {
        let mut tags: Vec<u8> = ToChild::ALL.iter().map(|m| m.byte()).collect();
        tags.extend(ToParent::ALL.iter().map(|m| m.byte()));
        tags.push(PRESTART_READY);
        let n = tags.len();
        tags.sort_unstable();
        tags.dedup();
        assert_eq!(tags.len(), n, "a tag is used twice");
        // A runtime's ready byte is not a message init may pass on as is.
        assert!(ToParent::decode(PRESTART_READY).is_err());
    }

    #[test]
    fn error_records_round_trip_and_unknown_steps_are_refused() {
        for step in Step::ALL {
            let f = Failure::new(step, 7, libc::EPERM);
            assert_eq!(Failure::decode(&f.encode()), Ok(f));
            assert!(!step.name().is_empty());
        }
        let mut rec = Failure::new(Step::Mount, 0, 1).encode();
        rec[0..4].copy_from_slice(&0u32.to_ne_bytes());
        assert_eq!(Failure::decode(&rec), Err(ProtocolError::UnknownStep(0)));
        rec[0..4].copy_from_slice(&27u32.to_ne_bytes());
        assert_eq!(Failure::decode(&rec), Err(ProtocolError::UnknownStep(27)));
    }

    #[test]
    fn records_become_readable_errors() {
        let e = SandboxError::from(Failure::new(Step::Mount, 12, libc::ENOENT)).to_string();
        assert!(e.starts_with("sandbox setup failed at mount #12: "), "{e}");
        let e = SandboxError::from(Failure::new(Step::Exec, 1, libc::ENOEXEC)).to_string();
        assert!(
            e.starts_with("sandbox setup failed at execve candidate #1: "),
            "{e}"
        );
        let e = SandboxError::from(Failure::new(Step::Exec, Failure::NO_INDEX, libc::ENOENT));
        assert!(
            e.to_string()
                .starts_with("sandbox setup failed at execve: "),
            "{e}"
        );
    }

    #[test]
    fn wait_status_frames_round_trip() {
        for st in [0, 7 << 8, libc::SIGKILL, i32::MIN] {
            assert_eq!(decode_wait_status(encode_wait_status(st)), st);
        }
    }
}
