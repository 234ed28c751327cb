//! The claim of a pre-spawned environment: one [`ToChild::Specialize`] frame on the sync
//! socket, encoded by flint ([`encode`]) and parsed in place by the child ([`parse`], which
//! allocates nothing).
//!
//! Layout: the tag, then `n_argv`, `n_env`, `n_candidates`, `n_mounts` as little-endian u32,
//! then NUL-terminated strings: cwd, argv…, env…, candidates…, mount targets…; nothing after
//! the last one. The mounts' fds travel as `SCM_RIGHTS` in the same message, in the order of
//! their targets.

use std::ptr;

use libc::c_char;

use crate::plan::ExecArgs;
use crate::protocol::ToChild;

/// Bytes of a specialisation message a pre-spawned child can receive (argv, environment,
/// cwd, exec candidates and mount targets; Lambda caps the environment at 4 KB).
pub(crate) const SPEC_BUF: usize = 32 * 1024;
/// Pointer slots for argv + environment + exec candidates (with their NUL terminators).
pub(crate) const SPEC_PTRS: usize = 512;
/// Detached mounts (code, layers) a specialisation may attach.
pub(crate) const SPEC_MOUNTS: usize = 4;
/// Size of the message header: the tag and four little-endian u32 counts.
const SPEC_HEADER: usize = 17;

/// The strings of a claim, before encoding.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Claim<'a> {
    pub cwd: &'a [u8],
    pub argv: &'a [Vec<u8>],
    pub env: &'a [Vec<u8>],
    pub candidates: &'a [Vec<u8>],
    /// Where the detached mounts (sent with the message) go, in their order.
    pub targets: &'a [&'a [u8]],
}

/// Encodes a claim; `None` if it would not fit the child's fixed buffers.
pub(crate) fn encode(claim: &Claim<'_>) -> Option<Vec<u8>> {
    let Claim {
        cwd,
        argv,
        env,
        candidates,
        targets,
    } = *claim;
    if argv.is_empty()
        || targets.len() > SPEC_MOUNTS
        || argv.len() + env.len() + candidates.len() + 2 > SPEC_PTRS
    {
        return None;
    }
    let mut m = Vec::with_capacity(1024);
    m.push(ToChild::Specialize.byte());
    for n in [argv.len(), env.len(), candidates.len(), targets.len()] {
        m.extend_from_slice(&u32::try_from(n).ok()?.to_le_bytes());
    }
    debug_assert_eq!(m.len(), SPEC_HEADER);
    let strings = std::iter::once(cwd)
        .chain(argv.iter().map(Vec::as_slice))
        .chain(env.iter().map(Vec::as_slice))
        .chain(candidates.iter().map(Vec::as_slice))
        .chain(targets.iter().copied());
    for s in strings {
        if s.contains(&0) {
            return None;
        }
        m.extend_from_slice(s);
        m.push(0);
    }
    (m.len() <= SPEC_BUF).then_some(m)
}

/// A parsed specialisation message: exec arguments plus the mount targets (pointers into the
/// message buffer and the pointer array given to [`parse`]).
pub(crate) struct Specialization {
    pub exec: ExecArgs,
    pub targets: [*const c_char; SPEC_MOUNTS],
    pub n_mounts: usize,
}

