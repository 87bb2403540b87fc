//! M1: the dependency graph of one cluster.
//!
//! An edge `a → b` means "a depends on b": ingress → service (`routes_to`), service → workload
//! (`selects`; service → pod for a pod without a workload), workload → pod (`owns`), pod → node
//! (`runs_on`), service → service (`calls`, from mesh traffic). Trouble travels against the
//! arrows: a node's memory pressure reaches its pods, then their workloads and services.
//! "Downstream" of an entity are its dependencies (forward edges), "upstream" its dependents.
//!
//! Nodes are kept sorted by (kind layer, key), so that indices, the topological order and every
//! tie-break are the same whatever order the caller listed entities in.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};

use serde::{Deserialize, Serialize};

use crate::entity::{EntityKind, EntityRef};
use crate::error::AiopsError;
use crate::hash::{FastMap, FastSet};

/// Default depth of [`DependencyGraph::upstream`] and [`DependencyGraph::downstream`].
pub const DEFAULT_TRACE_DEPTH: usize = 10;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EdgeKind {
    RoutesTo,
    Selects,
    Owns,
    RunsOn,
    Calls,
}

impl EdgeKind {
    /// The kind of an edge from `from` to `to`, if such a dependency exists.
    pub fn between(from: EntityKind, to: EntityKind) -> Option<Self> {
        use EntityKind as K;
        match (from, to) {
            (K::Ingress, K::Service) => Some(Self::RoutesTo),
            (K::Service, K::Pod) => Some(Self::Selects),
            (K::Service, w) if w.is_workload() => Some(Self::Selects),
            (w, K::Pod) if w.is_workload() => Some(Self::Owns),
            (K::Pod, K::Node) => Some(Self::RunsOn),
            (K::Service, K::Service) => Some(Self::Calls),
            _ => None,
        }
    }
}

/// One entity of the graph.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GraphNode {
    pub key: String,
    pub kind: EntityKind,
}

impl GraphNode {
    /// The entity, rebuilt from the key.
    pub fn entity(&self) -> EntityRef {
        EntityRef::parse_key(&self.key).expect("graph keys are built by EntityRef::key")
    }
}

/// One dependency, by key.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct GraphEdge {
    pub from: String,
    pub to: String,
    pub kind: EdgeKind,
}

/// An entity reached by a traversal, with its distance in edges.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reached {
    pub key: String,
    pub depth: usize,
}

/// Collects entities and edges, then builds the graph. Entities get a provisional index in
/// the order they are added; [`GraphBuilder::build`] says where each one ended up. The builder
/// borrows the caller's entities for the length of the build.
#[derive(Debug, Default)]
pub struct GraphBuilder<'a> {
    /// Exactly as the caller spelt them, so repeated mentions skip formatting the key.
    by_ref: FastMap<&'a EntityRef, u32>,
    by_key: FastMap<String, u32>,
    nodes: Vec<GraphNode>,
    edges: FastSet<(u32, u32)>,
}

impl<'a> GraphBuilder<'a> {
    pub fn new() -> Self {
        Self::default()
    }

    /// The provisional index of an entity already added.
    pub fn find(&self, entity: &EntityRef) -> Option<u32> {
        match self.by_ref.get(entity) {
            Some(&i) => Some(i),
            None => self.by_key.get(&entity.key().ok()?).copied(),
        }
    }

    /// Adds an entity (again is fine) and returns its provisional index.
    pub fn add_entity(&mut self, entity: &'a EntityRef) -> Result<u32, AiopsError> {
        if let Some(&i) = self.by_ref.get(entity) {
            return Ok(i);
        }
        let key = entity.key()?;
        let i = match self.by_key.get(&key) {
            Some(&i) => i,
            None => {
                let i = self.nodes.len() as u32;
                self.by_key.insert(key.clone(), i);
                self.nodes.push(GraphNode {
                    key,
                    kind: entity.kind,
                });
                i
            }
        };
        self.by_ref.insert(entity, i);
        Ok(i)
    }

    /// The key of a provisional index.
    pub fn key(&self, index: u32) -> &str {
        &self.nodes[index as usize].key
    }

    pub fn node(&self, index: u32) -> &GraphNode {
        &self.nodes[index as usize]
    }

