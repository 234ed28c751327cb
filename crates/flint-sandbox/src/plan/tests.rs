use super::*;
use crate::rootfs::MountStep;
use std::os::fd::OwnedFd;

fn sample() -> PlanData {
    PlanData {
        clone_flags: 0x7e02_0000,
        mounts: vec![
            MountData {
                src: None,
                target: b"/".to_vec(),
                fstype: None,
                flags: 0x44000,
                data: None,
            },
            MountData {
                src: Some(b"tmpfs".to_vec()),
                target: b"/r/tmp".to_vec(),
                fstype: Some(b"tmpfs".to_vec()),
                flags: 6,
                data: Some(b"size=512m".to_vec()),
            },
        ],
        root: b"/run/x/roots/abc".to_vec(),
        root_remount_flags: 0x1021,
        hostname: b"localhost".to_vec(),
        cwd: b"/var/task".to_vec(),
        exec_candidates: vec![b"/var/task/bootstrap".to_vec()],
        argv: vec![b"bootstrap".to_vec(), vec![]],
        env: vec![b"A=b".to_vec()],
        uid: 993,
        gid: 990,
        wait_userns: false,
        set_groups: true,
        cap_last_cap: 40,
        lo_up: true,
        listen_port: Some(9001),
        nofile: 1024,
        pooled_netns: true,
        prespawned: true,
        prestart: true,
    }
}

#[test]
fn plan_round_trips() {
    let p = sample();
    assert_eq!(PlanData::decode(&p.encode()), Some(p.clone()));
    let mut q = p;
    q.listen_port = None;
    q.mounts.clear();
    assert_eq!(PlanData::decode(&q.encode()), Some(q));
}

#[test]
fn truncated_or_trailing_input_is_rejected() {
    let e = sample().encode();
    for cut in [0, 1, 8, e.len() / 2, e.len() - 1] {
        assert_eq!(PlanData::decode(&e[..cut]), None, "cut at {cut}");
    }
    let mut long = e.clone();
    long.push(0);
    assert_eq!(PlanData::decode(&long), None);
    let mut huge = e;
    huge[8..16].copy_from_slice(&u64::MAX.to_le_bytes()); // absurd mount count
    assert_eq!(PlanData::decode(&huge), None);
}

fn spec() -> SandboxSpec {
    let fd = || OwnedFd::from(std::fs::File::open("/dev/null").unwrap());
    let mut s = SandboxSpec::new("e", "/srv/code", vec!["bootstrap".into()], fd(), fd());
    s.env = vec![("PATH".into(), "/var/task:/usr/bin".into())];
    s.runtime_api_port = Some(9001);
    s
}

const ROOT: Settings = Settings {
    user_namespace: false,
    cap_last_cap: 40,
    nofile: 1024,
};

fn plan(spec: &SandboxSpec, settings: Settings, pooled: bool, start: Start) -> PlanData {
    let mounts = [MountStep {
        src: Some("tmpfs".into()),
        target: "/r/tmp".into(),
        fstype: Some("tmpfs"),
        flags: libc::MS_NOSUID,
        data: Some("size=1m".into()),
        label: "/tmp".into(),
    }];
    PlanData::new(
        spec,
        settings,
        &mounts,
        Path::new("/r"),
        0x21,
        pooled,
        start,
    )
}

#[test]
fn namespaces_follow_the_network_mode_the_pool_and_the_user_namespace_policy() {
    let base = libc::CLONE_NEWNS | libc::CLONE_NEWPID | libc::CLONE_NEWIPC | libc::CLONE_NEWUTS;
    let f = |net, pooled, userns| clone_flags(net, pooled, userns) as i32;
    assert_eq!(
        f(NetworkMode::Private, false, false),
        base | libc::CLONE_NEWNET
    );
    assert_eq!(
        f(NetworkMode::Private, true, false),
        base,
        "joins the pooled one"
    );
    assert_eq!(f(NetworkMode::Host, false, false), base);
    assert_eq!(
        f(NetworkMode::Private, false, true),
        base | libc::CLONE_NEWNET | libc::CLONE_NEWUSER
    );
}

