use super::*;

fn messages(page: &LogPage) -> Vec<&str> {
    page.records.iter().map(|r| r.message.as_str()).collect()
}

fn dir_bytes(dir: &Path) -> u64 {
    list_segments(dir).unwrap().iter().map(|(_, len)| len).sum()
}

#[tokio::test]
async fn logs_are_stored_and_read_back_from_an_offset() {
    let dir = tempfile::tempdir().unwrap();
    let store = LogStore::open(dir.path().to_path_buf(), 1 << 20).unwrap();
    store.append("f", "s1", vec!["hello".into(), "world".into()]);
    store.flush().await;
    let page = store.read("f", 0, PAGE_BYTES).unwrap();
    assert_eq!(messages(&page), ["hello", "world"]);
    assert_eq!(page.records[0].stream, "s1");
    assert!(!page.more);
    store.append("f", "s2", vec!["later".into()]);
    store.flush().await;
    let next = store.read("f", page.next_offset, PAGE_BYTES).unwrap();
    assert_eq!(messages(&next), ["later"]);
    assert_eq!(next.records[0].stream, "s2");
    // Nothing new: an empty page at the same place.
    let none = store.read("f", next.next_offset, PAGE_BYTES).unwrap();
    assert!(none.records.is_empty() && none.next_offset == next.next_offset);
    assert!(store.read("g", 0, PAGE_BYTES).unwrap().records.is_empty());
}

#[tokio::test]
async fn retention_holds_at_every_write_and_offsets_survive_rotation() {
    let dir = tempfile::tempdir().unwrap();
    let retention = 256 * 1024;
    let segment = segment_bytes(retention);
    let store = LogStore::open(dir.path().to_path_buf(), retention).unwrap();
    let line = "x".repeat(1000);
    let mut first_page = None;
    for i in 0..2000 {
        store.append("f", "s", vec![format!("{i} {line}")]);
        if i % 50 == 0 {
            store.flush().await;
            let on_disk = dir_bytes(&dir.path().join("f"));
            assert!(
                on_disk <= retention + segment,
                "{on_disk} bytes on disk after line {i}"
            );
            if first_page.is_none() {
                first_page = Some(store.read("f", 0, PAGE_BYTES).unwrap());
            }
        }
    }
    store.flush().await;
    let segments = list_segments(&dir.path().join("f")).unwrap();
    assert!(segments.len() > 2, "{segments:?}");
    // Each segment starts where the one before it ends.
    for pair in segments.windows(2) {
        assert_eq!(pair[0].0 + pair[0].1, pair[1].0, "{segments:?}");
    }
    // A reader at an offset whose segment was deleted continues at the oldest record kept.
    let stale = store
        .read("f", first_page.unwrap().next_offset, PAGE_BYTES)
        .unwrap();
    let oldest = store.read("f", 0, PAGE_BYTES).unwrap();
    assert_eq!(stale, oldest);
    assert!(oldest.records[0].message.starts_with(char::is_numeric));
    assert!(!oldest.records[0].message.starts_with("0 "));
}

#[tokio::test]
async fn pages_are_bounded_and_follow_each_other_to_the_end() {
    let dir = tempfile::tempdir().unwrap();
    let store = LogStore::open(dir.path().to_path_buf(), 64 << 20).unwrap();
    let lines: Vec<String> = (0..5000).map(|i| format!("line {i:05}")).collect();
    store.append("f", "s", lines.clone());
    store.flush().await;
    let mut offset = 0;
    let mut got = Vec::new();
    let mut pages = 0;
    loop {
        let page = store.read("f", offset, 10_000).unwrap();
        pages += 1;
        assert!(
            page.records.len() <= 10_000 / 40 + 1,
            "{}",
            page.records.len()
        );
        got.extend(page.records.into_iter().map(|r| r.message));
        offset = page.next_offset;
        if !page.more {
            break;
        }
    }
    assert_eq!(got, lines);
    assert!(pages > 10, "{pages}");
}

#[tokio::test]
async fn a_record_larger_than_a_segment_gets_one_of_its_own() {
    let dir = tempfile::tempdir().unwrap();
    let store = LogStore::open(dir.path().to_path_buf(), 256 * 1024).unwrap();
    let big = "y".repeat(100 * 1024); // segments are 64 KiB here
    store.append("f", "s", vec!["small".into(), big.clone(), "after".into()]);
    store.flush().await;
    let page = store.read("f", 0, PAGE_BYTES).unwrap();
    assert_eq!(messages(&page), ["small", big.as_str(), "after"]);
    assert_eq!(list_segments(&dir.path().join("f")).unwrap().len(), 3);
}