    /// Adds `from → to`, adding both ends if they are new; returns their provisional indices.
    /// `cluster` only names the error.
    pub fn add_edge(
        &mut self,
        cluster: &str,
        from: &'a EntityRef,
        to: &'a EntityRef,
    ) -> Result<(u32, u32), AiopsError> {
        let f = self.add_entity(from)?;
        let t = self.add_entity(to)?;
        if EdgeKind::between(from.kind, to.kind).is_none() || f == t {
            return Err(AiopsError::InvalidEdge {
                cluster: cluster.to_owned(),
                from: self.key(f).to_owned(),
                to: self.key(t).to_owned(),
                from_kind: from.kind,
                to_kind: to.kind,
            });
        }
        self.edges.insert((f, t));
        Ok((f, t))
    }

    /// Adds an edge between two entities already added and already checked.
    pub(crate) fn link(&mut self, from: u32, to: u32) {
        self.edges.insert((from, to));
    }

    pub fn contains(&self, key: &str) -> bool {
        self.by_key.contains_key(key)
    }

    /// The graph, and for each provisional index the final one.
    pub fn build(self) -> (DependencyGraph, Vec<u32>) {
        let mut order: Vec<u32> = (0..self.nodes.len() as u32).collect();
        let rank = |i: &u32| {
            let n = &self.nodes[*i as usize];
            (n.kind.layer(), n.key.as_str())
        };
        order.sort_unstable_by(|a, b| rank(a).cmp(&rank(b)));
        let mut final_index = vec![0u32; order.len()];
        for (new, &old) in order.iter().enumerate() {
            final_index[old as usize] = new as u32;
        }
        let mut slots: Vec<Option<GraphNode>> = self.nodes.into_iter().map(Some).collect();
        let nodes: Vec<GraphNode> = order
            .iter()
            .map(|&old| slots[old as usize].take().expect("each index once"))
            .collect();
        let mut index = self.by_key;
        for i in index.values_mut() {
            *i = final_index[*i as usize];
        }
        let edges: Vec<(u32, u32)> = self
            .edges
            .iter()
            .map(|&(f, t)| (final_index[f as usize], final_index[t as usize]))
            .collect();
        let forward = Adjacency::new(nodes.len(), edges.iter().copied());
        let reverse = Adjacency::new(nodes.len(), edges.iter().map(|&(f, t)| (t, f)));
        let order = dependency_first_order(&forward, &reverse);
        let graph = DependencyGraph {
            nodes,
            index,
            forward,
            reverse,
            order,
        };
        (graph, final_index)
    }
}

/// Compressed adjacency lists: the neighbours of `v` are
/// `targets[offsets[v]..offsets[v + 1]]`, sorted.
#[derive(Debug, Clone, Default)]
struct Adjacency {
    offsets: Vec<u32>,
    targets: Vec<u32>,
}

impl Adjacency {
    fn new(n: usize, pairs: impl Iterator<Item = (u32, u32)> + Clone) -> Self {
        let mut offsets = vec![0u32; n + 1];
        for (from, _) in pairs.clone() {
            offsets[from as usize + 1] += 1;
        }
        for v in 0..n {
            offsets[v + 1] += offsets[v];
        }
        let mut fill = offsets.clone();
        let mut targets = vec![0u32; offsets[n] as usize];
        for (from, to) in pairs {
            targets[fill[from as usize] as usize] = to;
            fill[from as usize] += 1;
        }
        for v in 0..n {
            targets[offsets[v] as usize..offsets[v + 1] as usize].sort_unstable();
        }
        Self { offsets, targets }
    }

    fn of(&self, v: usize) -> &[u32] {
        &self.targets[self.offsets[v] as usize..self.offsets[v + 1] as usize]
    }

    fn len(&self) -> usize {
        self.offsets.len().saturating_sub(1)
    }
}

/// Kahn's algorithm over "depends on": an entity comes after all its dependencies. Ready
/// entities are taken lowest index first (layer, then key), so the order is deterministic.
/// Members of a `calls` cycle cannot all wait for each other: when nothing is ready, the lowest
/// remaining index goes next and the cycle is broken there.
fn dependency_first_order(forward: &Adjacency, reverse: &Adjacency) -> Vec<u32> {
    let n = forward.len();
    let mut pending: Vec<usize> = (0..n).map(|v| forward.of(v).len()).collect();
    let mut done = vec![false; n];
    let mut ready: BinaryHeap<Reverse<u32>> = (0..n as u32)
        .filter(|&i| pending[i as usize] == 0)
        .map(Reverse)
        .collect();
    let mut order = Vec::with_capacity(n);
    let mut next_unfinished = 0;
    while order.len() < n {
        let v = match ready.pop() {
            Some(Reverse(v)) if done[v as usize] => continue,
            Some(Reverse(v)) => v,
            None => {
                while done[next_unfinished] {
                    next_unfinished += 1;
                }
                next_unfinished as u32
            }
        };
        done[v as usize] = true;
        order.push(v);
        for &u in reverse.of(v as usize) {
            let left = &mut pending[u as usize];
            *left = left.saturating_sub(1);
            if *left == 0 && !done[u as usize] {
                ready.push(Reverse(u));
            }
        }
    }
    order
}

