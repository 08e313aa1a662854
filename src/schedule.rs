//! The one scheduler for dependency graphs (docs/ARCHITECTURE.md, "The scheduler"): every node's
//! work starts as soon as the nodes it waits for have got far enough, independent nodes in
//! parallel. deploy runs it forwards (a resource after what it depends on: `engine::apply`),
//! teardown and legacy backwards (a resource, or a stack, after what needs it is gone).

use std::collections::HashMap;
use std::future::Future;
use std::hash::Hash;
use std::sync::Arc;
use tokio::sync::watch;
use tokio::task::JoinSet;

/// How far a node has got.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    Pending,
    /// Under way, and far enough for what needs only that (a resource whose ARN is usable while
    /// it is still creating).
    Started,
    Done,
    /// Failed, or not attempted because what it waited for failed.
    Failed,
}

/// A node's handle on its own stage while its work runs.
#[derive(Clone)]
pub struct Progress(Arc<watch::Sender<Stage>>);

impl Progress {
    /// Lets what waits for this node's `Started` begin.
    pub fn started(&self) {
        self.0.send_if_modified(|s| {
            let change = *s == Stage::Pending;
            if change {
                *s = Stage::Started;
            }
            change
        });
    }
}

/// The nodes of one run, by key, and how far each has got.
pub struct Graph<K> {
    senders: HashMap<K, Arc<watch::Sender<Stage>>>,
    receivers: HashMap<K, watch::Receiver<Stage>>,
    /// (node, a node it waits for), for `fail_cycles`.
    edges: Vec<(K, K)>,
    spawned: HashMap<K, Arc<watch::Sender<Stage>>>,
}

impl<K: Eq + Hash + Clone + Send + Sync + 'static> Graph<K> {
    pub fn new(keys: impl IntoIterator<Item = K>) -> Graph<K> {
        let (mut senders, mut receivers) = (HashMap::new(), HashMap::new());
        for key in keys {
            let (tx, rx) = watch::channel(Stage::Pending);
            senders.insert(key.clone(), Arc::new(tx));
            receivers.insert(key, rx);
        }
        Graph { senders, receivers, edges: Vec::new(), spawned: HashMap::new() }
    }

    /// How far `key` has got, to follow from beside the graph (deploy's ingestion); None when it
    /// is no node.
    pub fn watch(&self, key: &K) -> Option<watch::Receiver<Stage>> {
        self.receivers.get(key).cloned()
    }

    /// Spawns on `set` the work of node `key`, to start once every node of `waits` has reached its
    /// stage (`Started` or `Done`; keys that are no node are not waited for). The work gets the
    /// first of them that failed (None when all got there) and its `Progress`, and returns its
    /// result with whether the node is done (else failed). Each node is spawned once.
    pub fn spawn<R, F, Fut>(&mut self, set: &mut JoinSet<R>, key: K, waits: Vec<(K, Stage)>, work: F)
    where
        R: Send + 'static,
        F: FnOnce(Option<K>, Progress) -> Fut + Send + 'static,
        Fut: Future<Output = (R, bool)> + Send,
    {
        let tx = self.senders.remove(&key).expect("each node is spawned once");
        self.spawned.insert(key.clone(), tx.clone());
        let gates: Vec<(K, Stage, watch::Receiver<Stage>)> = waits
            .into_iter()
            .filter_map(|(on, stage)| Some((on.clone(), stage, self.receivers.get(&on)?.clone())))
            .collect();
        self.edges.extend(gates.iter().map(|(on, _, _)| (key.clone(), on.clone())));
        set.spawn(async move {
            let mut failed = None;
            for (on, wanted, mut rx) in gates {
                let reached = rx
                    .wait_for(|s| {
                        matches!(s, Stage::Done | Stage::Failed) || (*s == Stage::Started && wanted == Stage::Started)
                    })
                    .await
                    .map(|s| *s)
                    .unwrap_or(Stage::Failed);
                if reached == Stage::Failed && failed.is_none() {
                    failed = Some(on);
                }
            }
            let (result, done) = work(failed, Progress(tx.clone())).await;
            let _ = tx.send(if done { Stage::Done } else { Stage::Failed });
            result
        });
    }
}