/// Parses a specialisation message in place, without allocating (it runs in the child).
/// `ptrs` receives argv + NULL, env + NULL, candidates. `None` for anything malformed.
pub(crate) fn parse(msg: &[u8], ptrs: &mut [*const c_char; SPEC_PTRS]) -> Option<Specialization> {
    if msg.len() < SPEC_HEADER || ToChild::decode(msg[0]) != Ok(ToChild::Specialize) {
        return None;
    }
    let count = |i: usize| -> usize {
        let b = [
            msg[1 + 4 * i],
            msg[2 + 4 * i],
            msg[3 + 4 * i],
            msg[4 + 4 * i],
        ];
        u32::from_le_bytes(b) as usize
    };
    let (n_argv, n_env, n_cand, n_mounts) = (count(0), count(1), count(2), count(3));
    if n_argv == 0
        || n_mounts > SPEC_MOUNTS
        || n_argv
            .checked_add(n_env)?
            .checked_add(n_cand)?
            .checked_add(2)?
            > SPEC_PTRS
    {
        return None;
    }
    // Walks the NUL-terminated strings one by one.
    let mut pos = SPEC_HEADER;
    let mut next = || -> Option<*const c_char> {
        let rest = msg.get(pos..)?;
        let len = rest.iter().position(|&b| b == 0)?;
        let p = rest.as_ptr().cast::<c_char>();
        pos += len + 1;
        Some(p)
    };
    let cwd = next()?;
    let mut slot = 0;
    for _ in 0..n_argv {
        ptrs[slot] = next()?;
        slot += 1;
    }
    ptrs[slot] = ptr::null();
    slot += 1;
    let env_start = slot;
    for _ in 0..n_env {
        ptrs[slot] = next()?;
        slot += 1;
    }
    ptrs[slot] = ptr::null();
    slot += 1;
    let cand_start = slot;
    for _ in 0..n_cand {
        ptrs[slot] = next()?;
        slot += 1;
    }
    let mut targets = [ptr::null(); SPEC_MOUNTS];
    for t in targets.iter_mut().take(n_mounts) {
        *t = next()?;
    }
    if pos != msg.len() {
        return None;
    }
    // Both offsets are within `ptrs` (checked against SPEC_PTRS above).
    let base = ptrs.as_ptr();
    Some(Specialization {
        exec: ExecArgs {
            cwd,
            candidates: base.wrapping_add(cand_start),
            n_candidates: n_cand,
            argv: base,
            envp: base.wrapping_add(env_start),
        },
        targets,
        n_mounts,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::CStr;

    fn strs(p: *const *const libc::c_char) -> Vec<String> {
        let mut out = Vec::new();
        let mut i = 0;
        // SAFETY: test helper over NULL-terminated arrays the parser built.
        unsafe {
            while !(*p.add(i)).is_null() {
                out.push(CStr::from_ptr(*p.add(i)).to_string_lossy().into_owned());
                i += 1;
            }
        }
        out
    }

    fn v(s: &[&str]) -> Vec<Vec<u8>> {
        s.iter().map(|s| s.as_bytes().to_vec()).collect()
    }

    fn claim<'a>(
        cwd: &'a [u8],
        argv: &'a [Vec<u8>],
        env: &'a [Vec<u8>],
        candidates: &'a [Vec<u8>],
        targets: &'a [&'a [u8]],
    ) -> Option<Vec<u8>> {
        encode(&Claim {
            cwd,
            argv,
            env,
            candidates,
            targets,
        })
    }

    #[test]
    fn specialization_round_trips_through_the_childs_parser() {
        let msg = claim(
            b"/var/task",
            &v(&["/var/task/bootstrap", "x"]),
            &v(&["A=1", "AWS_LAMBDA_RUNTIME_API=127.0.0.1:9001"]),
            &v(&["/var/task/bootstrap"]),
            &[b"/var/task".as_slice(), b"/opt".as_slice()],
        )
        .unwrap();
        let mut ptrs = [std::ptr::null(); SPEC_PTRS];
        let sp = parse(&msg, &mut ptrs).unwrap();
        // SAFETY: pointers into `msg`, which is alive.
        unsafe {
            assert_eq!(CStr::from_ptr(sp.exec.cwd).to_str().unwrap(), "/var/task");
            assert_eq!(strs(sp.exec.argv), ["/var/task/bootstrap", "x"]);
            assert_eq!(
                strs(sp.exec.envp),
                ["A=1", "AWS_LAMBDA_RUNTIME_API=127.0.0.1:9001"]
            );
            assert_eq!(sp.exec.n_candidates, 1);
            assert_eq!(
                CStr::from_ptr(*sp.exec.candidates).to_str().unwrap(),
                "/var/task/bootstrap"
            );
            assert_eq!(sp.n_mounts, 2);
            assert_eq!(CStr::from_ptr(sp.targets[1]).to_str().unwrap(), "/opt");
        }
    }

    #[test]
    fn malformed_or_oversized_specializations_are_rejected() {
        // Encoder: empty argv, NUL bytes, too many mounts, too many strings, too many bytes.
        assert!(claim(b"/", &[], &[], &[], &[]).is_none());
        assert!(claim(b"/", &v(&["a\0b"]), &[], &[], &[]).is_none());
        assert!(claim(b"/", &v(&["a"]), &[], &[], &[b"/t".as_slice(); 5]).is_none());
        let many = vec![b"A=1".to_vec(); SPEC_PTRS];
        assert!(claim(b"/", &v(&["a"]), &many, &[], &[]).is_none());
        let big = vec![vec![b'x'; SPEC_BUF]];
        assert!(claim(b"/", &v(&["a"]), &big, &[], &[]).is_none());
        // Parser: every truncation and any trailing byte of a good message.
        let good = claim(
            b"/",
            &v(&["a"]),
            &v(&["B=2"]),
            &v(&["/a"]),
            &[b"/t".as_slice()],
        )
        .unwrap();
        let mut ptrs = [std::ptr::null(); SPEC_PTRS];
        assert!(parse(&good, &mut ptrs).is_some());
        for cut in 0..good.len() {
            assert!(parse(&good[..cut], &mut ptrs).is_none(), "cut at {cut}");
        }
        let mut long = good.clone();
        long.extend_from_slice(b"x\0");
        assert!(parse(&long, &mut ptrs).is_none());
        let mut wrong_tag = good.clone();
        wrong_tag[0] = ToChild::Go.byte();
        assert!(parse(&wrong_tag, &mut ptrs).is_none());
        let mut absurd = good;
        absurd[5..9].copy_from_slice(&u32::MAX.to_le_bytes()); // n_env
        assert!(parse(&absurd, &mut ptrs).is_none());
    }
}
