//! An in-memory model of the tree the archive would produce, used to refuse conflicting
//! entries and symlinks that escape the package root.
//!
//! Checking a symlink target lexically against the link's own directory is not enough: with
//! `d/up -> ..` (fine: it is the root) and `e -> d/up/..` (lexically `d`, fine), the OS resolves
//! `e` through `d/up` to the root and then `..` *above* it. So targets are resolved the way the
//! kernel would, following symlinks of the same archive, and refused if any step goes above the
//! root. Where the kernel would fail (missing component, file used as a directory) we keep
//! walking lexically, which can only refuse more, never less.
//!
//! The same model rejects "write through a symlink" archives before anything is written: a path
//! whose parent is a symlink or file of the archive is refused, in whichever order they appear.

use std::collections::HashMap;

use crate::error::PackageError;
use crate::path::{EntryPath, MAX_PATH_LEN};

/// Linux `MAXSYMLINKS`: chains longer than this fail with `ELOOP` at runtime anyway.
const MAX_LINK_HOPS: u32 = 40;

type NodeId = usize;
const ROOT: NodeId = 0;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum EntryKind {
    File,
    Dir,
    Symlink,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum NodeKind {
    /// Created because an entry lives below it; no entry of its own (yet).
    ImplicitDir,
    Dir,
    File,
    Symlink,
}

#[derive(Debug)]
struct Node {
    parent: NodeId,
    kind: NodeKind,
    children: HashMap<String, NodeId>,
}

/// Where a resolution ended up: a node of the tree, plus how many components we walked below
/// it through names the archive does not contain (the kernel would fail there; we keep count so
/// that a later `..` is still accounted for).
#[derive(Debug, Clone, Copy)]
struct Position {
    node: NodeId,
    phantom_depth: usize,
}

#[derive(Debug, Clone, Copy)]
enum Resolution {
    Unresolved,
    InProgress,
    Done(Position),
}

#[derive(Debug)]
struct Link {
    name: String,
    target: String,
    resolution: Resolution,
}

#[derive(Debug)]
pub(crate) struct Tree {
    nodes: Vec<Node>,
    links: HashMap<NodeId, Link>,
}

impl Tree {
    pub(crate) fn new() -> Self {
        Self {
            nodes: vec![Node {
                parent: ROOT,
                kind: NodeKind::Dir,
                children: HashMap::new(),
            }],
            links: HashMap::new(),
        }
    }

    /// Adds one entry; fails if it clashes with an entry already added. Returns the node id to
    /// pass to [`Tree::set_link_target`] for symlinks.
    pub(crate) fn insert(
        &mut self,
        name: &str,
        path: &EntryPath,
        kind: EntryKind,
    ) -> Result<usize, PackageError> {
        let Some((last, parents)) = path.components.split_last() else {
            // The root itself (`./`): only meaningful as a directory.
            return match kind {
                EntryKind::Dir => Ok(ROOT),
                _ => Err(PackageError::UnsafePath {
                    name: name.to_owned(),
                    reason: "names the package root",
                }),
            };
        };
        let mut cur = ROOT;
        for component in parents {
            cur = match self.nodes[cur].children.get(component.as_str()) {
                Some(&child) => match self.nodes[child].kind {
                    NodeKind::Dir | NodeKind::ImplicitDir => child,
                    NodeKind::File => {
                        return Err(PackageError::UnsafePath {
                            name: name.to_owned(),
                            reason: "a parent directory is a file of the archive",
                        });
                    }
                    NodeKind::Symlink => {
                        return Err(PackageError::UnsafePath {
                            name: name.to_owned(),
                            reason: "a parent directory is a symlink of the archive",
                        });
                    }
                },
                None => self.add_child(cur, component, NodeKind::ImplicitDir),
            };
        }
        let new_kind = match kind {
            EntryKind::File => NodeKind::File,
            EntryKind::Dir => NodeKind::Dir,
            EntryKind::Symlink => NodeKind::Symlink,
        };
        match self.nodes[cur].children.get(last.as_str()) {
            None => Ok(self.add_child(cur, last, new_kind)),
            Some(&existing) => {
                let old_kind = self.nodes[existing].kind;
                match (old_kind, new_kind) {
                    // A directory named twice, or first implied by a child: harmless.
                    (NodeKind::ImplicitDir | NodeKind::Dir, NodeKind::Dir) => {
                        self.nodes[existing].kind = NodeKind::Dir;
                        Ok(existing)
                    }
                    _ => Err(PackageError::ConflictingEntry {
                        name: name.to_owned(),
                    }),
                }
            }
        }
    }

    fn add_child(&mut self, parent: NodeId, name: &str, kind: NodeKind) -> NodeId {
        let id = self.nodes.len();
        self.nodes.push(Node {
            parent,
            kind,
            children: HashMap::new(),
        });
        self.nodes[parent].children.insert(name.to_owned(), id);
        id
    }

    /// Records the target of a symlink node returned by [`Tree::insert`].
    pub(crate) fn set_link_target(&mut self, node: usize, name: &str, target: String) {
        self.links.insert(
            node,
            Link {
                name: name.to_owned(),
                target,
                resolution: Resolution::Unresolved,
            },
        );
    }

    /// Resolves every symlink against the whole tree; fails on the first one that escapes the
    /// root, is absolute, or loops. Costs O(total length of all targets): each link is resolved
    /// once and reused when other links go through it.
    pub(crate) fn check_links(&mut self) -> Result<(), PackageError> {
        let mut ids: Vec<NodeId> = self.links.keys().copied().collect();
        // Deterministic error reporting regardless of HashMap order.
        ids.sort_unstable();
        for id in ids {
            self.resolve(id, 0)?;
        }
        Ok(())
    }

    fn resolve(&mut self, link_id: NodeId, hops: u32) -> Result<Position, PackageError> {
        let link = &self.links[&link_id];
        let fail = |reason: &'static str| PackageError::UnsafeLink {
            name: link.name.clone(),
            target: link.target.clone(),
            reason,
        };
        match link.resolution {
            Resolution::Done(position) => return Ok(position),
            Resolution::InProgress => return Err(fail("symlink loop")),
            Resolution::Unresolved => {}
        }
        if hops > MAX_LINK_HOPS {
            return Err(fail("more than 40 levels of symlinks"));
        }
        if link.target.starts_with('/') {
            return Err(fail("absolute target"));
        }
        // Cloned because resolving other links below needs `&mut self`; bounded by
        // MAX_PATH_LEN (checked when the target was read).
        let target = link.target.clone();
        let name = link.name.clone();
        self.links
            .get_mut(&link_id)
            .expect("link exists")
            .resolution = Resolution::InProgress;

        let escape = || PackageError::UnsafeLink {
            name: name.clone(),
            target: target.clone(),
            reason: "target resolves outside the package root",
        };
        let mut pos = Position {
            node: self.nodes[link_id].parent,
            phantom_depth: 0,
        };
        for component in target.split('/') {
            match component {
                "" | "." => {}
                ".." => {
                    if pos.phantom_depth > 0 {
                        pos.phantom_depth -= 1;
                    } else if pos.node == ROOT {
                        return Err(escape());
                    } else {
                        pos.node = self.nodes[pos.node].parent;
                    }
                }
                normal => {
                    if pos.phantom_depth > 0 {
                        pos.phantom_depth += 1;
                        continue;
                    }
                    match self.nodes[pos.node].children.get(normal) {
                        None => pos.phantom_depth = 1,
                        Some(&child) => {
                            if self.nodes[child].kind == NodeKind::Symlink {
                                pos = self.resolve(child, hops + 1)?;
                            } else {
                                // Files have no children, so walking below one goes phantom,
                                // and `file/..` comes back to its directory: at least as strict
                                // as the kernel, which would fail with ENOTDIR.
                                pos.node = child;
                            }
                        }
                    }
                }
            }
        }
        self.links
            .get_mut(&link_id)
            .expect("link exists")
            .resolution = Resolution::Done(pos);
        Ok(pos)
    }
}