impl<K: Eq + Hash + Clone + Send + Sync + 'static> Graph<K> {
    /// Fails every spawned node that waits for itself through others: such nodes could never
    /// start (a declaration bug in deploy and teardown; stacks that need each other in legacy).
    /// Their work is then told which node failed, and what waits for them in turn. Call it once
    /// every node is spawned; returns the nodes it failed.
    pub fn fail_cycles(&self) -> Vec<K> {
        let reaches_itself = |start: &K| {
            let (mut seen, mut todo) = (Vec::new(), vec![start.clone()]);
            while let Some(k) = todo.pop() {
                for (_, on) in self.edges.iter().filter(|(from, _)| *from == k) {
                    if on == start {
                        return true;
                    }
                    if !seen.contains(on) {
                        seen.push(on.clone());
                        todo.push(on.clone());
                    }
                }
            }
            false
        };
        let cyclic: Vec<K> = self.spawned.keys().filter(|k| reaches_itself(k)).cloned().collect();
        for k in &cyclic {
            let _ = self.spawned[k].send(Stage::Failed);
        }
        cyclic
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    /// a <- b (needs a done) <- c (needs b started); d fails, e waits for d: e is told.
    #[tokio::test]
    async fn nodes_start_when_what_they_wait_for_got_far_enough() {
        let order = Arc::new(Mutex::new(Vec::new()));
        let mut graph = Graph::new(["a", "b", "c", "d", "e"]);
        let mut set = JoinSet::new();
        let log = |name: &'static str, order: &Arc<Mutex<Vec<String>>>| order.lock().unwrap().push(name.to_string());
        for (key, waits) in [
            ("c", vec![("b", Stage::Started)]),
            ("b", vec![("a", Stage::Done)]),
            ("a", vec![]),
            ("e", vec![("d", Stage::Done)]),
            ("d", vec![]),
        ] {
            let order = order.clone();
            graph.spawn(&mut set, key, waits, move |failed, progress| async move {
                match (key, failed) {
                    ("d", _) => ("d failed".to_string(), false),
                    (_, Some(on)) => (format!("{key} skipped: {on} failed"), false),
                    ("b", None) => {
                        log("b started", &order);
                        progress.started();
                        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                        log("b done", &order);
                        ("b".to_string(), true)
                    }
                    (key, None) => {
                        log(key, &order);
                        (key.to_string(), true)
                    }
                }
            });
        }
        let mut results = Vec::new();
        while let Some(r) = set.join_next().await {
            results.push(r.unwrap());
        }
        results.sort();
        assert_eq!(results, ["a", "b", "c", "d failed", "e skipped: d failed"]);
        // c began while b was still running: it needed b started, not done.
        assert_eq!(*order.lock().unwrap(), ["a", "b started", "c", "b done"]);
    }

    /// x and y wait for each other; z waits for x. Without `fail_cycles` nothing would start.
    #[tokio::test]
    async fn nodes_that_wait_for_each_other_are_failed_not_left_waiting() {
        let mut graph = Graph::new(["x", "y", "z"]);
        let mut set = JoinSet::new();
        for (key, waits) in
            [("x", vec![("y", Stage::Done)]), ("y", vec![("x", Stage::Done)]), ("z", vec![("x", Stage::Done)])]
        {
            graph.spawn(&mut set, key, waits, move |failed, _| async move {
                (format!("{key}: {}", failed.unwrap_or("-")), failed.is_none())
            });
        }
        let mut cyclic = graph.fail_cycles();
        cyclic.sort();
        assert_eq!(cyclic, ["x", "y"]);
        let joined = tokio::time::timeout(std::time::Duration::from_secs(5), async {
            let mut results = Vec::new();
            while let Some(r) = set.join_next().await {
                results.push(r.unwrap());
            }
            results
        });
        let mut results = joined.await.expect("no node is left waiting");
        results.sort();
        assert_eq!(results, ["x: y", "y: x", "z: x"]);
    }
}