/// The graph: nodes, forward and reverse adjacency, and a dependency-first order.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(into = "GraphRepr", try_from = "GraphRepr")]
pub struct DependencyGraph {
    nodes: Vec<GraphNode>,
    index: FastMap<String, u32>,
    forward: Adjacency,
    reverse: Adjacency,
    order: Vec<u32>,
}

impl DependencyGraph {
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    pub fn nodes(&self) -> &[GraphNode] {
        &self.nodes
    }

    pub fn node(&self, index: usize) -> &GraphNode {
        &self.nodes[index]
    }

    pub fn index_of(&self, key: &str) -> Option<usize> {
        self.index.get(key).map(|&i| i as usize)
    }

    pub fn contains(&self, key: &str) -> bool {
        self.index.contains_key(key)
    }

    /// What `index` depends on (forward edges).
    pub fn dependencies(&self, index: usize) -> &[u32] {
        self.forward.of(index)
    }

    /// What depends on `index` (reverse edges).
    pub fn dependents(&self, index: usize) -> &[u32] {
        self.reverse.of(index)
    }

    /// Every entity after all of its dependencies (cycles broken deterministically).
    pub fn dependency_first(&self) -> &[u32] {
        &self.order
    }

    /// All edges, sorted.
    pub fn edges(&self) -> Vec<GraphEdge> {
        let mut edges: Vec<GraphEdge> = (0..self.len())
            .flat_map(|from| {
                self.dependencies(from).iter().map(move |&to| {
                    let (f, t) = (&self.nodes[from], &self.nodes[to as usize]);
                    GraphEdge {
                        from: f.key.clone(),
                        to: t.key.clone(),
                        kind: EdgeKind::between(f.kind, t.kind).expect("edges are checked when added"),
                    }
                })
            })
            .collect();
        edges.sort_unstable();
        edges
    }

    /// Entities `key` depends on, transitively, up to `max_depth` edges away (BFS).
    pub fn downstream(&self, key: &str, max_depth: usize) -> Vec<Reached> {
        self.traverse(key, max_depth, &self.forward)
    }

    /// Entities that depend on `key`, transitively, up to `max_depth` edges away (BFS).
    pub fn upstream(&self, key: &str, max_depth: usize) -> Vec<Reached> {
        self.traverse(key, max_depth, &self.reverse)
    }

    fn traverse(&self, key: &str, max_depth: usize, adjacency: &Adjacency) -> Vec<Reached> {
        let Some(start) = self.index_of(key) else {
            return Vec::new();
        };
        let mut seen = vec![false; self.len()];
        seen[start] = true;
        let mut queue = VecDeque::from([(start, 0)]);
        let mut reached = Vec::new();
        while let Some((v, depth)) = queue.pop_front() {
            if depth == max_depth {
                continue;
            }
            for &u in adjacency.of(v) {
                let u = u as usize;
                if !std::mem::replace(&mut seen[u], true) {
                    reached.push(Reached {
                        key: self.nodes[u].key.clone(),
                        depth: depth + 1,
                    });
                    queue.push_back((u, depth + 1));
                }
            }
        }
        reached
    }
}

/// The persisted form: entities and edges by key.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct GraphRepr {
    nodes: Vec<EntityRef>,
    edges: Vec<GraphEdge>,
}

impl From<DependencyGraph> for GraphRepr {
    fn from(graph: DependencyGraph) -> Self {
        Self {
            edges: graph.edges(),
            nodes: graph.nodes.iter().map(GraphNode::entity).collect(),
        }
    }
}

impl TryFrom<GraphRepr> for DependencyGraph {
    type Error = AiopsError;

