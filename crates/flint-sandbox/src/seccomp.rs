//! The seccomp policy: a reviewed deny-list of what a Lambda function never needs.
//!
//! Why a deny-list and not an allow-list: functions run arbitrary language runtimes (CPython,
//! Node, the JVM, Go/Rust binaries) whose syscall sets are large and change with every
//! release; an allow-list would break them in subtle ways. The dangerous surface is small and
//! well known (Docker's and Firecracker's profiles agree on it): kernel-wide state, namespaces
//! and mounts, tracing other processes, kernel modules, keyrings, eBPF. Every entry below says
//! why it is denied. Most of these already fail without capabilities; the filter is a second
//! wall against kernel bugs reachable only through these entry points.
//!
//! Denied calls return `EPERM` (the function sees a clean error, not a crash). `clone3`
//! returns `ENOSYS` because its flags live in memory that seccomp cannot inspect; libc then
//! falls back to `clone`, whose flags register *is* checked: any `CLONE_NEW*` flag → `EPERM`.
//! Syscalls of a foreign ABI (32-bit `int 0x80`) kill the process, since a deny-list keyed on
//! x86_64 numbers would not cover them.

use std::collections::BTreeMap;

use seccompiler::{
    BpfProgram, SeccompAction, SeccompCmpArgLen, SeccompCmpOp, SeccompCondition, SeccompFilter,
    SeccompRule, TargetArch,
};

use crate::error::{Result, SandboxError};