#[tokio::test]
async fn deleted_logs_are_gone_and_a_new_log_starts_over() {
    let dir = tempfile::tempdir().unwrap();
    let store = LogStore::open(dir.path().to_path_buf(), 1 << 20).unwrap();
    store.append("f", "s", vec!["old".into(), "old too".into()]);
    store.flush().await;
    let before = store.read("f", 0, PAGE_BYTES).unwrap();
    store.delete("f");
    store.append("f", "s", vec!["new".into()]);
    store.flush().await;
    // A reader's offset from before the deletion is past the new end: it starts over.
    assert_eq!(
        messages(&store.read("f", before.next_offset, PAGE_BYTES).unwrap()),
        ["new"]
    );
}

#[tokio::test]
async fn logs_of_the_flat_layout_are_kept_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let record = |m: &str| format!("{{\"time\":\"t\",\"stream\":\"s\",\"message\":\"{m}\"}}\n");
    std::fs::write(dir.path().join("f.log.1"), record("rotated")).unwrap();
    std::fs::write(dir.path().join("f.log"), record("current")).unwrap();
    let store = LogStore::open(dir.path().to_path_buf(), 1 << 20).unwrap();
    store.append("f", "s", vec!["appended".into()]);
    store.flush().await;
    assert_eq!(
        messages(&store.read("f", 0, PAGE_BYTES).unwrap()),
        ["rotated", "current", "appended"]
    );
    assert!(!dir.path().join("f.log").exists());
}

#[tokio::test]
async fn a_full_queue_makes_writers_wait_until_the_writer_catches_up() {
    let dir = tempfile::tempdir().unwrap();
    let store = LogStore::open(dir.path().to_path_buf(), 64 << 20).unwrap();
    let chunk: Vec<String> = (0..64).map(|_| "z".repeat(16 * 1024)).collect();
    for _ in 0..8 {
        store.append("f", "s", chunk.clone());
    }
    store.wait_for_room().await;
    assert!(store.writer.0.queued_bytes.load(Ordering::Relaxed) < MAX_QUEUED_BYTES);
    store.flush().await;
    assert_eq!(store.writer.0.queued_bytes.load(Ordering::Relaxed), 0);
}

#[tokio::test]
async fn groups_read_all_retention_and_deleted_streams() {
    let dir = tempfile::tempdir().unwrap();
    // A small retention: many segments, read back whole across them.
    let store = LogStore::open(dir.path().to_path_buf(), 256 * 1024).unwrap();
    let lines: Vec<String> = (0..3000)
        .map(|i| format!("line {i:05} {}", "x".repeat(20)))
        .collect();
    store.append("f", "s1", lines.clone());
    store.append("g", "s2", vec!["other".into()]);
    store.flush().await;
    assert!(list_segments(&dir.path().join("f")).unwrap().len() > 1);
    let all = store.read_all("f").unwrap();
    assert_eq!(
        all.iter().map(|r| r.message.clone()).collect::<Vec<_>>(),
        lines
    );
    assert_eq!(store.functions().unwrap(), ["f", "g"]);

    assert_eq!(store.retention_days("f"), None);
    store.set_retention_days("f", Some(7)).unwrap();
    assert_eq!(store.retention_days("f"), Some(7));
    // The side files are not segments.
    store.delete_stream("f", "s1").unwrap();
    assert!(store.deleted_streams("f").contains("s1"));
    assert_eq!(store.read_all("f").unwrap().len(), 3000);
    store.set_retention_days("f", None).unwrap();
    store.set_retention_days("f", None).unwrap();
    assert_eq!(store.retention_days("f"), None);

    store.delete("f");
    store.flush().await;
    assert_eq!(store.functions().unwrap(), ["g"]);
    assert!(store.deleted_streams("f").is_empty());
}

#[tokio::test]
async fn a_retention_in_days_drops_expired_segments_at_rotation() {
    let dir = tempfile::tempdir().unwrap();
    let store = LogStore::open(dir.path().to_path_buf(), 1 << 20).unwrap();
    let line = "y".repeat(1000);
    store.append("f", "s", vec![line.clone(); 300]);
    store.flush().await;
    let fdir = dir.path().join("f");
    let before = list_segments(&fdir).unwrap();
    assert!(before.len() >= 2, "{before:?}");
    // The first segment's records are two days old; the retention is one day.
    let old = std::fs::File::options()
        .write(true)
        .open(fdir.join(segment_name(before[0].0)))
        .unwrap();
    old.set_modified(std::time::SystemTime::now() - std::time::Duration::from_secs(2 * 86_400))
        .unwrap();
    store.set_retention_days("f", Some(1)).unwrap();
    // Enough to rotate again.
    store.append("f", "s", vec![line; 300]);
    store.flush().await;
    let after = list_segments(&fdir).unwrap();
    assert_ne!(after[0].0, before[0].0, "the expired segment is gone");
    assert!(after.iter().any(|s| s.0 == before[1].0), "the others stay");
}
