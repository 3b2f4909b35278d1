//! Watches what a snapshot is read from (SPEC §2): the directory of the
//! configuration file, the keys directory and the directories of the TLS
//! files. Directories, not files: Kubernetes updates a mounted ConfigMap or
//! Secret by renaming a `..data` symlink to a new directory, which a watch
//! on the file (or its inode) never sees, while its directory does.
//!
//! notify's thread only sends `()` into a channel; the signal task in
//! `startup` debounces and reloads. Reads (opens, closes after reading) are
//! not changes: a reload reading the files must not trigger the next one.

use std::path::{Path, PathBuf};

use notify::event::{AccessKind, AccessMode};
use notify::{Event, EventKind, RecommendedWatcher, RecursiveMode, Watcher as _};
use tokio::sync::mpsc::{unbounded_channel, UnboundedReceiver};

use crate::config::Settings;

pub struct Watch {
    watcher: RecommendedWatcher,
    /// The directories being watched.
    dirs: Vec<PathBuf>,
    /// One `()` per relevant event.
    pub changes: UnboundedReceiver<()>,
}

impl Watch {
    /// Watches the directories `settings` reads from; `None` (with a
    /// warning) when no watcher can be made, e.g. past the inotify limits.
    pub fn start(settings: &Settings) -> Option<Self> {
        let (tx, changes) = unbounded_channel();
        let watcher =
            notify::recommended_watcher(move |event: notify::Result<Event>| match event {
                Ok(event) if is_change(&event.kind) => {
                    let _ = tx.send(());
                }
                Ok(_) => {}
                Err(e) => tracing::warn!("while watching the configuration: {e}"),
            });
        match watcher {
            Ok(watcher) => {
                let mut watch = Self {
                    watcher,
                    dirs: Vec::new(),
                    changes,
                };
                watch.update(settings);
                Some(watch)
            }
            Err(e) => {
                tracing::warn!(
                    "cannot watch the configuration ({e}): changes apply on SIGHUP only"
                );
                None
            }
        }
    }

    /// Follows a reload: watches the directories `settings` reads from, and
    /// stops watching those it no longer does. A directory that cannot be
    /// watched is tried again after the next reload.
    pub fn update(&mut self, settings: &Settings) {
        let wanted = dirs(settings);
        for old in self.dirs.iter().filter(|d| !wanted.contains(d)) {
            let _ = self.watcher.unwatch(old);
        }
        let mut watched = Vec::with_capacity(wanted.len());
        for dir in wanted {
            if self.dirs.contains(&dir) {
                watched.push(dir);
                continue;
            }
            match self.watcher.watch(&dir, RecursiveMode::NonRecursive) {
                Ok(()) => {
                    tracing::debug!(dir = %dir.display(), "watching for changes");
                    watched.push(dir);
                }
                Err(e) => tracing::warn!(
                    dir = %dir.display(),
                    "cannot watch ({e}): changes there apply on SIGHUP only"
                ),
            }
        }
        self.dirs = watched;
    }
}

/// Everything but reading: creation, removal, renames, writes, metadata.
fn is_change(kind: &EventKind) -> bool {
    match kind {
        EventKind::Access(AccessKind::Close(AccessMode::Write)) => true,
        EventKind::Access(_) => false,
        _ => true,
    }
}

/// The directories a snapshot reads from, sorted, without duplicates.
fn dirs(settings: &Settings) -> Vec<PathBuf> {
    let mut dirs = vec![parent(&settings.source), settings.keys.dir.clone()];
    if let Some(tls) = &settings.server.tls {
        dirs.push(parent(&tls.cert));
        dirs.push(parent(&tls.key));
    }
    dirs.sort();
    dirs.dedup();
    dirs
}

fn parent(path: &Path) -> PathBuf {
    match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir.to_path_buf(),
        _ => PathBuf::from("."),
    }
}