#[test]
fn a_plan_carries_the_spec_and_the_sandboxers_settings() {
    let s = spec();
    let p = plan(&s, ROOT, false, Start::Now);
    assert_eq!(
        p.clone_flags,
        clone_flags(NetworkMode::Private, false, false)
    );
    assert_eq!(p.mounts[0].target, b"/r/tmp");
    assert_eq!(p.mounts[0].data.as_deref(), Some(b"size=1m".as_slice()));
    assert_eq!(p.root, b"/r");
    assert_eq!(p.root_remount_flags, 0x21);
    assert_eq!(
        p.exec_candidates,
        [
            b"/var/task/bootstrap".to_vec(),
            b"/usr/bin/bootstrap".to_vec()
        ]
    );
    assert!(
        p.env
            .contains(&b"AWS_LAMBDA_RUNTIME_API=127.0.0.1:9001".to_vec())
    );
    assert_eq!(
        (p.uid, p.gid, p.cap_last_cap, p.nofile),
        (993, 990, 40, 1024)
    );
    assert_eq!((p.wait_userns, p.set_groups, p.lo_up), (false, true, true));
    assert_eq!(p.listen_port, Some(9001));
    assert_eq!(
        (p.prespawned, p.prestart, p.pooled_netns),
        (false, false, false)
    );

    // In a user namespace: wait for the maps, and setgroups is refused there.
    let userns = Settings {
        user_namespace: true,
        ..ROOT
    };
    let p = plan(&s, userns, false, Start::Now);
    assert_eq!((p.wait_userns, p.set_groups), (true, false));
    assert!(p.clone_flags & libc::CLONE_NEWUSER as u64 != 0);

    let mut host = spec();
    host.network = NetworkMode::Host;
    host.runtime_api_port = None;
    assert!(
        !plan(&host, ROOT, false, Start::Now).lo_up,
        "the host's lo is not ours"
    );

    let p = plan(&s, ROOT, true, Start::Prespawned { prestart: true });
    assert_eq!(
        (p.prespawned, p.prestart, p.pooled_netns),
        (true, true, true)
    );
    let p = plan(&s, ROOT, false, Start::Prespawned { prestart: false });
    assert_eq!((p.prespawned, p.prestart), (true, false));
}

#[test]
fn request_fds_round_trip() {
    let fds = ChildFds {
        sync: 10,
        err_w: 11,
        status_w: 12,
        stdout: 13,
        stderr: 14,
        extra: [20, 21, -1, -1, -1, -1, -1, -1],
        n_extra: 2,
        netns: 15,
    };
    let order = fds.in_request_order();
    assert_eq!(order, [10, 11, 12, 13, 14, 15, 20, 21]);
    let back = ChildFds::from_request(&order, true).unwrap();
    assert_eq!(back.in_request_order(), order);
    assert_eq!(back.netns, 15);
    let no_netns = ChildFds::from_request(&order[..5], false).unwrap();
    assert_eq!((no_netns.netns, no_netns.n_extra), (-1, 0));
    assert!(ChildFds::from_request(&order[..5], true).is_none());
    assert!(ChildFds::from_request(&[1; 15], true).is_none());
}

#[test]
fn argv_area_parses_proc_stat() {
    let own = argv_area().expect("own /proc/self/stat");
    assert!(own.0 < own.1);
    let line = "12 (a b) c) S 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21 22 23 24 25 26 27 28 29 30 31 32 33 34 35 36 37 38 39 40 41 42 43 44 1000 2000 3000 4000 0";
    assert_eq!(parse_argv_area(line), Some((1000, 2000)));
    assert_eq!(parse_argv_area("1 (x) S 1"), None);
}

#[test]
fn pointer_arrays_are_null_terminated() {
    let args = vec![CString::new("a").unwrap(), CString::new("b").unwrap()];
    let p = ChildPlan::pointers(&args);
    assert_eq!(p.len(), 3);
    assert!(p[2].is_null());
}