/// Checks a symlink target read from the archive before it is modelled or written.
pub(crate) fn validate_link_target(name: &str, raw: &[u8]) -> Result<String, PackageError> {
    let fail = |reason: &'static str| PackageError::UnsafeLink {
        name: name.to_owned(),
        target: String::from_utf8_lossy(raw).into_owned(),
        reason,
    };
    if raw.is_empty() {
        return Err(fail("empty target"));
    }
    if raw.len() > MAX_PATH_LEN {
        return Err(fail("target longer than 4095 bytes"));
    }
    if raw.contains(&0) {
        return Err(fail("target contains a NUL byte"));
    }
    let target = std::str::from_utf8(raw).map_err(|_| fail("target is not UTF-8"))?;
    if target.starts_with('/') {
        return Err(fail("absolute target"));
    }
    Ok(target.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::path::normalize_entry_name;

    fn build(entries: &[(&str, EntryKind, Option<&str>)]) -> Result<(), PackageError> {
        let mut tree = Tree::new();
        for (name, kind, target) in entries {
            let path = normalize_entry_name(name).expect("valid name");
            let id = tree.insert(name, &path, *kind)?;
            if let Some(target) = target {
                tree.set_link_target(id, name, validate_link_target(name, target.as_bytes())?);
            }
        }
        tree.check_links()
    }

    fn link(
        name: &'static str,
        target: &'static str,
    ) -> (&'static str, EntryKind, Option<&'static str>) {
        (name, EntryKind::Symlink, Some(target))
    }

    fn file(name: &'static str) -> (&'static str, EntryKind, Option<&'static str>) {
        (name, EntryKind::File, None)
    }

    #[test]
    fn internal_links_are_fine() {
        build(&[
            file("node_modules/typescript/bin/tsc"),
            link("node_modules/.bin/tsc", "../typescript/bin/tsc"),
            link("self", "."),
            link("dangling", "does/not/exist"),
            link("via", "node_modules/.bin/tsc"),
        ])
        .unwrap();
    }

    #[test]
    fn escaping_links_are_refused() {
        for target in ["..", "../x", "a/../../x", "/etc/passwd", "/"] {
            let err = build(&[link("l", target)]).unwrap_err();
            assert!(matches!(err, PackageError::UnsafeLink { .. }), "{target}");
        }
        assert!(build(&[link("d/l", "../..")]).is_err());
        assert!(build(&[link("d/l", "..")]).is_ok());
    }

    #[test]
    fn escape_through_another_link_is_refused() {
        // Lexically `e` -> `d`, but `d/up` is the root, so the kernel lands above it.
        let err = build(&[link("d/up", ".."), link("e", "d/up/..")]).unwrap_err();
        assert!(matches!(err, PackageError::UnsafeLink { .. }));
        // Same, link declared after its user.
        assert!(build(&[link("e", "d/up/.."), link("d/up", "..")]).is_err());
        // Through a dangling name and back up is accounted for.
        assert!(build(&[link("e", "missing/../../x")]).is_err());
        assert!(build(&[link("e", "missing/x/../..")]).is_ok());
    }

    #[test]
    fn loops_are_refused() {
        assert!(build(&[link("a", "b"), link("b", "a")]).is_err());
        assert!(build(&[link("a", "a")]).is_err());
    }

    #[test]
    fn writing_through_links_and_files_is_refused_in_any_order() {
        assert!(build(&[link("a", "x"), file("a/passwd")]).is_err());
        assert!(build(&[file("a/passwd"), link("a", "x")]).is_err());
        assert!(build(&[file("a"), file("a/b")]).is_err());
        assert!(build(&[file("a"), file("./a")]).is_err());
        assert!(
            build(&[
                ("a/", EntryKind::Dir, None),
                file("a/b"),
                ("a/", EntryKind::Dir, None)
            ])
            .is_ok()
        );
    }
}