/// `(syscall number, name, why it is denied)`, denied unconditionally with `EPERM`.
pub const DENIED_SYSCALLS: &[(i64, &str, &str)] = &[
    (
        libc::SYS_mount,
        "mount",
        "file-system layout is fixed by the sandbox",
    ),
    (
        libc::SYS_umount2,
        "umount2",
        "would reveal what the sandbox hides",
    ),
    (
        libc::SYS_pivot_root,
        "pivot_root",
        "root switching is the sandbox's job",
    ),
    (libc::SYS_chroot, "chroot", "classic escape primitive"),
    (libc::SYS_open_tree, "open_tree", "new mount API"),
    (libc::SYS_move_mount, "move_mount", "new mount API"),
    (libc::SYS_fsopen, "fsopen", "new mount API"),
    (libc::SYS_fsconfig, "fsconfig", "new mount API"),
    (libc::SYS_fsmount, "fsmount", "new mount API"),
    (libc::SYS_fspick, "fspick", "new mount API"),
    (
        libc::SYS_mount_setattr,
        "mount_setattr",
        "could make read-only mounts writable",
    ),
    (libc::SYS_setns, "setns", "no joining other namespaces"),
    (
        libc::SYS_unshare,
        "unshare",
        "no new namespaces (user namespaces widen the kernel attack surface)",
    ),
    (
        libc::SYS_ptrace,
        "ptrace",
        "no tracing or memory access of other processes",
    ),
    (
        libc::SYS_process_vm_readv,
        "process_vm_readv",
        "cross-process memory access",
    ),
    (
        libc::SYS_process_vm_writev,
        "process_vm_writev",
        "cross-process memory access",
    ),
    (
        libc::SYS_process_madvise,
        "process_madvise",
        "acts on another process's memory",
    ),
    (
        libc::SYS_pidfd_getfd,
        "pidfd_getfd",
        "steals file descriptors of other processes",
    ),
    (
        libc::SYS_kcmp,
        "kcmp",
        "inspects other processes' kernel objects",
    ),
    (
        libc::SYS_kexec_load,
        "kexec_load",
        "replaces the running kernel",
    ),
    (
        libc::SYS_kexec_file_load,
        "kexec_file_load",
        "replaces the running kernel",
    ),
    (libc::SYS_reboot, "reboot", "host-wide"),
    (libc::SYS_init_module, "init_module", "kernel modules"),
    (libc::SYS_finit_module, "finit_module", "kernel modules"),
    (libc::SYS_delete_module, "delete_module", "kernel modules"),
    (
        libc::SYS_bpf,
        "bpf",
        "eBPF is a large kernel attack surface",
    ),
    (
        libc::SYS_perf_event_open,
        "perf_event_open",
        "kernel profiling, frequent CVE source, side channels",
    ),
    (
        libc::SYS_userfaultfd,
        "userfaultfd",
        "used to widen kernel race windows in exploits",
    ),
    (
        libc::SYS_keyctl,
        "keyctl",
        "kernel keyrings are not namespaced",
    ),
    (
        libc::SYS_add_key,
        "add_key",
        "kernel keyrings are not namespaced",
    ),
    (
        libc::SYS_request_key,
        "request_key",
        "kernel keyrings are not namespaced",
    ),
    (
        libc::SYS_open_by_handle_at,
        "open_by_handle_at",
        "opens files outside the mount tree (shocker escape)",
    ),
    (
        libc::SYS_name_to_handle_at,
        "name_to_handle_at",
        "companion of open_by_handle_at",
    ),
    (libc::SYS_iopl, "iopl", "raw I/O port access"),
    (libc::SYS_ioperm, "ioperm", "raw I/O port access"),
    (libc::SYS_swapon, "swapon", "host-wide"),
    (libc::SYS_swapoff, "swapoff", "host-wide"),
    (libc::SYS_quotactl, "quotactl", "host file-system quotas"),
    (
        libc::SYS_quotactl_fd,
        "quotactl_fd",
        "host file-system quotas",
    ),
    (libc::SYS_acct, "acct", "host-wide process accounting"),
    (
        libc::SYS_settimeofday,
        "settimeofday",
        "the clock is not namespaced",
    ),
    (
        libc::SYS_clock_settime,
        "clock_settime",
        "the clock is not namespaced",
    ),
    (
        libc::SYS_clock_adjtime,
        "clock_adjtime",
        "the clock is not namespaced",
    ),
    (
        libc::SYS_syslog,
        "syslog",
        "kernel log leaks host information (addresses)",
    ),
    (
        libc::SYS_lookup_dcookie,
        "lookup_dcookie",
        "kernel profiling interface",
    ),
    (libc::SYS_uselib, "uselib", "obsolete"),
    (libc::SYS_vhangup, "vhangup", "terminal control of the host"),
    (
        libc::SYS_io_uring_setup,
        "io_uring_setup",
        "io_uring operations bypass seccomp; runtimes fall back",
    ),
    (
        libc::SYS_io_uring_enter,
        "io_uring_enter",
        "io_uring operations bypass seccomp",
    ),
    (
        libc::SYS_io_uring_register,
        "io_uring_register",
        "io_uring operations bypass seccomp",
    ),
    (
        libc::SYS_fanotify_init,
        "fanotify_init",
        "file-system wide event monitoring",
    ),
];

/// Namespace flags refused in `clone(2)`'s flags argument.
pub const DENIED_CLONE_FLAGS: &[(i32, &str)] = &[
    (libc::CLONE_NEWNS, "CLONE_NEWNS"),
    (libc::CLONE_NEWUTS, "CLONE_NEWUTS"),
    (libc::CLONE_NEWIPC, "CLONE_NEWIPC"),
    (libc::CLONE_NEWUSER, "CLONE_NEWUSER"),
    (libc::CLONE_NEWPID, "CLONE_NEWPID"),
    (libc::CLONE_NEWNET, "CLONE_NEWNET"),
    (libc::CLONE_NEWCGROUP, "CLONE_NEWCGROUP"),
];

fn arch() -> Result<TargetArch> {
    std::env::consts::ARCH
        .try_into()
        .map_err(|e| SandboxError::Seccomp(format!("unsupported architecture: {e:?}")))
}

fn err(e: impl std::fmt::Debug) -> SandboxError {
    SandboxError::Seccomp(format!("{e:?}"))
}

