use super::*;
use crate::sys::fake::{Call, Recorder};

/// A real, empty state directory (the store lists it), and the fake for everything else.
fn store(name: &str) -> (EphemeralStore, &'static Recorder, PathBuf) {
    let state = std::env::temp_dir().join(format!("flint-eph-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&state);
    std::fs::create_dir_all(state.join("ephemeral")).unwrap();
    let fake = Recorder::leaked();
    let store = EphemeralStore::open(fake, &state.join("ephemeral")).unwrap();
    (store, fake, state.join("ephemeral"))
}

#[test]
fn the_image_grows_by_what_was_missing_in_whole_blocks() {
    assert_eq!(next_image_bytes(600 * MIB, 500 * MIB, 512 * MIB), 612 * MIB);
    assert_eq!(next_image_bytes(600 * MIB, 520 * MIB, 512 * MIB), 592 * MIB);
    assert_eq!(next_image_bytes(8192, 8192 + 1, 8192), 8192, "rounded up");
    assert_eq!(
        next_image_bytes(4096, 10 * MIB, 1),
        4096,
        "never below a block"
    );
}

#[test]
fn stale_mounts_are_found_deepest_first() {
    let info = "22 27 0:21 / /proc rw - proc proc rw\n\
                90 27 7:0 / /run/s/ephemeral/e1 rw - ext4 /dev/loop0 rw\n\
                91 90 7:1 / /run/s/ephemeral/e1/x rw - ext4 /dev/loop1 rw\n\
                92 27 7:2 / /run/s/ephemeral rw - ext4 /dev/loop2 rw\n\
                93 27 7:3 / /run/s/ephemeral-other rw - ext4 /dev/loop3 rw\n";
    assert_eq!(
        mounts_under(info, Path::new("/run/s/ephemeral")),
        [
            PathBuf::from("/run/s/ephemeral/e1/x"),
            PathBuf::from("/run/s/ephemeral/e1")
        ]
    );
}

#[test]
fn the_first_tmp_of_a_size_is_calibrated_to_exactly_that_many_bytes_free() {
    let (store, fake, dir) = store("calibrate");
    let target = 512 * MIB;
    // The first guess leaves two blocks short; the second is exact. Then the disk's free
    // space for the environment's own check.
    fake.push_available(target - 2 * BLOCK);
    fake.push_available(target);
    fake.push_available(100 * 1024 * MIB);
    let from = fake.calls().len();
    let tmp = store.create("env-1", 512).unwrap();
    assert_eq!(tmp.path(), dir.join("env-1"));
    let calls = fake.calls()[from..].to_vec();
    let mkfs: Vec<u64> = calls
        .iter()
        .filter_map(|c| match c {
            Call::MakeExt4(_, b) => Some(*b),
            _ => None,
        })
        .collect();
    let first = (target + target / 25 + 4 * MIB).div_ceil(BLOCK) * BLOCK;
    assert_eq!(mkfs, [first, first + 2 * BLOCK, first + 2 * BLOCK]);
    let template = dir.join("template-512.img");
    let probe = dir.join("template-512.img.probe");
    let mnt = dir.join("template-512.mnt");
    // The template: its root world-writable and sticky, no lost+found, kept.
    let tail = |c: &Call| {
        matches!(
            c,
            Call::SetMode(..) | Call::Rmdir(_) | Call::Rename(..) | Call::Unmount(_)
        )
    };
    let template_steps: Vec<&Call> = calls.iter().filter(|c| tail(c)).collect();
    assert!(
        template_steps.ends_with(&[
            &Call::SetMode(mnt.clone(), 0o1777),
            &Call::Rmdir(mnt.join("lost+found")),
            &Call::Unmount(mnt.clone()),
            &Call::Rmdir(mnt.clone()),
            &Call::Rename(probe.clone(), template.clone()),
        ]),
        "{template_steps:?}"
    );
    // The environment's copy: unlinked as soon as the loop device holds it.
    let image = dir.join("env-1.img");
    let i = calls
        .iter()
        .position(|c| *c == Call::Rename(probe.clone(), template.clone()))
        .unwrap();
    let env: Vec<Call> = calls[i + 1..]
        .iter()
        .filter(|c| !matches!(c, Call::MountDevice { .. }))
        .cloned()
        .collect();
    assert_eq!(
        env,
        [
            Call::AvailableBytes(dir.clone()),
            Call::CopySparse(template.clone(), image.clone()),
            Call::AttachLoop(image.clone()),
            Call::RemoveFile(image.clone()),
            Call::Mkdir(dir.join("env-1")),
        ]
    );
    assert!(matches!(
        calls.last(),
        Some(Call::MountDevice { target, fstype, data, .. })
            if *target == dir.join("env-1") && fstype == "ext4" && data == "noinit_itable"
    ));
    // Dropping it detaches flint's own mount (the child keeps its bind).
    let from = fake.calls().len();
    drop(tmp);
    assert_eq!(
        fake.calls()[from..],
        [
            Call::Unmount(dir.join("env-1")),
            Call::Rmdir(dir.join("env-1"))
        ]
    );
    // The second environment of that size reuses the template.
    fake.push_available(100 * 1024 * MIB);
    let from = fake.calls().len();
    drop(store.create("env-2", 512).unwrap());
    assert!(
        !fake.calls()[from..]
            .iter()
            .any(|c| matches!(c, Call::MakeExt4(..)))
    );
}

#[test]
fn a_disk_without_room_for_one_more_full_tmp_refuses_the_environment() {
    let (store, fake, _) = store("full");
    fake.push_available(10 * MIB);
    fake.push_available(9 * MIB);
    let err = store.create("env-1", 10).unwrap_err();
    assert!(err.to_string().contains("9 MB free"), "{err}");
    assert!(
        !fake
            .calls()
            .iter()
            .any(|c| matches!(c, Call::CopySparse(..)))
    );
}

#[test]
fn a_failed_mount_detaches_the_loop_device_and_leaves_no_image() {
    let (store, fake, dir) = store("mountfail");
    fake.push_available(10 * MIB);
    fake.push_available(100 * MIB);
    store.template(10).unwrap();
    let target = dir.join("env-1");
    fake.fail_when(
        libc::EINVAL,
        move |c| matches!(c, Call::MountDevice { target: t, .. } if *t == target),
    );
    let from = fake.calls().len();
    assert!(store.create("env-1", 10).is_err());
    let calls = fake.calls()[from..].to_vec();
    assert!(calls.contains(&Call::RemoveFile(dir.join("env-1.img"))));
    // The mount point goes again (the loop device, never mounted, detaches itself when its
    // descriptor closes).
    assert!(calls.ends_with(&[
        Call::Unmount(dir.join("env-1")),
        Call::Rmdir(dir.join("env-1"))
    ]));
}

#[test]
fn stale_images_and_mounts_are_removed_at_start() {
    let state = std::env::temp_dir().join(format!("flint-eph-stale-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&state);
    let dir = state.join("ephemeral");
    std::fs::create_dir_all(dir.join("env-9")).unwrap();
    std::fs::write(dir.join("env-9.img"), b"").unwrap();
    let fake = Recorder::leaked();
    fake.set_file(
        "/proc/self/mountinfo",
        &format!(
            "90 27 7:0 / {} rw - ext4 /dev/loop0 rw\n",
            dir.join("env-9").display()
        ),
    );
    EphemeralStore::open(fake, &dir).unwrap();
    let calls = fake.calls();
    let unmount = calls
        .iter()
        .position(|c| *c == Call::Unmount(dir.join("env-9")))
        .unwrap();
    let rmdir = calls
        .iter()
        .position(|c| *c == Call::Rmdir(dir.join("env-9")))
        .unwrap();
    assert!(unmount < rmdir, "unmounted before it is removed");
    assert!(calls.contains(&Call::RemoveFile(dir.join("env-9.img"))));
    std::fs::remove_dir_all(&state).unwrap();
}