    fn try_from(repr: GraphRepr) -> Result<Self, AiopsError> {
        let ends = repr
            .edges
            .iter()
            .map(|e| Ok((EntityRef::parse_key(&e.from)?, EntityRef::parse_key(&e.to)?)))
            .collect::<Result<Vec<_>, AiopsError>>()?;
        let mut builder = GraphBuilder::new();
        for entity in &repr.nodes {
            builder.add_entity(entity)?;
        }
        for (from, to) in &ends {
            builder.add_edge("restored", from, to)?;
        }
        Ok(builder.build().0)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn svc(name: &str) -> EntityRef {
        EntityRef::new(EntityKind::Service, "shop", name)
    }
    fn pod(name: &str) -> EntityRef {
        EntityRef::new(EntityKind::Pod, "shop", name)
    }
    fn ing(name: &str) -> EntityRef {
        EntityRef::new(EntityKind::Ingress, "shop", name)
    }

    /// ingress front → service web → pods web-1, web-2 → node n1; web calls api (→ pod api-1 →
    /// n2); api calls web (a cycle).
    fn sample() -> DependencyGraph {
        build(&[
            (ing("front"), svc("web")),
            (svc("web"), pod("web-1")),
            (svc("web"), pod("web-2")),
            (pod("web-1"), EntityRef::node("n1")),
            (pod("web-2"), EntityRef::node("n1")),
            (svc("web"), svc("api")),
            (svc("api"), pod("api-1")),
            (pod("api-1"), EntityRef::node("n2")),
            (svc("api"), svc("web")),
            (svc("web"), pod("web-1")),
        ])
    }

    fn build(edges: &[(EntityRef, EntityRef)]) -> DependencyGraph {
        let mut b = GraphBuilder::new();
        for (from, to) in edges {
            b.add_edge("c1", from, to).unwrap();
        }
        b.build().0
    }

    #[test]
    fn edges_are_typed_by_their_ends_and_deduplicated() {
        let g = sample();
        assert_eq!(g.len(), 8);
        let edges = g.edges();
        assert_eq!(edges.len(), 9);
        let kind = |from: &str, to: &str| {
            edges
                .iter()
                .find(|e| e.from == from && e.to == to)
                .map(|e| e.kind)
        };
        assert_eq!(
            kind("shop/ingress/front", "shop/service/web"),
            Some(EdgeKind::RoutesTo)
        );
        assert_eq!(
            kind("shop/service/web", "shop/pod/web-1"),
            Some(EdgeKind::Selects)
        );
        assert_eq!(kind("shop/pod/web-1", "_cluster/node/n1"), Some(EdgeKind::RunsOn));
        assert_eq!(
            kind("shop/service/web", "shop/service/api"),
            Some(EdgeKind::Calls)
        );
    }

    #[test]
    fn workloads_sit_between_services_and_their_pods() {
        let deploy = EntityRef::new(EntityKind::Deployment, "shop", "web");
        let (web, p) = (svc("web"), pod("web-1"));
        let mut b = GraphBuilder::new();
        b.add_edge("c1", &web, &deploy).unwrap();
        b.add_edge("c1", &deploy, &p).unwrap();
        let g = b.build().0;
        let kinds: Vec<(String, String, EdgeKind)> =
            g.edges().into_iter().map(|e| (e.from, e.to, e.kind)).collect();
        assert!(kinds.contains(&(
            "shop/service/web".into(),
            "shop/deployment/web".into(),
            EdgeKind::Selects
        )));
        assert!(kinds.contains(&(
            "shop/deployment/web".into(),
            "shop/pod/web-1".into(),
            EdgeKind::Owns
        )));
        // Pods first, then their workload, then the service.
        let order: Vec<&str> = g
            .dependency_first()
            .iter()
            .map(|&i| g.node(i as usize).key.as_str())
            .collect();
        assert_eq!(
            order,
            ["shop/pod/web-1", "shop/deployment/web", "shop/service/web"]
        );
        // A workload depends on pods only, and nothing but a service selects it.
        let (n1, front) = (EntityRef::node("n1"), ing("i"));
        let mut b = GraphBuilder::new();
        assert!(b.add_edge("c1", &deploy, &n1).is_err());
        assert!(b.add_edge("c1", &front, &deploy).is_err());
    }

    #[test]
    fn impossible_edges_are_rejected() {
        let (n, p, a, i) = (EntityRef::node("n1"), pod("p"), svc("a"), ing("i"));
        let mut b = GraphBuilder::new();
        assert!(matches!(
            b.add_edge("c1", &n, &p),
            Err(AiopsError::InvalidEdge { .. })
        ));
        assert!(b.add_edge("c1", &a, &a).is_err());
        assert!(b.add_edge("c1", &i, &p).is_err());
    }

    #[test]
    fn traversal_goes_both_ways_with_depth() {
        let g = sample();
        let down: Vec<(String, usize)> = g
            .downstream("shop/ingress/front", 2)
            .into_iter()
            .map(|r| (r.key, r.depth))
            .collect();
        assert_eq!(
            down,
            [
                ("shop/service/web".to_owned(), 1),
                ("shop/pod/web-1".to_owned(), 2),
                ("shop/pod/web-2".to_owned(), 2),
                ("shop/service/api".to_owned(), 2),
            ]
        );
        let up: Vec<String> = g
            .upstream("_cluster/node/n1", DEFAULT_TRACE_DEPTH)
            .into_iter()
            .map(|r| r.key)
            .collect();
        assert_eq!(
            up,
            [
                "shop/pod/web-1",
                "shop/pod/web-2",
                "shop/service/web",
                "shop/service/api",
                "shop/ingress/front"
            ]
        );
        assert!(g.upstream("nope/pod/x", 3).is_empty());
    }

    #[test]
    fn order_puts_dependencies_first_and_breaks_cycles() {
        let g = sample();
        let position: HashMap<&str, usize> = g
            .dependency_first()
            .iter()
            .enumerate()
            .map(|(pos, &i)| (g.node(i as usize).key.as_str(), pos))
            .collect();
        assert_eq!(position.len(), g.len());
        for edge in g.edges() {
            if edge.kind != EdgeKind::Calls {
                assert!(
                    position[edge.to.as_str()] < position[edge.from.as_str()],
                    "{edge:?}"
                );
            }
        }
        assert!(position["shop/service/web"] < position["shop/ingress/front"]);
    }

    #[test]
    fn order_is_independent_of_insertion_order() {
        let one = build(&[(svc("b"), svc("a")), (svc("c"), svc("a"))]);
        let two = build(&[(svc("c"), svc("a")), (svc("b"), svc("a"))]);
        assert_eq!(one.dependency_first(), two.dependency_first());
    }

    #[test]
    fn serde_round_trip() {
        let g = sample();
        let json = serde_json::to_string(&g).unwrap();
        let back: DependencyGraph = serde_json::from_str(&json).unwrap();
        assert_eq!(back.nodes(), g.nodes());
        assert_eq!(back.edges(), g.edges());
        assert_eq!(back.dependency_first(), g.dependency_first());
        let bad = r#"{"nodes":[],"edges":[{"from":"_cluster/node/n","to":"a/pod/p","kind":"runs_on"}]}"#;
        assert!(serde_json::from_str::<DependencyGraph>(bad).is_err());
    }

    proptest::proptest! {
        /// Random layered graphs with random `calls`: the order is a permutation, and every
        /// non-`calls` edge has its dependency first.
        #[test]
        fn order_is_a_dependency_first_permutation(
            pods in proptest::collection::vec((0usize..4, 0usize..5), 1..30),
            calls in proptest::collection::vec((0usize..5, 0usize..5), 0..12),
        ) {
            let mut edges = Vec::new();
            for (i, &(node, service)) in pods.iter().enumerate() {
                let p = pod(&format!("p{i}"));
                edges.push((p.clone(), EntityRef::node(format!("n{node}"))));
                edges.push((svc(&format!("s{service}")), p));
                edges.push((ing(&format!("i{service}")), svc(&format!("s{service}"))));
            }
            let calls: Vec<(EntityRef, EntityRef)> = calls
                .into_iter()
                .map(|(from, to)| (svc(&format!("s{from}")), svc(&format!("s{to}"))))
                .collect();
            let mut b = GraphBuilder::new();
            for (from, to) in &edges {
                b.add_edge("c", from, to).unwrap();
            }
            for (from, to) in &calls {
                let _ = b.add_edge("c", from, to);
            }
            let g = b.build().0;
            let mut seen: Vec<u32> = g.dependency_first().to_vec();
            seen.sort_unstable();
            proptest::prop_assert_eq!(seen, (0..g.len() as u32).collect::<Vec<_>>());
            let position: HashMap<&str, usize> = g
                .dependency_first()
                .iter()
                .enumerate()
                .map(|(pos, &i)| (g.node(i as usize).key.as_str(), pos))
                .collect();
            for edge in g.edges().iter().filter(|e| e.kind != EdgeKind::Calls) {
                // Only pod and node ends are certain: services may sit on a calls cycle.
                if matches!(edge.kind, EdgeKind::RunsOn) {
                    proptest::prop_assert!(position[edge.to.as_str()] < position[edge.from.as_str()]);
                }
            }
        }
    }
}