/// Compiles the policy into the BPF programs installed (in order) in every sandbox: the
/// `EPERM` deny-list (with the `clone` flag check) and the `clone3 → ENOSYS` filter.
/// Compiled once per [`crate::Sandboxer`], installed per spawn.
pub fn compile_filters() -> Result<Vec<BpfProgram>> {
    let mut rules: BTreeMap<i64, Vec<SeccompRule>> = DENIED_SYSCALLS
        .iter()
        .map(|(nr, _, _)| (*nr, vec![]))
        .collect();
    let clone_rules = DENIED_CLONE_FLAGS
        .iter()
        .map(|(flag, _)| {
            let flag = *flag as u64;
            SeccompRule::new(vec![
                SeccompCondition::new(
                    0,
                    SeccompCmpArgLen::Qword,
                    SeccompCmpOp::MaskedEq(flag),
                    flag,
                )
                .map_err(err)?,
            ])
            .map_err(err)
        })
        .collect::<Result<Vec<_>>>()?;
    rules.insert(libc::SYS_clone, clone_rules);
    // personality(2): querying (0xffffffff) and the default persona (0) stay allowed (some
    // runtimes query it); anything else could re-enable legacy behaviour such as
    // READ_IMPLIES_EXEC or ADDR_NO_RANDOMIZE.
    rules.insert(
        libc::SYS_personality,
        vec![
            SeccompRule::new(vec![
                SeccompCondition::new(0, SeccompCmpArgLen::Dword, SeccompCmpOp::Ne, 0)
                    .map_err(err)?,
                SeccompCondition::new(0, SeccompCmpArgLen::Dword, SeccompCmpOp::Ne, 0xffff_ffff)
                    .map_err(err)?,
            ])
            .map_err(err)?,
        ],
    );
    let deny = SeccompFilter::new(
        rules,
        SeccompAction::Allow,
        SeccompAction::Errno(libc::EPERM as u32),
        arch()?,
    )
    .map_err(err)?;
    let clone3 = SeccompFilter::new(
        [(libc::SYS_clone3, vec![])].into_iter().collect(),
        SeccompAction::Allow,
        SeccompAction::Errno(libc::ENOSYS as u32),
        arch()?,
    )
    .map_err(err)?;
    Ok(vec![
        BpfProgram::try_from(deny).map_err(err)?,
        BpfProgram::try_from(clone3).map_err(err)?,
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_has_no_duplicates_and_explains_everything() {
        let mut nrs: Vec<_> = DENIED_SYSCALLS.iter().map(|d| d.0).collect();
        nrs.sort_unstable();
        nrs.dedup();
        assert_eq!(nrs.len(), DENIED_SYSCALLS.len());
        assert!(DENIED_SYSCALLS.iter().all(|d| !d.2.is_empty()));
    }

    #[test]
    fn required_entries_are_denied() {
        for name in [
            "mount",
            "umount2",
            "pivot_root",
            "ptrace",
            "process_vm_readv",
            "process_vm_writev",
            "kexec_load",
            "bpf",
            "init_module",
            "finit_module",
            "delete_module",
            "reboot",
            "swapon",
            "swapoff",
            "setns",
            "unshare",
            "keyctl",
            "add_key",
            "request_key",
            "perf_event_open",
            "open_by_handle_at",
            "userfaultfd",
            "iopl",
            "ioperm",
            "quotactl",
            "acct",
            "settimeofday",
            "clock_settime",
        ] {
            assert!(
                DENIED_SYSCALLS.iter().any(|d| d.1 == name),
                "{name} not denied"
            );
        }
    }

    #[test]
    fn policy_compiles_to_small_programs() {
        let progs = compile_filters().unwrap();
        assert_eq!(progs.len(), 2);
        // BPF programs are limited to 4096 instructions; ours must stay far below.
        assert!(progs[0].len() < 512, "{}", progs[0].len());
        assert!(progs[1].len() < 32);
    }
}
